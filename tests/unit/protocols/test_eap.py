"""The EAP packet codec (gba.protocols.eap; RFC 3748 §4), against RFC 4186 Appendix A packets,
hypothesis round trips and garbage."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gba.errors import CodecError, InvalidInput
from gba.protocols import eap
from vectors import rfc4186_vectors

pytestmark = pytest.mark.roaming


@pytest.mark.parametrize("vector", rfc4186_vectors("packets"), ids=lambda v: v["name"])
def test_rfc4186_packets_decode_and_encode_back(vector: dict[str, Any]) -> None:
    raw = bytes.fromhex(vector["packet"])
    packet = eap.parse(raw)
    assert packet.code == vector["code"]
    assert packet.identifier == vector["identifier"]
    assert packet.type == vector["type"]
    assert packet.data == bytes.fromhex(vector["data"])
    assert packet.encode() == raw


def test_identity_response_of_rfc4186_a2() -> None:
    vector = next(v for v in rfc4186_vectors("packets") if "identity" in v)
    assert eap.identity_response(0, vector["identity"]).encode().hex() == vector["packet"]
    assert eap.identity_of(eap.parse(bytes.fromhex(vector["packet"]))) == vector["identity"]


def test_identity_request_is_five_octets() -> None:
    assert eap.identity_request(7).encode() == bytes.fromhex("0107000501")


def test_success_and_failure_are_four_octets() -> None:
    assert eap.success(9).encode() == bytes.fromhex("03090004")
    assert eap.failure(9).encode() == bytes.fromhex("04090004")


@pytest.mark.parametrize(("raw", "rule"), [
    (b"", "shorter than its header"),
    (bytes.fromhex("010000"), "shorter than its header"),
    (bytes.fromhex("0100000601"), "Length 6 but 5"),
    (bytes.fromhex("010000050100"), "Length 5 but 6"),
    (bytes.fromhex("05000004"), "Code 5"),
    (bytes.fromhex("00000004"), "Code 0"),
    (bytes.fromhex("0300000500"), "must be 4"),
    (bytes.fromhex("01000004"), "without a Type"),
])
def test_malformed_packets_say_which_rule(raw: bytes, rule: str) -> None:
    with pytest.raises(CodecError, match=rule):
        eap.parse(raw)


def test_packet_over_the_size_bound_is_refused() -> None:
    raw = bytes((1, 0)) + (eap.MAX_LENGTH + 1).to_bytes(2, "big") + bytes(eap.MAX_LENGTH - 3)
    with pytest.raises(CodecError, match="exceeds"):
        eap.parse(raw)


def test_packet_at_the_size_bound_is_accepted() -> None:
    packet = eap.EapPacket(eap.Code.RESPONSE, 1, 254, bytes(eap.MAX_LENGTH - 5))
    assert eap.parse(packet.encode()) == packet


def test_building_a_packet_over_the_bound_is_refused() -> None:
    with pytest.raises(InvalidInput):
        eap.EapPacket(eap.Code.REQUEST, 1, 1, bytes(eap.MAX_LENGTH))


@pytest.mark.parametrize("kwargs", [
    {"code": eap.Code.SUCCESS, "identifier": 1, "type": 1},
    {"code": eap.Code.FAILURE, "identifier": 1, "data": b"x"},
    {"code": eap.Code.REQUEST, "identifier": 1},
    {"code": eap.Code.REQUEST, "identifier": 256, "type": 1},
    {"code": eap.Code.RESPONSE, "identifier": 1, "type": 256},
])
def test_inconsistent_packets_cannot_be_built(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        eap.EapPacket(**kwargs)


def test_identity_must_be_utf8() -> None:
    packet = eap.EapPacket(eap.Code.RESPONSE, 0, eap.TYPE_IDENTITY, b"\xff\xfe")
    with pytest.raises(CodecError, match="UTF-8"):
        eap.identity_of(packet)


def test_identity_of_a_request_is_refused() -> None:
    with pytest.raises(CodecError, match="not a Response/Identity"):
        eap.identity_of(eap.identity_request(0))


packets = st.one_of(
    st.builds(eap.EapPacket, st.sampled_from([eap.Code.REQUEST, eap.Code.RESPONSE]),
              st.integers(0, 255), st.integers(0, 255), st.binary(max_size=300)),
    st.builds(eap.EapPacket, st.sampled_from([eap.Code.SUCCESS, eap.Code.FAILURE]),
              st.integers(0, 255)),
)


@given(packets)
def test_decode_of_encode_is_identity(packet: eap.EapPacket) -> None:
    assert eap.parse(eap.encode(packet)) == packet


@given(st.binary(max_size=64))
def test_garbage_raises_only_codec_error(raw: bytes) -> None:
    try:
        packet = eap.parse(raw)
    except CodecError:
        return
    assert packet.encode() == raw


@given(packets, st.integers(0, 400), st.integers(0, 255))
def test_one_flipped_octet_is_decoded_exactly_or_refused(packet: eap.EapPacket, at: int,
                                                        value: int) -> None:
    raw = bytearray(packet.encode())
    raw[at % len(raw)] = value
    try:
        decoded = eap.parse(bytes(raw))
    except CodecError:
        return
    assert decoded.encode() == bytes(raw)

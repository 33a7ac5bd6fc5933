"""EAP-AKA attributes, keys and AT_MAC (gba.protocols.eap_aka; RFC 4187 §7, §8.1, §10).

AT_MAC is checked against the four MACs of RFC 4186 Appendix A (EAP-SIM computes it the same
way, RFC 4186 §10.14), the key split against RFC 4186 A.5.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gba.crypto import fips186
from gba.errors import CodecError, InvalidInput
from gba.protocols import eap, eap_aka
from gba.protocols.eap_aka import At, Attribute, Subtype
from vectors import rfc4186_vectors

pytestmark = pytest.mark.roaming


def _sha1(data: bytes) -> bytes:
    """The reference: hashlib's SHA-1 (FIPS 180-2)."""
    return hashlib.sha1(data, usedforsecurity=False).digest()

REQ, RESP = eap.Code.REQUEST, eap.Code.RESPONSE
K_AUT = bytes(range(16))


def _aka(code: eap.Code, subtype: int, attrs: bytes, identifier: int = 1) -> bytes:
    """Hand-built EAP-AKA octets (Type 23, Subtype, two reserved octets, attributes)."""
    data = bytes((subtype, 0, 0)) + attrs
    return eap.EapPacket(code, identifier, eap.TYPE_AKA, data).encode()


# --- AT_MAC against published vectors ------------------------------------------------


@pytest.mark.parametrize("vector", rfc4186_vectors("mac"), ids=lambda v: v["name"])
def test_mac_matches_rfc4186(vector: dict[str, Any]) -> None:
    raw = bytes.fromhex(vector["packet"])
    k_aut, extra = bytes.fromhex(vector["k_aut"]), bytes.fromhex(vector["extra"])
    assert eap_aka.compute_mac(k_aut, raw, extra).hex() == vector["mac"]
    assert eap_aka.verify_mac(k_aut, raw, extra)


@pytest.mark.parametrize("vector", rfc4186_vectors("mac"), ids=lambda v: v["name"])
def test_mac_fails_on_a_changed_octet_or_missing_extra(vector: dict[str, Any]) -> None:
    raw = bytearray.fromhex(vector["packet"])
    k_aut, extra = bytes.fromhex(vector["k_aut"]), bytes.fromhex(vector["extra"])
    raw[1] ^= 1  # the Identifier is covered too: the whole packet, header included
    assert not eap_aka.verify_mac(k_aut, bytes(raw), extra)
    raw[1] ^= 1
    assert not eap_aka.verify_mac(k_aut, bytes(raw), extra + b"\x00")


def test_packet_without_at_mac_cannot_be_verified() -> None:
    raw = _aka(RESP, Subtype.AUTHENTICATION_REJECT, b"")
    with pytest.raises(CodecError, match="no AT_MAC"):
        eap_aka.verify_mac(K_AUT, raw)


# --- keys ------------------------------------------------------------------------------


def test_master_key_is_sha1_of_identity_ik_ck() -> None:
    identity, ik, ck = b"0001010000000001@x", b"\x11" * 16, b"\x22" * 16
    assert eap_aka.master_key(identity, ik, ck) == _sha1(identity + ik + ck)


def test_master_key_order_is_ik_before_ck() -> None:
    a, b = b"\x01" * 16, b"\x02" * 16
    assert eap_aka.master_key(b"id", a, b) != eap_aka.master_key(b"id", b, a)


def test_derived_keys_are_the_prf_of_the_master_key() -> None:
    identity, ik, ck = b"0001010000000001@x", b"\x11" * 16, b"\x22" * 16
    assert eap_aka.derive_keys(identity, ik, ck) == \
        fips186.eap_keys(eap_aka.master_key(identity, ik, ck))


# --- attribute formats ---------------------------------------------------------------


def test_at_res_carries_its_length_in_bits() -> None:
    assert eap_aka.at_res(bytes(8)).encode() == bytes.fromhex("0303" "0040") + bytes(8)
    five = eap_aka.at_res(b"\x01\x02\x03\x04\x05").encode()
    assert five == bytes.fromhex("0303" "0028" "0102030405" "000000")


def test_at_auts_has_no_reserved_field() -> None:
    assert eap_aka.at_auts(bytes(range(14))).encode() == bytes((4, 4)) + bytes(range(14))


def test_at_identity_is_length_prefixed_and_padded() -> None:
    assert eap_aka.at_identity(b"abc").encode() == bytes.fromhex("0e02" "0003") + b"abc" + \
        bytes(1)


def test_payloads_drop_reserved_octets_lengths_and_padding() -> None:
    packet = eap_aka.AkaPacket(RESP, 3, Subtype.CHALLENGE, (
        eap_aka.at_res(b"\x09" * 5), eap_aka.at_checkcode(bytes(20)), eap_aka.at_mac()))
    parsed = eap_aka.parse(packet.encode())
    assert parsed.payload(At.RES) == b"\x09" * 5
    assert parsed.payload(At.CHECKCODE) == bytes(20)
    assert parsed.payload(At.MAC) == bytes(16)
    assert parsed.payload(At.RAND) is None


def test_sign_then_verify() -> None:
    packet = eap_aka.AkaPacket(REQ, 4, Subtype.CHALLENGE, (
        eap_aka.at_rand(bytes(16)), eap_aka.at_autn(bytes(16)), eap_aka.at_mac()))
    raw = eap_aka.sign(packet, K_AUT)
    assert eap_aka.verify_mac(K_AUT, raw)
    assert not eap_aka.verify_mac(bytes(16), raw)
    assert eap_aka.parse(raw).payload(At.MAC) == eap_aka.compute_mac(K_AUT, raw)


def test_permanent_identity_has_the_aka_prefix() -> None:
    assert eap_aka.permanent_identity("001010123456789", "mnc001.mcc001.3gppnetwork.org") \
        == "0001010123456789@mnc001.mcc001.3gppnetwork.org"


def test_checkcode_is_empty_without_identity_rounds() -> None:
    assert eap_aka.checkcode([]) == b""
    assert eap_aka.checkcode([b"a", b"b"]) == _sha1(b"ab")


@pytest.mark.parametrize("build", [
    lambda: eap_aka.at_res(bytes(3)), lambda: eap_aka.at_res(bytes(17)),
    lambda: eap_aka.at_rand(bytes(15)), lambda: eap_aka.at_checkcode(bytes(5)),
    lambda: eap_aka.at_flag(At.RAND), lambda: eap_aka.at_code(At.MAC, 0),
    lambda: Attribute(1, bytes(3)), lambda: Attribute(300, bytes(2)),
    lambda: eap_aka.AkaPacket(eap.Code.SUCCESS, 1, Subtype.CHALLENGE),
])
def test_invalid_attributes_cannot_be_built(build: Any) -> None:
    with pytest.raises(InvalidInput):
        build()


# --- decoding rules --------------------------------------------------------------------


def test_unknown_non_skippable_attribute_is_refused() -> None:
    raw = _aka(RESP, Subtype.CHALLENGE, bytes((99, 1, 0, 0)))
    with pytest.raises(CodecError, match="non-skippable attribute 99"):
        eap_aka.parse(raw)


def test_unknown_skippable_attribute_is_kept() -> None:
    raw = _aka(RESP, Subtype.CHALLENGE, bytes((200, 2, 1, 2, 3, 4, 5, 6)))
    parsed = eap_aka.parse(raw)
    assert parsed.attributes == (Attribute(200, bytes((1, 2, 3, 4, 5, 6))),)
    assert parsed.encode() == raw


@pytest.mark.parametrize(("code", "subtype", "attrs", "rule"), [
    (RESP, Subtype.CHALLENGE, bytes((1, 5)) + bytes(18), "AT_RAND is not allowed"),
    (REQ, Subtype.CHALLENGE, 2 * (bytes((1, 5)) + bytes(18)), "RAND appears twice"),
    (REQ, Subtype.IDENTITY, bytes((10, 1, 0, 0, 13, 1, 0, 0)), "more than one identity"),
    (REQ, Subtype.CHALLENGE, bytes((1, 4)) + bytes(14), "AT_RAND: value of 14"),
    (RESP, Subtype.CHALLENGE, bytes((3, 3, 0, 0x41)) + bytes(8), "RES Length 65 bits"),
    (RESP, Subtype.CHALLENGE, bytes((3, 3, 0, 0x18)) + bytes(8), "RES Length 24 bits"),
    (RESP, Subtype.CHALLENGE, bytes((3, 3, 0, 0x20)) + bytes(8), "RES Length 32 bits"),
    (RESP, Subtype.SYNCHRONIZATION_FAILURE, bytes((4, 5)) + bytes(18), "AT_AUTS"),
    (RESP, Subtype.IDENTITY, bytes((14, 2, 0, 9)) + bytes(4), "actual length 9"),
    (RESP, Subtype.CHALLENGE, bytes((11, 0)), "Length 0"),
    (RESP, Subtype.CHALLENGE, bytes((11, 5, 0, 0)), "overruns"),
    (RESP, Subtype.CHALLENGE, bytes((11,)), "cut short"),
    (REQ, Subtype.AUTHENTICATION_REJECT, b"", "not sent as an EAP REQUEST"),
    (RESP, 13, b"", "Subtype 13 is not supported"),
])
def test_malformed_messages_say_which_rule(code: eap.Code, subtype: int, attrs: bytes,
                                           rule: str) -> None:
    with pytest.raises(CodecError, match=rule):
        eap_aka.parse(_aka(code, subtype, attrs))


def test_non_aka_eap_is_refused() -> None:
    with pytest.raises(CodecError, match="not EAP-AKA"):
        eap_aka.parse(eap.identity_request(1).encode())


def test_missing_attribute_is_named() -> None:
    packet = eap_aka.parse(_aka(RESP, Subtype.CHALLENGE, b""))
    with pytest.raises(CodecError, match="Response/AKA-CHALLENGE without AT_RES"):
        packet.require(At.RES)


# --- round trips and garbage -----------------------------------------------------------

_VALUES = {
    At.RAND: st.binary(min_size=16, max_size=16).map(eap_aka.at_rand),
    At.AUTN: st.binary(min_size=16, max_size=16).map(eap_aka.at_autn),
    At.MAC: st.binary(min_size=16, max_size=16).map(eap_aka.at_mac),
    At.RES: st.binary(min_size=4, max_size=16).map(eap_aka.at_res),
    At.AUTS: st.binary(min_size=14, max_size=14).map(eap_aka.at_auts),
    At.IDENTITY: st.binary(max_size=100).map(eap_aka.at_identity),
    At.RESULT_IND: st.just(eap_aka.at_flag(At.RESULT_IND)),
    At.CHECKCODE: st.sampled_from([b"", bytes(range(20))]).map(eap_aka.at_checkcode),
    At.NOTIFICATION: st.integers(0, 0xFFFF).map(lambda c: eap_aka.at_code(At.NOTIFICATION, c)),
    At.CLIENT_ERROR_CODE: st.integers(0, 0xFFFF).map(
        lambda c: eap_aka.at_code(At.CLIENT_ERROR_CODE, c)),
    **{at: st.just(eap_aka.at_flag(at)) for at in eap_aka.ID_REQUESTS},
}
_SKIPPABLE = st.builds(lambda t, n: Attribute(t, bytes(range(4 * n + 2))),
                       st.integers(128, 255).filter(lambda t: t not in (134, 135)),
                       st.integers(0, 10))


@st.composite
def aka_packets(draw: st.DrawFn) -> eap_aka.AkaPacket:
    code, subtype = draw(st.sampled_from(sorted(eap_aka.ALLOWED)))
    allowed = sorted(eap_aka.ALLOWED[(code, subtype)] - eap_aka.ID_REQUESTS)
    flags = draw(st.lists(st.booleans(), min_size=len(allowed), max_size=len(allowed)))
    chosen = [at for at, keep in zip(allowed, flags, strict=True) if keep]
    requests = sorted(eap_aka.ALLOWED[(code, subtype)] & eap_aka.ID_REQUESTS)
    ask = draw(st.booleans())
    if requests and ask:
        chosen.append(draw(st.sampled_from(requests)))
    attrs = [draw(_VALUES[at]) for at in chosen] + draw(st.lists(_SKIPPABLE, max_size=3))
    return eap_aka.AkaPacket(code, draw(st.integers(0, 255)), subtype,
                             tuple(draw(st.permutations(attrs))))


@given(aka_packets())
def test_decode_of_encode_is_identity(packet: eap_aka.AkaPacket) -> None:
    assert eap_aka.parse(packet.encode()) == packet


@given(st.binary(max_size=120))
def test_garbage_raises_only_codec_error(tail: bytes) -> None:
    for raw in (tail, _aka(RESP, Subtype.CHALLENGE, tail), _aka(REQ, Subtype.IDENTITY, tail)):
        with contextlib.suppress(CodecError):
            eap_aka.parse(raw)


@given(aka_packets(), st.integers(0, 2000), st.integers(0, 255))
def test_one_flipped_octet_is_decoded_or_refused(packet: eap_aka.AkaPacket, at: int,
                                                value: int) -> None:
    raw = bytearray(packet.encode())
    raw[at % len(raw)] = value
    with contextlib.suppress(CodecError):
        eap_aka.parse(bytes(raw))


@given(st.binary(max_size=80))
def test_mac_of_garbage_raises_only_codec_error(raw: bytes) -> None:
    with contextlib.suppress(CodecError):
        eap_aka.compute_mac(K_AUT, raw)

"""GPI and GPI envelope codec (TS 33.223 §5.3.5, TS 24.109 Annex J; layout [P])."""

from __future__ import annotations

import contextlib
import struct
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gba.errors import CodecError, InvalidInput, MacFailure
from gba.protocols import gpi
from gba.protocols.gpi import Gpi, GpiEnvelope, UiccMe

pytestmark = pytest.mark.push

RAND = bytes(range(16))
AUTN = bytes(range(16, 32))
NAF_ID = b"naf.example.org\x01\x00\x00\x00\x02"
EXPIRY = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
KEY = bytes(range(32))
GPI = Gpi(ptid=b"ptid-1", rand=RAND, autn=AUTN, naf_id=NAF_ID, mode=UiccMe.GBA_ME,
          key_lifetime=EXPIRY)

octets = st.binary(min_size=1, max_size=gpi.MAX_FIELD)
gpis = st.builds(
    Gpi, ptid=octets, rand=st.binary(min_size=16, max_size=16),
    autn=st.binary(min_size=16, max_size=16),
    naf_id=st.binary(min_size=gpi.UA_ID_LEN + 1, max_size=gpi.MAX_FIELD),
    mode=st.sampled_from(UiccMe),
    key_lifetime=st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 1, 1),
                              timezones=st.just(UTC)).map(lambda t: t.replace(microsecond=0)),
    app_label=st.none() | octets, secure_id=st.none() | octets,
    security_protocol=st.none() | st.integers(0, 7))


def test_layout_is_version_then_tlvs() -> None:
    data = gpi.encode_gpi(GPI)
    assert data[0] == gpi.GPI_VERSION
    assert data[1:4] == bytes([gpi.Tag.PTID]) + struct.pack(">H", 6)
    assert data[4:10] == b"ptid-1"
    seconds = int((EXPIRY - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())
    assert bytes([gpi.Tag.KEY_LIFETIME, 0, 8]) + struct.pack(">Q", seconds) in data


def test_roundtrip_with_optional_fields() -> None:
    full = replace(GPI, app_label=b"app", secure_id=b"sa-7", security_protocol=gpi.PSK_TLS,
                   mode=UiccMe.GBA_U)
    assert gpi.decode_gpi(gpi.encode_gpi(full)) == full


def test_psk_tls_code_is_binary_001() -> None:
    assert gpi.PSK_TLS == 0b001
    data = gpi.encode_gpi(replace(GPI, security_protocol=gpi.PSK_TLS))
    assert data.endswith(bytes([gpi.Tag.SECURITY_PROTOCOL, 0, 1, 0b001]))


@given(gpis)
def test_roundtrip_property(value: Gpi) -> None:
    assert gpi.decode_gpi(gpi.encode_gpi(value)) == value


@given(st.binary(max_size=300))
def test_garbage_raises_codec_error_only(data: bytes) -> None:
    with contextlib.suppress(CodecError):
        gpi.decode_gpi(data)


@given(gpis, st.data())
def test_mutated_gpi_raises_codec_error_only(value: Gpi, data: st.DataObject) -> None:
    encoded = bytearray(gpi.encode_gpi(value))
    index = data.draw(st.integers(0, len(encoded) - 1))
    encoded[index] = data.draw(st.integers(0, 255))
    with contextlib.suppress(CodecError):
        gpi.decode_gpi(bytes(encoded))


@pytest.mark.parametrize("tag", [gpi.Tag.PTID, gpi.Tag.RAND, gpi.Tag.AUTN, gpi.Tag.NAF_ID,
                                 gpi.Tag.UICC_ME, gpi.Tag.KEY_LIFETIME])
def test_missing_mandatory_field_is_refused(tag: gpi.Tag) -> None:
    data = gpi.encode_gpi(GPI)
    pos, kept = 1, bytearray(data[:1])
    while pos < len(data):
        length = struct.unpack_from(">H", data, pos + 1)[0]
        if data[pos] != tag:
            kept += data[pos:pos + 3 + length]
        pos += 3 + length
    with pytest.raises(CodecError, match=tag.name):
        gpi.decode_gpi(bytes(kept))


def test_unknown_tag_duplicate_truncation_trailing_refused() -> None:
    data = gpi.encode_gpi(GPI)
    with pytest.raises(CodecError, match="unknown tag"):
        gpi.decode_gpi(data + b"\x7f\x00\x00")
    with pytest.raises(CodecError, match="repeated"):
        gpi.decode_gpi(data + bytes([gpi.Tag.RAND, 0, 16]) + RAND)
    with pytest.raises(CodecError, match="overruns"):
        gpi.decode_gpi(data[:-1])
    with pytest.raises(CodecError, match="truncated"):
        gpi.decode_gpi(data + b"\x01")


def test_wrong_version_empty_and_oversize_refused() -> None:
    data = gpi.encode_gpi(GPI)
    with pytest.raises(CodecError, match="version"):
        gpi.decode_gpi(b"\x02" + data[1:])
    with pytest.raises(CodecError, match="empty"):
        gpi.decode_gpi(b"")
    with pytest.raises(CodecError, match="exceeds"):
        gpi.decode_gpi(data + bytes(gpi.MAX_GPI))


def test_bad_field_values_refused_as_codec_errors() -> None:
    data = gpi.encode_gpi(GPI)
    mode_at = data.index(bytes([gpi.Tag.UICC_ME, 0, 1]))
    with pytest.raises(CodecError, match="UICC-ME"):
        gpi.decode_gpi(data[:mode_at + 3] + b"\x02" + data[mode_at + 4:])
    rand_at = data.index(bytes([gpi.Tag.RAND, 0, 16]))
    short = data[:rand_at] + bytes([gpi.Tag.RAND, 0, 15]) + RAND[:15] + data[rand_at + 19:]
    with pytest.raises(CodecError, match="RAND"):
        gpi.decode_gpi(short)
    life_at = data.index(bytes([gpi.Tag.KEY_LIFETIME, 0, 8]))
    huge = data[:life_at + 3] + b"\xff" * 8 + data[life_at + 11:]
    with pytest.raises(CodecError, match="9999"):
        gpi.decode_gpi(huge)


@pytest.mark.parametrize("change", [
    {"rand": bytes(15)}, {"autn": bytes(17)}, {"ptid": b""}, {"naf_id": b"\x01\x00\x00\x00\x02"},
    {"security_protocol": 8}, {"app_label": b""},
    {"key_lifetime": datetime(2030, 1, 1)},
    {"key_lifetime": datetime(2030, 1, 1, 0, 0, 0, 5, tzinfo=UTC)}, {"version": 2}])
def test_invalid_construction_raises_invalid_input(change: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        replace(GPI, **change)  # type: ignore[arg-type]


def test_sealed_ptid_opens_with_the_naf_key() -> None:
    sealed = gpi.seal_ptid(GPI, b"ptid@naf.example.org", KEY)
    assert b"ptid@naf.example.org" not in gpi.encode_gpi(sealed)
    received = gpi.decode_gpi(gpi.encode_gpi(sealed))
    assert gpi.open_ptid(received, KEY) == b"ptid@naf.example.org"


def test_sealed_ptid_authenticates_the_other_fields() -> None:
    sealed = gpi.seal_ptid(GPI, b"ptid", KEY)
    with pytest.raises(MacFailure):
        gpi.open_ptid(replace(sealed, key_lifetime=datetime(2031, 1, 1, tzinfo=UTC)), KEY)
    with pytest.raises(MacFailure):
        gpi.open_ptid(sealed, bytes(32))
    with pytest.raises(MacFailure):
        gpi.open_ptid(replace(sealed, ptid=sealed.ptid[:-1] + bytes([sealed.ptid[-1] ^ 1])),
                      KEY)


def test_seal_refuses_short_key_and_long_ptid() -> None:
    with pytest.raises(InvalidInput):
        gpi.seal_ptid(GPI, b"p", bytes(8))
    with pytest.raises(InvalidInput):
        gpi.seal_ptid(GPI, bytes(gpi.MAX_FIELD), KEY)


def test_envelope_layout_and_roundtrip() -> None:
    body = gpi.encode_gpi(GPI)
    envelope = GpiEnvelope(session_id=0x1234, gpi=body)
    data = gpi.encode_envelope(envelope)
    assert data[:5] == b"\x01\x12\x34" + struct.pack(">H", len(body))
    assert gpi.decode_envelope(data) == envelope
    assert gpi.decode_gpi(gpi.decode_envelope(data).gpi) == GPI


@given(st.integers(0, 0xFFFF), st.binary(min_size=1, max_size=gpi.MAX_GPI))
def test_envelope_roundtrip_property(session: int, body: bytes) -> None:
    envelope = GpiEnvelope(session, body)
    assert gpi.decode_envelope(gpi.encode_envelope(envelope)) == envelope


@given(st.binary(max_size=64))
def test_envelope_garbage_raises_codec_error_only(data: bytes) -> None:
    with contextlib.suppress(CodecError):
        gpi.decode_envelope(data)


def test_envelope_refusals() -> None:
    data = gpi.encode_envelope(GpiEnvelope(1, b"gpi"))
    with pytest.raises(CodecError, match="header"):
        gpi.decode_envelope(data[:4])
    with pytest.raises(CodecError, match="version"):
        gpi.decode_envelope(b"\x02" + data[1:])
    with pytest.raises(CodecError, match="carries"):
        gpi.decode_envelope(data + b"x")
    with pytest.raises(CodecError, match="length 0"):
        gpi.decode_envelope(b"\x01\x00\x01\x00\x00")
    with pytest.raises(InvalidInput):
        GpiEnvelope(0x10000, b"gpi")

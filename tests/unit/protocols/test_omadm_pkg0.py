"""OMA DM 1.2 package 0 and the GPI placements (gba.protocols.omadm_pkg0)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gba.errors import CodecError, InvalidInput
from gba.protocols import omadm_pkg0 as p0

pytestmark = pytest.mark.push

KS_NAF = bytes(range(32))
NONCE = b"\x01\x02\x03\x04"

pkgs = st.builds(
    p0.Pkg0,
    version=st.sampled_from([10, 11, 12]),
    ui_mode=st.integers(0, 3),
    initiator=st.integers(0, 1),
    session_id=st.integers(0, 0xFFFF),
    server_id=st.text(st.characters(exclude_categories=["Cs"]), max_size=40),
    vendor=st.binary(max_size=64).filter(lambda b: not b.startswith(p0.TRIGGER_GPI_TAG)),
)
gpis = st.binary(min_size=1, max_size=300)


def _bits(data: bytes, offset: int, width: int) -> int:
    """libsynthesis-style field read: *width* bits at bit *offset* of the 64-bit word."""
    word = int.from_bytes(data[16:24], "big")
    return word >> (64 - offset - width) & ((1 << width) - 1)


def _md5(data: bytes) -> bytes:
    return hashlib.md5(data, usedforsecurity=False).digest()


def _b64md5(data: bytes) -> bytes:
    return base64.b64encode(_md5(data))


# A hand-built vector: version 12, ui 2 (informative), server-initiated, future 0,
# session 0x1234, server id "dm.example" (10 octets), vendor body "VB".
HAND_WORD = (12 << 54 | 2 << 52 | 1 << 51 | 0x1234 << 8 | 10).to_bytes(8, "big")
HAND_TRIGGER = HAND_WORD + b"dm.example" + b"VB"
HAND_PKG = p0.Pkg0(version=12, ui_mode=2, initiator=1, session_id=0x1234,
                   server_id="dm.example", vendor=b"VB")


def test_header_word_matches_libsynthesis_bit_offsets() -> None:
    data = p0.encode(HAND_PKG, "secret", NONCE)
    assert data[16:24] == HAND_WORD
    assert _bits(data, 0, 10) == 12
    assert _bits(data, 10, 2) == 2
    assert _bits(data, 12, 1) == 1
    assert _bits(data, 13, 27) == 0
    assert _bits(data, 40, 16) == 0x1234
    assert data[23] == 10
    assert data[24:34] == b"dm.example"
    assert data[34:] == b"VB"


def test_header_word_bytes_are_the_hand_computed_ones() -> None:
    # 12 = 0b0000001100 | ui 10 | init 1 | 27 zero bits -> 0x03 0x28 0x00 0x00 0x00, then
    # session 0x1234 and length 0x0a.
    assert HAND_WORD.hex() == "032800000012340a"


def test_digest_known_answer_from_the_formula() -> None:
    expected = _md5(_b64md5(b"dm.example:secret") + b":" + NONCE + b":" + _b64md5(HAND_TRIGGER))
    data = p0.encode(HAND_PKG, "secret", NONCE)
    assert data == expected + HAND_TRIGGER


def test_digest_base64_parts_are_24_characters() -> None:
    assert len(_b64md5(b"x")) == 24


def test_decode_hand_vector() -> None:
    data = p0.encode(HAND_PKG, b"secret", NONCE)
    assert p0.decode(data) == replace(HAND_PKG, digest=data[:16])


@given(pkgs, st.binary(max_size=16), st.binary(max_size=16))
def test_round_trip(pkg: p0.Pkg0, password: bytes, nonce: bytes) -> None:
    data = p0.encode(pkg, password, nonce)
    got = p0.decode(data)
    assert got == replace(pkg, digest=data[:16])
    assert p0.verify_digest(data, pkg.server_id, password, nonce)


def test_verify_digest_rejects_wrong_password() -> None:
    data = p0.encode(HAND_PKG, "secret", NONCE)
    assert not p0.verify_digest(data, "dm.example", "other", NONCE)


def test_verify_digest_rejects_wrong_nonce() -> None:
    data = p0.encode(HAND_PKG, "secret", NONCE)
    assert not p0.verify_digest(data, "dm.example", "secret", b"\x00")


def test_verify_digest_rejects_tampered_trigger() -> None:
    data = bytearray(p0.encode(HAND_PKG, "secret", NONCE))
    data[-1] ^= 1
    assert not p0.verify_digest(bytes(data), "dm.example", "secret", NONCE)


def test_zero_nonce_retry_only_when_asked() -> None:
    data = p0.encode(HAND_PKG, "secret", p0.ZERO_NONCE)
    assert not p0.verify_digest(data, "dm.example", "secret", NONCE)
    assert p0.verify_digest(data, "dm.example", "secret", NONCE, retry_zero_nonce=True)


def test_decode_accepts_versions_10_11_12() -> None:
    for version in (10, 11, 12):
        data = p0.encode(replace(HAND_PKG, version=version), "pw", b"")
        assert p0.decode(data).version == version


@pytest.mark.parametrize("version", [0, 9, 13, 1023])
def test_decode_rejects_unknown_version(version: int) -> None:
    word = (version << 54 | 0).to_bytes(8, "big")
    with pytest.raises(CodecError, match="version"):
        p0.decode(bytes(16) + word)


def test_decode_rejects_future_bits_unless_allowed() -> None:
    word = (12 << 54 | 1 << 24).to_bytes(8, "big")
    with pytest.raises(CodecError, match="future"):
        p0.decode(bytes(16) + word)
    assert p0.decode(bytes(16) + word, allow_future_bits=True).future_use == 1


@pytest.mark.parametrize("length", [0, 1, 15, 16, 23])
def test_decode_rejects_short_input(length: int) -> None:
    with pytest.raises(CodecError, match="octets"):
        p0.decode(bytes(length))


def test_decode_rejects_server_id_past_end() -> None:
    word = (12 << 54 | 5).to_bytes(8, "big")
    with pytest.raises(CodecError, match="server id length"):
        p0.decode(bytes(16) + word + b"abcd")


def test_decode_rejects_non_utf8_server_id() -> None:
    word = (12 << 54 | 2).to_bytes(8, "big")
    with pytest.raises(CodecError, match="UTF-8"):
        p0.decode(bytes(16) + word + b"\xff\xfe")


def test_decode_rejects_oversize() -> None:
    with pytest.raises(CodecError, match="exceeds"):
        p0.decode(bytes(p0.MAX_PKG0 + 1))


@pytest.mark.parametrize(("field", "value"), [
    ("ui_mode", 4), ("initiator", 2), ("session_id", 0x10000), ("version", 13),
    ("future_use", 1 << 27), ("server_id", "x" * 256), ("digest", b"\x00")])
def test_encode_rejects_out_of_range_fields(field: str, value: Any) -> None:
    with pytest.raises(InvalidInput):
        p0.encode(replace(HAND_PKG, **{field: value}), "pw", b"")


@given(st.binary(max_size=200))
def test_garbage_raises_only_codec_error(data: bytes) -> None:
    for fn in (p0.decode, p0.extract_gpi):
        with contextlib.suppress(CodecError):
            fn(data)


@given(st.binary(min_size=24, max_size=200))
def test_garbage_with_valid_version_raises_only_codec_error(data: bytes) -> None:
    data = data[:16] + bytes([0x03, data[17] & 0x3F]) + data[18:]
    for fn in (p0.decode, p0.extract_gpi):
        with contextlib.suppress(CodecError):
            fn(data)
    try:
        p0.verify_digest(data, "s", "p", b"")
        p0.verify_gpi_mac(data, KS_NAF)
    except CodecError:
        pass


# ----------------------------------------------------------------------- GPI placements


def _encode_gpi(pkg: p0.Pkg0, gpi: bytes, placement: p0.Placement) -> bytes:
    return p0.encode_with_gpi(pkg, gpi, placement, server_password="pw", nonce=NONCE,
                              ks_naf=KS_NAF)


@pytest.mark.parametrize("placement", p0.PLACEMENTS)
@given(pkg=pkgs, gpi=gpis)
def test_gpi_round_trip(placement: p0.Placement, pkg: p0.Pkg0, gpi: bytes) -> None:
    data = _encode_gpi(pkg, gpi, placement)
    got, got_gpi, got_placement = p0.extract_gpi(data)
    assert (got, got_gpi, got_placement) == (replace(pkg, digest=data[:16]), gpi, placement)


def test_plain_pkg0_has_no_gpi() -> None:
    data = p0.encode(HAND_PKG, "pw", NONCE)
    assert p0.extract_gpi(data) == (replace(HAND_PKG, digest=data[:16]), None, None)


def test_digest_placement_layout_and_mac() -> None:
    gpi = b"G" * 20
    data = _encode_gpi(HAND_PKG, gpi, "digest")
    assert _bits(data, 13, 27) == p0.FLAG_GPI_MAC | 20
    assert data.endswith(b"VB" + gpi)
    trigger = data[16:]
    mac = hmac.new(KS_NAF, b"gba-push-omadm-pkg0" + trigger, hashlib.sha256).digest()[:16]
    assert data[:16] == mac
    assert p0.verify_gpi_mac(data, KS_NAF)
    assert not p0.verify_gpi_mac(data, bytes(32))


def test_digest_placement_is_not_an_md5_digest() -> None:
    data = _encode_gpi(HAND_PKG, b"G", "digest")
    assert not p0.verify_digest(data, "dm.example", "pw", NONCE)


def test_digest_placement_needs_ks_naf() -> None:
    with pytest.raises(InvalidInput, match="ks_naf"):
        p0.encode_with_gpi(HAND_PKG, b"G", "digest", server_password="pw")


def test_future_use_placement_layout() -> None:
    data = _encode_gpi(HAND_PKG, b"GPI!", "future-use")
    assert _bits(data, 13, 27) == p0.FLAG_GPI_AFTER_SERVER_ID | 4
    assert data[24:] == b"dm.example" + b"GPI!" + b"VB"
    assert p0.verify_digest(data, "dm.example", "pw", NONCE)


def test_trigger_placement_layout_keeps_future_bits_zero() -> None:
    data = _encode_gpi(HAND_PKG, b"GPI!", "trigger")
    assert _bits(data, 13, 27) == 0
    assert data[34:] == b"3GPI\x00\x04GPI!VB"
    assert p0.verify_digest(data, "dm.example", "pw", NONCE)
    assert p0.decode(data).vendor == b"3GPI\x00\x04GPI!VB"  # a legacy reader sees a body


@pytest.mark.parametrize("placement", ["future-use", "trigger"])
def test_digest_protected_placements_need_password(placement: p0.Placement) -> None:
    with pytest.raises(InvalidInput, match="server_password"):
        p0.encode_with_gpi(HAND_PKG, b"G", placement, ks_naf=KS_NAF)


def test_encode_with_gpi_rejects_unknown_placement() -> None:
    with pytest.raises(InvalidInput, match="placement"):
        p0.encode_with_gpi(HAND_PKG, b"G", "sms", server_password="pw")  # type: ignore[arg-type]


@pytest.mark.parametrize("gpi", [b"", bytes(p0.MAX_GPI + 1)])
def test_encode_with_gpi_rejects_bad_gpi_length(gpi: bytes) -> None:
    with pytest.raises(InvalidInput, match="GPI"):
        p0.encode_with_gpi(HAND_PKG, gpi, "future-use", server_password="pw")


def test_encode_with_gpi_rejects_preset_future_bits() -> None:
    with pytest.raises(InvalidInput, match="future_use"):
        p0.encode_with_gpi(replace(HAND_PKG, future_use=1), b"G", "trigger", server_password="pw")


def _with_future(future: int, tail: bytes = b"") -> bytes:
    word = (12 << 54 | future << 24 | 2).to_bytes(8, "big")
    return bytes(16) + word + b"id" + tail


@pytest.mark.parametrize(("future", "tail", "match"), [
    (p0.FLAG_GPI_MAC | p0.FLAG_GPI_AFTER_SERVER_ID | 1, b"x", "both"),
    (p0.FLAG_GPI_AFTER_SERVER_ID, b"x", "length 0"),
    (p0.FLAG_GPI_MAC, b"x", "length 0"),
    (5, b"xxxxx", "does not match"),
    (p0.FLAG_GPI_AFTER_SERVER_ID | 6, b"xxxxx", "runs past"),
    (p0.FLAG_GPI_MAC | 6, b"xxxxx", "runs past"),
    (1 << 16, b"", "reserved"),
    (1 << 24, b"", "reserved"),
    (0, b"3GPI\x00", "truncated"),
    (0, b"3GPI\x00\x00", "TLV length 0"),
    (0, b"3GPI\x00\x05abcd", "TLV length 5"),
])
def test_extract_gpi_rejects_malformed(future: int, tail: bytes, match: str) -> None:
    with pytest.raises(CodecError, match=match):
        p0.extract_gpi(_with_future(future, tail))


def test_pkg0_repr_has_no_password() -> None:
    assert "secret" not in repr(p0.decode(p0.encode(HAND_PKG, "secret", NONCE)))

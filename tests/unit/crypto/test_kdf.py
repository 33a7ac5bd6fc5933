"""GBA KDF (TS 33.220 Annex B) against an independent computation written from the spec."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gba.crypto import kdf, ua_protocols
from gba.errors import CodecError, InvalidInput


def reference_ks_naf(ck: bytes, ik: bytes, rand: bytes, impi: str, fqdn: str, ua: bytes,
                     label: bytes) -> bytes:
    """Annex B written out by hand: S = FC || P0 || L0 || P1 || L1 || P2 || L2 || P3 || L3."""
    naf_id = fqdn.encode() + ua
    s = b"\x01"
    for p in (label, rand, impi.encode(), naf_id):
        s += p + struct.pack(">H", len(p))
    return hmac.new(ck + ik, s, hashlib.sha256).digest()


@given(ck=st.binary(min_size=16, max_size=16), ik=st.binary(min_size=16, max_size=16),
       rand=st.binary(min_size=16, max_size=16),
       impi=st.text(min_size=1, max_size=60).filter(lambda t: "\x00" not in t),
       gba_u=st.booleans())
def test_ks_naf_matches_reference(ck: bytes, ik: bytes, rand: bytes, impi: str,
                                  gba_u: bool) -> None:
    fqdn = "naf.example.org"
    nid = kdf.naf_id(fqdn, ua_protocols.HTTP_DIGEST)
    got = kdf.ks_naf(kdf.ks(ck, ik), rand, impi, nid, gba_u=gba_u)
    label = b"gba-u" if gba_u else b"gba-me"
    assert got == reference_ks_naf(ck, ik, rand, impi, fqdn, ua_protocols.HTTP_DIGEST, label)


def test_me_and_u_keys_differ() -> None:
    ks = bytes(range(32))
    nid = kdf.naf_id("naf.example.org", ua_protocols.psk_tls(0x008C))
    assert kdf.ks_naf(ks, bytes(16), "a@b", nid) != kdf.ks_naf(ks, bytes(16), "a@b", nid,
                                                               gba_u=True)


def test_ks_is_ck_then_ik() -> None:
    assert kdf.ks(b"\x01" * 16, b"\x02" * 16) == b"\x01" * 16 + b"\x02" * 16


def test_naf_id_appends_protocol_identifier() -> None:
    assert kdf.naf_id("naf.op.org", bytes.fromhex("0100010 08c".replace(" ", ""))) == (
        b"naf.op.org\x01\x00\x01\x00\x8c")


def test_btid_round_trip() -> None:
    rand = bytes(range(16))
    value = kdf.btid(rand, "bsf.example.org")
    assert value == base64.b64encode(rand).decode() + "@bsf.example.org"
    assert kdf.parse_btid(value) == (rand, "bsf.example.org")


@pytest.mark.parametrize("bad", ["", "nodomain", "@bsf", "!!!@bsf", "AAAA@bsf"])
def test_malformed_btid_raises_codec_error(bad: str) -> None:
    with pytest.raises(CodecError):
        kdf.parse_btid(bad)


def test_key_expiry_and_expired() -> None:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    expiry = kdf.key_expiry(created, timedelta(hours=2))
    assert expiry == datetime(2026, 1, 1, 2, tzinfo=UTC)
    assert not kdf.is_expired(expiry, created + timedelta(hours=1))
    assert kdf.is_expired(expiry, expiry)


@pytest.mark.parametrize(
    "call",
    [
        lambda: kdf.ks(bytes(15), bytes(16)),
        lambda: kdf.naf_id("naf", bytes(4)),
        lambda: kdf.naf_id("", bytes(5)),
        lambda: kdf.ks_naf(bytes(31), bytes(16), "i", b"n"),
        lambda: kdf.ks_naf(bytes(32), bytes(16), "", b"n"),
        lambda: kdf.kdf(b"k", 256),
        lambda: kdf.key_expiry(datetime(2026, 1, 1)),
        lambda: kdf.key_expiry(datetime(2026, 1, 1, tzinfo=UTC), timedelta(0)),
    ],
)
def test_bad_input_raises_invalid_input(call: object) -> None:
    with pytest.raises(InvalidInput):
        call()  # type: ignore[operator]


def test_ua_protocol_identifiers() -> None:
    assert ua_protocols.psk_tls(0x00A8) == bytes.fromhex("01000100a8")
    assert ua_protocols.certificate_tls(0x002F) == bytes.fromhex("010002002f")
    assert ua_protocols.describe(ua_protocols.HTTP_DIGEST) == "http-digest"
    assert ua_protocols.describe(bytes.fromhex("010001008c")) == "psk-tls(0x008c)"
    assert all(len(v) == 5 for v in ua_protocols.NAMED.values())
    with pytest.raises(InvalidInput):
        ua_protocols.psk_tls(0x10000)

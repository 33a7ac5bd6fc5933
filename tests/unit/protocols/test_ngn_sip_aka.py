"""RFC 3310 Digest AKA over SIP REGISTER (gba.protocols.ngn_sip_aka); expected values are
computed here with hashlib/base64 from RFC 2617 §3.2.2.1 and RFC 3310 §3.2, §3.4."""

from __future__ import annotations

import base64
import hashlib

import pytest

from gba.errors import CodecError, InvalidInput, MacFailure
from gba.protocols.ngn_sip_aka import (
    aka_challenge,
    aka_response,
    parse_aka_authorization,
    verify_aka_response,
)

pytestmark = pytest.mark.ngn

REALM = "ngn.example"
RAND = bytes(range(16))
AUTN = bytes(range(16, 32))
RES = bytes.fromhex("f00dfacecafe0123")
NONCE = base64.b64encode(RAND + AUTN).decode()
USER = "alice@ngn.example"
URI = "sip:ngn.example"
CNONCE = "0a4f113b"


def md5(text: bytes) -> str:
    return hashlib.md5(text, usedforsecurity=False).hexdigest()


def expected_response(res: bytes = RES, method: str = "REGISTER", nc: str = "00000001") -> str:
    ha1 = md5(f"{USER}:{REALM}:".encode() + res)
    ha2 = md5(f"{method}:{URI}".encode())
    return md5(f"{ha1}:{NONCE}:{nc}:{CNONCE}:auth:{ha2}".encode())


def test_challenge_exact_form() -> None:
    assert aka_challenge(REALM, RAND, AUTN) == (
        f'Digest realm="ngn.example", nonce="{NONCE}", algorithm=AKAv1-MD5, qop="auth"')
    assert NONCE == "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="


def test_challenge_rejects_bad_lengths() -> None:
    with pytest.raises(InvalidInput, match="RAND/AUTN"):
        aka_challenge(REALM, RAND[:15], AUTN)


def test_response_matches_hand_computation() -> None:
    value = aka_response(USER, REALM, NONCE, URI, RES, CNONCE)
    creds = parse_aka_authorization(value)
    assert (creds.username, creds.realm, creds.nonce, creds.uri) == (USER, REALM, NONCE, URI)
    assert (creds.qop, creds.nc, creds.cnonce, creds.algorithm) == (
        "auth", "00000001", CNONCE, "AKAv1-MD5")
    assert creds.response == expected_response()
    verify_aka_response(creds, RES)


def test_hand_written_authorization_verifies() -> None:
    value = (f'Digest username="{USER}", realm="{REALM}", nonce="{NONCE}", uri="{URI}", '
             f'response="{expected_response(nc="00000002")}", algorithm=AKAv1-MD5, '
             f'qop=auth, nc=00000002, cnonce="{CNONCE}"')
    verify_aka_response(parse_aka_authorization(value), RES)


def test_wrong_res_or_method_fails() -> None:
    creds = parse_aka_authorization(aka_response(USER, REALM, NONCE, URI, RES, CNONCE))
    with pytest.raises(MacFailure):
        verify_aka_response(creds, bytes(8))
    with pytest.raises(MacFailure):
        verify_aka_response(creds, RES, method="INVITE")


def test_resync_uses_empty_password() -> None:
    auts = base64.b64encode(bytes(14)).decode()
    value = (f'Digest username="{USER}", realm="{REALM}", nonce="{NONCE}", uri="{URI}", '
             f'response="{expected_response(res=b"")}", algorithm=AKAv1-MD5, qop=auth, '
             f'nc=00000001, cnonce="{CNONCE}", auts="{auts}"')
    creds = parse_aka_authorization(value)
    assert creds.auts == auts
    verify_aka_response(creds, b"")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("algorithm=AKAv1-MD5", "algorithm=MD5"),
        ("algorithm=AKAv1-MD5, ", ""),
        ("qop=auth", "qop=auth-int"),
        ('Digest username', 'Basic username'),
        (f'nonce="{NONCE}"', 'nonce="!!"'),
        (f'nonce="{NONCE}"', f'nonce="{base64.b64encode(RAND).decode()}"'),
        (', nc=00000001', ''),
        ('uri="sip:ngn.example", ', ''),
        (f'cnonce="{CNONCE}"', f'cnonce="{CNONCE}", auts="AAAA"'),
    ],
)
def test_malformed_authorization(old: str, new: str) -> None:
    good = aka_response(USER, REALM, NONCE, URI, RES, CNONCE)
    bad = good.replace(old, new)
    assert bad != good
    with pytest.raises(CodecError):
        parse_aka_authorization(bad)

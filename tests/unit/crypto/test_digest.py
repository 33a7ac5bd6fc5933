"""HTTP Digest and Digest AKA: RFC examples and an independent computation."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gba.crypto import digest
from gba.errors import CodecError, InvalidInput, UnknownAlgorithm
from vectors import digest_cases

CASES = digest_cases()


@pytest.mark.parametrize("tv", CASES, ids=[c["name"] for c in CASES])
def test_rfc_examples(tv: dict[str, Any]) -> None:
    d = digest.DigestInput(tv["algorithm"], tv["username"], tv["realm"], tv["password"],
                           tv["uri"], tv["nonce"], tv["qop"], tv["nc"], tv["cnonce"])
    assert digest.response(d, tv["method"]) == tv["response"]


def md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()  # noqa: S324 - the algorithm under test


def reference_aka_response(res: bytes, user: str, realm: str, nonce: str, method: str,
                           uri: str, cnonce: str, qop: str, body: bytes) -> str:
    """RFC 3310 §3.3 with RFC 2617 §3.2.2, written out by hand."""
    a1 = md5(user.encode() + b":" + realm.encode() + b":" + res)
    a2 = md5(f"{method}:{uri}".encode() if qop == "auth"
             else f"{method}:{uri}:{md5(body)}".encode())
    return md5(f"{a1}:{nonce}:00000001:{cnonce}:{qop}:{a2}".encode())


@given(res=st.binary(min_size=4, max_size=16), body=st.binary(max_size=64),
       qop=st.sampled_from(["auth", "auth-int"]),
       rand=st.binary(min_size=16, max_size=16), autn=st.binary(min_size=16, max_size=16))
def test_akav1_matches_reference(res: bytes, body: bytes, qop: str, rand: bytes,
                                 autn: bytes) -> None:
    nonce = digest.aka_nonce(rand, autn)
    d = digest.DigestInput("AKAv1-MD5", "u@realm", "realm", res, "/", nonce, qop,
                           "00000001", "abc")
    assert digest.response(d, "GET", body) == reference_aka_response(
        res, "u@realm", "realm", nonce, "GET", "/", "abc", qop, body)


def test_akav2_password_is_base64_hmac_md5() -> None:
    res, ik, ck = b"\x01" * 8, b"\x02" * 16, b"\x03" * 16
    expected = base64.b64encode(
        hmac.new(res + ik + ck, b"http-digest-akav2-password", hashlib.md5).digest())
    assert digest.aka_password(digest.algorithm("AKAv2-MD5"), res, ik, ck) == expected
    assert digest.aka_password(digest.algorithm("AKAv1-MD5"), res) == res


def test_rspauth_is_response_with_empty_method() -> None:
    d = digest.DigestInput("SHA-256", "u", "r", "p", "/x", "n", "auth", "00000001", "c")
    a1 = hashlib.sha256(b"u:r:p").hexdigest()
    a2 = hashlib.sha256(b":/x").hexdigest()
    assert digest.rspauth(d) == hashlib.sha256(
        f"{a1}:n:00000001:c:auth:{a2}".encode()).hexdigest()


def test_sess_variant_folds_nonce_and_cnonce() -> None:
    d = digest.DigestInput("MD5-sess", "u", "r", "p", "/", "n", "auth", "00000001", "c")
    a1 = md5(f"{md5(b'u:r:p')}:n:c".encode())
    a2 = md5(b"GET:/")
    assert digest.response(d, "GET") == md5(f"{a1}:n:00000001:c:auth:{a2}".encode())


def test_no_qop_uses_rfc2069_form() -> None:
    d = digest.DigestInput("MD5", "u", "r", "p", "/", "n", None)
    assert digest.response(d, "GET") == md5(f"{md5(b'u:r:p')}:n:{md5(b'GET:/')}".encode())


def test_verify_is_case_insensitive_and_rejects_mismatch() -> None:
    assert digest.verify("abcdef", "ABCDEF")
    assert not digest.verify("abcdef", "abcdee")


def test_aka_nonce_round_trip_with_server_data() -> None:
    rand, autn = bytes(range(16)), bytes(range(16, 32))
    assert digest.parse_aka_nonce(digest.aka_nonce(rand, autn, b"srv")) == (rand, autn, b"srv")


@pytest.mark.parametrize("nonce", ["", "AAAA", "not base64!", base64.b64encode(bytes(31)).decode()])
def test_truncated_or_malformed_aka_nonce_raises_codec_error(nonce: str) -> None:
    with pytest.raises(CodecError):
        digest.parse_aka_nonce(nonce)


def test_auts_round_trip_and_truncation() -> None:
    auts = bytes(range(14))
    assert digest.decode_auts(digest.encode_auts(auts)) == auts
    with pytest.raises(CodecError):
        digest.decode_auts(base64.b64encode(bytes(13)).decode())
    with pytest.raises(InvalidInput):
        digest.encode_auts(bytes(12))


def test_unknown_algorithm_and_bad_qop_raise() -> None:
    with pytest.raises(UnknownAlgorithm):
        digest.algorithm("SHA-1")
    with pytest.raises(InvalidInput):
        digest.response(digest.DigestInput("MD5", "u", "r", "p", "/", "n", "auth", "1", "c"),
                        "GET")
    with pytest.raises(InvalidInput):
        digest.response(digest.DigestInput("MD5", "u", "r", "p", "/", "n", "bogus",
                                           "00000001", "c"), "GET")

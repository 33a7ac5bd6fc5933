"""Digest header grammar: round trips and strict rejection."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gba.errors import CodecError
from gba.protocols.digest_header import (
    AuthenticationInfo,
    Challenge,
    Credentials,
    parse_digest,
)

printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)


def test_parses_quoted_and_token_values() -> None:
    p = parse_digest('Digest realm="a, b", nonce="x\\"y", algorithm=AKAv1-MD5, qop="auth-int"')
    assert p == {"realm": "a, b", "nonce": 'x"y', "algorithm": "AKAv1-MD5", "qop": "auth-int"}


@given(realm=printable, nonce=printable, opaque=st.none() | printable)
def test_challenge_round_trip(realm: str, nonce: str, opaque: str | None) -> None:
    c = Challenge(realm=realm, nonce=nonce, algorithm="AKAv1-MD5", qop=("auth-int",),
                  opaque=opaque)
    assert Challenge.from_header(c.to_header()) == c


@given(user=printable, uri=printable, auts=st.none() | printable)
def test_credentials_round_trip(user: str, uri: str, auts: str | None) -> None:
    c = Credentials(username=user, realm="r", nonce="n", uri=uri, response="", qop="auth",
                    nc="00000001", cnonce="c", algorithm="AKAv1-MD5", auts=auts)
    assert Credentials.from_header(c.to_header()) == c


def test_authentication_info_round_trip() -> None:
    info = AuthenticationInfo(rspauth="abc", qop="auth-int", nc="00000001", cnonce="x")
    assert AuthenticationInfo.from_header(info.to_header()) == info


@pytest.mark.parametrize(
    "header",
    [
        "Basic abc",
        'Digest realm="unterminated',
        'Digest realm="a" nonce="b"',
        'Digest realm="a", realm="b"',
        'Digest realm="a",',
        "Digest =x",
        'Digest username="u", realm="r", nonce="n", uri="/"',
        'Digest username="u", realm="r", nonce="n", uri="/", response="x", qop=auth',
    ],
)
def test_malformed_credentials_raise_codec_error(header: str) -> None:
    with pytest.raises(CodecError):
        Credentials.from_header(header)


@given(st.text(max_size=200))
def test_garbage_raises_only_codec_error_or_round_trips(text: str) -> None:
    try:
        parsed = Credentials.from_header(text)
    except CodecError:
        return
    assert Credentials.from_header(parsed.to_header()) == parsed

"""Ua Digest rules of the NAF (TS 33.222 §5.3.1): stateless nonces, realm and password."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gba.errors import CodecError, StaleNonce
from gba.protocols.ua import NonceMint, password_for, realm_for

NOW = datetime(2030, 6, 1, 12, 0, 0, tzinfo=UTC)
LIFETIME = timedelta(minutes=5)


def mint(secret: bytes = b"\x01" * 32) -> NonceMint:
    return NonceMint(secret, LIFETIME)


# ------------------------------------------------------------------ nonces


def test_fresh_nonce_checks_and_reports_its_expiry() -> None:
    m = mint()
    assert m.check(m.issue(NOW), NOW) == NOW + LIFETIME


def test_nonce_is_accepted_until_just_before_its_lifetime_ends() -> None:
    m = mint()
    nonce = m.issue(NOW)
    assert m.check(nonce, NOW + LIFETIME - timedelta(seconds=1)) == NOW + LIFETIME


def test_nonce_is_stale_once_its_lifetime_has_passed() -> None:
    m = mint()
    nonce = m.issue(NOW)
    with pytest.raises(CodecError, match="stale"):
        m.check(nonce, NOW + LIFETIME)


def test_stale_nonce_is_told_apart_by_its_type() -> None:
    m = mint()
    with pytest.raises(StaleNonce):
        m.check(m.issue(NOW), NOW + LIFETIME)


def test_foreign_nonce_is_not_taken_for_a_stale_one() -> None:
    with pytest.raises(CodecError) as caught:
        mint(b"\x02" * 32).check(mint().issue(NOW - LIFETIME), NOW)
    assert not isinstance(caught.value, StaleNonce)


def test_nonce_from_another_secret_is_refused() -> None:
    nonce = mint(b"\x01" * 32).issue(NOW)
    with pytest.raises(CodecError, match="not issued here"):
        mint(b"\x02" * 32).check(nonce, NOW)


def test_nonce_is_checked_by_any_mint_holding_the_secret() -> None:
    nonce = mint(b"\x07" * 32).issue(NOW)
    assert mint(b"\x07" * 32).check(nonce, NOW) == NOW + LIFETIME


@settings(max_examples=60, deadline=None)
@given(position=st.integers(min_value=0, max_value=31), flip=st.integers(1, 255))
def test_tampered_nonce_is_refused(position: int, flip: int) -> None:
    m = mint()
    raw = bytearray(base64.b64decode(m.issue(NOW)))
    raw[position] ^= flip
    with pytest.raises(CodecError, match="not issued here"):
        m.check(base64.b64encode(bytes(raw)).decode(), NOW)


def test_nonce_with_a_rejuvenated_timestamp_is_refused() -> None:
    m = mint()
    raw = base64.b64decode(m.issue(NOW))
    later = int((NOW + timedelta(hours=1)).timestamp()).to_bytes(8, "big")
    forged = base64.b64encode(later + raw[8:]).decode()
    with pytest.raises(CodecError, match="not issued here"):
        m.check(forged, NOW + timedelta(hours=1))


@pytest.mark.parametrize("nonce", ["", "!!!not-base64!!!", "é",
                                   base64.b64encode(b"x" * 31).decode(),
                                   base64.b64encode(b"x" * 33).decode()])
def test_malformed_nonce_raises_codec_error(nonce: str) -> None:
    with pytest.raises(CodecError, match=r"base64|length"):
        mint().check(nonce, NOW)


@settings(max_examples=150, deadline=None)
@given(nonce=st.text(max_size=60))
def test_arbitrary_text_is_never_a_valid_nonce(nonce: str) -> None:
    with pytest.raises(CodecError):
        mint().check(nonce, NOW)


def test_nonces_issued_in_the_same_second_differ() -> None:
    m = mint()
    assert m.issue(NOW) != m.issue(NOW)


def test_nonce_with_injected_randomness_is_reproducible() -> None:
    assert mint().issue(NOW, rand=b"r" * 8) == mint().issue(NOW, rand=b"r" * 8)


def test_mint_without_a_secret_draws_one_of_its_own() -> None:
    a, b = NonceMint(), NonceMint()
    with pytest.raises(CodecError, match="not issued here"):
        b.check(a.issue(NOW), NOW)


# ------------------------------------------------------------------ realm and password


def test_realm_for_gba_me_keys() -> None:
    assert realm_for("naf.example.org") == "3GPP-bootstrapping@naf.example.org"


def test_realm_for_gba_u_keys() -> None:
    assert realm_for("naf.example.org", uicc=True) == "3GPP-bootstrapping-uicc@naf.example.org"


def test_password_is_base64_of_ks_naf() -> None:
    assert password_for(bytes(range(32))) == "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="


@given(key=st.binary(min_size=32, max_size=32))
def test_password_decodes_back_to_the_key(key: bytes) -> None:
    assert base64.b64decode(password_for(key), validate=True) == key

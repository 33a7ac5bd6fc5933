"""PSK identities on Ua (TS 33.222 §5.4): the forms we send and the forms we accept."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gba.crypto.kdf import btid
from gba.errors import CodecError, InvalidInput
from gba.protocols.ua_psk import (
    MAX_PSK_IDENTITY,
    PSK_IDENTITY_HINT,
    PSK_IDENTITY_HINT_UICC,
    btid_from_psk_identity,
    psk_identity_for,
)

BTID = btid(bytes(range(16)), "bsf.mnc001.mcc001.pub.3gppnetwork.org")
rands = st.binary(min_size=16, max_size=16)
_LABEL = r"[a-z](?:[a-z0-9-]{0,18}[a-z0-9])?"
domains = st.from_regex(rf"{_LABEL}(?:\.{_LABEL}){{0,4}}", fullmatch=True)


def test_hints_are_the_ts_33_222_strings() -> None:
    assert PSK_IDENTITY_HINT == "3GPP-bootstrapping"
    assert PSK_IDENTITY_HINT_UICC == "3GPP-bootstrapping-uicc"


def test_identity_is_prefix_dot_btid() -> None:
    assert psk_identity_for(BTID) == "3GPP-bootstrapping." + BTID


def test_identity_for_rejects_what_is_not_a_btid() -> None:
    with pytest.raises(InvalidInput):
        psk_identity_for("not a b-tid")


@pytest.mark.parametrize("identity", [
    "3GPP-bootstrapping." + BTID,
    "3GPP-bootstrapping" + BTID,
    "3GPP-bootstrapping-uicc." + BTID,
    "3GPP-bootstrapping-uicc" + BTID,
    "3gpp-BOOTSTRAPPING." + BTID,
    BTID,
])
def test_every_accepted_form_gives_the_btid(identity: str) -> None:
    assert btid_from_psk_identity(identity) == BTID


def test_identity_as_bytes_is_accepted() -> None:
    assert btid_from_psk_identity(("3GPP-bootstrapping." + BTID).encode()) == BTID


@pytest.mark.parametrize("identity", [
    "",
    "3GPP-bootstrapping",
    "3GPP-bootstrapping.",
    "3GPP-bootstrapping-uicc.",
    "3GPP-bootstrapping.garbage",
    "3GPP-bootstrapping.." + BTID,
    "3GPP-bootstrapping-" + BTID,
    "other-prefix." + BTID,
    "AAECAwQFBgcICQoLDA0O@bsf.example.org",  # 15-octet RAND
    BTID.split("@")[0],
    BTID + " ",
])
def test_malformed_identity_raises_codec_error(identity: str) -> None:
    with pytest.raises(CodecError):
        btid_from_psk_identity(identity)


def test_identity_that_is_not_utf8_raises_codec_error() -> None:
    with pytest.raises(CodecError, match="UTF-8"):
        btid_from_psk_identity(b"3GPP-bootstrapping.\xff\xfe")


def test_overlong_identity_raises_codec_error() -> None:
    with pytest.raises(CodecError, match="exceeds"):
        btid_from_psk_identity("3GPP-bootstrapping." + "A" * MAX_PSK_IDENTITY)


def test_non_ascii_lookalike_prefix_is_not_a_prefix() -> None:
    # U+017F LATIN SMALL LETTER LONG S case-folds to "s"; it must not pass for one.
    with pytest.raises(CodecError):
        btid_from_psk_identity("3GPP-boot\u017ftrapping." + BTID)


@given(rand=rands, domain=domains)
def test_sent_identity_round_trips(rand: bytes, domain: str) -> None:
    value = btid(rand, domain)
    assert btid_from_psk_identity(psk_identity_for(value)) == value


@given(rand=rands, domain=domains)
def test_bare_btid_round_trips(rand: bytes, domain: str) -> None:
    value = btid(rand, domain)
    assert btid_from_psk_identity(value) == value


@given(st.text(max_size=300) | st.binary(max_size=300))
def test_garbage_raises_only_codec_error(identity: str | bytes) -> None:
    with contextlib.suppress(CodecError):
        btid_from_psk_identity(identity)


@pytest.mark.parametrize("domain", ["bsf.example.org\r\nX: y", "bsf example", "-bsf.", "bsf/x"])
def test_btid_domain_must_be_a_host_name(domain: str) -> None:
    with pytest.raises(CodecError, match="host name"):
        btid_from_psk_identity("3GPP-bootstrapping." + BTID.split("@")[0] + "@" + domain)

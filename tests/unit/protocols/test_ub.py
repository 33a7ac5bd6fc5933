"""Ub pieces (TS 24.109 §4, Annex C): BootstrappingInfo XML and the GBA product tokens."""

from __future__ import annotations

import contextlib
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone

import defusedxml.ElementTree as safe_et
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gba.errors import CodecError
from gba.protocols.ub import (
    PRODUCT,
    BootstrappingInfo,
    has_product_token,
    initial_credentials,
    server,
    ua_user_agent,
    user_agent,
)

NS = "{uri:3gpp-gba}"
BTID = "AAECAwQFBgcICQoLDA0ODw==@bsf.mnc001.mcc001.pub.3gppnetwork.org"

offsets = st.integers(min_value=-23 * 60, max_value=23 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes)))
moments = st.builds(
    lambda t, tz: t.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2999, 12, 30)).map(
        lambda t: t.replace(microsecond=0)),
    offsets)
btids = st.text(st.characters(categories=("L", "N", "P", "S")), min_size=1, max_size=80)


def info_doc(children: str, root: str = "BootstrappingInfo") -> bytes:
    return f'<?xml version="1.0"?><{root} xmlns="uri:3gpp-gba">{children}</{root}>'.encode()


# ------------------------------------------------------------------ BootstrappingInfo


@settings(max_examples=80, deadline=None)
@given(btid=btids, lifetime=moments)
def test_bootstrapping_info_round_trips(btid: str, lifetime: datetime) -> None:
    decoded = BootstrappingInfo.decode(BootstrappingInfo(btid, lifetime).encode())
    assert decoded == BootstrappingInfo(btid, lifetime)
    assert decoded.lifetime.utcoffset() == timedelta(0)


def test_lifetime_is_rendered_in_utc_with_z() -> None:
    cest = timezone(timedelta(hours=2))
    body = BootstrappingInfo(BTID, datetime(2024, 5, 1, 14, 30, 15, tzinfo=cest)).encode()
    root: ET.Element = safe_et.fromstring(body)
    assert root.findtext(f"{NS}lifetime") == "2024-05-01T12:30:15Z"


@settings(max_examples=50, deadline=None)
@given(lifetime=moments)
def test_lifetime_text_is_always_an_xs_datetime_ending_in_z(lifetime: datetime) -> None:
    root: ET.Element = safe_et.fromstring(BootstrappingInfo(BTID, lifetime).encode())
    text = root.findtext(f"{NS}lifetime")
    assert text is not None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text)


def test_encoded_body_is_a_utf8_document_in_the_3gpp_gba_namespace() -> None:
    body = BootstrappingInfo(BTID, datetime(2030, 1, 1, tzinfo=UTC)).encode()
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root: ET.Element = safe_et.fromstring(body)
    assert root.tag == f"{NS}BootstrappingInfo"
    assert root.findtext(f"{NS}btid") == BTID


def test_decode_reads_an_offset_lifetime_as_utc() -> None:
    decoded = BootstrappingInfo.decode(info_doc(
        f"<btid>{BTID}</btid><lifetime>2024-05-01T14:30:15+02:00</lifetime>"))
    assert decoded.lifetime == datetime(2024, 5, 1, 12, 30, 15, tzinfo=UTC)
    assert decoded.lifetime.tzinfo == UTC


@pytest.mark.parametrize("children", [
    "<lifetime>2024-05-01T12:00:00Z</lifetime>",
    f"<btid>{BTID}</btid>",
    "<btid> </btid><lifetime>2024-05-01T12:00:00Z</lifetime>",
    f"<btid>{BTID}</btid><lifetime></lifetime>",
])
def test_decode_without_btid_or_lifetime_raises_codec_error(children: str) -> None:
    with pytest.raises(CodecError, match="lacks btid or lifetime"):
        BootstrappingInfo.decode(info_doc(children))


@pytest.mark.parametrize("lifetime", ["tomorrow", "2024-13-01T00:00:00Z", "2024-05-01T25:00Z"])
def test_decode_of_a_malformed_lifetime_raises_codec_error(lifetime: str) -> None:
    with pytest.raises(CodecError, match="xs:dateTime"):
        BootstrappingInfo.decode(info_doc(f"<btid>{BTID}</btid><lifetime>{lifetime}</lifetime>"))


def test_decode_of_a_lifetime_without_time_zone_raises_codec_error() -> None:
    with pytest.raises(CodecError, match="time zone"):
        BootstrappingInfo.decode(info_doc(
            f"<btid>{BTID}</btid><lifetime>2024-05-01T12:00:00</lifetime>"))


@pytest.mark.parametrize("lifetime", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00"])
def test_decode_of_a_lifetime_out_of_range_in_utc_raises_codec_error(lifetime: str) -> None:
    with pytest.raises(CodecError):
        BootstrappingInfo.decode(info_doc(f"<btid>{BTID}</btid><lifetime>{lifetime}</lifetime>"))


def test_decode_of_the_wrong_root_raises_codec_error() -> None:
    with pytest.raises(CodecError, match="root element"):
        BootstrappingInfo.decode(info_doc(
            f"<btid>{BTID}</btid><lifetime>2024-05-01T12:00:00Z</lifetime>", root="Info"))


def test_decode_of_an_entity_declaration_raises_codec_error() -> None:
    body = (b'<?xml version="1.0"?><!DOCTYPE b [<!ENTITY e "x">]>'
            b'<BootstrappingInfo><btid>&e;</btid><lifetime>2024-05-01T12:00:00Z</lifetime>'
            b"</BootstrappingInfo>")
    with pytest.raises(CodecError, match="malformed"):
        BootstrappingInfo.decode(body)


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=200))
def test_garbage_decodes_or_raises_codec_error(data: bytes) -> None:
    with contextlib.suppress(CodecError):
        BootstrappingInfo.decode(data)


# ------------------------------------------------------------------ product tokens


def test_ub_user_agent_carries_the_tmpi_token() -> None:
    # TS 33.220 §4.5.2: "A UE shall always include the product token "3gpp-gba-tmpi" in
    # the user agent request-header field when communicating over Ub"
    tokens = user_agent().split()
    assert "3gpp-gba-tmpi" in tokens
    assert "3gpp-gba" not in tokens
    assert "3gpp-gba-uicc" not in tokens


def test_ub_server_header_carries_the_tmpi_token() -> None:
    assert server().split() == [PRODUCT, "3gpp-gba-tmpi"]
    assert server("bsf/9").split() == ["bsf/9", "3gpp-gba-tmpi"]


def test_ua_user_agent_carries_the_gba_token() -> None:
    assert ua_user_agent().split() == [PRODUCT, "3gpp-gba"]


def test_user_agent_keeps_the_base_product() -> None:
    assert user_agent(base="phone/2.0").split()[0] == "phone/2.0"


@pytest.mark.parametrize(("header", "token", "expected"), [
    (None, "3gpp-gba", False),
    ("", "3gpp-gba", False),
    ("3gpp-gba", "3gpp-gba", True),
    ("SCEnrolmentAgent; Release-6 3gpp-gba", "3gpp-gba", True),
    ("Mozilla/5.0 3gpp-gba/1.0 extra/1", "3gpp-gba", True),
    ("Mozilla/5.0 3gpp-gba-tmpi", "3gpp-gba", False),
    ("Mozilla/5.0 3gpp-gba-tmpi", "3gpp-gba-tmpi", True),
    ("Mozilla/5.0 (compatible; 3gpp-gba)", "3gpp-gba", False),
    ("Mozilla/5.0 x3gpp-gba", "3gpp-gba", False),
])
def test_product_token_needs_the_exact_product_outside_comments(
        header: str | None, token: str, expected: bool) -> None:
    assert has_product_token(header, token) is expected


def test_initial_credentials_carry_the_impi_and_empty_nonce_and_response() -> None:
    creds = initial_credentials("user@realm", "realm")
    assert (creds.username, creds.realm, creds.nonce, creds.uri, creds.response) == (
        "user@realm", "realm", "", "/", "")

"""TLS suite names and codes for NAF_Id = FQDN || 01 00 01 yy zz (TS 33.220 Annex H.3)."""

from __future__ import annotations

import pytest

from gba.crypto import ua_protocols
from gba.errors import InvalidInput
from gba.transport.psk_tls_context import ciphersuite_code


@pytest.mark.parametrize("text", [
    "TLS_PSK_WITH_AES_128_GCM_SHA256", "tls_psk_with_aes_128_gcm_sha256",
    "PSK-AES128-GCM-SHA256", "0x00A8", "00a8", "00 A8", "0x00,0xA8", " 00A8 ",
])
def test_every_spelling_of_00a8(text: str) -> None:
    assert ua_protocols.tls_suite(text) == 0x00A8


def test_any_two_octet_code_is_a_suite() -> None:
    assert ua_protocols.tls_suite("0x002F") == 0x002F


@pytest.mark.parametrize("text", ["", "PSK", "0x0A8", "0x00A8FF", "TLS_NOTHING", "zz00"])
def test_anything_else_is_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInput, match="TLS suite"):
        ua_protocols.tls_suite(text)


@pytest.mark.parametrize("text", ["0x1301", "13 02", "0x0000"])
def test_tls_1_3_and_null_codes_are_not_suites_of_01_00_01(text: str) -> None:
    # TS 33.220 H.3: a TLS 1.3 NAF_Id ends 01 00 00 00 07, whatever the suite
    with pytest.raises(InvalidInput, match=r"not a TLS 1\.2 suite"):
        ua_protocols.tls_suite(text)


@pytest.mark.parametrize("code", sorted(ua_protocols.PSK_SUITES))
def test_openssl_names_are_openssls_and_the_iana_name_reads_back(code: int) -> None:
    assert ciphersuite_code(ua_protocols.openssl_suite_name(code)) == code
    assert ua_protocols.tls_suite(ua_protocols.iana_suite_name(code)) == code


def test_unknown_code_has_no_openssl_name() -> None:
    with pytest.raises(InvalidInput, match="0x002F"):
        ua_protocols.openssl_suite_name(0x002F)
    assert ua_protocols.iana_suite_name(0x002F) == "0x002F"

"""Diameter dictionary tables: codes, types, flags and commands as the specs list them."""

from __future__ import annotations

import pytest

from gba.errors import InvalidInput
from gba.protocols.diameter import (
    APP_COMMON,
    APP_ZH,
    APP_ZN,
    APP_ZPN,
    VENDOR_3GPP,
    AvpType,
    ExperimentalResultCode,
    ResultCode,
    avp,
    avp_def,
    find_avp_def,
    find_command,
    value_of,
)
from gba.protocols.diameter.dictionary import AVPS, COMMANDS, enum_value

_T = AvpType


def test_application_ids() -> None:
    assert (APP_COMMON, APP_ZN, APP_ZH, APP_ZPN) == (0, 16777220, 16777221, 16777268)
    assert VENDOR_3GPP == 10415


@pytest.mark.parametrize(("name", "code", "vendor", "kind"), [
    ("Session-Id", 263, 0, _T.UTF8_STRING),
    ("Origin-Host", 264, 0, _T.DIAMETER_IDENTITY),
    ("Origin-Realm", 296, 0, _T.DIAMETER_IDENTITY),
    ("Destination-Host", 293, 0, _T.DIAMETER_IDENTITY),
    ("Destination-Realm", 283, 0, _T.DIAMETER_IDENTITY),
    ("Host-IP-Address", 257, 0, _T.ADDRESS),
    ("Vendor-Id", 266, 0, _T.UNSIGNED32),
    ("Product-Name", 269, 0, _T.UTF8_STRING),
    ("Result-Code", 268, 0, _T.UNSIGNED32),
    ("Experimental-Result", 297, 0, _T.GROUPED),
    ("Experimental-Result-Code", 298, 0, _T.UNSIGNED32),
    ("Auth-Application-Id", 258, 0, _T.UNSIGNED32),
    ("Acct-Application-Id", 259, 0, _T.UNSIGNED32),
    ("Vendor-Specific-Application-Id", 260, 0, _T.GROUPED),
    ("Auth-Session-State", 277, 0, _T.ENUMERATED),
    ("Origin-State-Id", 278, 0, _T.UNSIGNED32),
    ("Firmware-Revision", 267, 0, _T.UNSIGNED32),
    ("Supported-Vendor-Id", 265, 0, _T.UNSIGNED32),
    ("Inband-Security-Id", 299, 0, _T.UNSIGNED32),
    ("Disconnect-Cause", 273, 0, _T.ENUMERATED),
    ("Error-Message", 281, 0, _T.UTF8_STRING),
    ("Failed-AVP", 279, 0, _T.GROUPED),
    ("User-Name", 1, 0, _T.UTF8_STRING),
    ("Route-Record", 282, 0, _T.DIAMETER_IDENTITY),
    ("Proxy-Info", 284, 0, _T.GROUPED),
    ("Public-Identity", 601, VENDOR_3GPP, _T.UTF8_STRING),
    ("SIP-Number-Auth-Items", 607, VENDOR_3GPP, _T.UNSIGNED32),
    ("SIP-Authentication-Scheme", 608, VENDOR_3GPP, _T.UTF8_STRING),
    ("SIP-Authenticate", 609, VENDOR_3GPP, _T.OCTET_STRING),
    ("SIP-Authorization", 610, VENDOR_3GPP, _T.OCTET_STRING),
    ("SIP-Auth-Data-Item", 612, VENDOR_3GPP, _T.GROUPED),
    ("SIP-Item-Number", 613, VENDOR_3GPP, _T.UNSIGNED32),
    ("Confidentiality-Key", 625, VENDOR_3GPP, _T.OCTET_STRING),
    ("Integrity-Key", 626, VENDOR_3GPP, _T.OCTET_STRING),
])
def test_base_and_cx_avps(name: str, code: int, vendor: int, kind: AvpType) -> None:
    definition = avp_def(name)
    assert (definition.code, definition.vendor, definition.type) == (code, vendor, kind)
    assert find_avp_def(code, vendor) is definition


def test_gba_avps_400_to_420_with_their_types_and_flags() -> None:
    """TS 29.109 Table 6.1 (as freeDiameter's dict_dcca_3gpp, from 29109-f00.doc): V and
    M on every GBA AVP except GUSS-Timestamp (409), whose M bit MUST NOT be set."""
    times = {404, 408, 409, 415}
    enums = {407, 410, 412, 414, 416}
    for code in range(400, 421):
        definition = find_avp_def(code, VENDOR_3GPP)
        assert definition is not None, code
        expected = _T.TIME if code in times else _T.ENUMERATED if code in enums else \
            _T.OCTET_STRING
        assert definition.type == expected, definition.name
        assert definition.flags == (0x80 if code == 409 else 0xC0), definition.name


def test_security_feature_avps_419_and_420() -> None:
    assert avp_def("Security-Feature-Request").code == 419  # TS 29.109 §6.3.1.20
    assert avp_def("Security-Feature-Response").code == 420  # TS 29.109 §6.3.1.21


def test_gba_enumerations() -> None:
    assert enum_value(avp_def("UICC-ME"), "GBA_U") == 1
    assert enum_value(avp_def("GBA-Type"), "2G_GBA") == 1
    assert enum_value(avp_def("GBA_U-Awareness-Indicator"), "YES") == 1
    with pytest.raises(InvalidInput):
        enum_value(avp_def("UICC-ME"), "GBA_X")


def test_names_and_keys_are_unique() -> None:
    assert len({d.name for d in AVPS}) == len(AVPS)
    assert len({(d.code, d.vendor) for d in AVPS}) == len(AVPS)


def test_commands() -> None:
    assert find_command(303, APP_ZH) is not None
    assert find_command(310, APP_ZN) is not None
    assert find_command(312, APP_ZPN) is not None  # GBAPush-Info (docs/push-formats.md)
    assert find_command(313, APP_ZPN) is None
    cer = find_command(257, APP_COMMON)
    assert cer is not None
    assert not cer.proxiable
    assert {c.request for c in COMMANDS} >= {"CER", "DWR", "DPR", "MAR", "BIR", "GPIR"}


def test_result_codes() -> None:
    assert int(ResultCode.SUCCESS) == 2001
    assert int(ResultCode.APPLICATION_UNSUPPORTED) == 3007
    assert int(ResultCode.NO_COMMON_APPLICATION) == 5010
    assert int(ResultCode.INVALID_AVP_LENGTH) == 5014
    assert int(ExperimentalResultCode.IMPI_UNKNOWN) == 5401
    assert int(ExperimentalResultCode.NOT_AUTHORIZED) == 5402
    assert int(ExperimentalResultCode.TRANSACTION_IDENTIFIER_INVALID) == 5403


def test_value_of_reads_back_by_type() -> None:
    assert value_of(avp("Origin-Host", "bsf.example.org")) == "bsf.example.org"
    assert value_of(avp("SIP-Number-Auth-Items", 3)) == 3
    assert value_of(avp("NAF-Id", b"naf\x01\x00\x00\x00\x02")) == b"naf\x01\x00\x00\x00\x02"
    kids = value_of(avp("SIP-Auth-Data-Item", [avp("SIP-Item-Number", 1)]))
    assert kids == (avp("SIP-Item-Number", 1),)

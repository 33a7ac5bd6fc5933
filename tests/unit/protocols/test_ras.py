"""H.225.0 RAS aligned-PER codec (gba.protocols.ras; H.225.0 §7, X.691)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gba.protocols import ras
from gba.protocols.ras import RasCodecError

pytestmark = pytest.mark.ngn

OID_BYTES = "06" + "0008914a0004"
"""protocolIdentifier {0 0 8 2250 0 4}: length 6, then 0*40+0, 8, 2250 = 0x91 0x4a
(17*128 + 74, X.690 §8.19), 0, 4 (X.691: a length octet then the X.690 contents)."""


def _nsd(data: bytes = b"\x00") -> dict[str, Any]:
    return {"nonStandardIdentifier": ("object", ras.NGN_OID), "data": data}


def _ip(port: int = 1719) -> tuple[str, dict[str, Any]]:
    return ("ipAddress", {"ip": bytes([10, 0, 0, 1]), "port": port})


ENDPOINT = {"terminal": {}, "mc": False, "undefinedNode": False}
VENDOR = {"vendor": {"t35CountryCode": 0, "t35Extension": 0, "manufacturerCode": 0}}

SAMPLES: list[ras.RasPdu] = [
    ("gatekeeperRequest", {"requestSeqNum": 5, "protocolIdentifier": ras.H225_V4,
                           "nonStandardData": _nsd(), "rasAddress": _ip(),
                           "endpointType": ENDPOINT, "endpointAlias": [("h323-ID", "alice")]}),
    ("gatekeeperConfirm", {"requestSeqNum": 5, "protocolIdentifier": ras.H225_V4,
                           "rasAddress": _ip()}),
    ("gatekeeperReject", {"requestSeqNum": 5, "protocolIdentifier": ras.H225_V4,
                          "nonStandardData": _nsd(), "gatekeeperIdentifier": "ngn.example",
                          "rejectReason": ("securityDenial", None)}),
    ("registrationRequest", {"requestSeqNum": 6, "protocolIdentifier": ras.H225_V4,
                             "discoveryComplete": True, "callSignalAddress": [_ip(1720)],
                             "rasAddress": [_ip()], "terminalType": ENDPOINT,
                             "endpointVendor": VENDOR}),
    ("registrationConfirm", {"requestSeqNum": 6, "protocolIdentifier": ras.H225_V4,
                             "callSignalAddress": [], "endpointIdentifier": "ep1"}),
    ("registrationReject", {"requestSeqNum": 6, "protocolIdentifier": ras.H225_V4,
                            "rejectReason": ("invalidAlias", None)}),
    ("unknownMessageResponse", {"requestSeqNum": 1, "messageNotUnderstood": b"x"}),
]


@pytest.mark.parametrize("pdu", SAMPLES, ids=[s[0] for s in SAMPLES])
def test_round_trip_of_each_carried_message(pdu: ras.RasPdu) -> None:
    assert ras.decode_ras(ras.encode_ras(pdu)) == pdu


def test_xrs_bytes_follow_x691_by_hand() -> None:
    # RasMessage CHOICE (root 0..24, extensible): ext bit 0, index 24 in 5 bits = 011000;
    # XRS SEQUENCE: ext bit 1 (messageNotUnderstood is an addition) -> 0110001, pad -> 0x62.
    # requestSeqNum 7 in INTEGER(1..65535): 7-1 in 2 aligned octets -> 0006.
    # Additions: bitmap length 4-1 as normally-small (0 000011) + bitmap 0001 -> 06 20,
    # then the open type: length 04, OCTET STRING length 03 'abc'.
    pdu = ("unknownMessageResponse", {"requestSeqNum": 7, "messageNotUnderstood": b"abc"})
    assert ras.encode_ras(pdu) == bytes.fromhex("62" "0006" "0620" "04" "03616263")


def test_rrj_security_error_bytes_by_hand() -> None:
    # CHOICE index 5 -> 0 00101; RRJ ext bit 0; bitmap (nonStandardData,
    # gatekeeperIdentifier) 00: 9 bits -> 14 00. seq 7 -> 0006. Reason: ext bit 1 +
    # addition index 9 (securityError follows 9 additions) as normally-small 0 001001
    # -> 0x89, open type length 01, SecurityErrors ext 0 + index 1 of 16 in 4 bits -> 08.
    pdu = ("registrationReject", {"requestSeqNum": 7, "protocolIdentifier": ras.H225_V4,
                                  "rejectReason": ("securityError", ("securityReplay", None))})
    assert ras.encode_ras(pdu) == bytes.fromhex("1400" "0006" + OID_BYTES + "89" "01" "08")


def test_grj_security_denial_is_the_first_addition() -> None:
    # GRJ index 2 -> 0 00010, ext 0, bitmap (nsd, gkid) 00: 9 bits -> 08 00; seq 1 -> 0000;
    # reason: ext 1 + index 0 as normally-small (0 000000) -> 0x80, then the open type:
    # the complete encoding of NULL is one 00 octet (X.691 §11.1), so length 01, 00.
    pdu = ("gatekeeperReject", {"requestSeqNum": 1, "protocolIdentifier": ras.H225_V4,
                                "rejectReason": ("securityDenial", None)})
    assert ras.encode_ras(pdu) == bytes.fromhex("0800" "0000" + OID_BYTES + "80" "01" "00")


def test_rrj_security_denial_open_type_and_later_component() -> None:
    # 0 00101 0 + bitmap 01 (gatekeeperIdentifier present) -> 14 80; securityDenial is RRJ
    # reason addition 3 -> 0x83, open type 01 00; gatekeeperIdentifier follows: BMPString
    # SIZE(1..128), length-1 = 1 in 7 bits (0000001) + 1 pad bit -> 02, then UTF-16BE.
    pdu = ("registrationReject", {"requestSeqNum": 1, "protocolIdentifier": ras.H225_V4,
                                  "rejectReason": ("securityDenial", None),
                                  "gatekeeperIdentifier": "gk"})
    data = ras.encode_ras(pdu)
    assert data == bytes.fromhex("1480" "0000" + OID_BYTES + "830100" "02" "0067006b")
    assert ras.decode_ras(data) == pdu


def test_grq_prefix_and_h323_id_alias_by_hand() -> None:
    pdu = SAMPLES[0]
    data = ras.encode_ras(pdu)
    # CHOICE index 0 (0 00000), GRQ ext 0, bitmap 1001 (nsd, -, -, endpointAlias) -> 01, 20;
    # seq 5 -> 0004; then the OID.
    assert data.startswith(bytes.fromhex("0120" "0004" + OID_BYTES))
    # SEQUENCE OF count 01; AliasAddress index 1 of 2 -> 01 padded = 0x40; BMPString
    # SIZE(1..256): length-1 = 4 in one octet; UTF-16BE characters, octet-aligned.
    assert data.endswith(bytes.fromhex("01" "40" "04") + "alice".encode("utf-16-be"))


def test_uncarried_alternative_is_named_not_decoded() -> None:
    # admissionRequest is root index 9: 0 01001 00 -> 0x24.
    assert ras.decode_ras(bytes([0x24, 0x00])) == ("admissionRequest", None)


def test_payload_round_trip() -> None:
    fields = {"step": 1, "idC": "alice", "idSp": "sp", "n1": bytes(16), "ts1": 1_700_000_000}
    assert ras.decode_payload(ras.encode_payload(fields)) == fields


@pytest.mark.parametrize("data", [b"", b"\x01", b"\xff" * 8, bytes(4097)])
def test_malformed_input_is_a_codec_error(data: bytes) -> None:
    with pytest.raises(RasCodecError):
        ras.decode_ras(data)


def test_trailing_octet_is_refused() -> None:
    data = ras.encode_ras(SAMPLES[0])
    with pytest.raises(RasCodecError, match="canonical"):
        ras.decode_ras(data + b"\x00")


def test_truncated_messages_are_refused() -> None:
    data = ras.encode_ras(SAMPLES[3])
    for cut in range(1, len(data)):
        with pytest.raises(RasCodecError):
            ras.decode_ras(data[:cut])


def test_payload_trailing_and_bad_values_are_refused() -> None:
    good = ras.encode_payload({"step": 2, "idC": "a", "idSp": "b"})
    with pytest.raises(RasCodecError):
        ras.decode_payload(good + b"\x00")
    with pytest.raises(RasCodecError):
        ras.encode_payload({"step": 13, "idC": "a", "idSp": "b"})
    with pytest.raises(RasCodecError):
        ras.encode_payload({"step": 1, "idC": "a", "idSp": "b", "n1": bytes(15)})


def test_oversize_encoding_is_refused() -> None:
    with pytest.raises(RasCodecError, match="exceeds"):
        ras.encode_ras(("unknownMessageResponse",
                        {"requestSeqNum": 1, "messageNotUnderstood": bytes(5000)}))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_only_codec_errors(data: bytes) -> None:
    with contextlib.suppress(RasCodecError):
        ras.decode_ras(data)

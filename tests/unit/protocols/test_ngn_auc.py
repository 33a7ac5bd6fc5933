"""The softswitch - AuC Diameter leg (gba.protocols.ngn_auc): s3/s4 and s11 built,
encoded, decoded and parsed back; the command codes, application and AVP flags; the
refusals and their Refusal; and each malformed class refused with its RFC 6733 code."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from gba.errors import CodecError, InvalidInput, MacFailure
from gba.protocols import ngn, ngn_auc
from gba.protocols.diameter import (
    AVP_FLAG_MANDATORY,
    AVP_FLAG_VENDOR,
    VENDOR_3GPP,
    Avp,
    DiameterCodecError,
    Message,
    MissingAvp,
    PeerIdentity,
    avp,
    experimental_result,
    need_avp,
    raw_avp,
)
from gba.protocols.diameter.capabilities import UnsupportedAvp
from gba.protocols.ngn_auc import AkaVector, NgnAuthRefusal, NgnResultCode
from gba.protocols.ngn_flow import Refusal, S3AuthRequest, S4AuthVector, S11Registered

pytestmark = pytest.mark.ngn

SS = PeerIdentity("ss.ngn.example", "ngn.example", (ip_address("127.0.0.1"),))
AUC = PeerIdentity("auc.ngn.example", "ngn.example", (ip_address("127.0.0.1"),))
S3 = S3AuthRequest("alice@ngn.example", "sp1.ngn.example")
NGN_VECTOR = S4AuthVector(S3.id_c, S3.id_sp, bytes(range(16)), bytes(range(16, 32)),
                          b"\x01" * 24, b"\x02" * 24)
AKA_VECTOR = AkaVector(S3.id_c, S3.id_sp, b"\x11" * 16, b"\x22" * 16, b"\x33" * 8,
                       b"\x44" * 16, b"\x55" * 16, b"\x06" * 24, b"\x07" * 24)


def wire(msg: Message) -> Message:
    """Through the octets and back (RFC 6733 §3)."""
    return Message.decode(msg.encode())


def nar() -> Message:
    return wire(ngn_auc.build_auth_request(SS, "ngn.example", "ss.ngn.example;1;1", S3))


def strip(msg: Message, code: int, vendor: int = 0) -> Message:
    return msg.with_avps(a for a in msg.avps if not (a.code == code and a.vendor == vendor))


# ------------------------------------------------------------------ identifiers


def test_application_and_command_codes_are_the_documented_ones() -> None:
    assert ngn_auc.VENDOR == 32473
    assert ngn_auc.APP_NGN_AUC == 0x4E474E01
    assert 0x01000000 <= ngn_auc.APP_NGN_AUC <= 0xFFFFFFFE  # RFC 6733 §11.3 vendor range
    assert (ngn_auc.CMD_NGN_AUTH, ngn_auc.CMD_NGN_REGISTRATION_NOTICE) == (16777214, 16777215)
    assert ngn_auc.APPLICATION == (32473, 0x4E474E01)


def test_s3_request_header_and_avps() -> None:
    msg = nar()
    assert msg.command_code == 16777214
    assert msg.application_id == ngn_auc.APP_NGN_AUC
    assert msg.is_request
    assert msg.is_proxiable
    assert need_avp(msg, 1).as_str() == S3.id_c
    proxy = msg.find(20, 32473)
    assert proxy is not None
    assert proxy.data == S3.id_sp.encode()
    assert proxy.flags == AVP_FLAG_VENDOR | AVP_FLAG_MANDATORY
    state = msg.find(277)
    assert state is not None
    assert state.as_int() == 1
    assert need_avp(msg, 283).as_str() == "ngn.example"
    vsai = msg.find(260)
    assert vsai is not None
    assert need_avp(vsai, 266).as_int() == 32473
    assert need_avp(vsai, 258).as_int() == ngn_auc.APP_NGN_AUC


def test_s3_round_trip() -> None:
    assert ngn_auc.parse_auth_request(nar()) == S3


# ------------------------------------------------------------------ s4


def test_s4_ngn_round_trip_and_avps() -> None:
    answer = wire(ngn_auc.build_auth_answer(nar(), AUC, NGN_VECTOR))
    assert not answer.is_request
    assert answer.command_code == 16777214
    assert answer.result_code == 2001
    for code, value in ((21, NGN_VECTOR.rand), (22, NGN_VECTOR.authenticator),
                        (23, NGN_VECTOR.e_kc), (24, NGN_VECTOR.e_ksp)):
        found = answer.find(code, 32473)
        assert found is not None
        assert found.data == value
        assert found.flags == AVP_FLAG_VENDOR | AVP_FLAG_MANDATORY
    assert answer.find(612, VENDOR_3GPP) is None
    assert ngn_auc.parse_auth_answer(answer) == NGN_VECTOR


def test_s4_aka_round_trip_carries_the_cx_item_and_no_authenticator() -> None:
    answer = wire(ngn_auc.build_auth_answer(nar(), AUC, AKA_VECTOR))
    assert answer.find(22, 32473) is None
    item = answer.find(612, VENDOR_3GPP)
    assert item is not None
    assert item.find(609, VENDOR_3GPP).data == AKA_VECTOR.rand + AKA_VECTOR.autn  # type: ignore[union-attr]
    assert item.find(610, VENDOR_3GPP).data == AKA_VECTOR.xres  # type: ignore[union-attr]
    assert item.find(625, VENDOR_3GPP).data == AKA_VECTOR.ck  # type: ignore[union-attr]
    assert item.find(626, VENDOR_3GPP).data == AKA_VECTOR.ik  # type: ignore[union-attr]
    assert ngn_auc.parse_auth_answer(answer) == AKA_VECTOR


def test_answers_keep_the_session_id_and_hop_ids() -> None:
    request = nar().with_ids(7, 9)
    answer = ngn_auc.build_auth_answer(request, AUC, NGN_VECTOR)
    assert (answer.hop_by_hop, answer.end_to_end) == (7, 9)
    assert answer.find(263) == request.find(263)


@pytest.mark.parametrize(("code", "refusal"), [
    (NgnResultCode.UNKNOWN_TERMINAL, Refusal.UNKNOWN_TERMINAL),
    (NgnResultCode.UNKNOWN_PROXY, Refusal.UNKNOWN_PROXY)])
def test_s4_refusals_map_to_the_flow_refusal(code: NgnResultCode, refusal: Refusal) -> None:
    answer = wire(ngn_auc.build_refusal(nar(), AUC, code))
    group = answer.find(297)
    assert group is not None
    assert group.find(266).as_int() == 32473  # type: ignore[union-attr]
    assert group.find(298).as_int() == int(code)  # type: ignore[union-attr]
    assert ngn_auc.parse_auth_answer(answer) == NgnAuthRefusal(refusal, int(code))


def test_result_codes_values() -> None:
    assert (NgnResultCode.UNKNOWN_TERMINAL, NgnResultCode.UNKNOWN_PROXY) == (5110, 5111)


@pytest.mark.parametrize(("result", "refusal"), [
    (3002, Refusal.UNAVAILABLE), (5012, Refusal.UNAVAILABLE), (5005, Refusal.MALFORMED),
    (5001, Refusal.MALFORMED), (5014, Refusal.MALFORMED)])
def test_other_result_codes_map_to_unavailable_or_malformed(result: int,
                                                             refusal: Refusal) -> None:
    answer = nar().answer([avp("Result-Code", result)])
    assert ngn_auc.parse_auth_answer(answer) == NgnAuthRefusal(refusal, result)


def test_a_5110_of_another_vendor_is_not_an_unknown_terminal() -> None:
    answer = nar().answer([experimental_result(5110, VENDOR_3GPP)])
    assert ngn_auc.refusal_of(answer) == NgnAuthRefusal(Refusal.UNAVAILABLE, 5110)


def test_an_answer_without_result_is_unavailable() -> None:
    refused = ngn_auc.refusal_of(nar().answer([]))
    assert refused is not None
    assert refused.refusal is Refusal.UNAVAILABLE


# ------------------------------------------------------------------ s11


@pytest.mark.parametrize(("address", "code", "vendor", "octets"), [
    ("192.0.2.7", 8, 0, bytes([192, 0, 2, 7])),
    ("2001:db8::1", 8, 0, bytes.fromhex("20010db8000000000000000000000001")),
    ("terminal.nat.example", 25, 32473, b"terminal.nat.example")])
def test_s11_round_trip_by_address_form(address: str, code: int, vendor: int,
                                        octets: bytes) -> None:
    note = S11Registered(S3.id_c, S3.id_sp, address)
    msg = wire(ngn_auc.build_notice_request(SS, "ngn.example", "s;1;2", note))
    assert msg.command_code == 16777215
    assert msg.is_request
    carried = msg.find(code, vendor)
    assert carried is not None
    assert carried.data == octets
    assert carried.is_mandatory
    assert ngn_auc.parse_notice_request(msg) == note


def test_s11_answer_success_and_refusal() -> None:
    note = S11Registered(S3.id_c, S3.id_sp, "192.0.2.7")
    msg = wire(ngn_auc.build_notice_request(SS, "ngn.example", "s;1;2", note))
    ok = wire(ngn_auc.build_notice_answer(msg, AUC))
    assert ok.result_code == 2001
    assert ok.command_code == 16777215
    assert ngn_auc.parse_notice_answer(ok) is None
    refused = wire(ngn_auc.build_refusal(msg, AUC, NgnResultCode.UNKNOWN_TERMINAL))
    assert ngn_auc.parse_notice_answer(refused) == NgnAuthRefusal(
        Refusal.UNKNOWN_TERMINAL, 5110)


# ------------------------------------------------------------------ malformed


def nrr() -> Message:
    return wire(ngn_auc.build_notice_request(SS, "ngn.example", "s;1;2",
                                             S11Registered(S3.id_c, S3.id_sp, "192.0.2.7")))


@pytest.mark.parametrize(("code", "vendor"), [(1, 0), (20, 32473)])
def test_missing_identity_is_5005(code: int, vendor: int) -> None:
    with pytest.raises(MissingAvp) as info:
        ngn_auc.parse_auth_request(strip(nar(), code, vendor))
    assert info.value.result_code == 5005
    with pytest.raises(MissingAvp):
        ngn_auc.parse_notice_request(strip(nrr(), code, vendor))


def replace_avp(msg: Message, new: Avp) -> Message:
    return msg.with_avps([new if (a.code, a.vendor) == (new.code, new.vendor) else a
                          for a in msg.avps])


@pytest.mark.parametrize("bad", [b"", b"a\x07b", b"x" * 256, b"\xff\xfe"])
def test_bad_identity_is_5004(bad: bytes) -> None:
    msg = replace_avp(nar(), raw_avp(20, bad, vendor=32473, mandatory=True))
    with pytest.raises(DiameterCodecError) as info:
        ngn_auc.parse_auth_request(msg)
    assert info.value.result_code == 5004


def test_an_avp_twice_is_5009() -> None:
    msg = nar()
    msg = msg.with_avps([*msg.avps, raw_avp(20, b"other", vendor=32473, mandatory=True)])
    with pytest.raises(DiameterCodecError) as info:
        ngn_auc.parse_auth_request(msg)
    assert info.value.result_code == 5009


def test_an_unknown_mandatory_avp_is_5001_and_a_non_mandatory_one_is_ignored() -> None:
    msg = nar()
    with pytest.raises(UnsupportedAvp) as info:
        ngn_auc.parse_auth_request(msg.with_avps(
            [*msg.avps, raw_avp(99, b"x", vendor=32473, mandatory=True)]))
    assert info.value.result_code == 5001
    extra = msg.with_avps([*msg.avps, raw_avp(99, b"x", vendor=32473, mandatory=False)])
    assert ngn_auc.parse_auth_request(extra) == S3


def test_wrong_command_or_answer_is_refused() -> None:
    with pytest.raises(CodecError):
        ngn_auc.parse_auth_request(nrr())
    with pytest.raises(CodecError):
        ngn_auc.parse_notice_request(nar())
    with pytest.raises(CodecError):
        ngn_auc.parse_auth_request(nar().answer(list(nar().avps)))
    with pytest.raises(CodecError):
        ngn_auc.parse_auth_answer(nar())
    with pytest.raises(CodecError):
        ngn_auc.parse_notice_answer(nrr())


@pytest.mark.parametrize(("code", "length"), [(21, 15), (22, 17), (23, 16), (24, 25)])
def test_s4_field_lengths_are_checked(code: int, length: int) -> None:
    answer = wire(ngn_auc.build_auth_answer(nar(), AUC, NGN_VECTOR))
    bad = replace_avp(answer, raw_avp(code, bytes(length), vendor=32473, mandatory=True))
    with pytest.raises(DiameterCodecError) as info:
        ngn_auc.parse_auth_answer(bad)
    assert info.value.result_code == 5014


@pytest.mark.parametrize(("code", "vendor"), [(21, 32473), (23, 32473), (24, 32473), (1, 0)])
def test_s4_missing_field(code: int, vendor: int) -> None:
    answer = wire(ngn_auc.build_auth_answer(nar(), AUC, NGN_VECTOR))
    with pytest.raises(MissingAvp):
        ngn_auc.parse_auth_answer(strip(answer, code, vendor))


def test_s4_needs_exactly_one_of_authenticator_and_aka_item() -> None:
    answer = wire(ngn_auc.build_auth_answer(nar(), AUC, NGN_VECTOR))
    with pytest.raises(CodecError, match="exactly one"):
        ngn_auc.parse_auth_answer(strip(answer, 22, 32473))
    aka = wire(ngn_auc.build_auth_answer(nar(), AUC, AKA_VECTOR))
    both = aka.with_avps([*aka.avps, raw_avp(22, bytes(16), vendor=32473, mandatory=True)])
    with pytest.raises(CodecError, match="exactly one"):
        ngn_auc.parse_auth_answer(both)


def test_s4_aka_item_checks() -> None:
    aka = wire(ngn_auc.build_auth_answer(nar(), AUC, AKA_VECTOR))
    short = avp("SIP-Auth-Data-Item", [avp("SIP-Authenticate", bytes(31)),
                                       avp("SIP-Authorization", bytes(8)),
                                       avp("Confidentiality-Key", bytes(16)),
                                       avp("Integrity-Key", bytes(16))])
    with pytest.raises(DiameterCodecError):
        ngn_auc.parse_auth_answer(replace_avp(aka, short))
    no_ck = avp("SIP-Auth-Data-Item", [avp("SIP-Authenticate", AKA_VECTOR.rand + bytes(16)),
                                       avp("SIP-Authorization", bytes(8)),
                                       avp("Integrity-Key", bytes(16))])
    with pytest.raises(MissingAvp):
        ngn_auc.parse_auth_answer(replace_avp(aka, no_ck))
    other_rand = avp("SIP-Auth-Data-Item", [avp("SIP-Authenticate", bytes(32)),
                                            avp("SIP-Authorization", bytes(8)),
                                            avp("Confidentiality-Key", bytes(16)),
                                            avp("Integrity-Key", bytes(16))])
    with pytest.raises(CodecError, match="RAND"):
        ngn_auc.parse_auth_answer(replace_avp(aka, other_rand))
    long_xres = avp("SIP-Auth-Data-Item", [avp("SIP-Authenticate", AKA_VECTOR.rand + bytes(16)),
                                           avp("SIP-Authorization", bytes(17)),
                                           avp("Confidentiality-Key", bytes(16)),
                                           avp("Integrity-Key", bytes(16))])
    with pytest.raises(DiameterCodecError):
        ngn_auc.parse_auth_answer(replace_avp(aka, long_xres))


def test_s11_address_checks() -> None:
    msg = nrr()
    with pytest.raises(DiameterCodecError) as info:
        ngn_auc.parse_notice_request(replace_avp(msg, raw_avp(8, bytes(5), mandatory=True)))
    assert info.value.result_code == 5014
    with pytest.raises(MissingAvp):
        ngn_auc.parse_notice_request(strip(msg, 8))
    both = msg.with_avps([*msg.avps, raw_avp(25, b"x", vendor=32473, mandatory=True)])
    with pytest.raises(MissingAvp):
        ngn_auc.parse_notice_request(both)
    text = strip(msg, 8).with_avps([*strip(msg, 8).avps,
                                    raw_avp(25, b"a\nb", vendor=32473, mandatory=True)])
    with pytest.raises(DiameterCodecError):
        ngn_auc.parse_notice_request(text)


def test_builders_refuse_bad_identities_and_addresses() -> None:
    with pytest.raises(InvalidInput):
        ngn_auc.build_auth_request(SS, "r", "s", S3AuthRequest("", "sp"))
    with pytest.raises(InvalidInput):
        ngn_auc.build_notice_request(SS, "r", "s", S11Registered("a", "sp", "bad\x00addr"))


# ------------------------------------------------------------------ AKA wrap


def test_aka_wrap_round_trip_and_tamper() -> None:
    ck, ik, kc_sp = b"\x01" * 16, b"\x02" * 16, b"\x03" * 16
    wrapped = ngn_auc.aka_wrap(ck, ik, kc_sp)
    assert len(wrapped) == ngn.WRAP_LEN
    assert ngn_auc.aka_unwrap(ck, ik, wrapped) == kc_sp
    assert wrapped != ngn.wrap(ck, kc_sp)  # the KEK is CK || IK, not CK
    with pytest.raises(MacFailure):
        ngn_auc.aka_unwrap(ik, ck, wrapped)
    with pytest.raises(MacFailure):
        ngn_auc.aka_unwrap(ck, ik, bytes([wrapped[0] ^ 1]) + wrapped[1:])
    with pytest.raises(InvalidInput):
        ngn_auc.aka_wrap(ck[:8], ik, kc_sp)
    with pytest.raises(InvalidInput):
        ngn_auc.aka_unwrap(ck, ik, wrapped[:16])

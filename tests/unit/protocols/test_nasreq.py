"""NASREQ AAR/AAA carrying GBA user information (RFC 7155 §3.1-§3.2; docs/roaming.md §1 C)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gba.errors import CodecError, InvalidInput
from gba.protocols import guss, nasreq, zn
from gba.protocols.diameter import (
    Avp,
    DiameterCodecError,
    Message,
    MissingAvp,
    PeerIdentity,
    avp,
    raw_avp,
)
from gba.protocols.diameter.capabilities import UnsupportedAvp, codec_error_answer
from gba.protocols.roaming import KeyKind

pytestmark = pytest.mark.roaming

BMSC = PeerIdentity("bmsc-c.mnc002.mcc001.3gppnetwork.org", "mnc002.mcc001.3gppnetwork.org",
                    (IPv4Address("127.0.0.5"),))
AAA_H = PeerIdentity("aaa.mnc001.mcc001.3gppnetwork.org", "mnc001.mcc001.3gppnetwork.org",
                     (IPv4Address("127.0.0.6"),))
VISITED = BMSC.origin_realm
IMPI = "001010123456789@ims.mnc001.mcc001.3gppnetwork.org"
BTID = "AAECAwQFBgcICQoLDA0ODw==@bsf.mnc001.mcc001.pub.3gppnetwork.org"
NAF_ID = BMSC.origin_host.encode() + b"\x01\x00\x00\x00\x01"
EXPIRY = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
CREATED = datetime(2030, 1, 2, 2, 4, 5, tzinfo=UTC)
NOW = datetime(2030, 1, 2, 2, 54, 5, tzinfo=UTC)  # 600 s before EXPIRY
KEY = bytes(range(32))
USS = guss.encode_uss_list([guss.Uss("1", "1", "A", ("sip:a@example.org",), ("1",))])

# Values written from the specifications, not from gba's dictionary.
V, M = 0x80, 0x40
TGPP = 10415
NASREQ_APP = 1  # RFC 7155 §1.3
AA_COMMAND = 265  # RFC 7155 §3.1
AUTH_REQUEST_TYPE, AUTHORIZATION_LIFETIME = 274, 291  # RFC 6733 §8.7, §8.9
FAILED_AVP, EXPERIMENTAL_RESULT, PROXY_INFO = 279, 297, 284  # RFC 6733 §7.5, §7.6, §6.7.2

texts = st.text(st.characters(codec="utf-8"), min_size=1, max_size=60)
times = st.datetimes(min_value=datetime(1980, 1, 1), max_value=datetime(2100, 1, 1),
                     timezones=st.just(UTC)).map(lambda t: t.replace(microsecond=0))
keys = st.none() | st.binary(min_size=32, max_size=32)


def roundtrip(msg: Message) -> Message:
    return Message.decode(msg.encode())


def aar(req: nasreq.AuthRequest | None = None, destination_host: str | None = None) -> Message:
    return nasreq.build_aar(BMSC, VISITED, "bmsc-c;1;1", req or nasreq.AuthRequest(BTID, NAF_ID),
                            destination_host)


ANSWER = zn.KeyAnswer(IMPI, EXPIRY, CREATED, me_key=KEY)


def by_code(avps: tuple[Avp, ...]) -> dict[int, Avp]:
    return {a.code: a for a in avps}


def without(msg: Message, code: int) -> Message:
    return msg.with_avps([a for a in msg.avps if a.code != code])


# ------------------------------------------------------------------ AAR


@settings(max_examples=50, deadline=None)
@given(btid=texts, naf_id=st.binary(min_size=1, max_size=80),
       services=st.lists(st.binary(min_size=1, max_size=20), max_size=3),
       aware=st.booleans(), visited=st.none() | texts)
def test_aar_round_trips_through_the_wire(btid: str, naf_id: bytes, services: list[bytes],
                                          aware: bool, visited: str | None) -> None:
    req = nasreq.AuthRequest(btid, naf_id, tuple(services), aware, visited_network=visited)
    request = aar(req)
    decoded = roundtrip(request)
    assert decoded == request
    assert nasreq.parse_aar(decoded) == replace(req, origin_host=BMSC.origin_host,
                                                origin_realm=BMSC.origin_realm)


def test_aar_header_is_a_proxiable_nasreq_aa_request() -> None:
    decoded = roundtrip(aar())
    assert (decoded.command_code, decoded.application_id) == (AA_COMMAND, NASREQ_APP)
    assert decoded.is_request
    assert decoded.is_proxiable


def test_aar_avps_on_the_wire_follow_rfc_7155_with_the_gba_avps() -> None:
    decoded = roundtrip(aar(nasreq.AuthRequest(BTID, NAF_ID, (b"1",), gba_u_aware=True,
                                               visited_network=VISITED),
                            destination_host="aaa.mnc002.mcc001.3gppnetwork.org"))
    assert decoded.avps[0].code == 263  # <Session-Id> first (RFC 6733 §3.2)
    top = {a.code: (a.vendor, a.flags) for a in decoded.avps}
    assert top == {
        263: (0, M), 258: (0, M), 264: (0, M), 296: (0, M), 283: (0, M), 293: (0, M),
        AUTH_REQUEST_TYPE: (0, M), 1: (0, M), 277: (0, M),
        402: (TGPP, V | M), 403: (TGPP, V | M), 407: (TGPP, V | M), 600: (TGPP, V | M),
    }
    avps = by_code(decoded.avps)
    assert avps[258].data == NASREQ_APP.to_bytes(4, "big")  # Auth-Application-Id
    assert avps[AUTH_REQUEST_TYPE].data == (2).to_bytes(4, "big")  # AUTHORIZE_ONLY
    assert avps[277].data == (1).to_bytes(4, "big")  # NO_STATE_MAINTAINED
    assert avps[1].data == BTID.encode()  # User-Name = B-TID
    assert avps[402].data == NAF_ID
    assert avps[600].data == VISITED.encode()
    assert 260 not in avps  # NASREQ is not vendor-specific: no Vendor-Specific-Application-Id


def test_aar_without_destination_host_or_options_omits_them() -> None:
    codes = {a.code for a in roundtrip(aar()).avps}
    assert codes.isdisjoint({293, 403, 407, 600})


@pytest.mark.parametrize(("missing", "vendor"), [
    (263, 0), (264, 0), (296, 0), (283, 0), (258, 0), (AUTH_REQUEST_TYPE, 0), (1, 0),
    (402, TGPP)])
def test_aar_lacking_a_required_avp_raises_missing_avp(missing: int, vendor: int) -> None:
    with pytest.raises(MissingAvp) as caught:
        nasreq.parse_aar(roundtrip(without(aar(), missing)))
    assert (caught.value.code, caught.value.vendor) == (missing, vendor)
    assert caught.value.result_code == 5005


@pytest.mark.parametrize("extra", [
    raw_avp(9999, b"?", vendor=TGPP, mandatory=True),  # nobody's AVP
    avp("UICC-ME", "GBA_U"),  # a Zpn AVP
    avp("ME-Key-Material", KEY),  # an answer's AVP
    avp("Key-Kind", 1),  # this project's answer AVP
])
def test_aar_with_an_unknown_mandatory_avp_raises_unsupported_avp(extra: Avp) -> None:
    """RFC 6733 §4.1: an unrecognised AVP with the M bit set rejects the request."""
    request = aar()
    with pytest.raises(UnsupportedAvp) as caught:
        nasreq.parse_aar(roundtrip(request.with_avps([*request.avps, extra])))
    assert caught.value.avps == (extra,)
    assert caught.value.result_code == 5001


def test_aar_with_unknown_avps_without_the_m_bit_is_read() -> None:
    request = aar()
    extra = request.with_avps([*request.avps, raw_avp(9999, b"?", vendor=TGPP),
                               raw_avp(32, b"nas-id")])  # NAS-Identifier, M clear
    assert nasreq.parse_aar(roundtrip(extra)).btid == BTID


@pytest.mark.parametrize("kind", [1, 3])
def test_aar_with_another_auth_request_type_is_refused_5004_naming_it(kind: int) -> None:
    request = aar()
    avps = [avp("Auth-Request-Type", kind) if a.code == AUTH_REQUEST_TYPE else a
            for a in request.avps]
    bad = roundtrip(request.with_avps(avps))
    with pytest.raises(DiameterCodecError) as caught:
        nasreq.parse_aar(bad)
    assert caught.value.result_code == 5004  # DIAMETER_INVALID_AVP_VALUE (RFC 6733 §7.1.5)
    answer = roundtrip(nasreq.build_aaa_error(bad, AAA_H, caught.value.result_code,
                                              caught.value.failed))
    assert answer.result_code == 5004
    assert not answer.is_error
    assert by_code(answer.avps)[FAILED_AVP].children() == (avp("Auth-Request-Type", kind),)
    assert by_code(answer.avps)[AUTH_REQUEST_TYPE].data == kind.to_bytes(4, "big")


def test_unsupported_aar_avp_is_answered_5001_with_it_in_failed_avp() -> None:
    request = aar()
    extra = avp("UICC-ME", "GBA_U")
    bad = request.with_avps([*request.avps, extra])
    with pytest.raises(CodecError) as caught:
        nasreq.parse_aar(bad)
    answer = roundtrip(codec_error_answer(bad, AAA_H, caught.value))
    assert answer.result_code == 5001
    assert by_code(answer.avps)[FAILED_AVP].children() == (extra,)


def test_parse_aar_refuses_an_answer_or_another_command() -> None:
    with pytest.raises(CodecError, match="AAR expected"):
        nasreq.parse_aar(nasreq.build_aaa(aar(), AAA_H, ANSWER, NOW))
    bir = zn.build_bir(BMSC, VISITED, "s;1", zn.KeyRequest(BTID, NAF_ID))
    with pytest.raises(CodecError, match="AAR expected"):
        nasreq.parse_aar(bir)


# ------------------------------------------------------------------ AAR <-> BIR


def test_home_aaa_turns_the_aar_into_a_bir_naming_the_visited_realm() -> None:
    auth = nasreq.parse_aar(roundtrip(aar(nasreq.AuthRequest(BTID, NAF_ID, (b"1",), True))))
    key_request = nasreq.to_key_request(auth)
    assert key_request == zn.KeyRequest(BTID, NAF_ID, (b"1",), True,
                                        origin_host=BMSC.origin_host, visited_network=VISITED)
    bir = roundtrip(zn.build_bir(AAA_H, "mnc001.mcc001.3gppnetwork.org", "aaa;1", key_request))
    assert zn.parse_bir(bir).visited_network == VISITED  # 600/10415 = AAR Origin-Realm


def test_visited_network_of_the_bir_is_the_origin_realm_not_the_aars_own_claim() -> None:
    claimed = aar(nasreq.AuthRequest(BTID, NAF_ID, visited_network="mnc009.mcc009.example"))
    assert nasreq.to_key_request(nasreq.parse_aar(claimed)).visited_network == VISITED


def test_visited_server_turns_its_key_request_into_an_aar_and_back() -> None:
    need = zn.KeyRequest(BTID, NAF_ID, (b"1", b"2"), gba_u_aware=True)
    auth = nasreq.parse_aar(roundtrip(aar(nasreq.from_key_request(need))))
    assert nasreq.to_key_request(auth) == replace(need, origin_host=BMSC.origin_host,
                                                  visited_network=VISITED)


# ------------------------------------------------------------------ AAA


@settings(max_examples=50, deadline=None)
@given(impi=texts, expiry=times, created=times, me=keys, uicc=keys,
       uss=st.sampled_from([None, USS]), kind=st.sampled_from(KeyKind), now=times)
def test_aaa_round_trips_through_the_wire(impi: str, expiry: datetime, created: datetime,
                                          me: bytes | None, uicc: bytes | None,
                                          uss: str | None, kind: KeyKind,
                                          now: datetime) -> None:
    if me is None and uicc is None:
        me = KEY
    ans = zn.KeyAnswer(impi, expiry, created, me, uicc, uss, key_kind=kind)
    answer = roundtrip(nasreq.build_aaa(aar(), AAA_H, ans, now))
    assert answer.result_code == 2001
    assert nasreq.parse_aaa(answer) == ans
    lifetime = by_code(answer.avps)[AUTHORIZATION_LIFETIME].as_int()
    assert lifetime == max(0, int((expiry - now).total_seconds()))


def test_aaa_answers_its_request() -> None:
    request = aar().with_ids(11, 12)
    answer = roundtrip(nasreq.build_aaa(request, AAA_H, ANSWER, NOW))
    assert not answer.is_request
    assert answer.is_proxiable
    assert not answer.is_error
    assert (answer.command_code, answer.application_id) == (AA_COMMAND, NASREQ_APP)
    assert (answer.hop_by_hop, answer.end_to_end) == (11, 12)
    assert answer.avps[0] == request.avps[0]  # Session-Id copied
    assert nasreq.parse_aaa(answer).session == "bmsc-c;1;1"


def test_aaa_avps_on_the_wire_follow_rfc_7155_with_the_user_information() -> None:
    ans = replace(ANSWER, uicc_key=bytes(range(32, 64)), uss=USS)
    answer = roundtrip(nasreq.build_aaa(aar(), AAA_H, ans, NOW))
    avps = {a.code: (a.vendor, a.flags, a.data) for a in answer.avps}
    assert set(avps) == {263, 258, AUTH_REQUEST_TYPE, 268, 264, 296, 277, 1, 405, 406, 404,
                         408, 400, AUTHORIZATION_LIFETIME, 401}
    assert avps[258] == (0, M, NASREQ_APP.to_bytes(4, "big"))
    assert avps[AUTH_REQUEST_TYPE] == (0, M, (2).to_bytes(4, "big"))
    assert avps[268] == (0, M, (2001).to_bytes(4, "big"))
    assert avps[1] == (0, M, IMPI.encode())  # User-Name = IMPI, not the B-TID
    assert avps[405] == (TGPP, V | M, KEY)
    assert avps[401] == (TGPP, V | M, BTID.encode())  # Transaction-Identifier = B-TID
    assert avps[AUTHORIZATION_LIFETIME] == (0, M, (600).to_bytes(4, "big"))
    assert avps[400] == (TGPP, V | M, USS.encode())


@pytest.mark.parametrize(("now", "seconds"), [
    (EXPIRY - timedelta(seconds=600), 600),
    (EXPIRY - timedelta(seconds=0.5), 0),  # whole seconds, rounded down
    (EXPIRY, 0),
    (EXPIRY + timedelta(days=1), 0),  # past: 0, never negative
    (EXPIRY.replace(tzinfo=None) - timedelta(seconds=5), 5),  # naive means UTC
])
def test_authorization_lifetime_is_the_seconds_left_never_negative(now: datetime,
                                                                   seconds: int) -> None:
    assert nasreq.authorization_lifetime(EXPIRY, now) == seconds
    answer = roundtrip(nasreq.build_aaa(aar(), AAA_H, ANSWER, now))
    assert by_code(answer.avps)[AUTHORIZATION_LIFETIME].as_int() == seconds


@settings(max_examples=100, deadline=None)
@given(expiry=times, now=times)
def test_authorization_lifetime_is_never_negative_nor_unlimited(expiry: datetime,
                                                                now: datetime) -> None:
    assert 0 <= nasreq.authorization_lifetime(expiry, now) < 0xFFFFFFFF


def test_aaa_carries_key_kind_only_for_ks() -> None:
    ks = roundtrip(nasreq.build_aaa(aar(), AAA_H, replace(ANSWER, key_kind=KeyKind.KS), NOW))
    kind = ks.find(1, 32473)  # Key-Kind under this project's vendor
    assert kind is not None
    assert (kind.flags, kind.as_int()) == (V | M, 1)
    assert nasreq.parse_aaa(ks).key_kind is KeyKind.KS
    plain = roundtrip(nasreq.build_aaa(aar(), AAA_H, ANSWER, NOW))
    assert plain.find(1, 32473) is None
    assert nasreq.parse_aaa(plain).key_kind is KeyKind.KS_NAF


@pytest.mark.parametrize("strip", [(1,), (405,), (405, 406), (404,)])
def test_aaa_without_user_name_key_material_or_expiry_raises_codec_error(
        strip: tuple[int, ...]) -> None:
    """Seed 000 claim 7: no user identity or no key information -> the server refuses."""
    full = nasreq.build_aaa(aar(), AAA_H, ANSWER, NOW)
    answer = full.with_avps([a for a in full.avps if a.code not in strip])
    with pytest.raises(CodecError) as caught:
        nasreq.parse_aaa(roundtrip(answer))
    assert KEY.hex() not in str(caught.value)


def test_aaa_with_an_empty_user_name_raises_codec_error() -> None:
    full = nasreq.build_aaa(aar(), AAA_H, ANSWER, NOW)
    answer = full.with_avps([avp("User-Name", "") if a.code == 1 else a for a in full.avps])
    with pytest.raises(CodecError, match="User-Name"):
        nasreq.parse_aaa(roundtrip(answer))


def test_aaa_without_creation_time_takes_the_expiry() -> None:
    answer = without(nasreq.build_aaa(aar(), AAA_H, ANSWER, NOW), 408)
    assert nasreq.parse_aaa(roundtrip(answer)).created == EXPIRY


def test_aaa_with_an_unknown_mandatory_avp_raises_unsupported_avp() -> None:
    full = nasreq.build_aaa(aar(), AAA_H, ANSWER, NOW)
    extra = raw_avp(77, b"?", vendor=32473, mandatory=True)
    with pytest.raises(UnsupportedAvp):
        nasreq.parse_aaa(roundtrip(full.with_avps([*full.avps, extra])))


def test_aaa_with_unknown_key_kind_raises_codec_error() -> None:
    full = nasreq.build_aaa(aar(), AAA_H, ANSWER, NOW)
    with pytest.raises(CodecError, match="Key-Kind"):
        nasreq.parse_aaa(roundtrip(full.with_avps([*full.avps, avp("Key-Kind", 7)])))


def test_aaa_with_unreadable_settings_keeps_its_key(caplog: pytest.LogCaptureFixture) -> None:
    full = nasreq.build_aaa(aar(), AAA_H, ANSWER, NOW)
    parsed = nasreq.parse_aaa(roundtrip(full.with_avps(
        [*full.avps, avp("GBA-UserSecSettings", b"<guss/>")])))
    assert parsed.me_key == KEY
    assert parsed.uss is None
    assert "GBA-UserSecSettings unreadable" in caplog.text


@pytest.mark.parametrize("code", [4001, 5003, 3003, 5403])
def test_parse_aaa_of_a_refusal_raises_codec_error(code: int) -> None:
    with pytest.raises(CodecError, match="not success"):
        nasreq.parse_aaa(roundtrip(nasreq.build_aaa_error(aar(), AAA_H, code)))


def test_key_material_is_in_no_repr() -> None:
    parsed = nasreq.parse_aaa(roundtrip(nasreq.build_aaa(
        aar(), AAA_H, replace(ANSWER, uicc_key=bytes(range(64, 96))), NOW)))
    text = repr(parsed) + repr(nasreq.parse_aar(aar()))
    assert KEY.hex() not in text
    assert repr(KEY) not in text
    assert repr(bytes(range(64, 96))) not in text


def test_proxy_info_of_the_request_is_copied_to_every_answer() -> None:
    info = avp("Proxy-Info", [avp("Proxy-Host", "aaa.mnc002.mcc001.3gppnetwork.org"),
                              avp("Proxy-State", b"\x01")])
    request = aar().with_avps([*aar().avps, info])
    for answer in (nasreq.build_aaa(request, AAA_H, ANSWER, NOW),
                   nasreq.build_aaa_error(request, AAA_H, 4001),
                   nasreq.build_aaa_error(request, AAA_H, 3003)):
        assert roundtrip(answer).find_all(PROXY_INFO) == [info]


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize(("code", "e_bit"), [(3002, True), (3003, True), (4001, False),
                                             (5003, False), (5012, False)])
def test_error_answer_carries_its_result_code_with_e_bit_only_for_3xxx(code: int,
                                                                       e_bit: bool) -> None:
    request = aar().with_ids(5, 6)
    answer = roundtrip(nasreq.build_aaa_error(request, AAA_H, code))
    avps = by_code(answer.avps)
    assert answer.is_error is e_bit
    assert (answer.hop_by_hop, answer.end_to_end) == (5, 6)
    assert answer.avps[0] == request.avps[0]  # Session-Id copied
    assert avps[268].data == code.to_bytes(4, "big")
    assert EXPERIMENTAL_RESULT not in avps
    assert avps[264].as_str() == AAA_H.origin_host
    assert {1, 405, 406, 401, AUTHORIZATION_LIFETIME}.isdisjoint(avps)  # no user info
    if not e_bit:  # the AA-Answer of RFC 7155 §3.2, not the bare answer-message
        assert avps[258].data == NASREQ_APP.to_bytes(4, "big")
        assert avps[AUTH_REQUEST_TYPE].data == (2).to_bytes(4, "big")


@pytest.mark.parametrize("code", [5401, 5402, 5403])
def test_error_answer_carries_ts_29_109_codes_as_experimental_result(code: int) -> None:
    answer = roundtrip(nasreq.build_aaa_error(aar(), AAA_H, code))
    avps = by_code(answer.avps)
    assert 268 not in avps
    inner = {c.code: (c.vendor, c.data) for c in avps[EXPERIMENTAL_RESULT].children()}
    assert inner == {266: (0, TGPP.to_bytes(4, "big")), 298: (0, code.to_bytes(4, "big"))}
    assert answer.result_code == code
    assert not answer.is_error


def test_error_answer_for_a_missing_avp_names_it_in_failed_avp() -> None:
    bad = without(aar(), 402)
    with pytest.raises(MissingAvp) as caught:
        nasreq.parse_aar(bad)
    answer = roundtrip(codec_error_answer(bad, AAA_H, caught.value))
    assert answer.result_code == 5005
    assert by_code(answer.avps)[FAILED_AVP].children()[0].code == 402


@pytest.mark.parametrize("code", [1001, 2001])
def test_error_answer_refuses_a_success_code(code: int) -> None:
    with pytest.raises(InvalidInput):
        nasreq.build_aaa_error(aar(), AAA_H, code)


@pytest.mark.parametrize(("zn_code", "expected"), [
    (5403, 4001), (5401, 4001), (5402, 5003), (3002, 3002), (3003, 3003), (2001, 2001),
    (5001, 5012), (5004, 5012)])
def test_home_aaa_maps_the_bias_result_to_the_aaas(zn_code: int, expected: int) -> None:
    """docs/roaming.md §3: BIA 5403 -> AAA 4001, BIA 5402 -> AAA 5003."""
    assert nasreq.result_for_bia(zn_code) == expected


# ------------------------------------------------------------------ garbage


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_corrupted_aar_or_aaa_bytes_raise_only_codec_error(data: st.DataObject) -> None:
    request = aar(nasreq.AuthRequest(BTID, NAF_ID, (b"1",), True, visited_network=VISITED))
    answer = nasreq.build_aaa(request, AAA_H, replace(ANSWER, uicc_key=bytes(32), uss=USS),
                              NOW)
    wire = bytearray(data.draw(st.sampled_from([request, answer])).encode())
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        wire[data.draw(st.integers(0, len(wire) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(min_value=0, max_value=len(wire)))
    try:
        decoded = Message.decode(bytes(wire[:cut] if data.draw(st.booleans()) else wire))
        if decoded.is_request:
            nasreq.parse_aar(decoded)
        else:
            nasreq.parse_aaa(decoded)
    except CodecError:
        pass

"""Zn BIR/BIA (TS 29.109 §4.4-§4.5) over the Diameter codec."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime
from ipaddress import IPv4Address

import defusedxml.ElementTree as safe_et
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gba.errors import CodecError
from gba.protocols import guss, zn
from gba.protocols.diameter import Avp, Message, PeerIdentity, avp, raw_avp
from gba.protocols.diameter import dictionary as d
from gba.protocols.diameter.capabilities import UnsupportedAvp, codec_error_answer
from gba.protocols.roaming import KeyKind

NAF = PeerIdentity("naf.example.org", "example.org", (IPv4Address("127.0.0.3"),))
BSF = PeerIdentity("bsf.example.org", "example.org", (IPv4Address("127.0.0.1"),))
IMPI = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
BTID = "AAECAwQFBgcICQoLDA0ODw==@bsf.example.org"
NAF_ID = b"naf.example.org\x01\x00\x00\x00\x02"
EXPIRY = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
CREATED = datetime(2030, 1, 2, 2, 4, 5, tzinfo=UTC)

# Values written from the specifications, not from gba's dictionary.
V, M = 0x80, 0x40
TGPP = 10415
ZN_APP_ID = 16777220  # TS 29.109 §5 (Zn application)
BOOTSTRAPPING_INFO = 310  # TS 29.109 §4.4
NTP_EPOCH = datetime(1900, 1, 1, tzinfo=UTC)  # RFC 6733 §4.3.1 Time

texts = st.text(st.characters(codec="utf-8"), min_size=1, max_size=60)
times = st.datetimes(min_value=datetime(1980, 1, 1), max_value=datetime(2100, 1, 1),
                     timezones=st.just(UTC)).map(lambda t: t.replace(microsecond=0))
keys = st.none() | st.binary(min_size=32, max_size=32)


def roundtrip(msg: Message) -> Message:
    return Message.decode(msg.encode())


def bir(req: zn.KeyRequest, destination_host: str | None = None) -> Message:
    return zn.build_bir(NAF, "example.org", "naf.example.org;1;1", req, destination_host)


ANSWER = zn.KeyAnswer(IMPI, EXPIRY, CREATED, me_key=bytes(range(32)))
USS_A = guss.Uss("1", "1", "A", ("sip:a@example.org",), ("1",))
USS_B = guss.Uss("2", "2", None, ("tel:+15550100",))
R9 = "urn:3gpp:gba:GBAGUSSSchema-R9:2010-02"  # TS 29.109 Annex A, Rel-9 (Metaswitch)


def by_code(avps: tuple[Avp, ...]) -> dict[int, Avp]:
    return {a.code: a for a in avps}


# ------------------------------------------------------------------ BIR


@settings(max_examples=50, deadline=None)
@given(btid=texts, naf_id=st.binary(min_size=1, max_size=80),
       services=st.lists(st.binary(min_size=1, max_size=20), max_size=3),
       aware=st.booleans())
def test_bir_round_trips_through_the_wire(btid: str, naf_id: bytes, services: list[bytes],
                                          aware: bool) -> None:
    req = zn.KeyRequest(btid, naf_id, tuple(services), aware)
    request = bir(req)
    decoded = roundtrip(request)
    assert decoded == request
    assert zn.parse_bir(decoded) == zn.KeyRequest(btid, naf_id, tuple(services), aware,
                                                  origin_host=NAF.origin_host)


def test_bir_header_is_a_proxiable_zn_bootstrapping_info_request() -> None:
    decoded = roundtrip(bir(zn.KeyRequest(BTID, NAF_ID)))
    assert (decoded.command_code, decoded.application_id) == (BOOTSTRAPPING_INFO, ZN_APP_ID)
    assert decoded.is_request
    assert decoded.is_proxiable


def test_bir_avps_on_the_wire_follow_ts_29_109() -> None:
    decoded = roundtrip(bir(zn.KeyRequest(BTID, NAF_ID, (b"1",), gba_u_aware=True),
                            destination_host="bsf.example.org"))
    assert decoded.avps[0].code == 263  # <Session-Id> first (RFC 6733 §3.2)
    top = {a.code: (a.vendor, a.flags) for a in decoded.avps}
    assert top == {  # no Auth-Session-State: the TS 29.109 BIR has none
        263: (0, M), 260: (0, M), 264: (0, M), 296: (0, M), 283: (0, M),
        293: (0, M),  # Destination-Host
        401: (TGPP, V | M),  # Transaction-Identifier
        402: (TGPP, V | M),  # NAF-Id
        403: (TGPP, V | M),  # GAA-Service-Identifier
        407: (TGPP, V | M),  # GBA_U-Awareness-Indicator
    }
    avps = by_code(decoded.avps)
    assert avps[401].data == BTID.encode()
    assert avps[402].data == NAF_ID
    assert avps[403].data == b"1"
    assert avps[407].data == (1).to_bytes(4, "big")
    assert avps[293].data == b"bsf.example.org"
    app = {c.code: c.data for c in avps[260].children()}
    assert app == {266: TGPP.to_bytes(4, "big"), 258: ZN_APP_ID.to_bytes(4, "big")}


def test_bir_without_destination_host_or_options_omits_them() -> None:
    codes = {a.code for a in roundtrip(bir(zn.KeyRequest(BTID, NAF_ID))).avps}
    assert codes.isdisjoint({293, 403, 407})


@pytest.mark.parametrize("missing", [401, 402, 264])
def test_bir_lacking_a_required_avp_raises_codec_error(missing: int) -> None:
    request = bir(zn.KeyRequest(BTID, NAF_ID))
    stripped = Message.new(request.command_code, request.application_id,
                           avps=[a for a in request.avps if a.code != missing])
    with pytest.raises(CodecError, match="BIR lacks"):
        zn.parse_bir(roundtrip(stripped))


def test_bir_with_base_protocol_avps_beside_the_application_id_is_read() -> None:
    request = bir(zn.KeyRequest(BTID, NAF_ID))
    extra = request.with_avps([*request.avps, avp("Auth-Application-Id", 16777220)])
    assert zn.parse_bir(roundtrip(extra)).btid == BTID


@pytest.mark.parametrize("extra", [
    raw_avp(9999, b"?", vendor=TGPP, mandatory=True),  # nobody's AVP
    avp("UICC-ME", "GBA_U"),  # a Zpn AVP: not in the Zn BIR
    avp("SIP-Number-Auth-Items", 1),  # a Zh (Cx) AVP
])
def test_bir_with_an_unknown_mandatory_avp_raises_unsupported_avp(extra: Avp) -> None:
    """RFC 6733 §4.1: an unrecognised AVP with the M bit set rejects the request."""
    request = bir(zn.KeyRequest(BTID, NAF_ID))
    with pytest.raises(UnsupportedAvp) as caught:
        zn.parse_bir(roundtrip(request.with_avps([*request.avps, extra])))
    assert caught.value.avps == (extra,)


def test_unsupported_bir_avp_is_answered_5001_with_it_in_failed_avp() -> None:
    request = bir(zn.KeyRequest(BTID, NAF_ID))
    extra = avp("UICC-ME", "GBA_U")
    bad = request.with_avps([*request.avps, extra])
    with pytest.raises(CodecError) as caught:
        zn.parse_bir(bad)
    answer = roundtrip(codec_error_answer(bad, BSF, caught.value))
    assert answer.result_code == 5001  # DIAMETER_AVP_UNSUPPORTED (RFC 6733 §7.1.5)
    assert by_code(answer.avps)[279].children() == (extra,)  # Failed-AVP (RFC 6733 §7.5)


def test_bir_with_unknown_avps_without_the_m_bit_is_read() -> None:
    request = bir(zn.KeyRequest(BTID, NAF_ID))
    extra = request.with_avps([*request.avps, raw_avp(9999, b"?", vendor=TGPP),
                               raw_avp(17, b"x")])
    assert zn.parse_bir(roundtrip(extra)).btid == BTID


def test_bir_of_an_older_naf_with_auth_session_state_is_read() -> None:
    request = bir(zn.KeyRequest(BTID, NAF_ID))
    older = request.with_avps([*request.avps, avp("Auth-Session-State", "NO_STATE_MAINTAINED"),
                               avp("Security-Feature-Request", b"\x01")])
    assert zn.parse_bir(roundtrip(older)).btid == BTID


def test_bir_with_non_utf8_transaction_identifier_raises_codec_error() -> None:
    request = bir(zn.KeyRequest(BTID, NAF_ID))
    avps = [avp("Transaction-Identifier", b"\xff\xfe@bsf") if a.code == 401 else a
            for a in request.avps]
    bad = Message.new(request.command_code, request.application_id, avps=avps)
    with pytest.raises(CodecError, match="UTF-8"):
        zn.parse_bir(roundtrip(bad))


# ------------------------------------------------------------------ BIA


words = st.text(st.characters(categories=("L", "N", "P", "S")), min_size=1, max_size=12)
ussets = st.builds(guss.Uss, id=words, type=words, naf_group=st.none() | words,
                   uids=st.lists(words, max_size=2).map(tuple),
                   flags=st.lists(words, max_size=2).map(tuple))


@settings(max_examples=50, deadline=None)
@given(impi=texts, expiry=times, created=times, me=keys, uicc=keys,
       uss=st.lists(ussets, max_size=3))
def test_bia_round_trips_through_the_wire(impi: str, expiry: datetime, created: datetime,
                                          me: bytes | None, uicc: bytes | None,
                                          uss: list[guss.Uss]) -> None:
    if me is None and uicc is None:
        me = bytes(32)
    ans = zn.KeyAnswer(impi, expiry, created, me, uicc, zn.uss_list(tuple(uss)))
    answer = roundtrip(zn.build_bia(bir(zn.KeyRequest(BTID, NAF_ID)), BSF, ans))
    assert answer.result_code == 2001
    assert zn.parse_bia(answer) == ans


def test_bia_answers_its_request() -> None:
    request = bir(zn.KeyRequest(BTID, NAF_ID)).with_ids(11, 12)
    answer = roundtrip(zn.build_bia(request, BSF, ANSWER))
    assert not answer.is_request
    assert (answer.command_code, answer.application_id) == (BOOTSTRAPPING_INFO, ZN_APP_ID)
    assert (answer.hop_by_hop, answer.end_to_end) == (11, 12)
    assert answer.avps[0] == request.avps[0]  # Session-Id copied


def test_bia_avps_on_the_wire_follow_ts_29_109() -> None:
    """TS 29.109 §4.5 BIA: no UICC-ME (a Zpn AVP, §6.3.1.15), no Auth-Session-State."""
    document = zn.uss_list((USS_A,))
    ans = replace(ANSWER, uicc_key=bytes(range(32, 64)), uss=document)
    answer = roundtrip(zn.build_bia(bir(zn.KeyRequest(BTID, NAF_ID)), BSF, ans))
    avps = {a.code: (a.vendor, a.flags, a.data) for a in answer.avps}
    assert set(avps) == {263, 260, 268, 264, 296, 1, 405, 406, 404, 408, 400, 410}
    assert avps[410] == (TGPP, V | M, (0).to_bytes(4, "big"))  # GBA-Type 3G GBA
    ntp = int((EXPIRY - NTP_EPOCH).total_seconds()).to_bytes(4, "big")
    ntp_created = int((CREATED - NTP_EPOCH).total_seconds()).to_bytes(4, "big")
    assert avps[268] == (0, M, (2001).to_bytes(4, "big"))  # Result-Code
    assert avps[1] == (0, M, IMPI.encode())  # User-Name
    assert avps[405] == (TGPP, V | M, bytes(range(32)))  # ME-Key-Material
    assert avps[406] == (TGPP, V | M, bytes(range(32, 64)))  # UICC-Key-Material
    assert avps[404] == (TGPP, V | M, ntp)  # Key-ExpiryTime
    assert avps[408] == (TGPP, V | M, ntp_created)  # BootstrapInfoCreationTime
    assert document is not None
    assert avps[400] == (TGPP, V | M, document.encode())  # GBA-UserSecSettings


def test_bia_carries_the_selected_uss_in_one_uss_list() -> None:
    """TS 29.109 §6.3.1.1: on Zn the one GBA-UserSecSettings has root ``ussList``."""
    ans = replace(ANSWER, uss=zn.uss_list((USS_A, USS_B)))
    answer = roundtrip(zn.build_bia(bir(zn.KeyRequest(BTID, NAF_ID)), BSF, ans))
    found = answer.find_all(400, TGPP)
    assert len(found) == 1
    root: ET.Element = safe_et.fromstring(found[0].data)
    assert root.tag == f"{{{R9}}}ussList"
    assert [u.get("id") for u in root] == ["1", "2"]
    assert zn.parse_bia(answer).uss == found[0].data.decode()  # kept as sent


def test_bia_without_selected_uss_has_no_gba_usersecsettings() -> None:
    assert zn.uss_list(()) is None
    answer = roundtrip(zn.build_bia(bir(zn.KeyRequest(BTID, NAF_ID)), BSF, ANSWER))
    assert answer.find(400, TGPP) is None
    assert zn.parse_bia(answer).uss is None


def test_bia_uss_list_from_another_implementation_is_kept_verbatim() -> None:
    sent = ('<?xml version="1.0" encoding="UTF-8"?>\n<ussList><uss id="7" type="1" '
            'nafGroup="g"><uids><uid>sip:u@h</uid></uids></uss></ussList>')
    full = zn.build_bia(bir(zn.KeyRequest(BTID, NAF_ID)), BSF, replace(ANSWER, uss=sent))
    assert zn.parse_bia(roundtrip(full)).uss == sent


def test_bia_of_an_older_bsf_with_one_bare_uss_per_avp_is_gathered_into_one_uss_list() -> None:
    full = zn.build_bia(bir(zn.KeyRequest(BTID, NAF_ID)), BSF, ANSWER)
    older = full.with_avps([*full.avps, *(avp("GBA-UserSecSettings", guss.encode_uss(u))
                                          for u in (USS_A, USS_B))])
    got = zn.parse_bia(roundtrip(older)).uss
    assert got is not None
    assert guss.decode_uss_list(got) == (USS_A, USS_B)


def test_bia_of_an_older_bsf_with_one_bare_uss_is_wrapped_in_a_uss_list() -> None:
    full = zn.build_bia(bir(zn.KeyRequest(BTID, NAF_ID)), BSF, ANSWER)
    older = full.with_avps([*full.avps, avp("GBA-UserSecSettings",
                                            '<uss xmlns="uri:3gpp-gaa" id="1" type="1"/>')])
    got = zn.parse_bia(roundtrip(older)).uss
    assert got is not None
    assert guss.decode_uss_list(got) == (guss.Uss("1", "1"),)


@pytest.mark.parametrize("document", [b"<guss/>", b"<ussList", b"\xff\xfe"])
def test_bia_with_unreadable_settings_keeps_its_key_and_drops_the_settings(
        document: bytes, caplog: pytest.LogCaptureFixture) -> None:
    full = zn.build_bia(bir(zn.KeyRequest(BTID, NAF_ID)), BSF, replace(ANSWER, uss=None))
    bad = full.with_avps([*full.avps, avp("GBA-UserSecSettings", document)])
    parsed = zn.parse_bia(roundtrip(bad))
    assert parsed.me_key == ANSWER.me_key
    assert parsed.uss is None
    assert "GBA-UserSecSettings unreadable" in caplog.text


def test_bia_gba_u_is_learned_from_uicc_key_material_not_uicc_me() -> None:
    request = bir(zn.KeyRequest(BTID, NAF_ID, gba_u_aware=True))
    gba_u = roundtrip(zn.build_bia(request, BSF, replace(ANSWER, uicc_key=bytes(32))))
    assert gba_u.find(414, TGPP) is None
    assert zn.parse_bia(gba_u).gba_u
    me_only = roundtrip(zn.build_bia(request, BSF, ANSWER))
    assert not zn.parse_bia(me_only).gba_u
    # an older BSF's UICC-ME=GBA_U without UICC-Key-Material does not make it GBA_U
    older = me_only.with_avps([*me_only.avps, avp("UICC-ME", "GBA_U")])
    assert not zn.parse_bia(roundtrip(older)).gba_u


def test_bia_without_any_key_material_raises_codec_error() -> None:
    ans = replace(ANSWER, me_key=None)
    answer = roundtrip(zn.build_bia(bir(zn.KeyRequest(BTID, NAF_ID)), BSF, ans))
    with pytest.raises(CodecError, match="neither"):
        zn.parse_bia(answer)


@pytest.mark.parametrize("missing", [1, 404])
def test_bia_lacking_user_name_or_expiry_raises_codec_error(missing: int) -> None:
    full = zn.build_bia(bir(zn.KeyRequest(BTID, NAF_ID)), BSF, ANSWER)
    answer = full.answer([a for a in full.avps if a.code != missing])
    with pytest.raises(CodecError, match="lacks"):
        zn.parse_bia(roundtrip(answer))


def test_bia_without_creation_time_takes_the_expiry() -> None:
    full = zn.build_bia(bir(zn.KeyRequest(BTID, NAF_ID)), BSF, ANSWER)
    answer = full.answer([a for a in full.avps if a.code != 408])
    assert zn.parse_bia(roundtrip(answer)).created == EXPIRY


@pytest.mark.parametrize("code", [5401, 5402, 5403])
def test_bia_error_carries_experimental_result_of_vendor_3gpp(code: int) -> None:
    request = bir(zn.KeyRequest(BTID, NAF_ID))
    answer = roundtrip(zn.build_bia_error(request, BSF, code))
    avps = by_code(answer.avps)
    assert answer.avps[0] == request.avps[0]  # Session-Id copied
    assert 268 not in avps
    assert (avps[297].vendor, avps[297].flags) == (0, M)  # Experimental-Result
    inner = {c.code: (c.vendor, c.data) for c in avps[297].children()}
    assert inner == {266: (0, TGPP.to_bytes(4, "big")), 298: (0, code.to_bytes(4, "big"))}
    assert answer.result_code == code
    assert not answer.is_error  # 5xxx is not a protocol error (RFC 6733 §7.1.3)
    assert 405 not in avps
    assert 277 not in avps


# ------------------------------------------------------------------ garbage


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_corrupted_bir_or_bia_bytes_raise_only_codec_error(data: st.DataObject) -> None:
    request = bir(zn.KeyRequest(BTID, NAF_ID, (b"1",), gba_u_aware=True))
    answer = zn.build_bia(request, BSF, replace(ANSWER, uicc_key=bytes(32),
                                                uss=zn.uss_list((USS_A,))))
    wire = bytearray(data.draw(st.sampled_from([request, answer])).encode())
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        wire[data.draw(st.integers(0, len(wire) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(min_value=0, max_value=len(wire)))
    try:
        decoded = Message.decode(bytes(wire[:cut] if data.draw(st.booleans()) else wire))
        if decoded.is_request:
            zn.parse_bir(decoded)
        else:
            zn.parse_bia(decoded)
    except CodecError:
        pass


# --- roaming: Key-Kind and Visited-Network-Identifier (docs/roaming.md §1-§2) ---------


@pytest.mark.roaming
def test_bia_carries_key_kind_ks_and_its_session() -> None:
    request = bir(zn.KeyRequest(BTID, NAF_ID))
    ans = zn.KeyAnswer("user@home.example.org", datetime(2030, 1, 1, tzinfo=UTC),
                       datetime(2029, 1, 1, tzinfo=UTC), bytes(32), key_kind=KeyKind.KS)
    answer = roundtrip(zn.build_bia(request, BSF, ans))
    parsed = zn.parse_bia(answer)
    assert parsed.key_kind is KeyKind.KS
    assert parsed.session == request.find(d.SESSION_ID).as_str()  # type: ignore[union-attr]


@pytest.mark.roaming
def test_ordinary_bia_has_no_key_kind_avp() -> None:
    ans = zn.KeyAnswer("user@home.example.org", datetime(2030, 1, 1, tzinfo=UTC),
                       datetime(2029, 1, 1, tzinfo=UTC), bytes(32))
    answer = roundtrip(zn.build_bia(bir(zn.KeyRequest(BTID, NAF_ID)), BSF, ans))
    assert answer.find(d.KEY_KIND, d.VENDOR_PROJECT) is None
    assert zn.parse_bia(answer).key_kind is KeyKind.KS_NAF


@pytest.mark.roaming
def test_bia_with_unknown_key_kind_is_a_codec_error() -> None:
    ans = zn.KeyAnswer("user@home.example.org", datetime(2030, 1, 1, tzinfo=UTC),
                       datetime(2029, 1, 1, tzinfo=UTC), bytes(32))
    answer = zn.build_bia(bir(zn.KeyRequest(BTID, NAF_ID)), BSF, ans)
    bad = answer.with_avps([*answer.avps, avp("Key-Kind", 7)])
    with pytest.raises(CodecError, match="Key-Kind"):
        zn.parse_bia(roundtrip(bad))


@pytest.mark.roaming
def test_bir_carries_the_visited_network() -> None:
    req = zn.KeyRequest(BTID, NAF_ID, origin_host=NAF.origin_host,
                        visited_network="mnc002.mcc001.3gppnetwork.org")
    assert zn.parse_bir(roundtrip(bir(req))).visited_network == req.visited_network

"""Zh MAR/MAA (TS 29.109 §4.2, Cx MAR/MAA of TS 29.229 §6.1.7-6.1.8) over the Diameter codec."""

from __future__ import annotations

from datetime import UTC, datetime
from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gba.errors import CodecError
from gba.protocols import zh
from gba.protocols.diameter import Avp, Message, PeerIdentity, avp, raw_avp
from gba.protocols.diameter.capabilities import UnsupportedAvp, codec_error_answer

BSF = PeerIdentity("bsf.example.org", "example.org", (IPv4Address("127.0.0.1"),))
HSS = PeerIdentity("hss.example.org", "example.org", (IPv4Address("127.0.0.2"),))
IMPI = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"

# Values written from the specifications, not from gba's dictionary.
V, M = 0x80, 0x40
TGPP = 10415
ZH_APP_ID = 16777221  # TS 29.109 §5 (Zh application)
MULTIMEDIA_AUTH = 303  # TS 29.229 §6.1.7
SUCCESS = 2001

impis = st.text(st.characters(codec="utf-8"), min_size=1, max_size=60)
octets16 = st.binary(min_size=16, max_size=16)


def roundtrip(msg: Message) -> Message:
    return Message.decode(msg.encode())


def mar(req: zh.VectorRequest, session: str = "bsf.example.org;1;2") -> Message:
    return zh.build_mar(BSF, "example.org", session, req)


def answer_for(request: Message, ans: zh.VectorAnswer) -> Message:
    return zh.build_maa(request, HSS, ans)


def vector_answer(impi: str = IMPI, guss: str | None = None) -> zh.VectorAnswer:
    return zh.VectorAnswer(impi=impi, rand=bytes(range(16)), autn=bytes(range(16, 32)),
                           xres=bytes(range(32, 40)), ck=bytes(range(40, 56)),
                           ik=bytes(range(56, 72)), guss=guss)


def by_code(avps: tuple[Avp, ...]) -> dict[int, Avp]:
    return {a.code: a for a in avps}


# ------------------------------------------------------------------ MAR


times = st.datetimes(min_value=datetime(1980, 1, 1), max_value=datetime(2100, 1, 1),
                     timezones=st.just(UTC)).map(lambda t: t.replace(microsecond=0))


@settings(max_examples=50, deadline=None)
@given(impi=impis, stamp=st.none() | times)
def test_mar_round_trips_through_the_wire(impi: str, stamp: datetime | None) -> None:
    request = mar(zh.VectorRequest(impi, guss_timestamp=stamp))
    decoded = roundtrip(request)
    assert decoded == request
    assert zh.parse_mar(decoded) == zh.VectorRequest(impi, None, None, False, stamp)


def test_mar_does_not_carry_the_ues_gba_u_awareness() -> None:
    """TS 29.109 §4.2 MAR has no GBA_U-Awareness-Indicator: the GUSS says GBA_U."""
    decoded = roundtrip(mar(zh.VectorRequest(IMPI, gba_u_aware=True)))
    assert decoded.find(407, TGPP) is None
    assert not zh.parse_mar(decoded).gba_u_aware


def test_mar_of_an_older_bsf_with_607_and_407_is_still_read() -> None:
    request = mar(zh.VectorRequest(IMPI))
    older = request.with_avps([*request.avps, avp("SIP-Number-Auth-Items", 1),
                               avp("GBA_U-Awareness-Indicator", "YES")])
    assert zh.parse_mar(roundtrip(older)) == zh.VectorRequest(IMPI, gba_u_aware=True)


def test_mar_with_an_unknown_mandatory_avp_raises_unsupported_avp() -> None:
    """RFC 6733 §4.1: an M-bit AVP the receiver does not recognise rejects the message."""
    request = mar(zh.VectorRequest(IMPI))
    stranger = raw_avp(9999, b"\x01\x02\x03", vendor=TGPP, mandatory=True)
    known_but_not_mar = avp("UICC-ME", "GBA_U")  # a Zpn AVP, M bit set
    bad = request.with_avps([*request.avps, stranger, known_but_not_mar])
    with pytest.raises(UnsupportedAvp) as caught:
        zh.parse_mar(roundtrip(bad))
    assert [(a.code, a.vendor) for a in caught.value.avps] == [(9999, TGPP), (414, TGPP)]
    assert caught.value.result_code == 5001


def test_mar_with_base_protocol_avps_beside_the_application_id_is_read() -> None:
    # some stacks put Auth-Application-Id next to Vendor-Specific-Application-Id; base
    # protocol AVPs are recognised by every node (RFC 6733 §4.5), M bit or not
    request = mar(zh.VectorRequest(IMPI))
    extra = request.with_avps([*request.avps, avp("Auth-Application-Id", 16777221),
                               avp("Acct-Application-Id", 16777221)])
    assert zh.parse_mar(roundtrip(extra)) == zh.VectorRequest(IMPI)


def test_unsupported_mar_avp_is_answered_5001_with_it_in_failed_avp() -> None:
    request = mar(zh.VectorRequest(IMPI))
    stranger = raw_avp(9999, b"\x01\x02\x03", vendor=TGPP, mandatory=True)
    bad = request.with_avps([*request.avps, stranger])
    try:
        zh.parse_mar(bad)
    except CodecError as exc:
        answer = roundtrip(codec_error_answer(bad, HSS, exc))
    assert answer.result_code == 5001  # DIAMETER_AVP_UNSUPPORTED (RFC 6733 §7.1.5)
    assert not answer.is_error
    failed = by_code(answer.avps)[279]  # Failed-AVP (RFC 6733 §7.5)
    assert failed.children() == (stranger,)
    assert failed.data == stranger.encode()


def test_mar_with_an_unknown_avp_without_the_m_bit_is_read() -> None:
    request = mar(zh.VectorRequest(IMPI))
    extra = request.with_avps([*request.avps, raw_avp(9999, b"x", vendor=TGPP),
                               raw_avp(628, bytes(12), vendor=TGPP)])  # Supported-Features
    assert zh.parse_mar(roundtrip(extra)).impi == IMPI


def test_mar_relayed_with_route_record_proxy_info_and_origin_state_is_read() -> None:
    request = mar(zh.VectorRequest(IMPI))
    relayed = request.with_avps([*request.avps, avp("Origin-State-Id", 7),
                                 avp("Route-Record", "relay.example.org"),
                                 avp("Proxy-Info", [avp("Proxy-Host", "relay.example.org"),
                                                    avp("Proxy-State", b"s")])])
    assert zh.parse_mar(roundtrip(relayed)).impi == IMPI


@settings(max_examples=50, deadline=None)
@given(impi=impis, rand=octets16, auts=st.binary(min_size=14, max_size=14))
def test_resync_mar_round_trips_rand_and_auts(impi: str, rand: bytes, auts: bytes) -> None:
    decoded = roundtrip(mar(zh.VectorRequest(impi, rand, auts)))
    assert zh.parse_mar(decoded) == zh.VectorRequest(impi, rand, auts)


def test_resync_mar_carries_rand_then_auts_in_one_30_octet_sip_authorization() -> None:
    rand, auts = bytes(range(16)), bytes(range(100, 114))
    item = by_code(roundtrip(mar(zh.VectorRequest(IMPI, rand, auts))).avps)[612]
    authorization = by_code(item.children())[610]
    assert authorization.data == rand + auts
    assert len(authorization.data) == 30


def test_mar_without_resync_has_no_sip_authorization() -> None:
    item = by_code(roundtrip(mar(zh.VectorRequest(IMPI))).avps)[612]
    assert 610 not in by_code(item.children())


@settings(max_examples=40, deadline=None)
@given(auts_len=st.integers(min_value=0, max_value=40).filter(lambda n: n != 14))
def test_resync_mar_of_wrong_length_raises_codec_error(auts_len: int) -> None:
    request = roundtrip(mar(zh.VectorRequest(IMPI, bytes(16), bytes(auts_len))))
    with pytest.raises(CodecError, match="30"):
        zh.parse_mar(request)


def test_mar_without_user_name_raises_codec_error() -> None:
    request = mar(zh.VectorRequest(IMPI))
    stripped = Message.new(request.command_code, request.application_id,
                           avps=[a for a in request.avps if a.code != 1])
    with pytest.raises(CodecError, match="lacks AVP 1"):
        zh.parse_mar(roundtrip(stripped))


def test_mar_header_is_a_proxiable_zh_multimedia_auth_request() -> None:
    decoded = roundtrip(mar(zh.VectorRequest(IMPI)))
    assert (decoded.command_code, decoded.application_id) == (MULTIMEDIA_AUTH, ZH_APP_ID)
    assert decoded.is_request
    assert decoded.is_proxiable


def test_mar_avps_on_the_wire_follow_ts_29_109_and_29_229() -> None:
    """TS 29.109 §4.2 MAR: no SIP-Number-Auth-Items, no GBA_U-Awareness-Indicator;
    GUSS-Timestamp with V set and M clear (§6.3.1.10)."""
    stamp = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    decoded = roundtrip(mar(zh.VectorRequest(IMPI, bytes(16), bytes(14), gba_u_aware=True,
                                             guss_timestamp=stamp)))
    assert decoded.avps[0].code == 263  # <Session-Id> is first (RFC 6733 §3.2)
    top = {a.code: (a.vendor, a.flags) for a in decoded.avps}
    assert top == {
        263: (0, M),  # Session-Id
        260: (0, M),  # Vendor-Specific-Application-Id
        277: (0, M),  # Auth-Session-State
        264: (0, M),  # Origin-Host
        296: (0, M),  # Origin-Realm
        283: (0, M),  # Destination-Realm
        1: (0, M),  # User-Name
        612: (TGPP, V | M),  # SIP-Auth-Data-Item
        409: (TGPP, V),  # GUSS-Timestamp: the M bit MUST NOT be set
    }
    avps = by_code(decoded.avps)
    assert avps[1].data == IMPI.encode()
    assert avps[277].data == (1).to_bytes(4, "big")  # NO_STATE_MAINTAINED
    assert avps[409].data == int((stamp - datetime(1900, 1, 1, tzinfo=UTC)).total_seconds()
                                 ).to_bytes(4, "big")
    app = {c.code: c.data for c in avps[260].children()}
    assert app == {266: TGPP.to_bytes(4, "big"), 258: ZH_APP_ID.to_bytes(4, "big")}
    item = {c.code: (c.vendor, c.flags, c.data) for c in avps[612].children()}
    assert item[608] == (TGPP, V | M, b"Digest-AKAv1-MD5")
    assert item[610][:2] == (TGPP, V | M)


# ------------------------------------------------------------------ MAA


@settings(max_examples=50, deadline=None)
@given(impi=impis, rand=octets16, autn=octets16, xres=st.binary(min_size=4, max_size=16),
       ck=octets16, ik=octets16, guss=st.none() | st.text(st.characters(codec="utf-8")))
def test_maa_round_trips_through_the_wire(impi: str, rand: bytes, autn: bytes, xres: bytes,
                                          ck: bytes, ik: bytes, guss: str | None) -> None:
    ans = zh.VectorAnswer(impi, rand, autn, xres, ck, ik, guss)
    answer = roundtrip(answer_for(mar(zh.VectorRequest(impi)), ans))
    assert answer.result_code == SUCCESS
    assert zh.parse_maa(answer) == ans


def test_maa_answers_its_request() -> None:
    request = mar(zh.VectorRequest(IMPI), session="bsf.example.org;42").with_ids(7, 9)
    answer = roundtrip(answer_for(request, vector_answer()))
    assert not answer.is_request
    assert (answer.command_code, answer.application_id) == (MULTIMEDIA_AUTH, ZH_APP_ID)
    assert (answer.hop_by_hop, answer.end_to_end) == (7, 9)
    assert answer.avps[0] == avp("Session-Id", "bsf.example.org;42")


def test_maa_avps_on_the_wire_follow_ts_29_229() -> None:
    """TS 29.109 §4.2 MAA: one GBA-UserSecSettings, no SIP-Number-Auth-Items."""
    ans = vector_answer(guss="<guss/>")
    answer = roundtrip(answer_for(mar(zh.VectorRequest(IMPI)), ans))
    avps = by_code(answer.avps)
    assert 607 not in avps
    assert len(answer.find_all(400, TGPP)) == 1
    assert (avps[268].vendor, avps[268].flags) == (0, M)  # Result-Code
    assert avps[268].data == SUCCESS.to_bytes(4, "big")
    assert (avps[400].vendor, avps[400].flags, avps[400].data) == (TGPP, V | M, b"<guss/>")
    item = {c.code: (c.vendor, c.flags, c.data) for c in avps[612].children()}
    assert item == {
        613: (TGPP, V | M, (1).to_bytes(4, "big")),  # SIP-Item-Number
        608: (TGPP, V | M, b"Digest-AKAv1-MD5"),  # SIP-Authentication-Scheme
        609: (TGPP, V | M, ans.rand + ans.autn),  # SIP-Authenticate
        610: (TGPP, V | M, ans.xres),  # SIP-Authorization
        625: (TGPP, V | M, ans.ck),  # Confidentiality-Key
        626: (TGPP, V | M, ans.ik),  # Integrity-Key
    }


def test_maa_without_guss_parses_to_none() -> None:
    answer = roundtrip(answer_for(mar(zh.VectorRequest(IMPI)), vector_answer(guss=None)))
    assert 400 not in by_code(answer.avps)
    assert zh.parse_maa(answer).guss is None


def test_maa_without_sip_auth_data_item_raises_codec_error() -> None:
    request = mar(zh.VectorRequest(IMPI))
    answer = request.answer([avp("Result-Code", SUCCESS), avp("User-Name", IMPI)])
    with pytest.raises(CodecError, match="lacks AVP 612"):
        zh.parse_maa(roundtrip(answer))


@settings(max_examples=40, deadline=None)
@given(autn_len=st.integers(min_value=0, max_value=40).filter(lambda n: n != 16))
def test_maa_with_wrong_sip_authenticate_length_raises_codec_error(autn_len: int) -> None:
    ans = zh.VectorAnswer(IMPI, bytes(16), bytes(autn_len), bytes(8), bytes(16), bytes(16))
    answer = roundtrip(answer_for(mar(zh.VectorRequest(IMPI)), ans))
    with pytest.raises(CodecError, match="SIP-Authenticate"):
        zh.parse_maa(answer)


@pytest.mark.parametrize(("xres", "ck", "ik"), [
    (bytes(3), bytes(16), bytes(16)),
    (bytes(17), bytes(16), bytes(16)),
    (bytes(8), bytes(15), bytes(16)),
    (bytes(8), bytes(16), bytes(32)),
])
def test_maa_with_wrong_xres_ck_or_ik_length_raises_codec_error(
        xres: bytes, ck: bytes, ik: bytes) -> None:
    ans = zh.VectorAnswer(IMPI, bytes(16), bytes(16), xres, ck, ik)
    answer = roundtrip(answer_for(mar(zh.VectorRequest(IMPI)), ans))
    with pytest.raises(CodecError, match="lengths"):
        zh.parse_maa(answer)


@pytest.mark.parametrize("missing", [610, 625, 626])
def test_maa_item_lacking_xres_ck_or_ik_raises_codec_error(missing: int) -> None:
    full = by_code(answer_for(mar(zh.VectorRequest(IMPI)), vector_answer()).avps)[612]
    item = Avp.grouped(612, [c for c in full.children() if c.code != missing],
                       full.flags, full.vendor)
    answer = mar(zh.VectorRequest(IMPI)).answer([avp("User-Name", IMPI), item])
    with pytest.raises(CodecError, match=f"lacks AVP {missing}"):
        zh.parse_maa(roundtrip(answer))


def test_maa_error_for_a_3gpp_code_carries_experimental_result() -> None:
    answer = roundtrip(zh.build_maa_error(mar(zh.VectorRequest(IMPI)), HSS, 5401,
                                          experimental=True))
    avps = by_code(answer.avps)
    assert 268 not in avps
    inner = {c.code: c.data for c in avps[297].children()}
    assert inner == {266: TGPP.to_bytes(4, "big"), 298: (5401).to_bytes(4, "big")}
    assert answer.result_code == 5401


def test_maa_error_for_a_base_code_carries_result_code() -> None:
    answer = roundtrip(zh.build_maa_error(mar(zh.VectorRequest(IMPI)), HSS, 4001,
                                          experimental=False))
    avps = by_code(answer.avps)
    assert 297 not in avps
    assert avps[268].data == (4001).to_bytes(4, "big")


# ------------------------------------------------------------------ garbage


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_corrupted_mar_or_maa_bytes_raise_only_codec_error(data: st.DataObject) -> None:
    request = mar(zh.VectorRequest(IMPI, bytes(16), bytes(14)))
    message = data.draw(st.sampled_from([request, answer_for(request, vector_answer("<g/>"))]))
    wire = bytearray(message.encode())
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        wire[data.draw(st.integers(0, len(wire) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(min_value=0, max_value=len(wire)))
    try:
        decoded = Message.decode(bytes(wire[:cut] if data.draw(st.booleans()) else wire))
        if decoded.is_request:
            zh.parse_mar(decoded)
        else:
            zh.parse_maa(decoded)
    except CodecError:
        pass

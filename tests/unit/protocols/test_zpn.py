"""Zpn GPIR/GPIA (TS 29.109 §5.4) over the Diameter codec."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import UTC, datetime
from ipaddress import IPv4Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gba.errors import CodecError
from gba.protocols import zpn
from gba.protocols.diameter import Avp, Message, MissingAvp, PeerIdentity, avp, raw_avp
from gba.protocols.diameter import dictionary as d
from gba.protocols.diameter.capabilities import UnsupportedAvp, codec_error_answer
from gba.protocols.gpi import UiccMe

pytestmark = pytest.mark.push

NAF = PeerIdentity("naf.example.org", "example.org", (IPv4Address("127.0.0.3"),))
BSF = PeerIdentity("bsf.example.org", "example.org", (IPv4Address("127.0.0.1"),))
IMPI = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
IMPU = "sip:+15550100@ims.mnc001.mcc001.3gppnetwork.org"
NAF_ID = b"naf.example.org\x01\x00\x00\x00\x02"
EXPIRY = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
CREATED = datetime(2030, 1, 2, 2, 4, 5, tzinfo=UTC)

# Values written from the specifications, not from gba's dictionary.
V, M = 0x80, 0x40
TGPP = 10415
ZPN_APP_ID = 16777268  # TS 29.230 Table 4.1 "3GPP Zpn"

REQUEST = zpn.PushInfoRequest(ue_id=IMPU, ue_id_type=zpn.UeIdType.PUBLIC_USER_IDENTITY,
                              naf_id=NAF_ID, ptid=b"ptid-1", mode=UiccMe.GBA_ME)
ANSWER = zpn.PushInfoAnswer(gpi=b"\x01gpi", expiry=EXPIRY, me_key=bytes(range(32)),
                            created=CREATED)

texts = st.text(st.characters(codec="utf-8"), min_size=1, max_size=60)
times = st.datetimes(min_value=datetime(1980, 1, 1), max_value=datetime(2100, 1, 1),
                     timezones=st.just(UTC)).map(lambda t: t.replace(microsecond=0))
octets = st.binary(min_size=1, max_size=80)
keys = st.none() | st.binary(min_size=32, max_size=32)


def roundtrip(msg: Message) -> Message:
    return Message.decode(msg.encode())


def gpir(req: zpn.PushInfoRequest = REQUEST, destination_host: str | None = None) -> Message:
    return zpn.build_gpir(NAF, "example.org", "naf.example.org;1;1", req, destination_host)


def without(msg: Message, code: int, vendor: int = 0) -> Message:
    return msg.with_avps(a for a in msg.avps if (a.code, a.vendor) != (code, vendor))


def test_gpir_header_and_application() -> None:
    msg = roundtrip(gpir())
    assert msg.is_request
    assert msg.application_id == ZPN_APP_ID
    assert msg.command_code == d.CMD_GBA_PUSH_INFO
    vsai = msg.find(260)
    assert vsai is not None
    children = {a.code: a.as_int() for a in vsai.children()}
    assert children == {266: TGPP, 258: ZPN_APP_ID}


def test_gpir_avps_carry_v_and_m_bits_and_values() -> None:
    msg = roundtrip(gpir())
    for code, value in ((411, IMPU.encode()), (412, (1).to_bytes(4, "big")), (402, NAF_ID),
                        (418, b"ptid-1"), (414, (0).to_bytes(4, "big"))):
        found = msg.find(code, TGPP)
        assert found is not None, code
        assert found.flags & (V | M) == V | M
        assert found.data == value
    for absent in (413, 415, 407, 416, 403):
        assert msg.find(absent, TGPP) is None
    assert msg.find(293) is None


def test_gpir_roundtrip_minimal() -> None:
    assert zpn.parse_gpir(roundtrip(gpir())) == replace(REQUEST, origin_host="naf.example.org")


def test_gpir_roundtrip_full() -> None:
    req = replace(REQUEST, ue_id=IMPI, ue_id_type=zpn.UeIdType.PRIVATE_USER_IDENTITY,
                  mode=UiccMe.GBA_U, app_label=b"\xa0\x00\x00\x00\x87",
                  requested_lifetime=EXPIRY, gba_u_aware=True,
                  private_identity_requested=True, gaa_service_ids=(b"1", b"2"),
                  origin_host="naf.example.org")
    msg = roundtrip(gpir(req, destination_host="bsf.example.org"))
    assert msg.find(293) is not None
    private = msg.find(416, TGPP)
    assert private is not None
    assert private.as_int() == 0
    assert zpn.parse_gpir(msg) == req


@given(ue=texts, naf=octets, ptid=octets, mode=st.sampled_from(UiccMe),
       kind=st.sampled_from(zpn.UeIdType), label=st.none() | octets,
       life=st.none() | times, aware=st.booleans(), private=st.booleans(),
       gsids=st.lists(octets, max_size=3).map(tuple))
def test_gpir_roundtrip_property(ue: str, naf: bytes, ptid: bytes, mode: UiccMe,
                                 kind: zpn.UeIdType, label: bytes | None,
                                 life: datetime | None, aware: bool, private: bool,
                                 gsids: tuple[bytes, ...]) -> None:
    req = zpn.PushInfoRequest(ue, kind, naf, ptid, mode, label, life, aware, private, gsids,
                              "naf.example.org")
    assert zpn.parse_gpir(roundtrip(gpir(req))) == req


@pytest.mark.parametrize("code", [411, 412, 402, 418, 414])
def test_gpir_missing_required_avp(code: int) -> None:
    with pytest.raises(MissingAvp) as caught:
        zpn.parse_gpir(without(roundtrip(gpir()), code, TGPP))
    assert caught.value.code == code
    answer = codec_error_answer(gpir(), BSF, caught.value)
    assert answer.result_code == d.ResultCode.MISSING_AVP


def test_gpir_missing_origin_host() -> None:
    with pytest.raises(MissingAvp):
        zpn.parse_gpir(without(gpir(), d.ORIGIN_HOST))


def test_gpir_unknown_mandatory_avp_is_unsupported() -> None:
    msg = gpir()
    bad = msg.with_avps([*msg.avps, raw_avp(401, b"btid", vendor=TGPP, mandatory=True)])
    with pytest.raises(UnsupportedAvp) as caught:
        zpn.parse_gpir(roundtrip(bad))
    assert [a.code for a in caught.value.avps] == [401]
    assert codec_error_answer(bad, BSF, caught.value).result_code == d.ResultCode.AVP_UNSUPPORTED


def test_gpir_unknown_optional_avp_is_ignored() -> None:
    msg = gpir()
    extra = msg.with_avps([*msg.avps, raw_avp(9999, b"x", vendor=TGPP)])
    assert zpn.parse_gpir(roundtrip(extra)).ptid == b"ptid-1"


def test_gpir_out_of_range_values_are_codec_errors() -> None:
    msg = gpir()

    def swap(code: int, value: Avp) -> Message:
        return msg.with_avps([value if (a.code, a.vendor) == (code, TGPP) else a
                              for a in msg.avps])

    with pytest.raises(CodecError, match="enumerated"):
        zpn.parse_gpir(swap(414, avp("UICC-ME", 7)))
    with pytest.raises(CodecError, match="enumerated"):
        zpn.parse_gpir(swap(412, avp("UE-Id-Type", 9)))
    with pytest.raises(CodecError, match="UTF-8"):
        zpn.parse_gpir(swap(411, avp("UE-Id", b"\xff\xfe")))


def test_gpia_roundtrip_and_wire() -> None:
    request = roundtrip(gpir())
    answer = roundtrip(zpn.build_gpia(request, BSF, ANSWER))
    assert not answer.is_request
    assert answer.command_code == d.CMD_GBA_PUSH_INFO
    assert answer.application_id == ZPN_APP_ID
    assert answer.result_code == d.ResultCode.SUCCESS
    assert answer.hop_by_hop == request.hop_by_hop
    push_info = answer.find(417, TGPP)
    assert push_info is not None
    assert push_info.data == b"\x01gpi"
    assert push_info.flags & (V | M) == V | M
    assert answer.find(d.USER_NAME) is None
    parsed = zpn.parse_gpia(answer)
    assert parsed == ANSWER
    assert parsed.session == "naf.example.org;1;1"
    assert not parsed.gba_u


def test_gpia_with_impi_uicc_key_and_uss() -> None:
    full = replace(ANSWER, uicc_key=bytes(32), impi=IMPI, uss="<ussList/>")
    parsed = zpn.parse_gpia(roundtrip(zpn.build_gpia(gpir(), BSF, full)))
    assert parsed == full
    assert parsed.gba_u


@given(gpi=st.binary(min_size=1, max_size=200), expiry=times, created=st.none() | times,
       me=keys, uicc=keys, impi=st.none() | texts)
def test_gpia_roundtrip_property(gpi: bytes, expiry: datetime, created: datetime | None,
                                 me: bytes | None, uicc: bytes | None,
                                 impi: str | None) -> None:
    if me is None and uicc is None:
        me = bytes(32)
    ans = zpn.PushInfoAnswer(gpi, expiry, me, uicc, created, impi)
    assert zpn.parse_gpia(roundtrip(zpn.build_gpia(gpir(), BSF, ans))) == ans


@pytest.mark.parametrize("code", [417, 404])
def test_gpia_missing_required_avp(code: int) -> None:
    answer = zpn.build_gpia(gpir(), BSF, ANSWER)
    with pytest.raises(MissingAvp):
        zpn.parse_gpia(without(answer, code, TGPP))


def test_gpia_without_key_material_is_refused() -> None:
    answer = without(zpn.build_gpia(gpir(), BSF, ANSWER), 405, TGPP)
    with pytest.raises(CodecError, match="Key-Material"):
        zpn.parse_gpia(answer)


@pytest.mark.parametrize("code", [d.ExperimentalResultCode.IMPI_UNKNOWN,
                                  d.ExperimentalResultCode.NOT_AUTHORIZED])
def test_gpia_error_carries_experimental_result(code: int) -> None:
    request = roundtrip(gpir())
    answer = roundtrip(zpn.build_gpia_error(request, BSF, code))
    assert answer.result_code == code
    result = answer.find(297)
    assert result is not None
    assert {a.code: a.as_int() for a in result.children()} == {266: TGPP, 298: code}
    assert answer.find(268) is None
    assert answer.find(417, TGPP) is None
    session = answer.find(d.SESSION_ID)
    assert session is not None
    assert session.as_str() == "naf.example.org;1;1"


@given(data=st.binary(max_size=200))
def test_parse_gpir_of_garbage_avps_raises_codec_error_only(data: bytes) -> None:
    msg = gpir()
    with contextlib.suppress(CodecError):
        zpn.parse_gpir(msg.with_avps([*msg.avps[:5], raw_avp(414, data, vendor=TGPP,
                                                             mandatory=True),
                                      *msg.avps[5:]]))

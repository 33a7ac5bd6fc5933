"""MTC group AVPs on Zh MAR/MAA and Zn BIA (docs/mtc.md §3) over the Diameter codec."""

from __future__ import annotations

from datetime import UTC, datetime
from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gba.errors import CodecError, InvalidInput
from gba.protocols import zh, zh_mtc, zn
from gba.protocols.diameter import Avp, Message, MissingAvp, PeerIdentity, avp, raw_avp
from gba.protocols.diameter import dictionary as d
from gba.protocols.diameter.capabilities import UnsupportedAvp, codec_error_answer
from gba.protocols.diameter.values import value_of
from gba.protocols.zh_mtc import MtcKeys, MtcResultCode, MtcVectorRequest

pytestmark = pytest.mark.mtc

BSF = PeerIdentity("bsf.example.org", "example.org", (IPv4Address("127.0.0.1"),))
HSS = PeerIdentity("hss.example.org", "example.org", (IPv4Address("127.0.0.2"),))
NAF = PeerIdentity("iwf.example.org", "example.org", (IPv4Address("127.0.0.3"),))
IMPI = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
GROUP = "meters@mtc.example.org"
SETTINGS = '<mtcSettings xmlns="urn:gba-lab:mtc:1"><group id="meters@mtc.example.org"/>' \
    "</mtcSettings>"
K_ENC = bytes(range(100, 116))
K_INT = bytes(range(200, 232))

# Values written from docs/mtc.md §3 and the RFCs, not from gba's dictionary.
V, M = 0x80, 0x40
MTC_VENDOR = 32473  # RFC 5612 §2: the enterprise number for documentation
GROUP_ID, KEY_ID, CAPABILITY, SECURITY_SETTINGS, ENC_KEY, INT_KEY = 7, 2, 3, 4, 5, 6
# (MTC-Group-Id is 7, not docs/mtc.md's 1: (1, 32473) is Key-Kind, docs/roaming.md §2)
UTF8, U32, OCTETS = d.AvpType.UTF8_STRING, d.AvpType.UNSIGNED32, d.AvpType.OCTET_STRING

texts = st.text(st.characters(codec="utf-8"), min_size=1, max_size=60)


def roundtrip(msg: Message) -> Message:
    return Message.decode(msg.encode())


def mtc_request(key_id: int = 3, capability: int = 3) -> MtcVectorRequest:
    return MtcVectorRequest(IMPI, GROUP, key_id, capability)


def mar(req: MtcVectorRequest | None = None) -> Message:
    return zh_mtc.build_mtc_mar(BSF, "example.org", "bsf.example.org;1;2",
                                req or mtc_request())


def vector_answer() -> zh.VectorAnswer:
    return zh.VectorAnswer(impi=IMPI, rand=bytes(range(16)), autn=bytes(range(16, 32)),
                           xres=bytes(range(32, 40)), ck=bytes(range(40, 56)),
                           ik=bytes(range(56, 72)))


def mtc_avps(msg: Message) -> dict[int, Avp]:
    return {a.code: a for a in msg.avps if a.vendor == MTC_VENDOR}


def without(msg: Message, code: int) -> Message:
    return msg.with_avps(a for a in msg.avps if (a.code, a.vendor) != (code, MTC_VENDOR))


def bia(request_keys: MtcKeys | None = None) -> Message:
    request = zn.build_bir(NAF, "example.org", "iwf.example.org;1;1",
                           zn.KeyRequest("AAEC@bsf.example.org", b"iwf.example.org\xff\0\0\0\1"))
    answer = zn.build_bia(request, BSF, zn.KeyAnswer(
        IMPI, datetime(2030, 1, 2, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC),
        me_key=bytes(range(32))))
    return answer if request_keys is None else zh_mtc.add_mtc_to_bia(answer, request_keys)


# ------------------------------------------------------------------ dictionary


@pytest.mark.parametrize(("name", "code", "kind"), [
    ("MTC-Group-Id", GROUP_ID, UTF8),
    ("MTC-Group-Key-Id", KEY_ID, U32),
    ("MTC-Small-Data-Capability", CAPABILITY, U32),
    ("MTC-Security-Settings", SECURITY_SETTINGS, OCTETS),
    ("MTC-Enc-Key", ENC_KEY, OCTETS),
    ("MTC-Int-Key", INT_KEY, OCTETS),
])
def test_dictionary_has_the_mtc_avps_with_v_and_m(name: str, code: int,
                                                  kind: d.AvpType) -> None:
    definition = d.avp_def(name)
    assert (definition.code, definition.vendor, definition.type) == (code, MTC_VENDOR, kind)
    assert definition.flags == V | M
    assert d.find_avp_def(code, MTC_VENDOR) is definition
    assert d.VENDOR_GBA_LAB_MTC == MTC_VENDOR


def test_key_kind_keeps_its_code() -> None:
    assert d.avp_def("Key-Kind").code == 1
    assert d.find_avp_def(1, MTC_VENDOR) is d.avp_def("Key-Kind")


def test_result_codes() -> None:
    assert [int(c) for c in MtcResultCode] == [5100, 5101, 5102, 5103]
    assert int(MtcResultCode.UNKNOWN_GROUP) == 5103
    assert int(MtcResultCode.NOT_A_MEMBER) == 5100
    assert int(MtcResultCode.STALE_GROUP_KEY) == 5102
    assert int(MtcResultCode.NO_SMALL_DATA) == 5101


# ------------------------------------------------------------------ MAR


def test_mtc_mar_is_the_zh_mar_plus_three_avps() -> None:
    plain = zh.build_mar(BSF, "example.org", "bsf.example.org;1;2", zh.VectorRequest(IMPI))
    extended = mar()
    assert extended.avps[:len(plain.avps)] == plain.avps
    extra = extended.avps[len(plain.avps):]
    assert [(a.code, a.vendor, a.flags) for a in extra] == [
        (GROUP_ID, MTC_VENDOR, V | M), (KEY_ID, MTC_VENDOR, V | M),
        (CAPABILITY, MTC_VENDOR, V | M)]
    assert (extended.command_code, extended.application_id) == (303, 16777221)


def test_mar_round_trip_through_the_wire() -> None:
    req = mtc_request(key_id=0xFFFFFFFF, capability=2)
    wire = roundtrip(mar(req))
    found = mtc_avps(wire)
    assert found[GROUP_ID].data == GROUP.encode()
    assert found[KEY_ID].data == b"\xff\xff\xff\xff"
    assert found[CAPABILITY].data == b"\0\0\0\x02"
    assert value_of(found[GROUP_ID]) == GROUP  # decoded by the dictionary's types
    assert value_of(found[KEY_ID]) == 0xFFFFFFFF
    base, group = zh_mtc.parse_mtc_mar(wire)
    assert base == zh.VectorRequest(IMPI)
    assert group == req


@settings(max_examples=50, deadline=None)
@given(group=texts, key_id=st.integers(0, 0xFFFFFFFF), capability=st.integers(0, 3),
       resync=st.booleans())
def test_mar_round_trips_any_group(group: str, key_id: int, capability: int,
                                   resync: bool) -> None:
    req = MtcVectorRequest(IMPI, group, key_id, capability)
    base = zh.VectorRequest(IMPI, bytes(16), bytes(range(14))) if resync else None
    msg = zh_mtc.build_mtc_mar(BSF, "example.org", "s;1", req, base=base)
    parsed_base, parsed = zh_mtc.parse_mtc_mar(roundtrip(msg))
    assert parsed == req
    assert parsed_base == (base or zh.VectorRequest(IMPI))


def test_mar_without_mtc_fields_is_a_zh_mar() -> None:
    plain = zh.build_mar(BSF, "example.org", "s;1",
                         zh.VectorRequest(IMPI, guss_timestamp=datetime(2030, 1, 1, tzinfo=UTC)))
    base, group = zh_mtc.parse_mtc_mar(roundtrip(plain))
    assert group is None
    assert base == zh.parse_mar(plain)


def test_base_request_for_another_impi_is_refused() -> None:
    with pytest.raises(InvalidInput):
        zh_mtc.build_mtc_mar(BSF, "example.org", "s;1", mtc_request(),
                             base=zh.VectorRequest("other@example.org"))


def test_plain_zh_refuses_the_mtc_mar_with_5001() -> None:
    """The M bit does its job: an HSS without the MTC AVPs answers 5001."""
    with pytest.raises(UnsupportedAvp):
        zh.parse_mar(roundtrip(mar()))


@pytest.mark.parametrize("missing", [KEY_ID, CAPABILITY])
def test_group_id_without_the_others_is_missing_avp(missing: int) -> None:
    msg = roundtrip(without(mar(), missing))
    with pytest.raises(MissingAvp) as caught:
        zh_mtc.parse_mtc_mar(msg)
    assert (caught.value.code, caught.value.vendor) == (missing, MTC_VENDOR)
    assert codec_error_answer(msg, HSS, caught.value).result_code == 5005


@pytest.mark.parametrize("kept", [KEY_ID, CAPABILITY])
def test_group_avps_without_group_id_are_refused(kept: int) -> None:
    msg = mar().with_avps(a for a in mar().avps
                          if a.vendor != MTC_VENDOR or a.code == kept)
    with pytest.raises(CodecError, match="without MTC-Group-Id"):
        zh_mtc.parse_mtc_mar(roundtrip(msg))


def test_group_avp_twice_is_5009() -> None:
    msg = mar()
    twice = msg.with_avps([*msg.avps, avp("MTC-Group-Id", "other@example.org")])
    with pytest.raises(CodecError) as caught:
        zh_mtc.parse_mtc_mar(roundtrip(twice))
    assert codec_error_answer(twice, HSS, caught.value).result_code == 5009


def test_empty_group_id_is_refused() -> None:
    msg = without(mar(), GROUP_ID)
    msg = msg.with_avps([*msg.avps, raw_avp(GROUP_ID, b"", vendor=MTC_VENDOR,
                                            mandatory=True)])
    with pytest.raises(CodecError, match="empty"):
        zh_mtc.parse_mtc_mar(roundtrip(msg))


@pytest.mark.parametrize(("key_id", "capability"), [
    (-1, 0), (0x1_0000_0000, 0), (1, -1), (1, 4), (True, 1)])
def test_request_out_of_range_is_invalid_input(key_id: int, capability: int) -> None:
    with pytest.raises(InvalidInput):
        MtcVectorRequest(IMPI, GROUP, key_id, capability)


def test_empty_group_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        MtcVectorRequest(IMPI, "", 1, 0)


def test_key_id_not_unsigned32_on_the_wire_is_refused() -> None:
    """A 64-bit MTC-Group-Key-Id: the codec refuses it on decode, and the parser refuses
    it in a message built in memory."""
    msg = without(mar(), KEY_ID)
    bad = msg.with_avps([*msg.avps, raw_avp(KEY_ID, (1 << 32).to_bytes(8, "big"),
                                            vendor=MTC_VENDOR, mandatory=True)])
    with pytest.raises(CodecError):
        Message.decode(bad.encode())
    with pytest.raises(CodecError) as caught:
        zh_mtc.parse_mtc_mar(bad)
    assert codec_error_answer(bad, HSS, caught.value).result_code == 5014


def test_capability_out_of_range_on_the_wire_is_5004() -> None:
    msg = without(mar(), CAPABILITY)
    bad = roundtrip(msg.with_avps([*msg.avps, avp("MTC-Small-Data-Capability", 4)]))
    with pytest.raises(CodecError, match=r"0\.\.3") as caught:
        zh_mtc.parse_mtc_mar(bad)
    assert codec_error_answer(bad, HSS, caught.value).result_code == 5004


@pytest.mark.parametrize("stranger", [
    raw_avp(77, b"?", vendor=MTC_VENDOR, mandatory=True),  # unknown code, our vendor
    raw_avp(9999, b"?", vendor=10415, mandatory=True),
    raw_avp(4242, b"?", mandatory=True),
])
def test_unrelated_mandatory_avp_is_still_refused(stranger: Avp) -> None:
    msg = mar()
    msg = msg.with_avps([*msg.avps, stranger])
    with pytest.raises(UnsupportedAvp) as caught:
        zh_mtc.parse_mtc_mar(roundtrip(msg))
    assert [(a.code, a.vendor) for a in caught.value.avps] == [(stranger.code, stranger.vendor)]
    assert codec_error_answer(msg, HSS, caught.value).result_code == 5001


@pytest.mark.parametrize("name", ["MTC-Security-Settings", "MTC-Enc-Key", "Key-Kind"])
def test_answer_only_mtc_avps_are_refused_in_a_mar(name: str) -> None:
    value: bytes | int = 0 if name == "Key-Kind" else b"x"
    msg = mar()
    with pytest.raises(UnsupportedAvp):
        zh_mtc.parse_mtc_mar(roundtrip(msg.with_avps([*msg.avps, avp(name, value)])))


def test_unknown_avp_without_m_bit_is_ignored() -> None:
    msg = mar()
    msg = msg.with_avps([*msg.avps, raw_avp(77, b"?", vendor=MTC_VENDOR)])
    assert zh_mtc.parse_mtc_mar(roundtrip(msg))[1] == mtc_request()


# ------------------------------------------------------------------ MAA


def test_maa_round_trip() -> None:
    request = roundtrip(mar())
    answer = roundtrip(zh_mtc.build_mtc_maa(request, HSS, vector_answer(), SETTINGS))
    assert answer.result_code == 2001
    found = mtc_avps(answer)
    assert list(found) == [SECURITY_SETTINGS]
    assert found[SECURITY_SETTINGS].flags == V | M
    ans, xml = zh_mtc.parse_mtc_maa(answer)
    assert ans == vector_answer()
    assert xml == SETTINGS
    assert zh_mtc.mtc_result(answer) is None
    # the standard part is zh's
    plain = zh.build_maa(request, HSS, vector_answer())
    assert answer.avps[:len(plain.avps)] == plain.avps


def test_plain_maa_has_no_settings() -> None:
    answer = roundtrip(zh.build_maa(roundtrip(mar()), HSS, vector_answer()))
    assert zh_mtc.parse_mtc_maa(answer) == (vector_answer(), None)


def test_settings_not_utf8_is_refused() -> None:
    answer = zh.build_maa(mar(), HSS, vector_answer())
    answer = answer.with_avps([*answer.avps, avp("MTC-Security-Settings", b"\xff\xfe")])
    with pytest.raises(CodecError, match="UTF-8"):
        zh_mtc.parse_mtc_maa(roundtrip(answer))


@pytest.mark.parametrize("code", list(MtcResultCode))
def test_error_answer_carries_experimental_result_vendor_32473(code: MtcResultCode) -> None:
    request = roundtrip(mar())
    answer = roundtrip(zh_mtc.build_mtc_error(request, HSS, code))
    assert not answer.is_request
    assert (answer.command_code, answer.application_id) == (303, 16777221)
    assert answer.find(268) is None  # no Result-Code
    group = answer.find(297)
    assert group is not None
    assert group.find(266) is not None
    assert group.find(266).as_int() == MTC_VENDOR  # type: ignore[union-attr]
    assert group.find(298).as_int() == int(code)  # type: ignore[union-attr]
    assert answer.result_code == int(code)
    assert answer.find(263) == request.find(263)
    assert zh_mtc.mtc_result(answer) is code


def test_mtc_result_ignores_other_vendors() -> None:
    request = mar()
    tgpp = zh.build_maa_error(request, HSS, 5401, experimental=True)
    assert tgpp.result_code == 5401
    assert zh_mtc.mtc_result(roundtrip(tgpp)) is None
    assert zh_mtc.mtc_result(zh.build_maa_error(request, HSS, 5012, experimental=False)) \
        is None
    assert zh_mtc.mtc_result(zh.build_maa_error(request, HSS, 5100, experimental=True)) \
        is None  # 5100 under 10415 is not ours


def test_error_code_must_be_an_mtc_code() -> None:
    with pytest.raises(InvalidInput, match="5401"):
        zh_mtc.build_mtc_error(mar(), HSS, 5401)  # type: ignore[arg-type]


# ------------------------------------------------------------------ BIA


def test_bia_extension_round_trip() -> None:
    keys = MtcKeys(SETTINGS, enc_key=K_ENC, int_key=K_INT, capability=3)
    plain = bia()
    extended = roundtrip(bia(keys))
    assert extended.avps[:len(plain.avps)] == plain.avps
    assert [(a.code, a.flags) for a in extended.avps[len(plain.avps):]] == [
        (SECURITY_SETTINGS, V | M), (CAPABILITY, V | M), (ENC_KEY, V | M), (INT_KEY, V | M)]
    assert zh_mtc.parse_mtc_bia(extended) == keys
    # zn reads the standard part unchanged: it does not refuse the extra M-bit AVPs
    assert zn.parse_bia(extended) == zn.parse_bia(roundtrip(plain))


@pytest.mark.parametrize(("enc", "integrity"), [(None, None), (K_ENC, None), (None, K_INT)])
def test_bia_subkeys_are_optional(enc: bytes | None, integrity: bytes | None) -> None:
    keys = MtcKeys(SETTINGS, enc_key=enc, int_key=integrity, capability=1)
    extended = roundtrip(bia(keys))
    assert zh_mtc.parse_mtc_bia(extended) == keys
    assert (ENC_KEY in mtc_avps(extended)) == (enc is not None)
    assert (INT_KEY in mtc_avps(extended)) == (integrity is not None)


def test_plain_bia_has_no_mtc_part() -> None:
    assert zh_mtc.parse_mtc_bia(roundtrip(bia())) is None


def test_bia_mtc_avps_go_before_route_record() -> None:
    answer = bia()
    routed = answer.with_avps([*answer.avps, avp("Route-Record", "relay.example.org")])
    extended = zh_mtc.add_mtc_to_bia(routed, MtcKeys(SETTINGS, capability=0))
    assert extended.avps[-1].code == 282
    assert extended.avps[-2].code == CAPABILITY


def test_bia_partial_or_wrong_lengths_are_refused() -> None:
    full = bia(MtcKeys(SETTINGS, enc_key=K_ENC, int_key=K_INT, capability=3))
    with pytest.raises(MissingAvp):
        zh_mtc.parse_mtc_bia(roundtrip(without(full, SECURITY_SETTINGS)))
    with pytest.raises(MissingAvp):
        zh_mtc.parse_mtc_bia(roundtrip(without(full, CAPABILITY)))
    short = without(full, ENC_KEY)
    short = short.with_avps([*short.avps, avp("MTC-Enc-Key", bytes(15))])
    with pytest.raises(CodecError, match="expected 16"):
        zh_mtc.parse_mtc_bia(roundtrip(short))


def test_add_mtc_to_bia_only_once_and_only_to_a_bia() -> None:
    keys = MtcKeys(SETTINGS, capability=1)
    with pytest.raises(InvalidInput):
        zh_mtc.add_mtc_to_bia(bia(keys), keys)
    with pytest.raises(InvalidInput):
        zh_mtc.add_mtc_to_bia(mar(), keys)


@pytest.mark.parametrize(("enc", "integrity", "capability"), [
    (bytes(15), None, 0), (None, bytes(16), 0), (None, None, 4)])
def test_mtc_keys_checks_lengths(enc: bytes | None, integrity: bytes | None,
                                 capability: int) -> None:
    with pytest.raises(InvalidInput):
        MtcKeys(SETTINGS, enc_key=enc, int_key=integrity, capability=capability)


def test_key_material_never_in_repr() -> None:
    keys = MtcKeys(SETTINGS, enc_key=K_ENC, int_key=K_INT, capability=3)
    text = repr(keys) + str(keys) + repr(bia(keys)) + repr(roundtrip(bia(keys)).avps)
    for secret in (K_ENC, K_INT):
        assert secret.hex() not in text
        assert repr(secret) not in text
    assert "enc_key" not in repr(keys)
    assert "int_key" not in repr(keys)


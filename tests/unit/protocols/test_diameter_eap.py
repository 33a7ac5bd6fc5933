"""Diameter EAP DER/DEA for roaming case D (RFC 4072 §3.1-§3.2; docs/roaming.md §1 D),
and tshark reading AAR/AAA and DER/DEA from a capture."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gba.errors import CodecError, InvalidInput
from gba.protocols import diameter_eap as eap
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
from interop.test_tshark_decode import TcpFlow, write_pcap

pytestmark = pytest.mark.roaming

BMSC = PeerIdentity("bmsc-d.mnc002.mcc001.3gppnetwork.org", "mnc002.mcc001.3gppnetwork.org",
                    (IPv4Address("127.0.0.7"),))
BSF = PeerIdentity("bsf.mnc001.mcc001.3gppnetwork.org", "mnc001.mcc001.3gppnetwork.org",
                   (IPv4Address("127.0.0.1"),))
VISITED, HOME = BMSC.origin_realm, BSF.origin_realm
NAI = f"0001010123456789@{HOME}"
IMPI = "001010123456789@ims.mnc001.mcc001.3gppnetwork.org"
BTID = "AAECAwQFBgcICQoLDA0ODw==@bsf.mnc001.mcc001.pub.3gppnetwork.org"
NAF_ID = BMSC.origin_host.encode() + b"\x01\x00\x00\x00\x01"
SESSION = "bmsc-d.mnc002.mcc001.3gppnetwork.org;7;1"
EXPIRY = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
CREATED = datetime(2030, 1, 2, 2, 4, 5, tzinfo=UTC)
KEY = bytes(range(32))
USS = guss.encode_uss_list([guss.Uss("1", "1", "A", ("sip:a@example.org",), ("1",))])
USER = zn.KeyAnswer(IMPI, EXPIRY, CREATED, me_key=KEY)

# EAP packets written from RFC 3748 §4 and RFC 4187 §9 / §10, not from gba.
IDENTITY = bytes([2, 0]) + (5 + len(NAI)).to_bytes(2, "big") + b"\x01" + NAI.encode()
CHALLENGE = (bytes([1, 1, 0, 68, 23, 1, 0, 0])  # Request, id 1, AKA (23) Challenge (1)
             + bytes([1, 5, 0, 0]) + bytes(range(16))  # AT_RAND
             + bytes([2, 5, 0, 0]) + bytes(range(16, 32))  # AT_AUTN
             + bytes([11, 5, 0, 0]) + bytes(16))  # AT_MAC
RESPONSE = (bytes([2, 1, 0, 40, 23, 1, 0, 0])  # Response, id 1, AKA Challenge
            + bytes([3, 3, 0, 64]) + bytes(range(8))  # AT_RES, 64 bits
            + bytes([11, 5, 0, 0]) + bytes(16))  # AT_MAC
SUCCESS, FAILURE = bytes([3, 1, 0, 4]), bytes([4, 1, 0, 4])

# Values written from the specifications, not from gba's dictionary.
V, M = 0x80, 0x40
TGPP = 10415
EAP_APP = 5  # RFC 4072 §2.1
DIAMETER_EAP = 268  # RFC 4072 §3.1
EAP_PAYLOAD, EAP_MSK = 462, 464  # RFC 4072 §4.1.1, §4.1.3
AUTH_REQUEST_TYPE = 274  # RFC 6733 §8.7
FAILED_AVP, EXPERIMENTAL_RESULT = 279, 297

texts = st.text(st.characters(codec="utf-8"), min_size=1, max_size=60)
times = st.datetimes(min_value=datetime(1980, 1, 1), max_value=datetime(2100, 1, 1),
                     timezones=st.just(UTC)).map(lambda t: t.replace(microsecond=0))
keys = st.none() | st.binary(min_size=32, max_size=32)


def roundtrip(msg: Message) -> Message:
    return Message.decode(msg.encode())


def der(payload: bytes = IDENTITY, visited: str | None = None) -> Message:
    return eap.build_der(BMSC, VISITED, eap.EapRequest(SESSION, NAI, payload, NAF_ID,
                                                       visited_network=visited))


def by_code(avps: tuple[Avp, ...]) -> dict[int, Avp]:
    return {a.code: a for a in avps}


def without(msg: Message, code: int) -> Message:
    return msg.with_avps([a for a in msg.avps if a.code != code])


def with_msk(msg: Message) -> Message:
    return msg.with_avps([*msg.avps, raw_avp(EAP_MSK, bytes(64), mandatory=True)])


# ------------------------------------------------------------------ DER


@settings(max_examples=50, deadline=None)
@given(session=texts, nai=texts, payload=st.binary(max_size=200),
       naf_id=st.binary(min_size=1, max_size=80), visited=st.none() | texts)
def test_der_round_trips_through_the_wire(session: str, nai: str, payload: bytes,
                                          naf_id: bytes, visited: str | None) -> None:
    req = eap.EapRequest(session, nai, payload, naf_id, visited_network=visited)
    request = eap.build_der(BMSC, VISITED, req)
    decoded = roundtrip(request)
    assert decoded == request
    assert eap.parse_der(decoded) == replace(req, origin_host=BMSC.origin_host,
                                             origin_realm=BMSC.origin_realm)


def test_der_avps_on_the_wire_follow_rfc_4072() -> None:
    request = eap.build_der(BMSC, VISITED, eap.EapRequest(SESSION, NAI, RESPONSE, NAF_ID),
                            destination_host="aaa.mnc002.mcc001.3gppnetwork.org")
    decoded = roundtrip(request)
    assert (decoded.command_code, decoded.application_id) == (DIAMETER_EAP, EAP_APP)
    assert decoded.is_request
    assert decoded.is_proxiable
    assert decoded.avps[0].code == 263
    top = {a.code: (a.vendor, a.flags) for a in decoded.avps}
    assert top == {263: (0, M), 258: (0, M), 264: (0, M), 296: (0, M), 283: (0, M),
                   293: (0, M), AUTH_REQUEST_TYPE: (0, M), 1: (0, M), EAP_PAYLOAD: (0, M),
                   277: (0, M), 402: (TGPP, V | M)}
    avps = by_code(decoded.avps)
    assert avps[258].data == EAP_APP.to_bytes(4, "big")
    assert avps[AUTH_REQUEST_TYPE].data == (3).to_bytes(4, "big")  # AUTHORIZE_AUTHENTICATE
    assert avps[1].data == NAI.encode()
    assert avps[EAP_PAYLOAD].data == RESPONSE


def test_der_with_an_empty_eap_payload_starts_a_run() -> None:
    """RFC 4072 §3.1: an EAP-Payload with no data MAY start the authentication."""
    assert eap.parse_der(roundtrip(der(b""))).eap_payload == b""


@pytest.mark.parametrize(("missing", "vendor"), [
    (263, 0), (264, 0), (296, 0), (283, 0), (258, 0), (AUTH_REQUEST_TYPE, 0), (1, 0),
    (EAP_PAYLOAD, 0), (402, TGPP)])
def test_der_lacking_a_required_avp_raises_missing_avp(missing: int, vendor: int) -> None:
    with pytest.raises(MissingAvp) as caught:
        eap.parse_der(roundtrip(without(der(), missing)))
    assert (caught.value.code, caught.value.vendor) == (missing, vendor)


@pytest.mark.parametrize("extra", [raw_avp(9999, b"?", vendor=TGPP, mandatory=True),
                                   avp("ME-Key-Material", KEY), avp("UICC-ME", "GBA_U")])
def test_der_with_an_unknown_mandatory_avp_raises_unsupported_avp(extra: Avp) -> None:
    request = der()
    with pytest.raises(UnsupportedAvp) as caught:
        eap.parse_der(roundtrip(request.with_avps([*request.avps, extra])))
    assert caught.value.avps == (extra,)
    answer = roundtrip(codec_error_answer(request, BSF, caught.value))
    assert answer.result_code == 5001


@pytest.mark.parametrize("kind", [1, 2])
def test_der_with_another_auth_request_type_is_refused_5004(kind: int) -> None:
    request = der()
    bad = request.with_avps([avp("Auth-Request-Type", kind) if a.code == AUTH_REQUEST_TYPE
                             else a for a in request.avps])
    with pytest.raises(DiameterCodecError) as caught:
        eap.parse_der(roundtrip(bad))
    assert caught.value.result_code == 5004
    answer = roundtrip(eap.build_dea_error(bad, BSF, 5004, caught.value.failed))
    assert by_code(answer.avps)[FAILED_AVP].children() == (avp("Auth-Request-Type", kind),)


def test_home_aaa_adds_the_visited_network_replacing_any_claim() -> None:
    forwarded = eap.with_visited_network(der(visited="mnc009.mcc009.example"), VISITED)
    assert len(forwarded.find_all(600, TGPP)) == 1
    assert eap.parse_der(roundtrip(forwarded)).visited_network == VISITED


def test_eap_payload_is_in_no_repr() -> None:
    text = repr(eap.parse_der(der(RESPONSE))) + repr(eap.EapAnswer(1001, CHALLENGE))
    assert RESPONSE.hex() not in text
    assert repr(RESPONSE) not in text
    assert repr(CHALLENGE) not in text


# ------------------------------------------------------------------ DEA


def test_dea_challenge_is_multi_round_with_the_eap_request() -> None:
    request = der().with_ids(3, 4)
    answer = roundtrip(eap.build_dea_challenge(request, BSF, CHALLENGE, multi_round_timeout=30))
    assert (answer.command_code, answer.application_id) == (DIAMETER_EAP, EAP_APP)
    assert not answer.is_request
    assert (answer.hop_by_hop, answer.end_to_end) == (3, 4)
    assert answer.avps[0] == request.avps[0]
    avps = by_code(answer.avps)
    assert avps[268].data == (1001).to_bytes(4, "big")  # DIAMETER_MULTI_ROUND_AUTH
    assert avps[272].data == (30).to_bytes(4, "big")  # Multi-Round-Time-Out
    assert avps[AUTH_REQUEST_TYPE].data == (3).to_bytes(4, "big")
    assert eap.parse_dea(answer) == eap.EapAnswer(1001, CHALLENGE)


@settings(max_examples=50, deadline=None)
@given(impi=texts, expiry=times, created=times, me=keys, uicc=keys,
       uss=st.sampled_from([None, USS]), kind=st.sampled_from(KeyKind),
       btid=st.none() | texts)
def test_dea_success_round_trips_the_user_information(
        impi: str, expiry: datetime, created: datetime, me: bytes | None, uicc: bytes | None,
        uss: str | None, kind: KeyKind, btid: str | None) -> None:
    if me is None and uicc is None:
        me = KEY
    user = zn.KeyAnswer(impi, expiry, created, me, uicc, uss, key_kind=kind)
    answer = roundtrip(eap.build_dea_success(der(RESPONSE), BSF, SUCCESS, user, btid))
    assert answer.find(EAP_MSK) is None
    assert eap.parse_dea(answer) == eap.EapAnswer(2001, SUCCESS, user, btid)


def test_dea_success_avps_on_the_wire() -> None:
    answer = roundtrip(eap.build_dea_success(der(RESPONSE), BSF, SUCCESS,
                                             replace(USER, uss=USS), BTID))
    avps = {a.code: (a.vendor, a.flags, a.data) for a in answer.avps}
    assert set(avps) == {263, 258, AUTH_REQUEST_TYPE, 268, 264, 296, 277, EAP_PAYLOAD, 1, 405,
                         404, 408, 400, 401}
    assert avps[268] == (0, M, (2001).to_bytes(4, "big"))
    assert avps[EAP_PAYLOAD] == (0, M, SUCCESS)
    assert avps[1] == (0, M, IMPI.encode())
    assert avps[405] == (TGPP, V | M, KEY)
    assert avps[401] == (TGPP, V | M, BTID.encode())  # the B-TID allocated


def test_dea_failure_is_4001_with_eap_failure_and_no_user_information() -> None:
    answer = roundtrip(eap.build_dea_failure(der(RESPONSE), BSF, FAILURE))
    avps = by_code(answer.avps)
    assert avps[268].data == (4001).to_bytes(4, "big")
    assert not answer.is_error
    assert {1, 405, 406, 401, EAP_MSK}.isdisjoint(avps)
    assert eap.parse_dea(answer) == eap.EapAnswer(4001, FAILURE)


def test_no_dea_builder_emits_the_master_session_key() -> None:
    """docs/roaming.md §1 row 409: key information is Ks or derived from it, never the MSK."""
    request = der(RESPONSE)
    for answer in (eap.build_dea_challenge(request, BSF, CHALLENGE),
                   eap.build_dea_success(request, BSF, SUCCESS, replace(USER, uss=USS), BTID),
                   eap.build_dea_failure(request, BSF, FAILURE),
                   eap.build_dea_error(request, BSF, 5003, eap_payload=FAILURE),
                   eap.build_dea_error(request, BSF, 3003)):
        assert all(a.code != EAP_MSK for a in roundtrip(answer).avps)


@pytest.mark.parametrize("answer", [
    eap.build_dea_success(der(RESPONSE), BSF, SUCCESS, USER, BTID),
    eap.build_dea_challenge(der(), BSF, CHALLENGE),
    eap.build_dea_failure(der(RESPONSE), BSF, FAILURE),
])
def test_dea_carrying_the_master_session_key_raises_codec_error(answer: Message) -> None:
    with pytest.raises(CodecError, match="464") as caught:
        eap.parse_dea(roundtrip(with_msk(answer)))
    assert not isinstance(caught.value, UnsupportedAvp)


def test_dea_carrying_the_master_session_key_without_the_m_bit_is_refused_too() -> None:
    answer = eap.build_dea_success(der(RESPONSE), BSF, SUCCESS, USER, BTID)
    with pytest.raises(CodecError, match="Master-Session-Key"):
        eap.parse_dea(roundtrip(answer.with_avps([*answer.avps, raw_avp(EAP_MSK, bytes(64))])))


@pytest.mark.parametrize("strip", [(1,), (405,), (404,), (EAP_PAYLOAD,)])
def test_dea_success_without_user_name_key_or_eap_success_raises_codec_error(
        strip: tuple[int, ...]) -> None:
    full = eap.build_dea_success(der(RESPONSE), BSF, SUCCESS, USER, BTID)
    with pytest.raises(CodecError) as caught:
        eap.parse_dea(roundtrip(full.with_avps([a for a in full.avps if a.code not in strip])))
    assert KEY.hex() not in str(caught.value)


@pytest.mark.parametrize(("build", "payload"), [
    ("success", FAILURE), ("success", CHALLENGE), ("challenge", SUCCESS),
    ("challenge", b"\x01\x01\x00"), ("challenge", b"\x01\x01\x00\x09abc")])
def test_dea_whose_eap_packet_does_not_fit_its_result_raises_codec_error(
        build: str, payload: bytes) -> None:
    answer = (eap.build_dea_success(der(RESPONSE), BSF, payload, USER) if build == "success"
              else eap.build_dea_challenge(der(), BSF, payload))
    with pytest.raises(CodecError, match="EAP"):
        eap.parse_dea(roundtrip(answer))


def test_dea_challenge_without_payload_raises_codec_error() -> None:
    answer = without(eap.build_dea_challenge(der(), BSF, CHALLENGE), EAP_PAYLOAD)
    with pytest.raises(CodecError, match="EAP-Request"):
        eap.parse_dea(roundtrip(answer))


def test_dea_with_an_unknown_mandatory_avp_raises_unsupported_avp() -> None:
    full = eap.build_dea_success(der(RESPONSE), BSF, SUCCESS, USER)
    with pytest.raises(UnsupportedAvp):
        eap.parse_dea(roundtrip(full.with_avps(
            [*full.avps, raw_avp(9999, b"?", vendor=TGPP, mandatory=True)])))


def test_dea_reissued_payload_is_accepted() -> None:
    full = eap.build_dea_challenge(der(), BSF, CHALLENGE)
    extra = full.with_avps([*full.avps, avp("EAP-Reissued-Payload", IDENTITY)])
    assert eap.parse_dea(roundtrip(extra)).eap_payload == CHALLENGE


def test_parse_dea_refuses_a_der_or_a_nasreq_answer() -> None:
    with pytest.raises(CodecError, match="DEA expected"):
        eap.parse_dea(der())
    aar = nasreq.build_aar(BMSC, VISITED, SESSION, nasreq.AuthRequest(BTID, NAF_ID))
    with pytest.raises(CodecError, match="DEA expected"):
        eap.parse_dea(nasreq.build_aaa(aar, BSF, USER, CREATED))


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize(("code", "e_bit"), [(3002, True), (3003, True), (4001, False),
                                             (5003, False)])
def test_dea_error_carries_its_result_code_with_e_bit_only_for_3xxx(code: int,
                                                                   e_bit: bool) -> None:
    request = der(RESPONSE).with_ids(8, 9)
    answer = roundtrip(eap.build_dea_error(request, BSF, code))
    avps = by_code(answer.avps)
    assert answer.is_error is e_bit
    assert (answer.hop_by_hop, answer.end_to_end) == (8, 9)
    assert avps[268].data == code.to_bytes(4, "big")
    assert {1, 405, 401, EAP_MSK}.isdisjoint(avps)
    if not e_bit:
        assert avps[258].data == EAP_APP.to_bytes(4, "big")
        assert avps[AUTH_REQUEST_TYPE].data == (3).to_bytes(4, "big")
    parsed = eap.parse_dea(answer)
    assert (parsed.result_code, parsed.user, parsed.btid) == (code, None, None)


@pytest.mark.parametrize("code", [5402, 5403])
def test_dea_error_carries_ts_29_109_codes_as_experimental_result(code: int) -> None:
    answer = roundtrip(eap.build_dea_error(der(), BSF, code))
    assert 268 not in by_code(answer.avps)
    assert EXPERIMENTAL_RESULT in by_code(answer.avps)
    assert (answer.result_code, answer.is_error) == (code, False)


def test_dea_error_may_carry_an_eap_failure() -> None:
    answer = roundtrip(eap.build_dea_error(der(RESPONSE), BSF, 5003, eap_payload=FAILURE))
    assert eap.parse_dea(answer) == eap.EapAnswer(5003, FAILURE)
    e_bit = roundtrip(eap.build_dea_error(der(RESPONSE), BSF, 3003, eap_payload=FAILURE))
    assert e_bit.find(EAP_PAYLOAD) is None  # a bare answer-message (RFC 6733 §7.2)


def test_dea_error_refuses_a_success_code() -> None:
    with pytest.raises(InvalidInput):
        eap.build_dea_error(der(), BSF, 2001)


# ------------------------------------------------------------------ garbage


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_corrupted_der_or_dea_bytes_raise_only_codec_error(data: st.DataObject) -> None:
    request = der(RESPONSE, visited=VISITED)
    answers = [eap.build_dea_success(request, BSF, SUCCESS, replace(USER, uss=USS), BTID),
               eap.build_dea_challenge(request, BSF, CHALLENGE)]
    wire = bytearray(data.draw(st.sampled_from([request, *answers])).encode())
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        wire[data.draw(st.integers(0, len(wire) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(min_value=0, max_value=len(wire)))
    try:
        decoded = Message.decode(bytes(wire[:cut] if data.draw(st.booleans()) else wire))
        if decoded.is_request:
            eap.parse_der(decoded)
        else:
            eap.parse_dea(decoded)
    except CodecError:
        pass


# ------------------------------------------------------------------ tshark


@pytest.mark.interop
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_tshark_decodes_aar_aaa_der_dea_without_a_malformed_frame(tmp_path: Path) -> None:
    """Wireshark's nasreq.xml and eap.xml dissect our AA and Diameter-EAP commands on the
    Diameter port (3868) with no malformed frame and no error-level expert item."""
    aar = nasreq.build_aar(BMSC, VISITED, "bmsc-c;1;1",
                           nasreq.AuthRequest(BTID, NAF_ID, (b"1",), True)).with_ids(1, 1)
    aaa = nasreq.build_aaa(aar, BSF, replace(USER, uss=USS), CREATED)
    aaa_ks = nasreq.build_aaa(aar.with_ids(2, 2), BSF, replace(USER, key_kind=KeyKind.KS),
                              CREATED)
    refused = nasreq.build_aaa_error(aar.with_ids(3, 3), BSF, 4001)
    nasreq_flow = TcpFlow(("192.0.2.30", 40001), ("192.0.2.40", 3868))
    for message in (aar, aaa, aar.with_ids(2, 2), aaa_ks, aar.with_ids(3, 3), refused):
        nasreq_flow.send("s" if not message.is_request else "c", message)
    der1, der2 = der().with_ids(4, 4), der(RESPONSE).with_ids(5, 5)
    eap_flow = TcpFlow(("192.0.2.31", 40002), ("192.0.2.40", 3868))
    for message in (der1, eap.build_dea_challenge(der1, BSF, CHALLENGE, 30),
                    der2, eap.build_dea_success(der2, BSF, SUCCESS, USER, BTID),
                    der2.with_ids(6, 6), eap.build_dea_failure(der2.with_ids(6, 6), BSF,
                                                               FAILURE)):
        eap_flow.send("c" if message.is_request else "s", message)
    path = tmp_path / "nasreq-eap.pcap"
    write_pcap(path, nasreq_flow.frames + eap_flow.frames)

    def tshark(*args: str) -> str:
        return subprocess.run(["tshark", "-n", "-r", str(path), *args], capture_output=True,
                              text=True, timeout=60, check=True).stdout

    fields = tshark("-Y", "diameter", "-T", "fields", "-E", "separator=/t", "-E",
                    "occurrence=a", "-E", "aggregator=|", "-e", "diameter.cmd.code",
                    "-e", "diameter.applicationId", "-e", "diameter.flags.request",
                    "-e", "diameter.Result-Code", "-e", "diameter.avp.code",
                    "-e", "_ws.malformed", "-e", "eap.code")
    rows = [line.split("\t") for line in fields.splitlines()]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("265", "1", flag) for flag in ("1", "0") * 3] + [
        ("268", "5", flag) for flag in ("1", "0") * 3]
    assert [r[3] for r in rows if r[2] == "0"] == ["2001", "2001", "4001", "1001", "2001",
                                                   "4001"]
    assert all(str(EAP_MSK) not in r[4].split("|") for r in rows)
    assert all(r[5] == "" for r in rows)
    # Wireshark dissects the EAP packet inside EAP-Payload (RFC 3748 codes)
    assert [r[6] for r in rows[6:]] == ["2", "1", "2", "3", "2", "4"]
    assert tshark("-Y", "_ws.malformed || _ws.expert.severity == error "
                  "|| diameter.avp.invalid-len") == ""
    # the one warning: Key-Kind, this project's AVP under the documentation vendor 32473
    warned = tshark("-Y", "_ws.expert.severity == warning", "-T", "fields",
                    "-e", "diameter.endtoendid").split()
    assert warned == ["0x00000002"]  # the AAA with Key-Kind = KS
    assert tshark("-Y", "_ws.expert.severity == warning && !(diameter.avp.vendorId == 32473)"
                  ) == ""

"""NGN key distribution over H.323 RAS (gba.protocols.ngn_ras; H.225.0 §7; seed 001)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gba.errors import InvalidInput
from gba.protocols import ras
from gba.protocols.ngn import Mechanism
from gba.protocols.ngn_flow import (
    Ack,
    FlowMessage,
    Inbound,
    Protected,
    Refusal,
    Refuse,
    Role,
    S1Register,
    S2Forward,
    S5Challenge,
    S6Challenge,
    S7Response,
    S8Response,
    S9Success,
    S10Success,
    Side,
    WireError,
)
from gba.protocols.ngn_ras import PROTECTED_STEP, RECHALLENGE, NgnRasWire, RasContext

pytestmark = pytest.mark.ngn

IDC, IDSP = "alice@ngn.example", "sp1.ngn.example"
N1, N2, N1B = bytes(range(16)), bytes(range(16, 32)), bytes(range(32, 48))
RAND, AUTH, MAC = b"\x11" * 16, b"\x22" * 16, b"\x33" * 16
EKC, EKSP = b"\x44" * 24, b"\x55" * 24
MECHS = (Mechanism("tls", 0.2), Mechanism("ipsec", 0.1))
TS = 1_700_000_000

S1 = S1Register(IDC, IDSP, N1, TS)
S2 = S2Forward(IDC, IDSP)
S5 = S5Challenge(IDC, IDSP, RAND)
S6 = S6Challenge(IDC, IDSP, RAND, N1, N2, TS + 1)
S7 = S7Response(IDC, IDSP, N1B, N2, TS + 2, AUTH, MECHS)
S8 = S8Response(IDC, IDSP, AUTH, "192.0.2.7", MECHS)
S9 = S9Success(IDC, IDSP, EKC, EKSP)
S10 = S10Success(IDC, IDSP, N1B, N2, TS + 3, EKC, "tls", MECHS, MAC)
PREQ = Protected(IDC, IDSP, "tls", 7, MAC)
PANS = Protected(IDC, IDSP, "tls", 7, b"\x66" * 16, answer=True)


def counter_rng(start: int = 0) -> Callable[[int], bytes]:
    state = [start]

    def rng(n: int) -> bytes:
        state[0] += 1
        return (state[0] % 256).to_bytes(1, "big") * n

    return rng


def wire(role: Role, host: str = "10.0.0.1", rng: Callable[[int], bytes] | None = None
         ) -> NgnRasWire:
    side = Side(role=role, host=host, port=1719, domain="ngn.example")
    return NgnRasWire(side, rng or counter_rng())


def pdu(data: bytes) -> ras.RasPdu:
    return ras.decode_ras(data)


def exchange(sender: NgnRasWire, receiver: NgnRasWire, message: FlowMessage,
             answering: Inbound | None = None) -> tuple[bytes, Inbound]:
    data = sender.encode(message, answering)
    return data, receiver.decode(data)


# --- the flow, SP topology ---------------------------------------------------------------


def test_s1_is_a_grq_and_round_trips() -> None:
    term, sp = wire(Role.TERMINAL), wire(Role.PROXY, "10.0.0.2")
    data, got = exchange(term, sp, S1)
    assert got.message == S1
    assert got.is_request
    kind, body = pdu(data)
    assert kind == "gatekeeperRequest"
    assert body["protocolIdentifier"] == "0.0.8.2250.0.4"
    assert body["rasAddress"] == ("ipAddress", {"ip": bytes([10, 0, 0, 1]), "port": 1719})
    assert "terminal" in body["endpointType"]
    assert body["endpointAlias"] == [("h323-ID", IDC)]
    assert body["nonStandardData"]["nonStandardIdentifier"] == ("object", ras.NGN_OID)
    assert isinstance(got.context, RasContext)
    assert got.context.seq == body["requestSeqNum"]
    assert got.context.kind == kind


def test_s6_is_a_grj_security_denial_answering_the_grq() -> None:
    term, sp = wire(Role.TERMINAL), wire(Role.PROXY, "10.0.0.2")
    grq, inbound = exchange(term, sp, S1)
    data, got = exchange(sp, term, S6, inbound)
    assert got.message == S6
    assert not got.is_request
    kind, body = pdu(data)
    assert kind == "gatekeeperReject"
    assert body["rejectReason"] == ("securityDenial", None)
    assert body["requestSeqNum"] == pdu(grq)[1]["requestSeqNum"]


def test_want_mechanisms_false_is_carried() -> None:
    term, sp = wire(Role.TERMINAL), wire(Role.PROXY, "10.0.0.2")
    _, inbound = exchange(term, sp, S1)
    s6 = S6Challenge(IDC, IDSP, RAND, N1, N2, TS, want_mechanisms=False)
    assert exchange(sp, term, s6, inbound)[1].message == s6


def test_s7_rrq_and_s10_rcf() -> None:
    term, sp = wire(Role.TERMINAL), wire(Role.PROXY, "10.0.0.2")
    rrq, inbound = exchange(term, sp, S7)
    assert inbound.message == S7
    assert inbound.is_request
    kind, body = pdu(rrq)
    assert kind == "registrationRequest"
    assert body["callSignalAddress"] == [("ipAddress", {"ip": bytes([10, 0, 0, 1]),
                                                        "port": 1720})]
    assert body["rasAddress"] == [("ipAddress", {"ip": bytes([10, 0, 0, 1]), "port": 1719})]
    assert body["terminalAlias"] == [("h323-ID", IDC)]
    rcf, got = exchange(sp, term, S10, inbound)
    assert got.message == S10
    assert not got.is_request
    kind, body = pdu(rcf)
    assert kind == "registrationConfirm"
    assert body["requestSeqNum"] == pdu(rrq)[1]["requestSeqNum"]
    assert len(body["endpointIdentifier"]) == 16


def test_s2_s5_s8_s9_between_sp_and_softswitch() -> None:
    sp, ss = wire(Role.PROXY, "10.0.0.2"), wire(Role.SOFTSWITCH, "10.0.0.3")
    grq, inbound = exchange(sp, ss, S2)
    assert inbound.message == S2
    kind, body = pdu(grq)
    assert kind == "gatekeeperRequest"
    assert "gatekeeper" in body["endpointType"]
    grj, got = exchange(ss, sp, S5, inbound)
    assert got.message == S5
    assert pdu(grj)[0] == "gatekeeperReject"
    rrq, inbound = exchange(sp, ss, S8)
    assert inbound.message == S8
    assert pdu(rrq)[0] == "registrationRequest"
    rcf, got = exchange(ss, sp, S9, inbound)
    assert got.message == S9
    assert pdu(rcf)[0] == "registrationConfirm"


def test_s8_without_mechanisms_and_with_ipv6() -> None:
    sp, ss = wire(Role.PROXY, "2001:db8::2"), wire(Role.SOFTSWITCH, "10.0.0.3")
    s8 = S8Response(IDC, IDSP, AUTH, "2001:db8::7", None)
    data, got = exchange(sp, ss, s8)
    assert got.message == s8
    assert pdu(data)[1]["rasAddress"][0][0] == "ip6Address"


def test_no_proxy_softswitch_takes_s1_s7_and_sends_s6_s10() -> None:
    term, ss = wire(Role.TERMINAL), wire(Role.SOFTSWITCH, "10.0.0.3")
    _, inbound = exchange(term, ss, S1)
    assert inbound.message == S1
    assert exchange(ss, term, S6, inbound)[1].message == S6
    _, inbound = exchange(term, ss, S7)
    assert inbound.message == S7
    assert exchange(ss, term, S10, inbound)[1].message == S10


def test_non_bmp_identity_travels_without_alias() -> None:
    idc = "user\U0001f600@ngn.example"
    term, sp = wire(Role.TERMINAL), wire(Role.PROXY, "10.0.0.2")
    s1 = S1Register(idc, IDSP, N1, TS)
    data, got = exchange(term, sp, s1)
    assert got.message == s1
    assert "endpointAlias" not in pdu(data)[1]


# --- refusals ------------------------------------------------------------------------------

GRJ_REASON = {
    Refusal.MALFORMED: ("undefinedReason", None),
    Refusal.UNKNOWN_TERMINAL: ("terminalExcluded", None),
    Refusal.UNKNOWN_PROXY: ("securityError", ("securityWrongSendersID", None)),
    Refusal.STALE: ("securityError", ("securityWrongSyncTime", None)),
    Refusal.REPLAY: ("securityError", ("securityReplay", None)),
    Refusal.NOT_ECHOED: ("securityError", ("securityIntegrityFailed", None)),
    Refusal.AUTH_FAILED: ("securityDenial", None),
    Refusal.NO_COMMON_MECHANISM: ("neededFeatureNotSupported", None),
    Refusal.UNAVAILABLE: ("resourceUnavailable", None),
}
RRJ_REASON = GRJ_REASON | {Refusal.UNKNOWN_TERMINAL: ("invalidAlias", None)}


@pytest.mark.parametrize("refusal", list(Refusal))
def test_refuse_answering_grq_is_grj_and_round_trips(refusal: Refusal) -> None:
    term, sp = wire(Role.TERMINAL), wire(Role.PROXY, "10.0.0.2")
    _, inbound = exchange(term, sp, S1)
    refuse = Refuse(IDC, IDSP, refusal, "why")
    data, got = exchange(sp, term, refuse, inbound)
    assert got.message == refuse
    assert not got.is_request
    kind, body = pdu(data)
    assert kind == "gatekeeperReject"
    assert body["rejectReason"] == GRJ_REASON[refusal]


@pytest.mark.parametrize("refusal", list(Refusal))
def test_refuse_answering_rrq_is_rrj_and_round_trips(refusal: Refusal) -> None:
    sp, ss = wire(Role.PROXY, "10.0.0.2"), wire(Role.SOFTSWITCH, "10.0.0.3")
    _, inbound = exchange(sp, ss, S8)
    refuse = Refuse(IDC, IDSP, refusal)
    data, got = exchange(ss, sp, refuse, inbound)
    assert got.message == refuse
    kind, body = pdu(data)
    assert kind == "registrationReject"
    assert body["rejectReason"] == RRJ_REASON[refusal]


@pytest.mark.parametrize("refusal", list(Refusal))
def test_foreign_reject_without_payload_maps_back(refusal: Refusal) -> None:
    term = wire(Role.TERMINAL)
    seq = pdu(term.encode(S7))[1]["requestSeqNum"]
    rrj = ras.encode_ras(("registrationReject", {
        "requestSeqNum": seq, "protocolIdentifier": ras.H225_V4,
        "rejectReason": RRJ_REASON[refusal]}))
    assert term.decode(rrj).message == Refuse(IDC, IDSP, refusal)


def test_long_detail_is_cut_to_255_octets() -> None:
    term, sp = wire(Role.TERMINAL), wire(Role.PROXY, "10.0.0.2")
    _, inbound = exchange(term, sp, S1)
    got = exchange(sp, term, Refuse(IDC, IDSP, Refusal.STALE, "é" * 200), inbound)[1]
    assert isinstance(got.message, Refuse)
    assert got.message.detail == "é" * 127


def test_rechallenge_is_rrj_security_denial() -> None:
    sp, ss = wire(Role.PROXY, "10.0.0.2"), wire(Role.SOFTSWITCH, "10.0.0.3")
    _, inbound = exchange(sp, ss, S8)
    data, got = exchange(ss, sp, S5, inbound)
    kind, body = pdu(data)
    assert kind == "registrationReject"
    assert body["rejectReason"] == ("securityDenial", None)
    assert got.message == Refuse(IDC, IDSP, Refusal.AUTH_FAILED, RECHALLENGE)


def test_rechallenge_without_proxy_reaches_the_terminal() -> None:
    term, ss = wire(Role.TERMINAL), wire(Role.SOFTSWITCH, "10.0.0.3")
    _, inbound = exchange(term, ss, S7)
    got = exchange(ss, term, S6, inbound)[1]
    assert got.message == Refuse(IDC, IDSP, Refusal.AUTH_FAILED, RECHALLENGE)
    # ... and the terminal starts again with a new GRQ and a fresh sequence number
    assert pdu(term.encode(S1))[0] == "gatekeeperRequest"


def test_xrs_answer_is_a_malformed_refusal() -> None:
    term = wire(Role.TERMINAL)
    seq = pdu(term.encode(S1))[1]["requestSeqNum"]
    xrs = ras.encode_ras(("unknownMessageResponse",
                          {"requestSeqNum": seq, "messageNotUnderstood": b"?"}))
    got = term.decode(xrs)
    assert got.message == Refuse(IDC, IDSP, Refusal.MALFORMED, "unknownMessageResponse")
    with pytest.raises(WireError) as err:  # answered once: a second answer is stray
        term.decode(xrs)
    assert err.value.reply is None


# --- sequence numbers and the outstanding table -------------------------------------------


def test_sequence_numbers_count_up_and_wrap() -> None:
    term = wire(Role.TERMINAL, rng=lambda n: b"\xff\xfe"[:n])  # 65534 % 65535 + 1
    seqs = [pdu(term.encode(S1))[1]["requestSeqNum"] for _ in range(3)]
    assert seqs == [65535, 1, 2]


def test_outstanding_table_is_bounded() -> None:
    term = wire(Role.TERMINAL)
    first = term.encode(S1)
    for _ in range(4096):
        term.encode(S1)
    grj = ras.encode_ras(("gatekeeperReject", {
        "requestSeqNum": pdu(first)[1]["requestSeqNum"], "protocolIdentifier": ras.H225_V4,
        "rejectReason": ("undefinedReason", None)}))
    with pytest.raises(WireError, match="no request of ours"):
        term.decode(grj)


# --- malformed and unexpected input -------------------------------------------------------


def grq_with(payload: dict[str, Any] | None, seq: int = 9, oid: str = ras.NGN_OID,
             alias: str | None = None) -> bytes:
    body: dict[str, Any] = {
        "requestSeqNum": seq, "protocolIdentifier": ras.H225_V4,
        "rasAddress": ("ipAddress", {"ip": bytes(4), "port": 1719}),
        "endpointType": {"terminal": {}, "mc": False, "undefinedNode": False}}
    if payload is not None:
        body["nonStandardData"] = {"nonStandardIdentifier": ("object", oid),
                                   "data": ras.encode_payload(payload)}
    if alias is not None:
        body["endpointAlias"] = [("h323-ID", alias)]
    return ras.encode_ras(("gatekeeperRequest", body))


GOOD_S1 = {"step": 1, "idC": IDC, "idSp": IDSP, "n1": N1, "ts1": TS}


def assert_xrs(err: WireError, seq: int, data: bytes) -> None:
    assert err.reply is not None
    assert pdu(err.reply) == ("unknownMessageResponse",
                              {"requestSeqNum": seq, "messageNotUnderstood": data})


def test_good_crafted_grq_is_accepted() -> None:
    assert wire(Role.PROXY).decode(grq_with(GOOD_S1, alias=IDC)).message == S1


@pytest.mark.parametrize("data", [
    grq_with(None),
    grq_with(GOOD_S1, oid="1.2.3.4"),
    grq_with({k: v for k, v in GOOD_S1.items() if k != "ts1"}),
    grq_with(GOOD_S1 | {"rand": RAND}),
    grq_with(GOOD_S1 | {"idC": "bad\x01id"}),
    grq_with(GOOD_S1 | {"step": 7}),
    grq_with(GOOD_S1 | {"step": 3}),
    grq_with(GOOD_S1, alias="mallory"),
    grq_with({"step": 2, "idC": IDC, "idSp": IDSP}),  # s2 is not for a PROXY
], ids=["no-payload", "foreign-oid", "missing-field", "extra-field", "bad-id",
        "rrq-step-in-grq", "unknown-step", "alias-mismatch", "wrong-role"])
def test_bad_grq_is_refused_with_xrs(data: bytes) -> None:
    with pytest.raises(WireError) as err:
        wire(Role.PROXY).decode(data)
    assert_xrs(err.value, 9, data)


def test_bad_mechanism_list_and_address_in_rrq() -> None:
    ss = wire(Role.SOFTSWITCH)
    sp = wire(Role.PROXY, "10.0.0.2")
    for payload in ({"step": 8, "idC": IDC, "idSp": IDSP, "authenticator": AUTH,
                     "address": "not-an-ip"},
                    {"step": 8, "idC": IDC, "idSp": IDSP, "authenticator": AUTH,
                     "address": "192.0.2.1", "mechanisms": "tls;q=2"}):
        good = pdu(sp.encode(S8))
        body = dict(good[1])
        body["nonStandardData"] = {"nonStandardIdentifier": ("object", ras.NGN_OID),
                                   "data": ras.encode_payload(payload)}
        data = ras.encode_ras(("registrationRequest", body))
        with pytest.raises(WireError) as err:
            ss.decode(data)
        assert_xrs(err.value, body["requestSeqNum"], data)


@pytest.mark.parametrize("data", [b"", b"\xff\xff\xff", bytes(5000), b"\x24\x00"],
                         ids=["empty", "garbage", "oversize", "uncarried-admissionRequest"])
def test_undecodable_input_has_no_reply(data: bytes) -> None:
    with pytest.raises(WireError) as err:
        wire(Role.SOFTSWITCH).decode(data)
    assert err.value.reply is None


def test_trailing_and_truncated_octets_are_refused() -> None:
    data = wire(Role.TERMINAL).encode(S7)
    ss = wire(Role.SOFTSWITCH)
    for bad in (data + b"\x00", data[:-1], data[: len(data) // 2]):
        with pytest.raises(WireError):
            ss.decode(bad)


def test_terminal_refuses_a_request_with_xrs() -> None:
    data = wire(Role.TERMINAL).encode(S1)
    with pytest.raises(WireError) as err:
        wire(Role.TERMINAL).decode(data)
    assert_xrs(err.value, pdu(data)[1]["requestSeqNum"], data)


def test_gcf_is_unexpected() -> None:
    gcf = ras.encode_ras(("gatekeeperConfirm", {"requestSeqNum": 3,
                                                "protocolIdentifier": ras.H225_V4,
                                                "rasAddress": ("ipAddress",
                                                               {"ip": bytes(4), "port": 1})}))
    with pytest.raises(WireError) as err:
        wire(Role.TERMINAL).decode(gcf)
    assert_xrs(err.value, 3, gcf)


def test_stray_or_mismatched_answers_are_refused() -> None:
    term, sp = wire(Role.TERMINAL), wire(Role.PROXY, "10.0.0.2")
    other = wire(Role.TERMINAL, rng=counter_rng(100))
    _, inbound = exchange(other, sp, S1Register("bob@ngn.example", IDSP, N1, TS))
    grj = sp.encode(S6Challenge("bob@ngn.example", IDSP, RAND, N1, N2, TS), inbound)
    with pytest.raises(WireError, match="no request of ours"):
        term.decode(grj)
    # same sequence number as ours but naming another terminal
    seq = pdu(term.encode(S1))[1]["requestSeqNum"]
    ctx = Inbound(S1, RasContext(seq, "gatekeeperRequest", "bob@ngn.example", IDSP))
    forged = sp.encode(S6Challenge("bob@ngn.example", IDSP, RAND, N1, N2, TS), ctx)
    with pytest.raises(WireError, match="another ID_c"):
        term.decode(forged)
    # an RCF cannot answer our GRQ
    ctx_rrq = Inbound(S7, RasContext(seq, "registrationRequest", IDC, IDSP))
    with pytest.raises(WireError, match="no request of ours"):
        term.decode(sp.encode(S10, ctx_rrq))
    # the genuine answer still works afterwards (a bad answer does not consume the entry)
    ctx_grq = Inbound(S1, RasContext(seq, "gatekeeperRequest", IDC, IDSP))
    assert term.decode(sp.encode(S6, ctx_grq)).message == S6


def test_proxy_does_not_take_s6_or_s10() -> None:
    sp, ss = wire(Role.PROXY, "10.0.0.2"), wire(Role.SOFTSWITCH)
    _, inbound = exchange(sp, ss, S2)
    with pytest.raises(WireError, match="step 6"):
        sp.decode(ss.encode(S6, inbound))


# --- encode refusals ------------------------------------------------------------------------


def test_encode_refuses_what_the_role_does_not_send() -> None:
    term, sp, ss = wire(Role.TERMINAL), wire(Role.PROXY), wire(Role.SOFTSWITCH)
    with pytest.raises(InvalidInput):
        term.encode(Refuse(IDC, IDSP, Refusal.MALFORMED))
    with pytest.raises(InvalidInput):
        ss.encode(S1)
    with pytest.raises(InvalidInput):
        sp.encode(S5)
    with pytest.raises(InvalidInput):
        sp.encode(Ack(IDC, IDSP))


def test_encode_needs_a_decoded_request_to_answer() -> None:
    term, sp = wire(Role.TERMINAL), wire(Role.PROXY, "10.0.0.2")
    with pytest.raises(InvalidInput):
        sp.encode(S6)
    _, grq = exchange(term, sp, S1)
    with pytest.raises(InvalidInput, match="RRQ"):
        sp.encode(S10, grq)
    with pytest.raises(InvalidInput):
        term.encode(S1, grq)


@pytest.mark.parametrize("message", [
    S1Register(IDC, IDSP, N1[:15], TS),
    S1Register(IDC, IDSP, N1, -1),
    S1Register(IDC, IDSP, N1, 2**32),
    S1Register("", IDSP, N1, TS),
    S7Response(IDC, IDSP, N1, N2, TS, AUTH, ()),
])
def test_encode_validates_fields(message: FlowMessage) -> None:
    with pytest.raises(InvalidInput):
        wire(Role.TERMINAL).encode(message)


def test_host_must_be_an_ip_address() -> None:
    with pytest.raises(InvalidInput):
        NgnRasWire(Side(role=Role.TERMINAL, host="sp.example", port=1719, domain="d"))


def test_wire_attributes() -> None:
    w = wire(Role.PROXY)
    assert w.name == "h323-ras"
    assert w.commands_only is False


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_fuzzed_messages_decode_or_raise_wire_error(data: st.DataObject) -> None:
    term = wire(Role.TERMINAL)
    sample = bytearray(data.draw(st.sampled_from([term.encode(S1), term.encode(S7),
                                                      term.encode(PREQ)])))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(sample) - 1))
        sample[pos] = data.draw(st.integers(0, 255))
    for role in Role:
        with contextlib.suppress(WireError):
            wire(role, "10.0.0.9").decode(bytes(sample))


# --- Protected: keep-alive RRQ and its RCF (step 12) -----------------------------------------


def registered(term: NgnRasWire, sp: NgnRasWire) -> str:
    """Run s7/s10 between ``term`` and ``sp``; the RCF's endpointIdentifier."""
    _, inbound = exchange(term, sp, S7)
    rcf, got = exchange(sp, term, S10, inbound)
    assert got.message == S10
    endpoint_id = pdu(rcf)[1]["endpointIdentifier"]
    assert isinstance(endpoint_id, str)
    return endpoint_id


def test_protected_request_is_a_keep_alive_rrq_and_its_answer_the_rcf() -> None:
    term, sp = wire(Role.TERMINAL), wire(Role.PROXY, "10.0.0.2")
    endpoint_id = registered(term, sp)
    rrq, inbound = exchange(term, sp, PREQ)
    assert inbound.message == PREQ
    assert inbound.is_request
    kind, body = pdu(rrq)
    assert kind == "registrationRequest"
    assert body["keepAlive"] is True
    assert body["willSupplyUUIEs"] is False
    assert body["maintainConnection"] is False
    assert body["endpointIdentifier"] == endpoint_id
    assert body["terminalAlias"] == [("h323-ID", IDC)]
    assert body["gatekeeperIdentifier"] == "ngn.example"
    payload = ras.decode_payload(body["nonStandardData"]["data"])
    assert payload == {"step": PROTECTED_STEP, "idC": IDC, "idSp": IDSP, "chosen": "tls",
                       "seq": 7, "mac": MAC}
    assert inbound.context == RasContext(body["requestSeqNum"], kind, IDC, IDSP, True,
                                         endpoint_id)
    rcf, got = exchange(sp, term, PANS, inbound)
    assert got.message == PANS
    assert not got.is_request
    kind, answer = pdu(rcf)
    assert kind == "registrationConfirm"
    assert answer["requestSeqNum"] == body["requestSeqNum"]
    assert answer["endpointIdentifier"] == endpoint_id
    assert ras.decode_payload(answer["nonStandardData"]["data"])["step"] == PROTECTED_STEP
    with pytest.raises(WireError, match="no request of ours"):  # answered once
        term.decode(rcf)


def test_protected_before_any_rcf_has_no_endpoint_identifier() -> None:
    term, sp = wire(Role.TERMINAL), wire(Role.PROXY, "10.0.0.2")
    rrq, inbound = exchange(term, sp, PREQ)
    assert "endpointIdentifier" not in pdu(rrq)[1]
    assert isinstance(inbound.context, RasContext)
    assert inbound.context.endpoint_id is None
    rcf, got = exchange(sp, term, PANS, inbound)
    assert got.message == PANS
    assert len(pdu(rcf)[1]["endpointIdentifier"]) == 16


@pytest.mark.parametrize("seq", [0, 1, 2**32 - 1])
def test_protected_seq_round_trips_with_a_softswitch(seq: int) -> None:
    term, ss = wire(Role.TERMINAL), wire(Role.SOFTSWITCH, "10.0.0.3")
    request = Protected(IDC, IDSP, "ipsec-3gpp", seq, MAC)
    _, inbound = exchange(term, ss, request)
    assert inbound.message == request
    answer = Protected(IDC, IDSP, "ipsec-3gpp", seq, bytes(16), answer=True)
    assert exchange(ss, term, answer, inbound)[1].message == answer


def test_protected_is_told_apart_from_s7_and_s8() -> None:
    term, sp = wire(Role.TERMINAL), wire(Role.PROXY, "10.0.0.2")
    ss = wire(Role.SOFTSWITCH, "10.0.0.3")
    assert sp.decode(term.encode(S7)).message == S7
    assert sp.decode(term.encode(PREQ)).message == PREQ
    assert ss.decode(sp.encode(S8)).message == S8
    assert ss.decode(term.encode(PREQ)).message == PREQ
    s7 = pdu(term.encode(S7))[1]
    assert "keepAlive" not in s7  # s7/s8 RRQs stay root-only (extension bit 0)


@pytest.mark.parametrize("refusal", list(Refusal))
def test_refuse_answering_protected_is_rrj(refusal: Refusal) -> None:
    term, sp = wire(Role.TERMINAL), wire(Role.PROXY, "10.0.0.2")
    _, inbound = exchange(term, sp, PREQ)
    refuse = Refuse(IDC, IDSP, refusal, "refresh")
    data, got = exchange(sp, term, refuse, inbound)
    assert got.message == refuse
    kind, body = pdu(data)
    assert kind == "registrationReject"
    assert body["rejectReason"] == RRJ_REASON[refusal]


def test_foreign_rrj_answering_protected_maps_back() -> None:
    term = wire(Role.TERMINAL)
    seq = pdu(term.encode(PREQ))[1]["requestSeqNum"]
    rrj = ras.encode_ras(("registrationReject", {
        "requestSeqNum": seq, "protocolIdentifier": ras.H225_V4,
        "rejectReason": ("securityError", ("securityReplay", None))}))
    assert term.decode(rrj).message == Refuse(IDC, IDSP, Refusal.REPLAY)


def test_rechallenge_answering_protected() -> None:
    term, ss = wire(Role.TERMINAL), wire(Role.SOFTSWITCH, "10.0.0.3")
    _, inbound = exchange(term, ss, PREQ)
    got = exchange(ss, term, S6, inbound)[1]
    assert got.message == Refuse(IDC, IDSP, Refusal.AUTH_FAILED, RECHALLENGE)


def rrq_with(payload: dict[str, Any], keep_alive: bool | None, seq: int = 11) -> bytes:
    """A terminal's RRQ with ``payload`` and keepAlive (None: root only)."""
    body = dict(pdu(wire(Role.TERMINAL).encode(S7))[1])
    body["requestSeqNum"] = seq
    body["nonStandardData"] = {"nonStandardIdentifier": ("object", ras.NGN_OID),
                               "data": ras.encode_payload(payload)}
    if keep_alive is not None:
        body |= {"keepAlive": keep_alive, "willSupplyUUIEs": False,
                 "maintainConnection": False}
    return ras.encode_ras(("registrationRequest", body))


GOOD_P = {"step": PROTECTED_STEP, "idC": IDC, "idSp": IDSP, "chosen": "tls", "seq": 7,
          "mac": MAC}
GOOD_S7 = {"step": 7, "idC": IDC, "idSp": IDSP, "n1": N1B, "n2": N2, "ts3": TS + 2,
           "authenticator": AUTH, "mechanisms": "tls;q=0.2,ipsec;q=0.1"}


def test_good_crafted_keep_alive_rrq_is_accepted() -> None:
    assert wire(Role.PROXY).decode(rrq_with(GOOD_P, True)).message == PREQ
    assert wire(Role.PROXY).decode(rrq_with(GOOD_S7, False)).message == S7


@pytest.mark.parametrize("data", [
    rrq_with(GOOD_P, None),
    rrq_with(GOOD_P, False),
    rrq_with(GOOD_S7, True),
    rrq_with({k: v for k, v in GOOD_P.items() if k != "seq"}, True),
    rrq_with({k: v for k, v in GOOD_P.items() if k != "mac"}, True),
    rrq_with({k: v for k, v in GOOD_P.items() if k != "chosen"}, True),
    rrq_with(GOOD_P | {"n1": N1}, True),
    rrq_with(GOOD_S7 | {"seq": 7}, None),
    rrq_with(GOOD_P | {"chosen": "t l s"}, True),
    rrq_with(GOOD_P | {"idSp": "bad\x01id"}, True),
], ids=["step12-no-keepalive", "step12-keepalive-false", "s7-with-keepalive", "no-seq",
        "no-mac", "no-mechanism", "extra-field", "seq-in-s7", "bad-mechanism", "bad-id"])
def test_bad_keep_alive_rrq_is_refused_with_xrs(data: bytes) -> None:
    with pytest.raises(WireError) as err:
        wire(Role.PROXY).decode(data)
    assert_xrs(err.value, 11, data)


def test_malformed_payload_octets_are_refused() -> None:
    with pytest.raises(ras.RasCodecError):
        ras.encode_payload(GOOD_P | {"seq": 2**32})
    with pytest.raises(ras.RasCodecError):
        ras.encode_payload(GOOD_P | {"mac": MAC[:15]})
    good = ras.encode_payload(GOOD_P)
    with pytest.raises(ras.RasCodecError):
        ras.decode_payload(good + b"\x00")


def test_earlier_payload_encodings_still_decode() -> None:
    """Octets of the payload type before ``seq`` and step 12 existed (step 0..11)."""
    old = bytes.fromhex(
        "4857280361406202737000000000000000000000000000000000000102030405060708090a0b0c0d"
        "0e0f09746c733b713d302e32444444444444444444444444444444444444444444444444000702746c"
        "7333333333333333333333333333333333")
    value = {"step": 10, "idC": "a@b", "idSp": "sp", "n1": bytes(16), "n2": bytes(range(16)),
             "ts4": 7, "eKc": b"\x44" * 24, "chosen": "tls", "mechanisms": "tls;q=0.2",
             "mac": b"\x33" * 16}
    assert ras.decode_payload(old) == value
    assert ras.encode_payload(value) == old
    refusal = bytes.fromhex("0000c001610162180164")
    assert ras.decode_payload(refusal) == {"step": 0, "idC": "a", "idSp": "b",
                                           "refusal": "stale", "detail": "d"}


def test_terminal_refuses_a_keep_alive_rrq_with_xrs() -> None:
    data = wire(Role.TERMINAL).encode(PREQ)
    with pytest.raises(WireError) as err:
        wire(Role.TERMINAL).decode(data)
    assert_xrs(err.value, pdu(data)[1]["requestSeqNum"], data)


def test_protected_answers_are_paired_with_their_requests() -> None:
    term, sp = wire(Role.TERMINAL), wire(Role.PROXY, "10.0.0.2")
    # an RCF of step 12 cannot answer our s7 RRQ ...
    seq = pdu(term.encode(S7))[1]["requestSeqNum"]
    keep = Inbound(PREQ, RasContext(seq, "registrationRequest", IDC, IDSP, True))
    with pytest.raises(WireError, match="step 12"):
        term.decode(sp.encode(PANS, keep))
    # ... and an s10 RCF cannot answer our keep-alive RRQ
    seq2 = pdu(term.encode(PREQ))[1]["requestSeqNum"]
    plain = Inbound(S7, RasContext(seq2, "registrationRequest", IDC, IDSP))
    with pytest.raises(WireError, match="step 12"):
        term.decode(sp.encode(S10, plain))
    # both entries survive the bad answers
    assert term.decode(sp.encode(S10, Inbound(S7, RasContext(
        seq, "registrationRequest", IDC, IDSP)))).message == S10
    assert term.decode(sp.encode(PANS, Inbound(PREQ, RasContext(
        seq2, "registrationRequest", IDC, IDSP, True)))).message == PANS


def test_proxy_does_not_take_a_protected_answer() -> None:
    sp, ss = wire(Role.PROXY, "10.0.0.2"), wire(Role.SOFTSWITCH, "10.0.0.3")
    _, inbound = exchange(sp, ss, S8)
    forged = Inbound(PREQ, RasContext(inbound.context.seq, "registrationRequest", IDC, IDSP,
                                      True))
    with pytest.raises(WireError, match="step 12"):
        sp.decode(ss.encode(PANS, forged))


def test_encode_protected_by_role_and_position() -> None:
    term, sp, ss = wire(Role.TERMINAL), wire(Role.PROXY, "10.0.0.2"), wire(Role.SOFTSWITCH)
    with pytest.raises(InvalidInput, match="answer"):
        term.encode(PANS)
    with pytest.raises(InvalidInput, match="request"):  # the SP does not forward it
        sp.encode(PREQ)
    with pytest.raises(InvalidInput, match="request"):
        ss.encode(PREQ)
    _, keep = exchange(term, sp, PREQ)
    with pytest.raises(InvalidInput):
        term.encode(PREQ, keep)
    with pytest.raises(InvalidInput, match="keep-alive"):
        sp.encode(S10, keep)
    with pytest.raises(InvalidInput):
        sp.encode(PANS)
    _, s7 = exchange(term, sp, S7)
    with pytest.raises(InvalidInput, match="keep-alive"):
        sp.encode(PANS, s7)
    _, grq = exchange(term, sp, S1)
    with pytest.raises(InvalidInput, match="RRQ"):
        sp.encode(PANS, grq)


@pytest.mark.parametrize("message", [
    Protected(IDC, IDSP, "tls", -1, MAC),
    Protected(IDC, IDSP, "tls", 2**32, MAC),
    Protected(IDC, IDSP, "tls", True, MAC),
    Protected(IDC, IDSP, "tls", 1, MAC[:15]),
    Protected(IDC, IDSP, "tls", 1, MAC + b"\x00"),
    Protected(IDC, IDSP, "", 1, MAC),
    Protected(IDC, IDSP, "t;ls", 1, MAC),
    Protected("", IDSP, "tls", 1, MAC),
], ids=["seq-negative", "seq-too-big", "seq-bool", "mac-short", "mac-long", "no-mechanism",
        "bad-mechanism", "no-id"])
def test_encode_validates_protected_fields(message: Protected) -> None:
    with pytest.raises(InvalidInput):
        wire(Role.TERMINAL).encode(message)


def test_endpoint_identifier_table_is_bounded() -> None:
    term, sp = wire(Role.TERMINAL), wire(Role.PROXY, "10.0.0.2")
    registered(term, sp)
    for i in range(4096):
        other = S10Success(f"t{i}@ngn.example", IDSP, N1B, N2, TS, EKC, "tls", MECHS, MAC)
        _, inbound = exchange(term, sp, S7Response(other.id_c, IDSP, N1B, N2, TS, AUTH,
                                                   MECHS))
        term.decode(sp.encode(other, inbound))
    assert "endpointIdentifier" not in pdu(term.encode(PREQ))[1]

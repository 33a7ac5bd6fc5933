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
from gba.protocols.ngn_ras import RECHALLENGE, NgnRasWire, RasContext

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
    sample = bytearray(data.draw(st.sampled_from([term.encode(S1), term.encode(S7)])))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(sample) - 1))
        sample[pos] = data.draw(st.integers(0, 255))
    for role in Role:
        with contextlib.suppress(WireError):
            wire(role, "10.0.0.9").decode(bytes(sample))

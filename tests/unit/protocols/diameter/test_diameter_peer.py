"""Diameter peer state machine (RFC 6733 §5, RFC 3539 watchdog), two machines back to back.

The machine has one output path (as h11): inputs return nothing, bytes come out of
``data_to_send()`` and events out of ``pop_events()``; the helpers below drain both.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gba.errors import ProtocolError
from gba.protocols.diameter import (
    APP_RELAY,
    APP_ZH,
    APP_ZN,
    CMD_BOOTSTRAPPING_INFO,
    CMD_DEVICE_WATCHDOG,
    CMD_DISCONNECT_PEER,
    CMD_MULTIMEDIA_AUTH,
    FLAG_RETRANSMIT,
    VENDOR_3GPP,
    AnswerReceived,
    Application,
    Event,
    Message,
    PeerClosed,
    PeerConnection,
    PeerIdentity,
    PeerOpen,
    PeerState,
    ProtocolViolation,
    RequestReceived,
    ResultCode,
    Role,
    avp,
    message_length,
)
from gba.protocols.diameter.capabilities import announced_applications, build_cer

ZH: Application = (VENDOR_3GPP, APP_ZH)
ZN: Application = (VENDOR_3GPP, APP_ZN)
RELAY: Application = (0, APP_RELAY)
BSF = PeerIdentity("bsf.example.org", "example.org", (ip_address("192.0.2.1"),),
                   vendor_id=VENDOR_3GPP, origin_state_id=1)
HSS = PeerIdentity("hss.example.org", "example.org", (ip_address("2001:db8::2"),))
TW = 30.0


def _pair(client_apps: set[Application] | None = None,
          server_apps: set[Application] | None = None) -> tuple[PeerConnection, PeerConnection]:
    client = PeerConnection(BSF, Role.INITIATOR, client_apps or {ZH}, tw=TW)
    server = PeerConnection(HSS, Role.RESPONDER, server_apps or {ZH}, tw=TW)
    return client, server


def _feed(conn: PeerConnection, data: bytes, now: float) -> list[Event]:
    """Receive *data* and return every event it produced."""
    conn.receive_data(data, now)
    return conn.pop_events()


def _connect(conn: PeerConnection, now: float) -> bytes:
    """Transport up; return the bytes to write (an initiator's CER)."""
    conn.connection_made(now)
    return conn.data_to_send()


def _tick(conn: PeerConnection, now: float) -> bytes:
    """Run the timers; return the bytes to write (DWR or nothing)."""
    conn.timer(now)
    return conn.data_to_send()


def _send(conn: PeerConnection, message: Message, now: float = 1.0, *,
          end_to_end: int | None = None, retransmit: bool = False) -> tuple[Message, bytes]:
    """Send a request; return it as stamped on the wire, and the bytes to write."""
    hop_by_hop = conn.send_request(message, now, end_to_end=end_to_end, retransmit=retransmit)
    wire = conn.data_to_send()
    stamped = Message.decode(wire)
    assert stamped.hop_by_hop == hop_by_hop
    return stamped, wire


def _answer(conn: PeerConnection, request: Message, answer: Message) -> bytes:
    conn.send_answer(request, answer)
    return conn.data_to_send()


def _handshake(client: PeerConnection, server: PeerConnection, now: float = 0.0) -> None:
    server.connection_made(now)
    server.receive_data(_connect(client, now), now)
    client.receive_data(server.data_to_send(), now)


def _open(now: float = 0.0) -> tuple[PeerConnection, PeerConnection]:
    client, server = _pair()
    _handshake(client, server, now)
    assert _state(client) is PeerState.OPEN
    assert _state(server) is PeerState.OPEN
    assert [type(e) for e in client.pop_events()] == [PeerOpen]
    assert [type(e) for e in server.pop_events()] == [PeerOpen]
    return client, server


def _mar(session: str = "bsf;1") -> Message:
    return Message.new(CMD_MULTIMEDIA_AUTH, APP_ZH, avps=[
        avp("Session-Id", session), avp("User-Name", "impi@example.org")])


def _bir(session: str = "naf;1") -> Message:
    return Message.new(CMD_BOOTSTRAPPING_INFO, APP_ZN, avps=[avp("Session-Id", session)])


def _only(events: list[Event], kind: type) -> list[Event]:
    return [e for e in events if isinstance(e, kind)]


def _requests(events: list[Event]) -> list[RequestReceived]:
    return [e for e in events if isinstance(e, RequestReceived)]


def _state(connection: PeerConnection) -> PeerState:
    """Read the state through a call so mypy does not keep an earlier narrowing."""
    return connection.state


def test_cer_cea_handshake_opens_both_sides() -> None:
    client, server = _pair()
    assert _state(client) is PeerState.WAIT_CONN_ACK
    assert _state(server) is PeerState.WAIT_CER
    server.connection_made(0.0)
    assert server.data_to_send() == b""  # a responder waits for the CER
    cer = _connect(client, 0.0)
    assert _state(client) is PeerState.WAIT_I_CEA

    server_events = _feed(server, cer, 0.1)
    client_events = _feed(client, server.data_to_send(), 0.2)

    assert server_events == [PeerOpen("bsf.example.org", frozenset({ZH}), "example.org")]
    assert client_events == [PeerOpen("hss.example.org", frozenset({ZH}), "example.org")]


def test_cer_announces_3gpp_applications_as_vendor_specific() -> None:
    cer = Message.decode(build_cer(BSF, {ZH}).encode())
    vsai = cer.find(260)
    assert vsai is not None
    assert cer.find(258) is None
    assert [(c.code, c.as_int()) for c in vsai.children()] == [(266, VENDOR_3GPP), (258, APP_ZH)]
    supported = cer.find(265)
    assert supported is not None
    assert supported.as_int() == VENDOR_3GPP


def test_plain_auth_application_id_peer_still_matches() -> None:
    client, server = _pair(client_apps={(0, APP_ZH)}, server_apps={ZH})
    server.connection_made(0.0)
    events = _feed(server, _connect(client, 0.0), 0.0)
    assert events == [PeerOpen("bsf.example.org", frozenset({ZH}), "example.org")]


def test_no_common_application_answers_5010_and_closes() -> None:
    client, server = _pair(client_apps={ZH}, server_apps={ZN})
    server.connection_made(0.0)
    server_events = _feed(server, _connect(client, 0.0), 0.0)
    cea_bytes = server.data_to_send()

    assert Message.decode(cea_bytes).result_code == ResultCode.NO_COMMON_APPLICATION
    assert _state(server) is PeerState.CLOSED
    assert _only(server_events, PeerClosed) == [PeerClosed("no common application")]
    client_events = _feed(client, cea_bytes, 0.0)
    assert _state(client) is PeerState.CLOSED
    assert isinstance(client_events[0], PeerClosed)
    assert "5010" in client_events[0].reason


def test_request_and_answer_flow_end_to_end() -> None:
    client, server = _open()
    stamped, wire = _send(client, _mar())
    (received,) = _feed(server, wire, 1.0)
    assert isinstance(received, RequestReceived)
    assert received.message == stamped

    answer = received.message.answer([avp("Session-Id", "bsf;1"), avp("Result-Code", 2001)])
    (got,) = _feed(client, _answer(server, received.message, answer), 1.0)
    assert isinstance(got, AnswerReceived)
    assert got.request == stamped
    assert got.request_hop_by_hop == stamped.hop_by_hop
    assert not got.message.is_request
    assert got.message.end_to_end == stamped.end_to_end


def test_answers_are_routed_by_hop_by_hop_in_any_order() -> None:
    client, server = _open()
    first, w1 = _send(client, _mar("s;1"))
    second, w2 = _send(client, _mar("s;2"))
    requests = [e.message for e in _feed(server, w1 + w2, 1.0)
                if isinstance(e, RequestReceived)]
    answers = b"".join(_answer(server, r, r.answer([avp("Result-Code", 2001)]))
                       for r in reversed(requests))
    events = _feed(client, answers, 1.0)
    matched = [(e.request_hop_by_hop, e.request) for e in events if isinstance(e, AnswerReceived)]
    assert matched == [(second.hop_by_hop, second), (first.hop_by_hop, first)]


def test_answer_with_unknown_hop_by_hop_is_discarded() -> None:
    client, _ = _open()
    stray = Message.new(CMD_MULTIMEDIA_AUTH, APP_ZH, request=False, hop_by_hop=0xDEAD,
                        avps=[avp("Result-Code", 2001)])
    events = _feed(client, stray.encode(), 1.0)
    assert len(events) == 1
    assert isinstance(events[0], ProtocolViolation)
    assert not events[0].fatal
    assert _state(client) is PeerState.OPEN


def test_watchdog_sends_dwr_after_tw_and_dwa_keeps_the_peer_open() -> None:
    client, server = _open(0.0)
    assert _tick(client, TW - 0.5) == b""
    dwr = _tick(client, TW)
    assert Message.decode(dwr).command_code == CMD_DEVICE_WATCHDOG
    assert _feed(server, dwr, TW) == []
    assert _feed(client, server.data_to_send(), TW + 0.1) == []
    assert _tick(client, 2 * TW) == b""  # the DWA reset the watchdog at TW + 0.1
    assert _state(client) is PeerState.OPEN


def test_watchdog_closes_after_a_missed_dwa() -> None:
    client, _ = _open(0.0)
    stamped, _ = _send(client, _mar())
    assert _tick(client, TW) != b""
    assert _tick(client, 2 * TW) == b""
    assert _state(client) is PeerState.CLOSED
    (closed,) = client.pop_events()
    assert isinstance(closed, PeerClosed)
    assert "watchdog" in closed.reason
    assert closed.unanswered == (stamped,)


def test_traffic_postpones_the_watchdog() -> None:
    client, server = _open(0.0)
    request = Message.new(CMD_MULTIMEDIA_AUTH, APP_ZH, avps=[avp("Session-Id", "h;1")])
    _, wire = _send(server, request, 20.0)
    client.receive_data(wire, 20.0)
    assert _tick(client, TW + 1) == b""
    assert client.next_deadline() == 20.0 + TW


def test_dpr_dpa_closes_both_sides() -> None:
    client, server = _open()
    client.disconnect(1.0)
    dpr = client.data_to_send()
    assert Message.decode(dpr).command_code == CMD_DISCONNECT_PEER
    assert _state(client) is PeerState.CLOSING
    server_events = _feed(server, dpr, 1.0)
    assert _state(server) is PeerState.CLOSED
    assert _only(server_events, PeerClosed) == [
        PeerClosed("peer sent DPR (DO_NOT_WANT_TO_TALK_TO_YOU)")]
    client_events = _feed(client, server.data_to_send(), 1.0)
    assert _state(client) is PeerState.CLOSED
    assert client_events == [PeerClosed("disconnected: DPA received")]


def test_missing_dpa_closes_after_tw() -> None:
    client, _ = _open()
    client.disconnect(0.0)
    client.timer(TW)
    assert _state(client) is PeerState.CLOSED


def test_missing_cea_closes_after_tw() -> None:
    client, _ = _pair()
    client.connection_made(0.0)
    client.timer(TW)
    assert _state(client) is PeerState.CLOSED
    assert client.pop_events() == [PeerClosed("no CEA within Tw=30s")]


def test_split_chunks_reassemble() -> None:
    client, server = _open()
    _, wire = _send(client, _mar())
    events: list[Event] = []
    for i in range(len(wire)):
        events += _feed(server, wire[i:i + 1], 1.0)
        if i < len(wire) - 1:
            assert events == []
    assert len(_only(events, RequestReceived)) == 1


def test_coalesced_messages_in_one_chunk() -> None:
    client, server = _open()
    wire = _send(client, _mar("s;1"))[1] + _send(client, _mar("s;2"))[1]
    events = _feed(server, wire[:7], 1.0) + _feed(server, wire[7:], 1.0)
    sessions = [e.message.find(263) for e in _requests(events)]
    assert [s.as_str() for s in sessions if s is not None] == ["s;1", "s;2"]


def test_unsupported_application_is_answered_3007() -> None:
    _, server = _open()
    request = Message.new(CMD_BOOTSTRAPPING_INFO, APP_ZN, hop_by_hop=77, end_to_end=78,
                          avps=[avp("Session-Id", "naf;1")])
    events = _feed(server, request.encode(), 1.0)
    assert _only(events, RequestReceived) == []
    answer = Message.decode(server.data_to_send())
    assert answer.result_code == ResultCode.APPLICATION_UNSUPPORTED
    assert answer.is_error
    assert answer.hop_by_hop == 77
    assert not answer.is_request


def test_malformed_request_is_answered_with_its_codec_result() -> None:
    client, server = _open()
    _, good = _send(client, _mar())
    bad = bytearray(good)
    bad[20 + 4:20 + 8] = (0x40000003).to_bytes(4, "big")  # first AVP length 3 < 8
    events = _feed(server, bytes(bad), 1.0)
    (violation,) = events
    assert isinstance(violation, ProtocolViolation)
    assert violation.offset == 20
    answer = Message.decode(server.data_to_send())
    assert answer.result_code == ResultCode.INVALID_AVP_LENGTH
    assert answer.hop_by_hop == int.from_bytes(good[12:16], "big")
    assert _state(server) is PeerState.OPEN


def test_garbage_stream_is_a_fatal_violation_not_a_crash() -> None:
    _, server = _open()
    events = _feed(server, b"\x07garbage garbage garbage", 1.0)
    assert isinstance(events[0], ProtocolViolation)
    assert events[0].fatal
    assert isinstance(events[1], PeerClosed)
    assert _state(server) is PeerState.CLOSED


def test_application_request_before_cer_is_fatal() -> None:
    _, server = _pair()
    server.connection_made(0.0)
    events = _feed(server, _mar().encode(), 0.0)
    assert _state(server) is PeerState.CLOSED
    assert isinstance(events[-1], PeerClosed)


def test_oversized_message_is_refused_before_buffering() -> None:
    server = PeerConnection(HSS, Role.RESPONDER, {ZH}, max_message_size=1024)
    server.connection_made(0.0)
    events = _feed(server, b"\x01\x10\x00\x00" + bytes(16), 0.0)
    assert _state(server) is PeerState.CLOSED
    assert isinstance(events[0], ProtocolViolation)


def test_sending_outside_open_raises() -> None:
    client, _ = _pair()
    with pytest.raises(ProtocolError):
        client.send_request(_mar(), 0.0)


def test_request_for_unnegotiated_application_raises() -> None:
    client, _ = _open()
    with pytest.raises(ProtocolError):
        client.send_request(Message.new(CMD_BOOTSTRAPPING_INFO, APP_ZN), 1.0)
    assert client.data_to_send() == b""


def test_injected_ids_are_used() -> None:
    ids = iter(range(100, 200))
    client = PeerConnection(BSF, Role.INITIATOR, {ZH}, hop_by_hop=lambda: next(ids),
                            end_to_end=lambda: 0xABC00001)
    cer = Message.decode(_connect(client, 0.0))
    assert (cer.hop_by_hop, cer.end_to_end) == (100, 0xABC00001)


@given(st.lists(st.binary(max_size=64), max_size=8))
def test_any_bytes_after_open_never_raise(chunks: list[bytes]) -> None:
    _, server = _open()
    for chunk in chunks:
        server.receive_data(chunk, 1.0)
        server.data_to_send()
        server.pop_events()


def test_peer_filter_refuses_a_cer_with_3010_and_closes() -> None:
    client, server = _pair()
    seen: list[str] = []

    def refuse(origin: str) -> str | None:
        seen.append(origin)
        return "certificate names someone else"

    server.peer_filter = refuse
    server.connection_made(0.0)
    server_events = _feed(server, _connect(client, 0.0), 0.0)
    cea = Message.decode(server.data_to_send())
    assert seen == [BSF.origin_host]
    assert cea.result_code == ResultCode.UNKNOWN_PEER
    assert _state(server) is PeerState.CLOSED
    assert _only(server_events, PeerOpen) == []
    client.receive_data(cea.encode(), 0.0)
    assert _state(client) is PeerState.CLOSED


def test_peer_filter_accepting_opens_normally() -> None:
    client, server = _pair()
    server.peer_filter = lambda origin: None
    _handshake(client, server)
    assert _state(server) is PeerState.OPEN
    assert _state(client) is PeerState.OPEN


# ------------------------------------------------------------------ one output path


def test_inputs_return_nothing_and_output_is_only_drained() -> None:
    client, server = _pair()
    results: list[object] = []

    def run(step: Callable[[], object]) -> None:
        results.append(step())

    run(lambda: server.connection_made(0.0))
    run(lambda: client.connection_made(0.0))
    cer = client.data_to_send()
    assert Message.decode(cer).command_code == 257
    assert client.data_to_send() == b""  # drained: nothing is handed out twice
    assert client.pop_events() == []
    run(lambda: server.receive_data(cer, 0.0))
    assert [type(e) for e in server.pop_events()] == [PeerOpen]
    assert server.pop_events() == []
    run(lambda: client.receive_data(server.data_to_send(), 0.0))
    assert [type(e) for e in client.pop_events()] == [PeerOpen]

    hop_by_hop = client.send_request(_mar(), 1.0)
    run(lambda: server.receive_data(client.data_to_send(), 1.0))
    (received,) = server.pop_events()
    assert isinstance(received, RequestReceived)
    assert received.message.hop_by_hop == hop_by_hop
    request = received.message
    run(lambda: server.send_answer(request, request.answer([avp("Result-Code", 2001)])))
    run(lambda: client.receive_data(server.data_to_send(), 1.0))
    assert [type(e) for e in client.pop_events()] == [AnswerReceived]

    # Output queued by several inputs comes out together, oldest first.
    run(lambda: client.timer(1.0 + TW))
    run(lambda: client.disconnect(2.0 + TW))
    queued = client.data_to_send()
    split = message_length(queued)
    assert split is not None
    first, second = Message.decode(queued[:split]), Message.decode(queued[split:])
    assert (first.command_code, second.command_code) == (CMD_DEVICE_WATCHDOG,
                                                         CMD_DISCONNECT_PEER)
    run(lambda: client.connection_lost("test over"))
    assert client.pop_events() == [PeerClosed("test over")]
    assert client.pop_events() == []
    assert results == [None] * 10


def test_send_request_keeps_a_given_end_to_end_id() -> None:
    client, _ = _open()
    stamped, _ = _send(client, _mar(), end_to_end=0x12345678)
    assert stamped.end_to_end == 0x12345678
    assert not stamped.is_retransmit


def test_send_request_draws_a_fresh_end_to_end_id_by_default() -> None:
    client = PeerConnection(BSF, Role.INITIATOR, {ZH}, tw=TW,
                            end_to_end=iter(range(500, 600)).__next__)
    server = PeerConnection(HSS, Role.RESPONDER, {ZH}, tw=TW)
    _handshake(client, server)
    first, _ = _send(client, _mar("s;1"))
    second, _ = _send(client, _mar("s;2"))
    assert (first.end_to_end, second.end_to_end) == (501, 502)  # 500 went to the CER


def test_retransmit_sets_the_t_flag() -> None:
    client, server = _open()
    stamped, wire = _send(client, _mar(), end_to_end=7, retransmit=True)
    assert stamped.flags & FLAG_RETRANSMIT == 0x10
    assert stamped.is_retransmit
    assert stamped.end_to_end == 7
    (received,) = _feed(server, wire, 1.0)
    assert isinstance(received, RequestReceived)
    assert received.message.is_retransmit


def test_peer_announcing_only_relay_is_accepted() -> None:
    relay, server = _pair(client_apps={RELAY}, server_apps={ZH})
    server.connection_made(0.0)
    cer = _connect(relay, 0.0)
    assert announced_applications(Message.decode(cer)) == {RELAY}
    server_events = _feed(server, cer, 0.0)
    cea = server.data_to_send()
    assert Message.decode(cea).result_code == ResultCode.SUCCESS
    assert server_events == [PeerOpen("bsf.example.org", frozenset({ZH}), "example.org")]
    relay_events = _feed(relay, cea, 0.0)
    assert relay_events == [PeerOpen("hss.example.org", frozenset({ZH}), "example.org")]
    assert _state(server) is PeerState.OPEN
    assert _state(relay) is PeerState.OPEN


def test_requests_of_our_applications_go_to_a_relay_peer() -> None:
    relay, server = _pair(client_apps={RELAY}, server_apps={ZH})
    _handshake(relay, server)
    assert [type(e) for e in relay.pop_events()] == [PeerOpen]
    assert server.supports(APP_ZH)
    stamped, wire = _send(server, _mar())
    (received,) = _feed(relay, wire, 1.0)
    assert isinstance(received, RequestReceived)
    assert received.message == stamped


def test_a_relay_accepts_a_request_of_an_application_it_did_not_list() -> None:
    client, relay = _pair(client_apps={ZN}, server_apps={RELAY})
    _handshake(client, relay)
    assert [type(e) for e in relay.pop_events()] == [PeerOpen]
    assert relay.supports(APP_ZN)
    _, wire = _send(client, _bir())
    (received,) = _feed(relay, wire, 1.0)
    assert isinstance(received, RequestReceived)
    assert received.message.application_id == APP_ZN
    assert relay.data_to_send() == b""  # no 3007 answer

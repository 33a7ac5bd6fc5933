"""Sans-IO Diameter peer connection: one transport connection to one peer.

The peer state machine of RFC 6733 §5.6, cut down to a single TCP connection with no
election (§5.6.4): an initiator goes Wait-Conn-Ack -> Wait-I-CEA -> Open, a responder
Wait-CER -> Open; both leave Open through Closing (DPR sent, §5.4) or straight to
Closed. The watchdog is RFC 3539 §3.4.1 with the SUSPECT and DOWN states merged: a DWR
after Tw without traffic, and the connection closed when no DWA follows within another
Tw (failover of the unanswered requests is the owner's job; they come in PeerClosed).

One output path, as h11 has it: every input (:meth:`PeerConnection.connection_made`,
:meth:`~PeerConnection.receive_data`, :meth:`~PeerConnection.timer`,
:meth:`~PeerConnection.send_request`, :meth:`~PeerConnection.send_answer`,
:meth:`~PeerConnection.disconnect`, :meth:`~PeerConnection.connection_lost`) only queues;
the owner then drains the bytes to write with :meth:`~PeerConnection.data_to_send` and
the events with :meth:`~PeerConnection.pop_events`. Time is the explicit ``now`` of each
input; identifiers come from injected generators.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from enum import StrEnum

from gba.errors import InvalidInput, ProtocolError
from gba.protocols.diameter import capabilities as caps
from gba.protocols.diameter import dictionary as d
from gba.protocols.diameter.capabilities import PeerIdentity
from gba.protocols.diameter.codec import (
    FLAG_RETRANSMIT,
    HEADER_LENGTH,
    DiameterCodecError,
    Message,
    message_length,
)
from gba.protocols.diameter.events import (
    AnswerReceived,
    Application,
    Event,
    PeerClosed,
    PeerOpen,
    ProtocolViolation,
    RequestReceived,
)


class PeerState(StrEnum):
    CLOSED = "Closed"
    WAIT_CONN_ACK = "Wait-Conn-Ack"
    WAIT_I_CEA = "Wait-I-CEA"
    WAIT_CER = "Wait-CER"
    OPEN = "Open"
    CLOSING = "Closing"


class Role(StrEnum):
    INITIATOR = "initiator"
    RESPONDER = "responder"


class _In(StrEnum):
    """Inputs of the state table (names after RFC 6733 §5.6 events)."""

    CONN_ACK = "Rcv-Conn-Ack"
    CER_OK = "Rcv-CER, common application"
    CER_REJECT = "Rcv-CER, rejected"
    CEA_OK = "Rcv-CEA, success"
    CEA_REJECT = "Rcv-CEA, failure"
    SEND_DPR = "Stop (Snd-DPR)"
    RCV_DPR = "Rcv-DPR"
    RCV_DPA = "Rcv-DPA"
    TIMEOUT = "Timeout"
    FAILURE = "Peer-Disc or fatal error"


_S = PeerState
_LIVE = (_S.WAIT_CONN_ACK, _S.WAIT_I_CEA, _S.WAIT_CER, _S.OPEN, _S.CLOSING)
_TRANSITIONS: dict[tuple[PeerState, _In], PeerState] = {
    (_S.WAIT_CONN_ACK, _In.CONN_ACK): _S.WAIT_I_CEA,
    (_S.WAIT_CER, _In.CONN_ACK): _S.WAIT_CER,
    (_S.WAIT_CER, _In.CER_OK): _S.OPEN,
    (_S.WAIT_CER, _In.CER_REJECT): _S.CLOSED,
    (_S.WAIT_I_CEA, _In.CEA_OK): _S.OPEN,
    (_S.WAIT_I_CEA, _In.CEA_REJECT): _S.CLOSED,
    (_S.OPEN, _In.CER_OK): _S.OPEN,  # §5.6 I-Open Rcv-CER: Snd-CEA, stay open
    (_S.OPEN, _In.CER_REJECT): _S.CLOSED,
    (_S.OPEN, _In.SEND_DPR): _S.CLOSING,
    (_S.OPEN, _In.RCV_DPR): _S.CLOSED,
    (_S.CLOSING, _In.RCV_DPR): _S.CLOSED,  # both sides said goodbye at once
    (_S.CLOSING, _In.RCV_DPA): _S.CLOSED,
    **{(state, _In.TIMEOUT): _S.CLOSED for state in _LIVE},
    **{(state, _In.FAILURE): _S.CLOSED for state in _LIVE},
}


DEFAULT_TW = 30.0
"""RFC 3539 §3.4.1 Tw: the watchdog interval (30 s is the RFC's default)."""

MAX_MESSAGE_SIZE = 1 << 20
"""The largest message taken once the capabilities exchange is done (configurable)."""
MAX_MESSAGE_SIZE_BEFORE_OPEN = 16 << 10
"""The largest message taken before it: a CER or CEA is a few hundred bytes (a few KB
with many applications), so that a connection nobody has identified yet cannot make the
node buffer a large partial frame."""


def counter_ids(start: int = 1) -> Callable[[], int]:
    """A 32-bit wrapping counter. RFC 6733 §3 wants end-to-end ids seeded from the clock
    (high 12 bits) and randomness (low 20 bits): the owner passes such a seed."""
    counter = itertools.count(start)
    return lambda: next(counter) & 0xFFFFFFFF


class PeerConnection:
    """One Diameter connection, either side (RFC 6733 §5)."""

    def __init__(self, local: PeerIdentity, role: Role, applications: Iterable[Application],
                 *, tw: float = DEFAULT_TW, hop_by_hop: Callable[[], int] | None = None,
                 end_to_end: Callable[[], int] | None = None,
                 max_message_size: int = MAX_MESSAGE_SIZE,
                 max_message_size_before_open: int = MAX_MESSAGE_SIZE_BEFORE_OPEN) -> None:
        self.local = local
        self.role = role
        self.applications = frozenset(applications)
        self.tw = tw  # RFC 3539 §3.4.1 Tw; the owner adds the ±2 s jitter if it wants it
        self.max_message_size = max_message_size
        self.max_message_size_before_open = min(max_message_size_before_open,
                                                max_message_size)
        self.state = _S.WAIT_CONN_ACK if role is Role.INITIATOR else _S.WAIT_CER
        self.peer_identity: str | None = None
        self.common_applications: frozenset[Application] = frozenset()
        self._next_hbh = hop_by_hop or counter_ids()
        self._next_e2e = end_to_end or counter_ids()
        self._buffer = bytearray()
        self._events: list[Event] = []
        self._out: list[bytes] = []
        self._outstanding: dict[int, Message] = {}
        self._control: dict[int, int] = {}  # hop-by-hop of our CER/DWR/DPR -> command
        self._now = 0.0
        self._deadline: float | None = None
        self._dwr_pending = False
        self.peer_filter: Callable[[str], str | None] | None = None
        """Responder only: Origin-Host of a CER -> None to accept, or why it is refused
        (CEA 3010 DIAMETER_UNKNOWN_PEER, RFC 6733 §5.3; e.g. a TLS identity mismatch)."""

    # ----------------------------------------------------------------- owner inputs

    def connection_made(self, now: float) -> None:
        """The transport is up (I-Rcv-Conn-Ack / R-Conn-CER): an initiator sends CER."""
        self._now = now
        self._move(_In.CONN_ACK)
        self._deadline = now + self.tw
        if self.role is Role.INITIATOR:
            self._send_control(caps.build_cer(self.local, self.applications))

    def receive_data(self, data: bytes, now: float) -> None:
        """Feed bytes from the transport; any traffic resets the watchdog.

        Handles framing (RFC 6733 §3 length): partial messages wait in a buffer, one chunk
        may carry several messages. A message longer than the connection takes (the small
        limit until the capabilities exchange is done) closes it as soon as its header is
        in, before any of it is buffered.
        """
        self._now = now
        if self._closed():
            return
        self._buffer += data
        while not self._closed():
            try:
                length = message_length(self._buffer)
            except DiameterCodecError as exc:
                self._fail(f"unframeable stream: {exc}", offset=exc.offset)
                break
            if self.state in (_S.OPEN, _S.CLOSING):
                limit, when = self.max_message_size, ""
            else:
                limit, when = (self.max_message_size_before_open,
                               " before the capabilities exchange")
            if length is not None and length > limit:
                self._fail(f"message length {length} > {limit}{when}")
                break
            if length is None or len(self._buffer) < length:
                break
            frame = bytes(self._buffer[:length])
            del self._buffer[:length]
            self._on_frame(frame)

    def timer(self, now: float) -> None:
        """Drive the timers: DWR after Tw idle, close after a missed DWA (RFC 3539 §3.4.1),
        and give up on a missing CER/CEA/DPA after Tw. Call at :meth:`next_deadline`."""
        self._now = now
        if self._deadline is None or now < self._deadline or self.state is _S.CLOSED:
            return
        if self.state is _S.OPEN and not self._dwr_pending:
            self._dwr_pending = True
            self._deadline = now + self.tw
            self._send_control(caps.build_dwr(self.local))
        elif self.state is _S.OPEN:
            self._close(_In.TIMEOUT, f"watchdog: no DWA within Tw={self.tw:g}s")
        else:
            waited = {_S.WAIT_I_CEA: "CEA", _S.WAIT_CER: "CER", _S.CLOSING: "DPA"}
            self._close(_In.TIMEOUT, f"no {waited.get(self.state, 'connection')} within "
                        f"Tw={self.tw:g}s")

    def next_deadline(self) -> float | None:
        """When :meth:`timer` next has something to do, or None."""
        return None if self.state is _S.CLOSED else self._deadline

    def supports(self, application_id: int) -> bool:
        """Whether a request of *application_id* may cross this connection: the base
        protocol, an application both sides announced, or any when either side is a
        Relay (RFC 6733 §2.4, §5.3)."""
        ids = {app for _, app in self.common_applications}
        return (application_id == d.APP_COMMON or application_id in ids
                or d.APP_RELAY in ids)

    def send_request(self, message: Message, now: float, *, end_to_end: int | None = None,
                     retransmit: bool = False) -> int:
        """Queue a request with a fresh Hop-by-Hop id and track it for answer matching;
        return that id. The End-to-End id is fresh unless given: an agent forwarding a
        request keeps the originator's (RFC 6733 §3, §6.1.9). *retransmit* sets the T flag
        of a request resent after a failover (§5.5.4)."""
        self._now = now
        if self.state is not _S.OPEN:
            raise ProtocolError(f"cannot send a request in state {self.state}")
        if not message.is_request:
            raise InvalidInput("send_request takes a request (R bit set)")
        if not self.supports(message.application_id):
            raise ProtocolError(f"application {message.application_id} was not negotiated "
                                "with the peer")
        hbh = self._fresh_hop_by_hop()
        stamped = message.with_ids(hbh, self._next_e2e() if end_to_end is None else end_to_end)
        if retransmit:
            stamped = stamped.with_flags(stamped.flags | FLAG_RETRANSMIT)
        self._outstanding[hbh] = stamped
        self._out.append(stamped.encode())
        return hbh

    def send_answer(self, request: Message, answer: Message) -> None:
        """Answer a received request: ids copied, R cleared, P as in the request (§6.2)."""
        if self.state not in (_S.OPEN, _S.CLOSING):
            raise ProtocolError(f"cannot send an answer in state {self.state}")
        if answer.is_request or not request.is_request:
            raise InvalidInput("send_answer takes (request, answer)")
        flags = (answer.flags & ~(0x80 | 0x40)) | (request.flags & 0x40)
        wire = Message(answer.command_code, answer.application_id, flags, request.hop_by_hop,
                       request.end_to_end, answer.avps)
        self._out.append(wire.encode())

    def disconnect(self, now: float,
                   cause: int = d.DisconnectCause.DO_NOT_WANT_TO_TALK_TO_YOU) -> None:
        """Send DPR and wait for DPA (RFC 6733 §5.4); before Open, just close."""
        self._now = now
        if self.state is _S.OPEN:
            self._move(_In.SEND_DPR)
            self._deadline = now + self.tw
            self._send_control(caps.build_dpr(self.local, cause))
        elif self.state is not _S.CLOSED and self.state is not _S.CLOSING:
            self._close(_In.FAILURE, "closed locally before the capabilities exchange")

    def connection_lost(self, reason: str = "transport closed") -> None:
        """The transport went away (Peer-Disc)."""
        if self.state is not _S.CLOSED:
            self._close(_In.FAILURE, reason)

    # ----------------------------------------------------------------- owner outputs

    def data_to_send(self) -> bytes:
        """Every byte queued since the last call: requests, answers, and the automatic
        CER/CEA, DWR/DWA, DPR/DPA and error answers."""
        out = b"".join(self._out)
        self._out.clear()
        return out

    def pop_events(self) -> list[Event]:
        """Every event queued since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    # ----------------------------------------------------------------- internals

    def _closed(self) -> bool:
        return self.state is _S.CLOSED

    def _move(self, event: _In) -> None:
        new = _TRANSITIONS.get((self.state, event))
        if new is None:
            raise ProtocolError(f"{event} is not allowed in state {self.state}")
        self.state = new

    def _close(self, event: _In, reason: str) -> None:
        self._move(event)
        self._deadline = None
        self._buffer = bytearray()  # a new one: clear() may keep the old allocation
        unanswered = tuple(self._outstanding.values())
        self._outstanding.clear()
        self._events.append(PeerClosed(reason, unanswered))

    def _fail(self, reason: str, offset: int | None = None) -> None:
        self._events.append(ProtocolViolation(reason, fatal=True, offset=offset))
        self._close(_In.FAILURE, reason)

    def _fresh_hop_by_hop(self) -> int:
        hbh = self._next_hbh()
        while hbh in self._outstanding or hbh in self._control:
            hbh = self._next_hbh()
        return hbh

    def _send_control(self, message: Message) -> None:
        hbh = self._fresh_hop_by_hop()
        self._control[hbh] = message.command_code
        self._out.append(message.with_ids(hbh, self._next_e2e()).encode())

    def _answer(self, answer: Message) -> None:
        self._out.append(answer.encode())

    def _on_frame(self, frame: bytes) -> None:
        try:
            message = Message.decode(frame)
        except DiameterCodecError as exc:
            self._on_undecodable(frame, exc)
            return
        if self.state in (_S.OPEN, _S.CLOSING):
            self._deadline = self._now + self.tw  # RFC 3539 §3.4.1: any traffic resets Tw
        if message.application_id == d.APP_COMMON and message.command_code in _PEER_COMMANDS:
            try:
                if message.is_request:
                    self._on_peer_request(message)
                else:
                    self._on_peer_answer(message)
            except DiameterCodecError as exc:  # e.g. an Address AVP of an unknown family
                self._fail(f"malformed command {message.command_code}: {exc}")
        elif self.state not in (_S.OPEN, _S.CLOSING):
            self._fail(f"command {message.command_code} before the capabilities exchange")
        elif message.is_request:
            self._on_request(message)
        else:
            self._on_answer(message)

    def _on_undecodable(self, frame: bytes, exc: DiameterCodecError) -> None:
        if self.state not in (_S.OPEN, _S.CLOSING):
            self._fail(f"malformed message during the capabilities exchange: {exc}",
                       offset=exc.offset)
            return
        self._events.append(ProtocolViolation(str(exc), offset=exc.offset))
        if frame[4] & 0x80:  # a request: answer it so the peer does not wait (§7.2)
            self._answer(caps.error_answer_for_header(frame[:HEADER_LENGTH], self.local,
                                                      exc.result_code, str(exc), exc.failed))

    def _on_request(self, message: Message) -> None:
        if message.is_error:
            self._events.append(ProtocolViolation("request with the E bit set"))
            self._answer(caps.error_answer(message, self.local, d.ResultCode.INVALID_HDR_BITS))
        elif not self.supports(message.application_id):
            self._events.append(ProtocolViolation(
                f"request for application {message.application_id} not negotiated"))
            self._answer(caps.error_answer(message, self.local,
                                           d.ResultCode.APPLICATION_UNSUPPORTED))
        else:
            self._events.append(RequestReceived(message))

    def _on_answer(self, message: Message) -> None:
        request = self._outstanding.pop(message.hop_by_hop, None)
        if request is None:  # RFC 6733 §6.2.1: unmatched answers are discarded
            self._events.append(ProtocolViolation(
                f"answer with unknown hop-by-hop id 0x{message.hop_by_hop:08x} discarded"))
            return
        self._events.append(AnswerReceived(message, message.hop_by_hop, request))

    def _on_peer_request(self, message: Message) -> None:
        code = message.command_code
        if code == d.CMD_CAPABILITIES_EXCHANGE and self.state in (_S.WAIT_CER, _S.OPEN):
            self._on_cer(message)
        elif self.state not in (_S.OPEN, _S.CLOSING):
            self._fail(f"command {code} before the capabilities exchange")
        elif code == d.CMD_DEVICE_WATCHDOG:
            self._answer(caps.build_dwa(message, self.local))
        elif code == d.CMD_DISCONNECT_PEER:
            self._answer(caps.build_dpa(message, self.local))
            cause = message.find(d.DISCONNECT_CAUSE)
            label = _cause_label(cause.as_int()) if cause is not None else "no cause"
            self._close(_In.RCV_DPR, f"peer sent DPR ({label})")
        else:
            self._fail(f"unexpected CER in state {self.state}")

    def _on_cer(self, cer: Message) -> None:
        """RFC 6733 §5.3: answer with 2001 when an application is in common, else 5010."""
        origin = cer.find(d.ORIGIN_HOST)
        realm = cer.find(d.ORIGIN_REALM)
        if origin is None or realm is None:
            self._answer(caps.build_cea(cer, self.local, self.applications,
                                        d.ResultCode.MISSING_AVP, "Origin-Host/Realm missing"))
            self._close(_In.CER_REJECT, "CER without Origin-Host or Origin-Realm")
            return
        common = caps.common_applications(self.applications, caps.announced_applications(cer))
        if not common:
            self._answer(caps.build_cea(cer, self.local, self.applications,
                                        d.ResultCode.NO_COMMON_APPLICATION))
            self._close(_In.CER_REJECT, "no common application")
            return
        refusal = self.peer_filter(origin.as_str()) if self.peer_filter is not None else None
        if refusal is not None:
            self._answer(caps.build_cea(cer, self.local, self.applications,
                                        d.ResultCode.UNKNOWN_PEER, refusal))
            self._close(_In.CER_REJECT, f"peer refused: {refusal}")
            return
        self._answer(caps.build_cea(cer, self.local, self.applications, d.ResultCode.SUCCESS))
        was_open = self.state is _S.OPEN
        self._move(_In.CER_OK)
        self._opened(origin.as_str(), realm.as_str(), common, announce=not was_open)

    def _on_peer_answer(self, message: Message) -> None:
        sent = self._control.pop(message.hop_by_hop, None)
        if sent != message.command_code:
            self._events.append(ProtocolViolation(
                f"unsolicited answer to command {message.command_code} discarded"))
        elif sent == d.CMD_CAPABILITIES_EXCHANGE:
            self._on_cea(message)
        elif sent == d.CMD_DEVICE_WATCHDOG:
            self._dwr_pending = False
        elif sent == d.CMD_DISCONNECT_PEER and self.state is _S.CLOSING:
            self._close(_In.RCV_DPA, "disconnected: DPA received")

    def _on_cea(self, cea: Message) -> None:
        result = cea.result_code
        if result != d.ResultCode.SUCCESS:
            error = cea.find(d.ERROR_MESSAGE)
            detail = f": {error.as_str()}" if error is not None else ""
            self._close(_In.CEA_REJECT, f"CEA result {result}{detail}")
            return
        origin = cea.find(d.ORIGIN_HOST)
        realm = cea.find(d.ORIGIN_REALM)
        common = caps.common_applications(self.applications, caps.announced_applications(cea))
        if origin is None or realm is None or not common:
            self._close(_In.CEA_REJECT, "CEA without Origin-Host/Realm or common application")
            return
        self._move(_In.CEA_OK)
        self._opened(origin.as_str(), realm.as_str(), common, announce=True)

    def _opened(self, origin: str, realm: str, common: frozenset[Application],
                *, announce: bool) -> None:
        self.peer_identity = origin
        self.common_applications = common
        self._deadline = self._now + self.tw
        if announce:
            self._events.append(PeerOpen(origin, common, realm))


_PEER_COMMANDS = frozenset(
    (d.CMD_CAPABILITIES_EXCHANGE, d.CMD_DEVICE_WATCHDOG, d.CMD_DISCONNECT_PEER))


def _cause_label(value: int) -> str:
    try:
        return d.DisconnectCause(value).name
    except ValueError:
        return f"cause {value}"

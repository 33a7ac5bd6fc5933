"""One Diameter transport connection: a socket driven by the sans-IO peer machine.

A :class:`Link` feeds what the socket reads into its
:class:`~gba.protocols.diameter.PeerConnection` with the loop's time, writes what the
machine queues, runs the watchdog timer at the machine's deadline (RFC 3539 §3.4.1) and
matches answers to waiting callers by Hop-by-Hop id (RFC 6733 §6.2). What to do with an
open peer, a request or a closed connection is its owner's (:class:`LinkOwner`, the
node's) decision.

Nothing raised while a connection is served escapes :meth:`Link.run`: a failure closes
that one connection with one log line (the traceback only at DEBUG), so that a peer
sending something unexpected costs one line, not a traceback per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from gba.errors import GbaError, ProtocolError
from gba.protocols.diameter import (
    AnswerReceived,
    Message,
    PeerClosed,
    PeerConnection,
    PeerOpen,
    ProtocolViolation,
    RequestReceived,
)
from gba.protocols.diameter.routing import PeerView

log = logging.getLogger(__name__)

Authorise = Callable[[str, dict[str, Any] | None, str], str | None]
"""Checks a peer's CER: (Origin-Host, its TLS certificate or None, its IP address) -> None
to accept, or the reason for a CEA with 3010 (RFC 6733 §13: the TLS identity must match
the Origin-Host)."""


class DiameterUnavailable(GbaError):
    """No open connection can take the request, or the peer closed before answering."""


class PeerFailed(DiameterUnavailable):
    """The connection carrying a request closed before its answer: try an alternate.
    ``sent`` tells whether the request left, so that a resend carries the T flag
    (RFC 6733 §5.5.4) only when it really is one."""

    def __init__(self, reason: str, *, sent: bool) -> None:
        super().__init__(reason)
        self.sent = sent


class LinkOwner(Protocol):
    """What a link reports to the node that owns it."""

    def link_opened(self, link: Link) -> None: ...

    def link_closed(self, link: Link) -> None: ...

    def request_received(self, link: Link, request: Message) -> None: ...

    def claims_reserved(self, origin_host: str, link: Link) -> bool: ...


class Link:
    """One TCP/TLS connection driven by a PeerConnection."""

    def __init__(self, owner: LinkOwner, conn: PeerConnection, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, authorise: Authorise | None = None) -> None:
        self.owner = owner
        self.conn = conn
        self.reader = reader
        self.writer = writer
        self.authorise = authorise
        conn.peer_filter = self._refusal
        self._loop = asyncio.get_running_loop()
        self._now = self._loop.time
        self.opened: asyncio.Future[PeerOpen] = self._loop.create_future()
        self.pending: dict[int, asyncio.Future[Message]] = {}
        self.closed = asyncio.Event()
        self._timer_wake = asyncio.Event()
        self.peer: PeerOpen | None = None
        self._flush_soon: asyncio.Handle | None = None

    @property
    def label(self) -> str:
        """The peer's Origin-Host once known, else its address (for log lines)."""
        if self.conn.peer_identity is not None:
            return self.conn.peer_identity
        address = self.writer.get_extra_info("peername")
        if isinstance(address, tuple) and len(address) >= 2:
            return f"{address[0]}:{address[1]}"
        return "unidentified peer"

    @property
    def view(self) -> PeerView:
        assert self.peer is not None
        return PeerView(self.peer.peer_identity, self.peer.peer_realm,
                        frozenset(app for _, app in self.peer.common_applications))

    def _flush(self) -> None:
        if self._flush_soon is not None:
            self._flush_soon.cancel()
            self._flush_soon = None
        data = self.conn.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)
        self._handle(self.conn.pop_events())

    async def run(self) -> None:
        timer = asyncio.create_task(self._timer())
        try:
            self.conn.connection_made(self._now())
            self._flush()
            while not self.closed.is_set():
                data = await self.reader.read(65536)
                if not data:
                    self.conn.connection_lost("peer closed the connection")
                    self._flush()
                    break
                self.conn.receive_data(data, self._now())
                self._flush()
                self._timer_wake.set()
        except (ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
            self._lost(f"transport error: {exc}")
        except Exception as exc:  # one connection fails, never the node
            self._failed(exc)
        finally:
            timer.cancel()
            self._shutdown("link ended")

    async def _timer(self) -> None:
        try:
            while not self.closed.is_set():
                deadline = self.conn.next_deadline()
                self._timer_wake.clear()
                if deadline is None:
                    await self._timer_wake.wait()
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._timer_wake.wait(),
                                           max(0.0, deadline - self._now()))
                if self._now() >= deadline:
                    self.conn.timer(self._now())
                    self._flush()
        except Exception as exc:  # as in run(): this connection only
            self._failed(exc)
            self._shutdown("link failed")

    def _failed(self, exc: Exception) -> None:
        """One line for a failure while serving the connection (the traceback at DEBUG
        only), then close it, still writing what was queued (e.g. a CEA)."""
        log.warning("diameter peer %s: connection closed after %s: %s", self.label,
                    type(exc).__name__, exc)
        log.debug("diameter peer %s failure", self.label, exc_info=exc)
        self._lost(f"{type(exc).__name__}: {exc}")

    def _lost(self, reason: str) -> None:
        try:
            self.conn.connection_lost(reason)
            self._flush()
        except Exception as exc:  # the connection is going anyway
            log.debug("diameter peer %s: while closing: %r", self.label, exc)

    def _handle(self, events: Iterable[object]) -> None:
        for ev in events:
            if isinstance(ev, PeerOpen):
                self.peer = ev
                if not self.opened.done():
                    self.opened.set_result(ev)
                self.owner.link_opened(self)
            elif isinstance(ev, RequestReceived):
                self.owner.request_received(self, ev.message)
            elif isinstance(ev, AnswerReceived):
                fut = self.pending.pop(ev.request_hop_by_hop, None)
                if fut is not None and not fut.done():
                    fut.set_result(ev.message)
            elif isinstance(ev, ProtocolViolation):
                if not ev.fatal:  # a fatal one is the reason of the PeerClosed that follows
                    log.warning("diameter peer %s: %s", self.label, ev.reason)
            elif isinstance(ev, PeerClosed):
                log.info("diameter peer %s closed: %s", self.label, ev.reason)
                self._shutdown(ev.reason)

    def _refusal(self, origin_host: str) -> str | None:
        """A CER's Origin-Host is refused (3010) when it names a peer the node connects to
        itself (no one takes over a configured peer's routes by claiming its name), and
        when the listener's own check refuses it."""
        if self.owner.claims_reserved(origin_host, self):
            refusal: str | None = (f"Origin-Host {origin_host!r} is a peer this node "
                                   "connects to itself")
            log.warning("diameter peer %s refused: %s", origin_host, refusal)
            return refusal
        if self.authorise is None:
            return None
        cert = self.writer.get_extra_info("peercert")
        address = self.writer.get_extra_info("peername")
        host = str(address[0]) if isinstance(address, tuple) and address else ""
        refusal = self.authorise(origin_host, cert if isinstance(cert, dict) else None, host)
        if refusal is not None:
            log.warning("diameter peer %s refused: %s", origin_host, refusal)
        return refusal

    def answer(self, request: Message, answer: Message) -> None:
        """Queue ``answer``; the answers of one event-loop iteration leave in one write
        (one TLS record and one send instead of one per answer under load)."""
        try:
            self.conn.send_answer(request, answer)
        except GbaError as exc:
            log.warning("cannot answer command %d: %s", request.command_code, exc)
            return
        if self._flush_soon is None:
            self._flush_soon = self._loop.call_soon(self._flush_queued)

    def _flush_queued(self) -> None:
        self._flush_soon = None
        self._flush()

    async def request(self, message: Message, timeout: float, *, end_to_end: int | None,
                      retransmit: bool) -> Message:
        if self.closed.is_set():
            raise PeerFailed("peer closed", sent=False)
        try:
            hbh = self.conn.send_request(message, self._now(), end_to_end=end_to_end,
                                         retransmit=retransmit)
        except ProtocolError as exc:  # the connection is closing: another peer may take it
            raise PeerFailed(str(exc), sent=False) from None
        fut: asyncio.Future[Message] = self._loop.create_future()
        self.pending[hbh] = fut
        self._flush()
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise DiameterUnavailable(f"no answer within {timeout:g}s") from None
        finally:
            self.pending.pop(hbh, None)

    def _shutdown(self, reason: str) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        self._timer_wake.set()
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(PeerFailed(f"peer closed: {reason}", sent=True))
        self.pending.clear()
        if not self.opened.done():
            self.opened.set_exception(DiameterUnavailable(f"capabilities exchange failed: "
                                                          f"{reason}"))
            self.opened.exception()  # mark retrieved
        with contextlib.suppress(Exception):
            self.writer.close()
        self.owner.link_closed(self)

    async def disconnect(self) -> None:
        if not self.closed.is_set():
            self.conn.disconnect(self._now())
            self._flush()  # closed at once if CER/CEA never happened
        if not self.closed.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closed.wait(), 2.0)
        self._shutdown("closed locally")

"""Asyncio Diameter transport around the sans-IO :class:`PeerConnection` (RFC 6733).

* :class:`DiameterServer` listens on TCP (optionally TLS, RFC 6733 §13) and answers each
  application request through an async handler.
* :class:`DiameterClient` keeps one connection to a peer, reconnects with back-off when it
  drops (RFC 6733 §5.2, RFC 3539 §3.4), and offers ``await request(message)``.

All protocol decisions (CER/CEA, DWR/DWA, DPR/DPA, framing) are the peer machine's; this
module owns sockets, the watchdog timer and the mapping of answers to waiting callers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from gba.errors import GbaError, ProtocolError
from gba.protocols.diameter import (
    AnswerReceived,
    Application,
    Message,
    PeerClosed,
    PeerConnection,
    PeerIdentity,
    PeerOpen,
    ProtocolViolation,
    RequestReceived,
    Role,
    counter_ids,
)
from gba.protocols.diameter import dictionary as d
from gba.protocols.diameter.capabilities import error_answer

log = logging.getLogger(__name__)

T = TypeVar("T")
Handler = Callable[[Message, str], Awaitable[Message]]
"""An application handler: (request, peer Origin-Host) -> answer."""
Authorise = Callable[[str, dict[str, Any] | None, str], str | None]
"""Checks a peer's CER: (Origin-Host, its TLS certificate or None, its IP address) -> None
to accept, or the reason for a CEA with 3010 (RFC 6733 §13: the TLS identity must match
the Origin-Host)."""


class DiameterUnavailable(GbaError):
    """No open connection to the peer, or it closed before answering."""


def _e2e_seed() -> int:
    """End-to-end ids: high 12 bits from the clock, low 20 random (RFC 6733 §3)."""
    return ((int(time.time()) & 0xFFF) << 20) | (int.from_bytes(os.urandom(3), "big") & 0xFFFFF)


class _Link:
    """One TCP/TLS connection driven by a PeerConnection."""

    def __init__(self, conn: PeerConnection, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, handler: Handler | None,
                 authorise: Authorise | None = None) -> None:
        self.conn = conn
        self.reader = reader
        self.writer = writer
        self.handler = handler
        self.authorise = authorise
        if authorise is not None:
            conn.peer_filter = self._refusal
        self.opened: asyncio.Future[PeerOpen] = asyncio.get_running_loop().create_future()
        self.pending: dict[int, asyncio.Future[Message]] = {}
        self.closed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer_wake = asyncio.Event()

    def _write(self, data: bytes) -> None:
        if data and not self.writer.is_closing():
            self.writer.write(data)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        timer = asyncio.create_task(self._timer())
        try:
            self._write(self.conn.connection_made(loop.time()))
            while not self.closed.is_set():
                data = await self.reader.read(65536)
                if not data:
                    self._handle(self.conn.connection_lost("peer closed the connection"))
                    break
                events = self.conn.receive_data(data, loop.time())
                # automatic answers first: a refusing CEA must leave before the close
                self._write(self.conn.data_to_send())
                self._handle(events)
                self._timer_wake.set()
        except (ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
            self._handle(self.conn.connection_lost(f"transport error: {exc}"))
        finally:
            timer.cancel()
            self._shutdown("link ended")

    async def _timer(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.closed.is_set():
            deadline = self.conn.next_deadline()
            self._timer_wake.clear()
            if deadline is None:
                await self._timer_wake.wait()
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._timer_wake.wait(), max(0.0, deadline - loop.time()))
            if loop.time() >= deadline:
                self._write(self.conn.timer(loop.time()))
                self._handle(self.conn.pop_events())

    def _handle(self, events: Iterable[object]) -> None:
        for ev in events:
            if isinstance(ev, PeerOpen):
                if not self.opened.done():
                    self.opened.set_result(ev)
            elif isinstance(ev, RequestReceived):
                task = asyncio.create_task(self._serve(ev.message))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            elif isinstance(ev, AnswerReceived):
                fut = self.pending.pop(ev.request_hop_by_hop, None)
                if fut is not None and not fut.done():
                    fut.set_result(ev.message)
            elif isinstance(ev, ProtocolViolation):
                log.warning("diameter peer %s: %s", self.conn.peer_identity, ev.reason)
            elif isinstance(ev, PeerClosed):
                log.info("diameter peer %s closed: %s", self.conn.peer_identity, ev.reason)
                self._shutdown(ev.reason)

    def _refusal(self, origin_host: str) -> str | None:
        if self.authorise is None:
            return None
        cert = self.writer.get_extra_info("peercert")
        address = self.writer.get_extra_info("peername")
        host = str(address[0]) if isinstance(address, tuple) and address else ""
        refusal = self.authorise(origin_host, cert if isinstance(cert, dict) else None, host)
        if refusal is not None:
            log.warning("diameter peer %s refused: %s", origin_host, refusal)
        return refusal

    async def _serve(self, request: Message) -> None:
        peer = self.conn.peer_identity or ""
        try:
            if self.handler is None:
                raise ProtocolError("this node serves no requests")
            answer = await self.handler(request, peer)
        except Exception:  # a handler bug must not take the peer down
            log.exception("diameter handler failed for command %d", request.command_code)
            answer = error_answer(request, self.conn.local, d.ResultCode.UNABLE_TO_COMPLY)
        try:
            self._write(self.conn.send_answer(request, answer))
        except GbaError as exc:
            log.warning("cannot answer command %d: %s", request.command_code, exc)

    async def request(self, message: Message, timeout: float) -> Message:
        stamped, data = self.conn.prepare_request(message)
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self.pending[stamped.hop_by_hop] = fut
        self._write(data)
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise DiameterUnavailable(f"no answer within {timeout:g}s") from None
        finally:
            self.pending.pop(stamped.hop_by_hop, None)

    def _shutdown(self, reason: str) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        self._timer_wake.set()
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(DiameterUnavailable(f"peer closed: {reason}"))
        self.pending.clear()
        if not self.opened.done():
            self.opened.set_exception(DiameterUnavailable(f"capabilities exchange failed: "
                                                          f"{reason}"))
            self.opened.exception()  # mark retrieved
        with contextlib.suppress(Exception):
            self.writer.close()

    async def disconnect(self) -> None:
        if not self.closed.is_set():
            self._write(self.conn.disconnect())
            self._handle(self.conn.pop_events())  # closed at once if CER/CEA never happened
        if not self.closed.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closed.wait(), 2.0)
        self._shutdown("closed locally")


class DiameterServer:
    """Accepts peers and serves their requests (RFC 6733 §2.1: TCP, or TLS on connect)."""

    def __init__(self, identity: PeerIdentity, applications: Iterable[Application],
                 handler: Handler, host: str, port: int, *,
                 ssl_context: ssl.SSLContext | None = None, tw: float = 30.0,
                 authorise: Authorise | None = None) -> None:
        self.identity = identity
        self.applications = frozenset(applications)
        self.handler = handler
        self.authorise = authorise
        self.host, self._port = host, port
        self.ssl_context = ssl_context
        self.tw = tw
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()

    @property
    def port(self) -> int:
        if self._server is None:
            return self._port
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self._port,
                                                  ssl=self.ssl_context)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = PeerConnection(self.identity, Role.RESPONDER, self.applications, tw=self.tw,
                              end_to_end=counter_ids(_e2e_seed()))
        link = _Link(conn, reader, writer, self.handler, self.authorise)
        self._links.add(link)
        try:
            await link.run()
        finally:
            self._links.discard(link)

    async def close(self) -> None:
        """Stop accepting, send DPR on every open link at once, wait for them to end."""
        if self._server is not None:
            self._server.close()
        await asyncio.gather(*(link.disconnect() for link in list(self._links)))
        if self._server is not None:
            await self._server.wait_closed()


class DiameterClient:
    """One peer connection kept open, with reconnect and back-off (RFC 3539 §3.4)."""

    def __init__(self, identity: PeerIdentity, applications: Iterable[Application], host: str,
                 port: int, *, ssl_context: ssl.SSLContext | None = None,
                 server_hostname: str | None = None, tw: float = 30.0,
                 retry_delay: float = 0.2, max_retry_delay: float = 5.0) -> None:
        self.identity = identity
        self.applications = frozenset(applications)
        self.host, self.port = host, port
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname
        self.tw = tw
        self.retry_delay, self.max_retry_delay = retry_delay, max_retry_delay
        self.peer: PeerOpen | None = None
        self._link: _Link | None = None
        self._ready = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._e2e = counter_ids(_e2e_seed())

    async def start(self) -> None:
        self._task = asyncio.create_task(self._maintain())

    async def _maintain(self) -> None:
        delay = self.retry_delay
        while not self._stopping:
            try:
                reader, writer = await asyncio.open_connection(
                    self.host, self.port, ssl=self.ssl_context,
                    server_hostname=self.server_hostname if self.ssl_context else None)
            except OSError as exc:
                log.debug("diameter connect to %s:%d failed: %s", self.host, self.port, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_retry_delay)
                continue
            conn = PeerConnection(self.identity, Role.INITIATOR, self.applications, tw=self.tw,
                                  end_to_end=self._e2e)
            link = _Link(conn, reader, writer, None)
            runner = asyncio.create_task(link.run())
            try:
                self.peer = await link.opened
                self._link = link
                self._ready.set()
                delay = self.retry_delay
                log.info("diameter peer %s open", self.peer.peer_identity)
            except DiameterUnavailable as exc:
                log.warning("diameter %s:%d: %s", self.host, self.port, exc)
            await runner
            self._ready.clear()
            self._link = None
            if not self._stopping:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_retry_delay)

    async def wait_open(self, timeout: float = 10.0) -> PeerOpen:
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            raise DiameterUnavailable(
                f"no Diameter connection to {self.host}:{self.port} within {timeout:g}s") from None
        assert self.peer is not None
        return self.peer

    async def request(self, message: Message, timeout: float = 5.0) -> Message:
        """Send *message* and wait for its answer; waits for the connection if it is down."""
        await self.wait_open(timeout)
        link = self._link
        if link is None:
            raise DiameterUnavailable("connection dropped")
        return await link.request(message, timeout)

    async def close(self) -> None:
        self._stopping = True
        if self._link is not None:
            await self._link.disconnect()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def session_id_factory(origin_host: str) -> Callable[[], str]:
    """Session-Id = DiameterIdentity;high 32 bits;low 32 bits (RFC 6733 §8.8)."""
    high = int(time.time()) & 0xFFFFFFFF
    counter = counter_ids(int.from_bytes(os.urandom(2), "big"))
    return lambda: f"{origin_host};{high};{counter()}"


async def ask(client: DiameterClient, request: Message, parse: Callable[[Message], T]
              ) -> T | int:
    """Send *request*; the parsed answer on DIAMETER_SUCCESS, else the result code
    (Result-Code or Experimental-Result-Code, RFC 6733 §7.1; 5012 when it has neither)."""
    answer = await client.request(request)
    code = answer.result_code
    if code != d.ResultCode.SUCCESS:
        return code if code is not None else d.ResultCode.UNABLE_TO_COMPLY
    return parse(answer)

"""A minimal asyncio Diameter peer for tests that talk to outside Diameter nodes.

It drives the sans-IO :class:`~gba.protocols.diameter.PeerConnection` over an asyncio
stream and nothing more: no reconnect, no routing, no TLS. Unlike the product's
transport (``gba.transport.diameter``) it keeps every frame it receives, raw and in
order, so a test can look at exactly what the other node put on the wire (Route-Record,
hop-by-hop ids, the other node's own CER/DWR/DPR) and store it as a vector.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from gba.protocols.diameter import (
    AnswerReceived,
    Application,
    DiameterCodecError,
    Message,
    PeerClosed,
    PeerConnection,
    PeerIdentity,
    PeerOpen,
    RequestReceived,
    Role,
    counter_ids,
    message_length,
)

Responder = Callable[[Message], Message]
"""What a peer answers to an application request (the answer's ids are set for it)."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One message as it came off the wire, and what the codec made of it."""

    raw: bytes
    message: Message


class CapturingPeer:
    """One Diameter connection (RFC 6733 §5) on an asyncio stream, either role, keeping
    every frame it receives in :attr:`received`."""

    def __init__(self, conn: PeerConnection, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, respond: Responder | None = None) -> None:
        self.conn = conn
        self.respond = respond
        self.received: list[Frame] = []
        self.requests: list[Message] = []
        self.closed_reason: str | None = None
        self._reader = reader
        self._writer = writer
        loop = asyncio.get_running_loop()
        self._opened: asyncio.Future[PeerOpen] = loop.create_future()
        self._closed = asyncio.Event()
        self._pending: dict[int, asyncio.Future[tuple[Message, Message]]] = {}
        self._buffer = bytearray()
        self._arrived = asyncio.Condition()
        self._task = asyncio.create_task(self._run())

    # ------------------------------------------------------------------ for the test

    async def opened(self, timeout: float = 10.0) -> PeerOpen:
        """The PeerOpen event of the capabilities exchange (CER/CEA)."""
        return await asyncio.wait_for(asyncio.shield(self._opened), timeout)

    async def request(self, message: Message, timeout: float = 10.0) -> tuple[Message, Message]:
        """Send a request; return (the request as stamped and sent, its answer)."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[tuple[Message, Message]] = loop.create_future()
        hop_by_hop = self.conn.send_request(message, loop.time())
        self._pending[hop_by_hop] = answer
        self._flush()
        try:
            return await asyncio.wait_for(answer, timeout)
        finally:
            self._pending.pop(hop_by_hop, None)

    async def frame(self, command_code: int, *, request: bool = True,
                    timeout: float = 10.0) -> Frame:
        """The first received frame with this command code and R bit, waiting for it."""
        def match() -> Frame | None:
            return next((f for f in self.received if f.message.command_code == command_code
                         and f.message.is_request == request), None)

        async with self._arrived:
            found = await asyncio.wait_for(self._arrived.wait_for(match), timeout)
        assert found is not None
        return found

    async def wait_closed(self, timeout: float = 10.0) -> str:
        """Wait until the connection is over; the reason PeerConnection gave."""
        await asyncio.wait_for(self._closed.wait(), timeout)
        return self.closed_reason or "closed"

    async def close(self, timeout: float = 5.0) -> None:
        """DPR and wait for DPA (RFC 6733 §5.4) when open, then close the socket."""
        if not self._closed.is_set():
            self.conn.disconnect(asyncio.get_running_loop().time())
            self._flush()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), timeout)
        self._finish("closed locally")
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    # ------------------------------------------------------------------ the loop

    def _flush(self) -> None:
        """Write what the connection queued (answers and CEA first, so a refusal leaves
        before the close), then act on its events."""
        data = self.conn.data_to_send()
        if data and not self._writer.is_closing():
            self._writer.write(data)
        self._handle(self.conn.pop_events())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        timer = asyncio.create_task(self._timer())
        try:
            self.conn.connection_made(loop.time())
            self._flush()
            while not self._closed.is_set():
                data = await self._reader.read(65536)
                if not data:
                    self.conn.connection_lost("peer closed the connection")
                    self._flush()
                    break
                await self._record(data)
                self.conn.receive_data(data, loop.time())
                self._flush()
        except (ConnectionError, OSError) as exc:
            self.conn.connection_lost(f"transport error: {exc}")
            self._flush()
        finally:
            timer.cancel()
            self._finish("connection ended")

    async def _record(self, data: bytes) -> None:
        """Keep every complete frame, framed as RFC 6733 §3 says (the length field)."""
        self._buffer += data
        frames = []
        while True:
            try:
                length = message_length(self._buffer)
            except DiameterCodecError:  # unframeable: PeerConnection closes the link
                self._buffer.clear()
                break
            if length is None or len(self._buffer) < length:
                break
            raw = bytes(self._buffer[:length])
            del self._buffer[:length]
            with contextlib.suppress(DiameterCodecError):  # PeerConnection answers it
                frames.append(Frame(raw, Message.decode(raw)))
        if frames:
            async with self._arrived:
                self.received += frames
                self._arrived.notify_all()

    async def _timer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            deadline = self.conn.next_deadline()
            await asyncio.sleep(1.0 if deadline is None else max(0.0, deadline - loop.time()))
            if deadline is not None and loop.time() >= deadline:
                self.conn.timer(loop.time())
                self._flush()

    def _handle(self, events: Iterable[object]) -> None:
        for event in events:
            if isinstance(event, PeerOpen) and not self._opened.done():
                self._opened.set_result(event)
            elif isinstance(event, RequestReceived):
                self.requests.append(event.message)
                if self.respond is not None:
                    self.conn.send_answer(event.message, self.respond(event.message))
                    self._flush()
            elif isinstance(event, AnswerReceived):
                waiting = self._pending.get(event.request_hop_by_hop)
                if waiting is not None and not waiting.done():
                    waiting.set_result((event.request, event.message))
            elif isinstance(event, PeerClosed):
                self._finish(event.reason)

    def _finish(self, reason: str) -> None:
        if self._closed.is_set():
            return
        self.closed_reason = reason
        self._closed.set()
        if not self._opened.done():
            self._opened.set_exception(ConnectionError(f"never opened: {reason}"))
            self._opened.exception()  # retrieved: a test that does not wait is fine
        for waiting in self._pending.values():
            if not waiting.done():
                waiting.set_exception(ConnectionError(f"peer closed: {reason}"))
        with contextlib.suppress(Exception):
            self._writer.close()


async def connect(local: PeerIdentity, applications: Iterable[Application], host: str,
                  port: int, *, respond: Responder | None = None,
                  hop_by_hop_start: int = 1, tw: float = 30.0) -> CapturingPeer:
    """An initiator: TCP connect, then CER (RFC 6733 §5.3); await ``opened()`` for CEA.
    ``tw`` is the watchdog interval (RFC 3539): a DWR goes out after that long idle."""
    reader, writer = await asyncio.open_connection(host, port)
    conn = PeerConnection(local, Role.INITIATOR, applications, tw=tw,
                          hop_by_hop=counter_ids(hop_by_hop_start))
    return CapturingPeer(conn, reader, writer, respond)


class Listener:
    """A responder: accepts connections on 127.0.0.1 and answers CER on each."""

    def __init__(self, local: PeerIdentity, applications: Iterable[Application],
                 respond: Responder | None = None) -> None:
        self.local = local
        self.applications = frozenset(applications)
        self.respond = respond
        self.peers: list[CapturingPeer] = []
        self._accepted = asyncio.Condition()
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "not listening"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def close(self) -> None:
        """Stop listening; DPR (and close) every accepted connection."""
        if self._server is not None:
            self._server.close()
        for peer in self.peers:
            await peer.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = PeerConnection(self.local, Role.RESPONDER, self.applications)
        async with self._accepted:
            self.peers.append(CapturingPeer(conn, reader, writer, self.respond))
            self._accepted.notify_all()

    async def accepted(self, timeout: float = 10.0) -> CapturingPeer:
        """The first connection accepted, waiting for it."""
        async with self._accepted:
            await asyncio.wait_for(self._accepted.wait_for(lambda: bool(self.peers)), timeout)
        return self.peers[0]


@asynccontextmanager
async def listening(local: PeerIdentity, applications: Iterable[Application],
                    respond: Responder | None = None) -> AsyncIterator[Listener]:
    """A started :class:`Listener` for the duration of the block."""
    listener = Listener(local, applications, respond)
    await listener.start()
    try:
        yield listener
    finally:
        await listener.close()

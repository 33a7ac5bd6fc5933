"""Whole protocol messages over UDP or framed TCP, for the NGN signalling faces (SIP over
UDP and TCP, RFC 3261 §18; MGCP, H.248 text and H.323 RAS over UDP).

A server hands every received message, with a :class:`Channel` back to its sender, to an
async handler; a client is the same thing connected to one peer. Each message is handled
in its own task (a slow answer from a back end must not hold up other terminals), at most
``MAX_TASKS`` at once; beyond that a datagram is dropped (the sender retransmits) and a
stream connection waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, cast

from gba.config import Address
from gba.errors import CodecError

log = logging.getLogger(__name__)

MAX_TASKS = 1024
MAX_DATAGRAM = 65535


class Channel(Protocol):
    """Where an answer to a received message goes."""

    @property
    def peer_ip(self) -> str:
        """The sender's IP address as this node sees it (after any address translation)."""
        ...

    def send(self, data: bytes) -> None:
        ...


class Framer(Protocol):
    def feed(self, data: bytes) -> list[bytes]:
        ...


Handler = Callable[[bytes, Channel], Awaitable[None]]


class _Tasks:
    """The handler tasks in flight, bounded."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._tasks: set[asyncio.Task[None]] = set()

    async def _run(self, data: bytes, channel: Channel) -> None:
        try:
            await self._handler(data, channel)
        except Exception:
            log.exception("handling a message from %s failed", channel.peer_ip)

    def spawn(self, data: bytes, channel: Channel) -> bool:
        """Handle ``data`` in a task of its own; False (dropped) when too many are running."""
        if len(self._tasks) >= MAX_TASKS:
            return False
        task = asyncio.get_running_loop().create_task(self._run(data, channel))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def spawn_waiting(self, data: bytes, channel: Channel) -> None:
        """As :meth:`spawn`, waiting for room instead of dropping (a stream)."""
        while len(self._tasks) >= MAX_TASKS:
            await asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED)
        self.spawn(data, channel)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task


class UdpChannel:
    def __init__(self, transport: asyncio.DatagramTransport,
                 addr: tuple[str, int] | None) -> None:
        self._transport = transport
        self._addr = addr
        peer = addr or transport.get_extra_info("peername")
        self._peer_ip = str(peer[0]) if peer else ""

    @property
    def peer_ip(self) -> str:
        return self._peer_ip

    def send(self, data: bytes) -> None:
        if not self._transport.is_closing():
            self._transport.sendto(data, self._addr)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, tasks: _Tasks, connected: bool) -> None:
        self._tasks = tasks
        self._connected = connected
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        if len(data) > MAX_DATAGRAM:
            return
        channel = UdpChannel(self.transport, None if self._connected else addr)
        if not self._tasks.spawn(data, channel):
            log.warning("dropping a datagram from %s: %d messages in flight", addr[0], MAX_TASKS)


class TcpChannel:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        peer = writer.get_extra_info("peername")
        self._peer_ip = str(peer[0]) if peer else ""

    @property
    def peer_ip(self) -> str:
        return self._peer_ip

    def send(self, data: bytes) -> None:
        if not self._writer.is_closing():
            self._writer.write(data)


async def _read_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       framer: Framer, tasks: _Tasks) -> None:
    channel = TcpChannel(writer)
    try:
        while chunk := await reader.read(65536):
            for message in framer.feed(chunk):
                await tasks.spawn_waiting(message, channel)
    except CodecError as exc:
        log.info("closing the stream from %s: %s", channel.peer_ip, exc)
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


class MessageServer:
    """A listening UDP socket or TCP server; :attr:`address` is where it listens."""

    def __init__(self, tasks: _Tasks, address: Address,
                 close: Callable[[], Awaitable[None]]) -> None:
        self._tasks = tasks
        self.address = address
        self._close = close

    async def close(self) -> None:
        await self._close()
        await self._tasks.close()


async def serve_udp(address: Address, handler: Handler) -> MessageServer:
    tasks = _Tasks(handler)
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: _Datagrams(tasks, connected=False), local_addr=(address.host, address.port))
    host, port = transport.get_extra_info("sockname")[:2]

    async def close() -> None:
        transport.close()

    return MessageServer(tasks, Address(str(host), int(port)), close)


async def serve_tcp(address: Address, handler: Handler,
                    framer: Callable[[], Framer]) -> MessageServer:
    tasks = _Tasks(handler)
    readers: set[asyncio.Task[None]] = set()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        readers.add(task)
        try:
            await _read_stream(reader, writer, framer(), tasks)
        finally:
            readers.discard(task)

    server = await asyncio.start_server(accept, address.host, address.port)
    host, port = server.sockets[0].getsockname()[:2]

    async def close() -> None:
        server.close()
        for task in list(readers):
            task.cancel()
        with contextlib.suppress(BaseException):
            await server.wait_closed()

    return MessageServer(tasks, Address(str(host), int(port)), close)


class MessageClient:
    """A channel to one peer whose messages back go to a handler."""

    def __init__(self, channel: Channel, tasks: _Tasks,
                 close: Callable[[], Awaitable[None]], local: Address) -> None:
        self.channel = channel
        self._tasks = tasks
        self._close = close
        self.local = local
        """This end's own address (Via, rasAddress, mId)."""

    def send(self, data: bytes) -> None:
        self.channel.send(data)

    async def close(self) -> None:
        await self._close()
        await self._tasks.close()


async def connect_udp(remote: Address, handler: Handler) -> MessageClient:
    tasks = _Tasks(handler)
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: _Datagrams(tasks, connected=True), remote_addr=(remote.host, remote.port))
    host, port = transport.get_extra_info("sockname")[:2]

    async def close() -> None:
        transport.close()

    return MessageClient(UdpChannel(transport, None), tasks, close, Address(str(host), int(port)))


async def connect_tcp(remote: Address, handler: Handler,
                      framer: Callable[[], Framer]) -> MessageClient:
    tasks = _Tasks(handler)
    reader, writer = await asyncio.open_connection(remote.host, remote.port)
    task = asyncio.get_running_loop().create_task(_read_stream(reader, writer, framer(), tasks))
    host, port = writer.get_extra_info("sockname")[:2]

    async def close() -> None:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        writer.close()

    return MessageClient(TcpChannel(writer), tasks, close, Address(str(host), int(port)))

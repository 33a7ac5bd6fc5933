"""Non-blocking I/O on an established PSK-TLS socket, driven from the event loop.

After the handshake (done in a worker thread, :mod:`gba.transport.psk_tls`) the TLS socket is
switched to non-blocking mode; :class:`PskTlsConnection` waits for readiness with
``loop.add_reader``/``add_writer`` instead of holding a thread per connection. OpenSSL
reads and writes the socket itself, past the capture tap of the event loop, so while
capture is on the connection reports its plaintext (:func:`gba.capture.tap.stream_tap`,
layer ``decrypted``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from typing import Final, Generic, TypeVar

from gba.capture import tap as capture
from gba.errors import ProtocolError

C = TypeVar("C")
LINGER_LIMIT: Final = 1024 * 1024
"""Most octets a lingering close reads and discards before it gives up and closes."""
CAPTURE_NOTE: Final = "PSK-TLS, recorded above TLS"


def wake_future(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _FdWaiter:
    """Readiness of one file descriptor for any number of waiting tasks."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        self._loop = loop
        self._fd = fd
        self._waiting: dict[bool, list[asyncio.Future[None]]] = {True: [], False: []}

    async def wait(self, readable: bool, timeout: float | None) -> None:
        waiters = self._waiting[readable]
        if not waiters:
            if readable:
                self._loop.add_reader(self._fd, self._ready, True)
            else:
                self._loop.add_writer(self._fd, self._ready, False)
        future: asyncio.Future[None] = self._loop.create_future()
        waiters.append(future)
        try:
            async with asyncio.timeout(timeout):
                await future
        finally:
            if future in waiters:
                waiters.remove(future)
                if not waiters:
                    self._unwatch(readable)

    def _ready(self, readable: bool) -> None:
        waiters = self._waiting[readable]
        self._unwatch(readable)
        for future in waiters:
            wake_future(future)
        waiters.clear()

    def _unwatch(self, readable: bool) -> None:
        if readable:
            self._loop.remove_reader(self._fd)
        else:
            self._loop.remove_writer(self._fd)

    def close(self) -> None:
        for readable, waiters in self._waiting.items():
            if waiters:
                self._unwatch(readable)
            for future in waiters:
                if not future.done():
                    future.set_exception(ConnectionError("PSK-TLS connection closed"))
            waiters.clear()


class PskTlsConnection(Generic[C]):
    """An established PSK-TLS connection, read and written from the event loop.

    *ciphersuite* is the negotiated suite the key was derived for; *server_name* the host
    name the client asked for by SNI (RFC 6066 §3), None without SNI.

    *context* is what the server's key lookup granted along with the PSK (for a NAF, its
    key record for the B-TID): the key is looked up once, during the handshake, and the
    application finds the result here. It is not shown in the repr; the PSK itself is not
    kept at all.

    The TLS socket is non-blocking: an operation that OpenSSL cannot finish raises
    SSLWantRead/WriteError and we wait for the socket on the loop, then retry the same
    call (OpenSSL requires a retried write to pass the same bytes). Each of *read* and
    *write* is serialised by its own lock, so a reader and a writer may run at once.
    """

    def __init__(self, tls: ssl.SSLSocket, *, psk_identity: str, btid: str, ciphersuite: int,
                 peer: str, context: C, timeout: float | None = 60.0,
                 server_name: str | None = None) -> None:
        self.psk_identity = psk_identity
        self.btid = btid
        self.ciphersuite = ciphersuite
        self.server_name = server_name
        self.peer = peer
        self.context = context
        self.timeout = timeout
        self._tls = tls
        self._io = _FdWaiter(asyncio.get_running_loop(), tls.fileno())
        self._buffer = bytearray()
        self._read_lock = asyncio.Lock()
        self._write_lock = asyncio.Lock()
        self._closed = False
        self._tap = capture.stream_tap(tls, accepted=True, layer="decrypted",
                                       note=CAPTURE_NOTE)
        if self._tap is not None:
            self._tap.opened()

    def __repr__(self) -> str:
        return (f"PskTlsConnection(peer={self.peer}, btid={self.btid!r}, "
                f"ciphersuite=0x{self.ciphersuite:04x})")

    async def read(self, n: int = 65536) -> bytes:
        """Up to *n* octets; b"" at end of stream."""
        if n <= 0:
            return b""
        async with self._read_lock:
            if self._buffer:
                data = bytes(self._buffer[:n])
                del self._buffer[:n]
                return data
            return await self._recv(n)

    async def readline(self, limit: int = 65536) -> bytes:
        """One line with its b"\\n"; what is left at end of stream; ProtocolError past *limit*."""
        async with self._read_lock:
            while True:
                end = self._buffer.find(b"\n")
                if end >= 0 or len(self._buffer) >= limit:
                    if end < 0 or end + 1 > limit:
                        raise ProtocolError(f"line from {self.peer} longer than {limit} octets")
                    line = bytes(self._buffer[:end + 1])
                    del self._buffer[:end + 1]
                    return line
                chunk = await self._recv(65536)
                if not chunk:
                    line = bytes(self._buffer)
                    self._buffer.clear()
                    return line
                self._buffer += chunk

    async def write(self, data: bytes) -> None:
        """Send all of *data*."""
        async with self._write_lock:
            view = memoryview(data)
            while view:
                self._check_open()
                try:
                    sent = self._tls.send(view)
                except ssl.SSLWantWriteError:
                    await self._io.wait(False, self.timeout)
                except ssl.SSLWantReadError:
                    await self._io.wait(True, self.timeout)
                else:
                    if self._tap is not None:
                        self._tap.sent(bytes(view[:sent]))
                    view = view[sent:]

    async def close(self, linger: float = 0.0) -> None:
        """Send close_notify (best effort) and close the socket; idempotent.

        With *linger* > 0, wait up to that many seconds, after our close_notify, for the
        peer to close its side, reading and discarding what it still sends (at most
        :data:`LINGER_LIMIT` octets). Closing a socket with unread data in it makes the
        kernel send a TCP RST, which can destroy a response the peer has not read yet
        (RFC 9112 §9.6): a server that closes right after an error answer lingers.
        """
        if self._closed:
            return
        self._closed = True
        if self._tap is not None:
            self._tap.local_closing()
        try:
            if linger > 0:
                with contextlib.suppress(TimeoutError, OSError, ValueError):
                    async with asyncio.timeout(linger):
                        await self._send_close_notify()
                        await self._drain()
            else:
                # unwrap() sends our close_notify, then wants the peer's: WantRead is expected.
                with contextlib.suppress(ssl.SSLError, OSError, ValueError):
                    self._tls.unwrap()
        finally:
            self._io.close()
            self._tls.close()
            if self._tap is not None:
                self._tap.lost()

    async def _send_close_notify(self) -> None:
        while True:
            try:
                self._tls.unwrap()  # returns once the peer's close_notify is in as well
                return
            except ssl.SSLWantWriteError:
                await self._io.wait(False, None)
            except ssl.SSLWantReadError:
                return  # ours is sent; theirs is not in yet
            except ssl.SSLError:
                return  # ours is sent; unwrap() read application data where it wanted theirs

    async def _drain(self) -> None:
        """Read the raw socket until the peer closes; the TLS records no longer matter."""
        drained = 0
        while drained < LINGER_LIMIT:
            try:
                chunk = socket.socket.recv(self._tls, 65536)
            except (BlockingIOError, InterruptedError):
                await self._io.wait(True, None)
                continue
            if not chunk:
                return
            drained += len(chunk)

    async def _recv(self, n: int) -> bytes:
        while True:
            self._check_open()
            try:
                data = self._tls.recv(n)
            except ssl.SSLWantReadError:
                await self._io.wait(True, self.timeout)
            except ssl.SSLWantWriteError:
                await self._io.wait(False, self.timeout)
            else:
                if self._tap is not None:
                    if data:
                        self._tap.received(data)
                    else:
                        self._tap.peer_closing()
                return data

    def _check_open(self) -> None:
        if self._closed:
            raise ConnectionError(f"PSK-TLS connection with {self.peer} is closed")

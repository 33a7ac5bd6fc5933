"""The pieces of the transport tap: per-connection recorders and the asyncio proxies.

:class:`StreamTap` reports one TCP connection at one layer as
:class:`~gba.capture.events.Segment` values. The event loop of :mod:`gba.capture.tap`
puts a tapping protocol between a transport and its protocol (what the transport hands
up is reported as received) and gives the protocol, and the caller that made the
connection, a transport proxy (what is written through it is reported as sent). A
:class:`asyncio.BufferedProtocol` stays buffered (the transport picks its read path by
``isinstance``), so does a datagram protocol. Everything the proxies do not record goes
to the real transport, private attributes included (``asyncio.sslproto`` calls
``_force_close``), except ``sendfile``, which is made to fall back to ``write`` so that
no byte passes the tap unseen.
"""

from __future__ import annotations

import asyncio
import time
from asyncio import constants
from collections.abc import Callable, Iterable
from typing import Any

from gba.capture.events import Layer, Segment

Endpoint = tuple[str, int]
Emit = Callable[[Segment], None]


class StreamTap:
    """Reports one TCP connection seen from *local*: ``open`` once, ``data`` both ways,
    ``close`` once, from the side that closed first. *accepted*: *local* is the server."""

    def __init__(self, emit: Emit, local: Endpoint, peer: Endpoint, *, accepted: bool,
                 connection: int, layer: Layer = "wire", note: str = "",
                 recorder: str = "") -> None:
        self._emit = emit
        self.local, self.peer = local, peer
        self.accepted = accepted
        self.connection = connection
        self.layer: Layer = layer
        self.note = note
        self.recorder = recorder
        self._opened = self._closed = False
        self._first_closer: Endpoint | None = None

    def _report(self, kind: Any, src: Endpoint, dst: Endpoint, data: bytes = b"") -> None:
        self._emit(Segment(time.time(), "tcp", src, dst, kind, self.connection, data,
                           self.note, self.layer, self.recorder))

    def opened(self) -> None:
        if not self._opened:
            self._opened = True
            client, server = (self.peer, self.local) if self.accepted else (self.local,
                                                                             self.peer)
            self._report("open", client, server)

    def sent(self, data: bytes) -> None:
        if data and not self._closed:
            self._report("data", self.local, self.peer, data)

    def received(self, data: bytes) -> None:
        if data and not self._closed:
            self._report("data", self.peer, self.local, data)

    def peer_closing(self) -> None:
        """The peer's EOF (its FIN), unless this side closed first."""
        self._first_closer = self._first_closer or self.peer

    def local_closing(self) -> None:
        """This side's close, shutdown or abort, unless the peer closed first."""
        self._first_closer = self._first_closer or self.local

    def lost(self) -> None:
        """The connection is gone: report ``close`` (once, and only after ``open``)."""
        if self._opened and not self._closed:
            first = self._first_closer or self.local
            self._report("close", first, self.peer if first == self.local else self.local)
            self._closed = True


def _payload(data: Any) -> bytes | None:
    return bytes(data) if isinstance(data, bytes | bytearray | memoryview) else None


class TapTransport(asyncio.Transport):
    """A stream transport proxy: writes are reported, then passed on."""

    _sendfile_compatible = constants._SendfileMode.FALLBACK

    def __init__(self, real: asyncio.Transport, tap: StreamTap) -> None:
        super().__init__()
        self._real = real
        self._tap = tap

    def __getattr__(self, name: str) -> Any:
        if name == "_real":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self._real, name)

    def __repr__(self) -> str:
        return f"<tapped {self._real!r}>"

    def write(self, data: Any) -> None:
        payload = _payload(data)
        if payload is not None:
            self._tap.sent(payload)
        self._real.write(data)

    def writelines(self, list_of_data: Iterable[Any]) -> None:
        chunks = list(list_of_data)
        payload = b"".join(p for p in map(_payload, chunks) if p is not None)
        self._tap.sent(payload)
        self._real.writelines(chunks)

    def write_eof(self) -> None:
        self._tap.local_closing()
        self._real.write_eof()

    def can_write_eof(self) -> bool:
        return self._real.can_write_eof()

    def close(self) -> None:
        self._tap.local_closing()
        self._real.close()

    def abort(self) -> None:
        self._tap.local_closing()
        self._real.abort()

    def is_closing(self) -> bool:
        return self._real.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._real.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._real.set_protocol(tapping(protocol, self._tap, self))

    def get_protocol(self) -> asyncio.BaseProtocol:
        protocol = self._real.get_protocol()
        return protocol.inner if isinstance(protocol, _TapStreamBase) else protocol

    def is_reading(self) -> bool:
        return self._real.is_reading()

    def pause_reading(self) -> None:
        self._real.pause_reading()

    def resume_reading(self) -> None:
        self._real.resume_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None
                                ) -> None:
        self._real.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self._real.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._real.get_write_buffer_limits()


class _TapStreamBase:
    """What both stream protocol wrappers do; *transport* is what the inner protocol sees."""

    def __init__(self, inner: Any, tap: StreamTap, transport: TapTransport | None) -> None:
        self.inner = inner
        self.tap = tap
        self.transport = transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.tap.opened()
        self.inner.connection_made(self.transport or transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.tap.lost()
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def eof_received(self) -> bool | None:
        self.tap.peer_closing()
        result: bool | None = self.inner.eof_received()
        return result


class TapProtocol(_TapStreamBase, asyncio.Protocol):
    """Wraps an :class:`asyncio.Protocol`: reports what ``data_received`` gets."""

    def data_received(self, data: bytes) -> None:
        self.tap.received(data)
        self.inner.data_received(data)


class TapBufferedProtocol(_TapStreamBase, asyncio.BufferedProtocol):
    """Wraps an :class:`asyncio.BufferedProtocol`: reports what lands in its buffer."""

    def __init__(self, inner: Any, tap: StreamTap, transport: TapTransport | None) -> None:
        super().__init__(inner, tap, transport)
        self._buffer: Any = b""

    def get_buffer(self, sizehint: int) -> Any:
        self._buffer = self.inner.get_buffer(sizehint)
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        with memoryview(self._buffer) as view:
            self.tap.received(bytes(view[:nbytes]))
        self.inner.buffer_updated(nbytes)


def tapping(protocol: asyncio.BaseProtocol, tap: StreamTap, transport: TapTransport | None
            ) -> TapProtocol | TapBufferedProtocol:
    """*protocol* wrapped (buffered or not, as it is) to report to *tap*."""
    if isinstance(protocol, asyncio.BufferedProtocol):
        return TapBufferedProtocol(protocol, tap, transport)
    return TapProtocol(protocol, tap, transport)


class DatagramTap:
    """Reports the datagrams of one UDP socket bound at *local*."""

    def __init__(self, emit: Emit, local: Endpoint, peer: Endpoint | None, *,
                 recorder: str = "") -> None:
        self._emit = emit
        self.local, self.peer = local, peer
        self.recorder = recorder

    def _report(self, src: Endpoint, dst: Endpoint, data: bytes) -> None:
        self._emit(Segment(time.time(), "udp", src, dst, "data", 0, data,
                           recorder=self.recorder))

    def sent(self, data: bytes, to: Any) -> None:
        dst = _endpoint(to) if to is not None else self.peer
        if dst is not None:
            self._report(_local_for(self.local, dst), dst, data)

    def received(self, data: bytes, sender: Any) -> None:
        src = _endpoint(sender)
        if src is not None:
            self._report(src, _local_for(self.local, src), data)


def _endpoint(address: Any) -> Endpoint | None:
    """(host, port) of an IP socket address, else None (a Unix path, say)."""
    if isinstance(address, tuple) and len(address) >= 2 and isinstance(address[0], str):
        return address[0], int(address[1])
    return None


def _local_for(local: Endpoint, peer: Endpoint) -> Endpoint:
    """A wildcard-bound socket talking to *peer* uses *peer*'s address (on loopback)."""
    if local[0] in ("0.0.0.0", "::", ""):
        return peer[0], local[1]
    return local


class TapDatagramTransport(asyncio.DatagramTransport):
    """A datagram transport proxy: ``sendto`` is reported, then passed on."""

    def __init__(self, real: asyncio.DatagramTransport, tap: DatagramTap) -> None:
        super().__init__()
        self._real = real
        self._tap = tap

    def __getattr__(self, name: str) -> Any:
        if name == "_real":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self._real, name)

    def __repr__(self) -> str:
        return f"<tapped {self._real!r}>"

    def sendto(self, data: Any, addr: Any = None) -> None:
        payload = _payload(data)
        if payload is not None:
            self._tap.sent(payload, addr)
        self._real.sendto(data, addr)

    def abort(self) -> None:
        self._real.abort()

    def close(self) -> None:
        self._real.close()

    def is_closing(self) -> bool:
        return self._real.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._real.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._real.set_protocol(TapDatagramProtocol(protocol, self._tap, self))

    def get_protocol(self) -> asyncio.BaseProtocol:
        protocol = self._real.get_protocol()
        return protocol.inner if isinstance(protocol, TapDatagramProtocol) else protocol


class TapDatagramProtocol(asyncio.DatagramProtocol):
    """Wraps a datagram protocol: reports what ``datagram_received`` gets."""

    def __init__(self, inner: Any, tap: DatagramTap,
                 transport: TapDatagramTransport | None) -> None:
        self.inner = inner
        self.tap = tap
        self.transport = transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.inner.connection_made(self.transport or transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.tap.received(data, addr)
        self.inner.datagram_received(data, addr)

    def error_received(self, exc: Exception) -> None:
        self.inner.error_received(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

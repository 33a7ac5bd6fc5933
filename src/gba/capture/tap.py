"""The transport tap: an event loop that records every TCP and UDP connection it makes.

Where it sits: below every interface. asyncio builds each connection's transport through
three private hooks of its selector loop, ``_make_socket_transport``,
``_make_ssl_transport`` and ``_make_datagram_transport``; :class:`TapLoop` overrides them
to put the proxies of :mod:`gba.capture.tap_proxies` around what they build, so HTTP
(aiohttp, Ub/Ua/REST), Diameter (Zh, Zn, AAA legs) and any later protocol are recorded
without code of their own. Layers:

- ``wire``: the bytes a socket carried. TLS is built the way CPython 3.11's
  ``selector_events`` builds it, an ``asyncio.sslproto.SSLProtocol`` on a socket
  transport, but that socket transport is a tapped one, so TLS shows as TLS records; the
  TLS key log (:func:`keylog`, NSS key log format, set on every context the loop uses
  and by :mod:`gba.transport.tls` and :mod:`gba.transport.psk_tls_context` on theirs)
  lets Wireshark decrypt them.
- ``decrypted``: the bytes above TLS, reported by a tap between ``SSLProtocol`` and the
  application protocol, and by PSK-TLS (:func:`stream_tap`), whose OpenSSL socket the
  loop never sees.

The hooks are private: without them (another Python) :func:`check_hooks` refuses
capture with :class:`CaptureError` rather than record nothing. The tap costs nothing
unless installed (:func:`run`, as ``gba serve --capture`` does). Sinks
(:class:`~gba.capture.events.Sink`) are called on the loop or on a worker thread and
must not raise; a sink that does is logged and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import os
import socket
import ssl
import threading
from asyncio import constants, selector_events, sslproto
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

from gba.capture.events import Layer, Segment, Sink
from gba.capture.tap_proxies import (
    DatagramTap,
    StreamTap,
    TapDatagramProtocol,
    TapDatagramTransport,
    TapTransport,
    tapping,
)
from gba.errors import GbaError

log = logging.getLogger(__name__)

T = TypeVar("T")
_IP_FAMILIES: Final = (socket.AF_INET, socket.AF_INET6)
_HOOKS: Final = {
    "_make_socket_transport": ("sock", "protocol", "waiter", "extra", "server"),
    "_make_ssl_transport": ("rawsock", "protocol", "sslcontext", "waiter", "server_side",
                            "server_hostname", "extra", "server", "ssl_handshake_timeout",
                            "ssl_shutdown_timeout"),
    "_make_datagram_transport": ("sock", "protocol", "address", "waiter", "extra"),
}


class CaptureError(GbaError):
    """Capture cannot run here (no transport hooks in this Python) or is misconfigured."""


def check_hooks() -> None:
    """Refuse capture unless asyncio has the private hooks the tap overrides, with the
    parameters CPython 3.11 gives them."""
    base = selector_events.BaseSelectorEventLoop
    for name, params in _HOOKS.items():
        hook = vars(base).get(name)
        if hook is None or not set(params) <= set(inspect.signature(hook).parameters):
            raise CaptureError(f"this Python's asyncio has no {name}({', '.join(params)}); "
                               "the capture tap cannot record here")
    ssl_params = inspect.signature(sslproto.SSLProtocol.__init__).parameters
    if not {"ssl_handshake_timeout", "ssl_shutdown_timeout"} <= set(ssl_params):
        raise CaptureError("this Python's asyncio.sslproto.SSLProtocol is not the one the "
                           "capture tap knows")


@dataclass(frozen=True)
class _Installed:
    recorder: str
    sinks: tuple[Sink, ...]
    keylog: Path | None


_state: _Installed | None = None
_state_lock = threading.Lock()
_connections = itertools.count(1)


def install(sinks: Iterable[Sink], recorder: str, keylog: Path | None = None) -> None:
    """Report every connection of a :class:`TapLoop` to *sinks*, as *recorder*; with
    *keylog*, TLS secrets go there (created owner-only)."""
    check_hooks()
    if keylog is not None:
        keylog.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(keylog, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        with contextlib.suppress(OSError):
            os.chmod(keylog, 0o600)
    global _state
    with _state_lock:
        _state = _Installed(recorder, tuple(sinks), keylog)


def add_sink(sink: Sink) -> None:
    """One more sink for the installed tap (e.g. an in-process consumer)."""
    global _state
    with _state_lock:
        if _state is None:
            raise CaptureError("no capture tap is installed")
        _state = _Installed(_state.recorder, (*_state.sinks, sink), _state.keylog)


def uninstall() -> None:
    """Stop reporting and close every sink."""
    global _state
    with _state_lock:
        state, _state = _state, None
    for sink in state.sinks if state is not None else ():
        try:
            sink.close()
        except Exception:
            log.exception("capture sink %r failed to close", sink)


def installed() -> bool:
    return _state is not None


def recorder() -> str:
    """The name segments are reported under ("" when no tap is installed)."""
    return _state.recorder if _state is not None else ""


def emit(seg: Segment) -> None:
    """Hand *seg* to every sink; a sink that raises is logged and dropped."""
    state = _state
    if state is None:
        return
    for sink in state.sinks:
        try:
            sink.segment(seg)
        except Exception:
            log.exception("capture sink %r raised; dropping it", sink)
            _drop(sink)


def _drop(sink: Sink) -> None:
    global _state
    with _state_lock:
        if _state is not None:
            _state = _Installed(_state.recorder,
                                tuple(s for s in _state.sinks if s is not sink),
                                _state.keylog)


def tls_keylog_path() -> Path | None:
    """Where TLS secrets go while capture is on; None otherwise."""
    return _state.keylog if _state is not None else None


def keylog(ctx: ssl.SSLContext) -> ssl.SSLContext:
    """Have *ctx* append its TLS secrets to the key log (NSS key log format, so Wireshark
    decrypts the capture) while capture is on; otherwise leave it alone."""
    path = tls_keylog_path()
    if path is not None and ctx.keylog_filename != str(path):
        ctx.keylog_filename = str(path)
    return ctx


def _ends(sock: Any) -> tuple[tuple[str, int], tuple[str, int]] | None:
    """(local, peer) of a connected IP socket; None for other sockets."""
    try:
        if sock.family not in _IP_FAMILIES:
            return None
        local, peer = sock.getsockname(), sock.getpeername()
    except OSError:
        return None
    return (local[0], int(local[1])), (peer[0], int(peer[1]))


def stream_tap(sock: Any, *, accepted: bool, layer: Layer = "wire", note: str = "",
               connection: int | None = None) -> StreamTap | None:
    """A recorder for a connection the loop does not carry (PSK-TLS on its own socket);
    None when no tap is installed or *sock* is not a connected IP socket."""
    ends = _ends(sock) if _state is not None else None
    if ends is None:
        return None
    return StreamTap(emit, *ends, accepted=accepted, layer=layer, note=note,
                     connection=next(_connections) if connection is None else connection,
                     recorder=recorder())


class TapLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose TCP and UDP transports report to the installed tap."""

    def __init__(self, selector: Any = None) -> None:
        check_hooks()
        super().__init__(selector)

    def _make_socket_transport(self, sock: Any, protocol: Any, waiter: Any = None, *,
                               extra: Any = None, server: Any = None) -> Any:
        tap = stream_tap(sock, accepted=server is not None)
        if tap is None:
            return super()._make_socket_transport(  # type: ignore[misc]
                sock, protocol, waiter, extra=extra, server=server)
        return self._tapped(sock, protocol, tap, waiter, extra, server)

    def _tapped(self, sock: Any, protocol: Any, tap: StreamTap, waiter: Any, extra: Any,
                server: Any) -> TapTransport:
        wrapper = tapping(protocol, tap, None)
        real = super()._make_socket_transport(  # type: ignore[misc]
            sock, wrapper, waiter, extra=extra, server=server)
        proxy = TapTransport(real, tap)
        wrapper.transport = proxy  # connection_made is only scheduled: it sees the proxy
        return proxy

    def _make_ssl_transport(self, rawsock: Any, protocol: Any, sslcontext: Any,
                            waiter: Any = None, *, server_side: bool = False,
                            server_hostname: Any = None, extra: Any = None,
                            server: Any = None,
                            ssl_handshake_timeout: Any = constants.SSL_HANDSHAKE_TIMEOUT,
                            ssl_shutdown_timeout: Any = constants.SSL_SHUTDOWN_TIMEOUT
                            ) -> Any:
        wire = stream_tap(rawsock, accepted=server_side)
        if wire is None:
            return super()._make_ssl_transport(  # type: ignore[misc]
                rawsock, protocol, sslcontext, waiter, server_side=server_side,
                server_hostname=server_hostname, extra=extra, server=server,
                ssl_handshake_timeout=ssl_handshake_timeout,
                ssl_shutdown_timeout=ssl_shutdown_timeout)
        keylog(sslcontext)
        above = StreamTap(emit, wire.local, wire.peer, accepted=server_side,
                          connection=wire.connection, layer="decrypted",
                          recorder=wire.recorder)
        app = tapping(protocol, above, None)
        ssl_protocol = sslproto.SSLProtocol(
            self, app, sslcontext, waiter, server_side, server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout)
        self._tapped(rawsock, ssl_protocol, wire, None, extra, server)
        app.transport = TapTransport(ssl_protocol._app_transport, above)
        return app.transport

    def _make_datagram_transport(self, sock: Any, protocol: Any, address: Any = None,
                                 waiter: Any = None, extra: Any = None) -> Any:
        if _state is None or sock.family not in _IP_FAMILIES:
            return super()._make_datagram_transport(  # type: ignore[misc]
                sock, protocol, address, waiter, extra)
        host, port = sock.getsockname()[:2]
        peer = (address[0], int(address[1])) if address else None
        tap = DatagramTap(emit, (host, int(port)), peer, recorder=recorder())
        wrapper = TapDatagramProtocol(protocol, tap, None)
        real = super()._make_datagram_transport(  # type: ignore[misc]
            sock, wrapper, address, waiter, extra)
        wrapper.transport = TapDatagramTransport(real, tap)
        return wrapper.transport


def run(main: Coroutine[Any, Any, T], *, recorder: str, sinks: Iterable[Sink],
        keylog: Path | None = None) -> T:
    """``asyncio.run(main)`` on a :class:`TapLoop` with the tap installed for *sinks*;
    the sinks are closed when *main* ends."""
    try:
        install(sinks, recorder, keylog)
    except BaseException:
        main.close()  # never started: no "never awaited" warning
        raise
    try:
        with asyncio.Runner(loop_factory=TapLoop) as runner:
            return runner.run(main)
    finally:
        uninstall()

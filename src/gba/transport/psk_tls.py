"""PSK-TLS on Ua: an asyncio server and client around ``sslpsk3`` (TS 33.222 §5.4).

Python 3.11's :mod:`ssl` has no PSK callbacks; ``sslpsk3`` adds OpenSSL's, for TLS 1.2.
OpenSSL asks for the key synchronously, in the middle of the handshake, once the
ClientKeyExchange has brought the identity, while our key lookup (Zn to the BSF) is a
coroutine. So each handshake runs, blocking, in a worker thread, and the PSK callback
runs the lookup on the server's event loop and waits for it. After the handshake the
TLS socket is made non-blocking and driven from the event loop (:class:`PskTlsConnection`).

The key depends on the negotiated ciphersuite (NAF_Id ends in ``01 00 01 yy zz``,
TS 33.220 Annex H). Inside the server PSK callback the ssl module does not show it
(``SSLSocket.cipher()`` is None until the handshake ends; only CPython's private
``SSLContext._msg_callback`` sees the ServerHello), so a server offers exactly one suite
and hands its code to the lookup.

A resumed TLS session completes without a PSK callback, so without an identity; session
tickets are off and a resumed session (OpenSSL's session-ID cache cannot be switched off
from Python) is refused. Keys never reach logs, reprs or exceptions.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Final

import sslpsk3
import sslpsk3.sslpsk3 as _sslpsk3_impl

from gba.errors import AuthError, CodecError, InvalidInput, ProtocolError
from gba.protocols.ua_psk import (
    PSK_IDENTITY_HINT,
    PSK_IDENTITY_HINT_UICC,
    btid_from_psk_identity,
    psk_identity_for,
)
from gba.transport.psk_tls_io import PskTlsConnection, wake_future

__all__ = [
    "DEFAULT_CIPHER",
    "PSK_IDENTITY_HINT",
    "PSK_IDENTITY_HINT_UICC",
    "Handler",
    "KeyLookup",
    "PskTlsConnection",
    "PskTlsServer",
    "btid_from_psk_identity",
    "ciphersuite_code",
    "psk_identity_for",
    "psk_tls_request",
]

log = logging.getLogger(__name__)

DEFAULT_CIPHER: Final = "PSK-AES128-CBC-SHA"
MAX_PSK: Final = 256
"""Longest PSK we hand to OpenSSL (its PSK_MAX_PSK_LEN is 512 in 3.0, 256 before)."""
MAX_RESPONSE: Final = 16 * 1024 * 1024


def ciphersuite_code(cipher: str) -> int:
    """The TLS code of exactly one OpenSSL PSK suite name: PSK-AES128-CBC-SHA -> 0x008C."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.set_ciphers(cipher)
    except ssl.SSLError:
        raise InvalidInput(f"OpenSSL has no cipher matching {cipher!r}") from None
    suites = [c for c in ctx.get_ciphers() if c["protocol"] != "TLSv1.3"]
    if len(suites) != 1:
        names = ", ".join(c["name"] for c in suites)
        raise InvalidInput(f"{cipher!r} names {len(suites)} TLS 1.2 suites ({names}), not one")
    if suites[0]["auth"] != "auth-psk":
        raise InvalidInput(f"{suites[0]['name']} is not a PSK ciphersuite")
    return int(suites[0]["id"]) & 0xFFFF


def _tls12(ctx: Any, cipher: str) -> None:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(cipher)
    ctx.options |= ssl.OP_NO_TICKET | ssl.OP_NO_RENEGOTIATION | ssl.OP_NO_COMPRESSION


class _PskContext(sslpsk3.SSLPSKContext):  # type: ignore[misc]  # sslpsk3 is untyped
    """sslpsk3's context without its leak.

    sslpsk3 (2.1.0) files every connection's SSL* in the module dict ``psk_contexts``, for
    its C callback to find the context, and never removes it: with one context per request
    that keeps every context alive. This is its ``setup_psk_callbacks`` keeping the id on
    the socket, so that :func:`_release` can drop the entry once the handshake is over.
    On Python 3.13+ sslpsk3 uses the ssl module's own callbacks and files nothing.
    """

    def setup_psk_callbacks(self, sock: Any) -> None:
        c = _sslpsk3_impl._sslpsk3
        if self.psk_client_callback and not sock.server_side:
            ssl_id = c.sslpsk3_set_psk_client_callback(_sslpsk3_impl.get_ssl_socket(sock))
        elif self.psk_server_callback and sock.server_side:
            handle = _sslpsk3_impl.get_ssl_socket(sock)
            ssl_id = c.sslpsk3_set_accept_state(handle)
            c.sslpsk3_set_psk_server_callback(handle)
            c.sslpsk3_use_psk_identity_hint(handle, self.psk_server_hint or "")
        else:
            return
        _sslpsk3_impl.psk_contexts[ssl_id] = self
        sock.gba_ssl_id = ssl_id


def _release(tls: ssl.SSLSocket) -> None:
    """Forget the socket in sslpsk3's table; only while its SSL* is alive (ids are reused)."""
    ssl_id = getattr(tls, "gba_ssl_id", None)
    if ssl_id is not None:
        _sslpsk3_impl.psk_contexts.pop(ssl_id, None)


def _server_context(cipher: str, hint: str, callback: Callable[[str | None], bytes]
                    ) -> ssl.SSLContext:
    ctx: Any = _PskContext(ssl.PROTOCOL_TLS_SERVER)
    _tls12(ctx, cipher)
    ctx.set_psk_server_callback(callback, hint)
    assert isinstance(ctx, ssl.SSLContext)
    return ctx


def _client_context(cipher: str, identity: str, psk: bytes) -> ssl.SSLContext:
    ctx: Any = _PskContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    _tls12(ctx, cipher)

    def callback(hint: str | None) -> tuple[str, bytes]:
        return identity, psk

    ctx.set_psk_client_callback(callback)
    assert isinstance(ctx, ssl.SSLContext)
    return ctx


KeyLookup = Callable[[str, int], Awaitable[bytes | None]]
"""``key_for(psk_identity, ciphersuite)``: the PSK, or None when the identity is unknown."""
Handler = Callable[[PskTlsConnection], Awaitable[None]]
"""The application, called once per established connection; the server closes it after."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, _Refused):
        return str(exc)
    if isinstance(exc, SystemError) and isinstance(exc.__cause__, UnicodeDecodeError):
        return "PSK identity is not UTF-8"  # sslpsk3 fails to decode it, leaving this
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return f"TLS {exc.reason}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _peer_name(addr: Any) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host, port = addr[0], addr[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(addr)


def _closed_before_hello(raw: socket.socket) -> bool:
    """True when the peer closed without sending anything (a port probe, not a client)."""
    try:
        return raw.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True


class _Refused(Exception):
    """A handshake that completed but that we do not accept."""


class _Attempt:
    """One handshake in progress: what the PSK callback learned, and how to abort it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.identity: str | None = None
        self.btid: str | None = None
        self.failure: str | None = None
        self.keyed = False
        self.key_future: concurrent.futures.Future[bytes | None] | None = None
        self.sock: ssl.SSLSocket | None = None
        self.aborted = False

    def abort(self) -> None:
        """Wake a worker blocked on the socket or on the key lookup (from the loop)."""
        self.aborted = True
        if self.key_future is not None:
            self.key_future.cancel()
        if self.sock is not None:
            # socket.socket.shutdown, not SSLSocket.shutdown: the latter drops the SSL
            # object under the feet of the worker thread.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(self.sock, socket.SHUT_RDWR)


class PskTlsServer:
    """TLS 1.2 PSK server for Ua (TS 33.222 §5.4): handshake in threads, I/O on the loop."""

    def __init__(self, host: str, port: int, key_for: KeyLookup, handler: Handler, *,
                 cipher: str = DEFAULT_CIPHER, hint: str = PSK_IDENTITY_HINT,
                 handshake_timeout: float = 10.0, key_timeout: float = 5.0,
                 io_timeout: float | None = 60.0, workers: int = 16, backlog: int = 128) -> None:
        self.cipher = cipher
        self.ciphersuite = ciphersuite_code(cipher)
        self.hint = hint
        self._host = host
        self._requested_port = port
        self._key_for = key_for
        self._handler = handler
        self._handshake_timeout = handshake_timeout
        self._key_timeout = key_timeout
        self._io_timeout = io_timeout
        self._workers = workers
        self._backlog = backlog
        self._ctx = _server_context(cipher, hint, self._psk_callback)
        self._local = threading.local()
        self._listener: socket.socket | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._attempts: set[_Attempt] = set()
        self._port = 0

    def __repr__(self) -> str:
        return (f"PskTlsServer({self._host!r}, port={self._port or self._requested_port}, "
                f"cipher={self.cipher}, hint={self.hint!r})")

    @property
    def port(self) -> int:
        """The bound port (the one picked by the OS when started with port 0)."""
        if self._listener is None:
            raise ProtocolError("PSK-TLS server is not started")
        return self._port

    async def start(self) -> None:
        """Bind, listen and start accepting."""
        if self._listener is not None:
            raise ProtocolError("PSK-TLS server is already started")
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(self._host or None, self._requested_port,
                                       type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, addr = infos[0]
        listener = socket.socket(family, kind, proto)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(addr)
            listener.listen(self._backlog)
            listener.setblocking(False)
        except BaseException:
            listener.close()
            raise
        self._listener = listener
        self._port = listener.getsockname()[1]
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self._workers, thread_name_prefix="psk-tls")
        self._accepting = loop.create_task(self._accept_loop(listener))
        log.info("PSK-TLS listening on %s, %s (0x%04x), hint %r",
                 _peer_name(listener.getsockname()), self.cipher, self.ciphersuite, self.hint)

    async def close(self) -> None:
        """Stop accepting, abort handshakes, cancel handlers and wait for all of them."""
        listener, pool = self._listener, self._pool
        if listener is None or pool is None:
            return
        if self._accepting is not None:
            self._accepting.cancel()
            await asyncio.gather(self._accepting, return_exceptions=True)
        listener.close()
        for attempt in list(self._attempts):
            attempt.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.get_running_loop().run_in_executor(None, pool.shutdown)
        self._listener = self._pool = self._accepting = None

    async def __aenter__(self) -> PskTlsServer:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def _accept_loop(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                raw, addr = await loop.sock_accept(listener)
            except OSError as exc:  # EMFILE and friends: back off, keep serving
                log.warning("PSK-TLS accept failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            task = loop.create_task(self._serve(raw, _peer_name(addr)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, raw: socket.socket, peer: str) -> None:
        conn = await self._handshake(raw, peer)
        if conn is None:
            return
        log.debug("PSK-TLS from %s: B-TID %s, ciphersuite 0x%04x", peer, conn.btid,
                  self.ciphersuite)
        try:
            await self._handler(conn)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("PSK-TLS handler for %s (B-TID %s) failed", peer, conn.btid)
        finally:
            await conn.close()

    async def _handshake(self, raw: socket.socket, peer: str) -> PskTlsConnection | None:
        loop = asyncio.get_running_loop()
        assert self._pool is not None
        # A connection that never says ClientHello must not hold a worker thread.
        fd = raw.fileno()
        hello: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, wake_future, hello)
        try:
            try:
                async with asyncio.timeout(self._handshake_timeout):
                    await hello
            finally:
                loop.remove_reader(fd)
        except TimeoutError:
            log.warning("PSK-TLS handshake from %s failed: no ClientHello within %.1f s",
                        peer, self._handshake_timeout)
            raw.close()
            return None
        except BaseException:
            raw.close()
            raise
        if _closed_before_hello(raw):
            log.debug("PSK-TLS connection from %s closed before a ClientHello", peer)
            raw.close()
            return None
        attempt = _Attempt(loop)
        self._attempts.add(attempt)
        work = self._pool.submit(self._handshake_blocking, raw, attempt)
        try:
            tls, identity, btid = await asyncio.wrap_future(work)
        except asyncio.CancelledError:
            attempt.abort()
            if work.cancel():
                raw.close()
            else:
                work.add_done_callback(_close_result)
            raise
        except Exception as exc:
            reason = attempt.failure or _reason(exc)
            if attempt.keyed and isinstance(exc, ssl.SSLError):
                reason += f" with the key for B-TID {attempt.btid} (different PSK?)"
            log.warning("PSK-TLS handshake from %s failed: %s", peer, reason)
            return None
        finally:
            self._attempts.discard(attempt)
        return PskTlsConnection(tls, psk_identity=identity, btid=btid,
                                ciphersuite=self.ciphersuite, peer=peer,
                                timeout=self._io_timeout)

    def _handshake_blocking(self, raw: socket.socket, attempt: _Attempt
                            ) -> tuple[ssl.SSLSocket, str, str]:
        """Worker thread: the whole TLS handshake, with the PSK callback inside it."""
        raw.settimeout(self._handshake_timeout)
        tls = self._ctx.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        attempt.sock = tls
        try:
            if attempt.aborted:
                raise _Refused("server closing")
            self._local.attempt = attempt
            try:
                tls.do_handshake()
            finally:
                self._local.attempt = None
                _release(tls)
            identity, btid = attempt.identity, attempt.btid
            if tls.session_reused or identity is None or btid is None:
                raise _Refused("resumed TLS session: no PSK identity to check")
            tls.setblocking(False)
        except BaseException:
            tls.close()
            raise
        return tls, identity, btid

    def _psk_callback(self, identity: str | None) -> bytes:
        """OpenSSL's server PSK callback (worker thread); b"" fails the handshake."""
        attempt: _Attempt | None = getattr(self._local, "attempt", None)
        if attempt is None:
            return b""
        try:
            return self._lookup(attempt, identity)
        except Exception as exc:  # nothing may cross back into OpenSSL
            attempt.failure = f"PSK callback raised {type(exc).__name__}"
            return b""

    def _lookup(self, attempt: _Attempt, identity: str | None) -> bytes:
        if not identity:
            attempt.failure = "client sent no PSK identity"
            return b""
        attempt.identity = identity
        try:
            btid = btid_from_psk_identity(identity)
        except CodecError as exc:
            attempt.failure = str(exc)
            return b""
        attempt.btid = btid
        key_for, suite = self._key_for, self.ciphersuite

        async def lookup() -> bytes | None:
            return await key_for(identity, suite)

        future = asyncio.run_coroutine_threadsafe(lookup(), attempt.loop)
        attempt.key_future = future
        if attempt.aborted:
            future.cancel()
        try:
            key = future.result(self._key_timeout)
        except TimeoutError:
            future.cancel()
            attempt.failure = (f"key lookup for B-TID {btid} timed out after "
                               f"{self._key_timeout:.1f} s")
            return b""
        except concurrent.futures.CancelledError:
            attempt.failure = "key lookup cancelled: server closing"
            return b""
        except Exception as exc:
            attempt.failure = f"key lookup for B-TID {btid} failed: {_reason(exc)}"
            return b""
        if key is None:
            attempt.failure = f"unknown PSK identity (B-TID {btid})"
            return b""
        if not isinstance(key, bytes | bytearray) or not 0 < len(key) <= MAX_PSK:
            size = len(key) if isinstance(key, bytes | bytearray) else type(key).__name__
            attempt.failure = f"key lookup for B-TID {btid} gave an unusable key ({size})"
            return b""
        attempt.keyed = True
        return bytes(key)


def _close_result(work: concurrent.futures.Future[tuple[ssl.SSLSocket, str, str]]) -> None:
    if not work.cancelled() and work.exception() is None:
        work.result()[0].close()


async def psk_tls_request(host: str, port: int, identity: str, psk: bytes, request: bytes,
                          ciphers: str = DEFAULT_CIPHER, timeout: float = 10.0) -> bytes:
    """Connect with TLS 1.2 PSK, send *request*, and return all bytes up to EOF.

    Raises :class:`AuthError` when the handshake fails (wrong key, unknown identity),
    :class:`TimeoutError` past *timeout* seconds, and :class:`OSError` on network errors.
    """
    if not identity or len(identity.encode("utf-8")) > 255:
        raise InvalidInput(f"PSK identity of {len(identity)} characters is empty or too long")
    if not 0 < len(psk) <= MAX_PSK:
        raise InvalidInput(f"PSK of {len(psk)} octets; expected 1 to {MAX_PSK}")
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, _request_blocking, host, port, identity,
                                      bytes(psk), bytes(request), ciphers, timeout)


def _request_blocking(host: str, port: int, identity: str, psk: bytes, request: bytes,
                      ciphers: str, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    ctx = _client_context(ciphers, identity, psk)
    with socket.create_connection((host, port), timeout=timeout) as raw, \
            ctx.wrap_socket(raw, do_handshake_on_connect=False) as tls:
        try:
            tls.do_handshake()
        except ssl.SSLError as exc:
            raise AuthError(f"PSK-TLS handshake with {host}:{port} failed: "
                            f"{_reason(exc)}") from None
        finally:
            _release(tls)
        tls.sendall(request)
        chunks: list[bytes] = []
        size = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"PSK-TLS response from {host}:{port} not complete "
                                   f"after {timeout:.1f} s")
            tls.settimeout(remaining)
            chunk = tls.recv(65536)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_RESPONSE:
                raise ProtocolError(f"PSK-TLS response from {host}:{port} exceeds "
                                    f"{MAX_RESPONSE} octets")
            chunks.append(chunk)

"""PSK-TLS on Ua: the asyncio server around ``sslpsk3`` (TS 33.222 §5.4).

OpenSSL asks for the key synchronously, in the middle of the handshake, once the
ClientKeyExchange has brought the identity, while our key lookup (Zn to the BSF) is a
coroutine. So OpenSSL runs in worker threads, and the PSK callback runs the lookup on the
server's event loop and waits for it. A worker is lent only for as long as OpenSSL has
octets to work on: the socket is non-blocking, a handshake step that wants more octets
returns the worker, and the event loop waits for them (a silent or trickling client holds
no thread). No worker is lent before the whole ClientHello is in, every handshake has one
deadline from accept, and handshakes pending are capped per source and in total
(:mod:`.psk_tls_admission`). After the handshake the TLS socket is driven from the event
loop (:class:`PskTlsConnection`).

The lookup answers with a :class:`PskGrant`: the PSK for OpenSSL and a context that the
established connection carries (:attr:`PskTlsConnection.context`), so the application
does not look the key up a second time. The PSK itself is dropped after the handshake.

The key depends on the negotiated ciphersuite (NAF_Id ends in ``01 00 01 yy zz``,
TS 33.220 Annex H.3), and one port offers several suites (:data:`SERVER_CIPHERS`, in the
server's order of preference). Inside the PSK callback the ssl module does not show the
suite, so the server reads it from the ServerHello it wrote, through CPython's private
``SSLContext._msg_callback`` (:func:`~.psk_tls_context.watch_server_hello`, where the
choice and its risk are explained), and hands it to the lookup; after the handshake it
checks that the suite OpenSSL reports is that one. Without the hook a server may offer
one suite only.

A NAF may serve several host names: the client names one by SNI (TS 24.109 Annex F.3:
the UE includes the server_name extension with the NAF's host name), which OpenSSL hands
to the SNI callback while reading the ClientHello, before the PSK callback. With
*server_names* given, an unlisted name fails the handshake (unrecognized_name); the name
(or None, without SNI) goes to the lookup, so that the NAF picks the FQDN of its NAF_Id.

TLS 1.3 with an external PSK (NAF_Id ending ``01 00 00 00 07``, TS 33.222 §5.4.0.2) is
not served: Python 3.11's ssl and sslpsk3 have no TLS 1.3 external-PSK API, and the PSK
identity format of TS 24.109 §5.3.3.1.3 could not be read (UNVERIFIED).

A resumed TLS session completes without a PSK callback, so without an identity: session
tickets are off and OpenSSL's session-ID cache is switched off through libssl
(:func:`~.psk_tls_context.session_cache_off`), so a client offering an old session gets a
full handshake; should that fail, a resumed session is refused after the handshake.
Keys never reach logs, reprs or exceptions. The OpenSSL contexts are in
:mod:`.psk_tls_context`, the UE's client in :mod:`.psk_tls_client`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Generic, TypeVar

from gba.errors import ProtocolError
from gba.lograte import RateLimitedLog
from gba.protocols.ua_psk import (
    PSK_IDENTITY_HINT,
    PSK_IDENTITY_HINT_UICC,
    btid_from_psk_identity,
    psk_identity_for,
)
from gba.transport.psk_tls_admission import Admission, await_client_hello, source_of
from gba.transport.psk_tls_attempt import (
    Attempt,
    Handler,
    KeyLookup,
    PskGrant,
    Refused,
    peer_name,
)
from gba.transport.psk_tls_attempt import (
    reason as failure_text,
)
from gba.transport.psk_tls_client import psk_tls_request
from gba.transport.psk_tls_context import (
    DEFAULT_CIPHER,
    MAX_PSK,
    SERVER_CIPHERS,
    ciphersuite_code,
    ciphersuite_codes,
    release,
    server_context,
    suite_hook_available,
)
from gba.transport.psk_tls_io import PskTlsConnection, wake_future

__all__ = [
    "DEFAULT_CIPHER",
    "MAX_PSK",
    "PSK_IDENTITY_HINT",
    "PSK_IDENTITY_HINT_UICC",
    "SERVER_CIPHERS",
    "Handler",
    "KeyLookup",
    "PskGrant",
    "PskTlsConnection",
    "PskTlsServer",
    "btid_from_psk_identity",
    "ciphersuite_code",
    "ciphersuite_codes",
    "psk_identity_for",
    "psk_tls_request",
]

log = logging.getLogger(__name__)

C = TypeVar("C")
HandshakeObserver = Callable[[bool, float], None]
"""Told of each handshake attempt once it ends: (established, seconds it took)."""


class PskTlsServer(Generic[C]):
    """TLS 1.2 PSK server for Ua (TS 33.222 §5.4): handshake in threads, I/O on the loop.

    *key_for* is asked once per handshake, with the negotiated suite; *handler* gets the
    established connection, with the grant's context on it, and the server closes the
    connection when it returns. *ciphers* is an OpenSSL list of PSK suites, the server's
    preference first; *server_names*, when given, are the only SNI host names accepted
    (a client without SNI is still served).

    A handshake must be complete *handshake_timeout* seconds after accept. At most
    *max_pending* handshakes are pending at once, *max_pending_per_source* from one
    source (IPv4 address or IPv6 /64); a connection past a cap is closed at once.
    *reuse_port* (SO_REUSEPORT) shares the address with other processes that set it too
    (NAF workers, :mod:`gba.nf.workers`).
    """

    def __init__(self, host: str, port: int, key_for: KeyLookup[C], handler: Handler[C], *,
                 ciphers: str = SERVER_CIPHERS, hint: str = PSK_IDENTITY_HINT,
                 server_names: Iterable[str] | None = None,
                 handshake_timeout: float = 10.0, key_timeout: float = 5.0,
                 io_timeout: float | None = 60.0, workers: int = 16, backlog: int = 128,
                 max_pending: int = 512, max_pending_per_source: int = 64,
                 on_handshake: HandshakeObserver | None = None,
                 parse_identity: Callable[[str], str] = btid_from_psk_identity,
                 reuse_port: bool = False) -> None:
        self.ciphers = ciphers
        self._reuse_port = reuse_port
        self._parse_identity = parse_identity
        self.ciphersuites = ciphersuite_codes(ciphers)
        self.hint = hint
        self.server_names = (None if server_names is None
                             else frozenset(n.lower().rstrip(".") for n in server_names))
        self._watch_suite = suite_hook_available()
        if len(self.ciphersuites) > 1 and not self._watch_suite:
            raise ProtocolError(f"{len(self.ciphersuites)} suites on one port need CPython's "
                                "SSLContext._msg_callback, which this Python lacks; "
                                "configure one suite per port")
        self._host = host
        self._requested_port = port
        self._key_for = key_for
        self._handler = handler
        self._handshake_timeout = handshake_timeout
        self._key_timeout = key_timeout
        self._io_timeout = io_timeout
        self._workers = workers
        self._backlog = backlog
        self._admission = Admission(max_pending, max_pending_per_source, log=log)
        self._on_handshake = on_handshake
        self._ctx = server_context(ciphers, hint, self._psk_callback,
                                   on_suite=self._on_suite if self._watch_suite else None,
                                   server_name=self._on_server_name)
        self._names = {c["name"]: int(c["id"]) & 0xFFFF for c in self._ctx.get_ciphers()}
        self._local = threading.local()
        self._listener: socket.socket | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._attempts: set[Attempt[C]] = set()
        self._failures = RateLimitedLog(log)
        """Failed handshakes: a flood of bad clients costs a few lines, with a count."""
        self._port = 0

    def __repr__(self) -> str:
        return (f"PskTlsServer({self._host!r}, port={self._port or self._requested_port}, "
                f"ciphers={self.ciphers}, hint={self.hint!r})")

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
            if self._reuse_port:  # several processes accept on one address (NAF workers)
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
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
        log.info("PSK-TLS listening on %s, suites %s, hint %r",
                 peer_name(listener.getsockname()),
                 " ".join(f"{c:04x}" for c in self.ciphersuites), self.hint)

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

    async def __aenter__(self) -> PskTlsServer[C]:
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
            source = source_of(addr)
            if not self._admission.admit(source):
                raw.close()
                continue
            task = loop.create_task(self._serve(raw, peer_name(addr), source))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, raw: socket.socket, peer: str, source: str) -> None:
        started = time.monotonic()
        try:
            conn = await self._handshake(raw, peer)
        finally:
            self._admission.done(source)
        if self._on_handshake is not None:
            try:
                self._on_handshake(conn is not None, time.monotonic() - started)
            except Exception as exc:  # metrics never cost a connection
                log.debug("PSK-TLS handshake observer failed: %r", exc)
        if conn is None:
            return
        log.debug("PSK-TLS from %s: B-TID %s, ciphersuite 0x%04x, SNI %s", peer, conn.btid,
                  conn.ciphersuite, conn.server_name)
        try:
            await self._handler(conn)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("PSK-TLS handler for %s (B-TID %s) failed", peer, conn.btid)
        finally:
            await conn.close()

    async def _handshake(self, raw: socket.socket, peer: str) -> PskTlsConnection[C] | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._handshake_timeout
        try:
            if not await await_client_hello(raw, self._handshake_timeout):
                log.debug("PSK-TLS connection from %s closed before a ClientHello", peer)
                raw.close()
                return None
        except TimeoutError:
            log.info("PSK-TLS handshake from %s failed: no complete ClientHello within "
                     "%.1f s", peer, self._handshake_timeout)
            raw.close()
            return None
        except Refused as exc:
            self._failures.warning("PSK-TLS handshake from %s failed: %s", peer, exc)
            raw.close()
            return None
        except BaseException:
            raw.close()
            raise
        raw.setblocking(False)
        try:
            tls = self._ctx.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        except BaseException:
            raw.close()
            raise
        attempt: Attempt[C] = Attempt(loop)
        attempt.sock = tls
        self._attempts.add(attempt)
        try:
            async with asyncio.timeout_at(deadline):
                await self._drive(tls, attempt)
            return self._established(tls, attempt, peer)
        except TimeoutError:
            reason = attempt.failure or (f"not complete within {self._handshake_timeout:.1f} s")
        except Exception as exc:
            reason = attempt.failure or failure_text(exc)
            if attempt.grant is not None and isinstance(exc, ssl.SSLError):
                reason += f" with the key for B-TID {attempt.btid} (different PSK?)"
        finally:
            self._attempts.discard(attempt)
        self._failures.warning("PSK-TLS handshake from %s failed: %s", peer, reason)
        return None

    async def _drive(self, tls: ssl.SSLSocket, attempt: Attempt[C]) -> None:
        """Run handshake steps in workers until done; wait for the socket on the loop.

        Whatever ends it early (error, deadline, cancellation) closes *tls*, once no worker
        uses it any more."""
        assert self._pool is not None
        step: concurrent.futures.Future[bool | None] | None = None
        try:
            while True:
                step = self._pool.submit(self._step, tls, attempt)
                want = await asyncio.wrap_future(step)
                step = None
                if want is None:
                    return
                await _ready(tls.fileno(), readable=want)
        except BaseException:
            attempt.abort()
            if step is not None and not step.cancel():
                step.add_done_callback(lambda _: _close(tls))
            else:
                _close(tls)
            raise

    def _step(self, tls: ssl.SSLSocket, attempt: Attempt[C]) -> bool | None:
        """Worker thread: one call of ``do_handshake``, the PSK callback maybe inside it.

        None when the handshake is complete; True to wait until the socket is readable,
        False until it is writable."""
        if attempt.aborted:
            raise Refused("server closing")
        self._local.attempt = attempt
        try:
            if attempt.steps == 0:
                tls.do_handshake()
            else:
                # sslpsk3's do_handshake sets up its callbacks first, SSL_set_accept_state
                # included, which would restart a handshake under way: only the first time.
                ssl.SSLSocket.do_handshake(tls)
        except ssl.SSLWantReadError:
            return True
        except ssl.SSLWantWriteError:
            return False
        finally:
            self._local.attempt = None
            attempt.steps += 1
        return None

    def _established(self, tls: ssl.SSLSocket, attempt: Attempt[C], peer: str
                     ) -> PskTlsConnection[C]:
        """The connection, once its handshake is checked; closes *tls* when refused."""
        try:
            release(tls)
            identity, btid, grant = attempt.identity, attempt.btid, attempt.grant
            if tls.session_reused or identity is None or btid is None or grant is None:
                raise Refused("resumed TLS session: no PSK identity to check")
            suite = self._negotiated(tls)
            if suite != attempt.suite:
                raise Refused(f"OpenSSL negotiated suite {suite:#06x}, but the key was "
                              f"derived for {attempt.suite or 0:#06x}")
        except BaseException:
            tls.close()
            raise
        return PskTlsConnection(tls, psk_identity=identity, btid=btid, ciphersuite=suite,
                                peer=peer, context=grant.context, timeout=self._io_timeout,
                                server_name=attempt.server_name)

    def _negotiated(self, tls: ssl.SSLSocket) -> int:
        cipher = tls.cipher()
        return self._names.get(cipher[0], -1) if cipher is not None else -1

    def _on_suite(self, suite: int) -> None:
        """The suite of the ServerHello this thread just wrote (before the PSK callback)."""
        attempt: Attempt[C] | None = getattr(self._local, "attempt", None)
        if attempt is not None:
            attempt.suite = suite

    def _on_server_name(self, name: str | None) -> bool:
        """SNI, read with the ClientHello: remember it, and refuse a name not served."""
        attempt: Attempt[C] | None = getattr(self._local, "attempt", None)
        if attempt is None:
            return False
        folded = name.lower().rstrip(".") if name else None
        if folded is not None and self.server_names is not None \
                and folded not in self.server_names:
            attempt.failure = f"SNI {folded[:80]!r} is not a host name of this server"
            return False
        attempt.server_name = folded
        return True

    def _psk_callback(self, identity: str | None) -> bytes:
        """OpenSSL's server PSK callback (worker thread); b"" fails the handshake."""
        attempt: Attempt[C] | None = getattr(self._local, "attempt", None)
        if attempt is None:
            return b""
        try:
            return self._lookup(attempt, identity)
        except Exception as exc:  # nothing may cross back into OpenSSL
            attempt.failure = f"PSK callback raised {type(exc).__name__}"
            return b""

    def _lookup(self, attempt: Attempt[C], identity: str | None) -> bytes:
        suite = attempt.suite if self._watch_suite else self.ciphersuites[0]
        return attempt.lookup(identity, suite, self.ciphersuites, self._key_for,
                              self._key_timeout, self._parse_identity)


async def _ready(fd: int, *, readable: bool) -> None:
    """Until *fd* is readable (or writable), on the running loop."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    if readable:
        loop.add_reader(fd, wake_future, ready)
    else:
        loop.add_writer(fd, wake_future, ready)
    try:
        await ready
    finally:
        if readable:
            loop.remove_reader(fd)
        else:
            loop.remove_writer(fd)


def _close(tls: ssl.SSLSocket) -> None:
    """Forget *tls* in sslpsk3's table, then close it (from any thread, no worker on it)."""
    release(tls)
    tls.close()

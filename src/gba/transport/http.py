"""aiohttp <-> :mod:`gba.protocols.http`: the only place the Ub/Ua machines meet sockets.

Servers (BSF Ub, NAF Ua): :func:`read_request` turns an ``aiohttp.web.Request`` into an
:class:`~gba.protocols.http.HttpRequest` (the request-target as sent, RFC 9112 §3.2),
:func:`to_web_response` an :class:`~gba.protocols.http.HttpResponse` into a
``web.Response``. Clients (the UE): :func:`send` sends an ``HttpRequest`` to a URL and
returns the ``HttpResponse``; :func:`exchange` also says which TLS ciphersuite carried it.

The Ua protocol identifier of HTTP Digest depends on the connection (TS 33.222 §5.3,
TS 33.220 H.3: 01 00 01 yy zz inside TLS with suite yy zz), so both ends read the
negotiated suite from their connection: :func:`request_tls_suite` on the server,
:func:`exchange` on the client. On the client, ``response.connection`` is no help: aiohttp
hands the connection back to its pool as soon as a short body has arrived, before the
caller sees the response (checked with aiohttp 3.14), so a :class:`TlsAwareConnector`
notes the TLS object of the connection each request goes out on.
:func:`https_server_context` is the NAF's HTTPS side, limited to TLS 1.2 because the
identifier for Digest inside TLS 1.3 is UNVERIFIED.

Every site (Ub, Ua, the HSS's REST) runs under :func:`serving_runner`, whose
:class:`SiteLimits` keep slow or silent clients from holding connections: a head must be
complete :attr:`~SiteLimits.head_timeout` seconds after accept or after the previous
response (aiohttp's ``keepalive_timeout``, which also closes idle keep-alive connections:
aiohttp 3.14 arms it at accept and re-arms it after each response only, so partial head
octets do not extend it), a body must be in :attr:`~SiteLimits.body_timeout` seconds
after its head (else 408 and close), and past :attr:`~SiteLimits.max_connections`
connections a new one is answered 503 and closed at once. :func:`observing` is the
middleware that reports each request's method, status and duration (metrics).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

import aiohttp
from aiohttp import web

if TYPE_CHECKING:
    from aiohttp.client_reqrep import ClientRequest
    from aiohttp.tracing import Trace

from gba.errors import ConfigError, ProtocolError
from gba.protocols.http import HttpRequest, HttpResponse, headers_of

log = logging.getLogger(__name__)

REFUSAL_LOG_INTERVAL: Final = 10.0
"""Seconds between two log lines about connections refused past the cap."""
_BUSY: Final = (b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
                b"Content-Type: text/plain\r\nContent-Length: 21\r\nRetry-After: 1\r\n\r\n"
                b"too many connections\n")


@dataclass(frozen=True, slots=True)
class SiteLimits:
    """How long and how many: the limits of one aiohttp site (request sizes stay with the
    application's ``client_max_size``)."""

    head_timeout: float = 15.0
    """Seconds to wait for a complete request head, from accept or the end of the last
    response, so idle keep-alive time included (aiohttp's ``keepalive_timeout``)."""
    body_timeout: float = 30.0
    """Seconds to wait for the whole body once the head is in; 408 and close past it."""
    max_connections: int = 1024
    """Open connections of the runner, all its sites together; a new one past it is
    answered 503 and closed (TLS connections count once their handshake is done)."""
    max_line: int = 8190
    """Longest request line or header line (aiohttp's default)."""
    max_field: int = 8190
    """Longest header field (aiohttp's default)."""
    lingering: float = 2.0
    """Seconds aiohttp reads and discards an unread body after answering."""


def serving_runner(app: web.Application, limits: SiteLimits | None = None
                   ) -> web.AppRunner:
    """An ``AppRunner`` for *app* with *limits* (set it up, then add sites to it).

    Adds, as its innermost middleware, the read of the body under
    :attr:`SiteLimits.body_timeout` (handlers then find it read: ``request.read()``,
    ``text()`` and ``json()`` return the kept octets)."""
    chosen = limits or SiteLimits()
    app.middlewares.append(_body_deadline(chosen.body_timeout))
    return _CappedRunner(app, chosen.max_connections, access_log=None, shutdown_timeout=1.0,
                         keepalive_timeout=chosen.head_timeout, max_line_size=chosen.max_line,
                         max_field_size=chosen.max_field, lingering_time=chosen.lingering)


def _body_deadline(timeout: float) -> Any:
    @web.middleware
    async def body_deadline(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.body_exists and not request.content.is_eof():
            try:
                async with asyncio.timeout(timeout):
                    await request.read()
            except TimeoutError:
                log.info("HTTP %s %s from %s: body not complete within %.1f s", request.method,
                         request.raw_path[:200], request.remote, timeout)
                refusal = web.HTTPRequestTimeout(text="request body not received in time\n")
                refusal.force_close()
                raise refusal from None
        return cast(web.StreamResponse, await handler(request))

    return body_deadline


HttpObserver = Callable[[str, int, float], None]
"""Told of each request answered: (method, status, seconds)."""


def observing(observer: HttpObserver) -> Any:
    """A middleware telling *observer* of every request answered, an error as its status
    (500 for an exception); a request whose client went away is not counted."""
    @web.middleware
    async def observe(request: web.Request, handler: Any) -> web.StreamResponse:
        started = time.monotonic()

        def tell(status: int) -> None:
            try:
                observer(request.method, status, time.monotonic() - started)
            except Exception as exc:  # metrics must never cost an answer
                log.debug("HTTP observer failed: %r", exc)

        try:
            response = cast(web.StreamResponse, await handler(request))
        except web.HTTPException as exc:
            tell(exc.status)
            raise
        except Exception:
            tell(500)
            raise
        tell(response.status)
        return response

    return observe


class _CappedRunner(web.AppRunner):
    """An ``AppRunner`` whose sites create connections through a :class:`_Cap`."""

    def __init__(self, app: web.Application, max_connections: int, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._max_connections = max_connections
        self._cap: _Cap | None = None

    @property
    def server(self) -> web.Server | None:
        inner = super().server
        if inner is None:
            return None
        if self._cap is None or self._cap.inner is not inner:
            self._cap = _Cap(inner, self._max_connections)
        # a site only calls it, as asyncio's protocol factory
        return cast(web.Server, self._cap)


class _Cap:
    """The protocol factory of a site: aiohttp's handler, or past the cap a refusal."""

    def __init__(self, inner: web.Server, limit: int, now: Any = time.monotonic) -> None:
        self.inner = inner
        self.limit = limit
        self._now = now
        self._next_log = float("-inf")
        self._unlogged = 0

    def __call__(self) -> asyncio.BaseProtocol:
        if len(self.inner.connections) < self.limit:
            return self.inner()
        now = self._now()
        if now >= self._next_log:
            more = f"; {self._unlogged} more since the last report" if self._unlogged else ""
            log.warning("HTTP connection refused: %d connections open (cap %d)%s",
                        len(self.inner.connections), self.limit, more)
            self._next_log, self._unlogged = now + REFUSAL_LOG_INTERVAL, 0
        else:
            self._unlogged += 1
        return _Busy()


class _Busy(asyncio.Protocol):
    """Answers 503 without reading the request, and closes."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(_BUSY)
        transport.close()


async def read_request(request: web.Request) -> HttpRequest:
    """The whole request, body included (bounded by the app's ``client_max_size``)."""
    return HttpRequest(request.method, request.raw_path, headers_of(request.headers.items()),
                       await request.read())


def to_web_response(response: HttpResponse) -> web.Response:
    return web.Response(status=response.status, headers=response.headers,
                        body=response.body or None)


async def send(session: aiohttp.ClientSession, url: str, request: HttpRequest
               ) -> HttpResponse:
    """Send *request* to *url* (whose path and query are the request's target).

    Raises ``aiohttp.ClientError`` when the peer cannot be reached or breaks HTTP.
    """
    response, _ = await exchange(session, url, request)
    return response


_connection_tls: ContextVar[ssl.SSLObject | None] = ContextVar("connection_tls",
                                                               default=None)
"""The TLS object of the connection the current task's last request went out on."""


class TlsAwareConnector(aiohttp.TCPConnector):
    """A ``TCPConnector`` that notes, for the task sending, the TLS object of the
    connection (new or pooled) each request goes out on, for :func:`exchange`."""

    async def connect(self, req: ClientRequest, traces: list[Trace],
                      timeout: aiohttp.ClientTimeout) -> aiohttp.connector.Connection:
        conn = await super().connect(req, traces, timeout)
        transport = conn.transport
        _connection_tls.set(transport.get_extra_info("ssl_object")
                            if transport is not None else None)
        return conn


async def exchange(session: aiohttp.ClientSession, url: str, request: HttpRequest, *,
                   need_suite: bool = False) -> tuple[HttpResponse, int | None]:
    """:func:`send`, and the ciphersuite of the TLS connection that carried the response
    (None over plain HTTP). With *need_suite* (Ua Digest, whose NAF_Id depends on it), an
    https URL needs a session with a :class:`TlsAwareConnector` and TLS 1.2: a suite that
    cannot be learned, or TLS 1.3 (whose Ua identifier for Digest is UNVERIFIED,
    TS 33.220 H.3), is a :class:`~gba.errors.ProtocolError`, never a silent wrong
    NAF_Id."""
    _connection_tls.set(None)
    async with session.request(request.method, url, headers=request.headers,
                               data=request.body or None) as r:
        suite = None
        if r.url.scheme == "https":
            ssl_object = _connection_tls.get()
            suite = tls_suite(ssl_object) if ssl_object is not None else None
            if need_suite and suite is None:
                raise ProtocolError(f"{url}: the TLS ciphersuite of the connection is "
                                    "unknown, so is the Ua protocol (TS 33.220 H.3); "
                                    "the session needs a TlsAwareConnector")
            if need_suite and ssl_object is not None and ssl_object.version() == "TLSv1.3":
                raise ProtocolError(f"{url}: TLS 1.3, for which the Ua protocol of HTTP "
                                    "Digest is not settled (TS 33.220 H.3); use TLS 1.2")
        return HttpResponse(r.status, headers_of(r.headers.items()), await r.read()), suite


def request_tls_suite(request: web.Request) -> int | None:
    """The ciphersuite of the TLS connection *request* came over; None for plain HTTP."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    return tls_suite(ssl_object) if ssl_object is not None else None


def tls_suite(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> int | None:
    """The two-octet IANA code of the negotiated suite, or None before the handshake.

    ``cipher()`` gives only OpenSSL's name; the code comes from ``get_ciphers()`` (whose
    ``id`` is OpenSSL's 0x0300yyzz), first of the connection's own context, which offered
    the suite, then of every suite OpenSSL knows."""
    negotiated = ssl_object.cipher()
    if negotiated is None:
        return None
    name = negotiated[0]
    context = ssl_object.context
    for entry in context.get_ciphers() if context is not None else ():
        if entry["name"] == name:
            return int(entry["id"]) & 0xFFFF
    return _all_suites().get(name)


@cache
def _all_suites() -> dict[str, int]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    return {str(c["name"]): int(c["id"]) & 0xFFFF for c in ctx.get_ciphers()}


def https_server_context(cert: Path, key: Path, ciphers: str | None = None
                         ) -> ssl.SSLContext:
    """The NAF's HTTPS side for Digest inside server-authenticated TLS (TS 33.222 §5.3):
    TLS 1.2 only, since for TLS 1.3 it is UNVERIFIED whether the Ua protocol is
    01 00 00 00 07 or 01 00 01 13 0x (TS 33.220 H.3). *ciphers*: an OpenSSL list."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
        if ciphers:
            ctx.set_ciphers(ciphers)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"HTTPS files {cert}, {key} or ciphers {ciphers!r}: {exc}"
                          ) from None
    return ctx

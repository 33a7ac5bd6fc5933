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
"""

from __future__ import annotations

import ssl
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

if TYPE_CHECKING:
    from aiohttp.client_reqrep import ClientRequest
    from aiohttp.tracing import Trace

from gba.errors import ConfigError, ProtocolError
from gba.protocols.http import HttpRequest, HttpResponse, headers_of


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

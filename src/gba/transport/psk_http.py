"""HTTP/1.1 inside PSK-TLS ("HTTPS with PSK", TS 33.222 §5.4), framed by h11 (RFC 9112).

The thin I/O layer around ``h11.Connection(h11.SERVER)``: read from a
:class:`PskTlsConnection`, feed h11, hand each complete request (head and body) to the
application as a :class:`~gba.protocols.http.HttpRequest`, and serialise its
:class:`~gba.protocols.http.HttpResponse` through h11 (Content-Length and Date are set
here, not by the application). Persistent connections follow h11: several requests per
connection until either side says ``Connection: close`` (or the client speaks HTTP/1.0),
the client closes, falls silent past :attr:`HttpLimits.head_timeout`, or breaks the
protocol.

A malformed request is answered with h11's ``error_status_hint`` (400; 431 for a head
larger than :attr:`HttpLimits.max_head`), a body larger than :attr:`HttpLimits.max_body`
with 413, and the connection is then closed with a lingering close, so the answer is not
lost to a TCP reset (RFC 9112 §9.6).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import format_datetime
from http import HTTPStatus
from typing import Final, TypeVar

import h11

from gba.clock import Clock, utc_now
from gba.protocols.http import HttpRequest, HttpResponse, text_response
from gba.transport.psk_tls_io import PskTlsConnection

__all__ = ["CLOSE", "App", "HttpLimits", "http_handler", "serve_http"]

log = logging.getLogger(__name__)

C = TypeVar("C")
READ_SIZE: Final = 16 * 1024
"""One TLS record at most, so h11's buffer overshoots its limit by one record at most."""
_FRAMING: Final = frozenset({"content-length", "transfer-encoding"})
"""Headers the adapter sets itself: the body's framing is h11's and ours, not the app's."""
CLOSE: Final = ("Connection", "close")
"""The header an application adds to close the connection after its response."""


@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_head: int = 16 * 1024
    """h11's max_incomplete_event_size: a head still incomplete past this is refused (431)."""
    max_body: int = 1024 * 1024
    """Largest request body read (413 past it)."""
    head_timeout: float | None = 5.0
    """Seconds to wait for a complete request head, idle keep-alive time included (a
    client that does not say ``Connection: close`` and does not parse Content-Length,
    such as ``openssl s_client``, waits this long for the server to close)."""
    linger: float = 2.0
    """Seconds to wait for the peer to close after we did (:meth:`PskTlsConnection.close`)."""


App = Callable[[PskTlsConnection[C], HttpRequest], Awaitable[HttpResponse]]
"""The application: one request in, one response out; the connection carries the context."""


class _Refuse(Exception):
    """A request we answer with an error status and then close."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def http_handler(app: App[C], limits: HttpLimits | None = None, clock: Clock = utc_now
                 ) -> Callable[[PskTlsConnection[C]], Awaitable[None]]:
    """A :data:`~gba.transport.psk_tls.Handler` that serves HTTP/1.1 with *app*."""
    chosen = limits or HttpLimits()

    async def handler(conn: PskTlsConnection[C]) -> None:
        await serve_http(conn, app, chosen, clock)

    return handler


async def serve_http(conn: PskTlsConnection[C], app: App[C], limits: HttpLimits | None = None,
                     clock: Clock = utc_now) -> None:
    """Serve requests on *conn* until one side closes, then close it."""
    limits = limits or HttpLimits()
    h = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_head)
    try:
        while True:
            try:
                request = await _receive(conn, h, limits)
            except h11.RemoteProtocolError as exc:
                raise _Refuse(exc.error_status_hint, str(exc)) from None
            if request is None:
                break
            response = await _answer(conn, app, request)
            await _send(conn, h, response, request.method, clock)
            if h.our_state is not h11.DONE or h.their_state is not h11.DONE:
                break  # h11 says MUST_CLOSE: Connection: close, HTTP/1.0, or ours
            h.start_next_cycle()
    except _Refuse as refused:
        log.info("PSK-TLS HTTP from %s (B-TID %s): %d, %s", conn.peer, conn.btid,
                 refused.status, refused)
        if h.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            answer = text_response(refused.status, f"{_phrase(refused.status)}\n", [CLOSE])
            try:
                await _send(conn, h, answer, None, clock)
            except (OSError, h11.LocalProtocolError) as exc:
                log.debug("PSK-TLS HTTP to %s: error response not sent: %s", conn.peer, exc)
    except h11.LocalProtocolError as exc:  # the application's response cannot be sent
        log.error("PSK-TLS HTTP to %s (B-TID %s): response not sent: %s", conn.peer,
                  conn.btid, exc)
    except TimeoutError:
        log.debug("PSK-TLS HTTP from %s (B-TID %s): no complete request in time", conn.peer,
                  conn.btid)
    except OSError as exc:  # reset, TLS alert, closed under us
        log.info("PSK-TLS HTTP with %s (B-TID %s) broke: %s", conn.peer, conn.btid,
                 exc.__class__.__name__ if not str(exc) else exc)
        await conn.close()
        return
    await conn.close(linger=limits.linger)


async def _receive(conn: PskTlsConnection[C], h: h11.Connection, limits: HttpLimits
                   ) -> HttpRequest | None:
    """The next complete request, or None when the peer closed between requests."""
    async with asyncio.timeout(limits.head_timeout):
        event = await _next_event(conn, h)
    if isinstance(event, h11.ConnectionClosed):
        return None
    if not isinstance(event, h11.Request):
        raise _Refuse(400, f"expected a request, got {type(event).__name__}")
    try:
        target = event.target.decode("ascii")
    except UnicodeDecodeError:
        raise _Refuse(400, "request target is not ASCII (RFC 9112 §3.2)") from None
    length = next((v for k, v in event.headers if k == b"content-length"), None)
    if length is not None and int(length) > limits.max_body:
        raise _Refuse(413, f"Content-Length {int(length)} > {limits.max_body}")
    if h.they_are_waiting_for_100_continue:
        await conn.write(h.send(h11.InformationalResponse(
            status_code=100, headers=[], reason=_phrase(100))) or b"")
    body = bytearray()
    while True:
        part = await _next_event(conn, h)
        if isinstance(part, h11.Data):
            body += part.data
            if len(body) > limits.max_body:
                raise _Refuse(413, f"body past {limits.max_body} octets")
        elif isinstance(part, h11.EndOfMessage):
            break
        else:  # ConnectionClosed mid-body raises RemoteProtocolError instead
            raise _Refuse(400, f"expected the body, got {type(part).__name__}")
    # header values may carry obs-text: ISO-8859-1 keeps every octet (RFC 9110 §5.5)
    return HttpRequest(
        method=event.method.decode("ascii"),
        target=target,
        headers=tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers),
        body=bytes(body))


async def _next_event(conn: PskTlsConnection[C], h: h11.Connection) -> object:
    while True:
        event = h.next_event()
        if event is not h11.NEED_DATA:
            return event
        h.receive_data(await conn.read(READ_SIZE))


async def _answer(conn: PskTlsConnection[C], app: App[C], request: HttpRequest
                  ) -> HttpResponse:
    try:
        response = await app(conn, request)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("PSK-TLS HTTP application failed on %s %s from %s (B-TID %s)",
                      request.method, request.target[:200], conn.peer, conn.btid)
        return text_response(500, "Internal Server Error\n", [CLOSE])
    log.debug("PSK-TLS HTTP %s %s from %s (B-TID %s): %d", request.method,
              request.target[:200], conn.peer, conn.btid, response.status)
    return response


async def _send(conn: PskTlsConnection[C], h: h11.Connection, response: HttpResponse,
                method: str | None, clock: Clock) -> None:
    """Serialise *response* through h11; no body for HEAD, 204 and 304 (RFC 9110 §6.4.1)."""
    bodyless = response.status in (204, 304)
    headers = [("Date", format_datetime(clock(), usegmt=True))]
    headers += [(k, v) for k, v in response.headers if k.lower() not in _FRAMING]
    if not bodyless:
        headers.append(("Content-Length", str(len(response.body))))
    out = h.send(h11.Response(status_code=response.status, headers=headers,
                              reason=_phrase(response.status))) or b""
    if response.body and not bodyless and method != "HEAD":
        out += h.send(h11.Data(data=response.body)) or b""
    out += h.send(h11.EndOfMessage()) or b""
    await conn.write(out)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""

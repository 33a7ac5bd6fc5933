"""aiohttp <-> :mod:`gba.protocols.http`: the only place the Ub/Ua machines meet sockets.

Servers (BSF Ub, NAF Ua): :func:`read_request` turns an ``aiohttp.web.Request`` into an
:class:`~gba.protocols.http.HttpRequest` (the request-target as sent, RFC 9112 §3.2),
:func:`to_web_response` an :class:`~gba.protocols.http.HttpResponse` into a
``web.Response``. Clients (the UE): :func:`send` sends an ``HttpRequest`` to a URL and
returns the ``HttpResponse``.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

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
    async with session.request(request.method, url, headers=request.headers,
                               data=request.body or None) as r:
        return HttpResponse(r.status, headers_of(r.headers.items()), await r.read())

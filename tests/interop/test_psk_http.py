"""HTTP/1.1 inside PSK-TLS through h11 (TS 33.222 §5.4, RFC 9112), on real sockets.

Requests go through our own client (several pipelined on one connection, read up to
the server's close) and through ``openssl s_client``; responses are split again with an
h11 client, so framing is checked by the same parser the server uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass

import h11
import pytest

from gba.crypto.kdf import btid
from gba.protocols.http import HttpRequest, HttpResponse, text_response
from gba.transport.psk_http import CLOSE, HttpLimits, http_handler
from gba.transport.psk_tls import (
    PskGrant,
    PskTlsConnection,
    PskTlsServer,
    btid_from_psk_identity,
    psk_identity_for,
    psk_tls_request,
)

pytestmark = pytest.mark.interop

TIMEOUT = 20.0
BTID = btid(bytes(range(16)), "bsf.mnc001.mcc001.pub.3gppnetwork.org")
IDENTITY = psk_identity_for(BTID)
KEY = b"\x00" + hashlib.sha256(b"Ks_NAF for psk_http").digest()[:31]


def get(target: str, *headers: str, method: str = "GET") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: naf.example.org", *headers, "", ""]
    return "\r\n".join(lines).encode()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def replies(raw: bytes, *methods: str) -> list[Reply]:
    """Split *raw* into the responses to requests with *methods*, with an h11 client."""
    client = h11.Connection(h11.CLIENT)
    client.receive_data(raw)
    client.receive_data(b"")
    out: list[Reply] = []
    for method in methods:
        client.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
        client.send(h11.EndOfMessage())
        head = client.next_event()
        while isinstance(head, h11.InformationalResponse):
            head = client.next_event()
        assert isinstance(head, h11.Response), head
        body = b""
        while not isinstance(event := client.next_event(), h11.EndOfMessage):
            assert isinstance(event, h11.Data), event
            body += event.data
        out.append(Reply(head.status_code,
                         {k.decode(): v.decode() for k, v in head.headers}, body))
        if client.our_state is h11.DONE and client.their_state is h11.DONE:
            client.start_next_cycle()
    assert isinstance(client.next_event(), h11.ConnectionClosed), "bytes after the last reply"
    return out


class Lookups:
    """key_for granting the B-TID as context, counting the calls."""

    def __init__(self) -> None:
        self.count = 0

    async def __call__(self, identity: str, ciphersuite: int, server_name: str | None
                       ) -> PskGrant[str] | None:
        self.count += 1
        return PskGrant(KEY, btid_from_psk_identity(identity))


class Echo:
    """The application: records each request, answers with what it saw."""

    def __init__(self) -> None:
        self.seen: list[HttpRequest] = []

    async def __call__(self, conn: PskTlsConnection[str], request: HttpRequest
                       ) -> HttpResponse:
        self.seen.append(request)
        if request.path == "/fail":
            raise RuntimeError("application bug")
        if request.path == "/bye":
            return text_response(200, "bye\n", [CLOSE, ("Content-Length", "999")])
        text = (f"{request.method} {request.target} for {conn.context}\n"
                f"body {len(request.body)} {hashlib.sha256(request.body).hexdigest()}\n")
        return text_response(200, text)


@contextlib.asynccontextmanager
async def serving(app: Echo, lookups: Lookups | None = None,
                  limits: HttpLimits | None = None) -> AsyncIterator[PskTlsServer[str]]:
    server = PskTlsServer("127.0.0.1", 0, lookups or Lookups(), http_handler(app, limits))
    await server.start()
    try:
        yield server
    finally:
        await asyncio.wait_for(server.close(), TIMEOUT)


async def send(server: PskTlsServer[str], request: bytes) -> bytes:
    return await psk_tls_request("127.0.0.1", server.port, IDENTITY, KEY, request,
                                 timeout=TIMEOUT)


async def test_two_requests_on_one_connection_are_both_answered() -> None:
    app, lookups = Echo(), Lookups()
    async with serving(app, lookups) as server:
        raw = await send(server, get("/one") + get("/two", "Connection: close"))
    first, second = replies(raw, "GET", "GET")
    assert (first.status, second.status) == (200, 200)
    assert first.body.startswith(f"GET /one for {BTID}\n".encode())
    assert second.body.startswith(f"GET /two for {BTID}\n".encode())
    assert "connection" not in first.headers
    assert second.headers["connection"] == "close"
    assert [r.target for r in app.seen] == ["/one", "/two"]
    assert lookups.count == 1


async def test_connection_close_from_the_client_ends_the_connection() -> None:
    app = Echo()
    async with serving(app) as server:
        raw = await send(server, get("/only", "Connection: close") + get("/never"))
    [reply] = replies(raw, "GET")
    assert reply.status == 200
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert [r.target for r in app.seen] == ["/only"]


async def test_http_1_0_request_is_answered_and_closed() -> None:
    app = Echo()
    async with serving(app) as server:
        raw = await send(server, b"GET /old HTTP/1.0\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert raw.endswith(hashlib.sha256(b"").hexdigest().encode() + b"\n")


async def test_malformed_request_gets_400_and_the_connection_closes() -> None:
    app = Echo()
    async with serving(app) as server:
        raw = await send(server, b"NOT AN HTTP REQUEST\r\n\r\n" + get("/after"))
    [reply] = replies(raw, "GET")
    assert reply.status == 400
    assert reply.headers["connection"] == "close"
    assert app.seen == []


async def test_non_ascii_target_gets_400() -> None:
    app = Echo()
    async with serving(app) as server:
        raw = await send(server, "GET /caf\u00e9 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    [reply] = replies(raw, "GET")
    assert reply.status == 400
    assert app.seen == []


async def test_oversized_head_gets_h11s_431() -> None:
    app = Echo()
    async with serving(app, limits=HttpLimits(max_head=4096)) as server:
        raw = await send(server, get("/big", "X-Filler: " + "a" * 65536))
    [reply] = replies(raw, "GET")
    assert reply.status == 431  # h11's error_status_hint for "Receive buffer too long"
    assert app.seen == []


async def test_post_body_reaches_the_application() -> None:
    app = Echo()
    body = bytes(range(256)) * 40
    async with serving(app) as server:
        raw = await send(server, get("/upload", f"Content-Length: {len(body)}",
                                     "Connection: close", method="POST") + body)
    [reply] = replies(raw, "POST")
    assert reply.status == 200
    assert reply.body == (f"POST /upload for {BTID}\n"
                          f"body {len(body)} {hashlib.sha256(body).hexdigest()}\n").encode()
    assert app.seen[0].body == body
    assert app.seen[0].header("Content-Length") == str(len(body))


async def test_chunked_post_body_reaches_the_application() -> None:
    app = Echo()
    async with serving(app) as server:
        raw = await send(server, get("/chunks", "Transfer-Encoding: chunked",
                                     "Connection: close", method="POST")
                         + b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    assert replies(raw, "POST")[0].status == 200
    assert app.seen[0].body == b"hello world"


async def test_body_over_max_body_gets_413_without_reaching_the_application() -> None:
    app = Echo()
    async with serving(app, limits=HttpLimits(max_body=1000)) as server:
        raw = await send(server, get("/upload", "Content-Length: 5000", method="POST")
                         + b"x" * 5000)
    [reply] = replies(raw, "POST")
    assert reply.status == 413
    assert app.seen == []


async def test_expect_100_continue_gets_an_interim_response() -> None:
    app = Echo()
    async with serving(app) as server:
        raw = await send(server, get("/upload", "Content-Length: 3", "Expect: 100-continue",
                                     "Connection: close", method="POST") + b"abc")
    assert raw.startswith(b"HTTP/1.1 100 Continue\r\n")
    assert replies(raw, "POST")[0].status == 200
    assert app.seen[0].body == b"abc"


async def test_head_is_answered_without_a_body() -> None:
    app = Echo()
    async with serving(app) as server:
        raw = await send(server, get("/h", "Connection: close", method="HEAD"))
    [reply] = replies(raw, "HEAD")
    assert reply.status == 200
    assert reply.body == b""
    assert int(reply.headers["content-length"]) > 0


async def test_application_failure_gets_500_and_close() -> None:
    app = Echo()
    async with serving(app) as server:
        raw = await send(server, get("/fail") + get("/after"))
    [reply] = replies(raw, "GET")
    assert reply.status == 500
    assert reply.headers["connection"] == "close"
    assert [r.target for r in app.seen] == ["/fail"]


async def test_application_closes_with_connection_close_and_does_not_frame() -> None:
    app = Echo()
    async with serving(app) as server:
        raw = await send(server, get("/bye") + get("/after"))
    [reply] = replies(raw, "GET")
    assert (reply.status, reply.body) == (200, b"bye\n")
    assert reply.headers["content-length"] == "4"
    assert reply.headers["connection"] == "close"
    assert [r.target for r in app.seen] == ["/bye"]


async def test_idle_keep_alive_connection_is_closed_after_head_timeout() -> None:
    app = Echo()
    async with serving(app, limits=HttpLimits(head_timeout=0.3)) as server:
        raw = await send(server, get("/one"))
    [reply] = replies(raw, "GET")
    assert reply.status == 200


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl s_client")
async def test_openssl_s_client_gets_two_responses_on_one_connection() -> None:
    app, lookups = Echo(), Lookups()
    async with serving(app, lookups) as server:
        proc = await asyncio.create_subprocess_exec(
            "openssl", "s_client", "-connect", f"127.0.0.1:{server.port}", "-tls1_2",
            "-cipher", "PSK-AES128-CBC-SHA", "-psk_identity", IDENTITY, "-psk", KEY.hex(),
            "-ign_eof", "-quiet", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(
            proc.communicate(get("/a") + get("/b", "Connection: close")), TIMEOUT)
    assert proc.returncode == 0, err.decode(errors="replace")
    assert [r.status for r in replies(out, "GET", "GET")] == [200, 200]
    assert [r.target for r in app.seen] == ["/a", "/b"]
    assert lookups.count == 1

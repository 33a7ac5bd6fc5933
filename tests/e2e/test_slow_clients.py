"""Slow and stalled clients against the PSK-TLS endpoint and the HTTP sites, over loopback.

A PSK-TLS handshake gets a worker thread only once the whole ClientHello is in, returns it
whenever OpenSSL waits for the client, and has one deadline; pending handshakes are capped
per source and in total (:mod:`gba.transport.psk_tls_admission`). The aiohttp sites close
half-sent heads and idle connections, bound a request's body, and refuse connections past
a cap (:mod:`gba.transport.http`). The servers run in this process on real sockets; the
slow clients come from other loopback addresses (127.0.0.0/8), so the per-source cap does
not hide what is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import resource
import ssl
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from gba.crypto.kdf import btid
from gba.protocols.http import HttpRequest, HttpResponse, text_response
from gba.transport.http import SiteLimits, serving_runner
from gba.transport.psk_http import HttpLimits, http_handler
from gba.transport.psk_tls import PskGrant, PskTlsConnection, PskTlsServer, psk_identity_for
from gba.transport.psk_tls_context import client_context

BSF = "bsf.mnc001.mcc001.pub.3gppnetwork.org"
BTID = btid(bytes(range(16)), BSF)
KEY = b"\x00" + hashlib.sha256(b"Ks_NAF for slow clients").digest()[:31]
CIPHER = "PSK-AES128-CBC-SHA"
REQUEST = b"GET /r HTTP/1.1\r\nHost: naf.example.org\r\nConnection: close\r\n\r\n"
LATENCY_LIMIT = 2.0
"""Seconds a real handshake and request may take while slow clients hold connections."""

log = logging.getLogger(__name__)


@pytest.fixture(autouse=True)
def many_files() -> None:
    """Both ends of some 700 connections live in this process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


async def key_for(identity: str, suite: int, server_name: str | None
                  ) -> PskGrant[str] | None:
    return PskGrant(KEY, "slow-clients") if BTID in identity else None


async def app(conn: PskTlsConnection[str], request: HttpRequest) -> HttpResponse:
    return text_response(200, f"B-TID {conn.btid}\n")


@contextlib.asynccontextmanager
async def psk_server(**options: object) -> AsyncIterator[PskTlsServer[str]]:
    server: PskTlsServer[str] = PskTlsServer(
        "127.0.0.1", 0, key_for, http_handler(app, HttpLimits(linger=0.5)), ciphers=CIPHER,
        **options)  # type: ignore[arg-type]
    await server.start()
    try:
        yield server
    finally:
        await asyncio.wait_for(server.close(), 20)


def client_hello() -> bytes:
    """The ClientHello our UE would send: a real one, for clients that stall after it."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_context(CIPHER, psk_identity_for(BTID), KEY).wrap_bio(incoming, outgoing)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


async def stalled(port: int, source: str, first: bytes) -> asyncio.StreamWriter:
    """A connection from *source* that sends *first* and then nothing."""
    _, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    writer.write(first)
    await writer.drain()
    return writer


async def real_handshake(port: int) -> float:
    """Seconds our UE client takes for a handshake and one request, from 127.0.0.1."""
    from gba.transport.psk_tls import psk_tls_request
    started = time.monotonic()
    response = await psk_tls_request("127.0.0.1", port, psk_identity_for(BTID), KEY, REQUEST,
                                     ciphers=CIPHER, timeout=10.0)
    assert response.startswith(b"HTTP/1.1 200"), response[:80]
    return time.monotonic() - started


async def closed_by_server(writer: asyncio.StreamWriter, reader: asyncio.StreamReader,
                           within: float) -> bool:
    """Whether the server closed within *within* seconds (what it sent before, if any,
    read and dropped)."""
    try:
        await asyncio.wait_for(reader.read(), within)
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    finally:
        writer.close()


# --- PSK-TLS ---------------------------------------------------------------------------

async def test_real_handshakes_keep_normal_latency_among_300_slow_clients() -> None:
    hello = client_hello()
    async with psk_server() as server:
        # 300 clients that sent one octet; 40 more that sent a whole ClientHello and stall
        # in the middle of the handshake (more of them than there are worker threads)
        slow = [await stalled(server.port, f"127.0.0.{2 + i // 60}", b"\x16")
                for i in range(300)]
        slow += [await stalled(server.port, "127.0.0.9", hello) for _ in range(40)]
        await asyncio.sleep(0.3)
        started = time.monotonic()
        latencies = [await real_handshake(server.port) for _ in range(10)]
        pending = server._admission.pending
        for writer in slow:
            writer.close()
    log.warning("PSK-TLS handshake + request among 340 slow clients: %s s (max %.3f s), "
                "%d handshakes pending, %.2f s for all", [f"{t:.3f}" for t in latencies],
                max(latencies), pending, time.monotonic() - started)
    assert pending >= 340  # every slow client was admitted and is still waiting
    assert max(latencies) < LATENCY_LIMIT


async def test_a_client_stalling_after_its_client_hello_holds_no_worker() -> None:
    async with psk_server(workers=1, handshake_timeout=30.0) as server:
        writer = await stalled(server.port, "127.0.0.10", client_hello())
        await asyncio.sleep(0.2)
        assert await real_handshake(server.port) < LATENCY_LIMIT
        writer.close()


async def test_a_handshake_not_done_by_its_deadline_is_dropped() -> None:
    async with psk_server(handshake_timeout=0.5) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(client_hello())
        started = time.monotonic()
        await asyncio.wait_for(reader.read(), 5)  # the ServerHello flight, then EOF
        assert time.monotonic() - started < 2.0
        writer.close()


async def test_a_trickled_client_hello_is_dropped_at_the_deadline() -> None:
    hello = client_hello()
    async with psk_server(handshake_timeout=0.5) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        started = time.monotonic()
        for octet in hello[:20]:
            writer.write(bytes([octet]))
            await asyncio.sleep(0.05)
        assert await closed_by_server(writer, reader, 5)
        assert 0.4 < time.monotonic() - started < 2.0


async def test_garbage_instead_of_a_client_hello_is_refused_at_once() -> None:
    async with psk_server() as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        assert await closed_by_server(writer, reader, 2)


async def test_past_the_cap_per_source_a_connection_is_closed_at_once_and_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="gba.transport.psk_tls")
    async with psk_server(max_pending_per_source=5) as server:
        held = [await stalled(server.port, "127.0.0.11", b"\x16") for _ in range(5)]
        refused = []
        for _ in range(20):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", server.port, local_addr=("127.0.0.11", 0))
            refused.append(closed_by_server(writer, reader, 1.0))
        assert all(await asyncio.gather(*refused))
        assert await real_handshake(server.port) < LATENCY_LIMIT  # another source
        for writer in held:
            writer.close()
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(lines) == 1, lines
    assert "127.0.0.11" in lines[0]


async def test_past_the_total_cap_a_connection_is_closed_at_once() -> None:
    async with psk_server(max_pending=10) as server:
        held = [await stalled(server.port, f"127.0.1.{i}", b"\x16") for i in range(1, 11)]
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        assert await closed_by_server(writer, reader, 1.0)
        for w in held:
            w.close()
        await asyncio.sleep(0.2)
        assert await real_handshake(server.port) < LATENCY_LIMIT


# --- aiohttp sites -----------------------------------------------------------------------

async def echo(request: web.Request) -> web.Response:
    return web.Response(text=f"{len(await request.read())} octets\n")


@contextlib.asynccontextmanager
async def http_site(limits: SiteLimits) -> AsyncIterator[int]:
    application = web.Application()
    application.router.add_route("*", "/", echo)
    runner = serving_runner(application, limits)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield site.port
    finally:
        await runner.cleanup()


async def test_half_a_request_head_is_cut_off_at_the_head_timeout() -> None:
    async with http_site(SiteLimits(head_timeout=0.5)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
        for _ in range(5):  # still trickling, but never finishing the head
            await asyncio.sleep(0.1)
            writer.write(b"X: y\r\n")
        assert await closed_by_server(writer, reader, 3)
        assert 0.4 < time.monotonic() - started < 1.5


async def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() -> None:
    async with http_site(SiteLimits(head_timeout=0.5)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
        assert head.startswith(b"HTTP/1.1 200")
        await asyncio.wait_for(reader.readuntil(b"octets\n"), 3)
        idle = time.monotonic()
        assert await closed_by_server(writer, reader, 3)
        assert 0.4 < time.monotonic() - idle < 1.5


async def test_a_stalled_body_is_answered_408_at_the_body_timeout() -> None:
    async with http_site(SiteLimits(body_timeout=0.5)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhalf")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 408"), head[:80]
        assert b"Connection: close" in head
        assert time.monotonic() - started < 1.5
        # then a lingering close (RFC 9112 §9.6): it reads the rest for SiteLimits.lingering
        assert await closed_by_server(writer, reader, 5)


async def test_connections_past_the_cap_are_refused_while_others_are_served() -> None:
    async with http_site(SiteLimits(max_connections=20, head_timeout=10.0)) as port:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(20)]
        for _, writer in held:
            writer.write(b"GET / HTTP/1.1\r\n")  # half a head: holds its place
        await asyncio.sleep(0.2)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        answer = await asyncio.wait_for(reader.read(), 2)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 503"), answer[:80]
        assert time.monotonic() - started < 1.0
        for _, w in held[:5]:
            w.close()
        await asyncio.sleep(0.2)
        async with aiohttp.ClientSession() as session:
            latencies = []
            for _ in range(5):
                began = time.monotonic()
                async with session.post(f"http://127.0.0.1:{port}/", data=b"abc") as r:
                    assert r.status == 200
                    assert await r.text() == "3 octets\n"
                latencies.append(time.monotonic() - began)
        for _, w in held[5:]:
            w.close()
    log.warning("HTTP requests beside 15 held connections: max %.3f s", max(latencies))
    assert max(latencies) < LATENCY_LIMIT

"""Slow clients against the lab's processes (issue 10 items 4 and 5, across processes).

Before the fix, 16 connections trickling one octet of a ClientHello every few seconds
held the NAF's 16 handshake workers, so a real UE's handshake waited about 9.7 s, and 32
made it time out (measured against the same endpoint in this process:
tests/e2e/test_slow_clients.py). Here the NAF is the process ``gba lab up`` starts, the
slow clients come from other loopback addresses (so the per-source cap of 64 does not
hide what is measured), and the real client is our UE: a bootstrap with the lab's BSF,
then a PSK-TLS request whose key the NAF fetches over Zn.

HTTP: before the fix, neither aiohttp site of a function closed a half-sent head, an idle
keep-alive connection or a stalled body. The lab here runs with the ``http_*`` keys at
1 s (default 15 s and 30 s) and 8 connections, so the test sees them act in seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import time
from pathlib import Path

import pytest
import tomli_w

from e2e.labctl import running_lab
from gba import config
from gba.crypto import ua_protocols
from gba.ue.client import GbaClient

SLOW_CLIENTS = 300
LATENCY_LIMIT = 2.0
"""Seconds a real handshake and request may take while the slow clients hold connections
(unloaded, one takes about 0.05 s)."""

log = logging.getLogger(__name__)


@pytest.fixture(autouse=True)
def many_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


async def stalled(host: str, port: int, source: str) -> asyncio.StreamWriter:
    """A connection from *source* that sends the first octet of a TLS record, then nothing."""
    _, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
    writer.write(b"\x16")
    await writer.drain()
    return writer


async def test_a_real_ue_is_served_at_normal_latency_among_300_slow_clients(
        tmp_path: Path) -> None:
    with running_lab(tmp_path / "lab", ["slow-psk"]) as lab:
        info = json.loads((lab.dir / "lab.json").read_text(encoding="utf-8"))
        host, port = str(info["naf_host"]), int(info["naf_psk_tls_port"])
        sub = lab.subscriber("slow-psk")
        suite = ua_protocols.TLS_PSK_WITH_AES_128_CBC_SHA
        async with GbaClient(sub.impi, sub.usim(), lab.bsf_url) as ue:
            await ue.bootstrap()

            async def fetch() -> float:
                started = time.monotonic()
                body = await asyncio.wait_for(
                    ue.fetch_psk_tls(host, port, lab.naf_fqdn, ciphersuite=suite), 15)
                assert b" 200 " in body.split(b"\r\n", 1)[0], body[:200]
                return time.monotonic() - started

            unloaded = await fetch()
            slow = [await stalled(host, port, f"127.0.1.{1 + i // 60}")
                    for i in range(SLOW_CLIENTS)]
            try:
                loaded = [await fetch() for _ in range(5)]
                # the slow clients are still connected: the NAF has not dropped them
                assert not any(w.is_closing() for w in slow)
            finally:
                for writer in slow:
                    writer.close()
    log.warning("lab NAF PSK-TLS: %.3f s alone, %s s among %d slow clients", unloaded,
                [f"{t:.3f}" for t in loaded], SLOW_CLIENTS)
    assert max(loaded) < LATENCY_LIMIT


def short_http_limits(tmp_path: Path) -> Path:
    data = config.normalise(config.load(config.SAMPLE_CONFIG).raw)
    for section in data["functions"].values():
        if section.get("kind") in ("hss", "bsf", "naf"):
            section |= {"http_head_timeout_s": 1, "http_body_timeout_s": 1,
                        "http_max_connections": 8}
    path = tmp_path / "network.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes | None:
    """What the server sent before closing, or None if it had not closed by then."""
    try:
        return await asyncio.wait_for(reader.read(), seconds)
    except ConnectionResetError:
        return b""
    except TimeoutError:
        return None


async def test_the_lab_bsf_cuts_off_slow_and_idle_http_clients(tmp_path: Path) -> None:
    with running_lab(tmp_path / "lab", [], short_http_limits(tmp_path)) as lab:
        host, _, port = lab.bsf_url.removeprefix("http://").rstrip("/").rpartition(":")

        # half a request head, trickled: closed at the head timeout
        reader, writer = await asyncio.open_connection(host, int(port))
        started = time.monotonic()
        writer.write(b"GET / HTTP/1.1\r\nHost: bsf\r\n")
        assert await closed_within(reader, 5) is not None
        assert time.monotonic() - started < 3
        writer.close()

        # a stalled body: 408 at the body timeout
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"POST / HTTP/1.1\r\nHost: bsf\r\nContent-Length: 100\r\n\r\nhalf")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 408"), head[:80]
        writer.close()

        # past the connection cap: 503 at once, while the held ones stay
        held = [await asyncio.open_connection(host, int(port)) for _ in range(8)]
        for _, w in held:
            w.write(b"GET / HTTP/1.1\r\n")
        await asyncio.sleep(0.2)
        reader, writer = await asyncio.open_connection(host, int(port))
        refused = await closed_within(reader, 2)
        assert refused is not None
        assert refused.startswith(b"HTTP/1.1 503"), refused[:80]
        for _, w in held:
            w.close()
        writer.close()

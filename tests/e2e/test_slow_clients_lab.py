"""Slow PSK-TLS clients against the lab's NAF process (issue 10 item 4, across processes).

Before the fix, 16 connections trickling one octet of a ClientHello every few seconds
held the NAF's 16 handshake workers, so a real UE's handshake waited about 9.7 s, and 32
made it time out (measured against the same endpoint in this process:
tests/e2e/test_slow_clients.py). Here the NAF is the process ``gba lab up`` starts, the
slow clients come from other loopback addresses (so the per-source cap of 64 does not
hide what is measured), and the real client is our UE: a bootstrap with the lab's BSF,
then a PSK-TLS request whose key the NAF fetches over Zn.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import time
from pathlib import Path

import pytest

from e2e.labctl import running_lab
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

"""``gba bench mtc``: simulated MTC devices through real HSS, BSF and MTC-IWF processes
(issue 15 item 7; docs/mtc.md).

N devices in G groups (all groups keyed alike, each device its own USIM SQN array) are
provisioned in one transaction; *concurrency* workers then take devices in turn, each
transmission being a full initialisation request (Ub, with Zh only when the group's
vector cannot be reused), K_IWF and the small-data keys, and one small-data message
through the MTC-IWF to the application server and back. The HSS's own Zh counter gives
the HSS requests per transmission; the peak RSS of each server process comes from
/proc (VmHWM).

Besides its own keys (``transmissions``, ``transmissions_per_s``, ``hss_requests``,
``hss_requests_per_transmission``, ...) the result carries the fields common to every
``gba bench`` (:mod:`gba.lab.bench_report`): ``name`` ("mtc"), ``throughput_per_s`` (=
transmissions per second), ``requests`` (= transmissions), ``errors``, ``p50_ms``,
``p99_ms``, ``max_ms``, ``rss_mb`` and ``cpu_ms_per_op`` (user+system CPU from
/proc/<pid>/stat over the run, per transmission, for each server process and the load
generator ``load``), ``concurrency``, ``seconds`` and ``series`` (per second: ``t``,
``count``, ``ops_per_s``, ``p50_ms``, ``p99_ms``).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from gba.crypto import aka
from gba.errors import GbaError
from gba.lab import lab
from gba.lab import mtc as mtc_lab
from gba.lab.bench_report import LOAD, ProcWatch, Recorder, percentile
from gba.lab.subscribers import DEMO_K, DEMO_OPC
from gba.nf import registry
from gba.protocols import mtc
from gba.store.factory import open_subscriber_store
from gba.store.hss import MtcDevice, MtcGroup, Subscriber
from gba.ue.mtc import MtcDevice as Device

IMSI_BASE = 1_000_000_000


def _imsi(n: int) -> str:
    return f"00101{IMSI_BASE + n:010d}"


def _group(g: int) -> str:
    return f"group-{g}@mtc.example.org"


async def _provision(config: str, devices: int, groups: int) -> None:
    cfg = registry.load(config)
    store = open_subscriber_store(cfg.store_url(cfg.hss.store))
    try:
        for g in range(groups):
            await store.provision_mtc_group(MtcGroup(_group(g), 1),
                                            Subscriber(_group(g), DEMO_K, DEMO_OPC))
        await store.put_mtc_devices([MtcDevice(_imsi(n), _group(n % groups), 3)
                                     for n in range(devices)])
    finally:
        await store.close()


async def _scrape_zh(url: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        text = await r.text()
    return int(sum(float(line.rpartition(" ")[2]) for line in text.splitlines()
                   if line.startswith("gba_requests_total{") and 'interface="zh"' in line))


async def _run(info: dict[str, Any], devices: int, groups: int, seconds: float,
               concurrency: int) -> dict[str, Any]:
    m = info["mtc"]
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector) as http:
        fleet = [Device(_imsi(n), _group(n % groups), 1, aka.Usim(DEMO_K, DEMO_OPC),
                        mtc.Capability.SEND | mtc.Capability.RECEIVE, m["bsf_url"],
                        m["iwf_url"], m["iwf_fqdn"], session=http) for n in range(devices)]
        busy = [False] * devices
        zh_before = await _scrape_zh(m["hss_metrics"])
        servers = {name: pid for name, pid in info["pids"].items()
                   if name in ("hss", "bsf", mtc_lab.IWF, mtc_lab.AS)}
        cpu = ProcWatch({**servers, LOAD: os.getpid()})
        run = Recorder()
        turn = 0

        async def worker() -> None:
            nonlocal turn
            while time.monotonic() < deadline:
                n = turn % devices
                turn += 1
                if busy[n]:  # fewer devices than workers: never run one device twice at once
                    await asyncio.sleep(0)
                    continue
                busy[n] = True
                t0 = time.perf_counter()
                try:
                    sent = await fleet[n].transmit(b"reading %d" % turn)
                    if sent.downlink is None:
                        raise GbaError("no downlink")
                    run.done(t0)
                except (GbaError, aiohttp.ClientError, OSError) as exc:
                    run.failed(f"{type(exc).__name__}: {exc}")
                finally:
                    busy[n] = False

        cpu.start()
        run.begin()
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        run.finish()
        cpu.stop()
        zh = await _scrape_zh(m["hss_metrics"]) - zh_before
    done, elapsed, latencies = run.count, run.elapsed, run.latencies
    per_s = round(done / elapsed, 1) if elapsed else 0.0
    return {
        "name": "mtc", "throughput_per_s": per_s, "requests": done,
        "devices": devices, "groups": groups, "concurrency": concurrency,
        "seconds": round(elapsed, 3), "transmissions": done,
        "transmissions_per_s": per_s,
        "hss_requests": zh,
        "hss_requests_per_transmission": round(zh / done, 4) if done else None,
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "max_ms": round(max(latencies, default=0.0) * 1000, 1),
        "errors": len(run.errors), "first_errors": run.errors[:3],
        "rss_mb": ProcWatch(servers).rss_mb(),
        "cpu_ms_per_op": cpu.per_op(done),
        "series": run.series(counts=True),
    }


def bench_mtc(devices: int = 10_000, groups: int = 100, seconds: float = 10.0,
              concurrency: int = 32) -> dict[str, Any]:
    per_group = -(-devices // groups)
    with tempfile.TemporaryDirectory(prefix="gba-bench-mtc-") as tmp:
        where = Path(tmp) / "lab"
        info = mtc_lab.up(where, max_reuse=max(1, min(per_group, 100_000)), bsf_overrides={
            "ub_challenges_per_impi_per_min": 0, "ub_challenges_per_source_per_min": 0,
            "recent_messages": 0})
        try:
            asyncio.run(_provision(info["config"], devices, groups))
            return asyncio.run(_run(info, devices, groups, seconds, concurrency))
        finally:
            lab.down(where)

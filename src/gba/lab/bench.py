"""``gba bench network``: bootstraps/s over Ub+Zh and Zn key requests/s, on a real lab.

The lab's HSS, BSF and NAF run as separate processes (as ``gba lab up`` starts them);
the load comes from this process: *concurrency* UEs bootstrapping in a loop (each one a
GbaClient with its own USIM), then *concurrency* outstanding Zn Bootstrapping-Info-Requests
on one Diameter connection posing as the NAF. On a 2-core machine the load generator
shares the cores with the network functions, so the figures are a floor.

``gba bench overload`` (:func:`bench_overload`) runs the same lab with a modest Ub
in-flight limit (:data:`OVERLOAD_LIMIT`) and offers increasing numbers of UEs
bootstrapping in a loop: per step, the bootstraps served and the Ub requests shed (503)
per second, and the p50/p99 latency of the served bootstraps (issue 10 item 7).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import tomli_w

from gba import config
from gba.crypto import aka, ua_protocols
from gba.errors import GbaError
from gba.lab import lab
from gba.lab.subscribers import DEMO_K, DEMO_OPC
from gba.nf import registry
from gba.nf.naf_service import zn_node
from gba.nf.provisioning import subscriber_from_fields
from gba.protocols import zn
from gba.store.factory import open_subscriber_store
from gba.transport.diameter import session_id_factory
from gba.ue.client import GbaClient


async def _provision(cfg: config.NetworkConfig, count: int) -> list[str]:
    store = open_subscriber_store(cfg.store_url(cfg.hss.store))
    impis = [f"00101{i:010d}@{cfg.realm}" for i in range(count)]
    try:
        for impi in impis:
            await store.put_subscriber(subscriber_from_fields(impi, DEMO_K.hex(),
                                                              opc=DEMO_OPC.hex()))
    finally:
        await store.close()
    return impis


async def _bootstraps(info: dict[str, Any], impis: list[str], seconds: float) -> tuple[int, str]:
    deadline = time.perf_counter() + seconds
    count = 0
    btid = ""

    async def worker(impi: str) -> None:
        nonlocal count, btid
        async with GbaClient(impi, aka.Usim(DEMO_K, DEMO_OPC), info["bsf_url"]) as ue:
            while time.perf_counter() < deadline:
                btid = (await ue.bootstrap(force=True)).btid
                count += 1

    await asyncio.gather(*(worker(i) for i in impis))
    return count, btid


async def _zn_requests(cfg: config.NetworkConfig, btid: str, concurrency: int,
                       seconds: float) -> int:
    client = zn_node(cfg.naf, cfg)
    identity = client.identity
    await client.start()
    session = session_id_factory(identity.origin_host)
    naf_id = cfg.naf.fqdn.encode() + ua_protocols.HTTP_DIGEST
    count = 0
    try:
        await client.wait_open()
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal count
            while time.perf_counter() < deadline:
                answer = await client.request(zn.build_bir(
                    identity, cfg.bsf.diameter.realm, session(), zn.KeyRequest(btid, naf_id)))
                if answer.result_code == 2001:
                    count += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await client.close()
    return count


def _bench_config(directory: Path, max_inflight: int | None = None) -> Path:
    """The sample network with the BSF's Ub probe limits off: each bench UE bootstraps
    its own IMPI in a loop, far above what a real UE (or the limit) allows. With
    *max_inflight*, the BSF's Ub and Zn and the NAF's Ua shed past it."""
    data = config.normalise(config.load(config.SAMPLE_CONFIG).raw)
    for section in data["functions"].values():
        section["recent_messages"] = 0
        if section.get("kind") == "bsf":
            section["ub_challenges_per_impi_per_min"] = 0
            section["ub_challenges_per_source_per_min"] = 0
            if max_inflight is not None:
                section["ub_max_inflight"] = max_inflight
                section["zn_max_inflight"] = max_inflight
        if section.get("kind") == "naf" and max_inflight is not None:
            section["ua_max_inflight"] = max_inflight
    target = directory / "bench-network.toml"
    target.write_text(tomli_w.dumps(data), encoding="utf-8")
    return target


def bench_network(seconds: float = 3.0, concurrency: int = 8) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="gba-bench-") as tmp:
        info = lab.up(Path(tmp) / "lab", _bench_config(Path(tmp)))
        try:
            cfg = registry.load(info["config"])
            impis = asyncio.run(_provision(cfg, concurrency))
            boots, btid = asyncio.run(_bootstraps(info, impis, seconds))
            zn_count = asyncio.run(_zn_requests(cfg, btid, concurrency, seconds))
        finally:
            lab.down(Path(tmp) / "lab")
    return {"bootstraps_per_s": boots / seconds, "zn_key_requests_per_s": zn_count / seconds,
            "concurrency": float(concurrency)}


OVERLOAD_LIMIT = 32
"""The BSF's Ub in-flight limit in the overload bench: modest, so that a 2-core machine
reaches it."""
OVERLOAD_STEPS = (8, 64, 256, 1024)
"""UEs offered per step of the overload bench."""
SHED_PAUSE_S = 0.05
"""How long a shed bench UE waits before it tries again: far below the Retry-After it
was sent, so that the offered load stays up, yet no busy loop in the load generator."""


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _overload_step(info: dict[str, Any], impis: list[str], seconds: float
                         ) -> dict[str, float]:
    """*len(impis)* UEs bootstrapping in a loop for *seconds*: served, shed, latency."""
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    shed = 0
    failed = 0

    async def worker(impi: str) -> None:
        nonlocal shed, failed
        async with GbaClient(impi, aka.Usim(DEMO_K, DEMO_OPC), info["bsf_url"]) as ue:
            while (start := time.perf_counter()) < deadline:
                try:
                    await ue.bootstrap(force=True)
                except GbaError as exc:
                    if "503" in str(exc):
                        shed += 1
                    else:
                        failed += 1
                    await asyncio.sleep(SHED_PAUSE_S)
                else:
                    latencies.append(time.perf_counter() - start)

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in impis))
    elapsed = time.perf_counter() - started  # the last bootstraps end after the deadline
    return {"offered_ues": float(len(impis)), "served_per_s": len(latencies) / elapsed,
            "shed_per_s": shed / elapsed, "failed": float(failed),
            "p50_ms": 1000 * _percentile(latencies, 0.50),
            "p99_ms": 1000 * _percentile(latencies, 0.99)}


def bench_overload(seconds: float = 2.0, steps: tuple[int, ...] = OVERLOAD_STEPS,
                   limit: int = OVERLOAD_LIMIT) -> list[dict[str, float]]:
    """One row per step of :data:`OVERLOAD_STEPS`, against a lab whose BSF sheds Ub past
    *limit* requests in flight."""
    with tempfile.TemporaryDirectory(prefix="gba-bench-") as tmp:
        info = lab.up(Path(tmp) / "lab", _bench_config(Path(tmp), limit))
        try:
            cfg = registry.load(info["config"])
            impis = asyncio.run(_provision(cfg, max(steps)))
            rows = [asyncio.run(_overload_step(info, impis[:n], seconds)) for n in steps]
        finally:
            lab.down(Path(tmp) / "lab")
    return rows

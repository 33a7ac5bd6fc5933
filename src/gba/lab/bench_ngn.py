"""``gba bench ngn``: NGN registrations with key distribution through real AuC, softswitch
and signalling-proxy processes (issue 14; docs/ngn.md).

N terminals are provisioned in the AuC; *concurrency* workers then register them in turn
over one face, each registration the whole seed flow s1-s11 (the softswitch asks the AuC
for every one) on a socket of its own, through the SP or directly. Reported: registrations
per second, latency percentiles, errors.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

from gba.config import Address, Topology
from gba.lab import lab
from gba.lab import ngn as ngn_lab
from gba.protocols import ngn
from gba.protocols.ngn_terminal import NgnTerminal
from gba.store.auc import Terminal, TerminalKind, open_auc_store
from gba.ue.ngn import register_over

MECHANISMS = "tls;q=0.5, ipsec;q=0.3, app;q=0.1"


async def _provision(store_url: str, keys: dict[str, bytes]) -> None:
    store = open_auc_store(store_url)
    try:
        for id_c, kc in keys.items():
            await store.put_terminal(Terminal(id_c, kc, TerminalKind.NGN))
    finally:
        await store.close()


def _percentile(sorted_ms: list[float], p: float) -> float:
    if not sorted_ms:
        return 0.0
    return sorted_ms[min(len(sorted_ms) - 1, int(p * len(sorted_ms)))]


async def _load(info: dict[str, Any], face: str, topology: str, keys: dict[str, bytes],
                seconds: float, concurrency: int) -> dict[str, Any]:
    node = info["ngn"]["softswitch" if topology == "direct" else "proxy"]
    target = Address.parse(node[face], face)
    names = list(keys)
    taken = iter(range(1 << 62))
    latencies: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        while time.monotonic() < deadline:
            id_c = names[next(taken) % len(names)]
            terminal = NgnTerminal(id_c, node["id"], keys[id_c],
                                   ngn.parse_mechanisms(MECHANISMS))
            start = time.perf_counter()
            report = await register_over(face, target, terminal, ngn_lab.DOMAIN,
                                         refreshes=0, timeout=10.0)
            if report["ok"]:
                latencies.append((time.perf_counter() - start) * 1000)
            else:
                reason = str(report.get("error", "failed"))[:60]
                errors[reason] = errors.get(reason, 0) + 1

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    latencies.sort()
    return {"face": face, "topology": topology, "concurrency": concurrency,
            "registrations": len(latencies),
            "registrations_per_s": round(len(latencies) / elapsed, 1),
            "p50_ms": round(_percentile(latencies, 0.50), 2),
            "p99_ms": round(_percentile(latencies, 0.99), 2),
            "max_ms": round(latencies[-1], 2) if latencies else 0.0,
            "errors": sum(errors.values()), "error_kinds": errors}


def bench_ngn(face: str = "sip_udp", topology: str = "proxy", terminals: int = 1000,
              seconds: float = 10.0, concurrency: int = 16) -> dict[str, Any]:
    """Start an NGN lab, provision ``terminals``, register them for ``seconds``."""
    with tempfile.TemporaryDirectory(prefix="gba-bench-ngn-") as tmp:
        where = Path(tmp) / "lab"
        info = ngn_lab.up(where)
        try:
            path = Path(info["config"])
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
            store = Topology(path, {}, {}).store_url(raw["functions"][ngn_lab.AUC]["store"])
            keys = {f"bench{n}@{ngn_lab.DOMAIN}": os.urandom(16) for n in range(terminals)}
            asyncio.run(_provision(store, keys))
            return asyncio.run(_load(info, face, topology, keys, seconds, concurrency))
        finally:
            lab.down(where)

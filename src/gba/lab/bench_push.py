"""``gba bench push``: GBA Push through real HSS, BSF and Push-NAF processes (issue 16
item 1; docs/push.md).

The push lab (:mod:`gba.lab.push`, with the status page's message ring off in every
function, as in the other benchmarks) runs; *ues* simulated UEs are provisioned at the
HSS and run in this process, each a :class:`gba.ue.push.PushUe` listening on its own UDP
port and registered with the Push-NAF (``POST /push/register``). Pushes are ordered
through the operator's control API (``POST /push/send``, answered once the push has
ended), *concurrency* in flight, never two at once to one UE. Every push is embodiment 2
(a secure id names the SA) with one payload, and counts when the control API says
``done`` and the UE has reported the same session done with that payload. Two phases,
half of *seconds* each:

1. **first push** -- each push names a new secure id: a new SA, so the Push-NAF sends Zpn
   GPIR to the BSF, which fetches a vector over Zh (MAR/MAA) and answers GPIA; then
   package 0 with the GPI on Upa and the DM session (pkg1 .. pkg4) over HTTP. The UE runs
   AKA on the GPI.
2. **SA reuse** -- each push names an SA made in phase 1 (round robin over them): no BSF
   request, package 0 without a GPI, the DM session under the stored SA.

``throughput_per_s``, ``requests``, ``p50_ms``/``p99_ms``/``max_ms`` and ``cpu_ms_per_op``
are those of the **reuse** phase: the steady state of a push service, where an SA is set
up once and then carries many pushes. ``first`` and ``reuse`` hold each phase's own
figures (``throughput_per_s``, ``requests``, latencies, ``cpu_ms_per_op``, and the BSF's
Zpn and the HSS's Zh requests per push from their counters: 1 and 1 for a first push, 0
and 0 for a reuse); ``combined_per_s`` is all pushes over both phases. ``errors`` counts
both phases; ``rss_mb`` is the peak of each server process over the whole run. The other
common fields (:mod:`gba.lab.bench_report`) are ``name`` ("push"), ``concurrency``,
``seconds`` (both phases, as measured) and ``series`` (per second of both phases, each
point tagged with its ``phase``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import tomli_w

from gba.crypto import aka
from gba.demos import metric_sum
from gba.demos.push import impi, provision
from gba.errors import GbaError
from gba.lab import lab
from gba.lab import push as push_lab
from gba.lab.bench_report import LOAD, ProcWatch, Recorder
from gba.lab.subscribers import DEMO_K, DEMO_OPC
from gba.ue.client import GbaClient
from gba.ue.push import PushUe

SERVERS = ("hss", "bsf", push_lab.NAME)
EMBODIMENT = 2
REPORT_WAIT_S = 30.0


def _up(lab_dir: Path) -> dict[str, Any]:
    """:func:`gba.lab.push.up` with ``recent_messages = 0`` in every function."""
    lab_dir = lab_dir.resolve()
    lab_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    raw = push_lab.topology()
    for section in raw["functions"].values():
        section[lab.RECENT_MESSAGES] = 0
    source = lab_dir / "push-bench-network.toml"
    source.write_text(tomli_w.dumps(raw), encoding="utf-8")
    info: dict[str, Any] = dict(lab.up(lab_dir, source))
    endpoints = info["functions"][push_lab.NAME]["endpoints"]
    section = tomllib.loads(Path(info["config"]).read_text(encoding="utf-8"))[
        "functions"][push_lab.NAME]
    info["push"] = {
        "naf_fqdn": push_lab.FQDN, "naf_url": f"http://{endpoints['http']}",
        "control_url": f"http://{endpoints['control']}",
        "control_token_file": section["control_token_file"],
        "bsf_metrics": info["metrics"].get("bsf"), "hss_metrics": info["metrics"].get("hss")}
    (lab_dir / lab.LAB_JSON).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


@dataclass
class _Ue:
    """One simulated UE: its push client, its reports by session id, its SAs."""

    name: str
    push: PushUe
    reports: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    sas: list[str] = field(default_factory=list)
    listening: asyncio.Task[None] | None = None

    async def listen(self, errors: list[str]) -> None:
        while True:
            try:
                report = await self.push.next_report(3600.0)
            except TimeoutError:
                continue
            except (GbaError, aiohttp.ClientError, OSError, ValueError) as exc:
                errors.append(f"UE {self.name}: {type(exc).__name__}: {exc}")
                continue
            self.reports.put_nowait(report)

    async def report(self, session_id: int) -> dict[str, Any]:
        """The UE's report of session *session_id* (earlier ones are stale: dropped)."""
        while True:
            got = await asyncio.wait_for(self.reports.get(), REPORT_WAIT_S)
            if got.get("session_id") == session_id:
                return got


async def _counter(http: aiohttp.ClientSession, url: str | None, function: str,
                   interface: str) -> int:
    if url is None:
        return 0
    async with http.get(url) as r:
        text = await r.text()
    return int(metric_sum(text, "gba_requests_total",
                          {"function": function, "interface": interface}))


class _Bench:
    def __init__(self, info: dict[str, Any], http: aiohttp.ClientSession,
                 fleet: list[_Ue]) -> None:
        self.push = info["push"]
        self.http = http
        self.fleet = fleet
        self.token = Path(self.push["control_token_file"]).read_text().strip()
        self.servers = {n: p for n, p in info["pids"].items() if n in SERVERS}
        self.serial = itertools.count()

    async def order(self, ue: _Ue, sa_id: str, reuse: bool, run: Recorder) -> None:
        """One push to *ue* naming *sa_id*; counted in *run* when both ends saw it done."""
        payload = f"push {next(self.serial)}"
        body = {"impi": impi(ue.name), "embodiment": EMBODIMENT, "sa_kind": "secure",
                "sa_id": sa_id, "payloads": [base64.b64encode(payload.encode()).decode()]}
        t0 = time.perf_counter()
        try:
            async with self.http.post(f"{self.push['control_url']}/push/send", json=body,
                                      headers={"Authorization": f"Bearer {self.token}"}
                                      ) as r:
                outcome: dict[str, Any] = await r.json()
                if r.status != 200:
                    raise GbaError(f"push order refused: {r.status} {outcome}")
            if outcome.get("end") != "done" or outcome.get("reused") is not reuse:
                raise GbaError(f"push outcome {outcome}")
            report = await ue.report(int(outcome["session_id"]))
            if report.get("end") != "done" or report.get("payloads") != [payload] or \
                    report.get("reused") is not reuse:
                raise GbaError(f"UE report {report}")
        except (GbaError, aiohttp.ClientError, OSError, TimeoutError, ValueError,
                KeyError) as exc:
            run.failed(f"{'reuse' if reuse else 'first'}: {type(exc).__name__}: {exc}")
            return
        run.done(t0)
        if not reuse:
            ue.sas.append(sa_id)

    async def phase(self, reuse: bool, seconds: float, concurrency: int
                    ) -> tuple[Recorder, ProcWatch, dict[str, int]]:
        """Pushes for *seconds*, *concurrency* in flight, each UE one at a time."""
        idle: asyncio.Queue[_Ue] = asyncio.Queue()
        for ue in self.fleet:
            if ue.sas or not reuse:
                idle.put_nowait(ue)
        turns = {ue.name: itertools.count() for ue in self.fleet}
        run = Recorder()
        cpu = ProcWatch({**self.servers, LOAD: os.getpid()})
        before = await self._counts()

        async def worker() -> None:
            while time.monotonic() < deadline:
                ue = await idle.get()
                try:
                    turn = next(turns[ue.name])
                    if reuse:
                        await self.order(ue, ue.sas[turn % len(ue.sas)], True, run)
                    else:
                        await self.order(ue, f"{ue.name}-sa{turn}", False, run)
                finally:
                    idle.put_nowait(ue)

        cpu.start()
        run.begin()
        deadline = time.monotonic() + seconds
        if idle.qsize():
            await asyncio.gather(*(worker() for _ in range(min(concurrency, idle.qsize()))))
        run.finish()
        cpu.stop()
        after = await self._counts()
        return run, cpu, {k: after[k] - before[k] for k in after}

    async def _counts(self) -> dict[str, int]:
        return {"zpn": await _counter(self.http, self.push["bsf_metrics"], "bsf", "zpn"),
                "zh": await _counter(self.http, self.push["hss_metrics"], "hss", "zh")}


def _phase_view(run: Recorder, cpu: ProcWatch, counts: dict[str, int]) -> dict[str, Any]:
    n = run.count
    summary = run.summary()
    return {"requests": n, "seconds": summary["seconds"],
            "throughput_per_s": summary["per_s"], "errors": summary["errors"],
            "first_errors": run.errors[:3], "p50_ms": summary["p50_ms"],
            "p99_ms": summary["p99_ms"], "max_ms": summary["max_ms"],
            "cpu_ms_per_op": cpu.per_op(n),
            "bsf_zpn_requests": counts["zpn"], "hss_zh_requests": counts["zh"],
            "bsf_zpn_per_push": round(counts["zpn"] / n, 4) if n else None,
            "hss_zh_per_push": round(counts["zh"] / n, 4) if n else None}


async def _run(info: dict[str, Any], seconds: float, concurrency: int, ues: int
               ) -> dict[str, Any]:
    names = [f"bench-push-{n}" for n in range(ues)]
    await provision(info["config"], names)
    p = info["push"]
    errors: list[str] = []
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency * 2),
            timeout=aiohttp.ClientTimeout(total=60)))
        fleet: list[_Ue] = []
        for name in names:
            gba = GbaClient(impi(name), aka.Usim(DEMO_K, DEMO_OPC), info["bsf_url"])
            stack.push_async_callback(gba.close)
            push = await stack.enter_async_context(PushUe(gba, p["naf_url"], p["naf_fqdn"]))
            await push.open()
            await push.register(with_btid=False)
            fleet.append(_Ue(name, push))
        for ue in fleet:
            ue.listening = asyncio.create_task(ue.listen(errors))
        bench = _Bench(info, http, fleet)
        try:
            first = await bench.phase(False, seconds / 2, concurrency)
            reuse = await bench.phase(True, seconds / 2, concurrency)
        finally:
            for ue in fleet:
                if ue.listening is not None:
                    ue.listening.cancel()
            await asyncio.gather(*(ue.listening for ue in fleet if ue.listening),
                                 return_exceptions=True)
    first_view, reuse_view = _phase_view(*first), _phase_view(*reuse)
    run_first, run_reuse = first[0], reuse[0]
    all_errors = run_first.errors + run_reuse.errors + errors
    total_s = run_first.elapsed + run_reuse.elapsed
    return {
        "name": "push",
        "throughput_per_s": reuse_view["throughput_per_s"],
        "throughput_of": "reuse",
        "first_push_per_s": first_view["throughput_per_s"],
        "reuse_push_per_s": reuse_view["throughput_per_s"],
        "combined_per_s": round((run_first.count + run_reuse.count) / total_s, 1)
        if total_s else 0.0,
        "requests": run_reuse.count,
        "errors": len(all_errors), "first_errors": all_errors[:5],
        "p50_ms": reuse_view["p50_ms"], "p99_ms": reuse_view["p99_ms"],
        "max_ms": reuse_view["max_ms"],
        "rss_mb": ProcWatch(bench.servers).rss_mb(),
        "cpu_ms_per_op": reuse_view["cpu_ms_per_op"],
        "concurrency": concurrency, "ues": ues, "embodiment": EMBODIMENT,
        "seconds": round(total_s, 3),
        "first": first_view, "reuse": reuse_view,
        "series": run_first.series(counts=True, phase="first")
        + run_reuse.series(run_first.elapsed, counts=True, phase="reuse"),
    }


def bench_push(seconds: float = 10.0, concurrency: int = 8, ues: int | None = None
               ) -> dict[str, Any]:
    """First pushes (new SA) for half of *seconds*, then pushes reusing those SAs for the
    other half, *concurrency* in flight over *ues* simulated UEs (default 4 per push in
    flight); the result as the module's docstring says."""
    if seconds <= 0 or concurrency < 1:
        raise ValueError("seconds > 0 and concurrency >= 1")
    count = ues if ues is not None else max(4 * concurrency, 8)
    with tempfile.TemporaryDirectory(prefix="gba-bench-push-") as tmp:
        where = Path(tmp) / "lab"
        info = _up(where)
        try:
            return asyncio.run(_run(info, seconds, concurrency, count))
        finally:
            lab.down(where)

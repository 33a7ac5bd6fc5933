"""Crash safety: state that must survive a SIGKILL does (TS 33.102 Annex C, TS 33.220 §4.5.2).

* HSS: several UEs bootstrap in a loop while the HSS process is SIGKILLed and restarted
  N times. Every SQN the USIMs saw is recovered from AUTN (SQN xor AK, AK = f5(RAND));
  none may repeat and no USIM may report a synchronisation failure: an SQN handed out
  before the kill is never handed out again after the restart.
* BSF: M UEs bootstrap, the BSF is SIGKILLed and restarted, and every UE then fetches a
  Digest resource from the NAF with the B-TID it holds, without bootstrapping again: each
  context survived in the store (SQLite, and Redis with an append-only file synced on
  every write).

The restarted process is started the way ``gba lab up`` starts it (``python -m gba serve
NAME --config DIR/network.toml`` in DIR, its own session, appending to DIR/NAME.log), and
lab.json is updated with its pid so that ``gba lab down`` stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import tomli_w

from e2e.labctl import Lab, LabFactory, Subscriber, alive, hss_rest_auth
from gba import config
from gba.crypto import aka
from gba.crypto.milenage import Milenage
from gba.ue.client import GbaClient
from redis_server import free_port, ping

START_TIMEOUT = 20.0
"""Seconds a restarted function (or a private Redis) may take to serve."""
RUN_TIMEOUT = 30.0
"""Seconds a phase of UE traffic may take in all."""


# --- processes -----------------------------------------------------------------------


def _accepts(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=0.5):
            return True
    except OSError:
        return False


def _poll(condition: Any, timeout: float, what: str) -> None:
    """Wait until *condition()* holds, polling with a growing pause, or fail."""
    deadline = time.monotonic() + timeout
    pause = 0.01
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        time.sleep(pause)  # polling a condition with a deadline, not timing
        pause = min(pause * 2, 0.1)


def _endpoints(lab: Lab, name: str) -> list[tuple[str, int]]:
    info = json.loads((lab.dir / "lab.json").read_text(encoding="utf-8"))
    out = []
    for text in info["functions"][name]["endpoints"].values():
        host, _, port = str(text).rpartition(":")
        out.append((host, int(port)))
    return out


def kill_function(lab: Lab, name: str) -> None:
    """SIGKILL the lab's *name* process and wait until it is gone."""
    pid = _current_pid(lab, name)
    os.kill(pid, signal.SIGKILL)
    _poll(lambda: not alive(pid), 10.0, f"{name} (pid {pid}) to die after SIGKILL")


def _current_pid(lab: Lab, name: str) -> int:
    info = json.loads((lab.dir / "lab.json").read_text(encoding="utf-8"))
    return int(info["pids"][name])


def restart_function(lab: Lab, name: str) -> int:
    """Start *name* again as ``gba lab up`` does; wait until it serves; record its pid."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(lab.dir / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gba", "serve", name, "--config", str(lab.config)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True, cwd=lab.dir)
    path = lab.dir / "lab.json"
    info = json.loads(path.read_text(encoding="utf-8"))
    info["pids"][name] = proc.pid
    info["functions"][name]["pid"] = proc.pid
    path.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    endpoints = _endpoints(lab, name)

    def serving() -> bool:
        if proc.poll() is not None:
            tail = (lab.dir / f"{name}.log").read_text(errors="replace")[-2000:]
            raise AssertionError(f"restarted {name} exited {proc.returncode}:\n{tail}")
        return all(_accepts(a) for a in endpoints)

    _poll(serving, START_TIMEOUT, f"restarted {name} to serve {endpoints}")
    return proc.pid


def unlimited_config(directory: Path, bsf_store: str | None = None) -> Path:
    """The sample network without the BSF's Ub challenge rate limits (these tests run
    hundreds of bootstraps from one address), the BSF store in *bsf_store* if given."""
    data = config.normalise(config.load(config.SAMPLE_CONFIG).raw)
    bsf = data["functions"]["bsf"]
    bsf["ub_challenges_per_impi_per_min"] = 0
    bsf["ub_challenges_per_source_per_min"] = 0
    if bsf_store is not None:
        bsf["store"] = bsf_store
    target = directory / "crash-network.toml"
    target.write_text(tomli_w.dumps(data), encoding="utf-8")
    return target


# --- HSS: SQN never reused -----------------------------------------------------------


class RecordingUsim(aka.Usim):
    """A USIM that notes the SQN of every AUTN it is shown and every sync failure."""

    def __init__(self, sub: Subscriber) -> None:
        super().__init__(sub.k, sub.opc)
        self._f5 = Milenage(sub.k, sub.opc)
        self.seen: list[int] = []
        self.sync_failures = 0

    def authenticate(self, rand: bytes, autn: bytes) -> aka.AkaResult:
        ak = self._f5.f5(rand)
        concealed = int.from_bytes(autn[:6], "big") ^ int.from_bytes(ak, "big")
        self.seen.append(concealed)
        result = super().authenticate(rand, autn)
        if isinstance(result, aka.AkaSyncFailure):
            self.sync_failures += 1
        return result


UE_COUNT = 6
KILLS = 5


async def _bootstrap_loop(lab: Lab, sub: Subscriber, usim: RecordingUsim,
                          stop: asyncio.Event, counts: dict[str, int]) -> None:
    async with GbaClient(sub.impi, usim, lab.bsf_url) as ue:
        while not stop.is_set():
            try:
                await ue.bootstrap(force=True)
                counts["bootstraps"] += 1
            except Exception:  # the HSS is down for a moment (a 5xx from the BSF): again
                counts["failed"] += 1
                await asyncio.sleep(0)  # yield to the killer between attempts


async def test_hss_sigkill_never_reuses_an_sqn(lab_factory: LabFactory, tmp_path: Path
                                               ) -> None:
    names = [f"crash-ue-{i}" for i in range(UE_COUNT)]
    lab = lab_factory(names, unlimited_config(tmp_path))
    usims = {n: RecordingUsim(lab.subscriber(n)) for n in names}
    counts = {"bootstraps": 0, "failed": 0}
    stop = asyncio.Event()
    loops = [asyncio.create_task(_bootstrap_loop(lab, lab.subscriber(n), usims[n], stop,
                                                 counts)) for n in names]
    started = time.monotonic()
    try:
        for _ in range(KILLS):
            before = counts["bootstraps"]
            await _until(lambda b=before: counts["bootstraps"] >= b + UE_COUNT,
                         "UEs to bootstrap between kills")
            await asyncio.to_thread(kill_function, lab, "hss")
            await asyncio.to_thread(restart_function, lab, "hss")
        before = counts["bootstraps"]
        await _until(lambda: counts["bootstraps"] >= before + 2 * UE_COUNT,
                     "UEs to bootstrap after the last restart")
    finally:
        stop.set()
        await asyncio.gather(*loops, return_exceptions=True)
    elapsed = time.monotonic() - started

    rows = await asyncio.to_thread(lab.hss_rows)
    seen = [sqn for usim in usims.values() for sqn in usim.seen]
    reused = sum(len(u.seen) - len(set(u.seen)) for u in usims.values())
    sync_failures = sum(u.sync_failures for u in usims.values())
    print(f"\nHSS crash safety: {KILLS} SIGKILLs, {UE_COUNT} UEs, {counts['bootstraps']} "
          f"bootstraps, {counts['failed']} failed while the HSS was down, {len(seen)} "
          f"vectors seen by the USIMs, {reused} reused SQNs, {sync_failures} sync "
          f"failures, {elapsed:.1f}s")
    assert reused == 0
    assert sync_failures == 0
    assert len(seen) >= counts["bootstraps"] > KILLS * UE_COUNT
    for name, usim in usims.items():
        impi = lab.subscriber(name).impi
        assert usim.seen == sorted(usim.seen), f"{impi}: SQN went backwards"
        assert int(rows[impi]["sqn"], 16) >= max(usim.seen), \
            f"{impi}: the HSS's stored SQN is behind one it issued"


async def _until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {RUN_TIMEOUT:g}s")
        await asyncio.sleep(0.01)  # polling a condition with a deadline, not timing


# --- BSF: contexts survive -----------------------------------------------------------


BSF_UES = 200
"""B-TIDs bootstrapped before the kill (200 contexts, one subscriber each)."""
CONCURRENCY = 25


async def _each(coros: list[Any]) -> list[Any]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(coro: Any) -> Any:
        async with gate:
            return await coro

    return list(await asyncio.wait_for(asyncio.gather(*map(one, coros)), RUN_TIMEOUT))


async def _provision_over_rest(lab: Lab, count: int) -> list[Subscriber]:
    """*count* fresh subscribers, PUT over the HSS's REST API (one process, not *count*)."""
    subs = [Subscriber.fresh(f"bsf-crash-{i}@{lab.realm}") for i in range(count)]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:

        async def put(sub: Subscriber) -> None:
            async with http.put(f"{lab.hss_rest_url}/subscribers/{sub.impi}",
                                json={"k": sub.k.hex(), "opc": sub.opc.hex()},
                                headers=hss_rest_auth(lab)) as r:
                assert r.status == 200, await r.text()

        await _each([put(s) for s in subs])
    return subs


async def _contexts_survive_bsf_sigkill(lab: Lab, store: str) -> None:
    subs = await _provision_over_rest(lab, BSF_UES)
    ues = [GbaClient(sub.impi, sub.usim(), lab.bsf_url) for sub in subs]
    started = time.monotonic()
    try:
        boots = await _each([ue.bootstrap() for ue in ues])
        btids = {b.btid for b in boots}
        await asyncio.to_thread(kill_function, lab, "bsf")
        await asyncio.to_thread(restart_function, lab, "bsf")
        replies = await _each([ue.fetch_digest(lab.naf_url + "/", lab.naf_fqdn)
                               for ue in ues])
    finally:
        await asyncio.gather(*(ue.close() for ue in ues))
    elapsed = time.monotonic() - started
    ok = sum(r.status == 200 for r in replies)
    rebootstrapped = sum(ue.current is None or ue.current.btid not in btids for ue in ues)
    kept = sum(r.status == 200 and boot.btid in r.body.decode()
               for r, boot in zip(replies, boots, strict=True))
    print(f"\nBSF crash safety ({store}): {len(btids)} B-TIDs before 1 SIGKILL, {ok} "
          f"Digest fetches 200 after the restart, {kept} with the B-TID held before the "
          f"kill, {rebootstrapped} re-bootstrapped, {elapsed:.1f}s")
    assert len(btids) == len(subs)
    assert ok == len(subs)
    assert rebootstrapped == 0
    assert kept == len(subs)


async def test_bsf_sigkill_keeps_contexts_sqlite(lab_factory: LabFactory,
                                                tmp_path: Path) -> None:
    lab = lab_factory((), unlimited_config(tmp_path))
    assert lab.network().bsf.store.endswith(".sqlite")
    await _contexts_survive_bsf_sigkill(lab, "SQLite")


@contextlib.contextmanager
def persistent_redis() -> Iterator[str]:
    """A private redis-server writing an append-only file synced on every write."""
    exe = shutil.which("redis-server")
    # ./run installs it; a missing server must fail, not pass silently (as tests/redis_server)
    assert exe is not None, "redis-server is not on PATH (apt-get install redis-server)"
    workdir = Path(tempfile.mkdtemp(prefix="gba-redis-aof-"))
    proc = None
    try:
        for _ in range(3):  # another process may take the free port first
            port = free_port()
            with (workdir / "redis.log").open("wb") as out:
                proc = subprocess.Popen(
                    [exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
                     "--save", "", "--appendonly", "yes", "--appendfsync", "always"],
                    stdout=out, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + START_TIMEOUT
            while proc.poll() is None and not ping("127.0.0.1", port):
                if time.monotonic() > deadline:
                    raise AssertionError("redis-server did not answer PING")
                time.sleep(0.01)  # polling a child's socket with a deadline
            if proc.poll() is None:
                yield f"redis://127.0.0.1:{port}/0"
                return
        raise AssertionError(f"redis-server exited at start: "
                             f"{(workdir / 'redis.log').read_text(errors='replace')[-1000:]}")
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.redis
async def test_bsf_sigkill_keeps_contexts_redis_aof(lab_factory: LabFactory,
                                                    tmp_path: Path) -> None:
    with persistent_redis() as url:
        lab = lab_factory((), unlimited_config(tmp_path, bsf_store=url))
        await _contexts_survive_bsf_sigkill(lab, "Redis appendonly, appendfsync always")


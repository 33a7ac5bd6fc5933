"""``gba bench contexts``: a BSF holding many live bootstrapping contexts (issue 16 item 4).

For each backend the benchmark starts what it needs itself (a SQLite file in a temporary
directory; a private ``redis-server`` on a free port, with no persistence, stopped at the
end), stores *count* contexts through the store's own ``put_context`` and then looks up
*lookups* random B-TIDs, one at a time, through its ``get_context``. Every context is what
the BSF stores after a bootstrap (TS 33.220 §4.5.2): a B-TID ``base64(RAND)@<BSF server
name>`` from a random RAND, an IMPI, a random 32-octet Ks, created within the last half
hour with a lifetime of 2 to 24 hours (so none expires during the run), and the GUSS this
project's HSS sends for a subscriber provisioned without one
(:func:`gba.nf.hss.default_guss`, 168 octets here); a provisioned GUSS with USSs adds its
own length to each context.

Inserts go through the public API, *concurrency* of them in flight (one transaction per
context in SQLite, as the BSF commits them; one ``EVALSHA`` each in Redis), so the bytes
written are exactly the store's.

Measured:

* ``bytes_per_context``: SQLite, the growth of the file after a ``wal_checkpoint(TRUNCATE)``
  (the WAL then holds nothing) over the empty-schema file, divided by *count*; rows and the
  three indexes (B-TID, expiry, IMPI) included. Redis, the growth of ``INFO memory``
  ``used_memory`` divided by *count*; the context string and its entry in the expiry
  sorted set included.
* ``insert_per_s``: contexts stored per second of wall time.
* ``lookup_p50_us`` / ``lookup_p99_us`` / ``lookup_max_us``: the latency of one
  ``get_context`` call seen by the caller (decode included), ``lookups_per_s`` their rate
  one at a time. Every lookup must find its context with the Ks it was stored with
  (``lookups_missed`` counts the ones that did not).
"""

from __future__ import annotations

import asyncio
import random
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from redis.asyncio import Redis

from gba.crypto import kdf
from gba.errors import GbaError
from gba.nf.hss import default_guss
from gba.store.bsf import BootstrapContext, BsfStore
from gba.store.redis import RedisBsfStore
from gba.store.sqlite import SqliteBsfStore

BACKENDS: Final = ("sqlite", "redis")
SERVER_NAME: Final = "bsf.ims.mnc001.mcc001.3gppnetwork.org"
REALM: Final = "ims.mnc001.mcc001.3gppnetwork.org"
CONCURRENCY: Final = 64
"""Puts in flight at once: Redis answers each over its own pooled connection."""
BATCH: Final = 10_000
"""Contexts made at a time, so a million never sit in this process's memory at once."""
HOST: Final = "127.0.0.1"


class BenchError(GbaError):
    """The benchmark could not run (no redis-server, a server that did not start)."""


@dataclass(frozen=True, slots=True)
class _Plan:
    """The contexts to store, reproducibly from *seed*, and the ones to look up."""

    count: int
    seed: int
    now: datetime
    wanted: tuple[int, ...]

    def batches(self) -> Iterator[list[BootstrapContext]]:
        rng = random.Random(self.seed)
        for start in range(0, self.count, BATCH):
            yield [_context(rng, n, self.now) for n in range(start, min(start + BATCH,
                                                                         self.count))]


def _impi(n: int) -> str:
    return f"00101{n:010d}@{REALM}"


def _context(rng: random.Random, n: int, now: datetime) -> BootstrapContext:
    rand = rng.randbytes(16)
    lifetime = timedelta(seconds=rng.randint(2 * 3600, 24 * 3600))
    created = now - timedelta(seconds=rng.randint(0, 1799), microseconds=rng.randint(0, 999_999))
    impi = _impi(n)
    return BootstrapContext(btid=kdf.btid(rand, SERVER_NAME), impi=impi, ks=rng.randbytes(32),
                            rand=rand, created=created, expires=created + lifetime,
                            guss=default_guss(impi), gba_u=False)


def _percentile(ordered: list[int], fraction: float) -> int:
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0


async def _insert(store: BsfStore, plan: _Plan, concurrency: int
                  ) -> tuple[float, dict[str, bytes]]:
    """Store every context of *plan*; (seconds taken, B-TID -> Ks of the ones to look up)."""
    wanted = set(plan.wanted)
    expected: dict[str, bytes] = {}
    seconds = 0.0
    n = 0
    for batch in plan.batches():  # making the contexts is not timed
        for ctx in batch:
            if n in wanted:
                expected[ctx.btid] = ctx.ks
            n += 1
        queue = iter(batch)

        async def worker(it: Iterator[BootstrapContext] = queue) -> None:
            for ctx in it:
                await store.put_context(ctx)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds += time.perf_counter() - started
    return seconds, expected


async def _lookups(store: BsfStore, plan: _Plan, btids: list[str], expected: dict[str, bytes],
                   lookups: int) -> dict[str, Any]:
    rng = random.Random(plan.seed + 1)
    order = [rng.choice(btids) for _ in range(lookups)]
    latencies: list[int] = []
    missed = 0
    now = datetime.now(UTC)
    clock = time.perf_counter_ns
    started = clock()
    for btid in order:
        t0 = clock()
        ctx = await store.get_context(btid, now)
        latencies.append(clock() - t0)
        if ctx is None or ctx.ks != expected[btid]:
            missed += 1
    elapsed_ns = clock() - started
    latencies.sort()
    return {
        "lookup_p50_us": round(_percentile(latencies, 0.50) / 1000, 1),
        "lookup_p99_us": round(_percentile(latencies, 0.99) / 1000, 1),
        "lookup_max_us": round((latencies[-1] if latencies else 0) / 1000, 1),
        "lookups_per_s": round(lookups / (elapsed_ns / 1e9), 1) if elapsed_ns else 0.0,
        "lookups": lookups,
        "lookups_missed": missed,
    }


def _sqlite_size(path: Path) -> int:
    """The file's size once its WAL is checkpointed into it and truncated (0 octets)."""
    conn = sqlite3.connect(path)
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        conn.close()
    if busy:
        raise BenchError(f"sqlite {path}: the WAL checkpoint was blocked")
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


async def _bench_sqlite(plan: _Plan, lookups: int, concurrency: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gba-bench-ctx-") as tmp:
        path = Path(tmp) / "bsf.sqlite"
        store = SqliteBsfStore(path)
        try:
            empty = _sqlite_size(path)
            seconds, expected = await _insert(store, plan, concurrency)
            full = _sqlite_size(path)
            result = await _lookups(store, plan, list(expected), expected, lookups)
        finally:
            await store.close()
    return {"bytes_per_context": round((full - empty) / plan.count, 1),
            "total_bytes": full, "insert_seconds": round(seconds, 2),
            "insert_per_s": round(plan.count / seconds, 1), **result}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _ping(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@asynccontextmanager
async def private_redis(timeout: float = 10.0) -> AsyncIterator[str]:
    """A ``redis-server`` of this benchmark's own (free port, temporary directory, nothing
    saved to disk), stopped and removed when the block ends; yields its URL."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise BenchError("redis-server is not on PATH "
                         "(Debian/Ubuntu: apt-get install redis-server)")
    workdir = Path(tempfile.mkdtemp(prefix="gba-bench-redis-"))
    proc: asyncio.subprocess.Process | None = None
    try:
        for _ in range(3):  # another process may take the free port first
            port = _free_port()
            with (workdir / "redis.log").open("wb") as log:
                proc = await asyncio.create_subprocess_exec(
                    exe, "--port", str(port), "--bind", HOST, "--dir", str(workdir),
                    "--save", "", "--appendonly", "no",
                    stdout=log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + timeout
            while proc.returncode is None and time.monotonic() < deadline:
                if _ping(port):
                    yield f"redis://{HOST}:{port}/0"
                    return
                await asyncio.sleep(0.01)
            if proc.returncode is None:
                raise BenchError(f"redis-server on port {port} did not answer within "
                                 f"{timeout}s")
        raise BenchError("redis-server exited at start, three times: "
                         + (workdir / "redis.log").read_text(errors="replace")[-1000:])
    finally:
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


async def _used_memory(admin: Redis) -> int:
    info = await admin.info("memory")
    return int(info["used_memory"])


async def _bench_redis(plan: _Plan, lookups: int, concurrency: int) -> dict[str, Any]:
    async with private_redis() as url:
        admin = Redis.from_url(url)
        store = RedisBsfStore(url)
        try:
            before = await _used_memory(admin)
            seconds, expected = await _insert(store, plan, concurrency)
            after = await _used_memory(admin)
            keys = int(await admin.dbsize())
            result = await _lookups(store, plan, list(expected), expected, lookups)
        finally:
            await store.close()
            await admin.aclose()
    if keys != plan.count + 1:  # the contexts and the expiry index
        raise BenchError(f"redis holds {keys} keys after storing {plan.count} contexts")
    return {"bytes_per_context": round((after - before) / plan.count, 1),
            "total_bytes": after - before, "insert_seconds": round(seconds, 2),
            "insert_per_s": round(plan.count / seconds, 1), **result}


_RUNNERS: Final[dict[str, Callable[[_Plan, int, int], Coroutine[Any, Any, dict[str, Any]]]]] = {
    "sqlite": _bench_sqlite,
    "redis": _bench_redis,
}


def bench_contexts(count: int = 1_000_000, backends: tuple[str, ...] = BACKENDS,
                   lookups: int = 20000, *, concurrency: int = CONCURRENCY,
                   seed: int = 16) -> dict[str, Any]:
    """Store *count* contexts in each backend, then time *lookups* random lookups.

    Returns ``{"count", "backends": {name: {"bytes_per_context", "insert_per_s",
    "lookup_p50_us", "lookup_p99_us", "lookup_max_us", "lookups_per_s", ...}}}``.
    """
    if count < 1 or lookups < 1:
        raise BenchError("count and lookups must be at least 1")
    unknown = [b for b in backends if b not in _RUNNERS]
    if unknown:
        raise BenchError(f"unknown backend(s) {', '.join(unknown)}; "
                         f"choose from {', '.join(BACKENDS)}")
    rng = random.Random(seed)
    wanted = tuple(sorted(rng.sample(range(count), min(count, lookups))))
    plan = _Plan(count, seed, datetime.now(UTC), wanted)
    out: dict[str, Any] = {"count": count, "backends": {},
                           "context": {"btid_example": kdf.btid(bytes(16), SERVER_NAME),
                                       "guss_octets": len(default_guss(_impi(0)))}}
    for name in backends:
        out["backends"][name] = asyncio.run(_RUNNERS[name](plan, lookups, concurrency))
    return out

"""``gba bench bootstrap|zn|ua``: load on the real services over real sockets, each
against its floor measured in the same run (issue 16 items 1-2).

The HSS, BSF and NAF run as the processes ``gba lab up`` starts (:func:`gba.lab.lab.up`,
the bench network of :func:`gba.lab.bench._bench_config`: Ub probe limits off, no
recent-message ring); the load comes from this process, *concurrency* workers back to
back for *seconds*, after one unrecorded warm-up operation per worker:

* ``bootstrap``: full Ub bootstraps (GET -> 401 with an AKA challenge, GET with the AKA
  response -> 200; the BSF fetches each vector from the HSS over Zh). *ues* subscribers
  are provisioned (default 4 per worker); worker *n* bootstraps UEs n, n+c, n+2c, ...
  in turn, each a :class:`~gba.ue.client.GbaClient` on the shared keep-alive session.
  Floor: HTTP.
* ``zn``: Zn Bootstrapping-Info-Requests for B-TIDs that exist (the *ues* UEs bootstrap
  once first), through the NAF's own Diameter node (:func:`gba.nf.naf_service.zn_node`:
  one mutual-TLS connection to the BSF, requests pipelined on it), this process posing
  as the NAF. Floor: Diameter echo over the same TLS.
* ``ua``: Digest-protected NAF requests with a cached key: each worker is a UE that
  bootstrapped once and holds Ks_NAF; it takes one challenge from the NAF, then sends
  every request with credentials for that nonce and the next nonce count (RFC 7616
  §3.4: a client may reuse a nonce with nc increasing), and checks the rspauth of each
  200 (the NAF proves it holds Ks_NAF). A 401 with ``stale=true`` (the nonce aged) is
  answered with the fresh nonce it carries, within the same operation. The NAF asks the
  BSF over Zn once per B-TID (during the warm-up). Floor: HTTP.

Each run returns :func:`gba.lab.bench_report.result`'s object.

``bootstrap`` with *workers* (``gba bench bootstrap --workers 1,2``, issue 16 item 3):
a private ``redis-server`` (free port, nothing on disk, stopped at the end) holds the
BSF's state, and the bootstrap load runs once per worker count on a lab whose BSF has
``workers = N`` and that Redis as its store (:mod:`gba.nf.bsf_workers`); the result
holds each run under ``runs`` (by worker count), ``scaling`` (the throughput of the
largest count over that of the smallest), and ``cpu_ms_per_bootstrap`` per count: each
BSF process's and the BSF's total CPU milliseconds per bootstrap.

``bootstrap`` with *hss_store* ``"postgres"`` (``gba bench bootstrap --hss-store
postgres``): a private PostgreSQL server (:func:`gba.lab.postgres_server.private_postgres`:
a fresh data directory, ``fsync`` on, stopped and removed at the end) is the HSS's
subscriber store (``store = "postgresql://..."`` in the HSS's section; the bench's
subscribers are provisioned through :func:`gba.store.factory.open_subscriber_store`, so
into it too). The result names the store (``hss_store``: ``"sqlite"`` or ``"postgres"``);
``cpu_ms_per_op`` and ``rss_mb`` hold ``postgres``: its CPU is the whole server's (the
postmaster, every backend and background process, those that exited during the run too:
:class:`TreeWatch`), its peak RSS the postmaster's alone (backends share its buffers).
With *workers* too, every run uses that server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
import tomli_w

from gba import config
from gba.crypto import aka, digest, ua_protocols
from gba.errors import AuthError, GbaError
from gba.lab import lab
from gba.lab.bench import _bench_config, _provision
from gba.lab.bench_floor import (
    FloorServer,
    client_session,
    diameter_floor,
    drive,
    floor_server,
    http_floor,
)
from gba.lab.bench_report import ProcWatch, Recorder, chart, cpu_seconds, result
from gba.lab.postgres_server import private_postgres
from gba.lab.subscribers import DEMO_K, DEMO_OPC
from gba.nf import registry
from gba.nf.naf_service import zn_node
from gba.protocols import ua, ub, zn
from gba.protocols.digest_header import AuthenticationInfo, Challenge, Credentials
from gba.protocols.http import HttpRequest, HttpResponse
from gba.transport.diameter import session_id_factory
from gba.transport.http import exchange
from gba.ue.client import GbaClient

NAMES = ("bootstrap", "zn", "ua")
UES_PER_WORKER = 4
"""Subscribers provisioned per worker for bootstrap and zn (a worker takes them in turn)."""
LOAD_GENERATOR = "load_generator"
"""The name of this process in ``cpu_ms_per_op``."""
SERVERS = ("hss", "bsf", "naf")
UA_PATH = "/bench/resource"
HSS_STORES = ("sqlite", "postgres")
"""``--hss-store``: the lab's own SQLite file, or a private PostgreSQL server."""
POSTGRES = "postgres"
"""The name of the private PostgreSQL server in ``cpu_ms_per_op`` and ``rss_mb``."""


@dataclass(frozen=True)
class Lab:
    tmp: Path
    info: dict[str, Any]
    cfg: config.NetworkConfig
    workers: dict[str, int] = field(default_factory=dict)
    """More processes to watch: the BSF's workers beyond worker 0 (``bsf-w1``, ...), a
    private ``redis`` server and a private ``postgres`` server."""
    trees: frozenset[str] = frozenset()
    """Those of :attr:`workers` whose CPU is their whole process tree's (:class:`TreeWatch`)."""

    @property
    def pids(self) -> dict[str, int]:
        return {**{n: int(p) for n, p in self.info["pids"].items() if n in SERVERS},
                **self.workers}


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _reaped_cpu_seconds(pid: int) -> float:
    """CPU seconds of *pid*'s children that exited and were reaped (``cutime`` +
    ``cstime``, fields 16 and 17 of proc(5)); 0 when *pid* is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rpartition(")")[2].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of *pid*, of its children that exited (reaped: counted in
    its ``cutime``/``cstime``) and of those running, recursively; None when *pid* is gone.
    Between two readings the difference is the whole tree's CPU, a child that started or
    exited meanwhile included (a PostgreSQL server: postmaster, backends, WAL writer...)."""
    own = cpu_seconds(pid)
    if own is None:
        return None
    total = own + _reaped_cpu_seconds(pid)
    for child in _children(pid):
        total += tree_cpu_seconds(child) or 0.0
    return total


class TreeWatch(ProcWatch):
    """:class:`~gba.lab.bench_report.ProcWatch` whose processes named in *trees* count
    with their process tree (:func:`tree_cpu_seconds`); the others as there."""

    def __init__(self, pids: dict[str, int], trees: frozenset[str] = frozenset()) -> None:
        super().__init__(pids)
        self.trees = trees & set(pids)

    def _read(self) -> dict[str, float]:
        return {name: cpu for name in self.trees
                if (cpu := tree_cpu_seconds(self.pids[name])) is not None}

    def start(self) -> None:
        super().start()
        self._before.update(self._read())

    def stop(self) -> dict[str, float]:
        super().stop()
        for name, now in self._read().items():
            if name in self._before:
                self.cpu_s[name] = now - self._before[name]
        return self.cpu_s


@contextlib.contextmanager
def _lab(bsf: dict[str, Any] | None = None, watch: dict[str, int] | None = None,
         hss: dict[str, Any] | None = None, trees: frozenset[str] = frozenset(),
         naf: dict[str, Any] | None = None) -> Iterator[Lab]:
    """The bench lab; *bsf*, *hss*, *naf*: keys set in the BSF's, the HSS's and the
    NAF's sections (``workers``, ``store``); *watch*: more processes whose CPU and RSS
    the results report, *trees* those of them counted with their children
    (:class:`TreeWatch`)."""
    with tempfile.TemporaryDirectory(prefix="gba-bench-") as tmp:
        where = Path(tmp) / "lab"
        network = _bench_config(Path(tmp))
        overrides = {kind: keys for kind, keys in (("bsf", bsf), ("hss", hss), ("naf", naf))
                     if keys}
        if overrides:
            data = config.normalise(config.load(network).raw)
            for section in data["functions"].values():
                section.update(overrides.get(str(section.get("kind")), {}))
            network.write_text(tomli_w.dumps(data), encoding="utf-8")
        info = lab.up(where, network)
        try:
            workers = {f"{kind}-w{k}": pid
                       for kind, keys in (("bsf", bsf), ("naf", naf)) if keys
                       for k, pid in enumerate(_children(int(info["pids"][kind])), start=1)}
            yield Lab(Path(tmp), info, registry.load(info["config"]),
                      {**workers, **(watch or {})}, trees)
        finally:
            lab.down(where)


@contextlib.contextmanager
def _hss_store(hss_store: str) -> Iterator[tuple[dict[str, Any], dict[str, int]]]:
    """For *hss_store* (:data:`HSS_STORES`): the keys of the HSS's section and the
    processes to watch (a private PostgreSQL server's postmaster, for ``postgres``)."""
    if hss_store not in HSS_STORES:
        raise GbaError(f"HSS store {hss_store!r}: one of {', '.join(HSS_STORES)}")
    if hss_store == "sqlite":  # the lab's own file, as in the sample network
        yield {}, {}
        return
    with private_postgres() as server:
        yield {"store": server.url}, {POSTGRES: server.pid}


async def _measure(name: str, kind: str, the_lab: Lab, floor: FloorServer, concurrency: int,
                   run_floor: Callable[[ProcWatch], Awaitable[Recorder]],
                   run_load: Callable[[ProcWatch], Awaitable[Recorder]],
                   **extra: Any) -> dict[str, Any]:
    """The floor's run, then the load's, each with its processes' CPU time watched."""
    me = os.getpid()
    floor_watch = ProcWatch({floor.name: floor.pid, f"{LOAD_GENERATOR}@floor": me})
    floor_rec = await run_floor(floor_watch)
    load_watch = TreeWatch({**the_lab.pids, LOAD_GENERATOR: me}, the_lab.trees)
    load_rec = await run_load(load_watch)
    rss = ProcWatch({**the_lab.pids, floor.name: floor.pid}).rss_mb()
    return result(name, load_rec, floor_rec, kind, concurrency, load_watch.cpu_s, rss,
                  floor_watch.cpu_s, **extra)


def _ue(the_lab: Lab, impi: str, session: aiohttp.ClientSession) -> GbaClient:
    return GbaClient(impi, aka.Usim(DEMO_K, DEMO_OPC), the_lab.info["bsf_url"],
                     session=session)


async def _bootstrap_all(ues: list[GbaClient], concurrency: int) -> None:
    """Bootstrap every UE once, *concurrency* at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(ue: GbaClient) -> None:
        async with gate:
            await ue.bootstrap()

    await asyncio.gather(*(one(ue) for ue in ues))


# ------------------------------------------------------------------ bootstrap


async def _bootstrap_run(the_lab: Lab, floor: FloorServer, impis: list[str], seconds: float,
                         concurrency: int) -> dict[str, Any]:
    async with client_session(concurrency) as session:
        ues = [_ue(the_lab, impi, session) for impi in impis]
        turns = [0] * concurrency

        async def step(n: int) -> None:
            mine = ues[n::concurrency]
            ue = mine[turns[n] % len(mine)]
            turns[n] += 1
            await ue.bootstrap(force=True)

        return await _measure(
            "bootstrap", "http", the_lab, floor, concurrency,
            lambda w: http_floor(f"http://{floor.address}/", session, concurrency, seconds,
                                 w),
            lambda w: drive(concurrency, seconds, step, Recorder(), w),
            ues=len(ues))


def bench_bootstrap(seconds: float = 5.0, concurrency: int = 8, ues: int | None = None,
                    chart_path: Path | None = None, hss_store: str = "sqlite"
                    ) -> dict[str, Any]:
    """Full Ub bootstraps (with Zh) per second against the HTTP floor; the HSS's
    subscribers in *hss_store* (:data:`HSS_STORES`)."""
    count = max(ues or UES_PER_WORKER * concurrency, concurrency)
    with _hss_store(hss_store) as (hss, watch), \
            _lab(hss=hss, watch=watch, trees=frozenset(watch)) as the_lab, \
            floor_server("http", the_lab.tmp) as floor:
        impis = asyncio.run(_provision(the_lab.cfg, count))
        res = asyncio.run(_bootstrap_run(the_lab, floor, impis, seconds, concurrency))
    res["hss_store"] = hss_store
    return _charted(res, chart_path)


REDIS_HOST = "127.0.0.1"


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection((REDIS_HOST, port), timeout=0.2) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _redis_command(url: str, command: bytes) -> None:
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with socket.create_connection((REDIS_HOST, port), timeout=5) as sock:
        sock.sendall(command)
        if not sock.recv(64).startswith(b"+OK"):
            raise GbaError(f"redis at {url} refused {command!r}")


@contextlib.contextmanager
def private_redis(timeout: float = 10.0) -> Iterator[tuple[str, int]]:
    """A ``redis-server`` of this benchmark's own on a free loopback port, saving nothing,
    stopped and removed when the block ends; yields its URL and pid."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise GbaError("redis-server is not on PATH (Debian/Ubuntu: apt-get install "
                       "redis-server)")
    workdir = Path(tempfile.mkdtemp(prefix="gba-bench-redis-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        for _ in range(3):  # another process may take the free port first
            port = config.free_port(REDIS_HOST)
            with (workdir / "redis.log").open("wb") as out:
                proc = subprocess.Popen(
                    [exe, "--port", str(port), "--bind", REDIS_HOST, "--dir", str(workdir),
                     "--save", "", "--appendonly", "no"],
                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            deadline = time.monotonic() + timeout
            while proc.poll() is None and time.monotonic() < deadline:
                if _redis_answers(port):
                    yield f"redis://{REDIS_HOST}:{port}/0", proc.pid
                    return
                time.sleep(0.01)  # waiting for a child process to listen
            if proc.poll() is None:
                raise GbaError(f"redis-server on port {port} did not answer within "
                               f"{timeout:g}s")
        raise GbaError("redis-server exited at start, three times: "
                       + (workdir / "redis.log").read_text(errors="replace")[-1000:])
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def bench_bootstrap_workers(workers: tuple[int, ...], seconds: float = 5.0,
                            concurrency: int = 8, ues: int | None = None,
                            chart_path: Path | None = None, hss_store: str = "sqlite"
                            ) -> dict[str, Any]:
    """The bootstrap benchmark once per BSF worker count, the BSF's state in a private
    Redis, the HSS's in *hss_store*; ``scaling`` is throughput(max count) /
    throughput(min count)."""
    count = max(ues or UES_PER_WORKER * concurrency, concurrency)
    runs: dict[str, dict[str, Any]] = {}
    with private_redis() as (redis_url, redis_pid), _hss_store(hss_store) as (hss, watch):
        for n in workers:
            _redis_command(redis_url, b"*1\r\n$7\r\nFLUSHDB\r\n")  # each run from empty
            # (each run provisions the same subscribers again, SQN 0, in either HSS store)
            with _lab({"workers": n, "store": redis_url}, {"redis": redis_pid, **watch},
                      hss, frozenset(watch)) as the_lab, \
                    floor_server("http", the_lab.tmp) as floor:
                impis = asyncio.run(_provision(the_lab.cfg, count))
                res = asyncio.run(_bootstrap_run(the_lab, floor, impis, seconds,
                                                 concurrency))
            res["workers"] = n
            res["hss_store"] = hss_store
            res["bsf_processes"] = sorted(p for p in the_lab.pids if p.startswith("bsf"))
            res["bsf_pids"] = {p: pid for p, pid in the_lab.pids.items() if p.startswith("bsf")}
            runs[str(n)] = res
    cpu = {key: _bsf_cpu(res) for key, res in runs.items()}
    return _scaling("bootstrap", workers, runs, chart_path, cpu_ms_per_bootstrap=cpu,
                    hss_store=hss_store)


def _scaling(name: str, workers: tuple[int, ...], runs: dict[str, dict[str, Any]],
             chart_path: Path | None, **extra: Any) -> dict[str, Any]:
    """One result of a ``--workers`` benchmark: the run of the most workers, every run,
    their errors, ``scaling`` (throughput of the most workers over that of the fewest)."""
    low, high = runs[str(min(workers))], runs[str(max(workers))]
    base = low.get("throughput_per_s", 0.0)
    out: dict[str, Any] = {
        **high, "name": name, "workers": list(workers), "runs": runs,
        "errors": sum(int(r.get("errors", 0)) for r in runs.values()),
        "scaling": round(high.get("throughput_per_s", 0.0) / base, 3) if base else 0.0,
        **extra, "redis": "private redis-server (started and stopped)"}
    if chart_path is not None:
        chart(high, chart_path)
        out["chart"] = str(chart_path)
    return out


def _bsf_cpu(res: dict[str, Any]) -> dict[str, float]:
    """Each BSF process's CPU ms per bootstrap, their sum (``bsf_total``), and the Redis
    server's (``redis``); the PostgreSQL server's (``postgres``) when it holds the HSS's
    subscribers."""
    cpu = res.get("cpu_ms_per_op", {})
    per = {p: float(ms) for p, ms in cpu.items() if p == "bsf" or p.startswith("bsf-w")}
    return {**per, "bsf_total": round(sum(per.values()), 4),
            "redis": float(cpu.get("redis", 0.0)),
            **({POSTGRES: float(cpu[POSTGRES])} if POSTGRES in cpu else {})}


# ------------------------------------------------------------------ zn


async def _zn_run(the_lab: Lab, floor: FloorServer, impis: list[str], seconds: float,
                  concurrency: int) -> dict[str, Any]:
    cfg = the_lab.cfg
    async with client_session(concurrency) as session:
        ues = [_ue(the_lab, impi, session) for impi in impis]
        await _bootstrap_all(ues, concurrency)
        btids = [ue.current.btid for ue in ues if ue.current is not None]
    node = zn_node(cfg.naf, cfg)
    identity = node.identity
    realm = cfg.bsf.diameter.realm
    session_id = session_id_factory(identity.origin_host)
    naf_id = cfg.naf.fqdn.encode() + ua_protocols.HTTP_DIGEST
    bir = zn.build_bir(identity, realm, session_id(), zn.KeyRequest(btids[0], naf_id))
    turns = [0] * concurrency

    async def step(n: int) -> None:
        btid = btids[(n + concurrency * turns[n]) % len(btids)]
        turns[n] += 1
        answer = await node.request(zn.build_bir(identity, realm, session_id(),
                                                 zn.KeyRequest(btid, naf_id)))
        if answer.result_code != 2001:
            raise GbaError(f"Zn answer {answer.result_code} for {btid}")

    async def load(watch: ProcWatch) -> Recorder:
        await node.start()
        try:
            await node.wait_open()
            return await drive(concurrency, seconds, step, Recorder(), watch)
        finally:
            await node.close()

    bsf_tls = cfg.bsf.tls
    return await _measure(
        "zn", "diameter", the_lab, floor, concurrency,
        lambda w: diameter_floor(floor.address, cfg.naf.tls.client(cfg) if bsf_tls.enabled
                                 else None, cfg.bsf.diameter.host, bir.encode(),
                                 concurrency, seconds, w),
        load, btids=len(btids), zn_tls=bsf_tls.enabled)


def bench_zn(seconds: float = 5.0, concurrency: int = 8, ues: int | None = None,
             chart_path: Path | None = None) -> dict[str, Any]:
    """Zn key requests per second for existing B-TIDs against the Diameter floor."""
    count = max(ues or UES_PER_WORKER * concurrency, 1)
    with _lab() as the_lab:
        bsf_tls = the_lab.cfg.bsf.tls
        files = ([the_lab.cfg.file(f) for f in (bsf_tls.cert, bsf_tls.key, bsf_tls.ca)]
                 if bsf_tls.enabled else [])
        if not files:
            raise GbaError("the bench network's Zn has no TLS: no Diameter floor to match")
        with floor_server("diameter", the_lab.tmp, *files) as floor:
            impis = asyncio.run(_provision(the_lab.cfg, count))
            res = asyncio.run(_zn_run(the_lab, floor, impis, seconds, concurrency))
    return _charted(res, chart_path)


# ------------------------------------------------------------------ ua


class _UaUe:
    """A UE holding Ks_NAF for the NAF, reusing one nonce with counts going up."""

    def __init__(self, naf_url: str, fqdn: str, btid: str, ks_naf: bytes) -> None:
        self.url = naf_url.rstrip("/") + UA_PATH
        self.fqdn = fqdn
        self.btid = btid
        self.password = ua.password_for(ks_naf)
        self.agent = ub.ua_user_agent()
        self.challenge: Challenge | None = None
        self.nc = 0

    def _adopt(self, response: HttpResponse) -> None:
        header = response.header("WWW-Authenticate") or ""
        challenge = Challenge.from_header(header)
        if challenge.realm != ua.realm_for(self.fqdn):
            raise GbaError(f"NAF realm {challenge.realm!r} is not {ua.realm_for(self.fqdn)!r}")
        self.challenge, self.nc = challenge, 0

    async def request(self, session: aiohttp.ClientSession) -> None:
        """One protected GET: 200 with a verified rspauth, else an exception."""
        if self.challenge is None:
            response, _ = await exchange(session, self.url, HttpRequest(
                "GET", UA_PATH, (("User-Agent", self.agent),), b""))
            if response.status != 401:
                raise GbaError(f"NAF answered {response.status} without credentials")
            self._adopt(response)
        for _ in range(2):  # once more with a fresh nonce when this one went stale
            c = self.challenge
            assert c is not None
            self.nc += 1
            qop = "auth-int" if "auth-int" in c.qop else "auth"
            d = digest.DigestInput(c.algorithm, self.btid, c.realm, self.password, UA_PATH,
                                   c.nonce, qop, f"{self.nc:08x}", os.urandom(8).hex())
            creds = Credentials(username=self.btid, realm=c.realm, nonce=c.nonce,
                                uri=UA_PATH, response=digest.response(d, "GET"),
                                algorithm=c.algorithm, qop=qop, nc=d.nc, cnonce=d.cnonce,
                                opaque=c.opaque)
            response, _ = await exchange(session, self.url, HttpRequest(
                "GET", UA_PATH, (("User-Agent", self.agent),
                                 ("Authorization", creds.to_header())), b""))
            if response.status == 200:
                info = AuthenticationInfo.from_header(
                    response.header("Authentication-Info") or "")
                if not digest.verify(digest.rspauth(d, response.body), info.rspauth):
                    raise AuthError("NAF rspauth does not verify")
                return
            if response.status != 401:
                raise GbaError(f"NAF answered {response.status}: {response.body[:200]!r}")
            self._adopt(response)
            if not self.challenge or not self.challenge.stale:
                raise GbaError("NAF refused the credentials (401, not stale)")
        raise GbaError("NAF answered 401 stale twice")


async def _ua_run(the_lab: Lab, floor: FloorServer, impis: list[str], seconds: float,
                  concurrency: int) -> dict[str, Any]:
    info = the_lab.info
    fqdn = info["naf_fqdn"]
    async with client_session(concurrency) as session:
        gba = [_ue(the_lab, impi, session) for impi in impis]
        await _bootstrap_all(gba, concurrency)
        ues = []
        for ue in gba:
            key = ue.naf_key(fqdn, ua_protocols.HTTP_DIGEST)
            ues.append(_UaUe(info["naf_url"], fqdn, key.btid, key.key))

        async def step(n: int) -> None:
            await ues[n].request(session)

        return await _measure(
            "ua", "http", the_lab, floor, concurrency,
            lambda w: http_floor(f"http://{floor.address}/", session, concurrency, seconds,
                                 w),
            lambda w: drive(concurrency, seconds, step, Recorder(), w),
            ues=len(ues))


def bench_ua_workers(workers: tuple[int, ...], seconds: float = 5.0, concurrency: int = 8,
                     chart_path: Path | None = None) -> dict[str, Any]:
    """The Ua benchmark once per NAF worker count, the NAF's keys and nonce counts in a
    private Redis; ``scaling`` is throughput(max count) / throughput(min count). Each UE
    keeps its connection, so the kernel spreads *concurrency* connections over the
    workers (SO_REUSEPORT hashes each connection's addresses: not always evenly)."""
    runs: dict[str, dict[str, Any]] = {}
    with private_redis() as (redis_url, redis_pid):
        for n in workers:
            _redis_command(redis_url, b"*1\r\n$7\r\nFLUSHDB\r\n")  # each run from empty
            with _lab(watch={"redis": redis_pid},
                      naf={"workers": n, "store": redis_url}) as the_lab, \
                    floor_server("http", the_lab.tmp) as floor:
                impis = asyncio.run(_provision(the_lab.cfg, concurrency))
                res = asyncio.run(_ua_run(the_lab, floor, impis, seconds, concurrency))
            res["workers"] = n
            res["naf_pids"] = {p: pid for p, pid in the_lab.pids.items() if p.startswith("naf")}
            runs[str(n)] = res
    cpu = {key: _naf_cpu(res) for key, res in runs.items()}
    return _scaling("ua", workers, runs, chart_path, cpu_ms_per_request=cpu)


def _naf_cpu(res: dict[str, Any]) -> dict[str, float]:
    """Each NAF process's CPU ms per Ua request, their sum (``naf_total``), the Redis
    server's (``redis``)."""
    cpu = res.get("cpu_ms_per_op", {})
    per = {p: float(ms) for p, ms in cpu.items() if p == "naf" or p.startswith("naf-w")}
    return {**per, "naf_total": round(sum(per.values()), 4),
            "redis": float(cpu.get("redis", 0.0))}


def bench_ua(seconds: float = 5.0, concurrency: int = 8,
             chart_path: Path | None = None) -> dict[str, Any]:
    """Digest-protected NAF requests per second with cached keys against the HTTP floor
    (one UE per worker)."""
    with _lab() as the_lab, floor_server("http", the_lab.tmp) as floor:
        impis = asyncio.run(_provision(the_lab.cfg, concurrency))
        res = asyncio.run(_ua_run(the_lab, floor, impis, seconds, concurrency))
    return _charted(res, chart_path)


# ------------------------------------------------------------------ common


def _charted(res: dict[str, Any], chart_path: Path | None) -> dict[str, Any]:
    if chart_path is not None:
        chart(res, chart_path)
    return res


BENCHES: dict[str, Callable[..., dict[str, Any]]] = {
    "bootstrap": bench_bootstrap, "zn": bench_zn, "ua": bench_ua}


WORKER_BENCHES: Final = ("bootstrap", "ua")
"""The benchmarks ``--workers`` runs once per BSF (bootstrap) or NAF (ua) worker count."""


def run(name: str, seconds: float, concurrency: int,
        chart_path: Path | None = None, workers: tuple[int, ...] | None = None,
        hss_store: str = "sqlite") -> dict[str, Any]:
    """Run benchmark *name* (one of :data:`NAMES`) and return its result; *workers*:
    once per BSF worker count for bootstrap (:func:`bench_bootstrap_workers`), per NAF
    worker count for ua (:func:`bench_ua_workers`);
    *hss_store* (for bootstrap only): where the HSS keeps its subscribers
    (:data:`HSS_STORES`)."""
    started = time.monotonic()
    if hss_store not in HSS_STORES:
        raise GbaError(f"HSS store {hss_store!r}: one of {', '.join(HSS_STORES)}")
    if name != "bootstrap" and hss_store != "sqlite":
        raise GbaError("--hss-store is for the bootstrap benchmark")
    if workers is not None and name not in WORKER_BENCHES:
        raise GbaError(f"--workers is for the {' and '.join(WORKER_BENCHES)} benchmarks")
    if workers is not None and name == "ua":
        res = bench_ua_workers(workers, seconds=seconds, concurrency=concurrency,
                               chart_path=chart_path)
        res["wall_s"] = round(time.monotonic() - started, 1)
        return res
    if workers is not None:
        res = bench_bootstrap_workers(workers, seconds=seconds, concurrency=concurrency,
                                      chart_path=chart_path, hss_store=hss_store)
        res["wall_s"] = round(time.monotonic() - started, 1)
        return res
    extra = {"hss_store": hss_store} if name == "bootstrap" else {}
    res = BENCHES[name](seconds=seconds, concurrency=concurrency, chart_path=chart_path,
                        **extra)
    res["wall_s"] = round(time.monotonic() - started, 1)
    return res

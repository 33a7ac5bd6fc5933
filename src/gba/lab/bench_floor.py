"""The floors of ``gba bench bootstrap|zn|ua`` (issue 16 item 2): what Python and this
machine allow under the same load shape, measured in the same run.

* HTTP (Ub, Ua): an aiohttp server in its own process answering ``GET /`` with a
  trivial handler, driven by the very client loop the Ub/Ua loads use
  (:func:`drive` over :func:`client_session`, one keep-alive connection per worker, each
  request through :func:`gba.transport.http.exchange` as the UE's own are).
* Diameter (Zn): an asyncio TCP+TLS server in its own process that echoes every
  Diameter message without decoding it (4-octet header, its length, the rest, written
  back), with the BSF's Zn certificate and the same mutual TLS (lab CA,
  :mod:`gba.transport.tls`), driven by *concurrency* workers sending a real Zn BIR,
  encoded once, pipelined over one TLS connection as the NAF's Diameter node does.

Each server is ``python -m gba.lab.bench_floor http HOST PORT`` or
``python -m gba.lab.bench_floor diameter HOST PORT CERT KEY CA``; it runs until SIGTERM.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from gba import config
from gba.config import Address
from gba.lab import lab
from gba.lab.bench_report import ProcWatch, Recorder
from gba.protocols import ub
from gba.protocols.http import HttpRequest
from gba.transport.http import TlsAwareConnector, exchange

HTTP_FLOOR = "floor_http"
DIAMETER_FLOOR = "floor_diameter"
ERROR_PAUSE_S = 0.01
"""How long a worker whose operation failed waits before the next: no busy loop."""

Step = Callable[[int], Awaitable[None]]
"""One operation of worker *n*; raises on failure."""


# ------------------------------------------------------------------ the client loop


def client_session(concurrency: int) -> aiohttp.ClientSession:
    """The HTTP client of every Ub/Ua load and of the HTTP floor: keep-alive, pooled,
    enough connections for every worker."""
    return aiohttp.ClientSession(
        connector=TlsAwareConnector(limit=max(100, 2 * concurrency)),
        timeout=aiohttp.ClientTimeout(total=30))


async def drive(concurrency: int, seconds: float, step: Step, recorder: Recorder,
                watch: ProcWatch | None = None, warmup: bool = True) -> Recorder:
    """*concurrency* workers running *step* back to back for *seconds*; each success
    recorded with its latency, each failure as an error. With *warmup*, every worker
    first runs one unrecorded step (connections opened, caches filled) whose failure
    still counts as an error. *watch* measures the processes' CPU time over the
    recorded part only."""

    async def warm(n: int) -> None:
        try:
            await step(n)
        except Exception as exc:
            recorder.failed(f"warm-up: {type(exc).__name__}: {exc}")

    if warmup:
        await asyncio.gather(*(warm(n) for n in range(concurrency)))
    if watch is not None:
        watch.start()
    recorder.begin()
    deadline = recorder.started + seconds

    async def worker(n: int) -> None:
        while (t0 := time.perf_counter()) < deadline:
            try:
                await step(n)
            except Exception as exc:
                recorder.failed(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(ERROR_PAUSE_S)
            else:
                recorder.done(t0)

    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    recorder.finish()  # the last operations end after the deadline
    if watch is not None:
        watch.stop()
    return recorder


# ------------------------------------------------------------------ floor servers


@dataclass(frozen=True)
class FloorServer:
    name: str
    pid: int
    address: Address


@contextlib.contextmanager
def floor_server(kind: str, directory: Path, *tls_files: Path,
                 timeout: float = 30.0) -> Iterator[FloorServer]:
    """Run the *kind* ("http" or "diameter") floor server as a process of its own on a
    free loopback port (logging to DIRECTORY/floor_<kind>.log); stopped on exit."""
    name = HTTP_FLOOR if kind == "http" else DIAMETER_FLOOR
    address = Address("127.0.0.1", config.free_port("127.0.0.1"))
    log = open(directory / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "gba.lab.bench_floor", kind, address.host,
         str(address.port), *map(str, tls_files)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True, cwd=directory)
    log.close()
    try:
        lab._wait_serving(proc, name, [address], directory, timeout)
        yield FloorServer(name, proc.pid, address)
    finally:
        lab._stop(proc.pid, 5.0)
        with contextlib.suppress(ChildProcessError, subprocess.TimeoutExpired):
            proc.wait(1.0)


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def serve_http(host: str, port: int) -> None:
    """The HTTP floor: ``GET /`` answered 200 ``ok`` by a trivial handler."""

    async def trivial(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    app = web.Application()
    app.router.add_get("/", trivial)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        await _until_stopped()
    finally:
        await runner.cleanup()


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readexactly(4)
            length = int.from_bytes(head[1:4], "big")
            if length < 20:
                break
            writer.write(head + await reader.readexactly(length - 4))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()


async def serve_diameter(host: str, port: int, cert: Path, key: Path, ca: Path) -> None:
    """The Diameter floor: every message echoed undecoded, over mutual TLS as Zn."""
    from gba.transport.tls import server_context

    server = await asyncio.start_server(_echo, host, port,
                                        ssl=server_context(cert, key, ca))
    try:
        await _until_stopped()
    finally:
        server.close()
        await server.wait_closed()


# ------------------------------------------------------------------ floor clients


async def http_floor(url: str, session: aiohttp.ClientSession, concurrency: int,
                     seconds: float, watch: ProcWatch | None = None) -> Recorder:
    """GET *url* back to back from *concurrency* workers over *session*."""
    request = HttpRequest("GET", "/", (("User-Agent", ub.ua_user_agent()),), b"")

    async def step(_: int) -> None:
        response, _suite = await exchange(session, url, request)
        if response.status != 200:
            raise RuntimeError(f"floor answered {response.status}")

    return await drive(concurrency, seconds, step, Recorder(), watch)


class _Pipeline:
    """One Diameter connection with requests in flight answered in order (an echo
    answers in order): each sender waits for its own answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                head = await self.reader.readexactly(4)
                await self.reader.readexactly(int.from_bytes(head[1:4], "big") - 4)
                self.waiting.popleft().set_result(None)
        except Exception as exc:
            while self.waiting:
                self.waiting.popleft().set_exception(ConnectionError(f"echo closed: {exc}"))

    async def send(self, wire: bytes) -> None:
        done = asyncio.get_running_loop().create_future()
        self.waiting.append(done)
        self.writer.write(wire)
        if self.writer.transport.get_write_buffer_size() > 65536:
            await self.writer.drain()
        await done

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()


async def diameter_floor(address: Address, ssl_context: ssl.SSLContext | None,
                         server_hostname: str | None, wire: bytes, concurrency: int,
                         seconds: float, watch: ProcWatch | None = None) -> Recorder:
    """*concurrency* workers sending *wire* (a Zn BIR) over one TLS connection."""
    reader, writer = await asyncio.open_connection(
        address.host, address.port, ssl=ssl_context,
        server_hostname=server_hostname if ssl_context is not None else None)
    pipe = _Pipeline(reader, writer)
    try:
        return await drive(concurrency, seconds, lambda _: pipe.send(wire), Recorder(),
                           watch)
    finally:
        await pipe.close()


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "http":
        asyncio.run(serve_http(argv[1], int(argv[2])))
        return 0
    if len(argv) == 6 and argv[0] == "diameter":
        asyncio.run(serve_diameter(argv[1], int(argv[2]), *map(Path, argv[3:6])))
        return 0
    print("usage: python -m gba.lab.bench_floor http HOST PORT | "
          "diameter HOST PORT CERT KEY CA", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))


def measure_http_floor(seconds: float, concurrency: int) -> dict[str, Any]:
    """The HTTP floor on its own (for benchmarks that run their own lab: push, mtc):
    its server as a process, driven with *concurrency* workers for *seconds*."""
    import tempfile

    async def run(url: str) -> Recorder:
        async with client_session(concurrency) as session:
            return await http_floor(url, session, concurrency, seconds)

    with tempfile.TemporaryDirectory(prefix="gba-floor-") as tmp, \
            floor_server("http", Path(tmp)) as floor:
        recorder = asyncio.run(run(f"http://{floor.address}/"))
    return recorder.summary()

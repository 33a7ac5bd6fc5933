"""Worker processes of one network function (issue 16 item 3): ``workers = N`` in a
BSF or NAF section, N processes behind the function's listening ports (SO_REUSEPORT).

``gba serve <name>`` with N > 1 is worker 0: it binds its ports with SO_REUSEPORT and
starts N-1 copies of itself, ``gba serve <name> --worker K`` (K = 1..N-1), which bind the
same addresses the same way; the kernel spreads new connections over them. They share
their state through the section's Redis store (N > 1 requires ``store = "redis://..."``,
:func:`parse_count`): a BSF's challenges, bootstrapping contexts and Ub rate limits
(:mod:`gba.nf.bsf_workers`), a NAF's Zn key cache and Digest nonce counts. Each worker
has its own Diameter node with the function's Origin-Host and certificate: a peer serves
a second connection of one Origin-Host
(:meth:`gba.transport.diameter.DiameterNode.link_opened`), so the HSS serves every BSF
worker and the BSF's Zn listener every NAF worker.

Worker 0 returns from start-up once every child serves (each writes one byte to a pipe
it inherits: :data:`READY_FD_ENV`), stops its children (SIGTERM, then SIGKILL after a
grace period) when it stops, and each child asks the kernel for SIGTERM when its parent
dies (``PR_SET_PDEATHSIG``), so a killed parent leaves no worker behind. Only worker 0
serves ``metrics_listen`` and records ``--capture``; lab.json names its pid and
endpoints. Each worker logs, as it stops, how many requests it answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gba.errors import ConfigError
from gba.store.factory import parse_store_url

if TYPE_CHECKING:
    from gba.config import Section, Topology
    from gba.transport.http import HttpObserver

log = logging.getLogger(__name__)

READY_FD_ENV = "GBA_WORKER_READY_FD"
"""The fd of the pipe a child worker writes one byte to once it serves."""
PARENT_ENV = "GBA_WORKER_PARENT"
"""The pid of worker 0, so a child started after its parent died stops at once."""
START_TIMEOUT_S = 30.0
STOP_GRACE_S = 8.0
"""Below ``gba lab down``'s grace (10 s), so the parent stops its children first."""
CAPTURE_ENV = ("GBA_CAPTURE", "GBA_CAPTURE_DECRYPTED", "GBA_KEYLOG")
"""Only worker 0 records (one writer per capture file)."""
PR_SET_PDEATHSIG = 1
MAX_WORKERS = 64
KINDS = ("bsf", "naf")
"""The kinds that run as workers; the kinds built on a NAF (``bmsc``, ``push_naf``,
``mtc_iwf``) do not, and refuse ``workers`` (:func:`refuse`)."""


class WorkerError(RuntimeError):
    """A worker process did not come up."""


def parse_count(s: Section, topology: Topology) -> int:
    """The section's ``workers`` (default 1): above 1, its ``store`` must be Redis."""
    count = s.integer("workers", 1, 1, MAX_WORKERS)
    if count > 1 and parse_store_url(s.text("store"), topology.path.parent).backend != "redis":
        raise ConfigError(f"{s.where}.workers = {count} needs a store the workers share: "
                          "store = \"redis://...\"")
    return count


def refuse(s: Section, kind: str) -> None:
    """A kind that runs as one process: ``workers`` other than 1 is a ConfigError."""
    if "workers" in s.data and s.integer("workers", 1, 1, MAX_WORKERS) != 1:
        raise ConfigError(f"{s.where}.workers: a {kind} runs as one process "
                          f"(workers are for {' and '.join(KINDS)})")


def counting_observer(counter: list[int], observe: HttpObserver | None) -> HttpObserver:
    """An HTTP observer adding one to ``counter[0]`` per request, then telling *observe*."""

    def count(method: str, status: int, seconds: float) -> None:
        counter[0] += 1
        if observe is not None:
            observe(method, status, seconds)

    return count


def counting(counter: list[int]) -> Any:
    """An aiohttp middleware adding one to ``counter[0]`` per request."""

    @web.middleware
    async def count(request: web.Request, handler: Any) -> web.StreamResponse:
        counter[0] += 1
        response: web.StreamResponse = await handler(request)
        return response

    return count


async def start(config: Path, name: str, count: int,
                timeout: float = START_TIMEOUT_S) -> list[asyncio.subprocess.Process]:
    """Start workers 1..count-1 of function *name*; return once each serves."""
    env = {k: v for k, v in os.environ.items() if k not in CAPTURE_ENV}
    env[PARENT_ENV] = str(os.getpid())
    children: list[asyncio.subprocess.Process] = []
    pipes: list[int] = []
    loop = asyncio.get_running_loop()
    try:
        for k in range(1, count):
            read_fd, write_fd = os.pipe()
            pipes.append(read_fd)
            try:
                children.append(await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "gba", "serve", name, "--config", str(config),
                    "--worker", str(k), stdin=asyncio.subprocess.DEVNULL,
                    env={**env, READY_FD_ENV: str(write_fd)}, pass_fds=(write_fd,)))
            finally:
                os.close(write_fd)  # the child's copy is the only one: EOF if it dies
            try:
                got = await asyncio.wait_for(loop.run_in_executor(None, os.read, read_fd, 1),
                                             timeout)
            except TimeoutError:
                raise WorkerError(f"{name} worker {k} did not serve within {timeout:g}s"
                                  ) from None
            if not got:
                raise WorkerError(f"{name} worker {k} exited at start (see its log lines)")
            log.info("%s: worker %d (pid %d) serves", name, k, children[-1].pid)
    except BaseException:
        await stop(children)  # a read still waiting ends: its writer is gone
        raise
    finally:
        for fd in pipes:
            os.close(fd)
    return children


async def watch(name: str, children: list[asyncio.subprocess.Process]) -> None:
    """Log each child that exits before worker 0 stops it (its port share is gone: the
    kernel gives new connections to the workers left; it is not restarted)."""

    async def one(k: int, child: asyncio.subprocess.Process) -> None:
        code = await child.wait()
        log.warning("%s: worker %d (pid %d) exited with status %s; %d worker(s) left",
                    name, k, child.pid, code,
                    1 + sum(c.returncode is None for c in children))

    await asyncio.gather(*(one(k, c) for k, c in enumerate(children, start=1)))


async def stop(children: list[asyncio.subprocess.Process],
               grace: float = STOP_GRACE_S) -> None:
    """SIGTERM each child, wait up to *grace* seconds for all, SIGKILL the rest."""
    for child in children:
        if child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
    waits = [asyncio.ensure_future(c.wait()) for c in children]
    if not waits:
        return
    _, late = await asyncio.wait(waits, timeout=grace)
    for child in children:
        if child.returncode is None:
            log.warning("worker pid %d did not stop within %gs: killed", child.pid, grace)
            with contextlib.suppress(ProcessLookupError):
                child.kill()
    if late:
        await asyncio.gather(*late, return_exceptions=True)


def die_with_parent() -> None:
    """Have the kernel send this process SIGTERM when its parent (worker 0) dies; stop at
    once when it is gone already (Linux; elsewhere the parent's stop is the only one)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    parent = os.environ.get(PARENT_ENV)
    if parent is not None and os.getppid() != int(parent):
        raise WorkerError("worker 0 is gone: not starting")


def ready() -> None:
    """Tell worker 0 this worker serves (once; nothing when not started by one)."""
    fd = os.environ.pop(READY_FD_ENV, None)
    if fd is None:
        return
    with contextlib.suppress(OSError):
        os.write(int(fd), b"1")
        os.close(int(fd))


async def until_stopped() -> None:
    """Until SIGTERM or SIGINT."""
    stop_event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_event.set)
    await stop_event.wait()


async def serve_worker(topology: Topology, name: str, worker: int) -> None:
    """Run worker *worker* (>= 1) of function *name* (``gba serve NAME --worker K``,
    started by worker 0), by its kind: a BSF's or a NAF's, until SIGTERM/SIGINT or its
    parent's death."""
    kind = topology.function(name).kind
    if kind == "bsf":
        from gba.nf import bsf_service

        bsf = bsf_service.parse(topology, name)
        await _serve(name, worker, bsf.workers,
                     bsf_service.running(bsf, topology, name, worker))
    elif kind == "naf":
        from gba.nf import naf_service

        naf = naf_service.parse(topology, name)
        await _serve(name, worker, naf.workers,
                     naf_service.running(naf, topology, name, worker))
    else:
        raise ConfigError(f"--worker is for a {' or '.join(KINDS)}; {name} is a {kind}")


async def _serve(name: str, worker: int, count: int,
                 serving: contextlib.AbstractAsyncContextManager[Any]) -> None:
    if not 1 <= worker < count:
        raise ConfigError(f"{name} has workers = {count}: no worker {worker}")
    die_with_parent()
    async with serving:
        await until_stopped()

"""Run one network function of a topology: ``gba serve NAME --config FILE``.

:func:`serve` looks the function up in the topology, asks its kind
(:mod:`gba.nf.registry`) for a running context and keeps it until SIGTERM/SIGINT; the
context closes its peers (DPR), servers and stores. The helpers here are what several
kinds share: an HTTP site and the periodic purge of expired records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Protocol

from aiohttp import web

from gba.clock import utc_now
from gba.config import Address, Topology
from gba.errors import GbaError
from gba.nf.registry import config_of, kind, metrics_endpoint
from gba.nf.workers import until_stopped
from gba.observe.endpoint import make_app as metrics_app
from gba.observe.metrics import Identity, process_metrics
from gba.transport.http import HttpObserver, SiteLimits, observing, serving_runner

log = logging.getLogger(__name__)

PURGE_INTERVAL_S = 60.0


async def http_site(app: web.Application, where: Address, limits: SiteLimits | None = None,
                    *, observe: HttpObserver | None = None, reuse_port: bool = False
                    ) -> web.AppRunner:
    """Serve an aiohttp application on *where* until the runner is cleaned up.

    Slow, silent and surplus clients are cut off by *limits* (:class:`SiteLimits`: head,
    idle and body timeouts, a connection cap shared by every site added to the runner);
    request sizes are the application's ``client_max_size``. *observe* is told of every
    request (metrics: :meth:`gba.observe.metrics.FunctionMetrics.http`); *reuse_port*
    (SO_REUSEPORT) shares *where* with other processes that set it too (BSF workers)."""
    if observe is not None:
        app.middlewares.insert(0, observing(observe))
    runner = serving_runner(app, limits)
    await runner.setup()
    await web.TCPSite(runner, where.host, where.port,
                      reuse_port=True if reuse_port else None).start()
    return runner


class _Purgeable(Protocol):
    async def purge_expired(self, now: datetime) -> int: ...


@contextlib.asynccontextmanager
async def purging(store: _Purgeable, what: str, interval: float = PURGE_INTERVAL_S
                  ) -> AsyncIterator[None]:
    """Remove expired challenges, contexts, keys and nonce counts every *interval* seconds
    (Redis expires its own records; SQLite needs this)."""
    async def loop() -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                gone = await store.purge_expired(utc_now())
            except GbaError as exc:
                log.warning("%s: purge failed: %s", what, exc)
            else:
                if gone:
                    log.info("%s: purged %d expired records", what, gone)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def running(topology: Topology, name: str) -> AsyncIterator[object]:
    """The running context of function *name*: its kind's runner, and once that serves,
    its metrics and status site when ``metrics_listen`` is set (:mod:`gba.observe`)."""
    function = topology.function(name)
    metrics = process_metrics()
    observed = metrics.function(name)
    observed.identity = Identity(function.kind, function.network, function.realm)
    where = metrics_endpoint(topology, name)
    try:
        async with kind(function.kind).run(config_of(topology, name), topology, name) as nf:
            site = None
            if where is not None:
                site = await http_site(metrics_app(metrics, observed), where)
                log.info("%s: metrics on http://%s/metrics, status on /status.json", name,
                         where)
            try:
                yield nf
            finally:
                if site is not None:
                    await site.cleanup()
    finally:
        observed.forget()


async def serve(name: str, topology: Topology,
                until: Callable[[], Awaitable[None]] = until_stopped) -> None:
    """Run function *name* until *until* returns (default: SIGTERM or SIGINT); a function
    another operator runs (``remote``) has nothing to serve: return at once."""
    from gba.nf.registry import runs

    if not runs(topology, name):
        log.info("%s is run by another operator: nothing to serve", name)
        return
    async with running(topology, name):
        await until()

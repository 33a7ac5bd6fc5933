"""Start a network function from the network config: sockets, stores, peers.

``gba serve hss|bsf|naf --config FILE`` calls :func:`serve`; ``gba lab up`` starts one
process per function that way. Each service runs until SIGTERM/SIGINT, then closes its
peers (DPR), servers and stores.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol

from aiohttp import web

from gba.clock import utc_now
from gba.config import Address, NetworkConfig
from gba.errors import ConfigError, GbaError
from gba.nf.bsf import Bsf, NafPolicy, zh_fetcher
from gba.nf.common import peer_identity
from gba.nf.hss import Hss
from gba.nf.hss_rest import make_app
from gba.nf.naf import Naf, NafKeys, zn_fetcher
from gba.protocols import zh, zn
from gba.protocols.diameter import PeerIdentity
from gba.store.factory import open_bsf_store, open_naf_store, open_subscriber_store
from gba.transport.diameter import DiameterClient, DiameterServer, session_id_factory
from gba.transport.tls import client_context, server_context

log = logging.getLogger(__name__)


async def _http(app: web.Application, where: Address) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, where.host, where.port).start()
    return runner


PURGE_INTERVAL_S = 60.0


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
async def hss_running(cfg: NetworkConfig) -> AsyncIterator[Hss]:
    store = open_subscriber_store(cfg.store_url(cfg.hss.store))
    identity = peer_identity(cfg.hss.diameter, cfg.hss.zh_listen.host)
    hss = Hss(store, identity, cfg.hss.ind, frozenset(cfg.hss.bsf_hosts))
    server = DiameterServer(identity, [zh.APPLICATION], hss.handle, cfg.hss.zh_listen.host,
                            cfg.hss.zh_listen.port)
    await server.start()
    rest = await _http(make_app(store), cfg.hss.rest_listen)
    log.info("HSS: Zh on %s, REST on %s", cfg.hss.zh_listen, cfg.hss.rest_listen)
    try:
        yield hss
    finally:
        await rest.cleanup()
        await server.close()
        await store.close()


@contextlib.asynccontextmanager
async def bsf_running(cfg: NetworkConfig) -> AsyncIterator[Bsf]:
    b = cfg.bsf
    store = open_bsf_store(cfg.store_url(b.store))
    identity = peer_identity(b.diameter, b.zn_listen.host)
    zh_client = DiameterClient(identity, [zh.APPLICATION], b.hss.host, b.hss.port)
    await zh_client.start()
    policy = NafPolicy({n.diameter_host: frozenset(n.hostnames) for n in b.nafs},
                       {n.diameter_host: n.naf_group for n in b.nafs if n.naf_group},
                       {n.diameter_host: frozenset(n.addresses) for n in b.nafs if n.addresses},
                       require_certificate=b.zn_tls)
    bsf = Bsf(store, zh_fetcher(zh_client, identity, cfg.hss.diameter.realm,
                                session_id_factory(identity.origin_host)),
              identity, cfg.realm, b.server_name, policy,
              timedelta(seconds=b.key_lifetime_s), timedelta(seconds=b.challenge_lifetime_s))
    zn_tls = (server_context(cfg.file(b.zn_tls_cert), cfg.file(b.zn_tls_key),
                             cfg.file(b.zn_tls_client_ca)) if b.zn_tls else None)
    zn_server = DiameterServer(identity, [zn.APPLICATION], bsf.zn, b.zn_listen.host,
                               b.zn_listen.port, ssl_context=zn_tls,
                               authorise=policy.check_peer)
    await zn_server.start()
    ub_runner = await _http(bsf.ub_app(), b.ub_listen)
    log.info("BSF %s: Ub on http://%s, Zn on %s%s, HSS at %s", b.server_name, b.ub_listen,
             b.zn_listen, " (TLS)" if b.zn_tls else "", b.hss)
    try:
        async with purging(store, "BSF"):
            yield bsf
    finally:
        await ub_runner.cleanup()
        await zn_server.close()
        await zh_client.close()
        await store.close()


def zn_client_for(cfg: NetworkConfig, identity: PeerIdentity) -> DiameterClient:
    """The NAF's Zn connection to the BSF: mutual TLS when the config says so."""
    n = cfg.naf
    tls = (client_context(cfg.file(n.zn_tls_ca), cfg.file(n.zn_tls_cert),
                          cfg.file(n.zn_tls_key)) if n.zn_tls else None)
    return DiameterClient(identity, [zn.APPLICATION], n.bsf.host, n.bsf.port,
                          ssl_context=tls, server_hostname=cfg.bsf.diameter.host)


@contextlib.asynccontextmanager
async def naf_running(cfg: NetworkConfig) -> AsyncIterator[Naf]:
    n = cfg.naf
    store = open_naf_store(cfg.store_url(n.store))
    identity = peer_identity(n.diameter, n.http_listen.host)
    zn_client = zn_client_for(cfg, identity)
    await zn_client.start()
    keys = NafKeys(store, zn_fetcher(zn_client, identity, cfg.bsf.diameter.realm,
                                     session_id_factory(identity.origin_host)),
                   gaa_service_id=n.gaa_service_id)
    naf = Naf(n.fqdn, keys)
    http = await _http(naf.ua_app(), n.http_listen)
    from gba.nf.naf_psk import start_psk_tls

    psk = await start_psk_tls(naf, n.psk_tls_listen)

    log.info("NAF %s: Ua Digest on http://%s, PSK-TLS on %s, BSF at %s", n.fqdn,
             n.http_listen, n.psk_tls_listen, n.bsf)
    try:
        async with purging(store, "NAF"):
            yield naf
    finally:
        await psk.close()
        await http.cleanup()
        await zn_client.close()
        await store.close()


RUNNERS: dict[str, Callable[[NetworkConfig], contextlib.AbstractAsyncContextManager[object]]] = {
    "hss": hss_running, "bsf": bsf_running, "naf": naf_running}


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def serve(function: str, cfg: NetworkConfig,
                until: Callable[[], Awaitable[None]] = _until_stopped) -> None:
    """Run one network function until *until* returns (default: SIGTERM or SIGINT)."""
    runner = RUNNERS.get(function)
    if runner is None:
        raise ConfigError(f"unknown network function {function!r}; one of {sorted(RUNNERS)}")
    async with runner(cfg):
        await until()

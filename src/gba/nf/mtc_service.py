"""The MTC-IWF and the application server as network functions (docs/mtc.md).

``mtc_iwf``: a NAF section (:mod:`gba.nf.naf_service`; it serves Ua as any NAF) plus
``as``: the application servers it relays to, ``mtc_as`` function names (the first is
the default; a device names another with ``?as=<name>``), or one URL with
``as_token_file``. Small data on its ``http_listen``.

``mtc_as``: ``http_listen`` and ``token_file`` (owner-only bearer token, RFC 6750;
`gba lab up` writes one).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from gba.config import Address, Topology
from gba.errors import ConfigError
from gba.nf import naf_service
from gba.nf.hss_rest import read_token_file
from gba.nf.mtc_iwf import ApplicationServer, MtcIwf, as_forwarder, mtc_zn_fetcher
from gba.nf.naf import Naf, NafKeys, zn_fetcher
from gba.nf.naf_service import ExtendsNaf, NafConfig
from gba.nf.registry import Kind
from gba.nf.services import http_site
from gba.observe.metrics import process_metrics
from gba.store.factory import open_naf_store
from gba.transport.diameter import session_id_factory

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Server:
    url: str
    token_file: str | None


@dataclass(frozen=True, slots=True)
class IwfConfig(ExtendsNaf):
    naf: NafConfig
    servers: dict[str, Server]
    """The application servers by name, the default first."""


@dataclass(frozen=True, slots=True)
class AsConfig:
    http_listen: Address
    token_file: str | None


def parse_iwf(topology: Topology, name: str) -> IwfConfig:
    s = topology.function(name).section
    named = s.strings("as") if isinstance(s.data.get("as"), list) else (s.text("as"),)
    if not named:
        raise ConfigError(f"{s.where}.as names no application server")
    servers: dict[str, Server] = {}
    for target in named:
        if target.startswith(("http://", "https://")):
            servers["default"] = Server(target, s.opt_text("as_token_file"))
            continue
        server = topology.referenced(target, f"{s.where}.as")
        if server.kind != "mtc_as":
            raise ConfigError(f"{s.where}.as names {target!r}, which is not an mtc_as")
        servers[target] = Server(f"http://{server.section.address('http_listen')}",
                                 server.section.opt_text("token_file"))
    return IwfConfig(naf_service.parse(topology, name), servers)


def parse_as(topology: Topology, name: str) -> AsConfig:
    s = topology.function(name).section
    return AsConfig(s.address("http_listen"), s.opt_text("token_file"))


@contextlib.asynccontextmanager
async def running_iwf(cfg: IwfConfig, topology: Topology, name: str
                      ) -> AsyncIterator[MtcIwf]:
    missing = [n for n, server in cfg.servers.items() if server.token_file is None]
    if missing:
        raise ConfigError(f"functions.{name}: no token file for application server "
                          f"{missing[0]!r}")
    n = cfg.naf
    store = open_naf_store(topology.store_url(n.store))
    node = naf_service.zn_node(n, topology, name)
    await node.start()
    sessions = session_id_factory(node.identity.origin_host)
    keys = NafKeys(store, zn_fetcher(node, node.identity, n.bsf_realm, sessions))
    naf = Naf(n.fqdn, keys)
    http_client = aiohttp.ClientSession()
    iwf = MtcIwf(mtc_zn_fetcher(node, node.identity, n.bsf_realm, sessions, n.fqdn),
                 {server_name: as_forwarder(http_client, server.url, read_token_file(
                     topology.file(server.token_file or "")))
                  for server_name, server in cfg.servers.items()})
    app = web.Application(client_max_size=64 * 1024)
    app.add_routes(iwf.routes())
    app.router.add_route("*", "/{tail:.*}", naf.ua_digest)
    observed = process_metrics().function(name)
    observed.watch_node(node)
    http = await http_site(app, n.http_listen, n.http, observe=observed.http("ua"))
    log.info("MTC-IWF %s (%s): small data on http://%s, application servers %s", name,
             n.fqdn, n.http_listen, ", ".join(cfg.servers))
    try:
        yield iwf
    finally:
        await http.cleanup()
        await http_client.close()
        await node.close()
        await store.close()


@contextlib.asynccontextmanager
async def running_as(cfg: AsConfig, topology: Topology, name: str
                     ) -> AsyncIterator[ApplicationServer]:
    if cfg.token_file is None:
        raise ConfigError(f"functions.{name}.token_file is missing (RFC 6750 bearer token)")
    server = ApplicationServer()
    http = await http_site(server.app(read_token_file(topology.file(cfg.token_file))),
                           cfg.http_listen)
    log.info("application server %s on http://%s", name, cfg.http_listen)
    try:
        yield server
    finally:
        await http.cleanup()


IWF_KIND = Kind(
    name="mtc_iwf", parse=parse_iwf, run=running_iwf,
    endpoints=lambda c: {"http": c.naf.http_listen},
    listen_keys=("http_listen", "psk_tls_listen"),
    peers=lambda c: {"bsf": (c.naf.bsf,) if c.naf.bsf else (), "connect": c.naf.connect},
    order=35)
"""Its application servers start first (``mtc_as`` has order 25)."""

AS_KIND = Kind(
    name="mtc_as", parse=parse_as, run=running_as,
    endpoints=lambda c: {"http": c.http_listen}, listen_keys=("http_listen",),
    peers=lambda c: {}, order=25)

"""The AAA as a network function of a topology (:mod:`gba.nf.aaa`).

Section keys: ``role`` (``visited`` or ``home``), ``diameter_host``, ``diameter_listen``, ``tls``
with ``tls_cert``/``tls_key``/``tls_ca``, ``connect`` (its peers: the home networks' AAAs,
or agents), ``routes`` (realm -> next-hop hosts: how a home realm is reached),
``btid_realms`` (B-TID domain -> realm), ``imsi_mnc_digits`` (MCC -> number of MNC digits,
default 2), ``zn_proxy`` (default false: also the servers' Zn-Proxy, roaming case B-aaa)
and ``[[...naf]]`` tables, the servers that may use it (``diameter_host``, ``hostnames``,
``addresses``, ``via``: as a BSF's). A home AAA has ``bsf`` (its BSF function, asked over
Zn, which lists this AAA in its ``aaa_hosts``) and ``[[...visited]]`` tables, the
roaming partners: ``realm`` and ``hosts`` (their AAAs, which may connect and send
AA-Requests of that realm). ``diameter_max_*`` as every kind.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from gba.config import Address, DiameterNodeConfig, Section, Topology
from gba.errors import ConfigError
from gba.nf.aaa import HomeAaa, VisitedAaa
from gba.nf.bsf_service import NafAuthorisation, naf_authorisations, naf_policy
from gba.nf.common import DiameterLimits, DiameterTls, btid_realms, connect_peers, peer_identity
from gba.nf.gba_proxy import GbaProxy
from gba.nf.naf import ZnRoute, zn_fetcher
from gba.nf.registry import DiameterEndpoint, Kind
from gba.nf.zn_proxy import ZnProxy
from gba.observe.metrics import process_metrics
from gba.protocols import zn
from gba.protocols.diameter import APP_EAP, APP_NASREQ, CMD_BOOTSTRAPPING_INFO
from gba.transport.diameter import DiameterNode, session_id_factory
from gba.transport.tls import certificate_names

log = logging.getLogger(__name__)

NASREQ = (0, APP_NASREQ)
EAP = (0, APP_EAP)


@dataclass(frozen=True, slots=True)
class AaaConfig:
    role: str
    diameter: DiameterNodeConfig
    diameter_listen: Address
    servers: tuple[NafAuthorisation, ...]
    tls: DiameterTls
    connect: tuple[str, ...] = ()
    routes: dict[str, tuple[str, ...]] | None = None
    btid_realms: dict[str, str] = field(default_factory=dict)
    imsi_mnc_digits: dict[str, int] = field(default_factory=dict)
    zn_proxy: bool = False
    bsf: str = ""
    partners: dict[str, frozenset[str]] = field(default_factory=dict)
    """A home AAA's roaming partners: visited realm -> its AAAs' hosts."""
    limits: DiameterLimits = field(default_factory=DiameterLimits)

    @property
    def partner_hosts(self) -> frozenset[str]:
        return frozenset().union(*self.partners.values())


def _mnc_digits(s: Section) -> dict[str, int]:
    table = s.data.get("imsi_mnc_digits", {})
    if not isinstance(table, dict) or not all(
            isinstance(k, str) and len(k) == 3 and k.isdigit() and v in (2, 3)
            for k, v in table.items()):
        raise ConfigError(f"{s.where}.imsi_mnc_digits should be a table MCC = 2 or 3")
    return {str(k): int(v) for k, v in table.items()}


def parse(topology: Topology, name: str) -> AaaConfig:
    function = topology.function(name)
    s = function.section
    role = s.text("role")
    if role not in ("visited", "home"):
        raise ConfigError(f"{s.where}.role should be 'visited' or 'home', not {role!r}")
    bsf = s.text("bsf") if role == "home" else ""
    partners = {v.text("realm").lower(): frozenset(v.strings("hosts"))
                for v in s.tables("visited")}
    return AaaConfig(
        role=role, diameter=s.diameter(function.realm),
        diameter_listen=s.address("diameter_listen"), servers=naf_authorisations(s),
        tls=DiameterTls.parse(s), connect=s.strings("connect"), routes=s.routes(),
        btid_realms=btid_realms(s), imsi_mnc_digits=_mnc_digits(s),
        zn_proxy=s.flag("zn_proxy", False), bsf=bsf, partners=partners,
        limits=DiameterLimits.parse(s))


@contextlib.asynccontextmanager
async def running(cfg: AaaConfig, topology: Topology, name: str
                  ) -> AsyncIterator[VisitedAaa | HomeAaa]:
    if cfg.role == "home":
        async with _home(cfg, topology, name) as home:
            yield home
        return
    identity = peer_identity(cfg.diameter, cfg.diameter_listen.host)
    apps = [NASREQ, EAP, *([zn.APPLICATION] if cfg.zn_proxy else [])]
    node = DiameterNode(identity, apps, routes=cfg.routes, **cfg.limits.node_kwargs())
    connect_peers(node, topology, list(cfg.connect), cfg.tls, f"functions.{name}")
    realm = topology.function(name).realm
    aaa = VisitedAaa(node, cfg.btid_realms, cfg.imsi_mnc_digits)
    node.serve(APP_NASREQ, None, aaa.relay)
    node.serve(APP_EAP, None, aaa.relay)
    policy = naf_policy(cfg.servers, cfg.tls.enabled)
    if cfg.zn_proxy:
        fetch = zn_fetcher(node, identity, realm, session_id_factory(identity.origin_host),
                           cfg.btid_realms, ZnRoute.HOME)
        proxy = GbaProxy(ZnProxy(identity, realm, fetch, cfg.btid_realms), policy)
        node.serve(zn.APPLICATION[1], CMD_BOOTSTRAPPING_INFO, proxy.zn)
    process_metrics().function(name).watch_node(node)
    node.listen(cfg.diameter_listen.host, cfg.diameter_listen.port,
                ssl_context=cfg.tls.server(topology), authorise=policy.check_peer,
                applications=apps)
    await node.start()
    log.info("AAA %s (%s): Diameter on %s%s, NASREQ and EAP proxied by user realm%s", name,
             cfg.role, cfg.diameter_listen, " (TLS)" if cfg.tls.enabled else "",
             ", Zn-Proxy" if cfg.zn_proxy else "")
    try:
        yield aaa
    finally:
        await node.close()


@contextlib.asynccontextmanager
async def _home(cfg: AaaConfig, topology: Topology, name: str) -> AsyncIterator[HomeAaa]:
    identity = peer_identity(cfg.diameter, cfg.diameter_listen.host)
    node = DiameterNode(identity, [NASREQ, EAP, zn.APPLICATION], routes=cfg.routes,
                        **cfg.limits.node_kwargs())
    connect_peers(node, topology, [cfg.bsf, *cfg.connect], cfg.tls, f"functions.{name}")
    realm = topology.function(name).realm
    fetch = zn_fetcher(node, identity, realm, session_id_factory(identity.origin_host),
                       cfg.btid_realms, ZnRoute.LOCAL)

    def allowed(visited: str, peer: str) -> bool:
        return peer in cfg.partners.get(visited.lower(), frozenset())

    aaa = HomeAaa(identity, fetch, allowed, node=node)
    node.serve(APP_NASREQ, None, aaa.aa)
    node.serve(APP_EAP, None, aaa.der)
    process_metrics().function(name).watch_node(node)

    def authorise(origin: str, cert: dict[str, Any] | None, _address: str) -> str | None:
        if origin not in cfg.partner_hosts:
            return f"Origin-Host {origin!r} is no roaming partner's AAA"
        if cfg.tls.enabled and origin not in certificate_names(cert):
            return f"TLS certificate does not name Origin-Host {origin!r}"
        return None

    node.listen(cfg.diameter_listen.host, cfg.diameter_listen.port,
                ssl_context=cfg.tls.server(topology), authorise=authorise,
                applications=[NASREQ, EAP])
    await node.start()
    log.info("AAA %s (home): Diameter on %s%s, BSF %s, %d partner realm(s)", name,
             cfg.diameter_listen, " (TLS)" if cfg.tls.enabled else "", cfg.bsf,
             len(cfg.partners))
    try:
        yield aaa
    finally:
        await node.close()


KIND = Kind(
    name="aaa", parse=parse, run=running,
    endpoints=lambda c: {"diameter": c.diameter_listen}, listen_keys=("diameter_listen",),
    diameter=lambda c: DiameterEndpoint(c.diameter_listen, c.diameter.host,
                                        tls=c.tls.enabled),
    peers=lambda c: {"connect": c.connect, **({"bsf": (c.bsf,)} if c.bsf else {})},
    order=20)

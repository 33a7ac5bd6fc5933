"""The GBA proxy as a network function of a topology (:mod:`gba.nf.gba_proxy`): Zn towards
its NAFs and Zn' towards home BSFs on one Diameter node.

Section keys: ``diameter_host``, ``zn_listen``, ``tls`` with ``tls_cert``/``tls_key``/
``tls_ca``, ``connect`` (its peers: the home BSFs, its own BSF, agents), ``routes`` (realm
-> next-hop hosts), ``btid_realms`` (B-TID domain -> realm, for domains that are not TS
23.003 BSF names), ``zn_max_inflight`` (default 256) and ``[[...naf]]`` tables as a BSF's
(the NAFs it serves: ``diameter_host``, ``hostnames``, ``addresses``, ``via``);
``diameter_max_*`` as every kind.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from gba.config import Address, DiameterNodeConfig, Topology
from gba.nf.bsf_service import NafAuthorisation, naf_authorisations, naf_policy
from gba.nf.common import DiameterLimits, DiameterTls, btid_realms, connect_peers, peer_identity
from gba.nf.gba_proxy import GbaProxy
from gba.nf.naf import ZnRoute, zn_fetcher
from gba.nf.registry import DiameterEndpoint, Kind
from gba.nf.zn_proxy import ZnProxy
from gba.observe.metrics import process_metrics
from gba.protocols import zn
from gba.protocols.diameter import CMD_BOOTSTRAPPING_INFO
from gba.protocols.shedding import DEFAULT_MAX_INFLIGHT, InflightLimit
from gba.transport.diameter import DiameterNode, session_id_factory

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GbaProxyConfig:
    diameter: DiameterNodeConfig
    zn_listen: Address
    nafs: tuple[NafAuthorisation, ...]
    tls: DiameterTls
    connect: tuple[str, ...] = ()
    routes: dict[str, tuple[str, ...]] | None = None
    btid_realms: dict[str, str] = field(default_factory=dict)
    zn_max_inflight: int = DEFAULT_MAX_INFLIGHT
    limits: DiameterLimits = field(default_factory=DiameterLimits)


def parse(topology: Topology, name: str) -> GbaProxyConfig:
    function = topology.function(name)
    s = function.section
    return GbaProxyConfig(
        diameter=s.diameter(function.realm), zn_listen=s.address("zn_listen"),
        nafs=naf_authorisations(s), tls=DiameterTls.parse(s), connect=s.strings("connect"),
        routes=s.routes(), btid_realms=btid_realms(s),
        zn_max_inflight=s.integer("zn_max_inflight", DEFAULT_MAX_INFLIGHT, 0, 1_000_000),
        limits=DiameterLimits.parse(s))


@contextlib.asynccontextmanager
async def running(cfg: GbaProxyConfig, topology: Topology, name: str
                  ) -> AsyncIterator[GbaProxy]:
    identity = peer_identity(cfg.diameter, cfg.zn_listen.host)
    node = DiameterNode(identity, [zn.APPLICATION], routes=cfg.routes,
                        **cfg.limits.node_kwargs())
    connect_peers(node, topology, list(cfg.connect), cfg.tls, f"functions.{name}")
    realm = topology.function(name).realm
    fetch = zn_fetcher(node, identity, realm, session_id_factory(identity.origin_host),
                       cfg.btid_realms, ZnRoute.HOME)
    policy = naf_policy(cfg.nafs, cfg.tls.enabled)
    proxy = GbaProxy(ZnProxy(identity, realm, fetch, cfg.btid_realms), policy,
                     InflightLimit(cfg.zn_max_inflight))
    node.serve(zn.APPLICATION[1], CMD_BOOTSTRAPPING_INFO, proxy.zn)
    process_metrics().function(name).watch_node(node)
    node.listen(cfg.zn_listen.host, cfg.zn_listen.port, ssl_context=cfg.tls.server(topology),
                authorise=policy.check_peer, applications=[zn.APPLICATION])
    await node.start()
    log.info("GBA proxy %s: Zn on %s%s for %d NAF(s)", name, cfg.zn_listen,
             " (TLS)" if cfg.tls.enabled else "", len(cfg.nafs))
    try:
        yield proxy
    finally:
        await node.close()


KIND = Kind(
    name="gba_proxy", parse=parse, run=running,
    endpoints=lambda c: {"zn": c.zn_listen}, listen_keys=("zn_listen",),
    diameter=lambda c: DiameterEndpoint(c.zn_listen, c.diameter.host, tls=c.tls.enabled),
    peers=lambda c: {"connect": c.connect}, order=20)

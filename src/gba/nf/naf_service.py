"""The NAF as a network function of a topology: its section, Ua (Digest, PSK-TLS) on
sockets, Zn on a Diameter node.

Section keys: ``fqdn``, ``diameter_host``, ``http_listen`` (Ua Digest), ``psk_tls_listen``
(Ua PSK-TLS), ``bsf`` (a function name or host:port: its default Diameter route;
``bsf_realm`` for an outside one), ``store``, ``gaa_service_id``, ``tls`` with
``tls_cert``/``tls_key``/``tls_ca``, ``connect`` (more Diameter peers, e.g. an agent),
``routes`` (realm -> next-hop hosts) and ``btid_realms`` (B-TID domain -> home realm, when
the domain is not a TS 23.003 BSF address).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from gba.config import Address, DiameterNodeConfig, Topology, is_address
from gba.errors import ConfigError
from gba.nf.common import DiameterTls, connect_peers, peer_identity
from gba.nf.naf import Naf, NafKeys, zn_fetcher
from gba.nf.naf_psk import start_psk_tls
from gba.nf.registry import Kind
from gba.nf.services import http_site, purging
from gba.protocols import zn
from gba.store.factory import open_naf_store
from gba.transport.diameter import DiameterNode, session_id_factory

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NafConfig:
    fqdn: str
    diameter: DiameterNodeConfig
    http_listen: Address
    psk_tls_listen: Address
    bsf: str
    bsf_realm: str
    store: str
    tls: DiameterTls
    gaa_service_id: str | None = None
    connect: tuple[str, ...] = ()
    routes: dict[str, tuple[str, ...]] | None = None
    btid_realms: dict[str, str] | None = None

    @property
    def zn_tls(self) -> bool:
        return self.tls.enabled

    @property
    def zn_tls_ca(self) -> str:
        return self.tls.ca

    @property
    def zn_tls_cert(self) -> str:
        return self.tls.cert

    @property
    def zn_tls_key(self) -> str:
        return self.tls.key


def parse(topology: Topology, name: str) -> NafConfig:
    function = topology.function(name)
    s = function.section
    bsf = s.text("bsf")
    bsf_realm = s.text("bsf_realm", function.realm)
    if not is_address(bsf):
        peer = topology.referenced(bsf, f"{s.where}.bsf")
        bsf_realm = peer.section.diameter(peer.realm).realm
    realms = s.data.get("btid_realms", {})
    if not isinstance(realms, dict) or not all(isinstance(v, str) for v in realms.values()):
        raise ConfigError(f"{s.where}.btid_realms should be a table domain = realm")
    return NafConfig(
        fqdn=s.text("fqdn"), diameter=s.diameter(function.realm),
        http_listen=s.address("http_listen"), psk_tls_listen=s.address("psk_tls_listen"),
        bsf=bsf, bsf_realm=bsf_realm, store=s.text("store"),
        tls=DiameterTls.parse(s), gaa_service_id=s.opt_text("gaa_service_id"),
        connect=s.strings("connect"), routes=s.routes(),
        btid_realms={str(k).lower(): v for k, v in realms.items()})


def zn_node(cfg: NafConfig, topology: Topology, name: str = "naf") -> DiameterNode:
    """The NAF's Diameter node: its BSF as default route, more peers and routes as
    configured; mutual TLS where the peer's listener has it."""
    identity = peer_identity(cfg.diameter, cfg.http_listen.host)
    node = DiameterNode(identity, [zn.APPLICATION], routes=cfg.routes)
    connect_peers(node, topology, [cfg.bsf, *cfg.connect], cfg.tls, f"functions.{name}",
                  default_route=cfg.bsf)
    return node


@contextlib.asynccontextmanager
async def running(cfg: NafConfig, topology: Topology, name: str) -> AsyncIterator[Naf]:
    store = open_naf_store(topology.store_url(cfg.store))
    node = zn_node(cfg, topology, name)
    await node.start()
    keys = NafKeys(store, zn_fetcher(node, node.identity, cfg.bsf_realm,
                                     session_id_factory(node.identity.origin_host),
                                     cfg.btid_realms),
                   gaa_service_id=cfg.gaa_service_id)
    naf = Naf(cfg.fqdn, keys)
    http = await http_site(naf.ua_app(), cfg.http_listen)
    psk = await start_psk_tls(naf, cfg.psk_tls_listen)
    log.info("NAF %s (%s): Ua Digest on http://%s, PSK-TLS on %s, BSF %s", name, cfg.fqdn,
             cfg.http_listen, cfg.psk_tls_listen, cfg.bsf)
    try:
        async with purging(store, "NAF"):
            yield naf
    finally:
        await psk.close()
        await http.cleanup()
        await node.close()
        await store.close()


KIND = Kind(
    name="naf", parse=parse, run=running,
    endpoints=lambda c: {"http": c.http_listen, "psk_tls": c.psk_tls_listen},
    listen_keys=("http_listen", "psk_tls_listen"),
    peers=lambda c: {"bsf": (c.bsf,), "connect": c.connect},
    order=30)

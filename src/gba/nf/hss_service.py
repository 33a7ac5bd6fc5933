"""The HSS as a network function of a topology: its section, and Zh + REST on sockets.

Section keys: ``diameter_host`` (``diameter_realm`` defaults to the network's realm),
``zh_listen`` (Diameter Zh, TS 29.109), ``rest_listen`` (provisioning), ``store``,
``ind`` (the IND of the vectors it issues, TS 33.102 Annex C) and ``bsf_hosts`` (the
Origin-Hosts allowed on Zh; by default every BSF of its network).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from gba.config import Address, DiameterNodeConfig, Topology
from gba.nf.common import peer_identity
from gba.nf.hss import Hss
from gba.nf.hss_rest import make_app
from gba.nf.registry import DiameterEndpoint, Kind
from gba.nf.services import http_site
from gba.protocols import zh
from gba.store.factory import open_subscriber_store
from gba.transport.diameter import DiameterNode

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HssConfig:
    diameter: DiameterNodeConfig
    zh_listen: Address
    rest_listen: Address
    store: str
    ind: int = 0
    bsf_hosts: tuple[str, ...] = ()
    """Origin-Hosts of the BSFs allowed on Zh."""


def parse(topology: Topology, name: str) -> HssConfig:
    function = topology.function(name)
    s = function.section
    default_bsfs = tuple(b.section.diameter(b.realm).host for b in topology.of_kind("bsf")
                         if b.network == function.network)
    return HssConfig(diameter=s.diameter(function.realm), zh_listen=s.address("zh_listen"),
                     rest_listen=s.address("rest_listen"), store=s.text("store"),
                     ind=s.integer("ind", 0, 0, 31),
                     bsf_hosts=s.strings("bsf_hosts", default_bsfs))


@contextlib.asynccontextmanager
async def running(cfg: HssConfig, topology: Topology, name: str) -> AsyncIterator[Hss]:
    store = open_subscriber_store(topology.store_url(cfg.store))
    identity = peer_identity(cfg.diameter, cfg.zh_listen.host)
    hss = Hss(store, identity, cfg.ind, frozenset(cfg.bsf_hosts))
    node = DiameterNode(identity, [zh.APPLICATION])
    node.serve(zh.APPLICATION[1], None, hss.handle)
    node.listen(cfg.zh_listen.host, cfg.zh_listen.port)
    await node.start()
    rest = await http_site(make_app(store), cfg.rest_listen)
    log.info("HSS %s: Zh on %s, REST on %s", name, cfg.zh_listen, cfg.rest_listen)
    try:
        yield hss
    finally:
        await rest.cleanup()
        await node.close()
        await store.close()


KIND = Kind(
    name="hss", parse=parse, run=running,
    endpoints=lambda c: {"zh": c.zh_listen, "rest": c.rest_listen},
    listen_keys=("zh_listen", "rest_listen"),
    diameter=lambda c: DiameterEndpoint(c.zh_listen, c.diameter.host, tls=False),
    order=0)

"""The AuC of the NGN flow as a network function: its section, and s3/s4 + s11 over
Diameter (:mod:`gba.protocols.ngn_auc`; docs/ngn.md §0).

Section keys (as the HSS's): ``diameter_host`` (``diameter_realm`` defaults to the
network's realm), ``diameter`` (the listen address of the softswitch - AuC application),
``store``, ``ind`` (the IND of AKA terminals' SQNs, TS 33.102 Annex C), ``softswitch_hosts``
(the Origin-Hosts allowed; by default every ``softswitch`` function of its network) and
``tls`` with ``tls_cert``/``tls_key``/``tls_ca`` (mutual TLS, RFC 6733 §13), plus the
``diameter_max_*`` caps (:class:`gba.nf.common.DiameterLimits`).

The listener offers this application only; a CER is refused (3010) unless its Origin-Host
is an allowed softswitch and, with TLS, its certificate names it; each request is checked
again by :meth:`gba.nf.auc.Auc.peer_refusal`. s4 carries E_Ksp and, for AKA terminals, CK
and IK: run it over TLS outside a lab.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from gba.config import Address, DiameterNodeConfig, Topology
from gba.nf.auc import Auc
from gba.nf.common import DiameterLimits, DiameterTls, peer_check, peer_identity
from gba.nf.registry import DiameterEndpoint, Kind
from gba.observe.metrics import process_metrics
from gba.protocols import ngn_auc
from gba.store.auc import open_auc_store
from gba.transport.diameter import DiameterNode

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AucConfig:
    diameter: DiameterNodeConfig
    listen: Address
    store: str
    tls: DiameterTls
    ind: int = 0
    softswitch_hosts: tuple[str, ...] = ()
    """Origin-Hosts of the softswitches allowed."""
    limits: DiameterLimits = field(default_factory=DiameterLimits)


def parse(topology: Topology, name: str) -> AucConfig:
    function = topology.function(name)
    s = function.section
    default_hosts = tuple(f.section.diameter(f.realm).host
                          for f in topology.of_kind("ngn_softswitch")
                          if f.network == function.network)
    return AucConfig(diameter=s.diameter(function.realm), listen=s.address("diameter"),
                     store=s.text("store"), tls=DiameterTls.parse(s),
                     ind=s.integer("ind", 0, 0, 31),
                     softswitch_hosts=s.strings("softswitch_hosts", default_hosts),
                     limits=DiameterLimits.parse(s))


@contextlib.asynccontextmanager
async def running(cfg: AucConfig, topology: Topology, name: str) -> AsyncIterator[Auc]:
    store = open_auc_store(topology.store_url(cfg.store))
    identity = peer_identity(cfg.diameter, cfg.listen.host)
    auc = Auc(store, identity, ind=cfg.ind, allowed_peers=frozenset(cfg.softswitch_hosts))
    node = DiameterNode(identity, [ngn_auc.APPLICATION], **cfg.limits.node_kwargs())
    node.serve(ngn_auc.APP_NGN_AUC, None, auc.handle)
    process_metrics().function(name).watch_node(node)
    node.listen(cfg.listen.host, cfg.listen.port, ssl_context=cfg.tls.server(topology),
                authorise=peer_check(cfg.tls.enabled, frozenset(cfg.softswitch_hosts)),
                applications=[ngn_auc.APPLICATION])
    try:
        await node.start()
        log.info("AuC %s: NGN s3/s11 on %s%s", name, cfg.listen,
                 " (TLS)" if cfg.tls.enabled else "")
        if not cfg.tls.enabled:
            log.warning("AuC %s: Diameter on plain TCP: a peer is known only by the "
                        "Origin-Host it claims (set tls = true)", name)
        yield auc
    finally:
        await node.close()
        await store.close()


KIND = Kind(
    name="auc", parse=parse, run=running,
    endpoints=lambda c: {"ngn_auc": c.listen},
    listen_keys=("diameter",),
    diameter=lambda c: DiameterEndpoint(c.listen, c.diameter.host, tls=c.tls.enabled),
    order=0)

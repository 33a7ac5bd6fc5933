"""A Diameter agent as a network function: a relay or proxy between networks
(RFC 6733 §2.8), e.g. between a visited network's NAFs and home BSFs.

Section keys: ``diameter_host`` (``diameter_realm`` defaults to the network's realm),
``listen``, ``mode`` (``relay``: announces the Relay application and forwards any; or
``proxy``: announces ``applications`` only, default Zn), ``connect`` (the peers it keeps
open: function names or host:port; each routes the realm it announces), ``routes`` (realm
-> next-hop Diameter hosts), ``accept`` (the Origin-Hosts that may connect to it; default
any), ``tls`` with ``tls_cert``/``tls_key``/``tls_ca`` (its listener, whose peers'
certificates must name their Origin-Host, and its connections to outside peers).
``diameter_max_message_size``, ``diameter_max_pending``, ``diameter_max_per_address``: the
Diameter node's caps (:class:`gba.nf.common.DiameterLimits`; default 1 MiB, 64, 16).

A BSF behind the agent trusts it for the NAFs it lists in ``via``: the agent vouches for
the first Route-Record (the peer it received the request from), so it must know its peers
(TLS with named certificates, or ``accept``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

from gba.config import Address, DiameterNodeConfig, Topology
from gba.errors import ConfigError
from gba.nf.common import (
    DiameterLimits,
    DiameterTls,
    connect_peers,
    peer_check,
    peer_identity,
)
from gba.nf.registry import DiameterEndpoint, Kind
from gba.observe.metrics import process_metrics
from gba.protocols import zh, zn
from gba.protocols.diameter import Application
from gba.transport.diameter import DiameterNode

log = logging.getLogger(__name__)

KNOWN_APPLICATIONS: dict[str, Application] = {"zh": zh.APPLICATION, "zn": zn.APPLICATION}


@dataclass(frozen=True, slots=True)
class DraConfig:
    diameter: DiameterNodeConfig
    listen: Address
    mode: Literal["relay", "proxy"]
    applications: tuple[Application, ...]
    connect: tuple[str, ...]
    routes: dict[str, tuple[str, ...]]
    tls: DiameterTls
    accept: frozenset[str] | None = None
    limits: DiameterLimits = field(default_factory=DiameterLimits)
    """The Diameter node's caps (``diameter_max_*``)."""


def parse(topology: Topology, name: str) -> DraConfig:
    function = topology.function(name)
    s = function.section
    mode = s.text("mode", "relay")
    if mode not in ("relay", "proxy"):
        raise ConfigError(f"{s.where}.mode = {mode!r}: relay or proxy")
    apps = []
    for app in s.strings("applications", ("zn",)):
        if app not in KNOWN_APPLICATIONS:
            raise ConfigError(f"{s.where}.applications: {app!r} is not one of "
                              f"{', '.join(KNOWN_APPLICATIONS)}")
        apps.append(KNOWN_APPLICATIONS[app])
    tls = DiameterTls.parse(s)
    if not tls.enabled and "accept" not in s.data:
        raise ConfigError(f"{s.where}: an agent vouches for the peers it relays (the first "
                          "Route-Record), so it must know them: set tls = true (certificates "
                          "naming each Origin-Host) or accept = [hosts]")
    return DraConfig(diameter=s.diameter(function.realm), listen=s.address("listen"),
                     mode="relay" if mode == "relay" else "proxy", applications=tuple(apps),
                     connect=s.strings("connect"), routes=s.routes(),
                     tls=tls,
                     accept=frozenset(s.strings("accept")) if "accept" in s.data else None,
                     limits=DiameterLimits.parse(s))


@contextlib.asynccontextmanager
async def running(cfg: DraConfig, topology: Topology, name: str
                  ) -> AsyncIterator[DiameterNode]:
    identity = peer_identity(cfg.diameter, cfg.listen.host)
    node = DiameterNode(identity, () if cfg.mode == "relay" else cfg.applications,
                        agent=cfg.mode, routes=cfg.routes, **cfg.limits.node_kwargs())
    connect_peers(node, topology, cfg.connect, cfg.tls, f"functions.{name}")
    process_metrics().function(name).watch_node(node)
    node.listen(cfg.listen.host, cfg.listen.port, ssl_context=cfg.tls.server(topology),
                authorise=peer_check(cfg.tls.enabled, cfg.accept),
                applications=cfg.applications)
    await node.start()
    log.info("Diameter %s %s on %s%s, peers %s, routes %s", cfg.mode, name, cfg.listen,
             " (TLS)" if cfg.tls.enabled else "", ", ".join(cfg.connect) or "none",
             cfg.routes or "by peer realm")
    try:
        yield node
    finally:
        await node.close()


KIND = Kind(
    name="dra", parse=parse, run=running, endpoints=lambda c: {"diameter": c.listen},
    listen_keys=("listen",),
    diameter=lambda c: DiameterEndpoint(c.listen, c.diameter.host, tls=c.tls.enabled,
                                        agent=True),
    peers=lambda c: {"connect": c.connect},
    order=20)

"""The registry of network-function kinds: how each reads its section, runs, and reports
where it listens.

A kind is a :class:`Kind`; :data:`KINDS` lists them. ``gba serve NAME``, ``gba lab up``
and lab.json iterate the topology's functions and ask their kind; nothing else names the
kinds. Adding a network function is adding one module with a ``KIND`` and one line here
(docs/architecture.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gba import config
from gba.config import Address, Topology, is_address
from gba.errors import ConfigError
from gba.observe import settings as observe_settings

Runner = Callable[[Any, Topology, str], contextlib.AbstractAsyncContextManager[object]]


@dataclass(frozen=True, slots=True)
class DiameterEndpoint:
    """Where peers reach a function's Diameter node."""

    address: Address
    host: str | None
    """Its Origin-Host (the TLS server name), when known."""
    tls: bool
    agent: bool = False
    """A relay or proxy: it announces its own realm but serves others."""


@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of network function."""

    name: str
    parse: Callable[[Topology, str], Any]
    """(topology, function name) -> the function's typed configuration."""
    run: Runner
    """(config, topology, name) -> an async context that serves until it exits."""
    endpoints: Callable[[Any], dict[str, Address]]
    """The listening sockets, by role (``"ub"``, ``"zn"``, ...): lab readiness, lab.json."""
    listen_keys: tuple[str, ...]
    """The TOML keys holding those addresses (port 0 is resolved there)."""
    diameter: Callable[[Any], DiameterEndpoint | None] = lambda _: None
    peers: Callable[[Any], dict[str, tuple[str, ...]]] = lambda _: {}
    """The peer references of a config, by TOML key (checked at load)."""
    order: int = 50
    """Start order in a lab: servers others connect to first."""
    runs: bool = True
    """False for a function another operator runs (``remote``): a lab starts no process
    for it and waits for nothing."""
    datagram: frozenset[str] = frozenset()
    """The endpoint roles that are UDP sockets: listed in lab.json, not probed by a TCP
    connect (a lab waits for the function's metrics site instead)."""


def _kinds() -> dict[str, Kind]:
    from gba.nf.aaa_service import KIND as AAA
    from gba.nf.auc_service import KIND as AUC
    from gba.nf.bsf_service import KIND as BSF
    from gba.nf.dra import KIND as DRA
    from gba.nf.gba_proxy_service import KIND as GBA_PROXY
    from gba.nf.hss_service import KIND as HSS
    from gba.nf.mtc_service import AS_KIND as MTC_AS
    from gba.nf.mtc_service import IWF_KIND as MTC_IWF
    from gba.nf.naf_service import BMSC_KIND as BMSC
    from gba.nf.naf_service import KIND as NAF
    from gba.nf.ngn_service import PROXY_KIND as NGN_PROXY
    from gba.nf.ngn_service import SOFTSWITCH_KIND as NGN_SOFTSWITCH
    from gba.nf.push_service import KIND as PUSH_NAF
    from gba.nf.remote import KIND as REMOTE

    return {k.name: k for k in (HSS, BSF, DRA, GBA_PROXY, AAA, NAF, BMSC, PUSH_NAF, MTC_IWF, MTC_AS,
                                    REMOTE, AUC, NGN_SOFTSWITCH, NGN_PROXY)}


_CACHE: dict[str, Kind] = {}


def kinds() -> dict[str, Kind]:
    """Every registered kind, by name."""
    if not _CACHE:
        _CACHE.update(_kinds())
    return _CACHE


def kind(name: str, where: str = "kind") -> Kind:
    found = kinds().get(name)
    if found is None:
        raise ConfigError(f"{where}: unknown network function kind {name!r}; one of "
                          f"{', '.join(sorted(kinds()))}")
    return found


def config_of(topology: Topology, name: str) -> Any:
    """The typed configuration of function *name*."""
    known = topology.configs.get(name)
    if known is not None:
        return known
    return kind(topology.function(name).kind).parse(topology, name)


def check(topology: Topology) -> Topology:
    """Parse every function's section and resolve its peer references, so that a bad file
    fails at load rather than when the function starts; the topology with the typed
    configurations."""
    configs: dict[str, Any] = {}
    for name, function in topology.functions.items():
        k = kind(function.kind, f"functions.{name}.kind")
        configs[name] = cfg = k.parse(topology, name)
        observe_settings.check(topology, name)
        for key, refs in k.peers(cfg).items():
            for ref in refs:
                diameter_peer(topology, ref, f"functions.{name}.{key}")
    return replace(topology, configs=configs)


def parse(raw: dict[str, Any], path: Path) -> Topology:
    """:func:`gba.config.parse`, then every function's section read by its kind."""
    return check(config.parse(raw, path))


def load(path: Path | str) -> Topology:
    """Read and check a network TOML file: structure, sections, peer references."""
    return parse(*config.read(path))


def endpoints(topology: Topology, name: str) -> dict[str, Address]:
    return kind(topology.function(name).kind).endpoints(config_of(topology, name))


def stream_endpoints(topology: Topology, name: str) -> dict[str, Address]:
    """The endpoints a TCP connect can probe (all but :attr:`Kind.datagram`)."""
    udp = kind(topology.function(name).kind).datagram
    return {role: a for role, a in endpoints(topology, name).items() if role not in udp}


METRICS_LISTEN = "metrics_listen"
"""The key, in any kind's section, of the metrics and status site
(:mod:`gba.observe.settings`)."""


def metrics_endpoint(topology: Topology, name: str) -> Address | None:
    """Where function *name* serves ``/metrics`` and ``/status.json``, if it does."""
    return observe_settings.metrics_settings(topology.function(name).section).listen


def diameter_peer(topology: Topology, ref: str, where: str) -> DiameterEndpoint:
    """A peer reference: a function's name (its Diameter listener, host and TLS), or an
    outside node's ``host:port`` (TLS as the referring function says)."""
    if is_address(ref):
        return DiameterEndpoint(Address.parse(ref, where), None, tls=False)
    function = topology.referenced(ref, where)
    endpoint = kind(function.kind).diameter(config_of(topology, ref))
    if endpoint is None:
        raise ConfigError(f"{where} = {ref!r} is a {function.kind}, which has no Diameter "
                          "listener")
    return endpoint


def ordered(topology: Topology) -> list[str]:
    """Function names in start order (every function, those that run nothing included)."""
    return sorted(topology.functions,
                  key=lambda n: kind(topology.functions[n].kind).order)


def runs(topology: Topology, name: str) -> bool:
    """Whether function *name* runs here (a ``remote`` function does not)."""
    return kind(topology.function(name).kind).runs

"""A function of another operator's file: a node this process set does not run, named so
that local functions can use it as a Diameter peer (a visited network's NAF or proxy
naming the home BSF, docs/roaming.md §5).

Section keys: ``diameter`` (host:port of its Diameter listener), ``diameter_host`` (its
Origin-Host, the name its TLS certificate carries), ``realm`` (its Diameter realm; default
``diameter_realm``, else the realm of the network the section is in) and ``tls`` (whether
its listener speaks mutual TLS; default false). It has no endpoints and runs nothing:
``gba lab up`` starts no process for it (:attr:`gba.nf.registry.Kind.runs`), and
``gba serve`` of it returns at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from gba.config import Address, DiameterNodeConfig, Topology
from gba.nf.registry import DiameterEndpoint, Kind


@dataclass(frozen=True, slots=True)
class RemoteConfig:
    diameter: DiameterNodeConfig
    """Its Origin-Host and realm."""
    address: Address
    """Where its Diameter listener is."""
    use_tls: bool
    """Its listener speaks mutual TLS (key ``tls``)."""


def parse(topology: Topology, name: str) -> RemoteConfig:
    function = topology.function(name)
    s = function.section
    realm = s.text("realm", s.text("diameter_realm", function.realm))
    return RemoteConfig(diameter=DiameterNodeConfig(s.text("diameter_host"), realm),
                        address=s.address("diameter"), use_tls=s.flag("tls", False))


@contextlib.asynccontextmanager
async def running(cfg: RemoteConfig, topology: Topology, name: str
                  ) -> AsyncIterator[None]:
    """Nothing to serve: another operator runs it."""
    yield None


KIND = Kind(
    name="remote", parse=parse, run=running, endpoints=lambda _: {}, listen_keys=(),
    diameter=lambda c: DiameterEndpoint(c.address, c.diameter.host, tls=c.use_tls),
    order=0, runs=False)

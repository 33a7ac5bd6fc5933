"""Pieces every network function shares: Diameter identity, TLS and peers, logging."""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any, TypedDict

from gba.config import DiameterNodeConfig, Section, Topology
from gba.errors import ConfigError
from gba.nf.registry import diameter_peer
from gba.observe import logs
from gba.observe.settings import LogSettings
from gba.protocols.diameter import PeerIdentity
from gba.protocols.diameter.peer import MAX_MESSAGE_SIZE
from gba.transport.diameter import (
    MAX_PENDING,
    MAX_PER_ADDRESS,
    Authorise,
    DiameterNode,
    PeerSpec,
)
from gba.transport.http import SiteLimits
from gba.transport.tls import certificate_names, client_context, server_context


def peer_identity(cfg: DiameterNodeConfig, host_ip: str = "127.0.0.1") -> PeerIdentity:
    """The CER/CEA identity of a node (RFC 6733 §5.3.1); Origin-State-Id from the clock."""
    try:
        addr = ip_address(host_ip)
    except ValueError:
        addr = ip_address("127.0.0.1")
    return PeerIdentity(cfg.host, cfg.realm, (addr,), vendor_id=0, product_name="gba",
                        origin_state_id=int(time.time()) & 0xFFFFFFFF)


def setup_logging(name: str, settings: LogSettings | None = None) -> logging.Logger:
    """One line per event on stderr, text or JSON as *settings* say (the ``[logging]``
    tables, :func:`gba.observe.settings.log_settings`); GBA_LOG_LEVEL overrides the
    level (default INFO). See :func:`gba.observe.logs.configure`."""
    return logs.configure(name, settings)


TLS_DIR = "zn-tls"
"""Where ``gba lab up`` writes the lab CA and the certificates, beside the config."""


@dataclass(frozen=True, slots=True)
class DiameterTls:
    """A function's TLS for Diameter (RFC 6733 §13; TS 33.220 §4.3 protects Zh and Zn,
    TS 33.210 §6.2 profiles TLS): its certificate and key, and the CA its peers'
    certificates must chain to."""

    enabled: bool
    cert: str
    key: str
    ca: str

    @classmethod
    def parse(cls, s: Section) -> DiameterTls:
        """Keys ``tls``, ``tls_cert``, ``tls_key``, ``tls_ca`` (or the older ``zn_tls``,
        ``zn_tls_cert``, ``zn_tls_key``, ``zn_tls_ca``/``zn_tls_client_ca``); files default to
        ``zn-tls/<function>-cert.pem`` etc. beside the config, as ``gba lab up`` makes them."""
        ca_default = s.text("zn_tls_ca", s.text("zn_tls_client_ca", f"{TLS_DIR}/ca.pem"))
        return cls(enabled=s.flag("tls", s.flag("zn_tls", False)),
                   cert=s.text("tls_cert", s.text("zn_tls_cert", f"{TLS_DIR}/{s.name}-cert.pem")),
                   key=s.text("tls_key", s.text("zn_tls_key", f"{TLS_DIR}/{s.name}-key.pem")),
                   ca=s.text("tls_ca", ca_default))

    def server(self, topology: Topology) -> ssl.SSLContext | None:
        """The listener side: every peer must present a certificate from the CA."""
        if not self.enabled:
            return None
        return server_context(topology.file(self.cert), topology.file(self.key),
                              topology.file(self.ca))

    def client(self, topology: Topology) -> ssl.SSLContext:
        return client_context(topology.file(self.ca), topology.file(self.cert),
                              topology.file(self.key))


MIN_DIAMETER_MESSAGE_SIZE = 4096
"""The smallest ``diameter_max_message_size`` a section may set."""
MAX_DIAMETER_MESSAGE_SIZE = 16 * 1024 * 1024
"""The largest ``diameter_max_message_size`` a section may set."""


class DiameterNodeKwargs(TypedDict):
    """The caps :class:`~gba.transport.diameter.DiameterNode` takes as keywords."""

    max_message_size: int
    max_pending: int
    max_per_address: int


@dataclass(frozen=True, slots=True)
class DiameterLimits:
    """A function's Diameter node caps (:class:`~gba.transport.diameter.DiameterNode`): the
    largest message an open connection takes, the accepted connections that have not
    finished CER/CEA, and the accepted connections from one IP address."""

    max_message_size: int = MAX_MESSAGE_SIZE
    max_pending: int = MAX_PENDING
    max_per_address: int = MAX_PER_ADDRESS

    @classmethod
    def parse(cls, s: Section) -> DiameterLimits:
        """Optional keys ``diameter_max_message_size`` (4096 .. 16 MiB),
        ``diameter_max_pending`` and ``diameter_max_per_address`` (1 .. 100000)."""
        return cls(
            max_message_size=s.integer("diameter_max_message_size", MAX_MESSAGE_SIZE,
                                       MIN_DIAMETER_MESSAGE_SIZE, MAX_DIAMETER_MESSAGE_SIZE),
            max_pending=s.integer("diameter_max_pending", MAX_PENDING, 1, 100_000),
            max_per_address=s.integer("diameter_max_per_address", MAX_PER_ADDRESS, 1, 100_000))

    def node_kwargs(self) -> DiameterNodeKwargs:
        """The keyword arguments of :class:`~gba.transport.diameter.DiameterNode`."""
        return {"max_message_size": self.max_message_size, "max_pending": self.max_pending,
                "max_per_address": self.max_per_address}


def http_limits(s: Section) -> SiteLimits:
    """A function's HTTP sites' limits (:class:`~gba.transport.http.SiteLimits`): optional
    keys ``http_head_timeout_s`` (default 15), ``http_body_timeout_s`` (30), both 1 .. 3600,
    and ``http_max_connections`` (1024; 1 .. 1,000,000)."""
    default = SiteLimits()
    return SiteLimits(
        head_timeout=float(s.integer("http_head_timeout_s", int(default.head_timeout), 1,
                                     3600)),
        body_timeout=float(s.integer("http_body_timeout_s", int(default.body_timeout), 1,
                                     3600)),
        max_connections=s.integer("http_max_connections", default.max_connections, 1,
                                  1_000_000))


def peer_check(require_certificate: bool, accept: frozenset[str] | None = None
               ) -> Authorise:
    """A listener's CER check (RFC 6733 §13): the TLS certificate must name the Origin-Host
    when TLS is on, and the Origin-Host must be in *accept* when one is given."""
    def check(origin: str, cert: dict[str, Any] | None, address: str) -> str | None:
        if accept is not None and origin not in accept:
            return f"Origin-Host {origin!r} is not an accepted peer"
        if require_certificate and origin not in certificate_names(cert):
            return f"TLS certificate does not name Origin-Host {origin!r}"
        return None
    return check


def connect_peers(node: DiameterNode, topology: Topology, refs: Iterable[str],
                  tls: DiameterTls, where: str, *, default_route: str | None = None) -> None:
    """Add a connector to *node* for each peer reference (a function name or host:port).
    TLS follows the peer's listener for a function of the topology, and this function's
    own setting for an outside node; *default_route* names the peer that takes requests no
    other route takes."""
    for ref in dict.fromkeys(refs):
        peer = diameter_peer(topology, ref, where)
        use_tls = peer.tls if peer.host is not None else tls.enabled
        node.connect(PeerSpec(peer.address.host, peer.address.port,
                              tls.client(topology) if use_tls else None,
                              peer.host or peer.address.host,
                              default_route=ref == default_route, host=peer.host,
                              routes_its_realm=not peer.agent))


def btid_realms(s: Section) -> dict[str, str]:
    """The section's ``btid_realms`` table: B-TID domain (lower case) -> home realm, for
    domains that are not TS 23.003 BSF names (:func:`gba.protocols.zn.home_realm`)."""
    realms = s.data.get("btid_realms", {})
    if not isinstance(realms, dict) or not all(isinstance(v, str) for v in realms.values()):
        raise ConfigError(f"{s.where}.btid_realms should be a table domain = realm")
    return {str(k).lower(): v for k, v in realms.items()}

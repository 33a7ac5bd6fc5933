"""The NGN softswitch and signalling proxy as network functions (seed 001; docs/ngn.md §4).

Both read: ``id`` (ID_sp, or the softswitch's own identity), ``key_file`` (its key shared
with the AuC, 32 hex digits, owner-only), ``domain`` (the SIP domain and Digest realm, the
MGC / gatekeeper name), one listen address per face it serves -- ``sip_udp``, ``sip_tcp``,
``mgcp``, ``h248``, ``ras`` (any subset, at least one) -- ``mechanisms`` (supported, default
tls, ipsec, app) and ``clock_skew_s`` (default 30).

``ngn_softswitch`` adds ``auc`` (the ``auc`` function, a Diameter peer), ``diameter_host``,
``max_failures`` (default 3) and the Diameter TLS keys. ``ngn_proxy`` adds ``softswitch``
(the ``ngn_softswitch`` function; each face forwards to the softswitch's face of the same
name) and ``forward_mechanisms`` (s8 carries the list; default false).
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gba.config import Address, DiameterNodeConfig, Topology
from gba.errors import ConfigError
from gba.nf.common import DiameterLimits, DiameterTls, connect_peers, peer_identity
from gba.nf.ngn_aka import AkaRegistrar
from gba.nf.ngn_auc_link import DiameterAuc
from gba.nf.ngn_node import ProxyFace, SoftswitchFace
from gba.nf.registry import Kind
from gba.observe.metrics import FunctionMetrics, process_metrics
from gba.protocols import ngn, ngn_auc
from gba.protocols.ngn_bindings import BINDINGS, FACES, is_stream, make_wire
from gba.protocols.ngn_flow import Role
from gba.protocols.ngn_proxy import NgnProxy
from gba.protocols.ngn_softswitch import DEFAULT_MAX_FAILURES, NgnSoftswitch
from gba.protocols.sip import StreamFramer
from gba.transport.diameter import DiameterNode, session_id_factory
from gba.transport.message_io import (
    Channel,
    MessageClient,
    MessageServer,
    connect_tcp,
    connect_udp,
    serve_tcp,
    serve_udp,
)

log = logging.getLogger(__name__)

DEFAULT_MECHANISMS = ("tls", "ipsec", "app")


def read_key_file(path: Path) -> bytes:
    """A 16-octet key from ``path`` (hex): refused unless owner-only. Errors name the file,
    never its content."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"key file {path} is unreadable: {exc}") from None
    if mode & 0o077:
        raise ConfigError(f"key file {path} has mode {mode:04o}: it must be owner-only "
                          "(chmod 600)")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ConfigError(f"key file {path} does not hold hex") from None
    if len(key) != ngn.KEY_LEN:
        raise ConfigError(f"key file {path} holds {len(key)} octets, not {ngn.KEY_LEN}")
    return key


def write_key_file(path: Path, key: bytes) -> None:
    """Write ``key`` as hex, owner-only from the start."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key.hex() + "\n")
    os.chmod(path, 0o600)


@dataclass(frozen=True, slots=True)
class NgnNodeConfig:
    id: str
    key_file: str
    domain: str
    faces: dict[str, Address]
    mechanisms: tuple[str, ...]
    clock_skew_s: int


@dataclass(frozen=True, slots=True)
class SoftswitchConfig:
    node: NgnNodeConfig
    diameter: DiameterNodeConfig
    auc: str
    auc_realm: str
    tls: DiameterTls
    max_failures: int
    limits: DiameterLimits = field(default_factory=DiameterLimits)


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    node: NgnNodeConfig
    softswitch: str
    upstream: dict[str, Address]
    """The softswitch's address for each face of this SP."""
    forward_mechanisms: bool


def _node(topology: Topology, name: str) -> NgnNodeConfig:
    s = topology.function(name).section
    faces = {face: s.address(face) for face in FACES if face in s.data}
    if not faces:
        raise ConfigError(f"{s.where} serves no face: give one of {', '.join(FACES)}")
    try:
        ident = ngn.check_id(s.text("id"))
    except ValueError as exc:
        raise ConfigError(f"{s.where}.id: {exc}") from None
    mechanisms = s.strings("mechanisms", DEFAULT_MECHANISMS)
    if not mechanisms:
        raise ConfigError(f"{s.where}.mechanisms is empty")
    return NgnNodeConfig(ident, s.text("key_file"), s.text("domain"), faces, mechanisms,
                         s.integer("clock_skew_s", ngn.DEFAULT_SKEW_S, 0, 3600))


def parse_softswitch(topology: Topology, name: str) -> SoftswitchConfig:
    function = topology.function(name)
    s = function.section
    auc = s.text("auc")
    found = topology.referenced(auc, f"{s.where}.auc")
    if found.kind != "auc":
        raise ConfigError(f"{s.where}.auc names {auc!r}, which is not an auc")
    return SoftswitchConfig(
        _node(topology, name), s.diameter(function.realm), auc,
        found.section.diameter(found.realm).realm, DiameterTls.parse(s),
        s.integer("max_failures", DEFAULT_MAX_FAILURES, 1, 100), DiameterLimits.parse(s))


def parse_proxy(topology: Topology, name: str) -> ProxyConfig:
    s = topology.function(name).section
    node = _node(topology, name)
    target = s.text("softswitch")
    found = topology.referenced(target, f"{s.where}.softswitch")
    if found.kind != "ngn_softswitch":
        raise ConfigError(f"{s.where}.softswitch names {target!r}, which is not an "
                          "ngn_softswitch")
    upstream: dict[str, Address] = {}
    for face in node.faces:
        if face not in found.section.data:
            raise ConfigError(f"{s.where}.{face}: the softswitch {target!r} has no {face}")
        upstream[face] = found.section.address(face)
    return ProxyConfig(node, target, upstream, s.flag("forward_mechanisms", False))


async def _serve(face: str, address: Address,
                 handler: Callable[[bytes, Channel], Awaitable[None]]) -> MessageServer:
    if is_stream(face):
        return await serve_tcp(address, handler, StreamFramer)
    return await serve_udp(address, handler)


def _metrics_sink(observed: FunctionMetrics, face: str) -> Callable[[str], None]:
    """Face events as ``gba_requests_total{interface=<face>, command, result}``: a
    refusal is command ``refused`` with the refusal as result; counts only (0 s)."""
    def sink(event: str) -> None:
        command, _, result = event.partition(":")
        observed.request(face, command, result or "ok", 0.0)
    return sink


def _status(faces: Mapping[str, SoftswitchFace | ProxyFace], node: NgnProxy) -> object:
    """The status page's ``ngn`` part: sessions held and each face's counts (no keys)."""
    return {"sessions": len(node.sessions),
            "faces": {face: dict(f.stats.counts) for face, f in faces.items()}}


def _auc_node(cfg: SoftswitchConfig, topology: Topology, name: str) -> DiameterNode:
    host = next(iter(cfg.node.faces.values())).host
    node = DiameterNode(peer_identity(cfg.diameter, host), [ngn_auc.APPLICATION],
                        **cfg.limits.node_kwargs())
    connect_peers(node, topology, [cfg.auc], cfg.tls, f"functions.{name}",
                  default_route=cfg.auc)
    return node


@dataclass(slots=True)
class RunningSoftswitch:
    softswitch: NgnSoftswitch
    own: NgnProxy
    faces: dict[str, SoftswitchFace]


@contextlib.asynccontextmanager
async def running_softswitch(cfg: SoftswitchConfig, topology: Topology, name: str
                             ) -> AsyncIterator[RunningSoftswitch]:
    n = cfg.node
    key = read_key_file(topology.file(n.key_file))
    node = _auc_node(cfg, topology, name)
    await node.start()
    auc = DiameterAuc(node, cfg.auc_realm, session_id_factory(node.identity.origin_host))
    observed = process_metrics().function(name)
    observed.watch_node(node)
    softswitch = NgnSoftswitch(n.id, max_failures=cfg.max_failures)
    own = NgnProxy(n.id, key, n.mechanisms, skew=n.clock_skew_s)
    faces: dict[str, SoftswitchFace] = {}
    servers: list[MessageServer] = []
    try:
        for face, address in n.faces.items():
            wire = make_wire(face, Role.SOFTSWITCH, address.host, address.port, n.domain)
            aka = AkaRegistrar(n.domain, own, auc) if BINDINGS[face] == "sip" else None
            faces[face] = SoftswitchFace(wire, softswitch, own, auc, aka=aka,
                                         events=_metrics_sink(observed, face))
            servers.append(await _serve(face, address, faces[face].handle))
        log.info("NGN softswitch %s (%s): %s", name, n.id,
                 ", ".join(f"{f} {s.address}" for f, s in zip(n.faces, servers, strict=False)))
        observed.status_parts["ngn"] = lambda: _status(faces, own)
        yield RunningSoftswitch(softswitch, own, faces)
    finally:
        for server in servers:
            await server.close()
        await node.close()


@dataclass(slots=True)
class RunningProxy:
    proxy: NgnProxy
    faces: dict[str, ProxyFace]


async def _proxy_face(face: str, address: Address, upstream: Address, proxy: NgnProxy,
                      domain: str, events: Callable[[str], None]
                      ) -> tuple[ProxyFace, MessageClient]:
    """One face of the SP: its wire towards terminals, its client socket and wire towards
    the softswitch (whose Via / mId / rasAddress is the client socket's address)."""
    holder: list[ProxyFace] = []

    async def from_softswitch(data: bytes, channel: Channel) -> None:
        await holder[0].from_softswitch(data, channel)

    if is_stream(face):
        client = await connect_tcp(upstream, from_softswitch, StreamFramer)
    else:
        client = await connect_udp(upstream, from_softswitch)
    down = make_wire(face, Role.PROXY, address.host, address.port, domain)
    up = make_wire(face, Role.PROXY, client.local.host, client.local.port, domain)
    holder.append(ProxyFace(down, up, proxy, events=events))
    holder[0].connect(client.channel)
    return holder[0], client


@contextlib.asynccontextmanager
async def running_proxy(cfg: ProxyConfig, topology: Topology, name: str
                        ) -> AsyncIterator[RunningProxy]:
    n = cfg.node
    key = read_key_file(topology.file(n.key_file))
    proxy = NgnProxy(n.id, key, n.mechanisms, forward_mechanisms=cfg.forward_mechanisms,
                     skew=n.clock_skew_s)
    faces: dict[str, ProxyFace] = {}
    servers: list[MessageServer] = []
    clients: list[MessageClient] = []
    observed = process_metrics().function(name)
    observed.status_parts["ngn"] = lambda: _status(faces, proxy)
    try:
        for face, address in n.faces.items():
            proxy_face, client = await _proxy_face(face, address, cfg.upstream[face], proxy,
                                                   n.domain, _metrics_sink(observed, face))
            clients.append(client)
            faces[face] = proxy_face
            servers.append(await _serve(face, address, proxy_face.from_terminal))
        log.info("NGN signalling proxy %s (%s) towards %s: %s", name, n.id, cfg.softswitch,
                 ", ".join(f"{f} {s.address}" for f, s in zip(n.faces, servers, strict=False)))
        yield RunningProxy(proxy, faces)
    finally:
        for server in servers:
            await server.close()
        for client in clients:
            await client.close()


SOFTSWITCH_KIND = Kind(
    name="ngn_softswitch", parse=parse_softswitch, run=running_softswitch,
    endpoints=lambda c: dict(c.node.faces), listen_keys=FACES,
    peers=lambda c: {"auc": (c.auc,)}, order=40,
    datagram=frozenset(f for f in FACES if not is_stream(f)))
"""After its AuC (``auc``, a Diameter server)."""

PROXY_KIND = Kind(
    name="ngn_proxy", parse=parse_proxy, run=running_proxy,
    endpoints=lambda c: dict(c.node.faces), listen_keys=FACES,
    order=45,
    datagram=frozenset(f for f in FACES if not is_stream(f)))
"""After the softswitch it forwards to (checked by :func:`parse_proxy`: not a Diameter
peer)."""

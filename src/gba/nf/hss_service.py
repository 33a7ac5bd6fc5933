"""The HSS as a network function of a topology: its section, and Zh + REST on sockets.

Section keys: ``diameter_host`` (``diameter_realm`` defaults to the network's realm),
``zh_listen`` (Diameter Zh, TS 29.109), ``rest_listen`` (provisioning), ``store``,
``ind`` (the IND of the vectors it issues, TS 33.102 Annex C), ``bsf_hosts`` (the
Origin-Hosts allowed on Zh; by default every BSF of its network) and ``tls`` (Zh over
mutual TLS) with ``tls_cert``/``tls_key``/``tls_ca``.
``diameter_max_message_size``, ``diameter_max_pending``, ``diameter_max_per_address``: the
Diameter node's caps (:class:`gba.nf.common.DiameterLimits`; default 1 MiB, 64, 16).
``capability_source`` (``request``, ``subscription`` or ``both``, the default): where the
HSS takes an MTC device's small-data capability from (seed 004 claims 6-7; docs/mtc.md §3).

The REST provisioning API (:mod:`gba.nf.hss_rest`) can replace K and move SQN, so it
needs a bearer token (RFC 6750): ``rest_token_file`` names an owner-only (0600) file
holding it, relative to the config (``gba lab up`` writes a random one); the HSS does not
start without it. ``rest_listen`` must be a loopback address unless ``rest_public = true``
(the token then crosses the network in clear HTTP: put a TLS proxy in front, RFC 6750 §5.3).

Zh carries every vector's XRES, CK and IK, so the HSS authenticates its peers as the BSF
does on Zn: TS 33.220 §4.3 asks Zh for mutual authentication, confidentiality and
integrity and leaves the means to network domain security (NDS/IP, TS 33.210); our profile
is TLS (TS 33.210 §6.2; RFC 6733 §13). The Zh listener offers Zh only, and a peer's CER is
refused with 3010 DIAMETER_UNKNOWN_PEER unless its Origin-Host is in ``bsf_hosts`` and,
with TLS, its certificate names that Origin-Host; each MAR is checked again by
:meth:`gba.nf.hss.Hss.peer_refusal`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from gba.config import Address, DiameterNodeConfig, Section, Topology
from gba.errors import ConfigError
from gba.nf.common import DiameterLimits, DiameterTls, http_limits, peer_check, peer_identity
from gba.nf.hss import Hss
from gba.nf.hss_mtc import CapabilitySource
from gba.nf.hss_rest import make_app, read_token_file
from gba.nf.registry import DiameterEndpoint, Kind
from gba.nf.services import http_site
from gba.observe.metrics import process_metrics
from gba.observe.settings import is_loopback
from gba.protocols import zh
from gba.store.factory import open_subscriber_store
from gba.transport.diameter import DiameterNode
from gba.transport.http import SiteLimits

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HssConfig:
    diameter: DiameterNodeConfig
    zh_listen: Address
    rest_listen: Address
    store: str
    tls: DiameterTls
    ind: int = 0
    bsf_hosts: tuple[str, ...] = ()
    """Origin-Hosts of the BSFs allowed on Zh."""
    rest_token_file: str | None = None
    """The REST API's bearer token file, relative to the config; required to serve."""
    rest_public: bool = False
    """Whether ``rest_listen`` may be a non-loopback address."""
    limits: DiameterLimits = field(default_factory=DiameterLimits)
    http: SiteLimits = field(default_factory=SiteLimits)
    """Its HTTP sites' timeouts and connection cap (``http_*`` keys,
    :func:`gba.nf.common.http_limits`)."""
    """The Diameter node's caps (``diameter_max_*``)."""
    capability_source: CapabilitySource = CapabilitySource.BOTH


def _capability_source(s: Section) -> CapabilitySource:
    text = s.text("capability_source", CapabilitySource.BOTH.value)
    try:
        return CapabilitySource(text)
    except ValueError:
        raise ConfigError(f"{s.where}.capability_source should be request, subscription or "
                          f"both, not {text!r}") from None


def _rest_listen(s: Section) -> tuple[Address, bool]:
    """``rest_listen`` and ``rest_public``: loopback only unless ``rest_public = true``."""
    where, public = s.address("rest_listen"), s.flag("rest_public", False)
    if not public and not is_loopback(where.host):
        raise ConfigError(f"{s.where}.rest_listen = {str(where)!r} is not a loopback address; "
                          "the REST provisioning API listens on loopback unless "
                          "rest_public = true")
    return where, public


def parse(topology: Topology, name: str) -> HssConfig:
    function = topology.function(name)
    s = function.section
    default_bsfs = tuple(b.section.diameter(b.realm).host for b in topology.of_kind("bsf")
                         if b.network == function.network)
    rest_listen, rest_public = _rest_listen(s)
    return HssConfig(diameter=s.diameter(function.realm), zh_listen=s.address("zh_listen"),
                     rest_listen=rest_listen, store=s.text("store"),
                     tls=DiameterTls.parse(s),
                     ind=s.integer("ind", 0, 0, 31),
                     bsf_hosts=s.strings("bsf_hosts", default_bsfs),
                     rest_token_file=s.opt_text("rest_token_file"), rest_public=rest_public,
                     limits=DiameterLimits.parse(s), http=http_limits(s),
                     capability_source=_capability_source(s))


@contextlib.asynccontextmanager
async def running(cfg: HssConfig, topology: Topology, name: str) -> AsyncIterator[Hss]:
    if cfg.rest_token_file is None:
        raise ConfigError(f"functions.{name}.rest_token_file is missing: the REST "
                          "provisioning API needs a bearer token file (RFC 6750), owner-only")
    rest_token = read_token_file(topology.file(cfg.rest_token_file))
    store = open_subscriber_store(topology.store_url(cfg.store))
    identity = peer_identity(cfg.diameter, cfg.zh_listen.host)
    hss = Hss(store, identity, cfg.ind, frozenset(cfg.bsf_hosts), cfg.capability_source)
    node = DiameterNode(identity, [zh.APPLICATION], **cfg.limits.node_kwargs())
    node.serve(zh.APPLICATION[1], None, hss.handle)
    observed = process_metrics().function(name)
    observed.watch_node(node)
    observed.subscribers = store
    node.listen(cfg.zh_listen.host, cfg.zh_listen.port, ssl_context=cfg.tls.server(topology),
                authorise=peer_check(cfg.tls.enabled, frozenset(cfg.bsf_hosts)),
                applications=[zh.APPLICATION])
    await node.start()
    rest = await http_site(make_app(store, rest_token), cfg.rest_listen, cfg.http,
                           observe=observed.http("rest"))
    log.info("HSS %s: Zh on %s%s, REST on %s", name, cfg.zh_listen,
             " (TLS)" if cfg.tls.enabled else "", cfg.rest_listen)
    if not cfg.tls.enabled:
        log.warning("HSS %s: Zh on plain TCP: a peer is known only by the Origin-Host it "
                    "claims (set tls = true, TS 33.220 §4.3)", name)
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
    diameter=lambda c: DiameterEndpoint(c.zh_listen, c.diameter.host, tls=c.tls.enabled),
    order=0)

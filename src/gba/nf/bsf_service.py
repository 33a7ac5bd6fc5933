"""The BSF as a network function of a topology: its section, Ub on HTTP, Zh and Zn on
one Diameter node, and Zpn beside Zn (GBA Push, :mod:`gba.nf.bsf_zpn`).

Section keys: ``server_name`` (the B-TID domain), ``diameter_host``, ``ub_listen``,
``zn_listen``, ``hss`` (a function name or host:port; ``hss_realm`` for an outside one),
``store``, ``key_lifetime_s``, ``challenge_lifetime_s``, ``tls`` (Zn over mutual TLS) with
``tls_cert``/``tls_key``/``tls_ca``, ``connect`` (more Diameter peers), ``routes`` (realm ->
next-hop hosts) and ``[[...naf]]`` tables, the NAFs authorised on Zn: ``diameter_host``,
``hostnames``, ``gaa_service_ids``, ``naf_group``, ``addresses`` and ``via`` (the agents
its requests may come through). ``[[...visited]]`` tables, the roaming partners this home
BSF answers (docs/roaming.md §2): ``realm``, ``proxies`` (the Origin-Hosts of that network
that may ask directly: its BSF as Zn-Proxy, a GBA proxy, an AAA, a server), ``key``
(``derived``, the default: Ks_(ext)_NAF for the NAF_Id asked; or ``ks``), ``key_lifetime_s``
(a cap from the context's creation), ``naf_domains``, ``send_uss`` (default true) and
``allocate_btid`` (case D, default true); ``aaa_hosts``, the home AAAs that may name a
visited network for a user. ``zn_proxy`` (default false): this BSF is also its network's
Zn-Proxy (TS 33.220 Annex K, roaming case A): its NAFs' key requests for a visitor's
B-TID go to the visitor's home BSF, reached through ``connect`` peers and ``routes``
(``btid_realms`` maps B-TID domains that are not TS 23.003 BSF names to realms).
``aaa`` (default false): the home AAA is co-located with this BSF (roaming case C): it
serves NASREQ AA-Requests of its partners' AAAs (listed in their ``proxies``) itself.
With partners, the BSF also serves Diameter EAP (roaming case D): EAP-AKA runs for its
home AAAs (``aaa_hosts``) or, co-located, for the partners' AAAs (:mod:`gba.nf.bsf_eap`).
``ub_challenges_per_impi_per_min`` and
``ub_challenges_per_source_per_min`` limit new Ub challenges (each spends an SQN at the
HSS; 0 is no limit); with a Redis store they are kept in that Redis, so every BSF sharing
it shares them (:mod:`gba.store.redis.ratelimit`). ``ub_max_inflight`` and
``zn_max_inflight`` (default 256 each; 0 is no limit) bound the Ub and Zn requests in
flight: past them a request is shed at once, Ub with 503 and Retry-After, Zn with
DIAMETER_TOO_BUSY 3004 (:mod:`gba.protocols.shedding`).
``diameter_max_message_size``, ``diameter_max_pending``, ``diameter_max_per_address``: the
Diameter node's caps (:class:`gba.nf.common.DiameterLimits`; default 1 MiB, 64, 16).
``workers`` (default 1): the BSF runs as that many processes behind one Ub and one Zn
port (SO_REUSEPORT), sharing state through the section's Redis ``store`` (required when
above 1; :mod:`gba.nf.workers`).
``mtc`` (default false): the BSF serves MTC device groups (seed 004, docs/mtc.md):
``mtc_subkeys`` (``none``, ``enc``, ``int``, ``both``: the small-data keys derived from
K_IWF and sent to the MTC-IWF), ``mtc_reuse_on`` (``kiwf``, ``enc_int`` or ``off``: when
another device of a group may use the group's vector) and ``mtc_max_reuse`` (default 100).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from gba.clock import utc_now
from gba.config import Address, DiameterNodeConfig, Section, Topology, is_address
from gba.crypto.kdf import DEFAULT_KEY_LIFETIME
from gba.errors import ConfigError
from gba.nf import workers as worker_procs
from gba.nf.aaa import HomeAaa
from gba.nf.bsf import Bsf, NafPolicy, zh_fetcher
from gba.nf.bsf_eap import BsfEap
from gba.nf.bsf_mtc import BsfMtc, FetchMtcVector, MtcPolicy, ReuseOn, mtc_fetcher
from gba.nf.bsf_zpn import BsfZpn
from gba.nf.common import (
    DiameterLimits,
    DiameterTls,
    btid_realms,
    connect_peers,
    http_limits,
    peer_identity,
)
from gba.nf.naf import ZnRoute, zn_fetcher
from gba.nf.registry import DiameterEndpoint, Kind
from gba.nf.services import http_site, purging
from gba.nf.zn_proxy import ZnProxy
from gba.observe.metrics import process_metrics
from gba.protocols import mtc, roaming, zh, zh_mtc, zn, zpn
from gba.protocols.diameter import (
    APP_EAP,
    APP_NASREQ,
    CMD_BOOTSTRAPPING_INFO,
    CMD_GBA_PUSH_INFO,
    PeerIdentity,
)
from gba.protocols.ratelimit import DEFAULT_PER_IMPI, DEFAULT_PER_SOURCE, ChallengeLimits, Rate
from gba.protocols.shedding import DEFAULT_MAX_INFLIGHT, InflightLimit
from gba.protocols.ub_bsf import DEFAULT_CHALLENGE_LIFETIME
from gba.store.factory import open_bsf_store, parse_store_url
from gba.store.redis.ratelimit import RedisChallengeLimits
from gba.transport.diameter import DiameterNode, ask, session_id_factory
from gba.transport.http import SiteLimits

log = logging.getLogger(__name__)

NASREQ = (0, APP_NASREQ)
EAP = (0, APP_EAP)


@dataclass(frozen=True, slots=True)
class NafAuthorisation:
    """A NAF the BSF serves on Zn: its Diameter identity and the NAF host names it may use."""

    diameter_host: str
    hostnames: tuple[str, ...]
    gaa_service_ids: tuple[str, ...] = ()
    naf_group: str | None = None
    """The NAF group whose USSs this NAF receives (TS 29.109 Annex A nafGroup)."""
    addresses: tuple[str, ...] = ()
    """IP addresses this NAF connects from; empty accepts any."""
    via: tuple[str, ...] = ()
    """Diameter agents its requests may come through (RFC 6733 §2.8)."""


@dataclass(frozen=True, slots=True)
class BsfConfig:
    server_name: str
    """The BSF server name: the domain part of every B-TID (TS 33.220 §4.5.2)."""
    diameter: DiameterNodeConfig
    ub_listen: Address
    zn_listen: Address
    hss: str
    hss_realm: str
    store: str
    key_lifetime_s: int
    challenge_lifetime_s: int
    nafs: tuple[NafAuthorisation, ...]
    tls: DiameterTls
    roaming: roaming.RoamingPolicy = field(default_factory=roaming.RoamingPolicy)
    """The roaming partners (``[[visited]]``) and home AAAs (``aaa_hosts``)."""
    zn_proxy: bool = False
    btid_realms: dict[str, str] = field(default_factory=dict)
    aaa: bool = False
    connect: tuple[str, ...] = ()
    routes: dict[str, tuple[str, ...]] | None = None
    ub_challenges_per_impi_per_min: int = DEFAULT_PER_IMPI.count
    ub_challenges_per_source_per_min: int = DEFAULT_PER_SOURCE.count
    ub_max_inflight: int = DEFAULT_MAX_INFLIGHT
    zn_max_inflight: int = DEFAULT_MAX_INFLIGHT
    limits: DiameterLimits = field(default_factory=DiameterLimits)
    http: SiteLimits = field(default_factory=SiteLimits)
    """Its HTTP sites' timeouts and connection cap (``http_*`` keys,
    :func:`gba.nf.common.http_limits`)."""
    """The Diameter node's caps (``diameter_max_*``)."""
    mtc: MtcPolicy | None = None
    """Set when the BSF serves MTC device groups (``mtc = true``)."""
    workers: int = 1
    """Processes serving Ub and Zn behind one port each (:mod:`gba.nf.workers`)."""

    @property
    def zn_tls(self) -> bool:
        return self.tls.enabled


def _seconds(span: timedelta) -> int:
    return int(span.total_seconds())


def mtc_zh(node: DiameterNode, identity: PeerIdentity, hss_realm: str,
           session_id: Callable[[], str]) -> FetchMtcVector:
    """Zh for MTC devices (docs/mtc.md §3): the MAR with the group, the MAA's vector and
    settings, or the refusing code."""

    async def ask_hss(req: zh.VectorRequest, init: mtc.InitRequest
                      ) -> tuple[zh.VectorAnswer, str | None] | int:
        group = zh_mtc.MtcVectorRequest(req.impi, init.group_id, init.key_id,
                                        int(init.capability))
        mar = zh_mtc.build_mtc_mar(identity, hss_realm, session_id(), group, base=req)
        return await ask(node, mar, zh_mtc.parse_mtc_maa)

    return mtc_fetcher(ask_hss)


def _mtc_policy(s: Section) -> MtcPolicy | None:
    if not s.flag("mtc", False):
        return None
    subkeys, reuse_on = s.text("mtc_subkeys", "none"), s.text("mtc_reuse_on", "kiwf")
    try:
        return MtcPolicy(mtc.SubKeys(subkeys), ReuseOn(reuse_on),
                         s.integer("mtc_max_reuse", 100, 1, 100_000))
    except ValueError:
        raise ConfigError(f"{s.where}: mtc_subkeys is none, enc, int or both and "
                          f"mtc_reuse_on kiwf, enc_int or off, not {subkeys!r} and "
                          f"{reuse_on!r}") from None


def parse(topology: Topology, name: str) -> BsfConfig:
    function = topology.function(name)
    s = function.section
    hss = s.text("hss")
    hss_realm = s.text("hss_realm", function.realm)
    if not is_address(hss):
        peer = topology.referenced(hss, f"{s.where}.hss")
        hss_realm = peer.section.diameter(peer.realm).realm
    partners = tuple(_partner(v) for v in s.tables("visited"))
    nafs = naf_authorisations(s)
    return BsfConfig(
        server_name=s.text("server_name"), diameter=s.diameter(function.realm),
        ub_listen=s.address("ub_listen"), zn_listen=s.address("zn_listen"), hss=hss,
        hss_realm=hss_realm, store=s.text("store"),
        key_lifetime_s=s.integer("key_lifetime_s", _seconds(DEFAULT_KEY_LIFETIME), 1,
                                 366 * 86400),
        challenge_lifetime_s=s.integer("challenge_lifetime_s",
                                       _seconds(DEFAULT_CHALLENGE_LIFETIME), 1, 3600),
        nafs=nafs,
        roaming=roaming.RoamingPolicy(partners, frozenset(s.strings("aaa_hosts"))),
        zn_proxy=s.flag("zn_proxy", False), btid_realms=btid_realms(s),
        aaa=s.flag("aaa", False), mtc=_mtc_policy(s),
        tls=DiameterTls.parse(s), connect=s.strings("connect"),
        routes=s.routes(),
        ub_challenges_per_impi_per_min=s.integer(
            "ub_challenges_per_impi_per_min", DEFAULT_PER_IMPI.count, 0, 1_000_000),
        ub_challenges_per_source_per_min=s.integer(
            "ub_challenges_per_source_per_min", DEFAULT_PER_SOURCE.count, 0, 1_000_000),
        ub_max_inflight=s.integer("ub_max_inflight", DEFAULT_MAX_INFLIGHT, 0, 1_000_000),
        zn_max_inflight=s.integer("zn_max_inflight", DEFAULT_MAX_INFLIGHT, 0, 1_000_000),
        limits=DiameterLimits.parse(s), http=http_limits(s),
        workers=_workers(s, topology))


MAX_WORKERS = worker_procs.MAX_WORKERS


def _workers(s: Section, topology: Topology) -> int:
    return worker_procs.parse_count(s, topology)


def _partner(v: Section) -> roaming.VisitedPartner:
    key = v.text("key", roaming.KeyPolicy.DERIVED.value)
    try:
        policy = roaming.KeyPolicy(key)
    except ValueError:
        raise ConfigError(f"{v.where}.key should be 'derived' or 'ks', not {key!r}") from None
    lifetime = v.integer("key_lifetime_s", 0, 0, 366 * 86400)
    return roaming.VisitedPartner(
        realm=v.text("realm"), proxies=frozenset(v.strings("proxies")), key=policy,
        key_lifetime=timedelta(seconds=lifetime) if lifetime else None,
        naf_domains=v.strings("naf_domains"), send_uss=v.flag("send_uss", True),
        allocate_btid=v.flag("allocate_btid", True))


def naf_authorisations(s: Section) -> tuple[NafAuthorisation, ...]:
    """The section's ``[[naf]]`` tables: the NAFs it serves on Zn."""
    return tuple(NafAuthorisation(
        n.text("diameter_host"), n.strings("hostnames", None), n.strings("gaa_service_ids"),
        n.opt_text("naf_group"), n.strings("addresses"), n.strings("via"))
        for n in s.tables("naf"))


def naf_policy(nafs: tuple[NafAuthorisation, ...], tls: bool) -> NafPolicy:
    return NafPolicy({n.diameter_host: frozenset(n.hostnames) for n in nafs},
                     {n.diameter_host: n.naf_group for n in nafs if n.naf_group},
                     {n.diameter_host: frozenset(n.addresses) for n in nafs if n.addresses},
                     require_certificate=tls,
                     agents_by_origin={n.diameter_host: frozenset(n.via) for n in nafs})


def policy_for(cfg: BsfConfig) -> NafPolicy:
    return naf_policy(cfg.nafs, cfg.tls.enabled)


@contextlib.asynccontextmanager
async def running(cfg: BsfConfig, topology: Topology, name: str, worker: int = 0
                  ) -> AsyncIterator[Bsf]:
    """Serve the BSF; with ``workers`` > 1, *worker* 0 starts the others and stops them
    as it stops, and every worker binds its ports with SO_REUSEPORT."""
    store_url = topology.store_url(cfg.store)
    store = open_bsf_store(store_url)
    per_impi = Rate(cfg.ub_challenges_per_impi_per_min)
    per_source = Rate(cfg.ub_challenges_per_source_per_min)
    location = parse_store_url(store_url)
    shared = (RedisChallengeLimits(location.target, per_impi, per_source)
              if location.backend == "redis" else None)
    identity = peer_identity(cfg.diameter, cfg.zn_listen.host)
    eap = bool(cfg.roaming.partners)  # case D: EAP-AKA for the partners' servers
    served = [zn.APPLICATION, zpn.APPLICATION, *([NASREQ] if cfg.aaa else []),
              *([EAP] if eap else [])]
    node = DiameterNode(identity, [zh.APPLICATION, *served], routes=cfg.routes,
                        **cfg.limits.node_kwargs())
    connect_peers(node, topology, [cfg.hss, *cfg.connect], cfg.tls, f"functions.{name}")
    policy = policy_for(cfg)
    realm = topology.function(name).realm
    proxy = None
    if cfg.zn_proxy:
        proxy = ZnProxy(identity, realm, zn_fetcher(
            node, identity, realm, session_id_factory(identity.origin_host), cfg.btid_realms,
            ZnRoute.HOME), cfg.btid_realms)
    bsf = Bsf(store, zh_fetcher(node, identity, cfg.hss_realm,
                                session_id_factory(identity.origin_host)),
              identity, topology.function(name).realm, cfg.server_name, policy,
              timedelta(seconds=cfg.key_lifetime_s),
              timedelta(seconds=cfg.challenge_lifetime_s),
              ub_limits=shared or ChallengeLimits(per_impi, per_source),
              ub_inflight=InflightLimit(cfg.ub_max_inflight),
              zn_inflight=InflightLimit(cfg.zn_max_inflight),
              roaming_policy=cfg.roaming, proxy=proxy,
              mtc=BsfMtc(store, mtc_zh(node, identity, cfg.hss_realm,
                                       session_id_factory(identity.origin_host)), cfg.mtc,
                         utc_now, timedelta(seconds=cfg.key_lifetime_s))
              if cfg.mtc is not None else None)
    node.serve(zn.APPLICATION[1], CMD_BOOTSTRAPPING_INFO, bsf.zn)
    node.serve(zpn.APPLICATION[1], CMD_GBA_PUSH_INFO, BsfZpn(bsf).gpir)  # GBA Push
    if cfg.aaa:
        home_aaa = HomeAaa(identity, bsf.aaa_key, bsf.aaa_peer_allowed)
        node.serve(APP_NASREQ, None, home_aaa.aa)
    if eap:
        node.serve(APP_EAP, None, BsfEap(bsf, colocated_aaa=cfg.aaa).der)
    observed = process_metrics().function(name)
    observed.watch_node(node)
    observed.contexts = store
    shared_port = cfg.workers > 1
    node.listen(cfg.zn_listen.host, cfg.zn_listen.port, ssl_context=cfg.tls.server(topology),
                authorise=bsf.check_peer, applications=served, reuse_port=shared_port)
    await node.start()
    ub = bsf.ub_app()
    answered = [0]
    if shared_port:
        ub.middlewares.append(worker_procs.counting(answered))
    ub_runner = await http_site(ub, cfg.ub_listen, cfg.http, observe=observed.http("ub"),
                                reuse_port=shared_port)
    children: list[asyncio.subprocess.Process] = []
    try:
        if shared_port and worker == 0:
            children = await worker_procs.start(topology.path, name, cfg.workers)
    except BaseException:
        await ub_runner.cleanup()
        await node.close()
        await store.close()
        if shared is not None:
            await shared.close()
        raise
    label = f" worker {worker} of {cfg.workers}" if shared_port else ""
    log.info("BSF %s%s (%s): Ub on http://%s, Zn on %s%s, HSS %s", name, label,
             cfg.server_name, cfg.ub_listen, cfg.zn_listen,
             " (TLS)" if cfg.tls.enabled else "", cfg.hss)
    if worker:
        worker_procs.ready()
    watcher = asyncio.ensure_future(worker_procs.watch(name, children)) if children else None
    try:
        async with purging(store, "BSF"):
            yield bsf
    finally:
        stopping = None
        if watcher is not None:
            watcher.cancel()
            stopping = asyncio.ensure_future(worker_procs.stop(children))
        await ub_runner.cleanup()
        if shared_port:
            log.info("BSF %s%s (pid %d) stops: answered %d Ub requests", name, label,
                     os.getpid(), answered[0])
        await node.close()
        await store.close()
        if shared is not None:
            await shared.close()
        if stopping is not None:
            await stopping


KIND = Kind(
    name="bsf", parse=parse, run=running,
    endpoints=lambda c: {"ub": c.ub_listen, "zn": c.zn_listen},
    listen_keys=("ub_listen", "zn_listen"),
    diameter=lambda c: DiameterEndpoint(c.zn_listen, c.diameter.host, tls=c.tls.enabled),
    peers=lambda c: {"hss": (c.hss,), "connect": c.connect},
    order=10)

"""The NAF as a network function of a topology: its section, Ua (Digest, PSK-TLS) on
sockets, Zn on a Diameter node.

Section keys: ``fqdn``, ``diameter_host``, ``http_listen`` (Ua Digest), ``psk_tls_listen``
(Ua PSK-TLS), ``https_listen`` (optional: Ua Digest inside server-authenticated TLS 1.2,
TS 33.222 §5.3, NAF_Id ending 01 00 01 yy zz, TS 33.220 H.3) with ``https_cert`` and
``https_key`` (default: the function's lab certificate, ``zn-tls/<name>-cert.pem``, the
same files as ``tls_cert``/``tls_key``) and ``https_ciphers`` (an OpenSSL list),
``hostnames`` (more names it serves, chosen by SNI on PSK-TLS, TS 24.109 Annex F.3),
``require_gba_token`` (refuse a Ua request whose User-Agent lacks ``3gpp-gba`` with 403;
default false: challenge it anyway, as no spec text says otherwise -- UNVERIFIED),
``bsf`` (a function name or host:port: its default Diameter route;
``bsf_realm`` for an outside one), ``store``, ``gaa_service_id``, ``tls`` with
``tls_cert``/``tls_key``/``tls_ca``, ``connect`` (more Diameter peers, e.g. an agent),
``routes`` (realm -> next-hop hosts) and ``btid_realms`` (B-TID domain -> home realm, when
the domain is not a TS 23.003 BSF address). ``ua_max_inflight`` (default 256; 0 is no
limit) bounds the Ua requests in flight, each Ua endpoint separately (Digest, on HTTP and
HTTPS, and PSK-TLS each have their own count): past it a request is answered 503 with
Retry-After at once (:mod:`gba.protocols.shedding`).
``psk_tls_max_pending`` and ``psk_tls_max_pending_per_source`` (default 512 and 64): the
PSK-TLS handshakes pending at once, in all and from one source
(:class:`gba.transport.psk_tls.PskTlsServer`).
``aaa`` (an AAA function: the server's keys come from it over NASREQ, the B-TID as
the user name, roaming case C; ``bsf`` is then optional), ``eap`` (an AAA function for a
``bmsc`` that does not read B-TIDs: EAP-AKA with the permanent identity through it, case
D) with ``subsequent_identity`` (``btid`` or ``permanent``: the identity the UE uses
after it), and
``zn_route`` (``default``, ``home``, ``local`` or ``proxy``, :class:`gba.nf.naf.ZnRoute`)
with ``zn_proxy`` (the Zn-Proxy function for ``proxy``: a GBA proxy or an AAA, also
connected as a peer) and ``roaming_case`` (the server serves roaming users:
refuses an unreachable home network with 403 and writes a charging record per key,
docs/roaming.md §3; the value names the case in the record).
``diameter_max_message_size``, ``diameter_max_pending``, ``diameter_max_per_address``: the
Zn Diameter node's caps (:class:`gba.nf.common.DiameterLimits`; default 1 MiB, 64, 16).
``workers`` (default 1): the NAF runs as that many processes behind one Ua port each
(``http_listen``, ``psk_tls_listen``, ``https_listen``: SO_REUSEPORT), sharing its Zn key
cache and Digest nonce counts through the section's Redis ``store`` (required when above
1), each with its own Zn Diameter node of the same Origin-Host (:mod:`gba.nf.workers`).
Only the ``naf`` kind has workers: the kinds built on a NAF (``bmsc``, ``push_naf``,
``mtc_iwf``) refuse ``workers`` other than 1 (ConfigError).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace

from aiohttp import web

from gba.config import Address, DiameterNodeConfig, Topology, is_address
from gba.errors import ConfigError
from gba.nf import workers as worker_procs
from gba.nf.aaa import nasreq_fetcher
from gba.nf.aaa_service import EAP, NASREQ
from gba.nf.bmsc import Bmsc, MbmsConfig
from gba.nf.common import (
    DiameterLimits,
    DiameterTls,
    btid_realms,
    connect_peers,
    http_limits,
    peer_identity,
)
from gba.nf.eap_broker import EapBroker
from gba.nf.naf import Naf, NafKeys, NonceCountCheck, Roaming, ZnRoute, zn_fetcher
from gba.nf.naf_psk import (
    DEFAULT_PSK_TLS_MAX_PENDING,
    DEFAULT_PSK_TLS_MAX_PENDING_PER_SOURCE,
    start_psk_tls,
)
from gba.nf.registry import Kind
from gba.nf.services import http_site, purging
from gba.observe.metrics import process_metrics
from gba.protocols import zn
from gba.protocols.diameter import ExperimentalResultCode
from gba.protocols.shedding import DEFAULT_MAX_INFLIGHT, InflightLimit
from gba.protocols.ua import NonceMint
from gba.store.factory import open_naf_store
from gba.store.naf import NafStore
from gba.store.redis import RedisNafStore
from gba.transport.diameter import DiameterNode, session_id_factory
from gba.transport.http import SiteLimits, https_server_context

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
    https_listen: Address | None = None
    https_cert: str = ""
    https_key: str = ""
    https_ciphers: str | None = None
    require_gba_token: bool = False
    hostnames: tuple[str, ...] = ()
    """More host names this NAF serves; PSK-TLS picks the NAF_Id's FQDN by SNI (TS 24.109
    Annex F.3). The BSF must authorise them for this NAF (its ``hostnames``)."""
    ua_max_inflight: int = DEFAULT_MAX_INFLIGHT
    """Ua requests in flight on each Ua endpoint (Digest; PSK-TLS), separately."""
    psk_tls_max_pending: int = DEFAULT_PSK_TLS_MAX_PENDING
    """PSK-TLS handshakes pending at once."""
    psk_tls_max_pending_per_source: int = DEFAULT_PSK_TLS_MAX_PENDING_PER_SOURCE
    """PSK-TLS handshakes pending at once from one source (IPv4 address or IPv6 /64)."""
    zn_route: ZnRoute = ZnRoute.DEFAULT
    zn_proxy: str | None = None
    """The Zn-Proxy function (route ``proxy``)."""
    zn_proxy_host: str | None = None
    """Its Diameter identity (Destination-Host of requests for visitors)."""
    roaming_case: str | None = None
    aaa: str | None = None
    """The AAA its keys come from over NASREQ (roaming case C), instead of a BSF."""
    aaa_realm: str = ""
    eap: str | None = None
    """The AAA a server that does not read B-TIDs asks with Diameter EAP (case D)."""
    subsequent_identity: str = "btid"
    """Case D: the identity the UE uses after EAP-AKA, ``btid`` or ``permanent``."""
    mbms: MbmsConfig | None = None
    """Set for the ``bmsc`` kind: the BM-SC's MBMS interfaces (:mod:`gba.nf.bmsc`)."""
    limits: DiameterLimits = field(default_factory=DiameterLimits)
    http: SiteLimits = field(default_factory=SiteLimits)
    """Its HTTP sites' timeouts and connection cap (``http_*`` keys,
    :func:`gba.nf.common.http_limits`)."""
    """The Zn Diameter node's caps (``diameter_max_*``)."""
    workers: int = 1
    """Processes serving Ua behind one port each (:mod:`gba.nf.workers`); 1 for the kinds
    built on a NAF."""

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


class ExtendsNaf:
    """What the lab reads of a configuration built on a NAF's (``naf``): its FQDN,
    Diameter identity and TLS files (certificates, lab.json)."""

    __slots__ = ()
    naf: NafConfig

    @property
    def fqdn(self) -> str:
        return self.naf.fqdn

    @property
    def diameter(self) -> DiameterNodeConfig:
        return self.naf.diameter

    @property
    def tls(self) -> DiameterTls:
        return self.naf.tls


def parse(topology: Topology, name: str) -> NafConfig:
    function = topology.function(name)
    s = function.section
    aaa = s.opt_text("aaa")
    eap = s.opt_text("eap")
    if aaa is not None and eap is not None:
        raise ConfigError(f"{s.where}: aaa (NASREQ) and eap (Diameter EAP) exclude each other")
    aaa_realm = function.realm
    if aaa or eap:
        found = topology.referenced(aaa or eap or "", f"{s.where}.{'aaa' if aaa else 'eap'}")
        aaa_realm = found.realm
    subsequent = s.text("subsequent_identity", "btid")
    if subsequent not in ("btid", "permanent"):
        raise ConfigError(f"{s.where}.subsequent_identity should be 'btid' or 'permanent', "
                          f"not {subsequent!r}")
    bsf = s.text("bsf") if aaa is None and eap is None else s.text("bsf", "")
    bsf_realm = s.text("bsf_realm", function.realm)
    if bsf and not is_address(bsf):
        peer = topology.referenced(bsf, f"{s.where}.bsf")
        # a ``remote`` function (another operator's BSF) names its realm as ``realm``
        bsf_realm = peer.section.text("realm", peer.section.diameter(peer.realm).realm)
    tls = DiameterTls.parse(s)
    https = s.address("https_listen") if "https_listen" in s.data else None
    route_text = s.text("zn_route", ZnRoute.DEFAULT.value)
    try:
        route = ZnRoute(route_text)
    except ValueError:
        raise ConfigError(f"{s.where}.zn_route should be one of "
                          f"{', '.join(r.value for r in ZnRoute)}, not {route_text!r}") from None
    proxy = s.opt_text("zn_proxy")
    proxy_host = None
    if route is ZnRoute.PROXY:
        if proxy is None:
            raise ConfigError(f"{s.where}.zn_proxy is needed with zn_route = 'proxy'")
        found = topology.referenced(proxy, f"{s.where}.zn_proxy")
        proxy_host = found.section.diameter(found.realm).host
    return NafConfig(
        fqdn=s.text("fqdn"), diameter=s.diameter(function.realm),
        http_listen=s.address("http_listen"), psk_tls_listen=s.address("psk_tls_listen"),
        bsf=bsf, bsf_realm=bsf_realm, store=s.text("store"),
        tls=tls, gaa_service_id=s.opt_text("gaa_service_id"),
        connect=s.strings("connect"), routes=s.routes(),
        btid_realms=btid_realms(s),
        https_listen=https, https_cert=s.text("https_cert", tls.cert),
        https_key=s.text("https_key", tls.key), https_ciphers=s.opt_text("https_ciphers"),
        require_gba_token=s.flag("require_gba_token", False),
        hostnames=s.strings("hostnames"),
        ua_max_inflight=s.integer("ua_max_inflight", DEFAULT_MAX_INFLIGHT, 0, 1_000_000),
        psk_tls_max_pending=s.integer("psk_tls_max_pending", DEFAULT_PSK_TLS_MAX_PENDING,
                                      1, 1_000_000),
        psk_tls_max_pending_per_source=s.integer(
            "psk_tls_max_pending_per_source", DEFAULT_PSK_TLS_MAX_PENDING_PER_SOURCE,
            1, 1_000_000),
        zn_route=route, zn_proxy=proxy, zn_proxy_host=proxy_host,
        roaming_case=s.opt_text("roaming_case"), aaa=aaa, aaa_realm=aaa_realm, eap=eap,
        subsequent_identity=subsequent,
        limits=DiameterLimits.parse(s), http=http_limits(s), workers=_workers(topology, name))


def _workers(topology: Topology, name: str) -> int:
    function = topology.function(name)
    if function.kind == "naf":
        return worker_procs.parse_count(function.section, topology)
    worker_procs.refuse(function.section, function.kind)  # bmsc, push_naf, mtc_iwf
    return 1


def zn_node(cfg: NafConfig, topology: Topology, name: str = "naf",
            more_apps: tuple[tuple[int, int], ...] = ()) -> DiameterNode:
    """The NAF's Diameter node: its BSF as default route, more peers and routes as
    configured; mutual TLS where the peer's listener has it. *more_apps*: more
    applications it announces (a Push-NAF's Zpn)."""
    identity = peer_identity(cfg.diameter, cfg.http_listen.host)
    apps = [zn.APPLICATION, *more_apps, *([NASREQ] if cfg.aaa else []),
            *([EAP] if cfg.eap else [])]
    node = DiameterNode(identity, apps, routes=cfg.routes, **cfg.limits.node_kwargs())
    extra = [p for p in (cfg.zn_proxy, cfg.aaa, cfg.eap) if p and p not in cfg.connect]
    connect_peers(node, topology, [*([cfg.bsf] if cfg.bsf else []), *cfg.connect, *extra],
                  cfg.tls, f"functions.{name}", default_route=cfg.aaa or cfg.eap or cfg.bsf)
    return node


async def _shared_nonces(store: NafStore) -> tuple[NonceMint, NonceCountCheck]:
    """Workers behind one port: a nonce one issued must verify at every other, so they
    share the mint's secret and count nonces in the store (:mod:`gba.nf.ua_memory`)."""
    if not isinstance(store, RedisNafStore):  # parse_count already demands redis://
        raise ConfigError("NAF workers share their Digest nonces through a Redis store")
    return NonceMint(await store.nonce_secret()), store.check_nonce_count


@contextlib.asynccontextmanager
async def running(cfg: NafConfig, topology: Topology, name: str, worker: int = 0
                  ) -> AsyncIterator[Naf]:
    """Serve the NAF; with ``workers`` > 1, *worker* 0 starts the others and stops them
    as it stops, and every worker binds its Ua ports with SO_REUSEPORT."""
    store = open_naf_store(topology.store_url(cfg.store))
    node = zn_node(cfg, topology, name)
    await node.start()
    sessions = session_id_factory(node.identity.origin_host)
    fetch = (nasreq_fetcher(node, node.identity, cfg.aaa_realm, sessions) if cfg.aaa
             else unreadable_btid if cfg.eap
             else zn_fetcher(node, node.identity, cfg.bsf_realm, sessions, cfg.btid_realms,
                             cfg.zn_route, cfg.zn_proxy_host))
    keys = NafKeys(store, fetch,
                   gaa_service_id=cfg.gaa_service_id,
                   roaming=(Roaming(cfg.roaming_case, cfg.fqdn, cfg.btid_realms or {})
                            if cfg.roaming_case else None))
    nonces, counts = await _shared_nonces(store) if cfg.workers > 1 else (None, None)
    naf = Naf(cfg.fqdn, keys, nonces, require_gba_token=cfg.require_gba_token,
              ua_inflight=InflightLimit(cfg.ua_max_inflight), nonce_counts=counts)
    observed = process_metrics().function(name)
    observed.watch_node(node)
    observed.keys = keys
    broker = (EapBroker(node, node.identity, cfg.aaa_realm, cfg.fqdn, cfg.subsequent_identity)
              if cfg.eap else None)
    bmsc = Bmsc(naf, cfg.mbms, broker=broker) if cfg.mbms is not None else None
    if bmsc is not None:
        await bmsc.start(cfg.http_listen.host)
    shared_port = cfg.workers > 1
    digest_answered, psk_answered = [0], [0]
    app = bmsc.app() if bmsc is not None else naf.ua_app()
    if shared_port:
        app.middlewares.append(worker_procs.counting(digest_answered))
    http = await http_site(app, cfg.http_listen, cfg.http, observe=observed.http("ua"),
                           reuse_port=shared_port)
    psk = None
    children: list[asyncio.subprocess.Process] = []
    try:
        if cfg.https_listen is not None:
            # the same application on a second site: Digest inside TLS 1.2 (TS 33.222 §5.3)
            context = https_server_context(topology.file(cfg.https_cert),
                                           topology.file(cfg.https_key), cfg.https_ciphers)
            await web.TCPSite(http, cfg.https_listen.host, cfg.https_listen.port,
                              ssl_context=context,
                              reuse_port=True if shared_port else None).start()
            log.info("NAF %s: Ua Digest on https://%s (TLS 1.2)", name, cfg.https_listen)
        # PSK-TLS has its own count: a Digest flood does not shed PSK-TLS, nor the reverse
        psk_observe = observed.http("ua_psk")
        psk = await start_psk_tls(
            naf, cfg.psk_tls_listen, hostnames=cfg.hostnames,
            max_pending=cfg.psk_tls_max_pending,
            max_pending_per_source=cfg.psk_tls_max_pending_per_source,
            inflight=InflightLimit(cfg.ua_max_inflight),
            observe=(worker_procs.counting_observer(psk_answered, psk_observe)
                     if shared_port else psk_observe),
            on_handshake=observed.psk_handshake, reuse_port=shared_port)
        if shared_port and worker == 0:
            children = await worker_procs.start(topology.path, name, cfg.workers)
    except BaseException:
        if psk is not None:
            await psk.close()
        await http.cleanup()
        if bmsc is not None:
            bmsc.close()
        await node.close()
        await store.close()
        raise
    label = f" worker {worker} of {cfg.workers}" if shared_port else ""
    log.info("NAF %s%s (%s): Ua Digest on http://%s, PSK-TLS on %s, BSF %s", name, label,
             cfg.fqdn, cfg.http_listen, cfg.psk_tls_listen, cfg.bsf)
    if worker:
        worker_procs.ready()
    watcher = asyncio.ensure_future(worker_procs.watch(name, children)) if children else None
    try:
        async with purging(store, "NAF"):
            yield naf
    finally:
        stopping = None
        if watcher is not None:
            watcher.cancel()
            stopping = asyncio.ensure_future(worker_procs.stop(children))
        await psk.close()
        await http.cleanup()
        if shared_port:
            log.info("NAF %s%s (pid %d) stops: answered %d Ua Digest and %d PSK-TLS "
                     "requests", name, label, os.getpid(), digest_answered[0],
                     psk_answered[0])
        if bmsc is not None:
            bmsc.close()
        await node.close()
        await store.close()
        if stopping is not None:
            await stopping


async def unreadable_btid(_req: zn.KeyRequest) -> int:
    """The key source of a server that does not read B-TIDs (case D): none is known."""
    return int(ExperimentalResultCode.TRANSACTION_IDENTIFIER_INVALID)


def parse_bmsc(topology: Topology, name: str) -> NafConfig:
    """A ``bmsc`` section: a NAF's keys, plus ``mbms_services`` (the user services it
    offers; default ``["lab-tv"]``) and ``mbms_stream`` (the broadcast's texts)."""
    s = topology.function(name).section
    default = MbmsConfig()
    return replace(parse(topology, name), mbms=MbmsConfig(
        services=s.strings("mbms_services", default.services),
        stream=s.strings("mbms_stream", default.stream)))


KIND = Kind(
    name="naf", parse=parse, run=running,
    endpoints=lambda c: {"http": c.http_listen, "psk_tls": c.psk_tls_listen,
                         **({"https": c.https_listen} if c.https_listen else {})},
    listen_keys=("http_listen", "psk_tls_listen", "https_listen"),
    peers=lambda c: {"bsf": (c.bsf,) if c.bsf else (), "connect": c.connect,
                     **({"zn_proxy": (c.zn_proxy,)} if c.zn_proxy else {}),
                     **({"aaa": (c.aaa,)} if c.aaa else {})},
    order=30)

BMSC_KIND = replace(KIND, name="bmsc", parse=parse_bmsc)
"""The BM-SC of MBMS (TS 33.246): a NAF whose key is the MUK, with MBMS registration,
MSK delivery and the broadcast (:mod:`gba.nf.bmsc`)."""

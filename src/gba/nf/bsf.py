"""The BSF: Ub (HTTP Digest AKA) towards the UE, Zh towards the HSS, Zn towards NAFs.

TS 33.220 §4.5.2 (bootstrapping procedure) and §4.5.3 (use of the bootstrapped keys),
TS 24.109 §4 (Ub over HTTP), TS 29.109 (Zh, Zn). Each Ub request enters
:meth:`Bsf.ub` (which drives the sans-IO machine of :mod:`gba.protocols.ub_bsf`), each
Zn request :meth:`Bsf.zn`; vectors come from the HSS through
``fetch_vector`` (a Zh Diameter client in production, anything awaitable in tests).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from aiohttp import web

from gba.clock import Clock, utc_now
from gba.crypto import kdf
from gba.errors import CodecError, GbaError
from gba.nf.bsf_mtc import BsfMtc
from gba.nf.zn_proxy import ZnProxy
from gba.protocols import guss as guss_xml
from gba.protocols import roaming, zh, zh_mtc, zn, zn_proxy
from gba.protocols.actions import (
    AdmitChallenge,
    NeedVector,
    Respond,
    StoreChallenge,
    StoreContext,
    TakeChallenge,
)
from gba.protocols.diameter import (
    CMD_BOOTSTRAPPING_INFO,
    ExperimentalResultCode,
    Message,
    PeerIdentity,
    ResultCode,
)
from gba.protocols.diameter.capabilities import codec_error_answer, error_answer
from gba.protocols.diameter.dictionary import ORIGIN_REALM
from gba.protocols.diameter.routing import route_record
from gba.protocols.ratelimit import ChallengeLimits
from gba.protocols.shedding import InflightLimit, busy_response
from gba.protocols.ub_bsf import DEFAULT_CHALLENGE_LIFETIME, BsfUbAction, BsfUbConfig, BsfUbExchange
from gba.protocols.zh_mtc import MtcResultCode
from gba.protocols.zn import KeyAnswer, KeyRequest
from gba.store.base import BsfStore
from gba.transport.diameter import DiameterNode, ask
from gba.transport.http import read_request, to_web_response
from gba.transport.tls import certificate_names

log = logging.getLogger(__name__)

class SharedChallengeLimits(Protocol):
    """Ub challenge limits kept outside this process (all BSFs of a Redis share them:
    :class:`gba.store.redis.ratelimit.RedisChallengeLimits`)."""

    async def admit(self, impi: str, source: str | None, now: datetime) -> float | None: ...


FetchVector = Callable[[zh.VectorRequest], Awaitable[zh.VectorAnswer | int]]
"""Zh: a vector, or the Diameter result code that refused it."""


@dataclass(frozen=True, slots=True)
class NafPolicy:
    """Which NAFs may ask for keys on Zn (TS 33.220 §4.5.3: the BSF checks authorisation)."""

    hostnames_by_origin: dict[str, frozenset[str]]
    group_by_origin: dict[str, str] = field(default_factory=dict)
    addresses_by_origin: dict[str, frozenset[str]] = field(default_factory=dict)
    require_certificate: bool = False
    """With Zn over mutual TLS: the NAF's certificate must name its Origin-Host."""
    agents_by_origin: dict[str, frozenset[str]] = field(default_factory=dict)
    """The Diameter agents (relays, proxies) a NAF's requests may come through."""

    def check_peer(self, origin: str, cert: dict[str, Any] | None, address: str
                   ) -> str | None:
        """Who may open Zn at all (RFC 6733 §13; TS 33.220 §4.3: Zn is protected): a
        configured NAF or an agent configured for one, named by its certificate."""
        agents = set().union(*self.agents_by_origin.values())
        if origin not in self.hostnames_by_origin and origin not in agents:
            return f"Origin-Host {origin!r} is neither a configured NAF nor its agent"
        if self.require_certificate and origin not in certificate_names(cert):
            return f"TLS certificate does not name Origin-Host {origin!r}"
        allowed = self.addresses_by_origin.get(origin)
        if allowed and address not in allowed:
            return f"Origin-Host {origin!r} connects from {address}, not a configured address"
        return None

    def allows(self, origin_host: str, naf_fqdn: str) -> bool:
        return naf_fqdn in self.hostnames_by_origin.get(origin_host, frozenset())

    def route_refusal(self, origin_host: str, route: list[str], peer: str) -> str | None:
        """Whether a request of *origin_host* may arrive by this route: straight from the
        NAF, or through agents configured for it. The agents are every Route-Record after
        the first, which names the NAF itself (RFC 6733 §6.1.9), and the peer that
        delivered it; a NAF that is not the first hop is a forgery."""
        if not route:
            return None if peer == origin_host else (
                f"Origin-Host {origin_host!r} arrived from peer {peer!r} without Route-Record")
        if route[0] != origin_host:
            return f"Route-Record starts at {route[0]!r}, not Origin-Host {origin_host!r}"
        allowed = self.agents_by_origin.get(origin_host, frozenset())
        strangers = [hop for hop in [*route[1:], peer] if hop not in allowed]
        if strangers:
            return f"agent {strangers[0]!r} is not configured for NAF {origin_host!r}"
        return None

    def naf_group(self, origin_host: str) -> str | None:
        return self.group_by_origin.get(origin_host)


def naf_refusal(policy: NafPolicy, request: Message, req: KeyRequest, peer: str
                ) -> str | None:
    """Why a configured NAF may not have this key: it came by a route not configured
    for it, or names a NAF-Id host the NAF may not use (TS 33.220 §4.5.3); None if
    it may."""
    refusal = policy.route_refusal(req.origin_host, route_record(request), peer)
    fqdn = roaming.naf_fqdn(req.naf_id)
    if refusal is None and not policy.allows(req.origin_host, fqdn):
        refusal = f"not authorised for NAF-Id host {fqdn!r}"
    return refusal


class Bsf:
    def __init__(self, store: BsfStore, fetch_vector: FetchVector, identity: PeerIdentity,
                 realm: str, server_name: str, policy: NafPolicy, key_lifetime: timedelta,
                 challenge_lifetime: timedelta = DEFAULT_CHALLENGE_LIFETIME,
                 clock: Clock = utc_now,
                 ub_limits: ChallengeLimits | SharedChallengeLimits | None = None,
                 ub_inflight: InflightLimit | None = None,
                 zn_inflight: InflightLimit | None = None,
                 roaming_policy: roaming.RoamingPolicy | None = None,
                 proxy: ZnProxy | None = None, mtc: BsfMtc | None = None) -> None:
        self.store = store
        self.mtc = mtc
        """Set when this BSF serves MTC device groups (seed 004, :mod:`gba.nf.bsf_mtc`)."""
        self.zn_proxy = proxy
        """Set when this BSF is also its network's Zn-Proxy (TS 33.220 Annex K, case A):
        a key request of its NAFs for a visitor's B-TID goes to the visitor's home BSF."""
        self.roaming = roaming_policy or roaming.RoamingPolicy()
        """The roaming partners this home BSF serves (docs/roaming.md §2)."""
        self.fetch_vector = fetch_vector
        self.identity = identity
        self.realm = realm
        self.server_name = server_name
        self.policy = policy
        self.key_lifetime = key_lifetime
        self.challenge_lifetime = challenge_lifetime
        self.clock = clock
        self.ub_limits = ub_limits or ChallengeLimits()
        """New Ub challenges per IMPI and per source: this process's own counts, or
        counts shared with the other BSFs of a Redis."""
        self.ub_inflight = ub_inflight or InflightLimit()
        self.zn_inflight = zn_inflight or InflightLimit()
        """Ub and Zn requests in flight; past either limit a request is shed unread
        (:mod:`gba.protocols.shedding`)."""
        self.decoy_key = os.urandom(32)
        self.decoy_amf = b"\x00\x00"
        """The AMF of the last real vector: what a decoy AUTN shows (TS 33.102 §6.3.2)."""

    # ------------------------------------------------------------------ Ub

    async def ub(self, request: web.Request) -> web.Response:
        """One Ub request (TS 24.109 §4.3-§4.5): the machine of
        :mod:`gba.protocols.ub_bsf` decides, this awaits the store and Zh for it.
        Past :attr:`ub_inflight` the request is answered 503 with Retry-After unread."""
        if not self.ub_inflight.try_enter():
            return to_web_response(busy_response("BSF"))
        try:
            return await self._ub(request)
        finally:
            self.ub_inflight.leave()

    async def _ub(self, request: web.Request) -> web.Response:
        config = BsfUbConfig(self.realm, self.server_name, self.key_lifetime,
                             self.challenge_lifetime, decoy_key=self.decoy_key,
                             decoy_amf=self.decoy_amf,
                             mtc_subkeys=self.mtc.policy.subkeys.value if self.mtc else "none")
        exchange = BsfUbExchange(config, await read_request(request), self.clock(),
                                 peer=request.remote)
        action = exchange.start()
        while not isinstance(action, Respond):
            action = await self._ub_step(exchange, action)
        return to_web_response(action.response)

    async def _ub_step(self, exchange: BsfUbExchange,
                       action: TakeChallenge | AdmitChallenge | NeedVector | StoreChallenge
                       | StoreContext) -> BsfUbAction:
        if isinstance(action, TakeChallenge):
            pending = await self.store.take_challenge(action.nonce, action.now)
            return exchange.challenge_taken(pending)
        if isinstance(action, AdmitChallenge):
            if isinstance(self.ub_limits, ChallengeLimits):
                wait = self.ub_limits.admit(action.impi, action.source, action.now)
            else:
                try:
                    wait = await self.ub_limits.admit(action.impi, action.source, action.now)
                except GbaError as exc:
                    return exchange.limits_unavailable(str(exc))
            return exchange.challenge_admitted(wait)
        if isinstance(action, NeedVector) and action.mtc is not None:
            if self.mtc is None:  # this BSF serves no MTC groups
                return exchange.vector_received(int(MtcResultCode.UNKNOWN_GROUP))
            try:
                vector, settings = await self.mtc.vector(action.request, action.mtc)
            except GbaError as exc:
                return exchange.vector_unavailable(str(exc))
            return exchange.vector_received(vector, settings)
        if isinstance(action, NeedVector):
            try:
                answer = await self.fetch_vector(action.request)
            except GbaError as exc:
                return exchange.vector_unavailable(str(exc))
            if isinstance(answer, zh.VectorAnswer) and len(answer.autn) == 16:
                self.decoy_amf = answer.autn[6:8]
            return exchange.vector_received(answer)
        if isinstance(action, StoreChallenge):
            await self.store.put_challenge(action.challenge)
            return exchange.challenge_stored()
        await self.store.put_context(action.context)
        return exchange.context_stored()

    def ub_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.ub)
        return app

    # ------------------------------------------------------------------ Zn

    async def zn(self, request: Message, peer: str) -> Message:
        """One Zn request (TS 29.109 §4.4; TS 33.220 §4.5.3). A BIR with an M-bit AVP
        the BIR does not have is answered 5001 with it in Failed-AVP (RFC 6733 §4.1,
        §7.5; :func:`gba.protocols.zn.parse_bir`). Past :attr:`zn_inflight` the request
        is answered DIAMETER_TOO_BUSY 3004 unparsed (RFC 6733 §7.1.3)."""
        if not self.zn_inflight.try_enter():
            return error_answer(request, self.identity, ResultCode.TOO_BUSY)
        try:
            return await self._zn(request, peer)
        finally:
            self.zn_inflight.leave()

    async def _zn(self, request: Message, peer: str) -> Message:
        if request.command_code != CMD_BOOTSTRAPPING_INFO:
            return error_answer(request, self.identity, ResultCode.COMMAND_UNSUPPORTED)
        try:
            req = zn.parse_bir(request)
        except CodecError as exc:
            log.warning("Zn BIR from %s malformed: %s", peer, exc,
                        extra={"interface": "zn", "peer": peer})
            return codec_error_answer(request, self.identity, exc)
        fqdn = roaming.naf_fqdn(req.naf_id)
        naf = req.origin_host
        partner: roaming.VisitedPartner | None = None
        if naf in self.policy.hostnames_by_origin:
            refusal = naf_refusal(self.policy, request, req, peer)
            if refusal is None and self.zn_proxy is not None:
                decision = self.zn_proxy.decide(req)
                if not isinstance(decision, zn_proxy.AnswerLocally):
                    return await self.zn_proxy.answer(request, req, decision)
        else:
            partner, refusal = self._partner(request, req, peer, fqdn)
        if refusal is not None:
            log.warning("Zn: NAF %s (via %s) refused: %s", naf, peer, refusal,
                        extra={"interface": "zn", "btid": req.btid, "peer": naf,
                               "result": int(ExperimentalResultCode.NOT_AUTHORIZED)})
            return zn.build_bia_error(request, self.identity,
                                      ExperimentalResultCode.NOT_AUTHORIZED)
        answer = await self.zn_key(req, partner)
        if isinstance(answer, int):
            return zn.build_bia_error(request, self.identity, answer)
        bia = zn.build_bia(request, self.identity, answer)
        if self.mtc is not None and partner is None and answer.me_key is not None:
            ctx = await self.store.get_context(req.btid, self.clock())
            keys = self.mtc.bia_keys(ctx, req.naf_id, answer.me_key) if ctx else None
            if keys is not None:  # the MTC-IWF's settings and small-data keys (step 204)
                bia = zh_mtc.add_mtc_to_bia(bia, keys)
        return bia

    def _partner(self, request: Message, req: KeyRequest, peer: str, fqdn: str
                 ) -> tuple[roaming.VisitedPartner | None, str | None]:
        """The roaming partner a BIR of a host that is not our NAF speaks for, or why it
        is refused (docs/roaming.md §2). A partner's proxy, GBA proxy or server asks
        directly (seed 000 claim 3: no agent between); a home AAA names the visited
        network in Visited-Network-Identifier, which only a configured AAA may do."""
        origin = req.origin_host
        if route_record(request) or peer != origin:
            return None, f"Origin-Host {origin!r} is not our NAF and did not ask directly"
        if req.visited_network is not None:
            if origin not in self.roaming.aaa_hosts:
                return None, f"{origin!r} names a visited network but is no home AAA"
            partner = self.roaming.by_realm(req.visited_network)
            if partner is None:
                return None, f"visited network {req.visited_network!r} is no roaming partner"
        else:
            realm = request.find(ORIGIN_REALM)
            partner = self.roaming.by_proxy(origin, realm.as_str() if realm else "")
            if partner is None:
                return None, f"Origin-Host {origin!r} is neither our NAF nor a partner's proxy"
        if not partner.allows_naf(fqdn):
            return None, f"NAF-Id host {fqdn!r} is outside {partner.realm}'s NAF domains"
        return partner, None

    async def zn_key(self, req: KeyRequest, partner: roaming.VisitedPartner | None = None
                     ) -> KeyAnswer | int:
        """The user information for one authorised key request (TS 33.220 §4.5.3): the
        key, the IMPI, the expiry and the selected USSs, or the Experimental-Result code
        that refuses it (5403 for an unknown or expired B-TID, or past the partner's key
        lifetime). For a roaming *partner* the key and its lifetime follow the partner's
        policy (:func:`gba.protocols.roaming.partner_key`). Shared by Zn and by a
        co-located home AAA (docs/roaming.md §1 C)."""
        naf = req.origin_host
        now = self.clock()
        ctx = await self.store.get_context(req.btid, now)
        invalid = int(ExperimentalResultCode.TRANSACTION_IDENTIFIER_INVALID)
        if ctx is None:
            log.info("Zn: B-TID %s unknown or expired (asked by %s)", req.btid, naf,
                     extra={"interface": "zn", "btid": req.btid, "peer": naf,
                            "result": invalid})
            return invalid
        uicc_key = None
        key_kind = roaming.KeyKind.KS_NAF
        expiry = ctx.expires
        if partner is None:
            me_key = kdf.ks_naf(ctx.ks, ctx.rand, ctx.impi, req.naf_id)
            if ctx.gba_u and req.gba_u_aware:
                uicc_key = kdf.ks_naf(ctx.ks, ctx.rand, ctx.impi, req.naf_id, gba_u=True)
        else:
            given = roaming.partner_key(partner, ctx.ks, ctx.rand, ctx.impi, req.naf_id,
                                        ctx.created, ctx.expires, now)
            if given is None:
                log.info("Zn: key of %s for %s past its lifetime (asked by %s)", req.btid,
                         partner.realm, naf, extra={"interface": "zn", "btid": req.btid,
                                                    "peer": naf, "result": invalid})
                return invalid
            me_key, key_kind, expiry = given.key, given.kind, given.expiry
        selected: tuple[guss_xml.Uss, ...] = ()
        if ctx.guss and req.gaa_service_ids and (partner is None or partner.send_uss):
            try:
                settings = guss_xml.decode_guss(ctx.guss)
                group = self.policy.naf_group(naf) if partner is None else None
                selected = tuple(u for sid in req.gaa_service_ids
                                 for u in settings.for_service(sid.decode("utf-8", "replace"),
                                                               group))
            except CodecError as exc:
                log.warning("Zn: GUSS of %s unreadable: %s", ctx.impi, exc)
        log.info("Zn: %s for %s to %s (%s)%s", "Ks" if key_kind is roaming.KeyKind.KS
                 else "Ks_NAF", ctx.btid, naf if partner else f"NAF {naf}",
                 roaming.naf_fqdn(req.naf_id),
                 f" of visited network {partner.realm}" if partner else "",
                 extra={"interface": "zn", "btid": ctx.btid, "impi": ctx.impi, "peer": naf,
                        "result": int(ResultCode.SUCCESS)})
        # the selected USSs travel as one ussList document, none if nothing was selected
        # (TS 29.109 §6.3.1.1)
        return zn.KeyAnswer(
            impi=ctx.impi, expiry=expiry, created=ctx.created, me_key=me_key,
            uicc_key=uicc_key, uss=zn.uss_list(tuple(dict.fromkeys(selected))),
            key_kind=key_kind)

    async def aaa_key(self, req: KeyRequest) -> KeyAnswer | int:
        """The user information a co-located home AAA asks for (docs/roaming.md §1 C,
        "the home AAA is co-located with the home BSF": no Zn message), under the policy
        of the visited network the request names."""
        partner = (self.roaming.by_realm(req.visited_network)
                   if req.visited_network is not None else None)
        if partner is None or not partner.allows_naf(roaming.naf_fqdn(req.naf_id)):
            log.warning("AAA: visited network %s or its NAF-Id refused", req.visited_network,
                        extra={"interface": "aaa", "btid": req.btid,
                               "result": int(ExperimentalResultCode.NOT_AUTHORIZED)})
            return int(ExperimentalResultCode.NOT_AUTHORIZED)
        return await self.zn_key(req, partner)

    def aaa_peer_allowed(self, realm: str, peer: str) -> bool:
        """Whether AA-Requests of visited realm *realm* may come from *peer*: a host in the
        partner's ``proxies`` list (its AAA)."""
        partner = self.roaming.by_realm(realm)
        return partner is not None and peer in partner.proxies

    def check_peer(self, origin: str, cert: dict[str, Any] | None, address: str
                   ) -> str | None:
        """Who may open Zn: a configured NAF or its agent (:meth:`NafPolicy.check_peer`),
        a roaming partner's listed host or a home AAA, named by its certificate over TLS
        (TS 33.220 Annex K.1: the home operator authorises a Zn-Proxy by certificate)."""
        if origin in self.roaming.hosts or origin in self.roaming.aaa_hosts:
            if self.policy.require_certificate and origin not in certificate_names(cert):
                return f"TLS certificate does not name Origin-Host {origin!r}"
            return None
        return self.policy.check_peer(origin, cert, address)


def zh_fetcher(client: DiameterNode, identity: PeerIdentity, hss_realm: str,
               session_id: Callable[[], str]) -> FetchVector:
    """A :data:`FetchVector` over a Diameter Zh client (TS 29.109 §4.2)."""

    async def fetch(req: zh.VectorRequest) -> zh.VectorAnswer | int:
        return await ask(client, zh.build_mar(identity, hss_realm, session_id(), req),
                         zh.parse_maa)

    return fetch

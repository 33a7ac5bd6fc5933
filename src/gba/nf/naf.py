"""The NAF: an application server whose resources are protected on Ua with GBA keys.

TS 33.220 §4.5.3 and TS 33.222: the UE presents its B-TID; the NAF fetches
Ks_(ext)_NAF for (B-TID, NAF_Id) from the BSF over Zn (:class:`NafKeys`, cached until
Key-ExpiryTime) and then checks HTTP Digest (:meth:`Naf.ua_digest` driving the machine of
:mod:`gba.protocols.ua_naf`, password = base64(Ks_NAF)) or runs PSK-TLS with Ks_NAF as
the PSK (:mod:`gba.transport.psk_tls`). An unknown or expired B-TID is answered with a
fresh challenge so that the UE bootstraps again (TS 33.222 §5.3.1); any other Zn refusal
reaches the Digest machine as :class:`KeyUnavailable` with its result code, which decides
between 403 (permanent, e.g. 5402, TS 29.109 §6.2.2.2) and 503 with Retry-After.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from aiohttp import web

from gba.clock import Clock, utc_now
from gba.crypto import ua_protocols
from gba.errors import GbaError
from gba.nf.ua_memory import MemoryNonceCounts, RecentKeys
from gba.protocols import ua, zn, zpn
from gba.protocols.actions import CheckNonceCount, NeedKey, Respond
from gba.protocols.diameter import ExperimentalResultCode, Message, PeerIdentity, ResultCode
from gba.protocols.diameter.dictionary import ORIGIN_REALM
from gba.protocols.http import HttpRequest, HttpResponse
from gba.protocols.roaming import KeyKind, visited_key
from gba.protocols.shedding import InflightLimit, busy_response
from gba.protocols.ua_naf import NafDigestConfig, NafDigestExchange
from gba.store.base import NafKey, NafStore
from gba.store.naf import ChargingRecord
from gba.transport.diameter import DiameterNode
from gba.transport.http import read_request, request_tls_suite, to_web_response

log = logging.getLogger(__name__)

FetchKey = Callable[[zn.KeyRequest], Awaitable[zn.KeyAnswer | int]]
NonceCountCheck = Callable[[str, int, datetime], Awaitable[bool]]
"""RFC 7616 §3.4: (nonce, nc, nonce expiry) -> whether nc is above every earlier one."""
Produce = Callable[[NafKey, HttpRequest], Awaitable[tuple[bytes, str]]]
"""An application's resource for an authenticated Ua request: (body, content type)."""
"""Zn: the BSF's answer, or the Diameter result code that refused it."""


class KeyUnavailable(GbaError):
    """The BSF refused the key for a reason other than the B-TID (TS 29.109 §6.2.2).

    ``result_code`` is the Diameter Result-Code or Experimental-Result-Code it refused
    with (e.g. 5402 DIAMETER_ERROR_NOT_AUTHORIZED, 3002 DIAMETER_UNABLE_TO_DELIVER);
    callers decide by it, never by the message."""

    def __init__(self, message: str, result_code: int) -> None:
        super().__init__(message)
        self.result_code = result_code


@dataclass(frozen=True, slots=True)
class Roaming:
    """What a NAF serving roaming users (a visited network's server, docs/roaming.md §3)
    does beyond an ordinary NAF: it refuses an unreachable home network (3003) instead
    of challenging again, and writes a charging record for every key it obtains."""

    case: str
    """How its keys come (A, B-standalone, B-aaa, B-in-server, C, D): recorded."""
    server: str
    """Its FQDN."""
    btid_realms: Mapping[str, str] = field(default_factory=dict)


class NafKeys:
    """Ks_NAF per (B-TID, NAF_Id): from the cache, else from the BSF over Zn.

    ``hits`` and ``misses`` count the lookups the cache answered and those that went to
    the BSF (metrics). With *roaming* the NAF serves visited users: a key the home
    network sent as Ks (Key-Kind KS) is turned into Ks_NAF here and Ks is not kept, and
    each key obtained leaves one charging record (:class:`~gba.store.naf.ChargingRecord`)
    before it is used."""

    def __init__(self, store: NafStore, fetch: FetchKey, clock: Clock = utc_now,
                 gaa_service_id: str | None = None, roaming: Roaming | None = None,
                 recent: RecentKeys | None = None) -> None:
        self.store = store
        self.recent = recent if recent is not None else RecentKeys()
        """The keys this process used last, in its memory (:mod:`gba.nf.ua_memory`)."""
        self.fetch = fetch
        self.clock = clock
        self.gaa_service_id = gaa_service_id
        self.roaming = roaming
        self.hits = 0
        self.misses = 0

    async def get(self, btid: str, naf_id: bytes) -> NafKey | None:
        """The key, or None when the BSF does not know the B-TID (or it expired)."""
        now = self.clock()
        cached = self.recent.get(btid, naf_id, now)
        if cached is None:
            cached = await self.store.get_key(btid, naf_id, now)
            if cached is not None:
                self.recent.put(cached)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        services = (self.gaa_service_id.encode(),) if self.gaa_service_id else ()
        answer = await self.fetch(zn.KeyRequest(btid, naf_id, services))
        if isinstance(answer, int):
            if answer == ResultCode.REALM_NOT_SERVED and self.roaming is not None:
                home = zn.home_realm(btid, self.roaming.btid_realms)
                raise KeyUnavailable(f"realm {home or btid.rpartition('@')[2]!r} not served",
                                     answer)
            if answer in (ExperimentalResultCode.TRANSACTION_IDENTIFIER_INVALID,
                          ResultCode.REALM_NOT_SERVED):  # a network we cannot reach
                return None
            raise KeyUnavailable(f"BSF refused the key request with result {answer}",
                                 answer)
        if answer.me_key is None or answer.expiry <= now:
            return None
        me_key = answer.me_key
        if answer.key_kind is KeyKind.KS:
            if self.roaming is None:  # Ks is for a visited server that asked for it
                raise KeyUnavailable("the BSF answered with Ks, not Ks_NAF",
                                     ResultCode.UNABLE_TO_COMPLY)
            me_key = visited_key(answer.key_kind, answer.me_key, btid, answer.impi, naf_id)
        key = NafKey(btid=btid, naf_id=naf_id, key=me_key, impi=answer.impi,
                     expires=answer.expiry, created=answer.created,
                     uss=answer.uss, gba_u=answer.gba_u,
                     uicc_key=answer.uicc_key)
        if self.roaming is not None:
            await self.store.put_charging(self._charging(key, answer, now))
        await self.store.put_key(key)
        self.recent.put(key)
        log.info("Zn: key for %s (%s) NAF_Id %s || %s cached until %s", btid, answer.impi,
                 naf_id[:-5].decode("utf-8", "replace"), naf_id[-5:].hex(" "),
                 answer.expiry.isoformat(),
                 extra={"interface": "zn", "btid": btid, "impi": answer.impi,
                        "result": int(ResultCode.SUCCESS)})
        return key


    def _charging(self, key: NafKey, answer: zn.KeyAnswer, now: datetime) -> ChargingRecord:
        assert self.roaming is not None
        home = zn.home_realm(key.btid, self.roaming.btid_realms) or ""
        return ChargingRecord(
            time=now, case=self.roaming.case, server=self.roaming.server, naf_id=key.naf_id,
            home_realm=home, user=answer.impi,
            key_kind="ks" if answer.key_kind is KeyKind.KS else "derived",
            key_expiry=answer.expiry, session=answer.session)


class Naf:
    """Ua over HTTP Digest (TS 33.222 §5.2-§5.3), over plain HTTP or inside HTTPS."""

    def __init__(self, fqdn: str, keys: NafKeys, nonces: ua.NonceMint | None = None,
                 clock: Clock = utc_now, *, require_gba_token: bool = False,
                 ua_inflight: InflightLimit | None = None,
                 nonce_counts: NonceCountCheck | None = None) -> None:
        self.fqdn = fqdn
        self.ua_inflight = ua_inflight or InflightLimit()
        """Ua Digest requests in flight; past the limit one is shed unread
        (:mod:`gba.protocols.shedding`)."""
        self.keys = keys
        self.nonces = nonces or ua.NonceMint()
        self.check_nonce_count = (nonce_counts if nonce_counts is not None
                                  else MemoryNonceCounts(clock).check)
        """In memory for nonces of this process's own mint (the default); through the
        store for a mint whose secret other processes share (:mod:`gba.nf.ua_memory`)."""
        self.clock = clock
        self.digest = NafDigestConfig.for_naf(fqdn, self.nonces,
                                              require_gba_token=require_gba_token)

    async def ua_digest(self, request: web.Request) -> web.Response:
        """One Ua request with HTTP Digest (TS 33.222 §5.3): the machine of
        :mod:`gba.protocols.ua_naf` decides, this awaits the key and the nonce count.
        Over HTTPS the NAF_Id ends in 01 00 01 yy zz, yy zz the connection's suite.
        Past :attr:`ua_inflight` the request is answered 503 with Retry-After unread."""
        if not self.ua_inflight.try_enter():
            return to_web_response(busy_response("NAF"))
        try:
            return await self._ua_digest(request)
        finally:
            self.ua_inflight.leave()

    async def _ua_digest(self, request: web.Request) -> web.Response:
        return to_web_response(await self.digest_exchange(request))

    async def digest_exchange(self, request: web.Request,
                              config: NafDigestConfig | None = None,
                              produce: Produce | None = None) -> HttpResponse:
        """Run one Digest exchange (TS 33.222 §5.3) with *config* (default: this NAF's
        own) and, once authenticated, the resource *produce* makes for the key holder
        (default: :meth:`resource`)."""
        suite = request_tls_suite(request)
        http_request = await read_request(request)
        exchange = NafDigestExchange(config or self.digest, http_request, self.clock(),
                                     peer=request.remote, tls_suite=suite)
        action = exchange.start()
        while not isinstance(action, Respond):
            if isinstance(action, NeedKey):
                log.debug("Ua: key for %s, NAF_Id %s || %s", action.btid, self.fqdn,
                          ua_protocols.describe(action.naf_id[-5:]))
                try:
                    key = await self.keys.get(action.btid, action.naf_id)
                except KeyUnavailable as exc:
                    action = exchange.key_unavailable(str(exc), exc.result_code)
                except GbaError as exc:  # no peer, timeout, undecodable answer, store
                    action = exchange.key_unavailable(str(exc))
                else:
                    action = exchange.key_received(key)
            elif isinstance(action, CheckNonceCount):
                fresh = await self.check_nonce_count(action.nonce, action.nc,
                                                     action.expires)
                action = exchange.nonce_count_checked(fresh)
            elif produce is not None:
                body, content_type = await produce(action.key, http_request)
                action = exchange.resource_ready(body, content_type)
            else:
                body = self.resource(action.key, action.path).encode("utf-8")
                action = exchange.resource_ready(body)
        return action.response

    def resource(self, key: NafKey, path: str) -> str:
        """The protected content: who the BSF says the user is (a demo application)."""
        return f"hello {key.impi}: {path} served by {self.fqdn} over GBA (B-TID {key.btid})\n"

    def ua_app(self) -> web.Application:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.ua_digest)
        return app


def _answered_by(answer: Message, realm: str) -> bool:
    """Whether *answer* comes from the realm the request was sent to (Origin-Realm)."""
    origin = answer.find(ORIGIN_REALM)
    return origin is not None and origin.as_str() == realm


class ZnRoute(StrEnum):
    """Where a NAF sends its Zn requests (TS 33.220 Annex K.2 step 4; docs/roaming.md §1).

    ``default``: the B-TID's home realm, else the BSF's realm (an ordinary NAF).
    ``home``: the B-TID's home realm only, straight to the home BSF (case B-in-server, the
    GBA proxy built into the server); an unknown domain is refused 3003 unasked.
    ``local``: everything to the local BSF, which is also the Zn-Proxy (K.2 b, case A).
    ``proxy``: the local BSF for our own subscribers, the Zn-Proxy for visitors (K.2 a,
    cases B-standalone and B-aaa)."""

    DEFAULT = "default"
    HOME = "home"
    LOCAL = "local"
    PROXY = "proxy"


def zn_fetcher(client: DiameterNode, identity: PeerIdentity, bsf_realm: str,
               session_id: Callable[[], str],
               btid_realms: Mapping[str, str] | None = None,
               route: ZnRoute = ZnRoute.DEFAULT, proxy_host: str | None = None
               ) -> FetchKey:
    """A :data:`FetchKey` over a Diameter node (TS 29.109 §4.4), sending each request
    by *route* (:class:`ZnRoute`); the node's realm routing takes it there, through
    agents if need be. The answer must come from the realm asked: keys for a B-TID come
    from its home BSF, or from the local BSF or proxy trusted to fetch them."""

    def target(btid: str) -> tuple[str | None, str | None]:
        home = zn.home_realm(btid, btid_realms)
        if route is ZnRoute.HOME:
            return home, None
        if route is ZnRoute.LOCAL:
            return bsf_realm, None
        if route is ZnRoute.PROXY:
            if home is not None and home == identity.origin_realm:
                return bsf_realm, None
            return identity.origin_realm, proxy_host
        return home or bsf_realm, None

    async def fetch(req: zn.KeyRequest) -> zn.KeyAnswer | int:
        realm, host = target(req.btid)
        if realm is None:
            log.warning("Zn: no realm serves the B-TID domain of %s", req.btid,
                        extra={"interface": "zn", "btid": req.btid,
                               "result": int(ResultCode.REALM_NOT_SERVED)})
            return ResultCode.REALM_NOT_SERVED
        answer = await client.request(zn.build_bir(identity, realm, session_id(), req,
                                                   destination_host=host))
        code = answer.result_code
        if code != ResultCode.SUCCESS:
            return code if code is not None else ResultCode.UNABLE_TO_COMPLY
        if not _answered_by(answer, realm):
            # keys for a B-TID come from its home realm's BSF and from no one else
            origin = answer.find(ORIGIN_REALM)
            log.warning("Zn: a key for %s came from realm %r, not %s: refused", req.btid,
                        origin.as_str() if origin is not None else None, realm,
                        extra={"interface": "zn", "btid": req.btid})
            return ResultCode.UNABLE_TO_COMPLY
        return zn.parse_bia(answer)

    return fetch


FetchPush = Callable[[zpn.PushInfoRequest], Awaitable[zpn.PushInfoAnswer | int]]
"""Zpn: the BSF's GBA Push Info, or the result code that refused it."""


def zpn_fetcher(client: DiameterNode, identity: PeerIdentity, bsf_realm: str,
                session_id: Callable[[], str]) -> FetchPush:
    """A :data:`FetchPush` over a Diameter node (TS 29.109 Zpn; docs/push.md §2): GPIR to
    the BSF's realm, the GPIA's GPI and keys back; the answer must come from that realm."""

    async def fetch(req: zpn.PushInfoRequest) -> zpn.PushInfoAnswer | int:
        answer = await client.request(zpn.build_gpir(identity, bsf_realm, session_id(), req))
        code = answer.result_code
        if code != ResultCode.SUCCESS:
            return code if code is not None else ResultCode.UNABLE_TO_COMPLY
        if not _answered_by(answer, bsf_realm):
            return ResultCode.UNABLE_TO_COMPLY
        return zpn.parse_gpia(answer)

    return fetch

"""The BSF: Ub (HTTP Digest AKA) towards the UE, Zh towards the HSS, Zn towards NAFs.

TS 33.220 §4.5.2 (bootstrapping procedure) and §4.5.3 (use of the bootstrapped keys),
TS 24.109 §4 (Ub over HTTP), TS 29.109 (Zh, Zn). Each Ub request enters
:meth:`Bsf.ub`, each Zn request :meth:`Bsf.zn`; vectors come from the HSS through
``fetch_vector`` (a Zh Diameter client in production, anything awaitable in tests).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiohttp import web

from gba.clock import Clock, utc_now
from gba.crypto import digest, kdf
from gba.errors import CodecError, GbaError, UnknownAlgorithm
from gba.protocols import guss as guss_xml
from gba.protocols import ub, zh, zn
from gba.protocols.diameter import (
    CMD_BOOTSTRAPPING_INFO,
    ExperimentalResultCode,
    Message,
    PeerIdentity,
    ResultCode,
)
from gba.protocols.diameter.capabilities import codec_error_answer, error_answer
from gba.protocols.digest_header import AuthenticationInfo, Challenge, Credentials
from gba.store.base import BootstrapContext, BsfStore
from gba.store.base import Challenge as PendingChallenge
from gba.transport.diameter import DiameterClient, ask
from gba.transport.tls import certificate_names

log = logging.getLogger(__name__)

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

    def check_peer(self, origin: str, cert: dict[str, Any] | None, address: str
                   ) -> str | None:
        """Who may open Zn at all (RFC 6733 §13; TS 33.220 §4.3: Zn is protected)."""
        if self.require_certificate and origin not in certificate_names(cert):
            return f"TLS certificate does not name Origin-Host {origin!r}"
        allowed = self.addresses_by_origin.get(origin)
        if allowed and address not in allowed:
            return f"Origin-Host {origin!r} connects from {address}, not a configured address"
        return None

    def allows(self, origin_host: str, naf_fqdn: str) -> bool:
        return naf_fqdn in self.hostnames_by_origin.get(origin_host, frozenset())

    def naf_group(self, origin_host: str) -> str | None:
        return self.group_by_origin.get(origin_host)


class Bsf:
    def __init__(self, store: BsfStore, fetch_vector: FetchVector, identity: PeerIdentity,
                 realm: str, server_name: str, policy: NafPolicy, key_lifetime: timedelta,
                 challenge_lifetime: timedelta = timedelta(minutes=2),
                 clock: Clock = utc_now) -> None:
        self.store = store
        self.fetch_vector = fetch_vector
        self.identity = identity
        self.realm = realm
        self.server_name = server_name
        self.policy = policy
        self.key_lifetime = key_lifetime
        self.challenge_lifetime = challenge_lifetime
        self.clock = clock

    # ------------------------------------------------------------------ Ub

    async def ub(self, request: web.Request) -> web.Response:
        """One Ub request (TS 24.109 §4.3-§4.5)."""
        header = request.headers.get("Authorization")
        body = await request.read()
        if header is None:
            return web.Response(status=400, text="Ub request without Authorization: Digest "
                                "username=<IMPI> (TS 24.109 §4.3.1)\n")
        try:
            creds = Credentials.from_header(header)
        except CodecError as exc:
            log.warning("Ub: malformed Authorization from %s: %s", request.remote, exc)
            return web.Response(status=400, text=f"malformed Authorization: {exc}\n")
        gba_u = ub.wants_gba_u(request.headers.get("User-Agent"))
        if not creds.nonce:
            return await self._challenge(creds.username, gba_u)
        pending = await self.store.take_challenge(creds.nonce, self.clock())
        if pending is None or pending.impi != creds.username:
            log.info("Ub: unknown, replayed or expired nonce for %s", creds.username)
            return await self._challenge(creds.username, gba_u, stale=True)
        if creds.auts is not None:
            return await self._resync(pending, creds, gba_u)
        if creds.qop != ub.QOP or creds.uri != request.raw_path:
            log.warning("Ub: %s answered without qop=auth-int or for another uri",
                        pending.impi)
            return web.Response(status=400, text="Ub answers need qop=auth-int and the "
                                "request-uri (TS 24.109 §4.3.2)\n")
        return await self._verify(request.method, body, pending, creds, gba_u)

    async def _challenge(self, impi: str, gba_u: bool, stale: bool = False,
                         resync: tuple[bytes, bytes] | None = None) -> web.Response:
        req = zh.VectorRequest(impi, resync[0] if resync else None,
                               resync[1] if resync else None, gba_u_aware=gba_u)
        try:
            answer = await self.fetch_vector(req)
        except GbaError as exc:
            log.error("Ub: Zh to HSS failed for %s: %s", impi, exc)
            return web.Response(status=503, text="HSS unreachable\n")
        if isinstance(answer, int):
            log.info("Ub: HSS refused %s with result %d", impi, answer)
            status = 403 if answer in (ExperimentalResultCode.IMPI_UNKNOWN,
                                       ResultCode.AUTHENTICATION_REJECTED) else 503
            return web.Response(status=status, text=f"HSS refused: {answer}\n")
        nonce = digest.aka_nonce(answer.rand, answer.autn)
        await self.store.put_challenge(PendingChallenge(
            nonce=nonce, impi=impi, rand=answer.rand, autn=answer.autn, xres=answer.xres,
            ck=answer.ck, ik=answer.ik, expires=self.clock() + self.challenge_lifetime,
            guss=answer.guss))
        challenge = Challenge(realm=self.realm, nonce=nonce, algorithm=ub.ALGORITHM,
                              qop=(ub.QOP,), stale=stale)
        return web.Response(status=401, headers={"WWW-Authenticate": challenge.to_header()})

    async def _resync(self, pending: PendingChallenge, creds: Credentials,
                      gba_u: bool) -> web.Response:
        try:
            auts = digest.decode_auts(creds.auts or "")
        except CodecError as exc:
            log.warning("Ub: bad auts from %s: %s", pending.impi, exc)
            return web.Response(status=400, text=f"malformed auts: {exc}\n")
        log.info("Ub: synchronisation failure for %s, resynchronising via Zh", pending.impi)
        return await self._challenge(pending.impi, gba_u, resync=(pending.rand, auts))

    async def _verify(self, method: str, body: bytes, pending: PendingChallenge,
                      creds: Credentials, gba_u: bool) -> web.Response:
        try:
            alg = digest.algorithm(creds.algorithm or ub.ALGORITHM)
            if alg.aka_version != 1 or creds.realm != self.realm:
                raise UnknownAlgorithm("Ub needs AKAv1-MD5 in the home realm")
            d = digest.DigestInput(alg.token, creds.username, creds.realm, pending.xres,
                                   creds.uri, pending.nonce, creds.qop, creds.nc or "00000001",
                                   creds.cnonce or "")
            expected = digest.response(d, method, body)
        except GbaError as exc:
            log.warning("Ub: unusable credentials from %s: %s", pending.impi, exc)
            return web.Response(status=400, text=f"unusable credentials: {exc}\n")
        if not digest.verify(expected, creds.response):
            log.warning("Ub: wrong RES from %s", pending.impi)
            return web.Response(status=403, text="authentication failed\n")
        now = self.clock()
        lifetime = self.key_lifetime
        if pending.guss:
            try:
                settings = guss_xml.decode_guss(pending.guss)
                if settings.lifetime_s:
                    lifetime = min(lifetime, timedelta(seconds=settings.lifetime_s))
                gba_u = gba_u and settings.uicc_type == guss_xml.UICC_GBA_U
            except CodecError as exc:
                log.warning("Ub: GUSS of %s unreadable, defaults used: %s", pending.impi, exc)
        ctx = BootstrapContext(btid=kdf.btid(pending.rand, self.server_name), impi=pending.impi,
                               ks=kdf.ks(pending.ck, pending.ik), rand=pending.rand,
                               created=now, expires=kdf.key_expiry(now, lifetime),
                               guss=pending.guss, gba_u=gba_u)
        await self.store.put_context(ctx)
        log.info("Ub: %s bootstrapped, B-TID %s until %s", ctx.impi, ctx.btid,
                 ub.format_time(ctx.expires))
        out = ub.BootstrappingInfo(ctx.btid, ctx.expires).encode()
        info = AuthenticationInfo(rspauth=digest.rspauth(d, out), qop=d.qop, nc=d.nc,
                                  cnonce=d.cnonce)
        return web.Response(status=200, body=out, content_type=ub.CONTENT_TYPE,
                            headers={"Authentication-Info": info.to_header()})

    def ub_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.ub)
        return app

    # ------------------------------------------------------------------ Zn

    async def zn(self, request: Message, peer: str) -> Message:
        """One Zn request (TS 29.109 §4.4; TS 33.220 §4.5.3)."""
        if request.command_code != CMD_BOOTSTRAPPING_INFO:
            return error_answer(request, self.identity, ResultCode.COMMAND_UNSUPPORTED)
        try:
            req = zn.parse_bir(request)
        except CodecError as exc:
            log.warning("Zn BIR from %s malformed: %s", peer, exc)
            return codec_error_answer(request, self.identity, exc)
        fqdn = req.naf_id[:-5].decode("utf-8", "replace") if len(req.naf_id) > 5 else ""
        if not self.policy.allows(peer, fqdn) or req.origin_host != peer:
            log.warning("Zn: NAF %s not authorised for NAF-Id host %r", peer, fqdn)
            return zn.build_bia_error(request, self.identity,
                                      ExperimentalResultCode.NOT_AUTHORIZED)
        now = self.clock()
        ctx = await self.store.get_context(req.btid, now)
        if ctx is None:
            log.info("Zn: B-TID %s unknown or expired (asked by %s)", req.btid, peer)
            return zn.build_bia_error(request, self.identity,
                                      ExperimentalResultCode.TRANSACTION_IDENTIFIER_INVALID)
        me_key = kdf.ks_naf(ctx.ks, ctx.rand, ctx.impi, req.naf_id)
        uicc_key = None
        if ctx.gba_u and req.gba_u_aware:
            uicc_key = kdf.ks_naf(ctx.ks, ctx.rand, ctx.impi, req.naf_id, gba_u=True)
        uss: tuple[str, ...] = ()
        if ctx.guss and req.gaa_service_ids:
            try:
                settings = guss_xml.decode_guss(ctx.guss)
                uss = tuple(guss_xml.encode_uss(u) for sid in req.gaa_service_ids
                            for u in settings.for_service(sid.decode("utf-8", "replace"),
                                                          self.policy.naf_group(peer)))
            except CodecError as exc:
                log.warning("Zn: GUSS of %s unreadable: %s", ctx.impi, exc)
        log.info("Zn: Ks_NAF for %s to NAF %s (%s)", ctx.btid, peer, fqdn)
        return zn.build_bia(request, self.identity, zn.KeyAnswer(
            impi=ctx.impi, expiry=ctx.expires, created=ctx.created, me_key=me_key,
            uicc_key=uicc_key, uss=uss, gba_u=ctx.gba_u))


def zh_fetcher(client: DiameterClient, identity: PeerIdentity, hss_realm: str,
               session_id: Callable[[], str]) -> FetchVector:
    """A :data:`FetchVector` over a Diameter Zh client (TS 29.109 §4.2)."""

    async def fetch(req: zh.VectorRequest) -> zh.VectorAnswer | int:
        return await ask(client, zh.build_mar(identity, hss_realm, session_id(), req),
                         zh.parse_maa)

    return fetch

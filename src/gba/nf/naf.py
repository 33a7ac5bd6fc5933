"""The NAF: an application server whose resources are protected on Ua with GBA keys.

TS 33.220 §4.5.3 and TS 33.222: the UE presents its B-TID; the NAF fetches
Ks_(ext)_NAF for (B-TID, NAF_Id) from the BSF over Zn (:class:`NafKeys`, cached until
Key-ExpiryTime) and then checks HTTP Digest (:meth:`Naf.ua_digest`, password =
base64(Ks_NAF)) or runs PSK-TLS with Ks_NAF as the PSK (:mod:`gba.transport.psk_tls`). An
unknown or expired B-TID is answered with a fresh challenge so that the UE bootstraps
again (TS 33.222 §5.3.1).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from gba.clock import Clock, utc_now
from gba.crypto import digest, ua_protocols
from gba.errors import CodecError, GbaError
from gba.protocols import ua, zn
from gba.protocols.diameter import ExperimentalResultCode, PeerIdentity
from gba.protocols.digest_header import AuthenticationInfo, Challenge, Credentials
from gba.store.base import NafKey, NafStore
from gba.transport.diameter import DiameterClient, ask

log = logging.getLogger(__name__)

FetchKey = Callable[[zn.KeyRequest], Awaitable[zn.KeyAnswer | int]]
"""Zn: the BSF's answer, or the Diameter result code that refused it."""


class KeyUnavailable(GbaError):
    """The BSF could not be asked, or refused for a reason other than the B-TID."""


class NafKeys:
    """Ks_NAF per (B-TID, NAF_Id): from the cache, else from the BSF over Zn."""

    def __init__(self, store: NafStore, fetch: FetchKey, clock: Clock = utc_now,
                 gaa_service_id: str | None = None) -> None:
        self.store = store
        self.fetch = fetch
        self.clock = clock
        self.gaa_service_id = gaa_service_id

    async def get(self, btid: str, naf_id: bytes) -> NafKey | None:
        """The key, or None when the BSF does not know the B-TID (or it expired)."""
        now = self.clock()
        cached = await self.store.get_key(btid, naf_id, now)
        if cached is not None:
            return cached
        services = (self.gaa_service_id.encode(),) if self.gaa_service_id else ()
        answer = await self.fetch(zn.KeyRequest(btid, naf_id, services))
        if isinstance(answer, int):
            if answer == ExperimentalResultCode.TRANSACTION_IDENTIFIER_INVALID:
                return None
            raise KeyUnavailable(f"BSF refused the key request with result {answer}")
        if answer.me_key is None or answer.expiry <= now:
            return None
        key = NafKey(btid=btid, naf_id=naf_id, key=answer.me_key, impi=answer.impi,
                     expires=answer.expiry, created=answer.created,
                     uss=_uss_list(answer.uss))
        await self.store.put_key(key)
        log.info("Zn: key for %s (%s) cached until %s", btid, answer.impi,
                 answer.expiry.isoformat())
        return key


def _uss_list(uss: tuple[str, ...]) -> str | None:
    """Keep the USSs of a BIA as one document (TS 29.109 Annex A ussList)."""
    if not uss:
        return None
    return '<ussList xmlns="uri:3gpp-gaa">' + "".join(uss) + "</ussList>"


class Naf:
    """Ua over HTTP Digest (TS 33.222 §5.2-§5.3)."""

    def __init__(self, fqdn: str, keys: NafKeys, nonces: ua.NonceMint | None = None,
                 clock: Clock = utc_now) -> None:
        self.fqdn = fqdn
        self.keys = keys
        self.nonces = nonces or ua.NonceMint()
        self.clock = clock
        self.realm = ua.realm_for(fqdn)
        self.naf_id = fqdn.encode("utf-8") + ua_protocols.HTTP_DIGEST

    def challenge(self, stale: bool = False) -> web.Response:
        c = Challenge(realm=self.realm, nonce=self.nonces.issue(self.clock()), algorithm="MD5",
                      qop=("auth", "auth-int"), stale=stale)
        return web.Response(status=401, headers={"WWW-Authenticate": c.to_header()},
                            text="GBA authentication required (TS 33.222)\n")

    async def ua_digest(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization")
        if header is None:
            return self.challenge()
        body = await request.read()
        try:
            creds = Credentials.from_header(header)
            if creds.realm != self.realm:
                raise CodecError(f"realm {creds.realm!r} is not {self.realm!r}")
            if (creds.algorithm or "MD5").upper() != "MD5":
                raise CodecError(f"algorithm {creds.algorithm!r} was not offered")
            if creds.qop not in ("auth", "auth-int"):
                # we offer qop, so the client must use it; without it there is no nonce count
                # and an Authorization could be replayed (RFC 7616 §3.4, §5.4)
                raise CodecError("credentials without qop=auth or auth-int")
            if creds.uri != request.raw_path:
                raise CodecError(f"Digest uri {creds.uri[:80]!r} is not the request target "
                                 "(RFC 7616 §3.4.6)")
            expires = self.nonces.check(creds.nonce, self.clock())
        except CodecError as exc:
            log.info("Ua: rejected credentials from %s: %s", request.remote, exc)
            if "request target" in str(exc):
                return web.Response(status=400, text="Digest uri does not match the request\n")
            return self.challenge(stale="stale" in str(exc))
        nc_text = creds.nc or "00000000"
        try:
            nc = int(nc_text, 16)
        except ValueError:
            return web.Response(status=400, text="malformed nc\n")
        try:
            key = await self.keys.get(creds.username, self.naf_id)
        except GbaError as exc:
            log.error("Ua: no key for %s: %s", creds.username, exc)
            return web.Response(status=503, text="BSF unavailable\n")
        if key is None:
            log.info("Ua: B-TID %s unknown to the BSF or expired: asking to re-bootstrap",
                     creds.username)
            return self.challenge()
        d = digest.DigestInput(creds.algorithm or "MD5", creds.username, creds.realm,
                               ua.password_for(key.key), creds.uri, creds.nonce, creds.qop,
                               nc_text, creds.cnonce or "")
        try:
            expected = digest.response(d, request.method, body)
        except GbaError as exc:
            return web.Response(status=400, text=f"unusable credentials: {exc}\n")
        if not digest.verify(expected, creds.response):
            log.warning("Ua: wrong Digest response for %s", creds.username)
            return self.challenge()
        if not await self.keys.store.check_nonce_count(creds.nonce, nc, expires):
            log.warning("Ua: replayed nonce count %s for %s", nc_text, creds.username)
            return self.challenge(stale=True)
        out = self.resource(key, request.path).encode("utf-8")
        info = AuthenticationInfo(rspauth=digest.rspauth(d, out), qop=d.qop, nc=d.nc,
                                  cnonce=d.cnonce)
        return web.Response(status=200, body=out, content_type="text/plain",
                            headers={"Authentication-Info": info.to_header()})

    def resource(self, key: NafKey, path: str) -> str:
        """The protected content: who the BSF says the user is (a demo application)."""
        return f"hello {key.impi}: {path} served by {self.fqdn} over GBA (B-TID {key.btid})\n"

    def ua_app(self) -> web.Application:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.ua_digest)
        return app


def zn_fetcher(client: DiameterClient, identity: PeerIdentity, bsf_realm: str,
               session_id: Callable[[], str]) -> FetchKey:
    """A :data:`FetchKey` over a Diameter Zn client (TS 29.109 §4.4)."""

    async def fetch(req: zn.KeyRequest) -> zn.KeyAnswer | int:
        return await ask(client, zn.build_bir(identity, bsf_realm, session_id(), req),
                         zn.parse_bia)

    return fetch

"""The UE side of GBA: bootstrap over Ub, derive Ks_NAF, and use it on Ua.

TS 33.220 §4.5.2 (bootstrapping), §4.5.3 (Ks_NAF), TS 24.109 §4 (Ub), TS 33.222 (Ua with
HTTP Digest or PSK-TLS). The shape follows Android's GBA API
(``TelephonyManager.bootstrapAuthenticationRequest``): ask for a key for a NAF and a Ua
security protocol, optionally forcing a new bootstrap, and get the key and B-TID back
through an awaitable (:meth:`GbaClient.bootstrap_authentication`) or a callback.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

import aiohttp

from gba.clock import Clock, utc_now
from gba.crypto import aka, digest, kdf, ua_protocols
from gba.errors import AuthError, GbaError, ProtocolError
from gba.protocols import ua, ub
from gba.protocols.digest_header import AuthenticationInfo, Challenge, Credentials

log = logging.getLogger(__name__)
Trace = Callable[[str], None]


def _no_trace(_: str) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Bootstrap:
    """What the UE keeps after a successful bootstrap (TS 33.220 §4.5.2 step 7)."""

    impi: str
    btid: str
    ks: bytes = field(repr=False)
    rand: bytes
    lifetime: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.lifetime


@dataclass(frozen=True, slots=True)
class GbaKey:
    """A key for one NAF: Android's ``onKeysAvailable(gbaKey, transactionId)``."""

    key: bytes = field(repr=False)
    btid: str
    naf_id: bytes
    lifetime: datetime


@dataclass(frozen=True, slots=True)
class UaResponse:
    status: int
    body: bytes
    headers: dict[str, str]


class GbaClient:
    """A UE: one USIM subscription, one BSF."""

    def __init__(self, impi: str, usim: aka.Usim, bsf_url: str, *,
                 session: aiohttp.ClientSession | None = None, clock: Clock = utc_now,
                 trace: Trace = _no_trace, gba_u: bool = False) -> None:
        self.impi = impi
        self.usim = usim
        self.bsf_url = bsf_url
        self.clock = clock
        self.trace = trace
        self.gba_u = gba_u
        self.current: Bootstrap | None = None
        self._session = session
        self._own_session = session is None

    async def __aenter__(self) -> GbaClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        return self._session

    # ------------------------------------------------------------------ Ub

    async def bootstrap(self, force: bool = False) -> Bootstrap:
        """Run Ub unless a valid bootstrap is held (TS 33.220 §4.5.2)."""
        if not force and self.current is not None and not self.current.expired(self.clock()):
            return self.current
        realm = self.impi.partition("@")[2] or self.impi
        ub_uri = urlsplit(self.bsf_url).path or "/"
        headers = {"User-Agent": ub.user_agent(self.gba_u),
                   "Authorization": ub.initial_credentials(self.impi, realm, ub_uri).to_header()}
        self.trace(f"UE -> BSF  GET / Authorization: Digest username={self.impi}")
        resp = await self._get_bsf(headers)
        for _ in range(3):  # a challenge, at most one resync, the fresh challenge
            if resp[0] != 401:
                raise ProtocolError(f"BSF answered {resp[0]} instead of a 401 challenge")
            challenge = Challenge.from_header(resp[2].get("WWW-Authenticate", ""))
            rand, autn, _ = digest.parse_aka_nonce(challenge.nonce)
            self.trace(f"BSF -> UE  401 nonce=base64(RAND {rand.hex()} || AUTN {autn.hex()})")
            result = self.usim.authenticate(rand, autn)  # MacFailure: BSF not authentic
            d = digest.DigestInput(ub.ALGORITHM, self.impi, challenge.realm, b"", ub_uri,
                                   challenge.nonce, ub.QOP, "00000001", os.urandom(8).hex())
            if isinstance(result, aka.AkaSyncFailure):
                creds = self._credentials(d, digest.response(d, "GET"),
                                          digest.encode_auts(result.auts))
                self.trace("UE         SQN out of range: synchronisation failure, sending AUTS")
                resp = await self._get_bsf({**headers, "Authorization": creds.to_header()})
                continue
            d = digest.DigestInput(ub.ALGORITHM, self.impi, challenge.realm, result.res, ub_uri,
                                   challenge.nonce, ub.QOP, d.nc, d.cnonce)
            creds = self._credentials(d, digest.response(d, "GET"))
            self.trace("UE         AUTN verified; UE -> BSF  GET / with response keyed by RES")
            status, body, hdrs = await self._get_bsf({**headers,
                                                      "Authorization": creds.to_header()})
            if status != 200:
                raise AuthError(f"BSF rejected the AKA response with {status}")
            info = AuthenticationInfo.from_header(hdrs.get("Authentication-Info", ""))
            if not digest.verify(digest.rspauth(d, body), info.rspauth):
                raise AuthError("BSF rspauth does not verify (TS 33.220 §4.5.2 step 5)")
            boot = ub.BootstrappingInfo.decode(body)
            self.current = Bootstrap(self.impi, boot.btid, kdf.ks(result.ck, result.ik), rand,
                                     boot.lifetime)
            self.trace(f"BSF -> UE  200 B-TID {boot.btid} lifetime {ub.format_time(boot.lifetime)}"
                       " (rspauth verified)")
            return self.current
        raise ProtocolError("BSF kept challenging after resynchronisation")

    def _credentials(self, d: digest.DigestInput, response: str, auts: str | None = None
                     ) -> Credentials:
        return Credentials(username=d.username, realm=d.realm, nonce=d.nonce, uri=d.uri,
                           response=response, algorithm=ub.ALGORITHM, qop=d.qop, nc=d.nc,
                           cnonce=d.cnonce, auts=auts)

    async def _get_bsf(self, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        try:
            async with self._http().get(self.bsf_url, headers=headers) as r:
                return r.status, await r.read(), dict(r.headers)
        except aiohttp.ClientError as exc:
            raise ProtocolError(f"BSF {self.bsf_url} unreachable: {exc}") from None

    # ------------------------------------------------------------------ keys

    def naf_key(self, naf_fqdn: str, ua_protocol: bytes) -> GbaKey:
        """Ks_(ext)_NAF for a NAF and Ua protocol from the current bootstrap."""
        if self.current is None:
            raise GbaError("no bootstrap held: call bootstrap() first")
        nid = kdf.naf_id(naf_fqdn, ua_protocol)
        key = kdf.ks_naf(self.current.ks, self.current.rand, self.impi, nid)
        return GbaKey(key, self.current.btid, nid, self.current.lifetime)

    async def bootstrap_authentication(self, naf_fqdn: str, ua_protocol: bytes,
                                       force_bootstrapping: bool = False,
                                       callback: Callable[[GbaKey], None] | None = None
                                       ) -> GbaKey:
        """Android-style: keys for a NAF_Id, bootstrapping first when needed."""
        await self.bootstrap(force_bootstrapping)
        key = self.naf_key(naf_fqdn, ua_protocol)
        if callback is not None:
            callback(key)
        return key

    # ------------------------------------------------------------------ Ua

    async def fetch_digest(self, url: str, naf_fqdn: str | None = None, method: str = "GET",
                           body: bytes = b"") -> UaResponse:
        """Fetch a Digest-protected NAF resource (TS 33.222 §5.3), re-bootstrapping once
        when the NAF does not accept the current B-TID."""
        fqdn = naf_fqdn or (urlsplit(url).hostname or "")
        parts = urlsplit(url)
        uri = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        status, rbody, hdrs = await self._ua(method, url, {}, body)
        for attempt in range(2):
            if status != 401:
                break
            challenge = Challenge.from_header(hdrs.get("WWW-Authenticate", ""))
            if challenge.realm != ua.realm_for(fqdn):
                raise ProtocolError(f"NAF realm {challenge.realm!r} is not a GBA realm for "
                                    f"{fqdn}")
            gba = await self.bootstrap_authentication(fqdn, ua_protocols.HTTP_DIGEST,
                                                      force_bootstrapping=attempt > 0)
            qop = "auth-int" if "auth-int" in challenge.qop else "auth"
            d = digest.DigestInput(challenge.algorithm, gba.btid, challenge.realm,
                                   ua.password_for(gba.key), uri, challenge.nonce, qop,
                                   "00000001", os.urandom(8).hex())
            creds = Credentials(username=gba.btid, realm=d.realm, nonce=d.nonce, uri=uri,
                                response=digest.response(d, method, body),
                                algorithm=challenge.algorithm, qop=qop, nc=d.nc,
                                cnonce=d.cnonce, opaque=challenge.opaque)
            self.trace(f"UE -> NAF  {method} {uri} Digest username={gba.btid} "
                       f"(password = base64(Ks_NAF))")
            status, rbody, hdrs = await self._ua(method, url,
                                                 {"Authorization": creds.to_header()}, body)
            if status == 200:
                if "Authentication-Info" not in hdrs:
                    raise AuthError("NAF answered 200 without Authentication-Info: it did not "
                                    "prove it holds Ks_NAF (RFC 7616 §3.5)")
                info = AuthenticationInfo.from_header(hdrs["Authentication-Info"])
                if not digest.verify(digest.rspauth(d, rbody), info.rspauth):
                    raise AuthError("NAF rspauth does not verify")
                self.trace("NAF -> UE  200 (rspauth verified: the NAF holds Ks_NAF)")
            elif status == 401:
                self.trace("NAF -> UE  401 again: B-TID not accepted, bootstrapping anew")
        return UaResponse(status, rbody, hdrs)

    async def _ua(self, method: str, url: str, headers: dict[str, str], body: bytes
                  ) -> tuple[int, bytes, dict[str, str]]:
        try:
            async with self._http().request(method, url, headers=headers, data=body) as r:
                return r.status, await r.read(), dict(r.headers)
        except aiohttp.ClientError as exc:
            raise ProtocolError(f"NAF {url} unreachable: {exc}") from None

    async def fetch_psk_tls(self, host: str, port: int, naf_fqdn: str, path: str = "/",
                            ciphersuite: int = ua_protocols.TLS_PSK_WITH_AES_128_CBC_SHA
                            ) -> bytes:
        """GET *path* over PSK-TLS keyed with Ks_NAF (TS 33.222 §5.4)."""
        from gba.transport.psk_tls import psk_identity_for, psk_tls_request

        gba = await self.bootstrap_authentication(naf_fqdn, ua_protocols.psk_tls(ciphersuite))
        request = (f"GET {path} HTTP/1.1\r\nHost: {naf_fqdn}\r\nConnection: close\r\n\r\n"
                   ).encode("ascii")
        self.trace(f"UE -> NAF  PSK-TLS identity 3GPP-bootstrapping.{gba.btid}, "
                   f"ciphersuite 0x{ciphersuite:04x}")
        return await psk_tls_request(host, port, psk_identity_for(gba.btid), gba.key, request,
                                     ciphers=_CIPHER_NAMES[ciphersuite])


_CIPHER_NAMES = {
    ua_protocols.TLS_PSK_WITH_AES_128_CBC_SHA: "PSK-AES128-CBC-SHA",
    ua_protocols.TLS_PSK_WITH_AES_256_CBC_SHA: "PSK-AES256-CBC-SHA",
    ua_protocols.TLS_PSK_WITH_AES_128_GCM_SHA256: "PSK-AES128-GCM-SHA256",
    ua_protocols.TLS_PSK_WITH_AES_256_GCM_SHA384: "PSK-AES256-GCM-SHA384",
}

"""The UE side of GBA: bootstrap over Ub, derive Ks_NAF, and use it on Ua.

TS 33.220 §4.5.2 (bootstrapping), §4.5.3 (Ks_NAF), TS 24.109 §4 (Ub), TS 33.222 (Ua with
HTTP Digest or PSK-TLS). The shape follows Android's GBA API
(``TelephonyManager.bootstrapAuthenticationRequest``): ask for a key for a NAF and a Ua
security protocol, optionally forcing a new bootstrap, and get the key and B-TID back
through an awaitable (:meth:`GbaClient.bootstrap_authentication`) or a callback.

The protocol work is done by the sans-IO machines :mod:`gba.protocols.ub_ue` (Ub, with
resynchronisation and the rspauth check) and :mod:`gba.protocols.ua_ue` (Ua Digest, with
one re-bootstrap); this module only sends their requests over aiohttp.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

import aiohttp

from gba.clock import Clock, utc_now
from gba.crypto import aka, kdf, ua_protocols
from gba.errors import GbaError, ProtocolError
from gba.protocols import ua
from gba.protocols.actions import Done, Send, Trace, no_trace
from gba.protocols.digest_header import Challenge
from gba.protocols.http import HttpRequest, HttpResponse
from gba.protocols.ua_ue import UeDigestAction, UeDigestExchange
from gba.protocols.ub import Bootstrap
from gba.protocols.ub_ue import UeUbAction, UeUbExchange
from gba.transport.http import TlsAwareConnector, exchange

__all__ = ["Bootstrap", "GbaClient", "GbaKey", "NafFqdnMismatch", "Trace", "UaResponse"]

log = logging.getLogger(__name__)


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


class NafFqdnMismatch(ProtocolError):
    """The NAF's Digest realm names another NAF than the FQDN the UE keys for (TS 33.222
    §5.3.1: realm = ``3GPP-bootstrapping@<NAF FQDN>``): *named* is the FQDN the realm
    names, *from_url* says the UE took its FQDN from the URL's host (no FQDN given). The
    UE never adopts *named* itself: which NAF it means is the user's to say."""

    def __init__(self, reason: str, named: str, from_url: bool) -> None:
        hint = ("the NAF FQDN was taken from the URL's host; give the NAF's FQDN"
                if from_url else "give the NAF's FQDN")
        super().__init__(f"{reason} ({hint}: its realm names {named!r})")
        self.reason = reason
        self.named = named
        self.from_url = from_url


def _realm_fqdn(response: HttpResponse) -> str | None:
    """The NAF FQDN a 401's GBA Digest realm names, if it names one."""
    if response.status != 401:
        return None
    try:
        realm = Challenge.from_header(response.header("WWW-Authenticate") or "").realm
    except GbaError:
        return None
    for prefix in (ua.REALM_PREFIX, ua.REALM_PREFIX_UICC):
        if realm.startswith(prefix):
            return realm[len(prefix):]
    return None


def _header_dict(response: HttpResponse) -> dict[str, str]:
    """Headers as a dict, the first of repeated names winning (as aiohttp's ``get``)."""
    out: dict[str, str] = {}
    for name, value in response.headers:
        out.setdefault(name, value)
    return out


class GbaClient:
    """A UE: one USIM subscription, one BSF."""

    def __init__(self, impi: str, usim: aka.Usim, bsf_url: str, *,
                 session: aiohttp.ClientSession | None = None, clock: Clock = utc_now,
                 trace: Trace = no_trace, ssl_context: ssl.SSLContext | None = None
                 ) -> None:
        """*session*: bring your own (its connector must be a
        :class:`~gba.transport.http.TlsAwareConnector` for Digest over https); else one is
        made, verifying https servers with *ssl_context* (default: the system's CAs)."""
        self.impi = impi
        self.usim = usim
        self.bsf_url = bsf_url
        self.clock = clock
        self.trace = trace
        self.current: Bootstrap | None = None
        self._session = session
        self._own_session = session is None
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True

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
            self._session = aiohttp.ClientSession(
                connector=TlsAwareConnector(ssl=self._ssl),
                timeout=aiohttp.ClientTimeout(total=15))
        return self._session

    async def _send(self, what: str, url: str, request: HttpRequest) -> HttpResponse:
        response, _ = await self._exchange(what, url, request)
        return response

    async def _exchange(self, what: str, url: str, request: HttpRequest,
                        need_suite: bool = False) -> tuple[HttpResponse, int | None]:
        """The response and the TLS ciphersuite that carried it (None: plain HTTP)."""
        try:
            return await exchange(self._http(), url, request, need_suite=need_suite)
        except aiohttp.ClientError as exc:
            raise ProtocolError(f"{what} {url} unreachable: {exc}") from None

    # ------------------------------------------------------------------ Ub

    def adopt(self, bootstrap: Bootstrap) -> None:
        """Hold *bootstrap* as the current one: Ks, RAND and B-TID of an authentication
        run outside Ub (EAP-AKA through a visited network, docs/roaming.md §1 D)."""
        self.current = bootstrap

    async def bootstrap(self, force: bool = False) -> Bootstrap:
        """Run Ub unless a valid bootstrap is held (TS 33.220 §4.5.2). GBA_U or GBA_ME is
        the BSF's decision by subscription (TS 33.220 §5.1): the UE signals nothing."""
        if not force and self.current is not None and not self.current.expired(self.clock()):
            return self.current
        run = UeUbExchange(self.impi, self.usim, urlsplit(self.bsf_url).path or "/",
                           trace=self.trace)
        action: UeUbAction = run.start()
        while isinstance(action, Send):
            action = run.response_received(await self._send("BSF", self.bsf_url,
                                                            action.request))
        self.current = action.bootstrap
        return self.current

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
                           body: bytes = b"", ua_protocol: bytes | None = None,
                           username: str | None = None) -> UaResponse:
        """Fetch a Digest-protected NAF resource (TS 33.222 §5.3), re-bootstrapping once
        when the NAF does not accept the current B-TID. Over https the key is for
        NAF_Id = FQDN || 01 00 01 yy zz, yy zz the suite the connection negotiated
        (TS 33.220 H.3); over http for FQDN || 01 00 00 00 02; *ua_protocol* fixes it
        (MBMS user service registration: 01 00 00 00 01). *username* replaces the B-TID
        as the Digest user name (a roaming server's association under the permanent
        identity, docs/roaming.md §1 D)."""
        parts = urlsplit(url)
        fqdn = naf_fqdn or (parts.hostname or "")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        run = UeDigestExchange(method, target, fqdn, body, trace=self.trace,
                               ua_protocol=ua_protocol)
        action: UeDigestAction = run.start()
        while not isinstance(action, Done):
            if isinstance(action, Send):
                response, suite = await self._exchange("NAF", url, action.request,
                                                       need_suite=True)
                try:
                    action = run.response_received(response, suite)
                except ProtocolError as exc:
                    named = _realm_fqdn(response)
                    if named is None or named == fqdn:
                        raise
                    raise NafFqdnMismatch(str(exc), named, naf_fqdn is None) from None
            else:
                gba = await self.bootstrap_authentication(
                    action.naf_fqdn, action.ua_protocol,
                    force_bootstrapping=action.force_bootstrap)
                action = run.key_received(username or gba.btid, gba.key)
        reply = action.response
        return UaResponse(reply.status, reply.body, _header_dict(reply))

    async def fetch_psk_tls(self, host: str, port: int, naf_fqdn: str, path: str = "/",
                            ciphersuite: int = ua_protocols.TLS_PSK_WITH_AES_128_CBC_SHA
                            ) -> bytes:
        """GET *path* over PSK-TLS keyed with Ks_NAF (TS 33.222 §5.4).

        The key is for NAF_Id = *naf_fqdn* || 01 00 01 yy zz with *ciphersuite* (TS 33.220
        Annex H.3), the only suite offered, and *naf_fqdn* goes in the SNI (TS 24.109
        Annex F.3), so that a NAF with several host names derives the same key.
        """
        from gba.transport.psk_tls import psk_identity_for, psk_tls_request

        cipher = ua_protocols.openssl_suite_name(ciphersuite)
        gba = await self.bootstrap_authentication(naf_fqdn, ua_protocols.psk_tls(ciphersuite))
        request = (f"GET {path} HTTP/1.1\r\nHost: {naf_fqdn}\r\nConnection: close\r\n\r\n"
                   ).encode("ascii")
        self.trace(f"UE -> NAF  PSK-TLS identity 3GPP-bootstrapping.{gba.btid}, "
                   f"ciphersuite 0x{ciphersuite:04x}, SNI {naf_fqdn}")
        return await psk_tls_request(host, port, psk_identity_for(gba.btid), gba.key, request,
                                     ciphers=cipher, server_hostname=naf_fqdn)

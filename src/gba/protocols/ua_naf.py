"""The NAF's side of Ua with HTTP Digest as a sans-IO machine (TS 33.222 §5.3).

The UE presents username = B-TID and a response keyed by password = base64(Ks_(ext)_NAF)
(TS 33.222 §5.3.1) in realm ``3GPP-bootstrapping@<NAF FQDN>``. The key is the one for
NAF_Id = FQDN || Ua protocol, and the protocol follows the transport (TS 33.222 §5.3,
TS 33.220 Annex H.3): 01 00 00 00 02 over plain HTTP, 01 00 01 yy zz inside a
server-authenticated TLS connection whose suite is yy zz (the driver passes it as
``tls_suite``). One :class:`NafDigestExchange` per request checks, in this order:

* a User-Agent without the product token ``3gpp-gba`` (TS 24.109 §5.2.2.1, Annex E): no
  text was found for what the NAF then does (UNVERIFIED). By default the NAF still
  challenges with the GBA realm (it "may decide" to use GBA) and logs it; with
  ``require_gba_token`` it refuses with 403;
* no Authorization, credentials that do not parse, another realm, an algorithm other
  than the offered MD5, no qop (without it there is no nonce count and an Authorization
  could be replayed, RFC 7616 §3.4, §5.4), a nonce not minted here: a fresh 401;
  a nonce past its age: a fresh 401 with ``stale=true``;
* a Digest uri that is not the request-target: 400 (RFC 7616 §3.4.6), as
  :class:`~gba.errors.RequestRefused` with its ``status_hint``;
* the key (:class:`NeedKey`): a B-TID the BSF does not know is a fresh 401 so that the
  UE bootstraps again (TS 33.222 §5.3.1; TS 29.109 §6.2.2.3, 5403). A permanent Zn
  refusal (result 5xxx, RFC 6733 §7.1.5) is 403: for 5402 the NAF "should indicate to
  the UE that the service is not allowed" (TS 29.109 §6.2.2.2); the status code itself
  is not named by the spec (UNVERIFIED), 403 as in TS 24.109 Annex E.4. A BSF that does
  not answer (no peer, timeout, 3xxx/4xxx such as 3002, 3004) is 503 with
  ``Retry-After`` (RFC 9110 §10.2.3, §15.6.4; no 3GPP text, the NAF's choice);
* the response, then the nonce count (:class:`CheckNonceCount`): wrong is a 401, a
  count already seen a 401 with ``stale=true``;
* the resource (:class:`ServeResource`) in a 200 with rspauth (RFC 7616 §3.5), which
  proves to the UE that the NAF holds Ks_NAF.

Transitions (action emitted -> state -> the feeder that must come next)::

    NeedKey         -> FETCHING_KEY     -> key_received(key | None) or key_unavailable()
    CheckNonceCount -> CHECKING_COUNT   -> nonce_count_checked(fresh)
    ServeResource   -> SERVING          -> resource_ready(body)
    Respond         -> DONE
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, auto

from gba.crypto import aka, digest, ua_protocols
from gba.errors import CodecError, GbaError, RequestRefused, StaleNonce
from gba.protocols import ua, ub
from gba.protocols.actions import CheckNonceCount, NeedKey, Respond, ServeResource, expect
from gba.protocols.contexts import NafKey
from gba.protocols.diameter.dictionary import ExperimentalResultCode, ResultCode
from gba.protocols.digest_header import AuthenticationInfo, Challenge, Credentials
from gba.protocols.http import HttpRequest, HttpResponse, text_response

log = logging.getLogger(__name__)

NafDigestAction = NeedKey | CheckNonceCount | ServeResource | Respond
ALGORITHM = "MD5"
QOPS = ("auth", "auth-int")
RETRY_AFTER_S = 5
"""Seconds a UE is asked to wait when the BSF did not answer (RFC 9110 §10.2.3)."""
SERVICE_REFUSALS = frozenset({ExperimentalResultCode.NOT_AUTHORIZED,
                              ExperimentalResultCode.IMPI_UNKNOWN})
"""Zn results that refuse this user the service (TS 29.109 §6.2.2.1-§6.2.2.2): 403."""


def refusal_status(result_code: int | None) -> int:
    """The HTTP status for a Zn failure other than an unknown B-TID: 403 when the BSF
    refuses the service (5402 "the NAF should indicate to the UE that the service is not
    allowed", TS 29.109 §6.2.2.2); 503 when asking again may work: no answer, the
    protocol errors 3xxx, the transient 4xxx, and 5012 UNABLE_TO_COMPLY, which a BSF whose
    store is down sends; 500 for the other permanent failures 5xxx (RFC 6733 §7.1.5),
    which say the exchange itself is broken."""
    if result_code in SERVICE_REFUSALS or result_code == ResultCode.REALM_NOT_SERVED:
        # 3003 reaches here only from a roaming server (docs/roaming.md §3): the user's
        # home network is not one it can reach, and asking again will not change that
        return 403
    if (result_code is None or result_code < 5000
            or result_code == ResultCode.UNABLE_TO_COMPLY):
        return 503
    return 500


class NafDigestState(Enum):
    START = auto()
    FETCHING_KEY = auto()
    CHECKING_COUNT = auto()
    SERVING = auto()
    DONE = auto()


_STATE_AFTER: dict[type[NafDigestAction], NafDigestState] = {
    NeedKey: NafDigestState.FETCHING_KEY,
    CheckNonceCount: NafDigestState.CHECKING_COUNT,
    ServeResource: NafDigestState.SERVING,
    Respond: NafDigestState.DONE,
}


@dataclass(frozen=True, slots=True)
class NafDigestConfig:
    """A NAF's Digest settings: realm, FQDN (of its NAF_Ids on Zn), its nonce mint,
    whether a Ua request must carry ``3gpp-gba``, and the Retry-After of a 503."""

    realm: str
    fqdn: str
    nonces: ua.NonceMint
    require_gba_token: bool = False
    retry_after_s: int = RETRY_AFTER_S
    ua_protocol: bytes | None = None
    """A Ua security protocol id the application fixes (MBMS: 01 00 00 00 01)."""

    @classmethod
    def for_naf(cls, fqdn: str, nonces: ua.NonceMint, *, require_gba_token: bool = False,
                ua_protocol: bytes | None = None) -> NafDigestConfig:
        """Realm ``3GPP-bootstrapping@fqdn`` (TS 33.222 §5.3.1)."""
        return cls(ua.realm_for(fqdn), fqdn, nonces, require_gba_token,
                   ua_protocol=ua_protocol)

    def naf_id(self, tls_suite: int | None = None) -> bytes:
        """NAF_Id = FQDN || Ua protocol id (TS 33.220 H.3): the application's when it
        fixes one (MBMS user service registration: 01 00 00 00 01, TS 33.246 §6.1), else
        Digest's over this transport: 01 00 00 00 02 over plain HTTP, 01 00 01 yy zz
        inside TLS suite yy zz."""
        return self.fqdn.encode("utf-8") + (self.ua_protocol
                                            or ua_protocols.digest_protocol(tls_suite))


def challenge_response(realm: str, nonces: ua.NonceMint, now: datetime, stale: bool = False,
                       rng: aka.Rng = os.urandom) -> HttpResponse:
    """The NAF's 401: MD5 with qop auth or auth-int (TS 33.222 §5.3.1; RFC 7616 §3.3)."""
    c = Challenge(realm=realm, nonce=nonces.issue(now, rng(8)), algorithm=ALGORITHM,
                  qop=QOPS, stale=stale)
    return text_response(401, "GBA authentication required (TS 33.222)\n",
                         (("WWW-Authenticate", c.to_header()),))


class NafDigestExchange:
    """One Ua request with HTTP Digest at the NAF (TS 33.222 §5.3)."""

    def __init__(self, config: NafDigestConfig, request: HttpRequest, now: datetime, *,
                 rng: aka.Rng = os.urandom, peer: str | None = None,
                 tls_suite: int | None = None) -> None:
        """*tls_suite*: the ciphersuite of the server-authenticated TLS (up to 1.2)
        connection the request came over, None for plain HTTP (TS 33.222 §5.3)."""
        self.config = config
        self.request = request
        self.now = now
        self.peer = peer or "-"
        self.naf_id = config.naf_id(tls_suite)
        self.state = NafDigestState.START
        self._rng = rng
        self._creds: Credentials | None = None
        self._expires = now
        self._nc = 0
        self._answer: tuple[digest.DigestInput, NafKey] | None = None

    def _emit(self, action: NafDigestAction) -> NafDigestAction:
        self.state = _STATE_AFTER[type(action)]
        return action

    def _challenge(self, stale: bool = False) -> NafDigestAction:
        return self._emit(Respond(challenge_response(self.config.realm, self.config.nonces,
                                                     self.now, stale, self._rng)))

    def _refuse(self, status: int, text: str) -> NafDigestAction:
        return self._emit(Respond(text_response(status, text)))

    def _fields(self, btid: str | None, result: int | None = None) -> dict[str, object]:
        """The structured fields of a log line (:mod:`gba.observe.logs`): identifiers
        and the HTTP status this request gets, never key material."""
        fields: dict[str, object] = {"interface": "ua", "peer": self.peer}
        if btid is not None:
            fields["btid"] = btid
        if result is not None:
            fields["result"] = result
        return fields

    # ------------------------------------------------------------------ feeders

    def start(self) -> NafDigestAction:
        """Check the credentials as far as possible without the key."""
        expect(self, self.state, "start", NafDigestState.START)
        if not ub.has_product_token(self.request.header("User-Agent"), ub.PRODUCT_TOKEN):
            if self.config.require_gba_token:
                log.info("Ua: refused %s: User-Agent without %s", self.peer,
                         ub.PRODUCT_TOKEN)
                return self._refuse(403, f"GBA clients identify with the product token "
                                    f"{ub.PRODUCT_TOKEN} in User-Agent (TS 24.109)\n")
            log.info("Ua: request from %s without the %s product token, challenging "
                     "with GBA anyway", self.peer, ub.PRODUCT_TOKEN)
        header = self.request.header("Authorization")
        if header is None:
            return self._challenge()
        try:
            creds = Credentials.from_header(header)
            self._expires = self._check(creds)
        except RequestRefused as exc:
            log.info("Ua: refused credentials from %s: %s", self.peer, exc,
                     extra=self._fields(None, exc.status_hint))
            return self._refuse(exc.status_hint, f"{exc}\n")
        except StaleNonce as exc:
            log.info("Ua: stale nonce from %s: %s", self.peer, exc)
            return self._challenge(stale=True)
        except CodecError as exc:
            log.info("Ua: rejected credentials from %s: %s", self.peer, exc)
            return self._challenge()
        try:
            self._nc = int(creds.nc or "00000000", 16)
        except ValueError:
            return self._refuse(400, "malformed nc\n")
        self._creds = creds
        return self._emit(NeedKey(creds.username, self.naf_id))

    def key_received(self, key: NafKey | None) -> NafDigestAction:
        """Ks_NAF for the B-TID, or None when the BSF does not know it (or it expired)."""
        expect(self, self.state, "key_received", NafDigestState.FETCHING_KEY)
        creds = self._credentials()
        if key is None:
            log.info("Ua: B-TID %s unknown to the BSF or expired: asking to re-bootstrap",
                     creds.username, extra=self._fields(creds.username, 401))
            return self._challenge()
        d = digest.DigestInput(creds.algorithm or ALGORITHM, creds.username, creds.realm,
                               ua.password_for(key.key), creds.uri, creds.nonce, creds.qop,
                               creds.nc or "00000000", creds.cnonce or "")
        try:
            expected = digest.response(d, self.request.method, self.request.body)
        except GbaError as exc:
            return self._refuse(400, f"unusable credentials: {exc}\n")
        if not digest.verify(expected, creds.response):
            log.warning("Ua: wrong Digest response for %s", creds.username,
                        extra={**self._fields(creds.username, 401), "impi": key.impi})
            return self._challenge()
        self._answer = (d, key)
        return self._emit(CheckNonceCount(creds.nonce, self._nc, self._expires))

    def key_unavailable(self, reason: str, result_code: int | None = None
                        ) -> NafDigestAction:
        """No key: the BSF refused with *result_code* (other than for the B-TID), or
        could not be asked (None); the status is :func:`refusal_status`'s, and a 503
        carries Retry-After (RFC 9110 §10.2.3)."""
        expect(self, self.state, "key_unavailable", NafDigestState.FETCHING_KEY)
        btid = self._credentials().username
        status = refusal_status(result_code)
        if status == 403:
            log.warning("Ua: BSF refused the key for %s (result %s): %s", btid, result_code,
                        reason, extra=self._fields(btid, 403))
            if result_code == ResultCode.REALM_NOT_SERVED:
                return self._refuse(403, "service not allowed: the home network of this "
                                    f"B-TID is not served here ({reason})\n")
            return self._refuse(403, "service not allowed: the BSF does not authorise "
                                "this NAF for this user (TS 29.109 §6.2.2.2)\n")
        if status == 500:
            log.error("Ua: Zn failed for %s (result %s): %s", btid, result_code, reason,
                      extra=self._fields(btid, 500))
            return self._refuse(500, "the key exchange with the BSF failed\n")
        log.error("Ua: no key for %s: %s", btid, reason, extra=self._fields(btid, 503))
        return self._emit(Respond(text_response(
            503, "BSF unavailable, try again later\n",
            (("Retry-After", str(self.config.retry_after_s)),))))

    def nonce_count_checked(self, fresh: bool) -> NafDigestAction:
        """Whether the nonce count was above every earlier one for this nonce."""
        expect(self, self.state, "nonce_count_checked", NafDigestState.CHECKING_COUNT)
        assert self._answer is not None
        d, key = self._answer
        if not fresh:
            log.warning("Ua: replayed nonce count %s for %s", d.nc, d.username,
                        extra={**self._fields(d.username, 401), "impi": key.impi})
            return self._challenge(stale=True)
        return self._emit(ServeResource(key, self.request.path))

    def resource_ready(self, body: bytes, content_type: str = "text/plain") -> NafDigestAction:
        """The 200 with the resource and rspauth over it (RFC 7616 §3.5)."""
        expect(self, self.state, "resource_ready", NafDigestState.SERVING)
        assert self._answer is not None
        d, _ = self._answer
        info = AuthenticationInfo(rspauth=digest.rspauth(d, body), qop=d.qop, nc=d.nc,
                                  cnonce=d.cnonce)
        return self._emit(Respond(HttpResponse(200, (
            ("Content-Type", content_type),
            ("Authentication-Info", info.to_header())), body)))

    # ------------------------------------------------------------------ checks

    def _credentials(self) -> Credentials:
        assert self._creds is not None, "start() parsed the credentials"
        return self._creds

    def _check(self, creds: Credentials) -> datetime:
        """What can be checked before the key; the nonce's expiry (RFC 7616 §3.4)."""
        if creds.realm != self.config.realm:
            raise CodecError(f"realm {creds.realm!r} is not {self.config.realm!r}")
        if (creds.algorithm or ALGORITHM).upper() != ALGORITHM:
            raise CodecError(f"algorithm {creds.algorithm!r} was not offered")
        if creds.qop not in QOPS:
            raise CodecError("credentials without qop=auth or auth-int")
        if creds.uri != self.request.target:
            raise RequestRefused("Digest uri does not match the request-target "
                                 "(RFC 7616 §3.4.6)", status_hint=400)
        return self.config.nonces.check(creds.nonce, self.now)

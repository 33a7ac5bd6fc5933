"""The NAF's side of Ua with HTTP Digest as a sans-IO machine (TS 33.222 §5.3).

The UE presents username = B-TID and a response keyed by password = base64(Ks_(ext)_NAF)
(TS 33.222 §5.3.1) in realm ``3GPP-bootstrapping@<NAF FQDN>``. One
:class:`NafDigestExchange` per request checks, in this order:

* no Authorization, credentials that do not parse, another realm, an algorithm other
  than the offered MD5, no qop (without it there is no nonce count and an Authorization
  could be replayed, RFC 7616 §3.4, §5.4), a nonce not minted here: a fresh 401;
  a nonce past its age: a fresh 401 with ``stale=true``;
* a Digest uri that is not the request-target: 400 (RFC 7616 §3.4.6), as
  :class:`~gba.errors.RequestRefused` with its ``status_hint``;
* the key (:class:`NeedKey`): the BSF unreachable is 503; a B-TID it does not know is a
  fresh 401 so that the UE bootstraps again (TS 33.222 §5.3.1);
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
from gba.protocols import ua
from gba.protocols.actions import CheckNonceCount, NeedKey, Respond, ServeResource, expect
from gba.protocols.contexts import NafKey
from gba.protocols.digest_header import AuthenticationInfo, Challenge, Credentials
from gba.protocols.http import HttpRequest, HttpResponse, text_response

log = logging.getLogger(__name__)

NafDigestAction = NeedKey | CheckNonceCount | ServeResource | Respond
ALGORITHM = "MD5"
QOPS = ("auth", "auth-int")


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
    """A NAF's Digest settings: realm, NAF_Id for Zn, and its nonce mint."""

    realm: str
    naf_id: bytes
    nonces: ua.NonceMint

    @classmethod
    def for_naf(cls, fqdn: str, nonces: ua.NonceMint) -> NafDigestConfig:
        """Realm ``3GPP-bootstrapping@fqdn``, NAF_Id = fqdn || 01 00 00 00 02 (Annex H)."""
        return cls(ua.realm_for(fqdn), fqdn.encode("utf-8") + ua_protocols.HTTP_DIGEST,
                   nonces)


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
                 rng: aka.Rng = os.urandom, peer: str | None = None) -> None:
        self.config = config
        self.request = request
        self.now = now
        self.peer = peer or "-"
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

    # ------------------------------------------------------------------ feeders

    def start(self) -> NafDigestAction:
        """Check the credentials as far as possible without the key."""
        expect(self, self.state, "start", NafDigestState.START)
        header = self.request.header("Authorization")
        if header is None:
            return self._challenge()
        try:
            creds = Credentials.from_header(header)
            self._expires = self._check(creds)
        except RequestRefused as exc:
            log.info("Ua: refused credentials from %s: %s", self.peer, exc)
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
        return self._emit(NeedKey(creds.username, self.config.naf_id))

    def key_received(self, key: NafKey | None) -> NafDigestAction:
        """Ks_NAF for the B-TID, or None when the BSF does not know it (or it expired)."""
        expect(self, self.state, "key_received", NafDigestState.FETCHING_KEY)
        creds = self._credentials()
        if key is None:
            log.info("Ua: B-TID %s unknown to the BSF or expired: asking to re-bootstrap",
                     creds.username)
            return self._challenge()
        d = digest.DigestInput(creds.algorithm or ALGORITHM, creds.username, creds.realm,
                               ua.password_for(key.key), creds.uri, creds.nonce, creds.qop,
                               creds.nc or "00000000", creds.cnonce or "")
        try:
            expected = digest.response(d, self.request.method, self.request.body)
        except GbaError as exc:
            return self._refuse(400, f"unusable credentials: {exc}\n")
        if not digest.verify(expected, creds.response):
            log.warning("Ua: wrong Digest response for %s", creds.username)
            return self._challenge()
        self._answer = (d, key)
        return self._emit(CheckNonceCount(creds.nonce, self._nc, self._expires))

    def key_unavailable(self, reason: str) -> NafDigestAction:
        """The BSF could not be asked, or refused for another reason than the B-TID: 503."""
        expect(self, self.state, "key_unavailable", NafDigestState.FETCHING_KEY)
        log.error("Ua: no key for %s: %s", self._credentials().username, reason)
        return self._refuse(503, "BSF unavailable\n")

    def nonce_count_checked(self, fresh: bool) -> NafDigestAction:
        """Whether the nonce count was above every earlier one for this nonce."""
        expect(self, self.state, "nonce_count_checked", NafDigestState.CHECKING_COUNT)
        assert self._answer is not None
        d, key = self._answer
        if not fresh:
            log.warning("Ua: replayed nonce count %s for %s", d.nc, d.username)
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

"""The BSF's side of Ub as a sans-IO machine: one HTTP request in, actions out.

TS 33.220 §4.5.2 (bootstrapping), TS 24.109 §4.3-§4.5 (Ub over HTTP Digest AKA,
RFC 3310). One :class:`BsfUbExchange` per request:

* no nonce yet (TS 24.109 §4.3.1): ask the HSS for a vector (:class:`NeedVector`), store
  it as a pending challenge, answer 401 with nonce = base64(RAND || AUTN);
* a nonce: take its pending challenge (once). None, or another IMPI's: a fresh challenge
  with ``stale=true``. ``auts``: resynchronise through the HSS (TS 33.102 §6.3.5) and
  challenge again. Otherwise the answer must use qop=auth-int and the request-uri
  (TS 24.109 §4.3.2) and carry the response keyed by XRES; then Ks = CK || IK, the
  B-TID and the lifetime (capped by the GUSS lifeTime) make a context, and the 200
  carries BootstrappingInfo and rspauth (§4.5.2 step 5-7).

GBA_U or GBA_ME is the subscription's, never the UE's (TS 33.220 §5.1: "The decision on
running one or the other shall be based on subscription information (i.e. UICC
capabilities)", acquired "as part of the GBA user security settings received from the
HSS"): the context is GBA_U exactly when the GUSS's ``bsfInfo/uiccType`` is ``GBA_U``.
The User-Agent decides nothing; any is accepted, with or without ``3gpp-gba-tmpi``.
Every response carries ``Server: <product> 3gpp-gba-tmpi`` (TS 33.220 §4.5.2).

Transitions (action emitted -> state -> the feeder that must come next)::

    TakeChallenge  -> TAKING_CHALLENGE  -> challenge_taken(pending | None)
    NeedVector     -> FETCHING_VECTOR   -> vector_received(answer | result code)
                                           or vector_unavailable(reason)
    StoreChallenge -> STORING_CHALLENGE -> challenge_stored()
    StoreContext   -> STORING_CONTEXT   -> context_stored()
    Respond        -> DONE
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum, auto

from gba.crypto import digest, kdf
from gba.errors import CodecError, GbaError, UnknownAlgorithm
from gba.protocols import guss as guss_xml
from gba.protocols import ub
from gba.protocols.actions import (
    NeedVector,
    Respond,
    StoreChallenge,
    StoreContext,
    TakeChallenge,
    expect,
)
from gba.protocols.contexts import BootstrapContext
from gba.protocols.contexts import Challenge as PendingChallenge
from gba.protocols.diameter import ExperimentalResultCode, ResultCode
from gba.protocols.digest_header import AuthenticationInfo, Challenge, Credentials
from gba.protocols.http import HttpRequest, HttpResponse, text_response
from gba.protocols.zh import VectorAnswer, VectorRequest

log = logging.getLogger(__name__)

BsfUbAction = TakeChallenge | NeedVector | StoreChallenge | StoreContext | Respond

REFUSED_BY_HSS = frozenset({ExperimentalResultCode.IMPI_UNKNOWN,
                            ResultCode.AUTHENTICATION_REJECTED})
"""HSS result codes that mean "this user may not bootstrap": 403. Any other is 503."""


class BsfUbState(Enum):
    START = auto()
    TAKING_CHALLENGE = auto()
    FETCHING_VECTOR = auto()
    STORING_CHALLENGE = auto()
    STORING_CONTEXT = auto()
    DONE = auto()


_STATE_AFTER: dict[type[BsfUbAction], BsfUbState] = {
    TakeChallenge: BsfUbState.TAKING_CHALLENGE,
    NeedVector: BsfUbState.FETCHING_VECTOR,
    StoreChallenge: BsfUbState.STORING_CHALLENGE,
    StoreContext: BsfUbState.STORING_CONTEXT,
    Respond: BsfUbState.DONE,
}


DEFAULT_CHALLENGE_LIFETIME = timedelta(minutes=2)
"""How long a 401's vector waits for the UE's answer (the BSF's choice)."""


@dataclass(frozen=True, slots=True)
class BsfUbConfig:
    """The BSF's Ub settings: its realm and server name (the B-TID's domain, TS 33.220
    §4.5.2), the key lifetime, and how long a challenge waits for its answer."""

    realm: str
    server_name: str
    key_lifetime: timedelta
    challenge_lifetime: timedelta = DEFAULT_CHALLENGE_LIFETIME
    product: str = ub.PRODUCT
    """The product named before ``3gpp-gba-tmpi`` in the Server header (TS 33.220 §4.5.2)."""


class BsfUbExchange:
    """One Ub request at the BSF (TS 24.109 §4.3-§4.5)."""

    def __init__(self, config: BsfUbConfig, request: HttpRequest, now: datetime,
                 peer: str | None = None) -> None:
        self.config = config
        self.request = request
        self.now = now
        self.peer = peer or "-"
        self.state = BsfUbState.START
        self._impi = ""
        self._creds: Credentials | None = None
        self._stale = False
        self._nonce = ""
        self._answer: tuple[digest.DigestInput, bytes] | None = None

    def _emit(self, action: BsfUbAction) -> BsfUbAction:
        self.state = _STATE_AFTER[type(action)]
        if isinstance(action, Respond):
            # TS 33.220 §4.5.2: "A BSF shall always include the product token
            # "3gpp-gba-tmpi" in the server response-header field when communicating
            # over Ub" -- refusals included
            r = action.response
            headers = tuple(h for h in r.headers if h[0].lower() != "server")
            return Respond(replace(r, headers=(*headers,
                                               ("Server", ub.server(self.config.product)))))
        return action

    def _refuse(self, status: int, text: str) -> BsfUbAction:
        return self._emit(Respond(text_response(status, text)))

    def _vector_for(self, impi: str, resync: tuple[bytes, bytes] | None = None
                    ) -> BsfUbAction:
        self._impi = impi
        return self._emit(NeedVector(VectorRequest(
            impi, resync[0] if resync else None, resync[1] if resync else None)))

    # ------------------------------------------------------------------ feeders

    def start(self) -> BsfUbAction:
        """Read the Authorization header: a first request, or an answer to a challenge."""
        expect(self, self.state, "start", BsfUbState.START)
        header = self.request.header("Authorization")
        if header is None:
            return self._refuse(400, "Ub request without Authorization: Digest "
                                "username=<IMPI> (TS 24.109 §4.3.1)\n")
        try:
            creds = Credentials.from_header(header)
        except CodecError as exc:
            log.warning("Ub: malformed Authorization from %s: %s", self.peer, exc)
            return self._refuse(400, f"malformed Authorization: {exc}\n")
        self._creds = creds
        if not creds.nonce:
            return self._vector_for(creds.username)
        return self._emit(TakeChallenge(creds.nonce, self.now))

    def challenge_taken(self, pending: PendingChallenge | None) -> BsfUbAction:
        """The pending challenge for the answer's nonce, or None (unknown, taken, expired)."""
        expect(self, self.state, "challenge_taken", BsfUbState.TAKING_CHALLENGE)
        creds = self._credentials()
        if pending is None or pending.impi != creds.username:
            log.info("Ub: unknown, replayed or expired nonce for %s", creds.username)
            self._stale = True
            return self._vector_for(creds.username)
        if creds.auts is not None:
            try:
                auts = digest.decode_auts(creds.auts)
            except CodecError as exc:
                log.warning("Ub: bad auts from %s: %s", pending.impi, exc)
                return self._refuse(400, f"malformed auts: {exc}\n")
            log.info("Ub: synchronisation failure for %s, resynchronising via Zh",
                     pending.impi)
            return self._vector_for(pending.impi, (pending.rand, auts))
        if creds.qop != ub.QOP or creds.uri != self.request.target:
            log.warning("Ub: %s answered without qop=auth-int or for another uri",
                        pending.impi)
            return self._refuse(400, "Ub answers need qop=auth-int and the request-uri "
                                "(TS 24.109 §4.3.2)\n")
        return self._verify(pending, creds)

    def vector_received(self, answer: VectorAnswer | int) -> BsfUbAction:
        """The HSS's vector, or the Diameter result code it refused with."""
        expect(self, self.state, "vector_received", BsfUbState.FETCHING_VECTOR)
        if isinstance(answer, int):
            log.info("Ub: HSS refused %s with result %d", self._impi, answer)
            return self._refuse(403 if answer in REFUSED_BY_HSS else 503,
                                f"HSS refused: {answer}\n")
        self._nonce = digest.aka_nonce(answer.rand, answer.autn)
        return self._emit(StoreChallenge(PendingChallenge(
            nonce=self._nonce, impi=self._impi, rand=answer.rand, autn=answer.autn,
            xres=answer.xres, ck=answer.ck, ik=answer.ik,
            expires=self.now + self.config.challenge_lifetime, guss=answer.guss)))

    def vector_unavailable(self, reason: str) -> BsfUbAction:
        """Zh could not be asked (no peer, timeout, undecodable answer): 503."""
        expect(self, self.state, "vector_unavailable", BsfUbState.FETCHING_VECTOR)
        log.error("Ub: Zh to HSS failed for %s: %s", self._impi, reason)
        return self._refuse(503, "HSS unreachable\n")

    def challenge_stored(self) -> BsfUbAction:
        """The 401 with the AKA challenge (TS 24.109 §4.3.1; RFC 3310 §3.2)."""
        expect(self, self.state, "challenge_stored", BsfUbState.STORING_CHALLENGE)
        challenge = Challenge(realm=self.config.realm, nonce=self._nonce,
                              algorithm=ub.ALGORITHM, qop=(ub.QOP,), stale=self._stale)
        return self._emit(Respond(HttpResponse(
            401, (("WWW-Authenticate", challenge.to_header()),))))

    def context_stored(self) -> BsfUbAction:
        """The 200 with BootstrappingInfo and rspauth (TS 24.109 §4.5.2)."""
        expect(self, self.state, "context_stored", BsfUbState.STORING_CONTEXT)
        assert self._answer is not None
        d, body = self._answer
        info = AuthenticationInfo(rspauth=digest.rspauth(d, body), qop=d.qop, nc=d.nc,
                                  cnonce=d.cnonce)
        return self._emit(Respond(HttpResponse(200, (
            ("Content-Type", ub.CONTENT_TYPE),
            ("Authentication-Info", info.to_header())), body)))

    # ------------------------------------------------------------------ checks

    def _credentials(self) -> Credentials:
        assert self._creds is not None, "start() parsed the credentials"
        return self._creds

    def _verify(self, pending: PendingChallenge, creds: Credentials) -> BsfUbAction:
        """RES against XRES (RFC 3310 §3.3), then the context (TS 33.220 §4.5.2 step 4-6)."""
        try:
            alg = digest.algorithm(creds.algorithm or ub.ALGORITHM)
            if alg.aka_version != 1 or creds.realm != self.config.realm:
                raise UnknownAlgorithm("Ub needs AKAv1-MD5 in the home realm")
            d = digest.DigestInput(alg.token, creds.username, creds.realm, pending.xres,
                                   creds.uri, pending.nonce, creds.qop,
                                   creds.nc or "00000001", creds.cnonce or "")
            expected = digest.response(d, self.request.method, self.request.body)
        except GbaError as exc:
            log.warning("Ub: unusable credentials from %s: %s", pending.impi, exc)
            return self._refuse(400, f"unusable credentials: {exc}\n")
        if not digest.verify(expected, creds.response):
            log.warning("Ub: wrong RES from %s", pending.impi)
            return self._refuse(403, "authentication failed\n")
        ctx = self._context(pending)
        log.info("Ub: %s bootstrapped, B-TID %s until %s", ctx.impi, ctx.btid,
                 ub.format_time(ctx.expires))
        self._answer = (d, ub.BootstrappingInfo(ctx.btid, ctx.expires).encode())
        return self._emit(StoreContext(ctx))

    def _context(self, pending: PendingChallenge) -> BootstrapContext:
        """Ks, B-TID, lifetime, and GBA_U from the subscription alone (TS 33.220 §5.1):
        no GUSS, or an unreadable one, is GBA_ME."""
        lifetime = self.config.key_lifetime
        gba_u = False
        if pending.guss:
            try:
                settings = guss_xml.decode_guss(pending.guss)
                if settings.lifetime_s:
                    lifetime = min(lifetime, timedelta(seconds=settings.lifetime_s))
                gba_u = settings.uicc_type == guss_xml.UICC_GBA_U
            except CodecError as exc:
                log.warning("Ub: GUSS of %s unreadable, defaults (GBA_ME) used: %s",
                            pending.impi, exc)
        return BootstrapContext(
            btid=kdf.btid(pending.rand, self.config.server_name), impi=pending.impi,
            ks=kdf.ks(pending.ck, pending.ik), rand=pending.rand, created=self.now,
            expires=kdf.key_expiry(self.now, lifetime), guss=pending.guss, gba_u=gba_u)

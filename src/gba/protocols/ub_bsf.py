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

An MTC device (seed 004; docs/mtc.md §2, §4) adds its group, group-key identifier and
small-data capability to both requests (``X-MTC-Group``, ``X-MTC-Small-Data``):
:class:`NeedVector` carries them, ``vector_received`` takes the settings with the
group's vector (from the HSS or reused by the driver), the challenge remembers the request
and the answer must repeat it, and the context gets the settings, a B-TID of its own
(:func:`gba.protocols.mtc.mtc_btid`: devices may share RAND) and, in the 200,
``X-MTC-Subkeys`` naming the small-data keys the BSF will derive. The HSS's MTC refusals
(docs/mtc.md §3) are 403s that say why.

GBA_U or GBA_ME is the subscription's, never the UE's (TS 33.220 §5.1: "The decision on
running one or the other shall be based on subscription information (i.e. UICC
capabilities)", acquired "as part of the GBA user security settings received from the
HSS"): the context is GBA_U exactly when the GUSS's ``bsfInfo/uiccType`` is ``GBA_U``.
The User-Agent decides nothing; any is accepted, with or without ``3gpp-gba-tmpi``.
Every response carries ``Server: <product> 3gpp-gba-tmpi`` (TS 33.220 §4.5.2).

Ub does not tell who is subscribed (TS 33.220 §4.5.2 leaves unknown users to the BSF;
TS 33.102 §6.3.2 makes every vector spend an SQN):

* an IMPI the HSS refuses (5401 unknown, 5003 rejected) gets a *decoy* challenge: a
  401 of the same shape, nonce base64(RAND || AUTN) of 32 octets whose AUTN carries the
  AMF real ones carry and an HMAC tag (keyed by ``decoy_key``) where SQN xor AK and MAC
  stand. It is stored like a real one with a random XRES, so the answer fails exactly as
  a wrong RES does (403), and an ``auts`` for it fails as a bad AUTS does (403);
* before the HSS is asked (first request, stale nonce, resynchronisation) the driver is
  asked to admit one more challenge for the IMPI and the source address
  (:class:`AdmitChallenge`, :mod:`gba.protocols.ratelimit`); over the limit, known or
  not, the answer is 429 with Retry-After and the HSS is not asked.

Transitions (action emitted -> state -> the feeder that must come next)::

    TakeChallenge  -> TAKING_CHALLENGE  -> challenge_taken(pending | None)
    AdmitChallenge -> ADMITTING         -> challenge_admitted(None | seconds to wait)
    NeedVector     -> FETCHING_VECTOR   -> vector_received(answer | result code)
                                           or vector_unavailable(reason)
    StoreChallenge -> STORING_CHALLENGE -> challenge_stored()
    StoreContext   -> STORING_CONTEXT   -> context_stored()
    Respond        -> DONE
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum, auto

from gba.crypto import digest, kdf
from gba.crypto.aka import Rng
from gba.errors import CodecError, GbaError, UnknownAlgorithm
from gba.protocols import guss as guss_xml
from gba.protocols import mtc, ub
from gba.protocols.actions import (
    AdmitChallenge,
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
from gba.protocols.ratelimit import retry_after
from gba.protocols.zh import VectorAnswer, VectorRequest
from gba.protocols.zh_mtc import MtcResultCode

log = logging.getLogger(__name__)

BsfUbAction = (TakeChallenge | AdmitChallenge | NeedVector | StoreChallenge | StoreContext
               | Respond)

REFUSED_BY_HSS = frozenset({ExperimentalResultCode.IMPI_UNKNOWN,
                            ResultCode.AUTHENTICATION_REJECTED})
"""HSS result codes that mean "this user may not bootstrap": a decoy challenge, or after
an ``auts`` the 403 of a failed authentication. Any other is 503."""

AUTH_FAILED = "authentication failed\n"
"""The one 403 body for a wrong RES, a decoy's answer and a refused resynchronisation."""

DECOY_LABEL = b"gba ub decoy challenge"


class BsfUbState(Enum):
    START = auto()
    TAKING_CHALLENGE = auto()
    ADMITTING = auto()
    FETCHING_VECTOR = auto()
    STORING_CHALLENGE = auto()
    STORING_CONTEXT = auto()
    DONE = auto()


_STATE_AFTER: dict[type[BsfUbAction], BsfUbState] = {
    TakeChallenge: BsfUbState.TAKING_CHALLENGE,
    AdmitChallenge: BsfUbState.ADMITTING,
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
    decoy_key: bytes = field(default_factory=lambda: os.urandom(32), repr=False)
    """Keys the tag that marks a decoy nonce; one per BSF, kept for as long as it runs."""
    decoy_amf: bytes = b"\x00\x00"
    """The AMF a decoy AUTN shows in the clear: the one the HSS's vectors carry."""
    mtc_subkeys: str = "none"
    """The small-data keys derived from K_IWF for MTC devices (docs/mtc.md §4)."""


MTC_REFUSALS = {
    int(MtcResultCode.NOT_A_MEMBER): "the device is not a member of that group",
    int(MtcResultCode.NO_SMALL_DATA): "no small-data capability for this device",
    int(MtcResultCode.STALE_GROUP_KEY): "that group key is not the group's current key",
    int(MtcResultCode.UNKNOWN_GROUP): "unknown MTC group",
}
"""The HSS's MTC refusals (docs/mtc.md §3) as the 403 tells the device."""
MTC_SUBKEYS_HEADER = "X-MTC-Subkeys"
MTC_NONCE_DATA = 8
"""Octets of server data in an MTC device's nonce (RFC 3310 §3.2: base64(RAND || AUTN ||
server data)): devices sharing a vector still get distinct nonces."""


def mtc_binding(req: mtc.InitRequest) -> str:
    """The canonical text of an initialisation request, kept with its challenge."""
    return f"{req.group_id};{req.key_id};{int(req.capability)}"


def decoy_challenge(config: BsfUbConfig, impi: str, now: datetime, rng: Rng
                    ) -> PendingChallenge:
    """A challenge for an IMPI the HSS refused, shaped like a real one (RFC 3310 §3.2:
    RAND and AUTN, 16 octets each; AUTN = SQN xor AK || AMF || MAC, TS 33.102 §6.3.2),
    with an XRES nobody knows."""
    rand = rng(16)
    tag = _decoy_tag(config.decoy_key, impi, rand)
    autn = tag[:6] + config.decoy_amf + tag[6:]
    return PendingChallenge(nonce=digest.aka_nonce(rand, autn), impi=impi, rand=rand,
                            autn=autn, xres=rng(16), ck=rng(16), ik=rng(16),
                            expires=now + config.challenge_lifetime)


def is_decoy(config: BsfUbConfig, pending: PendingChallenge) -> bool:
    """Whether *pending* was made by :func:`decoy_challenge` with this config's key."""
    tag = _decoy_tag(config.decoy_key, pending.impi, pending.rand)
    return hmac.compare_digest(pending.autn[:6] + pending.autn[8:], tag)


def _decoy_tag(key: bytes, impi: str, rand: bytes) -> bytes:
    return hmac.new(key, DECOY_LABEL + rand + impi.encode("utf-8"), hashlib.sha256
                    ).digest()[:14]


class BsfUbExchange:
    """One Ub request at the BSF (TS 24.109 §4.3-§4.5)."""

    def __init__(self, config: BsfUbConfig, request: HttpRequest, now: datetime,
                 peer: str | None = None, rng: Rng = os.urandom) -> None:
        self.config = config
        self.request = request
        self.now = now
        self.source = peer
        self.peer = peer or "-"
        self.rng = rng
        self.state = BsfUbState.START
        self._impi = ""
        self._resync: tuple[bytes, bytes] | None = None
        self._creds: Credentials | None = None
        self._stale = False
        self._nonce = ""
        self._answer: tuple[digest.DigestInput, bytes] | None = None
        self._mtc: mtc.InitRequest | None = None
        self._mtc_context = False

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

    def _refuse(self, status: int, text: str, headers: tuple[tuple[str, str], ...] = ()
                ) -> BsfUbAction:
        return self._emit(Respond(text_response(status, text, headers)))

    def _vector_for(self, impi: str, resync: tuple[bytes, bytes] | None = None
                    ) -> BsfUbAction:
        """Every way to the HSS passes the rate limits first."""
        self._impi = impi
        self._resync = resync
        return self._emit(AdmitChallenge(impi, self.source, self.now))

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
            log.warning("Ub: malformed Authorization from %s: %s", self.peer, exc,
                        extra=self._fields(None, 400))
            return self._refuse(400, f"malformed Authorization: {exc}\n")
        self._creds = creds
        try:
            self._mtc = mtc.parse_request_headers(self.request.header)
        except CodecError as exc:
            log.warning("Ub: malformed MTC request from %s: %s", self.peer, exc,
                        extra=self._fields(creds.username, 400))
            return self._refuse(400, f"malformed MTC initialisation request: {exc}\n")
        if not creds.nonce:
            return self._vector_for(creds.username)
        return self._emit(TakeChallenge(creds.nonce, self.now))

    def challenge_taken(self, pending: PendingChallenge | None) -> BsfUbAction:
        """The pending challenge for the answer's nonce, or None (unknown, taken, expired)."""
        expect(self, self.state, "challenge_taken", BsfUbState.TAKING_CHALLENGE)
        creds = self._credentials()
        if pending is None or pending.impi != creds.username:
            log.info("Ub: unknown, replayed or expired nonce for %s", creds.username,
                     extra=self._fields(creds.username))
            self._stale = True
            return self._vector_for(creds.username)
        bound = pending.mtc.partition("\n")[0] if pending.mtc is not None else None
        if bound != (mtc_binding(self._mtc) if self._mtc is not None else None):
            log.warning("Ub: %s answered a challenge with another MTC request",
                        pending.impi, extra=self._fields(pending.impi, 403))
            return self._refuse(403, "the MTC request differs from the one challenged\n")
        if creds.auts is not None:
            try:
                auts = digest.decode_auts(creds.auts)
            except CodecError as exc:
                log.warning("Ub: bad auts from %s: %s", pending.impi, exc,
                            extra=self._fields(pending.impi, 400))
                return self._refuse(400, f"malformed auts: {exc}\n")
            log.info("Ub: synchronisation failure for %s, resynchronising via Zh",
                     pending.impi, extra=self._fields(pending.impi))
            return self._vector_for(pending.impi, (pending.rand, auts))
        if creds.qop != ub.QOP or creds.uri != self.request.target:
            log.warning("Ub: %s answered without qop=auth-int or for another uri",
                        pending.impi, extra=self._fields(pending.impi, 400))
            return self._refuse(400, "Ub answers need qop=auth-int and the request-uri "
                                "(TS 24.109 §4.3.2)\n")
        return self._verify(pending, creds)

    def challenge_admitted(self, wait: float | None) -> BsfUbAction:
        """None: ask the HSS. Seconds: over a rate limit, 429 (RFC 6585 §4) whether the
        IMPI is known or not, and no SQN spent."""
        expect(self, self.state, "challenge_admitted", BsfUbState.ADMITTING)
        if wait is not None:
            log.warning("Ub: challenge for %s from %s over the rate limit, retry in %.1fs",
                        self._impi, self.peer, wait, extra=self._fields(self._impi, 429))
            return self._refuse(429, "too many challenges, retry later\n",
                                (("Retry-After", retry_after(wait)),))
        resync = self._resync
        return self._emit(NeedVector(VectorRequest(
            self._impi, resync[0] if resync else None, resync[1] if resync else None),
            self._mtc))

    def vector_received(self, answer: VectorAnswer | int, mtc_settings: str | None = None
                        ) -> BsfUbAction:
        """The HSS's vector, or the Diameter result code it refused with: a refused IMPI
        is challenged with a decoy, a refused resynchronisation fails as a wrong RES. For
        an MTC device, the group's vector with *mtc_settings*, or an MTC refusal (403)."""
        expect(self, self.state, "vector_received", BsfUbState.FETCHING_VECTOR)
        if isinstance(answer, int) and self._mtc is not None and answer in MTC_REFUSALS:
            log.info("Ub: MTC device %s refused: %s", self._impi, MTC_REFUSALS[answer],
                     extra=self._fields(self._impi, 403))
            return self._refuse(403, MTC_REFUSALS[answer] + "\n")
        if self._mtc is not None and not isinstance(answer, int) and mtc_settings is None:
            return self._refuse(503, "no MTC security settings with the group's vector\n")
        if isinstance(answer, int):
            if answer not in REFUSED_BY_HSS:
                log.warning("Ub: HSS answered %d for %s", answer, self._impi,
                            extra=self._fields(self._impi, 503))
                return self._refuse(503, f"HSS refused: {answer}\n")
            if self._resync is not None:
                log.warning("Ub: HSS refused to resynchronise %s: %d", self._impi, answer,
                            extra=self._fields(self._impi, 403))
                return self._refuse(403, AUTH_FAILED)
            log.info("Ub: HSS refused %s with %d; a decoy challenge answers", self._impi,
                     answer, extra=self._fields(self._impi))
            pending = decoy_challenge(self.config, self._impi, self.now, self.rng)
        else:
            # devices of an MTC group may share a vector: server data in the nonce
            # (RFC 3310 §3.2) keeps each device's challenge its own
            nonce = digest.aka_nonce(answer.rand, answer.autn,
                                     self.rng(MTC_NONCE_DATA) if self._mtc else b"")
            pending = PendingChallenge(
                nonce=nonce, impi=self._impi,
                rand=answer.rand, autn=answer.autn, xres=answer.xres, ck=answer.ck,
                ik=answer.ik, expires=self.now + self.config.challenge_lifetime,
                guss=answer.guss,
                mtc=None if self._mtc is None else f"{mtc_binding(self._mtc)}\n{mtc_settings}")
        self._nonce = pending.nonce
        return self._emit(StoreChallenge(pending))

    def limits_unavailable(self, reason: str) -> BsfUbAction:
        """The shared challenge limits could not be read: 503, and the HSS is not asked
        (failing open would let a prober past the limits whenever the store is down)."""
        expect(self, self.state, "limits_unavailable", BsfUbState.ADMITTING)
        log.error("Ub: challenge limits for %s unavailable: %s", self._impi, reason,
                  extra=self._fields(self._impi, 503))
        return self._refuse(503, "BSF store unreachable\n")

    def vector_unavailable(self, reason: str) -> BsfUbAction:
        """Zh could not be asked (no peer, timeout, undecodable answer): 503."""
        expect(self, self.state, "vector_unavailable", BsfUbState.FETCHING_VECTOR)
        log.error("Ub: Zh to HSS failed for %s: %s", self._impi, reason,
                  extra=self._fields(self._impi, 503))
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
        mtc_headers = ((MTC_SUBKEYS_HEADER, self.config.mtc_subkeys),) \
            if self._mtc_context else ()
        return self._emit(Respond(HttpResponse(200, (
            ("Content-Type", ub.CONTENT_TYPE),
            ("Authentication-Info", info.to_header()), *mtc_headers), body)))

    # ------------------------------------------------------------------ checks

    def _fields(self, impi: str | None, result: int | None = None) -> dict[str, object]:
        """The structured fields of a log line (:mod:`gba.observe.logs`): identifiers
        and the HTTP status this request gets, never key material."""
        fields: dict[str, object] = {"interface": "ub", "peer": self.peer}
        if impi is not None:
            fields["impi"] = impi
        if result is not None:
            fields["result"] = result
        return fields

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
            log.warning("Ub: unusable credentials from %s: %s", pending.impi, exc,
                        extra=self._fields(pending.impi, 400))
            return self._refuse(400, f"unusable credentials: {exc}\n")
        # a decoy's XRES is random, so the check fails anyway; both run on every answer
        decoy = is_decoy(self.config, pending)
        if not digest.verify(expected, creds.response) or decoy:
            log.warning("Ub: wrong RES from %s%s", pending.impi,
                        " (to a decoy challenge)" if decoy else "",
                        extra=self._fields(pending.impi, 403))
            return self._refuse(403, AUTH_FAILED)
        ctx = self._context(pending)
        log.info("Ub: %s bootstrapped, B-TID %s until %s", ctx.impi, ctx.btid,
                 ub.format_time(ctx.expires),
                 extra={**self._fields(ctx.impi, 200), "btid": ctx.btid})
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
        btid = kdf.btid(pending.rand, self.config.server_name)
        device_settings = None
        if pending.mtc is not None:
            device_settings = pending.mtc.partition("\n")[2]
            try:
                lifetime = min(lifetime, timedelta(
                    seconds=mtc.decode_settings(device_settings).lifetime_s))
            except CodecError as exc:
                log.warning("Ub: MTC settings of %s unreadable: %s", pending.impi, exc)
            btid = mtc.mtc_btid(pending.rand, pending.impi, self.config.server_name)
            self._mtc_context = True
        return BootstrapContext(
            btid=btid, impi=pending.impi,
            ks=kdf.ks(pending.ck, pending.ik), rand=pending.rand, created=self.now,
            expires=kdf.key_expiry(self.now, lifetime), guss=pending.guss, gba_u=gba_u,
            mtc=device_settings)

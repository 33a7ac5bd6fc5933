"""The UE's side of Ub as a sans-IO machine: bootstrap with one USIM against one BSF.

TS 33.220 §4.5.2, TS 24.109 §4.3-§4.5, RFC 3310. :class:`UeUbExchange` builds the
requests, runs AKA on the USIM model and checks what the BSF answers:

1. ``GET`` with ``Authorization: Digest username=<IMPI>``, empty nonce and response, and
   the product token ``3gpp-gba-tmpi`` in User-Agent on every Ub request (TS 33.220
   §4.5.2; TS 24.109 §4.3.1). The Ub messages are the same for GBA_U and GBA_ME (TS
   33.220 §5.1: the BSF decides by subscription), so the UE signals no UICC type;
2. on the 401: RAND and AUTN from the nonce to the USIM. MAC-A wrong: the BSF is not
   authentic (:class:`~gba.errors.MacFailure`). SQN out of range: answer with ``auts``
   and an empty password (RFC 3310 §3.4) and expect a fresh challenge. Else answer with
   the response keyed by RES, qop=auth-int over the request-uri (TS 24.109 §4.3.2);
3. on the 200: rspauth must verify (the BSF holds XRES, §4.5.2 step 5), then the
   BootstrappingInfo body gives B-TID and lifetime, and Ks = CK || IK.

Transitions: ``start()`` -> :class:`Send` -> CHALLENGED; ``response_received`` in
CHALLENGED -> :class:`Send` (AUTS: CHALLENGED again, at most three challenges; RES:
ANSWERED); in ANSWERED -> :class:`Bootstrapped` -> DONE. Anything the BSF gets wrong
raises :class:`~gba.errors.ProtocolError` or :class:`~gba.errors.AuthError`.
"""

from __future__ import annotations

import os
from enum import Enum, auto

from gba.crypto import aka, digest, kdf
from gba.errors import AuthError, ProtocolError
from gba.protocols import ub
from gba.protocols.actions import Bootstrapped, Send, Trace, expect, no_trace
from gba.protocols.digest_header import AuthenticationInfo, Challenge, Credentials
from gba.protocols.http import HttpRequest, HttpResponse

MAX_CHALLENGES = 3
"""A challenge, at most two resynchronisations, and the fresh challenge after each."""

UeUbAction = Send | Bootstrapped


class UeUbState(Enum):
    START = auto()
    CHALLENGED = auto()
    ANSWERED = auto()
    DONE = auto()


class UeUbExchange:
    """One bootstrapping run of a UE (TS 33.220 §4.5.2)."""

    def __init__(self, impi: str, usim: aka.Usim, uri: str = "/", *,
                 rng: aka.Rng = os.urandom, trace: Trace = no_trace,
                 user_agent: str = ub.user_agent(),
                 extra_headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.impi = impi
        self.extra_headers = extra_headers
        """Sent on every request: an MTC device's group and capability (docs/mtc.md §2)."""
        self.final: HttpResponse | None = None
        """The BSF's 200, once bootstrapped (its headers may say more, e.g. X-MTC-Subkeys)."""
        self.usim = usim
        self.uri = uri
        self.user_agent = user_agent
        self.state = UeUbState.START
        self._rng = rng
        self._trace = trace
        self._challenges = 0
        self._pending: tuple[digest.DigestInput, bytes, aka.AkaSuccess] | None = None

    def _request(self, creds: Credentials) -> Send:
        return Send(HttpRequest("GET", self.uri, (
            ("User-Agent", self.user_agent),
            ("Authorization", creds.to_header()), *self.extra_headers)))

    def start(self) -> Send:
        """The first request: the IMPI only (TS 24.109 §4.3.1)."""
        expect(self, self.state, "start", UeUbState.START)
        realm = self.impi.partition("@")[2] or self.impi
        self._trace(f"UE -> BSF  GET / Authorization: Digest username={self.impi}")
        self.state = UeUbState.CHALLENGED
        return self._request(ub.initial_credentials(self.impi, realm, self.uri))

    def response_received(self, response: HttpResponse) -> UeUbAction:
        """The BSF's answer to the last request sent."""
        expect(self, self.state, "response_received", UeUbState.CHALLENGED,
               UeUbState.ANSWERED)
        if self.state is UeUbState.ANSWERED:
            return self._result(response)
        if response.status != 401:
            why = response.body[:200].decode("utf-8", "replace").strip()
            raise ProtocolError(f"BSF answered {response.status} instead of a 401 challenge"
                                + (f": {why}" if why else ""))
        if self._challenges >= MAX_CHALLENGES:
            raise ProtocolError("BSF kept challenging after resynchronisation")
        self._challenges += 1
        challenge = Challenge.from_header(response.header("WWW-Authenticate") or "")
        rand, autn, _ = digest.parse_aka_nonce(challenge.nonce)
        self._trace(f"BSF -> UE  401 nonce=base64(RAND {rand.hex()} || AUTN {autn.hex()})")
        result = self.usim.authenticate(rand, autn)  # MacFailure: the BSF is not authentic
        cnonce = self._rng(8).hex()
        if isinstance(result, aka.AkaSyncFailure):
            d = self._digest(challenge, b"", cnonce)
            creds = self._credentials(d, digest.response(d, "GET"),
                                      digest.encode_auts(result.auts))
            self._trace("UE         SQN out of range: synchronisation failure, sending AUTS")
            return self._request(creds)
        d = self._digest(challenge, result.res, cnonce)
        self._pending = (d, rand, result)
        self._trace("UE         AUTN verified; UE -> BSF  GET / with response keyed by RES")
        self.state = UeUbState.ANSWERED
        return self._request(self._credentials(d, digest.response(d, "GET")))

    def _result(self, response: HttpResponse) -> Bootstrapped:
        """The 200: rspauth, then BootstrappingInfo (TS 24.109 §4.5.2)."""
        assert self._pending is not None
        d, rand, result = self._pending
        if response.status != 200:
            raise AuthError(f"BSF rejected the AKA response with {response.status}")
        info = AuthenticationInfo.from_header(response.header("Authentication-Info") or "")
        if not digest.verify(digest.rspauth(d, response.body), info.rspauth):
            raise AuthError("BSF rspauth does not verify (TS 33.220 §4.5.2 step 5)")
        boot = ub.BootstrappingInfo.decode(response.body)
        self.final = response
        self.state = UeUbState.DONE
        self._trace(f"BSF -> UE  200 B-TID {boot.btid} lifetime "
                    f"{ub.format_time(boot.lifetime)} (rspauth verified)")
        return Bootstrapped(ub.Bootstrap(self.impi, boot.btid, kdf.ks(result.ck, result.ik),
                                         rand, boot.lifetime))

    def _digest(self, challenge: Challenge, password: bytes, cnonce: str
                ) -> digest.DigestInput:
        return digest.DigestInput(ub.ALGORITHM, self.impi, challenge.realm, password,
                                  self.uri, challenge.nonce, ub.QOP, "00000001", cnonce)

    def _credentials(self, d: digest.DigestInput, response: str, auts: str | None = None
                     ) -> Credentials:
        return Credentials(username=d.username, realm=d.realm, nonce=d.nonce, uri=d.uri,
                           response=response, algorithm=ub.ALGORITHM, qop=d.qop, nc=d.nc,
                           cnonce=d.cnonce, auts=auts)

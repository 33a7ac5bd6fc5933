"""The UE's side of Ua with HTTP Digest as a sans-IO machine (TS 33.222 §5.3).

:class:`UeDigestExchange` fetches one NAF resource. Every request carries the product
token ``3gpp-gba`` in User-Agent (TS 24.109 §5.2.2.1 and its Annex E example; the
normative wording was not read: UNVERIFIED), whatever transport sends it.

1. the request without credentials; a 401 from the NAF carries a Digest challenge whose
   realm must be ``3GPP-bootstrapping@<NAF FQDN>`` (TS 33.222 §5.3.1), else the NAF is
   not a GBA NAF for that host (:class:`~gba.errors.ProtocolError`);
2. :class:`NeedNafKey`: the driver bootstraps if needed and derives Ks_(ext)_NAF for
   NAF_Id = FQDN || Ua protocol, where the protocol follows the transport that carried
   the 401 (TS 33.222 §5.3, TS 33.220 H.3): 01 00 00 00 02 over plain HTTP, 01 00 01 yy zz
   over server-authenticated TLS (up to 1.2) with suite yy zz, as the driver reports it
   in ``response_received(..., tls_suite=)``;
3. the request again with username = B-TID, password = base64(Ks_NAF), qop auth-int when
   offered (else auth), over the request-target with its query;
4. a 200 must carry Authentication-Info whose rspauth verifies: the NAF proves it holds
   Ks_NAF (RFC 7616 §3.5), else :class:`~gba.errors.AuthError`. Another 401 means the NAF
   did not accept the B-TID: bootstrap anew, once (TS 33.222 §5.3.1).

Transitions: ``start()`` -> :class:`Send` -> SENT; ``response_received`` -> :class:`Done`
(DONE) or :class:`NeedNafKey` (KEYING); ``key_received`` -> :class:`Send` (SENT).
"""

from __future__ import annotations

import os
from enum import Enum, auto

from gba.crypto import aka, digest, ua_protocols
from gba.errors import AuthError, ProtocolError
from gba.protocols import ua, ub
from gba.protocols.actions import Done, NeedNafKey, Send, Trace, expect, no_trace
from gba.protocols.digest_header import AuthenticationInfo, Challenge, Credentials
from gba.protocols.http import HttpRequest, HttpResponse

UeDigestAction = Send | NeedNafKey | Done
MAX_ATTEMPTS = 2
"""Credentials from the held bootstrap, then once more after a forced bootstrap."""
MAX_REKEYS = 2
"""How often a 401 over a connection of another suite than the key's is answered with a
key for that suite (no bootstrap), before it counts as a refusal."""


class UeDigestState(Enum):
    START = auto()
    SENT = auto()
    KEYING = auto()
    DONE = auto()


class UeDigestExchange:
    """One Digest-protected request of a UE to a NAF (TS 33.222 §5.3)."""

    def __init__(self, method: str, target: str, naf_fqdn: str, body: bytes = b"", *,
                 rng: aka.Rng = os.urandom, trace: Trace = no_trace,
                 user_agent: str = ub.ua_user_agent(), ua_protocol: bytes | None = None
                 ) -> None:
        """*ua_protocol*: the Ua security protocol id of the NAF_Id when the application
        fixes it (MBMS: 01 00 00 00 01, TS 33.220 Annex H.3; TS 33.246 §6.1), else the
        one of Digest over the transport used."""
        self.ua_protocol = ua_protocol
        self.method = method
        self.target = target
        self.naf_fqdn = naf_fqdn
        self.body = body
        self.user_agent = user_agent
        self.state = UeDigestState.START
        self._rng = rng
        self._trace = trace
        self._attempts = 0
        self._challenge: Challenge | None = None
        self._sent: digest.DigestInput | None = None
        self._keyed_suite: int | None = None
        self._rekeys = 0

    def _send(self, headers: tuple[tuple[str, str], ...] = ()) -> Send:
        self.state = UeDigestState.SENT
        return Send(HttpRequest(self.method, self.target,
                                (("User-Agent", self.user_agent), *headers), self.body))

    def start(self) -> Send:
        """The request without credentials: the NAF names its realm in a 401."""
        expect(self, self.state, "start", UeDigestState.START)
        return self._send()

    def response_received(self, response: HttpResponse, tls_suite: int | None = None
                          ) -> UeDigestAction:
        """The NAF's answer to the last request sent; *tls_suite* is the ciphersuite of
        the TLS connection that carried it, None over plain HTTP."""
        expect(self, self.state, "response_received", UeDigestState.SENT)
        # a 401 that came over a connection of another suite than the one the key is for
        # (the client opened a new connection): a key for this suite, no new bootstrap
        rekey = (response.status == 401 and self._sent is not None
                 and tls_suite != self._keyed_suite and self._rekeys < MAX_REKEYS)
        if self._sent is not None and not rekey:
            self._check_answer(response, self._sent)
        challenge_header = response.header("WWW-Authenticate") or ""
        if (response.status != 401 or (self._attempts >= MAX_ATTEMPTS and not rekey)
                or not challenge_header.lower().startswith("digest")):
            # another scheme (a roaming server asking for the permanent identity with
            # EAP, docs/roaming.md §1 D) is the caller's to answer
            self.state = UeDigestState.DONE
            return Done(response)
        challenge = Challenge.from_header(response.header("WWW-Authenticate") or "")
        if challenge.realm != ua.realm_for(self.naf_fqdn):
            raise ProtocolError(f"NAF realm {challenge.realm!r} is not a GBA realm for "
                                f"{self.naf_fqdn}")
        self._challenge = challenge
        self._keyed_suite = tls_suite
        if rekey:
            self._rekeys += 1
            self._trace("NAF -> UE  401 over a connection of another TLS suite: keying "
                        "for that suite")
        else:
            self._attempts += 1
        self.state = UeDigestState.KEYING
        return NeedNafKey(self.naf_fqdn,
                          self.ua_protocol or ua_protocols.digest_protocol(tls_suite),
                          force_bootstrap=self._attempts > 1 and not rekey)

    def key_received(self, btid: str, ks_naf: bytes) -> Send:
        """Ks_(ext)_NAF and its B-TID: answer the challenge (TS 33.222 §5.3.1)."""
        expect(self, self.state, "key_received", UeDigestState.KEYING)
        c = self._challenge
        assert c is not None
        qop = "auth-int" if "auth-int" in c.qop else "auth"
        d = digest.DigestInput(c.algorithm, btid, c.realm, ua.password_for(ks_naf),
                               self.target, c.nonce, qop, "00000001", self._rng(8).hex())
        creds = Credentials(username=btid, realm=d.realm, nonce=d.nonce, uri=self.target,
                            response=digest.response(d, self.method, self.body),
                            algorithm=c.algorithm, qop=qop, nc=d.nc, cnonce=d.cnonce,
                            opaque=c.opaque)
        self._sent = d
        self._trace(f"UE -> NAF  {self.method} {self.target} Digest username={btid} "
                    "(password = base64(Ks_NAF))")
        return self._send((("Authorization", creds.to_header()),))

    def _check_answer(self, response: HttpResponse, d: digest.DigestInput) -> None:
        if response.status == 200:
            header = response.header("Authentication-Info")
            if header is None:
                raise AuthError("NAF answered 200 without Authentication-Info: it did not "
                                "prove it holds Ks_NAF (RFC 7616 §3.5)")
            info = AuthenticationInfo.from_header(header)
            if not digest.verify(digest.rspauth(d, response.body), info.rspauth):
                raise AuthError("NAF rspauth does not verify")
            self._trace("NAF -> UE  200 (rspauth verified: the NAF holds Ks_NAF)")
        elif response.status == 401:
            self._trace("NAF -> UE  401 again: B-TID not accepted, bootstrapping anew")

"""The home BSF's EAP-AKA authenticator as a sans-IO machine (docs/roaming.md §1 case D).

RFC 4187 full authentication (its clause numbers other than §7 are UNVERIFIED), run by
the home BSF for a visited server that cannot read B-TIDs (steps 407-409): the
EAP-Response/Identity carries the permanent identity
``0<IMSI>@<home realm>`` (RFC 4187 §4.1.1.6, UNVERIFIED clause); the machine maps it to the
IMPI the HSS knows (a parameter: :func:`impi_of_permanent_identity` by default, since the
MNC length is not in the IMSI), asks Zh for **one** vector (:class:`NeedVector`, as the Ub
machine :mod:`gba.protocols.ub_bsf` does), sends EAP-Request/AKA-Challenge with AT_RAND,
AT_AUTN and AT_MAC (RFC 4187 §9.3, UNVERIFIED clause), and checks the answer: AT_MAC first
(RFC 4186 §10.14 read: "the recipient MUST process the AT_MAC attribute before looking at
any other attributes"), then RES = XRES in constant time. An AKA-Synchronization-Failure
with AT_AUTS costs exactly one more vector, asked with RAND || AUTS (TS 33.102 §6.3.5); a
second one fails. Ks = CK || IK of the run that succeeded (TS 33.220 §4.5.2).

MK, K_aut, MSK and EMSK are derived (RFC 4187 §7) because AT_MAC needs K_aut; MSK and EMSK
leave nothing here (docs/roaming.md §1 row 409: no EAP-Master-Session-Key).

Project choices [P], deviating from RFC 4187 where the transport asks it:

* every error ends the run with EAP-Failure at once; RFC 4187 §6.3.2 (as RFC 4186 §6.3.2,
  read, and hostapd ``eap_server_aka.c``) would first send an AKA-Notification "General
  failure" and fail after its answer, a round trip the Diameter/HTTP chain of case D does
  without. AKA-Authentication-Reject and AKA-Client-Error fail at once in hostapd too;
* a response whose Identifier is not the outstanding request's fails the run (RFC 3748
  §4.1 would silently discard it): each answer arrives in its own DER, so a stray one is a
  broken chain, not a retransmission;
* no AKA-Identity round: the identity comes from EAP-Response/Identity, as the visited
  server forwards it (RFC 4187 §7 allows that identity for MK).

Transitions (action emitted -> state -> the feeder that must come next)::

    NeedVector      -> FETCHING_VECTOR -> vector_received(answer | result code)
                                          or vector_unavailable(reason)
    SendEapRequest  -> CHALLENGED      -> response_received(EAP packet)
    EapAkaSuccess / EapAkaFailure -> DONE
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum, auto

from gba.crypto import kdf
from gba.errors import CodecError, GbaError
from gba.protocols import eap, eap_aka, nai
from gba.protocols.actions import NeedVector, expect
from gba.protocols.eap_aka import At, Subtype
from gba.protocols.zh import VectorAnswer, VectorRequest

log = logging.getLogger(__name__)


def impi_of_permanent_identity(identity: str, mnc_digits: Mapping[str, int] | None = None
                               ) -> str | None:
    """``<IMSI>@ims.mnc<MNC>.mcc<MCC>.3gppnetwork.org`` for ``0<IMSI>@<realm of that
    IMSI>`` (docs/roaming.md §0; TS 23.003 §13.3 UNVERIFIED); None for any other name."""
    imsi = nai.permanent_imsi(identity)
    realm = nai.home_realm(identity, mnc_digits=mnc_digits)
    return None if imsi is None or realm is None else f"{imsi}@ims.{realm}"


class FailureCause(Enum):
    MALFORMED = auto()
    UNEXPECTED = auto()
    UNKNOWN_IDENTITY = auto()
    HSS_REFUSED = auto()
    HSS_UNAVAILABLE = auto()
    BAD_MAC = auto()
    WRONG_RES = auto()
    PEER_REJECTED = auto()
    """AKA-Authentication-Reject: the peer found AUTN wrong (RFC 4187 §9.5, UNVERIFIED)."""
    PEER_ERROR = auto()
    """AKA-Client-Error (RFC 4187 §6.3.1, UNVERIFIED clause)."""
    RESYNC_REPEATED = auto()


@dataclass(frozen=True, slots=True)
class SendEapRequest:
    """Send this EAP-Request to the peer (DEA 1001, RFC 4072 §3.2); feed its answer to
    ``response_received``."""

    eap: bytes


@dataclass(frozen=True, slots=True)
class EapAkaSuccess:
    """The peer is authenticated: send *eap* (EAP-Success); Ks = CK || IK of this run."""

    eap: bytes
    impi: str
    identity: str
    rand: bytes
    ks: bytes = field(repr=False)
    guss: str | None = None


@dataclass(frozen=True, slots=True)
class EapAkaFailure:
    """The run failed: send *eap* (EAP-Failure). *reason* carries no key material."""

    eap: bytes
    cause: FailureCause
    reason: str


ServerAction = NeedVector | SendEapRequest | EapAkaSuccess | EapAkaFailure


class ServerState(Enum):
    START = auto()
    FETCHING_VECTOR = auto()
    CHALLENGED = auto()
    DONE = auto()


_STATE_AFTER: dict[type[ServerAction], ServerState] = {
    NeedVector: ServerState.FETCHING_VECTOR,
    SendEapRequest: ServerState.CHALLENGED,
    EapAkaSuccess: ServerState.DONE,
    EapAkaFailure: ServerState.DONE,
}


class EapAkaServer:
    """One EAP-AKA run at the home BSF, kept in memory per Diameter Session-Id."""

    def __init__(self, impi_of: Callable[[str], str | None] = impi_of_permanent_identity
                 ) -> None:
        self.impi_of = impi_of
        self.state = ServerState.START
        self._identifier = 0
        self._identity = b""
        self._impi = ""
        self._vector: VectorAnswer | None = None
        self._k_aut = b""
        self._resynced = False

    def _emit(self, action: ServerAction) -> ServerAction:
        self.state = _STATE_AFTER[type(action)]
        return action

    def _fail(self, cause: FailureCause, reason: str) -> ServerAction:
        log.warning("EAP-AKA: %s failed: %s", self._impi or "peer", reason)
        return self._emit(EapAkaFailure(eap.failure(self._identifier).encode(), cause, reason))

    # ------------------------------------------------------------------ feeders

    def start(self, identity_response: bytes) -> ServerAction:
        """The EAP-Response/Identity the visited server forwarded (RFC 3748 §5.1)."""
        expect(self, self.state, "start", ServerState.START)
        try:
            packet = eap.parse(identity_response)
            self._identifier = packet.identifier
            identity = eap.identity_of(packet)
        except CodecError as exc:
            return self._fail(FailureCause.MALFORMED, f"EAP-Response/Identity: {exc}")
        impi = self.impi_of(identity)
        if impi is None:
            return self._fail(FailureCause.UNKNOWN_IDENTITY,
                              f"{identity[:80]!r} is not a permanent identity served here")
        self._identity, self._impi = packet.data, impi
        return self._emit(NeedVector(VectorRequest(impi)))

    def vector_received(self, answer: VectorAnswer | int) -> ServerAction:
        """The HSS's vector (TS 29.109 §4.2.2), or the result code it refused with."""
        expect(self, self.state, "vector_received", ServerState.FETCHING_VECTOR)
        if isinstance(answer, int):
            return self._fail(FailureCause.HSS_REFUSED, f"HSS answered {answer}")
        try:
            keys = eap_aka.derive_keys(self._identity, answer.ik, answer.ck)
            challenge = eap_aka.AkaPacket(
                eap.Code.REQUEST, (self._identifier + 1) & 0xFF, Subtype.CHALLENGE,
                (eap_aka.at_rand(answer.rand), eap_aka.at_autn(answer.autn),
                 eap_aka.at_mac()))
            raw = eap_aka.sign(challenge, keys.k_aut)
        except GbaError as exc:
            return self._fail(FailureCause.HSS_UNAVAILABLE, f"unusable vector: {exc}")
        self._vector, self._k_aut = answer, keys.k_aut
        self._identifier = challenge.identifier
        return self._emit(SendEapRequest(raw))

    def vector_unavailable(self, reason: str) -> ServerAction:
        """Zh could not be asked (no peer, timeout, undecodable answer)."""
        expect(self, self.state, "vector_unavailable", ServerState.FETCHING_VECTOR)
        return self._fail(FailureCause.HSS_UNAVAILABLE, f"HSS unreachable: {reason}")

    def response_received(self, raw: bytes) -> ServerAction:
        """The peer's answer to the AKA-Challenge (RFC 4187 §9.4, §9.5, §9.6, §9.9)."""
        expect(self, self.state, "response_received", ServerState.CHALLENGED)
        try:
            outer = eap.parse(raw)
            if outer.code != eap.Code.RESPONSE or outer.type != eap.TYPE_AKA:
                return self._fail(FailureCause.UNEXPECTED, f"EAP {outer.code.name} of Type "
                                  f"{outer.type} instead of an EAP-AKA Response")
            packet = eap_aka.from_eap(outer)
        except CodecError as exc:
            return self._fail(FailureCause.MALFORMED, str(exc))
        if packet.identifier != self._identifier:
            return self._fail(FailureCause.UNEXPECTED, f"Identifier {packet.identifier}, "
                              f"expected {self._identifier}")
        if packet.subtype == Subtype.CHALLENGE:
            return self._check_challenge(packet, raw)
        if packet.subtype == Subtype.SYNCHRONIZATION_FAILURE:
            return self._resynchronise(packet)
        if packet.subtype == Subtype.AUTHENTICATION_REJECT:
            return self._fail(FailureCause.PEER_REJECTED, "peer rejected AUTN")
        if packet.subtype == Subtype.CLIENT_ERROR:
            code = packet.payload(At.CLIENT_ERROR_CODE)
            return self._fail(FailureCause.PEER_ERROR, "peer sent AKA-Client-Error "
                              f"{int.from_bytes(code, 'big') if code else '(no code)'}")
        return self._fail(FailureCause.UNEXPECTED, f"AKA-{packet.subtype.name} in answer "
                          "to AKA-Challenge")

    def _check_challenge(self, packet: eap_aka.AkaPacket, raw: bytes) -> ServerAction:
        vector = self._vector
        assert vector is not None
        try:
            if not eap_aka.verify_mac(self._k_aut, raw):
                return self._fail(FailureCause.BAD_MAC, "AT_MAC does not verify")
            res = packet.require(At.RES)
        except CodecError as exc:
            return self._fail(FailureCause.MALFORMED, str(exc))
        if not hmac.compare_digest(res, vector.xres):
            return self._fail(FailureCause.WRONG_RES, "RES differs from XRES")
        if packet.payload(At.CHECKCODE):
            return self._fail(FailureCause.UNEXPECTED, "AT_CHECKCODE over an AKA-Identity "
                              "round that never happened")
        log.info("EAP-AKA: %s authenticated", self._impi)
        return self._emit(EapAkaSuccess(
            eap.success(self._identifier).encode(), self._impi,
            self._identity.decode("utf-8"), vector.rand, kdf.ks(vector.ck, vector.ik),
            vector.guss))

    def _resynchronise(self, packet: eap_aka.AkaPacket) -> ServerAction:
        """AT_AUTS -> one more vector asked with RAND || AUTS (TS 33.102 §6.3.5)."""
        vector = self._vector
        assert vector is not None
        if self._resynced:
            return self._fail(FailureCause.RESYNC_REPEATED,
                              "second synchronisation failure in one run")
        try:
            auts = packet.require(At.AUTS)
        except CodecError as exc:
            return self._fail(FailureCause.MALFORMED, str(exc))
        self._resynced = True
        log.info("EAP-AKA: synchronisation failure for %s, resynchronising via Zh",
                 self._impi)
        return self._emit(NeedVector(VectorRequest(self._impi, vector.rand, auts)))

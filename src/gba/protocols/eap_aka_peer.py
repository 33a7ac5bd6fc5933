"""The UE's EAP-AKA peer as a sans-IO machine over a USIM (docs/roaming.md §1 case D).

Feed each EAP packet the network sends to :meth:`EapAkaPeer.request_received`; every call
returns one action: :class:`SendResponse` (send these octets back), :class:`PeerAuthenticated`
(EAP-Success after a challenge this peer answered: Ks = CK || IK and RAND of that run) or
:class:`PeerFailed`.

* EAP-Request/Identity (RFC 3748 §5.1) and EAP-Request/AKA-Identity with an identity
  request (RFC 4187 §9.1-§9.2, UNVERIFIED clauses) are answered with the permanent
  identity; AKA-Identity rounds are kept for AT_CHECKCODE (RFC 4187 §10.13, UNVERIFIED).
* EAP-Request/AKA-Challenge: :meth:`gba.crypto.aka.Usim.authenticate` on AT_RAND and
  AT_AUTN. MAC-A wrong (or an AMF the USIM refuses): AKA-Authentication-Reject. SQN not
  fresh: AKA-Synchronization-Failure with AT_AUTS. Otherwise the keys are derived
  (RFC 4187 §7) and the request's AT_MAC is verified **before** anything is answered
  (RFC 4186 §9.3, read: "Only if AT_RAND is verified to be valid, the peer derives keys and
  verifies AT_MAC"); a bad one gets AKA-Client-Error code 0 "unable to process packet"
  (RFC 4186 §6.3.1 lists "invalid AT_MAC"; hostapd does the same for EAP-AKA). Then
  AKA-Challenge with AT_RES (RES Length in bits) and AT_MAC.
* EAP-Request/AKA-Notification is answered (RFC 4186 §6.1 by analogy: the peer "MUST
  respond"), with AT_MAC when its P bit says it follows authentication; a failure code
  (S bit clear) makes a later EAP-Success unacceptable (RFC 4186 §6.3.4).
* Other EAP methods get a Nak naming EAP-AKA (RFC 3748 §5.3.1); an EAP Notification gets
  an empty Response (§5.2); a repeated request gets the same response again (§4.1).

Project choices [P]: an EAP-Success before this peer answered a challenge, or after it
refused one, ends the run as :class:`PeerFailed` instead of being silently discarded
(RFC 4186 §6.3.4): no keys come out of it either way, and the driver stops waiting. An
EAP-Failure is always accepted (the home server of case D sends it directly, see
:mod:`gba.protocols.eap_aka_server`).
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass, field
from enum import Enum, auto

from gba.crypto import kdf
from gba.crypto.aka import AkaSyncFailure, Usim
from gba.errors import AmfError, CodecError, MacFailure
from gba.protocols import eap, eap_aka
from gba.protocols.actions import expect
from gba.protocols.eap_aka import At, Subtype

log = logging.getLogger(__name__)

_S_BIT, _P_BIT = 0x8000, 0x4000
"""AT_NOTIFICATION Success and Phase bits (RFC 4186 §6.1, read)."""


@dataclass(frozen=True, slots=True)
class SendResponse:
    """Send this EAP-Response; feed the network's next packet to ``request_received``."""

    eap: bytes


@dataclass(frozen=True, slots=True)
class PeerAuthenticated:
    """EAP-Success after a challenge this peer answered: the run's RAND and Ks."""

    identity: str
    rand: bytes
    ks: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class PeerFailed:
    """The run is over without keys; *reason* carries no key material."""

    reason: str


PeerAction = SendResponse | PeerAuthenticated | PeerFailed


class PeerState(Enum):
    READY = auto()
    """Before a challenge was answered (identity rounds, resynchronisation)."""
    ANSWERED = auto()
    """AKA-Challenge answered; waiting for EAP-Success."""
    REFUSED = auto()
    """Authentication-Reject or Client-Error sent; waiting for EAP-Failure."""
    DONE = auto()


class EapAkaPeer:
    """One EAP-AKA run at the UE for *identity* (``0<IMSI>@<realm>``)."""

    def __init__(self, usim: Usim, identity: str) -> None:
        self.usim = usim
        self.identity = identity
        self.state = PeerState.READY
        self.refusal: str | None = None
        """Why this peer refused the last request, when it did."""
        self._mk_identity = identity.encode("utf-8")
        self._id_messages: list[bytes] = []
        self._run: tuple[bytes, bytes] | None = None
        self._k_aut: bytes | None = None
        self._failure_notified = False
        self._last: tuple[bytes, bytes] | None = None

    def request_received(self, raw: bytes) -> PeerAction:
        expect(self, self.state, "request_received",
               PeerState.READY, PeerState.ANSWERED, PeerState.REFUSED)
        if self._last is not None and raw == self._last[0]:
            return SendResponse(self._last[1])
        try:
            packet = eap.parse(raw)
        except CodecError as exc:
            return self._end(PeerFailed(f"malformed EAP packet: {exc}"))
        if packet.code == eap.Code.SUCCESS:
            return self._success()
        if packet.code == eap.Code.FAILURE:
            why = f" after {self.refusal}" if self.refusal else ""
            return self._end(PeerFailed(f"EAP-Failure{why}"))
        if packet.code != eap.Code.REQUEST or self.state == PeerState.REFUSED:
            return self._end(PeerFailed(f"unexpected EAP {packet.code.name} in state "
                                        f"{self.state.name}"))
        if packet.type == eap.TYPE_IDENTITY:
            return self._reply(raw, eap.identity_response(packet.identifier, self.identity))
        if packet.type == eap.TYPE_NOTIFICATION:
            return self._reply(raw, eap.EapPacket(eap.Code.RESPONSE, packet.identifier,
                                                  eap.TYPE_NOTIFICATION))
        if packet.type != eap.TYPE_AKA:
            return self._reply(raw, eap.EapPacket(eap.Code.RESPONSE, packet.identifier,
                                                  eap.TYPE_NAK, bytes((eap.TYPE_AKA,))))
        try:
            aka = eap_aka.from_eap(packet)
            if aka.subtype == Subtype.CHALLENGE and self.state == PeerState.READY:
                return self._challenge(aka, raw)
            if aka.subtype == Subtype.IDENTITY and self.state == PeerState.READY:
                return self._identity_round(aka, raw)
            if aka.subtype == Subtype.NOTIFICATION:
                return self._notification(aka, raw)
            raise CodecError(f"AKA-{aka.subtype.name} in state {self.state.name}")
        except CodecError as exc:
            return self._client_error(raw, packet.identifier, str(exc))

    # ------------------------------------------------------------------ rounds

    def _identity_round(self, aka: eap_aka.AkaPacket, raw: bytes) -> PeerAction:
        """AKA-Identity: the permanent identity whichever identity request came."""
        asked = any(a.type in eap_aka.ID_REQUESTS for a in aka.attributes)
        attrs = (eap_aka.at_identity(self._mk_identity),) if asked else ()
        response = eap_aka.AkaPacket(eap.Code.RESPONSE, aka.identifier, Subtype.IDENTITY,
                                     attrs).encode()
        self._id_messages += [raw, response]
        return self._send(raw, response, PeerState.READY)

    def _challenge(self, aka: eap_aka.AkaPacket, raw: bytes) -> PeerAction:
        rand, autn = aka.require(At.RAND), aka.require(At.AUTN)
        aka.require(At.MAC)
        try:
            result = self.usim.authenticate(rand, autn)
        except (MacFailure, AmfError) as exc:
            self.refusal = f"AUTN rejected: {exc}"
            log.warning("EAP-AKA peer: %s", self.refusal)
            return self._send(raw, self._packet(aka, Subtype.AUTHENTICATION_REJECT),
                              PeerState.REFUSED)
        if isinstance(result, AkaSyncFailure):
            return self._send(raw, self._packet(aka, Subtype.SYNCHRONIZATION_FAILURE,
                                                eap_aka.at_auts(result.auts)),
                              PeerState.READY)
        keys = eap_aka.derive_keys(self._mk_identity, result.ik, result.ck)
        if not eap_aka.verify_mac(keys.k_aut, raw):
            raise CodecError("AT_MAC of AKA-Challenge does not verify")
        sent = aka.payload(At.CHECKCODE)
        ours = eap_aka.checkcode(self._id_messages)
        if sent is not None and not hmac.compare_digest(sent, ours):
            raise CodecError("AT_CHECKCODE does not match this peer's AKA-Identity rounds")
        attrs = [eap_aka.at_res(result.res)]
        if sent is not None:
            attrs.append(eap_aka.at_checkcode(ours))
        attrs.append(eap_aka.at_mac())
        response = eap_aka.sign(eap_aka.AkaPacket(eap.Code.RESPONSE, aka.identifier,
                                                  Subtype.CHALLENGE, tuple(attrs)),
                                keys.k_aut)
        self._run, self._k_aut = (rand, kdf.ks(result.ck, result.ik)), keys.k_aut
        return self._send(raw, response, PeerState.ANSWERED)

    def _notification(self, aka: eap_aka.AkaPacket, raw: bytes) -> PeerAction:
        code = int.from_bytes(aka.require(At.NOTIFICATION), "big")
        if not code & _S_BIT:
            self._failure_notified = True
        if code & _P_BIT:
            return self._send(raw, self._packet(aka, Subtype.NOTIFICATION), self.state)
        if self._k_aut is None or not eap_aka.verify_mac(self._k_aut, raw):
            raise CodecError("AKA-Notification after authentication without a valid AT_MAC")
        response = eap_aka.sign(eap_aka.AkaPacket(eap.Code.RESPONSE, aka.identifier,
                                                  Subtype.NOTIFICATION, (eap_aka.at_mac(),)),
                                self._k_aut)
        return self._send(raw, response, self.state)

    def _success(self) -> PeerAction:
        if self.state != PeerState.ANSWERED or self._run is None or self._failure_notified:
            return self._end(PeerFailed(f"EAP-Success in state {self.state.name} is not "
                                        "acceptable"))
        rand, ks = self._run
        return self._end(PeerAuthenticated(self.identity, rand, ks))

    # ------------------------------------------------------------------ helpers

    def _client_error(self, raw: bytes, identifier: int, reason: str) -> PeerAction:
        """AKA-Client-Error "unable to process packet" (RFC 4186 §6.3.1, read)."""
        self.refusal = reason
        log.warning("EAP-AKA peer: refusing request: %s", reason)
        response = eap_aka.AkaPacket(eap.Code.RESPONSE, identifier, Subtype.CLIENT_ERROR, (
            eap_aka.at_code(At.CLIENT_ERROR_CODE, eap_aka.CLIENT_ERROR_UNABLE_TO_PROCESS),))
        return self._send(raw, response.encode(), PeerState.REFUSED)

    @staticmethod
    def _packet(aka: eap_aka.AkaPacket, subtype: Subtype, *attrs: eap_aka.Attribute
                ) -> bytes:
        return eap_aka.AkaPacket(eap.Code.RESPONSE, aka.identifier, subtype, attrs).encode()

    def _reply(self, raw: bytes, packet: eap.EapPacket) -> PeerAction:
        return self._send(raw, packet.encode(), self.state)

    def _send(self, raw: bytes, response: bytes, state: PeerState) -> PeerAction:
        self._last = (raw, response)
        self.state = state
        return SendResponse(response)

    def _end(self, action: PeerAuthenticated | PeerFailed) -> PeerAction:
        self.state = PeerState.DONE
        return action

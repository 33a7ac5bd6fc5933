"""NGN key distribution over H.323 RAS (H.225.0 §7, aligned PER via :mod:`gba.protocols.ras`).

A reply binding (docs/ngn.md §2, :class:`~gba.protocols.ngn_flow.Wire`), sans-IO over UDP:

=========================  =============================================================
flow message               RAS message (H.225.0 §7, H323-MESSAGES)
=========================  =============================================================
s1 S1Register              GRQ, terminal -> SP (or softswitch), payload step 1
s2 S2Forward               GRQ, SP -> softswitch, payload step 2
s5 S5Challenge             GRJ securityDenial answering s2's GRQ, step 5
s6 S6Challenge             GRJ securityDenial answering s1's GRQ, step 6
s7 S7Response              RRQ, terminal -> SP (or softswitch), step 7
s8 S8Response              RRQ, SP -> softswitch, step 8
s9 S9Success               RCF answering s8's RRQ, step 9
s10 S10Success             RCF answering s7's RRQ, step 10
Protected (request)        keep-alive RRQ (keepAlive TRUE, H.225.0 §7.9.1 lightweight
                           registration), terminal -> SP (or softswitch), step 12
Protected (answer)         RCF answering that keep-alive RRQ (its requestSeqNum), step 12
Refuse                     GRJ answering a GRQ / RRJ answering an RRQ (a keep-alive one
                           too), step 0 (table below)
s5/s6 answering an RRQ     RRJ securityDenial, step 5/6: the H.323 re-challenge; decodes
                           as Refuse(AUTH_FAILED, "rechallenge") and the terminal starts
                           again with a new GRQ (the issue's "RRJ (securityDenial)")
a reply we cannot use      XRS (unknownMessageResponse) as :attr:`WireError.reply`
XRS answering our request  Refuse(MALFORMED, "unknownMessageResponse")
Ack                        none (command bindings only): :class:`InvalidInput`
=========================  =============================================================

The key-distribution fields travel in each message's root ``nonStandardData``
(NonStandardParameter, H.225.0 §7) under the object identifier :data:`ras.NGN_OID`,
whose ``data`` is the aligned-PER ``NgnKeyDistribution`` of ``data/h225_ras.asn`` [P]:
``step`` (1..10, 0 for a refusal, 12 for :class:`Protected`), ``idC``, ``idSp``, and
exactly the fields of that step (octet fields at their fixed lengths, timestamps as
INTEGER (0..2^32-1), the mechanism list as its RFC 3329 §2.2 text,
:func:`ngn.format_mechanisms`). The decoder tells s1 from s2, s7 from s8 from a
Protected request by ``step`` and requires exactly that step's fields.

Protected [P]: the payload's ``chosen`` is the mechanism, ``mac`` the 16-octet MAC (the
caller computes and checks it), and ``seq`` (INTEGER (0..2^32-1), an extension addition of
NgnKeyDistribution, so earlier encodings decode unchanged) the refresh counter; the
direction is the RAS message (RRQ request, RCF answer). The RRQ carries the same root
fields as s7's plus the RRQ extension additions keepAlive TRUE, willSupplyUUIEs FALSE,
maintainConnection FALSE and, when this terminal wire decoded an s10 RCF for the same
ID_c / ID_sp, that RCF's endpointIdentifier (at most 4096 remembered, oldest evicted).
A step-12 RRQ must say keepAlive TRUE and an s7/s8 RRQ must not; an RCF of step 12 must
answer our step-12 RRQ and an s9/s10 RCF must not. The answering RCF echoes the RRQ's
endpointIdentifier (else a fresh one). Only the terminal sends the request and only an SP
or softswitch the answer: the SP answers the refresh itself and never forwards it.

Refusals [P] (GatekeeperRejectReason / RegistrationRejectReason, H.225.0 §7; the
payload's ``refusal`` is authoritative and round-trips; a GRJ/RRJ without our payload,
e.g. from a plain gatekeeper, maps back by this table, ids from our outstanding request):

===================  ====================================  ==============================
Refusal              GRJ rejectReason                      RRJ rejectReason
===================  ====================================  ==============================
MALFORMED            undefinedReason                       undefinedReason
UNKNOWN_TERMINAL     terminalExcluded                      invalidAlias
UNKNOWN_PROXY        securityError: securityWrongSendersID  (same)
STALE                securityError: securityWrongSyncTime   (same)
REPLAY               securityError: securityReplay          (same)
NOT_ECHOED           securityError: securityIntegrityFailed (same)
AUTH_FAILED          securityDenial                        securityDenial
NO_COMMON_MECHANISM  neededFeatureNotSupported             neededFeatureNotSupported
UNAVAILABLE          resourceUnavailable                   resourceUnavailable
===================  ====================================  ==============================

Other fields [P]: protocolIdentifier H.225.0 v4 {0 0 8 2250 0 4}; rasAddress from
:class:`Side` (ipAddress or ip6Address); callSignalAddress the same host, port 1720
(H.225.0's well-known call signalling port); endpointType ``terminal`` for the terminal,
``gatekeeper`` for the SP; the alias ``h323-ID`` (a BMPString) is ID_c when every
character of ID_c is in the BMP, else omitted (ID_c always travels in the payload; an
alias present must equal it); gatekeeperIdentifier the Side's domain when it fits
(BMP, 1..128); RCF endpointIdentifier 16 hex digits from ``rng``; endpointVendor
H.221 country 0, extension 0, manufacturer 0, product ``gba``. requestSeqNum
(INTEGER (1..65535)) counts up from a value drawn from ``rng``; an answer carries the
request's. Requests this node sent are remembered (at most 4096, oldest evicted) to
decode their answers; a bad answer leaves its entry for the genuine one.

Each role decodes only its own steps: a terminal s6, s10, Protected answers and
refusals; an SP s1, s7, Protected requests (from the terminal) and s5, s9, refusals (from
the softswitch); a softswitch s1, s2, s7, s8, Protected requests.
Anything else is a :class:`WireError`. Limits [P]: 4 KiB per message; a RAS message from
another stack that carries extension additions is not canonical for our subset and is
refused (see :mod:`gba.protocols.ras`).
"""

from __future__ import annotations

import ipaddress
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gba.errors import CodecError, InvalidInput
from gba.protocols import ngn, ras
from gba.protocols.ngn_flow import (
    Ack,
    FlowMessage,
    Inbound,
    Protected,
    Refusal,
    Refuse,
    Role,
    S1Register,
    S2Forward,
    S5Challenge,
    S6Challenge,
    S7Response,
    S8Response,
    S9Success,
    S10Success,
    Side,
    WireError,
)
from gba.protocols.ngn_ras_fields import (
    GRJ,
    GRQ,
    PROTECTED_STEP,
    RCF,
    RRJ,
    RRQ,
    TS_MAX,
    XRS,
    bmp,
    check_alias,
    message_of,
    nonstandard,
    parsed_payload,
    payload_of,
    refusal_of,
    reject_reason,
    transport,
)

__all__ = [
    "CALL_SIGNAL_PORT", "GRJ", "GRQ", "MAX_OUTSTANDING", "PROTECTED_STEP", "RCF", "RECHALLENGE",
    "RRJ", "RRQ", "TS_MAX", "XRS", "NgnRasWire", "RasContext",
]

MAX_OUTSTANDING = 4096
CALL_SIGNAL_PORT = 1720
"""H.225.0 call signalling well-known port, advertised as callSignalAddress [P]."""
RECHALLENGE = "rechallenge"
"""Refuse.detail of an RRJ securityDenial that carries s5/s6 (the H.323 re-challenge)."""

_REQUEST_STEPS = {GRQ: {1, 2}, RRQ: {7, 8, PROTECTED_STEP}}
_RESPONSE_STEPS = {GRJ: {0, 5, 6}, RRJ: {0, 5, 6}, RCF: {9, 10, PROTECTED_STEP}}
_ANSWERS = {GRJ: GRQ, RRJ: RRQ, RCF: RRQ, XRS: None}
_ACCEPTS: dict[Role, set[int]] = {
    Role.TERMINAL: {0, 6, 10, PROTECTED_STEP},
    Role.PROXY: {0, 1, 5, 7, 9, PROTECTED_STEP},
    Role.SOFTSWITCH: {1, 2, 7, 8, PROTECTED_STEP},
}
"""Steps each role decodes (0 = a refusal). A re-challenge (RRJ step 5/6) is accepted
by whoever accepts a refusal. Step 12 is a Protected request in an RRQ (SP,
softswitch) and its answer in an RCF (terminal)."""
_SENDS: dict[Role, tuple[type, ...]] = {
    Role.TERMINAL: (S1Register, S7Response, Protected),
    Role.PROXY: (S2Forward, S8Response, S6Challenge, S10Success, Refuse, Protected),
    Role.SOFTSWITCH: (S5Challenge, S6Challenge, S9Success, S10Success, Refuse, Protected),
}
_SENDS_PROTECTED_ANSWER = {Role.TERMINAL: False, Role.PROXY: True, Role.SOFTSWITCH: True}
"""Which :class:`Protected` a role sends: the terminal the request, the others the answer."""


@dataclass(frozen=True, slots=True)
class RasContext:
    """What answering a decoded GRQ or RRQ needs: its requestSeqNum and kind; for a
    keep-alive RRQ (a :class:`Protected` request) ``keep_alive`` and the endpointIdentifier
    it named, if any."""

    seq: int
    kind: str
    id_c: str
    id_sp: str
    keep_alive: bool = False
    endpoint_id: str | None = None


@dataclass(frozen=True, slots=True)
class _Sent:
    kind: str
    id_c: str
    id_sp: str
    keep_alive: bool = False


class NgnRasWire:
    """The H.323 RAS :class:`~gba.protocols.ngn_flow.Wire` of one node and one leg."""

    name = "h323-ras"
    commands_only = False

    def __init__(self, side: Side, rng: Callable[[int], bytes] = os.urandom) -> None:
        try:
            ipaddress.ip_address(side.host)
        except ValueError:
            raise InvalidInput(f"RAS needs an IP address as host, not {side.host!r}") from None
        if not 0 <= side.port <= 0xFFFF:
            raise InvalidInput(f"port {side.port} is not 0..65535")
        self.side = side
        self._rng = rng
        self._seq = int.from_bytes(rng(2), "big") % 0xFFFF + 1
        self._sent: OrderedDict[int, _Sent] = OrderedDict()
        self._endpoint_ids: OrderedDict[tuple[str, str], str] = OrderedDict()
        """The endpointIdentifier of the s10 RCF per (ID_c, ID_sp), for keep-alive RRQs."""

    # --- encode ----------------------------------------------------------------------

    def encode(self, message: FlowMessage, answering: Inbound | None = None) -> bytes:
        """``message`` as a RAS message (table in the module docstring)."""
        if isinstance(message, Ack) or not isinstance(message, _SENDS[self.side.role]):
            raise InvalidInput(f"a {self.side.role.value} does not send "
                               f"{type(message).__name__} over RAS")
        ngn.check_id(message.id_c)
        ngn.check_id(message.id_sp)
        if (isinstance(message, Protected)
                and message.answer is not _SENDS_PROTECTED_ANSWER[self.side.role]):
            raise InvalidInput(f"a {self.side.role.value} does not send a Protected "
                               f"{'answer' if message.answer else 'request'} over RAS")
        if (isinstance(message, S1Register | S2Forward | S7Response | S8Response)
                or (isinstance(message, Protected) and not message.answer)):
            if answering is not None:
                raise InvalidInput(f"{type(message).__name__} is a new request")
            return self._request(message)
        ctx = answering.context if answering is not None else None
        if not isinstance(ctx, RasContext):
            raise InvalidInput(f"{type(message).__name__} answers a decoded GRQ or RRQ")
        return self._answer(message, ctx)

    def _next_seq(self) -> int:
        seq = self._seq
        self._seq = seq % 0xFFFF + 1
        return seq

    def _remember(self, seq: int, sent: _Sent) -> None:
        self._sent.pop(seq, None)
        self._sent[seq] = sent
        while len(self._sent) > MAX_OUTSTANDING:
            self._sent.popitem(last=False)

    def _endpoint_type(self) -> dict[str, Any]:
        kind = "terminal" if self.side.role is Role.TERMINAL else "gatekeeper"
        return {kind: {}, "mc": False, "undefinedNode": False}

    def _common(self, seq: int, payload: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"requestSeqNum": seq, "protocolIdentifier": ras.H225_V4,
                                "nonStandardData": nonstandard(payload)}
        gk = bmp(self.side.domain, 128)
        if gk is not None:
            body["gatekeeperIdentifier"] = gk
        return body

    def _request(self, message: S1Register | S2Forward | S7Response | S8Response | Protected
                 ) -> bytes:
        seq = self._next_seq()
        payload = payload_of(message)
        body = self._common(seq, payload)
        alias = bmp(message.id_c, 256)
        aliases = [("h323-ID", alias)] if alias is not None else None
        own = transport(self.side.host, self.side.port)
        if isinstance(message, S1Register | S2Forward):
            kind = GRQ
            body |= {"rasAddress": own, "endpointType": self._endpoint_type()}
            if aliases:
                body["endpointAlias"] = aliases
        else:
            kind = RRQ
            body |= {
                "discoveryComplete": True,
                "callSignalAddress": [transport(self.side.host, CALL_SIGNAL_PORT)],
                "rasAddress": [own],
                "terminalType": self._endpoint_type(),
                "endpointVendor": {
                    "vendor": {"t35CountryCode": 0, "t35Extension": 0, "manufacturerCode": 0},
                    "productId": b"gba", "versionId": b"1"},
            }
            if aliases:
                body["terminalAlias"] = aliases
        keep_alive = isinstance(message, Protected)
        if keep_alive:
            body |= {"keepAlive": True, "willSupplyUUIEs": False, "maintainConnection": False}
            endpoint_id = self._endpoint_ids.get((message.id_c, message.id_sp))
            if endpoint_id is not None:
                body["endpointIdentifier"] = endpoint_id
        data = ras.encode_ras((kind, body))
        self._remember(seq, _Sent(kind, message.id_c, message.id_sp, keep_alive))
        return data

    def _answer(self, message: FlowMessage, ctx: RasContext) -> bytes:
        payload = payload_of(message)
        body = self._common(ctx.seq, payload)
        if isinstance(message, S5Challenge | S6Challenge):
            body["rejectReason"] = ("securityDenial", None)
            return ras.encode_ras((GRJ if ctx.kind == GRQ else RRJ, body))
        if isinstance(message, Refuse):
            body["rejectReason"] = reject_reason(message.refusal, ctx.kind)
            return ras.encode_ras((GRJ if ctx.kind == GRQ else RRJ, body))
        if ctx.kind != RRQ:
            raise InvalidInput(f"{type(message).__name__} answers an RRQ, not a GRQ")
        if isinstance(message, Protected) is not ctx.keep_alive:
            raise InvalidInput("a Protected answer answers a keep-alive RRQ, and only it")
        body["callSignalAddress"] = [transport(self.side.host, CALL_SIGNAL_PORT)]
        alias = bmp(message.id_c, 256)
        if alias is not None:
            body["terminalAlias"] = [("h323-ID", alias)]
        body["endpointIdentifier"] = ctx.endpoint_id or self._rng(8).hex()
        return ras.encode_ras((RCF, body))

    # --- decode ----------------------------------------------------------------------

    def decode(self, data: bytes) -> Inbound:
        """The flow message of one RAS datagram; :class:`WireError` (with an XRS as
        ``reply`` when the message names a requestSeqNum and is not itself an XRS or a
        stray answer) for anything this node cannot use."""
        try:
            kind, body = ras.decode_ras(data)
        except CodecError as exc:
            raise WireError(f"RAS: {exc}") from None
        if body is None:
            raise WireError(f"RAS: {kind} is not carried by this binding")
        seq = body["requestSeqNum"]
        if kind in _ANSWERS:
            return self._decode_answer(kind, body, seq)
        xrs = _xrs(seq, data)
        if kind not in _REQUEST_STEPS:
            raise WireError(f"RAS: unexpected {kind}", xrs)
        try:
            pay = parsed_payload(body, kind)
            step = pay["step"]
            if (step not in _REQUEST_STEPS[kind] or step not in _ACCEPTS[self.side.role]
                    or (step == PROTECTED_STEP
                        and not _SENDS_PROTECTED_ANSWER[self.side.role])):
                raise CodecError(f"a {self.side.role.value} does not take step {step} "
                                 f"in a {kind}")
            keep_alive = step == PROTECTED_STEP
            if kind == RRQ and body.get("keepAlive", False) is not keep_alive:
                raise CodecError("keepAlive TRUE goes with step 12, and only with it")
            check_alias(body.get("endpointAlias" if kind == GRQ else "terminalAlias"),
                         pay["idC"])
            message = message_of(pay)
        except (CodecError, InvalidInput) as exc:
            raise WireError(f"RAS {kind}: {exc}", xrs) from None
        ctx = RasContext(seq, kind, message.id_c, message.id_sp, keep_alive,
                         body.get("endpointIdentifier") if keep_alive else None)
        return Inbound(message, ctx, True)

    def _decode_answer(self, kind: str, body: dict[str, Any], seq: int) -> Inbound:
        sent = self._sent.get(seq)
        if sent is None or (kind != XRS and sent.kind != _ANSWERS[kind]):
            raise WireError(f"RAS: {kind} {seq} answers no request of ours")
        try:
            message = self._answer_message(kind, body, sent)
        except (CodecError, InvalidInput) as exc:
            raise WireError(f"RAS {kind}: {exc}") from None
        del self._sent[seq]
        if isinstance(message, S10Success):
            self._endpoint_ids.pop((message.id_c, message.id_sp), None)
            self._endpoint_ids[(message.id_c, message.id_sp)] = body["endpointIdentifier"]
            while len(self._endpoint_ids) > MAX_OUTSTANDING:
                self._endpoint_ids.popitem(last=False)
        return Inbound(message, seq, False)

    def _answer_message(self, kind: str, body: dict[str, Any], sent: _Sent) -> FlowMessage:
        """The flow message of a GRJ, RRJ, RCF or XRS answering our request ``sent``."""
        if kind == XRS:
            return Refuse(sent.id_c, sent.id_sp, Refusal.MALFORMED, XRS)
        if body.get("nonStandardData") is None and kind != RCF:
            return Refuse(sent.id_c, sent.id_sp, refusal_of(body["rejectReason"]))
        pay = parsed_payload(body, kind)
        if (pay["idC"], pay["idSp"]) != (sent.id_c, sent.id_sp):
            raise CodecError("the answer names another ID_c / ID_sp than our request")
        step = pay["step"]
        if step not in _RESPONSE_STEPS[kind]:
            raise CodecError(f"step {step} in a {kind}")
        if step in (5, 6) and body["rejectReason"] != ("securityDenial", None):
            raise CodecError("a challenge must be a securityDenial")
        if kind == RRJ and step in (5, 6):
            if 0 not in _ACCEPTS[self.side.role]:
                raise CodecError(f"a {self.side.role.value} takes no re-challenge")
            return Refuse(sent.id_c, sent.id_sp, Refusal.AUTH_FAILED, RECHALLENGE)
        if step not in _ACCEPTS[self.side.role]:
            raise CodecError(f"a {self.side.role.value} does not take step {step}")
        if kind == RCF and (step == PROTECTED_STEP) is not sent.keep_alive:
            raise CodecError("an RCF of step 12 answers our keep-alive RRQ, and only it")
        return message_of(pay, answer=True)


def _xrs(seq: int, data: bytes) -> bytes | None:
    """XRS (unknownMessageResponse, H.225.0 §7) quoting the message not understood."""
    try:
        return ras.encode_ras((XRS, {"requestSeqNum": seq, "messageNotUnderstood": data}))
    except CodecError:
        return None

"""The MGCP binding of the NGN flow (issue 14; RFC 3435 over UDP, sans-IO): a command
binding (:class:`~gba.protocols.ngn_flow.Wire`, ``commands_only``). Every flow message is a
command of its own, every command is answered by ``200 <txid> OK`` (:class:`Ack`) or by an
error response (:class:`Refuse`). The codec is :mod:`gba.protocols.mgcp`.

=========  ==========================================================================
step       MGCP message [P]
=========  ==========================================================================
s1         ``RSIP`` (§2.3.12) ``RM: restart``, X-NGNIDC, X-NGNISP, X-NGNN1, X-NGNTS1
s2         ``RSIP`` ``RM: restart``, X-NGNIDC, X-NGNISP (no N1/TS1)
s5         ``RQNT`` (§2.3.3) ``X:``, ``R: ngn/auth``, IDC, ISP, X-NGNRND
s6         ``RQNT`` ``X:``, ``R: ngn/auth``, IDC, ISP, RND, X-NGNN1, X-NGNN2, X-NGNTS2,
           X-NGNWM (mechanisms wanted, ``1``/``0``)
s7         ``NTFY`` (§2.3.4) ``X:`` (the RQNT's, else fresh), ``O: ngn/auth``, IDC, ISP,
           N1 (= N1'), N2, X-NGNTS3, X-NGNAUT, X-NGNMEC (the mechanism list)
s8         ``NTFY`` ``X:``, ``O: ngn/auth``, IDC, ISP, AUT, X-NGNADR, optional MEC
s9         ``RQNT`` ``X:``, ``R: ngn/reg``, IDC, ISP, X-NGNEKC, X-NGNEKS
s10        ``RQNT`` ``X:``, ``R: ngn/reg``, IDC, ISP, N1 (= N1'), N2, X-NGNTS4, EKC,
           X-NGNSEL (chosen), MEC (echoed list), X-NGNMAC
P request  ``NTFY`` ``X:`` (the RQNT's, else fresh), ``O: ngn/keep``, IDC, ISP, SEL (the
           chosen mechanism), X-NGNSEQ (decimal 0..2**32-1), MAC
P answer   ``200 <txid> OK`` answering that NTFY, with IDC, ISP, SEL, SEQ, MAC as its
           parameter lines
Ack        ``200 <txid> OK`` (§2.4, §3.3)
Refuse     ``<code> <txid> [/ngn] <refusal>[: detail]`` + ``X-NGNREF: <refusal>``
=========  ==========================================================================

Refusals (RFC 3435 §2.4 return codes; 8xx are package-specific codes of our package
``ngn``, sent with ``/ngn``) [P]:

====================  =====  ===============================================
MALFORMED             510    protocol error detected
UNKNOWN_TERMINAL      500    endpoint unknown
UNKNOWN_PROXY         539    invalid or unsupported command parameter (ID_sp)
STALE                 801    /ngn: timestamp outside the clock skew
REPLAY                802    /ngn: nonce seen before
NOT_ECHOED            803    /ngn: N2 not echoed
AUTH_FAILED           804    /ngn: Authenticator_c mismatch
NO_COMMON_MECHANISM   507    unsupported functionality
UNAVAILABLE           400    transient error (AuC or next hop unreachable)
====================  =====  ===============================================

``P`` is :class:`~gba.protocols.ngn_flow.Protected` [P], after registration: the
terminal's refresh (keep-alive) under Kc,sp, answered by the SP (or a softswitch with direct
terminals) with a 2xx carrying the protected answer; no key travels, the MAC (16 octets over
``Protected.mac_fields()``) is computed and checked by the caller. Only a terminal encodes
the request (the SP does not forward it upstream) and only an SP or softswitch the answer,
which must answer a decoded Protected request; such a request is answered by that answer
or by a :class:`Refuse`, never by a bare :class:`Ack`. A 2xx to a Protected NTFY must carry
exactly those five lines, with the request's ID_c and ID_sp; a 2xx to any other command
must carry none of them.

Decoding an error response takes the refusal from ``X-NGNREF``, else from the table, else
UNAVAILABLE for 4xx and MALFORMED for other codes. Fields [P]: vendor extension parameters
(§3.2.2, App. A ``"X-" 1*6(ALPHA / DIGIT)``); nonces, Rand, authenticator, wraps, MAC as
lower-case hex of the exact length; timestamps decimal seconds; mechanism lists in RFC
3329 form; ID_c and ID_sp UTF-8, percent-encoded (``%XX``, RFC 3986 style) outside
``!``..``~`` and for ``%``. Endpoints: ``ngn/0@[host]`` for the sender of RSIP/NTFY; an
RQNT goes to the endpoint last heard from for that (ID_c, ID_sp), else ``ngn/0@domain``.
Unknown verbs, and verbs this role never receives, are answered ``504``; a malformed
command ``510`` with the same transaction id. Tables of sent transactions, peer endpoints
and RequestIdentifiers hold at most 4096 entries each, oldest evicted.
"""

from __future__ import annotations

import ipaddress
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from gba.errors import CodecError, InvalidInput
from gba.protocols import mgcp
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
from gba.protocols.ngn_mgcp_fields import (
    ADR,
    ANSWER_FIELDS,
    AUT,
    EKC,
    EKS,
    EVENT_AUTH,
    EVENT_KEEP,
    EVENT_REG,
    IDC,
    ISP,
    MAC,
    MAX_SEQ,
    MEC,
    N1,
    N2,
    PACKAGE,
    REF,
    RND,
    SEL,
    SEQ,
    SPECS,
    TS1,
    TS2,
    TS3,
    TS4,
    WM,
    classify,
    decode_answer,
    decode_fields,
    decode_id,
    encode_fields,
    encode_id,
    ngn_names,
)

__all__ = [
    "ADR", "AUT", "EKC", "EKS", "EVENT_AUTH", "EVENT_KEEP", "EVENT_REG", "IDC", "ISP", "MAC",
    "MAX_SEQ", "MAX_TRACKED", "MEC", "N1", "N2", "PACKAGE", "REF", "REFUSAL_CODES", "RND",
    "SEL", "SEQ", "TS1", "TS2", "TS3", "TS4", "WM", "MgcpContext", "MgcpWire", "decode_id",
    "encode_id", "error_response",
]
"""The public names; the field names, events and ID codec live in
:mod:`gba.protocols.ngn_mgcp_fields` and are re-exported here."""

MAX_TRACKED = 4096

REFUSAL_CODES: dict[Refusal, int] = {
    Refusal.MALFORMED: 510,
    Refusal.UNKNOWN_TERMINAL: 500,
    Refusal.UNKNOWN_PROXY: 539,
    Refusal.STALE: 801,
    Refusal.REPLAY: 802,
    Refusal.NOT_ECHOED: 803,
    Refusal.AUTH_FAILED: 804,
    Refusal.NO_COMMON_MECHANISM: 507,
    Refusal.UNAVAILABLE: 400,
}
K = TypeVar("K")
V = TypeVar("V")
_CODE_REFUSALS = {code: refusal for refusal, code in REFUSAL_CODES.items()}

_RECEIVES: dict[Role, frozenset[type]] = {
    Role.TERMINAL: frozenset({S6Challenge, S10Success}),
    Role.PROXY: frozenset({S1Register, S7Response, S5Challenge, S9Success, Protected}),
    Role.SOFTSWITCH: frozenset({S1Register, S2Forward, S7Response, S8Response, Protected}),
}


@dataclass(frozen=True, slots=True)
class MgcpContext:
    """What answering a decoded command needs: its transaction id (RFC 3435 §3.2.1.2),
    verb, endpoint and RequestIdentifier ``X`` when it carried one."""

    txid: int
    verb: str
    endpoint: str
    request_id: str | None = None


def _commentary(text: str) -> str:
    clean = "".join(ch if " " <= ch <= "~" else "?" for ch in text)
    return " ".join(clean.split())[:200]


def error_response(txid: int, refusal: Refusal, detail: str = "") -> bytes:
    """The error response for ``refusal`` to command ``txid`` (table in the module doc)."""
    code = REFUSAL_CODES[refusal]
    note = _commentary(detail)
    return mgcp.format_response(mgcp.Response(
        code, txid, refusal.value + (f": {note}" if note else ""), ((REF, refusal.value),),
        PACKAGE if 800 <= code <= 899 else None))


class _Bounded(OrderedDict[K, V]):
    """An insertion-ordered table of at most :data:`MAX_TRACKED` entries, oldest evicted."""

    def put(self, key: K, value: V) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > MAX_TRACKED:
            self.popitem(last=False)


class MgcpWire:
    """The MGCP binding (:class:`~gba.protocols.ngn_flow.Wire`) of one node and leg."""

    name = "mgcp"
    commands_only = True

    def __init__(self, side: Side, rng: Callable[[int], bytes] = os.urandom) -> None:
        self.side = side
        self._rng = rng
        self.endpoint = _endpoint_for(side.host)
        fallback = f"ngn/0@{side.domain}"
        self._fallback = fallback if mgcp.is_endpoint(fallback) else self.endpoint
        self._sent: _Bounded[int, tuple[str, str, str, bool]] = _Bounded()
        """txid -> ID_c, ID_sp, verb, whether the command was a Protected request."""
        self._peers: _Bounded[tuple[str, str], str] = _Bounded()  # ids -> peer endpoint
        self._requests: _Bounded[tuple[str, str], str] = _Bounded()  # ids -> RQNT's X

    # --- encode ----------------------------------------------------------------------

    def encode(self, message: FlowMessage, answering: Inbound | None = None) -> bytes:
        """``message`` as MGCP bytes (module table). Ack, Refuse and a Protected answer
        answer ``answering``, a command decoded by this instance; every other message
        (a Protected request: the terminal's only) is a new command."""
        if isinstance(message, Protected):
            self._check_protected(message, answering)
        if isinstance(message, Ack | Refuse) or (isinstance(message, Protected)
                                                 and message.answer):
            if answering is None or not isinstance(answering.context, MgcpContext):
                raise InvalidInput(f"{type(message).__name__} answers a decoded MGCP command")
            txid = answering.context.txid
            if isinstance(message, Refuse):
                return error_response(txid, message.refusal, message.detail)
            if isinstance(message, Ack):
                if isinstance(answering.message, Protected):
                    raise InvalidInput("a Protected request is answered by a Protected "
                                       "answer or a Refuse, not a bare Ack")
                return mgcp.format_response(mgcp.Response(200, txid, "OK"))
            return mgcp.format_response(
                mgcp.Response(200, txid, "OK", tuple(encode_fields(message))))
        spec = SPECS.get(type(message))
        if spec is None:
            raise InvalidInput(f"{type(message).__name__} does not travel over MGCP")
        key = (message.id_c, message.id_sp)
        head: list[tuple[str, str]] = []
        endpoint = self.endpoint
        if spec.verb == "RQNT":
            endpoint = self._peers.get(key, self._fallback)
            head.append(("X", self._rng(8).hex()))
        elif spec.verb == "NTFY":
            head.append(("X", self._requests.get(key) or self._rng(8).hex()))
        head.append(spec.event)
        txid = self._new_txid()
        data = mgcp.format_command(
            mgcp.Command(spec.verb, txid, endpoint, (*head, *encode_fields(message))))
        self._sent.put(txid, (message.id_c, message.id_sp, spec.verb,
                              isinstance(message, Protected)))
        return data

    def _check_protected(self, m: Protected, answering: Inbound | None) -> None:
        terminal = self.side.role is Role.TERMINAL
        if not m.answer:
            if not terminal:
                raise InvalidInput("only the terminal sends a Protected request "
                                   "(the SP does not forward it)")
            if answering is not None:
                raise InvalidInput("a Protected request is a new command, not an answer")
            return
        if terminal:
            raise InvalidInput("a terminal does not send a Protected answer")
        request = answering.message if answering is not None else None
        if not isinstance(request, Protected) or request.answer:
            raise InvalidInput("a Protected answer answers a decoded Protected request only")
        if (request.id_c, request.id_sp) != (m.id_c, m.id_sp):
            raise InvalidInput("a Protected answer names the request's ID_c and ID_sp")

    def _new_txid(self) -> int:
        for _ in range(8):
            txid = int.from_bytes(self._rng(4), "big") % mgcp.MAX_TXID + 1
            if txid not in self._sent:
                return txid
        return txid

    # --- decode ----------------------------------------------------------------------

    def decode(self, data: bytes) -> Inbound:
        """The flow message in one MGCP datagram; :class:`WireError` (with the 510 or 504
        answer when a command's transaction id was readable) when it carries none."""
        try:
            msg = mgcp.parse(data)
        except mgcp.MgcpError as exc:
            reply = None
            if exc.is_command and exc.txid is not None:
                reply = self._codec_reply(exc.txid, exc.code, str(exc))
            raise WireError(f"malformed MGCP: {exc}", reply) from None
        if isinstance(msg, mgcp.Response):
            return self._decode_response(msg)
        return self._decode_command(msg)

    def _codec_reply(self, txid: int, code: int, why: str) -> bytes:
        if code == mgcp.PROTOCOL_ERROR:
            return error_response(txid, Refusal.MALFORMED, why)
        return mgcp.format_response(mgcp.Response(code, txid, _commentary(why)))

    def _decode_command(self, cmd: mgcp.Command) -> Inbound:
        kinds = _RECEIVES[self.side.role]
        if cmd.verb not in {SPECS[kind].verb for kind in kinds}:
            raise WireError(f"{cmd.verb} is not a command this {self.side.role.value} takes",
                            self._codec_reply(cmd.txid, mgcp.UNKNOWN_COMMAND,
                                              f"unsupported command {cmd.verb}"))
        try:
            kind = classify(cmd)
            if kind not in kinds:
                raise CodecError(f"{kind.__name__} is not for a {self.side.role.value}")
            message = decode_fields(kind, cmd)
        except (CodecError, InvalidInput) as exc:
            raise WireError(f"{cmd.verb} {cmd.txid}: {exc}",
                            error_response(cmd.txid, Refusal.MALFORMED, str(exc))) from None
        key = (message.id_c, message.id_sp)
        request_id = cmd.param("X")
        if cmd.verb == "RQNT" and request_id is not None:
            self._requests.put(key, request_id)
        else:
            self._peers.put(key, cmd.endpoint)
        return Inbound(message, MgcpContext(cmd.txid, cmd.verb, cmd.endpoint, request_id))

    def _decode_response(self, resp: mgcp.Response) -> Inbound:
        if resp.code < 200:
            raise WireError(f"provisional response {resp.code:03d} carries no flow message")
        entry = self._sent.pop(resp.txid, None)
        if entry is None:
            raise WireError(f"response to unknown transaction {resp.txid}")
        id_c, id_sp, verb, protected = entry
        context = MgcpContext(resp.txid, verb, "")
        if 200 <= resp.code <= 299:
            present = ngn_names(resp.params)
            if not protected:
                if present & ANSWER_FIELDS:
                    raise WireError(f"a Protected answer to {verb} {resp.txid}, which was "
                                    "no Protected request")
                return Inbound(Ack(id_c, id_sp), context, is_request=False)
            if present != ANSWER_FIELDS:
                raise WireError(f"{resp.code:03d} {resp.txid} to a Protected NTFY needs "
                                f"exactly {', '.join(sorted(ANSWER_FIELDS))}")
            try:
                answer = decode_answer(resp)
            except CodecError as exc:
                raise WireError(f"bad Protected answer {resp.txid}: {exc}") from None
            if (answer.id_c, answer.id_sp) != (id_c, id_sp):
                raise WireError(f"Protected answer {resp.txid} names another ID_c or ID_sp")
            return Inbound(answer, context, is_request=False)
        text = resp.param(REF)
        if text is not None:
            try:
                refusal = Refusal(text.strip().lower())
            except ValueError:
                raise WireError(f"unknown refusal {text[:40]!r}") from None
        else:
            refusal = _CODE_REFUSALS.get(resp.code) or (
                Refusal.UNAVAILABLE if 400 <= resp.code <= 499 else Refusal.MALFORMED)
        detail = resp.commentary
        if detail == refusal.value:
            detail = ""
        elif detail.startswith(refusal.value + ": "):
            detail = detail[len(refusal.value) + 2:]
        return Inbound(Refuse(id_c, id_sp, refusal, detail), context, is_request=False)


def _endpoint_for(host: str) -> str:
    """``ngn/0@[ip]`` or ``ngn/0@hostname`` (RFC 3435 §2.1.1) [P]."""
    try:
        name = f"ngn/0@[{ipaddress.ip_address(host)}]"
    except ValueError:
        name = f"ngn/0@{host}"
    return mgcp.check_endpoint(name)

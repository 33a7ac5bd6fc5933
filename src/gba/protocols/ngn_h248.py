"""The H.248 / Megaco binding of the NGN key distribution (seed 001; docs/ngn.md): the
flow messages as RFC 3525 text-encoded commands (Annex B, via :mod:`gba.protocols.megaco`),
each answered by a Reply (RFC 3525 §8.2.1). Sans-IO; the terminal is the MG, the SP and
the softswitch are MGCs. All commands act on the ``ROOT`` termination in the null context
``Context = -`` [P]. A private package ``ngnkd`` [P] names the fields.

=========  ==================================================================================
step       H.248 command (RFC 3525 §7.2)
=========  ==================================================================================
s1         ``ServiceChange = ROOT { Services { Method = Restart, Reason = "901 Cold Boot",
           X-IDC, X-IDSP, X-N1, X-TS1 } }`` -- §7.2.8; the fields are ``extension``
           parameters (Annex B ``extensionParameter = "X" ("-" / "+") 1*6(ALPHA / DIGIT)``)
s2         the same without ``X-N1`` / ``X-TS1``
s5         ``Modify = ROOT { Events = <rid> { ngnkd/chal { idc, idsp, rand } } }`` -- §7.2.2,
           §7.1.9: the MGC asks the MG to report the authentication response
s6         s5's event with ``n1, n2, ts2, mech = on|off`` (the explicit mechanism request)
s7         ``Notify = ROOT { ObservedEvents = <rid> { ngnkd/resp { idc, idsp, n1, n2, ts3,
           auth, mechs = "<RFC 3329 list>" } } }`` -- §7.2.7, §7.1.17
s8         ``ngnkd/resp { idc, idsp, auth, addr = "<IP>" [, mechs] }`` (no n2)
s9         ``Modify = ROOT { Media { TerminationState { ngnkd/idc, ngnkd/idsp, ngnkd/ekc,
           ngnkd/eksp } } }`` -- §7.1.4, §7.1.5 (ROOT properties)
s10        ``TerminationState { ngnkd/idc, ngnkd/idsp, ngnkd/n1, ngnkd/n2, ngnkd/ts4,
           ngnkd/ekc, ngnkd/chosen, ngnkd/mechs, ngnkd/mac }``
Protected  terminal -> SP / softswitch: ``Notify = ROOT { ObservedEvents = <rid> { ngnkd/keep {
request    idc, idsp, mech = "<token>", seq = <decimal>, mac } } }`` -- §7.2.7; <rid> is fresh
           (no Modify asked for the event); the SP answers it and does not forward it
Protected  the Reply to that Notify: ``Reply = <tid> { Context = - { Notify = ROOT,
answer     AuditValue = ROOT { Media { TerminationState { ngnkd/idc, ngnkd/idsp, ngnkd/mech,
           ngnkd/seq, ngnkd/mac } } } } }`` -- see below
Ack        ``Reply = <tid> { Context = - { <Command> = ROOT } }`` -- §8.2.1
Refuse     ``Reply = <tid> { Error = <code> { "ngn:<refusal>[: <detail>]" } }`` -- §7.1.19
=========  ==================================================================================

The Protected answer [P]: Annex B lets a ``notifyReply`` carry nothing but an
errorDescriptor (``NotifyToken EQUAL TerminationID [LBRKT errorDescriptor RBRKT]``), so
the fields cannot ride in the Notify's own reply. A ``commandReplyList`` may hold several
``commandReplys``, and an ``auditReply`` (``AuditValueToken auditOther``, ``auditOther =
EQUAL TerminationID [LBRKT terminationAudit RBRKT]``) returns a ``mediaDescriptor``: the
answer is the bare Notify reply followed by an AuditValue reply reporting ROOT's ``ngnkd``
properties, laid out as s9 / s10. A Reply to a Protected request must carry that answer or
an error (a bare Notify reply is refused as malformed); its ID_c / ID_sp must be the
request's.

Field forms [P]: nonces, Rand, Authenticator_c, wraps and the MAC as lower-case hex
(unquoted VALUE), timestamps as decimal seconds, Protected's seq as a decimal UINT32, the
mechanism list, a mechanism name and s8's address as quotedString. ID_c and ID_sp travel
as quotedString (``idc`` / ``idsp``); an identity holding a DQUOTE, which quotedString
cannot carry (Annex B), travels instead as the hex of its UTF-8 octets under ``idch`` /
``idsph`` (``X-IDCH`` / ``X-IDSPH`` in s1, s2).
<rid> of a Notify repeats the RequestID of the Modify that asked for it, when known.

Refusals (RFC 3525 §14.2 error codes; the error text carries the exact member):

=====================  ================================================================
Refusal                error code
=====================  ================================================================
MALFORMED              400 Syntax error in message
UNKNOWN_TERMINAL       410 Incorrect identifier
UNKNOWN_PROXY          504 Command received from unauthorized entity
STALE, REPLAY,         402 Unauthorized
NOT_ECHOED,
AUTH_FAILED
NO_COMMON_MECHANISM    501 Not implemented
UNAVAILABLE            503 Service unavailable
=====================  ================================================================

An error text without ``ngn:`` maps back by code (402 -> AUTH_FAILED, other 4xx ->
MALFORMED, other 5xx -> UNAVAILABLE) [P]. Undecodable input raises :class:`WireError`
whose reply is ``Reply = <tid> { Error = 400 {...} }`` when a Transaction id could be
read, a message-level ``Error = 400`` when only the header could, else None; a Reply or
an error is never answered.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from gba.errors import InvalidInput
from gba.protocols import megaco
from gba.protocols.megaco import Item, MegacoError, Message, is_token
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
from gba.protocols.ngn_h248_fields import decode_answer, decode_fields, encode_fields, only, uint32

MAX_OUTSTANDING = 4096
TERMINATION = "ROOT"
REASON = "901 Cold Boot"
"""RFC 3525 §7.2.8 ServiceChangeReason 901: the MG registers after a cold boot."""

ERROR_CODES: dict[Refusal, int] = {
    Refusal.MALFORMED: 400,
    Refusal.UNKNOWN_TERMINAL: 410,
    Refusal.UNKNOWN_PROXY: 504,
    Refusal.STALE: 402,
    Refusal.REPLAY: 402,
    Refusal.NOT_ECHOED: 402,
    Refusal.AUTH_FAILED: 402,
    Refusal.NO_COMMON_MECHANISM: 501,
    Refusal.UNAVAILABLE: 503,
}
_BY_CODE = {400: Refusal.MALFORMED, 410: Refusal.UNKNOWN_TERMINAL, 504: Refusal.UNKNOWN_PROXY,
            402: Refusal.AUTH_FAILED, 501: Refusal.NO_COMMON_MECHANISM, 503: Refusal.UNAVAILABLE}
_ERROR_TEXT = re.compile(r"ngn:([a-z-]+)(?:: (.*))?", re.DOTALL)
_TXN = re.compile(r"[ \t\r\n]*(?i:Transaction|T)[ \t\r\n]*=[ \t\r\n]*([0-9]{1,10})[ \t\r\n]*\{")
_UINT32 = re.compile(r"[0-9]{1,10}")
_PATHNAME = re.compile(r"\*?[A-Za-z][A-Za-z0-9_/*$]{0,63}(?:@[A-Za-z0-9*][A-Za-z0-9\-*.]{0,63})?")
_DETAIL_MAX = 200

_SENDS: dict[Role, tuple[type, ...]] = {
    Role.TERMINAL: (S1Register, S7Response, Protected),
    Role.PROXY: (S2Forward, S6Challenge, S8Response, S10Success),
    Role.SOFTSWITCH: (S5Challenge, S6Challenge, S9Success, S10Success),
}
_RECEIVES: dict[Role, tuple[type, ...]] = {
    Role.TERMINAL: (S6Challenge, S10Success),
    Role.PROXY: (S1Register, S7Response, S5Challenge, S9Success, Protected),
    Role.SOFTSWITCH: (S1Register, S2Forward, S7Response, S8Response, Protected),
}
_COMMAND = {S1Register: "ServiceChange", S2Forward: "ServiceChange", S5Challenge: "Modify",
            S6Challenge: "Modify", S9Success: "Modify", S10Success: "Modify",
            S7Response: "Notify", S8Response: "Notify", Protected: "Notify"}


@dataclass(frozen=True, slots=True)
class H248Context:
    """What answering an H.248 command needs: its TransactionID, command, TerminationID,
    the RequestID of its Events / ObservedEvents descriptor, and the sender's mId."""

    transaction_id: int
    command: str
    termination_id: str
    request_id: int | None
    mid: str


@dataclass(frozen=True, slots=True)
class _Sent:
    id_c: str
    id_sp: str
    command: str
    protected: bool = False
    """A Protected request: its Reply must carry the protected answer or an error."""


class H248Wire:
    """The H.248 text binding (:class:`~gba.protocols.ngn_flow.Wire`), one per node and
    leg. Keeps its outstanding commands (TransactionID -> ID_c, ID_sp, command; at most
    4096, oldest evicted) to decode their Replies, and the RequestID of the last Modify
    per terminal to repeat it in the Notify that answers it."""

    name = "h248"
    commands_only = True

    def __init__(self, side: Side, rng: Callable[[int], bytes] = os.urandom) -> None:
        self.side = side
        self.mid = megaco.format_mid(side.host, side.port)
        self._rng = rng
        self._sent: OrderedDict[int, _Sent] = OrderedDict()
        self._rids: OrderedDict[tuple[str, str], int] = OrderedDict()

    # --- encode --------------------------------------------------------------------------

    def encode(self, message: FlowMessage, answering: Inbound | None = None) -> bytes:
        """``message`` as an H.248 command, or (Ack, Refuse) as the Reply to
        ``answering`` (an inbound command of this binding). RFC 3525 §8.2."""
        if isinstance(message, Ack | Refuse) or (isinstance(message, Protected) and message.answer):
            return self._reply(message, answering)
        if not isinstance(message, _SENDS[self.side.role]):
            raise InvalidInput(f"a {self.side.role.value} does not send {type(message).__name__}")
        command = _COMMAND[type(message)]
        rid: int | None = None
        if command != "ServiceChange":
            key = (message.id_c, message.id_sp)
            known = command == "Notify" and not isinstance(message, Protected)
            rid = self._rids.get(key) if known else None
            rid = rid if rid is not None else self._fresh_id()
        body = encode_fields(message, rid, REASON)
        tid = self._fresh_id()
        if tid in self._sent:
            tid = self._fresh_id()
            if tid in self._sent:
                raise InvalidInput("the rng repeats TransactionIDs")
        cmd = Item(command, TERMINATION, (body,))
        txn = Item("Transaction", str(tid), (Item("Context", "-", (cmd,)),))
        data = megaco.serialize(Message(self.mid, (txn,)))
        self._sent[tid] = _Sent(message.id_c, message.id_sp, command,
                                isinstance(message, Protected))
        while len(self._sent) > MAX_OUTSTANDING:
            self._sent.popitem(last=False)
        return data

    def _fresh_id(self) -> int:
        """A random UINT32 (TransactionID, RequestID) from the injected rng, avoiding 0 and
        the reserved 0xFFFFFFFE, 0xFFFFFFFF [P]."""
        for _ in range(16):
            value = int.from_bytes(self._rng(4), "big")
            if 0 < value < 0xFFFFFFFE:
                return value
        raise InvalidInput("the rng gives no usable identifier")

    def _reply(self, message: Ack | Refuse | Protected, answering: Inbound | None) -> bytes:
        ctx = answering.context if answering is not None else None
        if answering is None or not answering.is_request or not isinstance(ctx, H248Context):
            raise InvalidInput("an Ack, Refuse or answer answers an inbound H.248 command")
        if isinstance(message, Protected):
            asked = answering.message
            if not isinstance(asked, Protected) or asked.answer or self.side.role is Role.TERMINAL:
                raise InvalidInput("a Protected answer answers a received Protected request")
            if (message.id_c, message.id_sp) != (asked.id_c, asked.id_sp):
                raise InvalidInput("a Protected answer names the request's ID_c and ID_sp")
            audit = Item("AuditValue", ctx.termination_id, (encode_fields(message, None, REASON),))
            inner = Item("Context", "-", (Item(ctx.command, ctx.termination_id), audit))
        elif isinstance(message, Ack):
            inner = Item("Context", "-", (Item(ctx.command, ctx.termination_id),))
        else:
            inner = megaco.error_item(ERROR_CODES[message.refusal], _error_text(message))
        reply = Item("Reply", str(ctx.transaction_id), (inner,))
        return megaco.serialize(Message(self.mid, (reply,)))

    # --- decode --------------------------------------------------------------------------

    def decode(self, data: bytes) -> Inbound:
        """The flow message in one H.248 message; :class:`WireError` (with the error
        Reply to send, if any) when it is malformed or not for this node."""
        try:
            msg = megaco.parse(data)
        except MegacoError as exc:
            raise WireError(f"H.248: {exc}", self._error_for(data, exc.code, str(exc))) from None
        if len(msg.body) != 1:
            raise WireError("H.248: one transaction per message expected [P]",
                            self._error_for(data, 400, "one transaction per message"))
        top = msg.body[0]
        if is_token(top.name, "Transaction") and not top.quoted_name:
            try:
                return self._command(msg, top)
            except MegacoError as exc:
                reply = self._error_for(data, exc.code, str(exc))
                raise WireError(f"H.248: {exc}", reply) from None
        if is_token(top.name, "Reply") and not top.quoted_name:
            try:
                return self._answer(msg, top)
            except MegacoError as exc:
                raise WireError(f"H.248: {exc}") from None
        raise WireError(f"H.248: {top.name!r} not supported here")

    def _error_for(self, data: bytes, code: int, text: str) -> bytes | None:
        """The error answer to undecodable ``data`` (RFC 3525 §7.1.19, Annex B
        ``transactionReply``, ``messageBody``): never to a Reply or an error."""
        head = data[:1024].decode("utf-8", "replace")
        try:
            _, _, pos = megaco.parse_header(head, check_version=False)
        except MegacoError:
            return None
        text = _sanitize(text)
        match = _TXN.match(head, pos)
        if match is not None and int(match.group(1)) <= 0xFFFFFFFF:
            body = Item("Reply", match.group(1), (megaco.error_item(code, text),))
        elif re.match(r"[ \t\r\n]*(?i:Reply|P|Error|ER|Pending|PN|TransactionResponseAck|K)\b",
                      head[pos:]):
            return None
        else:
            body = megaco.error_item(code, text)
        return megaco.serialize(Message(self.mid, (body,)))

    def _command(self, msg: Message, txn: Item) -> Inbound:
        tid = uint32(txn.value, "TransactionID")
        action = only(txn.children, "Transaction")
        if not is_token(action.name, "Context") or action.value != "-":
            raise MegacoError("expected 'Context = -' (the null context) [P]")
        cmd = only(action.children, "Context")
        command = megaco.canonical(cmd.name) if not cmd.quoted_name else None
        if command not in ("ServiceChange", "Modify", "Notify"):
            raise MegacoError(f"command {cmd.name!r} not supported", 443)
        term = cmd.value
        if term is None or cmd.quoted_value or _PATHNAME.fullmatch(term) is None:
            raise MegacoError(f"TerminationID {term!r} is not a pathNAME")
        descriptor = only(cmd.children, command)
        flow, rid = decode_fields(command, descriptor)
        if not isinstance(flow, _RECEIVES[self.side.role]):
            accepted = {_COMMAND[t] for t in _RECEIVES[self.side.role]}
            code = 400 if command in accepted else 443
            what = f"a {self.side.role.value} does not accept {type(flow).__name__}"
            raise MegacoError(what, code)
        if rid is not None and command == "Modify":
            self._rids[(flow.id_c, flow.id_sp)] = rid
            self._rids.move_to_end((flow.id_c, flow.id_sp))
            while len(self._rids) > MAX_OUTSTANDING:
                self._rids.popitem(last=False)
        return Inbound(flow, H248Context(tid, command, term, rid, msg.mid), is_request=True)

    def _answer(self, msg: Message, reply: Item) -> Inbound:
        tid = uint32(reply.value, "TransactionID")
        sent = self._sent.get(tid)
        if sent is None:
            raise MegacoError(f"Reply to unknown transaction {tid}")
        items = [c for c in reply.children or () if not is_token(c.name, "ImmAckRequired")]
        inner = only(tuple(items), "Reply")
        flow: Ack | Refuse | Protected
        if is_token(inner.name, "Error"):
            flow = _refuse(sent, inner)
        elif is_token(inner.name, "Context"):
            if inner.value is None or not (inner.value == "-" or _UINT32.fullmatch(inner.value)):
                raise MegacoError(f"ContextID {inner.value!r}")
            replies = inner.children or ()
            if sent.protected and len(replies) == 2:
                flow = _protected_answer(sent, replies)
            else:
                cmd = only(replies, "Context")
                if is_token(cmd.name, "Error"):
                    flow = _refuse(sent, cmd)
                elif is_token(cmd.name, sent.command):
                    flow = _command_reply(sent, cmd.children)
                else:
                    raise MegacoError(f"Reply names {cmd.name!r}, not {sent.command}")
        else:
            raise MegacoError(f"unexpected {inner.name!r} in Reply")
        del self._sent[tid]
        ctx = H248Context(tid, sent.command, TERMINATION, None, msg.mid)
        return Inbound(flow, ctx, is_request=False)


def _sanitize(text: str) -> str:
    """Text a quotedString can carry: no DQUOTE, no control character [P]."""
    clean = "".join(" " if (ch < " " or ch == "\x7f") else ch for ch in text.replace('"', "'"))
    return clean[:_DETAIL_MAX]


def _error_text(message: Refuse) -> str:
    detail = _sanitize(message.detail)
    return f"ngn:{message.refusal.value}" + (f": {detail}" if detail else "")


def _command_reply(sent: _Sent, children: tuple[Item, ...] | None) -> Ack | Refuse:
    """A command's reply (Annex B ``commandReplys``): bare, with an errorDescriptor, or
    for a ServiceChange with a serviceChangeReplyDescriptor (``Services {...}``, §7.2.8)."""
    if not children:
        if sent.protected:
            raise MegacoError("the Reply to a protected Notify lacks the protected answer")
        return Ack(sent.id_c, sent.id_sp)
    item = only(children, f"{sent.command} reply")
    if is_token(item.name, "Error"):
        return _refuse(sent, item)
    if sent.command == "ServiceChange" and is_token(item.name, "Services") and item.value is None:
        return Ack(sent.id_c, sent.id_sp)
    raise MegacoError(f"unexpected {item.name!r} in the {sent.command} reply")


def _protected_answer(sent: _Sent, replies: tuple[Item, ...]) -> Protected:
    """The :class:`Protected` answer of ``Notify = ROOT, AuditValue = ROOT { Media {...} }``
    (Annex B ``commandReplyList``: the bare notifyReply, then an auditReply)."""
    notify, audit = replies
    if not is_token(notify.name, "Notify") or notify.children is not None:
        raise MegacoError("expected the bare Notify reply before the AuditValue reply")
    if audit.name.casefold() not in ("auditvalue", "av") or audit.quoted_name:
        raise MegacoError(f"expected AuditValue, not {audit.name!r}")
    answer = decode_answer(only(audit.children, "AuditValue"))
    if (answer.id_c, answer.id_sp) != (sent.id_c, sent.id_sp):
        raise MegacoError("the protected answer names another ID_c / ID_sp")
    return answer


def _refuse(sent: _Sent, error: Item) -> Refuse:
    """The Refuse an errorDescriptor carries (RFC 3525 §7.1.19)."""
    code = uint32(error.value, "ErrorCode")
    if code > 9999:
        raise MegacoError(f"ErrorCode {code} has more than 4 digits")
    kids = error.children or ()
    if len(kids) > 1 or (kids and not kids[0].quoted_name):
        raise MegacoError("errorDescriptor: at most one quotedString")
    text = kids[0].name if kids else ""
    match = _ERROR_TEXT.fullmatch(text)
    if match is not None and match.group(1) in {r.value for r in Refusal}:
        return Refuse(sent.id_c, sent.id_sp, Refusal(match.group(1)), match.group(2) or "")
    fallback = _BY_CODE.get(code) or (Refusal.UNAVAILABLE if code >= 500 else Refusal.MALFORMED)
    return Refuse(sent.id_c, sent.id_sp, fallback, text)

"""The SIP binding of the NGN key distribution (issue 14, seed 001): :class:`SipWire`.

A reply binding (:class:`~gba.protocols.ngn_flow.Wire`, ``commands_only`` False): s1, s2,
s7, s8 and a :class:`Protected` request are REGISTER requests (RFC 3261 §10.2); s5, s6,
s9, s10, a :class:`Protected` answer and :class:`Refuse` are responses to them. The SP is
a B2BUA for the registration [P]: its softswitch leg sends requests of its own (own
Call-ID, CSeq, branch). NGN fields travel as auth-params (:mod:`gba.protocols.ngn_sip_fields`;
hex, decimal seconds and sequence numbers, quoted ids and lists):

=====  =========================================  =========================================
step   SIP message                                NGN parameters
=====  =========================================  =========================================
s1     REGISTER, ``Authorization: NGN``           username, realm, sp, n1, ts1
s2     REGISTER, ``Authorization: NGN``           username, realm, sp
s5     401, ``WWW-Authenticate: NGN``             username, realm, sp, rand
s6     407 ``Proxy-Authenticate: NGN`` (SP), or   username, realm, sp, rand, n1, n2, ts2;
       401 ``WWW-Authenticate: NGN`` (softswitch  ``Require: sec-agree`` iff want_mechanisms
       in the SP's part)                          (RFC 3329 §2.3.1 style) [P]
s7     REGISTER, ``Proxy-Authorization: NGN``     username, realm, sp, n1 (N1'), n2, ts3,
       after a 407, ``Authorization: NGN`` after  response (Authenticator_c);
       a 401 (either is accepted)                 ``Security-Client: tls;q=0.2, ...``
s8     REGISTER, ``Authorization: NGN``           username, realm, sp, response, address;
                                                  ``Security-Client`` iff mechanisms given
s9     200, ``Authentication-Info``, Contact      username, realm, sp, e-kc, e-ksp
s10    200, ``Authentication-Info``, Contact      username, realm, sp, n1, n2, ts4, e-kc,
                                                  mechanism, mechanisms, mac
P req  REGISTER (refresh, same Call-ID, next      username, realm, sp, mechanism, seq, mac
       CSeq), ``Authorization: NGN``
P ans  200, ``Authentication-Info``, Contact      username, realm, sp, mechanism, seq, mac,
                                                  ``direction=answer``
=====  =========================================  =========================================

``P`` is :class:`Protected` [P], after registration: the terminal refreshes its
registration (RFC 3261 §10.2.4: same Call-ID, higher CSeq) under Kc,sp, and the SP (or a
softswitch with direct terminals) answers it with a 200 protected under Kc,sp; no key
travels. ``seq`` is decimal 0..2**32-1, ``mac`` 16 octets of lower-case hex; the MAC
covers ``Protected.mac_fields()`` (``direction`` is the field it names) and is computed
and checked by the caller. Only a terminal encodes the request and only an SP or
softswitch the answer (the SP does not forward a Protected request upstream). Only a
Protected answer or a refusal (the table below) answers a Protected request: encode()
refuses a Protected answer to anything else, and a terminal's decode() refuses a
Protected answer to another REGISTER and a 200/401/407 of another step to its refresh.
``direction`` in a request is refused (400).

ID_c travels exactly in ``username``; To/From carry ``sip:<ID_c escaped>@<domain>``
(RFC 3261 §25.1 ``user``) and are informational. The Request-URI is ``sip:<domain>``.
A message is told apart by exactly which NGN parameters it holds
(:func:`ngn_sip_fields.shape`), and only the shapes of this node's role are accepted.
s10 carries no Security-Verify; its ``mac`` covers exactly
``ngn.canonical(S10Success.mac_fields())`` -- the field values, not SIP headers -- and is
computed and checked by the caller. Authentication-Info holds a bare auth-param list
(RFC 7615 §3) [P]. ``realm`` (the domain) must be present but is not compared [P].

Refusals (RFC 3261 §21.4, §20.43): the status below, and ``Warning: 399 <host>
"ngn:<refusal>[ <detail>]"`` naming the exact :class:`Refusal`. Decoding takes the Warning
when its refusal maps to the status received, else the status default (first row per
status); another 4xx is MALFORMED, 5xx/6xx UNAVAILABLE [P] (``ngn_sip_fields.STATUS``).
The ids come from the outstanding request (matched by the top Via branch, RFC 3261 §17.1.3):

========================  ====================================================================
Refusal                   SIP status
========================  ====================================================================
MALFORMED                 400 Bad Request (§21.4.1)
UNKNOWN_TERMINAL          404 Not Found (§21.4.5: the user does not exist in the domain)
AUTH_FAILED               403 Forbidden (§21.4.4: understood, refused, do not retry as is)
UNKNOWN_PROXY, STALE,     403 Forbidden
REPLAY, NOT_ECHOED
NO_COMMON_MECHANISM       494 Security Agreement Required (RFC 3329 §2.3.1, §6: the code of
                          security agreement; 488 is about session descriptions, RFC 3261
                          §21.4.26)
UNAVAILABLE               503 Service Unavailable (§21.5.4)
========================  ====================================================================

Requests: Via ``SIP/2.0/UDP|TCP host:port;branch=z9hG4bK<rng>`` (§8.1.1.7), Max-Forwards
70, From with a tag, one Call-ID and an incrementing CSeq per ID_c, Contact
``<sip:<user>@host:port>``, Expires 3600, Content-Length 0 (§10.2). Responses copy
Via/From/To/Call-ID/CSeq and add a To tag (§8.2.6.2); 200 echoes Contact with ``expires``
(§10.3 step 8). decode() answers a malformed REGISTER with 400 (+ Warning ngn:malformed),
another method with 405 and ``Allow: REGISTER`` (a terminal: an empty Allow, §20.5), ACK
with nothing (an ACK is never answered, §17); an unusable response raises WireError
without a reply; a 1xx is a WireError to ignore. Tables (dialogs per ID_c, outstanding
branches, the terminal's 401/407 memory) keep at most 4096 entries, oldest evicted.
Over TCP, frame the stream with :class:`gba.protocols.sip.StreamFramer` (RFC 3261
§18.3) before decode().
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from gba.errors import CodecError, InvalidInput
from gba.protocols import ngn, sip
from gba.protocols import ngn_sip_fields as f
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
from gba.protocols.sip import SipRequest, SipResponse

MAX_ENTRIES = 4096
EXPIRES = 3600
AUTHZ, PROXY_AUTHZ = "Authorization", "Proxy-Authorization"

_IDS = frozenset({"username", "realm", "sp"})
REQUESTS: dict[str, frozenset[str]] = {
    "s1": _IDS | {"n1", "ts1"},
    "s2": _IDS,
    "s7": _IDS | {"n1", "n2", "ts3", "response"},
    "s8": _IDS | {"response", "address"},
    "protected": _IDS | {"mechanism", "seq", "mac"},
}
CHALLENGES: dict[str, frozenset[str]] = {
    "s5": _IDS | {"rand"},
    "s6": _IDS | {"rand", "n1", "n2", "ts2"},
}
INFOS: dict[str, frozenset[str]] = {
    "s9": _IDS | {"e-kc", "e-ksp"},
    "s10": _IDS | {"n1", "n2", "ts4", "e-kc", "mechanism", "mechanisms", "mac"},
    "protected-answer": _IDS | {"mechanism", "seq", "mac", "direction"},
}
ANSWER_FLAG = ("direction", "answer")
"""The auth-param that marks the protected answer (the MAC's ``direction`` field)."""
_ACCEPTS: dict[Role, frozenset[str]] = {
    Role.TERMINAL: frozenset({"s6", "s10", "protected-answer"}),
    Role.PROXY: frozenset({"s1", "s7", "s5", "s9", "protected"}),
    Role.SOFTSWITCH: frozenset({"s1", "s2", "s7", "s8", "protected"}),
}
"""Which shapes each role receives (ngn_flow.Role)."""

_BRANCH = re.compile(r";\s*branch\s*=\s*([^;,\s]+)", re.IGNORECASE)


K = TypeVar("K")
V = TypeVar("V")


@dataclass(slots=True)
class _Dialog:
    call_id: str
    tag: str
    cseq: int


def _remember(table: OrderedDict[K, V], key: K, value: V) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > MAX_ENTRIES:
        table.popitem(last=False)


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def _ids(id_c: str, id_sp: str, domain: str, *more: f.Param) -> list[f.Param]:
    return [("username", ngn.check_id(id_c)), ("realm", domain), ("sp", ngn.check_id(id_sp)),
            *more]


def _protected(m: Protected) -> list[f.Param]:
    """The NGN fields of a :class:`Protected` message after the ids (module docstring)."""
    return [f.tokenparam("mechanism", m.mechanism), f.seqparam("seq", m.seq),
            f.hexparam("mac", m.mac, ngn.MAC_LEN)]


def _branch(msg: sip.SipRequest | SipResponse) -> str | None:
    via = msg.header("Via")
    match = _BRANCH.search(via) if via is not None else None
    return match.group(1) if match is not None else None


class SipWire:
    """The NGN flow over SIP (module docstring), one instance per node and leg."""

    name = "sip"
    commands_only = False

    def __init__(self, side: Side, rng: Callable[[int], bytes] = os.urandom) -> None:
        if side.transport not in ("udp", "tcp"):
            raise InvalidInput(f"SIP transport {side.transport!r} is neither udp nor tcp")
        self.side = side
        self._rng = rng
        self._dialogs: OrderedDict[str, _Dialog] = OrderedDict()
        self._pending: OrderedDict[str, tuple[str, str, bool]] = OrderedDict()
        """Outstanding branch -> (ID_c, ID_sp, whether the request was Protected)."""
        self._answer_with: OrderedDict[str, str] = OrderedDict()

    # --- encoding -------------------------------------------------------------------------

    def encode(self, message: FlowMessage, answering: Inbound | None = None) -> bytes:
        """``message`` as a SIP REGISTER (s1, s2, s7, s8, a Protected request: the
        terminal's only) or as the response to ``answering`` (s5, s6, s9, s10, Refuse, a
        Protected answer to a Protected request: not a terminal's);
        :class:`InvalidInput` otherwise."""
        if isinstance(message, Protected):
            self._check_protected(message, answering)
            if not message.answer:
                return self._encode_request(message)
        if isinstance(message, S1Register | S2Forward | S7Response | S8Response):
            if answering is not None:
                raise InvalidInput(f"{type(message).__name__} is a new request, not an answer")
            return self._encode_request(message)
        if isinstance(message, Ack):
            raise InvalidInput("SIP is a reply binding: there is no Ack")
        if answering is None or not isinstance(answering.context, SipRequest):
            raise InvalidInput(f"{type(message).__name__} must answer an inbound SIP request")
        return self._encode_response(message, answering.context)

    def _check_protected(self, m: Protected, answering: Inbound | None) -> None:
        terminal = self.side.role is Role.TERMINAL
        if not m.answer:
            if not terminal:
                raise InvalidInput("only the terminal sends a Protected request "
                                   "(the SP does not forward it)")
            if answering is not None:
                raise InvalidInput("a Protected request is a new request, not an answer")
            return
        if terminal:
            raise InvalidInput("a terminal does not send a Protected answer")
        if answering is not None and not (isinstance(answering.message, Protected)
                                          and not answering.message.answer):
            raise InvalidInput("a Protected answer answers a Protected request only")

    def _encode_request(
            self, m: S1Register | S2Forward | S7Response | S8Response | Protected) -> bytes:
        params = _ids(m.id_c, m.id_sp, self.side.domain)
        extra: list[f.Param] = []
        header = AUTHZ
        if isinstance(m, S1Register):
            params += [f.hexparam("n1", m.n1, ngn.NONCE_LEN), f.tsparam("ts1", m.ts1)]
        elif isinstance(m, S7Response):
            params += [f.hexparam("n1", m.n1, ngn.NONCE_LEN),
                       f.hexparam("n2", m.n2, ngn.NONCE_LEN), f.tsparam("ts3", m.ts3),
                       f.hexparam("response", m.authenticator, ngn.AUTH_LEN)]
            extra.append(("Security-Client", ngn.format_mechanisms(m.mechanisms)))
            header = self._answer_with.get(m.id_c, AUTHZ)
        elif isinstance(m, S8Response):
            params += [f.hexparam("response", m.authenticator, ngn.AUTH_LEN),
                       f.addressparam("address", m.address)]
            if m.mechanisms is not None:
                extra.append(("Security-Client", ngn.format_mechanisms(m.mechanisms)))
        elif isinstance(m, Protected):
            params += _protected(m)
        return self._register(m.id_c, m.id_sp, [(header, f.format_scheme(params)), *extra],
                              protected=isinstance(m, Protected))

    def _register(self, id_c: str, id_sp: str, auth: Sequence[f.Param],
                  protected: bool = False) -> bytes:
        """A REGISTER of ``id_c`` (RFC 3261 §10.2, §8.1.1)."""
        side = self.side
        dialog = self._dialogs.get(id_c)
        if dialog is None:
            dialog = _Dialog(f"{self._random()}@{side.host}", self._random(), 0)
        dialog.cseq += 1
        _remember(self._dialogs, id_c, dialog)
        branch = "z9hG4bK" + self._random()
        user = f.escape_user(id_c)
        aor = f"<sip:{user}@{side.domain}>"
        where = _hostport(side.host, side.port)
        contact = f"<sip:{user}@{where}" + (";transport=tcp>" if side.transport == "tcp" else ">")
        headers = (
            ("Via", f"SIP/2.0/{side.transport.upper()} {where};branch={branch}"),
            ("Max-Forwards", "70"),
            ("From", f"{aor};tag={dialog.tag}"),
            ("To", aor),
            ("Call-ID", dialog.call_id),
            ("CSeq", f"{dialog.cseq} REGISTER"),
            ("Contact", contact),
            ("Expires", str(EXPIRES)),
            *auth,
            ("Content-Length", "0"),
        )
        data = SipRequest("REGISTER", f"sip:{side.domain}", headers).encode()
        _remember(self._pending, branch, (id_c, id_sp, protected))
        return data

    def _encode_response(self, m: FlowMessage, req: SipRequest) -> bytes:
        domain = self.side.domain
        if isinstance(m, Refuse):
            status, reason = f.STATUS[m.refusal]
            host = _hostport(self.side.host, self.side.port)
            return self._respond(req, status, reason,
                                 [("Warning", f.warning(host, m.refusal, m.detail))])
        if isinstance(m, S5Challenge):
            params = _ids(m.id_c, m.id_sp, domain, f.hexparam("rand", m.rand, ngn.RAND_LEN))
            return self._respond(req, 401, "Unauthorized",
                                 [("WWW-Authenticate", f.format_scheme(params))])
        if isinstance(m, S6Challenge):
            params = _ids(
                m.id_c, m.id_sp, domain,
                f.hexparam("rand", m.rand, ngn.RAND_LEN), f.hexparam("n1", m.n1, ngn.NONCE_LEN),
                f.hexparam("n2", m.n2, ngn.NONCE_LEN), f.tsparam("ts2", m.ts2))
            extra = [("Require", "sec-agree")] if m.want_mechanisms else []
            if self.side.role is Role.SOFTSWITCH:
                return self._respond(req, 401, "Unauthorized",
                                     [("WWW-Authenticate", f.format_scheme(params)), *extra])
            return self._respond(req, 407, "Proxy Authentication Required",
                                 [("Proxy-Authenticate", f.format_scheme(params)), *extra])
        if isinstance(m, S9Success):
            params = _ids(
                m.id_c, m.id_sp, domain,
                f.hexparam("e-kc", m.e_kc, ngn.WRAP_LEN),
                f.hexparam("e-ksp", m.e_ksp, ngn.WRAP_LEN))
            return self._success(req, params)
        if isinstance(m, S10Success):
            params = _ids(
                m.id_c, m.id_sp, domain,
                f.hexparam("n1", m.n1, ngn.NONCE_LEN), f.hexparam("n2", m.n2, ngn.NONCE_LEN),
                f.tsparam("ts4", m.ts4), f.hexparam("e-kc", m.e_kc, ngn.WRAP_LEN),
                f.tokenparam("mechanism", m.chosen),
                ("mechanisms", ngn.format_mechanisms(m.mechanisms)),
                f.hexparam("mac", m.mac, ngn.MAC_LEN))
            return self._success(req, params)
        if isinstance(m, Protected):
            return self._success(req, _ids(m.id_c, m.id_sp, domain, *_protected(m), ANSWER_FLAG))
        raise InvalidInput(f"{type(m).__name__} is not a SIP response")

    def _success(self, req: SipRequest, params: list[f.Param]) -> bytes:
        """200 OK with the bindings (RFC 3261 §10.3 step 8) and Authentication-Info."""
        expires = req.header("Expires") or ""
        if not (expires.isascii() and expires.isdigit() and len(expires) <= 10):
            expires = str(EXPIRES)
        contacts = [("Contact", c if "expires=" in c.lower() else f"{c};expires={int(expires)}")
                    for c in req.headers_named("Contact") if c.strip() != "*"]
        return self._respond(req, 200, "OK",
                             [*contacts, ("Authentication-Info", f.format_info(params))])

    def _respond(self, req: SipRequest, status: int, reason: str,
                 headers: Sequence[f.Param]) -> bytes:
        return sip.response_to(req, status, reason, tuple(headers),
                               to_tag=self._random()).encode()

    def _random(self) -> str:
        token = self._rng(8).hex()
        if len(token) < 8:
            raise InvalidInput("rng returned fewer than 4 octets")
        return token

    # --- decoding -------------------------------------------------------------------------

    def decode(self, data: bytes) -> Inbound:
        """The flow message in one SIP message; :class:`WireError` (with a SIP reply for a
        parsed request) when it is malformed or not for this role."""
        try:
            msg = sip.decode(data)
        except CodecError as exc:
            raise WireError(f"not a SIP message: {exc}") from None
        if isinstance(msg, SipRequest):
            return self._decode_request(msg)
        try:
            return self._decode_response(msg)
        except WireError:
            raise
        except (CodecError, InvalidInput) as exc:
            raise WireError(f"SIP {msg.status}: {exc}") from None

    def _reply(self, req: SipRequest, status: int, reason: str,
               headers: Sequence[f.Param]) -> bytes | None:
        try:
            return self._respond(req, status, reason, headers)
        except (InvalidInput, CodecError):
            return None

    def _decode_request(self, req: SipRequest) -> Inbound:
        host = _hostport(self.side.host, self.side.port)
        if req.method == "ACK":
            raise WireError("an ACK is never answered (RFC 3261 §17)")
        try:
            sip.check_request(req)
            if req.method != "REGISTER" or self.side.role is Role.TERMINAL:
                allow = "" if self.side.role is Role.TERMINAL else "REGISTER"
                raise WireError(f"{req.method} not accepted here",
                                self._reply(req, 405, "Method Not Allowed", [("Allow", allow)]))
            message = self._read_register(req)
        except WireError:
            raise
        except (CodecError, InvalidInput) as exc:
            warning = f.warning(host, Refusal.MALFORMED, str(exc))
            raise WireError(f"{req.method}: {exc}",
                            self._reply(req, 400, "Bad Request", [("Warning", warning)])) from None
        return Inbound(message, req, is_request=True)

    def _read_register(self, req: SipRequest) -> FlowMessage:
        found = [(name, params) for name in (AUTHZ, PROXY_AUTHZ)
                 for value in req.headers_named(name)
                 if (params := f.parse_scheme(value)) is not None]
        if len(found) != 1:
            raise CodecError(f"REGISTER carries {len(found)} NGN credentials, not one")
        params = found[0][1]
        kind = self._shape(params, REQUESTS)
        if ANSWER_FLAG[0] in params:
            raise CodecError(f"a request carries the answer's {ANSWER_FLAG[0]!r}")
        p = f.Fields(params)
        p.text("realm")
        id_c, id_sp = p.ident("username"), p.ident("sp")
        clients = req.headers_named("Security-Client")
        mechs = f.mechanisms(", ".join(clients)) if clients else None
        if kind == "s1":
            return S1Register(id_c, id_sp, p.octets("n1", ngn.NONCE_LEN), p.seconds("ts1"))
        if kind == "s2":
            return S2Forward(id_c, id_sp)
        if kind == "protected":
            return Protected(id_c, id_sp, p.token("mechanism"), p.seq("seq"),
                             p.octets("mac", ngn.MAC_LEN))
        if kind == "s7":
            if mechs is None:
                raise CodecError("s7 REGISTER lacks Security-Client")
            return S7Response(id_c, id_sp, p.octets("n1", ngn.NONCE_LEN),
                              p.octets("n2", ngn.NONCE_LEN), p.seconds("ts3"),
                              p.octets("response", ngn.AUTH_LEN), mechs)
        return S8Response(id_c, id_sp, p.octets("response", ngn.AUTH_LEN),
                          p.address("address"), mechs)

    def _shape(self, params: dict[str, str], shapes: dict[str, frozenset[str]]) -> str:
        kind = f.shape(params, shapes)
        if kind not in _ACCEPTS[self.side.role]:
            raise CodecError(f"{kind} is not received by a {self.side.role.value}")
        return kind

    def _decode_response(self, resp: SipResponse) -> Inbound:
        _, method = sip.cseq(resp)
        if method != "REGISTER":
            raise WireError(f"a response to {method}, not to REGISTER")
        if resp.status < 200:
            raise WireError(f"provisional response {resp.status}: nothing to do")
        branch = _branch(resp)
        pending = self._pending.pop(branch, None) if branch is not None else None
        if resp.status >= 300 and resp.status not in (401, 407):
            if pending is None:
                raise WireError(f"{resp.status} answers no outstanding REGISTER")
            refusal, detail = f.refusal(resp.status, resp.headers_named("Warning"))
            return Inbound(Refuse(pending[0], pending[1], refusal, detail), resp, False)
        message = self._read_response(resp)
        if pending is not None:
            if pending[:2] != (message.id_c, message.id_sp):
                raise WireError("the response names another ID_c/ID_sp than its request")
            if pending[2] != isinstance(message, Protected):
                raise WireError(f"{type(message).__name__} does not answer a "
                                + ("Protected request" if pending[2] else "registration"))
        return Inbound(message, resp, is_request=False)

    def _read_response(self, resp: SipResponse) -> FlowMessage:
        if resp.status == 200:
            infos = [info for value in resp.headers_named("Authentication-Info")
                     if set(info := f.parse_info(value)) & {"e-kc", "mac", "seq", "direction"}]
            if len(infos) != 1:
                raise WireError(f"200 carries {len(infos)} NGN Authentication-Info, not one")
            params = infos[0]
            kind = self._shape(params, INFOS)
        elif resp.status in (401, 407):
            header = "WWW-Authenticate" if resp.status == 401 else "Proxy-Authenticate"
            found = [c for value in resp.headers_named(header)
                     if (c := f.parse_scheme(value)) is not None]
            if len(found) != 1:
                raise WireError(f"{resp.status} carries {len(found)} NGN challenges, not one")
            params = found[0]
            kind = self._shape(params, CHALLENGES)
            if kind == "s5" and resp.status != 401:
                raise CodecError("s5 travels in a 401")
        else:
            raise WireError(f"unexpected status {resp.status}")
        p = f.Fields(params)
        p.text("realm")
        id_c, id_sp = p.ident("username"), p.ident("sp")
        if kind == "s5":
            return S5Challenge(id_c, id_sp, p.octets("rand", ngn.RAND_LEN))
        if kind == "s6":
            requires = ",".join(resp.headers_named("Require")).split(",")
            message = S6Challenge(id_c, id_sp, p.octets("rand", ngn.RAND_LEN),
                                  p.octets("n1", ngn.NONCE_LEN), p.octets("n2", ngn.NONCE_LEN),
                                  p.seconds("ts2"),
                                  want_mechanisms="sec-agree" in {r.strip() for r in requires})
            _remember(self._answer_with, id_c, AUTHZ if resp.status == 401 else PROXY_AUTHZ)
            return message
        if kind == "protected-answer":
            p.exactly(*ANSWER_FLAG)
            return Protected(id_c, id_sp, p.token("mechanism"), p.seq("seq"),
                             p.octets("mac", ngn.MAC_LEN), answer=True)
        if kind == "s9":
            return S9Success(id_c, id_sp, p.octets("e-kc", ngn.WRAP_LEN),
                             p.octets("e-ksp", ngn.WRAP_LEN))
        return S10Success(id_c, id_sp, p.octets("n1", ngn.NONCE_LEN),
                          p.octets("n2", ngn.NONCE_LEN), p.seconds("ts4"),
                          p.octets("e-kc", ngn.WRAP_LEN), p.token("mechanism"),
                          p.mechanisms("mechanisms"), p.octets("mac", ngn.MAC_LEN))


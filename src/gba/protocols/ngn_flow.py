"""NGN key distribution: the messages s1-s11 of seed 001, independent of the protocol that
carries them, and the interface every protocol binding implements (docs/ngn.md §2-§3).

A binding (:class:`Wire`: SIP, MGCP, H.248, H.323 RAS) turns these messages into that
protocol's real messages and back. Two shapes exist:

* **reply bindings** (SIP, RAS): s5, s6, s9, s10 and a :class:`Refuse` are *responses* to
  the request that s2, s1, s8, s7 travelled in (REGISTER / 401, 407 / 200; GRQ / GRJ,
  RRQ / RCF). ``Wire.commands_only`` is False.
* **command bindings** (MGCP, H.248): every flow message is a *command* of its own (RSIP,
  RQNT, NTFY, RQNT; ServiceChange, Modify, Notify, Modify), and every command is answered
  by an acknowledgement (MGCP 200 with the same transaction id, H.248 Reply) or, for a
  :class:`Refuse`, by that protocol's error response. ``Wire.commands_only`` is True; an
  acknowledgement decodes as :class:`Ack`.

Every flow message names ID_c and ID_sp, so a node correlates them by terminal.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Protocol

from gba.errors import CodecError
from gba.protocols import ngn
from gba.protocols.ngn import Mechanism


class Refusal(enum.Enum):
    """Why a registration (or one message of it) is refused; each binding maps these to
    its protocol's own error (SIP status, MGCP return code, H.248 error code, RAS reject
    reason)."""

    MALFORMED = "malformed"
    """A message that does not parse or lacks a field."""
    UNKNOWN_TERMINAL = "unknown-terminal"
    """The AuC holds no key for ID_c."""
    UNKNOWN_PROXY = "unknown-proxy"
    """ID_sp is not this SP, or the AuC holds no key for it."""
    STALE = "stale"
    """TS1 or TS3 outside the clock-skew window."""
    REPLAY = "replay"
    """An N1 (or N1') seen before."""
    NOT_ECHOED = "not-echoed"
    """s7 did not return the N2 of s6."""
    AUTH_FAILED = "auth-failed"
    """Authenticator_c did not match ``max_failures`` times in a row."""
    NO_COMMON_MECHANISM = "no-common-mechanism"
    """No mechanism of the terminal's list is supported."""
    UNAVAILABLE = "unavailable"
    """The AuC (or the next hop) could not be reached."""


@dataclass(frozen=True, slots=True)
class S1Register:
    """s1, terminal -> SP (or softswitch): register (ID_c, ID_sp, N1, TS1)."""

    id_c: str
    id_sp: str
    n1: bytes
    ts1: int


@dataclass(frozen=True, slots=True)
class S2Forward:
    """s2, SP -> softswitch: the registration of ID_c through ID_sp."""

    id_c: str
    id_sp: str


@dataclass(frozen=True, slots=True)
class S3AuthRequest:
    """s3, softswitch -> AuC: authenticate ID_c via ID_sp (the softswitch holds no
    authentication data for the terminal)."""

    id_c: str
    id_sp: str


@dataclass(frozen=True, slots=True)
class S4AuthVector:
    """s4, AuC -> softswitch: Rand, Authenticator_c = f(Kc, Rand, ID_c), E_Kc[Kc,sp] and
    E_Ksp[Kc,sp] (without a proxy ID_sp is the softswitch and E_Ksp is under its own key)."""

    id_c: str
    id_sp: str
    rand: bytes
    authenticator: bytes
    e_kc: bytes
    e_ksp: bytes


@dataclass(frozen=True, slots=True)
class S5Challenge:
    """s5, softswitch -> SP: registration failed, authenticate with Rand."""

    id_c: str
    id_sp: str
    rand: bytes


@dataclass(frozen=True, slots=True)
class S6Challenge:
    """s6, SP -> terminal: the challenge with Rand, N1 echoed, the SP's N2 and TS2, and
    the explicit request for the terminal's security mechanisms."""

    id_c: str
    id_sp: str
    rand: bytes
    n1: bytes
    n2: bytes
    ts2: int
    want_mechanisms: bool = True


@dataclass(frozen=True, slots=True)
class S7Response:
    """s7, terminal -> SP: register again with N1', N2 echoed, TS3, Authenticator_c and
    the terminal's mechanism list with priorities."""

    id_c: str
    id_sp: str
    n1: bytes
    n2: bytes
    ts3: int
    authenticator: bytes
    mechanisms: tuple[Mechanism, ...]


@dataclass(frozen=True, slots=True)
class S8Response:
    """s8, SP -> softswitch: ID_c, ID_sp, Authenticator_c, the terminal's IP address as
    the SP saw it (after any address translation), and the mechanism list only when the SP
    is configured to forward it."""

    id_c: str
    id_sp: str
    authenticator: bytes
    address: str
    mechanisms: tuple[Mechanism, ...] | None = None


@dataclass(frozen=True, slots=True)
class S9Success:
    """s9, softswitch -> SP: registered; E_Kc[Kc,sp] and E_Ksp[Kc,sp]."""

    id_c: str
    id_sp: str
    e_kc: bytes
    e_ksp: bytes


@dataclass(frozen=True, slots=True)
class S10Success:
    """s10, SP -> terminal: registered; E_Kc[Kc,sp], the chosen mechanism, the terminal's
    own list echoed, N1' and N2 echoed, TS4, and fm(Kc,sp) over all of them."""

    id_c: str
    id_sp: str
    n1: bytes
    n2: bytes
    ts4: int
    e_kc: bytes
    chosen: str
    mechanisms: tuple[Mechanism, ...]
    mac: bytes

    def mac_fields(self) -> list[tuple[str, str]]:
        """What fm covers, in this order [P] (docs/ngn.md §1): every field of s10 but
        the MAC itself, as text."""
        return mac_fields(self.id_c, self.id_sp, self.n1, self.n2, self.ts4, self.e_kc,
                          self.chosen, self.mechanisms)


def mac_fields(id_c: str, id_sp: str, n1: bytes, n2: bytes, ts4: int, e_kc: bytes,
               chosen: str, mechanisms: tuple[Mechanism, ...]) -> list[tuple[str, str]]:
    """The (name, value) pairs fm(Kc,sp, ...) covers in s10 [P]."""
    return [
        ("id-c", id_c),
        ("id-sp", id_sp),
        ("n1", ngn.hexfield(n1)),
        ("n2", ngn.hexfield(n2)),
        ("ts4", str(ts4)),
        ("e-kc", ngn.hexfield(e_kc)),
        ("mechanism", chosen),
        ("mechanisms", ngn.format_mechanisms(mechanisms)),
    ]


@dataclass(frozen=True, slots=True)
class S11Registered:
    """s11, softswitch -> AuC, sent together with s9: ID_c is registered through ID_sp
    from ``address`` (the terminal's IP as seen after address translation)."""

    id_c: str
    id_sp: str
    address: str


@dataclass(frozen=True, slots=True)
class Refuse:
    """The registration of ID_c is refused (the protocol's reject)."""

    id_c: str
    id_sp: str
    refusal: Refusal
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Ack:
    """A command binding's acknowledgement of a command about ID_c (MGCP 200, H.248
    Reply without error)."""

    id_c: str
    id_sp: str


@dataclass(frozen=True, slots=True)
class Protected:
    """After registration [P]: a registration refresh (keep-alive) protected under Kc,sp
    with the chosen mechanism, and its protected answer (``answer`` True), with no new key
    exchange. ``mac`` = fm(Kc,sp, :meth:`mac_fields`); ``seq`` grows with each refresh (a
    replayed or reordered one is refused). Reply bindings answer the request with it;
    command bindings answer the command (MGCP 200 / H.248 Reply) carrying its fields."""

    id_c: str
    id_sp: str
    mechanism: str
    seq: int
    mac: bytes
    answer: bool = False

    def mac_fields(self) -> list[tuple[str, str]]:
        return protected_fields(self.id_c, self.id_sp, self.mechanism, self.seq, self.answer)


def protected_fields(id_c: str, id_sp: str, mechanism: str, seq: int,
                     answer: bool) -> list[tuple[str, str]]:
    """What fm covers in a :class:`Protected` message [P]."""
    return [("id-c", id_c), ("id-sp", id_sp), ("mechanism", mechanism), ("seq", str(seq)),
            ("direction", "answer" if answer else "request")]


FlowMessage = (S1Register | S2Forward | S5Challenge | S6Challenge | S7Response | S8Response
               | S9Success | S10Success | Refuse | Ack | Protected)
"""What travels between terminal, SP and softswitch (s3, s4, s11 go over Diameter)."""


@dataclass(frozen=True, slots=True)
class Inbound:
    """One decoded protocol message: the flow message it carries and what the binding
    needs to answer it (``context``: transaction id, SIP headers, RAS sequence number)."""

    message: FlowMessage
    context: Any = None
    is_request: bool = True
    """A request or command (to be answered); False for a response or acknowledgement."""


class WireError(CodecError):
    """Bytes a binding cannot decode; ``reply`` is that protocol's error answer when one
    can be built (SIP 400, MGCP 510, H.248 error descriptor, RAS XRS), else None."""

    def __init__(self, message: str, reply: bytes | None = None) -> None:
        super().__init__(message)
        self.reply = reply


class Wire(Protocol):
    """One protocol binding, sans-IO. One instance per node and per leg; it may keep a
    bounded table of its own outstanding transactions (to decode their answers)."""

    name: str
    commands_only: bool

    def decode(self, data: bytes) -> Inbound:
        """The flow message in ``data``; :class:`WireError` when malformed."""
        ...

    def encode(self, message: FlowMessage, answering: Inbound | None = None) -> bytes:
        """``message`` as this protocol's bytes.

        Reply bindings: s5, s6, s9, s10 and :class:`Refuse` answer ``answering`` (the
        inbound request); s1, s2, s7, s8 are new requests (``answering`` None).
        Command bindings: every message but :class:`Refuse`, :class:`Ack` and an answer
        :class:`Protected` is a new command; those answer ``answering`` (an inbound
        command) with the acknowledgement (carrying the Protected answer's fields) or the
        protocol's error.
        :class:`Protected`: a request (``answer`` False) is a new request or command from
        the terminal; its answer (``answer`` True) answers it."""
        ...


class Role(enum.Enum):
    """Which node a :class:`Wire` instance serves, and so which messages it sends."""

    TERMINAL = "terminal"
    """Sends s1, s7; receives s6, s10, Refuse."""
    PROXY = "proxy"
    """Towards the terminal: receives s1, s7, sends s6, s10, Refuse. Towards the
    softswitch: sends s2, s8, receives s5, s9, Refuse. (One instance per leg.)"""
    SOFTSWITCH = "softswitch"
    """Receives s1, s2, s7, s8; sends s5 (to an SP), s6 and s10 (to a terminal when it
    plays the SP's part itself, claims 1-8), s9 (to an SP), Refuse."""


@dataclass(frozen=True, slots=True)
class Side:
    """What a binding needs to know about the node it runs in."""

    role: Role
    host: str
    """The node's own IP address (Via, Contact, RAS transport address, MGCP endpoint)."""
    port: int
    domain: str
    """The NGN domain: the SIP domain and realm, the MGC / gatekeeper name."""
    transport: str = "udp"
    """"udp" or "tcp" (SIP only)."""

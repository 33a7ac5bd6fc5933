"""The field layout of the MGCP binding (:mod:`gba.protocols.ngn_mgcp`): which verb, event
and X-NGN parameter lines carry each flow message, and how those lines are written and read
(the module table and field forms of :mod:`gba.protocols.ngn_mgcp`). Every failure while
reading is a :class:`~gba.errors.CodecError` (answered with ``510``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gba.errors import CodecError, InvalidInput
from gba.protocols import mgcp, ngn
from gba.protocols.ngn_flow import (
    FlowMessage,
    Protected,
    S1Register,
    S2Forward,
    S5Challenge,
    S6Challenge,
    S7Response,
    S8Response,
    S9Success,
    S10Success,
)

PACKAGE = "ngn"
EVENT_AUTH = "ngn/auth"
EVENT_REG = "ngn/reg"
EVENT_KEEP = "ngn/keep"
MAX_SEQ = 2**32 - 1
"""The largest ``seq`` of a :class:`~gba.protocols.ngn_flow.Protected` message."""

IDC, ISP, N1, N2 = "X-NGNIDC", "X-NGNISP", "X-NGNN1", "X-NGNN2"
TS1, TS2, TS3, TS4 = "X-NGNTS1", "X-NGNTS2", "X-NGNTS3", "X-NGNTS4"
RND, AUT, EKC, EKS = "X-NGNRND", "X-NGNAUT", "X-NGNEKC", "X-NGNEKS"
MEC, SEL, MAC, ADR, WM = "X-NGNMEC", "X-NGNSEL", "X-NGNMAC", "X-NGNADR", "X-NGNWM"
REF, SEQ = "X-NGNREF", "X-NGNSEQ"


@dataclass(frozen=True, slots=True)
class Spec:
    """The verb, event line and X-NGN parameter lines of one flow command."""

    verb: str
    event: tuple[str, str]
    required: frozenset[str]
    optional: frozenset[str] = frozenset()


SPECS: dict[type, Spec] = {
    S1Register: Spec("RSIP", ("RM", "restart"), frozenset({IDC, ISP, N1, TS1})),
    S2Forward: Spec("RSIP", ("RM", "restart"), frozenset({IDC, ISP})),
    S5Challenge: Spec("RQNT", ("R", EVENT_AUTH), frozenset({IDC, ISP, RND})),
    S6Challenge: Spec("RQNT", ("R", EVENT_AUTH),
                      frozenset({IDC, ISP, RND, N1, N2, TS2, WM})),
    S7Response: Spec("NTFY", ("O", EVENT_AUTH),
                     frozenset({IDC, ISP, N1, N2, TS3, AUT, MEC})),
    S8Response: Spec("NTFY", ("O", EVENT_AUTH), frozenset({IDC, ISP, AUT, ADR}),
                     frozenset({MEC})),
    S9Success: Spec("RQNT", ("R", EVENT_REG), frozenset({IDC, ISP, EKC, EKS})),
    S10Success: Spec("RQNT", ("R", EVENT_REG),
                     frozenset({IDC, ISP, N1, N2, TS4, EKC, SEL, MEC, MAC})),
    Protected: Spec("NTFY", ("O", EVENT_KEEP), frozenset({IDC, ISP, SEL, SEQ, MAC})),
}
ANSWER_FIELDS = frozenset({IDC, ISP, SEL, SEQ, MAC})
"""The parameter lines of a 2xx carrying a Protected answer."""

_ID_WIRE = re.compile(r"(?:[\x21-\x24\x26-\x7e]|%[0-9A-Fa-f]{2})+")
_DECIMAL = re.compile(r"[0-9]{1,20}")
_SEQ = re.compile(r"[0-9]{1,10}")
_REQUEST_ID = re.compile(r"[0-9A-Fa-f]{1,32}")  # RFC 3435 §3.2.2.18
_TOKEN = re.compile(r"[!%'*+\-.^_`~0-9A-Za-z]+")  # RFC 3261 §25.1, as the mechanism names
_ADDRESS = re.compile(r"[\x21-\x7e]{1,253}")


def encode_id(text: str) -> str:
    """ID_c / ID_sp as an MGCP parameter value: UTF-8, ``%XX`` for ``%``, space, controls
    and non-ASCII octets [P]."""
    ngn.check_id(text)
    return "".join(chr(b) if 0x21 <= b <= 0x7E and b != 0x25 else f"%{b:02X}"
                   for b in text.encode("utf-8"))


def decode_id(text: str) -> str:
    """The identity in a percent-encoded value; :class:`CodecError` when malformed."""
    if _ID_WIRE.fullmatch(text) is None:
        raise CodecError("identity is not percent-encoded printable ASCII")
    raw = bytearray()
    pos = 0
    while pos < len(text):
        if text[pos] == "%":
            raw.append(int(text[pos + 1 : pos + 3], 16))
            pos += 3
        else:
            raw.append(ord(text[pos]))
            pos += 1
    try:
        return ngn.check_id(raw.decode("utf-8"))
    except (UnicodeDecodeError, InvalidInput) as exc:
        raise CodecError(f"bad identity: {exc}") from None


def _hex(value: bytes, length: int, what: str) -> str:
    if not isinstance(value, bytes) or len(value) != length:
        raise InvalidInput(f"{what} must be {length} octets")
    return ngn.hexfield(value)


def _ts(value: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"timestamp {value!r} is not a non-negative integer")
    return str(value)


def _seq(value: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEQ:
        raise InvalidInput(f"seq {value!r} is not within 0..{MAX_SEQ}")
    return str(value)


def _checked(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise InvalidInput(f"{what} {value!r} cannot travel in MGCP")
    return value


def encode_fields(message: FlowMessage) -> list[tuple[str, str]]:
    """The X-NGN parameter lines of a flow command, in order."""
    out = [(IDC, encode_id(message.id_c)), (ISP, encode_id(message.id_sp))]
    match message:
        case S1Register():
            out += [(N1, _hex(message.n1, ngn.NONCE_LEN, "N1")), (TS1, _ts(message.ts1))]
        case S5Challenge():
            out += [(RND, _hex(message.rand, ngn.RAND_LEN, "Rand"))]
        case S6Challenge():
            out += [(RND, _hex(message.rand, ngn.RAND_LEN, "Rand")),
                    (N1, _hex(message.n1, ngn.NONCE_LEN, "N1")),
                    (N2, _hex(message.n2, ngn.NONCE_LEN, "N2")), (TS2, _ts(message.ts2)),
                    (WM, "1" if message.want_mechanisms else "0")]
        case S7Response():
            out += [(N1, _hex(message.n1, ngn.NONCE_LEN, "N1'")),
                    (N2, _hex(message.n2, ngn.NONCE_LEN, "N2")), (TS3, _ts(message.ts3)),
                    (AUT, _hex(message.authenticator, ngn.AUTH_LEN, "Authenticator_c")),
                    (MEC, ngn.format_mechanisms(message.mechanisms))]
        case S8Response():
            out += [(AUT, _hex(message.authenticator, ngn.AUTH_LEN, "Authenticator_c")),
                    (ADR, _checked(_ADDRESS, message.address, "address"))]
            if message.mechanisms is not None:
                out.append((MEC, ngn.format_mechanisms(message.mechanisms)))
        case S9Success():
            out += [(EKC, _hex(message.e_kc, ngn.WRAP_LEN, "E_Kc")),
                    (EKS, _hex(message.e_ksp, ngn.WRAP_LEN, "E_Ksp"))]
        case S10Success():
            out += [(N1, _hex(message.n1, ngn.NONCE_LEN, "N1'")),
                    (N2, _hex(message.n2, ngn.NONCE_LEN, "N2")), (TS4, _ts(message.ts4)),
                    (EKC, _hex(message.e_kc, ngn.WRAP_LEN, "E_Kc")),
                    (SEL, _checked(_TOKEN, message.chosen, "mechanism")),
                    (MEC, ngn.format_mechanisms(message.mechanisms)),
                    (MAC, _hex(message.mac, ngn.MAC_LEN, "MAC"))]
        case Protected():
            out += [(SEL, _checked(_TOKEN, message.mechanism, "mechanism")),
                    (SEQ, _seq(message.seq)), (MAC, _hex(message.mac, ngn.MAC_LEN, "MAC"))]
    return out


class _Reader:
    """Typed reads of the X-NGN parameters of one command (or of the 2xx carrying a
    Protected answer); :class:`CodecError` if bad."""

    def __init__(self, cmd: mgcp.Command | mgcp.Response) -> None:
        self.cmd = cmd

    def text(self, name: str) -> str:
        value = self.cmd.param(name)
        if value is None:
            raise CodecError(f"{name} missing")
        return value

    def ident(self, name: str) -> str:
        return decode_id(self.text(name))

    def octets(self, name: str, length: int) -> bytes:
        try:
            return ngn.unhex(self.text(name), length)
        except CodecError as exc:
            raise CodecError(f"{name}: {exc}") from None

    def ts(self, name: str) -> int:
        value = self.text(name)
        if _DECIMAL.fullmatch(value) is None:
            raise CodecError(f"{name} is not decimal seconds")
        return int(value)

    def seq(self, name: str) -> int:
        value = self.text(name)
        if _SEQ.fullmatch(value) is None or int(value) > MAX_SEQ:
            raise CodecError(f"{name} is not decimal 0..{MAX_SEQ}")
        return int(value)

    def mechs(self, name: str) -> tuple[ngn.Mechanism, ...]:
        try:
            return ngn.parse_mechanisms(self.text(name))
        except (CodecError, InvalidInput) as exc:
            raise CodecError(f"{name}: {exc}") from None

    def match(self, name: str, pattern: re.Pattern[str]) -> str:
        value = self.text(name)
        if pattern.fullmatch(value) is None:
            raise CodecError(f"{name} has a bad value")
        return value

    def flag(self, name: str) -> bool:
        value = self.text(name)
        if value not in ("0", "1"):
            raise CodecError(f"{name} is not 0 or 1")
        return value == "1"


def _build(kind: type, r: _Reader) -> FlowMessage:
    ids = (r.ident(IDC), r.ident(ISP))
    nonce = ngn.NONCE_LEN
    if kind is S1Register:
        return S1Register(*ids, r.octets(N1, nonce), r.ts(TS1))
    if kind is S2Forward:
        return S2Forward(*ids)
    if kind is S5Challenge:
        return S5Challenge(*ids, r.octets(RND, ngn.RAND_LEN))
    if kind is S6Challenge:
        return S6Challenge(*ids, r.octets(RND, ngn.RAND_LEN), r.octets(N1, nonce),
                           r.octets(N2, nonce), r.ts(TS2), r.flag(WM))
    if kind is S7Response:
        return S7Response(*ids, r.octets(N1, nonce), r.octets(N2, nonce), r.ts(TS3),
                          r.octets(AUT, ngn.AUTH_LEN), r.mechs(MEC))
    if kind is S8Response:
        mechs = r.mechs(MEC) if r.cmd.param(MEC) is not None else None
        return S8Response(*ids, r.octets(AUT, ngn.AUTH_LEN), r.match(ADR, _ADDRESS), mechs)
    if kind is S9Success:
        return S9Success(*ids, r.octets(EKC, ngn.WRAP_LEN), r.octets(EKS, ngn.WRAP_LEN))
    if kind is Protected:
        return _protected(r, answer=False)
    return S10Success(*ids, r.octets(N1, nonce), r.octets(N2, nonce), r.ts(TS4),
                      r.octets(EKC, ngn.WRAP_LEN), r.match(SEL, _TOKEN), r.mechs(MEC),
                      r.octets(MAC, ngn.MAC_LEN))


def _protected(r: _Reader, *, answer: bool) -> Protected:
    return Protected(r.ident(IDC), r.ident(ISP), r.match(SEL, _TOKEN), r.seq(SEQ),
                     r.octets(MAC, ngn.MAC_LEN), answer)


def ngn_names(params: tuple[tuple[str, str], ...]) -> set[str]:
    return {name.upper() for name, _ in params if name.upper().startswith("X-NGN")}


def classify(cmd: mgcp.Command) -> type:
    """The flow message a command carries, by verb, event and X-NGN parameter set."""
    present = ngn_names(cmd.params)
    for kind, spec in SPECS.items():
        if spec.verb != cmd.verb or not spec.required <= present:
            continue
        if not present <= spec.required | spec.optional:
            continue
        event, value = spec.event
        got = cmd.param(event)
        if got is None or got.lower() != value:
            raise CodecError(f"{cmd.verb} needs '{event}: {value}'")
        if spec.verb != "RSIP" and _REQUEST_ID.fullmatch(cmd.param("X") or "") is None:
            raise CodecError(f"{cmd.verb} needs a RequestIdentifier X (1-32 hex digits)")
        return kind
    raise CodecError(f"{cmd.verb} carries no NGN flow message ({len(present)} X-NGN lines)")


def decode_fields(kind: type, cmd: mgcp.Command) -> FlowMessage:
    """The flow message of kind ``kind`` (:func:`classify`) in ``cmd``'s X-NGN lines."""
    return _build(kind, _Reader(cmd))


def decode_answer(resp: mgcp.Response) -> Protected:
    """The Protected answer in the X-NGN lines of a 2xx."""
    return _protected(_Reader(resp), answer=True)

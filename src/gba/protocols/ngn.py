"""NGN key distribution during registration: the fields and functions (seed 001; docs/ngn.md §1).

The seed names the steps and the fields, not their octets: the functions f and fm, the
field forms and the MAC's field layout below are this project's [P]. Pure: no clock (a
timestamp is compared with a ``now`` passed in), no randomness (nonces, Rand and Kc,sp
are drawn by the caller).

* s4, the AuC's answer: Authenticator_c = f(Kc, Rand, ID_c) = HMAC-SHA-256(Kc, "ngn-auth"
  || Rand || ID_c), first 16 octets (:func:`authenticator`); E_K[Kc,sp] under Kc, Ksp or
  Kss is the AES Key Wrap of RFC 3394 (:func:`wrap`, :func:`unwrap`), whose integrity
  check authenticates the wrap: a failed unwrap is a :class:`~gba.errors.MacFailure`.
* s7, the mechanism list: RFC 3329 §2.2 syntax, ``tls;q=0.2, ipsec;q=0.1`` (q higher =
  preferred; :func:`parse_mechanisms`, :func:`format_mechanisms`); the SP (or softswitch)
  takes the highest-q mechanism of the terminal's list that it supports (:func:`choose`).
* s10, the MAC: fm(Kc,sp, fields) = HMAC-SHA-256(Kc,sp, "ngn-mac" || canonical(fields)),
  first 16 octets, canonical = ``name=value\\n`` per field in the order the binding lists
  them (:func:`mac`, :func:`verify_mac`).
* s11 and the SP's checks: a timestamp outside the clock skew (:func:`fresh`), a nonce
  not echoed (:func:`echoed`), the MAC, an altered mechanism list (a downgrade: compare
  the parsed lists), each an :class:`~gba.errors.AuthError`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)

from gba.errors import AuthError, CodecError, InvalidInput, MacFailure

ID_MAX = 255
"""Longest ID_c / ID_sp, in UTF-8 octets."""
NONCE_LEN = 16
RAND_LEN = 16
KEY_LEN = 16
"""Kc, Ksp, Kss and Kc,sp: AES-128 keys."""
WRAP_LEN = 24
"""E_K[Kc,sp]: a 16-octet key wrapped per RFC 3394."""
AUTH_LEN = 16
MAC_LEN = 16
DEFAULT_SKEW_S = 30
MAX_MECHANISMS = 16
MAX_LIST_CHARS = 1024
"""Longest mechanism list text accepted."""

_AUTH_LABEL = b"ngn-auth"
_MAC_LABEL = b"ngn-mac"

_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
"""RFC 3261 §25.1 token."""
_QVALUE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")
"""RFC 3261 §25.1 qvalue."""
_HOST_V6 = re.compile(r"\[[0-9A-Fa-f:.]+\]")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})*")
_WS = " \t"


class NoCommonMechanism(AuthError):
    """The terminal's list and the SP's (or softswitch's) mechanisms share nothing."""


class StaleTimestamp(AuthError):
    """A TS1..TS4 outside the receiver's clock skew."""


class NonceNotEchoed(AuthError):
    """N1 or N2 did not come back as sent."""


def _is_token(text: str) -> bool:
    return _TOKEN.fullmatch(text) is not None


def _need_len(name: str, value: bytes, length: int) -> None:
    if len(value) != length:
        raise InvalidInput(f"{name} must be {length} octets, not {len(value)}")


# --- identities --------------------------------------------------------------------------


def check_id(text: str) -> str:
    """ID_c or ID_sp as given, if it is 1..255 UTF-8 octets without control characters."""
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidInput("identity is not encodable as UTF-8") from None
    if not 1 <= size <= ID_MAX:
        raise InvalidInput(f"identity of {size} octets is not 1..{ID_MAX}")
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise InvalidInput("identity contains a control character")
    return text


# --- s4: Authenticator_c and the key wraps -----------------------------------------------


def authenticator(kc: bytes, rand: bytes, id_c: str) -> bytes:
    """f(Kc, Rand, ID_c) = HMAC-SHA-256(Kc, "ngn-auth" || Rand || ID_c)[:16] [P]."""
    _need_len("Kc", kc, KEY_LEN)
    _need_len("Rand", rand, RAND_LEN)
    ident = check_id(id_c).encode("utf-8")
    return hmac.new(kc, _AUTH_LABEL + rand + ident, hashlib.sha256).digest()[:AUTH_LEN]


def verify_authenticator(expected: bytes, got: bytes) -> None:
    """The softswitch's comparison of the AuC's Authenticator_c with the terminal's."""
    if not hmac.compare_digest(expected, got):
        raise MacFailure("Authenticator_c does not match")


def wrap(key: bytes, kc_sp: bytes) -> bytes:
    """E_K[Kc,sp]: RFC 3394 AES Key Wrap of the 16-octet Kc,sp under the 16-octet K."""
    _need_len("wrapping key", key, KEY_LEN)
    _need_len("Kc,sp", kc_sp, KEY_LEN)
    return aes_key_wrap(key, kc_sp)


def unwrap(key: bytes, wrapped: bytes) -> bytes:
    """Kc,sp from E_K[Kc,sp]; :class:`MacFailure` when the RFC 3394 integrity check fails
    (a tampered wrap or the wrong key)."""
    _need_len("wrapping key", key, KEY_LEN)
    _need_len("E_K[Kc,sp]", wrapped, WRAP_LEN)
    try:
        return aes_key_unwrap(key, wrapped)
    except InvalidUnwrap:
        raise MacFailure("E_K[Kc,sp] failed the key wrap integrity check") from None


# --- s7: the mechanism list --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mechanism:
    """One entry of an RFC 3329 style list: a mechanism name and its preference q."""

    name: str
    q: float

    def __post_init__(self) -> None:
        if not _is_token(self.name):
            raise InvalidInput(f"mechanism name {self.name!r} is not a token")
        if not isinstance(self.q, int | float) or isinstance(self.q, bool):
            raise InvalidInput("q must be a number")
        if not 0.0 <= self.q <= 1.0:
            raise InvalidInput(f"q={self.q} is not within 0..1")
        if round(self.q * 1000) / 1000 != self.q:
            raise InvalidInput(f"q={self.q} has more than 3 decimals")


def _qtext(q: float) -> str:
    text = f"{q:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def format_mechanisms(mechanisms: Sequence[Mechanism]) -> str:
    """``tls;q=0.2, ipsec;q=0.1`` (RFC 3329 §2.2)."""
    if not mechanisms:
        raise InvalidInput("an empty mechanism list")
    if len(mechanisms) > MAX_MECHANISMS:
        raise InvalidInput(f"more than {MAX_MECHANISMS} mechanisms")
    names = [m.name.casefold() for m in mechanisms]
    if len(set(names)) != len(names):
        raise InvalidInput("a mechanism listed twice")
    return ", ".join(f"{m.name};q={_qtext(m.q)}" for m in mechanisms)


class _Scanner:
    """A bounded character scanner over one mechanism list."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_ws(self) -> None:
        while self.peek() in _WS and not self.at_end():
            self.pos += 1

    def token(self, what: str) -> str:
        match = _TOKEN.match(self.text, self.pos)
        if match is None:
            raise CodecError(f"expected a {what} token at offset {self.pos}")
        self.pos = match.end()
        return match.group()

    def value(self) -> str:
        if self.peek() == '"':
            return self.quoted()
        match = _HOST_V6.match(self.text, self.pos) or _TOKEN.match(self.text, self.pos)
        if match is None:
            raise CodecError(f"expected a parameter value at offset {self.pos}")
        self.pos = match.end()
        return match.group()

    def quoted(self) -> str:
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while not self.at_end():
            ch = self.text[self.pos]
            if ch == '"':
                self.pos += 1
                return "".join(out)
            if ch == "\\":
                nxt = self.text[self.pos + 1 : self.pos + 2]
                if not nxt or nxt in "\r\n" or ord(nxt) > 0x7F:
                    raise CodecError(f"bad quoted-pair at offset {self.pos}")
                out.append(nxt)
                self.pos += 2
                continue
            if ch not in _WS and unicodedata.category(ch) == "Cc":
                raise CodecError(f"control character in quoted-string at offset {self.pos}")
            out.append(ch)
            self.pos += 1
        raise CodecError(f"unterminated quoted-string from offset {start}")


def _parse_q(text: str) -> float:
    if _QVALUE.fullmatch(text) is None:
        raise CodecError(f"q={text!r} is not an RFC 3261 qvalue")
    return float(text)


def parse_mechanisms(text: str) -> tuple[Mechanism, ...]:
    """The entries of an RFC 3329 §2.2 list in their order. Each must carry q [P]; other
    parameters (d-alg, d-qop, d-ver, extensions) are skipped; a mechanism listed twice, an
    empty entry or more than 16 entries is a :class:`CodecError`."""
    if len(text) > MAX_LIST_CHARS:
        raise CodecError(f"mechanism list longer than {MAX_LIST_CHARS} characters")
    scan = _Scanner(text)
    result: list[Mechanism] = []
    seen: set[str] = set()
    scan.skip_ws()
    while True:
        name = scan.token("mechanism name")
        q: float | None = None
        scan.skip_ws()
        while scan.peek() == ";":
            scan.pos += 1
            scan.skip_ws()
            param = scan.token("parameter name")
            scan.skip_ws()
            value: str | None = None
            if scan.peek() == "=":
                scan.pos += 1
                scan.skip_ws()
                value = scan.value()
                scan.skip_ws()
            if param.casefold() == "q":
                if q is not None:
                    raise CodecError(f"q given twice for {name!r}")
                if value is None:
                    raise CodecError(f"q without a value for {name!r}")
                q = _parse_q(value)
        if q is None:
            raise CodecError(f"mechanism {name!r} has no q")
        if name.casefold() in seen:
            raise CodecError(f"mechanism {name!r} listed twice")
        seen.add(name.casefold())
        result.append(Mechanism(name, q))
        if len(result) > MAX_MECHANISMS:
            raise CodecError(f"more than {MAX_MECHANISMS} mechanisms")
        if scan.at_end():
            return tuple(result)
        if scan.peek() != ",":
            raise CodecError(f"expected ',' at offset {scan.pos}")
        scan.pos += 1
        scan.skip_ws()


def choose(terminal: Sequence[Mechanism], supported: Collection[str]) -> str:
    """The highest-q mechanism of the terminal's list that ``supported`` names (compared
    case-insensitively); ties keep the terminal's order. :class:`NoCommonMechanism` when
    none is supported: the registration is refused."""
    ours = {name.casefold() for name in supported}
    best: Mechanism | None = None
    for mech in terminal:
        if mech.name.casefold() in ours and (best is None or mech.q > best.q):
            best = mech
    if best is None:
        raise NoCommonMechanism("no mechanism of the terminal's list is supported")
    return best.name


# --- s10: the MAC ------------------------------------------------------------------------


def canonical(fields: Sequence[tuple[str, str]]) -> bytes:
    """``name=value\\n`` per field, in the order given, UTF-8 [P]."""
    if not fields:
        raise InvalidInput("a MAC over no fields")
    lines: list[str] = []
    for name, value in fields:
        if not _is_token(name):
            raise InvalidInput(f"MAC field name {name!r} is not a token")
        if "\n" in value:
            raise InvalidInput(f"MAC field {name!r} contains a newline")
        lines.append(f"{name}={value}\n")
    try:
        return "".join(lines).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("a MAC field is not encodable as UTF-8") from None


def mac(kc_sp: bytes, fields: Sequence[tuple[str, str]]) -> bytes:
    """fm(Kc,sp, fields) = HMAC-SHA-256(Kc,sp, "ngn-mac" || canonical(fields))[:16] [P]."""
    _need_len("Kc,sp", kc_sp, KEY_LEN)
    return hmac.new(kc_sp, _MAC_LABEL + canonical(fields), hashlib.sha256).digest()[:MAC_LEN]


def verify_mac(kc_sp: bytes, fields: Sequence[tuple[str, str]], got: bytes) -> None:
    """:class:`MacFailure` unless ``got`` is fm(Kc,sp, fields)."""
    if not hmac.compare_digest(mac(kc_sp, fields), got):
        raise MacFailure("the success message's MAC does not verify")


# --- s11 and the SP's freshness checks ---------------------------------------------------


def fresh(ts: int, now: int, skew: int = DEFAULT_SKEW_S) -> None:
    """:class:`StaleTimestamp` when ``ts`` is more than ``skew`` seconds from ``now``."""
    if skew < 0:
        raise InvalidInput(f"clock skew {skew} is negative")
    if abs(now - ts) > skew:
        raise StaleTimestamp(f"timestamp {ts} is {now - ts} s from the clock ({skew} s allowed)")


def echoed(sent: bytes, got: bytes) -> None:
    """:class:`NonceNotEchoed` unless the peer returned the nonce as sent."""
    if not sent:
        raise InvalidInput("an empty nonce")
    if not hmac.compare_digest(sent, got):
        raise NonceNotEchoed("the nonce did not come back as sent")


# --- hex fields of the text protocols ----------------------------------------------------


def hexfield(data: bytes) -> str:
    """Lower-case hex, as N1, N2, Rand and the wraps travel in text protocols."""
    return data.hex()


def unhex(text: str, length: int | None = None) -> bytes:
    """The octets of a hex field (either case); :class:`CodecError` for anything but pairs
    of hex digits, or a length other than ``length`` octets when one is given."""
    if _HEX.fullmatch(text) is None:
        raise CodecError("not a hex field")
    data = bytes.fromhex(text)
    if length is not None and len(data) != length:
        raise CodecError(f"hex field of {len(data)} octets, expected {length}")
    return data

"""The NGN auth-param headers of the SIP binding (issue 14; used by :mod:`ngn_sip`).

* Credentials and challenges: ``NGN name=value, name="value"`` -- an auth-scheme token
  followed by auth-params (RFC 3261 §25.1 ``other-response`` / ``other-challenge``,
  §20.7, §20.27, §20.28, §20.44). The scheme ``NGN`` is ours [P].
* Authentication-Info (s9, s10, the Protected answer): a bare auth-param list without a
  scheme token, the form RFC 7615 §3 gives Authentication-Info for any scheme [P]
  (RFC 3261 §20.6 knows only Digest's ainfo).

The list grammar is the Digest one and is parsed by
:func:`gba.protocols.digest_header.parse_params` (token or quoted-string values, names
lower-cased, a repeated name refused, at most 8 KiB). :class:`Fields` then reads each
field in its NGN form (docs/ngn.md §1): ids through :func:`ngn.check_id`, lower-case hex
of the exact length, decimal seconds, decimal sequence numbers (0..2**32-1), RFC 3329
style mechanism lists. Every failure is a :class:`~gba.errors.CodecError`.

Refusals: :data:`STATUS` maps each :class:`Refusal` to a SIP status (table and reasons in
:mod:`gba.protocols.ngn_sip`); :func:`warning` writes the exact refusal as ``Warning: 399
<host> "ngn:<refusal>[ <detail>]"`` (RFC 3261 §20.43, warn-code 399 "miscellaneous
warning") and :func:`refusal` reads it back.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence

from gba.errors import CodecError, InvalidInput
from gba.protocols import digest_header, ngn
from gba.protocols.ngn import Mechanism
from gba.protocols.ngn_flow import Refusal

SCHEME = "NGN"
MAX_TS_DIGITS = 18
"""A timestamp of more digits is refused (bounded int parsing)."""
MAX_SEQ = 2**32 - 1
"""The largest ``seq`` of a :class:`~gba.protocols.ngn_flow.Protected` message."""
_SEQ_DIGITS = len(str(MAX_SEQ))

_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_USER_SAFE = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    "-_.!~*'()"  # mark (RFC 3261 §25.1)
    "&=+$,;?/"  # user-unreserved
)
_QUOTED = frozenset({"username", "realm", "sp", "address", "mechanism", "mechanisms"})
"""Parameters sent as quoted-strings; the rest are tokens (hex, decimal)."""

_WARNING = re.compile(r'(\d{3})[ \t]+([^ \t",]+)[ \t]+"((?:[^"\\]|\\.)*)"')
"""RFC 3261 §20.43 warning-value: warn-code SP warn-agent SP warn-text."""
_ESCAPED = re.compile(r"\\(.)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_DETAIL = 200

Param = tuple[str, str]

STATUS: dict[Refusal, tuple[int, str]] = {
    Refusal.MALFORMED: (400, "Bad Request"),
    Refusal.UNKNOWN_TERMINAL: (404, "Not Found"),
    Refusal.AUTH_FAILED: (403, "Forbidden"),
    Refusal.UNKNOWN_PROXY: (403, "Forbidden"),
    Refusal.STALE: (403, "Forbidden"),
    Refusal.REPLAY: (403, "Forbidden"),
    Refusal.NOT_ECHOED: (403, "Forbidden"),
    Refusal.NO_COMMON_MECHANISM: (494, "Security Agreement Required"),
    Refusal.UNAVAILABLE: (503, "Service Unavailable"),
}
"""Refusal -> SIP status and reason phrase [P] (RFC 3261 §21.4, §21.5; RFC 3329 §2.3.1)."""
_BY_STATUS: dict[int, Refusal] = {}
for _member, (_code, _) in STATUS.items():
    _BY_STATUS.setdefault(_code, _member)  # the first row per status is its default


def escape_user(id_c: str) -> str:
    """ID_c as the ``user`` part of a SIP URI: every octet outside unreserved /
    user-unreserved percent-escaped (RFC 3261 §25.1 ``user``, ``escaped``)."""
    return "".join(ch if ch in _USER_SAFE else "".join(f"%{b:02X}" for b in ch.encode())
                   for ch in ngn.check_id(id_c))


def _params(params: Sequence[Param]) -> str:
    try:
        return digest_header.build_params([(n, v, n in _QUOTED) for n, v in params])
    except CodecError as exc:
        raise InvalidInput(str(exc)) from None


def format_scheme(params: Sequence[Param]) -> str:
    """``NGN a="b", c=d`` (RFC 3261 §25.1 credentials / challenge)."""
    return f"{SCHEME} {_params(params)}"


def format_info(params: Sequence[Param]) -> str:
    """``a="b", c=d`` (RFC 7615 §3 Authentication-Info)."""
    return _params(params)


def parse_scheme(value: str) -> dict[str, str] | None:
    """The auth-params of an ``NGN`` credentials/challenge value (scheme compared
    case-insensitively, RFC 7235 §2.1); None for another scheme."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.casefold() != SCHEME.casefold():
        return None
    if not rest.strip():
        raise CodecError("NGN credentials without parameters")
    return digest_header.parse_params(rest)


def parse_info(value: str) -> dict[str, str]:
    """The auth-params of an Authentication-Info value (RFC 7615 §3)."""
    return digest_header.parse_params(value)


def shape(params: Mapping[str, str], shapes: Mapping[str, frozenset[str]]) -> str:
    """The name of the one shape whose parameter set equals the NGN parameters present
    (those named by any shape; other auth-params are extensions and ignored, RFC 3261
    §25.1 auth-param). A set matching no shape is a :class:`CodecError`."""
    vocabulary = frozenset().union(*shapes.values())
    present = frozenset(params) & vocabulary
    for name, wanted in shapes.items():
        if present == wanted:
            return name
    raise CodecError(f"NGN parameters {sorted(present)} match no message of this leg")


class Fields:
    """Typed reads of NGN auth-params; each missing or malformed one is a CodecError."""

    __slots__ = ("_params",)

    def __init__(self, params: Mapping[str, str]) -> None:
        self._params = params

    def text(self, name: str) -> str:
        value = self._params.get(name)
        if value is None:
            raise CodecError(f"NGN parameter {name!r} missing")
        return value

    def ident(self, name: str) -> str:
        try:
            return ngn.check_id(self.text(name))
        except InvalidInput as exc:
            raise CodecError(f"NGN parameter {name!r}: {exc}") from None

    def octets(self, name: str, length: int) -> bytes:
        return ngn.unhex(self.text(name), length)

    def seconds(self, name: str) -> int:
        value = self.text(name)
        if not (value.isascii() and value.isdigit() and len(value) <= MAX_TS_DIGITS):
            raise CodecError(f"NGN parameter {name!r} is not decimal seconds")
        return int(value)

    def seq(self, name: str) -> int:
        """A decimal 0..:data:`MAX_SEQ` (at most 10 digits, then range-checked)."""
        value = self.text(name)
        if not (value.isascii() and value.isdigit() and len(value) <= _SEQ_DIGITS
                and int(value) <= MAX_SEQ):
            raise CodecError(f"NGN parameter {name!r} is not a sequence number 0..2**32-1")
        return int(value)

    def exactly(self, name: str, wanted: str) -> str:
        """The parameter, which must be ``wanted`` (compared as sent)."""
        value = self.text(name)
        if value != wanted:
            raise CodecError(f"NGN parameter {name!r} is {value[:40]!r}, not {wanted!r}")
        return value

    def token(self, name: str) -> str:
        value = self.text(name)
        if _TOKEN.fullmatch(value) is None:
            raise CodecError(f"NGN parameter {name!r} is not a token")
        return value

    def address(self, name: str) -> str:
        value = self.text(name)
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise CodecError(f"NGN parameter {name!r} is not an IP address") from None
        return value

    def mechanisms(self, name: str) -> tuple[Mechanism, ...]:
        return mechanisms(self.text(name))


def mechanisms(text: str) -> tuple[Mechanism, ...]:
    """An RFC 3329 §2.2 style list via :func:`ngn.parse_mechanisms` (CodecError only)."""
    try:
        return ngn.parse_mechanisms(text)
    except InvalidInput as exc:
        raise CodecError(str(exc)) from None


def hexparam(name: str, value: bytes, length: int) -> Param:
    """``(name, lower-case hex)`` after checking the length (InvalidInput if wrong)."""
    if len(value) != length:
        raise InvalidInput(f"{name} must be {length} octets, not {len(value)}")
    return name, ngn.hexfield(value)


def tsparam(name: str, value: int) -> Param:
    """``(name, decimal seconds)``; a negative or oversized value is InvalidInput."""
    if isinstance(value, bool) or not 0 <= value < 10**MAX_TS_DIGITS:
        raise InvalidInput(f"{name} {value!r} is not a timestamp")
    return name, str(value)


def seqparam(name: str, value: int) -> Param:
    """``(name, decimal)`` for a sequence number 0..:data:`MAX_SEQ`; else InvalidInput."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEQ:
        raise InvalidInput(f"{name} {value!r} is not a sequence number 0..2**32-1")
    return name, str(value)


def tokenparam(name: str, value: str) -> Param:
    """``(name, token)``; anything but an RFC 3261 §25.1 token is InvalidInput."""
    if _TOKEN.fullmatch(value) is None:
        raise InvalidInput(f"{name} {value[:40]!r} is not a token")
    return name, value


def addressparam(name: str, value: str) -> Param:
    """``(name, IP address)``; anything but an IPv4/IPv6 address is InvalidInput."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise InvalidInput(f"{name} {value[:60]!r} is not an IP address") from None
    return name, value


# --- refusals (RFC 3261 §20.43 Warning) ----------------------------------------------------


def warning(host: str, refusal: Refusal, detail: str = "") -> str:
    """``399 <host> "ngn:<refusal>[ <detail>]"``; control characters in ``detail`` become
    spaces and it is cut to 200 characters [P]."""
    text = f"ngn:{refusal.value}"
    clean = _CONTROL.sub(" ", detail)[:MAX_DETAIL].strip()
    if clean:
        text += " " + clean
    quoted = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'399 {host} "{quoted}"'


def refusal(status: int, warnings: Iterable[str]) -> tuple[Refusal, str]:
    """The (Refusal, detail) of a final error response: the first ``399 ... "ngn:..."``
    warning whose refusal maps to ``status``, else the status default (another 4xx is
    MALFORMED, 5xx/6xx UNAVAILABLE) with no detail [P]."""
    for value in warnings:
        for match in _WARNING.finditer(value):
            text = _ESCAPED.sub(r"\1", match.group(3))
            if match.group(1) != "399" or not text.startswith("ngn:"):
                continue
            name, _, detail = text[4:].partition(" ")
            try:
                found = Refusal(name)
            except ValueError:
                continue
            if STATUS[found][0] == status:
                return found, detail
    default = _BY_STATUS.get(status)
    if default is None:
        default = Refusal.MALFORMED if status < 500 else Refusal.UNAVAILABLE
    return default, ""

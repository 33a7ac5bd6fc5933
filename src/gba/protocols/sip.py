"""A bounded, sans-IO SIP message codec (RFC 3261 §7, §8, §18.3; RFC 3329 §2.2).

Enough SIP for NGN registration (issue 14: REGISTER, 401/407, REGISTER, 200 OK):

* :func:`decode` parses one message (a UDP datagram or one framed TCP message) strictly:
  request line ``METHOD SP Request-URI SP SIP/2.0`` or status line ``SIP/2.0 SP 3DIGIT SP
  reason``, folded header lines unfolded (§7.3.1), token header names, UTF-8 text, a
  Content-Length that covers the body (a longer datagram body is truncated, §18.3).
  Limits: a message of at most :data:`MAX_MESSAGE` octets, :data:`MAX_HEADERS` header
  fields, lines of at most :data:`MAX_LINE` octets. Anything else raises
  :class:`~gba.errors.CodecError`.
* :class:`StreamFramer` cuts a TCP byte stream into messages by Content-Length (§18.3).
* :func:`check_request` checks the mandatory request headers (§8.1.1), :func:`cseq` reads
  CSeq, :func:`response_to` builds a response copying Via/From/To/Call-ID/CSeq (§8.2.6.2).
* :func:`parse_security` / :func:`format_security` handle Security-Client, -Server and
  -Verify values (RFC 3329 §2.2).

Header names keep their wire spelling; lookups are case-insensitive and understand the
compact forms of RFC 3261 §7.3.3 (``v``, ``f``, ``t``, ``i``, ``m``, ``l``, ``k``, ``c``,
``e``, ``s``). Pure: no sockets, no clock.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass

from gba.errors import CodecError, InvalidInput

MAX_MESSAGE = 64 * 1024
"""Largest message accepted, in octets."""
MAX_HEADERS = 100
"""Most header fields (after unfolding) in one message."""
MAX_LINE = 8 * 1024
"""Longest physical line, in octets."""
MAX_MECHANISMS = 16
"""Most mechanisms in one Security-Client/-Server/-Verify value."""
MAX_MECH_PARAMS = 32
VERSION = "SIP/2.0"

_TOKEN = r"[!%'*+\-.^_`~0-9A-Za-z]+"  # RFC 3261 §25.1 token
_TOKEN_RE = re.compile(_TOKEN)
_URI_RE = re.compile(r"[^\x00-\x20\x7f]+")
_CTL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # CTLs except HTAB
_CRLF = b"\r\n"
_END_OF_HEADERS = b"\r\n\r\n"

_COMPACT = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
    "k": "supported",
    "c": "content-type",
    "e": "content-encoding",
    "s": "subject",
}


def _canon(name: str) -> str:
    low = name.lower()
    return _COMPACT.get(low, low)


def _check_headers(headers: tuple[tuple[str, str], ...]) -> None:
    if len(headers) > MAX_HEADERS:
        raise InvalidInput(f"{len(headers)} header fields exceed {MAX_HEADERS}")
    for name, value in headers:
        if not _TOKEN_RE.fullmatch(name):
            raise InvalidInput(f"header name {name[:40]!r} is not a token")
        if _CTL_RE.search(value):
            raise InvalidInput(f"header {name!r} value holds a control character")


class _Message(ABC):
    """Header access shared by requests and responses."""

    __slots__ = ()
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive, compact forms too)."""
        want = _canon(name)
        for n, v in self.headers:
            if _canon(n) == want:
                return v
        return None

    def headers_named(self, name: str) -> tuple[str, ...]:
        """Every value of header ``name``, one per header line, in order."""
        want = _canon(name)
        return tuple(v for n, v in self.headers if _canon(n) == want)

    @abstractmethod
    def _start_line(self) -> str:
        """The request or status line."""

    def encode(self) -> bytes:
        """Serialise (RFC 3261 §7): start line, headers, CRLF, body.

        Content-Length is always ``len(body)``: it replaces the value of the first
        Content-Length (or ``l``) given, others are dropped; without one it is appended.
        """
        lines = [self._start_line()]
        pending = True
        for n, v in self.headers:
            if _canon(n) != "content-length":
                lines.append(f"{n}: {v}")
            elif pending:
                lines.append(f"{n}: {len(self.body)}")
                pending = False
        if pending:
            lines.append(f"Content-Length: {len(self.body)}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body
        if len(data) > MAX_MESSAGE:
            raise InvalidInput(f"encoded message of {len(data)} octets exceeds {MAX_MESSAGE}")
        return data


@dataclass(frozen=True, slots=True)
class SipRequest(_Message):
    """A SIP request (RFC 3261 §7.1)."""

    method: str
    uri: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    def __post_init__(self) -> None:
        if not _TOKEN_RE.fullmatch(self.method):
            raise InvalidInput(f"method {self.method[:40]!r} is not a token")
        if not _URI_RE.fullmatch(self.uri):
            raise InvalidInput("Request-URI is empty or holds whitespace/control characters")
        _check_headers(self.headers)

    def _start_line(self) -> str:
        return f"{self.method} {self.uri} {VERSION}"


@dataclass(frozen=True, slots=True)
class SipResponse(_Message):
    """A SIP response (RFC 3261 §7.2)."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    def __post_init__(self) -> None:
        if not 100 <= self.status <= 699:
            raise InvalidInput(f"status {self.status} is outside 100-699")
        if _CTL_RE.search(self.reason):
            raise InvalidInput("reason phrase holds a control character")
        _check_headers(self.headers)

    def _start_line(self) -> str:
        return f"{VERSION} {self.status} {self.reason}"


SipMessage = SipRequest | SipResponse


def _strip_keepalives(data: bytes) -> bytes:
    """Drop CRLFs before the start line (RFC 3261 §7.5; RFC 5626 §3.5.1 keepalives)."""
    start = 0
    while data.startswith(_CRLF, start):
        start += 2
    return data[start:]


def _parse_head(head: bytes) -> tuple[str, list[tuple[str, str]]]:
    """Split a header block (without the final blank line) into start line and headers."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CodecError(f"message head is not UTF-8 (offset {exc.start})") from None
    lines = text.split("\r\n")
    for number, line in enumerate(lines):
        if len(line.encode("utf-8")) > MAX_LINE:
            raise CodecError(f"line {number} exceeds {MAX_LINE} octets")
        if _CTL_RE.search(line):
            raise CodecError(f"line {number} holds a control character or bare CR/LF")
    fields: list[tuple[str, list[str]]] = []
    for number, line in enumerate(lines[1:], start=1):
        if line[:1] in (" ", "\t"):  # §7.3.1 folding: continues the previous field
            if not fields:
                raise CodecError("first header line is a continuation")
            fields[-1][1].append(line.strip(" \t"))
            continue
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon or not _TOKEN_RE.fullmatch(name):
            raise CodecError(f"line {number} is not a 'name: value' header field")
        fields.append((name, [value.strip(" \t")]))
        if len(fields) > MAX_HEADERS:
            raise CodecError(f"more than {MAX_HEADERS} header fields")
    headers = [(name, " ".join(p for p in parts if p)) for name, parts in fields]
    return lines[0], headers


def _content_length(headers: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> int | None:
    values = {v for n, v in headers if _canon(n) == "content-length"}
    if not values:
        return None
    if len(values) > 1:
        raise CodecError("conflicting Content-Length header fields")
    value = values.pop()
    if not value.isascii() or not value.isdigit() or len(value) > 10:
        raise CodecError(f"Content-Length {value[:20]!r} is not a number")
    return int(value)


def _split_message(data: bytes) -> tuple[bytes, bytes]:
    end = data.find(_END_OF_HEADERS)
    if end < 0:
        raise CodecError("no blank line ends the headers")
    return data[:end], data[end + 4 :]


def decode(data: bytes) -> SipRequest | SipResponse:
    """Parse one SIP message (RFC 3261 §7); raise CodecError when it is malformed.

    Without Content-Length the body runs to the end of ``data`` (a datagram, §18.3); with
    it, a longer body is truncated and a shorter one is an error.
    """
    if len(data) > MAX_MESSAGE:
        raise CodecError(f"message of {len(data)} octets exceeds {MAX_MESSAGE}")
    head, body = _split_message(_strip_keepalives(data))
    start, headers = _parse_head(head)
    length = _content_length(headers)
    if length is not None:
        if len(body) < length:
            raise CodecError(f"body of {len(body)} octets is shorter than Content-Length {length}")
        body = body[:length]
    try:
        if start.upper().startswith("SIP/"):
            version, _, rest = start.partition(" ")
            code, sep, reason = rest.partition(" ")
            if version.upper() != VERSION or not sep:
                raise CodecError(f"status line {start[:60]!r} is malformed")
            if len(code) != 3 or not code.isascii() or not code.isdigit():
                raise CodecError(f"status code {code[:10]!r} is not three digits")
            return SipResponse(int(code), reason, tuple(headers), body)
        parts = start.split(" ")
        if len(parts) != 3 or parts[2].upper() != VERSION:
            raise CodecError(f"request line {start[:60]!r} is malformed")
        return SipRequest(parts[0], parts[1], tuple(headers), body)
    except InvalidInput as exc:
        raise CodecError(str(exc)) from None


class StreamFramer:
    """Cut a TCP byte stream into SIP messages (RFC 3261 §18.3).

    Content-Length is mandatory over streams. CRLFs between messages (keepalives) are
    dropped. After a CodecError the stream is unusable: close the connection.
    """

    __slots__ = ("_buffer", "_scanned", "_total")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._scanned = 0  # octets already searched for the blank line
        self._total: int | None = None  # size of the message at the head, once known

    def feed(self, data: bytes) -> list[bytes]:
        """Add received octets; return every message now complete, in order."""
        self._buffer += data
        try:
            return self._drain()
        except CodecError:
            self._buffer.clear()
            self._scanned, self._total = 0, None
            raise

    def _drain(self) -> list[bytes]:
        buf = self._buffer
        messages: list[bytes] = []
        pos = 0
        while True:
            if self._total is None:
                while buf.startswith(_CRLF, pos):
                    pos += 2
                end = buf.find(_END_OF_HEADERS, max(pos, self._scanned))
                if end < 0:
                    self._scanned = max(pos, len(buf) - 3)
                    break
                length = _content_length(_parse_head(bytes(buf[pos:end]))[1])
                if length is None:
                    raise CodecError("stream message lacks Content-Length")
                self._total = end + 4 + length - pos
                if self._total > MAX_MESSAGE:
                    raise CodecError(f"message of {self._total} octets exceeds {MAX_MESSAGE}")
            if len(buf) - pos < self._total:
                break
            messages.append(bytes(buf[pos : pos + self._total]))
            pos += self._total
            self._scanned, self._total = pos, None
        del buf[:pos]
        self._scanned = max(0, self._scanned - pos)
        if len(buf) > MAX_MESSAGE:
            raise CodecError(f"{len(buf)} buffered octets without a complete message")
        return messages

    @property
    def pending(self) -> int:
        """Octets buffered towards the next message."""
        return len(self._buffer)


def cseq(msg: SipRequest | SipResponse) -> tuple[int, str]:
    """The CSeq sequence number and method (RFC 3261 §8.1.1.5, §20.16)."""
    value = msg.header("CSeq")
    if value is None:
        raise CodecError("CSeq header missing")
    parts = value.split()
    if len(parts) != 2 or not parts[0].isascii() or not parts[0].isdigit():
        raise CodecError(f"CSeq {value[:40]!r} is malformed")
    number = int(parts[0])
    if len(parts[0]) > 10 or number >= 2**31:
        raise CodecError("CSeq number is not below 2**31")
    if not _TOKEN_RE.fullmatch(parts[1]):
        raise CodecError(f"CSeq method {parts[1][:40]!r} is not a token")
    return number, parts[1]


_REQUIRED = ("Via", "From", "To", "Call-ID", "CSeq", "Max-Forwards")


def check_request(req: SipRequest) -> None:
    """Check the headers every request carries (RFC 3261 §8.1.1); CodecError if not."""
    for name in _REQUIRED:
        if req.header(name) is None:
            raise CodecError(f"request lacks the {name} header")
    _, method = cseq(req)
    if method != req.method:
        raise CodecError(f"CSeq method {method!r} does not match {req.method!r}")
    forwards = req.header("Max-Forwards") or ""
    if not forwards.isascii() or not forwards.isdigit() or int(forwards) > 255:
        raise CodecError(f"Max-Forwards {forwards[:20]!r} is not 0-255")


def response_to(
    req: SipRequest,
    status: int,
    reason: str,
    headers: tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
    *,
    to_tag: str | None = None,
) -> SipResponse:
    """A response to ``req`` copying Via(s), From, To, Call-ID, CSeq (RFC 3261 §8.2.6.2).

    ``to_tag``, when given and To has no tag yet, is appended as ``;tag=`` (§8.2.6.2).
    ``headers`` follow the copied ones.
    """
    copied: list[tuple[str, str]] = [("Via", v) for v in req.headers_named("Via")]
    for name in ("From", "To", "Call-ID", "CSeq"):
        value = req.header(name)
        if value is None:
            raise InvalidInput(f"request lacks the {name} header to copy")
        if name == "To" and to_tag is not None and not re.search(r";\s*tag\s*=", value, re.I):
            if not _TOKEN_RE.fullmatch(to_tag):
                raise InvalidInput("to_tag is not a token")
            value = f"{value};tag={to_tag}"
        copied.append((name, value))
    if not copied or copied[0][0] != "Via":
        raise InvalidInput("request lacks the Via header to copy")
    return SipResponse(status, reason, (*copied, *headers), body)


# RFC 3329 §2.2 security agreement --------------------------------------------------------

_QUOTED = r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[\x00-\x09\x0b\x0c\x0e-\x7f])*"'
_GEN_VALUE = rf"(?:{_QUOTED}|[!%'*+\-.^_`~0-9A-Za-z:\[\]]+)"  # token / host / quoted-string
_GEN_VALUE_RE = re.compile(_GEN_VALUE)
_SWS = r"[ \t]*"
_MECH_NAME = re.compile(rf"{_SWS}({_TOKEN}){_SWS}")
_MECH_PARAM = re.compile(rf";{_SWS}({_TOKEN}){_SWS}(?:={_SWS}({_GEN_VALUE}))?{_SWS}")
_QVALUE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")


@dataclass(frozen=True, slots=True)
class SecurityMechanism:
    """One sec-mechanism of RFC 3329 §2.2: a name and ``;``-separated parameters.

    A parameter without a value has value ``""``; quoted values keep their quotes.
    """

    name: str
    params: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not _TOKEN_RE.fullmatch(self.name):
            raise InvalidInput(f"mechanism name {self.name[:40]!r} is not a token")
        if len(self.params) > MAX_MECH_PARAMS:
            raise InvalidInput(f"more than {MAX_MECH_PARAMS} mechanism parameters")
        seen: set[str] = set()
        for key, value in self.params:
            if not _TOKEN_RE.fullmatch(key):
                raise InvalidInput(f"parameter name {key[:40]!r} is not a token")
            if value and not _GEN_VALUE_RE.fullmatch(value):
                raise InvalidInput(f"parameter {key!r} value is not a token or quoted-string")
            if key.lower() in seen:
                raise InvalidInput(f"parameter {key!r} repeated")
            seen.add(key.lower())
            if key.lower() == "q" and not _QVALUE.fullmatch(value):
                raise InvalidInput(f"q value {value[:10]!r} is not a qvalue")

    def param(self, name: str) -> str | None:
        """The value of parameter ``name`` (case-insensitive), or None when absent."""
        want = name.lower()
        for key, value in self.params:
            if key.lower() == want:
                return value
        return None

    @property
    def q(self) -> float | None:
        """The preference (``q``) of this mechanism, or None when not given."""
        value = self.param("q")
        return None if value is None else float(value)

    def format(self) -> str:
        """This mechanism as it appears in a header value."""
        return self.name + "".join(f";{k}={v}" if v else f";{k}" for k, v in self.params)


def parse_security(value: str) -> tuple[SecurityMechanism, ...]:
    """Parse a Security-Client/-Server/-Verify value (RFC 3329 §2.2)."""
    if len(value) > MAX_LINE:
        raise CodecError(f"security header of {len(value)} characters exceeds {MAX_LINE}")
    mechanisms: list[SecurityMechanism] = []
    pos, end = 0, len(value)
    while True:
        m = _MECH_NAME.match(value, pos)
        if m is None:
            raise CodecError(f"mechanism name expected at offset {pos}")
        name, pos = m.group(1), m.end()
        params: list[tuple[str, str]] = []
        while (p := _MECH_PARAM.match(value, pos)) is not None:
            params.append((p.group(1), p.group(2) or ""))
            pos = p.end()
        try:
            mechanisms.append(SecurityMechanism(name, tuple(params)))
        except InvalidInput as exc:
            raise CodecError(f"mechanism {name!r}: {exc}") from None
        if len(mechanisms) > MAX_MECHANISMS:
            raise CodecError(f"more than {MAX_MECHANISMS} security mechanisms")
        if pos == end:
            return tuple(mechanisms)
        if value[pos] != ",":
            raise CodecError(f"expected ',' or ';' at offset {pos}")
        pos += 1


def format_security(mechs: tuple[SecurityMechanism, ...] | list[SecurityMechanism]) -> str:
    """Serialise mechanisms as a Security-Client/-Server/-Verify value."""
    if not mechs:
        raise InvalidInput("no security mechanisms to format")
    if len(mechs) > MAX_MECHANISMS:
        raise InvalidInput(f"more than {MAX_MECHANISMS} security mechanisms")
    return ", ".join(m.format() for m in mechs)

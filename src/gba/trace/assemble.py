"""Segments in, messages out: reassemble HTTP, SIP, Diameter and TLS from a capture.

Sans-IO, after h11's ``receive_data`` / ``next_event``: :meth:`MessageAssembler.feed`
takes one :class:`~gba.capture.events.Segment` and returns every message it completed.
Each direction of a TCP connection has its own buffer, bounded by ``limit`` (an overflow
becomes one "TCP n bytes (unparsed)" message and the rest of that direction is skipped).
The protocol is recognised from the first bytes (Diameter, RFC 6733 §3: version 1 and a
plausible length; HTTP and SIP: the start line; TLS, RFC 8446 §5.1: record type 20-23,
version 3.x); a message ends where its framing says (Content-Length or chunked coding,
RFC 9112 §6; the Diameter length field; the TLS record length).

When the same connection was recorded by several network functions, or both on the wire
and above TLS, one recording is kept: the decrypted one if any, else the first seen.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from gba.capture.events import Layer, Segment
from gba.errors import CodecError
from gba.protocols.diameter import message_length
from gba.trace import summary
from gba.trace.model import Direction, Endpoint, TracedMessage, TraceProtocol

DEFAULT_LIMIT = 1 << 20
"""Bytes buffered per direction of a connection before it is given up as unparsed."""
_MAX_HEAD = 64 * 1024
_MAX_TLS_RECORD = (1 << 14) + 2048  # RFC 5246 §6.2.3 TLSCiphertext.length
_HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS",
                           "TRACE", "PATCH"})
_SIP_METHODS = frozenset({"REGISTER", "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS",
                          "SUBSCRIBE", "NOTIFY", "MESSAGE", "PUBLISH", "INFO", "PRACK",
                          "UPDATE", "REFER"})

_STARTS = (b"HTTP/1.", b"SIP/2.0 ", *(m.encode() + b" " for m in _HTTP_METHODS | _SIP_METHODS))

Detected = Literal["HTTP", "SIP", "Diameter", "TLS", "unknown"]
_Pair = tuple[str, Endpoint, Endpoint]  # transport and both ends, the lesser first
_Found = tuple[TraceProtocol, str, Direction, int]  # a whole message and its length


def pair_of(seg: Segment) -> _Pair:
    """The connection (or datagram flow) a segment belongs to, whichever way it goes."""
    low, high = sorted((seg.src, seg.dst))
    return seg.transport, low, high


def detect(data: bytes | bytearray) -> Detected | None:
    """The protocol of a stream from its first bytes; None while more are needed."""
    if not data:
        return None
    if data[0] in (20, 21, 22, 23):
        if len(data) < 3:
            return None
        return "TLS" if data[1] == 3 and data[2] <= 4 else "unknown"
    if data[0] == 1:
        if len(data) < 20:
            return None
        length = int.from_bytes(data[1:4], "big")
        return "Diameter" if length >= 20 and not length & 3 and not data[4] & 0x0F \
            else "unknown"
    end = data.find(b"\r\n")
    line = bytes(data[:end if end >= 0 else min(len(data), 256)])
    if end < 0 and any(start.startswith(line) for start in _STARTS):
        return None
    if line.startswith((b"HTTP/1.", b"SIP/2.0 ")):
        return "HTTP" if line.startswith(b"HTTP/") else "SIP"
    method = line.split(b" ", 1)[0].decode("latin-1")
    if method in _HTTP_METHODS or method in _SIP_METHODS:
        if end < 0:
            return None if len(data) < 8192 else "unknown"
        if line.endswith(b" SIP/2.0") and method in _SIP_METHODS:
            return "SIP"
        if line[-9:-1] == b" HTTP/1." and method in _HTTP_METHODS:
            return "HTTP"
    return "unknown"


@dataclass
class _Stream:
    """One direction of one connection: bytes not yet part of a whole message."""

    buffer: bytearray = field(default_factory=bytearray)
    consumed: int = 0
    marks: deque[tuple[int, float, str]] = field(default_factory=deque)
    protocol: Detected | None = None
    dead: bool = False
    encrypted: bool = False
    methods: deque[str] = field(default_factory=deque)
    """Requests sent the other way, oldest first (a response to HEAD has no body)."""
    layer: Layer = "wire"

    def add(self, data: bytes, time: float, note: str, layer: Layer) -> None:
        self.marks.append((self.consumed + len(self.buffer), time, note))
        self.buffer += data
        self.layer = layer

    def start(self) -> tuple[float, str]:
        """Time and note of the first buffered byte."""
        while len(self.marks) > 1 and self.marks[1][0] <= self.consumed:
            self.marks.popleft()
        return (self.marks[0][1], self.marks[0][2]) if self.marks else (0.0, "")

    def take(self, n: int) -> bytes:
        out = bytes(self.buffer[:n])
        del self.buffer[:n]
        self.consumed += n
        return out


@dataclass
class _Connection:
    streams: dict[tuple[Endpoint, Endpoint], _Stream] = field(default_factory=dict)
    protocol: Detected | None = None


def _header(headers: list[tuple[str, str]], *names: str) -> str | None:
    return next((v for n, v in headers if n.lower() in names), None)


def _chunked_end(buf: bytearray, pos: int) -> int | None:
    """Where a chunked body starting at *pos* ends (RFC 9112 §7.1); None if incomplete."""
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size_text = bytes(buf[pos:eol]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise CodecError(f"bad chunk size {size_text[:16]!r}") from None
        if size == 0:  # then trailer fields, then an empty line
            if buf.startswith(b"\r\n", eol + 2):
                return eol + 4
            trailer_end = buf.find(b"\r\n\r\n", eol)
            return trailer_end + 4 if trailer_end >= 0 else None
        pos = eol + 2 + size + 2
        if pos > len(buf):
            return None


class MessageAssembler:
    """Feed :class:`Segment` objects in capture order; get :class:`TracedMessage` objects
    as soon as each message is whole. Call :meth:`flush` at the end of the capture."""

    def __init__(self, limit: int = DEFAULT_LIMIT,
                 owners: dict[_Pair, tuple[str, str]] | None = None) -> None:
        """*owners*: the (recorder, layer) to keep per connection, from a look at the whole
        capture (:func:`choose_owners`); without it the first recording seen is kept,
        until a decrypted one turns up."""
        self.limit = limit
        self._owners = dict(owners or {})
        self._fixed = owners is not None
        self._connections: dict[tuple[str, int, _Pair], _Connection] = {}

    def _owned(self, seg: Segment) -> bool:
        pair = pair_of(seg)
        owner = self._owners.get(pair)
        if owner is None or (not self._fixed and seg.layer == "decrypted"
                             and owner[1] == "wire" and seg.kind == "data"):
            self._owners[pair] = owner = (seg.recorder, seg.layer)
        return owner == (seg.recorder, seg.layer)

    def feed(self, seg: Segment) -> list[TracedMessage]:
        """The messages *seg* completed (often none)."""
        if not self._owned(seg):
            return []
        if seg.transport == "udp":
            return [self._datagram(seg)] if seg.data else []
        key = (seg.recorder, seg.connection, pair_of(seg))
        if seg.kind == "open":
            out = self._close(key)
            self._connections[key] = _Connection()
            return out
        if seg.kind == "close":
            return self._close(key)
        if not seg.data:
            return []
        conn = self._connections.setdefault(key, _Connection())
        out = []
        reverse = conn.streams.get((seg.dst, seg.src))
        if reverse is not None and reverse.protocol == "unknown" and reverse.buffer:
            out += self._unparsed(seg.dst, seg.src, key, reverse, "")
        stream = conn.streams.setdefault((seg.src, seg.dst), _Stream())
        if stream.dead:
            return out
        stream.add(seg.data, seg.time, seg.note, seg.layer)
        if len(stream.buffer) > self.limit:
            out += self._unparsed(seg.src, seg.dst, key, stream, " (unparsed)")
            stream.dead = True
            return out
        return out + self._drain(seg.src, seg.dst, key, conn, stream)

    def flush(self) -> list[TracedMessage]:
        """Whatever is left at the end of the capture: bodies delimited by the close that
        never came, and incomplete messages (as "TCP n bytes (incomplete)")."""
        out: list[TracedMessage] = []
        for key in list(self._connections):
            out += self._close(key)
        return out

    # ------------------------------------------------------------------ internals

    def _message(self, src: Endpoint, dst: Endpoint, key: tuple[str, int, _Pair],
                 stream: _Stream, protocol: TraceProtocol, text: str, direction: Direction
                 ) -> TracedMessage:
        time, note = stream.start()
        return TracedMessage(time, src, dst, protocol, text, direction, recorder=key[0],
                             connection=key[1], layer=stream.layer, note=note)

    def _unparsed(self, src: Endpoint, dst: Endpoint, key: tuple[str, int, _Pair],
                  stream: _Stream, why: str) -> list[TracedMessage]:
        message = self._message(src, dst, key, stream, "TCP",
                                f"TCP {len(stream.buffer)} bytes{why}", "other")
        stream.take(len(stream.buffer))
        return [message]

    def _close(self, key: tuple[str, int, _Pair]) -> list[TracedMessage]:
        conn = self._connections.pop(key, None)
        if conn is None:
            return []
        out: list[TracedMessage] = []
        for (src, dst), stream in conn.streams.items():
            if stream.dead or not stream.buffer:
                continue
            head_end = stream.buffer.find(b"\r\n\r\n")
            if stream.protocol == "HTTP" and head_end >= 0:
                head = bytes(stream.buffer[:head_end])
                text, request = summary.http_summary(head)
                framed = _header(summary.split_head(head)[1], "content-length",
                                 "transfer-encoding")
                out.append(self._message(src, dst, key, stream, "HTTP", text + (
                    " (incomplete)" if request or framed is not None else ""),
                    "request" if request else "response"))
            else:
                why = "" if stream.protocol == "unknown" else " (incomplete)"
                out += self._unparsed(src, dst, key, stream, why)
        return out

    def _drain(self, src: Endpoint, dst: Endpoint, key: tuple[str, int, _Pair],
               conn: _Connection, stream: _Stream) -> list[TracedMessage]:
        out: list[TracedMessage] = []
        while stream.buffer and not stream.dead:
            if stream.protocol is None:
                stream.protocol = detect(stream.buffer)
                if stream.protocol is None:
                    break
                if stream.protocol == "unknown" and conn.protocol == "TLS":
                    stream.protocol = "TLS"  # e.g. the second half of a split record
                conn.protocol = conn.protocol or stream.protocol
            try:
                found = self._next(stream)
            except CodecError as exc:
                out += self._unparsed(src, dst, key, stream, f" (unparsed: {exc})")
                stream.dead = True
                break
            if found is None:
                break
            protocol, text, direction, length = found
            message = self._message(src, dst, key, stream, protocol, text, direction)
            stream.take(length)
            if protocol == "HTTP" and direction == "request":
                reverse = conn.streams.setdefault((dst, src), _Stream())
                reverse.methods.append(text.split(" ", 1)[0])
            out.append(message)
        return out

    def _next(self, stream: _Stream) -> _Found | None:
        """The next whole message at the head of *stream*, and its length."""
        buf = stream.buffer
        if stream.protocol == "Diameter":
            length = message_length(buf)
            if length is None or length > len(buf):
                if length is not None and length > self.limit:
                    raise CodecError(f"Diameter length {length} > {self.limit}")
                return None
            text, request = summary.diameter_summary(bytes(buf[:length]))
            return "Diameter", text, "request" if request else "response", length
        if stream.protocol == "TLS":
            return self._tls(stream)
        if stream.protocol in ("HTTP", "SIP"):
            return self._text(stream)
        return None  # unknown: kept until the other side speaks or the connection ends

    def _tls(self, stream: _Stream) -> _Found | None:
        buf = stream.buffer
        pos, kind, bodies = 0, -1, []
        while pos + 5 <= len(buf):
            content, major, length = buf[pos], buf[pos + 1], int.from_bytes(
                buf[pos + 3:pos + 5], "big")
            if content not in summary.TLS_CONTENT_TYPES or major != 3 \
                    or length > _MAX_TLS_RECORD:
                raise CodecError(f"not a TLS record at stream offset {stream.consumed + pos}")
            if pos + 5 + length > len(buf) or (kind >= 0 and content != kind):
                break
            kind = content
            bodies.append(bytes(buf[pos + 5:pos + 5 + length]))
            pos += 5 + length
        if not bodies:
            return None
        text = summary.tls_summary(kind, bodies, stream.encrypted)
        if kind == 20:
            stream.encrypted = True
        return "TLS", text, "other", pos

    def _text(self, stream: _Stream) -> _Found | None:
        buf = stream.buffer
        head_end = buf.find(b"\r\n\r\n")
        if head_end < 0:
            if len(buf) > _MAX_HEAD:
                raise CodecError(f"no end of headers within {_MAX_HEAD} bytes")
            return None
        head = bytes(buf[:head_end])
        body_start = head_end + 4
        start, headers = summary.split_head(head)
        if stream.protocol == "SIP":
            text, request = summary.sip_summary(head)
            length = _header(headers, "content-length", "l") or "0"
            end: int | None = body_start + _content_length(length)
            return self._done(end, len(buf), "SIP", text, request)
        text, request = summary.http_summary(head)
        status = start.split(" ", 2)[1] if not request and " " in start else ""
        if not request and status.startswith("1"):
            return self._done(body_start, len(buf), "HTTP", text, request)
        asked = stream.methods.popleft() if not request and stream.methods else ""
        encoding = (_header(headers, "transfer-encoding") or "").lower()
        length_text = _header(headers, "content-length")
        if (not request and (asked == "HEAD" or status in ("204", "304"))) or \
                (request and not encoding and length_text is None):
            end = body_start
        elif "chunked" in encoding:
            end = _chunked_end(buf, body_start)
        elif length_text is not None:
            end = body_start + _content_length(length_text)
        else:
            end = None  # delimited by the close (RFC 9112 §6.3 rule 8)
        if end is None and asked:
            stream.methods.appendleft(asked)
        return self._done(end, len(buf), "HTTP", text, request)

    def _done(self, end: int | None, available: int, protocol: TraceProtocol, text: str,
              request: bool) -> _Found | None:
        if end is None or end > available:
            if end is not None and end > self.limit:
                raise CodecError(f"body of {end} bytes > {self.limit}")
            return None
        return protocol, text, "request" if request else "response", end

    def _datagram(self, seg: Segment) -> TracedMessage:
        if detect(seg.data) == "SIP":
            head_end = seg.data.find(b"\r\n\r\n")
            text, request = summary.sip_summary(seg.data[:head_end if head_end >= 0 else None])
            return TracedMessage(seg.time, seg.src, seg.dst, "SIP", text,
                                 "request" if request else "response", recorder=seg.recorder,
                                 layer=seg.layer, note=seg.note)
        return TracedMessage(seg.time, seg.src, seg.dst, "UDP", summary.datagram_summary(seg.data),
                             recorder=seg.recorder, layer=seg.layer, note=seg.note)


def _content_length(text: str) -> int:
    value = text.split(",")[0].strip()
    if not (value.isascii() and value.isdigit()):
        raise CodecError(f"bad Content-Length {value[:16]!r}")
    return int(value)


def choose_owners(segments: Iterable[Segment]) -> dict[_Pair, tuple[str, str]]:
    """Per connection, the recording to keep: a decrypted one if there is one, else the
    first seen (so a connection captured by both its ends is shown once)."""
    owners: dict[_Pair, tuple[str, str]] = {}
    for seg in segments:
        pair = pair_of(seg)
        known = owners.get(pair)
        if known is None or (known[1] == "wire" and seg.layer == "decrypted"):
            owners[pair] = (seg.recorder, seg.layer)
    return owners


def messages(segments: Iterable[Segment], limit: int = DEFAULT_LIMIT) -> list[TracedMessage]:
    """Every message in *segments* (sorted by time first), in the order they began."""
    ordered = sorted(segments, key=lambda s: s.time)
    assembler = MessageAssembler(limit, choose_owners(ordered))
    out: list[TracedMessage] = []
    for seg in ordered:
        out += assembler.feed(seg)
    out += assembler.flush()
    return sorted(out, key=lambda m: m.time)

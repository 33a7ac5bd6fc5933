"""A sans-IO codec for RESP2, the Redis serialization protocol.

Spec: https://redis.io/docs/reference/protocol-spec/ (RESP2). A command is an array of
bulk strings (:func:`encode_command`); a reply is a simple string (``+``, returned as
:class:`str`), an error (``-``, returned as a :class:`RespError` value, never raised by
the parser), an integer (``:``), a bulk string (``$``, :class:`bytes`, or None for the
null bulk ``$-1``) or an array (``*``, a :class:`list` of replies, nested, or None for
the null array ``*-1``).

:class:`RespParser` is incremental: :meth:`RespParser.feed` takes whatever bytes arrived
and returns the replies they complete, keeping partial ones (even a partial array) for
the next call. It is bounded (:data:`MAX_BULK`, :data:`MAX_ARRAY`, :data:`MAX_DEPTH`,
:data:`MAX_LINE`) and raises :class:`RespProtocolError` on input outside the grammar.
No sockets, no clock.

:class:`RespProtocolError` is a :class:`~gba.errors.CodecError`, as every other wire
grammar error in gba: the codec knows nothing of storage. The client
(:mod:`gba.store.redis.connection`) turns it into a connection failure, since a stream
that broke the grammar cannot be realigned, and :class:`~gba.store.redis.client.Client`
into a StoreError.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, TypeAlias

from gba.errors import CodecError

MAX_BULK: Final = 64 * 1024 * 1024
"""Longest bulk string accepted, octets (the server's own cap is 512 MiB)."""
MAX_ARRAY: Final = 1024 * 1024
"""Most elements of one array."""
MAX_DEPTH: Final = 8
"""Deepest nesting of arrays (a top-level array is depth 1)."""
MAX_LINE: Final = 64 * 1024
"""Longest header or simple string / error line, octets, CRLF excluded."""

Arg: TypeAlias = "bytes | str | int"
Reply: TypeAlias = "str | RespError | int | bytes | list[Reply] | None"


class RespProtocolError(CodecError):
    """Bytes that are not RESP2, or that exceed a bound of the parser."""


@dataclass(frozen=True, slots=True)
class RespError:
    """An error reply (``-ERR ...``): a value, not an exception."""

    message: str

    @property
    def kind(self) -> str:
        """The error prefix by convention: ``ERR``, ``NOSCRIPT``, ``WRONGTYPE``..."""
        return self.message.split(" ", 1)[0]


def encode_command(*args: Arg) -> bytes:
    """The command *args* as a RESP array of bulk strings (str as UTF-8, int in decimal)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int) and not isinstance(arg, bool):
            data = b"%d" % arg
        else:
            raise TypeError(f"a RESP argument is bytes, str or int, not {type(arg).__name__}")
        out += (b"$%d\r\n" % len(data), data, b"\r\n")
    return b"".join(out)


class RespParser:
    """Incremental RESP2 reply parser; after a RespProtocolError it stays broken."""

    __slots__ = ("_broken", "_buf", "_bulk", "_depth", "_line", "_max_array",
                 "_max_bulk", "_pos", "_stack")

    def __init__(self, *, max_bulk: int = MAX_BULK, max_array: int = MAX_ARRAY,
                 max_depth: int = MAX_DEPTH, max_line: int = MAX_LINE) -> None:
        self._max_bulk, self._max_array = max_bulk, max_array
        self._depth, self._line = max_depth, max_line
        self._buf = bytearray()
        self._pos = 0
        self._bulk = -1  # length of the bulk whose header was read, -1 if none
        self._stack: list[tuple[list[Reply], int]] = []  # open arrays, element counts
        self._broken: RespProtocolError | None = None

    def feed(self, data: bytes) -> list[Reply]:
        """Append *data*; return the replies it completes, in order."""
        if self._broken is not None:
            raise self._broken
        try:
            return self._feed(data)
        except RespProtocolError as exc:
            self._broken = exc
            raise

    def _fail(self, why: str) -> RespProtocolError:
        return RespProtocolError(f"RESP: {why}")

    def _feed(self, data: bytes) -> list[Reply]:
        buf = self._buf
        buf += data
        pos, end_of_data = self._pos, len(buf)
        stack = self._stack
        out: list[Reply] = []
        value: Reply
        while True:
            if self._bulk >= 0:
                end = pos + self._bulk
                if end_of_data < end + 2:
                    break
                if buf[end:end + 2] != b"\r\n":
                    raise self._fail("bulk string not followed by CRLF")
                value = bytes(buf[pos:end])
                pos, self._bulk = end + 2, -1
            else:
                nl = buf.find(b"\r\n", pos)
                if nl < 0:
                    if end_of_data - pos > self._line + 2:  # type byte, line, CR
                        raise self._fail(f"line longer than {self._line} octets")
                    break
                if nl - pos > self._line + 1:
                    raise self._fail(f"line longer than {self._line} octets")
                if nl == pos:
                    raise self._fail("empty line")
                kind, line = buf[pos], bytes(buf[pos + 1:nl])
                pos = nl + 2
                if kind == 0x2B:  # +
                    value = line.decode("utf-8", "replace")
                elif kind == 0x2D:  # -
                    value = RespError(line.decode("utf-8", "replace"))
                elif kind == 0x3A:  # :
                    value = self._int(line)
                elif kind == 0x24:  # $
                    n = self._int(line)
                    if n == -1:
                        value = None
                    elif n < 0:
                        raise self._fail(f"bulk length {n}")
                    elif n > self._max_bulk:
                        raise self._fail(f"bulk of {n} octets exceeds {self._max_bulk}")
                    else:
                        self._bulk = n
                        continue
                elif kind == 0x2A:  # *
                    n = self._int(line)
                    if n == -1:
                        value = None
                    elif n < 0:
                        raise self._fail(f"array length {n}")
                    elif n > self._max_array:
                        raise self._fail(f"array of {n} elements exceeds {self._max_array}")
                    elif len(stack) >= self._depth:
                        raise self._fail(f"arrays nested deeper than {self._depth}")
                    elif n == 0:
                        value = []
                    else:
                        stack.append(([], n))
                        continue
                else:
                    raise self._fail(f"unknown type byte {bytes([kind])!r}")
            while stack:  # a value completes the innermost open array, maybe more
                items, want = stack[-1]
                items.append(value)
                if len(items) < want:
                    break
                stack.pop()
                value = items
            else:
                out.append(value)
        if pos:
            del buf[:pos]
        self._pos = 0
        return out

    def _int(self, line: bytes) -> int:
        # int() accepts "+1", " 1", "1_0": RESP does not
        if not line or not (line.isdigit() or (line[:1] == b"-" and line[1:].isdigit())):
            raise self._fail(f"not an integer: {line[:32]!r}")
        if len(line) > 20:
            raise self._fail(f"integer too long: {line[:32]!r}")
        return int(line)

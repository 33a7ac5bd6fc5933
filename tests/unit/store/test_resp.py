"""The sans-IO RESP2 codec (https://redis.io/docs/reference/protocol-spec/)."""

from __future__ import annotations

import pytest

from gba.errors import CodecError
from gba.store.redis.resp import (
    MAX_BULK,
    MAX_DEPTH,
    Reply,
    RespError,
    RespParser,
    RespProtocolError,
    encode_command,
)

# every reply type, as RESP2 and as parsed
STREAM: list[tuple[bytes, Reply]] = [
    (b"+OK\r\n", "OK"),
    (b"-ERR unknown command 'FOO'\r\n", RespError("ERR unknown command 'FOO'")),
    (b":0\r\n", 0),
    (b":-9223372036854775808\r\n", -9223372036854775808),
    (b"$5\r\nhello\r\n", b"hello"),
    (b"$0\r\n\r\n", b""),
    (b"$4\r\na\r\nb\r\n", b"a\r\nb"),  # a bulk may hold CRLF
    (b"$-1\r\n", None),
    (b"*0\r\n", []),
    (b"*-1\r\n", None),
    (b"*3\r\n:1\r\n$1\r\nx\r\n$-1\r\n", [1, b"x", None]),
    (b"*2\r\n*2\r\n:1\r\n*-1\r\n*1\r\n*0\r\n", [[1, None], [[]]]),
    (b"*2\r\n-NOSCRIPT No matching script\r\n+QUEUED\r\n",
     [RespError("NOSCRIPT No matching script"), "QUEUED"]),
]
WIRE = b"".join(w for w, _ in STREAM)
REPLIES = [r for _, r in STREAM]


def test_encode_command() -> None:
    assert encode_command("SET", b"k\r\n", 42, -1) == (
        b"*4\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$2\r\n42\r\n$2\r\n-1\r\n")
    assert encode_command("é") == b"*1\r\n$2\r\n\xc3\xa9\r\n"
    assert encode_command() == b"*0\r\n"


@pytest.mark.parametrize("bad", [True, 1.5, None, ["x"]])
def test_encode_refuses_other_types(bad: object) -> None:
    with pytest.raises(TypeError):
        encode_command("SET", bad)  # type: ignore[arg-type]


def test_every_reply_type_at_once() -> None:
    assert RespParser().feed(WIRE) == REPLIES


def test_split_at_every_byte_boundary() -> None:
    for cut in range(len(WIRE) + 1):
        parser = RespParser()
        assert parser.feed(WIRE[:cut]) + parser.feed(WIRE[cut:]) == REPLIES, cut


def test_one_byte_at_a_time() -> None:
    parser = RespParser()
    got: list[Reply] = []
    for i in range(len(WIRE)):
        got += parser.feed(WIRE[i:i + 1])
    assert got == REPLIES


def test_error_kind() -> None:
    assert RespError("NOSCRIPT No matching script").kind == "NOSCRIPT"
    assert RespError("ERR").kind == "ERR"


def test_protocol_error_is_a_codec_error() -> None:
    assert issubclass(RespProtocolError, CodecError)


def test_bulk_bound() -> None:
    assert RespParser(max_bulk=3).feed(b"$3\r\nabc\r\n") == [b"abc"]
    with pytest.raises(RespProtocolError, match="exceeds 3"):
        RespParser(max_bulk=3).feed(b"$4\r\n")
    with pytest.raises(RespProtocolError, match="exceeds"):  # refused before the data
        RespParser().feed(b"$%d\r\n" % (MAX_BULK + 1))


def test_array_bound() -> None:
    assert RespParser(max_array=2).feed(b"*2\r\n:1\r\n:2\r\n") == [[1, 2]]
    with pytest.raises(RespProtocolError, match="exceeds 2"):
        RespParser(max_array=2).feed(b"*3\r\n")


def test_depth_bound() -> None:
    nested = b"*1\r\n" * MAX_DEPTH + b":1\r\n"
    value: Reply = 1
    for _ in range(MAX_DEPTH):
        value = [value]
    assert RespParser().feed(nested) == [value]
    with pytest.raises(RespProtocolError, match="deeper"):
        RespParser().feed(b"*1\r\n" * (MAX_DEPTH + 1))


def test_line_bound() -> None:
    assert RespParser(max_line=4).feed(b"+abcd\r\n") == ["abcd"]
    with pytest.raises(RespProtocolError, match="longer"):
        RespParser(max_line=4).feed(b"+abcde\r\n")
    parser = RespParser(max_line=4)
    assert parser.feed(b"+abcd\r") == []  # still within the bound: wait for LF
    with pytest.raises(RespProtocolError, match="longer"):  # no CRLF yet, already too long
        RespParser(max_line=4).feed(b"+abcdef")


@pytest.mark.parametrize("wire", [
    b"?x\r\n",  # unknown type byte
    b"_\r\n",  # RESP3 null
    b"\r\n",  # empty line
    b":12a\r\n",
    b":\r\n",
    b": 1\r\n",
    b":+1\r\n",
    b":1_000\r\n",
    b":123456789012345678901\r\n",
    b"$-2\r\n",
    b"$x\r\n",
    b"*-2\r\n",
    b"$3\r\nabcd\r\n",  # no CRLF after the bulk
    b"*1\r\n$1\r\nabc",  # idem, inside an array
])
def test_malformed_input(wire: bytes) -> None:
    with pytest.raises(RespProtocolError):
        RespParser().feed(wire)


def test_a_broken_parser_stays_broken() -> None:
    parser = RespParser()
    with pytest.raises(RespProtocolError):
        parser.feed(b"?\r\n")
    with pytest.raises(RespProtocolError):
        parser.feed(b"+OK\r\n")


def test_partial_array_is_kept_across_feeds() -> None:
    parser = RespParser()
    assert parser.feed(b"*2\r\n:1\r\n") == []
    assert parser.feed(b"$2\r\nhi") == []
    assert parser.feed(b"\r\n+OK\r\n") == [[1, b"hi"], "OK"]

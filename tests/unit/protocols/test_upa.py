"""The push channel's datagram (gba.protocols.upa; docs/push.md §0): media type || body,
each media type round trips, and every malformed datagram is a CodecError."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gba.errors import CodecError, InvalidInput
from gba.protocols import upa
from gba.protocols.upa import MediaType, Push

pytestmark = pytest.mark.push


def datagram(kind: bytes, body: bytes = b"") -> bytes:
    return bytes((len(kind),)) + kind + body


@pytest.mark.parametrize("media_type", list(MediaType))
@pytest.mark.parametrize("body", [b"", b"\x00\x01body\xff", bytes(range(256)) * 4])
def test_every_media_type_round_trips(media_type: MediaType, body: bytes) -> None:
    wire = upa.encode(Push(media_type, body))
    assert wire[0] == len(media_type.value)
    assert wire[1:1 + wire[0]] == media_type.value.encode("ascii")
    assert wire[1 + wire[0]:] == body
    back = upa.decode(wire)
    assert back == Push(media_type, body)
    assert back.media_type is media_type


def test_the_media_types_are_the_named_ones() -> None:
    assert MediaType.NOTIFICATION.value == "application/vnd.syncml.notification"
    assert MediaType.GPI.value == "application/vnd.3gpp.gba.gpi"
    assert MediaType.DM.value == "application/vnd.syncml.dm+xml"
    assert len(MediaType) == 5
    assert all(1 <= len(t.value) <= upa.MAX_TYPE for t in MediaType)


@pytest.mark.parametrize("data", [
    datagram(b"application/unknown", b"body"),
    datagram(b"application/vnd.syncml.notificatio", b"n"),  # a prefix is not the type
    datagram(b"APPLICATION/VND.3GPP.GBA.GPI", b"x"),  # types are matched exactly
    datagram("application/vnd.3gpp.gba.gp\u00ef".encode(), b"x"),  # not ASCII
    datagram(b"\xff\xfe"),
], ids=["unknown", "prefix", "case", "non-ascii", "binary"])
def test_unknown_media_type_is_refused(data: bytes) -> None:
    with pytest.raises(CodecError):
        upa.decode(data)


@pytest.mark.parametrize("data", [
    b"\x00" + MediaType.GPI.value.encode() + b"body",  # zero length
    bytes((upa.MAX_TYPE + 1,)) + b"a" * (upa.MAX_TYPE + 1) + b"body",  # over 80
    b"\xff" + b"a" * 300,
    bytes((len(MediaType.GPI.value) + 1,)) + MediaType.GPI.value.encode(),  # past the end
    b"\x50" + b"application",
], ids=["zero", "81", "255", "one-past-end", "far-past-end"])
def test_bad_media_type_length_is_refused(data: bytes) -> None:
    with pytest.raises(CodecError):
        upa.decode(data)


@pytest.mark.parametrize("data", [b"", b"\x01"])
def test_too_short_is_refused(data: bytes) -> None:
    with pytest.raises(CodecError):
        upa.decode(data)


def test_largest_datagram_is_accepted_and_one_more_octet_refused() -> None:
    head = datagram(MediaType.DM.value.encode())
    largest = head + b"x" * (upa.MAX_DATAGRAM - len(head))
    assert len(largest) == upa.MAX_DATAGRAM
    assert upa.decode(largest).body == b"x" * (upa.MAX_DATAGRAM - len(head))
    with pytest.raises(CodecError):
        upa.decode(largest + b"x")


def test_encode_refuses_an_oversized_push() -> None:
    head = 1 + len(MediaType.NOTIFICATION.value)
    fits = Push(MediaType.NOTIFICATION, b"\x00" * (upa.MAX_DATAGRAM - head))
    assert len(upa.encode(fits)) == upa.MAX_DATAGRAM
    with pytest.raises(InvalidInput):
        upa.encode(Push(MediaType.NOTIFICATION, b"\x00" * (upa.MAX_DATAGRAM - head + 1)))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_is_a_codec_error(data: bytes) -> None:
    with contextlib.suppress(CodecError):  # any other exception fails the test
        push = upa.decode(data)
        assert upa.encode(push) == data


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(list(MediaType)), st.binary(max_size=500))
def test_any_body_round_trips(media_type: MediaType, body: bytes) -> None:
    assert upa.decode(upa.encode(Push(media_type, body))) == Push(media_type, body)

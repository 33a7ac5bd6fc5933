"""Resource limits of the Diameter codec and peer machine (issue 10 item 3).

Grouped AVPs nest at most ``MAX_AVP_DEPTH`` levels and a message carries at most
``MAX_AVPS`` AVPs, checked without recursion, so that decoding raises nothing but
DiameterCodecError; past either limit a request after CER gets 5009
DIAMETER_AVP_OCCURS_TOO_MANY_TIMES (RFC 6733 §7.1.5) with the AVP in Failed-AVP (§7.5),
and before CER the connection closes. Before CER a frame may be at most
``MAX_MESSAGE_SIZE_BEFORE_OPEN`` long.
"""

from __future__ import annotations

import struct
from ipaddress import ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gba.protocols import zh
from gba.protocols.diameter import (
    APP_ZH,
    CMD_MULTIMEDIA_AUTH,
    VENDOR_3GPP,
    Avp,
    DiameterCodecError,
    Message,
    PeerClosed,
    PeerConnection,
    PeerIdentity,
    PeerOpen,
    PeerState,
    ProtocolViolation,
    RequestReceived,
    ResultCode,
    Role,
    avp,
)
from gba.protocols.diameter import dictionary as d
from gba.protocols.diameter.capabilities import build_cer
from gba.protocols.diameter.codec import AVP_OCCURS_TOO_MANY_TIMES, MAX_AVP_DEPTH, MAX_AVPS
from gba.protocols.diameter.peer import MAX_MESSAGE_SIZE, MAX_MESSAGE_SIZE_BEFORE_OPEN

PROXY_INFO = 284  # a Grouped AVP of the base protocol (RFC 6733 §6.7.2)
BSF = PeerIdentity("bsf.example.org", "example.org", (ip_address("192.0.2.1"),))
HSS = PeerIdentity("hss.example.org", "example.org", (ip_address("192.0.2.2"),))


def nested(levels: int, code: int = PROXY_INFO) -> Avp:
    """*levels* Grouped AVPs, each the only child of the one around it."""
    inner = Avp(code, b"")
    for _ in range(levels - 1):
        inner = Avp(code, inner.encode())
    return inner


def mar(*extra: Avp, hop_by_hop: int = 7) -> Message:
    request = zh.build_mar(BSF, "example.org", "bsf;1;1", zh.VectorRequest("u@example.org"))
    return request.with_avps([*request.avps, *extra]).with_ids(hop_by_hop, 7)


NESTED_ATTACK = Message.new(CMD_MULTIMEDIA_AUTH, APP_ZH, avps=[nested(600)]).encode()
"""The message of the attack run: 600 nested Proxy-Info, 4.8 KB."""


# --- codec ------------------------------------------------------------------------------


def test_deeply_nested_message_raises_the_codec_error_not_recursion_error() -> None:
    assert 4700 < len(NESTED_ATTACK) < 4900
    with pytest.raises(DiameterCodecError) as caught:
        Message.decode(NESTED_ATTACK)
    assert caught.value.result_code == AVP_OCCURS_TOO_MANY_TIMES == 5009
    assert f"deeper than {MAX_AVP_DEPTH}" in str(caught.value)


def test_nesting_error_names_the_deepest_allowed_grouped_avp_emptied() -> None:
    with pytest.raises(DiameterCodecError) as caught:
        Message.decode(NESTED_ATTACK)
    failed = caught.value.failed
    assert failed is not None
    assert (failed.code, failed.data) == (PROXY_INFO, b"")
    assert caught.value.offset == 20 + 8 * (MAX_AVP_DEPTH - 1)


def test_nesting_up_to_the_limit_decodes() -> None:
    message = Message.new(CMD_MULTIMEDIA_AUTH, APP_ZH, avps=[nested(MAX_AVP_DEPTH)])
    decoded = Message.decode(message.encode())
    assert decoded == message
    level = decoded.avps[0]
    for _ in range(MAX_AVP_DEPTH - 1):
        (level,) = level.children()
    assert level.children() == ()


def test_one_level_past_the_limit_is_refused() -> None:
    wire = Message.new(CMD_MULTIMEDIA_AUTH, APP_ZH, avps=[nested(MAX_AVP_DEPTH + 1)]).encode()
    with pytest.raises(DiameterCodecError):
        Message.decode(wire)


def test_children_of_a_built_deep_avp_raise_the_codec_error() -> None:
    with pytest.raises(DiameterCodecError):
        nested(5000).children()


def test_unknown_avps_are_not_walked_as_grouped() -> None:
    wire = Message.new(CMD_MULTIMEDIA_AUTH, APP_ZH, avps=[nested(600, code=9999)]).encode()
    assert Message.decode(wire).avps[0].code == 9999


def test_max_avps_at_the_top_level_decode() -> None:
    avps = [Avp(9999, b"abcd")] * MAX_AVPS
    assert len(Message.decode(Message.new(1, 0, avps=avps).encode()).avps) == MAX_AVPS


def test_one_avp_more_than_max_avps_is_refused_with_it_in_failed_avp() -> None:
    avps = [Avp(9999, b"abcd")] * MAX_AVPS + [Avp(9998, b"last")]
    with pytest.raises(DiameterCodecError) as caught:
        Message.decode(Message.new(1, 0, avps=avps).encode())
    assert caught.value.result_code == 5009
    assert caught.value.failed is not None
    assert (caught.value.failed.code, caught.value.failed.data) == (9998, b"last")
    assert caught.value.offset == 20 + 12 * MAX_AVPS


def test_avps_inside_grouped_avps_count_towards_max_avps() -> None:
    group = Avp.grouped(PROXY_INFO, [Avp(9999, b"abcd")] * (MAX_AVPS // 2))
    with pytest.raises(DiameterCodecError, match=f"more than {MAX_AVPS} AVPs"):
        Message.decode(Message.new(1, 0, avps=[group, group]).encode())


def test_error_in_a_grouped_avp_is_reported_before_a_later_top_level_one() -> None:
    bad_inner = Avp.grouped(PROXY_INFO, [Avp(d.ORIGIN_HOST, b"\xff")])  # not UTF-8
    bad_outer = Avp(d.RESULT_CODE, b"abc")  # Unsigned32 of 3 octets
    wire = Message.new(1, 0, avps=[bad_inner, bad_outer]).encode()
    with pytest.raises(DiameterCodecError) as caught:
        Message.decode(wire)
    assert caught.value.result_code == ResultCode.INVALID_AVP_VALUE


@given(st.integers(min_value=1, max_value=3000))
def test_any_nesting_decodes_or_raises_the_codec_error(levels: int) -> None:
    wire = Message.new(1, 0, avps=[nested(levels)]).encode()
    if levels <= MAX_AVP_DEPTH:
        assert Message.decode(wire).avps == (nested(levels),)
    else:
        with pytest.raises(DiameterCodecError) as caught:
            Message.decode(wire)
        assert caught.value.result_code == 5009


# --- peer machine -----------------------------------------------------------------------


def responder(max_message_size: int = MAX_MESSAGE_SIZE,
              max_message_size_before_open: int = MAX_MESSAGE_SIZE_BEFORE_OPEN
              ) -> PeerConnection:
    conn = PeerConnection(HSS, Role.RESPONDER, {zh.APPLICATION},
                          max_message_size=max_message_size,
                          max_message_size_before_open=max_message_size_before_open)
    conn.connection_made(0.0)
    return conn


def state(conn: PeerConnection) -> PeerState:
    return conn.state


def cer() -> bytes:
    return build_cer(BSF, [zh.APPLICATION]).with_ids(1, 1).encode()


def opened(max_message_size: int = MAX_MESSAGE_SIZE,
           max_message_size_before_open: int = MAX_MESSAGE_SIZE_BEFORE_OPEN) -> PeerConnection:
    conn = responder(max_message_size, max_message_size_before_open)
    conn.receive_data(cer(), 1.0)
    assert conn.state is PeerState.OPEN
    conn.data_to_send()
    conn.pop_events()
    return conn


def answers(data: bytes) -> list[Message]:
    out = []
    while data:
        length = int.from_bytes(data[1:4], "big")
        out.append(Message.decode(data[:length]))
        data = data[length:]
    return out


def test_deeply_nested_request_after_cer_gets_5009_and_the_peer_stays_open() -> None:
    conn = opened()
    conn.receive_data(mar(nested(600), hop_by_hop=0xABCD).encode(), 2.0)
    (answer,) = answers(conn.data_to_send())
    assert answer.result_code == 5009
    assert (answer.command_code, answer.hop_by_hop, answer.is_request) == (
        CMD_MULTIMEDIA_AUTH, 0xABCD, False)
    failed = answer.find(d.FAILED_AVP)
    assert failed is not None
    assert [(a.code, a.data) for a in failed.children()] == [(PROXY_INFO, b"")]
    (violation,) = conn.pop_events()
    assert isinstance(violation, ProtocolViolation)
    assert not violation.fatal
    assert conn.state is PeerState.OPEN


def test_request_with_too_many_avps_after_cer_gets_5009() -> None:
    conn = opened()
    conn.receive_data(mar(*[Avp(9999, b"abcd")] * MAX_AVPS).encode(), 2.0)
    (answer,) = answers(conn.data_to_send())
    assert answer.result_code == 5009
    assert conn.state is PeerState.OPEN


def test_deeply_nested_message_before_cer_closes_without_an_answer() -> None:
    conn = responder()
    conn.receive_data(NESTED_ATTACK, 1.0)
    assert conn.data_to_send() == b""
    events = conn.pop_events()
    assert [type(e) for e in events] == [ProtocolViolation, PeerClosed]
    assert conn.state is PeerState.CLOSED


def test_deeply_nested_cer_closes_without_an_answer() -> None:
    cer_message = build_cer(BSF, [zh.APPLICATION])
    deep = cer_message.with_avps([*cer_message.avps, nested(600)]).with_ids(1, 1).encode()
    conn = responder()
    conn.receive_data(deep, 1.0)
    assert conn.data_to_send() == b""
    assert conn.state is PeerState.CLOSED


def test_cea_queued_before_a_nested_message_in_the_same_chunk_is_sent() -> None:
    conn = responder()
    conn.receive_data(cer() + mar(nested(600), hop_by_hop=9).encode(), 1.0)
    cea, error = answers(conn.data_to_send())
    assert cea.command_code == d.CMD_CAPABILITIES_EXCHANGE
    assert cea.result_code == ResultCode.SUCCESS
    assert (error.hop_by_hop, error.result_code) == (9, 5009)
    assert isinstance(conn.pop_events()[0], PeerOpen)


def header(length: int, command: int = d.CMD_CAPABILITIES_EXCHANGE) -> bytes:
    return struct.pack(">IIIII", 0x01000000 | length, 0x80000000 | command, 0, 1, 1)


def test_oversize_frame_before_cer_closes_as_soon_as_its_header_is_in() -> None:
    conn = responder()
    conn.receive_data(header(1 << 20) + bytes(1000), 1.0)
    assert conn.state is PeerState.CLOSED
    assert conn.data_to_send() == b""
    closed = conn.pop_events()[-1]
    assert isinstance(closed, PeerClosed)
    assert f"> {MAX_MESSAGE_SIZE_BEFORE_OPEN} before the capabilities exchange" in closed.reason
    assert len(conn._buffer) == 0  # released, and nothing more is taken
    conn.receive_data(bytes(65536), 2.0)
    assert len(conn._buffer) == 0


def test_frame_of_the_pre_cer_limit_waits_and_one_byte_word_more_closes() -> None:
    waiting = responder()
    waiting.receive_data(header(MAX_MESSAGE_SIZE_BEFORE_OPEN) + bytes(100), 1.0)
    assert waiting.state is PeerState.WAIT_CER
    closing = responder()
    closing.receive_data(header(MAX_MESSAGE_SIZE_BEFORE_OPEN + 4), 1.0)
    assert closing.state is PeerState.CLOSED


def test_after_cer_the_configured_maximum_applies() -> None:
    conn = opened()
    big = mar(Avp(9999, bytes(MAX_MESSAGE_SIZE_BEFORE_OPEN * 4)))
    conn.receive_data(big.encode(), 2.0)
    events = conn.pop_events()
    assert [e.message for e in events if isinstance(e, RequestReceived)] == [big]
    conn.receive_data(header(MAX_MESSAGE_SIZE + 4, CMD_MULTIMEDIA_AUTH), 3.0)
    assert conn.state is PeerState.CLOSED


def test_limits_are_constructor_parameters() -> None:
    conn = responder(max_message_size=4096, max_message_size_before_open=256)
    conn.receive_data(header(260), 1.0)
    assert conn.state is PeerState.CLOSED
    small_cer = opened(max_message_size=4096, max_message_size_before_open=1024)
    small_cer.receive_data(mar(Avp(9999, bytes(2000))).encode(), 2.0)
    assert small_cer.state is PeerState.OPEN
    small_cer.receive_data(header(4100, CMD_MULTIMEDIA_AUTH), 3.0)
    assert state(small_cer) is PeerState.CLOSED


def test_the_pre_cer_limit_never_exceeds_the_maximum() -> None:
    conn = PeerConnection(HSS, Role.RESPONDER, {zh.APPLICATION}, max_message_size=64)
    assert conn.max_message_size_before_open == 64


def test_vendor_specific_nesting_counts_the_same() -> None:
    # SIP-Auth-Data-Item (TS 29.229, vendor 10415) is Grouped too
    inner = avp("SIP-Number-Auth-Items", 1)
    item = Avp(612, inner.encode(), flags=0xC0, vendor=VENDOR_3GPP)
    for _ in range(MAX_AVP_DEPTH):
        item = Avp(612, item.encode(), flags=0xC0, vendor=VENDOR_3GPP)
    with pytest.raises(DiameterCodecError) as caught:
        Message.decode(Message.new(1, 0, avps=[item]).encode())
    assert caught.value.failed is not None
    assert caught.value.failed.vendor == VENDOR_3GPP

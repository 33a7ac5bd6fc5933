"""Diameter wire format (RFC 6733 §3, §4): fixtures built by hand, properties, errors."""

from __future__ import annotations

import contextlib
import struct
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gba.errors import CodecError, InvalidInput
from gba.protocols.diameter import (
    APP_ZH,
    APP_ZN,
    CMD_DEVICE_WATCHDOG,
    CMD_MULTIMEDIA_AUTH,
    VENDOR_3GPP,
    Avp,
    DiameterCodecError,
    Message,
    avp,
    find_avp_def,
    message_length,
    raw_avp,
)
from gba.protocols.diameter.bench import sample_bia, sample_maa

# ---------------------------------------------------------------- hand-built fixtures


def _avp_bytes(code: int, flags: int, data: bytes, vendor: int | None = None) -> bytes:
    """RFC 6733 §4.1 layout written out independently of the codec."""
    header_len = 8 if vendor is None else 12
    length = header_len + len(data)
    out = code.to_bytes(4, "big") + bytes([flags]) + length.to_bytes(3, "big")
    if vendor is not None:
        out += vendor.to_bytes(4, "big")
    return out + data + b"\x00" * (-len(data) % 4)


def test_dwr_encodes_to_the_rfc_6733_layout() -> None:
    message = Message.new(CMD_DEVICE_WATCHDOG, 0, proxiable=False, hop_by_hop=0x11223344,
                          end_to_end=0x55667788, avps=[avp("Origin-Host", "a.example"),
                                                       avp("Origin-Realm", "example")])
    expected = bytes.fromhex(
        "01 000038"        # version 1, length 56 = 20 + 20 + 16
        "80 000118"        # R flag, command 280
        "00000000"         # application 0
        "11223344 55667788"
        "00000108 40 000011" + b"a.example".hex() + "000000"  # Origin-Host, len 17, pad 3
        "00000128 40 00000f" + b"example".hex() + "00"        # Origin-Realm, len 15, pad 1
    )
    assert message.encode() == expected


def test_vendor_grouped_avp_matches_the_hand_built_bytes() -> None:
    item_number = _avp_bytes(613, 0xC0, (1).to_bytes(4, "big"), VENDOR_3GPP)
    scheme = _avp_bytes(608, 0xC0, b"Digest-AKAv1-MD5", VENDOR_3GPP)
    ck = _avp_bytes(625, 0xC0, bytes(range(16)), VENDOR_3GPP)
    item = _avp_bytes(612, 0xC0, item_number + scheme + ck, VENDOR_3GPP)
    result = _avp_bytes(268, 0x40, (2001).to_bytes(4, "big"))
    body = result + item
    wire = (bytes([1]) + (20 + len(body)).to_bytes(3, "big") + bytes([0x40])
            + CMD_MULTIMEDIA_AUTH.to_bytes(3, "big") + APP_ZH.to_bytes(4, "big")
            + (7).to_bytes(4, "big") + (9).to_bytes(4, "big") + body)

    built = Message.new(CMD_MULTIMEDIA_AUTH, APP_ZH, request=False, hop_by_hop=7,
                        end_to_end=9, avps=[
        avp("Result-Code", 2001),
        avp("SIP-Auth-Data-Item", [avp("SIP-Item-Number", 1),
                                   avp("SIP-Authentication-Scheme", "Digest-AKAv1-MD5"),
                                   avp("Confidentiality-Key", bytes(range(16)))]),
    ])
    assert built.encode() == wire


def test_decoded_fixture_fields_one_by_one() -> None:
    ck = _avp_bytes(625, 0xC0, bytes(range(16)), VENDOR_3GPP)
    item = _avp_bytes(612, 0xC0, ck, VENDOR_3GPP)
    user = _avp_bytes(1, 0x40, b"impi@example.org")
    body = user + item
    wire = (b"\x01" + (20 + len(body)).to_bytes(3, "big") + b"\xc0" + (303).to_bytes(3, "big")
            + struct.pack("!III", APP_ZH, 0xAABBCCDD, 0x01020304) + body)

    message = Message.decode(wire)

    assert message.command_code == 303
    assert message.application_id == APP_ZH
    assert message.is_request
    assert message.is_proxiable
    assert not message.is_error
    assert (message.hop_by_hop, message.end_to_end) == (0xAABBCCDD, 0x01020304)
    assert [a.code for a in message.avps] == [1, 612]
    user_avp, item_avp = message.avps
    assert (user_avp.flags, user_avp.vendor, user_avp.as_str()) == (0x40, 0, "impi@example.org")
    assert (item_avp.flags, item_avp.vendor) == (0xC0, VENDOR_3GPP)
    (ck_avp,) = item_avp.children()
    assert (ck_avp.code, ck_avp.vendor, ck_avp.data) == (625, VENDOR_3GPP, bytes(range(16)))


def test_sample_messages_round_trip() -> None:
    for message in (sample_bia(), sample_maa()):
        assert Message.decode(message.encode()) == message


# ---------------------------------------------------------------- typed accessors


def test_time_uses_the_ntp_epoch() -> None:
    a = avp("Key-ExpiryTime", datetime(1970, 1, 1, tzinfo=UTC))
    assert a.data == (2208988800).to_bytes(4, "big")  # RFC 5905: 1900 -> 1970 seconds
    assert a.as_time() == datetime(1970, 1, 1, tzinfo=UTC)


def test_time_after_2036_uses_the_rfc_4330_era() -> None:
    moment = datetime(2040, 5, 6, 7, 8, 9, tzinfo=UTC)
    a = avp("Event-Timestamp", moment)
    assert a.data[0] & 0x80 == 0
    assert a.as_time() == moment


def test_time_out_of_range_is_rejected() -> None:
    with pytest.raises(InvalidInput):
        avp("Event-Timestamp", datetime(1950, 1, 1, tzinfo=UTC))


def test_address_families() -> None:
    v4 = avp("Host-IP-Address", "192.0.2.1")
    v6 = avp("Host-IP-Address", IPv6Address("2001:db8::1"))
    assert v4.data == b"\x00\x01\xc0\x00\x02\x01"
    assert v4.as_address() == IPv4Address("192.0.2.1")
    assert v6.as_address() == IPv6Address("2001:db8::1")


def test_signed_and_unsigned_integers_follow_the_dictionary() -> None:
    assert avp("Result-Code", 0xFFFFFFFF).as_int() == 0xFFFFFFFF
    assert avp("Accounting-Sub-Session-Id", 2**64 - 1).as_int() == 2**64 - 1
    assert avp("Auth-Session-State", "NO_STATE_MAINTAINED").as_int() == 1


def test_flags_follow_the_dictionary() -> None:
    assert avp("SIP-Authenticate", b"x").flags == 0xC0
    assert avp("Product-Name", "gba").flags == 0x00  # RFC 6733 §4.5: M MUST NOT be set
    assert avp("Origin-Host", "h").flags == 0x40


def test_repr_hides_avp_data() -> None:
    key = bytes.fromhex("0123456789abcdef0123456789abcdef")
    message = Message.new(CMD_MULTIMEDIA_AUTH, APP_ZH, avps=[avp("Integrity-Key", key)])
    assert key.hex() not in repr(message)
    assert repr(key) not in repr(message)


def test_bad_python_values_raise_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        avp("Result-Code", -1)
    with pytest.raises(InvalidInput):
        avp("No-Such-AVP", 1)
    with pytest.raises(InvalidInput):
        avp("Host-IP-Address", "not an address")


# ---------------------------------------------------------------- decode errors


def _message(body: bytes) -> bytes:
    return (b"\x01" + (20 + len(body)).to_bytes(3, "big") + b"\x80\x00\x01\x2f"
            + bytes(12) + body)


@pytest.mark.parametrize(("wire", "needle"), [
    (b"\x01\x00\x00", "truncated header: 3 < 20 bytes at offset 0"),
    (b"\x02" + bytes(19), "version 2 != 1 at offset 0"),
    (b"\x01\x00\x00\x18" + bytes(16), "message length field 24 != 20 bytes"),
    (b"\x01\x00\x00\x16" + bytes(18), "not a multiple of 4"),
    (_message(b"\x00\x00\x01\x96\xc0\x00\x00\x03" + bytes(4)),
     "AVP 406 length 3 < 12 at offset 20"),
    (_message(b"\x00\x00\x01\x96\x40\x00\x00\x03"), "AVP 406 length 3 < 8 at offset 20"),
    (_message(b"\x00\x00\x01\x08\x40\x00\x00\x20abcd"), "overruns its container"),
    (_message(b"\x00\x00\x01\x17\x40\x00\x00\x11"  # Failed-AVP, length 17 ...
              b"\x00\x00\x01\x08\x40\x00\x00\x09a\x00\x00\x00"),  # ... cuts a child's pad
     "AVP 264 padding missing at offset 37"),
    (_message(b"\x00\x00\x01\x08\x40\x00\x00\x09a\x01\x00\x00"), "non-zero padding at offset 29"),
    (_message(b"\x00\x00\x01\x0c\x40\x00\x00\x0b\x00\x00\x07\x00"),
     "AVP 268 data length 3 != 4"),
    (_message(b"\x00\x00\x01\x1f\x40\x00\x00\x0c\x00\x00\x00\x01"),
     "AVP 287 data length 4 != 8"),
    (_message(b"\x00\x00\x01\x01\x40\x00\x00\x0c\x00\x01\x00\x00"),
     "AVP 257 Address family 1 with data length 4"),
    (_message(b"\x00\x00\x00\x01\x40\x00\x00\x0a\xff\xfe\x00\x00"),
     "AVP 1 is not valid UTF-8 at offset 28"),
    (_message(b"\x00\x00\x01\x94\xc0\x00\x00\x0e\x00\x00\x28\xaf\x00\x00\x00\x00"),
     "AVP 404 data length 2 != 4"),
    (_message(b"\x00\x00\x03\xe8\x00\x00\x00\x08" + bytes(4)),
     "truncated AVP header: 4 < 8 bytes at offset 28"),
])
def test_malformed_input_names_what_and_where(wire: bytes, needle: str) -> None:
    with pytest.raises(DiameterCodecError, match=needle.replace("(", r"\(")):
        Message.decode(wire)


def test_malformed_grouped_child_is_caught_at_decode() -> None:
    bad_child = b"\x00\x00\x01\x0c\x40\x00\x00\x0b\x00\x00\x07\x00"  # Result-Code, 3 bytes
    grouped = b"\x00\x00\x01\x17\x40\x00\x00" + bytes([8 + len(bad_child)]) + bad_child
    with pytest.raises(DiameterCodecError, match="AVP 268 data length 3 != 4 at offset 36"):
        Message.decode(_message(grouped))


def test_message_length_waits_for_a_full_header() -> None:
    assert message_length(b"\x01\x00") is None
    assert message_length(sample_maa().encode()[:20]) == len(sample_maa().encode())


# ---------------------------------------------------------------- properties

_TEXT = st.text(max_size=40)
_UNKNOWN = st.tuples(st.integers(1000, 1999), st.sampled_from([0, VENDOR_3GPP, 99999]),
                     st.binary(max_size=40), st.booleans())
_LEAVES = st.one_of(
    _UNKNOWN.map(lambda t: raw_avp(t[0], t[2], vendor=t[1], mandatory=t[3])),
    _TEXT.map(lambda s: avp("Origin-Host", s)),
    _TEXT.map(lambda s: avp("Public-Identity", s)),
    st.integers(0, 2**32 - 1).map(lambda n: avp("Result-Code", n)),
    st.integers(-(2**31), 2**31 - 1).map(lambda n: avp("Auth-Session-State", n)),
    st.integers(0, 2**64 - 1).map(lambda n: avp("Accounting-Sub-Session-Id", n)),
    st.ip_addresses().map(lambda ip: avp("Host-IP-Address", ip)),
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1))
    .map(lambda t: avp("Key-ExpiryTime", t.replace(microsecond=0))),
    st.binary(max_size=64).map(lambda b: avp("ME-Key-Material", b)),
)
_TREES = st.recursive(_LEAVES, lambda kids: st.one_of(
    st.lists(kids, max_size=4).map(lambda ks: avp("Failed-AVP", ks)),
    st.lists(kids, max_size=4).map(lambda ks: avp("SIP-Auth-Data-Item", ks)),
), max_leaves=12)
_MESSAGES = st.builds(
    Message,
    st.integers(0, 2**24 - 1), st.integers(0, 2**32 - 1), st.integers(0, 255),
    st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
    st.lists(_TREES, max_size=6).map(tuple),
)


def _walk(a: Avp) -> list[Avp]:
    definition = find_avp_def(a.code, a.vendor)
    if definition is not None and definition.type == "Grouped":
        return [a] + [x for c in a.children() for x in _walk(c)]
    return [a]


@given(_MESSAGES)
def test_decode_inverts_encode(message: Message) -> None:
    assert Message.decode(message.encode()) == message


@given(_TREES)
def test_grouped_children_round_trip(tree: Avp) -> None:
    for node in _walk(tree):
        if find_avp_def(node.code, node.vendor) is not None and node.code in (279, 612):
            assert Avp.grouped(node.code, node.children(), node.flags, node.vendor) == node


@given(st.binary(max_size=200))
def test_garbage_raises_only_codec_error(data: bytes) -> None:
    with contextlib.suppress(CodecError):
        Message.decode(data)


@given(st.binary(min_size=20, max_size=200))
def test_garbage_behind_a_valid_header_raises_only_codec_error(tail: bytes) -> None:
    body = tail[: len(tail) // 4 * 4]
    with contextlib.suppress(CodecError):
        Message.decode(_message(body))


@settings(max_examples=300)
@given(st.sampled_from([sample_bia(), sample_maa()]).map(Message.encode),
       st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1,
                max_size=4),
       st.integers(0, 700))
def test_mutated_and_truncated_messages_raise_only_codec_error(
        wire: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    mutated = bytearray(wire)
    for where, value in flips:
        mutated[where % len(mutated)] = value
    for candidate in (bytes(mutated), bytes(mutated[:cut]), wire[:cut]):
        try:
            decoded = Message.decode(candidate)
        except CodecError:
            continue
        for a in decoded.avps:  # children of whatever decoded must decode too
            for node in _walk(a):
                assert isinstance(node, Avp)


def test_encode_rejects_vendor_without_v_flag() -> None:
    with pytest.raises(InvalidInput):
        Message.new(1, APP_ZN, avps=[Avp(1, b"", 0x40, 5)]).encode()

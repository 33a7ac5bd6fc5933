"""The MIKEY codec (gba.protocols.mikey; RFC 3830 §6, RFC 4563 §4-5)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gba.errors import CodecError, InvalidInput
from gba.protocols import mikey

pytestmark = pytest.mark.roaming

u8 = st.integers(0, 0xFF)
u32 = st.integers(0, 0xFFFFFFFF)
short = st.binary(max_size=40)

srtp_ids = st.builds(mikey.SrtpId, u8, u32, u32)


@st.composite
def headers(draw: st.DrawFn) -> mikey.Header:
    if draw(st.booleans()):
        ids = tuple(draw(st.lists(srtp_ids, max_size=3)))
        return mikey.Header(draw(u8), draw(u32), draw(st.booleans()), draw(st.integers(0, 127)),
                            mikey.CS_MAP_SRTP_ID, len(ids), ids)
    return mikey.Header(draw(u8), draw(u32), draw(st.booleans()), draw(st.integers(0, 127)),
                        mikey.CS_MAP_EMPTY, draw(u8))


@st.composite
def timestamps(draw: st.DrawFn) -> mikey.Timestamp:
    ts_type = draw(st.sampled_from([mikey.TS_NTP_UTC, mikey.TS_NTP, mikey.TS_COUNTER]))
    bits = 32 if ts_type == mikey.TS_COUNTER else 64
    return mikey.Timestamp(ts_type, draw(st.integers(0, 2**bits - 1)))


@st.composite
def kemacs(draw: st.DrawFn) -> mikey.Kemac:
    mac_alg = draw(st.sampled_from([mikey.MAC_NULL, mikey.MAC_HMAC_SHA1_160]))
    mac = draw(st.binary(min_size=20, max_size=20)) if mac_alg else b""
    encr = draw(st.sampled_from([mikey.ENCR_NULL, mikey.ENCR_AES_CM_128, mikey.ENCR_AES_KW_128]))
    return mikey.Kemac(encr, draw(st.binary(max_size=80)), mac_alg, mac)


@st.composite
def verifications(draw: st.DrawFn) -> mikey.Verification:
    alg = draw(st.sampled_from([mikey.MAC_NULL, mikey.MAC_HMAC_SHA1_160]))
    return mikey.Verification(alg, draw(st.binary(min_size=20, max_size=20)) if alg else b"")


payloads = st.one_of(
    timestamps(),
    st.builds(mikey.Identity, st.sampled_from([mikey.ID_NAI, mikey.ID_URI]), short),
    st.builds(mikey.Rand, st.binary(min_size=1, max_size=32)),
    kemacs(), verifications(),
    st.builds(mikey.SecurityPolicy, u8, u8,
              st.lists(st.builds(mikey.PolicyParam, u8, st.binary(max_size=4)),
                       max_size=4).map(tuple)),
    st.builds(mikey.GeneralExtension, u8, short),
)
messages = st.builds(mikey.Message, headers(),
                     st.lists(payloads, max_size=8).map(tuple))


@st.composite
def key_data(draw: st.DrawFn) -> mikey.KeyData:
    key_type = draw(st.sampled_from([mikey.KEY_TGK, mikey.KEY_TGK_SALT, mikey.KEY_TEK,
                                     mikey.KEY_TEK_SALT]))
    salted = key_type in (mikey.KEY_TGK_SALT, mikey.KEY_TEK_SALT)
    kv = draw(st.one_of(st.none(), st.builds(mikey.KvSpi, short),
                        st.builds(mikey.KvInterval, short, short)))
    return mikey.KeyData(key_type, draw(short), draw(short) if salted else None, kv)


def sample() -> mikey.Message:
    return mikey.Message(
        mikey.Header(mikey.DATA_PSK_INIT, 0x00010002, v=True),
        (mikey.key_id_extension([mikey.KeyId(mikey.KEY_ID_DOMAIN, b"\x00\xf1\x10"),
                                 mikey.KeyId(mikey.KEY_ID_MSK, b"\x00\x01\x00\x02")]),
         mikey.Timestamp(mikey.TS_COUNTER, 7),
         mikey.Rand(bytes(range(16))),
         mikey.Identity(mikey.ID_URI, b"bmsc.example.org"),
         mikey.Identity(mikey.ID_NAI, b"AAECAwQFBgcICQoLDA0ODw==@bsf.example.org"),
         mikey.Kemac(mikey.ENCR_AES_CM_128, b"\x99" * 25, mikey.MAC_HMAC_SHA1_160,
                     b"\x55" * 20)))


# ------------------------------------------------------------------ round trips


@given(messages)
def test_decode_inverts_encode(message: mikey.Message) -> None:
    assert mikey.decode(mikey.encode(message)) == message


@given(messages)
def test_encode_inverts_decode(message: mikey.Message) -> None:
    wire = mikey.encode(message)
    assert mikey.encode(mikey.decode(wire)) == wire


@given(st.lists(key_data(), max_size=4))
def test_key_data_chain_round_trips(items: list[mikey.KeyData]) -> None:
    assert mikey.decode_key_data(mikey.encode_key_data(items)) == tuple(items)


@given(st.lists(st.builds(mikey.KeyId, u8, short), max_size=5))
def test_key_id_extension_round_trips(ids: list[mikey.KeyId]) -> None:
    ext = mikey.key_id_extension(ids)
    assert ext.ext_type == 3
    assert mikey.parse_key_ids(ext) == tuple(ids)


# ------------------------------------------------------------------ layouts from the RFC


def test_header_octets_follow_section_6_1() -> None:
    wire = mikey.encode(mikey.Message(mikey.Header(0, 0x01020304, v=True), ()))
    # version 1, data type 0, next payload 0 (last), V set + PRF 0, CSB ID, #CS 0, empty map
    assert wire == bytes.fromhex("01 00 00 80 01020304 00 01")


def test_srtp_id_map_follows_section_6_1_1() -> None:
    header = mikey.Header(0, 1, cs_id_map_type=mikey.CS_MAP_SRTP_ID, cs_count=1,
                          srtp_ids=(mikey.SrtpId(2, 0xAABBCCDD, 0x01020304),))
    wire = mikey.encode(mikey.Message(header, ()))
    assert wire[8:] == bytes.fromhex("01 00 02 aabbccdd 01020304")


def test_next_payload_fields_chain_the_payloads() -> None:
    wire = mikey.encode(sample())
    assert wire[2] == mikey.GENERAL_EXT  # HDR names the first payload
    assert wire[10] == mikey.T           # the extension names T
    assert wire[-50] == mikey.LAST       # KEMAC, 1 + 1 + 2 + 25 + 1 + 20 octets, is last


def test_kemac_layout_follows_section_6_2() -> None:
    kemac = mikey.Kemac(mikey.ENCR_AES_CM_128, b"\xee" * 3, mikey.MAC_HMAC_SHA1_160, b"m" * 20)
    assert kemac.body() == bytes.fromhex("01 0003 eeeeee 01") + b"m" * 20


def test_key_data_layout_follows_section_6_13() -> None:
    item = mikey.KeyData(mikey.KEY_TEK_SALT, b"K" * 2, b"S", mikey.KvSpi(b"\x00\x07"))
    assert mikey.encode_key_data([item, item])[:12] == bytes.fromhex(
        "14 31 0002 4b4b 0001 53 02 0007")  # next = Key data (20), type 3 / KV 1
    assert mikey.encode_key_data([item])[0] == mikey.LAST


def test_interval_validity_follows_section_6_14() -> None:
    item = mikey.KeyData(mikey.KEY_TGK, b"", kv=mikey.KvInterval(b"\x01", b"\x02\x03"))
    assert mikey.encode_key_data([item]) == bytes.fromhex("00 02 0000 01 01 02 0203")


def test_key_id_sub_payloads_follow_rfc4563() -> None:
    ext = mikey.key_id_extension([mikey.KeyId(mikey.KEY_ID_MSK, b"\x00\x01\x00\x02")])
    assert ext.body() == bytes.fromhex("03 0006 01 04 00010002")


def test_split_mac_takes_the_last_twenty_octets() -> None:
    wire = mikey.encode(sample())
    covered, mac = mikey.split_mac(wire, mikey.decode(wire))
    assert mac == b"\x55" * 20
    assert covered + mac == wire


# ------------------------------------------------------------------ refusals


@given(st.binary(max_size=300))
def test_garbage_is_a_codec_error_or_a_message(data: bytes) -> None:
    try:
        message = mikey.decode(data)
    except CodecError:
        return
    assert mikey.encode(message) == data


@given(st.data())
def test_every_mutation_of_a_message_is_a_codec_error_or_a_message(data: st.DataObject) -> None:
    wire = bytearray(mikey.encode(sample()))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(wire) - 1))
        wire[i] = data.draw(u8)
    try:
        message = mikey.decode(bytes(wire))
    except CodecError:
        return
    assert mikey.encode(message) == bytes(wire)


def test_every_truncation_is_a_codec_error() -> None:
    wire = mikey.encode(sample())
    for n in range(len(wire)):
        with pytest.raises(CodecError):
            mikey.decode(wire[:n])


def test_trailing_octets_are_a_codec_error() -> None:
    with pytest.raises(CodecError, match="left over"):
        mikey.decode(mikey.encode(sample()) + b"\0")


@pytest.mark.parametrize("kind", [2, 3, 4, 7, 8, 12, 13, 20, 22, 255])
def test_unsupported_payload_types_are_refused(kind: int) -> None:
    wire = bytearray(mikey.encode(mikey.Message(mikey.Header(0, 1), ())))
    wire[2] = kind
    with pytest.raises(CodecError, match=f"payload type {kind}"):
        mikey.decode(bytes(wire) + bytes(8))


def test_other_versions_are_refused() -> None:
    wire = bytearray(mikey.encode(sample()))
    wire[0] = 2
    with pytest.raises(CodecError, match="version 2"):
        mikey.decode(bytes(wire))


def test_generic_id_map_is_refused() -> None:
    wire = bytearray(mikey.encode(sample()))
    wire[9] = 2  # GENERIC-ID (RFC 6043)
    with pytest.raises(CodecError, match="map type 2"):
        mikey.decode(bytes(wire))


def test_length_running_past_the_end_is_refused() -> None:
    wire = bytearray(mikey.encode(sample()))
    rand_len = wire.index(bytes(range(16))) - 1
    wire[rand_len] = 0xFF
    with pytest.raises(CodecError, match="runs past the end"):
        mikey.decode(bytes(wire))


def test_oversized_input_is_refused_before_parsing() -> None:
    with pytest.raises(CodecError, match="exceeds"):
        mikey.decode(bytes(mikey.MAX_MESSAGE_SIZE + 1))


def test_too_many_payloads_are_refused() -> None:
    many = tuple(mikey.Rand(b"r") for _ in range(mikey.MAX_PAYLOADS + 1))
    wire = mikey.encode(mikey.Message(mikey.Header(0, 1), many))
    with pytest.raises(CodecError, match="more than"):
        mikey.decode(wire)


def test_empty_rand_and_unknown_ts_type_are_refused() -> None:
    base = mikey.encode(mikey.Message(mikey.Header(0, 1), (mikey.Rand(b"r"),)))
    with pytest.raises(CodecError, match="empty RAND"):
        mikey.decode(base[:-2] + b"\x00")
    stamp = bytearray(mikey.encode(mikey.Message(mikey.Header(0, 1),
                                                 (mikey.Timestamp(mikey.TS_COUNTER, 1),))))
    stamp[11] = 3
    with pytest.raises(CodecError, match="TS type 3"):
        mikey.decode(bytes(stamp))


def test_unknown_mac_algorithm_is_refused() -> None:
    wire = bytearray(mikey.encode(sample()))
    wire[-21] = 2
    with pytest.raises(CodecError, match="MAC algorithm 2"):
        mikey.decode(bytes(wire))


@pytest.mark.parametrize("data", [
    bytes.fromhex("01 00 0001 00"),          # next payload 1 (KEMAC): not a Key data
    bytes.fromhex("00 40 0000"),             # key data type 4
    bytes.fromhex("00 03 0000"),             # KV type 3
    bytes.fromhex("00 11 0001 aa 0005 bb"),  # salt length runs past the end
    bytes.fromhex("00 00 0000 ff"),          # an octet after the last sub-payload
])
def test_bad_key_data_is_a_codec_error(data: bytes) -> None:
    with pytest.raises(CodecError):
        mikey.decode_key_data(data)


def test_key_ids_of_another_extension_type_are_refused() -> None:
    with pytest.raises(CodecError, match="not Key ID"):
        mikey.parse_key_ids(mikey.GeneralExtension(mikey.EXT_VENDOR_ID, b""))
    with pytest.raises(CodecError, match="runs past"):
        mikey.parse_key_ids(mikey.GeneralExtension(mikey.EXT_KEY_ID, b"\x01\x05\x00"))


def test_split_mac_needs_a_mac_payload_last() -> None:
    message = mikey.Message(mikey.Header(0, 1), (mikey.Rand(b"r"),))
    with pytest.raises(CodecError, match="no MAC"):
        mikey.split_mac(mikey.encode(message), message)


@pytest.mark.parametrize("build", [
    lambda: mikey.Header(0, 2**32),
    lambda: mikey.Header(0, 1, prf_func=128),
    lambda: mikey.Header(0, 1, cs_id_map_type=mikey.CS_MAP_SRTP_ID, cs_count=1),
    lambda: mikey.Timestamp(mikey.TS_COUNTER, 2**32),
    lambda: mikey.Rand(b""),
    lambda: mikey.Kemac(mikey.ENCR_AES_CM_128, b"", mikey.MAC_HMAC_SHA1_160, b"short"),
    lambda: mikey.KeyData(mikey.KEY_TEK, b"k", salt=b"s"),
    lambda: mikey.KeyData(mikey.KEY_TEK_SALT, b"k"),
])
def test_out_of_range_values_are_refused_when_built(build: object) -> None:
    assert callable(build)
    with pytest.raises(InvalidInput):
        build()


def test_keys_never_show_in_repr() -> None:
    item = mikey.KeyData(mikey.KEY_TEK_SALT, b"SECRET-KEY-OCTETS", b"SECRET-SALT")
    kemac = mikey.Kemac(mikey.ENCR_NULL, b"CLEAR-KEY-DATA", mikey.MAC_NULL, b"")
    assert "SECRET" not in repr(item)
    assert "CLEAR" not in repr(kemac)

"""MTC small data (gba.protocols.mtc_small_data; docs/mtc.md §5): the four protection
modes, tampering, replay, direction separation, the B-TID check and the header codec."""

from __future__ import annotations

import contextlib
import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from gba.errors import AuthError, CodecError, GbaError, InvalidInput, MacFailure
from gba.protocols import mtc
from gba.protocols import mtc_small_data as sd
from gba.protocols.mtc import SubKeys
from gba.protocols.mtc_small_data import Direction, Keys, Message, ReplayWindow

pytestmark = pytest.mark.mtc

KS = bytes(range(32))
RAND = bytes(range(16, 32))
IMPI = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
IMPI_B = "001010000000002@ims.mnc001.mcc001.3gppnetwork.org"
IWF = "mtc-iwf.example.org"
K_IWF = mtc.k_iwf(KS, RAND, IMPI, IWF)
BTID = mtc.mtc_btid(RAND, IMPI, "bsf.example.org")
DATA = b"meter reading: 4711 kWh"
MODES = list(SubKeys)
UP, DOWN = Direction.UPLINK, Direction.DOWNLINK
EMPTY = ReplayWindow()


def keys(mode: SubKeys, k_iwf: bytes = K_IWF) -> Keys:
    return Keys.derive(k_iwf, mode)


def header_len(btid: str = BTID) -> int:
    return 1 + 1 + len(btid) + 1 + 8


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("direction", [UP, DOWN])
def test_round_trip(mode: SubKeys, direction: Direction) -> None:
    k = keys(mode)
    wire = sd.seal(k, BTID, direction, 5, DATA)
    message, data, after = sd.open_(k, BTID, wire, EMPTY, expect=direction)
    assert data == DATA
    assert message == Message(BTID, direction, 5)
    assert after.highest(direction) == 5
    assert after.highest(DOWN if direction is UP else UP) == 0
    assert sd.read_header(wire) == message
    btid, d, counter = sd.read_header(wire)
    assert (btid, d, counter) == (BTID, direction, 5)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, sd.MAX_DATA])
def test_round_trip_sizes(mode: SubKeys, size: int) -> None:
    k, data = keys(mode), bytes(range(256)) * 16
    wire = sd.seal(k, BTID, UP, 1, data[:size])
    assert len(wire) == header_len() + size + sd.TAG_LEN
    assert sd.open_(k, None, wire, EMPTY, expect=UP)[1] == data[:size]


def test_oversized_data_is_refused() -> None:
    with pytest.raises(InvalidInput):
        sd.seal(keys(SubKeys.BOTH), BTID, UP, 1, bytes(sd.MAX_DATA + 1))


def test_wire_layout() -> None:
    wire = sd.seal(keys(SubKeys.INT), BTID, DOWN, 0x0102030405060708, DATA)
    n = len(BTID)
    assert wire[0] == 1
    assert wire[1] == n
    assert wire[2:2 + n] == BTID.encode()
    assert wire[2 + n] == 1
    assert wire[3 + n:11 + n] == bytes.fromhex("0102030405060708")


def test_none_mode_is_gcm_under_k_iwf() -> None:
    wire = sd.seal(keys(SubKeys.NONE), BTID, UP, 9, DATA)
    head = wire[:header_len()]
    nonce = bytes(4) + (9).to_bytes(8, "big")
    assert AESGCM(K_IWF[:16]).decrypt(nonce, wire[len(head):], head) == DATA


def test_enc_mode_is_gcm_under_k_enc() -> None:
    wire = sd.seal(keys(SubKeys.ENC), BTID, DOWN, 9, DATA)
    head = wire[:header_len()]
    nonce = b"\x01" + bytes(3) + (9).to_bytes(8, "big")
    assert AESGCM(mtc.enc_key(K_IWF)).decrypt(nonce, wire[len(head):], head) == DATA


@pytest.mark.parametrize("mode", [SubKeys.INT, SubKeys.BOTH])
def test_mac_is_truncated_hmac_over_header_and_body(mode: SubKeys) -> None:
    wire = sd.seal(keys(mode), BTID, UP, 3, DATA)
    body, tag = wire[:-16], wire[-16:]
    assert tag == hmac.new(mtc.int_key(K_IWF), body, hashlib.sha256).digest()[:16]


def test_int_mode_leaves_data_in_clear() -> None:
    assert DATA in sd.seal(keys(SubKeys.INT), BTID, UP, 1, DATA)


@pytest.mark.parametrize("mode", [SubKeys.NONE, SubKeys.ENC, SubKeys.BOTH])
def test_other_modes_hide_the_data(mode: SubKeys) -> None:
    wire = sd.seal(keys(mode), BTID, UP, 1, DATA)
    assert DATA not in wire
    assert DATA[:8] not in wire


def test_modes_give_distinct_ciphertexts() -> None:
    wires = {sd.seal(keys(m), BTID, UP, 1, DATA) for m in MODES}
    assert len(wires) == len(MODES)


# -- tampering -------------------------------------------------------------------------

def _regions(wire_len: int) -> dict[str, int]:
    n = len(BTID)
    return {"version": 0, "btid length": 1, "btid": 2 + n // 2, "direction": 2 + n,
            "counter high": 3 + n, "counter low": 10 + n, "data": 11 + n + 3,
            "tag": wire_len - 1}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("region", ["version", "btid length", "btid", "direction",
                                    "counter high", "counter low", "data", "tag"])
@pytest.mark.parametrize("btid_expected", [BTID, None], ids=["checked", "unchecked"])
def test_a_tampered_message_is_refused_and_the_window_kept(
        mode: SubKeys, region: str, btid_expected: str | None) -> None:
    k = keys(mode)
    window = ReplayWindow(uplink=2, downlink=7)
    wire = sd.seal(k, BTID, UP, 4, DATA)  # a flipped low bit gives 5, not a replay
    bad = bytearray(wire)
    bad[_regions(len(wire))[region]] ^= 0x01
    with pytest.raises((CodecError, AuthError)) as info:
        sd.open_(k, btid_expected, bytes(bad), window, expect=UP)
    if region in ("data", "tag", "counter high", "counter low"):
        assert info.type is MacFailure
    if region == "direction":
        assert info.type is sd.WrongDirection
    assert window == ReplayWindow(uplink=2, downlink=7)
    assert sd.open_(k, btid_expected, wire, window, expect=UP)[1] == DATA


@pytest.mark.parametrize("mode", MODES)
def test_every_single_bit_flip_is_refused(mode: SubKeys) -> None:
    k = keys(mode)
    wire = sd.seal(k, BTID, DOWN, 1, b"short")
    for position in range(len(wire)):
        for bit in (0x01, 0x80):
            bad = bytearray(wire)
            bad[position] ^= bit
            with pytest.raises((CodecError, AuthError)):
                sd.open_(k, None, bytes(bad), EMPTY, expect=DOWN)


@pytest.mark.parametrize("mode", MODES)
def test_a_truncated_or_extended_message_is_refused(mode: SubKeys) -> None:
    k = keys(mode)
    wire = sd.seal(k, BTID, UP, 1, DATA)
    for bad in (wire[:-1], wire + b"\x00", wire[:header_len()] + wire[-16:],
                wire[:header_len() + 15]):
        with pytest.raises((CodecError, MacFailure)):
            sd.open_(k, None, bad, EMPTY, expect=UP)


def test_a_flipped_direction_with_a_matching_expectation_fails_the_mac() -> None:
    # an uplink relabelled as downlink and offered to a receiver expecting downlink
    k = keys(SubKeys.NONE)
    bad = bytearray(sd.seal(k, BTID, UP, 1, DATA))
    bad[2 + len(BTID)] = DOWN
    with pytest.raises(MacFailure):
        sd.open_(k, None, bytes(bad), EMPTY, expect=DOWN)


# -- replay, directions, B-TID, keys ---------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_a_replayed_message_is_refused(mode: SubKeys) -> None:
    k = keys(mode)
    wire = sd.seal(k, BTID, UP, 1, DATA)
    _, _, after = sd.open_(k, BTID, wire, EMPTY, expect=UP)
    with pytest.raises(sd.ReplayedMessage):
        sd.open_(k, BTID, wire, after, expect=UP)


def test_counters_must_strictly_increase() -> None:
    k = keys(SubKeys.BOTH)
    window = EMPTY
    for counter in (1, 2, 10):
        window = sd.open_(k, None, sd.seal(k, BTID, UP, counter, DATA), window, expect=UP)[2]
    for stale in (10, 9, 3):
        with pytest.raises(sd.ReplayedMessage):
            sd.open_(k, None, sd.seal(k, BTID, UP, stale, DATA), window, expect=UP)
    assert window.highest(UP) == 10


def test_directions_have_independent_counters() -> None:
    k = keys(SubKeys.ENC)
    _, _, window = sd.open_(k, None, sd.seal(k, BTID, UP, 5, DATA), EMPTY, expect=UP)
    _, _, window = sd.open_(k, None, sd.seal(k, BTID, DOWN, 1, DATA), window, expect=DOWN)
    assert window == ReplayWindow(uplink=5, downlink=1)
    with pytest.raises(sd.ReplayedMessage):
        sd.open_(k, None, sd.seal(k, BTID, DOWN, 1, DATA), window, expect=DOWN)


@pytest.mark.parametrize("mode", MODES)
def test_an_uplink_cannot_be_opened_as_downlink(mode: SubKeys) -> None:
    k = keys(mode)
    wire = sd.seal(k, BTID, UP, 1, DATA)
    with pytest.raises(sd.WrongDirection):
        sd.open_(k, BTID, wire, EMPTY, expect=DOWN)


def test_same_counter_in_both_directions_gives_different_ciphertexts() -> None:
    k = keys(SubKeys.BOTH)
    up = sd.seal(k, BTID, UP, 1, DATA)
    down = sd.seal(k, BTID, DOWN, 1, DATA)
    assert up[header_len():-16] != down[header_len():-16]


@pytest.mark.parametrize("mode", MODES)
def test_wrong_btid_is_refused(mode: SubKeys) -> None:
    k = keys(mode)
    wire = sd.seal(k, BTID, UP, 1, DATA)
    other = mtc.mtc_btid(RAND, IMPI_B, "bsf.example.org")
    with pytest.raises(sd.WrongBtid):
        sd.open_(k, other, wire, EMPTY, expect=UP)


@pytest.mark.parametrize("mode", MODES)
def test_another_devices_keys_cannot_open_it(mode: SubKeys) -> None:
    wire = sd.seal(keys(mode), BTID, UP, 1, DATA)
    other = keys(mode, mtc.k_iwf(KS, RAND, IMPI_B, IWF))
    with pytest.raises(MacFailure):
        sd.open_(other, None, wire, EMPTY, expect=UP)


def test_a_message_moved_to_another_btid_fails_the_mac() -> None:
    k = keys(SubKeys.INT)
    other = mtc.mtc_btid(RAND, IMPI_B, "bsf.example.org")
    wire = sd.seal(k, BTID, UP, 1, DATA)
    moved = sd.encode_header(other, UP, 1) + wire[header_len():]
    with pytest.raises(MacFailure):
        sd.open_(k, other, moved, EMPTY, expect=UP)


def test_keys_hide_their_material() -> None:
    k = keys(SubKeys.BOTH)
    assert K_IWF.hex() not in repr(k)
    assert repr(k.enc) not in repr(k)
    assert "both" in repr(k)


@pytest.mark.parametrize(("mode", "enc", "mac"), [
    (SubKeys.NONE, bytes(16), None), (SubKeys.ENC, None, None), (SubKeys.INT, None, bytes(16)),
    (SubKeys.BOTH, bytes(16), None), (SubKeys.ENC, bytes(15), None), ("all", None, None),
])
def test_inconsistent_keys_are_invalid_input(mode: SubKeys, enc: bytes | None,
                                             mac: bytes | None) -> None:
    with pytest.raises(InvalidInput):
        Keys(mode, K_IWF, enc, mac)


def test_short_k_iwf_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        Keys(SubKeys.NONE, bytes(16))


# -- header codec --------------------------------------------------------------------------

@pytest.mark.parametrize(("btid", "direction", "counter"), [
    ("a", UP, 1), ("x" * 255, DOWN, 2**64 - 1), (BTID, DOWN, 1 << 40),
])
def test_header_round_trip(btid: str, direction: Direction, counter: int) -> None:
    wire = sd.encode_header(btid, direction, counter) + bytes(16)
    assert sd.read_header(wire) == Message(btid, direction, counter)


@pytest.mark.parametrize(("btid", "direction", "counter"), [
    ("", UP, 1), ("x" * 256, UP, 1), ("a b", UP, 1), ("é@x", UP, 1), ("a", UP, 0),
    ("a", UP, 2**64), ("a", 2, 1),
])
def test_bad_header_values_are_invalid_input(btid: str, direction: Direction,
                                             counter: int) -> None:
    with pytest.raises(InvalidInput):
        sd.encode_header(btid, direction, counter)
    with pytest.raises(InvalidInput):
        sd.seal(keys(SubKeys.NONE), btid, direction, counter, DATA)


GOOD_HEADER = sd.encode_header("b@x", UP, 1)


@pytest.mark.parametrize("wire", [
    b"", GOOD_HEADER, GOOD_HEADER + bytes(15), b"\x02" + GOOD_HEADER[1:] + bytes(16),
    b"\x01\x00" + GOOD_HEADER[2:] + bytes(16), b"\x01\xff" + GOOD_HEADER[2:] + bytes(16),
    GOOD_HEADER[:5] + b"\x02" + GOOD_HEADER[6:] + bytes(16),
    GOOD_HEADER[:6] + bytes(8) + bytes(16), b"\x01\x03b x" + GOOD_HEADER[5:] + bytes(16),
    b"\x01\x03b\xc3\xa9" + GOOD_HEADER[5:] + bytes(16),
    GOOD_HEADER + bytes(sd.MAX_DATA + 17),
])
def test_malformed_headers_are_codec_errors(wire: bytes) -> None:
    with pytest.raises(CodecError):
        sd.read_header(wire)
    with pytest.raises(CodecError):
        sd.open_(keys(SubKeys.BOTH), None, wire, EMPTY, expect=UP)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400))
def test_garbage_is_a_codec_error_or_refused(data: bytes) -> None:
    with contextlib.suppress(CodecError):
        sd.read_header(data)
    for mode in MODES:
        with pytest.raises(GbaError) as info:
            sd.open_(keys(mode), None, data, EMPTY, expect=UP)
        assert isinstance(info.value, CodecError | AuthError)


@settings(max_examples=200, deadline=None)
@given(prefix=st.binary(max_size=40), body=st.binary(max_size=60),
       mode=st.sampled_from(MODES))
def test_garbage_after_a_valid_header_is_refused(prefix: bytes, body: bytes,
                                                 mode: SubKeys) -> None:
    wire = sd.encode_header(BTID, UP, 1) + prefix + body
    with pytest.raises((CodecError, AuthError)):
        sd.open_(keys(mode), BTID, wire, EMPTY, expect=UP)

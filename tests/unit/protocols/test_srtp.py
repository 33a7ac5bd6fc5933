"""SRTP for MBMS streaming (gba.protocols.srtp; RFC 3711, RTP header RFC 3550 §5.1)."""

from __future__ import annotations

import contextlib
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gba.errors import AuthError, CodecError, InvalidInput, MacFailure
from gba.protocols.srtp import (
    AES_CM_128_HMAC_SHA1_32,
    AES_CM_128_HMAC_SHA1_80,
    LABEL_SALT,
    WINDOW_SIZE,
    CryptoSuite,
    MalformedPacket,
    MasterKey,
    ReplayedPacket,
    RtpExtension,
    RtpPacket,
    SrtpReceiver,
    SrtpSender,
    UnknownKey,
    aes_cm_iv,
    derive,
    kdf_input,
    keystream,
    session_keys,
)
from vectors import srtp_vectors

pytestmark = pytest.mark.roaming

KEYSTREAM = srtp_vectors("keystream")
KEY_DERIVATION = srtp_vectors("key_derivation")
SUITES = [AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32]
MTK = MasterKey(bytes(range(16)), bytes(range(100, 114)))
SSRC = 0x0BADCAFE


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def rtp(seq: int, payload: bytes = b"streamed MBMS content", ssrc: int = SSRC) -> bytes:
    return RtpPacket(96, seq, seq * 160 & 0xFFFFFFFF, ssrc, payload=payload).encode()


def pair(suite: CryptoSuite = AES_CM_128_HMAC_SHA1_80, key: MasterKey = MTK,
         roc: int = 0) -> tuple[SrtpSender, SrtpReceiver]:
    return SrtpSender(key, suite, roc), SrtpReceiver(key, suite, roc)


# ------------------------------------------------------------------ RFC 3711 Appendix B


@pytest.mark.parametrize("vector", KEYSTREAM, ids=lambda v: v["name"])
def test_aes_cm_iv_is_the_b2_offset(vector: dict[str, Any]) -> None:
    iv = aes_cm_iv(h(vector["session_salt"]), vector["ssrc"],
                   vector["roc"] << 16 | vector["seq"])
    assert iv == h(vector["offset"])


@pytest.mark.parametrize("vector", KEYSTREAM, ids=lambda v: v["name"])
def test_aes_cm_keystream_matches_every_b2_block(vector: dict[str, Any]) -> None:
    stream = keystream(h(vector["session_key"]), h(vector["session_salt"]), vector["ssrc"],
                       vector["roc"] << 16 | vector["seq"], vector["segment_length"])
    assert len(stream) == vector["segment_length"]
    offset = int(vector["offset"], 16)
    for block in vector["blocks"]:
        assert int(block["counter"], 16) == offset + block["block"]
        at = 16 * block["block"]
        assert stream[at:at + 16] == h(block["keystream"]), block["counter"]
    last = vector["blocks"][-1]["block"]
    assert len(stream) == 16 * (last + 1)


@pytest.mark.parametrize("vector", KEY_DERIVATION, ids=lambda v: v["name"])
def test_kdf_input_matches_every_b3_prf_input(vector: dict[str, Any]) -> None:
    assert int(vector["index_div_kdr"], 16) == 0
    for key in vector["keys"]:
        x = kdf_input(h(vector["master_salt"]), key["label"])
        assert x == h(key["x"]), key["name"]
        assert x + bytes(2) == h(key["aes_input"]), key["name"]


@pytest.mark.parametrize("vector", KEY_DERIVATION, ids=lambda v: v["name"])
def test_derive_matches_every_b3_key(vector: dict[str, Any]) -> None:
    for key in vector["keys"]:
        out = h(key["output"])
        assert derive(h(vector["master_key"]), h(vector["master_salt"]), key["label"],
                      len(out)) == out, key["name"]
        if "aes_output" in key:
            assert derive(h(vector["master_key"]), h(vector["master_salt"]), key["label"],
                          16) == h(key["aes_output"]), key["name"]


@pytest.mark.parametrize("vector", KEY_DERIVATION, ids=lambda v: v["name"])
def test_session_keys_are_the_b3_keys_at_the_suite_lengths(vector: dict[str, Any]) -> None:
    keys = session_keys(MasterKey(h(vector["master_key"]), h(vector["master_salt"])))
    by_name = {key["name"]: h(key["output"]) for key in vector["keys"]}
    assert keys.encryption == by_name["cipher key"]
    assert keys.salt == by_name["cipher salt"]
    assert keys.authentication == by_name["auth key"][:20]


def test_label_lands_on_octet_seven_of_the_salt() -> None:
    x = kdf_input(bytes(14), LABEL_SALT)
    assert x == bytes(7) + b"\x02" + bytes(6)


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.name)
def test_many_packets_round_trip_across_a_sequence_wrap(suite: CryptoSuite) -> None:
    sender, receiver = pair(suite)
    for n in range(1500):
        seq = (65000 + n) & 0xFFFF
        packet = rtp(seq, bytes([n & 0xFF]) * (n % 70))
        protected = sender.protect(packet)
        assert len(protected) == len(packet) + suite.tag_length
        assert receiver.unprotect(protected) == packet
    assert sender.rollover_counter(SSRC) == 1
    assert receiver.rollover_counter(SSRC) == 1


def test_rollover_counter_is_zero_before_the_wrap() -> None:
    sender, receiver = pair()
    for seq in range(65530, 65536):
        receiver.unprotect(sender.protect(rtp(seq)))
    assert receiver.rollover_counter(SSRC) == 0
    receiver.unprotect(sender.protect(rtp(0)))
    assert receiver.rollover_counter(SSRC) == 1


def test_roc_enters_the_tag_so_a_receiver_with_another_roc_refuses() -> None:
    sender = SrtpSender(MTK, roc=3)
    with pytest.raises(MacFailure):
        SrtpReceiver(MTK, roc=0).unprotect(sender.protect(rtp(7)))


def test_an_initial_roc_known_to_both_sides_works() -> None:
    sender, receiver = pair(roc=3)
    assert receiver.unprotect(sender.protect(rtp(7))) == rtp(7)
    assert receiver.rollover_counter(SSRC) == 3


def test_each_ssrc_has_its_own_rollover_counter() -> None:
    sender, receiver = pair()
    for seq in (65535, 0):
        receiver.unprotect(sender.protect(rtp(seq, ssrc=1)))
    receiver.unprotect(sender.protect(rtp(5, ssrc=2)))
    assert (receiver.rollover_counter(1), receiver.rollover_counter(2)) == (1, 0)


def test_payload_is_encrypted_and_header_left_clear() -> None:
    sender, _ = pair()
    packet = rtp(1, b"A" * 32)
    protected = sender.protect(packet)
    assert protected[:12] == packet[:12]
    assert protected[12:44] != packet[12:]


def test_header_with_csrcs_extension_and_padding_round_trips() -> None:
    sender, receiver = pair()
    packet = RtpPacket(33, 9, 1234, SSRC, payload=b"x" * 5, marker=True, csrcs=(1, 2, 3),
                       extension=RtpExtension(0xBEDE, b"\x10\xff\x00\x00"), padding=3).encode()
    protected = sender.protect(packet)
    assert protected[:32] == packet[:32]
    assert RtpPacket.decode(receiver.unprotect(protected)) == RtpPacket.decode(packet)


def test_an_empty_payload_round_trips() -> None:
    sender, receiver = pair()
    assert receiver.unprotect(sender.protect(rtp(4, b""))) == rtp(4, b"")


# ------------------------------------------------------------------ reordering and replay


def test_reordering_within_the_window_is_accepted() -> None:
    sender, receiver = pair()
    protected = [sender.protect(rtp(seq)) for seq in range(200)]
    order = list(range(200))
    for start in range(0, 200, 40):
        chunk = order[start:start + 40]
        random.Random(start).shuffle(chunk)
        order[start:start + 40] = chunk
    for n in order:
        assert receiver.unprotect(protected[n]) == rtp(n)


def test_reordering_across_the_wrap_is_accepted() -> None:
    sender, receiver = pair()
    seqs = [65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2, 3]
    protected = {seq: sender.protect(rtp(seq)) for seq in seqs}
    for seq in [65530, 65532, 0, 65531, 2, 65535, 1, 65534, 3, 65533]:
        assert receiver.unprotect(protected[seq]) == rtp(seq)
    assert receiver.rollover_counter(SSRC) == 1


def test_a_replayed_packet_is_refused() -> None:
    sender, receiver = pair()
    protected = sender.protect(rtp(10))
    receiver.unprotect(protected)
    with pytest.raises(ReplayedPacket) as caught:
        receiver.unprotect(protected)
    assert isinstance(caught.value, AuthError)


def test_a_replay_of_an_older_packet_inside_the_window_is_refused() -> None:
    sender, receiver = pair()
    protected = [sender.protect(rtp(seq)) for seq in range(50)]
    for packet in protected:
        receiver.unprotect(packet)
    with pytest.raises(ReplayedPacket, match="seen before"):
        receiver.unprotect(protected[20])


def test_a_packet_behind_the_window_is_refused() -> None:
    sender, receiver = pair()
    protected = [sender.protect(rtp(seq)) for seq in range(WINDOW_SIZE + 1)]
    receiver.unprotect(protected[WINDOW_SIZE])
    receiver.unprotect(protected[1])
    with pytest.raises(ReplayedPacket, match="behind the replay window"):
        receiver.unprotect(protected[0])


def test_the_sender_refuses_to_reuse_an_index() -> None:
    sender, _ = pair()
    sender.protect(rtp(5))
    with pytest.raises(InvalidInput, match="seen before"):
        sender.protect(rtp(5, b"other content"))


# ------------------------------------------------------------------ authentication


@settings(max_examples=150, deadline=None)
@given(bit=st.integers(min_value=8, max_value=8 * (12 + 21 + 10) - 1))
def test_any_flipped_bit_after_the_first_octet_is_a_mac_failure(bit: int) -> None:
    sender, receiver = pair()
    protected = bytearray(sender.protect(rtp(100)))
    assert len(protected) == 12 + 21 + 10
    protected[bit // 8] ^= 0x80 >> bit % 8
    with pytest.raises(MacFailure):
        receiver.unprotect(bytes(protected))


def test_a_forged_packet_leaves_the_receiver_unchanged() -> None:
    sender, receiver = pair()
    protected = sender.protect(rtp(100))
    forged = protected[:-1] + bytes([protected[-1] ^ 1])
    with pytest.raises(MacFailure):
        receiver.unprotect(forged)
    assert receiver.unprotect(protected) == rtp(100)


@pytest.mark.parametrize("wrong", [MasterKey(bytes(16), MTK.salt), MasterKey(MTK.key, bytes(14))],
                         ids=["key", "salt"])
def test_a_wrong_master_key_or_salt_is_a_mac_failure(wrong: MasterKey) -> None:
    sender, _ = pair()
    with pytest.raises(MacFailure):
        SrtpReceiver(wrong).unprotect(sender.protect(rtp(1)))


def test_a_packet_of_the_other_tag_length_is_refused() -> None:
    sender = SrtpSender(MTK, AES_CM_128_HMAC_SHA1_32)
    with pytest.raises(MacFailure):
        SrtpReceiver(MTK, AES_CM_128_HMAC_SHA1_80).unprotect(sender.protect(rtp(1)))


# ------------------------------------------------------------------ MKI (RFC 3711 §3.1)


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.name)
def test_the_mki_sits_between_the_encrypted_portion_and_the_tag(suite: CryptoSuite) -> None:
    key = MasterKey(MTK.key, MTK.salt, mki=b"\x00\x00\x00\x07\x00\x01")
    sender, receiver = pair(suite, key)
    packet = rtp(1)
    protected = sender.protect(packet)
    assert len(protected) == len(packet) + 6 + suite.tag_length
    assert protected[len(packet):len(packet) + 6] == key.mki
    assert receiver.unprotect(protected) == packet


def test_the_mki_is_not_authenticated_so_a_packet_without_it_has_the_same_tag() -> None:
    with_mki = SrtpSender(MasterKey(MTK.key, MTK.salt, mki=b"\x01\x02")).protect(rtp(1))
    without = SrtpSender(MTK).protect(rtp(1))
    assert with_mki[:-12] == without[:-10]
    assert with_mki[-10:] == without[-10:]


def test_the_receiver_picks_the_master_key_the_mki_names() -> None:
    old = MasterKey(bytes(16), bytes(14), mki=b"\x00\x01")
    new = MasterKey(bytes(range(16)), bytes(14), mki=b"\x00\x02")
    sender = SrtpSender(old)
    receiver = SrtpReceiver([old, new])
    assert receiver.unprotect(sender.protect(rtp(1))) == rtp(1)
    sender.rekey(new)
    protected = sender.protect(rtp(2))
    assert protected[-12:-10] == new.mki
    assert receiver.unprotect(protected) == rtp(2)


def test_a_key_added_later_is_used() -> None:
    old = MasterKey(bytes(16), bytes(14), mki=b"\x01")
    new = MasterKey(bytes(range(16)), bytes(14), mki=b"\x02")
    sender, receiver = SrtpSender(new), SrtpReceiver(old)
    with pytest.raises(UnknownKey):
        receiver.unprotect(sender.protect(rtp(1)))
    receiver.add_key(new)
    assert receiver.unprotect(sender.protect(rtp(2))) == rtp(2)


def test_an_unknown_mki_is_refused() -> None:
    sender = SrtpSender(MasterKey(MTK.key, MTK.salt, mki=b"\xaa\xbb"))
    receiver = SrtpReceiver(MasterKey(MTK.key, MTK.salt, mki=b"\xaa\xbc"))
    with pytest.raises(UnknownKey, match="aabb"):
        receiver.unprotect(sender.protect(rtp(1)))


def test_a_packet_with_an_mki_is_refused_by_a_receiver_expecting_none() -> None:
    sender = SrtpSender(MasterKey(MTK.key, MTK.salt, mki=b"\x01\x02\x03\x04"))
    with pytest.raises(MacFailure):
        SrtpReceiver(MTK).unprotect(sender.protect(rtp(1)))


def test_keys_of_one_context_share_one_mki_length() -> None:
    with pytest.raises(InvalidInput, match="MKI length"):
        SrtpReceiver([MasterKey(MTK.key, MTK.salt, b"\x01"),
                      MasterKey(MTK.key, MTK.salt, b"\x01\x02")])
    with pytest.raises(InvalidInput, match="MKI length"):
        SrtpSender(MTK).rekey(MasterKey(MTK.key, MTK.salt, b"\x01"))


# ------------------------------------------------------------------ keys and secrets


def test_master_and_session_keys_stay_out_of_repr() -> None:
    key = MasterKey(b"\x5a" * 16, b"\xa5" * 14, mki=b"\x01")
    shown = repr(key) + repr(session_keys(key))
    for secret in ("5a5a", "a5a5", "\\x5a", "ZZZZ", "\\xa5"):
        assert secret not in shown
    assert repr(key) == "MasterKey(mki=b'\\x01')"


@pytest.mark.parametrize("key", [MasterKey(bytes(15), bytes(14)), MasterKey(bytes(16), bytes(13))],
                         ids=["short-key", "short-salt"])
def test_wrong_master_lengths_are_refused(key: MasterKey) -> None:
    with pytest.raises(InvalidInput):
        SrtpSender(key)


def test_a_receiver_needs_a_key() -> None:
    with pytest.raises(InvalidInput):
        SrtpReceiver([])


# ------------------------------------------------------------------ RTP header codec

rtp_packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127), sequence_number=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF), ssrc=st.integers(0, 0xFFFFFFFF),
    payload=st.binary(max_size=64), marker=st.booleans(),
    csrcs=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15).map(tuple),
    extension=st.none() | st.builds(RtpExtension, profile=st.integers(0, 0xFFFF),
                                    data=st.binary(max_size=12).map(lambda b: b[:len(b) // 4 * 4])),
    padding=st.integers(0, 255))


@settings(max_examples=200, deadline=None)
@given(packet=rtp_packets)
def test_rtp_decode_encode_round_trips(packet: RtpPacket) -> None:
    assert RtpPacket.decode(packet.encode()) == packet


@settings(max_examples=60, deadline=None)
@given(packet=rtp_packets, suite=st.sampled_from(SUITES))
def test_any_rtp_packet_survives_protect_and_unprotect(packet: RtpPacket,
                                                       suite: CryptoSuite) -> None:
    sender, receiver = pair(suite)
    assert receiver.unprotect(sender.protect(packet.encode())) == packet.encode()


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=80))
def test_rtp_garbage_decodes_or_raises_the_codec_error(data: bytes) -> None:
    with contextlib.suppress(MalformedPacket):
        RtpPacket.decode(data)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=80))
def test_srtp_garbage_raises_only_typed_errors(data: bytes) -> None:
    with pytest.raises((MalformedPacket, MacFailure)):
        SrtpReceiver(MTK).unprotect(data)


@settings(max_examples=100, deadline=None)
@given(packet=rtp_packets, cut=st.integers(0, 200))
def test_an_srtp_packet_cut_into_its_header_is_a_codec_error(packet: RtpPacket,
                                                            cut: int) -> None:
    protected = SrtpSender(MTK).protect(packet.encode())
    header = len(packet.encode()) - len(packet.payload) - packet.padding
    truncated = protected[:min(cut, header + 9)]
    with pytest.raises(MalformedPacket):
        SrtpReceiver(MTK).unprotect(truncated)


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=40))
def test_the_sender_refuses_garbage_with_the_codec_error(data: bytes) -> None:
    with contextlib.suppress(MalformedPacket):
        SrtpSender(MTK).protect(data)


@pytest.mark.parametrize(("data", "message"), [
    (b"\x80\x00" + bytes(9), "needs 12 octets, 11"),
    (b"\x40" + bytes(11), "version 1"),
    (b"\x83" + bytes(11) + bytes(8), "CSRC count 3 needs 24 octets, 20"),
    (b"\x90" + bytes(11) + b"\x00\x00", "header extension at offset 12 needs 4 octets, 2"),
    (b"\x90" + bytes(11) + b"\x00\x00\x00\x02" + bytes(4), "ends at offset 24, 20"),
    (b"\xa0" + bytes(11), "P bit set"),
    (b"\xa0" + bytes(11) + b"\x00\x00\x05", "padding count 5 at offset 14"),
    (b"\xa0" + bytes(11) + b"\x00", "padding count 0"),
])
def test_malformed_rtp_headers_are_named(data: bytes, message: str) -> None:
    with pytest.raises(MalformedPacket, match=message):
        RtpPacket.decode(data)


def test_malformed_packet_is_a_codec_error() -> None:
    assert issubclass(MalformedPacket, CodecError)
    assert issubclass(ReplayedPacket, AuthError)
    assert issubclass(UnknownKey, AuthError)


def test_srtp_shorter_than_header_and_tag_is_a_codec_error() -> None:
    with pytest.raises(MalformedPacket, match="21 octets < 22"):
        SrtpReceiver(MTK).unprotect(rtp(1, b"")[:12] + bytes(9))


@pytest.mark.parametrize("fields", [
    {"payload_type": 128}, {"sequence_number": 65536}, {"timestamp": -1}, {"ssrc": 1 << 32},
    {"padding": 256}, {"csrcs": tuple(range(16))},
])
def test_out_of_range_rtp_fields_are_refused(fields: dict[str, Any]) -> None:
    base: dict[str, Any] = {"payload_type": 0, "sequence_number": 0, "timestamp": 0,
                            "ssrc": 0}
    with pytest.raises(InvalidInput):
        RtpPacket(**{**base, **fields})


def test_extension_data_must_be_whole_words() -> None:
    with pytest.raises(InvalidInput):
        RtpExtension(1, b"abc")

"""AKA: vectors, the USIM's SQN array, sync failure and resynchronisation (TS 33.102)."""

from __future__ import annotations

import hmac
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gba.crypto import aka
from gba.crypto.milenage import Milenage
from gba.errors import AmfError, InvalidInput, MacFailure
from vectors import ts35208_set

K, OPC = ts35208_set(1)  # TS 35.208 test set 1
GBA_AMF = b"\x00\x00"

keys = st.binary(min_size=16, max_size=16)
seqs = st.integers(min_value=0, max_value=aka.SEQ_MAX - 1000)
inds = st.integers(min_value=0, max_value=aka.IND_COUNT - 1)


def test_autn_is_sqn_xor_ak_then_amf_then_mac_a() -> None:
    m = Milenage(K, OPC)
    rand = os.urandom(16)
    v = aka.generate_vector(m, 0x123456789ABC, b"\x80\x00", rand=rand)
    out = m.compute(rand, (0x123456789ABC).to_bytes(6, "big"), b"\x80\x00")
    concealed = (0x123456789ABC ^ int.from_bytes(out.ak, "big")).to_bytes(6, "big")
    assert v.autn == concealed + b"\x80\x00" + out.mac_a
    assert (v.xres, v.ck, v.ik) == (out.res, out.ck, out.ik)


def test_next_sqn_steps_seq_not_sqn() -> None:
    sqn = aka.join_sqn(7, 3)
    assert aka.split_sqn(aka.next_sqn(sqn, ind=5)) == (8, 5)
    assert aka.next_sqn(sqn) - aka.join_sqn(7, 0) == aka.IND_COUNT


@settings(max_examples=60, deadline=None)
@given(k=keys, opc=keys, seq=seqs, ind=inds, rand=st.binary(min_size=16, max_size=16))
def test_vector_accepted_once_replay_resyncs_hss(
    k: bytes, opc: bytes, seq: int, ind: int, rand: bytes
) -> None:
    hss = Milenage(k, opc)
    usim = aka.Usim(k, opc, aka.SqnArray(seq=[seq] * aka.IND_COUNT))
    sqn = aka.join_sqn(seq + 1, ind)
    v = aka.generate_vector(hss, sqn, GBA_AMF, rand=rand)

    first = usim.authenticate(v.rand, v.autn)
    assert isinstance(first, aka.AkaSuccess)
    assert hmac.compare_digest(first.res, v.xres)
    assert (first.ck, first.ik, first.sqn) == (v.ck, v.ik, sqn)

    replay = usim.authenticate(v.rand, v.autn)
    assert isinstance(replay, aka.AkaSyncFailure)
    assert len(replay.auts) == 14

    sqn_ms = aka.resync_sqn(hss, v.rand, replay.auts)
    assert sqn_ms == sqn
    fresh = aka.generate_vector(hss, aka.next_sqn(sqn_ms, ind), GBA_AMF)
    assert isinstance(usim.authenticate(fresh.rand, fresh.autn), aka.AkaSuccess)


def test_hss_behind_usim_is_brought_in_step_by_auts() -> None:
    hss = Milenage(K, OPC)
    usim = aka.Usim(K, OPC)
    ahead = aka.generate_vector(hss, aka.join_sqn(500, 0), GBA_AMF)
    assert isinstance(usim.authenticate(ahead.rand, ahead.autn), aka.AkaSuccess)
    stale = aka.generate_vector(hss, aka.join_sqn(10, 0), GBA_AMF)
    result = usim.authenticate(stale.rand, stale.autn)
    assert isinstance(result, aka.AkaSyncFailure)
    sqn_ms = aka.resync_sqn(hss, stale.rand, result.auts)
    assert aka.split_sqn(sqn_ms) == (500, 0)
    nxt = aka.generate_vector(hss, aka.next_sqn(sqn_ms, ind=9), GBA_AMF)
    assert isinstance(usim.authenticate(nxt.rand, nxt.autn), aka.AkaSuccess)


def test_ind_slots_accept_out_of_order_vectors() -> None:
    hss = Milenage(K, OPC)
    usim = aka.Usim(K, OPC)
    older = aka.generate_vector(hss, aka.join_sqn(20, 1), GBA_AMF)
    newer = aka.generate_vector(hss, aka.join_sqn(21, 2), GBA_AMF)
    assert isinstance(usim.authenticate(newer.rand, newer.autn), aka.AkaSuccess)
    assert isinstance(usim.authenticate(older.rand, older.autn), aka.AkaSuccess)
    same_slot_older = aka.generate_vector(hss, aka.join_sqn(19, 2), GBA_AMF)
    assert isinstance(usim.authenticate(same_slot_older.rand, same_slot_older.autn),
                      aka.AkaSyncFailure)


@settings(max_examples=30, deadline=None)
@given(k=keys, opc=keys, seq=st.integers(min_value=aka.DEFAULT_DELTA + 1, max_value=aka.SEQ_MAX))
def test_hss_far_ahead_is_pulled_back_by_auts(k: bytes, opc: bytes, seq: int) -> None:
    hss = Milenage(k, opc)
    usim = aka.Usim(k, opc)
    v = aka.generate_vector(hss, aka.join_sqn(seq, 0), GBA_AMF)
    result = usim.authenticate(v.rand, v.autn)
    assert isinstance(result, aka.AkaSyncFailure)
    sqn_ms = aka.resync_sqn(hss, v.rand, result.auts)
    assert sqn_ms == result.sqn_ms == 0
    fresh = aka.generate_vector(hss, aka.next_sqn(sqn_ms), GBA_AMF)
    assert isinstance(usim.authenticate(fresh.rand, fresh.autn), aka.AkaSuccess)


def test_sqn_beyond_freshness_limit_is_rejected() -> None:
    hss = Milenage(K, OPC)
    usim = aka.Usim(K, OPC, aka.SqnArray(delta=100))
    far = aka.generate_vector(hss, aka.join_sqn(101, 0), GBA_AMF)
    assert isinstance(usim.authenticate(far.rand, far.autn), aka.AkaSyncFailure)
    near = aka.generate_vector(hss, aka.join_sqn(100, 0), GBA_AMF)
    assert isinstance(usim.authenticate(near.rand, near.autn), aka.AkaSuccess)


def test_wrong_mac_a_raises_mac_failure() -> None:
    v = aka.generate_vector(Milenage(K, OPC), aka.join_sqn(5, 0), GBA_AMF)
    tampered = v.autn[:15] + bytes([v.autn[15] ^ 1])
    with pytest.raises(MacFailure):
        aka.Usim(K, OPC).authenticate(v.rand, tampered)


def test_other_key_raises_mac_failure() -> None:
    v = aka.generate_vector(Milenage(K, OPC), aka.join_sqn(5, 0), GBA_AMF)
    with pytest.raises(MacFailure):
        aka.Usim(bytes(16), OPC).authenticate(v.rand, v.autn)


def test_forged_auts_raises_mac_failure() -> None:
    hss = Milenage(K, OPC)
    v = aka.generate_vector(hss, aka.join_sqn(5, 0), GBA_AMF)
    usim = aka.Usim(K, OPC)
    usim.authenticate(v.rand, v.autn)
    replay = usim.authenticate(v.rand, v.autn)
    assert isinstance(replay, aka.AkaSyncFailure)
    forged = replay.auts[:13] + bytes([replay.auts[13] ^ 0x80])
    with pytest.raises(MacFailure):
        aka.resync_sqn(hss, v.rand, forged)


@pytest.mark.parametrize(("amf", "wanted"), [(b"\x00\x00", True), (b"\x80\x00", False)])
def test_separation_bit_mismatch_raises(amf: bytes, wanted: bool) -> None:
    v = aka.generate_vector(Milenage(K, OPC), aka.join_sqn(5, 0), amf)
    with pytest.raises(AmfError):
        aka.Usim(K, OPC, require_separation_bit=wanted).authenticate(v.rand, v.autn)


def test_separation_bit_match_is_accepted() -> None:
    v = aka.generate_vector(Milenage(K, OPC), aka.join_sqn(5, 0), b"\x80\x00")
    usim = aka.Usim(K, OPC, require_separation_bit=True)
    assert isinstance(usim.authenticate(v.rand, v.autn), aka.AkaSuccess)


@pytest.mark.parametrize("length", [0, 8, 15, 17])
def test_truncated_autn_raises_invalid_input(length: int) -> None:
    with pytest.raises(InvalidInput, match="AUTN"):
        aka.Usim(K, OPC).authenticate(bytes(16), bytes(length))


@pytest.mark.parametrize("length", [0, 13, 15])
def test_truncated_auts_raises_invalid_input(length: int) -> None:
    with pytest.raises(InvalidInput, match="AUTS"):
        aka.resync_sqn(Milenage(K, OPC), bytes(16), bytes(length))


def test_out_of_range_sqn_and_ind_raise() -> None:
    with pytest.raises(InvalidInput):
        aka.generate_vector(Milenage(K, OPC), 1 << 48, GBA_AMF)
    with pytest.raises(InvalidInput):
        aka.join_sqn(1, 32)


@pytest.mark.parametrize(
    ("seq_he", "seq_ms", "kept"),
    [(10, 10, True), (10, 9, True), (10, 11, False), (10_000, 10, True), (2**28 + 11, 10, False)],
)
def test_sqn_after_resync_keeps_or_resets_sqn_he(seq_he: int, seq_ms: int, kept: bool) -> None:
    sqn_he, sqn_ms = aka.join_sqn(seq_he, 3), aka.join_sqn(seq_ms, 0)
    assert aka.sqn_after_resync(sqn_he, sqn_ms) == (sqn_he if kept else sqn_ms)


def test_hss_far_ahead_of_a_strict_usim_recovers_after_one_resync() -> None:
    hss = Milenage(K, OPC)
    usim = aka.Usim(K, OPC, aka.SqnArray(seq=[10] * aka.IND_COUNT, delta=100))
    sqn_he = aka.join_sqn(1000, 0)
    v = aka.generate_vector(hss, aka.next_sqn(sqn_he), GBA_AMF)
    result = usim.authenticate(v.rand, v.autn)
    assert isinstance(result, aka.AkaSyncFailure)
    sqn_he = aka.sqn_after_resync(sqn_he, aka.resync_sqn(hss, v.rand, result.auts), delta=100)
    fresh = aka.generate_vector(hss, aka.next_sqn(sqn_he), GBA_AMF)
    assert isinstance(usim.authenticate(fresh.rand, fresh.autn), aka.AkaSuccess)

"""Setting up a push SA at the UE (gba.protocols.push_ue, push_info; seed 002 steps 204,
304, 406, 604): from a GPI or a bootstrap, with the NAF authenticated, and every failure
leaving the UE's store as it was."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gba.errors import AuthError, CodecError, MacFailure
from gba.protocols import gpi, push_info, push_keys, push_sa, push_ue
from gba.protocols.push_sa import IdKind, SaId
from gba.protocols.zh import VectorAnswer, VectorRequest
from gba_memory import IMPI, MemoryHss, usim

pytestmark = pytest.mark.push

NOW = datetime(2030, 1, 1, tzinfo=UTC)
FQDN = "push.naf.example"
NAF_ID = FQDN.encode() + b"\x01\x00\x00\x00\x02"
PTID = b"ptid-1@push.naf.example"
INFO = push_info.SaInfo(SaId(IdKind.SECURE, "sa-1"), NAF_ID, key_selection="gpi")


def bsf_gpi(hss: MemoryHss, naf_id: bytes = NAF_ID) -> tuple[bytes, bytes]:
    """(GPI octets, Ks_NAF) as the BSF answers them over Zpn."""
    v = hss(VectorRequest(IMPI))
    assert isinstance(v, VectorAnswer)
    keys = push_keys.bsf_push_keys(v, naf_id)
    g = gpi.Gpi(PTID, v.rand, v.autn, naf_id, gpi.UiccMe.GBA_ME, NOW + timedelta(hours=1))
    return gpi.encode_gpi(gpi.seal_ptid(g, PTID, keys.ks_naf)), keys.ks_naf


def test_info_round_trips_and_psk_tls_is_code_001() -> None:
    info = push_info.SaInfo(SaId(IdKind.BTID, "b@bsf"), NAF_ID, tid="b@bsf",
                            key_derivation="hmac-sha256",
                            security_protocol=push_info.PSK_TLS)
    wire = push_info.encode(info)
    assert push_info.decode(wire) == info
    assert bytes((push_info.Tag.SECURITY_PROTOCOL, 0, 1, 0b001)) in wire


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_info_is_a_codec_error(data: bytes) -> None:
    with contextlib.suppress(CodecError):  # any other exception fails the test
        push_info.decode(data)


def test_gpi_sets_up_the_sa_with_the_bsf_key() -> None:
    octets, ks_naf = bsf_gpi(MemoryHss())
    sa = push_ue.sa_from_gpi(usim(), IMPI, FQDN, octets, push_info.sign(INFO, ks_naf), NOW)
    assert sa.key == ks_naf
    assert sa.tid == PTID.decode()
    assert sa.sa_id == INFO.sa_id


def test_wrong_naf_mac_aborts() -> None:
    octets, _ = bsf_gpi(MemoryHss())
    with pytest.raises(MacFailure):
        push_ue.sa_from_gpi(usim(), IMPI, FQDN, octets, push_info.sign(INFO, bytes(32)), NOW)


def test_gpi_for_another_naf_is_refused() -> None:
    octets, ks_naf = bsf_gpi(MemoryHss(), b"other.example\x01\x00\x00\x00\x02")
    with pytest.raises(push_ue.WrongNaf):
        push_ue.sa_from_gpi(usim(), IMPI, FQDN, octets, push_info.sign(INFO, ks_naf), NOW)


def test_bad_autn_is_refused() -> None:
    octets, ks_naf = bsf_gpi(MemoryHss())
    g = gpi.decode_gpi(octets)
    bad = gpi.encode_gpi(gpi.Gpi(g.ptid, g.rand, g.autn[:-1] + bytes([g.autn[-1] ^ 1]),
                                 g.naf_id, g.mode, g.key_lifetime))
    with pytest.raises(MacFailure):
        push_ue.sa_from_gpi(usim(), IMPI, FQDN, bad, push_info.sign(INFO, ks_naf), NOW)


def test_replayed_gpi_is_refused() -> None:
    octets, ks_naf = bsf_gpi(MemoryHss())
    card = usim()
    push_ue.sa_from_gpi(card, IMPI, FQDN, octets, push_info.sign(INFO, ks_naf), NOW)
    with pytest.raises(push_keys.StaleGpi):
        push_ue.sa_from_gpi(card, IMPI, FQDN, octets, push_info.sign(INFO, ks_naf), NOW)


def test_bootstrap_sa_checks_the_naf_unless_skipped() -> None:
    ks_naf, btid = bytes(range(32)), "b@bsf.example"
    info = push_info.SaInfo(SaId(IdKind.BTID, btid), NAF_ID, tid=btid)
    wrong = push_info.sign(info, bytes(32))
    with pytest.raises(MacFailure):
        push_ue.sa_from_bootstrap(ks_naf, btid, NOW + timedelta(hours=1), FQDN, wrong, NOW)
    sa = push_ue.sa_from_bootstrap(ks_naf, btid, NOW + timedelta(hours=1), FQDN, wrong, NOW,
                                   skip_naf_auth=True)
    assert sa.key == ks_naf


def test_bootstrap_sa_for_another_btid_is_refused() -> None:
    ks_naf = bytes(range(32))
    info = push_info.SaInfo(SaId(IdKind.BTID, "x"), NAF_ID, tid="other@bsf")
    with pytest.raises(AuthError):
        push_ue.sa_from_bootstrap(ks_naf, "b@bsf", NOW + timedelta(hours=1), FQDN,
                                  push_info.sign(info, ks_naf), NOW)


def test_negotiated_key_is_derived() -> None:
    ks_naf, btid = bytes(range(32)), "b@bsf"
    info = push_info.SaInfo(SaId(IdKind.PSEUDONYM, "p"), NAF_ID, key_derivation="hmac-sha256")
    sa = push_ue.sa_from_bootstrap(ks_naf, btid, NOW + timedelta(hours=1), FQDN,
                                   push_info.sign(info, ks_naf), NOW)
    assert sa.key == push_sa.derived_key(ks_naf, info.sa_id)


def test_store_finds_by_identifier_and_forgets_expired() -> None:
    store = push_ue.SaStore()
    sa = push_sa.PushSa(SaId(IdKind.TEMPORARY, "t"), NAF_ID, "b", bytes(32),
                        NOW + timedelta(minutes=5))
    store.put(sa)
    assert store.find(SaId(IdKind.TEMPORARY, "t"), NOW) == sa
    assert store.find(SaId(IdKind.SESSION, "t"), NOW) is None
    assert store.find(sa.sa_id, NOW + timedelta(minutes=5)) is None


def test_store_open_keeps_the_window_and_failures_change_nothing() -> None:
    store = push_ue.SaStore()
    sa = push_sa.PushSa(SaId(IdKind.SESSION, "7"), NAF_ID, "b", bytes(range(32)),
                        NOW + timedelta(hours=1))
    store.put(sa)
    sender, wire = sa.seal(b"push", NOW)
    _, second = sender.seal(b"second", NOW)
    assert store.open(sa.sa_id, wire, NOW) == b"push"
    with pytest.raises(push_sa.ReplayedPush):
        store.open(sa.sa_id, wire, NOW)
    with pytest.raises(MacFailure):
        store.open(sa.sa_id, second[:-1] + bytes([second[-1] ^ 1]), NOW)
    assert store.open(sa.sa_id, second, NOW) == b"second"  # the failure changed nothing

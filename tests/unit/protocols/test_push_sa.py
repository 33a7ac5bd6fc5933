"""The push security association (gba.protocols.push_sa; docs/push.md §1): sealed pushes,
replay window, NAF and UE MACs, the derived key, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gba.errors import CodecError, GbaError, MacFailure
from gba.protocols import push_sa
from gba.protocols.push_sa import IdKind, PushSa, SaId

pytestmark = pytest.mark.push

NOW = datetime(2030, 1, 1, tzinfo=UTC)
KEY = bytes(range(32))
SA = PushSa(SaId(IdKind.SESSION, "4711"), b"naf.example\x01\x00\x00\x00\x02",
            "AAECAwQFBgcICQoLDA0ODw==@bsf.example", KEY, NOW + timedelta(hours=1))


def test_a_sealed_push_opens_on_the_other_side() -> None:
    sender, wire = SA.seal(b"configure: apn=lab", NOW)
    receiver, payload = SA.open(wire, NOW)
    assert payload == b"configure: apn=lab"
    assert sender.send_seq == 1
    assert receiver.highest == 1


def test_the_payload_is_not_on_the_wire() -> None:
    _, wire = SA.seal(b"secret configuration", NOW)
    assert b"secret configuration" not in wire


@pytest.mark.parametrize("position", [0, 7, 8, 20, -1])
def test_a_tampered_push_fails_and_leaves_the_sa(position: int) -> None:
    _, wire = SA.seal(b"push", NOW)
    bad = bytearray(wire)
    bad[position] ^= 1
    with pytest.raises((MacFailure, push_sa.ReplayedPush)):
        SA.open(bytes(bad), NOW)


def test_a_replayed_push_is_refused() -> None:
    _, wire = SA.seal(b"push", NOW)
    after, _ = SA.open(wire, NOW)
    with pytest.raises(push_sa.ReplayedPush):
        after.open(wire, NOW)


def test_out_of_order_within_the_window_is_accepted_once() -> None:
    sender, pushes = SA, []
    for n in range(5):
        sender, wire = sender.seal(bytes([n]), NOW)
        pushes.append(wire)
    receiver = SA
    for wire in (pushes[4], pushes[0], pushes[2]):
        receiver, _ = receiver.open(wire, NOW)
    with pytest.raises(push_sa.ReplayedPush):
        receiver.open(pushes[0], NOW)


def test_behind_the_window_is_refused() -> None:
    sender, first = SA.seal(b"old", NOW)
    receiver = SA
    for _ in range(push_sa.WINDOW):
        sender, wire = sender.seal(b"new", NOW)
        receiver, _ = receiver.open(wire, NOW)
    with pytest.raises(push_sa.ReplayedPush):
        receiver.open(first, NOW)


def test_another_sa_key_cannot_open_it() -> None:
    _, wire = SA.seal(b"push", NOW)
    other = PushSa(SA.sa_id, SA.naf_id, SA.tid, bytes(32), SA.expires)
    with pytest.raises(MacFailure):
        other.open(wire, NOW)


def test_the_sa_identifier_is_bound() -> None:
    _, wire = SA.seal(b"push", NOW)
    renamed = PushSa(SaId(IdKind.SECURE, "4711"), SA.naf_id, SA.tid, KEY, SA.expires)
    with pytest.raises(MacFailure):
        renamed.open(wire, NOW)


def test_an_expired_sa_is_not_used() -> None:
    with pytest.raises(push_sa.ExpiredSa):
        SA.seal(b"push", SA.expires)
    assert not SA.usable(SA.expires)


def test_naf_and_ue_macs_verify_only_under_the_key() -> None:
    info = b"sa-id=4711;naf=naf.example"
    push_sa.verify(push_sa.naf_mac(KEY, info), push_sa.naf_mac(KEY, info))
    with pytest.raises(MacFailure):
        push_sa.verify(push_sa.naf_mac(KEY, info), push_sa.naf_mac(bytes(32), info))
    with pytest.raises(MacFailure):
        push_sa.verify(push_sa.ue_mac(KEY, 1, SA.sa_id), push_sa.ue_mac(KEY, 2, SA.sa_id))


def test_derived_key_differs_per_sa_and_from_ks_naf() -> None:
    a = push_sa.derived_key(KEY, SaId(IdKind.SECURE, "a"))
    b = push_sa.derived_key(KEY, SaId(IdKind.SECURE, "b"))
    assert len(a) == 32
    assert len({a, b, KEY}) == 3


def test_repr_shows_no_key() -> None:
    assert KEY.hex() not in repr(SA)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_is_a_typed_error(data: bytes) -> None:
    with pytest.raises(GbaError):
        SA.open(data, NOW)


def test_short_input_is_a_codec_error() -> None:
    with pytest.raises(CodecError):
        SA.open(b"\x00" * 10, NOW)

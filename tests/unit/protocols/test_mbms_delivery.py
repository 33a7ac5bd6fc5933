"""MBMS key and content delivery state (gba.protocols.mbms_delivery; TS 33.246 §6.3-§6.6):
BM-SC to UE, MUK -> MSK -> MTK -> content, and every way it must fail closed."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from gba.errors import AuthError, MacFailure
from gba.protocols import mbms, srtp
from gba.protocols.mbms_delivery import BmscDelivery, ServiceKeys, UeMbms

pytestmark = pytest.mark.roaming

BMSC = "bmsc.mnc002.mcc001.3gppnetwork.org"
BTID = "AAECAwQFBgcICQoLDA0ODw==@bsf.mnc001.mcc001.pub.3gppnetwork.org"
MUK = bytes(range(32))
TEXTS = tuple(f"MBMS content {n}".encode() for n in range(1, 6))


def counting_rng(start: int = 1) -> Callable[[int], bytes]:
    counter = itertools.count(start)

    def rng(n: int) -> bytes:
        return bytes((next(counter) + i) % 256 for i in range(n))

    return rng


def bmsc(start: int = 1) -> BmscDelivery:
    rng = counting_rng(start)
    return BmscDelivery(BMSC, ServiceKeys.fresh("lab-tv", 1, rng), rng)


def test_registered_ue_decrypts_the_broadcast() -> None:
    server = bmsc()
    ue = UeMbms(MUK, (BMSC, BTID))
    delivery = ue.msk_message(server.msk_message(MUK, BTID))
    assert delivery.msk_id == server.keys.msk_id
    mtk_message, packets = server.broadcast(TEXTS)
    ue.mtk_message(mtk_message)
    assert [ue.media(p) for p in packets] == list(TEXTS)


def test_content_is_encrypted_on_the_wire() -> None:
    _, packets = bmsc().broadcast(TEXTS)
    assert all(text not in packet for text, packet in zip(TEXTS, packets, strict=True))


def test_every_receiver_gets_the_same_octets() -> None:
    server = bmsc()
    assert server.broadcast(TEXTS) == server.broadcast(TEXTS)


def test_msk_message_under_another_muk_is_discarded() -> None:
    server = bmsc()
    ue = UeMbms(bytes(32), (BMSC, BTID))
    with pytest.raises(MacFailure):
        ue.msk_message(server.msk_message(MUK, BTID))
    assert ue.msks == {}


def test_altered_msk_message_is_discarded() -> None:
    server = bmsc()
    message = bytearray(server.msk_message(MUK, BTID))
    message[-1] ^= 1
    ue = UeMbms(MUK, (BMSC, BTID))
    with pytest.raises(MacFailure):
        ue.msk_message(bytes(message))
    assert ue.msks == {}


def test_replayed_msk_message_is_refused() -> None:
    server = bmsc()
    first = server.msk_message(MUK, BTID)
    ue = UeMbms(MUK, (BMSC, BTID))
    ue.msk_message(first)
    ue.msk_message(server.msk_message(MUK, BTID))  # counter 2
    with pytest.raises(mbms.ReplayError):
        ue.msk_message(first)


def test_msk_message_for_another_muk_id_is_refused() -> None:
    server = bmsc()
    ue = UeMbms(MUK, (BMSC, "other@bsf.example"))
    with pytest.raises(AuthError):
        ue.msk_message(server.msk_message(MUK, BTID))
    assert ue.msks == {}


def test_ue_without_msk_cannot_open_the_mtk_nor_the_content() -> None:
    server = bmsc()
    mtk_message, packets = server.broadcast(TEXTS)
    ue = UeMbms(MUK, (BMSC, BTID))
    with pytest.raises(mbms.UnknownMsk):
        ue.mtk_message(mtk_message)
    with pytest.raises(srtp.UnknownKey):
        ue.media(packets[0])


def test_another_msk_of_the_same_id_does_not_open_this_broadcast() -> None:
    other, server = bmsc(1), bmsc(100)
    assert other.keys.msk_id == server.keys.msk_id
    ue = UeMbms(MUK, (BMSC, BTID))
    ue.msk_message(other.msk_message(MUK, BTID))
    with pytest.raises(MacFailure):
        ue.mtk_message(server.broadcast(TEXTS)[0])


def test_repr_shows_no_key() -> None:
    keys = bmsc().keys
    assert keys.msk.hex() not in repr(keys)
    assert MUK.hex() not in repr(UeMbms(MUK, (BMSC, BTID)))

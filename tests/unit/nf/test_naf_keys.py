"""The NAF's Zn key cache (gba.nf.naf.NafKeys, TS 33.220 §4.5.3), with a fake BSF."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from gba.config import DiameterNodeConfig
from gba.crypto import ua_protocols
from gba.nf.common import peer_identity
from gba.nf.naf import KeyUnavailable, NafKeys, zn_fetcher
from gba.protocols import guss, zn
from gba.protocols.diameter import Message
from gba.store.base import NafStore
from gba.store.factory import open_naf_store
from gba.transport.diameter import DiameterNode

BTID = "AAECAwQFBgcICQoLDA0ODw==@bsf.example.org"
NAF_ID = b"naf.example.org" + ua_protocols.HTTP_DIGEST
IMPI = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
NOW = datetime(2030, 3, 4, 5, 6, 7, tzinfo=UTC)
NAF_IDENTITY = peer_identity(DiameterNodeConfig("naf.example.org", "example.org"))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class FakeBsf:
    """A FetchKey that answers from a queue and records what it was asked."""

    def __init__(self, *answers: zn.KeyAnswer | int) -> None:
        self.answers = list(answers)
        self.requests: list[zn.KeyRequest] = []

    async def __call__(self, req: zn.KeyRequest) -> zn.KeyAnswer | int:
        self.requests.append(req)
        return self.answers.pop(0)


def answer(key: bytes = b"k" * 32, expiry: datetime = NOW + timedelta(hours=1),
           uss: str | None = None) -> zn.KeyAnswer:
    return zn.KeyAnswer(IMPI, expiry, NOW - timedelta(minutes=1), me_key=key, uss=uss)


@pytest.fixture
async def store() -> AsyncIterator[NafStore]:
    s = open_naf_store("memory:")
    yield s
    await s.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


async def test_first_get_asks_the_bsf_once(store: NafStore, clock: Clock) -> None:
    bsf = FakeBsf(answer())
    key = await NafKeys(store, bsf, clock).get(BTID, NAF_ID)
    assert key is not None
    assert (key.btid, key.naf_id, key.key, key.impi) == (BTID, NAF_ID, b"k" * 32, IMPI)
    assert key.expires == NOW + timedelta(hours=1)
    assert bsf.requests == [zn.KeyRequest(BTID, NAF_ID)]


async def test_first_get_caches_the_key_in_the_store(store: NafStore, clock: Clock) -> None:
    await NafKeys(store, FakeBsf(answer()), clock).get(BTID, NAF_ID)
    cached = await store.get_key(BTID, NAF_ID, NOW)
    assert cached is not None
    assert cached.key == b"k" * 32


async def test_second_get_is_served_from_the_cache(store: NafStore, clock: Clock) -> None:
    bsf = FakeBsf(answer())
    keys = NafKeys(store, bsf, clock)
    first = await keys.get(BTID, NAF_ID)
    clock.now = NOW + timedelta(minutes=59)
    assert await keys.get(BTID, NAF_ID) == first
    assert len(bsf.requests) == 1


async def test_after_expiry_the_bsf_is_asked_again(store: NafStore, clock: Clock) -> None:
    bsf = FakeBsf(answer(b"1" * 32), answer(b"2" * 32, expiry=NOW + timedelta(hours=3)))
    keys = NafKeys(store, bsf, clock)
    await keys.get(BTID, NAF_ID)
    clock.now = NOW + timedelta(hours=1)
    renewed = await keys.get(BTID, NAF_ID)
    assert renewed is not None
    assert renewed.key == b"2" * 32
    assert len(bsf.requests) == 2


async def test_keys_are_cached_per_naf_id(store: NafStore, clock: Clock) -> None:
    other = b"naf.example.org" + ua_protocols.DEFAULT
    bsf = FakeBsf(answer(b"1" * 32), answer(b"2" * 32))
    keys = NafKeys(store, bsf, clock)
    await keys.get(BTID, NAF_ID)
    second = await keys.get(BTID, other)
    assert second is not None
    assert second.key == b"2" * 32
    assert [r.naf_id for r in bsf.requests] == [NAF_ID, other]


async def test_unknown_btid_at_the_bsf_gives_none(store: NafStore, clock: Clock) -> None:
    assert await NafKeys(store, FakeBsf(5403), clock).get(BTID, NAF_ID) is None


async def test_unknown_btid_is_not_cached(store: NafStore, clock: Clock) -> None:
    bsf = FakeBsf(5403, answer())
    keys = NafKeys(store, bsf, clock)
    await keys.get(BTID, NAF_ID)
    assert await keys.get(BTID, NAF_ID) is not None
    assert len(bsf.requests) == 2


@pytest.mark.parametrize("code", [5402, 3002, 3004, 5012, 4001])
async def test_other_refusals_raise_key_unavailable_with_the_result_code(
        store: NafStore, clock: Clock, code: int) -> None:
    # the Digest machine decides 403 or 503 by the code (TS 29.109 §6.2.2), not the text
    with pytest.raises(KeyUnavailable) as raised:
        await NafKeys(store, FakeBsf(code), clock).get(BTID, NAF_ID)
    assert raised.value.result_code == code


@pytest.mark.parametrize("code", [5403, 3003])
async def test_unknown_btid_or_unserved_realm_is_none_not_an_error(
        store: NafStore, clock: Clock, code: int) -> None:
    # 5403: bootstrap again (TS 29.109 §6.2.2.3); 3003: the B-TID's realm is not reached
    assert await NafKeys(store, FakeBsf(code), clock).get(BTID, NAF_ID) is None


async def test_answer_already_expired_gives_none(store: NafStore, clock: Clock) -> None:
    keys = NafKeys(store, FakeBsf(answer(expiry=NOW)), clock)
    assert await keys.get(BTID, NAF_ID) is None
    assert await store.get_key(BTID, NAF_ID, NOW - timedelta(hours=1)) is None


async def test_answer_without_me_key_gives_none(store: NafStore, clock: Clock) -> None:
    only_uicc = zn.KeyAnswer(IMPI, NOW + timedelta(hours=1), NOW, uicc_key=b"u" * 32)
    assert await NafKeys(store, FakeBsf(only_uicc), clock).get(BTID, NAF_ID) is None


async def test_configured_service_id_is_sent_to_the_bsf(store: NafStore, clock: Clock) -> None:
    bsf = FakeBsf(answer())
    await NafKeys(store, bsf, clock, gaa_service_id="sip").get(BTID, NAF_ID)
    assert bsf.requests[0].gaa_service_ids == (b"sip",)


async def test_uss_from_the_bsf_is_kept_with_the_key(store: NafStore, clock: Clock) -> None:
    uss = zn.uss_list((guss.Uss("1", "sip"),))
    key = await NafKeys(store, FakeBsf(answer(uss=uss)), clock, "sip").get(BTID, NAF_ID)
    assert key is not None
    assert key.uss is not None
    assert key.uss == uss  # the ussList document as the BSF sent it (TS 29.109 §6.3.1.1)
    assert guss.decode_uss_list(key.uss) == (guss.Uss("1", "sip"),)


async def test_gba_u_key_material_is_cached_with_the_key(store: NafStore, clock: Clock) -> None:
    gba_u = zn.KeyAnswer(IMPI, NOW + timedelta(hours=1), NOW, me_key=b"m" * 32,
                         uicc_key=b"u" * 32)
    await NafKeys(store, FakeBsf(gba_u), clock).get(BTID, NAF_ID)
    cached = await store.get_key(BTID, NAF_ID, NOW)
    assert cached is not None
    assert (cached.key, cached.uicc_key, cached.gba_u) == (b"m" * 32, b"u" * 32, True)


class AnsweringNode:
    """Stands for the NAF's Diameter node: answers every BIR as *bsf* of *realm* would."""

    def __init__(self, realm: str) -> None:
        self.bsf = peer_identity(DiameterNodeConfig(f"bsf.{realm}", realm))
        self.asked: list[Message] = []

    async def request(self, message: Message) -> Message:
        self.asked.append(message)
        return zn.build_bia(message, self.bsf, answer())


HOME = "mnc002.mcc001.3gppnetwork.org"
ROAMER_BTID = "AAECAwQFBgcICQoLDA0ODw==@bsf.mnc002.mcc001.pub.3gppnetwork.org"


async def test_zn_goes_to_the_home_realm_of_the_btid() -> None:
    node = AnsweringNode(HOME)
    fetch = zn_fetcher(cast(DiameterNode, node), NAF_IDENTITY, "example.org",
                       lambda: "naf;1;1")
    got = await fetch(zn.KeyRequest(ROAMER_BTID, NAF_ID))
    assert isinstance(got, zn.KeyAnswer)
    destination = node.asked[0].find(283)
    assert destination is not None
    assert destination.as_str() == HOME


async def test_a_key_from_another_realm_than_the_btids_is_refused() -> None:
    fetch = zn_fetcher(cast(DiameterNode, AnsweringNode("mnc009.mcc001.3gppnetwork.org")),
                       NAF_IDENTITY, "example.org", lambda: "naf;1;1")
    assert await fetch(zn.KeyRequest(ROAMER_BTID, NAF_ID)) == 5012


async def test_a_btid_of_a_realm_no_one_serves_is_an_unknown_btid(
        store: NafStore, clock: Clock) -> None:
    assert await NafKeys(store, FakeBsf(3003), clock).get(BTID, NAF_ID) is None

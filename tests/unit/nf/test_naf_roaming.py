"""A visited server's key handling (gba.nf.naf.NafKeys with Roaming; docs/roaming.md §2,
§3): Ks turned into Ks_NAF and not kept, one charging record per key, and answers without
the user's identity or key leave no association."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from gba.crypto import kdf, ua_protocols
from gba.errors import CodecError
from gba.nf.naf import FetchKey, KeyUnavailable, NafKeys, Roaming
from gba.protocols import roaming, zn
from gba.store.base import NafStore
from gba.store.factory import open_naf_store

pytestmark = pytest.mark.roaming

NOW = datetime(2030, 1, 1, tzinfo=UTC)
RAND = bytes(range(16))
KS = bytes(range(32))
IMPI = "user@ims.mnc001.mcc001.3gppnetwork.org"
BTID = kdf.btid(RAND, "bsf.mnc001.mcc001.pub.3gppnetwork.org")
NAF_ID = b"bmsc.mnc002.mcc001.3gppnetwork.org" + ua_protocols.MBMS
ROAMING = Roaming("A", "bmsc.mnc002.mcc001.3gppnetwork.org")


@pytest.fixture
async def store() -> AsyncIterator[NafStore]:
    s = open_naf_store("memory:")
    yield s
    await s.close()


def answering(answer: zn.KeyAnswer | int | Exception) -> FetchKey:
    async def fetch(_req: zn.KeyRequest) -> zn.KeyAnswer | int:
        if isinstance(answer, Exception):
            raise answer
        return answer
    return fetch


def user(key: bytes, kind: roaming.KeyKind = roaming.KeyKind.KS_NAF) -> zn.KeyAnswer:
    return zn.KeyAnswer(IMPI, NOW + timedelta(hours=1), NOW, key, key_kind=kind)


async def nothing_kept(store: NafStore) -> bool:
    return (await store.get_key(BTID, NAF_ID, NOW) is None
            and await store.charging_records() == [])


async def test_ks_is_turned_into_ks_naf_and_not_kept(store: NafStore) -> None:
    keys = NafKeys(store, answering(user(KS, roaming.KeyKind.KS)), lambda: NOW,
                   roaming=ROAMING)
    key = await keys.get(BTID, NAF_ID)
    assert key is not None
    assert key.key == kdf.ks_naf(KS, RAND, IMPI, NAF_ID)
    [record] = await store.charging_records()
    assert (record.key_kind, record.user, record.home_realm) == (
        "ks", IMPI, "mnc001.mcc001.3gppnetwork.org")
    cached = await store.get_key(BTID, NAF_ID, NOW)
    assert cached is not None
    assert cached.key != KS


async def test_an_ordinary_naf_refuses_ks(store: NafStore) -> None:
    keys = NafKeys(store, answering(user(KS, roaming.KeyKind.KS)), lambda: NOW)
    with pytest.raises(KeyUnavailable):
        await keys.get(BTID, NAF_ID)
    assert await nothing_kept(store)


async def test_answer_without_identity_or_key_leaves_no_association(store: NafStore
                                                                    ) -> None:
    keys = NafKeys(store, answering(CodecError("BIA lacks User-Name or Key-ExpiryTime")),
                   lambda: NOW, roaming=ROAMING)
    with pytest.raises(CodecError):
        await keys.get(BTID, NAF_ID)
    assert await nothing_kept(store)


async def test_unreachable_home_realm_is_a_refusal_for_a_roaming_server(store: NafStore
                                                                        ) -> None:
    keys = NafKeys(store, answering(3003), lambda: NOW, roaming=ROAMING)
    with pytest.raises(KeyUnavailable) as refused:
        await keys.get(BTID, NAF_ID)
    assert refused.value.result_code == 3003
    assert "mnc001.mcc001" in str(refused.value)
    assert await nothing_kept(store)


async def test_each_key_writes_one_charging_record_and_the_cache_none(store: NafStore
                                                                     ) -> None:
    keys = NafKeys(store, answering(user(bytes(32))), lambda: NOW, roaming=ROAMING)
    await keys.get(BTID, NAF_ID)
    await keys.get(BTID, NAF_ID)  # from the cache
    assert len(await store.charging_records()) == 1
    assert (keys.misses, keys.hits) == (1, 1)

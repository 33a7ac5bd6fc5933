"""MTC groups and devices in the HSS store (seed 004; docs/mtc.md §1): the group key is
the subscription stored under the group id, with one SQN for the group."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gba.errors import InvalidInput, NotFound
from gba.store.hss import MtcDevice, MtcGroup, Subscriber
from gba.store.sqlite.hss import SqliteSubscriberStore

pytestmark = pytest.mark.mtc

GROUP = "meters@mtc.example.org"
KEY = Subscriber(GROUP, bytes(range(16)), bytes(range(16, 32)))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteSubscriberStore]:
    s = SqliteSubscriberStore(tmp_path / "hss.sqlite")
    yield s
    await s.close()


async def test_a_group_and_its_devices_are_stored(store: SqliteSubscriberStore) -> None:
    await store.provision_mtc_group(MtcGroup(GROUP, 3), KEY)
    await store.put_mtc_device(MtcDevice("001010000000002", GROUP, 3))
    await store.put_mtc_device(MtcDevice("001010000000001", GROUP, 1))
    assert await store.get_mtc_group(GROUP) == MtcGroup(GROUP, 3)
    assert await store.get_mtc_device("001010000000001") == MtcDevice("001010000000001",
                                                                      GROUP, 1)
    assert await store.mtc_members(GROUP, 10) == ["001010000000001", "001010000000002"]
    assert await store.mtc_members(GROUP, 1) == ["001010000000001"]
    assert (await store.get_subscriber(GROUP)).k == KEY.k  # the group key is a subscription


async def test_a_new_group_key_keeps_the_group_sqn(store: SqliteSubscriberStore) -> None:
    await store.provision_mtc_group(MtcGroup(GROUP, 1), KEY)
    _, sqn = await store.issue_sqn(GROUP, 0)
    stored = await store.provision_mtc_group(MtcGroup(GROUP, 2),
                                             Subscriber(GROUP, bytes(16), bytes(16)))
    assert stored.sqn == sqn
    assert (await store.get_mtc_group(GROUP)).key_id == 2
    assert (await store.get_subscriber(GROUP)).k == bytes(16)


async def test_unknown_group_and_device(store: SqliteSubscriberStore) -> None:
    with pytest.raises(NotFound):
        await store.get_mtc_group(GROUP)
    with pytest.raises(NotFound):
        await store.get_mtc_device("001010000000001")
    with pytest.raises(NotFound):  # a device needs its group first
        await store.put_mtc_device(MtcDevice("001010000000001", GROUP, 3))
    with pytest.raises(InvalidInput):  # the key must be stored under the group id
        await store.provision_mtc_group(MtcGroup(GROUP, 1), Subscriber("x", bytes(16),
                                                                       bytes(16)))
    assert await store.mtc_members(GROUP, 10) == []


async def test_a_device_moves_to_another_group(store: SqliteSubscriberStore) -> None:
    other = "valves@mtc.example.org"
    await store.provision_mtc_group(MtcGroup(GROUP, 1), KEY)
    await store.provision_mtc_group(MtcGroup(other, 1), Subscriber(other, bytes(16),
                                                                   bytes(16)))
    await store.put_mtc_device(MtcDevice("001010000000001", GROUP, 3))
    await store.put_mtc_device(MtcDevice("001010000000001", other, 0))
    assert await store.mtc_members(GROUP, 10) == []
    assert await store.get_mtc_device("001010000000001") == MtcDevice("001010000000001",
                                                                      other, 0)

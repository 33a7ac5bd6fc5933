"""The HSS SubscriberStore contract (gba.store.hss), run against both backends: SQLite and
PostgreSQL. Subscriptions (TS 33.220 §4.4.1), SQN issue per TS 33.102 Annex C.3.2,
forward-only provisioning (Annex C.3), resynchronisation (§6.3.5) and MTC groups.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gba.crypto.aka import IND_COUNT, SQN_MAX, split_sqn
from gba.errors import InvalidInput, NotFound, StoreError
from gba.store.factory import open_subscriber_store
from gba.store.hss import MtcDevice, MtcGroup, SqnNotForward, Subscriber, SubscriberStore
from vectors import ts35208_set

IMPI = "001010123456789@ims.mnc001.mcc001.3gppnetwork.org"
IMSI = "001010123456789"
K, OPC = ts35208_set(1)  # TS 35.208 test set 1
GROUP = "meters@mtc.example.org"


def subscriber(impi: str = IMPI, imsi: str | None = IMSI, sqn: int = 0) -> Subscriber:
    return Subscriber(impi=impi, k=K, opc=OPC, sqn=sqn, amf=b"\x80\x00", imsi=imsi,
                      guss="<guss/>")


def group_key(group: str = GROUP, k: bytes = K) -> Subscriber:
    return Subscriber(group, k, OPC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "hss.sqlite")
    url: str = request.getfixturevalue("postgres_db_url")
    return url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SubscriberStore]:
    s = open_subscriber_store(store_url)
    try:
        yield s
    finally:
        await s.close()


# --- subscribers -----------------------------------------------------------------------


async def test_subscriber_round_trips(store: SubscriberStore) -> None:
    await store.put_subscriber(subscriber())
    assert await store.get_subscriber(IMPI) == subscriber()
    bare = Subscriber("bare@example.org", bytes(16), bytes(range(16)))
    await store.put_subscriber(bare)
    assert await store.get_subscriber(bare.impi) == bare


async def test_unknown_impi_is_not_found(store: SubscriberStore) -> None:
    with pytest.raises(NotFound, match="no subscriber"):
        await store.get_subscriber("nobody@example.org")


async def test_find_by_imsi(store: SubscriberStore) -> None:
    await store.put_subscriber(subscriber())
    assert (await store.find_by_imsi(IMSI)).impi == IMPI
    with pytest.raises(NotFound):
        await store.find_by_imsi("001019999999999")


async def test_imsi_of_another_impi_is_refused(store: SubscriberStore) -> None:
    await store.put_subscriber(subscriber())
    with pytest.raises(StoreError, match="UNIQUE"):
        await store.put_subscriber(subscriber(impi="other@example.org"))
    with pytest.raises(StoreError, match="UNIQUE"):
        await store.provision_subscriber(subscriber(impi="other@example.org"))
    assert (await store.find_by_imsi(IMSI)).impi == IMPI
    with pytest.raises(NotFound):
        await store.get_subscriber("other@example.org")


async def test_subscribers_without_imsi_coexist(store: SubscriberStore) -> None:
    await store.put_subscriber(subscriber(impi="a@example.org", imsi=None))
    await store.put_subscriber(subscriber(impi="b@example.org", imsi=None))
    assert len(await store.list_subscribers()) == 2


async def test_list_is_sorted_by_impi_and_limited(store: SubscriberStore) -> None:
    impis = ["c@example.org", "a@example.org", "B@example.org", "b@example.org"]
    for impi in impis:
        await store.put_subscriber(subscriber(impi=impi, imsi=None))
    assert [s.impi for s in await store.list_subscribers()] == sorted(impis)  # byte order
    assert [s.impi for s in await store.list_subscribers(2)] == sorted(impis)[:2]
    assert await store.list_subscribers(0) == []
    assert await store.list_subscribers(-1) == []


async def test_put_replaces(store: SubscriberStore) -> None:
    await store.put_subscriber(subscriber(sqn=640))
    await store.put_subscriber(subscriber(imsi="001010000000000", sqn=64))  # may lower
    got = await store.get_subscriber(IMPI)
    assert (got.imsi, got.sqn) == ("001010000000000", 64)
    assert len(await store.list_subscribers()) == 1


async def test_delete_subscriber(store: SubscriberStore) -> None:
    await store.put_subscriber(subscriber())
    assert await store.delete_subscriber(IMPI) is True
    assert await store.delete_subscriber(IMPI) is False
    with pytest.raises(NotFound):
        await store.get_subscriber(IMPI)


async def test_secrets_stay_out_of_repr(store: SubscriberStore) -> None:
    await store.put_subscriber(subscriber())
    text = repr(await store.get_subscriber(IMPI))
    assert K.hex()[:6] not in text
    assert OPC.hex()[:6] not in text


# --- provisioning: SQN forward only (TS 33.102 Annex C.3) ---------------------------------


async def test_provision_inserts_then_moves_sqn_forward(store: SubscriberStore) -> None:
    assert await store.provision_subscriber(subscriber(sqn=64)) == subscriber(sqn=64)
    new = Subscriber(IMPI, bytes(16), bytes(16), sqn=128, imsi="001010000000001")
    assert await store.provision_subscriber(new) == new
    assert await store.get_subscriber(IMPI) == new


async def test_provision_refuses_a_lower_sqn(store: SubscriberStore) -> None:
    await store.put_subscriber(subscriber(sqn=500 << 5))
    with pytest.raises(SqnNotForward) as refused:
        await store.provision_subscriber(Subscriber(IMPI, bytes(16), bytes(16), sqn=64))
    assert (refused.value.stored, refused.value.asked) == (500 << 5, 64)
    assert await store.get_subscriber(IMPI) == subscriber(sqn=500 << 5)  # unchanged


async def test_provision_keep_sqn_keeps_the_higher_one(store: SubscriberStore) -> None:
    _, issued = (await store.provision_subscriber(subscriber()),
                 (await store.issue_sqn(IMPI, 0))[1])
    new = Subscriber(IMPI, bytes(16), bytes(16), sqn=0, imsi=IMSI)
    stored = await store.provision_subscriber(new, keep_sqn=True)
    assert stored.sqn == issued
    assert stored.k == bytes(16)
    assert await store.get_subscriber(IMPI) == stored
    higher = await store.provision_subscriber(Subscriber(IMPI, K, OPC, sqn=issued + 64),
                                              keep_sqn=True)
    assert higher.sqn == issued + 64


# --- SQN issue (TS 33.102 Annex C.3.2) -------------------------------------------------


async def test_issue_steps_seq_and_sets_ind(store: SubscriberStore) -> None:
    await store.put_subscriber(subscriber(sqn=(41 << 5) | 7))
    sub, sqn = await store.issue_sqn(IMPI, 3)
    assert split_sqn(sqn) == (42, 3)
    assert sub == subscriber(sqn=sqn)
    assert (await store.get_subscriber(IMPI)).sqn == sqn


async def test_every_issue_is_a_new_sqn(store: SubscriberStore) -> None:
    await store.put_subscriber(subscriber())
    issued = [(await store.issue_sqn(IMPI, i % IND_COUNT))[1] for i in range(100)]
    assert [split_sqn(s) for s in issued] == [(i + 1, i % IND_COUNT) for i in range(100)]


async def test_issue_for_unknown_impi_is_not_found(store: SubscriberStore) -> None:
    with pytest.raises(NotFound):
        await store.issue_sqn("nobody@example.org", 0)


async def test_issue_with_bad_ind_is_refused(store: SubscriberStore) -> None:
    await store.put_subscriber(subscriber(sqn=5 << 5))
    for ind in (IND_COUNT, -1):
        with pytest.raises(StoreError, match="IND"):
            await store.issue_sqn(IMPI, ind)
    assert (await store.get_subscriber(IMPI)).sqn == 5 << 5


async def test_issue_past_seq_max_is_refused(store: SubscriberStore) -> None:
    await store.put_subscriber(subscriber(sqn=SQN_MAX))
    with pytest.raises(StoreError, match="SEQ"):
        await store.issue_sqn(IMPI, 0)
    assert (await store.get_subscriber(IMPI)).sqn == SQN_MAX


async def test_concurrent_issues_are_distinct_and_increasing(store: SubscriberStore) -> None:
    impis = [f"00101000000000{n}@example.org" for n in range(4)]
    for impi in impis:
        await store.put_subscriber(subscriber(impi=impi, imsi=None))
    asked = [impis[n % len(impis)] for n in range(200)]
    results = await asyncio.gather(*(store.issue_sqn(impi, n % IND_COUNT)
                                     for n, impi in enumerate(asked)))
    per_impi: dict[str, list[int]] = {}
    for (n, impi), (sub, sqn) in zip(enumerate(asked), results, strict=True):
        assert (sub.impi, sub.sqn, split_sqn(sqn)[1]) == (impi, sqn, n % IND_COUNT)
        per_impi.setdefault(impi, []).append(sqn)
    for impi, sqns in per_impi.items():
        # every SEQ once, no gap: no SQN was handed out twice
        assert sorted(split_sqn(s)[0] for s in sqns) == list(range(1, len(sqns) + 1))
        assert (await store.get_subscriber(impi)).sqn == max(sqns)


async def test_decoys_are_counted_and_change_no_sqn(store: SubscriberStore) -> None:
    await store.put_subscriber(subscriber(sqn=7 << 5))
    assert await store.unknown_impi_requests() == 0
    await store.issue_decoy_sqn()
    await asyncio.gather(*(store.issue_decoy_sqn() for _ in range(99)))
    assert await store.unknown_impi_requests() == 100
    assert (await store.get_subscriber(IMPI)).sqn == 7 << 5
    assert [s.impi for s in await store.list_subscribers()] == [IMPI]


# --- resynchronisation (TS 33.102 §6.3.5) ----------------------------------------------


async def test_raise_sqn_raises_and_never_lowers(store: SubscriberStore) -> None:
    await store.put_subscriber(subscriber(sqn=10 << 5))
    await store.raise_sqn(IMPI, (500 << 5) | 4)
    await store.raise_sqn(IMPI, 20 << 5)
    assert (await store.get_subscriber(IMPI)).sqn == (500 << 5) | 4
    _, sqn = await store.issue_sqn(IMPI, 0)
    assert split_sqn(sqn) == (501, 0)


async def test_set_sqn_may_lower(store: SubscriberStore) -> None:
    await store.put_subscriber(subscriber(sqn=500 << 5))
    await store.set_sqn(IMPI, 10 << 5)
    assert (await store.get_subscriber(IMPI)).sqn == 10 << 5
    await store.set_sqn(IMPI, 10 << 5)  # unchanged is no error


@pytest.mark.parametrize("op", ["raise_sqn", "set_sqn"])
async def test_sqn_writes_refuse_unknown_impi_and_bad_sqn(store: SubscriberStore,
                                                          op: str) -> None:
    await store.put_subscriber(subscriber(sqn=64))
    write = getattr(store, op)
    with pytest.raises(NotFound):
        await write("nobody@example.org", 64)
    for bad in (SQN_MAX + 1, -1):
        with pytest.raises(StoreError, match="outside"):
            await write(IMPI, bad)
    assert (await store.get_subscriber(IMPI)).sqn == 64


# --- MTC groups and devices (docs/mtc.md §1) -------------------------------------------


async def test_a_group_and_its_devices_are_stored(store: SubscriberStore) -> None:
    stored = await store.provision_mtc_group(MtcGroup(GROUP, 3), group_key())
    assert stored == group_key()
    await store.put_mtc_device(MtcDevice("001010000000002", GROUP, 3))
    await store.put_mtc_device(MtcDevice("001010000000001", GROUP, 1))
    assert await store.get_mtc_group(GROUP) == MtcGroup(GROUP, 3)
    assert await store.get_mtc_device("001010000000001") == MtcDevice("001010000000001",
                                                                      GROUP, 1)
    assert await store.mtc_members(GROUP, 10) == ["001010000000001", "001010000000002"]
    assert await store.mtc_members(GROUP, 1) == ["001010000000001"]
    assert await store.mtc_members(GROUP, 0) == []
    assert await store.mtc_group_devices(GROUP, 10) == [
        MtcDevice("001010000000001", GROUP, 1), MtcDevice("001010000000002", GROUP, 3)]
    assert (await store.get_subscriber(GROUP)).k == K  # the group key is a subscription


async def test_a_new_group_key_keeps_the_group_sqn(store: SubscriberStore) -> None:
    await store.provision_mtc_group(MtcGroup(GROUP, 1), group_key())
    _, sqn = await store.issue_sqn(GROUP, 0)
    stored = await store.provision_mtc_group(MtcGroup(GROUP, 2), group_key(k=bytes(16)))
    assert stored.sqn == sqn
    assert (await store.get_mtc_group(GROUP)).key_id == 2
    assert (await store.get_subscriber(GROUP)).k == bytes(16)


async def test_unknown_group_and_device(store: SubscriberStore) -> None:
    with pytest.raises(NotFound):
        await store.get_mtc_group(GROUP)
    with pytest.raises(NotFound):
        await store.get_mtc_device("001010000000001")
    with pytest.raises(NotFound):  # a device needs its group first
        await store.put_mtc_device(MtcDevice("001010000000001", GROUP, 3))
    with pytest.raises(InvalidInput):  # the key must be stored under the group id
        await store.provision_mtc_group(MtcGroup(GROUP, 1), group_key(group="x"))
    assert await store.mtc_members(GROUP, 10) == []


async def test_a_device_moves_to_another_group(store: SubscriberStore) -> None:
    other = "valves@mtc.example.org"
    await store.provision_mtc_group(MtcGroup(GROUP, 1), group_key())
    await store.provision_mtc_group(MtcGroup(other, 1), group_key(group=other))
    await store.put_mtc_device(MtcDevice("001010000000001", GROUP, 3))
    await store.put_mtc_device(MtcDevice("001010000000001", other, 0))
    assert await store.mtc_members(GROUP, 10) == []
    assert await store.get_mtc_device("001010000000001") == MtcDevice("001010000000001",
                                                                      other, 0)


async def test_bulk_devices_are_one_transaction(store: SubscriberStore) -> None:
    await store.provision_mtc_group(MtcGroup(GROUP, 1), group_key())
    devices = [MtcDevice(f"00101000000{n:04d}", GROUP, n % 4) for n in range(50)]
    await store.put_mtc_devices([])
    await store.put_mtc_devices(list(reversed(devices)))
    assert await store.mtc_group_devices(GROUP, 100) == devices
    with pytest.raises(NotFound, match="no MTC group"):  # one unknown group: none stored
        await store.put_mtc_devices([MtcDevice("001019999999998", GROUP, 0),
                                     MtcDevice("001019999999999", "nogroup", 0)])
    with pytest.raises(NotFound):
        await store.get_mtc_device("001019999999998")


# --- lifetime --------------------------------------------------------------------------


async def test_a_closed_store_refuses(store_url: str) -> None:
    s = open_subscriber_store(store_url)
    await s.put_subscriber(subscriber())
    await s.close()
    with pytest.raises(StoreError, match="closed"):
        await s.issue_sqn(IMPI, 0)
    reopened = open_subscriber_store(store_url)
    try:
        assert await reopened.get_subscriber(IMPI) == subscriber()  # it was committed
    finally:
        await reopened.close()

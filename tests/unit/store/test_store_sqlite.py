"""SQLite backend: the HSS subscriber store, SQN issue across processes and restarts
(TS 33.102 Annex C.3.2), and file handling. Schema versions: test_store_migration.py.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gba.crypto.aka import IND_COUNT, split_sqn
from gba.errors import NotFound, StoreError
from gba.store.base import Subscriber
from gba.store.sqlite import SqliteBsfStore, SqliteNafStore, SqliteSubscriberStore
from vectors import ts35208_set

IMPI = "001010123456789@ims.mnc001.mcc001.3gppnetwork.org"
IMSI = "001010123456789"
K, OPC = ts35208_set(1)  # TS 35.208 test set 1


def subscriber(impi: str = IMPI, imsi: str | None = IMSI, sqn: int = 0) -> Subscriber:
    return Subscriber(
        impi=impi,
        k=K,
        opc=OPC,
        sqn=sqn,
        amf=b"\x80\x00",
        imsi=imsi,
        guss="<guss/>",
    )


@pytest.fixture
async def hss(tmp_path: Path) -> AsyncIterator[SqliteSubscriberStore]:
    store = SqliteSubscriberStore(tmp_path / "hss.sqlite")
    yield store
    await store.close()


# --- subscribers -----------------------------------------------------------------------


async def test_subscriber_round_trips(hss: SqliteSubscriberStore) -> None:
    await hss.put_subscriber(subscriber())
    assert await hss.get_subscriber(IMPI) == subscriber()


async def test_unknown_impi_is_not_found(hss: SqliteSubscriberStore) -> None:
    with pytest.raises(NotFound, match="no subscriber"):
        await hss.get_subscriber("nobody@example.org")


async def test_find_by_imsi(hss: SqliteSubscriberStore) -> None:
    await hss.put_subscriber(subscriber())
    assert (await hss.find_by_imsi(IMSI)).impi == IMPI


async def test_unknown_imsi_is_not_found(hss: SqliteSubscriberStore) -> None:
    await hss.put_subscriber(subscriber())
    with pytest.raises(NotFound):
        await hss.find_by_imsi("001019999999999")


async def test_imsi_of_another_impi_is_refused(hss: SqliteSubscriberStore) -> None:
    await hss.put_subscriber(subscriber())
    with pytest.raises(StoreError, match="UNIQUE"):
        await hss.put_subscriber(subscriber(impi="other@example.org"))
    assert (await hss.find_by_imsi(IMSI)).impi == IMPI


async def test_subscribers_without_imsi_coexist(hss: SqliteSubscriberStore) -> None:
    await hss.put_subscriber(subscriber(impi="a@example.org", imsi=None))
    await hss.put_subscriber(subscriber(impi="b@example.org", imsi=None))
    assert len(await hss.list_subscribers()) == 2


async def test_list_is_sorted_by_impi(hss: SqliteSubscriberStore) -> None:
    for impi in ("c@example.org", "a@example.org", "b@example.org"):
        await hss.put_subscriber(subscriber(impi=impi, imsi=None))
    assert [s.impi for s in await hss.list_subscribers()] == [
        "a@example.org",
        "b@example.org",
        "c@example.org",
    ]


async def test_put_replaces(hss: SqliteSubscriberStore) -> None:
    await hss.put_subscriber(subscriber())
    await hss.put_subscriber(subscriber(imsi="001010000000000", sqn=64))
    got = await hss.get_subscriber(IMPI)
    assert (got.imsi, got.sqn) == ("001010000000000", 64)
    assert len(await hss.list_subscribers()) == 1


async def test_delete_subscriber(hss: SqliteSubscriberStore) -> None:
    await hss.put_subscriber(subscriber())
    assert await hss.delete_subscriber(IMPI) is True
    assert await hss.delete_subscriber(IMPI) is False
    with pytest.raises(NotFound):
        await hss.get_subscriber(IMPI)


async def test_secrets_stay_out_of_repr(hss: SqliteSubscriberStore) -> None:
    await hss.put_subscriber(subscriber())
    text = repr(await hss.get_subscriber(IMPI))
    assert "465b5c" not in text
    assert "cd63cb" not in text


# --- SQN (TS 33.102 Annex C.3.2) -------------------------------------------------------


async def test_issue_steps_seq_and_sets_ind(hss: SqliteSubscriberStore) -> None:
    await hss.put_subscriber(subscriber(sqn=(41 << 5) | 7))
    sub, sqn = await hss.issue_sqn(IMPI, 3)
    assert split_sqn(sqn) == (42, 3)
    assert sub.sqn == sqn
    assert (await hss.get_subscriber(IMPI)).sqn == sqn


async def test_every_issue_is_a_new_sqn(hss: SqliteSubscriberStore) -> None:
    await hss.put_subscriber(subscriber())
    issued = [(await hss.issue_sqn(IMPI, i % IND_COUNT))[1] for i in range(100)]
    assert len(set(issued)) == 100
    assert issued == sorted(issued)


async def test_issue_for_unknown_impi_is_not_found(hss: SqliteSubscriberStore) -> None:
    with pytest.raises(NotFound):
        await hss.issue_sqn("nobody@example.org", 0)


async def test_issue_with_bad_ind_is_refused(hss: SqliteSubscriberStore) -> None:
    await hss.put_subscriber(subscriber(sqn=5 << 5))
    with pytest.raises(StoreError, match="IND"):
        await hss.issue_sqn(IMPI, IND_COUNT)
    assert (await hss.get_subscriber(IMPI)).sqn == 5 << 5


async def test_issue_past_seq_max_is_refused(hss: SqliteSubscriberStore) -> None:
    await hss.put_subscriber(subscriber(sqn=(1 << 48) - 1))
    with pytest.raises(StoreError, match="SEQ"):
        await hss.issue_sqn(IMPI, 0)


async def test_raise_sqn_raises(hss: SqliteSubscriberStore) -> None:
    await hss.put_subscriber(subscriber(sqn=10 << 5))
    await hss.raise_sqn(IMPI, (500 << 5) | 4)
    _, sqn = await hss.issue_sqn(IMPI, 0)
    assert split_sqn(sqn) == (501, 0)


async def test_raise_sqn_never_lowers(hss: SqliteSubscriberStore) -> None:
    await hss.put_subscriber(subscriber(sqn=500 << 5))
    await hss.raise_sqn(IMPI, 10 << 5)
    assert (await hss.get_subscriber(IMPI)).sqn == 500 << 5


async def test_raise_sqn_for_unknown_impi_is_not_found(hss: SqliteSubscriberStore) -> None:
    with pytest.raises(NotFound):
        await hss.raise_sqn("nobody@example.org", 64)


async def test_raise_sqn_out_of_range_is_refused(hss: SqliteSubscriberStore) -> None:
    await hss.put_subscriber(subscriber())
    with pytest.raises(StoreError):
        await hss.raise_sqn(IMPI, 1 << 48)


async def test_sqn_survives_reopen_and_never_repeats(tmp_path: Path) -> None:
    path = tmp_path / "hss.sqlite"
    store = SqliteSubscriberStore(path)
    await store.put_subscriber(subscriber())
    before = [(await store.issue_sqn(IMPI, 1))[1] for _ in range(5)]
    await store.close()
    store = SqliteSubscriberStore(path)
    after = [(await store.issue_sqn(IMPI, 1))[1] for _ in range(5)]
    await store.close()
    assert split_sqn(before[-1])[0] == 5
    assert split_sqn(after[0])[0] == 6
    assert len(set(before + after)) == 10


def _issue_many(path: str, ind: int, count: int, start: Any, out: Any) -> None:
    """Child process: wait for the others, then issue *count* SQNs with IND *ind*."""

    async def run() -> list[int]:
        store = SqliteSubscriberStore(path, busy_timeout=60)
        try:
            start.wait()
            return [(await store.issue_sqn(IMPI, ind))[1] for _ in range(count)]
        finally:
            await store.close()

    out.put(asyncio.run(run()))


def test_processes_sharing_the_file_never_get_the_same_sqn(tmp_path: Path) -> None:
    path = str(tmp_path / "hss.sqlite")
    workers, count = 4, 200

    async def provision() -> None:
        store = SqliteSubscriberStore(path)
        await store.put_subscriber(subscriber())
        await store.close()

    asyncio.run(provision())
    mp = multiprocessing.get_context("spawn")
    start, out = mp.Barrier(workers), mp.Queue()
    procs = [
        mp.Process(target=_issue_many, args=(path, ind, count, start, out))
        for ind in range(workers)
    ]
    for p in procs:
        p.start()
    issued = [sqn for _ in procs for sqn in out.get(timeout=120)]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0

    assert len(issued) == workers * count
    assert len(set(issued)) == len(issued)
    assert sorted(split_sqn(s)[0] for s in issued) == list(range(1, workers * count + 1))

    async def final() -> int:
        store = SqliteSubscriberStore(path)
        try:
            return (await store.get_subscriber(IMPI)).sqn
        finally:
            await store.close()

    assert split_sqn(asyncio.run(final()))[0] == workers * count


# --- files -----------------------------------------------------------------------------


async def test_file_is_in_wal_mode(tmp_path: Path) -> None:
    store = SqliteBsfStore(tmp_path / "bsf.sqlite")
    await store.close()
    with sqlite3.connect(tmp_path / "bsf.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_other_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "naf.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(StoreError, match="schema version 99"):
        SqliteNafStore(path)


async def test_unopenable_file_is_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no-such-dir"):
        SqliteSubscriberStore(tmp_path / "no-such-dir" / "hss.sqlite")


async def test_closed_store_raises_store_error(tmp_path: Path) -> None:
    store = SqliteBsfStore(tmp_path / "bsf.sqlite")
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.get_context("x", datetime.now(UTC))


async def test_memory_store_works(tmp_path: Path) -> None:
    store = SqliteNafStore(":memory:")
    assert await store.check_nonce_count("n", 1, datetime.now(UTC) + timedelta(hours=1))
    await store.close()

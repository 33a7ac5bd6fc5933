"""SQLite backend: the HSS subscriber store, SQN issue across processes and restarts
(TS 33.102 Annex C.3.2), and file handling. Schema versions: test_store_migration.py.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gba.crypto.aka import split_sqn
from gba.errors import StoreError
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


# The SubscriberStore contract (both backends): test_subscriber_contract.py.


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

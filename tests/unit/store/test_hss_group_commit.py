"""Group commit of SQN issues (issue 16): concurrent ``issue_sqn`` and ``issue_decoy_sqn``
calls share one ``BEGIN IMMEDIATE`` transaction and one fsync'd commit, each caller is
answered after that commit, one IMPI's SQNs grow in the order they were asked, and a
refusal reaches its own caller only. No timing is asserted: batching is shown by counting
transactions while the file's write lock is held elsewhere.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gba.crypto.aka import IND_COUNT, SQN_MAX, split_sqn
from gba.errors import NotFound, StoreError
from gba.store.base import Subscriber
from gba.store.sqlite.hss import MAX_BATCH, SqliteSubscriberStore
from vectors import ts35208_set

K, OPC = ts35208_set(1)
IMPIS = [f"00101000000000{n}@example.org" for n in range(4)]


def subscriber(impi: str, sqn: int = 0) -> Subscriber:
    return Subscriber(impi=impi, k=K, opc=OPC, sqn=sqn)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteSubscriberStore]:
    s = SqliteSubscriberStore(tmp_path / "hss.sqlite")
    for impi in IMPIS:
        await s.put_subscriber(subscriber(impi))
    try:
        yield s
    finally:
        await s.close()


@contextmanager
def write_lock_held(path: Path) -> Iterator[None]:
    """Hold the file's write lock from another connection (as another process would)."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield
        other.execute("ROLLBACK")
    finally:
        other.close()


async def queued(n: int) -> None:
    """Let *n* freshly created tasks run up to their first await (their submission)."""
    for _ in range(n):
        await asyncio.sleep(0)


def stored_sqns(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT impi, sqn FROM subscriber").fetchall())


async def test_concurrent_issues_are_distinct_increasing_and_durable(
        store: SqliteSubscriberStore, tmp_path: Path) -> None:
    asked = [IMPIS[n % len(IMPIS)] for n in range(200)]
    results = await asyncio.gather(*(store.issue_sqn(impi, n % IND_COUNT)
                                     for n, impi in enumerate(asked)))
    per_impi: dict[str, list[int]] = {}
    for impi, (sub, sqn) in zip(asked, results, strict=True):
        assert sub.impi == impi
        assert sub.sqn == sqn
        per_impi.setdefault(impi, []).append(sqn)
    for impi, sqns in per_impi.items():
        # asked in this order, so SEQ steps by one in this order: no gap, no repeat
        assert [split_sqn(s)[0] for s in sqns] == list(range(1, len(sqns) + 1)), impi
    await store.close()
    # durable: what the file holds after closing is the last SQN each caller received
    assert stored_sqns(tmp_path / "hss.sqlite") == {i: s[-1] for i, s in per_impi.items()}
    reopened = SqliteSubscriberStore(tmp_path / "hss.sqlite")
    try:
        _, sqn = await reopened.issue_sqn(IMPIS[0], 0)
        assert split_sqn(sqn)[0] == len(per_impi[IMPIS[0]]) + 1
    finally:
        await reopened.close()


async def test_waiting_requests_share_one_commit(
        store: SqliteSubscriberStore, tmp_path: Path) -> None:
    """While another connection holds the write lock, requests pile up; once it is
    released they are committed in at most two transactions (the one already waiting
    for the lock, and everything queued behind it)."""
    n = 100
    with write_lock_held(tmp_path / "hss.sqlite"):
        tasks = [asyncio.create_task(store.issue_sqn(IMPIS[0], 0)) for _ in range(n)]
        await queued(3)
        assert not any(t.done() for t in tasks)  # nothing answered before a commit
    sqns = [(await t)[1] for t in tasks]
    assert [split_sqn(s)[0] for s in sqns] == list(range(1, n + 1))
    transactions, requests = store.sqn_commits
    assert requests == n
    assert transactions <= 2 < n


async def test_a_batch_is_bounded(store: SqliteSubscriberStore, tmp_path: Path) -> None:
    n = MAX_BATCH * 2 + 10
    with write_lock_held(tmp_path / "hss.sqlite"):
        tasks = [asyncio.create_task(store.issue_sqn(IMPIS[1], 0)) for _ in range(n)]
        await queued(3)
    await asyncio.gather(*tasks)
    transactions, requests = store.sqn_commits
    assert requests == n
    assert 3 <= transactions <= 4  # ceil(n / MAX_BATCH), plus the first one waiting


async def test_a_refusal_reaches_its_caller_only(
        store: SqliteSubscriberStore, tmp_path: Path) -> None:
    await store.put_subscriber(subscriber("exhausted@example.org", sqn=SQN_MAX))
    with write_lock_held(tmp_path / "hss.sqlite"):
        tasks = [
            asyncio.create_task(store.issue_sqn(IMPIS[0], 0)),
            asyncio.create_task(store.issue_sqn("nobody@example.org", 0)),
            asyncio.create_task(store.issue_sqn(IMPIS[0], 1)),
            asyncio.create_task(store.issue_sqn("exhausted@example.org", 0)),
            asyncio.create_task(store.issue_sqn(IMPIS[1], IND_COUNT)),  # bad IND
            asyncio.create_task(store.issue_sqn(IMPIS[1], 2)),
        ]
        await queued(3)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[1], NotFound)
    assert isinstance(results[3], StoreError)
    assert "SEQ" in str(results[3])
    assert isinstance(results[4], StoreError)
    assert "IND" in str(results[4])
    good = [r for n, r in enumerate(results) if n in (0, 2, 5)]
    assert [split_sqn(r[1]) for r in good if isinstance(r, tuple)] == [(1, 0), (2, 1), (1, 2)]
    sqns = stored_sqns(tmp_path / "hss.sqlite")
    assert split_sqn(sqns[IMPIS[0]]) == (2, 1)
    assert split_sqn(sqns[IMPIS[1]]) == (1, 2)
    assert sqns["exhausted@example.org"] == SQN_MAX


async def test_a_decoy_shares_the_batch_and_changes_no_sqn(
        store: SqliteSubscriberStore, tmp_path: Path) -> None:
    with write_lock_held(tmp_path / "hss.sqlite"):
        tasks = [
            asyncio.create_task(store.issue_sqn(IMPIS[2], 0)),
            asyncio.create_task(store.issue_decoy_sqn()),
            asyncio.create_task(store.issue_sqn(IMPIS[2], 0)),
            asyncio.create_task(store.issue_decoy_sqn()),
        ]
        await queued(3)
    results = await asyncio.gather(*tasks)
    assert results[1] is None
    assert results[3] is None
    assert [split_sqn(r[1])[0] for r in (results[0], results[2]) if r is not None] == [1, 2]
    assert await store.unknown_impi_requests() == 2
    assert store.sqn_commits[0] <= 2
    sqns = stored_sqns(tmp_path / "hss.sqlite")
    assert split_sqn(sqns[IMPIS[2]])[0] == 2
    assert all(sqns[i] == 0 for i in IMPIS if i != IMPIS[2])


async def test_two_stores_on_one_file_never_share_an_sqn(tmp_path: Path) -> None:
    """Two stores (as two HSS processes) issuing concurrently for one IMPI: every
    transaction is IMMEDIATE, so no SQN is handed out twice."""
    path = tmp_path / "hss.sqlite"
    a, b = SqliteSubscriberStore(path), SqliteSubscriberStore(path)
    try:
        await a.put_subscriber(subscriber(IMPIS[0]))
        results = await asyncio.gather(*(s.issue_sqn(IMPIS[0], 0)
                                         for _ in range(60) for s in (a, b)))
        seqs = sorted(split_sqn(sqn)[0] for _, sqn in results)
        assert seqs == list(range(1, 121))
    finally:
        await a.close()
        await b.close()
    assert split_sqn(stored_sqns(path)[IMPIS[0]])[0] == 120


async def test_a_cancelled_caller_does_not_stop_the_others(
        store: SqliteSubscriberStore, tmp_path: Path) -> None:
    with write_lock_held(tmp_path / "hss.sqlite"):
        tasks = [asyncio.create_task(store.issue_sqn(IMPIS[3], 0)) for _ in range(5)]
        await queued(3)
        tasks[2].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[2], asyncio.CancelledError)
    seqs = [split_sqn(r[1])[0] for r in results if isinstance(r, tuple)]
    assert len(seqs) == 4
    assert seqs == sorted(set(seqs))


async def test_a_closed_store_refuses_to_issue(tmp_path: Path) -> None:
    s = SqliteSubscriberStore(tmp_path / "hss.sqlite")
    await s.put_subscriber(subscriber(IMPIS[0]))
    await s.issue_sqn(IMPIS[0], 0)
    await s.close()
    with pytest.raises(StoreError, match="closed"):
        await s.issue_sqn(IMPIS[0], 0)


async def test_an_in_memory_store_issues_too() -> None:
    s = SqliteSubscriberStore(":memory:")
    try:
        await s.put_subscriber(subscriber(IMPIS[0]))
        results = await asyncio.gather(*(s.issue_sqn(IMPIS[0], 0) for _ in range(20)))
        assert [split_sqn(sqn)[0] for _, sqn in results] == list(range(1, 21))
        assert split_sqn((await s.get_subscriber(IMPIS[0])).sqn)[0] == 20
    finally:
        await s.close()

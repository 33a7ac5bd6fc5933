"""The PostgreSQL HSS store keeps the SQLite store's SQN guarantee (TS 33.102 Annex C.3.2):
an SQN is never handed out twice, by one store or two sharing a database, and an SQN
returned to a caller survives a crash of the database server (SIGKILL, then crash
recovery from the WAL). Also: schema set-up races and versions, ``synchronous_commit``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest

from gba.crypto.aka import IND_COUNT, split_sqn
from gba.errors import StoreError
from gba.lab.postgres_server import PrivatePostgres, private_postgres
from gba.store.hss import Subscriber
from gba.store.postgres import SCHEMA_VERSION, PostgresSubscriberStore
from gba.store.sqlite import HSS_SCHEMA
from vectors import ts35208_set

pytestmark = pytest.mark.postgres

K, OPC = ts35208_set(1)
IMPIS = [f"00101000000000{n}@example.org" for n in range(8)]


@pytest.fixture
async def stores(postgres_db_url: str) -> AsyncIterator[list[PostgresSubscriberStore]]:
    """Two stores (two pools, as two HSS processes) on one fresh database."""
    pair = [PostgresSubscriberStore(postgres_db_url, max_size=8) for _ in range(2)]
    try:
        yield pair
    finally:
        for s in pair:
            await s.close()


def _seqs(results: list[tuple[Subscriber, int]]) -> list[int]:
    return sorted(split_sqn(sqn)[0] for _, sqn in results)


async def test_schema_is_created_once_by_racing_stores(postgres_db_url: str) -> None:
    racers = [PostgresSubscriberStore(postgres_db_url) for _ in range(6)]
    try:  # every store's first call creates the schema, all at once
        assert await asyncio.gather(*(s.unknown_impi_requests() for s in racers)) == [0] * 6
    finally:
        for s in racers:
            await s.close()
    with psycopg.connect(postgres_db_url) as conn:
        rows = conn.execute("SELECT component, version FROM gba_schema").fetchall()
    assert rows == [("HSS", SCHEMA_VERSION)]


async def test_two_stores_never_issue_the_same_sqn(
        stores: list[PostgresSubscriberStore]) -> None:
    a, b = stores
    for impi in IMPIS[:2]:
        await a.put_subscriber(Subscriber(impi, K, OPC))
    calls = [s.issue_sqn(IMPIS[n % 2], n % IND_COUNT) for n in range(100) for s in (a, b)]
    results = await asyncio.gather(*calls)
    for impi in IMPIS[:2]:
        mine = [r for r in results if r[0].impi == impi]
        assert _seqs(mine) == list(range(1, len(mine) + 1))  # each SEQ exactly once
        assert (await b.get_subscriber(impi)).sqn == max(sqn for _, sqn in mine)


async def test_another_schema_version_is_refused(postgres_db_url: str) -> None:
    with psycopg.connect(postgres_db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE gba_schema (component TEXT PRIMARY KEY, version INT)")
        conn.execute("INSERT INTO gba_schema VALUES ('HSS', %s)", (SCHEMA_VERSION + 96,))
    store = PostgresSubscriberStore(postgres_db_url)
    try:
        with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 96}"):
            await store.get_subscriber(IMPIS[0])
    finally:
        await store.close()
    with psycopg.connect(postgres_db_url) as conn:  # refused before creating anything
        assert conn.execute("SELECT to_regclass('subscriber')").fetchone() == (None,)


def test_schema_version_follows_the_sqlite_tables() -> None:
    """Same tables as SQLite's HSS schema: a new SQLite step needs a PostgreSQL one."""
    assert HSS_SCHEMA.version == SCHEMA_VERSION


async def test_every_connection_commits_synchronously(postgres_db_url: str) -> None:
    with psycopg.connect(postgres_db_url, autocommit=True) as conn:
        name = conn.info.dbname
        conn.execute(f"ALTER DATABASE {name} SET synchronous_commit = off")
        assert conn.execute("SHOW fsync").fetchone() == ("on",)  # the durability is real
    store = PostgresSubscriberStore(postgres_db_url, min_size=2, max_size=4)
    try:
        await store.unknown_impi_requests()
        async with store._conn("check") as a, store._conn("check") as b:
            for pooled in (a, b):
                row = await (await pooled.execute("SHOW synchronous_commit")).fetchone()
                assert row == ("on",)
    finally:
        await store.close()


# --- crash safety ----------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[PrivatePostgres]:
    """A server of this test's own: it is killed and restarted."""
    with private_postgres() as pg:
        yield pg


async def _issue_until_crash(pg: PrivatePostgres, store: PostgresSubscriberStore,
                             workers: int, before_crash: int) -> list[tuple[str, int]]:
    """*workers* callers issue SQNs without pause; once *before_crash* were returned the
    server is SIGKILLed with issues in flight. Returns every (IMPI, SQN) returned."""
    returned: list[tuple[str, int]] = []
    failed: list[StoreError] = []
    enough = asyncio.Event()

    async def worker(n: int) -> None:
        while True:
            impi = IMPIS[(n + len(returned)) % len(IMPIS)]
            try:
                _, sqn = await store.issue_sqn(impi, n % IND_COUNT)
            except StoreError as exc:
                failed.append(exc)
                return
            returned.append((impi, sqn))
            if len(returned) >= before_crash:
                enough.set()

    tasks = [asyncio.create_task(worker(n)) for n in range(workers)]
    await enough.wait()
    await asyncio.to_thread(pg.crash)  # the callers keep issuing until the kill
    await asyncio.gather(*tasks)
    assert len(failed) == workers  # every caller saw the crash: none was idle
    return returned


async def test_a_returned_sqn_survives_a_server_crash(server: PrivatePostgres) -> None:
    store = PostgresSubscriberStore(server.url, max_size=16, timeout=3.0)
    for impi in IMPIS:
        await store.put_subscriber(Subscriber(impi, K, OPC))
    pid = server.pid
    returned = await _issue_until_crash(server, store, workers=16, before_crash=400)
    assert len(returned) == len(set(returned))  # nothing handed out twice
    await asyncio.to_thread(server.restart)  # crash recovery replays the WAL
    assert server.pid != pid

    highest: dict[str, int] = {}
    for impi, sqn in returned:
        highest[impi] = max(highest.get(impi, 0), sqn)
    fresh = PostgresSubscriberStore(server.url)
    try:
        for impi in IMPIS:  # every SQN a caller received is durable ...
            assert (await fresh.get_subscriber(impi)).sqn >= highest.get(impi, 0)
        for impi in IMPIS:  # ... so no later vector reuses one
            _, sqn = await fresh.issue_sqn(impi, 0)
            assert split_sqn(sqn)[0] > split_sqn(highest.get(impi, 0))[0]
    finally:
        await fresh.close()

    # the store that lived through the crash recovers: broken connections are dropped
    deadline = time.monotonic() + 30
    while True:
        try:
            _, sqn = await store.issue_sqn(IMPIS[0], 1)
            break
        except StoreError:
            if time.monotonic() > deadline:
                raise
    assert split_sqn(sqn)[0] > split_sqn(highest[IMPIS[0]])[0] + 1
    await store.close()

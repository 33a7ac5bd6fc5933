"""The HSS subscriber table in PostgreSQL (TS 33.220 §4.4.1), SQN kept per TS 33.102
Annex C.3.2, with the semantics and errors of :mod:`gba.store.sqlite.hss`.

Durability. :meth:`PostgresSubscriberStore.issue_sqn` is one statement (``UPDATE ...
RETURNING``, the step computed on the locked row) in its own transaction, whose commit
returns only once its WAL record is flushed to disk: every connection sets
``synchronous_commit = on`` itself, so a server configured otherwise cannot weaken it. An
SQN handed to a caller therefore survives a crash or power cut of the database server, and
a restart never reissues it; an SQN whose commit did not return is at worst a gap. The row
lock makes concurrent issuers, in this process or others, queue on the subscriber: none
receives an SQN twice. There is no group commit here (the SQLite backend needs one):
PostgreSQL groups the WAL flushes of concurrent commits itself, so many issues in flight
share an fsync.

Schema: the tables of the SQLite HSS schema version 3 (``HSS_SCHEMA``), BYTEA for octets,
BIGINT for SQN, ``COLLATE "C"`` on identities (byte order, as SQLite sorts). They are
created at open under a transaction-level advisory lock (two processes opening a new
database at once do not collide) and recorded as the ``HSS`` row of ``gba_schema``; a
database holding another version is refused. As in SQLite, whose ``foreign_keys`` is off,
group and device rows declare no foreign keys: deleting a subscription behaves alike on
both backends. ``unknown_impi`` has :data:`COUNTER_SLOTS` rows where SQLite has one
(their sum is the count): see :meth:`PostgresSubscriberStore.issue_decoy_sqn`.

Every psycopg failure surfaces as :class:`~gba.errors.StoreError`; messages name the
server and the operation, never the URL's password or K/OPc.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, Final

import psycopg
from psycopg import AsyncConnection, errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from gba.crypto.aka import IND_BITS, SEQ_MAX, SQN_MAX, join_sqn, next_sqn
from gba.errors import InvalidInput, NotFound, StoreError
from gba.store.hss import MtcDevice, MtcGroup, SqnNotForward, Subscriber

log = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 3
"""The ``gba_schema`` version of the HSS tables: those of SQLite ``HSS_SCHEMA`` v3."""
_LOCK_KEY: Final = 0x67626168737300  # pg_advisory_xact_lock key of the schema set-up
COUNTER_SLOTS: Final = 16
"""Rows of ``unknown_impi``: a decoy bumps one at random, so decoys do not queue on one
row lock (and on each other's WAL flush) while real issues for distinct IMPIs do not."""

_TABLES: Final = (
    """CREATE TABLE IF NOT EXISTS subscriber (
        impi TEXT COLLATE "C" PRIMARY KEY,
        k BYTEA NOT NULL,
        opc BYTEA NOT NULL,
        sqn BIGINT NOT NULL,
        amf BYTEA NOT NULL,
        imsi TEXT COLLATE "C" UNIQUE,
        guss TEXT
    )""",
    f"""CREATE TABLE IF NOT EXISTS unknown_impi (
        id INTEGER PRIMARY KEY CHECK (id BETWEEN 1 AND {COUNTER_SLOTS}),
        requests BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS mtc_group (
        group_id TEXT COLLATE "C" PRIMARY KEY,
        key_id BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS mtc_device (
        imsi TEXT COLLATE "C" PRIMARY KEY,
        group_id TEXT COLLATE "C" NOT NULL,
        capability BIGINT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS mtc_device_group ON mtc_device (group_id, imsi)",
)

_SELECT_SUBSCRIBER = "SELECT impi, k, opc, sqn, amf, imsi, guss FROM subscriber"
_SUBSCRIBER_BY_IMPI = _SELECT_SUBSCRIBER + " WHERE impi = %s"
_UPSERT_SUBSCRIBER = (
    "INSERT INTO subscriber (impi, k, opc, sqn, amf, imsi, guss) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (impi) DO UPDATE SET k = excluded.k, opc = excluded.opc, sqn = excluded.sqn, "
    "amf = excluded.amf, imsi = excluded.imsi, guss = excluded.guss"
)
_UPSERT_DEVICE = (
    "INSERT INTO mtc_device (imsi, group_id, capability) VALUES (%s, %s, %s) "
    "ON CONFLICT (imsi) DO UPDATE SET group_id = excluded.group_id, "
    "capability = excluded.capability"
)
_GROUP_EXISTS = "SELECT 1 FROM mtc_group WHERE group_id = %s"
_ISSUE_SQN = (
    "UPDATE subscriber SET sqn = (((sqn >> %(bits)s) + 1) << %(bits)s) | %(ind)s "
    "WHERE impi = %(impi)s AND (sqn >> %(bits)s) < %(seq_max)s "
    "RETURNING impi, k, opc, sqn, amf, imsi, guss"
)

Conn = AsyncConnection[TupleRow]


def _subscriber(row: Any) -> Subscriber:
    impi, k, opc, sqn, amf, imsi, guss = row
    return Subscriber(impi=impi, k=bytes(k), opc=bytes(opc), sqn=int(sqn), amf=bytes(amf),
                      imsi=imsi, guss=guss)


def _where(url: str) -> str:
    """host:port/dbname of *url*, for messages (never its password)."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.Error:
        return "(unparsable URL)"
    return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


def _error(where: str, op: str, exc: psycopg.Error) -> StoreError:
    """A StoreError for *exc*: the server's primary message only (no DETAIL, no values)."""
    if isinstance(exc, errors.UniqueViolation):
        return StoreError(f"postgres {where}: {op}: UNIQUE constraint failed: "
                          f"{exc.diag.constraint_name or exc.diag.message_primary}")
    text = exc.diag.message_primary or next(iter(str(exc).splitlines()), "")
    return StoreError(f"postgres {where}: {op} failed: {type(exc).__name__}: {text}")


async def _configure(conn: Conn) -> None:
    """Per connection: commits wait for their WAL flush, whatever the server's default."""
    await conn.execute("SET synchronous_commit = on")


class PostgresSubscriberStore:
    """The HSS subscriber table (TS 33.220 §4.4.1) in PostgreSQL, SQN per TS 33.102 Annex
    C.3.2. The connection pool opens on first use (the store may be built outside a running
    event loop) and is bound to that loop."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 16,
                 timeout: float = 30.0) -> None:
        self._url = url
        self.where = _where(url)
        self._min_size = min_size
        self._max_size = max_size
        self._timeout = timeout
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    async def _open(self) -> AsyncConnectionPool[Conn]:
        if self._closed:
            raise StoreError(f"postgres {self.where}: the HSS store is closed")
        if self._pool is not None:
            return self._pool
        async with self._lock:
            if self._pool is None:
                try:
                    conn = await AsyncConnection.connect(
                        self._url, autocommit=True, connect_timeout=max(int(self._timeout), 1))
                    async with conn:
                        await _configure(conn)
                        await self._migrate(conn)
                    pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
                        self._url, min_size=self._min_size, max_size=self._max_size,
                        kwargs={"autocommit": True}, configure=_configure,
                        timeout=self._timeout, name="gba-hss", open=False)
                    await pool.open()
                except psycopg.Error as exc:
                    raise _error(self.where, "open the HSS store", exc) from exc
                self._pool = pool
        return self._pool

    async def _migrate(self, conn: Conn) -> None:
        """Create the tables and the ``gba_schema`` row, or refuse another version."""
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            await conn.execute("CREATE TABLE IF NOT EXISTS gba_schema "
                               "(component TEXT PRIMARY KEY, version INT NOT NULL)")
            row = await (await conn.execute(
                "SELECT version FROM gba_schema WHERE component = 'HSS'")).fetchone()
            if row is not None and row[0] != SCHEMA_VERSION:
                raise StoreError(
                    f"postgres {self.where}: HSS schema version {row[0]} is not the version "
                    f"{SCHEMA_VERSION} this gba reads; refusing to open it")
            for statement in _TABLES:
                await conn.execute(statement)
            if row is None:
                await conn.execute("INSERT INTO gba_schema (component, version) "
                                   "VALUES ('HSS', %s)", (SCHEMA_VERSION,))
            fsync = await (await conn.execute("SHOW fsync")).fetchone()
        if fsync is not None and fsync[0] != "on":
            log.warning("postgres %s runs with fsync=%s: issued SQNs may not survive a "
                        "crash (TS 33.102 Annex C.3.2)", self.where, fsync[0])

    @asynccontextmanager
    async def _conn(self, op: str) -> AsyncIterator[Conn]:
        """A pooled connection in autocommit mode (one statement, one transaction)."""
        pool = await self._open()
        try:
            async with pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:
            raise _error(self.where, op, exc) from exc

    @asynccontextmanager
    async def _tx(self, op: str) -> AsyncIterator[Conn]:
        """One transaction: committed (WAL flushed) when the block ends, rolled back if it
        raises."""
        async with self._conn(op) as conn, conn.transaction():
            yield conn

    async def _one(self, op: str, sql: str, params: tuple[Any, ...] | dict[str, Any]) -> Any:
        async with self._conn(op) as conn:
            return await (await conn.execute(sql, params)).fetchone()

    async def put_subscriber(self, sub: Subscriber) -> None:
        """Insert or replace *sub*; StoreError if its IMSI belongs to another IMPI."""
        async with self._conn(f"put subscriber {sub.impi!r}") as conn:
            await conn.execute(_UPSERT_SUBSCRIBER, (sub.impi, sub.k, sub.opc, sub.sqn,
                                                    sub.amf, sub.imsi, sub.guss))

    async def provision_subscriber(self, sub: Subscriber, *, keep_sqn: bool = False
                                   ) -> Subscriber:
        """Insert or replace *sub*, SQN forward only (TS 33.102 Annex C.3); the row is
        locked from the check to the write, so a vector issued meanwhile is never undone."""
        async with self._tx(f"provision subscriber {sub.impi!r}") as conn:
            row = await (await conn.execute(
                "SELECT sqn FROM subscriber WHERE impi = %s FOR UPDATE", (sub.impi,))).fetchone()
            if row is not None and row[0] > sub.sqn:
                if not keep_sqn:
                    raise SqnNotForward(sub.impi, row[0], sub.sqn)
                sub = replace(sub, sqn=row[0])
            await conn.execute(_UPSERT_SUBSCRIBER, (sub.impi, sub.k, sub.opc, sub.sqn,
                                                    sub.amf, sub.imsi, sub.guss))
        return sub

    async def get_subscriber(self, impi: str) -> Subscriber:
        row = await self._one("get subscriber", _SUBSCRIBER_BY_IMPI, (impi,))
        if row is None:
            raise NotFound(f"no subscriber {impi!r}")
        return _subscriber(row)

    async def find_by_imsi(self, imsi: str) -> Subscriber:
        row = await self._one("find subscriber by IMSI",
                              _SELECT_SUBSCRIBER + " WHERE imsi = %s", (imsi,))
        if row is None:
            raise NotFound(f"no subscriber with IMSI {imsi!r}")
        return _subscriber(row)

    async def list_subscribers(self, limit: int | None = None) -> list[Subscriber]:
        async with self._conn("list subscribers") as conn:
            rows = await (await conn.execute(
                _SELECT_SUBSCRIBER + " ORDER BY impi LIMIT %s",
                (None if limit is None else max(limit, 0),))).fetchall()
        return [_subscriber(r) for r in rows]

    async def delete_subscriber(self, impi: str) -> bool:
        async with self._conn("delete subscriber") as conn:
            cur = await conn.execute("DELETE FROM subscriber WHERE impi = %s", (impi,))
            return cur.rowcount > 0

    async def issue_sqn(self, impi: str, ind: int) -> tuple[Subscriber, int]:
        """Step SEQ by one with IND *ind* (TS 33.102 Annex C.3.2), commit, then return.

        One ``UPDATE ... RETURNING`` in autocommit mode: the step is computed by the
        server on the locked row (``next_sqn``'s arithmetic: SQN = (SEQ + 1) << IND_BITS
        | IND), so concurrent issuers (any process) queue on the row and never share an
        SQN, in one round trip; its commit (``synchronous_commit = on``: WAL flushed)
        precedes the answer, so a restart never reissues one. PostgreSQL groups the WAL
        flushes of concurrent commits itself. A refusal (NotFound, StoreError) changes
        nothing.
        """
        try:
            join_sqn(0, ind)  # IND within its bits, as next_sqn would check
        except InvalidInput as exc:
            raise StoreError(f"cannot issue an SQN for {impi!r}: {exc}") from exc
        row = await self._one(f"issue SQN for {impi!r}", _ISSUE_SQN,
                              {"ind": ind, "impi": impi, "bits": IND_BITS, "seq_max": SEQ_MAX})
        if row is not None:
            sub = _subscriber(row)
            return sub, sub.sqn
        sub = await self.get_subscriber(impi)  # NotFound, else SEQ is at its maximum
        try:
            next_sqn(sub.sqn, ind)
        except InvalidInput as exc:
            raise StoreError(f"cannot issue an SQN for {impi!r}: {exc}") from exc
        raise StoreError(f"cannot issue an SQN for {impi!r}: the row changed meanwhile")

    async def issue_decoy_sqn(self) -> None:
        """Count one request for an unknown IMPI with a statement shaped like
        :meth:`issue_sqn`'s: one row written in one round trip (one of
        :data:`COUNTER_SLOTS` counter rows, so unrelated decoys wait on no common lock, as
        issues for distinct IMPIs do not) and a flushed commit: the answer takes as long
        as a vector's."""
        slot = random.randrange(COUNTER_SLOTS) + 1
        await self._one("count an unknown IMPI",
                        "INSERT INTO unknown_impi (id, requests) VALUES (%s, 1) "
                        "ON CONFLICT (id) DO UPDATE SET requests = unknown_impi.requests + 1 "
                        "RETURNING requests", (slot,))

    async def unknown_impi_requests(self) -> int:
        row = await self._one("read the unknown-IMPI count",
                              "SELECT COALESCE(SUM(requests), 0) FROM unknown_impi", ())
        return int(row[0])

    async def raise_sqn(self, impi: str, sqn: int) -> None:
        """Set SQN_HE to *sqn* if higher (resynchronisation, TS 33.102 §6.3.5); never lower."""
        if not 0 <= sqn <= SQN_MAX:
            raise StoreError(f"SQN {sqn} for {impi!r} outside 0..{SQN_MAX}")
        async with self._tx(f"raise SQN for {impi!r}") as conn:
            cur = await conn.execute("UPDATE subscriber SET sqn = %s WHERE impi = %s "
                                     "AND sqn < %s", (sqn, impi, sqn))
            if not cur.rowcount and await (await conn.execute(
                    "SELECT 1 FROM subscriber WHERE impi = %s", (impi,))).fetchone() is None:
                raise NotFound(f"no subscriber {impi!r}")

    async def set_sqn(self, impi: str, sqn: int) -> None:
        """Set SQN_HE to *sqn*, lower or higher (resync to SQN_MS, TS 33.102 §6.3.5)."""
        if not 0 <= sqn <= SQN_MAX:
            raise StoreError(f"SQN {sqn} for {impi!r} outside 0..{SQN_MAX}")
        async with self._conn(f"set SQN for {impi!r}") as conn:
            cur = await conn.execute("UPDATE subscriber SET sqn = %s WHERE impi = %s",
                                     (sqn, impi))
            if not cur.rowcount:
                raise NotFound(f"no subscriber {impi!r}")

    async def provision_mtc_group(self, group: MtcGroup, key: Subscriber) -> Subscriber:
        if key.impi != group.group_id:
            raise InvalidInput("the group key's subscription must be stored under the group id")
        async with self._tx(f"provision MTC group {group.group_id!r}") as conn:
            row = await (await conn.execute(
                "SELECT sqn FROM subscriber WHERE impi = %s FOR UPDATE", (key.impi,))).fetchone()
            if row is not None and row[0] > key.sqn:
                key = replace(key, sqn=row[0])  # a new group key keeps the group's SQN
            await conn.execute(_UPSERT_SUBSCRIBER, (key.impi, key.k, key.opc, key.sqn,
                                                    key.amf, None, key.guss))
            await conn.execute("INSERT INTO mtc_group (group_id, key_id) VALUES (%s, %s) "
                               "ON CONFLICT (group_id) DO UPDATE SET key_id = excluded.key_id",
                               (group.group_id, group.key_id))
        return key

    async def get_mtc_group(self, group_id: str) -> MtcGroup:
        row = await self._one("get MTC group",
                              "SELECT group_id, key_id FROM mtc_group WHERE group_id = %s",
                              (group_id,))
        if row is None:
            raise NotFound(f"no MTC group {group_id!r}")
        return MtcGroup(row[0], int(row[1]))

    async def put_mtc_device(self, device: MtcDevice) -> None:
        async with self._tx(f"put MTC device {device.imsi!r}") as conn:
            if await (await conn.execute(_GROUP_EXISTS, (device.group_id,))).fetchone() is None:
                raise NotFound(f"no MTC group {device.group_id!r}")
            await conn.execute(_UPSERT_DEVICE, (device.imsi, device.group_id, device.capability))

    async def put_mtc_devices(self, devices: list[MtcDevice]) -> None:
        async with self._tx(f"put {len(devices)} MTC devices") as conn:
            for group in sorted({d.group_id for d in devices}):
                if await (await conn.execute(_GROUP_EXISTS, (group,))).fetchone() is None:
                    raise NotFound(f"no MTC group {group!r}")
            async with conn.cursor() as cur:
                await cur.executemany(_UPSERT_DEVICE,
                                      [(d.imsi, d.group_id, d.capability) for d in devices])

    async def get_mtc_device(self, imsi: str) -> MtcDevice:
        row = await self._one("get MTC device", "SELECT imsi, group_id, capability "
                              "FROM mtc_device WHERE imsi = %s", (imsi,))
        if row is None:
            raise NotFound(f"no MTC device {imsi!r}")
        return MtcDevice(row[0], row[1], int(row[2]))

    async def mtc_members(self, group_id: str, limit: int) -> list[str]:
        return [d.imsi for d in await self.mtc_group_devices(group_id, limit)]

    async def mtc_group_devices(self, group_id: str, limit: int) -> list[MtcDevice]:
        async with self._conn("list MTC group devices") as conn:
            rows = await (await conn.execute(
                "SELECT imsi, group_id, capability FROM mtc_device WHERE group_id = %s "
                "ORDER BY imsi LIMIT %s", (group_id, max(limit, 0)))).fetchall()
        return [MtcDevice(r[0], r[1], int(r[2])) for r in rows]

    async def close(self) -> None:
        """Close the pool; later calls raise StoreError."""
        self._closed = True
        async with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

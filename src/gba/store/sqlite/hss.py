"""The HSS subscriber table in SQLite (TS 33.220 §4.4.1), SQN kept per TS 33.102 Annex C.

The file is opened with ``synchronous=FULL``: an issued SQN is fsync'd before the vector
leaves the HSS, so a power cut never makes the HSS reissue one.

SQNs are issued by group commit (issue 16: one fsync per vector bounded bootstraps). Each
:meth:`~SqliteSubscriberStore.issue_sqn` and
:meth:`~SqliteSubscriberStore.issue_decoy_sqn` is queued to one writer thread with its
own connection to the file; the thread takes every request waiting (at most
:data:`MAX_BATCH`), applies them in arrival order in one ``BEGIN IMMEDIATE`` transaction,
commits once (fsync'd), and only then answers each caller. Requests arriving during a
commit form the next batch; an idle HSS commits a lone request at once (no timer waits
for company). Reads and the REST provisioning writes stay on the store's first
connection, on the event loop; WAL lets them read while the writer thread commits.

Schema versions (:data:`HSS_SCHEMA`):

1. ``subscriber`` (impi, K, OPc, SQN, AMF, IMSI unique, GUSS).
2. ``unknown_impi`` (one row: how many vectors were asked for IMPIs the HSS does not
   have). Counting them is the write that makes such a request cost what a vector costs.
3. ``mtc_group`` (group id -> current group-key id; the key is the ``subscriber`` row of
   the group id) and ``mtc_device`` (IMSI, group, small-data capability): seed 004,
   docs/mtc.md §1.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from dataclasses import dataclass, replace
from typing import Any, Final

from gba.crypto.aka import SQN_MAX, next_sqn
from gba.errors import InvalidInput, NotFound, StoreError
from gba.store.hss import MtcDevice, MtcGroup, SqnNotForward, Subscriber
from gba.store.sqlite.db import Db, Schema, Step, StorePath

MAX_BATCH: Final = 256
"""At most this many SQN issues share one transaction and one fsync."""

_V1: Step = (
    """CREATE TABLE IF NOT EXISTS subscriber (
        impi TEXT PRIMARY KEY,
        k BLOB NOT NULL,
        opc BLOB NOT NULL,
        sqn INTEGER NOT NULL,
        amf BLOB NOT NULL,
        imsi TEXT UNIQUE,
        guss TEXT
    )""",
)
_V2: Step = (
    """CREATE TABLE IF NOT EXISTS unknown_impi (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        requests INTEGER NOT NULL
    )""",
)
_V3: Step = (
    """CREATE TABLE IF NOT EXISTS mtc_group (
        group_id TEXT PRIMARY KEY REFERENCES subscriber (impi),
        key_id INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS mtc_device (
        imsi TEXT PRIMARY KEY,
        group_id TEXT NOT NULL REFERENCES mtc_group (group_id),
        capability INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS mtc_device_group ON mtc_device (group_id, imsi)",
)
HSS_SCHEMA: Final = Schema("HSS", (_V1, _V2, _V3))

_SELECT_SUBSCRIBER = "SELECT impi, k, opc, sqn, amf, imsi, guss FROM subscriber"
_SUBSCRIBER_BY_IMPI = _SELECT_SUBSCRIBER + " WHERE impi = ?"
_SUBSCRIBER_BY_IMSI = _SELECT_SUBSCRIBER + " WHERE imsi = ?"
_UPSERT_SUBSCRIBER = (
    "INSERT INTO subscriber (impi, k, opc, sqn, amf, imsi, guss) VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (impi) DO UPDATE SET k = excluded.k, opc = excluded.opc, sqn = excluded.sqn, "
    "amf = excluded.amf, imsi = excluded.imsi, guss = excluded.guss"
)


def _subscriber(row: Any) -> Subscriber:
    impi, k, opc, sqn, amf, imsi, guss = row
    return Subscriber(impi=impi, k=k, opc=opc, sqn=sqn, amf=amf, imsi=imsi, guss=guss)


_Issued = tuple[Subscriber, int] | None
"""What one queued request yields: (subscriber, SQN) for an issue, None for a decoy."""
_Outcome = _Issued | BaseException


@dataclass(slots=True)
class _Request:
    """One queued SQN issue (*impi* set) or decoy (*impi* None), and who waits for it."""

    impi: str | None
    ind: int
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[_Issued]


class _ItemFailed(Exception):
    """SQLite failed on the batch's request number *index*: roll back, fail that one."""

    def __init__(self, index: int, error: StoreError) -> None:
        super().__init__(str(error))
        self.index = index
        self.error = error


def _settle(pairs: list[tuple[asyncio.Future[_Issued], _Outcome]]) -> None:
    """Answer the callers of one committed batch (runs on their event loop)."""
    for future, outcome in pairs:
        if future.done():  # the caller was cancelled; its SQN, if issued, is a gap
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


class _SqnWriter:
    """The group commit of SQN issues: one thread, one connection, one transaction and one
    fsync per batch of waiting requests, each caller answered after the commit."""

    def __init__(self, db: Db) -> None:
        self._db = db
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.transactions = 0
        """Batches committed (or attempted): the number of fsyncs SQN issuing cost."""
        self.requests = 0
        """Requests (issues and decoys) those batches carried."""

    async def submit(self, impi: str | None, ind: int) -> _Issued:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_Issued] = loop.create_future()
        with self._lock:
            if self._closed:
                raise StoreError(f"sqlite {self._db.where}: the HSS store is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="gba-hss-sqn",
                                                daemon=True)
                self._thread.start()
            self._queue.put(_Request(impi, ind, loop, future))
        return await future

    def _serve(self) -> None:
        """Take what waits (one request at least, MAX_BATCH at most), commit it, repeat."""
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            live = [r for r in batch if not r.future.done()]  # skip cancelled callers
            if live:
                try:
                    outcomes = self._commit(live)
                except BaseException as exc:  # never leave a caller waiting
                    outcomes = [StoreError(f"sqlite {self._db.where}: issue SQN: {exc!r}")
                                for _ in live]
                self._answer(live, outcomes)
            if stop:
                return

    def _commit(self, batch: list[_Request]) -> list[_Outcome]:
        """Apply *batch* in order in one BEGIN IMMEDIATE transaction and commit it. A
        request SQLite fails on is answered with that error and the rest is retried; a
        failed BEGIN or COMMIT fails every request of the batch (none is durable)."""
        outcomes: dict[int, _Outcome] = {}
        pending = list(range(len(batch)))
        while pending:
            self.transactions += 1
            self.requests += len(pending)
            try:
                with self._db.write(f"issue {len(pending)} SQN(s)") as c:
                    done = [self._apply(c, n, batch[i]) for n, i in enumerate(pending)]
            except _ItemFailed as failed:
                outcomes[pending.pop(failed.index)] = failed.error
                continue
            except StoreError as exc:
                for i in pending:
                    outcomes[i] = StoreError(str(exc))
                break
            outcomes.update(zip(pending, done, strict=True))
            break
        return [outcomes[i] for i in range(len(batch))]

    def _apply(self, c: sqlite3.Connection, index: int, req: _Request) -> _Outcome:
        """One request inside the batch's transaction; a refusal is returned, not raised."""
        try:
            if req.impi is None:
                # the decoy: a read and a one-row write, like an issue (see issue_decoy_sqn)
                c.execute(_SUBSCRIBER_BY_IMPI, ("",)).fetchone()
                c.execute("INSERT INTO unknown_impi (id, requests) VALUES (1, 1) "
                          "ON CONFLICT (id) DO UPDATE SET requests = requests + 1")
                return None
            row = c.execute(_SUBSCRIBER_BY_IMPI, (req.impi,)).fetchone()
            if row is None:
                return NotFound(f"no subscriber {req.impi!r}")
            sub = _subscriber(row)
            try:
                sqn = next_sqn(sub.sqn, req.ind)
            except InvalidInput as exc:
                return StoreError(f"cannot issue an SQN for {req.impi!r}: {exc}")
            c.execute("UPDATE subscriber SET sqn = ? WHERE impi = ?", (sqn, req.impi))
            return replace(sub, sqn=sqn), sqn
        except sqlite3.Error as exc:
            what = "count an unknown IMPI" if req.impi is None else f"issue SQN for {req.impi!r}"
            error = StoreError(f"sqlite {self._db.where}: {what} failed: {exc}")
            raise _ItemFailed(index, error) from exc

    @staticmethod
    def _answer(batch: list[_Request], outcomes: list[_Outcome]) -> None:
        """Hand each outcome to its caller's loop: one wake-up per loop per batch."""
        by_loop: dict[asyncio.AbstractEventLoop,
                      list[tuple[asyncio.Future[_Issued], _Outcome]]] = {}
        for req, outcome in zip(batch, outcomes, strict=True):
            by_loop.setdefault(req.loop, []).append((req.future, outcome))
        for loop, pairs in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_settle, pairs)

    async def close(self) -> None:
        """Commit what was queued, then stop the thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            await asyncio.to_thread(thread.join)


class SqliteSubscriberStore:
    """The HSS subscriber table (TS 33.220 §4.4.1), SQN kept per TS 33.102 Annex C."""

    def __init__(self, path: StorePath, *, busy_timeout: float = 10.0) -> None:
        self._db = Db(path, HSS_SCHEMA, synchronous="FULL", busy_timeout=busy_timeout)
        if self._db.where == ":memory:":
            issuing = self._db  # a second connection would be another database
        else:
            try:
                issuing = Db(path, HSS_SCHEMA, synchronous="FULL", busy_timeout=busy_timeout)
            except BaseException:
                self._db.close()
                raise
        self._issuing = issuing
        """The writer thread's connection: SQN issues only (group commit)."""
        self._sqn = _SqnWriter(issuing)

    @property
    def sqn_commits(self) -> tuple[int, int]:
        """(transactions, requests) of SQN issuing so far: how well commits are grouped."""
        return self._sqn.transactions, self._sqn.requests

    async def put_subscriber(self, sub: Subscriber) -> None:
        """Insert or replace *sub*; StoreError if its IMSI belongs to another IMPI."""
        row = (sub.impi, sub.k, sub.opc, sub.sqn, sub.amf, sub.imsi, sub.guss)
        with self._db.write(f"put subscriber {sub.impi!r}") as c:
            c.execute(_UPSERT_SUBSCRIBER, row)

    async def provision_subscriber(self, sub: Subscriber, *, keep_sqn: bool = False
                                   ) -> Subscriber:
        """Insert or replace *sub*, SQN forward only (TS 33.102 Annex C.3); the check and
        the write are one ``BEGIN IMMEDIATE`` transaction, so a vector issued meanwhile by
        another process is never undone."""
        with self._db.write(f"provision subscriber {sub.impi!r}") as c:
            row = c.execute("SELECT sqn FROM subscriber WHERE impi = ?", (sub.impi,)).fetchone()
            if row is not None and row[0] > sub.sqn:
                if not keep_sqn:
                    raise SqnNotForward(sub.impi, row[0], sub.sqn)
                sub = replace(sub, sqn=row[0])
            c.execute(_UPSERT_SUBSCRIBER,
                      (sub.impi, sub.k, sub.opc, sub.sqn, sub.amf, sub.imsi, sub.guss))
        return sub

    async def get_subscriber(self, impi: str) -> Subscriber:
        with self._db.read("get subscriber") as c:
            row = c.execute(_SUBSCRIBER_BY_IMPI, (impi,)).fetchone()
        if row is None:
            raise NotFound(f"no subscriber {impi!r}")
        return _subscriber(row)

    async def find_by_imsi(self, imsi: str) -> Subscriber:
        with self._db.read("find subscriber by IMSI") as c:
            row = c.execute(_SUBSCRIBER_BY_IMSI, (imsi,)).fetchone()
        if row is None:
            raise NotFound(f"no subscriber with IMSI {imsi!r}")
        return _subscriber(row)

    async def list_subscribers(self, limit: int | None = None) -> list[Subscriber]:
        with self._db.read("list subscribers") as c:
            rows = c.execute(_SELECT_SUBSCRIBER + " ORDER BY impi LIMIT ?",
                             (-1 if limit is None else max(limit, 0),)).fetchall()
        return [_subscriber(r) for r in rows]

    async def delete_subscriber(self, impi: str) -> bool:
        with self._db.write("delete subscriber") as c:
            return c.execute("DELETE FROM subscriber WHERE impi = ?", (impi,)).rowcount > 0

    async def issue_sqn(self, impi: str, ind: int) -> tuple[Subscriber, int]:
        """Step SEQ by one with IND *ind* (TS 33.102 Annex C.3.2), commit, then return.

        The read, the step and the write are in one ``BEGIN IMMEDIATE`` transaction, so two
        processes sharing the file never receive the same SQN, and the commit (fsync'd,
        ``synchronous=FULL``) precedes the return, so a restart never reissues one. The
        transaction is shared with the other issues waiting at the time (group commit,
        applied in the order they were asked: one IMPI's SQNs grow in that order); a
        refusal (NotFound, StoreError) is this caller's alone.
        """
        issued = await self._sqn.submit(impi, ind)
        if issued is None:  # only a decoy yields None
            raise StoreError(f"no SQN issued for {impi!r}")
        return issued

    async def issue_decoy_sqn(self) -> None:
        """Count one request for an unknown IMPI in a transaction shaped like
        :meth:`issue_sqn`'s: a read, a one-row write, an fsync'd commit. (Writing a row
        back unchanged would not do: SQLite skips a cell that is rewritten identical.) It
        takes the same queue and the same group commit as a real issue, so its answer
        comes when a real one sharing the batch would."""
        await self._sqn.submit(None, 0)

    async def unknown_impi_requests(self) -> int:
        """How many vectors were asked for IMPIs this store does not have."""
        with self._db.read("read the unknown-IMPI count") as c:
            row = c.execute("SELECT requests FROM unknown_impi WHERE id = 1").fetchone()
        return int(row[0]) if row is not None else 0

    async def raise_sqn(self, impi: str, sqn: int) -> None:
        """Set SQN_HE to *sqn* if higher (resynchronisation, TS 33.102 §6.3.5); never lower."""
        if not 0 <= sqn <= SQN_MAX:
            raise StoreError(f"SQN {sqn} for {impi!r} outside 0..{SQN_MAX}")
        with self._db.write(f"raise SQN for {impi!r}") as c:
            updated = c.execute(
                "UPDATE subscriber SET sqn = ? WHERE impi = ? AND sqn < ?", (sqn, impi, sqn)
            ).rowcount
            if not updated:
                exists = c.execute("SELECT 1 FROM subscriber WHERE impi = ?", (impi,)).fetchone()
                if exists is None:
                    raise NotFound(f"no subscriber {impi!r}")

    async def set_sqn(self, impi: str, sqn: int) -> None:
        """Set SQN_HE to *sqn*, lower or higher (resync to SQN_MS, TS 33.102 §6.3.5)."""
        if not 0 <= sqn <= SQN_MAX:
            raise StoreError(f"SQN {sqn} for {impi!r} outside 0..{SQN_MAX}")
        with self._db.write(f"set SQN for {impi!r}") as c:
            if not c.execute("UPDATE subscriber SET sqn = ? WHERE impi = ?", (sqn, impi)).rowcount:
                raise NotFound(f"no subscriber {impi!r}")

    async def provision_mtc_group(self, group: MtcGroup, key: Subscriber) -> Subscriber:
        if key.impi != group.group_id:
            raise InvalidInput("the group key's subscription must be stored under the group id")
        with self._db.write(f"provision MTC group {group.group_id!r}") as c:
            row = c.execute("SELECT sqn FROM subscriber WHERE impi = ?", (key.impi,)).fetchone()
            if row is not None and row[0] > key.sqn:
                key = replace(key, sqn=row[0])  # a new group key keeps the group's SQN
            c.execute(_UPSERT_SUBSCRIBER,
                      (key.impi, key.k, key.opc, key.sqn, key.amf, None, key.guss))
            c.execute("INSERT INTO mtc_group (group_id, key_id) VALUES (?, ?) "
                      "ON CONFLICT (group_id) DO UPDATE SET key_id = excluded.key_id",
                      (group.group_id, group.key_id))
        return key

    async def get_mtc_group(self, group_id: str) -> MtcGroup:
        with self._db.read("get MTC group") as c:
            row = c.execute("SELECT group_id, key_id FROM mtc_group WHERE group_id = ?",
                            (group_id,)).fetchone()
        if row is None:
            raise NotFound(f"no MTC group {group_id!r}")
        return MtcGroup(row[0], int(row[1]))

    async def put_mtc_device(self, device: MtcDevice) -> None:
        with self._db.write(f"put MTC device {device.imsi!r}") as c:
            if c.execute("SELECT 1 FROM mtc_group WHERE group_id = ?",
                         (device.group_id,)).fetchone() is None:
                raise NotFound(f"no MTC group {device.group_id!r}")
            c.execute("INSERT INTO mtc_device (imsi, group_id, capability) VALUES (?, ?, ?) "
                      "ON CONFLICT (imsi) DO UPDATE SET group_id = excluded.group_id, "
                      "capability = excluded.capability",
                      (device.imsi, device.group_id, device.capability))

    async def put_mtc_devices(self, devices: list[MtcDevice]) -> None:
        with self._db.write(f"put {len(devices)} MTC devices") as c:
            for group in {d.group_id for d in devices}:
                if c.execute("SELECT 1 FROM mtc_group WHERE group_id = ?",
                             (group,)).fetchone() is None:
                    raise NotFound(f"no MTC group {group!r}")
            c.executemany("INSERT INTO mtc_device (imsi, group_id, capability) "
                          "VALUES (?, ?, ?) ON CONFLICT (imsi) DO UPDATE SET "
                          "group_id = excluded.group_id, capability = excluded.capability",
                          [(d.imsi, d.group_id, d.capability) for d in devices])

    async def get_mtc_device(self, imsi: str) -> MtcDevice:
        with self._db.read("get MTC device") as c:
            row = c.execute("SELECT imsi, group_id, capability FROM mtc_device WHERE imsi = ?",
                            (imsi,)).fetchone()
        if row is None:
            raise NotFound(f"no MTC device {imsi!r}")
        return MtcDevice(row[0], row[1], int(row[2]))

    async def mtc_members(self, group_id: str, limit: int) -> list[str]:
        with self._db.read("list MTC group members") as c:
            rows = c.execute("SELECT imsi FROM mtc_device WHERE group_id = ? ORDER BY imsi "
                             "LIMIT ?", (group_id, max(limit, 0))).fetchall()
        return [r[0] for r in rows]

    async def mtc_group_devices(self, group_id: str, limit: int) -> list[MtcDevice]:
        with self._db.read("list MTC group devices") as c:
            rows = c.execute("SELECT imsi, group_id, capability FROM mtc_device "
                             "WHERE group_id = ? ORDER BY imsi LIMIT ?",
                             (group_id, max(limit, 0))).fetchall()
        return [MtcDevice(r[0], r[1], int(r[2])) for r in rows]

    async def close(self) -> None:
        await self._sqn.close()
        if self._issuing is not self._db:
            self._issuing.close()
        self._db.close()

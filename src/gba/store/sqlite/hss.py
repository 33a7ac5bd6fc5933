"""The HSS subscriber table in SQLite (TS 33.220 §4.4.1), SQN kept per TS 33.102 Annex C.

The file is opened with ``synchronous=FULL``: an issued SQN is fsync'd before the vector
leaves the HSS, so a power cut never makes the HSS reissue one.

Schema versions (:data:`HSS_SCHEMA`):

1. ``subscriber`` (impi, K, OPc, SQN, AMF, IMSI unique, GUSS).
2. ``unknown_impi`` (one row: how many vectors were asked for IMPIs the HSS does not
   have). Counting them is the write that makes such a request cost what a vector costs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

from gba.crypto.aka import SQN_MAX, next_sqn
from gba.errors import InvalidInput, NotFound, StoreError
from gba.store.hss import SqnNotForward, Subscriber
from gba.store.sqlite.db import Db, Schema, Step, StorePath

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
HSS_SCHEMA: Final = Schema("HSS", (_V1, _V2))

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


class SqliteSubscriberStore:
    """The HSS subscriber table (TS 33.220 §4.4.1), SQN kept per TS 33.102 Annex C."""

    def __init__(self, path: StorePath, *, busy_timeout: float = 10.0) -> None:
        self._db = Db(path, HSS_SCHEMA, synchronous="FULL", busy_timeout=busy_timeout)

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

        The read, the step and the write are one ``BEGIN IMMEDIATE`` transaction, so two
        processes sharing the file never receive the same SQN, and the commit (fsync'd,
        ``synchronous=FULL``) precedes the return, so a restart never reissues one.
        """
        with self._db.write(f"issue SQN for {impi!r}") as c:
            row = c.execute(_SUBSCRIBER_BY_IMPI, (impi,)).fetchone()
            if row is None:
                raise NotFound(f"no subscriber {impi!r}")
            sub = _subscriber(row)
            try:
                sqn = next_sqn(sub.sqn, ind)
            except InvalidInput as exc:
                raise StoreError(f"cannot issue an SQN for {impi!r}: {exc}") from exc
            c.execute("UPDATE subscriber SET sqn = ? WHERE impi = ?", (sqn, impi))
        return replace(sub, sqn=sqn), sqn

    async def issue_decoy_sqn(self) -> None:
        """Count one request for an unknown IMPI in a transaction shaped like
        :meth:`issue_sqn`'s: a read, a one-row write, an fsync'd commit. (Writing a row
        back unchanged would not do: SQLite skips a cell that is rewritten identical.)"""
        with self._db.write("count an unknown IMPI") as c:
            c.execute(_SUBSCRIBER_BY_IMPI, ("",)).fetchone()
            c.execute("INSERT INTO unknown_impi (id, requests) VALUES (1, 1) "
                      "ON CONFLICT (id) DO UPDATE SET requests = requests + 1")

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

    async def close(self) -> None:
        self._db.close()

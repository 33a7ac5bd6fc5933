"""The HSS subscriber table in SQLite (TS 33.220 §4.4.1), SQN kept per TS 33.102 Annex C.

The file is opened with ``synchronous=FULL``: an issued SQN is fsync'd before the vector
leaves the HSS, so a power cut never makes the HSS reissue one.

Schema versions (:data:`HSS_SCHEMA`):

1. ``subscriber`` (impi, K, OPc, SQN, AMF, IMSI unique, GUSS).
2. ``unknown_impi`` (one row: how many vectors were asked for IMPIs the HSS does not
   have). Counting them is the write that makes such a request cost what a vector costs.
3. ``mtc_group`` (group id -> current group-key id; the key is the ``subscriber`` row of
   the group id) and ``mtc_device`` (IMSI, group, small-data capability): seed 004,
   docs/mtc.md §1.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

from gba.crypto.aka import SQN_MAX, next_sqn
from gba.errors import InvalidInput, NotFound, StoreError
from gba.store.hss import MtcDevice, MtcGroup, SqnNotForward, Subscriber
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
        self._db.close()

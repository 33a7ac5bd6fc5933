"""SQLite backend: one file per network function, WAL mode, schema created on open.

The methods are coroutines to fit :mod:`gba.store.base` but run synchronously: a lookup
takes microseconds, less than a hop to a worker thread. Every write is one explicit
``BEGIN IMMEDIATE`` transaction, so the HSS's SQN step (TS 33.102 Annex C.3.2) holds
across processes sharing the file, and ``synchronous=FULL`` makes it survive a power cut
before the vector leaves the HSS. The BSF and NAF hold caches and use ``NORMAL``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any, Final, Literal

from gba.crypto.aka import SQN_MAX, next_sqn
from gba.errors import InvalidInput, NotFound, StoreError
from gba.store._epoch import from_us, to_us
from gba.store.base import BootstrapContext, Challenge, NafKey, Subscriber

SCHEMA_VERSION: Final = 1
"""Stored in ``PRAGMA user_version``; a file with another version is refused."""

Synchronous = Literal["FULL", "NORMAL"]
StorePath = str | os.PathLike[str]


class _Db:
    """One SQLite connection, used under a lock; writes are BEGIN IMMEDIATE transactions."""

    def __init__(
        self,
        path: StorePath,
        schema: Sequence[str],
        *,
        synchronous: Synchronous,
        busy_timeout: float,
    ) -> None:
        self.where = os.fspath(path)
        self._lock = threading.RLock()
        if self.where != ":memory:" and not os.path.exists(self.where):
            # key material lives here (K/OPc, Ks, Ks_NAF): owner-only from the first byte
            with contextlib.suppress(OSError):
                os.close(os.open(self.where, os.O_CREAT | os.O_WRONLY, 0o600))
        try:
            self._conn = sqlite3.connect(
                self.where,
                timeout=busy_timeout,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite {self.where}: cannot open: {exc}") from exc
        try:
            with self._errors("set journal mode"):
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute(f"PRAGMA synchronous={synchronous}")
            with self.write("create schema") as c:
                version = c.execute("PRAGMA user_version").fetchone()[0]
                if version not in (0, SCHEMA_VERSION):
                    raise StoreError(
                        f"sqlite {self.where}: schema version {version}, "
                        f"this gba reads {SCHEMA_VERSION}"
                    )
                for statement in schema:
                    c.execute(statement)
                c.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            self._conn.close()
            raise

    @contextmanager
    def read(self, op: str) -> Iterator[sqlite3.Connection]:
        with self._lock, self._errors(op):
            yield self._conn

    @contextmanager
    def write(self, op: str) -> Iterator[sqlite3.Connection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self._lock, self._errors(op):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.rollback()
                raise

    @contextmanager
    def _errors(self, op: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"sqlite {self.where}: {op}: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite {self.where}: {op} failed: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()


# --- HSS -------------------------------------------------------------------------------

_SUBSCRIBER_SCHEMA = (
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
_SELECT_SUBSCRIBER = "SELECT impi, k, opc, sqn, amf, imsi, guss FROM subscriber"
_SUBSCRIBER_BY_IMPI = "SELECT impi, k, opc, sqn, amf, imsi, guss FROM subscriber WHERE impi = ?"
_SUBSCRIBER_BY_IMSI = "SELECT impi, k, opc, sqn, amf, imsi, guss FROM subscriber WHERE imsi = ?"
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
        self._db = _Db(path, _SUBSCRIBER_SCHEMA, synchronous="FULL", busy_timeout=busy_timeout)

    async def put_subscriber(self, sub: Subscriber) -> None:
        """Insert or replace *sub*; StoreError if its IMSI belongs to another IMPI."""
        row = (sub.impi, sub.k, sub.opc, sub.sqn, sub.amf, sub.imsi, sub.guss)
        with self._db.write(f"put subscriber {sub.impi!r}") as c:
            c.execute(_UPSERT_SUBSCRIBER, row)

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

    async def list_subscribers(self) -> list[Subscriber]:
        with self._db.read("list subscribers") as c:
            rows = c.execute(_SELECT_SUBSCRIBER + " ORDER BY impi").fetchall()
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


# --- BSF -------------------------------------------------------------------------------

_BSF_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS challenge (
        nonce TEXT PRIMARY KEY,
        impi TEXT NOT NULL,
        rand BLOB NOT NULL,
        autn BLOB NOT NULL,
        xres BLOB NOT NULL,
        ck BLOB NOT NULL,
        ik BLOB NOT NULL,
        expires INTEGER NOT NULL,
        guss TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS challenge_expires ON challenge (expires)",
    """CREATE TABLE IF NOT EXISTS context (
        btid TEXT PRIMARY KEY,
        impi TEXT NOT NULL,
        ks BLOB NOT NULL,
        rand BLOB NOT NULL,
        created INTEGER NOT NULL,
        expires INTEGER NOT NULL,
        guss TEXT,
        gba_u INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS context_expires ON context (expires)",
    "CREATE INDEX IF NOT EXISTS context_impi ON context (impi)",
)
_INSERT_CHALLENGE = (
    "INSERT INTO challenge (nonce, impi, rand, autn, xres, ck, ik, expires, guss) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_CHALLENGE_BY_NONCE = (
    "SELECT nonce, impi, rand, autn, xres, ck, ik, expires, guss FROM challenge WHERE nonce = ?"
)
_PUT_CONTEXT = (
    "INSERT OR REPLACE INTO context (btid, impi, ks, rand, created, expires, guss, gba_u) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_LIVE_CONTEXT = (
    "SELECT btid, impi, ks, rand, created, expires, guss, gba_u FROM context "
    "WHERE btid = ? AND expires > ?"
)


def _challenge(row: Any) -> Challenge:
    nonce, impi, rand, autn, xres, ck, ik, expires, guss = row
    return Challenge(
        nonce=nonce,
        impi=impi,
        rand=rand,
        autn=autn,
        xres=xres,
        ck=ck,
        ik=ik,
        expires=from_us(expires),
        guss=guss,
    )


def _context(row: Any) -> BootstrapContext:
    btid, impi, ks, rand, created, expires, guss, gba_u = row
    return BootstrapContext(
        btid=btid,
        impi=impi,
        ks=ks,
        rand=rand,
        created=from_us(created),
        expires=from_us(expires),
        guss=guss,
        gba_u=bool(gba_u),
    )


class SqliteBsfStore:
    """Pending challenges and bootstrapping contexts of a BSF (TS 33.220 §4.5.2)."""

    def __init__(self, path: StorePath, *, busy_timeout: float = 10.0) -> None:
        self._db = _Db(path, _BSF_SCHEMA, synchronous="NORMAL", busy_timeout=busy_timeout)

    async def put_challenge(self, challenge: Challenge) -> None:
        """Store a pending challenge; StoreError if its nonce is already pending."""
        ch = challenge
        expires = to_us(ch.expires, "challenge expiry")
        row = (ch.nonce, ch.impi, ch.rand, ch.autn, ch.xres, ch.ck, ch.ik, expires, ch.guss)
        with self._db.write(f"put challenge {ch.nonce!r}") as c:
            c.execute(_INSERT_CHALLENGE, row)

    async def take_challenge(self, nonce: str, now: datetime) -> Challenge | None:
        """Delete and return in one transaction, so a nonce is answered at most once."""
        now_us = to_us(now, "now")
        with self._db.write("take challenge") as c:
            row = c.execute(_CHALLENGE_BY_NONCE, (nonce,)).fetchone()
            if row is None:
                return None
            c.execute("DELETE FROM challenge WHERE nonce = ?", (nonce,))
        return _challenge(row) if row[7] > now_us else None

    async def put_context(self, ctx: BootstrapContext) -> None:
        created = to_us(ctx.created, "context creation")
        expires = to_us(ctx.expires, "context expiry")
        row = (ctx.btid, ctx.impi, ctx.ks, ctx.rand, created, expires, ctx.guss, int(ctx.gba_u))
        with self._db.write("put context") as c:
            c.execute(_PUT_CONTEXT, row)

    async def get_context(self, btid: str, now: datetime) -> BootstrapContext | None:
        with self._db.read("get context") as c:
            row = c.execute(_LIVE_CONTEXT, (btid, to_us(now, "now"))).fetchone()
        return None if row is None else _context(row)

    async def delete_context(self, btid: str) -> bool:
        with self._db.write("delete context") as c:
            return c.execute("DELETE FROM context WHERE btid = ?", (btid,)).rowcount > 0

    async def purge_expired(self, now: datetime) -> int:
        now_us = to_us(now, "now")
        with self._db.write("purge expired") as c:
            gone = c.execute("DELETE FROM challenge WHERE expires <= ?", (now_us,)).rowcount
            gone += c.execute("DELETE FROM context WHERE expires <= ?", (now_us,)).rowcount
        return gone

    async def close(self) -> None:
        self._db.close()


# --- NAF -------------------------------------------------------------------------------

_NAF_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS naf_key (
        btid TEXT NOT NULL,
        naf_id BLOB NOT NULL,
        key BLOB NOT NULL,
        impi TEXT NOT NULL,
        expires INTEGER NOT NULL,
        created INTEGER,
        uss TEXT,
        gba_u INTEGER NOT NULL,
        PRIMARY KEY (btid, naf_id)
    )""",
    "CREATE INDEX IF NOT EXISTS naf_key_expires ON naf_key (expires)",
    """CREATE TABLE IF NOT EXISTS nonce_count (
        nonce TEXT PRIMARY KEY,
        nc INTEGER NOT NULL,
        expires INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS nonce_count_expires ON nonce_count (expires)",
)
_PUT_KEY = (
    "INSERT OR REPLACE INTO naf_key (btid, naf_id, key, impi, expires, created, uss, gba_u) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_LIVE_KEY = (
    "SELECT btid, naf_id, key, impi, expires, created, uss, gba_u FROM naf_key "
    "WHERE btid = ? AND naf_id = ? AND expires > ?"
)


def _naf_key(row: Any) -> NafKey:
    btid, naf_id, key, impi, expires, created, uss, gba_u = row
    return NafKey(
        btid=btid,
        naf_id=naf_id,
        key=key,
        impi=impi,
        expires=from_us(expires),
        created=None if created is None else from_us(created),
        uss=uss,
        gba_u=bool(gba_u),
    )


class SqliteNafStore:
    """Keys a NAF fetched over Zn (TS 33.220 §4.5.3) and Digest nonce counts (RFC 7616)."""

    def __init__(self, path: StorePath, *, busy_timeout: float = 10.0) -> None:
        self._db = _Db(path, _NAF_SCHEMA, synchronous="NORMAL", busy_timeout=busy_timeout)

    async def put_key(self, key: NafKey) -> None:
        created = None if key.created is None else to_us(key.created, "key creation")
        expires = to_us(key.expires, "key expiry")
        row = (key.btid, key.naf_id, key.key, key.impi, expires, created, key.uss, int(key.gba_u))
        with self._db.write("put NAF key") as c:
            c.execute(_PUT_KEY, row)

    async def get_key(self, btid: str, naf_id: bytes, now: datetime) -> NafKey | None:
        with self._db.read("get NAF key") as c:
            row = c.execute(_LIVE_KEY, (btid, naf_id, to_us(now, "now"))).fetchone()
        return None if row is None else _naf_key(row)

    async def delete_key(self, btid: str, naf_id: bytes) -> bool:
        with self._db.write("delete NAF key") as c:
            cur = c.execute("DELETE FROM naf_key WHERE btid = ? AND naf_id = ?", (btid, naf_id))
            return cur.rowcount > 0

    async def check_nonce_count(self, nonce: str, nc: int, expires: datetime) -> bool:
        """True, and remember *nc*, if above every nc seen with *nonce* (RFC 7616 §3.4).

        The record outlives *expires* until :meth:`purge_expired`; keeping it longer only
        refuses more, and by then the Digest layer refuses the stale nonce anyway.
        """
        exp_us = to_us(expires, "nonce expiry")
        with self._db.write("check nonce count") as c:
            row = c.execute("SELECT nc, expires FROM nonce_count WHERE nonce = ?", (nonce,))
            seen = row.fetchone()
            if seen is not None:
                if seen[0] >= nc:
                    return False
                exp_us = max(exp_us, seen[1])
            c.execute(
                "INSERT OR REPLACE INTO nonce_count (nonce, nc, expires) VALUES (?, ?, ?)",
                (nonce, nc, exp_us),
            )
        return True

    async def purge_expired(self, now: datetime) -> int:
        """Delete expired keys and nonce counts; return how many went (beyond the Protocol)."""
        now_us = to_us(now, "now")
        with self._db.write("purge expired") as c:
            gone = c.execute("DELETE FROM naf_key WHERE expires <= ?", (now_us,)).rowcount
            gone += c.execute("DELETE FROM nonce_count WHERE expires <= ?", (now_us,)).rowcount
        return gone

    async def close(self) -> None:
        self._db.close()

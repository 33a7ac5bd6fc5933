"""The BSF's pending challenges and bootstrapping contexts in SQLite (TS 33.220 §4.5.2).

The file holds a cache that a UE can rebuild by bootstrapping again, so it is opened with
``synchronous=NORMAL``.

Schema versions (:data:`BSF_SCHEMA`):

1. ``challenge`` (by nonce) and ``context`` (by B-TID), each indexed by expiry;
   ``context`` also by IMPI.
2. ``mtc`` columns on both (an MTC device's request and settings) and ``group_vector``
   (an MTC group's current vector and the devices that used it; docs/mtc.md §4).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

from gba.store import COUNT_CAP
from gba.store._epoch import from_us, to_us
from gba.store.bsf import BootstrapContext, Challenge, ContextSummary, GroupVector
from gba.store.sqlite.db import Db, Schema, Step, StorePath

_V1: Step = (
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
_V2: Step = (
    "ALTER TABLE challenge ADD COLUMN mtc TEXT",
    "ALTER TABLE context ADD COLUMN mtc TEXT",
    """CREATE TABLE IF NOT EXISTS group_vector (
        group_id TEXT PRIMARY KEY,
        rand BLOB NOT NULL,
        autn BLOB NOT NULL,
        xres BLOB NOT NULL,
        ck BLOB NOT NULL,
        ik BLOB NOT NULL,
        settings TEXT NOT NULL,
        expires INTEGER NOT NULL,
        used_by TEXT NOT NULL
    )""",
)
BSF_SCHEMA: Final = Schema("BSF", (_V1, _V2))

_INSERT_CHALLENGE = (
    "INSERT INTO challenge (nonce, impi, rand, autn, xres, ck, ik, expires, guss, mtc) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_CHALLENGE_BY_NONCE = (
    "SELECT nonce, impi, rand, autn, xres, ck, ik, expires, guss, mtc FROM challenge "
    "WHERE nonce = ?"
)
_PUT_CONTEXT = (
    "INSERT OR REPLACE INTO context (btid, impi, ks, rand, created, expires, guss, gba_u, "
    "mtc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_LIVE_CONTEXT = (
    "SELECT btid, impi, ks, rand, created, expires, guss, gba_u, mtc FROM context "
    "WHERE btid = ? AND expires > ?"
)
_GROUP_VECTOR = (
    "SELECT group_id, rand, autn, xres, ck, ik, settings, expires, used_by FROM group_vector "
    "WHERE group_id = ?"
)


def _challenge(row: Any) -> Challenge:
    nonce, impi, rand, autn, xres, ck, ik, expires, guss, mtc = row
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
        mtc=mtc,
    )


def _context(row: Any) -> BootstrapContext:
    btid, impi, ks, rand, created, expires, guss, gba_u, mtc = row
    return BootstrapContext(
        btid=btid,
        impi=impi,
        ks=ks,
        rand=rand,
        created=from_us(created),
        expires=from_us(expires),
        guss=guss,
        gba_u=bool(gba_u),
        mtc=mtc,
    )


def _group_vector(row: Any) -> GroupVector:
    group_id, rand, autn, xres, ck, ik, settings, expires, used_by = row
    return GroupVector(group_id, rand, autn, xres, ck, ik, settings, from_us(expires),
                       tuple(json.loads(used_by)))


class SqliteBsfStore:
    """Pending challenges and bootstrapping contexts of a BSF (TS 33.220 §4.5.2)."""

    def __init__(self, path: StorePath, *, busy_timeout: float = 10.0) -> None:
        self._db = Db(path, BSF_SCHEMA, synchronous="NORMAL", busy_timeout=busy_timeout)

    async def put_challenge(self, challenge: Challenge) -> None:
        """Store a pending challenge; StoreError if its nonce is already pending."""
        ch = challenge
        expires = to_us(ch.expires, "challenge expiry")
        row = (ch.nonce, ch.impi, ch.rand, ch.autn, ch.xres, ch.ck, ch.ik, expires, ch.guss,
               ch.mtc)
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
        row = (ctx.btid, ctx.impi, ctx.ks, ctx.rand, created, expires, ctx.guss,
               int(ctx.gba_u), ctx.mtc)
        with self._db.write("put context") as c:
            c.execute(_PUT_CONTEXT, row)

    async def get_context(self, btid: str, now: datetime) -> BootstrapContext | None:
        with self._db.read("get context") as c:
            row = c.execute(_LIVE_CONTEXT, (btid, to_us(now, "now"))).fetchone()
        return None if row is None else _context(row)

    async def delete_context(self, btid: str) -> bool:
        with self._db.write("delete context") as c:
            return c.execute("DELETE FROM context WHERE btid = ?", (btid,)).rowcount > 0

    async def count_contexts(self, now: datetime, cap: int = COUNT_CAP) -> int:
        """Live contexts, at most *cap*: a walk of the expiry index that stops there."""
        with self._db.read("count contexts") as c:
            row = c.execute("SELECT COUNT(*) FROM (SELECT 1 FROM context WHERE expires > ? "
                            "LIMIT ?)", (to_us(now, "now"), max(cap, 0))).fetchone()
        return int(row[0])

    async def live_contexts(self, now: datetime, limit: int) -> list[ContextSummary]:
        with self._db.read("list contexts") as c:
            rows = c.execute("SELECT btid, impi, expires FROM context WHERE expires > ? "
                             "ORDER BY expires DESC LIMIT ?",
                             (to_us(now, "now"), max(limit, 0))).fetchall()
        return [ContextSummary(btid, impi, from_us(expires)) for btid, impi, expires in rows]

    async def put_group_vector(self, vector: GroupVector) -> None:
        v = vector
        row = (v.group_id, v.rand, v.autn, v.xres, v.ck, v.ik, v.settings,
               to_us(v.expires, "group vector expiry"), json.dumps(list(v.used_by)))
        with self._db.write("put group vector") as c:
            c.execute("INSERT OR REPLACE INTO group_vector (group_id, rand, autn, xres, ck, "
                      "ik, settings, expires, used_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)

    async def claim_group_vector(self, group_id: str, imsi: str, now: datetime,
                                 max_uses: int) -> GroupVector | None:
        """Read, check and add the user in one ``BEGIN IMMEDIATE`` transaction, so two
        BSF processes never hand one vector to one device twice."""
        with self._db.write("claim group vector") as c:
            row = c.execute(_GROUP_VECTOR, (group_id,)).fetchone()
            if row is None:
                return None
            found = _group_vector(row)
            if found.expires <= now or imsi in found.used_by or \
                    len(found.used_by) >= max_uses:
                return None
            used = (*found.used_by, imsi)
            c.execute("UPDATE group_vector SET used_by = ? WHERE group_id = ?",
                      (json.dumps(list(used)), group_id))
        return replace(found, used_by=used)

    async def purge_expired(self, now: datetime) -> int:
        now_us = to_us(now, "now")
        with self._db.write("purge expired") as c:
            gone = c.execute("DELETE FROM challenge WHERE expires <= ?", (now_us,)).rowcount
            gone += c.execute("DELETE FROM context WHERE expires <= ?", (now_us,)).rowcount
            gone += c.execute("DELETE FROM group_vector WHERE expires <= ?",
                              (now_us,)).rowcount
        return gone

    async def close(self) -> None:
        self._db.close()

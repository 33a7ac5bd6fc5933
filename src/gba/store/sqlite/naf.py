"""The NAF's Zn key cache and Digest nonce counts in SQLite (TS 33.220 §4.5.3, RFC 7616).

The file holds a cache (a key can be fetched again over Zn), so it is opened with
``synchronous=NORMAL``.

Schema versions (:data:`NAF_SCHEMA`):

1. ``naf_key`` by (B-TID, NAF_Id) and ``nonce_count`` by nonce, each indexed by expiry.
2. ``naf_key.uicc_key``, nullable: Ks_int_NAF. A GBA_U-aware NAF receives it over Zn
   beside Ks_ext_NAF (UICC-Key-Material, TS 29.109; TS 33.220 §5.3.2) and needs it
   to serve the ``3GPP-bootstrapping-uicc`` Digest realm and PSK-TLS hint (TS 33.222),
   which version 1 could not cache. Rows of version 1 read with ``uicc_key`` None, which
   is what they were: the ME key only.
3. ``charging``: one row per security association a visited server set up with a
   roaming user (:class:`~gba.store.naf.ChargingRecord`, docs/roaming.md §3).
4. ``push_sa``: the push security associations of a push NAF by (kind, value) of their
   identifier, with their key, expiry, counters and receive window (docs/push.md §1).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final

from gba.protocols.push_sa import IdKind, PushSa, SaId
from gba.store import COUNT_CAP
from gba.store._epoch import from_us, to_us
from gba.store.naf import ChargingRecord, NafKey
from gba.store.sqlite.db import Db, Schema, Step, StorePath

_V1: Step = (
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
_V2: Step = ("ALTER TABLE naf_key ADD COLUMN uicc_key BLOB",)
_V3: Step = (
    """CREATE TABLE IF NOT EXISTS charging (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        time INTEGER NOT NULL,
        "case" TEXT NOT NULL,
        server TEXT NOT NULL,
        naf_id BLOB NOT NULL,
        home_realm TEXT NOT NULL,
        user TEXT NOT NULL,
        key_kind TEXT NOT NULL,
        key_expiry INTEGER NOT NULL,
        session TEXT NOT NULL
    )""",
)
_V4: Step = (
    """CREATE TABLE IF NOT EXISTS push_sa (
        kind TEXT NOT NULL,
        value TEXT NOT NULL,
        naf_id BLOB NOT NULL,
        tid TEXT NOT NULL,
        key BLOB NOT NULL,
        expires INTEGER NOT NULL,
        algorithm TEXT NOT NULL,
        protocol_version TEXT NOT NULL,
        key_selection TEXT NOT NULL,
        send_seq INTEGER NOT NULL,
        highest INTEGER NOT NULL,
        received TEXT NOT NULL,
        PRIMARY KEY (kind, value)
    )""",
    "CREATE INDEX IF NOT EXISTS push_sa_expires ON push_sa (expires)",
)
_V5: Step = (  # push SAs by user: (owner, kind, value), so users' names never collide
    """CREATE TABLE push_sa_v5 (
        owner TEXT NOT NULL,
        kind TEXT NOT NULL,
        value TEXT NOT NULL,
        naf_id BLOB NOT NULL,
        tid TEXT NOT NULL,
        key BLOB NOT NULL,
        expires INTEGER NOT NULL,
        algorithm TEXT NOT NULL,
        protocol_version TEXT NOT NULL,
        key_selection TEXT NOT NULL,
        send_seq INTEGER NOT NULL,
        highest INTEGER NOT NULL,
        received TEXT NOT NULL,
        PRIMARY KEY (owner, kind, value)
    )""",
    "INSERT INTO push_sa_v5 SELECT '', kind, value, naf_id, tid, key, expires, algorithm, "
    "protocol_version, key_selection, send_seq, highest, received FROM push_sa",
    "DROP TABLE push_sa",
    "ALTER TABLE push_sa_v5 RENAME TO push_sa",
    "CREATE INDEX IF NOT EXISTS push_sa_expires ON push_sa (expires)",
)
NAF_SCHEMA: Final = Schema("NAF", (_V1, _V2, _V3, _V4, _V5))

_PUT_KEY = (
    "INSERT OR REPLACE INTO naf_key "
    "(btid, naf_id, key, impi, expires, created, uss, gba_u, uicc_key) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_LIVE_KEY = (
    "SELECT btid, naf_id, key, impi, expires, created, uss, gba_u, uicc_key FROM naf_key "
    "WHERE btid = ? AND naf_id = ? AND expires > ?"
)


def _naf_key(row: Any) -> NafKey:
    btid, naf_id, key, impi, expires, created, uss, gba_u, uicc_key = row
    return NafKey(
        btid=btid,
        naf_id=naf_id,
        key=key,
        impi=impi,
        expires=from_us(expires),
        created=None if created is None else from_us(created),
        uss=uss,
        gba_u=bool(gba_u),
        uicc_key=uicc_key,
    )


class SqliteNafStore:
    """Keys a NAF fetched over Zn (TS 33.220 §4.5.3) and Digest nonce counts (RFC 7616)."""

    def __init__(self, path: StorePath, *, busy_timeout: float = 10.0) -> None:
        self._db = Db(path, NAF_SCHEMA, synchronous="NORMAL", busy_timeout=busy_timeout)

    async def put_key(self, key: NafKey) -> None:
        created = None if key.created is None else to_us(key.created, "key creation")
        expires = to_us(key.expires, "key expiry")
        row = (
            key.btid,
            key.naf_id,
            key.key,
            key.impi,
            expires,
            created,
            key.uss,
            int(key.gba_u),
            key.uicc_key,
        )
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

    async def count_keys(self, now: datetime, cap: int = COUNT_CAP) -> int:
        """Live keys, at most *cap*: a walk of the expiry index that stops there."""
        with self._db.read("count keys") as c:
            row = c.execute("SELECT COUNT(*) FROM (SELECT 1 FROM naf_key WHERE expires > ? "
                            "LIMIT ?)", (to_us(now, "now"), max(cap, 0))).fetchone()
        return int(row[0])

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
            gone += c.execute("DELETE FROM push_sa WHERE expires <= ?", (now_us,)).rowcount
        return gone

    async def put_charging(self, record: ChargingRecord) -> None:
        row = (to_us(record.time, "charging time"), record.case, record.server,
               record.naf_id, record.home_realm, record.user, record.key_kind,
               to_us(record.key_expiry, "key expiry"), record.session)
        with self._db.write("put charging record") as c:
            c.execute('INSERT INTO charging (time, "case", server, naf_id, home_realm, user, '
                      "key_kind, key_expiry, session) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)

    async def charging_records(self, limit: int = 1000) -> list[ChargingRecord]:
        with self._db.read("charging records") as c:
            rows = c.execute('SELECT time, "case", server, naf_id, home_realm, user, key_kind, '
                             "key_expiry, session FROM charging ORDER BY id DESC LIMIT ?",
                             (max(limit, 0),)).fetchall()
        return [ChargingRecord(from_us(t), case, server, naf_id, realm, user, kind,
                               from_us(expiry), session)
                for t, case, server, naf_id, realm, user, kind, expiry, session
                in reversed(rows)]

    async def put_push_sa(self, sa: PushSa) -> None:
        row = (sa.owner, sa.sa_id.kind.value, sa.sa_id.value, sa.naf_id, sa.tid, sa.key,
               to_us(sa.expires, "SA expiry"), sa.algorithm, sa.protocol_version,
               sa.key_selection, sa.send_seq, sa.highest,
               json.dumps(sorted(sa.received)))
        with self._db.write("put push SA") as c:
            c.execute("INSERT OR REPLACE INTO push_sa (owner, kind, value, naf_id, tid, key, "
                      "expires, algorithm, protocol_version, key_selection, send_seq, "
                      "highest, received) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)

    async def get_push_sa(self, sa_id: SaId, now: datetime, owner: str = ""
                          ) -> PushSa | None:
        with self._db.read("get push SA") as c:
            row = c.execute("SELECT naf_id, tid, key, expires, algorithm, protocol_version, "
                            "key_selection, send_seq, highest, received FROM push_sa "
                            "WHERE owner = ? AND kind = ? AND value = ? AND expires > ?",
                            (owner, sa_id.kind.value, sa_id.value,
                             to_us(now, "now"))).fetchone()
        if row is None:
            return None
        naf_id, tid, key, expires, alg, version, selection, seq, highest, received = row
        return PushSa(SaId(IdKind(sa_id.kind), sa_id.value), naf_id, tid, key,
                      from_us(expires), alg, version, selection, seq,
                      frozenset(int(n) for n in json.loads(received)), highest, owner)

    async def close(self) -> None:
        self._db.close()

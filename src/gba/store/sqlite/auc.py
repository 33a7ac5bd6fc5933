"""The AuC's tables in SQLite (NGN key distribution, seed 001): an owner-only (0600) file
opened with ``synchronous=FULL`` like the HSS's, so an issued SQN is on disk before its
vector leaves (TS 33.102 Annex C.3.2). Keys are never logged.

Schema versions (:data:`AUC_SCHEMA`):

1. ``terminal`` (id_c, K, OPc or NULL, AMF, SQN, kind 'ngn' | 'aka'), ``node`` (id, K),
   ``registration`` (id_c, id_sp, address, at: seconds since 1970 UTC; the latest per
   terminal).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final

from gba.crypto.aka import next_sqn
from gba.errors import InvalidInput, NotFound, StoreError
from gba.store.auc import Node, Registration, Terminal, TerminalKind
from gba.store.sqlite.db import Db, Schema, Step, StorePath

_V1: Step = (
    """CREATE TABLE IF NOT EXISTS terminal (
        id_c TEXT PRIMARY KEY,
        k BLOB NOT NULL,
        opc BLOB,
        amf BLOB NOT NULL,
        sqn INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('ngn', 'aka'))
    )""",
    """CREATE TABLE IF NOT EXISTS node (
        id TEXT PRIMARY KEY,
        k BLOB NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS registration (
        id_c TEXT PRIMARY KEY,
        id_sp TEXT NOT NULL,
        address TEXT NOT NULL,
        at INTEGER NOT NULL
    )""",
)
AUC_SCHEMA: Final = Schema("AuC", (_V1,))

_SELECT_TERMINAL = "SELECT id_c, k, opc, amf, sqn, kind FROM terminal WHERE id_c = ?"
_UPSERT_TERMINAL = (
    "INSERT INTO terminal (id_c, k, opc, amf, sqn, kind) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (id_c) DO UPDATE SET k = excluded.k, opc = excluded.opc, "
    "amf = excluded.amf, sqn = excluded.sqn, kind = excluded.kind"
)


def _terminal(row: Any) -> Terminal:
    id_c, k, opc, amf, sqn, kind = row
    return Terminal(id_c=id_c, k=k, kind=TerminalKind(kind), opc=opc, amf=amf, sqn=int(sqn))


class SqliteAucStore:
    """The AuC's terminals, nodes and registrations (:class:`gba.store.auc.AucStore`)."""

    def __init__(self, path: StorePath, *, busy_timeout: float = 10.0) -> None:
        self._db = Db(path, AUC_SCHEMA, synchronous="FULL", busy_timeout=busy_timeout)

    async def put_terminal(self, terminal: Terminal) -> Terminal:
        """Insert or replace, SQN forward only, in one ``BEGIN IMMEDIATE`` transaction."""
        with self._db.write(f"put terminal {terminal.id_c!r}") as c:
            row = c.execute("SELECT sqn FROM terminal WHERE id_c = ?",
                            (terminal.id_c,)).fetchone()
            if row is not None and row[0] > terminal.sqn:
                terminal = replace(terminal, sqn=int(row[0]))
            c.execute(_UPSERT_TERMINAL, (terminal.id_c, terminal.k, terminal.opc,
                                         terminal.amf, terminal.sqn, terminal.kind.value))
        return terminal

    async def get_terminal(self, id_c: str) -> Terminal:
        with self._db.read("get terminal") as c:
            row = c.execute(_SELECT_TERMINAL, (id_c,)).fetchone()
        if row is None:
            raise NotFound(f"no terminal {id_c!r}")
        return _terminal(row)

    async def put_node(self, node: Node) -> None:
        with self._db.write(f"put node {node.id!r}") as c:
            c.execute("INSERT INTO node (id, k) VALUES (?, ?) "
                      "ON CONFLICT (id) DO UPDATE SET k = excluded.k", (node.id, node.k))

    async def get_node(self, node_id: str) -> Node:
        with self._db.read("get node") as c:
            row = c.execute("SELECT id, k FROM node WHERE id = ?", (node_id,)).fetchone()
        if row is None:
            raise NotFound(f"no node {node_id!r}")
        return Node(row[0], row[1])

    async def issue_sqn(self, id_c: str, ind: int) -> tuple[Terminal, int]:
        """Step SEQ by one with IND *ind* (TS 33.102 Annex C.3.2); read, step and write
        are one transaction, committed (fsync'd) before the return."""
        with self._db.write(f"issue SQN for {id_c!r}") as c:
            row = c.execute(_SELECT_TERMINAL, (id_c,)).fetchone()
            if row is None:
                raise NotFound(f"no terminal {id_c!r}")
            terminal = _terminal(row)
            if terminal.kind is not TerminalKind.AKA:
                raise StoreError(f"terminal {id_c!r} is not an AKA terminal")
            try:
                sqn = next_sqn(terminal.sqn, ind)
            except InvalidInput as exc:
                raise StoreError(f"cannot issue an SQN for {id_c!r}: {exc}") from exc
            c.execute("UPDATE terminal SET sqn = ? WHERE id_c = ?", (sqn, id_c))
        return replace(terminal, sqn=sqn), sqn

    async def record_registration(self, reg: Registration) -> None:
        at = int(reg.at.timestamp())
        with self._db.write(f"record registration of {reg.id_c!r}") as c:
            c.execute("INSERT INTO registration (id_c, id_sp, address, at) VALUES (?, ?, ?, ?) "
                      "ON CONFLICT (id_c) DO UPDATE SET id_sp = excluded.id_sp, "
                      "address = excluded.address, at = excluded.at",
                      (reg.id_c, reg.id_sp, reg.address, at))

    async def get_registration(self, id_c: str) -> Registration:
        with self._db.read("get registration") as c:
            row = c.execute("SELECT id_c, id_sp, address, at FROM registration "
                            "WHERE id_c = ?", (id_c,)).fetchone()
        if row is None:
            raise NotFound(f"no registration of {id_c!r}")
        return Registration(row[0], row[1], row[2], datetime.fromtimestamp(int(row[3]), UTC))

    async def close(self) -> None:
        self._db.close()

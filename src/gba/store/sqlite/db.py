"""One SQLite file: owner-only creation, WAL, BEGIN IMMEDIATE writes, forward migration.

A store's :class:`Schema` is an ordered list of steps; step N takes the file from version
N-1 to N, and the version reached is kept in ``PRAGMA user_version`` (0 in a new file).
Opening a file runs the steps it lacks, in order, inside one ``BEGIN IMMEDIATE``
transaction, so a file is either at the current version or untouched, and two processes
opening an old file at once migrate it once. A file of a newer version than this code
knows is refused: its rows may mean things an older reader would get wrong.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from gba.errors import StoreError

Synchronous = Literal["FULL", "NORMAL"]
StorePath = str | os.PathLike[str]
Step = tuple[str, ...]
"""The SQL statements of one migration step."""


@dataclass(frozen=True, slots=True)
class Schema:
    """A store's tables as migration steps: ``steps[N - 1]`` takes version N-1 to N."""

    name: str
    steps: tuple[Step, ...]

    @property
    def version(self) -> int:
        """The version a file has once every step has run."""
        return len(self.steps)


class Db:
    """One SQLite connection, used under a lock; writes are BEGIN IMMEDIATE transactions."""

    def __init__(
        self,
        path: StorePath,
        schema: Schema,
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
            self._migrate(schema)
        except BaseException:
            self._conn.close()
            raise

    def _migrate(self, schema: Schema) -> None:
        """Run the steps this file lacks, all in one transaction; refuse a newer file."""
        with self.write(f"migrate {schema.name} schema") as c:
            version: int = c.execute("PRAGMA user_version").fetchone()[0]
            if version > schema.version:
                raise StoreError(
                    f"sqlite {self.where}: schema version {version} is newer than the "
                    f"{schema.name} schema {schema.version} this gba reads; refusing to open it"
                )
            for step in schema.steps[version:]:
                for statement in step:
                    c.execute(statement)
            if version != schema.version:
                c.execute(f"PRAGMA user_version={schema.version}")

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

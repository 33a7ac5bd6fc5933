"""SQLite backend: one file per network function, WAL mode, schema migrated forward on open.

The methods are coroutines to fit the interfaces of :mod:`gba.store.base` but run
synchronously: a lookup takes microseconds, less than a hop to a worker thread. Every write
is one explicit ``BEGIN IMMEDIATE`` transaction, so the HSS's SQN step (TS 33.102 Annex
C.3.2) holds across processes sharing the file, and ``synchronous=FULL`` makes it survive a
power cut before the vector leaves the HSS. The BSF and NAF hold caches and use ``NORMAL``.

* :mod:`~gba.store.sqlite.db`: the connection, file mode 0600, migration by
  ``PRAGMA user_version``;
* :mod:`~gba.store.sqlite.hss`, :mod:`~gba.store.sqlite.bsf`, :mod:`~gba.store.sqlite.naf`:
  each function's schema steps and store.
"""

from __future__ import annotations

from gba.store.sqlite.bsf import BSF_SCHEMA, SqliteBsfStore
from gba.store.sqlite.db import Schema, StorePath
from gba.store.sqlite.hss import HSS_SCHEMA, SqliteSubscriberStore
from gba.store.sqlite.naf import NAF_SCHEMA, SqliteNafStore

__all__ = [
    "BSF_SCHEMA",
    "HSS_SCHEMA",
    "NAF_SCHEMA",
    "Schema",
    "SqliteBsfStore",
    "SqliteNafStore",
    "SqliteSubscriberStore",
    "StorePath",
]

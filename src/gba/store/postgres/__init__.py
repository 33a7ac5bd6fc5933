"""PostgreSQL backend for the HSS subscriber store (TS 33.220 §4.4.1), for subscriber
bases that outgrow one SQLite file. An issued SQN is committed with its WAL flushed
(``synchronous_commit = on``, set per connection) before it is returned, the guarantee of
TS 33.102 Annex C.3.2 that the SQLite backend gives with ``synchronous=FULL``. The BSF
and NAF caches stay on SQLite or Redis.

* :mod:`~gba.store.postgres.hss`: :class:`PostgresSubscriberStore` (psycopg 3, asyncio
  connection pool) and its schema.
"""

from __future__ import annotations

from gba.store.postgres.hss import SCHEMA_VERSION, PostgresSubscriberStore

__all__ = ["SCHEMA_VERSION", "PostgresSubscriberStore"]

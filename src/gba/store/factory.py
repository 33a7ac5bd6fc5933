"""Open a store from the URL in a network function's configuration section.

Accepted forms::

    sqlite:///abs/path.sqlite    absolute path
    sqlite:relative/path.sqlite  relative to base_dir (default: the working directory)
    relative/or/abs/path.sqlite  a plain path, same rule
    memory:                      a private SQLite :memory: database (unit tests)
    redis://host:port/db         also rediss:// and unix:// (BSF and NAF only)
    postgresql://user@host/db    also postgres:// (the HSS subscriber store only)

The HSS subscriber store is SQLite or PostgreSQL: both commit an issued SQN durably before
it is returned (TS 33.102 Annex C.3.2); the BSF and NAF caches are SQLite or Redis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gba.errors import ConfigError
from gba.store.base import BsfStore, NafStore, SubscriberStore
from gba.store.postgres import PostgresSubscriberStore
from gba.store.redis import RedisBsfStore, RedisNafStore
from gba.store.sqlite import SqliteBsfStore, SqliteNafStore, SqliteSubscriberStore

MEMORY = ":memory:"
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")
"""Two letters at least, so that a Windows drive (``C:``) reads as a path."""
_REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})
_POSTGRES_SCHEMES = frozenset({"postgresql", "postgres"})


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """Where a store lives: a SQLite file (or :memory:), a Redis or a PostgreSQL URL."""

    backend: Literal["sqlite", "redis", "postgres"]
    target: str


def parse_store_url(url: str, base_dir: Path | None = None) -> StoreLocation:
    """The backend and the file or URL named by *url*; ConfigError if it names neither."""
    text = url.strip()
    if not text:
        raise ConfigError("store URL is empty")
    if text in ("memory:", MEMORY):
        return StoreLocation("sqlite", MEMORY)
    match = _SCHEME.match(text)
    if match is None:
        return StoreLocation("sqlite", _resolve(text, base_dir))
    scheme = match.group(1).lower()
    if scheme in _REDIS_SCHEMES:
        return StoreLocation("redis", text)
    if scheme in _POSTGRES_SCHEMES:
        return StoreLocation("postgres", text)
    if scheme != "sqlite":
        raise ConfigError(
            f"unknown store scheme {scheme!r}; use sqlite:, memory:, redis://, "
            "postgresql:// or a path"
        )
    rest = text[match.end() :]
    if rest == MEMORY:
        return StoreLocation("sqlite", MEMORY)
    if rest.startswith("//"):
        rest = rest[2:]
        if not rest.startswith("/"):
            raise ConfigError(
                f"store URL {url!r} names a host; write sqlite:///abs/path or sqlite:rel/path"
            )
    if not rest:
        raise ConfigError(f"store URL {url!r} names no file")
    return StoreLocation("sqlite", _resolve(rest, base_dir))


def _resolve(path: str, base_dir: Path | None) -> str:
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = (base_dir if base_dir is not None else Path.cwd()) / p
    return str(p)


def open_subscriber_store(url: str, *, base_dir: Path | None = None) -> SubscriberStore:
    """The HSS subscriber store: SQLite or PostgreSQL (SQN issue must be durable, TS 33.102
    Annex C.3.2; Redis does not promise that)."""
    loc = parse_store_url(url, base_dir)
    if loc.backend == "redis":
        raise ConfigError("the HSS subscriber store is SQLite or PostgreSQL only; "
                          "got a Redis URL")
    if loc.backend == "postgres":
        return PostgresSubscriberStore(loc.target)
    return SqliteSubscriberStore(loc.target)


def _cache_refuses_postgres(loc: StoreLocation, what: str) -> None:
    if loc.backend == "postgres":
        raise ConfigError(f"the {what} store is SQLite or Redis only; PostgreSQL backs the "
                          "HSS subscriber store alone")


def open_bsf_store(url: str, *, base_dir: Path | None = None) -> BsfStore:
    """The BSF's challenges and bootstrapping contexts (TS 33.220 §4.5.2)."""
    loc = parse_store_url(url, base_dir)
    _cache_refuses_postgres(loc, "BSF")
    if loc.backend == "redis":
        return RedisBsfStore(loc.target)
    return SqliteBsfStore(loc.target)


def open_naf_store(url: str, *, base_dir: Path | None = None) -> NafStore:
    """The NAF's Zn key cache and Digest nonce counts (TS 33.220 §4.5.3)."""
    loc = parse_store_url(url, base_dir)
    _cache_refuses_postgres(loc, "NAF")
    if loc.backend == "redis":
        return RedisNafStore(loc.target)
    return SqliteNafStore(loc.target)

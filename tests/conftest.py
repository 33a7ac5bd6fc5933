"""Shared pytest setup: make tests/ importable as a helper root (vectors loader), give
the tests marked ``redis`` a server (tests/redis_server.py) and a key prefix of their own,
and those marked ``postgres`` a private PostgreSQL server (gba.lab.postgres_server) and a
database of their own.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from gba.errors import GbaError
from gba.lab.postgres_server import PrivatePostgres, private_postgres

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A reachable Redis for the session; fails (never skips) when there is none."""
    from redis_server import RedisUnavailable, start_redis

    try:
        url, stop = start_redis()
    except RedisUnavailable as exc:
        raise pytest.fail.Exception(str(exc), pytrace=False) from None
    try:
        yield url
    finally:
        stop()


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"gbatest-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PrivatePostgres]:
    """One private PostgreSQL server for the session; fails (never skips) without one."""
    try:
        with private_postgres() as server:
            yield server
    except GbaError as exc:
        raise pytest.fail.Exception(str(exc), pytrace=False) from None


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PrivatePostgres) -> str:
    """The URL of the session's PostgreSQL server (its database ``gba``)."""
    return postgres_server.url


@pytest.fixture
def postgres_db_url(postgres_server: PrivatePostgres) -> Iterator[str]:
    """A fresh database of this test's own on the session's server, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex}"
    admin = postgres_server.url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield postgres_server.url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

"""Shared pytest setup: make tests/ importable as a helper root (vectors loader), and give
the tests marked ``redis`` a server (tests/redis_server.py) and a key prefix of their own.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

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

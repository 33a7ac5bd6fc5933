"""Ub challenge limits shared over Redis: two BSFs on one Redis share one budget.

The buckets are the same as the in-process :class:`~gba.protocols.ratelimit.ChallengeLimits`
(compared here step by step), but spent atomically in Redis, so BSFs behind a load
balancer cannot each hand out the full rate of SQN-spending challenges.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from gba.config import DiameterNodeConfig
from gba.errors import StoreError
from gba.nf.bsf import Bsf, NafPolicy
from gba.nf.common import peer_identity
from gba.protocols import zh
from gba.protocols.actions import AdmitChallenge, Respond
from gba.protocols.http import HttpRequest
from gba.protocols.ratelimit import ChallengeLimits, Rate
from gba.protocols.ub_bsf import BsfUbConfig, BsfUbExchange
from gba.store.factory import open_bsf_store
from gba.store.redis.ratelimit import RedisChallengeLimits

pytestmark = pytest.mark.redis

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
IMPI = "001010000000001@ims.example.org"


@pytest.fixture
async def two_bsfs(redis_url: str, redis_prefix: str
                   ) -> AsyncIterator[tuple[RedisChallengeLimits, RedisChallengeLimits]]:
    a = RedisChallengeLimits(redis_url, Rate(3), Rate(5), prefix=redis_prefix)
    b = RedisChallengeLimits(redis_url, Rate(3), Rate(5), prefix=redis_prefix)
    yield a, b
    await a.close()
    await b.close()


async def test_two_bsfs_share_one_budget_per_impi(
        two_bsfs: tuple[RedisChallengeLimits, RedisChallengeLimits]) -> None:
    a, b = two_bsfs
    results = [await (a if i % 2 else b).admit(IMPI, f"192.0.2.{i}", T0) for i in range(5)]
    assert results[:3] == [None, None, None]
    assert all(wait is not None and wait > 0 for wait in results[3:])


async def test_a_source_over_its_limit_is_refused_on_every_bsf(
        two_bsfs: tuple[RedisChallengeLimits, RedisChallengeLimits]) -> None:
    a, b = two_bsfs
    admitted = [await (a, b)[i % 2].admit(f"user{i}@ims.example.org", "198.51.100.7", T0)
                for i in range(7)]
    assert admitted.count(None) == 5


async def test_the_shared_buckets_refill_like_the_local_ones(
        two_bsfs: tuple[RedisChallengeLimits, RedisChallengeLimits]) -> None:
    a, _ = two_bsfs
    local = ChallengeLimits(Rate(3), Rate(5))
    for seconds in (0, 0, 0, 0, 5, 19, 20, 21, 40, 41, 41, 41, 100):
        now = T0 + timedelta(seconds=seconds)
        shared_wait = await a.admit(IMPI, "203.0.113.1", now)
        local_wait = local.admit(IMPI, "203.0.113.1", now)
        assert (shared_wait is None) == (local_wait is None), seconds
        if shared_wait is not None and local_wait is not None:
            assert shared_wait == pytest.approx(local_wait, abs=1e-3)


async def test_idle_buckets_expire_from_redis(redis_url: str, redis_prefix: str) -> None:
    limits = RedisChallengeLimits(redis_url, Rate(10), Rate(0), prefix=redis_prefix)
    raw = Redis.from_url(redis_url)
    try:
        assert await limits.admit(IMPI, "192.0.2.1", T0) is None
        keys = [k async for k in raw.scan_iter(match=f"{redis_prefix}:*")]
        assert len(keys) == 1  # per IMPI only: the source limit is off
        ttl_ms = await raw.pttl(keys[0])
        assert 0 < ttl_ms <= 6_000 + 1  # one token of 10/min refills in 6 s
    finally:
        await raw.aclose()
        await limits.close()


async def test_an_unreachable_redis_is_a_store_error() -> None:
    limits = RedisChallengeLimits("redis://127.0.0.1:1/0", timeout=0.5)
    try:
        with pytest.raises(StoreError):
            await limits.admit(IMPI, "192.0.2.1", T0)
    finally:
        await limits.close()


async def test_a_bsf_whose_shared_limits_are_unreachable_refuses_with_503() -> None:
    """Failing open would let a prober past the limits whenever Redis is down."""
    asked: list[zh.VectorRequest] = []

    async def fetch(req: zh.VectorRequest) -> zh.VectorAnswer | int:
        asked.append(req)
        return 5401

    store = open_bsf_store("memory:")
    limits = RedisChallengeLimits("redis://127.0.0.1:1/0", timeout=0.5)
    try:
        bsf = Bsf(store, fetch, peer_identity(DiameterNodeConfig("bsf.example.org",
                                                                 "example.org")),
                  realm="example.org", server_name="bsf.example.org",
                  policy=NafPolicy({}), key_lifetime=timedelta(hours=1), ub_limits=limits)
        exchange = BsfUbExchange(
            BsfUbConfig("example.org", "bsf.example.org", timedelta(hours=1),
                        timedelta(minutes=5)),
            HttpRequest("GET", "/", (("Authorization",
                                      f'Digest username="{IMPI}", realm="example.org", '
                                      'nonce="", uri="/", response=""'),), b""),
            T0, peer="192.0.2.1")
        action = exchange.start()
        assert isinstance(action, AdmitChallenge)
        action = await bsf._ub_step(exchange, action)
        assert isinstance(action, Respond)
        assert action.response.status == 503
        assert asked == []
    finally:
        await limits.close()
        await store.close()

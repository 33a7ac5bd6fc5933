"""The bounded reads behind metrics and the status document (gba.observe), on SQLite and
Redis alike: live contexts counted and listed without key material, live NAF keys counted,
the HSS's subscribers listed up to a limit.

Records expire hours from the real clock, so Redis keeps them; the injected ``now`` moves
past some of them to see them leave the counts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gba.store.base import BootstrapContext, Challenge, NafKey, Subscriber
from gba.store.bsf import ContextSummary
from gba.store.redis import RedisBsfStore, RedisNafStore
from gba.store.sqlite import SqliteBsfStore, SqliteNafStore, SqliteSubscriberStore

BACKENDS = ["sqlite", pytest.param("redis", marks=pytest.mark.redis)]
HOUR = timedelta(hours=1)
IMPI = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
NAF_ID = b"naf.example.org\x01\x00\x00\x00\x02"

BsfBackend = SqliteBsfStore | RedisBsfStore
NafBackend = SqliteNafStore | RedisNafStore


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(params=BACKENDS)
async def bsf(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BsfBackend]:
    store: BsfBackend
    if request.param == "sqlite":
        store = SqliteBsfStore(tmp_path / "bsf.sqlite")
    else:
        store = RedisBsfStore(request.getfixturevalue("redis_url"),
                              prefix=request.getfixturevalue("redis_prefix"))
    yield store
    await store.close()


@pytest.fixture(params=BACKENDS)
async def naf(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[NafBackend]:
    store: NafBackend
    if request.param == "sqlite":
        store = SqliteNafStore(tmp_path / "naf.sqlite")
    else:
        store = RedisNafStore(request.getfixturevalue("redis_url"),
                              prefix=request.getfixturevalue("redis_prefix"))
    yield store
    await store.close()


def context(n: int, now: datetime, hours: int) -> BootstrapContext:
    return BootstrapContext(btid=f"btid-{n}@bsf.example.org", impi=f"user{n}@example.org",
                            ks=bytes(range(32)), rand=bytes(16), created=now,
                            expires=now + hours * HOUR)


def challenge(nonce: str, now: datetime) -> Challenge:
    return Challenge(nonce=nonce, impi=IMPI, rand=bytes(16), autn=bytes(16), xres=bytes(8),
                     ck=bytes(16), ik=bytes(16), expires=now + HOUR)


async def test_live_contexts_are_counted_and_challenges_are_not(
        bsf: BsfBackend, now: datetime) -> None:
    assert await bsf.count_contexts(now) == 0
    for n in range(1, 6):
        await bsf.put_context(context(n, now, n))  # context n expires after n hours
    await bsf.put_challenge(challenge("n1", now))
    assert await bsf.count_contexts(now) == 5
    assert await bsf.count_contexts(now + 2 * HOUR) == 3  # 1 and 2 have expired
    assert await bsf.count_contexts(now + 5 * HOUR) == 0
    await bsf.delete_context("btid-5@bsf.example.org")
    assert await bsf.count_contexts(now) == 4


async def test_the_count_stops_at_its_cap(bsf: BsfBackend, now: datetime) -> None:
    for n in range(1, 6):
        await bsf.put_context(context(n, now, n))
    assert await bsf.count_contexts(now, cap=3) == 3
    assert await bsf.count_contexts(now, cap=0) == 0


async def test_live_contexts_are_listed_latest_expiry_first_up_to_the_limit(
        bsf: BsfBackend, now: datetime) -> None:
    for n in range(1, 6):
        await bsf.put_context(context(n, now, n))
    await bsf.put_challenge(challenge("n1", now))
    listed = await bsf.live_contexts(now, 3)
    assert listed == [ContextSummary(f"btid-{n}@bsf.example.org", f"user{n}@example.org",
                                     now + n * HOUR) for n in (5, 4, 3)]
    assert [c.btid for c in await bsf.live_contexts(now + 3 * HOUR, 10)] == [
        "btid-5@bsf.example.org", "btid-4@bsf.example.org"]
    assert await bsf.live_contexts(now, 0) == []


def test_a_context_summary_has_no_key_material() -> None:
    assert {f for f in ContextSummary.__dataclass_fields__} == {"btid", "impi", "expires"}


async def test_live_naf_keys_are_counted(naf: NafBackend, now: datetime) -> None:
    assert await naf.count_keys(now) == 0
    for n in range(1, 4):
        await naf.put_key(NafKey(btid=f"btid-{n}", naf_id=NAF_ID, key=bytes(32), impi=IMPI,
                                 expires=now + n * HOUR))
    await naf.check_nonce_count("nonce", 1, now + HOUR)
    assert await naf.count_keys(now) == 3
    assert await naf.count_keys(now + HOUR) == 2
    assert await naf.count_keys(now, cap=1) == 1


async def test_subscribers_are_listed_up_to_the_limit(tmp_path: Path) -> None:
    store = SqliteSubscriberStore(tmp_path / "hss.sqlite")
    try:
        for n in range(5):
            await store.put_subscriber(Subscriber(f"user{n}@example.org", bytes(16),
                                                  bytes(16)))
        assert [s.impi for s in await store.list_subscribers(2)] == [
            "user0@example.org", "user1@example.org"]
        assert len(await store.list_subscribers()) == 5
        assert await store.list_subscribers(0) == []
    finally:
        await store.close()

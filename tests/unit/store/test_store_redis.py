"""Redis backend: key layout, Redis-side expiry, atomic take, and failures as StoreError."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from gba.errors import StoreError
from gba.store.base import BootstrapContext, Challenge, NafKey
from gba.store.redis import RedisBsfStore, RedisNafStore
from gba.store.redis.bsf import LAYOUT_VERSION as BSF_LAYOUT
from gba.store.redis.naf import LAYOUT_VERSION as NAF_LAYOUT

pytestmark = pytest.mark.redis

HOUR = timedelta(hours=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BTID = "AAECAwQFBgcICQoLDA0ODw==@bsf.example.org"
NAF_ID = bytes.fromhex("6e61662e6578616d706c652e6f7267 0100000002")


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def bsf(redis_url: str, redis_prefix: str) -> AsyncIterator[RedisBsfStore]:
    store = RedisBsfStore(redis_url, prefix=redis_prefix)
    yield store
    await store.close()


@pytest.fixture
async def naf(redis_url: str, redis_prefix: str) -> AsyncIterator[RedisNafStore]:
    store = RedisNafStore(redis_url, prefix=redis_prefix)
    yield store
    await store.close()


def context(expires: datetime) -> BootstrapContext:
    return BootstrapContext(
        btid=BTID,
        impi="user@example.org",
        ks=bytes(range(32)),
        rand=bytes(range(16)),
        created=expires - HOUR,
        expires=expires,
    )


def challenge(nonce: str, expires: datetime) -> Challenge:
    return Challenge(
        nonce=nonce,
        impi="user@example.org",
        rand=bytes(16),
        autn=bytes(16),
        xres=bytes(8),
        ck=bytes(16),
        ik=bytes(16),
        expires=expires,
    )


def naf_key(expires: datetime) -> NafKey:
    return NafKey(btid=BTID, naf_id=NAF_ID, key=bytes(32), impi="user@example.org", expires=expires)


async def _free_port() -> int:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    return port


# --- key layout ------------------------------------------------------------------------


async def test_context_key_expires_with_the_record(
    bsf: RedisBsfStore, raw: Redis, redis_prefix: str, now: datetime
) -> None:
    expires = now + HOUR
    await bsf.put_context(context(expires))
    key = f"{redis_prefix}:v1:bsf:ctx:{BTID}"
    expire_ms = await raw.pexpiretime(key)
    assert abs(expire_ms - expires.timestamp() * 1000) <= 1


async def test_record_is_compact_json_with_base64_octets(
    bsf: RedisBsfStore, raw: Redis, redis_prefix: str, now: datetime
) -> None:
    await bsf.put_context(context(now + HOUR))
    value = await raw.get(f"{redis_prefix}:v1:bsf:ctx:{BTID}")
    assert isinstance(value, bytes)
    assert b" " not in value
    stored = json.loads(value)
    assert base64.b64decode(stored["ks"]) == bytes(range(32))
    assert stored["expires"] == (now + HOUR - EPOCH) // timedelta(microseconds=1)


async def test_naf_key_name_carries_naf_id_in_hex(
    naf: RedisNafStore, raw: Redis, redis_prefix: str, now: datetime
) -> None:
    await naf.put_key(naf_key(now + HOUR))
    assert await raw.exists(f"{redis_prefix}:v1:naf:key:{BTID}:{NAF_ID.hex()}") == 1


async def test_nonce_count_key_expires_with_the_nonce(
    naf: RedisNafStore, raw: Redis, redis_prefix: str, now: datetime
) -> None:
    await naf.check_nonce_count("abc", 1, now + HOUR)
    key = f"{redis_prefix}:v1:naf:nc:abc"
    assert await raw.hget(key, "nc") == b"1"
    assert abs(await raw.pexpiretime(key) - (now + HOUR).timestamp() * 1000) <= 1


async def test_prefixes_isolate_stores(redis_url: str, redis_prefix: str, now: datetime) -> None:
    a = RedisBsfStore(redis_url, prefix=redis_prefix + "-a")
    b = RedisBsfStore(redis_url, prefix=redis_prefix + "-b")
    try:
        await a.put_context(context(now + HOUR))
        assert await b.get_context(BTID, now) is None
        assert await a.get_context(BTID, now) is not None
    finally:
        await a.delete_context(BTID)
        await a.close()
        await b.close()


async def test_every_key_carries_the_layout_version(
    bsf: RedisBsfStore, naf: RedisNafStore, raw: Redis, redis_prefix: str, now: datetime
) -> None:
    await bsf.put_challenge(challenge("n1", now + HOUR))
    await bsf.put_context(context(now + HOUR))
    await naf.put_key(naf_key(now + HOUR))
    await naf.check_nonce_count("abc", 1, now + HOUR)
    keys = sorted([k.decode() async for k in raw.scan_iter(match=f"{redis_prefix}:*")])
    assert keys == [
        f"{redis_prefix}:v{BSF_LAYOUT}:bsf:chal:n1",
        f"{redis_prefix}:v{BSF_LAYOUT}:bsf:ctx:{BTID}",
        f"{redis_prefix}:v{BSF_LAYOUT}:bsf:expiry",
        f"{redis_prefix}:v{NAF_LAYOUT}:naf:expiry",
        f"{redis_prefix}:v{NAF_LAYOUT}:naf:key:{BTID}:{NAF_ID.hex()}",
        f"{redis_prefix}:v{NAF_LAYOUT}:naf:nc:abc",
    ]


@pytest.mark.parametrize("other", ["v2:", "v0:", ""], ids=["newer", "older", "unversioned"])
async def test_records_of_another_layout_are_not_read(
    bsf: RedisBsfStore, raw: Redis, redis_prefix: str, now: datetime, other: str
) -> None:
    await bsf.put_context(context(now + HOUR))
    record = await raw.get(f"{redis_prefix}:v1:bsf:ctx:{BTID}")
    assert record is not None
    await bsf.delete_context(BTID)
    await raw.set(f"{redis_prefix}:{other}bsf:ctx:{BTID}", record, px=60_000)
    assert await bsf.get_context(BTID, now) is None
    assert await bsf.delete_context(BTID) is False


async def test_purge_leaves_another_layout_alone(
    naf: RedisNafStore, raw: Redis, redis_prefix: str, now: datetime
) -> None:
    other = f"{redis_prefix}:v2:naf:nc:abc"
    await raw.hset(other, mapping={"nc": 1, "exp": 0, "pxat": 0})
    await raw.zadd(f"{redis_prefix}:v2:naf:expiry", {other: 0})
    assert await naf.purge_expired(now + HOUR) == 0
    assert await raw.exists(other) == 1
    assert await naf.check_nonce_count("abc", 1, now + HOUR) is True


# --- expiry by Redis -------------------------------------------------------------------


async def test_record_already_expired_is_not_stored(
    bsf: RedisBsfStore, raw: Redis, redis_prefix: str, now: datetime
) -> None:
    await bsf.put_context(context(now + HOUR))
    await bsf.put_context(context(now - HOUR))
    assert await raw.exists(f"{redis_prefix}:v1:bsf:ctx:{BTID}") == 0


async def test_redis_drops_the_key_at_expiry(
    bsf: RedisBsfStore, raw: Redis, redis_prefix: str
) -> None:
    await bsf.put_context(context(datetime.now(UTC) + timedelta(milliseconds=50)))
    key = f"{redis_prefix}:v1:bsf:ctx:{BTID}"
    assert await raw.exists(key) == 1
    for _ in range(200):
        if not await raw.exists(key):
            break
        await asyncio.sleep(0.01)
    assert await raw.exists(key) == 0
    assert await bsf.get_context(BTID, datetime.now(UTC) - HOUR) is None


async def test_take_is_atomic_across_clients(
    redis_url: str, redis_prefix: str, now: datetime
) -> None:
    stores = [RedisBsfStore(redis_url, prefix=redis_prefix) for _ in range(4)]
    try:
        await stores[0].put_challenge(challenge("n1", now + HOUR))
        got = await asyncio.gather(*(s.take_challenge("n1", now) for s in stores))
        assert sum(g is not None for g in got) == 1
    finally:
        for s in stores:
            await s.close()


# --- failures --------------------------------------------------------------------------


async def test_unreachable_redis_is_store_error(now: datetime) -> None:
    port = await _free_port()
    store = RedisBsfStore(f"redis://127.0.0.1:{port}/0", timeout=1.0)
    try:
        with pytest.raises(StoreError, match=f"redis at 127.0.0.1:{port}/0 unreachable"):
            await store.get_context(BTID, now)
        with pytest.raises(StoreError, match="unreachable"):
            await store.put_challenge(challenge("n1", now + HOUR))
    finally:
        await store.close()


async def test_unreachable_redis_is_store_error_for_naf(now: datetime) -> None:
    port = await _free_port()
    store = RedisNafStore(f"redis://127.0.0.1:{port}/0", timeout=1.0)
    try:
        with pytest.raises(StoreError, match="unreachable"):
            await store.check_nonce_count("n1", 1, now + HOUR)
    finally:
        await store.close()


async def test_password_stays_out_of_errors(now: datetime) -> None:
    port = await _free_port()
    store = RedisNafStore(f"redis://user:s3cret@127.0.0.1:{port}/0", timeout=1.0)
    try:
        with pytest.raises(StoreError) as err:
            await store.get_key(BTID, NAF_ID, now)
        assert "s3cret" not in str(err.value)
    finally:
        await store.close()


def test_bad_url_is_store_error() -> None:
    with pytest.raises(StoreError, match="invalid"):
        RedisBsfStore("http://127.0.0.1/0")


async def test_corrupt_record_is_store_error(
    bsf: RedisBsfStore, raw: Redis, redis_prefix: str, now: datetime
) -> None:
    await raw.set(f"{redis_prefix}:v1:bsf:ctx:{BTID}", b"{not json", px=60_000)
    with pytest.raises(StoreError, match="corrupt record"):
        await bsf.get_context(BTID, now)


async def test_nonce_secret_is_shared_on_a_prefix_and_distinct_across_prefixes(
    redis_url: str, redis_prefix: str, raw: Redis
) -> None:
    # NAF workers share their Digest nonce secret through the store (SET NX): the first
    # to ask makes it, every other store on the same prefix reads the same 32 octets
    first = RedisNafStore(redis_url, prefix=redis_prefix)
    second = RedisNafStore(redis_url, prefix=redis_prefix)
    other = RedisNafStore(redis_url, prefix=redis_prefix + "-other")
    try:
        secrets = await asyncio.gather(*(s.nonce_secret() for s in (first, second, first)))
        assert all(isinstance(s, bytes) and len(s) == 32 for s in secrets)
        assert len(set(secrets)) == 1
        assert await raw.get(f"{redis_prefix}:v{NAF_LAYOUT}:naf:nonce-secret") == secrets[0]
        elsewhere = await other.nonce_secret()
        assert len(elsewhere) == 32
        assert elsewhere != secrets[0]
        assert await other.nonce_secret() == elsewhere
    finally:
        await raw.delete(f"{redis_prefix}-other:v{NAF_LAYOUT}:naf:nonce-secret")
        for store in (first, second, other):
            await store.close()


async def test_corrupt_nonce_secret_is_store_error(
    naf: RedisNafStore, raw: Redis, redis_prefix: str
) -> None:
    await raw.set(f"{redis_prefix}:v{NAF_LAYOUT}:naf:nonce-secret", b"short")
    with pytest.raises(StoreError, match="corrupt record"):
        await naf.nonce_secret()

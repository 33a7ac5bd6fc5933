"""A lab whose BSF and NAF keep their state in Redis (``[bsf] store``, ``[naf] store`` =
redis://...): the GBA flow works unchanged and the bootstrapping context (TS 33.220
§4.5.2) and the NAF's Zn key (§4.5.3) are records in Redis, expiring with the key.

The Redis stores' key prefix is fixed ("gba"); the records of this lab are told apart
by their B-TID (base64 of a random RAND) and deleted at the end of the test.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import tomli_w
from redis.asyncio import Redis

from e2e.labctl import LabFactory
from gba import config
from gba.crypto import ua_protocols
from gba.ue.client import GbaClient

pytestmark = pytest.mark.redis


def redis_config(directory: Path, redis_url: str) -> Path:
    """The sample network with the BSF and NAF stores in Redis (the HSS stays SQLite)."""
    data = config.normalise(config.load(config.SAMPLE_CONFIG).raw)
    data["functions"]["bsf"]["store"] = redis_url
    data["functions"]["naf"]["store"] = redis_url
    target = directory / "redis-network.toml"
    target.write_text(tomli_w.dumps(data), encoding="utf-8")
    return target


@pytest.fixture
async def raw_redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_bsf_and_naf_keep_their_state_in_redis(
        lab_factory: LabFactory, redis_url: str, raw_redis: Redis, tmp_path: Path) -> None:
    lab = lab_factory(["redis-user"], redis_config(tmp_path, redis_url))
    sub = lab.subscriber("redis-user")
    async with GbaClient(sub.impi, sub.usim(), lab.bsf_url) as ue:
        reply = await ue.fetch_digest(lab.naf_url + "/", lab.naf_fqdn)
        assert ue.current is not None
        boot = ue.current
        key = ue.naf_key(lab.naf_fqdn, ua_protocols.HTTP_DIGEST)
    ctx_key = f"gba:v1:bsf:ctx:{boot.btid}"
    naf_key = f"gba:v1:naf:key:{boot.btid}:{key.naf_id.hex()}"
    try:
        assert reply.status == 200
        assert boot.btid in reply.body.decode()
        stored_ctx = await raw_redis.get(ctx_key)
        stored_key = await raw_redis.get(naf_key)
        ctx_ttl_ms = await raw_redis.pttl(ctx_key)
    finally:
        await raw_redis.delete(ctx_key, naf_key)
        await raw_redis.zrem("gba:v1:bsf:expiry", ctx_key)
        await raw_redis.zrem("gba:v1:naf:expiry", naf_key)
    assert stored_ctx is not None, f"no {ctx_key} in Redis"
    ctx = json.loads(stored_ctx)
    assert ctx["impi"] == sub.impi
    assert base64.b64decode(ctx["ks"]) == boot.ks
    assert base64.b64decode(ctx["rand"]) == boot.rand
    key_lifetime_ms = lab.network().bsf.key_lifetime_s * 1000
    assert 0 < ctx_ttl_ms <= key_lifetime_ms, "Redis must expire the context with Ks"
    assert stored_key is not None, f"the NAF did not cache its Zn key in Redis ({naf_key})"
    assert base64.b64decode(json.loads(stored_key)["key"]) == key.key
    assert not (tmp_path / "bsf.sqlite").exists()

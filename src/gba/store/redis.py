"""Redis backend for the BSF and NAF caches (the HSS subscriber table stays on SQLite).

Each record is one compact JSON string (octets base64, times integer microseconds since
the epoch) whose Redis expiry is the record's own ``expires`` (``SET ... PXAT``), so Redis
drops bootstrapping contexts (TS 33.220 §4.5.2) and Zn keys by itself. A sorted set per
network function scores each key by its ``expires``, which lets :meth:`purge_expired`
honour an injected ``now`` as the SQLite backend does. Keys::

    <prefix>:bsf:chal:<nonce>            pending challenge, taken with GETDEL
    <prefix>:bsf:ctx:<B-TID>             bootstrapping context
    <prefix>:naf:key:<B-TID>:<NAF_Id hex>
    <prefix>:naf:nc:<nonce>              hash {nc, exp, pxat}, checked by a Lua script
    <prefix>:bsf:expiry, <prefix>:naf:expiry   sorted sets: key -> expires (µs)

Every redis-py failure surfaces as :class:`~gba.errors.StoreError`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gba.errors import StoreError
from gba.store._epoch import from_us, now_us, to_us
from gba.store.base import BootstrapContext, Challenge, NafKey

T = TypeVar("T")

PURGE_BATCH: Final = 500

_PUT_LUA = """
-- KEYS: record, expiry index. ARGV: value, PXAT ms, expires us, 'NX' or '', now us.
local set = {'SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2]}
if ARGV[4] == 'NX' then table.insert(set, 'NX') end
if not redis.call(unpack(set)) then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], KEYS[1])
-- entries whose keys Redis has already expired by itself
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[5])
return 1
"""

_PURGE_LUA = """
-- KEYS: expiry index. ARGV: now us, batch size. Returns {deleted, examined}.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local gone = 0
for _, key in ipairs(due) do
  gone = gone + redis.call('DEL', key)
  redis.call('ZREM', KEYS[1], key)
end
return {gone, #due}
"""

_NONCE_COUNT_LUA = """
-- KEYS: nonce hash, expiry index. ARGV: nc, expires us, PXAT ms.
local seen = redis.call('HMGET', KEYS[1], 'nc', 'exp', 'pxat')
local exp, pxat = ARGV[2], ARGV[3]
if seen[1] then
  if tonumber(seen[1]) >= tonumber(ARGV[1]) then return 0 end
  if tonumber(seen[2]) > tonumber(exp) then exp, pxat = seen[2], seen[3] end
end
redis.call('HSET', KEYS[1], 'nc', ARGV[1], 'exp', exp, 'pxat', pxat)
redis.call('PEXPIREAT', KEYS[1], pxat)
redis.call('ZADD', KEYS[2], exp, KEYS[1])
return 1
"""


def _b64(octets: bytes) -> str:
    return base64.b64encode(octets).decode("ascii")


def _octets(text: Any) -> bytes:
    if not isinstance(text, str):
        raise TypeError("octets must be a base64 string")
    return base64.b64decode(text, validate=True)


def _json(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode()


def _pxat(expires_us: int) -> int:
    """Redis expiry in ms, rounded up so Redis never drops a record before its time."""
    return -(-expires_us // 1000)


def _where(url: str) -> str:
    """host:port/db of *url* without credentials, for error messages."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix:{parts.path}"
    return f"{parts.hostname}:{parts.port or 6379}{parts.path or '/0'}"


class _Client:
    """A redis.asyncio client under one key prefix whose failures raise StoreError."""

    def __init__(self, url: str, prefix: str, role: str, timeout: float) -> None:
        self.where = _where(url)
        self.ns = f"{prefix}:{role}"
        self.index = f"{self.ns}:expiry"
        try:
            self.redis: Redis = Redis.from_url(
                url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                # A retry can repeat a GETDEL or a nonce check whose reply was lost; both
                # then refuse (the challenge is gone, the nc was seen): safe for a cache.
                retry=Retry(ExponentialWithJitterBackoff(cap=0.2, base=0.01), retries=2),
            )
        except (ValueError, RedisError) as exc:
            raise StoreError(f"redis URL for {role} store is invalid: {exc}") from exc
        self._put = self.redis.register_script(_PUT_LUA)
        self._purge = self.redis.register_script(_PURGE_LUA)
        self.nonce_count = self.redis.register_script(_NONCE_COUNT_LUA)

    @contextmanager
    def errors(self, op: str) -> Iterator[None]:
        try:
            yield
        except RedisConnectionError as exc:
            raise StoreError(f"redis at {self.where} unreachable ({op}): {exc}") from exc
        except RedisTimeoutError as exc:
            raise StoreError(f"redis at {self.where} timed out ({op}): {exc}") from exc
        except RedisError as exc:
            raise StoreError(f"redis at {self.where}: {op} failed: {exc}") from exc

    def decode(self, key: str, raw: bytes, parse: Callable[[dict[str, Any]], T]) -> T:
        try:
            return parse(json.loads(raw))
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise StoreError(f"redis at {self.where}: corrupt record {key!r}") from exc

    async def put(self, key: str, value: bytes, expires: datetime, *, nx: bool = False) -> bool:
        """SET with PXAT *expires* and index it; False if *nx* and the key exists.

        A record already past *expires* (by this host's clock) is not stored; without *nx*
        any earlier value under *key* is dropped instead.
        """
        exp_us = to_us(expires, "expiry")
        now = now_us()
        if exp_us <= now:
            if not nx:
                await self.drop(key)
            return True
        with self.errors(f"put {key}"):
            args: list[bytes | str | int] = [value, _pxat(exp_us), exp_us, "NX" if nx else "", now]
            stored = await self._put(keys=[key, self.index], args=args)
        return bool(stored)

    async def get(self, key: str) -> bytes | None:
        with self.errors(f"get {key}"):
            raw = await self.redis.get(key)
        return raw if isinstance(raw, bytes) else None

    async def take(self, key: str) -> bytes | None:
        """GETDEL: the value, removed in the same step, so only one caller gets it."""
        with self.errors(f"take {key}"):
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.getdel(key)
                pipe.zrem(self.index, key)
                raw, _ = await pipe.execute()
        return raw if isinstance(raw, bytes) else None

    async def drop(self, key: str) -> bool:
        with self.errors(f"delete {key}"):
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                pipe.zrem(self.index, key)
                deleted, _ = await pipe.execute()
        return bool(deleted)

    async def purge(self, now: datetime) -> int:
        """Delete every indexed key whose expires <= *now*; return how many existed."""
        now_arg = to_us(now, "now")
        gone = 0
        with self.errors("purge expired"):
            while True:
                deleted, examined = await self._purge(
                    keys=[self.index], args=[now_arg, PURGE_BATCH]
                )
                gone += int(deleted)
                if int(examined) < PURGE_BATCH:
                    return gone

    async def close(self) -> None:
        with self.errors("close"):
            await self.redis.aclose()


# --- BSF -------------------------------------------------------------------------------


def _encode_challenge(ch: Challenge) -> bytes:
    return _json(
        {
            "nonce": ch.nonce,
            "impi": ch.impi,
            "rand": _b64(ch.rand),
            "autn": _b64(ch.autn),
            "xres": _b64(ch.xres),
            "ck": _b64(ch.ck),
            "ik": _b64(ch.ik),
            "expires": to_us(ch.expires, "challenge expiry"),
            "guss": ch.guss,
        }
    )


def _decode_challenge(d: dict[str, Any]) -> Challenge:
    return Challenge(
        nonce=str(d["nonce"]),
        impi=str(d["impi"]),
        rand=_octets(d["rand"]),
        autn=_octets(d["autn"]),
        xres=_octets(d["xres"]),
        ck=_octets(d["ck"]),
        ik=_octets(d["ik"]),
        expires=from_us(int(d["expires"])),
        guss=d["guss"],
    )


def _encode_context(ctx: BootstrapContext) -> bytes:
    return _json(
        {
            "btid": ctx.btid,
            "impi": ctx.impi,
            "ks": _b64(ctx.ks),
            "rand": _b64(ctx.rand),
            "created": to_us(ctx.created, "context creation"),
            "expires": to_us(ctx.expires, "context expiry"),
            "guss": ctx.guss,
            "gba_u": ctx.gba_u,
        }
    )


def _decode_context(d: dict[str, Any]) -> BootstrapContext:
    return BootstrapContext(
        btid=str(d["btid"]),
        impi=str(d["impi"]),
        ks=_octets(d["ks"]),
        rand=_octets(d["rand"]),
        created=from_us(int(d["created"])),
        expires=from_us(int(d["expires"])),
        guss=d["guss"],
        gba_u=bool(d["gba_u"]),
    )


class RedisBsfStore:
    """Pending challenges and bootstrapping contexts of a BSF (TS 33.220 §4.5.2) in Redis."""

    def __init__(self, url: str, *, prefix: str = "gba", timeout: float = 5.0) -> None:
        self._c = _Client(url, prefix, "bsf", timeout)

    def _chal(self, nonce: str) -> str:
        return f"{self._c.ns}:chal:{nonce}"

    def _ctx(self, btid: str) -> str:
        return f"{self._c.ns}:ctx:{btid}"

    async def put_challenge(self, challenge: Challenge) -> None:
        """Store a pending challenge; StoreError if its nonce is already pending."""
        key = self._chal(challenge.nonce)
        if not await self._c.put(key, _encode_challenge(challenge), challenge.expires, nx=True):
            raise StoreError(f"redis at {self._c.where}: challenge {key!r} already pending")

    async def take_challenge(self, nonce: str, now: datetime) -> Challenge | None:
        """GETDEL, so a nonce is answered at most once; None if unknown or expired."""
        key = self._chal(nonce)
        raw = await self._c.take(key)
        if raw is None:
            return None
        challenge = self._c.decode(key, raw, _decode_challenge)
        return challenge if challenge.expires > now else None

    async def put_context(self, ctx: BootstrapContext) -> None:
        await self._c.put(self._ctx(ctx.btid), _encode_context(ctx), ctx.expires)

    async def get_context(self, btid: str, now: datetime) -> BootstrapContext | None:
        key = self._ctx(btid)
        raw = await self._c.get(key)
        if raw is None:
            return None
        ctx = self._c.decode(key, raw, _decode_context)
        return ctx if ctx.expires > now else None

    async def delete_context(self, btid: str) -> bool:
        return await self._c.drop(self._ctx(btid))

    async def purge_expired(self, now: datetime) -> int:
        """Delete challenges and contexts with expires <= *now* that Redis still holds."""
        return await self._c.purge(now)

    async def close(self) -> None:
        await self._c.close()


# --- NAF -------------------------------------------------------------------------------


def _encode_key(key: NafKey) -> bytes:
    return _json(
        {
            "btid": key.btid,
            "naf_id": _b64(key.naf_id),
            "key": _b64(key.key),
            "impi": key.impi,
            "expires": to_us(key.expires, "key expiry"),
            "created": None if key.created is None else to_us(key.created, "key creation"),
            "uss": key.uss,
            "gba_u": key.gba_u,
        }
    )


def _decode_key(d: dict[str, Any]) -> NafKey:
    created = d["created"]
    return NafKey(
        btid=str(d["btid"]),
        naf_id=_octets(d["naf_id"]),
        key=_octets(d["key"]),
        impi=str(d["impi"]),
        expires=from_us(int(d["expires"])),
        created=None if created is None else from_us(int(created)),
        uss=d["uss"],
        gba_u=bool(d["gba_u"]),
    )


class RedisNafStore:
    """Zn keys of a NAF (TS 33.220 §4.5.3) and Digest nonce counts (RFC 7616) in Redis."""

    def __init__(self, url: str, *, prefix: str = "gba", timeout: float = 5.0) -> None:
        self._c = _Client(url, prefix, "naf", timeout)

    def _key(self, btid: str, naf_id: bytes) -> str:
        return f"{self._c.ns}:key:{btid}:{naf_id.hex()}"

    async def put_key(self, key: NafKey) -> None:
        await self._c.put(self._key(key.btid, key.naf_id), _encode_key(key), key.expires)

    async def get_key(self, btid: str, naf_id: bytes, now: datetime) -> NafKey | None:
        name = self._key(btid, naf_id)
        raw = await self._c.get(name)
        if raw is None:
            return None
        key = self._c.decode(name, raw, _decode_key)
        return key if key.expires > now else None

    async def delete_key(self, btid: str, naf_id: bytes) -> bool:
        return await self._c.drop(self._key(btid, naf_id))

    async def check_nonce_count(self, nonce: str, nc: int, expires: datetime) -> bool:
        """True, and remember *nc*, if above every nc seen with *nonce* (RFC 7616 §3.4).

        One Lua script, so concurrent requests with the same (nonce, nc) get one True.
        Redis forgets the nonce at *expires*; by then the Digest layer refuses it as stale.
        """
        exp_us = to_us(expires, "nonce expiry")
        key = f"{self._c.ns}:nc:{nonce}"
        with self._c.errors(f"check nonce count {key}"):
            fresh = await self._c.nonce_count(
                keys=[key, self._c.index], args=[nc, exp_us, _pxat(exp_us)]
            )
        return bool(fresh)

    async def purge_expired(self, now: datetime) -> int:
        """Delete keys and nonce counts with expires <= *now* (beyond the Protocol)."""
        return await self._c.purge(now)

    async def close(self) -> None:
        await self._c.close()

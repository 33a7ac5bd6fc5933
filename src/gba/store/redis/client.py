"""A Redis client (:mod:`gba.store.redis.connection`) under one versioned key namespace
whose failures are StoreErrors.

Every key a store writes starts with ``<prefix>:v<version>:<function>:``
(:func:`namespace`), so stores of different layout versions share a server without reading
each other's records. Records are compact JSON (octets base64, times integer microseconds
since the epoch) whose Redis expiry is the record's own ``expires`` (``SET ... PXAT``); a
sorted set ``<namespace>:expiry`` scores each key by its ``expires`` so that
:meth:`Client.purge` can honour an injected ``now``.
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

from gba.errors import StoreError
from gba.store._epoch import now_us, to_us
from gba.store.redis.connection import (
    RespClient,
    RespClientError,
    RespConnectionError,
    RespTimeoutError,
    as_int,
    as_list,
)
from gba.store.redis.resp import Arg, RespProtocolError

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

_COUNT_LUA = """
-- KEYS: expiry index. ARGV: now us, key prefix, entries to examine. Returns how many of
-- the live entries examined (expires > now, earliest first) start with the prefix.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'LIMIT', 0, ARGV[3])
local prefix, count = ARGV[2], 0
for _, key in ipairs(due) do
  if string.sub(key, 1, #prefix) == prefix then count = count + 1 end
end
return count
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


def namespace(prefix: str, version: int, function: str) -> str:
    """``<prefix>:v<version>:<function>``, the start of every key of one store."""
    return f"{prefix}:v{version}:{function}"


def b64(octets: bytes) -> str:
    return base64.b64encode(octets).decode("ascii")


def octets(text: Any) -> bytes:
    """The bytes of a base64 JSON string; TypeError or binascii.Error if it is not one."""
    if not isinstance(text, str):
        raise TypeError("octets must be a base64 string")
    return base64.b64decode(text, validate=True)


def dump(record: dict[str, Any]) -> bytes:
    """*record* as compact JSON."""
    return json.dumps(record, separators=(",", ":")).encode()


def pxat(expires_us: int) -> int:
    """Redis expiry in ms, rounded up so Redis never drops a record before its time."""
    return -(-expires_us // 1000)


def _where(url: str) -> str:
    """host:port/db of *url* without credentials, for error messages."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix:{parts.path}"
    return f"{parts.hostname}:{parts.port or 6379}{parts.path or '/0'}"


class Client:
    """A Redis client for the keys under *ns*; its failures raise StoreError."""

    def __init__(self, url: str, ns: str, timeout: float) -> None:
        self.where = _where(url)
        self.ns = ns
        self.index = f"{ns}:expiry"
        try:
            # Resends a command after a connection failure (RespClient.RETRIES): that can
            # repeat a GETDEL or a nonce check whose reply was lost; both then refuse (the
            # challenge is gone, the nc was seen): safe for a cache.
            self.redis = RespClient(url, timeout=timeout)
        except ValueError as exc:
            raise StoreError(f"redis URL for the {ns} store is invalid: {exc}") from exc
        self._put = self.redis.register_script(_PUT_LUA)
        self._purge = self.redis.register_script(_PURGE_LUA)
        self._count = self.redis.register_script(_COUNT_LUA)
        self.nonce_count = self.redis.register_script(_NONCE_COUNT_LUA)

    @contextmanager
    def errors(self, op: str) -> Iterator[None]:
        try:
            yield
        except RespConnectionError as exc:
            raise StoreError(f"redis at {self.where} unreachable ({op}): {exc}") from exc
        except RespTimeoutError as exc:
            raise StoreError(f"redis at {self.where} timed out ({op}): {exc}") from exc
        except (RespClientError, RespProtocolError) as exc:
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
            args: list[Arg] = [value, pxat(exp_us), exp_us, "NX" if nx else "", now]
            stored = await self._put(keys=[key, self.index], args=args)
        return bool(stored)

    async def get(self, key: str) -> bytes | None:
        with self.errors(f"get {key}"):
            return await self.redis.get(key)

    async def take(self, key: str) -> bytes | None:
        """GETDEL: the value, removed in the same step, so only one caller gets it."""
        with self.errors(f"take {key}"):
            raw, _ = await self.redis.transaction(("GETDEL", key), ("ZREM", self.index, key))
        return raw if isinstance(raw, bytes) else None

    async def drop(self, key: str) -> bool:
        with self.errors(f"delete {key}"):
            deleted, _ = await self.redis.transaction(("DEL", key), ("ZREM", self.index, key))
        return bool(deleted)

    async def purge(self, now: datetime) -> int:
        """Delete every indexed key whose expires <= *now*; return how many existed."""
        now_arg = to_us(now, "now")
        gone = 0
        with self.errors("purge expired"):
            while True:
                deleted, examined = as_list(await self._purge(
                    keys=[self.index], args=[now_arg, PURGE_BATCH]
                ))
                gone += as_int(deleted)
                if as_int(examined) < PURGE_BATCH:
                    return gone

    async def count_live(self, prefix: str, now: datetime, cap: int) -> int:
        """How many indexed keys starting with *prefix* live past *now*, among the first
        *cap* live entries of the index (exact while the index holds fewer live ones)."""
        with self.errors(f"count {prefix}*"):
            count = await self._count(keys=[self.index],
                                      args=[to_us(now, "now"), prefix, max(cap, 0)])
        return as_int(count)

    async def close(self) -> None:
        with self.errors("close"):
            await self.redis.aclose()

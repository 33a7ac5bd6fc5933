"""Ub challenge limits shared by every BSF on one Redis (issue 10 item 6, scaled out).

:class:`gba.protocols.ratelimit.ChallengeLimits` counts per process: BSFs behind a load
balancer would each allow the full rate, so N of them let a prober burn N times as many
SQNs. :class:`RedisChallengeLimits` keeps the same token buckets (same :class:`Rate`,
same keys: the IMPI in lower case, the source address or IPv6 /64) in Redis and spends a
token of each in one Lua script, so the check and the spending are atomic across BSFs.

Keys (layout version 1, beside the BSF store's)::

    <prefix>:v1:ublimit:impi:<impi>      hash: tokens, updated (µs)
    <prefix>:v1:ublimit:src:<source>     hash: tokens, updated (µs)

Each key expires once its bucket would be full again, so idle keys cost nothing. ``now``
comes from the caller, as in the sans-IO limiter; the BSFs' clocks are assumed close.
"""

from __future__ import annotations

from datetime import datetime

from gba.protocols.ratelimit import DEFAULT_PER_IMPI, DEFAULT_PER_SOURCE, Rate, source_key
from gba.store._epoch import to_us
from gba.store.redis.client import Client, namespace
from gba.store.redis.connection import as_int

LAYOUT_VERSION = 1

_ADMIT_LUA = """
-- KEYS: buckets. ARGV: now us, then per key: count, period us.
-- Spends one token of every bucket if each has one (returns 0); else spends nothing and
-- returns the microseconds until all of them will have one.
local now = tonumber(ARGV[1])
local tokens, wait = {}, 0
for i, key in ipairs(KEYS) do
  local count, period = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local held = redis.call('HMGET', key, 'tokens', 'updated')
  local t = count
  if held[1] then
    local elapsed = math.max(0, now - tonumber(held[2]))
    t = math.min(count, tonumber(held[1]) + elapsed * count / period)
  end
  tokens[i] = t
  if t < 1 then wait = math.max(wait, (1 - t) * period / count) end
end
if wait > 0 then return math.ceil(wait) end
for i, key in ipairs(KEYS) do
  local count, period = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local t = tokens[i] - 1
  redis.call('HSET', key, 'tokens', tostring(t), 'updated', ARGV[1])
  -- full again after (count - t) tokens' worth of time
  redis.call('PEXPIRE', key, math.ceil((count - t) * period / count / 1000) + 1)
end
return 0
"""


class RedisChallengeLimits:
    """New Ub challenges per IMPI and per source, counted in Redis for every BSF."""

    def __init__(self, url: str, per_impi: Rate = DEFAULT_PER_IMPI,
                 per_source: Rate = DEFAULT_PER_SOURCE, *, prefix: str = "gba",
                 timeout: float = 5.0) -> None:
        self.per_impi, self.per_source = per_impi, per_source
        self._c = Client(url, namespace(prefix, LAYOUT_VERSION, "ublimit"), timeout)
        self._admit = self._c.redis.register_script(_ADMIT_LUA)

    async def admit(self, impi: str, source: str | None, now: datetime) -> float | None:
        """None: go on (a token of each bucket is spent); else the seconds to wait."""
        keys: list[str] = []
        args: list[int] = [to_us(now, "now")]
        for rate, key in ((self.per_impi, f"impi:{impi.lower()}"),
                          (self.per_source, f"src:{source_key(source)}" if source else "")):
            if key and not rate.unlimited:
                keys.append(f"{self._c.ns}:{key}")
                args += [rate.count, int(rate.period.total_seconds() * 1_000_000)]
        if not keys:
            return None
        with self._c.errors("admit a Ub challenge"):
            wait_us = as_int(await self._admit(keys=keys, args=args))
        return None if wait_us <= 0 else wait_us / 1_000_000

    async def close(self) -> None:
        await self._c.close()

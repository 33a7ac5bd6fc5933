"""The BSF's pending challenges and bootstrapping contexts in Redis (TS 33.220 §4.5.2).

Keys, layout version :data:`LAYOUT_VERSION` (see :mod:`gba.store.redis`)::

    <prefix>:v1:bsf:chal:<nonce>     pending challenge, JSON, taken with GETDEL
    <prefix>:v1:bsf:ctx:<B-TID>      bootstrapping context, JSON
    <prefix>:v1:bsf:gv:<group id>    an MTC group's current vector, JSON, claimed by script
    <prefix>:v1:bsf:expiry           sorted set: key -> expires (µs)

Records written before the MTC fields (``mtc``) read as None: the layout stays 1.

Redis drops each record at its own ``expires``; a context therefore lives exactly as long
as its key lifetime. Counting and listing live contexts walk the expiry index from the
latest expiry down, in one script, and stop after a fixed number of index entries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from gba.errors import StoreError
from gba.store import COUNT_CAP
from gba.store._epoch import from_us, to_us
from gba.store.bsf import BootstrapContext, Challenge, ContextSummary, GroupVector
from gba.store.redis.client import Client, b64, dump, namespace, octets
from gba.store.redis.connection import as_list

LAYOUT_VERSION: Final = 1

_LIVE_LUA = """
-- KEYS: expiry index. ARGV: now us, context key prefix, entries to examine, keys wanted.
-- The context keys among the live entries, latest expiry first: at most ARGV[4] of them,
-- from at most ARGV[3] index entries (challenges share the index).
local due = redis.call('ZREVRANGEBYSCORE', KEYS[1], '+inf', '(' .. ARGV[1],
                       'LIMIT', 0, ARGV[3])
local prefix, wanted, out = ARGV[2], tonumber(ARGV[4]), {}
for _, key in ipairs(due) do
  if string.sub(key, 1, #prefix) == prefix then
    if #out >= wanted then break end
    out[#out + 1] = key
  end
end
return out
"""
_CLAIM_LUA = """
-- KEYS: the group vector. ARGV: now us, IMSI, max uses.
-- Add the IMSI to the vector's users and return the record, or nil when the vector is
-- gone or expired, the IMSI used it, or max uses is reached. One script: atomic.
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local v = cjson.decode(raw)
if tonumber(v.expires) <= tonumber(ARGV[1]) then return false end
for _, who in ipairs(v.used_by) do
  if who == ARGV[2] then return false end
end
if #v.used_by >= tonumber(ARGV[3]) then return false end
table.insert(v.used_by, ARGV[2])
local out = cjson.encode(v)
redis.call('SET', KEYS[1], out, 'KEEPTTL')
return out
"""
LIST_EXAMINE_FACTOR: Final = 20
"""Index entries examined per context listed (challenges share the index)."""


def _encode_challenge(ch: Challenge) -> bytes:
    return dump(
        {
            "nonce": ch.nonce,
            "impi": ch.impi,
            "rand": b64(ch.rand),
            "autn": b64(ch.autn),
            "xres": b64(ch.xres),
            "ck": b64(ch.ck),
            "ik": b64(ch.ik),
            "expires": to_us(ch.expires, "challenge expiry"),
            "guss": ch.guss,
            "mtc": ch.mtc,
        }
    )


def _decode_challenge(d: dict[str, Any]) -> Challenge:
    return Challenge(
        nonce=str(d["nonce"]),
        impi=str(d["impi"]),
        rand=octets(d["rand"]),
        autn=octets(d["autn"]),
        xres=octets(d["xres"]),
        ck=octets(d["ck"]),
        ik=octets(d["ik"]),
        expires=from_us(int(d["expires"])),
        guss=d["guss"],
        mtc=d.get("mtc"),
    )


def _encode_context(ctx: BootstrapContext) -> bytes:
    return dump(
        {
            "btid": ctx.btid,
            "impi": ctx.impi,
            "ks": b64(ctx.ks),
            "rand": b64(ctx.rand),
            "created": to_us(ctx.created, "context creation"),
            "expires": to_us(ctx.expires, "context expiry"),
            "guss": ctx.guss,
            "gba_u": ctx.gba_u,
            "mtc": ctx.mtc,
        }
    )


def _decode_context(d: dict[str, Any]) -> BootstrapContext:
    return BootstrapContext(
        btid=str(d["btid"]),
        impi=str(d["impi"]),
        ks=octets(d["ks"]),
        rand=octets(d["rand"]),
        created=from_us(int(d["created"])),
        expires=from_us(int(d["expires"])),
        guss=d["guss"],
        gba_u=bool(d["gba_u"]),
        mtc=d.get("mtc"),
    )


def _encode_group_vector(v: GroupVector) -> bytes:
    # expires as text: the claim script's cjson would round a 16-digit number
    return dump({"group_id": v.group_id, "rand": b64(v.rand), "autn": b64(v.autn),
                 "xres": b64(v.xres), "ck": b64(v.ck), "ik": b64(v.ik),
                 "settings": v.settings, "expires": str(to_us(v.expires, "vector expiry")),
                 "used_by": list(v.used_by)})


def _decode_group_vector(d: dict[str, Any]) -> GroupVector:
    used = d["used_by"]
    return GroupVector(str(d["group_id"]), octets(d["rand"]), octets(d["autn"]),
                       octets(d["xres"]), octets(d["ck"]), octets(d["ik"]),
                       str(d["settings"]), from_us(int(d["expires"])),
                       tuple(str(x) for x in (used if isinstance(used, list) else [])))


class RedisBsfStore:
    """Pending challenges and bootstrapping contexts of a BSF (TS 33.220 §4.5.2) in Redis."""

    def __init__(self, url: str, *, prefix: str = "gba", timeout: float = 5.0) -> None:
        self._c = Client(url, namespace(prefix, LAYOUT_VERSION, "bsf"), timeout)
        self._live = self._c.redis.register_script(_LIVE_LUA)
        self._claim = self._c.redis.register_script(_CLAIM_LUA)

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

    async def count_contexts(self, now: datetime, cap: int = COUNT_CAP) -> int:
        """Live contexts among the first *cap* live entries of the expiry index: exact
        while contexts and pending challenges together number fewer than *cap*."""
        return await self._c.count_live(self._ctx(""), now, cap)

    async def live_contexts(self, now: datetime, limit: int) -> list[ContextSummary]:
        if limit <= 0:
            return []
        with self._c.errors("list contexts"):
            keys = [k for k in as_list(await self._live(
                keys=[self._c.index],
                args=[to_us(now, "now"), self._ctx(""), limit * LIST_EXAMINE_FACTOR, limit],
            )) if isinstance(k, bytes)]
            raws = await self._c.redis.mget(keys) if keys else []
        out = []
        for key, raw in zip(keys, raws, strict=True):
            if isinstance(raw, bytes):
                ctx = self._c.decode(key.decode(), raw, _decode_context)
                if ctx.expires > now:
                    out.append(ContextSummary(ctx.btid, ctx.impi, ctx.expires))
        return out

    def _gv(self, group_id: str) -> str:
        return f"{self._c.ns}:gv:{group_id}"

    async def put_group_vector(self, vector: GroupVector) -> None:
        await self._c.put(self._gv(vector.group_id), _encode_group_vector(vector),
                          vector.expires)

    async def claim_group_vector(self, group_id: str, imsi: str, now: datetime,
                                 max_uses: int) -> GroupVector | None:
        key = self._gv(group_id)
        with self._c.errors("claim group vector"):
            raw = await self._claim(keys=[key], args=[to_us(now, "now"), imsi, max_uses])
        if not raw:
            return None
        return self._c.decode(key, raw if isinstance(raw, bytes) else str(raw).encode(),
                              _decode_group_vector)

    async def purge_expired(self, now: datetime) -> int:
        """Delete challenges and contexts with expires <= *now* that Redis still holds."""
        return await self._c.purge(now)

    async def close(self) -> None:
        await self._c.close()

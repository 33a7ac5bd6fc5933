"""The NAF's Zn key cache and Digest nonce counts in Redis (TS 33.220 §4.5.3, RFC 7616).

Keys, layout version :data:`LAYOUT_VERSION` (see :mod:`gba.store.redis`)::

    <prefix>:v1:naf:key:<B-TID>:<NAF_Id hex>   Zn key, JSON (``uicc_key`` null for GBA_ME)
    <prefix>:v1:naf:nc:<nonce>                 hash {nc, exp, pxat}, checked by a Lua script
    <prefix>:v1:naf:expiry                     sorted set: key -> expires (µs)
    <prefix>:v1:naf:charging                   list of charging records, JSON, oldest first
    <prefix>:v1:naf:sa:<kind>:<value>          push security association, JSON (issue 13)
    <prefix>:v1:naf:nonce-secret               the Digest nonce secret shared by workers
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any, Final

from gba.errors import StoreError
from gba.protocols.push_sa import IdKind, PushSa, SaId
from gba.store import COUNT_CAP
from gba.store._epoch import from_us, to_us
from gba.store.naf import ChargingRecord, NafKey
from gba.store.redis.client import Client, b64, dump, namespace, octets, pxat

LAYOUT_VERSION: Final = 1


def _encode_key(key: NafKey) -> bytes:
    return dump(
        {
            "btid": key.btid,
            "naf_id": b64(key.naf_id),
            "key": b64(key.key),
            "impi": key.impi,
            "expires": to_us(key.expires, "key expiry"),
            "created": None if key.created is None else to_us(key.created, "key creation"),
            "uss": key.uss,
            "gba_u": key.gba_u,
            "uicc_key": None if key.uicc_key is None else b64(key.uicc_key),
        }
    )


def _decode_key(d: dict[str, Any]) -> NafKey:
    created, uicc_key = d["created"], d["uicc_key"]
    return NafKey(
        btid=str(d["btid"]),
        naf_id=octets(d["naf_id"]),
        key=octets(d["key"]),
        impi=str(d["impi"]),
        expires=from_us(int(d["expires"])),
        created=None if created is None else from_us(int(created)),
        uss=d["uss"],
        gba_u=bool(d["gba_u"]),
        uicc_key=None if uicc_key is None else octets(uicc_key),
    )


class RedisNafStore:
    """Zn keys of a NAF (TS 33.220 §4.5.3) and Digest nonce counts (RFC 7616) in Redis."""

    def __init__(self, url: str, *, prefix: str = "gba", timeout: float = 5.0) -> None:
        self._c = Client(url, namespace(prefix, LAYOUT_VERSION, "naf"), timeout)

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

    async def count_keys(self, now: datetime, cap: int = COUNT_CAP) -> int:
        """Live keys among the first *cap* live entries of the expiry index (exact while
        keys and nonce counts together number fewer)."""
        return await self._c.count_live(f"{self._c.ns}:key:", now, cap)

    async def nonce_secret(self) -> bytes:
        """The secret of the Digest nonces (:class:`gba.protocols.ua.NonceMint`) that the
        processes sharing this store share: made by the first to ask (SET NX), so a nonce
        one worker issued verifies at every other. Redis already holds the Ks_NAF keys;
        the secret is no more exposed there than they are."""
        key = f"{self._c.ns}:nonce-secret"
        with self._c.errors(f"nonce secret {key}"):
            await self._c.redis.set(key, os.urandom(32), nx=True)
            raw = await self._c.redis.get(key)
        if not isinstance(raw, bytes) or len(raw) != 32:
            raise StoreError(f"redis at {self._c.where}: corrupt record {key!r}")
        return raw

    async def check_nonce_count(self, nonce: str, nc: int, expires: datetime) -> bool:
        """True, and remember *nc*, if above every nc seen with *nonce* (RFC 7616 §3.4).

        One Lua script, so concurrent requests with the same (nonce, nc) get one True.
        Redis forgets the nonce at *expires*; by then the Digest layer refuses it as stale.
        """
        exp_us = to_us(expires, "nonce expiry")
        key = f"{self._c.ns}:nc:{nonce}"
        with self._c.errors(f"check nonce count {key}"):
            fresh = await self._c.nonce_count(
                keys=[key, self._c.index], args=[nc, exp_us, pxat(exp_us)]
            )
        return bool(fresh)

    async def purge_expired(self, now: datetime) -> int:
        """Delete keys and nonce counts with expires <= *now* (beyond the Protocol)."""
        return await self._c.purge(now)

    async def put_charging(self, record: ChargingRecord) -> None:
        raw = dump({"time": to_us(record.time, "charging time"), "case": record.case,
                    "server": record.server, "naf_id": b64(record.naf_id),
                    "home_realm": record.home_realm, "user": record.user,
                    "key_kind": record.key_kind,
                    "key_expiry": to_us(record.key_expiry, "key expiry"),
                    "session": record.session})
        with self._c.errors("put charging record"):
            await self._c.redis.rpush(f"{self._c.ns}:charging", raw)

    async def charging_records(self, limit: int = 1000) -> list[ChargingRecord]:
        name = f"{self._c.ns}:charging"
        with self._c.errors("charging records"):
            raws = await self._c.redis.lrange(name, -max(limit, 1), -1) if limit > 0 else []
        return [self._c.decode(name, raw, _decode_charging) for raw in raws
                if isinstance(raw, bytes)]

    def _sa_key(self, sa_id: SaId, owner: str) -> str:
        # the owner's length first: no owner/kind/value split is ambiguous
        return f"{self._c.ns}:sa:{len(owner)}:{owner}:{sa_id.kind.value}:{sa_id.value}"

    async def put_push_sa(self, sa: PushSa) -> None:
        await self._c.put(self._sa_key(sa.sa_id, sa.owner), dump({
            "kind": sa.sa_id.kind.value, "value": sa.sa_id.value, "naf_id": b64(sa.naf_id),
            "tid": sa.tid, "key": b64(sa.key), "expires": to_us(sa.expires, "SA expiry"),
            "algorithm": sa.algorithm, "protocol_version": sa.protocol_version,
            "key_selection": sa.key_selection, "send_seq": sa.send_seq,
            "highest": sa.highest, "received": sorted(sa.received), "owner": sa.owner}),
            sa.expires)

    async def get_push_sa(self, sa_id: SaId, now: datetime, owner: str = ""
                          ) -> PushSa | None:
        name = self._sa_key(sa_id, owner)
        raw = await self._c.get(name)
        if raw is None:
            return None
        sa = self._c.decode(name, raw, _decode_sa)
        return sa if sa.expires > now else None

    async def close(self) -> None:
        await self._c.close()


def _decode_sa(d: dict[str, Any]) -> PushSa:
    return PushSa(SaId(IdKind(str(d["kind"])), str(d["value"])), octets(d["naf_id"]),
                  str(d["tid"]), octets(d["key"]), from_us(int(d["expires"])),
                  str(d["algorithm"]), str(d["protocol_version"]), str(d["key_selection"]),
                  int(d["send_seq"]), frozenset(int(n) for n in d["received"]),
                  int(d["highest"]), str(d.get("owner", "")))


def _decode_charging(d: dict[str, Any]) -> ChargingRecord:
    return ChargingRecord(
        time=from_us(int(d["time"])), case=str(d["case"]), server=str(d["server"]),
        naf_id=octets(d["naf_id"]), home_realm=str(d["home_realm"]), user=str(d["user"]),
        key_kind=str(d["key_kind"]), key_expiry=from_us(int(d["key_expiry"])),
        session=str(d["session"]))

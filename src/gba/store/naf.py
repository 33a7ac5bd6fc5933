"""The NAF's records: keys learned over Zn and Digest nonce counts, and their interface.

Keys fetched over Zn are cached until their Key-ExpiryTime (TS 33.220 §4.5.3); Digest
nonce counts are remembered so that a replayed (nonce, nc) is refused (RFC 7616 §3.4).
Backends: :mod:`gba.store.sqlite.naf` (schema version ``NAF_SCHEMA.version``) and
:mod:`gba.store.redis.naf` (key layout ``LAYOUT_VERSION``). The record itself is
protocol state, defined in :mod:`gba.protocols.contexts`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from gba.protocols.contexts import NafKey
from gba.store import COUNT_CAP

__all__ = ["NafKey", "NafStore"]


class NafStore(Protocol):
    async def put_key(self, key: NafKey) -> None: ...

    async def get_key(self, btid: str, naf_id: bytes, now: datetime) -> NafKey | None:
        """The cached key, or None if unknown or expired."""

    async def delete_key(self, btid: str, naf_id: bytes) -> bool: ...

    async def count_keys(self, now: datetime, cap: int = COUNT_CAP) -> int:
        """How many cached keys are live at *now* (expires > now), counting at most *cap*."""

    async def check_nonce_count(self, nonce: str, nc: int, expires: datetime) -> bool:
        """Record that *nc* was used with *nonce*; False if it is not above every earlier nc."""

    async def purge_expired(self, now: datetime) -> int:
        """Delete expired keys and nonce counts; return how many went."""

    async def close(self) -> None: ...

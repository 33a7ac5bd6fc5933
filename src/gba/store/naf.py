"""The NAF's records: keys learned over Zn and Digest nonce counts, and their interface.

Keys fetched over Zn are cached until their Key-ExpiryTime (TS 33.220 §4.5.3); Digest
nonce counts are remembered so that a replayed (nonce, nc) is refused (RFC 7616 §3.4).
Backends: :mod:`gba.store.sqlite.naf` (schema version ``NAF_SCHEMA.version``) and
:mod:`gba.store.redis.naf` (key layout ``LAYOUT_VERSION``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class NafKey:
    """What a NAF learned over Zn for one (B-TID, NAF_Id) (TS 33.220 §4.5.3)."""

    btid: str
    naf_id: bytes
    key: bytes = field(repr=False)
    """Ks_(ext)_NAF, the ME-Key-Material of the Zn answer (TS 29.109)."""
    impi: str
    expires: datetime
    created: datetime | None = None
    uss: str | None = None
    """The user security settings for the NAF's GAA service, XML, if any."""
    gba_u: bool = False
    uicc_key: bytes | None = field(default=None, repr=False)
    """Ks_int_NAF, the UICC-Key-Material the BSF sends a GBA_U-aware NAF (TS 33.220 §5.3.2;
    TS 29.109); None for GBA_ME, and for every key cached before NAF schema version 2."""


class NafStore(Protocol):
    async def put_key(self, key: NafKey) -> None: ...

    async def get_key(self, btid: str, naf_id: bytes, now: datetime) -> NafKey | None:
        """The cached key, or None if unknown or expired."""

    async def delete_key(self, btid: str, naf_id: bytes) -> bool: ...

    async def check_nonce_count(self, nonce: str, nc: int, expires: datetime) -> bool:
        """Record that *nc* was used with *nonce*; False if it is not above every earlier nc."""

    async def purge_expired(self, now: datetime) -> int:
        """Delete expired keys and nonce counts; return how many went."""

    async def close(self) -> None: ...

"""The NAF's records: keys learned over Zn and Digest nonce counts, and their interface.

Keys fetched over Zn are cached until their Key-ExpiryTime (TS 33.220 §4.5.3); Digest
nonce counts are remembered so that a replayed (nonce, nc) is refused (RFC 7616 §3.4).
Backends: :mod:`gba.store.sqlite.naf` (schema version ``NAF_SCHEMA.version``) and
:mod:`gba.store.redis.naf` (key layout ``LAYOUT_VERSION``). The record itself is
protocol state, defined in :mod:`gba.protocols.contexts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from gba.protocols.contexts import NafKey
from gba.protocols.push_sa import PushSa, SaId
from gba.store import COUNT_CAP

__all__ = ["ChargingRecord", "NafKey", "NafStore"]


@dataclass(frozen=True, slots=True)
class ChargingRecord:
    """One security association a visited server set up with a roaming user, for
    inter-operator charging (seed 000: the visited network records the user identity the
    home network supplied; docs/roaming.md §3). No key material, no B-TID."""

    time: datetime
    case: str
    """How the key came: A, B-standalone, B-aaa, B-in-server, C or D."""
    server: str
    """The server's FQDN."""
    naf_id: bytes
    home_realm: str
    user: str
    """The identity the home network returned (User-Name: the IMPI), never the B-TID."""
    key_kind: str
    """``derived`` (Ks_NAF from the home BSF) or ``ks`` (derived here from Ks)."""
    key_expiry: datetime
    session: str = ""
    """The Diameter Session-Id of the request that brought the key, for correlation."""


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

    async def put_charging(self, record: ChargingRecord) -> None:
        """Keep a charging record (never purged with the cache)."""

    async def charging_records(self, limit: int = 1000) -> list[ChargingRecord]:
        """The newest *limit* charging records, oldest first."""

    async def put_push_sa(self, sa: PushSa) -> None:
        """Keep (or replace) a push security association until its key expires."""

    async def get_push_sa(self, sa_id: SaId, now: datetime, owner: str = ""
                          ) -> PushSa | None:
        """The push SA of that name set up with *owner* (``PushSa.owner``), or None if
        unknown or expired (issue 13)."""

    async def close(self) -> None: ...

"""The BSF's records: pending challenges and bootstrapping contexts, and their interface.

Pending challenges (between the 401 and the answer, TS 24.109 §4.3) are taken exactly once,
which is what rejects a replayed nonce; bootstrapping contexts expire at the end of the key
lifetime (TS 33.220 §4.5.2). Backends: :mod:`gba.store.sqlite.bsf` (schema version
``BSF_SCHEMA.version``) and :mod:`gba.store.redis.bsf` (key layout ``LAYOUT_VERSION``).
The records themselves are protocol state, defined in :mod:`gba.protocols.contexts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from gba.protocols.contexts import BootstrapContext, Challenge, GroupVector
from gba.store import COUNT_CAP

__all__ = ["BootstrapContext", "BsfStore", "Challenge", "ContextSummary", "GroupVector"]


@dataclass(frozen=True, slots=True)
class ContextSummary:
    """What a status page shows of a bootstrapping context: who and until when, no key."""

    btid: str
    impi: str
    expires: datetime


class BsfStore(Protocol):
    async def put_challenge(self, challenge: Challenge) -> None:
        """Store a pending challenge; a nonce already pending is a StoreError."""

    async def take_challenge(self, nonce: str, now: datetime) -> Challenge | None:
        """Remove and return the challenge; None if unknown, already taken or expired."""

    async def put_context(self, ctx: BootstrapContext) -> None:
        """Store a context (a new one for the same IMPI may coexist until it expires)."""

    async def get_context(self, btid: str, now: datetime) -> BootstrapContext | None:
        """The context, or None if unknown or expired."""

    async def delete_context(self, btid: str) -> bool: ...

    async def count_contexts(self, now: datetime, cap: int = COUNT_CAP) -> int:
        """How many contexts are live at *now* (expires > now), counting at most *cap*."""

    async def live_contexts(self, now: datetime, limit: int) -> list[ContextSummary]:
        """Up to *limit* live contexts, the latest to expire first, without key material."""

    async def put_group_vector(self, vector: GroupVector) -> None:
        """Keep *vector* as its group's current one (replacing the last) until it expires."""

    async def claim_group_vector(self, group_id: str, imsi: str, now: datetime,
                                 max_uses: int) -> GroupVector | None:
        """The group's current vector with *imsi* added to its users, atomically; None
        when there is none live, *imsi* used it already, or *max_uses* devices did."""

    async def purge_expired(self, now: datetime) -> int:
        """Delete expired challenges, contexts and group vectors; return how many went."""

    async def close(self) -> None: ...

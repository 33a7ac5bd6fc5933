"""The storage interface shared by the network functions.

Records are frozen dataclasses holding octets as ``bytes`` and times as timezone-aware
UTC ``datetime``. Every method is a coroutine so that the Redis backend can use its
asyncio client; the SQLite backend answers directly (a lookup takes microseconds, far less
than a thread hop). Backends raise :class:`~gba.errors.StoreError` subclasses only.

* HSS: :class:`SubscriberStore`. Issuing a vector's SQN is one atomic, durable step: the new
  SQN is committed before it is returned, so a restart never reissues an SQN.
* BSF: :class:`BsfStore`. Pending challenges (between the 401 and the answer) are taken
  exactly once, which is what rejects a replayed nonce; bootstrapping contexts expire.
* NAF: :class:`NafStore`. Keys fetched over Zn are cached until their expiry; Digest
  nonce counts are remembered so that a replayed (nonce, nc) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Subscriber:
    """An HSS subscription (TS 33.220 §4.4.1; TS 29.109 for the GUSS)."""

    impi: str
    k: bytes = field(repr=False)
    opc: bytes = field(repr=False)
    sqn: int = 0
    amf: bytes = b"\x00\x00"
    imsi: str | None = None
    guss: str | None = None
    """GBA User Security Settings as TS 29.109 Annex A XML, or None for the default."""


@dataclass(frozen=True, slots=True)
class Challenge:
    """A vector handed to a UE in a 401, waiting for its answer (TS 24.109 §4.3)."""

    nonce: str
    impi: str
    rand: bytes
    autn: bytes
    xres: bytes = field(repr=False)
    ck: bytes = field(repr=False)
    ik: bytes = field(repr=False)
    expires: datetime
    guss: str | None = None


@dataclass(frozen=True, slots=True)
class BootstrapContext:
    """A bootstrapping context: B-TID, IMPI, Ks, RAND, lifetime, GUSS (TS 33.220 §4.5.2)."""

    btid: str
    impi: str
    ks: bytes = field(repr=False)
    rand: bytes
    created: datetime
    expires: datetime
    guss: str | None = None
    gba_u: bool = False


@dataclass(frozen=True, slots=True)
class NafKey:
    """What a NAF learned over Zn for one (B-TID, NAF_Id) (TS 33.220 §4.5.3)."""

    btid: str
    naf_id: bytes
    key: bytes = field(repr=False)
    impi: str
    expires: datetime
    created: datetime | None = None
    uss: str | None = None
    """The user security settings for the NAF's GAA service, XML, if any."""
    gba_u: bool = False


class SubscriberStore(Protocol):
    async def put_subscriber(self, sub: Subscriber) -> None:
        """Insert or replace a subscriber (provisioning)."""

    async def get_subscriber(self, impi: str) -> Subscriber:
        """The subscriber, or :class:`~gba.errors.NotFound`."""

    async def find_by_imsi(self, imsi: str) -> Subscriber:
        """The subscriber with this IMSI, or :class:`~gba.errors.NotFound`."""

    async def list_subscribers(self) -> list[Subscriber]: ...

    async def delete_subscriber(self, impi: str) -> bool: ...

    async def issue_sqn(self, impi: str, ind: int) -> tuple[Subscriber, int]:
        """Atomically step SEQ by one with IND *ind*, commit, return (subscriber, new SQN)."""

    async def raise_sqn(self, impi: str, sqn: int) -> None:
        """Set SQN to *sqn* if that is higher than the stored one."""

    async def set_sqn(self, impi: str, sqn: int) -> None:
        """Set SQN to *sqn* (resynchronisation may lower it, TS 33.102 §6.3.5)."""

    async def close(self) -> None: ...


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

    async def purge_expired(self, now: datetime) -> int:
        """Delete expired challenges and contexts; return how many went."""

    async def close(self) -> None: ...


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

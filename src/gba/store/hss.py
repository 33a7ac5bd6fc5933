"""The HSS's records: subscriptions, and the interface that stores them.

Issuing a vector's SQN is one atomic, durable step: the new SQN is committed before it is
returned, so a restart never reissues an SQN (TS 33.102 Annex C.3.2). The backends are
:mod:`gba.store.sqlite.hss` (schema version ``HSS_SCHEMA.version`` there) and
:mod:`gba.store.postgres.hss` (the same tables, version ``SCHEMA_VERSION``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from gba.errors import StoreError


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
class MtcGroup:
    """An MTC device group (seed 004; docs/mtc.md §1): its identity and the identifier of
    its current group key. The key itself is the AKA subscription stored under the group
    identity (a :class:`Subscriber` whose ``impi`` is ``group_id``: K, OPc, one SQN)."""

    group_id: str
    key_id: int


@dataclass(frozen=True, slots=True)
class MtcDevice:
    """An MTC device's subscription: its IMSI, its group, its small-data capability
    (bit 0 send, bit 1 receive; docs/mtc.md §1)."""

    imsi: str
    group_id: str
    capability: int


class SqnNotForward(StoreError):
    """Provisioning asked to move a subscriber's SQN backwards (TS 33.102 Annex C.3: only
    resynchronisation may lower SQN_HE); *stored* and *asked* are the two SQNs."""

    def __init__(self, impi: str, stored: int, asked: int) -> None:
        super().__init__(f"SQN {asked:012x} for {impi!r} is below the HSS's {stored:012x}: "
                         "provisioning only moves SQN forward (TS 33.102 Annex C.3); "
                         "resynchronisation over Zh is the only way back")
        self.stored = stored
        self.asked = asked


class SubscriberStore(Protocol):
    async def put_subscriber(self, sub: Subscriber) -> None:
        """Insert or replace a subscriber, SQN as given (tests, tools that own the file)."""

    async def provision_subscriber(self, sub: Subscriber, *, keep_sqn: bool = False
                                   ) -> Subscriber:
        """Insert *sub*, or replace the subscriber of its IMPI (K, OPc, AMF, IMSI, GUSS)
        without ever lowering its SQN, in one transaction: with *keep_sqn* the stored SQN
        stays when it is higher, else a ``sub.sqn`` below it raises :class:`SqnNotForward`.
        Returns what is stored."""

    async def get_subscriber(self, impi: str) -> Subscriber:
        """The subscriber, or :class:`~gba.errors.NotFound`."""

    async def find_by_imsi(self, imsi: str) -> Subscriber:
        """The subscriber with this IMSI, or :class:`~gba.errors.NotFound`."""

    async def list_subscribers(self, limit: int | None = None) -> list[Subscriber]:
        """Every subscriber by IMPI, or the first *limit*."""

    async def unknown_impi_requests(self) -> int:
        """How many vectors were asked for IMPIs this store does not have."""

    async def delete_subscriber(self, impi: str) -> bool: ...

    async def issue_sqn(self, impi: str, ind: int) -> tuple[Subscriber, int]:
        """Atomically step SEQ by one with IND *ind*, commit, return (subscriber, new SQN)."""

    async def issue_decoy_sqn(self) -> None:
        """Cost what :meth:`issue_sqn` costs (one committed write transaction) and change
        nothing: the HSS's answer to an unknown IMPI then takes as long as a vector."""

    async def raise_sqn(self, impi: str, sqn: int) -> None:
        """Set SQN to *sqn* if that is higher than the stored one."""

    async def set_sqn(self, impi: str, sqn: int) -> None:
        """Set SQN to *sqn* (resynchronisation may lower it, TS 33.102 §6.3.5)."""

    async def provision_mtc_group(self, group: MtcGroup, key: Subscriber) -> Subscriber:
        """Insert or replace a group and its group-key subscription (``key.impi`` =
        ``group.group_id``), SQN forward only, in one transaction. Returns what is stored."""

    async def get_mtc_group(self, group_id: str) -> MtcGroup:
        """The group, or :class:`~gba.errors.NotFound`."""

    async def put_mtc_device(self, device: MtcDevice) -> None:
        """Insert or replace a device; :class:`~gba.errors.NotFound` for an unknown group."""

    async def put_mtc_devices(self, devices: list[MtcDevice]) -> None:
        """Insert or replace many devices in one transaction (bulk provisioning)."""

    async def get_mtc_device(self, imsi: str) -> MtcDevice:
        """The device, or :class:`~gba.errors.NotFound`."""

    async def mtc_members(self, group_id: str, limit: int) -> list[str]:
        """The IMSIs of the group's devices, in order, at most *limit*."""

    async def mtc_group_devices(self, group_id: str, limit: int) -> list[MtcDevice]:
        """The group's devices by IMSI, at most *limit*."""

    async def close(self) -> None: ...

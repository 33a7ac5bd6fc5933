"""The AuC's records (NGN key distribution, seed 001; docs/ngn.md §0): the terminals'
keys, the nodes' keys (SPs and softswitches), and the latest registration of each
terminal (s11). The backend is :mod:`gba.store.sqlite.auc` (owner-only file).

A terminal is of kind ``ngn`` (Kc = K, the seed's flow) or ``aka`` (the interoperability
extension [P]: K, OPc, AMF and an SQN issued as the HSS issues it, TS 33.102 Annex C.3).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from gba.errors import ConfigError, InvalidInput
from gba.protocols import ngn

DEFAULT_AMF = b"\x80\x00"
"""AMF of an AKA terminal's vectors unless provisioned (separation bit set, TS 33.102
Annex H)."""


class TerminalKind(enum.StrEnum):
    NGN = "ngn"
    AKA = "aka"


@dataclass(frozen=True, slots=True)
class Terminal:
    """A terminal ID_c and its key Kc (``k``); AKA terminals also OPc, AMF and SQN."""

    id_c: str
    k: bytes = field(repr=False)
    kind: TerminalKind = TerminalKind.NGN
    opc: bytes | None = field(default=None, repr=False)
    amf: bytes = DEFAULT_AMF
    sqn: int = 0

    def __post_init__(self) -> None:
        ngn.check_id(self.id_c)
        if len(self.k) != ngn.KEY_LEN:
            raise InvalidInput(f"K must be {ngn.KEY_LEN} octets")
        if len(self.amf) != 2:
            raise InvalidInput("AMF must be 2 octets")
        if (self.kind is TerminalKind.AKA) != (self.opc is not None):
            raise InvalidInput("an AKA terminal has an OPc, an NGN terminal none")
        if self.opc is not None and len(self.opc) != 16:
            raise InvalidInput("OPc must be 16 octets")


@dataclass(frozen=True, slots=True)
class Node:
    """A signalling proxy or a softswitch ID_sp and its key (Ksp or Kss)."""

    id: str
    k: bytes = field(repr=False)

    def __post_init__(self) -> None:
        ngn.check_id(self.id)
        if len(self.k) != ngn.KEY_LEN:
            raise InvalidInput(f"K must be {ngn.KEY_LEN} octets")


@dataclass(frozen=True, slots=True)
class Registration:
    """s11: ID_c registered through ID_sp from ``address`` at ``at`` (UTC)."""

    id_c: str
    id_sp: str
    address: str
    at: datetime


class AucStore(Protocol):
    async def put_terminal(self, terminal: Terminal) -> Terminal:
        """Insert or replace a terminal; a replaced one keeps its SQN when that is higher.
        Returns what is stored."""

    async def get_terminal(self, id_c: str) -> Terminal:
        """The terminal, or :class:`~gba.errors.NotFound`."""

    async def put_node(self, node: Node) -> None:
        """Insert or replace a node's key."""

    async def get_node(self, node_id: str) -> Node:
        """The node, or :class:`~gba.errors.NotFound`."""

    async def issue_sqn(self, id_c: str, ind: int) -> tuple[Terminal, int]:
        """Atomically step an AKA terminal's SEQ (IND *ind*), commit, return it."""

    async def record_registration(self, reg: Registration) -> None:
        """Keep *reg* as the latest registration of its ID_c."""

    async def get_registration(self, id_c: str) -> Registration:
        """The latest registration of ID_c, or :class:`~gba.errors.NotFound`."""

    async def close(self) -> None: ...


def open_auc_store(url: str, *, base_dir: Path | None = None) -> AucStore:
    """The AuC store of a store URL (:func:`gba.store.factory.parse_store_url`); SQLite
    only (an SQN issue must be durable)."""
    from gba.store.factory import parse_store_url
    from gba.store.sqlite.auc import SqliteAucStore

    loc = parse_store_url(url, base_dir)
    if loc.backend != "sqlite":
        raise ConfigError(f"the AuC store is SQLite only; got a {loc.backend} URL")
    return SqliteAucStore(loc.target)

"""The state GBA keeps between messages, as plain records: what a BSF holds between the
401 and the UE's answer, the bootstrapping context it keeps after (TS 33.220 §4.5.2), and
what a NAF learned over Zn (§4.5.3).

The sans-IO machines (:mod:`gba.protocols.ub_bsf`, :mod:`gba.protocols.ua_naf`) produce and
read them; :mod:`gba.store` keeps them. Key material is left out of every ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


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
    mtc: str | None = None
    """An MTC device's request (docs/mtc.md §2), as :func:`gba.protocols.mtc` canonical
    text, with the MTC user security settings after it; None for any other UE."""


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
    mtc: str | None = None
    """An MTC device's security settings (XML, docs/mtc.md §1), which Zn hands the
    MTC-IWF; None for any other UE."""


@dataclass(frozen=True, slots=True)
class GroupVector:
    """The vector an MTC group's devices were last authenticated with, its settings and
    the devices that used it (seed 004 step 203; docs/mtc.md §4): another device of the
    group may use it once, while it lives."""

    group_id: str
    rand: bytes
    autn: bytes
    xres: bytes = field(repr=False)
    ck: bytes = field(repr=False)
    ik: bytes = field(repr=False)
    settings: str
    expires: datetime
    used_by: tuple[str, ...]
    """IMSIs, in the order they used it."""


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

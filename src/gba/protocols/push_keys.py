"""The keys of GBA Push on both sides (TS 33.223 §4.3, §5.3; docs/push.md §0).

The BSF, asked over Zpn, takes one authentication vector for the UE from the HSS and
derives Ks = CK || IK and Ks_(ext)_NAF (or Ks_int_NAF for GBA_U) for the NAF_Id asked,
exactly as after a Ub run (TS 33.220 Annex B; that TS 33.223 reuses it is UNVERIFIED:
the Zpn answer carrying ME-/UICC-Key-Material as Zn does is consistent with it). The UE,
given RAND and AUTN in the GPI, runs AKA with its USIM: a wrong AUTN is refused
(MAC-A), a replayed GPI is refused by the SQN array (the sequence number is not fresh),
and otherwise the UE derives the same keys. GBA Push keeps no Ks: it is disposable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gba.crypto import aka, kdf
from gba.errors import AuthError
from gba.protocols.zh import VectorAnswer


class StaleGpi(AuthError):
    """The GPI's AUTN carries a sequence number the USIM has seen: a replay."""


@dataclass(frozen=True, slots=True)
class PushKeys:
    """Ks_(ext)_NAF (and Ks_int_NAF for GBA_U) of one GBA Push run."""

    rand: bytes
    ks_naf: bytes = field(repr=False)
    ks_int_naf: bytes | None = field(default=None, repr=False)


def bsf_push_keys(vector: VectorAnswer, naf_id: bytes, gba_u: bool = False) -> PushKeys:
    """The BSF's keys from the vector it fetched for this push."""
    ks = kdf.ks(vector.ck, vector.ik)
    return PushKeys(vector.rand, kdf.ks_naf(ks, vector.rand, vector.impi, naf_id),
                    kdf.ks_naf(ks, vector.rand, vector.impi, naf_id, gba_u=True)
                    if gba_u else None)


def ue_push_keys(usim: aka.Usim, impi: str, rand: bytes, autn: bytes, naf_id: bytes,
                 gba_u: bool = False) -> PushKeys:
    """The UE's keys from a GPI's RAND and AUTN. :class:`~gba.errors.MacFailure` for an
    AUTN that does not verify, :class:`StaleGpi` for a replayed one; nothing is kept."""
    result = usim.authenticate(rand, autn)
    if isinstance(result, aka.AkaSyncFailure):
        raise StaleGpi("the GPI's sequence number is not fresh: a replayed GPI")
    ks = kdf.ks(result.ck, result.ik)
    return PushKeys(rand, kdf.ks_naf(ks, rand, impi, naf_id),
                    kdf.ks_naf(ks, rand, impi, naf_id, gba_u=True) if gba_u else None)

"""UMTS AKA: vector generation, the USIM side, and resynchronisation (TS 33.102 §6.3).

* HSS side: :func:`generate_vector` builds (RAND, XRES, CK, IK, AUTN) with
  AUTN = (SQN xor AK) || AMF || MAC-A (§6.3.2); :func:`resync_sqn` verifies AUTS and
  returns the SQN to continue from (§6.3.5).
* USIM side: :class:`Usim` verifies MAC-A, recovers SQN, checks freshness with the
  array scheme of Annex C.2.2 / C.3 (SQN = SEQ || IND, IND of 5 bits, 32 entries), and
  answers RES/CK/IK or, on a stale SQN, AUTS = (SQN_MS xor AK*) || MAC-S with
  MAC-S = f1*(K, SQN_MS, RAND, AMF = 0x0000) (§6.3.3).

Pure functions and objects: randomness (RAND) is a parameter or comes from an injected
``rng`` callable.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from gba.crypto.milenage import Milenage
from gba.errors import AmfError, InvalidInput, MacFailure
from gba.hexutil import require_length

IND_BITS = 5
"""Length of IND in the Annex C.3.2 profile."""
IND_COUNT = 1 << IND_BITS
SQN_MAX = (1 << 48) - 1
SEQ_MAX = SQN_MAX >> IND_BITS
DEFAULT_DELTA = 1 << 28
"""Freshness limit Δ on SEQ (Annex C.3.1 suggests 2^28)."""
RESYNC_AMF = b"\x00\x00"
"""The dummy AMF used in MAC-S of AUTS (TS 33.102 §6.3.3)."""
SEPARATION_BIT = 0x8000
"""AMF bit 0, the separation bit: set for E-UTRAN vectors, clear otherwise (Annex H)."""

Rng = Callable[[int], bytes]


def split_sqn(sqn: int) -> tuple[int, int]:
    """SQN -> (SEQ, IND) for the Annex C.3.2 profile."""
    return sqn >> IND_BITS, sqn & (IND_COUNT - 1)


def join_sqn(seq: int, ind: int) -> int:
    """(SEQ, IND) -> SQN."""
    if not 0 <= ind < IND_COUNT:
        raise InvalidInput(f"IND {ind} outside 0..{IND_COUNT - 1}")
    if not 0 <= seq <= SEQ_MAX:
        raise InvalidInput(f"SEQ {seq} outside 0..{SEQ_MAX}")
    return (seq << IND_BITS) | ind


def next_sqn(sqn_he: int, ind: int = 0) -> int:
    """The SQN of the next vector: SEQ stepped by one, IND as allocated (Annex C.3.2).

    Stepping SEQ, not SQN, is what keeps every IND slot fresh: SQN grows by 32 per vector.
    """
    seq, _ = split_sqn(sqn_he)
    return join_sqn(seq + 1, ind)


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


@dataclass(frozen=True, slots=True)
class AuthVector:
    """A UMTS authentication vector (TS 33.102 §6.3.2). ``sqn`` is kept for the HSS."""

    rand: bytes
    xres: bytes = field(repr=False)
    ck: bytes = field(repr=False)
    ik: bytes = field(repr=False)
    autn: bytes
    sqn: int

    @property
    def amf(self) -> bytes:
        return self.autn[6:8]


def generate_vector(
    milenage: Milenage, sqn: int, amf: bytes, rand: bytes | None = None, rng: Rng = os.urandom
) -> AuthVector:
    """HSS/AuC side: one vector for *sqn* (TS 33.102 §6.3.2, figure 8)."""
    if not 0 <= sqn <= SQN_MAX:
        raise InvalidInput(f"SQN {sqn} outside 48 bits")
    require_length(amf, "AMF", 2)
    rand = rng(16) if rand is None else require_length(rand, "RAND", 16)
    sqn_b = sqn.to_bytes(6, "big")
    out = milenage.compute(rand, sqn_b, amf)
    autn = _xor(sqn_b, out.ak) + amf + out.mac_a
    return AuthVector(rand=rand, xres=out.res, ck=out.ck, ik=out.ik, autn=autn, sqn=sqn)


def parse_auts(auts: bytes) -> tuple[bytes, bytes]:
    """AUTS -> (SQN_MS xor AK*, MAC-S); 14 octets exactly (TS 33.102 §6.3.3)."""
    if len(auts) != 14:
        raise InvalidInput(f"AUTS: {len(auts)} octets, expected 14")
    return auts[:6], auts[6:]


def resync_sqn(milenage: Milenage, rand: bytes, auts: bytes) -> int:
    """HSS side of resynchronisation (TS 33.102 §6.3.5): verify MAC-S, return SQN_MS.

    The caller continues from SQN_MS (its next vector uses :func:`next_sqn`, so SEQ moves
    past SEQ_MS whatever IND it carries). Raises :class:`MacFailure` if MAC-S is wrong.
    """
    require_length(rand, "RAND", 16)
    concealed, mac_s = parse_auts(auts)
    sqn_ms = _xor(concealed, milenage.f5_star(rand))
    _, expected = milenage.f1(rand, sqn_ms, RESYNC_AMF)
    if not hmac.compare_digest(mac_s, expected):
        raise MacFailure("AUTS: MAC-S does not verify")
    return int.from_bytes(sqn_ms, "big")


def sqn_after_resync(sqn_he: int, sqn_ms: int, delta: int = DEFAULT_DELTA) -> int:
    """Where the HSS continues after a verified AUTS (TS 33.102 §6.3.5).

    SQN_HE is kept when its next vector would be accepted by the USIM (SEQ_HE + 1 is above
    SEQ_MS and within Δ of it); otherwise SQN_HE is reset to SQN_MS, which also pulls back
    an HSS that ran too far ahead.
    """
    seq_he, _ = split_sqn(sqn_he)
    seq_ms, _ = split_sqn(sqn_ms)
    return sqn_he if seq_ms < seq_he + 1 <= seq_ms + delta else sqn_ms


@dataclass(frozen=True, slots=True)
class AkaSuccess:
    """The USIM accepted the challenge (TS 33.102 §6.3.3)."""

    res: bytes = field(repr=False)
    ck: bytes = field(repr=False)
    ik: bytes = field(repr=False)
    sqn: int


@dataclass(frozen=True, slots=True)
class AkaSyncFailure:
    """The SQN was not fresh; AUTS tells the HSS where the USIM stands (§6.3.3)."""

    auts: bytes
    sqn_ms: int


AkaResult = AkaSuccess | AkaSyncFailure


@dataclass
class SqnArray:
    """The USIM's SEQ_MS array indexed by IND (TS 33.102 Annex C.2.2).

    An SQN is fresh when SEQ > SEQ_MS[IND] and SEQ - max(SEQ_MS) <= Δ (Annex C.2.1).
    """

    seq: list[int] = field(default_factory=lambda: [0] * IND_COUNT)
    ind_of_highest: int = 0
    delta: int = DEFAULT_DELTA

    def highest_sqn(self) -> int:
        """SQN_MS: the highest SEQ accepted so far with its IND (Annex C.2.2)."""
        return join_sqn(self.seq[self.ind_of_highest], self.ind_of_highest)

    def is_fresh(self, sqn: int) -> bool:
        seq, ind = split_sqn(sqn)
        return seq > self.seq[ind] and seq - max(self.seq) <= self.delta

    def accept(self, sqn: int) -> None:
        seq, ind = split_sqn(sqn)
        self.seq[ind] = seq
        if seq >= self.seq[self.ind_of_highest]:
            self.ind_of_highest = ind


class Usim:
    """The USIM side of AKA for one subscription (TS 33.102 §6.3.3)."""

    def __init__(
        self,
        k: bytes,
        opc: bytes,
        sqn_array: SqnArray | None = None,
        require_separation_bit: bool | None = None,
    ) -> None:
        self._milenage = Milenage(k, opc)
        self.sqn_array = sqn_array or SqnArray()
        self.require_separation_bit = require_separation_bit

    def authenticate(self, rand: bytes, autn: bytes) -> AkaResult:
        """Check AUTN for RAND; return RES/CK/IK, or AUTS when the SQN is not fresh.

        Raises :class:`MacFailure` when MAC-A is wrong (the network is not authentic) and
        :class:`AmfError` when the separation bit contradicts the serving context.
        """
        require_length(rand, "RAND", 16)
        if len(autn) != 16:
            raise InvalidInput(f"AUTN: {len(autn)} octets, expected 16")
        res, ck, ik, ak, ak_star = self._milenage.f2345(rand)
        sqn_b = _xor(autn[:6], ak)
        amf = autn[6:8]
        mac_a, _ = self._milenage.f1(rand, sqn_b, amf)
        if not hmac.compare_digest(autn[8:], mac_a):
            raise MacFailure("AUTN: MAC-A does not verify")
        if self.require_separation_bit is not None:
            has_bit = bool(int.from_bytes(amf, "big") & SEPARATION_BIT)
            if has_bit != self.require_separation_bit:
                raise AmfError(f"AMF separation bit is {int(has_bit)}, serving context wants "
                               f"{int(self.require_separation_bit)}")
        sqn = int.from_bytes(sqn_b, "big")
        if not self.sqn_array.is_fresh(sqn):
            sqn_ms = self.sqn_array.highest_sqn()
            sqn_ms_b = sqn_ms.to_bytes(6, "big")
            _, mac_s = self._milenage.f1(rand, sqn_ms_b, RESYNC_AMF)
            return AkaSyncFailure(auts=_xor(sqn_ms_b, ak_star) + mac_s, sqn_ms=sqn_ms)
        self.sqn_array.accept(sqn)
        return AkaSuccess(res=res, ck=ck, ik=ik, sqn=sqn)

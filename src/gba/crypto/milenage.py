"""MILENAGE, the example 3GPP authentication and key generation functions (TS 35.206).

f1 (MAC-A), f1* (MAC-S), f2 (RES), f3 (CK), f4 (IK), f5 (AK) and f5* (AK for
resynchronisation), with OPc = E_K(OP) xor OP (TS 35.206 §4.1), rotations
r1..r5 = 64, 0, 32, 64, 96 bits and constants c1..c5 = 0, 1, 2, 4, 8 (§5.2).

One AES-128 ECB context is kept per key. The five output blocks of §4.1 do not depend on
each other once TEMP is known, so they are encrypted with a single 80-octet ECB call:
ECB encrypts each 16-octet block independently, which is exactly five single-block
encryptions of the specified inputs.
"""

from __future__ import annotations

from typing import NamedTuple

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gba.hexutil import require_length

_MASK128 = (1 << 128) - 1
_NO_SQN = bytes(6)
_NO_AMF = bytes(2)


def _rot(x: int, r: int) -> int:
    """Cyclic rotation of a 128-bit value by *r* bits towards the most significant bit."""
    if r == 0:
        return x
    return ((x << r) | (x >> (128 - r))) & _MASK128


def opc_from_op(k: bytes, op: bytes) -> bytes:
    """OPc = E_K(OP) xor OP (TS 35.206 §4.1)."""
    require_length(k, "K", 16)
    require_length(op, "OP", 16)
    enc = Cipher(algorithms.AES(k), modes.ECB()).encryptor()  # noqa: S305
    e = int.from_bytes(enc.update(op), "big")
    return (e ^ int.from_bytes(op, "big")).to_bytes(16, "big")


class MilenageOutput(NamedTuple):
    """All outputs of f1, f1*, f2, f3, f4, f5 and f5* for one (RAND, SQN, AMF).

    A named tuple rather than a frozen dataclass: it is built once per vector on the
    HSS's hot path and tuple construction is several times cheaper.
    """

    mac_a: bytes
    mac_s: bytes
    res: bytes
    ck: bytes
    ik: bytes
    ak: bytes
    ak_star: bytes

    def __repr__(self) -> str:
        return "MilenageOutput(<secret>)"


class Milenage:
    """MILENAGE for one subscriber key K and operator variant OPc (TS 35.206 §4).

    The five blocks fed to the cipher after TEMP are, with t = TEMP:
    block1 = t ^ rot(IN1 ^ OPc, r1) ^ c1 and block_i = rot(t ^ OPc, r_i) ^ c_i. As
    rot is linear in xor, each is rot(t, r_i) ^ (rot(OPc, r_i) ^ c_i); the bracket is fixed
    per key and precomputed. IN1 = SQN||AMF||SQN||AMF is invariant under r1 = 64.
    """

    __slots__ = ("_enc", "_in_mask", "_opc", "_out_mask", "_update")

    def __init__(self, k: bytes, opc: bytes) -> None:
        require_length(k, "K", 16)
        require_length(opc, "OPc", 16)
        self._enc = Cipher(algorithms.AES(k), modes.ECB()).encryptor()  # noqa: S305
        self._update = self._enc.update
        o = int.from_bytes(opc, "big")
        self._opc = o
        self._in_mask = (
            (_rot(o, 64) << 512)
            | ((o ^ 1) << 384)
            | ((_rot(o, 32) ^ 2) << 256)
            | ((_rot(o, 64) ^ 4) << 128)
            | (_rot(o, 96) ^ 8)
        )
        self._out_mask = int.from_bytes(opc * 5, "big")

    @classmethod
    def from_op(cls, k: bytes, op: bytes) -> Milenage:
        """Build from OP instead of OPc."""
        return cls(k, opc_from_op(k, op))

    def compute(self, rand: bytes, sqn: bytes, amf: bytes) -> MilenageOutput:
        """Every output for one challenge: two cipher calls (TEMP, then OUT1..OUT5 at once,
        each xored with OPc). Written flat: this is the HSS's hot path."""
        if len(rand) != 16 or len(sqn) != 6 or len(amf) != 2:
            require_length(rand, "RAND", 16)
            require_length(sqn, "SQN", 6)
            require_length(amf, "AMF", 2)
        update = self._update
        t = update((int.from_bytes(rand, "big") ^ self._opc).to_bytes(16, "big"))
        tt = t + t
        half = sqn + amf
        b = (int.from_bytes(update((
            int.from_bytes(tt + tt[4:20] + tt[8:24] + tt[12:28], "big")
            ^ self._in_mask ^ (int.from_bytes(half + half, "big") << 512)
        ).to_bytes(80, "big")), "big") ^ self._out_mask).to_bytes(80, "big")
        return MilenageOutput(b[0:8], b[8:16], b[24:32], b[32:48], b[48:64], b[16:22], b[64:70])

    def f1(self, rand: bytes, sqn: bytes, amf: bytes) -> tuple[bytes, bytes]:
        """f1 and f1*: (MAC-A, MAC-S) (TS 35.206 §4.1)."""
        out = self.compute(rand, sqn, amf)
        return out.mac_a, out.mac_s

    def f2345(self, rand: bytes) -> tuple[bytes, bytes, bytes, bytes, bytes]:
        """f2, f3, f4, f5 and f5*: (RES, CK, IK, AK, AK*); none depends on SQN or AMF."""
        out = self.compute(rand, _NO_SQN, _NO_AMF)
        return out.res, out.ck, out.ik, out.ak, out.ak_star

    def f5(self, rand: bytes) -> bytes:
        """f5: the anonymity key AK (TS 35.206 §4.1)."""
        return self.compute(rand, _NO_SQN, _NO_AMF).ak

    def f5_star(self, rand: bytes) -> bytes:
        """f5*: the anonymity key used in re-synchronisation (TS 35.206 §4.1)."""
        return self.compute(rand, _NO_SQN, _NO_AMF).ak_star

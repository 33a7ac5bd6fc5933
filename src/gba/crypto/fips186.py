"""The FIPS 186-2 (change notice 1) pseudo-random function as EAP-SIM and EAP-AKA use it.

RFC 4187 §7 (EAP-AKA) and RFC 4186 §7 (EAP-SIM), text read in copies of both RFCs:
"Algorithm 1" of the change notice with b = 160, the optional user input XSEED_j = 0 and
the "mod q" of step 3.3 omitted; G(t, c) is built from the Secure Hash Standard as in
FIPS 186-2 Appendix 3.3: "very similar to SHA-1, but the message padding is different".
RFC 4186 Appendix B states the algorithm::

    Step 2: t = 67452301 EFCDAB89 98BADCFE 10325476 C3D2E1F0
    Step 3: for j = 0 to m - 1:
              for i = 0 to 1:
                a. XVAL = (XKEY + XSEED_j) mod 2^b
                b. w_i = G(t, XVAL)
                c. XKEY = (1 + XKEY + w_i) mod 2^b
              x_j = w_0 | w_1

G(t, XVAL) is one SHA-1 compression of the 160-bit XVAL zero-padded to a 512-bit block,
chained from t, with no length padding. ``hashlib`` exposes no bare compression function,
so :func:`sha1_compress` implements it (FIPS 180-2 §6.1.2 steps 1-4; FIPS 180 clause
numbers UNVERIFIED, the text was not read); the tests check it against ``hashlib.sha1`` on
single-block messages padded by hand and chained over two blocks.

On full authentication the output is split K_encr (16) | K_aut (16) | MSK (64) | EMSK (64)
(RFC 4187 §7, RFC 4186 §7): :func:`eap_keys`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gba.errors import InvalidInput
from gba.hexutil import require_length

SHA1_IV: tuple[int, int, int, int, int] = (
    0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0)
"""H0..H4 of FIPS 180-2 §5.3.1; also t of RFC 4186 Appendix B step 2."""

_MASK32 = 0xFFFFFFFF
_MOD160 = 1 << 160
XKEY_LENGTH = 20
"""b = 160 bits (RFC 4187 §7)."""
KEY_BLOCK_LENGTH = 160
"""K_encr 16 + K_aut 16 + MSK 64 + EMSK 64 (RFC 4187 §7)."""

State = tuple[int, int, int, int, int]


def _rotl(x: int, n: int) -> int:
    return ((x << n) | (x >> (32 - n))) & _MASK32


def sha1_compress(state: State, block: bytes) -> State:
    """One SHA-1 compression of a 64-octet *block* from *state* (FIPS 180-2 §6.1.2),
    including the final addition into the chaining value."""
    if len(block) != 64:
        raise InvalidInput(f"SHA-1 block: {len(block)} octets, expected 64")
    w = [int.from_bytes(block[i:i + 4], "big") for i in range(0, 64, 4)]
    for t in range(16, 80):
        w.append(_rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1))
    a, b, c, d, e = state
    for t in range(80):
        if t < 20:
            f, k = (b & c) | (~b & d), 0x5A827999
        elif t < 40:
            f, k = b ^ c ^ d, 0x6ED9EBA1
        elif t < 60:
            f, k = (b & c) | (b & d) | (c & d), 0x8F1BBCDC
        else:
            f, k = b ^ c ^ d, 0xCA62C1D6
        temp = (_rotl(a, 5) + (f & _MASK32) + e + k + w[t]) & _MASK32
        a, b, c, d, e = temp, a, _rotl(b, 30), c, d
    h0, h1, h2, h3, h4 = state
    return ((h0 + a) & _MASK32, (h1 + b) & _MASK32, (h2 + c) & _MASK32,
            (h3 + d) & _MASK32, (h4 + e) & _MASK32)


def g(xval: bytes, t: State = SHA1_IV) -> bytes:
    """G(t, XVAL): XVAL zero-padded to 512 bits, compressed once from *t* (FIPS 186-2
    Appendix 3.3 as cited by RFC 4187 §7)."""
    require_length(xval, "XVAL", XKEY_LENGTH)
    return b"".join(h.to_bytes(4, "big") for h in sha1_compress(t, xval + bytes(44)))


def prf(xkey: bytes, length: int) -> bytes:
    """*length* octets of x_0 | x_1 | ... from seed-key *xkey* (RFC 4186 Appendix B)."""
    require_length(xkey, "XKEY", XKEY_LENGTH)
    if length < 0:
        raise InvalidInput(f"PRF output length {length} is negative")
    key = int.from_bytes(xkey, "big")
    out = bytearray()
    while len(out) < length:
        w = g(key.to_bytes(XKEY_LENGTH, "big"))
        out += w
        key = (1 + key + int.from_bytes(w, "big")) % _MOD160
    return bytes(out[:length])


@dataclass(frozen=True, slots=True)
class EapKeys:
    """The keys of one EAP-SIM/AKA full authentication (RFC 4187 §7)."""

    k_encr: bytes = field(repr=False)
    k_aut: bytes = field(repr=False)
    msk: bytes = field(repr=False)
    emsk: bytes = field(repr=False)


def eap_keys(mk: bytes) -> EapKeys:
    """K_encr | K_aut | MSK | EMSK from the master key, XKEY = MK (RFC 4187 §7)."""
    block = prf(mk, KEY_BLOCK_LENGTH)
    return EapKeys(k_encr=block[:16], k_aut=block[16:32], msk=block[32:96],
                   emsk=block[96:160])

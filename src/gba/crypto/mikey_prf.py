"""MIKEY key derivation (RFC 3830 §4.1) and the key-transport transform it keys (§4.2.3).

Read in the RFC 3830 text itself (rfc-editor copy of August 2004):

* §4.1.2 default PRF (MIKEY-1, HDR PRF func 0)::

      P(s, label, m) = HMAC(s, A_1 || label) || ... || HMAC(s, A_m || label)
      A_0 = label, A_i = HMAC(s, A_(i-1))          HMAC = HMAC-SHA-1

  inkey is split into n = ceil(inkey_len / 256) blocks s_1 .. s_n (all 256 bits but
  possibly the last), m = ceil(outkey_len / 160), and outkey is the outkey_len most
  significant bits of P(s_1, label, m) XOR ... XOR P(s_n, label, m).
* §4.1.3 keys from a TGK: label = constant || cs_id || csb_id || RAND; constants TEK
  0x2AD01C64, authentication 0x1B5C7973, encryption 0x15798CEF, salt 0x39A2C14B.
* §4.1.4 keys from a pre-shared (or envelope) key: label = constant || 0xFF || csb_id ||
  RAND; constants encryption 0x150533E1, authentication 0x2D22AC75, salt 0x29B88916.
  csb_id is 32 bits (§4.1.1), cs_id 8 bits.
* §4.2.3 AES-CM-128 key transport: AES in counter mode as SRTP defines it, 128-bit key
  from §4.1.4, IV = (S XOR (0x0000 || CSB ID || T)) || 0x0000 with S the 112-bit salt
  key from §4.1.4 and T the initiator's 64-bit timestamp. §6.6: a COUNTER timestamp
  (32 bits) is padded with leading zeros to 64 bits as PRF input; we pad it the same way
  for the IV (the RFC names no other form of T there).
* §4.2.4: the HMAC-SHA-1 authentication key SHOULD be 160 bits.

Lengths here are in octets (the RFC counts bits; every length MIKEY uses is whole octets).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from hashlib import sha1

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gba.errors import InvalidInput
from gba.hexutil import require_length

# §4.1.3, Table 4.1.3: keys derived from a TGK
TEK = 0x2AD01C64
TGK_AUTH = 0x1B5C7973
TGK_ENCR = 0x15798CEF
TGK_SALT = 0x39A2C14B
# §4.1.4, Table 4.1.4: keys derived from a pre-shared or envelope key
PSK_ENCR = 0x150533E1
PSK_AUTH = 0x2D22AC75
PSK_SALT = 0x29B88916

ENCR_KEY_LEN = 16
"""AES-CM-128 key (§4.2.3)."""
SALT_KEY_LEN = 14
"""The 112-bit salting key S of the AES-CM IV (§4.2.3)."""
AUTH_KEY_LEN = 20
"""HMAC-SHA-1 key, the size of the hash output (§4.2.4)."""
MAX_CM_OCTETS = 1 << 20
"""2^23 bits: the most AES-CM with a 16-bit block counter can encrypt (§4.2.3)."""

_BLOCK = 32  # 256-bit inkey blocks (§4.1.2)
_HASH = 20   # SHA-1 output


def p_function(s: bytes, label: bytes, m: int) -> bytes:
    """P(s, label, m) of RFC 3830 §4.1.2: m HMAC-SHA-1 outputs chained through A_i."""
    if m < 1:
        raise InvalidInput(f"P-function iteration count {m} is not positive")
    a = label
    out = []
    for _ in range(m):
        a = hmac.digest(s, a, sha1)
        out.append(hmac.digest(s, a + label, sha1))
    return b"".join(out)


def prf(inkey: bytes, label: bytes, length: int) -> bytes:
    """PRF(inkey, label) of RFC 3830 §4.1.2, truncated to *length* octets."""
    if not inkey:
        raise InvalidInput("MIKEY PRF input key is empty")
    if length < 1:
        raise InvalidInput(f"MIKEY PRF output length {length} is not positive")
    m = -(-length // _HASH)
    result = bytes(m * _HASH)
    for start in range(0, len(inkey), _BLOCK):
        block = p_function(inkey[start:start + _BLOCK], label, m)
        result = bytes(x ^ y for x, y in zip(result, block, strict=True))
    return result[:length]


def _u32(value: int, name: str) -> bytes:
    if not 0 <= value <= 0xFFFFFFFF:
        raise InvalidInput(f"{name} {value} is not a 32-bit unsigned integer")
    return value.to_bytes(4, "big")


def psk_label(constant: int, csb_id: int, rand: bytes) -> bytes:
    """constant || 0xFF || csb_id || RAND (RFC 3830 §4.1.4)."""
    return _u32(constant, "label constant") + b"\xff" + _u32(csb_id, "CSB ID") + rand


def tgk_label(constant: int, cs_id: int, csb_id: int, rand: bytes) -> bytes:
    """constant || cs_id || csb_id || RAND (RFC 3830 §4.1.3)."""
    if not 0 <= cs_id <= 0xFF:
        raise InvalidInput(f"CS ID {cs_id} is not one octet")
    return _u32(constant, "label constant") + bytes((cs_id,)) + _u32(csb_id, "CSB ID") + rand


def tgk_key(tgk: bytes, constant: int, cs_id: int, csb_id: int, rand: bytes,
            length: int) -> bytes:
    """A key derived from a TGK (RFC 3830 §4.1.3): TEK, its salt or separate keys."""
    return prf(tgk, tgk_label(constant, cs_id, csb_id, rand), length)


@dataclass(frozen=True, slots=True)
class PskKeys:
    """The keys protecting one MIKEY message under a pre-shared key (RFC 3830 §4.1.4)."""

    encr_key: bytes = field(repr=False)
    salt_key: bytes = field(repr=False)
    auth_key: bytes = field(repr=False)


def psk_keys(psk: bytes, csb_id: int, rand: bytes) -> PskKeys:
    """encr_key (128 bits), salt key (112 bits) and auth_key (160 bits) of RFC 3830 §4.1.4,
    sized for AES-CM-128 (§4.2.3) and HMAC-SHA-1-160 (§4.2.4)."""
    if not rand:
        raise InvalidInput("RAND is empty")

    def derive(constant: int, length: int) -> bytes:
        return prf(psk, psk_label(constant, csb_id, rand), length)

    return PskKeys(derive(PSK_ENCR, ENCR_KEY_LEN), derive(PSK_SALT, SALT_KEY_LEN),
                   derive(PSK_AUTH, AUTH_KEY_LEN))


def transport_iv(salt_key: bytes, csb_id: int, timestamp: bytes) -> bytes:
    """IV = (S XOR (0x0000 || CSB ID || T)) || 0x0000 (RFC 3830 §4.2.3).

    *timestamp* is the T payload's value: 8 octets (NTP) or 4 (COUNTER, padded to 64
    bits with leading zeros as §6.6 asks for PRF input).
    """
    require_length(salt_key, "salt key", SALT_KEY_LEN)
    if len(timestamp) not in (4, 8):
        raise InvalidInput(f"timestamp of {len(timestamp)} octets is neither 4 nor 8")
    block = b"\0\0" + _u32(csb_id, "CSB ID") + timestamp.rjust(8, b"\0")
    return bytes(x ^ y for x, y in zip(salt_key, block, strict=True)) + b"\0\0"


def aes_cm_128(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-CM with a 128-bit key (RFC 3830 §4.2.3 via RFC 3711 §4.1.1): the keystream is
    AES_k(IV), AES_k(IV + 1), ... XORed onto *data*; the same call decrypts.

    The IV's last 16 bits are zero and at most 2^16 blocks are allowed, so counting in
    the whole 128-bit block (``modes.CTR``) equals SRTP's 16-bit block counter.
    """
    require_length(key, "AES-CM key", 16)
    require_length(iv, "AES-CM IV", 16)
    if len(data) > MAX_CM_OCTETS:
        raise InvalidInput(f"{len(data)} octets exceed the AES-CM limit of 2^23 bits")
    enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return enc.update(data) + enc.finalize()

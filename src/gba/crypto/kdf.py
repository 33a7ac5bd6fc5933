"""The GBA key derivation (TS 33.220 Annex B) and the identifiers built around it.

KDF(Key, S) = HMAC-SHA-256(Key, S) with S = FC || P0 || L0 || P1 || L1 || ... where Li is
the length of Pi as two octets, big-endian (TS 33.220 Annex B.2.0; TS 33.220 B.2.1 says
character strings are encoded in UTF-8).

* Ks = CK || IK (TS 33.220 §4.5.2 step 4).
* Ks_(ext)_NAF = KDF(Ks, FC=0x01, "gba-me", RAND, IMPI, NAF_Id) and, for GBA_U,
  Ks_int_NAF with P0 = "gba-u" (TS 33.220 §4.5.2 and Annex B.3).
* NAF_Id = NAF FQDN || Ua security protocol identifier (TS 33.220 Annex H).
* B-TID = base64(RAND) "@" BSF server name (TS 33.220 §4.5.2 step 6).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from datetime import UTC, datetime, timedelta
from hashlib import sha256

from gba.errors import CodecError, InvalidInput
from gba.hexutil import require_length

FC_KS_NAF = 0x01
"""FC for Ks_(ext/int)_NAF derivation (TS 33.220 Annex B.3)."""
GBA_ME = b"gba-me"
GBA_U = b"gba-u"
DEFAULT_KEY_LIFETIME = timedelta(hours=1)
"""A typical bootstrapping lifetime; operators configure their own (TS 33.220 §4.5.2)."""


def kdf(key: bytes, fc: int, *params: bytes) -> bytes:
    """The generic KDF of TS 33.220 Annex B.2.0."""
    if not 0 <= fc <= 0xFF:
        raise InvalidInput(f"FC {fc} is not one octet")
    parts = [bytes((fc,))]
    for p in params:
        if len(p) > 0xFFFF:
            raise InvalidInput(f"KDF parameter of {len(p)} octets exceeds 65535")
        parts.append(p)
        parts.append(len(p).to_bytes(2, "big"))
    return hmac.digest(key, b"".join(parts), sha256)


def ks(ck: bytes, ik: bytes) -> bytes:
    """Ks = CK || IK (TS 33.220 §4.5.2)."""
    return require_length(ck, "CK", 16) + require_length(ik, "IK", 16)


def naf_id(naf_fqdn: str, ua_protocol_id: bytes) -> bytes:
    """NAF_Id = FQDN of the NAF || Ua security protocol identifier (TS 33.220 §4.5.2)."""
    if not naf_fqdn or any(c.isspace() for c in naf_fqdn):
        raise InvalidInput(f"NAF FQDN {naf_fqdn!r} is empty or has white space")
    require_length(ua_protocol_id, "Ua security protocol identifier", 5)
    return naf_fqdn.encode("utf-8") + ua_protocol_id


def ks_naf(ks_key: bytes, rand: bytes, impi: str, naf_id_value: bytes, *, gba_u: bool = False
           ) -> bytes:
    """Ks_(ext)_NAF, or Ks_int_NAF when *gba_u* (TS 33.220 §4.5.2, §5.3.2, Annex B.3)."""
    require_length(ks_key, "Ks", 32)
    require_length(rand, "RAND", 16)
    if not impi:
        raise InvalidInput("IMPI is empty")
    p0 = GBA_U if gba_u else GBA_ME
    return kdf(ks_key, FC_KS_NAF, p0, rand, impi.encode("utf-8"), naf_id_value)


def btid(rand: bytes, bsf_server_name: str) -> str:
    """B-TID = base64(RAND) @ BSF server name (TS 33.220 §4.5.2; NAI form of RFC 4282)."""
    require_length(rand, "RAND", 16)
    if not bsf_server_name or "@" in bsf_server_name:
        raise InvalidInput(f"BSF server name {bsf_server_name!r} is not a host name")
    return base64.b64encode(rand).decode("ascii") + "@" + bsf_server_name


def parse_btid(value: str) -> tuple[bytes, str]:
    """B-TID -> (RAND, BSF server name); raises :class:`CodecError` on a malformed B-TID."""
    local, sep, domain = value.rpartition("@")
    if not sep or not local or not domain:
        raise CodecError(f"B-TID {value[:80]!r} has no '<base64>@<domain>' form")
    try:
        rand = base64.b64decode(local, validate=True)
    except (binascii.Error, ValueError):
        raise CodecError("B-TID local part is not base64") from None
    if len(rand) != 16:
        raise CodecError(f"B-TID local part decodes to {len(rand)} octets, expected 16")
    return rand, domain


def key_expiry(created: datetime, lifetime: timedelta = DEFAULT_KEY_LIFETIME) -> datetime:
    """Expiry of Ks and of every key derived from it (TS 33.220 §4.5.2 step 7, §4.5.3)."""
    if created.tzinfo is None:
        raise InvalidInput("creation time must be timezone-aware (UTC)")
    if lifetime <= timedelta(0):
        raise InvalidInput(f"key lifetime {lifetime} is not positive")
    return (created + lifetime).astimezone(UTC)


def is_expired(expiry: datetime, now: datetime) -> bool:
    """True once *now* has reached *expiry*."""
    return now >= expiry

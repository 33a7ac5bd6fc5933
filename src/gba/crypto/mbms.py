"""MBMS keys and key identifiers (TS 33.246) as this package builds them from GBA.

* MUK and MRK: the BM-SC's NAF key is Ks_(ext)_NAF for NAF_Id = BM-SC FQDN || 01 00 00 00
  01 (TS 33.220 Annex H; ``gba.crypto.ua_protocols.MBMS``). TS 33.246 §6.1 may derive two
  keys from it for GBA_ME, the MRK (HTTP Digest towards the BM-SC) and the MUK (MIKEY
  pre-shared key of the MSK messages); that clause was not read, so UNVERIFIED:
  :func:`muk_mrk` returns the NAF key as both, and the split is a change to that one line.
* MSK ID: 4 octets, Key Group part (2 octets) || key number part (2 octets) [confirmed:
  EF_MSK, TS 31.102 §4.2.80, "two MSK IDs in a record have the same 2-byte Key Group
  part"; and Symbian's RMobilePhone::TMbmsMskDeleteDataV8: "the Key group part is
  contained within bytes 0 and 1 of the MSK ID"].
* Key Domain ID: 3 octets, MCC || MNC [confirmed: EF_MSK bytes 1-3; Symbian: "Key Domain
  ID = MCC || MNC and is 3 bytes long"]. Its digit coding is UNVERIFIED: we use the PLMN
  identity layout of TS 24.008 §10.5.1.3 (BCD nibbles, F filler for a 2-digit MNC).
* MTK ID: 2 octets, UNVERIFIED (TS 33.246 §6.3.3.1 not read).
* CSB ID of the MIKEY messages = the MSK ID read as a 32-bit integer, UNVERIFIED
  (docs/roaming.md §6).
"""

from __future__ import annotations

from gba.errors import CodecError, InvalidInput
from gba.hexutil import require_length

NAF_KEY_LEN = 32
"""Ks_(ext)_NAF is an HMAC-SHA-256 output (TS 33.220 Annex B.2)."""
MSK_LEN = 16
MTK_LEN = 16
MTK_SALT_LEN = 14
"""An SRTP master salt of 112 bits (RFC 3711 §8.2 default)."""
MSK_ID_LEN = 4
MTK_ID_LEN = 2
KEY_DOMAIN_ID_LEN = 3


def muk_mrk(ks_naf: bytes) -> tuple[bytes, bytes]:
    """(MUK, MRK) from the BM-SC's NAF key (TS 33.246 §6.1, split UNVERIFIED: both are
    the NAF key today)."""
    key = require_length(ks_naf, "Ks_NAF", NAF_KEY_LEN)
    return key, key


def msk_id(key_group: int, key_number: int) -> bytes:
    """MSK ID = Key Group (2 octets) || key number (2 octets) (TS 31.102 §4.2.80)."""
    for name, value in (("key group", key_group), ("key number", key_number)):
        if not 0 <= value <= 0xFFFF:
            raise InvalidInput(f"MSK ID {name} {value} is not two octets")
    return key_group.to_bytes(2, "big") + key_number.to_bytes(2, "big")


def parse_msk_id(value: bytes) -> tuple[int, int]:
    """(Key Group, key number) of a 4-octet MSK ID."""
    if len(value) != MSK_ID_LEN:
        raise CodecError(f"MSK ID of {len(value)} octets, expected {MSK_ID_LEN}")
    return int.from_bytes(value[:2], "big"), int.from_bytes(value[2:], "big")


def mtk_id(number: int) -> bytes:
    """MTK ID as 2 octets (length UNVERIFIED)."""
    if not 0 <= number <= 0xFFFF:
        raise InvalidInput(f"MTK ID {number} is not two octets")
    return number.to_bytes(MTK_ID_LEN, "big")


def csb_id(msk_id_value: bytes) -> int:
    """The MIKEY CSB ID of the messages of one MSK: the MSK ID itself (UNVERIFIED)."""
    return int.from_bytes(require_length(msk_id_value, "MSK ID", MSK_ID_LEN), "big")


def key_domain_id(mcc: str, mnc: str) -> bytes:
    """Key Domain ID = MCC || MNC in 3 octets, digits coded as a TS 24.008 PLMN identity
    (the coding is UNVERIFIED for TS 33.246)."""
    if len(mcc) != 3 or len(mnc) not in (2, 3) or not (mcc + mnc).isdigit():
        raise InvalidInput(f"MCC {mcc!r} / MNC {mnc!r} are not 3 and 2-3 digits")
    d = [int(c) for c in mcc]
    n = [int(c) for c in mnc]
    mnc3 = n[2] if len(n) == 3 else 0xF
    return bytes((d[1] << 4 | d[0], mnc3 << 4 | d[2], n[1] << 4 | n[0]))

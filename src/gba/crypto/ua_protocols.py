"""Ua security protocol identifiers (TS 33.220 Annex H).

Five octets: an organisation octet (0x01 3GPP, 0x02 3GPP2, 0x03 OMA, 0x04 GSMA, 0xFF
private use) followed by four octets the organisation assigns. Android's
``UaSecurityProtocolIdentifier`` carries the same table.
"""

from __future__ import annotations

from gba.errors import InvalidInput

ORG_3GPP = 0x01
ORG_3GPP2 = 0x02
ORG_OMA = 0x03
ORG_GSMA = 0x04
ORG_PRIVATE = 0xFF

DEFAULT = bytes.fromhex("0000000000")
"""Default, when the Ua protocol is not otherwise identified (TS 33.220 H.2)."""
PKI_PORTAL = bytes.fromhex("0100000000")
"""Shared key-based UE authentication with certificate-based NAF authentication (TS 33.221)."""
MBMS = bytes.fromhex("0100000001")
"""MBMS (TS 33.246)."""
HTTP_DIGEST = bytes.fromhex("0100000002")
"""HTTP Digest authentication on Ua (TS 33.222)."""
MBMS_HTTP = bytes.fromhex("0100000003")
"""MBMS over HTTP (TS 33.246)."""
MBMS_SIP = bytes.fromhex("0100000004")
"""MBMS over SIP (TS 33.246)."""
GENERIC_PUSH_LAYER = bytes.fromhex("0100000005")
"""Generic Push Layer (TS 33.224)."""
IMS_KMS = bytes.fromhex("0100000006")
"""IMS media plane security key management (TS 33.328)."""
TLS_1_3 = bytes.fromhex("0100000007")
"""Shared-key TLS 1.3 (TS 33.222)."""
TMPI = bytes.fromhex("0100000100")
"""TMPI generation (TS 33.220 §4.5.2)."""

_PSK_TLS_PREFIX = bytes.fromhex("010001")
_CERT_TLS_PREFIX = bytes.fromhex("010002")

TLS_PSK_WITH_AES_128_CBC_SHA = 0x008C
TLS_PSK_WITH_AES_256_CBC_SHA = 0x008D
TLS_PSK_WITH_AES_128_GCM_SHA256 = 0x00A8
TLS_PSK_WITH_AES_256_GCM_SHA384 = 0x00A9

NAMED = {
    "default": DEFAULT,
    "pki-portal": PKI_PORTAL,
    "mbms": MBMS,
    "http-digest": HTTP_DIGEST,
    "mbms-http": MBMS_HTTP,
    "mbms-sip": MBMS_SIP,
    "generic-push-layer": GENERIC_PUSH_LAYER,
    "ims-kms": IMS_KMS,
    "tls-1.3": TLS_1_3,
    "tmpi": TMPI,
}


def psk_tls(ciphersuite: int) -> bytes:
    """Shared-key TLS up to 1.2 with the negotiated ciphersuite yy zz: 01 00 01 yy zz (H.3)."""
    if not 0 <= ciphersuite <= 0xFFFF:
        raise InvalidInput(f"TLS ciphersuite {ciphersuite:#x} is not two octets")
    return _PSK_TLS_PREFIX + ciphersuite.to_bytes(2, "big")


def certificate_tls(ciphersuite: int) -> bytes:
    """Certificate-based TLS with ciphersuite yy zz: 01 00 02 yy zz (TS 33.220 H.3)."""
    if not 0 <= ciphersuite <= 0xFFFF:
        raise InvalidInput(f"TLS ciphersuite {ciphersuite:#x} is not two octets")
    return _CERT_TLS_PREFIX + ciphersuite.to_bytes(2, "big")


def describe(identifier: bytes) -> str:
    """A readable name for an identifier, for traces and logs."""
    for name, value in NAMED.items():
        if value == identifier:
            return name
    if identifier[:3] == _PSK_TLS_PREFIX and len(identifier) == 5:
        return f"psk-tls(0x{identifier[3:].hex()})"
    if identifier[:3] == _CERT_TLS_PREFIX and len(identifier) == 5:
        return f"cert-tls(0x{identifier[3:].hex()})"
    return identifier.hex()

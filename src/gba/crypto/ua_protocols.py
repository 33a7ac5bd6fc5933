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
"""HTTP Digest on Ua over plain HTTP (TS 24.109; TS 33.220 H.3: "unless HTTP digest
authentication is used in the context of another Ua security protocol"). Digest inside
server-authenticated TLS is 01 00 01 yy zz instead: see :func:`digest_protocol`."""
MBMS_HTTP = bytes.fromhex("0100000003")
"""MBMS over HTTP (TS 33.246)."""
MBMS_SIP = bytes.fromhex("0100000004")
"""MBMS over SIP (TS 33.246)."""
GENERIC_PUSH_LAYER = bytes.fromhex("0100000005")
"""Generic Push Layer (TS 33.224)."""
IMS_KMS = bytes.fromhex("0100000006")
"""IMS media plane security key management (TS 33.328)."""
TLS_1_3 = bytes.fromhex("0100000007")
"""Shared-key TLS 1.3 (TS 33.222 §5.4.0.2; TS 33.220 H.3), whatever the suite. Whether
HTTP Digest inside a certificate-authenticated TLS 1.3 connection uses this or
01 00 01 13 0x is UNVERIFIED, so the NAF's HTTPS listener is limited to TLS 1.2."""
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
    """01 00 01 yy zz with the negotiated TLS (up to 1.2) ciphersuite yy zz (TS 33.220
    H.3): shared-key TLS (TS 33.222 §5.4) and also shared-key UE authentication with
    certificate-based NAF authentication, i.e. HTTP Digest inside HTTPS (TS 33.222 §5.3)."""
    if not 0 <= ciphersuite <= 0xFFFF:
        raise InvalidInput(f"TLS ciphersuite {ciphersuite:#x} is not two octets")
    return _PSK_TLS_PREFIX + ciphersuite.to_bytes(2, "big")


def digest_protocol(tls_suite: int | None) -> bytes:
    """The Ua protocol of HTTP Digest by its transport (TS 33.222 §5.3; TS 33.220 H.3):
    plain HTTP (*tls_suite* None) is 01 00 00 00 02; inside a server-authenticated TLS
    (up to 1.2) connection it is 01 00 01 yy zz with that connection's ciphersuite."""
    return HTTP_DIGEST if tls_suite is None else psk_tls(tls_suite)


def certificate_tls(ciphersuite: int) -> bytes:
    """01 00 02 yy zz: shared-key UE authentication with certificate-based NAF
    authentication per TS 33.222 Annex D (the browser variant), as Android's
    ``UaSecurityProtocolIdentifier`` names it; the H.3 text for it was cut off in the
    copy read (UNVERIFIED). Not HTTP Digest over HTTPS in general: that is
    :func:`digest_protocol`."""
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

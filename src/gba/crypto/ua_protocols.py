"""Ua security protocol identifiers (TS 33.220 Annex H).

Five octets: an organisation octet (0x01 3GPP, 0x02 3GPP2, 0x03 OMA, 0x04 GSMA, 0xFF
private use) followed by four octets the organisation assigns. Android's
``UaSecurityProtocolIdentifier`` carries the same table.
"""

from __future__ import annotations

import re

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
TLS_DHE_PSK_WITH_AES_128_GCM_SHA256 = 0x00AA
TLS_DHE_PSK_WITH_AES_256_GCM_SHA384 = 0x00AB
TLS_PSK_WITH_AES_128_CBC_SHA256 = 0x00AE
TLS_PSK_WITH_AES_256_CBC_SHA384 = 0x00AF
TLS_PSK_WITH_AES_128_CCM = 0xC0A4
TLS_PSK_WITH_AES_256_CCM = 0xC0A5
TLS_DHE_PSK_WITH_AES_128_CCM = 0xC0A6
TLS_DHE_PSK_WITH_AES_256_CCM = 0xC0A7
TLS_PSK_WITH_CHACHA20_POLY1305_SHA256 = 0xCCAB
TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256 = 0xCCAC
TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256 = 0xCCAD

PSK_SUITES: dict[int, tuple[str, str]] = {
    TLS_PSK_WITH_AES_128_CBC_SHA: ("TLS_PSK_WITH_AES_128_CBC_SHA", "PSK-AES128-CBC-SHA"),
    TLS_PSK_WITH_AES_256_CBC_SHA: ("TLS_PSK_WITH_AES_256_CBC_SHA", "PSK-AES256-CBC-SHA"),
    TLS_PSK_WITH_AES_128_GCM_SHA256: ("TLS_PSK_WITH_AES_128_GCM_SHA256",
                                      "PSK-AES128-GCM-SHA256"),
    TLS_PSK_WITH_AES_256_GCM_SHA384: ("TLS_PSK_WITH_AES_256_GCM_SHA384",
                                      "PSK-AES256-GCM-SHA384"),
    TLS_DHE_PSK_WITH_AES_128_GCM_SHA256: ("TLS_DHE_PSK_WITH_AES_128_GCM_SHA256",
                                          "DHE-PSK-AES128-GCM-SHA256"),
    TLS_DHE_PSK_WITH_AES_256_GCM_SHA384: ("TLS_DHE_PSK_WITH_AES_256_GCM_SHA384",
                                          "DHE-PSK-AES256-GCM-SHA384"),
    TLS_PSK_WITH_AES_128_CBC_SHA256: ("TLS_PSK_WITH_AES_128_CBC_SHA256",
                                      "PSK-AES128-CBC-SHA256"),
    TLS_PSK_WITH_AES_256_CBC_SHA384: ("TLS_PSK_WITH_AES_256_CBC_SHA384",
                                      "PSK-AES256-CBC-SHA384"),
    TLS_PSK_WITH_AES_128_CCM: ("TLS_PSK_WITH_AES_128_CCM", "PSK-AES128-CCM"),
    TLS_PSK_WITH_AES_256_CCM: ("TLS_PSK_WITH_AES_256_CCM", "PSK-AES256-CCM"),
    TLS_DHE_PSK_WITH_AES_128_CCM: ("TLS_DHE_PSK_WITH_AES_128_CCM", "DHE-PSK-AES128-CCM"),
    TLS_DHE_PSK_WITH_AES_256_CCM: ("TLS_DHE_PSK_WITH_AES_256_CCM", "DHE-PSK-AES256-CCM"),
    TLS_PSK_WITH_CHACHA20_POLY1305_SHA256: ("TLS_PSK_WITH_CHACHA20_POLY1305_SHA256",
                                            "PSK-CHACHA20-POLY1305"),
    TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256: (
        "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-PSK-CHACHA20-POLY1305"),
    TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256: ("TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256",
                                                "DHE-PSK-CHACHA20-POLY1305"),
}
"""TLS 1.2 PSK suites by code: (IANA name, OpenSSL name) (RFC 4279, 5487, 6655, 7905)."""

_SUITE_BY_NAME = {name.upper(): code for code, names in PSK_SUITES.items() for name in names}
_SUITE_CODE = re.compile(r"(?:0x)?([0-9a-f]{2})[ ,:]?(?:0x)?([0-9a-f]{2})", re.IGNORECASE)

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


def tls_suite(text: str) -> int:
    """A TLS suite's code from its IANA or OpenSSL name or its two octets in hex.

    ``TLS_PSK_WITH_AES_128_GCM_SHA256``, ``PSK-AES128-GCM-SHA256``, ``0x00A8``, ``00a8``
    and ``00 A8`` all give 0x00A8. Names are those of :data:`PSK_SUITES`; any TLS 1.2
    code is accepted, since yy zz in ``01 00 01 yy zz`` is whatever suite was negotiated
    (H.3). TLS 1.3 suites (13 xx) and 00 00 are refused: a TLS 1.3 NAF_Id ends
    01 00 00 00 07 whatever the suite (H.3), and 00 00 is TLS_NULL_WITH_NULL_NULL.
    """
    cleaned = text.strip()
    code = _SUITE_BY_NAME.get(cleaned.upper())
    if code is not None:
        return code
    match = _SUITE_CODE.fullmatch(cleaned)
    if match is None:
        raise InvalidInput(f"TLS suite {text[:60]!r}: not a known PSK suite name "
                           "(IANA or OpenSSL) nor a two-octet code such as 0x00A8")
    code = int(match.group(1) + match.group(2), 16)
    if code == 0 or code >> 8 == 0x13:
        raise InvalidInput(f"TLS suite 0x{code:04X}: not a TLS 1.2 suite; a TLS 1.3 NAF_Id "
                           "ends 01 00 00 00 07 whatever the suite (TS 33.220 H.3)")
    return code


def openssl_suite_name(ciphersuite: int) -> str:
    """OpenSSL's name of a PSK suite in :data:`PSK_SUITES` (``InvalidInput`` for others)."""
    try:
        return PSK_SUITES[ciphersuite][1]
    except KeyError:
        raise InvalidInput(f"TLS suite 0x{ciphersuite:04X} is not a PSK suite we know"
                           ) from None


def iana_suite_name(ciphersuite: int) -> str:
    """The IANA name of a suite in :data:`PSK_SUITES`, else its code as ``0xYYZZ``."""
    names = PSK_SUITES.get(ciphersuite)
    return names[0] if names is not None else f"0x{ciphersuite:04X}"


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

"""PSK identities on Ua with shared-key TLS (TS 33.222 §5.4, "HTTPS with PSK").

The NAF sends the PSK identity hint ``3GPP-bootstrapping`` (``3GPP-bootstrapping-uicc``
when the key is Ks_int_NAF); the UE answers with the PSK identity
``3GPP-bootstrapping.`` + B-TID (the form shown in TS 36.508 Table 4.7H-5). On receipt we
accept that prefix with or without the ".", its ``-uicc`` variant, and a bare B-TID: the
base64 alphabet of a B-TID has no "-", so a bare B-TID can never start with a prefix.
"""

from __future__ import annotations

import re

from gba.crypto.kdf import parse_btid
from gba.errors import CodecError, InvalidInput

PSK_IDENTITY_HINT = "3GPP-bootstrapping"
"""Server identity hint when the PSK is Ks_(ext)_NAF (TS 33.222 §5.4)."""
PSK_IDENTITY_HINT_UICC = "3GPP-bootstrapping-uicc"
"""Server identity hint when the PSK is Ks_int_NAF (GBA_U, TS 33.222 §5.4)."""
MAX_PSK_IDENTITY = 256
"""Longest identity we parse; OpenSSL's PSK_MAX_IDENTITY_LEN (RFC 4279 allows 2^16-1)."""

_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,251}[A-Za-z0-9])?")

# Longest first, so that "3GPP-bootstrapping-uicc." is not read as "3GPP-bootstrapping".
_PREFIXES = (
    PSK_IDENTITY_HINT_UICC + ".",
    PSK_IDENTITY_HINT_UICC,
    PSK_IDENTITY_HINT + ".",
    PSK_IDENTITY_HINT,
)


def psk_identity_for(btid: str) -> str:
    """The PSK identity a UE sends: ``3GPP-bootstrapping.`` + B-TID (TS 33.222 §5.4)."""
    try:
        parse_btid(btid)
    except CodecError as exc:
        raise InvalidInput(f"not a B-TID: {exc}") from None
    return PSK_IDENTITY_HINT + "." + btid


def btid_from_psk_identity(identity: str | bytes) -> str:
    """The B-TID inside a received PSK identity; :class:`CodecError` if there is none.

    Accepts ``3GPP-bootstrapping.<B-TID>``, ``3GPP-bootstrapping<B-TID>``, the same with
    ``-uicc``, and a bare B-TID; prefixes are matched without regard to (ASCII) case.
    """
    if isinstance(identity, bytes | bytearray):
        try:
            text = bytes(identity).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CodecError(f"PSK identity is not UTF-8 at offset {exc.start}") from None
    else:
        text = identity
    if not text:
        raise CodecError("PSK identity is empty")
    if len(text) > MAX_PSK_IDENTITY:
        raise CodecError(f"PSK identity of {len(text)} characters exceeds {MAX_PSK_IDENTITY}")
    btid = text
    for prefix in _PREFIXES:
        head = text[:len(prefix)]
        if head.isascii() and head.lower() == prefix.lower():
            btid = text[len(prefix):]
            break
    try:
        _, domain = parse_btid(btid)
    except CodecError as exc:
        raise CodecError(f"PSK identity {text[:80]!r} carries no B-TID: {exc}") from None
    # A host name, so that a B-TID is safe to log and to use as a key.
    if _HOST.fullmatch(domain) is None:
        raise CodecError(f"PSK identity {text[:80]!r}: B-TID domain is not a host name")
    return btid

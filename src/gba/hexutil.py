"""Strict conversions between user-facing text and octets."""

from __future__ import annotations

import binascii

from gba.errors import InvalidInput


def from_hex(text: str, name: str, length: int | None = None) -> bytes:
    """Decode *text* as hex; raise :class:`InvalidInput` naming *name* on any problem."""
    cleaned = text.strip().removeprefix("0x").removeprefix("0X").replace(" ", "").replace(":", "")
    try:
        value = binascii.unhexlify(cleaned)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{name}: not a hex string ({len(text)} characters)") from None
    if length is not None and len(value) != length:
        raise InvalidInput(f"{name}: {len(value)} octets, expected {length}")
    return value


def require_length(value: bytes, name: str, length: int) -> bytes:
    """Check that *value* is exactly *length* octets."""
    if not isinstance(value, bytes | bytearray | memoryview):
        raise InvalidInput(f"{name}: expected octets, got {type(value).__name__}")
    if len(value) != length:
        raise InvalidInput(f"{name}: {len(value)} octets, expected {length}")
    return bytes(value)

"""Typed AVP values: Python values to AVP data and back, by dictionary type.

RFC 6733 §4.2 (basic formats: OctetString, Integer32/64, Unsigned32/64, Float32/64,
Grouped) and §4.3 (derived: Address, Time, UTF8String, DiameterIdentity, DiameterURI,
Enumerated). Flags follow the dictionary row: V when the AVP has a vendor, M as the
defining spec says (RFC 6733 §4.5, TS 29.229 §6.3, TS 29.109 §6).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from datetime import datetime
from ipaddress import IPv4Address, IPv6Address, ip_address

from gba.errors import InvalidInput
from gba.protocols.diameter.codec import (
    AVP_FLAG_MANDATORY,
    AVP_FLAG_VENDOR,
    Avp,
    DiameterCodecError,
    time_to_bytes,
)
from gba.protocols.diameter.dictionary import (
    EXPERIMENTAL_RESULT,
    AvpDef,
    AvpType,
    avp_def,
    enum_value,
    find_avp_def,
)

AvpValue = str | int | float | bytes | IPv4Address | IPv6Address | datetime | Iterable[Avp]
"""What :func:`avp` accepts; Grouped takes an iterable of :class:`Avp`."""
DecodedValue = str | int | float | bytes | IPv4Address | IPv6Address | datetime | tuple[Avp, ...]

_INT_FORMATS = {
    AvpType.UNSIGNED32: struct.Struct("!I"),
    AvpType.INTEGER32: struct.Struct("!i"),
    AvpType.ENUMERATED: struct.Struct("!i"),
    AvpType.UNSIGNED64: struct.Struct("!Q"),
    AvpType.INTEGER64: struct.Struct("!q"),
}
_FLOAT_FORMATS = {AvpType.FLOAT32: struct.Struct("!f"), AvpType.FLOAT64: struct.Struct("!d")}


def _octets(name: str, value: AvpValue) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    raise InvalidInput(f"{name} takes bytes or str, not {type(value).__name__}")


def _integer(definition: AvpDef, value: AvpValue) -> bytes:
    if isinstance(value, str) and definition.type is AvpType.ENUMERATED:
        value = enum_value(definition, value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"{definition.name} takes an int, not {type(value).__name__}")
    try:
        return _INT_FORMATS[definition.type].pack(value)
    except struct.error:
        raise InvalidInput(f"{definition.name} value {value} is out of range for "
                           f"{definition.type}") from None


def _float(definition: AvpDef, value: AvpValue) -> bytes:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidInput(f"{definition.name} takes a float, not {type(value).__name__}")
    return _FLOAT_FORMATS[definition.type].pack(value)


def _address(definition: AvpDef, value: AvpValue) -> bytes:
    if isinstance(value, str):
        try:
            value = ip_address(value)
        except ValueError:
            raise InvalidInput(f"{definition.name}: {value!r} is not an IP address") from None
    if isinstance(value, IPv4Address):
        return b"\x00\x01" + value.packed
    if isinstance(value, IPv6Address):
        return b"\x00\x02" + value.packed
    raise InvalidInput(f"{definition.name} takes an IP address, not {type(value).__name__}")


def _time(definition: AvpDef, value: AvpValue) -> bytes:
    if not isinstance(value, datetime):
        raise InvalidInput(f"{definition.name} takes a datetime, not {type(value).__name__}")
    return time_to_bytes(value)


def _grouped(definition: AvpDef, value: AvpValue) -> bytes:
    if isinstance(value, str | bytes | bytearray | memoryview | int | float | datetime):
        raise InvalidInput(f"{definition.name} is Grouped: pass a list of Avp")
    children = list(value)  # type: ignore[arg-type]  # the isinstance above excludes the rest
    if not all(isinstance(c, Avp) for c in children):
        raise InvalidInput(f"{definition.name} is Grouped: every child must be an Avp")
    return b"".join([c.encode() for c in children])


_ENCODERS: dict[AvpType, Callable[[AvpDef, AvpValue], bytes]] = {
    AvpType.OCTET_STRING: lambda d, v: _octets(d.name, v),
    AvpType.UTF8_STRING: lambda d, v: _octets(d.name, v),
    AvpType.DIAMETER_IDENTITY: lambda d, v: _octets(d.name, v),
    AvpType.DIAMETER_URI: lambda d, v: _octets(d.name, v),
    AvpType.UNSIGNED32: _integer,
    AvpType.INTEGER32: _integer,
    AvpType.ENUMERATED: _integer,
    AvpType.UNSIGNED64: _integer,
    AvpType.INTEGER64: _integer,
    AvpType.FLOAT32: _float,
    AvpType.FLOAT64: _float,
    AvpType.ADDRESS: _address,
    AvpType.TIME: _time,
    AvpType.GROUPED: _grouped,
}


def encode_value(definition: AvpDef, value: AvpValue) -> bytes:
    """AVP data octets for ``value`` under the row's data type (RFC 6733 §4.2, §4.3)."""
    return _ENCODERS[definition.type](definition, value)


def build(definition: AvpDef, value: AvpValue, *, mandatory: bool | None = None) -> Avp:
    """An :class:`Avp` for a dictionary row, flags as the row says unless overridden."""
    flags = definition.flags
    if mandatory is not None:
        flags = (flags & ~AVP_FLAG_MANDATORY) | (AVP_FLAG_MANDATORY if mandatory else 0)
    return Avp(definition.code, encode_value(definition, value), flags, definition.vendor)


def avp(name: str, value: AvpValue, *, mandatory: bool | None = None) -> Avp:
    """Build an AVP by dictionary name: ``avp("Origin-Host", "bsf.example.org")``,
    ``avp("SIP-Auth-Data-Item", [avp("SIP-Item-Number", 1), ...])``."""
    return build(avp_def(name), value, mandatory=mandatory)


def raw_avp(code: int, data: bytes, *, vendor: int = 0, mandatory: bool = False) -> Avp:
    """An AVP the dictionary does not know, with V set iff ``vendor`` is non-zero."""
    flags = (AVP_FLAG_VENDOR if vendor else 0) | (AVP_FLAG_MANDATORY if mandatory else 0)
    return Avp(code, data, flags, vendor)


def value_of(a: Avp) -> DecodedValue:
    """The Python value of an AVP by its dictionary type; bytes for unknown AVPs."""
    definition = find_avp_def(a.code, a.vendor)
    if definition is None:
        return a.data
    kind = definition.type
    if kind in _INT_FORMATS:
        return a.as_int()
    if kind in _FLOAT_FORMATS:
        fmt = _FLOAT_FORMATS[kind]
        if len(a.data) != fmt.size:
            raise DiameterCodecError(f"AVP {a.code} float length {len(a.data)} != {fmt.size}")
        return float(fmt.unpack(a.data)[0])
    if kind in (AvpType.UTF8_STRING, AvpType.DIAMETER_IDENTITY, AvpType.DIAMETER_URI):
        return a.as_str()
    if kind is AvpType.TIME:
        return a.as_time()
    if kind is AvpType.ADDRESS:
        return a.as_address()
    if kind is AvpType.GROUPED:
        return a.children()
    return a.data


def experimental_result(code: int, vendor: int) -> Avp:
    """Experimental-Result { Vendor-Id, Experimental-Result-Code } (RFC 6733 §7.6)."""
    return Avp.grouped(EXPERIMENTAL_RESULT, [
        avp("Vendor-Id", vendor),
        avp("Experimental-Result-Code", code),
    ])


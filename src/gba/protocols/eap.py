"""EAP packets (RFC 3748 §4): the codec every EAP method here rides on.

RFC 3748 §4 packet format: Code (1 octet), Identifier (1), Length (2, the whole packet,
network order), then Data. Codes (§4.1, §4.2): 1 Request, 2 Response, 3 Success,
4 Failure. A Request or Response carries a Type octet (§4.1) and Type-Data; Success and
Failure carry nothing: Length is 4 (§4.2). Type 1 is Identity (§5.1: the Type-Data of a
Response is the peer's identity, with no terminating null); type 23 is EAP-AKA
(RFC 4187 §8.1, hostapd ``eap_defs.h``). Codes 5 and 6 (ERP, RFC 6696) are not EAP of
RFC 3748 and are refused.

The layout and the Code values are confirmed by RFC 4186 §8.1 and its Appendix A packets
(A.1 Request/Identity, A.2 Response/Identity, A.7 Success: tests/vectors/rfc4186) and by
hostapd ``eap_defs.h``; the RFC 3748 clause numbers are from memory (UNVERIFIED).

Project choices [P]: a packet here is the whole of an HTTP body or of a Diameter
EAP-Payload, so there is no link-layer padding: Length must equal the octets received
(RFC 3748 §4.1 would ignore trailing octets and discard a short packet; both are refused
here with :class:`CodecError`), and a packet longer than :data:`MAX_LENGTH` is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from gba.errors import CodecError, InvalidInput

MAX_LENGTH = 4096
"""The largest packet accepted or built [P]."""
HEADER_LENGTH = 4


class Code(IntEnum):
    """RFC 3748 §4 Code field."""

    REQUEST = 1
    RESPONSE = 2
    SUCCESS = 3
    FAILURE = 4


TYPE_IDENTITY = 1
"""RFC 3748 §5.1."""
TYPE_NOTIFICATION = 2
"""RFC 3748 §5.2."""
TYPE_NAK = 3
"""RFC 3748 §5.3.1 (Response only)."""
TYPE_AKA = 23
"""EAP-AKA (RFC 4187 §8.1)."""


@dataclass(frozen=True, slots=True)
class EapPacket:
    """One EAP packet (RFC 3748 §4). ``type`` is None exactly for Success and Failure;
    ``data`` is the Type-Data."""

    code: Code
    identifier: int
    type: int | None = None
    data: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.identifier <= 0xFF:
            raise InvalidInput(f"EAP Identifier {self.identifier} is not one octet")
        has_type = self.code in (Code.REQUEST, Code.RESPONSE)
        if has_type != (self.type is not None):
            raise InvalidInput(f"EAP {self.code.name} {'needs' if has_type else 'has no'} "
                               "Type (RFC 3748 §4.1-§4.2)")
        if self.type is not None and not 0 <= self.type <= 0xFF:
            raise InvalidInput(f"EAP Type {self.type} is not one octet")
        if not has_type and self.data:
            raise InvalidInput(f"EAP {self.code.name} carries no data (RFC 3748 §4.2)")
        if len(self.data) + 5 > MAX_LENGTH:
            raise InvalidInput(f"EAP packet of {len(self.data) + 5} octets exceeds "
                               f"{MAX_LENGTH}")

    def encode(self) -> bytes:
        if self.type is None:
            return bytes((self.code, self.identifier)) + HEADER_LENGTH.to_bytes(2, "big")
        length = HEADER_LENGTH + 1 + len(self.data)
        return (bytes((self.code, self.identifier)) + length.to_bytes(2, "big")
                + bytes((self.type,)) + self.data)


def parse(raw: bytes) -> EapPacket:
    """One EAP packet; :class:`CodecError` saying which rule of RFC 3748 §4 it breaks."""
    if len(raw) > MAX_LENGTH:
        raise CodecError(f"EAP packet of {len(raw)} octets exceeds {MAX_LENGTH}")
    if len(raw) < HEADER_LENGTH:
        raise CodecError(f"EAP packet of {len(raw)} octets is shorter than its header")
    code_value, identifier = raw[0], raw[1]
    length = int.from_bytes(raw[2:4], "big")
    if length != len(raw):
        raise CodecError(f"EAP Length {length} but {len(raw)} octets received")
    try:
        code = Code(code_value)
    except ValueError:
        raise CodecError(f"EAP Code {code_value} is not 1-4 (RFC 3748 §4)") from None
    if code in (Code.SUCCESS, Code.FAILURE):
        if length != HEADER_LENGTH:
            raise CodecError(f"EAP {code.name} of Length {length}, must be 4 "
                             "(RFC 3748 §4.2)")
        return EapPacket(code, identifier)
    if length < HEADER_LENGTH + 1:
        raise CodecError(f"EAP {code.name} without a Type octet (RFC 3748 §4.1)")
    return EapPacket(code, identifier, raw[4], raw[5:])


def encode(packet: EapPacket) -> bytes:
    return packet.encode()


def identity_request(identifier: int) -> EapPacket:
    """EAP-Request/Identity with no prompt (RFC 3748 §5.1)."""
    return EapPacket(Code.REQUEST, identifier, TYPE_IDENTITY)


def identity_response(identifier: int, identity: str) -> EapPacket:
    """EAP-Response/Identity carrying *identity* in UTF-8, no terminating null (§5.1)."""
    return EapPacket(Code.RESPONSE, identifier, TYPE_IDENTITY, identity.encode("utf-8"))


def identity_of(packet: EapPacket) -> str:
    """The identity of an EAP-Response/Identity (RFC 3748 §5.1), strict UTF-8."""
    if packet.code != Code.RESPONSE or packet.type != TYPE_IDENTITY:
        raise CodecError(f"EAP {packet.code.name} of Type {packet.type} is not a "
                         "Response/Identity")
    try:
        return packet.data.decode("utf-8")
    except UnicodeDecodeError:
        raise CodecError("EAP identity is not UTF-8") from None


def success(identifier: int) -> EapPacket:
    """EAP-Success (RFC 3748 §4.2)."""
    return EapPacket(Code.SUCCESS, identifier)


def failure(identifier: int) -> EapPacket:
    """EAP-Failure (RFC 3748 §4.2)."""
    return EapPacket(Code.FAILURE, identifier)

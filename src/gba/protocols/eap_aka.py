"""EAP-AKA messages, keys and AT_MAC (RFC 4187), without any state.

Of RFC 4187 only §7 was read; its other clause numbers below are those docs/roaming.md uses
(UNVERIFIED). The rules themselves were read in RFC 4186 (EAP-SIM, same format and MAC) or
in hostapd's EAP-AKA code, as each line says.

Message format (RFC 4187 §8.1; the same text is RFC 4186 §8.1, read in a copy of that RFC):
the EAP header with Type 23, then Subtype (1 octet), Reserved (2), then attributes as
Type (1), Length (1, in units of 4 octets, covering Type and Length), Value. Types 0-127
are non-skippable: one this codec does not know is a :class:`CodecError`; 128-255 are
skippable and kept as they came. Numbers (IANA "EAP-AKA and EAP-SIM Parameters" registry,
hostapd ``eap_sim_common.h``, Apple ``EAPSIMAKA.h``): subtypes :class:`Subtype`,
attributes :class:`At`.

Value formats, as hostapd's ``eap_sim_parse_attr`` reads them (the attribute sections of
RFC 4187 §10 themselves were not read: section numbers below are UNVERIFIED):

* AT_RAND, AT_AUTN, AT_MAC: 2 reserved octets + 16 octets;
* AT_RES: RES Length in **bits** (2 octets) + RES (4-16 octets) + zero padding to a
  multiple of 4 (RES lengths that are not whole octets are refused [P]);
* AT_AUTS: the 14 octets of AUTS, no reserved field;
* AT_IDENTITY: actual length (2 octets) + identity + zero padding;
* AT_PERMANENT_ID_REQ, AT_ANY_ID_REQ, AT_FULLAUTH_ID_REQ, AT_RESULT_IND: 2 reserved octets;
* AT_CLIENT_ERROR_CODE, AT_NOTIFICATION: a 2-octet code;
* AT_CHECKCODE: 2 reserved octets + nothing or a 20-octet SHA-1 value.

Which attributes each message may carry is :data:`ALLOWED` (RFC 4187 §9, from hostapd and
RFC 4186 §9 by analogy: UNVERIFIED); a known attribute outside that set, a duplicate, or two
identity requests are errors (RFC 4186 §6.3.1, §9.1).

Keys (RFC 4187 §7, text read): MK = SHA1(Identity | IK | CK), Identity as sent, no
terminating null; K_encr, K_aut, MSK, EMSK from :func:`gba.crypto.fips186.eap_keys`.
AT_MAC (RFC 4187 §10.15; RFC 4186 §10.14 read): HMAC-SHA1 truncated to 16 octets, keyed by
K_aut, over the whole EAP packet with the MAC value set to zero, followed by the message's
extra data: none for AKA-Challenge in either direction (hostapd ``eap_server_aka.c``
finishes the request and verifies the response with no extra data).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

from gba.crypto import fips186
from gba.errors import CodecError, InvalidInput
from gba.hexutil import require_length
from gba.protocols import eap

MAC_LENGTH = 16
"""HMAC-SHA1-128 (RFC 4187 §10.15)."""
AUTS_LENGTH = 14
CHECKCODE_LENGTH = 20
MAX_VALUE = 255 * 4 - 2
"""The longest value an attribute can hold (Length is one octet of 4-octet units)."""
CLIENT_ERROR_UNABLE_TO_PROCESS = 0
"""The only AT_CLIENT_ERROR_CODE value of EAP-AKA (RFC 4187 §10.20, UNVERIFIED number)."""
_HEADER = 8


class Subtype(IntEnum):
    """EAP-AKA subtypes (RFC 4187 §11; IANA registry)."""

    CHALLENGE = 1
    AUTHENTICATION_REJECT = 2
    SYNCHRONIZATION_FAILURE = 4
    IDENTITY = 5
    NOTIFICATION = 12
    CLIENT_ERROR = 14


class At(IntEnum):
    """The attribute types this codec reads (RFC 4187 §11; IANA registry)."""

    RAND = 1
    AUTN = 2
    RES = 3
    AUTS = 4
    PERMANENT_ID_REQ = 10
    MAC = 11
    NOTIFICATION = 12
    ANY_ID_REQ = 13
    IDENTITY = 14
    FULLAUTH_ID_REQ = 17
    CLIENT_ERROR_CODE = 22
    CHECKCODE = 134
    RESULT_IND = 135


ID_REQUESTS = frozenset({At.PERMANENT_ID_REQ, At.ANY_ID_REQ, At.FULLAUTH_ID_REQ})

_KNOWN = frozenset(int(a) for a in At)
_R, _P = eap.Code.REQUEST, eap.Code.RESPONSE
ALLOWED: dict[tuple[eap.Code, Subtype], frozenset[At]] = {
    (_R, Subtype.IDENTITY): ID_REQUESTS,
    (_P, Subtype.IDENTITY): frozenset({At.IDENTITY}),
    (_R, Subtype.CHALLENGE): frozenset({At.RAND, At.AUTN, At.MAC, At.RESULT_IND,
                                       At.CHECKCODE}),
    (_P, Subtype.CHALLENGE): frozenset({At.RES, At.MAC, At.RESULT_IND, At.CHECKCODE}),
    (_P, Subtype.AUTHENTICATION_REJECT): frozenset(),
    (_P, Subtype.SYNCHRONIZATION_FAILURE): frozenset({At.AUTS}),
    (_R, Subtype.NOTIFICATION): frozenset({At.NOTIFICATION, At.MAC}),
    (_P, Subtype.NOTIFICATION): frozenset({At.MAC}),
    (_P, Subtype.CLIENT_ERROR): frozenset({At.CLIENT_ERROR_CODE}),
}
"""The known attributes each message may carry (RFC 4187 §9, UNVERIFIED lists)."""


@dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute: *value* is everything after Type and Length, reserved octets and
    padding included, so that what was received is what is re-encoded."""

    type: int
    value: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.type <= 0xFF:
            raise InvalidInput(f"attribute type {self.type} is not one octet")
        if len(self.value) % 4 != 2 or len(self.value) > MAX_VALUE:
            raise InvalidInput(f"attribute {self.type}: value of {len(self.value)} octets "
                               "does not fill whole 4-octet units")

    def encode(self) -> bytes:
        return bytes((self.type, (len(self.value) + 2) // 4)) + self.value


def _padded(body: bytes) -> bytes:
    return body + bytes(-(len(body) + 2) % 4)


def at_rand(rand: bytes) -> Attribute:
    return Attribute(At.RAND, bytes(2) + require_length(rand, "RAND", 16))


def at_autn(autn: bytes) -> Attribute:
    return Attribute(At.AUTN, bytes(2) + require_length(autn, "AUTN", 16))


def at_res(res: bytes) -> Attribute:
    """AT_RES with RES Length in bits (RFC 4187 §10.8, UNVERIFIED section)."""
    if not 4 <= len(res) <= 16:
        raise InvalidInput(f"RES of {len(res)} octets, expected 4-16")
    return Attribute(At.RES, _padded((8 * len(res)).to_bytes(2, "big") + res))


def at_auts(auts: bytes) -> Attribute:
    return Attribute(At.AUTS, require_length(auts, "AUTS", AUTS_LENGTH))


def at_mac(mac: bytes = bytes(MAC_LENGTH)) -> Attribute:
    return Attribute(At.MAC, bytes(2) + require_length(mac, "MAC", MAC_LENGTH))


def at_identity(identity: bytes) -> Attribute:
    if len(identity) > MAX_VALUE - 2:
        raise InvalidInput(f"identity of {len(identity)} octets is too long")
    return Attribute(At.IDENTITY, _padded(len(identity).to_bytes(2, "big") + identity))


def at_flag(at: At) -> Attribute:
    """An attribute whose value is two reserved octets (identity requests, AT_RESULT_IND)."""
    if at not in ID_REQUESTS | {At.RESULT_IND}:
        raise InvalidInput(f"{at.name} is not a flag attribute")
    return Attribute(at, bytes(2))


def at_code(at: At, code: int) -> Attribute:
    """AT_CLIENT_ERROR_CODE or AT_NOTIFICATION with a 16-bit *code*."""
    if at not in (At.CLIENT_ERROR_CODE, At.NOTIFICATION) or not 0 <= code <= 0xFFFF:
        raise InvalidInput(f"{at} cannot carry code {code}")
    return Attribute(at, code.to_bytes(2, "big"))


def at_checkcode(value: bytes = b"") -> Attribute:
    if len(value) not in (0, CHECKCODE_LENGTH):
        raise InvalidInput(f"checkcode of {len(value)} octets, expected 0 or 20")
    return Attribute(At.CHECKCODE, bytes(2) + value)


def _check_value(at: At, value: bytes) -> None:
    """The value formats above; :class:`CodecError` naming the attribute."""
    n = len(value)
    fixed = {At.RAND: 18, At.AUTN: 18, At.MAC: 18, At.AUTS: AUTS_LENGTH,
             At.CLIENT_ERROR_CODE: 2, At.NOTIFICATION: 2, At.RESULT_IND: 2,
             **dict.fromkeys(ID_REQUESTS, 2)}
    if at in fixed and n != fixed[at]:
        raise CodecError(f"AT_{at.name}: value of {n} octets, expected {fixed[at]}")
    if at == At.CHECKCODE and n not in (2, 2 + CHECKCODE_LENGTH):
        raise CodecError(f"AT_CHECKCODE: value of {n} octets, expected 2 or 22")
    if at == At.RES:
        bits = int.from_bytes(value[:2], "big")
        if bits % 8 or not 32 <= bits <= 128 or not 0 <= n - 2 - bits // 8 <= 3:
            raise CodecError(f"AT_RES: RES Length {bits} bits in a value of {n} octets")
    if at == At.IDENTITY:
        size = int.from_bytes(value[:2], "big")
        if not 0 <= n - 2 - size <= 3:
            raise CodecError(f"AT_IDENTITY: actual length {size} in a value of {n} octets")


def _payload(at: int, value: bytes) -> bytes:
    if at in (At.RAND, At.AUTN, At.MAC, At.CHECKCODE) or at in ID_REQUESTS \
            or at == At.RESULT_IND:
        return value[2:]
    if at == At.RES:
        return value[2:2 + int.from_bytes(value[:2], "big") // 8]
    if at == At.IDENTITY:
        return value[2:2 + int.from_bytes(value[:2], "big")]
    return value


@dataclass(frozen=True, slots=True)
class AkaPacket:
    """An EAP-Request or EAP-Response of Type 23 (RFC 4187 §8.1)."""

    code: eap.Code
    identifier: int
    subtype: Subtype
    attributes: tuple[Attribute, ...] = ()

    def __post_init__(self) -> None:
        if self.code not in (_R, _P):
            raise InvalidInput(f"EAP-AKA is carried in Requests and Responses, not "
                               f"{self.code.name}")

    def get(self, at: At) -> Attribute | None:
        return next((a for a in self.attributes if a.type == at), None)

    def payload(self, at: At) -> bytes | None:
        """The data of attribute *at* without reserved octets, length fields or padding."""
        found = self.get(at)
        return None if found is None else _payload(at, found.value)

    def require(self, at: At) -> bytes:
        found = self.payload(at)
        if found is None:
            raise CodecError(f"{'Request' if self.code == _R else 'Response'}/AKA-"
                             f"{self.subtype.name} without AT_{at.name}")
        return found

    def encode(self) -> bytes:
        data = bytes((self.subtype, 0, 0)) + b"".join(a.encode() for a in self.attributes)
        return eap.EapPacket(self.code, self.identifier, eap.TYPE_AKA, data).encode()


def parse(raw: bytes) -> AkaPacket:
    """An EAP-AKA packet from the wire; :class:`CodecError` for anything else."""
    return from_eap(eap.parse(raw))


def from_eap(packet: eap.EapPacket) -> AkaPacket:
    if packet.type != eap.TYPE_AKA or packet.code not in (_R, _P):
        raise CodecError(f"EAP {packet.code.name} of Type {packet.type} is not EAP-AKA")
    data = packet.data
    if len(data) < 3:
        raise CodecError(f"EAP-AKA Type-Data of {len(data)} octets has no Subtype header")
    try:
        subtype = Subtype(data[0])
    except ValueError:
        raise CodecError(f"EAP-AKA Subtype {data[0]} is not supported") from None
    allowed = ALLOWED.get((packet.code, subtype))
    if allowed is None:
        raise CodecError(f"AKA-{subtype.name} is not sent as an EAP {packet.code.name}")
    attributes = tuple(_attributes(data, 3))
    seen: set[int] = set()
    for attr in attributes:
        if attr.type not in _KNOWN:
            continue
        at = At(attr.type)
        if at in seen:
            raise CodecError(f"AT_{at.name} appears twice in AKA-{subtype.name}")
        if at not in allowed:
            raise CodecError(f"AT_{at.name} is not allowed in AKA-{subtype.name}")
        seen.add(at)
        _check_value(at, attr.value)
    if len(seen & ID_REQUESTS) > 1:
        raise CodecError("AKA-Identity carries more than one identity request")
    return AkaPacket(packet.code, packet.identifier, subtype, attributes)


def _attributes(data: bytes, start: int) -> Iterable[Attribute]:
    """Walk Type-Length-Value attributes (RFC 4187 §8.1); unknown non-skippable types
    (0-127) are errors, unknown skippable ones (128-255) are kept."""
    pos = start
    while pos < len(data):
        if pos + 2 > len(data):
            raise CodecError(f"attribute header cut short at offset {pos + 5}")
        kind, units = data[pos], data[pos + 1]
        if units == 0:
            raise CodecError(f"attribute {kind} of Length 0 at offset {pos + 5}")
        end = pos + 4 * units
        if end > len(data):
            raise CodecError(f"attribute {kind} of {4 * units} octets overruns the packet "
                             f"at offset {pos + 5}")
        if kind < 128 and kind not in _KNOWN:
            raise CodecError(f"unknown non-skippable attribute {kind} (RFC 4187 §8.1)")
        yield Attribute(kind, data[pos + 2:end])
        pos = end


def master_key(identity: bytes, ik: bytes, ck: bytes) -> bytes:
    """MK = SHA1(Identity | IK | CK) (RFC 4187 §7)."""
    require_length(ik, "IK", 16)
    require_length(ck, "CK", 16)
    return hashlib.sha1(identity + ik + ck).digest()  # noqa: S324 (the RFC fixes SHA-1)


def derive_keys(identity: bytes, ik: bytes, ck: bytes) -> fips186.EapKeys:
    """K_encr, K_aut, MSK, EMSK of a full authentication (RFC 4187 §7)."""
    return fips186.eap_keys(master_key(identity, ik, ck))


def mac_offset(raw: bytes) -> int:
    """Where the 16 MAC octets of AT_MAC start in an EAP-SIM/AKA packet (RFC 4187 §8.1,
    §10.15): the same walk serves EAP-SIM (RFC 4186 §10.14), whose vectors test it."""
    if len(raw) < _HEADER:
        raise CodecError(f"EAP-AKA packet of {len(raw)} octets has no attributes")
    pos = _HEADER
    while pos + 2 <= len(raw):
        units = raw[pos + 1]
        if units == 0:
            break
        if raw[pos] == At.MAC:
            if units != 5 or pos + 20 > len(raw):
                raise CodecError("AT_MAC is not 20 octets")
            return pos + 4
        pos += 4 * units
    raise CodecError("packet has no AT_MAC")


def compute_mac(k_aut: bytes, raw: bytes, extra: bytes = b"") -> bytes:
    """HMAC-SHA1-128(K_aut, packet with the MAC value zeroed | extra) (RFC 4187 §10.15)."""
    require_length(k_aut, "K_aut", 16)
    at = mac_offset(raw)
    zeroed = raw[:at] + bytes(MAC_LENGTH) + raw[at + MAC_LENGTH:]
    return hmac.digest(k_aut, zeroed + extra, hashlib.sha1)[:MAC_LENGTH]


def verify_mac(k_aut: bytes, raw: bytes, extra: bytes = b"") -> bool:
    """Whether *raw*'s AT_MAC is right, compared in constant time."""
    at = mac_offset(raw)
    return hmac.compare_digest(raw[at:at + MAC_LENGTH], compute_mac(k_aut, raw, extra))


def sign(packet: AkaPacket, k_aut: bytes, extra: bytes = b"") -> bytes:
    """*packet* encoded with its AT_MAC filled in (it must carry one, any value)."""
    raw = packet.encode()
    at = mac_offset(raw)
    return raw[:at] + compute_mac(k_aut, raw, extra) + raw[at + MAC_LENGTH:]


def checkcode(identity_messages: Sequence[bytes]) -> bytes:
    """AT_CHECKCODE's value: SHA-1 over the AKA-Identity packets of this exchange in
    order, or nothing when there were none (RFC 4187 §10.13: UNVERIFIED, as hostapd's
    ``eap_aka_add_checkcode`` does it)."""
    if not identity_messages:
        return b""
    return hashlib.sha1(b"".join(identity_messages)).digest()  # noqa: S324


def permanent_identity(imsi: str, realm: str) -> str:
    """The EAP-AKA permanent identity ``0<IMSI>@<realm>`` (RFC 4187 §4.1.1.6: the leading
    "0" marks EAP-AKA; UNVERIFIED, read from implementations as docs/roaming.md §0)."""
    if not imsi.isdigit() or not realm:
        raise InvalidInput(f"IMSI {imsi!r} or realm {realm!r} is not usable")
    return f"0{imsi}@{realm}"

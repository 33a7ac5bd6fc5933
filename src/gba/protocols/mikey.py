"""MIKEY messages (RFC 3830 §6, RFC 4563): the payloads MBMS key delivery uses.

Sans-IO codec: :func:`decode` turns octets into a :class:`Message` of typed payloads and
raises :class:`~gba.errors.CodecError` (never another exception) on anything else;
:func:`encode` is its inverse. No key is derived and no MAC checked here
(``gba.crypto.mikey_prf``, ``gba.protocols.mbms``).

Layouts, as read in the RFC 3830 and RFC 4563 texts (every field big-endian, payloads
octet aligned, each payload but HDR opening with the type of the *next* one, 0 = last):

* HDR (§6.1): version 1 | data type | next | V (1 bit) PRF func (7) | CSB ID (32) | #CS |
  CS ID map type | map info. Map types: SRTP-ID 0 (§6.1.1: per CS policy no (8), SSRC
  (32), ROC (32)); empty map 1 (RFC 4563 §5: no map info, no SP payload). Others
  (GENERIC-ID, RFC 6043) are refused.
* T (§6.6): TS type | value; NTP-UTC 0 and NTP 1 are 64 bits, COUNTER 2 is 32 bits.
* ID (§6.7): ID type (NAI 0, URI 1) | length (16) | ID.
* RAND (§6.11): length (8) | RAND.
* KEMAC (§6.2): encr alg (NULL 0, AES-CM-128 1, AES-KW-128 2) | encr data len (16) |
  encr data | MAC alg (NULL 0: no MAC; HMAC-SHA-1-160 1: 20 octets) | MAC. The plain
  encr data is a chain of Key data sub-payloads (§6.13): next (20 = Key data, 0 = last)
  | type (4 bits: TGK 0, TGK+SALT 1, TEK 2, TEK+SALT 3) KV (4 bits: NULL 0, SPI 1,
  interval 2) | key len (16) | key | [salt len (16) | salt, types 1 and 3 only] | KV data
  (§6.14: SPI len (8) | SPI, or VF len (8) | valid from | VT len (8) | valid to).
* V (§6.9): auth alg (as KEMAC MAC alg) | verification MAC.
* SP (§6.10): policy no | prot type | param len (16) | params as type (8) | len (8) | value.
* General Extension (§6.15): type | length (16) | data. RFC 4563 §4 adds type 3 "Key ID":
  data = Key ID sub-payloads, Key ID type (MBMS Key Domain ID 0, MSK ID 1, MTK ID 2) |
  length (8) | Key ID.

Payload type numbers (§6.1 Table 6.1.b): KEMAC 1, T 5, ID 6, V 9, SP 10, RAND 11, Key
data 20, General Extension 21. Every other type (PKE, DH, SIGN, CERT, CHASH, ERR and later
registrations) is refused: the MBMS messages do not use them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

from gba.errors import CodecError, InvalidInput

VERSION = 1
# Payload types (RFC 3830 §6.1 Table 6.1.b)
LAST = 0
KEMAC = 1
T = 5
ID = 6
V = 9
SP = 10
RAND = 11
KEY_DATA = 20
GENERAL_EXT = 21
# HDR (RFC 3830 Tables 6.1.a, 6.1.c, 6.1.d; RFC 4563 Table 3)
DATA_PSK_INIT = 0
DATA_PSK_VERIFY = 1
PRF_MIKEY_1 = 0
CS_MAP_SRTP_ID = 0
CS_MAP_EMPTY = 1
# T (Table 6.6), ID (Table 6.7.a)
TS_NTP_UTC = 0
TS_NTP = 1
TS_COUNTER = 2
ID_NAI = 0
ID_URI = 1
# KEMAC (Tables 6.2.a, 6.2.b), Key data (Tables 6.13.a, 6.13.b)
ENCR_NULL = 0
ENCR_AES_CM_128 = 1
ENCR_AES_KW_128 = 2
MAC_NULL = 0
MAC_HMAC_SHA1_160 = 1
KEY_TGK = 0
KEY_TGK_SALT = 1
KEY_TEK = 2
KEY_TEK_SALT = 3
KV_NULL = 0
KV_SPI = 1
KV_INTERVAL = 2
# General Extension (Table 6.15; RFC 4563 Tables 1 and 2)
EXT_VENDOR_ID = 0
EXT_SDP_IDS = 1
EXT_KEY_ID = 3
KEY_ID_DOMAIN = 0
KEY_ID_MSK = 1
KEY_ID_MTK = 2

MAX_MESSAGE_SIZE = 8192
"""Refuse larger inputs before parsing: an MSK or MTK message is a few hundred octets."""
MAX_PAYLOADS = 32
"""At most this many payloads after HDR."""

_TS_LENGTHS = {TS_NTP_UTC: 8, TS_NTP: 8, TS_COUNTER: 4}
_MAC_LENGTHS = {MAC_NULL: 0, MAC_HMAC_SHA1_160: 20}
_ENCR_ALGS = (ENCR_NULL, ENCR_AES_CM_128, ENCR_AES_KW_128)
_SALTED = (KEY_TGK_SALT, KEY_TEK_SALT)


def mac_length(alg: int) -> int:
    """Octets of the MAC for a KEMAC MAC alg or V auth alg (RFC 3830 Table 6.2.b)."""
    try:
        return _MAC_LENGTHS[alg]
    except KeyError:
        raise CodecError(f"MAC algorithm {alg} is not defined") from None


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise InvalidInput(message)


def _fits(value: int, bits: int, name: str) -> None:
    _check(0 <= value < (1 << bits), f"{name} {value} does not fit {bits} bits")


# ------------------------------------------------------------------ payloads


@dataclass(frozen=True, slots=True)
class SrtpId:
    """One crypto session of the SRTP-ID map (RFC 3830 §6.1.1)."""

    policy_no: int
    ssrc: int
    roc: int

    def __post_init__(self) -> None:
        _fits(self.policy_no, 8, "policy no")
        _fits(self.ssrc, 32, "SSRC")
        _fits(self.roc, 32, "ROC")


@dataclass(frozen=True, slots=True)
class Header:
    """Common Header (RFC 3830 §6.1). ``cs_count`` is #CS; with the SRTP-ID map it equals
    the number of ``srtp_ids``, with the empty map (RFC 4563 §5) there is no map info."""

    data_type: int
    csb_id: int
    v: bool = False
    prf_func: int = PRF_MIKEY_1
    cs_id_map_type: int = CS_MAP_EMPTY
    cs_count: int = 0
    srtp_ids: tuple[SrtpId, ...] = ()

    def __post_init__(self) -> None:
        _fits(self.data_type, 8, "data type")
        _fits(self.csb_id, 32, "CSB ID")
        _fits(self.prf_func, 7, "PRF func")
        _fits(self.cs_count, 8, "#CS")
        _check(self.cs_id_map_type in (CS_MAP_SRTP_ID, CS_MAP_EMPTY),
               f"CS ID map type {self.cs_id_map_type} is not SRTP-ID (0) or empty (1)")
        if self.cs_id_map_type == CS_MAP_SRTP_ID:
            _check(len(self.srtp_ids) == self.cs_count,
                   f"#CS {self.cs_count} but {len(self.srtp_ids)} SRTP-ID entries")
        else:
            _check(not self.srtp_ids, "the empty CS ID map carries no SRTP-ID entries")


@dataclass(frozen=True, slots=True)
class Timestamp:
    """T payload (RFC 3830 §6.6); ``value`` is the NTP 64-bit value or the 32-bit counter."""

    TYPE: ClassVar[int] = T
    ts_type: int
    value: int

    def __post_init__(self) -> None:
        _check(self.ts_type in _TS_LENGTHS, f"TS type {self.ts_type} is not defined")
        _fits(self.value, 8 * _TS_LENGTHS[self.ts_type], "TS value")

    @property
    def octets(self) -> bytes:
        """The TS value field as sent (4 or 8 octets)."""
        return self.value.to_bytes(_TS_LENGTHS[self.ts_type], "big")

    def body(self) -> bytes:
        return bytes((self.ts_type,)) + self.octets


@dataclass(frozen=True, slots=True)
class Identity:
    """ID payload (RFC 3830 §6.7): an NAI (0) or a URI (1)."""

    TYPE: ClassVar[int] = ID
    id_type: int
    value: bytes

    def __post_init__(self) -> None:
        _check(self.id_type in (ID_NAI, ID_URI), f"ID type {self.id_type} is not NAI or URI")
        _check(len(self.value) <= 0xFFFF, "ID longer than 65535 octets")

    def body(self) -> bytes:
        return bytes((self.id_type,)) + len(self.value).to_bytes(2, "big") + self.value


@dataclass(frozen=True, slots=True)
class Rand:
    """RAND payload (RFC 3830 §6.11); the RFC asks for at least 16 octets (SHOULD)."""

    TYPE: ClassVar[int] = RAND
    value: bytes

    def __post_init__(self) -> None:
        _check(1 <= len(self.value) <= 0xFF, f"RAND of {len(self.value)} octets")

    def body(self) -> bytes:
        return bytes((len(self.value),)) + self.value


@dataclass(frozen=True, slots=True)
class Kemac:
    """Key data transport payload (RFC 3830 §6.2). ``encr_data`` is the Encr data field as
    sent (ciphertext, or with NULL encryption the Key data sub-payloads in clear)."""

    TYPE: ClassVar[int] = KEMAC
    encr_alg: int
    encr_data: bytes = field(repr=False)
    mac_alg: int
    mac: bytes

    def __post_init__(self) -> None:
        _check(self.encr_alg in _ENCR_ALGS, f"encryption algorithm {self.encr_alg}")
        _check(len(self.encr_data) <= 0xFFFF, "Encr data longer than 65535 octets")
        _check(self.mac_alg in _MAC_LENGTHS, f"MAC algorithm {self.mac_alg}")
        _check(len(self.mac) == _MAC_LENGTHS[self.mac_alg],
               f"MAC of {len(self.mac)} octets for MAC algorithm {self.mac_alg}")

    def body(self) -> bytes:
        return (bytes((self.encr_alg,)) + len(self.encr_data).to_bytes(2, "big")
                + self.encr_data + bytes((self.mac_alg,)) + self.mac)


@dataclass(frozen=True, slots=True)
class Verification:
    """Ver msg payload (RFC 3830 §6.9): auth alg and the verification MAC."""

    TYPE: ClassVar[int] = V
    auth_alg: int
    mac: bytes

    def __post_init__(self) -> None:
        _check(self.auth_alg in _MAC_LENGTHS, f"auth algorithm {self.auth_alg}")
        _check(len(self.mac) == _MAC_LENGTHS[self.auth_alg],
               f"MAC of {len(self.mac)} octets for auth algorithm {self.auth_alg}")

    def body(self) -> bytes:
        return bytes((self.auth_alg,)) + self.mac


@dataclass(frozen=True, slots=True)
class PolicyParam:
    """One Type/Length/Value of an SP payload (RFC 3830 §6.10)."""

    type: int
    value: bytes

    def __post_init__(self) -> None:
        _fits(self.type, 8, "policy param type")
        _check(len(self.value) <= 0xFF, "policy param longer than 255 octets")


@dataclass(frozen=True, slots=True)
class SecurityPolicy:
    """Security Policy payload (RFC 3830 §6.10; SRTP parameters §6.10.1)."""

    TYPE: ClassVar[int] = SP
    policy_no: int
    prot_type: int
    params: tuple[PolicyParam, ...] = ()

    def __post_init__(self) -> None:
        _fits(self.policy_no, 8, "policy no")
        _fits(self.prot_type, 8, "prot type")
        _check(sum(2 + len(p.value) for p in self.params) <= 0xFFFF, "policy params too long")

    def body(self) -> bytes:
        params = b"".join(bytes((p.type, len(p.value))) + p.value for p in self.params)
        return bytes((self.policy_no, self.prot_type)) + len(params).to_bytes(2, "big") + params


@dataclass(frozen=True, slots=True)
class GeneralExtension:
    """General Extension payload (RFC 3830 §6.15); type 3 is RFC 4563's Key ID."""

    TYPE: ClassVar[int] = GENERAL_EXT
    ext_type: int
    data: bytes

    def __post_init__(self) -> None:
        _fits(self.ext_type, 8, "extension type")
        _check(len(self.data) <= 0xFFFF, "extension data longer than 65535 octets")

    def body(self) -> bytes:
        return bytes((self.ext_type,)) + len(self.data).to_bytes(2, "big") + self.data


Payload = Timestamp | Identity | Rand | Kemac | Verification | SecurityPolicy | GeneralExtension
P = TypeVar("P", Timestamp, Identity, Rand, Kemac, Verification, SecurityPolicy,
            GeneralExtension)


@dataclass(frozen=True, slots=True)
class Message:
    """A MIKEY message: HDR and the payloads after it, in order."""

    header: Header
    payloads: tuple[Payload, ...]

    def all(self, kind: type[P]) -> tuple[P, ...]:
        """The payloads of one class, in message order."""
        return tuple(p for p in self.payloads if isinstance(p, kind))


# ------------------------------------------------------------------ key data (§6.13, §6.14)


@dataclass(frozen=True, slots=True)
class KvSpi:
    """Key validity by SPI/MKI (RFC 3830 §6.14)."""

    spi: bytes

    def __post_init__(self) -> None:
        _check(len(self.spi) <= 0xFF, "SPI longer than 255 octets")


@dataclass(frozen=True, slots=True)
class KvInterval:
    """Key validity as a from/to range (RFC 3830 §6.14)."""

    valid_from: bytes
    valid_to: bytes

    def __post_init__(self) -> None:
        _check(len(self.valid_from) <= 0xFF and len(self.valid_to) <= 0xFF,
               "validity bound longer than 255 octets")


KeyValidity = KvSpi | KvInterval | None


@dataclass(frozen=True, slots=True)
class KeyData:
    """Key data sub-payload (RFC 3830 §6.13); ``salt`` is present exactly for the
    TGK+SALT and TEK+SALT types."""

    key_type: int
    key: bytes = field(repr=False)
    salt: bytes | None = field(default=None, repr=False)
    kv: KeyValidity = None

    def __post_init__(self) -> None:
        _check(self.key_type in (KEY_TGK, KEY_TGK_SALT, KEY_TEK, KEY_TEK_SALT),
               f"key data type {self.key_type} is not defined")
        _check(len(self.key) <= 0xFFFF, "key longer than 65535 octets")
        _check((self.salt is not None) == (self.key_type in _SALTED),
               f"key data type {self.key_type} with{'out' if self.salt is None else ''} salt")
        _check(self.salt is None or len(self.salt) <= 0xFFFF, "salt longer than 65535 octets")


def _kv_code(kv: KeyValidity) -> int:
    return KV_NULL if kv is None else KV_SPI if isinstance(kv, KvSpi) else KV_INTERVAL


def encode_key_data(items: Iterable[KeyData]) -> bytes:
    """Key data sub-payloads chained as the plain Encr data of a KEMAC (RFC 3830 §6.13)."""
    items = list(items)
    out = bytearray()
    for i, item in enumerate(items):
        out.append(KEY_DATA if i + 1 < len(items) else LAST)
        out.append(item.key_type << 4 | _kv_code(item.kv))
        out += len(item.key).to_bytes(2, "big") + item.key
        if item.salt is not None:
            out += len(item.salt).to_bytes(2, "big") + item.salt
        if isinstance(item.kv, KvSpi):
            out += bytes((len(item.kv.spi),)) + item.kv.spi
        elif isinstance(item.kv, KvInterval):
            out += bytes((len(item.kv.valid_from),)) + item.kv.valid_from
            out += bytes((len(item.kv.valid_to),)) + item.kv.valid_to
    return bytes(out)


def decode_key_data(data: bytes) -> tuple[KeyData, ...]:
    """The Key data sub-payloads of a plain Encr data field; empty data holds none (an
    update message, RFC 3830 §6.2)."""
    r = _Reader(data, "Key data")
    items: list[KeyData] = []
    nxt = KEY_DATA if data else LAST
    while nxt != LAST:
        if len(items) >= MAX_PAYLOADS:
            raise CodecError(f"more than {MAX_PAYLOADS} Key data sub-payloads")
        nxt = r.u8("next payload")
        if nxt not in (LAST, KEY_DATA):
            raise CodecError(f"Key data followed by payload type {nxt} at offset {r.pos - 1}")
        type_kv = r.u8("type/KV")
        key_type, kv_type = type_kv >> 4, type_kv & 0x0F
        if key_type > KEY_TEK_SALT:
            raise CodecError(f"key data type {key_type} at offset {r.pos - 1} is not defined")
        key = r.take(r.u16("key data len"), "key data")
        salt = r.take(r.u16("salt len"), "salt data") if key_type in _SALTED else None
        kv: KeyValidity
        if kv_type == KV_NULL:
            kv = None
        elif kv_type == KV_SPI:
            kv = KvSpi(r.take(r.u8("SPI length"), "SPI"))
        elif kv_type == KV_INTERVAL:
            valid_from = r.take(r.u8("VF length"), "valid from")
            kv = KvInterval(valid_from, r.take(r.u8("VT length"), "valid to"))
        else:
            raise CodecError(f"KV type {kv_type} at offset {r.pos - 1} is not defined")
        items.append(KeyData(key_type, key, salt, kv))
    r.end()
    return tuple(items)


# ------------------------------------------------------------------ Key ID (RFC 4563 §4)


@dataclass(frozen=True, slots=True)
class KeyId:
    """One Key ID sub-payload of the RFC 4563 extension: type and identity of a key."""

    id_type: int
    value: bytes

    def __post_init__(self) -> None:
        _fits(self.id_type, 8, "Key ID type")
        _check(len(self.value) <= 0xFF, "Key ID longer than 255 octets")


def key_id_extension(ids: Iterable[KeyId]) -> GeneralExtension:
    """The General Extension of type Key ID (3) carrying *ids* (RFC 4563 §4)."""
    data = b"".join(bytes((k.id_type, len(k.value))) + k.value for k in ids)
    return GeneralExtension(EXT_KEY_ID, data)


def parse_key_ids(ext: GeneralExtension) -> tuple[KeyId, ...]:
    """The Key ID sub-payloads of a type 3 General Extension (RFC 4563 §4)."""
    if ext.ext_type != EXT_KEY_ID:
        raise CodecError(f"General Extension of type {ext.ext_type}, not Key ID (3)")
    r = _Reader(ext.data, "Key ID information")
    ids = []
    while not r.done:
        id_type = r.u8("Key ID type")
        ids.append(KeyId(id_type, r.take(r.u8("Key ID length"), "Key ID")))
    return tuple(ids)


# ------------------------------------------------------------------ reading


class _Reader:
    """Bounded reads over one buffer: every length is checked against what is left."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.what = what
        self.pos = 0

    @property
    def done(self) -> bool:
        return self.pos >= len(self.data)

    def take(self, n: int, field_name: str) -> bytes:
        if self.pos + n > len(self.data):
            raise CodecError(f"{self.what}: {field_name} of {n} octets at offset {self.pos} "
                             f"runs past the end ({len(self.data)} octets)")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def u8(self, field_name: str) -> int:
        return self.take(1, field_name)[0]

    def u16(self, field_name: str) -> int:
        return int.from_bytes(self.take(2, field_name), "big")

    def u32(self, field_name: str) -> int:
        return int.from_bytes(self.take(4, field_name), "big")

    def end(self) -> None:
        if not self.done:
            raise CodecError(f"{self.what}: {len(self.data) - self.pos} octets left over "
                             f"at offset {self.pos}")


def _header(r: _Reader) -> tuple[Header, int]:
    version = r.u8("version")
    if version != VERSION:
        raise CodecError(f"MIKEY version {version}, expected {VERSION}")
    data_type = r.u8("data type")
    nxt = r.u8("next payload")
    v_prf = r.u8("V/PRF func")
    csb_id = r.u32("CSB ID")
    cs_count = r.u8("#CS")
    map_type = r.u8("CS ID map type")
    srtp_ids: list[SrtpId] = []
    if map_type == CS_MAP_SRTP_ID:
        for _ in range(cs_count):
            srtp_ids.append(SrtpId(r.u8("policy no"), r.u32("SSRC"), r.u32("ROC")))
    elif map_type != CS_MAP_EMPTY:
        raise CodecError(f"CS ID map type {map_type} is not SRTP-ID (0) or empty (1)")
    header = Header(data_type, csb_id, bool(v_prf & 0x80), v_prf & 0x7F, map_type, cs_count,
                    tuple(srtp_ids))
    return header, nxt


def _timestamp(r: _Reader) -> Timestamp:
    ts_type = r.u8("TS type")
    if ts_type not in _TS_LENGTHS:
        raise CodecError(f"TS type {ts_type} at offset {r.pos - 1} is not defined")
    return Timestamp(ts_type, int.from_bytes(r.take(_TS_LENGTHS[ts_type], "TS value"), "big"))


def _identity(r: _Reader) -> Identity:
    id_type = r.u8("ID type")
    if id_type not in (ID_NAI, ID_URI):
        raise CodecError(f"ID type {id_type} at offset {r.pos - 1} is not NAI or URI")
    return Identity(id_type, r.take(r.u16("ID len"), "ID"))


def _rand(r: _Reader) -> Rand:
    length = r.u8("RAND len")
    if length == 0:
        raise CodecError(f"empty RAND at offset {r.pos - 1}")
    return Rand(r.take(length, "RAND"))


def _kemac(r: _Reader) -> Kemac:
    encr_alg = r.u8("encr alg")
    if encr_alg not in _ENCR_ALGS:
        raise CodecError(f"encryption algorithm {encr_alg} at offset {r.pos - 1}")
    encr_data = r.take(r.u16("encr data len"), "encr data")
    mac_alg = r.u8("MAC alg")
    return Kemac(encr_alg, encr_data, mac_alg, r.take(mac_length(mac_alg), "MAC"))


def _verification(r: _Reader) -> Verification:
    auth_alg = r.u8("auth alg")
    return Verification(auth_alg, r.take(mac_length(auth_alg), "verification data"))


def _security_policy(r: _Reader) -> SecurityPolicy:
    policy_no = r.u8("policy no")
    prot_type = r.u8("prot type")
    block = _Reader(r.take(r.u16("policy param length"), "policy params"), "SP params")
    params = []
    while not block.done:
        param_type = block.u8("type")
        params.append(PolicyParam(param_type, block.take(block.u8("length"), "value")))
    return SecurityPolicy(policy_no, prot_type, tuple(params))


def _general_extension(r: _Reader) -> GeneralExtension:
    ext_type = r.u8("extension type")
    return GeneralExtension(ext_type, r.take(r.u16("extension length"), "extension data"))


_PARSERS: dict[int, Callable[[_Reader], Payload]] = {
    T: _timestamp, ID: _identity, RAND: _rand, KEMAC: _kemac, V: _verification,
    SP: _security_policy, GENERAL_EXT: _general_extension,
}


def decode(data: bytes, *, max_size: int = MAX_MESSAGE_SIZE) -> Message:
    """Parse one MIKEY message; any departure from the grammar is a :class:`CodecError`."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CodecError(f"MIKEY message must be octets, not {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_size:
        raise CodecError(f"MIKEY message of {len(data)} octets exceeds {max_size}")
    r = _Reader(data, "MIKEY message")
    try:
        header, kind = _header(r)
        payloads: list[Payload] = []
        while kind != LAST:
            if len(payloads) >= MAX_PAYLOADS:
                raise CodecError(f"more than {MAX_PAYLOADS} payloads")
            parser = _PARSERS.get(kind)
            if parser is None:
                raise CodecError(f"payload type {kind} at offset {r.pos} is not supported")
            following = r.u8("next payload")
            payloads.append(parser(r))
            kind = following
        r.end()
    except InvalidInput as exc:  # a value check in a payload class: still the wire's fault
        raise CodecError(str(exc)) from None
    return Message(header, tuple(payloads))


# ------------------------------------------------------------------ writing


def _header_octets(h: Header, nxt: int) -> bytes:
    out = bytearray((VERSION, h.data_type, nxt, (0x80 if h.v else 0) | h.prf_func))
    out += h.csb_id.to_bytes(4, "big") + bytes((h.cs_count, h.cs_id_map_type))
    for s in h.srtp_ids:
        out += bytes((s.policy_no,)) + s.ssrc.to_bytes(4, "big") + s.roc.to_bytes(4, "big")
    return bytes(out)


def encode(message: Message) -> bytes:
    """The octets of *message*, each payload's next-payload field filled from the order."""
    kinds = [p.TYPE for p in message.payloads] + [LAST]
    out = bytearray(_header_octets(message.header, kinds[0]))
    for payload, nxt in zip(message.payloads, kinds[1:], strict=True):
        out.append(nxt)
        out += payload.body()
    if len(out) > MAX_MESSAGE_SIZE:
        raise InvalidInput(f"MIKEY message of {len(out)} octets exceeds {MAX_MESSAGE_SIZE}")
    return bytes(out)


def split_mac(data: bytes, message: Message) -> tuple[bytes, bytes]:
    """(covered octets, MAC) of a message whose last payload is KEMAC or V: the MAC is the
    last field and covers everything before it (RFC 3830 §5.2, pre-shared key case)."""
    last = message.payloads[-1] if message.payloads else None
    if not isinstance(last, Kemac | Verification):
        raise CodecError("the last payload is neither KEMAC nor V: no MAC to check")
    n = len(last.mac)
    return data[:len(data) - n], data[len(data) - n:]

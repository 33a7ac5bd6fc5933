"""The security association parameters a NAF sends a UE (seed 002 steps 203, 303, 404,
503, 603; claims 1-6, 15-17; docs/push.md §1-§2), and the MAC that authenticates the NAF.

The seed lists them: the SA identifier (session id, secure id, B-TID, pseudonym or
temporary identity), the NAF identity, the encryption algorithm, the protocol version,
the key-selection policy and, when the NAF has it, the B-TID; under GBA Push the P-TID
stands where the B-TID would. Whether the pushes then go over SyncML or PSK-TLS
(embodiment 4: the constant ``psk-tls``, binary 001, claim 22) and whether a key is
derived from Ks_NAF (steps 103, 606) are parameters too. No specification gives their
octets: the layout is this project's [P] -- a version octet, then tag (1 octet), length
(2 octets), value; unknown or repeated tags, truncation and trailing octets are refused.

Signed form: ``encode(info) || naf_mac(key, encode(info))`` (:mod:`gba.protocols.push_sa`):
the UE reads the parameters first (it needs the NAF_Id and B-TID or GPI to find its key),
then verifies the MAC before it answers anything (steps 204, 304, 406, 604).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from gba.errors import CodecError, InvalidInput
from gba.protocols import push_sa
from gba.protocols.push_sa import IdKind, SaId

VERSION = 1
MAX_INFO = 1024
PSK_TLS = "psk-tls"
PSK_TLS_CODE = 0b001
"""Embodiment 4's binary form of ``psk-tls`` (seed 002 step 503, claim 22)."""
SYNCML = "syncml"


class Tag(IntEnum):
    SA_ID_KIND = 1
    SA_ID = 2
    NAF_ID = 3
    ALGORITHM = 4
    PROTOCOL_VERSION = 5
    KEY_SELECTION = 6
    TID = 7
    KEY_DERIVATION = 8
    SECURITY_PROTOCOL = 9


@dataclass(frozen=True, slots=True)
class SaInfo:
    sa_id: SaId
    naf_id: bytes
    algorithm: str = push_sa.ALGORITHM
    protocol_version: str = "1.0"
    key_selection: str = "btid"
    """``btid`` (the key of the B-TID/P-TID named), ``latest`` (the UE's last bootstrap)
    or ``gpi`` (the GPI that comes with it)."""
    tid: str | None = None
    key_derivation: str | None = None
    """None: the SA key is Ks_NAF; ``hmac-sha256``: derived from it (push_sa.derived_key)."""
    security_protocol: str = SYNCML


_TEXT = (Tag.ALGORITHM, Tag.PROTOCOL_VERSION, Tag.KEY_SELECTION, Tag.TID,
         Tag.KEY_DERIVATION)


def encode(info: SaInfo) -> bytes:
    fields: list[tuple[Tag, bytes]] = [
        (Tag.SA_ID_KIND, info.sa_id.kind.value.encode()),
        (Tag.SA_ID, info.sa_id.value.encode()), (Tag.NAF_ID, info.naf_id),
        (Tag.ALGORITHM, info.algorithm.encode()),
        (Tag.PROTOCOL_VERSION, info.protocol_version.encode()),
        (Tag.KEY_SELECTION, info.key_selection.encode())]
    if info.tid is not None:
        fields.append((Tag.TID, info.tid.encode()))
    if info.key_derivation is not None:
        fields.append((Tag.KEY_DERIVATION, info.key_derivation.encode()))
    if info.security_protocol == PSK_TLS:
        fields.append((Tag.SECURITY_PROTOCOL, bytes((PSK_TLS_CODE,))))
    elif info.security_protocol != SYNCML:
        raise InvalidInput(f"security protocol {info.security_protocol!r} is not known")
    out = bytearray((VERSION,))
    for tag, value in fields:
        if len(value) > 0xFFFF:
            raise InvalidInput(f"SA parameter {tag.name} too long")
        out += bytes((tag,)) + len(value).to_bytes(2, "big") + value
    if len(out) > MAX_INFO:
        raise InvalidInput(f"SA parameters of {len(out)} octets exceed {MAX_INFO}")
    return bytes(out)


def decode(data: bytes) -> SaInfo:
    """The parameters; :class:`CodecError` for anything malformed."""
    if not 1 <= len(data) <= MAX_INFO:
        raise CodecError(f"SA parameters of {len(data)} octets")
    if data[0] != VERSION:
        raise CodecError(f"SA parameters version {data[0]} is not {VERSION}")
    found: dict[Tag, bytes] = {}
    pos = 1
    while pos < len(data):
        if pos + 3 > len(data):
            raise CodecError(f"SA parameter header truncated at offset {pos}")
        try:
            tag = Tag(data[pos])
        except ValueError:
            raise CodecError(f"unknown SA parameter tag {data[pos]} at offset {pos}") from None
        length = int.from_bytes(data[pos + 1:pos + 3], "big")
        end = pos + 3 + length
        if end > len(data):
            raise CodecError(f"SA parameter {tag.name} runs past the end")
        if tag in found:
            raise CodecError(f"SA parameter {tag.name} repeated")
        found[tag] = data[pos + 3:end]
        pos = end
    return _build(found)


def _build(found: dict[Tag, bytes]) -> SaInfo:
    for tag in (Tag.SA_ID_KIND, Tag.SA_ID, Tag.NAF_ID):
        if tag not in found:
            raise CodecError(f"SA parameters lack {tag.name}")
    try:
        text = {t: found[t].decode("utf-8") for t in (*_TEXT, Tag.SA_ID_KIND, Tag.SA_ID)
                if t in found}
        kind = IdKind(text[Tag.SA_ID_KIND])
    except UnicodeDecodeError:
        raise CodecError("SA parameter text is not UTF-8") from None
    except ValueError:
        raise CodecError(f"SA identifier kind {found[Tag.SA_ID_KIND]!r} unknown") from None
    protocol = SYNCML
    if Tag.SECURITY_PROTOCOL in found:
        if found[Tag.SECURITY_PROTOCOL] != bytes((PSK_TLS_CODE,)):
            raise CodecError("unknown security protocol code")
        protocol = PSK_TLS
    if not text[Tag.SA_ID]:
        raise CodecError("empty SA identifier")
    return SaInfo(SaId(kind, text[Tag.SA_ID]), found[Tag.NAF_ID],
                  text.get(Tag.ALGORITHM, push_sa.ALGORITHM),
                  text.get(Tag.PROTOCOL_VERSION, "1.0"), text.get(Tag.KEY_SELECTION, "btid"),
                  text.get(Tag.TID), text.get(Tag.KEY_DERIVATION), protocol)


def sign(info: SaInfo, key: bytes) -> bytes:
    """The parameters with the NAF's MAC under *key* (Ks_NAF) appended."""
    body = encode(info)
    return body + push_sa.naf_mac(key, body)


def read_signed(data: bytes) -> tuple[SaInfo, bytes, bytes]:
    """(parameters, the octets the MAC covers, the MAC), before any key is known."""
    if len(data) <= push_sa.MAC_LEN:
        raise CodecError("signed SA parameters too short")
    body, mac = data[:-push_sa.MAC_LEN], data[-push_sa.MAC_LEN:]
    return decode(body), body, mac


def verify_signed(data: bytes, key: bytes) -> SaInfo:
    """The parameters once the NAF's MAC verifies under *key*; MacFailure otherwise."""
    info, body, mac = read_signed(data)
    push_sa.verify(push_sa.naf_mac(key, body), mac)
    return info

"""GBA Push Info (GPI) and the GPI envelope (TS 33.223 §5.3.5; TS 24.109 Annex J.3.1.2).

What is known from the sources read (docs/push-formats.md):

* The GPI is the octet string the BSF returns in GBA-Push-Info (AVP 417, TS 29.109
  §6.3.1.18: "the GBA-Push-Info as defined in 3GPP TS 33.223"); the NAF treats it as
  opaque and pushes it to the UE over Upa (TS 24.109 Annex A1.3 step 9).
* It carries what the UE needs to run AKA and derive the NAF key: RAND and AUTN, the
  NAF_Id, App_Lbl (UICC-App-Label), GBA_ME or GBA_U (UICC-ME) and a key lifetime; and
  the P-TID the NAF chose, **encrypted** (TS 29.109 §5.5: "included in the encrypted
  'gbaPushInfo' element").
* Over WAP Push the body is a GPI envelope with version = 1, a server-set session
  identifier (also the OMA DM Session ID of the session it triggers) and the GPI
  (TS 24.109 Annex J.2.2).

UNVERIFIED, and this project's design [P] until TS 33.223 §5.3.5 and TS 24.109 J.3.1.2
are read: the octet layout of both, the P-TID cipher, whether a MAC covers the GPI.

[P] GPI layout: one octet GPI version (1), then type-length-value fields, each a 1-octet
tag, a 2-octet big-endian length and the value, in any order, each at most once::

    0x01 P-TID (protected, opaque here)     0x06 UICC-ME: 0x00 GBA_ME, 0x01 GBA_U
    0x02 RAND (16)                          0x07 key lifetime: 8-octet seconds since
    0x03 AUTN (16)                               1970-01-01T00:00:00Z (absolute UTC)
    0x04 App_Lbl (optional)                 0x08 secure id, the SA identifier (optional;
    0x05 NAF_Id (FQDN || 5-octet Ua id)          seed 002 embodiment 2)
                                            0x09 security protocol (optional; 1 octet
                                                 holding a 3-bit code, psk-tls = 0b001,
                                                 seed 002 embodiment 4, claim 22)

Reason: a tag per field lets optional fields be absent without a presence bitmap and lets
a later verified layout be told apart by its version octet. Unknown tags, duplicates,
truncation and trailing octets are refused (:class:`~gba.errors.CodecError`).

[P] P-TID protection (:func:`seal_ptid`, :func:`open_ptid`): AES-128-GCM (NIST SP
800-38D) under HMAC-SHA-256(Ks_(ext)_NAF, "gba-push-ptid")[:16], nonce = RAND[:12], and
as associated data the GPI encoded *without* its P-TID field, so the tag also
authenticates every other field (the "MAC over the GPI" the spec may or may not have).
The UE can open it only after AKA, i.e. once it holds Ks_(ext)_NAF; a key is used for one
RAND only (GBA Push is disposable-Ks, TS 24.109 §4A.1), so the nonce never repeats.

[P] Envelope layout: version (1 octet, = 1, TS 24.109 J.2.2), session identifier (2
octets big-endian: the OMA DM package-0 Session ID field is 16 bits), GPI length (2
octets), GPI; nothing after it.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import IntEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gba.errors import CodecError, InvalidInput, MacFailure

GPI_VERSION = 1
"""[P] The version octet of this project's GPI layout."""
ENVELOPE_VERSION = 1
"""The GPI envelope version (TS 24.109 Annex J.2.2: "the version field set to 1")."""
MEDIA_TYPE = "application/vnd.3gpp.gba.gpi"
"""The WAP Push Content-Type of a GPI envelope (TS 24.109 Annex J.2.2)."""

PSK_TLS = 0b001
"""Security-protocol code of ``psk-tls`` (seed 002 embodiment 4, claim 22)."""

MAX_GPI = 1024
"""[P] The largest GPI accepted, in octets (a GPI fits an SMS, TS 24.109 J.2.2 NOTE 1)."""
MAX_FIELD = 255
"""[P] The largest variable-length field (P-TID, App_Lbl, NAF_Id, secure id)."""
RAND_LEN = AUTN_LEN = 16
UA_ID_LEN = 5
"""The Ua security protocol identifier ending every NAF_Id (TS 33.220 Annex H)."""
TAG_LEN = 16

_TL = struct.Struct(">BH")
_ENVELOPE = struct.Struct(">BHH")
_LIFETIME = struct.Struct(">Q")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PTID_KEY_LABEL = b"gba-push-ptid"


class UiccMe(IntEnum):
    """GBA_ME or GBA_U, the values of UICC-ME (AVP 414, TS 29.109 §6.3.1.15)."""

    GBA_ME = 0
    GBA_U = 1


class Tag(IntEnum):
    """[P] GPI field tags (module docstring)."""

    PTID = 0x01
    RAND = 0x02
    AUTN = 0x03
    APP_LABEL = 0x04
    NAF_ID = 0x05
    UICC_ME = 0x06
    KEY_LIFETIME = 0x07
    SECURE_ID = 0x08
    SECURITY_PROTOCOL = 0x09


_MANDATORY = (Tag.PTID, Tag.RAND, Tag.AUTN, Tag.NAF_ID, Tag.UICC_ME, Tag.KEY_LIFETIME)


@dataclass(frozen=True, slots=True)
class Gpi:
    """One GBA Push Info (TS 33.223 §5.3.5; layout [P], module docstring).

    ``ptid`` holds the P-TID as carried: protected (:func:`seal_ptid`), opaque here.
    """

    ptid: bytes
    rand: bytes
    autn: bytes
    naf_id: bytes
    mode: UiccMe
    key_lifetime: datetime
    """Absolute UTC expiry of the NAF key, whole seconds."""
    app_label: bytes | None = None
    secure_id: bytes | None = None
    security_protocol: int | None = None
    version: int = GPI_VERSION

    def __post_init__(self) -> None:
        if self.version != GPI_VERSION:
            raise InvalidInput(f"GPI version {self.version} != {GPI_VERSION}")
        if len(self.rand) != RAND_LEN or len(self.autn) != AUTN_LEN:
            raise InvalidInput(f"GPI RAND/AUTN lengths {len(self.rand)}/{len(self.autn)} "
                               f"!= {RAND_LEN}/{AUTN_LEN}")
        if not 1 <= len(self.ptid) <= MAX_FIELD:
            raise InvalidInput(f"GPI P-TID length {len(self.ptid)} not in 1..{MAX_FIELD}")
        if not UA_ID_LEN < len(self.naf_id) <= MAX_FIELD:
            raise InvalidInput(f"GPI NAF_Id length {len(self.naf_id)} not in "
                               f"{UA_ID_LEN + 1}..{MAX_FIELD} (FQDN || Ua id)")
        for name, value in (("App_Lbl", self.app_label), ("secure id", self.secure_id)):
            if value is not None and not 1 <= len(value) <= MAX_FIELD:
                raise InvalidInput(f"GPI {name} length {len(value)} not in 1..{MAX_FIELD}")
        if self.security_protocol is not None and not 0 <= self.security_protocol <= 7:
            raise InvalidInput(f"GPI security protocol {self.security_protocol} is not a "
                               "3-bit code")
        if not isinstance(self.mode, UiccMe):
            raise InvalidInput(f"GPI UICC-ME {self.mode!r} is not a UiccMe")
        lifetime = self.key_lifetime
        if lifetime.tzinfo is None or lifetime.utcoffset() != timedelta(0):
            raise InvalidInput("GPI key lifetime must be an aware UTC datetime")
        if lifetime.microsecond or lifetime < _EPOCH:
            raise InvalidInput("GPI key lifetime must be whole seconds after 1970")


def _tlv(tag: Tag, value: bytes) -> bytes:
    return _TL.pack(tag, len(value)) + value


def _fields(gpi: Gpi, *, with_ptid: bool) -> bytes:
    seconds = int((gpi.key_lifetime - _EPOCH).total_seconds())
    parts = [_tlv(Tag.PTID, gpi.ptid)] if with_ptid else []
    parts += [_tlv(Tag.RAND, gpi.rand), _tlv(Tag.AUTN, gpi.autn)]
    if gpi.app_label is not None:
        parts.append(_tlv(Tag.APP_LABEL, gpi.app_label))
    parts += [_tlv(Tag.NAF_ID, gpi.naf_id), _tlv(Tag.UICC_ME, bytes([gpi.mode])),
              _tlv(Tag.KEY_LIFETIME, _LIFETIME.pack(seconds))]
    if gpi.secure_id is not None:
        parts.append(_tlv(Tag.SECURE_ID, gpi.secure_id))
    if gpi.security_protocol is not None:
        parts.append(_tlv(Tag.SECURITY_PROTOCOL, bytes([gpi.security_protocol])))
    return bytes([gpi.version]) + b"".join(parts)


def encode_gpi(gpi: Gpi) -> bytes:
    """The GPI octets ([P] layout, module docstring)."""
    data = _fields(gpi, with_ptid=True)
    if len(data) > MAX_GPI:
        raise InvalidInput(f"GPI of {len(data)} octets exceeds {MAX_GPI}")
    return data


def decode_gpi(data: bytes) -> Gpi:
    """Parse GPI octets; :class:`CodecError` for anything malformed, never another error."""
    if not data:
        raise CodecError("GPI is empty")
    if len(data) > MAX_GPI:
        raise CodecError(f"GPI of {len(data)} octets exceeds {MAX_GPI}")
    if data[0] != GPI_VERSION:
        raise CodecError(f"GPI version {data[0]} unsupported (expected {GPI_VERSION})")
    found: dict[Tag, bytes] = {}
    pos = 1
    while pos < len(data):
        if len(data) - pos < _TL.size:
            raise CodecError(f"GPI field header truncated at offset {pos}")
        raw_tag, length = _TL.unpack_from(data, pos)
        try:
            tag = Tag(raw_tag)
        except ValueError:
            raise CodecError(f"GPI unknown tag 0x{raw_tag:02x} at offset {pos}") from None
        if tag in found:
            raise CodecError(f"GPI tag 0x{raw_tag:02x} repeated at offset {pos}")
        start = pos + _TL.size
        if start + length > len(data):
            raise CodecError(f"GPI tag 0x{raw_tag:02x} length {length} overruns the GPI "
                             f"at offset {pos}")
        found[tag] = data[start:start + length]
        pos = start + length
    missing = [t.name for t in _MANDATORY if t not in found]
    if missing:
        raise CodecError(f"GPI lacks {', '.join(missing)}")
    return _build(found)


def _one_octet(found: dict[Tag, bytes], tag: Tag) -> int | None:
    value = found.get(tag)
    if value is None:
        return None
    if len(value) != 1:
        raise CodecError(f"GPI {tag.name} length {len(value)} != 1")
    return value[0]


def _build(found: dict[Tag, bytes]) -> Gpi:
    mode = _one_octet(found, Tag.UICC_ME)
    if mode not in (UiccMe.GBA_ME, UiccMe.GBA_U):
        raise CodecError(f"GPI UICC-ME {mode} is neither GBA_ME (0) nor GBA_U (1)")
    lifetime = found[Tag.KEY_LIFETIME]
    if len(lifetime) != _LIFETIME.size:
        raise CodecError(f"GPI key lifetime length {len(lifetime)} != {_LIFETIME.size}")
    try:
        expiry = _EPOCH + timedelta(seconds=_LIFETIME.unpack(lifetime)[0])
        return Gpi(ptid=found[Tag.PTID], rand=found[Tag.RAND], autn=found[Tag.AUTN],
                   naf_id=found[Tag.NAF_ID], mode=UiccMe(mode), key_lifetime=expiry,
                   app_label=found.get(Tag.APP_LABEL), secure_id=found.get(Tag.SECURE_ID),
                   security_protocol=_one_octet(found, Tag.SECURITY_PROTOCOL))
    except OverflowError:
        raise CodecError("GPI key lifetime beyond year 9999") from None
    except InvalidInput as exc:
        raise CodecError(str(exc)) from None


def _ptid_key(naf_key: bytes) -> bytes:
    if len(naf_key) < 16:
        raise InvalidInput(f"NAF key of {len(naf_key)} octets is too short")
    return hmac.new(naf_key, _PTID_KEY_LABEL, hashlib.sha256).digest()[:16]


def seal_ptid(gpi: Gpi, ptid: bytes, naf_key: bytes) -> Gpi:
    """*gpi* carrying *ptid* encrypted under Ks_(ext)_NAF ([P], module docstring); the
    BSF's step before it returns GBA-Push-Info (TS 29.109 §5.5 "encrypted")."""
    if not 1 <= len(ptid) <= MAX_FIELD - TAG_LEN:
        raise InvalidInput(f"P-TID length {len(ptid)} not in 1..{MAX_FIELD - TAG_LEN}")
    sealed = AESGCM(_ptid_key(naf_key)).encrypt(
        gpi.rand[:12], ptid, _fields(gpi, with_ptid=False))
    return replace(gpi, ptid=sealed)


def open_ptid(gpi: Gpi, naf_key: bytes) -> bytes:
    """The P-TID of a received *gpi*, once the UE holds Ks_(ext)_NAF;
    :class:`~gba.errors.MacFailure` if the P-TID or any other GPI field was altered."""
    try:
        return AESGCM(_ptid_key(naf_key)).decrypt(
            gpi.rand[:12], gpi.ptid, _fields(gpi, with_ptid=False))
    except InvalidTag:
        raise MacFailure("GPI P-TID does not verify under this NAF key") from None


@dataclass(frozen=True, slots=True)
class GpiEnvelope:
    """The WAP Push body carrying a GPI (TS 24.109 Annex J.2.2; layout [P])."""

    session_id: int
    """Set by the Push-NAF, different per GBA Push session; the OMA DM Session ID."""
    gpi: bytes = field(repr=False)
    version: int = ENVELOPE_VERSION

    def __post_init__(self) -> None:
        if self.version != ENVELOPE_VERSION:
            raise InvalidInput(f"GPI envelope version {self.version} != {ENVELOPE_VERSION}")
        if not 0 <= self.session_id <= 0xFFFF:
            raise InvalidInput(f"GPI envelope session id {self.session_id} not 16-bit")
        if not 1 <= len(self.gpi) <= MAX_GPI:
            raise InvalidInput(f"GPI envelope GPI length {len(self.gpi)} not in 1..{MAX_GPI}")


def encode_envelope(envelope: GpiEnvelope) -> bytes:
    """The envelope octets: version, session id, GPI length, GPI ([P])."""
    return _ENVELOPE.pack(envelope.version, envelope.session_id,
                          len(envelope.gpi)) + envelope.gpi


def decode_envelope(data: bytes) -> GpiEnvelope:
    """Parse an envelope; the GPI inside stays octets (:func:`decode_gpi` reads it)."""
    if len(data) < _ENVELOPE.size:
        raise CodecError(f"GPI envelope of {len(data)} octets is shorter than its "
                         f"{_ENVELOPE.size}-octet header")
    version, session, length = _ENVELOPE.unpack_from(data)
    if version != ENVELOPE_VERSION:
        raise CodecError(f"GPI envelope version {version} unsupported")
    body = data[_ENVELOPE.size:]
    if len(body) != length:
        raise CodecError(f"GPI envelope says {length} GPI octets, carries {len(body)}")
    if not 1 <= length <= MAX_GPI:
        raise CodecError(f"GPI envelope GPI length {length} not in 1..{MAX_GPI}")
    return GpiEnvelope(session_id=session, gpi=body, version=version)

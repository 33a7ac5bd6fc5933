"""OMA DM 1.2 notification, package 0 ("General Notification Initiated Session Alert"),
and three project-defined ways [P] to carry a GBA Push Info (GPI, TS 33.223) in it.

Wire format (big-endian; VERIFIED from two implementations, see
``/work/shared/research/gba-push.md`` §2: ``intel/libdmclient:dmcore/src/package0.c``
``decode_package_0``/``validate_package_0``, and Synthesis AG ``san.cpp``)::

    off 0   digest            16 octets, MD5
    off 16  64-bit word       version 10 | ui-mode 2 | initiator 1 | future use 27
                              | session id 16 | server-id length 8
    off 24  server id         <length> octets, not NUL-terminated
    then    vendor-specific body (DM)

libsynthesis packs the word with the bit offsets (0,10) (10,2) (12,1) (13,27) (40,16)
and then the length octet; the masks below are the same fields.

* ``version`` is 10*major+minor: libsynthesis writes 12 and accepts 10..12 (we do the
  same); libdmclient accepts only 11 (interop risk). That DM_Notification-V1_2 itself
  says 12 is UNVERIFIED.
* ui-mode 0 not specified, 1 background, 2 informative, 3 user interaction; initiator
  0 client, 1 server (libsynthesis, and the Samsung DM client's ``IDM_NOTI_*``).
* ``session id`` is read big-endian (libsynthesis; libdmclient's ``ntohs`` after the
  shift looks like a byte-order bug).
* Digest (libsynthesis ``CreateDigest``, libdmclient ``validate_package_0``)::

      digest = MD5( B64(MD5(server-id ":" password)) ":" nonce ":" B64(MD5(trigger)) )

  with trigger = every octet after the digest. libdmclient uses the account's server
  credentials (``toClientCred``) and, if the check fails, retries with the literal
  nonce ``"0x00000000"`` (:data:`ZERO_NONCE`). Whether libdmclient joins the parts
  with ":" is UNVERIFIED (its helpers were not read); we follow libsynthesis.

GBA Push Info placements [P]: no specification defines how a GPI rides in package 0
(TS 24.109 Annex J links GPI delivery to a DM session only through the session id), so
the three placements are this project's design. The GPI is opaque octets here. The 27
future-use bits (bit 26 is the most significant) signal two of them::

    bit 26      F: GPI follows the server id              (placement "future-use")
    bit 25      D: GPI appended, digest field is a MAC     (placement "digest")
    bits 24..16 reserved, zero
    bits 15..0  GPI length in octets (non-zero when F or D is set, zero otherwise)

* ``"digest"``: the GPI rides with the digest field, which no longer holds the MD5
  digest (the UE cannot know the DM server password yet) but the first 16 octets of
  HMAC-SHA-256(Ks_NAF, :data:`GPI_MAC_LABEL` || trigger). The GPI is appended after the
  vendor body, its length in the low 16 future bits; the trigger covers it. The UE
  extracts the GPI, runs the GBA Push procedure to obtain Ks_(ext)_NAF, and only then
  authenticates package 0 with :func:`verify_gpi_mac`: the GPI-derived key
  authenticates the notification that delivered it.
* ``"future-use"``: flag F plus the length; the GPI sits between the server id and
  the vendor body; the ordinary MD5 digest covers it.
* ``"trigger"``: future bits stay zero (a legacy parser sees a normal package 0); the
  vendor body starts with a TLV ``"3GPI"`` (4 octets) | length (2 octets) | GPI,
  followed by the rest of the vendor body. A vendor body that starts with the tag is
  therefore reserved for this use. The ordinary MD5 digest covers it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, replace
from typing import Literal

from gba.errors import CodecError, InvalidInput

DIGEST_LEN = 16
HEADER_LEN = DIGEST_LEN + 8
MAX_PKG0 = 4096
"""Nothing larger is read: a package 0 travels in one or a few SMS (WAP push)."""
MAX_GPI = 2048
VERSIONS = frozenset({10, 11, 12})
ZERO_NONCE = b"0x00000000"
"""libdmclient's fallback nonce when the check with the stored nonce fails."""

UI_NOT_SPECIFIED, UI_BACKGROUND, UI_INFORMATIVE, UI_USER_INTERACTION = 0, 1, 2, 3
INITIATOR_CLIENT, INITIATOR_SERVER = 0, 1

_VERSION_SHIFT, _UI_SHIFT, _INIT_SHIFT, _FUTURE_SHIFT, _SESSION_SHIFT = 54, 52, 51, 24, 8
FUTURE_MASK = (1 << 27) - 1

Placement = Literal["digest", "future-use", "trigger"]
PLACEMENTS: tuple[Placement, ...] = ("digest", "future-use", "trigger")
FLAG_GPI_AFTER_SERVER_ID = 1 << 26
"""Future-use bit F [P]: the GPI follows the server id (placement "future-use")."""
FLAG_GPI_MAC = 1 << 25
"""Future-use bit D [P]: GPI appended, digest field is a Ks_NAF MAC (placement "digest")."""
_GPI_LEN_MASK = 0xFFFF
_RESERVED_MASK = FUTURE_MASK & ~(FLAG_GPI_AFTER_SERVER_ID | FLAG_GPI_MAC | _GPI_LEN_MASK)
TRIGGER_GPI_TAG = b"3GPI"
"""Tag [P] of the GPI TLV at the start of the vendor body (placement "trigger")."""
GPI_MAC_LABEL = b"gba-push-omadm-pkg0"
"""Domain separation [P] for the Ks_NAF MAC of placement "digest"."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Pkg0:
    """One package 0. ``digest`` is the 16-octet field as on the wire (the MD5 digest,
    or the Ks_NAF MAC for placement "digest"); :func:`encode` recomputes it."""

    version: int = 12
    ui_mode: int
    initiator: int
    session_id: int
    server_id: str
    future_use: int = 0
    vendor: bytes = b""
    digest: bytes = bytes(DIGEST_LEN)


def _md5(data: bytes) -> bytes:
    return hashlib.md5(data, usedforsecurity=False).digest()


def _secret(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def compute_digest(server_id: str, password: bytes | str, nonce: bytes, trigger: bytes) -> bytes:
    """MD5(B64(MD5(server-id:password)):nonce:B64(MD5(trigger))) (libsynthesis CreateDigest)."""
    cred = base64.b64encode(_md5(server_id.encode() + b":" + _secret(password)))
    return _md5(cred + b":" + nonce + b":" + base64.b64encode(_md5(trigger)))


def _check_fields(p: Pkg0) -> bytes:
    for name, value, bits in (("version", p.version, 10), ("ui_mode", p.ui_mode, 2),
                              ("initiator", p.initiator, 1), ("session_id", p.session_id, 16),
                              ("future_use", p.future_use, 27)):
        if not 0 <= value < 1 << bits:
            raise InvalidInput(f"pkg0 {name} {value} does not fit {bits} bits")
    if p.version not in VERSIONS:
        raise InvalidInput(f"pkg0 version {p.version} not in {sorted(VERSIONS)}")
    try:
        sid = p.server_id.encode()
    except UnicodeEncodeError:
        raise InvalidInput("pkg0 server id is not encodable as UTF-8") from None
    if len(sid) > 0xFF:
        raise InvalidInput(f"pkg0 server id is {len(sid)} octets, at most 255")
    if len(p.digest) != DIGEST_LEN:
        raise InvalidInput(f"pkg0 digest is {len(p.digest)} octets, expected {DIGEST_LEN}")
    return sid


def _word(p: Pkg0, sid_len: int) -> bytes:
    word = (p.version << _VERSION_SHIFT | p.ui_mode << _UI_SHIFT | p.initiator << _INIT_SHIFT
            | p.future_use << _FUTURE_SHIFT | p.session_id << _SESSION_SHIFT | sid_len)
    return word.to_bytes(8, "big")


def _trigger(p: Pkg0, middle: bytes = b"", tail: bytes = b"") -> bytes:
    sid = _check_fields(p)
    trigger = _word(p, len(sid)) + sid + middle + p.vendor + tail
    if DIGEST_LEN + len(trigger) > MAX_PKG0:
        raise InvalidInput(f"pkg0 of {DIGEST_LEN + len(trigger)} octets exceeds {MAX_PKG0}")
    return trigger


def encode(pkg0: Pkg0, server_password: bytes | str, nonce: bytes) -> bytes:
    """The package 0 octets, its digest computed from *server_password* and *nonce*
    (``pkg0.digest`` is ignored)."""
    trigger = _trigger(pkg0)
    return compute_digest(pkg0.server_id, server_password, nonce, trigger) + trigger


def _parse(data: bytes, allow_future_bits: bool) -> tuple[Pkg0, int]:
    """The package and the offset where the server id ends."""
    if len(data) > MAX_PKG0:
        raise CodecError(f"pkg0: {len(data)} octets exceeds {MAX_PKG0}")
    if len(data) < HEADER_LEN:
        raise CodecError(f"pkg0: {len(data)} octets < {HEADER_LEN} (digest + header)")
    word = int.from_bytes(data[DIGEST_LEN:HEADER_LEN], "big")
    version = word >> _VERSION_SHIFT
    if version not in VERSIONS:
        raise CodecError(f"pkg0: version {version} at offset 16 not in {sorted(VERSIONS)}")
    future = word >> _FUTURE_SHIFT & FUTURE_MASK
    if future and not allow_future_bits:
        raise CodecError(f"pkg0: future-use bits {future:#09x} at bit 13 are not zero")
    sid_len = word & 0xFF
    end = HEADER_LEN + sid_len
    if end > len(data):
        raise CodecError(f"pkg0: server id length {sid_len} at offset 23 runs past "
                         f"{len(data)} octets")
    try:
        server_id = data[HEADER_LEN:end].decode()
    except UnicodeDecodeError:
        raise CodecError(f"pkg0: server id at offset {HEADER_LEN} is not UTF-8") from None
    pkg = Pkg0(version=version, ui_mode=word >> _UI_SHIFT & 3, initiator=word >> _INIT_SHIFT & 1,
               session_id=word >> _SESSION_SHIFT & 0xFFFF, server_id=server_id,
               future_use=future, vendor=bytes(data[end:]), digest=bytes(data[:DIGEST_LEN]))
    return pkg, end


def decode(data: bytes, *, allow_future_bits: bool = False) -> Pkg0:
    """Parse a package 0; future-use bits must be zero unless *allow_future_bits*."""
    return _parse(data, allow_future_bits)[0]


def verify_digest(pkg0_bytes: bytes, server_id: str, password: bytes | str, nonce: bytes,
                  *, retry_zero_nonce: bool = False) -> bool:
    """Whether the digest of *pkg0_bytes* is right for the configured *server_id* and
    *password* with *nonce*; with *retry_zero_nonce*, also accept libdmclient's fallback
    nonce ``"0x00000000"``. Malformed octets are a CodecError."""
    _parse(pkg0_bytes, allow_future_bits=True)
    got, trigger = pkg0_bytes[:DIGEST_LEN], pkg0_bytes[DIGEST_LEN:]
    nonces = (nonce, ZERO_NONCE) if retry_zero_nonce else (nonce,)
    ok = False
    for n in nonces:  # no early exit: both comparisons run
        ok |= hmac.compare_digest(compute_digest(server_id, password, n, trigger), got)
    return ok


def gpi_mac(ks_naf: bytes, trigger: bytes) -> bytes:
    """The digest field of placement "digest" [P]: HMAC-SHA-256 truncated to 16 octets."""
    return hmac.new(ks_naf, GPI_MAC_LABEL + trigger, hashlib.sha256).digest()[:DIGEST_LEN]


def encode_with_gpi(pkg0: Pkg0, gpi: bytes, placement: Placement, *,
                    server_password: bytes | str | None = None, nonce: bytes = b"",
                    ks_naf: bytes | None = None) -> bytes:
    """Package 0 carrying *gpi* in *placement* (designs in the module docstring).

    Placement "digest" needs *ks_naf* (the Ks_(ext)_NAF the GPI lets the UE derive);
    the others need *server_password* and *nonce* for the ordinary digest.
    ``pkg0.future_use`` must be zero: the placements own those bits.
    """
    if pkg0.future_use:
        raise InvalidInput("pkg0 future_use must be zero when a GPI placement is chosen")
    if not 0 < len(gpi) <= MAX_GPI:
        raise InvalidInput(f"GPI of {len(gpi)} octets not in 1..{MAX_GPI}")
    if placement == "digest":
        if ks_naf is None:
            raise InvalidInput('placement "digest" needs ks_naf')
        trigger = _trigger(replace(pkg0, future_use=FLAG_GPI_MAC | len(gpi)), tail=gpi)
        return gpi_mac(ks_naf, trigger) + trigger
    if server_password is None:
        raise InvalidInput(f"placement {placement!r} needs server_password")
    if placement == "future-use":
        trigger = _trigger(replace(pkg0, future_use=FLAG_GPI_AFTER_SERVER_ID | len(gpi)),
                           middle=gpi)
    elif placement == "trigger":
        trigger = _trigger(pkg0, middle=TRIGGER_GPI_TAG + len(gpi).to_bytes(2, "big") + gpi)
    else:
        raise InvalidInput(f"unknown GPI placement {placement!r}, expected one of {PLACEMENTS}")
    return compute_digest(pkg0.server_id, server_password, nonce, trigger) + trigger


def extract_gpi(data: bytes) -> tuple[Pkg0, bytes | None, Placement | None]:
    """The package (future bits cleared, GPI removed from the vendor body, digest field
    as on the wire), the GPI and its placement; ``(pkg0, None, None)`` for a package 0
    without one. A package whose signalling is inconsistent is a CodecError."""
    pkg, end = _parse(data, allow_future_bits=True)
    future, body = pkg.future_use, pkg.vendor
    if future & _RESERVED_MASK:
        raise CodecError(f"pkg0: reserved future-use bits set ({future:#09x})")
    flags, length = future & (FLAG_GPI_AFTER_SERVER_ID | FLAG_GPI_MAC), future & _GPI_LEN_MASK
    if flags == FLAG_GPI_AFTER_SERVER_ID | FLAG_GPI_MAC:
        raise CodecError("pkg0: both GPI placement flags are set")
    if bool(flags) != bool(length):
        raise CodecError(f"pkg0: GPI length {length} does not match flags {flags >> 25:#x}")
    if length > len(body):
        raise CodecError(f"pkg0: GPI length {length} runs past the {len(body)} octets after "
                         f"the server id at offset {end}")
    if flags == FLAG_GPI_AFTER_SERVER_ID:
        return replace(pkg, future_use=0, vendor=body[length:]), body[:length], "future-use"
    if flags == FLAG_GPI_MAC:
        cut = len(body) - length
        return replace(pkg, future_use=0, vendor=body[:cut]), body[cut:], "digest"
    if body.startswith(TRIGGER_GPI_TAG):
        head = len(TRIGGER_GPI_TAG) + 2
        if len(body) < head:
            raise CodecError(f"pkg0: GPI TLV at offset {end} truncated in its length")
        length = int.from_bytes(body[len(TRIGGER_GPI_TAG):head], "big")
        if not 0 < length <= len(body) - head:
            raise CodecError(f"pkg0: GPI TLV length {length} at offset {end + 4} not in "
                             f"1..{len(body) - head}")
        return replace(pkg, vendor=body[head + length:]), body[head:head + length], "trigger"
    return pkg, None, None


def verify_gpi_mac(pkg0_bytes: bytes, ks_naf: bytes) -> bool:
    """Whether a placement-"digest" package 0 is authentic under *ks_naf* (to be called
    once the GBA Push run on its GPI has produced the key)."""
    _parse(pkg0_bytes, allow_future_bits=True)
    return hmac.compare_digest(gpi_mac(ks_naf, pkg0_bytes[DIGEST_LEN:]),
                               pkg0_bytes[:DIGEST_LEN])

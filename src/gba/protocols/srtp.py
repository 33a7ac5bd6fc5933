"""SRTP (RFC 3711) for the MBMS streaming content a BM-SC encrypts under an MTK
(TS 33.246 streaming delivery; docs/roaming.md §4 item 3).

The crypto suites AES_CM_128_HMAC_SHA1_80 and AES_CM_128_HMAC_SHA1_32 (RFC 4568 §6.2.1):
the AES-CM PRF key derivation with key_derivation_rate 0 (RFC 3711 §4.3.1-§4.3.3),
AES-CM encryption (§4.1.1), HMAC-SHA1 over the authenticated portion and the ROC (§4.2),
an optional MKI of a fixed length per context (§3.1), index estimation (§3.3.1, Appendix A)
and a replay window of 64 packets (§3.3.2). A minimal RTP codec (RFC 3550 §5.1) sits
beside it. :class:`SrtpSender` and :class:`SrtpReceiver` each hold the state of one
cryptographic context: one entry per SSRC (§3.2.3), created on a stream's first packet.
The receiver creates it only once that packet has authenticated.

Nothing here does I/O or reads a clock. SRTCP is not implemented.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from hashlib import sha1

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gba.errors import AuthError, CodecError, InvalidInput, MacFailure

RTP_VERSION = 2
RTP_FIXED_HEADER = 12
WINDOW_SIZE = 64
LABEL_ENCRYPTION = 0x00
LABEL_AUTHENTICATION = 0x01
LABEL_SALT = 0x02

_U32 = 0xFFFFFFFF
_WINDOW_MASK = (1 << WINDOW_SIZE) - 1


class MalformedPacket(CodecError):
    """An RTP or SRTP packet that breaks RFC 3550 §5.1 or RFC 3711 §3.1."""


class ReplayedPacket(AuthError):
    """A packet index already received, or behind the replay window (RFC 3711 §3.3.2)."""


class UnknownKey(AuthError):
    """The MKI of a packet names no master key of the context (RFC 3711 §3.3 step 2)."""


# ------------------------------------------------------------------ RTP (RFC 3550 §5.1)


@dataclass(frozen=True, slots=True)
class RtpExtension:
    """The header extension (RFC 3550 §5.3.1): 16 bits defined by profile, then data in
    32-bit words."""

    profile: int
    data: bytes = b""

    def __post_init__(self) -> None:
        _require_range("extension profile", self.profile, 0xFFFF)
        if len(self.data) % 4 or len(self.data) > 4 * 0xFFFF:
            raise InvalidInput(f"extension data of {len(self.data)} octets: "
                               "not a multiple of 4 up to 262140")


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """An RTP data packet (RFC 3550 §5.1). ``padding`` is the number of padding octets
    (the last one holds the count), 0 when the P bit is clear; padding octets other than
    the count are encoded as zero."""

    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extension: RtpExtension | None = None
    padding: int = 0

    def __post_init__(self) -> None:
        _require_range("payload type", self.payload_type, 0x7F)
        _require_range("sequence number", self.sequence_number, 0xFFFF)
        _require_range("timestamp", self.timestamp, _U32)
        _require_range("SSRC", self.ssrc, _U32)
        _require_range("padding", self.padding, 0xFF)
        if len(self.csrcs) > 15:
            raise InvalidInput(f"{len(self.csrcs)} CSRCs, at most 15")
        for csrc in self.csrcs:
            _require_range("CSRC", csrc, _U32)

    def encode(self) -> bytes:
        """The packet on the wire (RFC 3550 §5.1)."""
        ext = self.extension
        out = bytearray((
            RTP_VERSION << 6 | (self.padding > 0) << 5 | (ext is not None) << 4
            | len(self.csrcs),
            self.marker << 7 | self.payload_type))
        out += self.sequence_number.to_bytes(2, "big")
        out += self.timestamp.to_bytes(4, "big") + self.ssrc.to_bytes(4, "big")
        for csrc in self.csrcs:
            out += csrc.to_bytes(4, "big")
        if ext is not None:
            out += ext.profile.to_bytes(2, "big") + (len(ext.data) // 4).to_bytes(2, "big")
            out += ext.data
        out += self.payload
        if self.padding:
            out += bytes(self.padding - 1) + bytes((self.padding,))
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> RtpPacket:
        """Parse an RTP packet; :class:`MalformedPacket` says which field is wrong where."""
        header = _parse_header(data, len(data))
        end = len(data)
        padding = 0
        if data[0] & 0x20:
            if end == header.length:
                raise MalformedPacket(f"P bit set but no octet after the {end}-octet header")
            padding = data[-1]
            if padding == 0 or padding > end - header.length:
                raise MalformedPacket(f"padding count {padding} at offset {end - 1} outside "
                                      f"the {end - header.length} octets after the header")
        cc = data[0] & 0x0F
        csrcs = tuple(int.from_bytes(data[12 + 4 * k:16 + 4 * k], "big") for k in range(cc))
        extension = None
        if data[0] & 0x10:
            at = 12 + 4 * cc
            extension = RtpExtension(int.from_bytes(data[at:at + 2], "big"),
                                     bytes(data[at + 4:header.length]))
        return cls(payload_type=data[1] & 0x7F, sequence_number=header.seq,
                   timestamp=int.from_bytes(data[4:8], "big"), ssrc=header.ssrc,
                   payload=bytes(data[header.length:end - padding]),
                   marker=bool(data[1] & 0x80), csrcs=csrcs, extension=extension,
                   padding=padding)


@dataclass(frozen=True, slots=True)
class _Header:
    seq: int
    ssrc: int
    length: int


def _parse_header(data: bytes, end: int) -> _Header:
    """Sequence number, SSRC and length of the RTP header at the start of ``data[:end]``
    (RFC 3550 §5.1, §5.3.1), with every length checked against *end*."""
    if end < RTP_FIXED_HEADER:
        raise MalformedPacket(f"RTP header needs {RTP_FIXED_HEADER} octets, {max(end, 0)} "
                              "available")
    first = data[0]
    if first >> 6 != RTP_VERSION:
        raise MalformedPacket(f"RTP version {first >> 6} at offset 0, expected {RTP_VERSION}")
    length = RTP_FIXED_HEADER + 4 * (first & 0x0F)
    if length > end:
        raise MalformedPacket(f"CSRC count {first & 0x0F} needs {length} octets, {end} "
                              "available")
    if first & 0x10:
        if length + 4 > end:
            raise MalformedPacket(f"header extension at offset {length} needs 4 octets, "
                                  f"{end - length} available")
        words = int.from_bytes(data[length + 2:length + 4], "big")
        length += 4 + 4 * words
        if length > end:
            raise MalformedPacket(f"header extension of {words} words ends at offset "
                                  f"{length}, {end} available")
    return _Header(int.from_bytes(data[2:4], "big"), int.from_bytes(data[8:12], "big"), length)


def _require_range(name: str, value: int, high: int) -> None:
    if not 0 <= value <= high:
        raise InvalidInput(f"{name} {value} outside 0..{high}")


# ------------------------------------------------------------------ keys (RFC 3711 §4.3)


@dataclass(frozen=True, slots=True)
class CryptoSuite:
    """Lengths in octets of an AES-CM/HMAC-SHA1 suite (RFC 3711 §8.2 defaults; the
    names and the 32-bit tag variant are RFC 4568 §6.2.1)."""

    name: str
    master_key_length: int
    master_salt_length: int
    auth_key_length: int
    tag_length: int


AES_CM_128_HMAC_SHA1_80 = CryptoSuite("AES_CM_128_HMAC_SHA1_80", 16, 14, 20, 10)
AES_CM_128_HMAC_SHA1_32 = CryptoSuite("AES_CM_128_HMAC_SHA1_32", 16, 14, 20, 4)


@dataclass(frozen=True, slots=True)
class MasterKey:
    """A master key and master salt (RFC 3711 §3.2.1; for MBMS the MTK and the salt
    delivered with it) and the MKI that names them in packets (§3.1), empty for none."""

    key: bytes = field(repr=False)
    salt: bytes = field(repr=False)
    mki: bytes = b""


@dataclass(frozen=True, slots=True)
class SessionKeys:
    """k_e, k_a and k_s derived from a master key (RFC 3711 §4.3.1)."""

    encryption: bytes = field(repr=False)
    authentication: bytes = field(repr=False)
    salt: bytes = field(repr=False)


def kdf_input(master_salt: bytes, label: int) -> bytes:
    """x = key_id XOR master_salt, key_id = label || r right-aligned, where
    r = index DIV key_derivation_rate is 48 zero bits for a rate of 0 (RFC 3711 §4.3.1)."""
    _require_range("label", label, 0xFF)
    x = int.from_bytes(master_salt, "big") ^ (label << 48)
    return x.to_bytes(len(master_salt), "big")


def derive(master_key: bytes, master_salt: bytes, label: int, length: int) -> bytes:
    """PRF_n(k_master, x): the AES-CM keystream under the master key with IV = x * 2^16,
    truncated to *length* octets (RFC 3711 §4.3.3)."""
    if len(master_key) != 16 or len(master_salt) != 14:
        raise InvalidInput(f"master key of {len(master_key)} and salt of {len(master_salt)} "
                           "octets, expected 16 and 14")
    return _aes_ctr(algorithms.AES(master_key), kdf_input(master_salt, label) + bytes(2),
                    bytes(length))


def session_keys(master: MasterKey, suite: CryptoSuite = AES_CM_128_HMAC_SHA1_80
                 ) -> SessionKeys:
    """The session keys for labels 0x00, 0x01 and 0x02 (RFC 3711 §4.3.1, §4.3.2); with a
    key_derivation_rate of 0 they are derived once for the master key's lifetime."""
    if len(master.key) != suite.master_key_length:
        raise InvalidInput(f"master key of {len(master.key)} octets, {suite.name} needs "
                           f"{suite.master_key_length}")
    if len(master.salt) != suite.master_salt_length:
        raise InvalidInput(f"master salt of {len(master.salt)} octets, {suite.name} needs "
                           f"{suite.master_salt_length}")
    return SessionKeys(
        derive(master.key, master.salt, LABEL_ENCRYPTION, suite.master_key_length),
        derive(master.key, master.salt, LABEL_AUTHENTICATION, suite.auth_key_length),
        derive(master.key, master.salt, LABEL_SALT, suite.master_salt_length))


def aes_cm_iv(session_salt: bytes, ssrc: int, index: int) -> bytes:
    """IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16) (RFC 3711 §4.1.1)."""
    iv = (int.from_bytes(session_salt, "big") << 16) ^ (ssrc << 64) ^ (index << 16)
    return iv.to_bytes(16, "big")


def keystream(session_key: bytes, session_salt: bytes, ssrc: int, index: int,
              length: int) -> bytes:
    """The first *length* octets of the AES-CM keystream of packet *index* of *ssrc*
    (RFC 3711 §4.1.1)."""
    return _aes_ctr(algorithms.AES(session_key), aes_cm_iv(session_salt, ssrc, index),
                    bytes(length))


def _aes_ctr(key: algorithms.AES, iv: bytes, data: bytes) -> bytes:
    enc = Cipher(key, modes.CTR(iv)).encryptor()
    return enc.update(data) + enc.finalize()


class _Keys:
    """The session keys of one master key, ready for use."""

    __slots__ = ("_aes", "_mac", "_salt")

    def __init__(self, master: MasterKey, suite: CryptoSuite) -> None:
        keys = session_keys(master, suite)
        self._aes = algorithms.AES(keys.encryption)
        self._salt = keys.salt
        self._mac = hmac.new(keys.authentication, digestmod=sha1)

    def crypt(self, ssrc: int, index: int, data: bytes) -> bytes:
        """Encrypt or decrypt the encrypted portion (RFC 3711 §4.1.1)."""
        return _aes_ctr(self._aes, aes_cm_iv(self._salt, ssrc, index), data)

    def tag(self, authenticated: bytes, roc: int, length: int) -> bytes:
        """HMAC-SHA1(k_a, authenticated portion || ROC), leftmost *length* octets
        (RFC 3711 §4.2, §4.2.1)."""
        mac = self._mac.copy()
        mac.update(authenticated)
        mac.update(roc.to_bytes(4, "big"))
        return mac.digest()[:length]


# ------------------------------------------------------------------ index and replay


@dataclass(slots=True)
class _Stream:
    """Per-SSRC state: the highest index seen (its ROC and s_l, RFC 3711 §3.3.1) and a
    bitmap of the indices at and below it (§3.3.2; bit k: index highest - k)."""

    highest: int
    window: int = 1

    @property
    def roc(self) -> int:
        return self.highest >> 16

    def estimate(self, seq: int) -> int:
        """The index of a packet with sequence number *seq* (RFC 3711 Appendix A). At ROC
        0 there is no earlier roll-over, so v stays 0 instead of wrapping to 2^32 - 1."""
        roc, s_l = self.highest >> 16, self.highest & 0xFFFF
        v = roc
        if s_l < 0x8000:
            if seq - s_l > 0x8000 and roc > 0:
                v = roc - 1
        elif s_l - 0x8000 > seq:
            v = (roc + 1) & _U32
        return v << 16 | seq

    def refusal(self, index: int) -> str | None:
        """Why *index* may not be used again, or None (RFC 3711 §3.3.2)."""
        delta = self.highest - index
        if delta < 0:
            return None
        if delta >= WINDOW_SIZE:
            return f"index {index} is behind the replay window ({self.highest} - 63)"
        if self.window >> delta & 1:
            return f"index {index} was seen before"
        return None

    def accept(self, index: int) -> None:
        delta = index - self.highest
        if delta > 0:
            self.window = (self.window << delta | 1) & _WINDOW_MASK if delta < WINDOW_SIZE else 1
            self.highest = index
        else:
            self.window |= 1 << -delta


class _Context:
    """What sender and receiver share: suite, master keys by MKI, streams by SSRC."""

    def __init__(self, keys: Iterable[MasterKey], suite: CryptoSuite, roc: int) -> None:
        _require_range("initial ROC", roc, _U32)
        self.suite = suite
        self._roc = roc
        self._keys: dict[bytes, _Keys] = {}
        self._mki_length: int | None = None
        self._streams: dict[int, _Stream] = {}
        for key in keys:
            self._add(key)
        if self._mki_length is None:
            raise InvalidInput("an SRTP context needs a master key")

    def _add(self, master: MasterKey) -> None:
        if self._mki_length is not None and len(master.mki) != self._mki_length:
            raise InvalidInput(f"MKI of {len(master.mki)} octets in a context whose MKI "
                               f"length is {self._mki_length} (RFC 3711 §3.2.1)")
        self._keys[bytes(master.mki)] = _Keys(master, self.suite)
        self._mki_length = len(master.mki)

    def rollover_counter(self, ssrc: int) -> int:
        """The ROC of stream *ssrc* (RFC 3711 §3.3.1): the initial one until it starts."""
        stream = self._streams.get(ssrc)
        return self._roc if stream is None else stream.roc

    def _index(self, ssrc: int, seq: int) -> tuple[_Stream | None, int]:
        stream = self._streams.get(ssrc)
        return stream, (self._roc << 16 | seq) if stream is None else stream.estimate(seq)

    def _accept(self, stream: _Stream | None, ssrc: int, index: int) -> None:
        if stream is None:
            self._streams[ssrc] = _Stream(index)
        else:
            stream.accept(index)


class SrtpSender(_Context):
    """The sending side of a cryptographic context (RFC 3711 §3.3): one master key in
    use at a time; packets of any SSRC, each with its own ROC."""

    def __init__(self, key: MasterKey, suite: CryptoSuite = AES_CM_128_HMAC_SHA1_80,
                 roc: int = 0) -> None:
        super().__init__((key,), suite, roc)
        self._mki = bytes(key.mki)

    def rekey(self, key: MasterKey) -> None:
        """Protect from now on with *key* (its MKI of the context's length); indices
        and ROCs continue (RFC 3711 §3.2.1)."""
        self._add(key)
        self._mki = bytes(key.mki)

    def protect(self, rtp_packet: bytes) -> bytes:
        """RTP packet -> SRTP packet: header || E(payload) || MKI || tag (RFC 3711 §3.1,
        §3.3). An index this context already protected (the keystream would be used
        twice, §9.1) or one behind the window raises :class:`InvalidInput`."""
        header = _parse_header(rtp_packet, len(rtp_packet))
        stream, index = self._index(header.ssrc, header.seq)
        if stream is not None and (why := stream.refusal(index)) is not None:
            raise InvalidInput(f"SSRC {header.ssrc:#010x}: {why}; not protected again")
        keys = self._keys[self._mki]
        authenticated = rtp_packet[:header.length] + keys.crypt(
            header.ssrc, index, rtp_packet[header.length:])
        tag = keys.tag(authenticated, index >> 16, self.suite.tag_length)
        self._accept(stream, header.ssrc, index)
        return authenticated + self._mki + tag


class SrtpReceiver(_Context):
    """The receiving side of a cryptographic context (RFC 3711 §3.3): master keys by
    MKI (the MTKs of a stream, say), a replay window of 64 per SSRC. *roc* is the ROC a
    stream's first packet is taken to carry (§3.3.1 says 0); a receiver that joins a
    running stream must be told it by key management."""

    def __init__(self, keys: MasterKey | Iterable[MasterKey],
                 suite: CryptoSuite = AES_CM_128_HMAC_SHA1_80, roc: int = 0) -> None:
        super().__init__((keys,) if isinstance(keys, MasterKey) else keys, suite, roc)

    def add_key(self, key: MasterKey) -> None:
        """Accept packets under *key* too; the same MKI replaces the key it named."""
        self._add(key)

    def unprotect(self, srtp_packet: bytes) -> bytes:
        """SRTP packet -> RTP packet, in the order of RFC 3711 §3.3: index estimation,
        master key by MKI, replay check, tag check, decryption, then the ROC, s_l and
        replay list are updated. Raises :class:`MalformedPacket`, :class:`UnknownKey`,
        :class:`ReplayedPacket` or :class:`gba.errors.MacFailure`."""
        tag_length = self.suite.tag_length
        mki_length = self._mki_length or 0
        end = len(srtp_packet) - mki_length - tag_length
        if end < RTP_FIXED_HEADER:
            raise MalformedPacket(f"SRTP packet of {len(srtp_packet)} octets < "
                                  f"{RTP_FIXED_HEADER + mki_length + tag_length} (header, "
                                  f"MKI of {mki_length}, tag of {tag_length})")
        header = _parse_header(srtp_packet, end)
        stream, index = self._index(header.ssrc, header.seq)
        mki = bytes(srtp_packet[end:end + mki_length])
        keys = self._keys.get(mki)
        if keys is None:
            raise UnknownKey(f"MKI {mki.hex()} at offset {end} names no master key")
        if stream is not None and (why := stream.refusal(index)) is not None:
            raise ReplayedPacket(f"SSRC {header.ssrc:#010x}: {why}")
        authenticated = srtp_packet[:end]
        expected = keys.tag(authenticated, index >> 16, tag_length)
        if not hmac.compare_digest(expected, srtp_packet[end + mki_length:]):
            raise MacFailure(f"SRTP tag of SSRC {header.ssrc:#010x} index {index} does not "
                             "verify")
        payload = keys.crypt(header.ssrc, index, authenticated[header.length:])
        self._accept(stream, header.ssrc, index)
        return bytes(authenticated[:header.length]) + payload

"""MTC small data between a device and the MTC-IWF (seed 004 claim 4; docs/mtc.md §5).

The message [P]::

    version (1) = 1 || B-TID length (1) || B-TID (ASCII) || direction (1) || counter (8)
    || protected

The header (everything before ``protected``) is associated data. ``protected`` by the
``subkeys`` mode (:class:`gba.protocols.mtc.SubKeys`) [P]:

* ``none``: AES-128-GCM (NIST SP 800-38D) under K_IWF[:16]: ciphertext || tag (16);
* ``enc``: AES-128-GCM under K_enc;
* ``int``: the data in clear || HMAC-SHA-256(K_int, header || data)[:16];
* ``both``: AES-128-CTR under K_enc, then HMAC-SHA-256(K_int, header || ciphertext)[:16]
  (encrypt-then-MAC).

Nonce (12 octets) = direction || 00 00 00 || counter; the CTR initial counter block is
nonce || 00 00 00 00 (at most 256 blocks of data, so the block counter never reaches the
nonce). Uplink and downlink therefore never share a nonce under one key.

Replay [P]: the receiver keeps, per B-TID and direction, the highest counter accepted
and accepts only a strictly greater one (:class:`ReplayWindow`, immutable: a refused
message leaves it as it was). A device sends one message per bootstrap (§5), so a
reordering window buys nothing. The receiver also names the direction it expects, so a
device's own uplink reflected back to it is refused. Pure: no clock, no randomness.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gba.errors import AuthError, CodecError, InvalidInput, MacFailure
from gba.protocols import mtc
from gba.protocols.mtc import SubKeys

VERSION = 1
MAX_DATA = 4096
"""Largest small-data payload, in octets."""
TAG_LEN = 16
COUNTER_LEN = 8
MAX_COUNTER = 2**64 - 1
MAX_BTID = 255
_MIN_HEADER = 1 + 1 + 1 + 1 + COUNTER_LEN
MAX_MESSAGE = 1 + 1 + MAX_BTID + 1 + COUNTER_LEN + MAX_DATA + TAG_LEN


class Direction(IntEnum):
    UPLINK = 0
    """Device -> MTC-IWF."""
    DOWNLINK = 1
    """MTC-IWF -> device (the application server's answer)."""


class ReplayedMessage(AuthError):
    """A counter not above the highest one accepted in that direction."""


class WrongBtid(AuthError):
    """A message naming another B-TID than the one the receiver expects."""


class WrongDirection(AuthError):
    """A message of the other direction (e.g. a device's uplink reflected back to it)."""


class Message(NamedTuple):
    """A message's header: unpacks as ``(btid, direction, counter)``."""

    btid: str
    direction: Direction
    counter: int


@dataclass(frozen=True, slots=True)
class Keys:
    """The keys of one small-data context; build with :meth:`derive`."""

    mode: SubKeys
    k_iwf: bytes = field(repr=False)
    enc: bytes | None = field(default=None, repr=False)
    int: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        mode = mtc.parse_subkeys(self.mode)
        if not isinstance(self.k_iwf, bytes) or len(self.k_iwf) != 32:
            raise InvalidInput("K_IWF is not 32 octets")
        wants_enc = mode in (SubKeys.ENC, SubKeys.BOTH)
        wants_int = mode in (SubKeys.INT, SubKeys.BOTH)
        if wants_enc != (self.enc is not None) or wants_int != (self.int is not None):
            raise InvalidInput(f"subkeys do not match mode {mode.value!r}")
        if self.enc is not None and len(self.enc) != mtc.ENC_KEY_LEN:
            raise InvalidInput(f"K_enc is not {mtc.ENC_KEY_LEN} octets")
        if self.int is not None and len(self.int) != mtc.INT_KEY_LEN:
            raise InvalidInput(f"K_int is not {mtc.INT_KEY_LEN} octets")
        object.__setattr__(self, "mode", mode)

    @classmethod
    def derive(cls, k_iwf: bytes, mode: SubKeys | str) -> Keys:
        """The keys of *mode* from K_IWF (:func:`gba.protocols.mtc.subkeys_for`)."""
        enc, mac = mtc.subkeys_for(k_iwf, mode)
        return cls(mtc.parse_subkeys(mode), k_iwf, enc, mac)


@dataclass(frozen=True, slots=True)
class ReplayWindow:
    """Highest counter accepted per direction, for one B-TID (0: none yet)."""

    uplink: int = 0
    downlink: int = 0

    def highest(self, direction: Direction) -> int:
        return self.uplink if direction == Direction.UPLINK else self.downlink

    def check(self, direction: Direction, counter: int) -> None:
        """:class:`ReplayedMessage` unless *counter* is above the highest accepted."""
        if counter <= self.highest(direction):
            raise ReplayedMessage(f"{_name(direction)} counter {counter} is not above "
                                  f"{self.highest(direction)}")

    def accepted(self, direction: Direction, counter: int) -> ReplayWindow:
        """The window after accepting *counter* (checked first)."""
        self.check(direction, counter)
        if direction == Direction.UPLINK:
            return replace(self, uplink=counter)
        return replace(self, downlink=counter)


def _name(direction: int) -> str:
    return "uplink" if direction == Direction.UPLINK else "downlink"


def _direction(value: int) -> Direction:
    try:
        return Direction(value)
    except ValueError:
        raise InvalidInput(f"direction {value!r} is not 0 (uplink) or 1 (downlink)") from None


def _btid_octets(btid: str) -> bytes:
    if not 1 <= len(btid) <= MAX_BTID or any(not 0x21 <= ord(c) <= 0x7E for c in btid):
        raise InvalidInput(f"B-TID {btid[:80]!r} is not 1..{MAX_BTID} printable ASCII "
                           "characters")
    return btid.encode("ascii")


def encode_header(btid: str, direction: Direction, counter: int) -> bytes:
    """version || B-TID length || B-TID || direction || counter; InvalidInput for values
    out of range."""
    raw = _btid_octets(btid)
    if not 1 <= counter <= MAX_COUNTER:
        raise InvalidInput(f"counter {counter} is not 1..2^64-1")
    return (bytes((VERSION, len(raw))) + raw + bytes((_direction(direction),))
            + counter.to_bytes(COUNTER_LEN, "big"))


def _split(data: bytes) -> tuple[Message, bytes, bytes]:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CodecError(f"small data is {type(data).__name__}, not octets")
    data = bytes(data)
    if not _MIN_HEADER <= len(data) <= MAX_MESSAGE:
        raise CodecError(f"small-data message of {len(data)} octets is out of bounds")
    if data[0] != VERSION:
        raise CodecError(f"small-data version {data[0]} is not {VERSION}")
    n = data[1]
    end = 2 + n + 1 + COUNTER_LEN
    if n == 0 or len(data) < end:
        raise CodecError(f"small-data B-TID length {n} does not fit the message")
    raw = data[2:2 + n]
    if any(not 0x21 <= b <= 0x7E for b in raw):
        raise CodecError("small-data B-TID is not printable ASCII")
    if data[2 + n] not in (Direction.UPLINK, Direction.DOWNLINK):
        raise CodecError(f"small-data direction {data[2 + n]} is not 0 or 1")
    counter = int.from_bytes(data[3 + n:end], "big")
    if counter == 0:
        raise CodecError("small-data counter is 0")
    message = Message(raw.decode("ascii"), Direction(data[2 + n]), counter)
    return message, data[:end], data[end:]


def read_header(data: bytes) -> Message:
    """The header of a message, without keys (the MTC-IWF needs the B-TID to fetch
    them); CodecError for a malformed message."""
    message, _, protected = _split(data)
    if not TAG_LEN <= len(protected) <= MAX_DATA + TAG_LEN:
        raise CodecError(f"small-data body of {len(protected)} octets is out of bounds")
    return message


def _nonce(direction: Direction, counter: int) -> bytes:
    return bytes((direction, 0, 0, 0)) + counter.to_bytes(COUNTER_LEN, "big")


def _ctr(key: bytes, nonce: bytes, data: bytes) -> bytes:
    ctx = Cipher(algorithms.AES(key), modes.CTR(nonce + bytes(4))).encryptor()
    return ctx.update(data) + ctx.finalize()


def _mac(key: bytes, header: bytes, body: bytes) -> bytes:
    return hmac.new(key, header + body, hashlib.sha256).digest()[:TAG_LEN]


def _aead_key(keys: Keys) -> bytes:
    if keys.mode is SubKeys.NONE:
        return keys.k_iwf[:16]
    assert keys.enc is not None  # Keys.__post_init__: ENC has K_enc
    return keys.enc


def seal(keys: Keys, btid: str, direction: Direction, counter: int, data: bytes) -> bytes:
    """The message carrying *data*; *counter* must grow with every message the sender
    sends in *direction* under these keys (InvalidInput for bad values)."""
    if len(data) > MAX_DATA:
        raise InvalidInput(f"small data of {len(data)} octets exceeds {MAX_DATA}")
    header = encode_header(btid, direction, counter)
    nonce = _nonce(_direction(direction), counter)
    data = bytes(data)
    if keys.mode in (SubKeys.NONE, SubKeys.ENC):
        return header + AESGCM(_aead_key(keys)).encrypt(nonce, data, header)
    assert keys.int is not None  # Keys.__post_init__: INT and BOTH have K_int
    if keys.mode is SubKeys.INT:
        return header + data + _mac(keys.int, header, data)
    assert keys.enc is not None
    body = _ctr(keys.enc, nonce, data)
    return header + body + _mac(keys.int, header, body)


def open_(keys: Keys, btid_expected: str | None, data: bytes, window: ReplayWindow, *,
          expect: Direction) -> tuple[Message, bytes, ReplayWindow]:
    """(header, data, window after it) of a message in direction *expect*.

    CodecError for a malformed message, :class:`WrongBtid`, :class:`WrongDirection`,
    :class:`ReplayedMessage`, or :class:`~gba.errors.MacFailure` for a tampered one or
    one under other keys; on any error *window* stands as it was (it is immutable).
    *btid_expected* None skips the B-TID check (the caller found the keys by it).
    """
    message, header, protected = _split(data)
    if not TAG_LEN <= len(protected) <= MAX_DATA + TAG_LEN:
        raise CodecError(f"small-data body of {len(protected)} octets is out of bounds")
    if btid_expected is not None and not hmac.compare_digest(
            message.btid.encode("ascii"), btid_expected.encode("utf-8")):
        raise WrongBtid(f"small data names B-TID {message.btid[:80]!r}, not the expected one")
    if message.direction != expect:
        raise WrongDirection(f"small data is {_name(message.direction)}, expected "
                             f"{_name(expect)}")
    after = window.accepted(message.direction, message.counter)
    nonce = _nonce(message.direction, message.counter)
    body, tag = protected[:-TAG_LEN], protected[-TAG_LEN:]
    if keys.mode in (SubKeys.NONE, SubKeys.ENC):
        try:
            plain = AESGCM(_aead_key(keys)).decrypt(nonce, protected, header)
        except InvalidTag:
            raise MacFailure("small data does not verify under the context's key") from None
        return message, plain, after
    assert keys.int is not None
    if not hmac.compare_digest(_mac(keys.int, header, body), tag):
        raise MacFailure("small-data MAC does not verify under K_int")
    if keys.mode is SubKeys.INT:
        return message, body, after
    assert keys.enc is not None
    return message, _ctr(keys.enc, nonce, body), after

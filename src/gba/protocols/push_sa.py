"""The push security association between a NAF and a UE (seed 002; docs/push.md §1).

An SA is what steps 204/304/406/604 set up on Ks_(ext/int)_NAF (or a key derived from it,
steps 103 and 606) and what a later push reuses by naming it: by session id, secure id,
B-TID, pseudonym or temporary identity (seed 002 claim 5). Everything here is this
project's [P] where no specification defines it (seed 002 names the steps, not the
octets): the payload cipher, the MACs that authenticate the NAF and the UE, the derived
key. Pure: no clock (expiry is compared with a ``now`` passed in), no randomness.

* Payload protection: AES-128-GCM (NIST SP 800-38D; ``cryptography``'s AESGCM) under the
  SA key's first 16 octets, nonce = 4-octet salt (from the key) || 8-octet sequence
  number, associated data = SA identifier || sequence number. The receiver keeps a
  64-wide replay window per SA: a tampered push fails the tag, a replayed one the window,
  and neither changes the SA.
* NAF authentication: HMAC-SHA-256(key, "naf-auth" || SA information) truncated to 16
  octets; UE check: HMAC-SHA-256(key, "ue-auth" || session id || SA id), the same length.
  Both compared with :func:`hmac.compare_digest`.
* A negotiated key: HMAC-SHA-256(Ks_NAF, "push-sa" || SA id) (the seed's "key derived from
  Ks_(ext/int)_NAF with an algorithm both sides agreed"; named ``hmac-sha256`` in the SA
  parameters).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gba.errors import AuthError, CodecError, InvalidInput, MacFailure

ALGORITHM = "aes-128-gcm"
KEY_DERIVATION = "hmac-sha256"
MAC_LEN = 16
SEQ_LEN = 8
WINDOW = 64
MAX_PUSH = 64 * 1024
"""Largest push payload accepted, in octets."""


class IdKind(StrEnum):
    """What names an SA (seed 002 claim 5, embodiments 1-2 and 5)."""

    SESSION = "session"
    SECURE = "secure"
    BTID = "btid"
    PSEUDONYM = "pseudonym"
    TEMPORARY = "temporary"


class ReplayedPush(AuthError):
    """A push whose sequence number was seen already or is behind the window."""


class ExpiredSa(AuthError):
    """The SA's key has expired: a new SA is needed."""


@dataclass(frozen=True, slots=True)
class SaId:
    kind: IdKind
    value: str

    def encode(self) -> bytes:
        return f"{self.kind.value}:{self.value}".encode()


@dataclass(frozen=True, slots=True)
class PushSa:
    """One SA as either side stores it."""

    sa_id: SaId
    naf_id: bytes
    tid: str
    """The B-TID (normal GBA) or P-TID (GBA Push) the key belongs to."""
    key: bytes = field(repr=False)
    expires: datetime
    algorithm: str = ALGORITHM
    protocol_version: str = "1.0"
    key_selection: str = "btid"
    """How the UE finds its key: by the B-TID named, or ``latest`` (its last bootstrap)."""
    send_seq: int = 0
    received: frozenset[int] = frozenset()
    highest: int = 0
    owner: str = ""
    """The user it was set up with (the NAF's record: an SA is only reused for that user)."""

    def usable(self, now: datetime) -> bool:
        return now < self.expires

    def _check(self, now: datetime) -> None:
        if not self.usable(now):
            raise ExpiredSa(f"SA {self.sa_id.value!r} expired at {self.expires.isoformat()}")
        if self.algorithm != ALGORITHM:
            raise InvalidInput(f"SA algorithm {self.algorithm!r} is not {ALGORITHM}")

    def _aead(self) -> tuple[AESGCM, bytes]:
        if len(self.key) < 20:
            raise InvalidInput("SA key shorter than 20 octets")
        return AESGCM(self.key[:16]), self.key[16:20]

    def seal(self, payload: bytes, now: datetime) -> tuple[PushSa, bytes]:
        """The next push: sequence number || ciphertext || tag; and the SA after it."""
        self._check(now)
        if len(payload) > MAX_PUSH:
            raise InvalidInput(f"push of {len(payload)} octets exceeds {MAX_PUSH}")
        seq = self.send_seq + 1
        aead, salt = self._aead()
        head = seq.to_bytes(SEQ_LEN, "big")
        sealed = aead.encrypt(salt + head, payload, self.sa_id.encode() + head)
        return replace(self, send_seq=seq), head + sealed

    def open(self, data: bytes, now: datetime) -> tuple[PushSa, bytes]:
        """The payload of a push and the SA after it; :class:`MacFailure` for a
        tampered one, :class:`ReplayedPush` for a repeated one (the SA is unchanged)."""
        self._check(now)
        if not SEQ_LEN + 16 <= len(data) <= SEQ_LEN + 16 + MAX_PUSH:
            raise CodecError(f"push of {len(data)} octets is not a sealed push")
        head, sealed = data[:SEQ_LEN], data[SEQ_LEN:]
        seq = int.from_bytes(head, "big")
        if seq == 0 or seq in self.received or seq + WINDOW <= self.highest:
            raise ReplayedPush(f"push {seq} of SA {self.sa_id.value!r} replayed")
        aead, salt = self._aead()
        try:
            payload = aead.decrypt(salt + head, sealed, self.sa_id.encode() + head)
        except InvalidTag:
            raise MacFailure("push does not verify under the SA key") from None
        highest = max(self.highest, seq)
        window = frozenset(s for s in (*self.received, seq) if s + WINDOW > highest)
        return replace(self, received=window, highest=highest), payload


def naf_mac(key: bytes, sa_information: bytes) -> bytes:
    """What authenticates the NAF to the UE over the SA information it sent."""
    return hmac.new(key, b"naf-auth" + sa_information, hashlib.sha256).digest()[:MAC_LEN]


def ue_mac(key: bytes, session_id: int, sa_id: SaId) -> bytes:
    """What proves to the NAF that the UE holds the SA key (pkg1 credentials)."""
    return hmac.new(key, b"ue-auth" + session_id.to_bytes(2, "big") + sa_id.encode(),
                    hashlib.sha256).digest()[:MAC_LEN]


def verify(expected: bytes, received: bytes) -> None:
    """:class:`MacFailure` unless the two MACs are equal (constant time)."""
    if not hmac.compare_digest(expected, received):
        raise MacFailure("MAC over the SA information does not verify")


def derived_key(ks_naf: bytes, sa_id: SaId) -> bytes:
    """The negotiated SA key (``key_derivation = hmac-sha256``) from Ks_NAF."""
    return hmac.new(ks_naf, b"push-sa" + sa_id.encode(), hashlib.sha256).digest()

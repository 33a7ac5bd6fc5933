"""The push channel's datagram (Upa, NAF -> UE; docs/push.md §0): a media type and a body.

TS 24.109 Annex J.2 carries a GPI in a WAP push whose content type is
``application/vnd.3gpp.gba.gpi``; OMA DM 1.2 delivers package 0 as a WAP push of type
``application/vnd.syncml.notification`` and its packages 1-4 as
``application/vnd.syncml.dm+xml``. The lab stands a UDP datagram in for the WAP push (one
datagram, one push message), so the datagram names its media type itself [P]:

    1 octet: length n of the media type (1..80) || n octets: the media type (ASCII) || body

Two types are this project's [P], for messages no specification puts on a push channel:
seed 002 embodiment 5's explicit SA parameters (step 603) and normal GBA's request to
bootstrap (steps 402-403, 501-502: the NAF cannot push before the UE holds a Ks).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gba.errors import CodecError, InvalidInput

MAX_DATAGRAM = 16 * 1024
"""Largest push datagram sent or accepted, in octets."""
MAX_TYPE = 80


class MediaType(StrEnum):
    NOTIFICATION = "application/vnd.syncml.notification"
    """OMA DM package 0 (OMA-TS-DM_Notification-V1_2 §6)."""
    GPI = "application/vnd.3gpp.gba.gpi"
    """A GPI envelope (TS 24.109 Annex J.2.2): embodiment 4."""
    DM = "application/vnd.syncml.dm+xml"
    """A SyncML DM message: the end indication (Alert 1223) the NAF sends on timeout."""
    SA_PARAMS = "application/vnd.gba-lab.push-sa"
    """Embodiment 5's explicit SA parameters [P]."""
    BOOTSTRAP = "application/vnd.gba-lab.bootstrap-request"
    """Normal GBA: bootstrap, then register again [P]. Body: the NAF's FQDN."""


@dataclass(frozen=True, slots=True)
class Push:
    media_type: MediaType
    body: bytes


def encode(push: Push) -> bytes:
    kind = push.media_type.value.encode("ascii")
    out = bytes((len(kind),)) + kind + push.body
    if len(out) > MAX_DATAGRAM:
        raise InvalidInput(f"push of {len(out)} octets exceeds {MAX_DATAGRAM}")
    return out


def decode(data: bytes) -> Push:
    """The push in a datagram; :class:`CodecError` for a malformed or unknown one."""
    if not 2 <= len(data) <= MAX_DATAGRAM:
        raise CodecError(f"push datagram of {len(data)} octets")
    n = data[0]
    if not 1 <= n <= MAX_TYPE or 1 + n > len(data):
        raise CodecError(f"push media type length {n} does not fit")
    try:
        media_type = MediaType(data[1:1 + n].decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise CodecError("push of an unknown media type") from None
    return Push(media_type, data[1 + n:])

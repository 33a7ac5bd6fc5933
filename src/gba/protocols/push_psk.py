"""The PSK identities of GBA Push over PSK-TLS (seed 002 embodiment 4; docs/push.md §0),
shared by the NAF's push endpoint (:mod:`gba.nf.push_psk`) and the UE (:mod:`gba.ue.push_pull`).

A UE names its key by ``3GPP-bootstrapping.`` + B-TID after a normal bootstrap (TS 33.222
§5.4) or, [P], ``3GPP-bootstrapping-push.`` + P-TID after GBA Push (no specification gives
a PSK identity for a P-TID). The pushes ride HTTP/1.1 inside the connection: ``GET
/push?wait=<seconds>`` answers ``{"pushes": [<base64>, ...]}`` [P].
"""

from __future__ import annotations

import re
from typing import Final

from gba.errors import CodecError, InvalidInput
from gba.protocols.ua_psk import btid_from_psk_identity

PUSH_PSK_IDENTITY_PREFIX: Final = "3GPP-bootstrapping-push."
"""[P] PSK identity prefix for a P-TID (B-TIDs keep ``3GPP-bootstrapping.``)."""
MAX_IDENTITY: Final = 255
"""Longest PSK identity, in characters (the client's limit, in octets, is the same)."""
PUSH_PATH: Final = "/push"
"""[P] Where the UE collects its pushes inside the PSK-TLS connection."""
JSON: Final = "application/json"

_PTID = re.compile(r"[\x21-\x7e]+")
"""A P-TID in a PSK identity: visible ASCII, so that it is safe to log and to key on."""


def push_psk_identity(ptid: str) -> str:
    """[P] The UE's PSK identity for a GBA Push key: ``3GPP-bootstrapping-push.`` + P-TID.

    No specification defines one; a B-TID keeps ``3GPP-bootstrapping.`` + B-TID
    (:func:`~gba.protocols.ua_psk.psk_identity_for`)."""
    identity = PUSH_PSK_IDENTITY_PREFIX + ptid
    if _PTID.fullmatch(ptid) is None or len(identity) > MAX_IDENTITY:
        raise InvalidInput(f"P-TID of {len(ptid)} characters is empty, too long or not "
                           "visible ASCII")
    return identity


def tid_from_identity(identity: str) -> tuple[bool, str]:
    """(is_push, TID) named by a received PSK identity; :class:`CodecError` if malformed.

    ``3GPP-bootstrapping-push.<P-TID>`` (any ASCII case in the prefix) gives
    (True, P-TID); anything else must carry a B-TID
    (:func:`~gba.protocols.ua_psk.btid_from_psk_identity`) and gives (False, B-TID)."""
    if not identity:
        raise CodecError("PSK identity is empty")
    if len(identity) > MAX_IDENTITY:
        raise CodecError(f"PSK identity of {len(identity)} characters exceeds "
                         f"{MAX_IDENTITY}")
    head = identity[:len(PUSH_PSK_IDENTITY_PREFIX)]
    if head.isascii() and head.lower() == PUSH_PSK_IDENTITY_PREFIX.lower():
        ptid = identity[len(PUSH_PSK_IDENTITY_PREFIX):]
        if _PTID.fullmatch(ptid) is None:
            raise CodecError(f"PSK identity {identity[:80]!r}: P-TID is empty or not "
                             "visible ASCII")
        return True, ptid
    return False, btid_from_psk_identity(identity)

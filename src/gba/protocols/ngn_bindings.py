"""The NGN protocol bindings by face name: which :class:`~gba.protocols.ngn_flow.Wire`
serves which socket (docs/ngn.md §3).

Faces: ``sip_udp`` and ``sip_tcp`` (SIP, RFC 3261), ``mgcp`` (RFC 3435), ``h248``
(RFC 3525 text), ``ras`` (H.225.0 RAS). Only ``sip_tcp`` runs over TCP.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from gba.errors import InvalidInput
from gba.protocols.ngn_flow import Role, Side, Wire

FACES = ("sip_udp", "sip_tcp", "mgcp", "h248", "ras")
BINDINGS = {"sip_udp": "sip", "sip_tcp": "sip", "mgcp": "mgcp", "h248": "h248", "ras": "ras"}


def is_stream(face: str) -> bool:
    """Whether ``face`` runs over TCP."""
    return face == "sip_tcp"


def make_wire(face: str, role: Role, host: str, port: int, domain: str,
              rng: Callable[[int], bytes] = os.urandom) -> Wire:
    """A fresh binding instance for one leg of a node."""
    if face not in BINDINGS:
        raise InvalidInput(f"unknown NGN face {face!r} (one of {', '.join(FACES)})")
    side = Side(role, host, port, domain, "tcp" if is_stream(face) else "udp")
    binding = BINDINGS[face]
    if binding == "sip":
        from gba.protocols.ngn_sip import SipWire

        return SipWire(side, rng)
    if binding == "mgcp":
        from gba.protocols.ngn_mgcp import MgcpWire

        return MgcpWire(side, rng)
    if binding == "h248":
        from gba.protocols.ngn_h248 import H248Wire

        return H248Wire(side, rng)
    from gba.protocols.ngn_ras import NgnRasWire

    return NgnRasWire(side, rng)


"""The NGN protocol bindings by face name: which :class:`~gba.protocols.ngn_flow.Wire`
serves which socket (docs/ngn.md §3).

Faces: ``sip_udp`` and ``sip_tcp`` (SIP, RFC 3261), ``mgcp`` (RFC 3435), ``h248``
(RFC 3525 text), ``ras`` (H.225.0 RAS). Only ``sip_tcp`` runs over TCP.
"""

from __future__ import annotations

import os
import re
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



_H248_COMMAND = re.compile(
    rb"\b(ServiceChange|Modify|Notify|AuditValue|Error|SC|MF|N|AV|ER)\s*=\s*([^\s{,}]*)",
    re.IGNORECASE)
_H248_UNIT = re.compile(rb"\b(Transaction|Reply|T|P)\s*=\s*(\d+)", re.IGNORECASE)


def describe(face: str, data: bytes) -> str:
    """A one-line label of a protocol message for flow printouts: the start line (SIP,
    MGCP), the transaction and its first command (H.248), the RAS message's name."""
    binding = BINDINGS.get(face, "")
    if binding == "ras":
        from gba.errors import CodecError
        from gba.protocols.ras import decode_ras

        try:
            return f"{decode_ras(data)[0]} ({len(data)} octets)"
        except CodecError:
            return f"{len(data)} octets"
    if binding == "h248":
        unit = _H248_UNIT.search(data)
        parts = [f"{unit.group(1).decode()} {unit.group(2).decode()}"] if unit else []
        parts += [f"{m.group(1).decode()} {m.group(2).decode()}".strip()
                  for m in _H248_COMMAND.finditer(data)][:2]
        if parts:
            return ": ".join(parts)[:120]
    line = data.split(b"\n", 1)[0].rstrip(b"\r")
    if line.isascii() and line.decode("ascii").isprintable():
        return line.decode("ascii")[:120]
    return f"{len(data)} octets"

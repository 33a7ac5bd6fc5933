"""Subscriber provisioning shared by the HSS REST API and ``gba hss add-subscriber``.

Input is what an engineer types: hex keys, optional OP instead of OPc, SQN as hex. Every
check raises :class:`~gba.errors.InvalidInput`; key material never appears in output.
"""

from __future__ import annotations

from typing import Any

from gba.crypto.milenage import opc_from_op
from gba.errors import InvalidInput
from gba.hexutil import from_hex
from gba.protocols import guss as guss_xml
from gba.store.base import Subscriber


def subscriber_from_fields(impi: str, k: str, opc: str | None = None, op: str | None = None,
                           imsi: str | None = None, sqn: str | None = None,
                           amf: str | None = None, guss: str | None = None) -> Subscriber:
    if not impi or any(c.isspace() for c in impi):
        raise InvalidInput(f"IMPI {impi!r} is empty or has white space")
    key = from_hex(k, "K", 16)
    if (opc is None) == (op is None):
        raise InvalidInput("give exactly one of OPc and OP")
    opc_b = from_hex(opc, "OPc", 16) if opc is not None else opc_from_op(key, from_hex(
        op or "", "OP", 16))
    sqn_i = int.from_bytes(from_hex(sqn, "SQN", 6), "big") if sqn else 0
    amf_b = from_hex(amf, "AMF", 2) if amf else b"\x00\x00"
    if imsi is not None and not (imsi.isdigit() and 5 <= len(imsi) <= 15):
        raise InvalidInput(f"IMSI {imsi!r} is not 5 to 15 digits")
    if guss is not None:
        guss_xml.decode_guss(guss)  # reject malformed XML at provisioning time
    return Subscriber(impi=impi, k=key, opc=opc_b, sqn=sqn_i, amf=amf_b, imsi=imsi, guss=guss)


def subscriber_view(sub: Subscriber) -> dict[str, Any]:
    """A JSON view without K or OPc."""
    return {"impi": sub.impi, "imsi": sub.imsi, "sqn": f"{sub.sqn:012x}",
            "seq": sub.sqn >> 5, "ind": sub.sqn & 31, "amf": sub.amf.hex(),
            "guss": sub.guss}

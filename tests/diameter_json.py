"""Diameter messages as JSON for the vector files under tests/vectors/diameter/.

:func:`describe` turns a decoded :class:`Message` into the ``header`` and ``avps`` fields
a vector file stores next to the message's hex; :func:`rebuild` builds a Message back
from those fields alone, through the dictionary and the value encoders, without looking
at the hex. A vector test can therefore check three things independently: the decoder
(``describe(decode(hex)) == fields``), the encoder (``rebuild(fields).encode() == hex``)
and the round trip (``decode(hex).encode() == hex``).

An AVP is ``{"avp": name, "flags": int, "value": ...}``, or ``{"code": int, "vendor":
int, "flags": int, "value": {"hex": ...}}`` when the dictionary does not know it. Values
follow the dictionary type (RFC 6733 §4.2, §4.3): int for the integer types and
Enumerated, str for UTF8String / DiameterIdentity / DiameterURI, the address text for
Address, ISO 8601 (UTC) for Time, ``{"hex": ...}`` for OctetString, and a list of AVPs
for Grouped.
"""

from __future__ import annotations

import json
from datetime import datetime
from ipaddress import ip_address
from typing import Any

from gba.protocols.diameter import Avp, AvpType, Message, find_avp_def
from gba.protocols.diameter import dictionary as d
from gba.protocols.diameter.values import encode_value, value_of

_TEXT = (AvpType.UTF8_STRING, AvpType.DIAMETER_IDENTITY, AvpType.DIAMETER_URI)
_INTEGER = (AvpType.INTEGER32, AvpType.INTEGER64, AvpType.UNSIGNED32, AvpType.UNSIGNED64,
            AvpType.ENUMERATED)
_FLOAT = (AvpType.FLOAT32, AvpType.FLOAT64)


def describe(message: Message) -> dict[str, Any]:
    """The ``header`` and ``avps`` fields of a vector for *message*."""
    return {
        "header": {
            "command_code": message.command_code,
            "application_id": message.application_id,
            "flags": message.flags,
            "hop_by_hop": message.hop_by_hop,
            "end_to_end": message.end_to_end,
        },
        "avps": [describe_avp(a) for a in message.avps],
    }


def describe_avp(a: Avp) -> dict[str, Any]:
    definition = find_avp_def(a.code, a.vendor)
    if definition is None:
        return {"code": a.code, "vendor": a.vendor, "flags": a.flags,
                "value": {"hex": a.data.hex()}}
    kind = definition.type
    value: Any
    if kind in _INTEGER:
        value = a.as_int()
    elif kind in _TEXT:
        value = a.as_str()
    elif kind is AvpType.ADDRESS:
        value = str(a.as_address())
    elif kind is AvpType.TIME:
        value = a.as_time().isoformat()
    elif kind is AvpType.GROUPED:
        value = [describe_avp(c) for c in a.children()]
    elif kind in _FLOAT:
        value = value_of(a)
    else:
        value = {"hex": a.data.hex()}
    return {"avp": definition.name, "flags": a.flags, "value": value}


def rebuild(fields: dict[str, Any]) -> Message:
    """The Message the ``header`` and ``avps`` fields describe."""
    header = fields["header"]
    return Message(header["command_code"], header["application_id"], header["flags"],
                   header["hop_by_hop"], header["end_to_end"],
                   tuple(rebuild_avp(entry) for entry in fields["avps"]))


def rebuild_avp(entry: dict[str, Any]) -> Avp:
    flags: int = entry["flags"]
    value = entry["value"]
    if "avp" not in entry:
        return Avp(entry["code"], bytes.fromhex(value["hex"]), flags, entry.get("vendor", 0))
    definition = d.avp_def(entry["avp"])
    kind = definition.type
    if kind is AvpType.GROUPED:
        data = b"".join(rebuild_avp(child).encode() for child in value)
    elif kind is AvpType.ADDRESS:
        data = encode_value(definition, ip_address(value))
    elif kind is AvpType.TIME:
        data = encode_value(definition, datetime.fromisoformat(value))
    elif isinstance(value, dict):
        data = bytes.fromhex(value["hex"])
    else:
        data = encode_value(definition, value)
    return Avp(definition.code, data, flags, definition.vendor)


def dumps(document: dict[str, Any]) -> str:
    """A vector file as JSON that diffs well: one line per message field and per AVP."""
    def line(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    head = [f" {line(k)}: {line(v)}," for k, v in document.items() if k != "messages"]
    blocks = []
    for message in document["messages"]:
        fields = [f"   {line(k)}: {line(v)}" for k, v in message.items() if k != "avps"]
        avps = ",\n".join(f"    {line(a)}" for a in message.get("avps", []))
        fields.append(f'   "avps": [\n{avps}\n   ]')
        blocks.append("  {\n" + ",\n".join(fields) + "\n  }")
    return "{\n" + "\n".join(head) + '\n "messages": [\n' + ",\n".join(blocks) + "\n ]\n}\n"

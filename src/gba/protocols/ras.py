"""H.225.0 RAS messages in ASN.1 aligned PER (ITU-T H.225.0 §7, X.691 BASIC-PER ALIGNED).

The ASN.1 text is ``gba/data/h225_ras.asn``: the RAS subset of the standard's
``H323-MESSAGES`` module (GRQ, GCF, GRJ, RRQ, RCF, RRJ, XRS, root components verbatim)
and this project's ``NgnKeyDistribution`` payload [P]. ``asn1tools`` compiles it once, on
first use; its ``per`` codec is the aligned variant. Values are the ``asn1tools`` forms:
a CHOICE is ``(name, value)``, a SEQUENCE a dict, an OBJECT IDENTIFIER dotted text.

Decoding is bounded [P]: at most :data:`MAX_RAS_OCTETS` octets, constraints checked, and
the input must be the canonical encoding of what it decodes to (re-encoding gives the same
octets), so trailing octets and non-minimal forms are refused. Every failure of the
library is a :class:`RasCodecError`.

One correction to ``asn1tools`` 0.169.0 [P]: it wraps an extension-addition CHOICE value
whose encoding is empty (a NULL) in a zero-length open type; X.691 §11.1 makes that
complete encoding one zero octet, so GRJ/RRJ ``securityDenial`` is ``80 01 00`` /
``83 01 00`` as other H.323 stacks send and expect (:func:`_encode_choice_addition`).
"""

from __future__ import annotations

import functools
import importlib
import types
from importlib import resources
from typing import Any

from gba.errors import CodecError

MAX_RAS_OCTETS = 4096
"""Largest RAS message accepted or produced [P] (a UDP datagram of ours is far smaller)."""
H225_V4 = "0.0.8.2250.0.4"
"""protocolIdentifier of H.225.0 version 4: {itu-t(0) recommendation(0) h(8) 2250 0 4}."""
NGN_OID = "2.25.274386877486243315252448091304780582310"
"""nonStandardIdentifier of the NgnKeyDistribution payload: a UUID OID (X.667) [P]."""

CARRIED = frozenset({
    "gatekeeperRequest", "gatekeeperConfirm", "gatekeeperReject", "registrationRequest",
    "registrationConfirm", "registrationReject", "unknownMessageResponse",
})
"""RasMessage alternatives whose body the ASN.1 subset declares; the others are NULL
placeholders (their index only)."""

RasPdu = tuple[str, Any]
"""One RasMessage: (alternative name, its value)."""


class RasCodecError(CodecError):
    """Octets that are not an aligned-PER RasMessage (or NgnKeyDistribution) of the
    subset, or a value that cannot be encoded as one."""


@functools.cache
def _compiled() -> Any:
    """The compiled specification (typed as Any: asn1tools ships no type hints)."""
    tools: Any = importlib.import_module("asn1tools")
    text = resources.files("gba").joinpath("data/h225_ras.asn").read_text(encoding="utf-8")
    spec = tools.compile_string(text, "per")
    per: Any = importlib.import_module("asn1tools.codecs.per")
    seen: set[int] = set()
    for compiled in spec.types.values():
        _fix_choices(compiled._type, per.Choice, seen)
    return spec


def _fix_choices(node: Any, choice_class: Any, seen: set[int]) -> None:
    """Give every CHOICE with extension additions :func:`_encode_choice_addition` (the
    schema is not recursive; ``seen`` stops shared sub-types being walked twice)."""
    stack: list[Any] = [node]
    while stack:
        item = stack.pop()
        if id(item) in seen or not hasattr(item, "__dict__"):
            continue
        seen.add(id(item))
        if isinstance(item, choice_class) and item.additions_index_to_member is not None:
            item.encode_additions = types.MethodType(_encode_choice_addition, item)
        for value in vars(item).values():
            if isinstance(value, list | tuple):
                stack.extend(value)
            elif isinstance(value, dict):
                stack.extend(value.values())
            elif hasattr(value, "encode") and hasattr(value, "decode"):
                stack.append(value)


def _encode_choice_addition(self: Any, data: Any, encoder: Any) -> None:
    """asn1tools 0.169.0's CHOICE extension addition, corrected: the open type holds the
    value's complete encoding, and an empty one (a NULL such as GRJ/RRJ securityDenial) is
    one 0x00 octet, so the open type is ``01 00``, not ``00`` (X.691 §11.1, §11.2)."""
    index = self.additions_name_to_index.get(data[0])
    if index is None:
        raise RasCodecError(f"no CHOICE alternative {data[0]!r}")
    inner = encoder.__class__()
    self.additions_index_to_member[index].encode(data[1], inner)
    if inner.number_of_bytes() == 0:
        inner.append_non_negative_binary_integer(0, 8)
    inner.align_always()
    encoder.append_normally_small_non_negative_whole_number(index)
    encoder.align()
    encoder.append_length_determinant(inner.number_of_bytes())
    encoder += inner


def _encode(type_name: str, value: Any) -> bytes:
    try:
        data = _compiled().encode(type_name, value, check_constraints=True)
    except Exception as exc:  # asn1tools raises its own errors and bare Python ones
        raise RasCodecError(f"cannot encode {type_name}: {exc}") from None
    if not isinstance(data, bytes | bytearray):
        raise RasCodecError(f"cannot encode {type_name}")
    if len(data) > MAX_RAS_OCTETS:
        raise RasCodecError(f"{type_name} of {len(data)} octets exceeds {MAX_RAS_OCTETS}")
    return bytes(data)


def _decode(type_name: str, data: bytes) -> Any:
    if not isinstance(data, bytes | bytearray):
        raise RasCodecError("RAS input must be bytes")
    if not data:
        raise RasCodecError(f"empty {type_name}")
    if len(data) > MAX_RAS_OCTETS:
        raise RasCodecError(f"{type_name} of {len(data)} octets exceeds {MAX_RAS_OCTETS}")
    try:
        return _compiled().decode(type_name, bytes(data), check_constraints=True)
    except Exception as exc:  # any library failure on attacker input is a codec error
        raise RasCodecError(f"malformed {type_name}: {type(exc).__name__}") from None


def _canonical(type_name: str, value: Any, data: bytes) -> None:
    try:
        again = _encode(type_name, value)
    except RasCodecError:
        raise RasCodecError(f"{type_name} does not re-encode") from None
    if again != bytes(data):
        raise RasCodecError(f"{type_name} is not in canonical aligned PER (extra octets?)")


def encode_ras(pdu: RasPdu) -> bytes:
    """A RasMessage (H.225.0 §7, H323-MESSAGES, X.691 aligned PER)."""
    return _encode("RasMessage", pdu)


def decode_ras(data: bytes) -> RasPdu:
    """The RasMessage in ``data``. An alternative outside :data:`CARRIED` comes back as
    ``(name, None)`` (its body is not decoded); a carried one must be canonical."""
    pdu = _decode("RasMessage", data)
    if not (isinstance(pdu, tuple) and len(pdu) == 2 and isinstance(pdu[0], str)):
        raise RasCodecError("RasMessage did not decode to a CHOICE")
    if pdu[0] in CARRIED:
        _canonical("RasMessage", pdu, data)
        return pdu[0], pdu[1]
    return pdu[0], None


def encode_payload(fields: dict[str, Any]) -> bytes:
    """The NgnKeyDistribution value [P] as aligned PER (the nonStandardData ``data``)."""
    return _encode("NgnKeyDistribution", fields)


def decode_payload(data: bytes) -> dict[str, Any]:
    """An NgnKeyDistribution [P] from a nonStandardData ``data``; canonical only."""
    value = _decode("NgnKeyDistribution", data)
    if not isinstance(value, dict):
        raise RasCodecError("NgnKeyDistribution did not decode to a SEQUENCE")
    _canonical("NgnKeyDistribution", value, data)
    return value

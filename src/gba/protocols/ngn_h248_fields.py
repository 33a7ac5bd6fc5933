"""The field layout of the H.248 binding (:mod:`gba.protocols.ngn_h248`): which descriptor
carries each flow message and how its fields are written and read (the module table and
field forms of :mod:`gba.protocols.ngn_h248`). Every failure while reading is a
:class:`~gba.protocols.megaco.MegacoError` (answered with ``Error = 400``).
"""

from __future__ import annotations

import dataclasses
import re

from gba.errors import CodecError, InvalidInput
from gba.protocols import ngn
from gba.protocols.megaco import Item, MegacoError, is_token
from gba.protocols.ngn import Mechanism
from gba.protocols.ngn_flow import (
    FlowMessage,
    Protected,
    S1Register,
    S2Forward,
    S5Challenge,
    S6Challenge,
    S7Response,
    S8Response,
    S9Success,
    S10Success,
)

_UINT32 = re.compile(r"[0-9]{1,10}")


def uint32(text: str | None, what: str) -> int:
    """``text`` as an Annex B UINT32 (TransactionID, RequestID, ErrorCode, seq)."""
    if text is None or _UINT32.fullmatch(text) is None or int(text) > 0xFFFFFFFF:
        raise MegacoError(f"{what} {text!r} is not a UINT32")
    return int(text)


def only(items: tuple[Item, ...] | None, what: str) -> Item:
    """The single item of ``items`` (of ``what``)."""
    if not items or len(items) != 1:
        raise MegacoError(f"{what}: exactly one item expected")
    return items[0]


PACKAGE = "ngnkd"
_Pair = tuple[str, str, bool]
"""(parameter name, value, quoted)."""
_TS = re.compile(r"[0-9]{1,12}")
_TIMESTAMP = re.compile(r"[0-9]{8}[Tt][0-9]{8}")
_IGNORED_SC = {"version", "v", "profile", "pf", "delay", "dl", "servicechangeaddress", "ad",
               "mgcidtotry", "mg"}
"""ServiceChange parameters of RFC 3525 §7.2.8 accepted and not used."""
_LAYOUT: dict[type, tuple[tuple[str, ...], tuple[str, ...]]] = {
    S1Register: (("idc", "idsp", "n1", "ts1"), ()),
    S2Forward: (("idc", "idsp"), ()),
    S5Challenge: (("idc", "idsp", "rand"), ()),
    S6Challenge: (("idc", "idsp", "rand", "n1", "n2", "ts2", "mech"), ()),
    S7Response: (("idc", "idsp", "n1", "n2", "ts3", "auth", "mechs"), ()),
    S8Response: (("idc", "idsp", "auth", "addr"), ("mechs",)),
    S9Success: (("idc", "idsp", "ekc", "eksp"), ()),
    S10Success: (("idc", "idsp", "n1", "n2", "ts4", "ekc", "chosen", "mechs", "mac"), ()),
    Protected: (("idc", "idsp", "mech", "seq", "mac"), ()),
}
"""Required and optional parameters per message (``idc`` / ``idsp`` stand for their hex
variants ``idch`` / ``idsph`` as well)."""


def _id(name: str, value: str) -> _Pair:
    ngn.check_id(value)
    if '"' in value:
        return (name + "h", value.encode("utf-8").hex(), False)
    return (name, value, True)


def _hex(name: str, value: bytes, length: int) -> _Pair:
    if len(value) != length:
        raise InvalidInput(f"{name} must be {length} octets, not {len(value)}")
    return (name, ngn.hexfield(value), False)


def _ts(name: str, value: int) -> _Pair:
    if isinstance(value, bool) or not 0 <= value < 10**12:
        raise InvalidInput(f"{name} {value!r} is not a timestamp")
    return (name, str(value), False)


def _text(name: str, value: str) -> _Pair:
    ngn.check_id(value)
    if '"' in value:
        raise InvalidInput(f"{name} cannot hold a DQUOTE")
    return (name, value, True)


def _pairs(m: FlowMessage) -> list[_Pair]:
    out = [_id("idc", m.id_c), _id("idsp", m.id_sp)]
    if isinstance(m, S1Register):
        out += [_hex("n1", m.n1, ngn.NONCE_LEN), _ts("ts1", m.ts1)]
    elif isinstance(m, S5Challenge | S6Challenge):
        out.append(_hex("rand", m.rand, ngn.RAND_LEN))
        if isinstance(m, S6Challenge):
            out += [_hex("n1", m.n1, ngn.NONCE_LEN), _hex("n2", m.n2, ngn.NONCE_LEN),
                    _ts("ts2", m.ts2), ("mech", "on" if m.want_mechanisms else "off", False)]
    elif isinstance(m, S7Response):
        out += [_hex("n1", m.n1, ngn.NONCE_LEN), _hex("n2", m.n2, ngn.NONCE_LEN), _ts("ts3", m.ts3),
                _hex("auth", m.authenticator, ngn.AUTH_LEN),
                ("mechs", ngn.format_mechanisms(m.mechanisms), True)]
    elif isinstance(m, S8Response):
        out += [_hex("auth", m.authenticator, ngn.AUTH_LEN), _text("addr", m.address)]
        if m.mechanisms is not None:
            out.append(("mechs", ngn.format_mechanisms(m.mechanisms), True))
    elif isinstance(m, S9Success):
        out += [_hex("ekc", m.e_kc, ngn.WRAP_LEN), _hex("eksp", m.e_ksp, ngn.WRAP_LEN)]
    elif isinstance(m, S10Success):
        Mechanism(m.chosen, 0.0)  # a token, or InvalidInput
        out += [_hex("n1", m.n1, ngn.NONCE_LEN), _hex("n2", m.n2, ngn.NONCE_LEN), _ts("ts4", m.ts4),
                _hex("ekc", m.e_kc, ngn.WRAP_LEN), ("chosen", m.chosen, True),
                ("mechs", ngn.format_mechanisms(m.mechanisms), True),
                _hex("mac", m.mac, ngn.MAC_LEN)]
    elif isinstance(m, Protected):
        Mechanism(m.mechanism, 0.0)  # a token, or InvalidInput
        if isinstance(m.seq, bool) or not 0 <= m.seq <= 0xFFFFFFFF:
            raise InvalidInput(f"seq {m.seq!r} is not 0..2**32-1")
        out += [("mech", m.mechanism, True), ("seq", str(m.seq), False),
                _hex("mac", m.mac, ngn.MAC_LEN)]
    return out


def encode_fields(m: FlowMessage, rid: int | None, reason: str) -> Item:
    """The descriptor of the command that carries ``m`` (see the module table); for a
    :class:`Protected` answer the ``Media`` descriptor of its AuditValue reply."""
    pairs = _pairs(m)
    if isinstance(m, S1Register | S2Forward):
        params = [Item("Method", "Restart"), Item("Reason", reason, quoted_value=True)]
        params += [Item(f"X-{n.upper()}", v, quoted_value=q) for n, v, q in pairs]
        return Item("Services", None, tuple(params))
    if isinstance(m, S9Success | S10Success) or (isinstance(m, Protected) and m.answer):
        props = tuple(Item(f"{PACKAGE}/{n}", v, quoted_value=q) for n, v, q in pairs)
        return Item("Media", None, (Item("TerminationState", None, props),))
    params_t = tuple(Item(n, v, quoted_value=q) for n, v, q in pairs)
    if isinstance(m, S5Challenge | S6Challenge):
        return Item("Events", str(rid), (Item(f"{PACKAGE}/chal", None, params_t),))
    event = "keep" if isinstance(m, Protected) else "resp"
    return Item("ObservedEvents", str(rid), (Item(f"{PACKAGE}/{event}", None, params_t),))


def _collect(items: tuple[Item, ...] | None, prefix: str, out: dict[str, str]) -> None:
    """name (without ``prefix``, lower case) -> value of simple ``name = value`` items."""
    for item in items or ():
        name = item.name.casefold()
        if item.quoted_name or item.value is None or item.children is not None:
            raise MegacoError(f"parameter {item.name!r} is not 'name = value'")
        if not name.startswith(prefix):
            raise MegacoError(f"unknown parameter {item.name!r}")
        key = name[len(prefix):]
        if key in out:
            raise MegacoError(f"parameter {item.name!r} given twice")
        out[key] = item.value


def _event(descriptor: Item, token: str,
           items: tuple[str, ...]) -> tuple[dict[str, str], int, str]:
    """The parameters of the single event ``ngnkd/<item>`` (one of ``items``) of an Events
    or ObservedEvents descriptor (RFC 3525 §7.1.9, §7.1.17), its RequestID and <item>."""
    if not is_token(descriptor.name, token):
        raise MegacoError(f"expected {token}, not {descriptor.name!r}")
    rid = uint32(descriptor.value, "RequestID")
    event = only(descriptor.children, token)
    name = event.name
    if token == "ObservedEvents" and ":" in name:
        stamp, _, name = name.partition(":")
        if _TIMESTAMP.fullmatch(stamp) is None:
            raise MegacoError(f"bad TimeStamp {stamp!r}")
    name = name.casefold()
    item = name.removeprefix(f"{PACKAGE}/")
    if event.quoted_name or event.value is not None or name == item or item not in items:
        raise MegacoError(f"expected the event {PACKAGE}/{'|'.join(items)}, not {event.name!r}")
    params: dict[str, str] = {}
    _collect(event.children, "", params)
    return params, rid, item


def _services(descriptor: Item) -> dict[str, str]:
    """The extension parameters of a ServiceChange with Method = Restart (§7.2.8)."""
    if not is_token(descriptor.name, "Services") or descriptor.value is not None:
        raise MegacoError("expected a Services descriptor")
    method = reason = None
    rest: list[Item] = []
    for item in descriptor.children or ():
        if is_token(item.name, "Method") and not item.quoted_name:
            method = item.value
        elif is_token(item.name, "Reason") and not item.quoted_name:
            reason = item.value
        elif item.name.casefold() in _IGNORED_SC or _TIMESTAMP.fullmatch(item.name):
            continue
        elif item.name[:2].casefold() in ("x-", "x+"):
            rest.append(Item("x-" + item.name[2:], item.value, item.children,
                             item.quoted_name, item.quoted_value))
        else:
            raise MegacoError(f"unknown ServiceChange parameter {item.name!r}")
    if method is None or not is_token(method, "Restart"):
        raise MegacoError(f"ServiceChange Method {method!r} is not Restart")
    if reason is None or re.match(r"[0-9]{3}(?: |$)", reason) is None:
        raise MegacoError(f"ServiceChange Reason {reason!r} is not a reason code")
    params: dict[str, str] = {}
    _collect(tuple(rest), "x-", params)
    return params


def _termination_state(descriptor: Item) -> dict[str, str]:
    """The ``ngnkd/*`` properties of Media { TerminationState {...} } (§7.1.4, §7.1.5)."""
    if not is_token(descriptor.name, "Media") or descriptor.value is not None:
        raise MegacoError("expected Events or Media in Modify")
    state = only(descriptor.children, "Media")
    if not is_token(state.name, "TerminationState") or state.value is not None:
        raise MegacoError("expected TerminationState in Media")
    params: dict[str, str] = {}
    _collect(state.children, f"{PACKAGE}/", params)
    return params


def decode_fields(command: str, descriptor: Item) -> tuple[FlowMessage, int | None]:
    """The flow message a command's descriptor carries, and its RequestID if any."""
    rid: int | None = None
    if command == "ServiceChange":
        p = _services(descriptor)
        kind: type = S1Register if ("n1" in p or "ts1" in p) else S2Forward
    elif command == "Notify":
        p, rid, event = _event(descriptor, "ObservedEvents", ("resp", "keep"))
        kind = Protected if event == "keep" else S7Response if "n2" in p else S8Response
    elif is_token(descriptor.name, "Events"):
        p, rid, _ = _event(descriptor, "Events", ("chal",))
        kind = S6Challenge if "n1" in p else S5Challenge
    else:
        p = _termination_state(descriptor)
        kind = S10Success if "mac" in p else S9Success
    try:
        return _build(kind, p), rid
    except (CodecError, InvalidInput) as exc:
        raise MegacoError(f"{kind.__name__}: {exc}") from None


def decode_answer(descriptor: Item) -> Protected:
    """The :class:`Protected` answer an AuditValue reply's ``Media`` descriptor carries."""
    p = _termination_state(descriptor)
    try:
        message = _build(Protected, p)
    except (CodecError, InvalidInput) as exc:
        raise MegacoError(f"Protected: {exc}") from None
    if not isinstance(message, Protected):  # pragma: no cover - _build(Protected) is one
        raise MegacoError("not a Protected answer")
    return dataclasses.replace(message, answer=True)


def _build(kind: type, p: dict[str, str]) -> FlowMessage:
    required, optional = _LAYOUT[kind]
    id_c, id_sp = _get_id(p, "idc"), _get_id(p, "idsp")
    names = set(p) - {"idc", "idch", "idsp", "idsph"}
    missing = [n for n in required[2:] if n not in names]
    extra = names - set(required) - set(optional)
    if missing or extra:
        raise MegacoError(f"missing {sorted(missing)}, unexpected {sorted(extra)}")

    def hx(name: str, length: int) -> bytes:
        return ngn.unhex(p[name], length)

    def ts(name: str) -> int:
        if _TS.fullmatch(p[name]) is None:
            raise MegacoError(f"{name} {p[name]!r} is not decimal seconds")
        return int(p[name])

    def mechs() -> tuple[Mechanism, ...]:
        return ngn.parse_mechanisms(p["mechs"])

    if kind is S1Register:
        return S1Register(id_c, id_sp, hx("n1", ngn.NONCE_LEN), ts("ts1"))
    if kind is S2Forward:
        return S2Forward(id_c, id_sp)
    if kind is S5Challenge:
        return S5Challenge(id_c, id_sp, hx("rand", ngn.RAND_LEN))
    if kind is S6Challenge:
        flag = p["mech"].casefold()
        if flag not in ("on", "off"):
            raise MegacoError(f"mech {p['mech']!r} is not on / off")
        return S6Challenge(id_c, id_sp, hx("rand", ngn.RAND_LEN), hx("n1", ngn.NONCE_LEN),
                           hx("n2", ngn.NONCE_LEN), ts("ts2"), flag == "on")
    if kind is S7Response:
        return S7Response(id_c, id_sp, hx("n1", ngn.NONCE_LEN), hx("n2", ngn.NONCE_LEN), ts("ts3"),
                          hx("auth", ngn.AUTH_LEN), mechs())
    if kind is S8Response:
        address = ngn.check_id(p["addr"])
        return S8Response(id_c, id_sp, hx("auth", ngn.AUTH_LEN), address,
                          mechs() if "mechs" in p else None)
    if kind is S9Success:
        return S9Success(id_c, id_sp, hx("ekc", ngn.WRAP_LEN), hx("eksp", ngn.WRAP_LEN))
    if kind is Protected:
        mechanism = Mechanism(p["mech"], 0.0).name
        return Protected(id_c, id_sp, mechanism, uint32(p["seq"], "seq"), hx("mac", ngn.MAC_LEN))
    chosen = Mechanism(p["chosen"], 0.0).name
    return S10Success(id_c, id_sp, hx("n1", ngn.NONCE_LEN), hx("n2", ngn.NONCE_LEN), ts("ts4"),
                      hx("ekc", ngn.WRAP_LEN), chosen, mechs(), hx("mac", ngn.MAC_LEN))


def _get_id(p: dict[str, str], name: str) -> str:
    """ID_c / ID_sp from ``name`` (quotedString) or ``name``h (hex of the UTF-8)."""
    if (name in p) == (name + "h" in p):
        raise MegacoError(f"exactly one of {name}, {name}h expected")
    if name in p:
        return ngn.check_id(p[name])
    try:
        return ngn.check_id(ngn.unhex(p[name + "h"]).decode("utf-8"))
    except UnicodeDecodeError:
        raise MegacoError(f"{name}h is not UTF-8") from None

"""The payload layout of the H.323 RAS binding (:mod:`gba.protocols.ngn_ras`): which
``NgnKeyDistribution`` fields each step carries, how a flow message becomes that payload and
back, and how a refusal maps to a GRJ / RRJ rejectReason (the module doc and tables of
:mod:`gba.protocols.ngn_ras`). Reading fails with :class:`~gba.errors.CodecError`, writing
with :class:`~gba.errors.InvalidInput`.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from gba.errors import CodecError, InvalidInput
from gba.protocols import ngn, ras
from gba.protocols.ngn_flow import (
    FlowMessage,
    Protected,
    Refusal,
    Refuse,
    S1Register,
    S2Forward,
    S5Challenge,
    S6Challenge,
    S7Response,
    S8Response,
    S9Success,
    S10Success,
)

TS_MAX = 2**32 - 1
PROTECTED_STEP = 12
"""The payload step of a :class:`Protected` request (keep-alive RRQ) and answer (RCF)."""

GRQ = "gatekeeperRequest"
GRJ = "gatekeeperReject"
RRQ = "registrationRequest"
RCF = "registrationConfirm"
RRJ = "registrationReject"
XRS = "unknownMessageResponse"

_REFUSAL_ASN = {
    Refusal.MALFORMED: "malformed",
    Refusal.UNKNOWN_TERMINAL: "unknownTerminal",
    Refusal.UNKNOWN_PROXY: "unknownProxy",
    Refusal.STALE: "stale",
    Refusal.REPLAY: "replay",
    Refusal.NOT_ECHOED: "notEchoed",
    Refusal.AUTH_FAILED: "authFailed",
    Refusal.NO_COMMON_MECHANISM: "noCommonMechanism",
    Refusal.UNAVAILABLE: "unavailable",
}
_ASN_REFUSAL = {v: k for k, v in _REFUSAL_ASN.items()}

_SECURITY_ERROR = {
    Refusal.UNKNOWN_PROXY: "securityWrongSendersID",
    Refusal.STALE: "securityWrongSyncTime",
    Refusal.REPLAY: "securityReplay",
    Refusal.NOT_ECHOED: "securityIntegrityFailed",
}
_SECURITY_REFUSAL = {v: k for k, v in _SECURITY_ERROR.items()}

_COMMON_REASON = {
    Refusal.MALFORMED: "undefinedReason",
    Refusal.AUTH_FAILED: "securityDenial",
    Refusal.NO_COMMON_MECHANISM: "neededFeatureNotSupported",
    Refusal.UNAVAILABLE: "resourceUnavailable",
}
_GRJ_UNKNOWN_TERMINAL = "terminalExcluded"
_RRJ_UNKNOWN_TERMINAL = "invalidAlias"

_STEP_FIELDS: dict[int, frozenset[str]] = {
    0: frozenset({"refusal"}),
    1: frozenset({"n1", "ts1"}),
    2: frozenset(),
    5: frozenset({"rand"}),
    6: frozenset({"rand", "n1", "n2", "ts2", "wantMechanisms"}),
    7: frozenset({"n1", "n2", "ts3", "authenticator", "mechanisms"}),
    8: frozenset({"authenticator", "address"}),
    9: frozenset({"eKc", "eKsp"}),
    10: frozenset({"n1", "n2", "ts4", "eKc", "chosen", "mechanisms", "mac"}),
    PROTECTED_STEP: frozenset({"chosen", "seq", "mac"}),
}
"""The payload fields each step must carry (besides step, idC, idSp)."""
_STEP_OPTIONAL: dict[int, frozenset[str]] = {0: frozenset({"detail"}),
                                             8: frozenset({"mechanisms"})}


# --- RAS body fields ------------------------------------------------------------------


def bmp(text: str, limit: int) -> str | None:
    """``text`` if it fits a BMPString (SIZE (1..limit)), else None."""
    if 1 <= len(text) <= limit and all(ord(ch) <= 0xFFFF for ch in text):
        return text
    return None


def transport(host: str, port: int) -> tuple[str, dict[str, Any]]:
    """TransportAddress ipAddress / ip6Address (H.225.0 §7, H323-MESSAGES)."""
    addr = ipaddress.ip_address(host)
    kind = "ipAddress" if addr.version == 4 else "ip6Address"
    return kind, {"ip": addr.packed, "port": port}


def nonstandard(payload: dict[str, Any]) -> dict[str, Any]:
    """The root ``nonStandardData`` carrying ``payload`` under :data:`ras.NGN_OID`."""
    return {"nonStandardIdentifier": ("object", ras.NGN_OID),
            "data": ras.encode_payload(payload)}


# --- payload <-> flow messages ---------------------------------------------------------


def _ts(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= TS_MAX:
        raise InvalidInput(f"timestamp {value!r} is not 0..{TS_MAX}")
    return value


def _seq(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= TS_MAX:
        raise InvalidInput(f"seq {value!r} is not 0..{TS_MAX}")
    return value


def _need(name: str, value: bytes, length: int) -> bytes:
    if not isinstance(value, bytes) or len(value) != length:
        raise InvalidInput(f"{name} must be {length} octets")
    return value


def _detail(text: str) -> str:
    """Refuse.detail cut to 255 UTF-8 octets at a character boundary [P]."""
    return text.encode("utf-8")[:255].decode("utf-8", "ignore")


def payload_of(message: FlowMessage) -> dict[str, Any]:
    """The NgnKeyDistribution value [P] of a flow message (fields validated)."""
    p: dict[str, Any] = {"idC": message.id_c, "idSp": message.id_sp}
    n, nl = ngn.NONCE_LEN, "N"
    match message:
        case S1Register():
            p |= {"step": 1, "n1": _need(nl + "1", message.n1, n), "ts1": _ts(message.ts1)}
        case S2Forward():
            p |= {"step": 2}
        case S5Challenge():
            p |= {"step": 5, "rand": _need("Rand", message.rand, ngn.RAND_LEN)}
        case S6Challenge():
            p |= {"step": 6, "rand": _need("Rand", message.rand, ngn.RAND_LEN),
                  "n1": _need("N1", message.n1, n), "n2": _need("N2", message.n2, n),
                  "ts2": _ts(message.ts2), "wantMechanisms": bool(message.want_mechanisms)}
        case S7Response():
            p |= {"step": 7, "n1": _need("N1'", message.n1, n),
                  "n2": _need("N2", message.n2, n), "ts3": _ts(message.ts3),
                  "authenticator": _need("Authenticator_c", message.authenticator,
                                         ngn.AUTH_LEN),
                  "mechanisms": ngn.format_mechanisms(message.mechanisms)}
        case S8Response():
            p |= {"step": 8, "authenticator": _need("Authenticator_c", message.authenticator,
                                                    ngn.AUTH_LEN),
                  "address": _address(message.address)}
            if message.mechanisms is not None:
                p["mechanisms"] = ngn.format_mechanisms(message.mechanisms)
        case S9Success():
            p |= {"step": 9, "eKc": _need("E_Kc", message.e_kc, ngn.WRAP_LEN),
                  "eKsp": _need("E_Ksp", message.e_ksp, ngn.WRAP_LEN)}
        case S10Success():
            ngn.Mechanism(message.chosen, 0.0)
            p |= {"step": 10, "n1": _need("N1'", message.n1, n),
                  "n2": _need("N2", message.n2, n), "ts4": _ts(message.ts4),
                  "eKc": _need("E_Kc", message.e_kc, ngn.WRAP_LEN), "chosen": message.chosen,
                  "mechanisms": ngn.format_mechanisms(message.mechanisms),
                  "mac": _need("MAC", message.mac, ngn.MAC_LEN)}
        case Protected():
            ngn.Mechanism(message.mechanism, 0.0)
            p |= {"step": PROTECTED_STEP, "chosen": message.mechanism, "seq": _seq(message.seq),
                  "mac": _need("MAC", message.mac, ngn.MAC_LEN)}
        case Refuse():
            p |= {"step": 0, "refusal": _REFUSAL_ASN[message.refusal]}
            detail = _detail(message.detail)
            if detail:
                p["detail"] = detail
        case _:
            raise InvalidInput(f"{type(message).__name__} is not carried over RAS")
    return p


def _address(text: str) -> str:
    """The terminal's IP address as text (s8) [P: an IPv4 or IPv6 literal]."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise InvalidInput(f"address {text!r} is not an IP address") from None
    return text


def parsed_payload(body: dict[str, Any], kind: str) -> dict[str, Any]:
    """Our NgnKeyDistribution from a RAS body, with exactly its step's fields."""
    nsd = body.get("nonStandardData")
    if nsd is None:
        raise CodecError(f"{kind} without the key-distribution nonStandardData")
    if nsd["nonStandardIdentifier"] != ("object", ras.NGN_OID):
        raise CodecError("nonStandardData is not the NGN key distribution")
    pay = ras.decode_payload(nsd["data"])
    step = pay["step"]
    if step not in _STEP_FIELDS:
        raise CodecError(f"no step {step} in this flow")
    present = set(pay) - {"step", "idC", "idSp"}
    need = _STEP_FIELDS[step]
    if not need <= present or present - need - _STEP_OPTIONAL.get(step, frozenset()):
        raise CodecError(f"step {step} carries {sorted(present)}, wants {sorted(need)}")
    ngn.check_id(pay["idC"])
    ngn.check_id(pay["idSp"])
    return pay


def _octets(pay: dict[str, Any], name: str, length: int) -> bytes:
    value = pay[name]
    if not isinstance(value, bytes) or len(value) != length:
        raise CodecError(f"{name} is not {length} octets")
    return value


def message_of(pay: dict[str, Any], answer: bool = False) -> FlowMessage:
    """The flow message of a checked payload (``answer``: it came in a RAS answer, which
    makes step 12 a Protected answer)."""
    ids = (pay["idC"], pay["idSp"])
    n = ngn.NONCE_LEN
    match pay["step"]:
        case 0:
            refusal = _ASN_REFUSAL.get(pay["refusal"])
            if refusal is None:
                raise CodecError(f"unknown refusal {pay['refusal']!r}")
            return Refuse(*ids, refusal, pay.get("detail", ""))
        case 1:
            return S1Register(*ids, _octets(pay, "n1", n), pay["ts1"])
        case 2:
            return S2Forward(*ids)
        case 5:
            return S5Challenge(*ids, _octets(pay, "rand", ngn.RAND_LEN))
        case 6:
            return S6Challenge(*ids, _octets(pay, "rand", ngn.RAND_LEN),
                               _octets(pay, "n1", n), _octets(pay, "n2", n), pay["ts2"],
                               pay["wantMechanisms"])
        case 7:
            return S7Response(*ids, _octets(pay, "n1", n), _octets(pay, "n2", n), pay["ts3"],
                              _octets(pay, "authenticator", ngn.AUTH_LEN),
                              ngn.parse_mechanisms(pay["mechanisms"]))
        case 8:
            mechs = pay.get("mechanisms")
            return S8Response(*ids, _octets(pay, "authenticator", ngn.AUTH_LEN),
                              _checked_address(pay["address"]),
                              None if mechs is None else ngn.parse_mechanisms(mechs))
        case 12:
            ngn.Mechanism(pay["chosen"], 0.0)
            return Protected(*ids, pay["chosen"], pay["seq"], _octets(pay, "mac", ngn.MAC_LEN),
                             answer)
        case 9:
            return S9Success(*ids, _octets(pay, "eKc", ngn.WRAP_LEN),
                             _octets(pay, "eKsp", ngn.WRAP_LEN))
        case _:
            ngn.Mechanism(pay["chosen"], 0.0)
            return S10Success(*ids, _octets(pay, "n1", n), _octets(pay, "n2", n), pay["ts4"],
                              _octets(pay, "eKc", ngn.WRAP_LEN), pay["chosen"],
                              ngn.parse_mechanisms(pay["mechanisms"]),
                              _octets(pay, "mac", ngn.MAC_LEN))


def _checked_address(text: str) -> str:
    try:
        return _address(text)
    except InvalidInput as exc:
        raise CodecError(str(exc)) from None


def check_alias(aliases: list[Any] | None, id_c: str) -> None:
    """An h323-ID alias, when present, must be ID_c [P]."""
    for alias in aliases or ():
        if alias[0] == "h323-ID" and alias[1] != id_c:
            raise CodecError("the h323-ID alias is not ID_c")


# --- reject reasons -------------------------------------------------------------------


def reject_reason(refusal: Refusal, kind: str) -> tuple[str, Any]:
    """GatekeeperRejectReason / RegistrationRejectReason of a refusal (table above)."""
    if refusal in _SECURITY_ERROR:
        return "securityError", (_SECURITY_ERROR[refusal], None)
    if refusal is Refusal.UNKNOWN_TERMINAL:
        return (_GRJ_UNKNOWN_TERMINAL if kind == GRQ else _RRJ_UNKNOWN_TERMINAL), None
    return _COMMON_REASON[refusal], None


def refusal_of(reason: tuple[str, Any]) -> Refusal:
    """The Refusal of a GRJ/RRJ reason without our payload (many-to-one) [P]."""
    name, value = reason
    if name == "securityError":
        return _SECURITY_REFUSAL.get(value[0], Refusal.AUTH_FAILED)
    if name in (_GRJ_UNKNOWN_TERMINAL, _RRJ_UNKNOWN_TERMINAL):
        return Refusal.UNKNOWN_TERMINAL
    for refusal, common in _COMMON_REASON.items():
        if common == name:
            return refusal
    return Refusal.MALFORMED

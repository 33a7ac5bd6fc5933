"""Diameter EAP DER/DEA carrying EAP-AKA and, on success, GBA user information (case D).

Diameter EAP (RFC 4072; Application-Id 5, command 268) from a visited server through the
visited and home AAAs to the home BSF (docs/roaming.md §1 case D, steps 405-411). The
command formats are RFC 4072 §3.1 and §3.2 (text read in a copy of the RFC, mobius
corsac-diameter ``EAPRequest.java`` / ``EAPAnswer.java``), of which these AVPs are used::

    DER: < Session-Id > { Auth-Application-Id } { Origin-Host } { Origin-Realm }
         { Destination-Realm } { Auth-Request-Type } [ Destination-Host ] [ User-Name ]
         { EAP-Payload } [ Auth-Session-State ] *[ Proxy-Info ] *[ Route-Record ] *[ AVP ]
    DEA: < Session-Id > { Auth-Application-Id } { Auth-Request-Type } { Result-Code }
         { Origin-Host } { Origin-Realm } [ User-Name ] [ EAP-Payload ]
         [ EAP-Reissued-Payload ] [ EAP-Master-Session-Key ] [ Multi-Round-Time-Out ]
         *[ Failed-AVP ] [ Auth-Session-State ] *[ Proxy-Info ] *[ AVP ]

The DEA's Result-Code (RFC 4072 §3.2, RFC 6733 §7.1): 1001 DIAMETER_MULTI_ROUND_AUTH with
the next EAP-Request in EAP-Payload; 2001 with EAP-Success; 4001
DIAMETER_AUTHENTICATION_REJECTED with EAP-Failure; 5003 DIAMETER_AUTHORIZATION_REJECTED.

This project's choices (docs/roaming.md §1 D):

* Auth-Request-Type = AUTHORIZE_AUTHENTICATE (3, RFC 6733 §8.7): EAP-AKA authenticates
  the user and the answer authorises the server with key information. A DER with another
  value is refused with 5004 and the AVP in Failed-AVP (as :mod:`gba.protocols.nasreq`).
* User-Name (the NAI, ``0<IMSI>@<home realm>``, RFC 4187 §4.1.1.6) and NAF-Id (402/10415)
  are required in every DER: the home BSF derives the key for that NAF_Id.
  Visited-Network-Identifier (600/10415) is added by the home AAA
  (:func:`with_visited_network`).
* No State AVP: the home server keys its EAP run on Session-Id.
* A successful DEA carries the user information of a BIA (TS 29.109 §4.5 AVPs, shared
  with NASREQ: :func:`gba.protocols.nasreq.user_info_avps`) and Transaction-Identifier =
  the B-TID allocated for this run, and **never** EAP-Master-Session-Key (464): the key
  information is Ks or a key derived from it (docs/roaming.md §1 row 409). No builder
  here can emit 464, and :func:`parse_dea` refuses a DEA that carries it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from gba.errors import CodecError
from gba.protocols import zn
from gba.protocols.diameter import (
    APP_EAP,
    CMD_DIAMETER_EAP,
    VENDOR_3GPP,
    Avp,
    Message,
    PeerIdentity,
    avp,
    need_avp,
)
from gba.protocols.diameter import dictionary as d
from gba.protocols.diameter.capabilities import reject_unknown_mandatory
from gba.protocols.nasreq import (
    USER_INFO_AVPS,
    application_error,
    check_header,
    check_request_type,
    parse_user_info,
    user_info_avps,
)

AUTHORIZE_AUTHENTICATE = 3
"""Auth-Request-Type of every DER and DEA here (RFC 6733 §8.7)."""
EAP_MASTER_SESSION_KEY = 464
"""RFC 4072 §4.1.3: never sent, refused on receipt."""
_EAP_PAYLOAD = 462
_NO_STATE_MAINTAINED = 1
_PROXY_INFO = 284
_EAP_REQUEST, _EAP_SUCCESS = 1, 3
"""EAP packet codes (RFC 3748 §4)."""

_DER_AVPS = frozenset(d.avp_key(code, VENDOR_3GPP) for code in (402, 600))
"""The GBA AVPs a DER may carry with the M bit set (besides the base protocol's)."""


@dataclass(frozen=True, slots=True)
class EapRequest:
    """One Diameter-EAP-Request (RFC 4072 §3.1) of an EAP-AKA run."""

    session_id: str
    """Kept for every round of one run (RFC 4072 §2.1: one Diameter session)."""
    nai: str
    eap_payload: bytes = field(repr=False)
    """The EAP-Response (it may hold AT_RES): not in repr."""
    naf_id: bytes
    origin_host: str = ""
    origin_realm: str = ""
    visited_network: str | None = None
    """Visited-Network-Identifier (600/10415), added by the home AAA."""


@dataclass(frozen=True, slots=True)
class EapAnswer:
    """What a Diameter-EAP-Answer (RFC 4072 §3.2) brings back."""

    result_code: int
    eap_payload: bytes | None = field(repr=False)
    user: zn.KeyAnswer | None = None
    """The user information, on 2001 only."""
    btid: str | None = None
    """Transaction-Identifier: the B-TID the home BSF allocated for this run."""


def _eap_code(payload: bytes, where: str) -> int:
    """The code of an EAP packet (RFC 3748 §4: code, identifier, 2-octet length that
    covers the whole packet); :class:`CodecError` when the header does not hold."""
    if len(payload) < 4 or int.from_bytes(payload[2:4], "big") != len(payload):
        raise CodecError(f"{where} EAP-Payload of {len(payload)} octets is not one EAP "
                         "packet")
    return payload[0]


# ------------------------------------------------------------------ DER


def build_der(local: PeerIdentity, destination_realm: str, req: EapRequest,
              destination_host: str | None = None) -> Message:
    """Diameter-EAP-Request (RFC 4072 §3.1): User-Name = NAI, the EAP-Response, NAF-Id."""
    avps = [avp("Session-Id", req.session_id), avp("Auth-Application-Id", APP_EAP),
            avp("Origin-Host", local.origin_host), avp("Origin-Realm", local.origin_realm),
            avp("Destination-Realm", destination_realm)]
    if destination_host:
        avps.append(avp("Destination-Host", destination_host))
    avps += [avp("Auth-Request-Type", AUTHORIZE_AUTHENTICATE), avp("User-Name", req.nai),
             avp("EAP-Payload", req.eap_payload),
             avp("Auth-Session-State", _NO_STATE_MAINTAINED), avp("NAF-Id", req.naf_id)]
    if req.visited_network:
        avps.append(avp("Visited-Network-Identifier", req.visited_network.encode("utf-8")))
    return Message.new(CMD_DIAMETER_EAP, APP_EAP, avps=avps)


def with_visited_network(der: Message, realm: str) -> Message:
    """The DER as the home AAA forwards it to its BSF (docs/roaming.md §1 step 407): any
    Visited-Network-Identifier replaced by *realm* (the Origin-Realm the DER came from)."""
    kept = [a for a in der.avps if (a.code, a.vendor) != (600, VENDOR_3GPP)]
    return der.with_avps([*kept, avp("Visited-Network-Identifier", realm.encode("utf-8"))])


def parse_der(msg: Message) -> EapRequest:
    """The server's DER. :class:`~gba.protocols.diameter.MissingAvp` (5005) for a
    required AVP absent, :class:`~gba.protocols.diameter.capabilities.UnsupportedAvp`
    (5001) for an M-bit AVP this DER does not know (RFC 6733 §4.1), 5004 for
    Auth-Request-Type other than 3. An empty EAP-Payload is allowed (RFC 4072 §3.1: it
    starts a run)."""
    check_header(msg, APP_EAP, CMD_DIAMETER_EAP, True, "DER")
    reject_unknown_mandatory(msg, _DER_AVPS, "DER")
    need_avp(msg, d.DESTINATION_REALM, 0, "DER")
    check_request_type(msg, AUTHORIZE_AUTHENTICATE, "DER")
    visited = msg.find(600, VENDOR_3GPP)
    return EapRequest(
        session_id=need_avp(msg, d.SESSION_ID, 0, "DER").as_str(),
        nai=need_avp(msg, d.USER_NAME, 0, "DER").as_str(),
        eap_payload=need_avp(msg, _EAP_PAYLOAD, 0, "DER").as_bytes(),
        naf_id=need_avp(msg, 402, VENDOR_3GPP, "DER").as_bytes(),
        origin_host=need_avp(msg, d.ORIGIN_HOST, 0, "DER").as_str(),
        origin_realm=need_avp(msg, d.ORIGIN_REALM, 0, "DER").as_str(),
        visited_network=(visited.as_bytes().decode("utf-8", "replace")
                         if visited is not None else None))


# ------------------------------------------------------------------ DEA


def _dea(request: Message, local: PeerIdentity, result: int, body: Iterable[Avp]) -> Message:
    """Every DEA built here: the fixed head of RFC 4072 §3.2, *body*, Proxy-Info copied
    (RFC 6733 §6.2). None of the builders passes EAP-Master-Session-Key."""
    avps = [request.find(d.SESSION_ID) or avp("Session-Id", ""),
            avp("Auth-Application-Id", APP_EAP),
            avp("Auth-Request-Type", AUTHORIZE_AUTHENTICATE),
            avp("Result-Code", result),
            avp("Origin-Host", local.origin_host), avp("Origin-Realm", local.origin_realm),
            avp("Auth-Session-State", _NO_STATE_MAINTAINED), *body]
    return request.answer([*avps, *request.find_all(_PROXY_INFO)])


def build_dea_challenge(request: Message, local: PeerIdentity, eap_payload: bytes,
                        multi_round_timeout: int | None = None) -> Message:
    """DEA 1001 DIAMETER_MULTI_ROUND_AUTH with the next EAP-Request (EAP-AKA Challenge,
    RFC 4187 §9.3) and, if given, Multi-Round-Time-Out in seconds (RFC 4072 §4.1.5)."""
    body = [avp("EAP-Payload", eap_payload)]
    if multi_round_timeout is not None:
        body.append(avp("Multi-Round-Time-Out", multi_round_timeout))
    return _dea(request, local, d.ResultCode.MULTI_ROUND_AUTH, body)


def build_dea_success(request: Message, local: PeerIdentity, eap_payload: bytes,
                      user: zn.KeyAnswer, btid: str | None = None) -> Message:
    """DEA 2001 with EAP-Success, the user information (User-Name = IMPI, the key for the
    DER's NAF-Id or Ks with Key-Kind, expiry, creation time, [GBA-UserSecSettings]) and
    Transaction-Identifier = *btid* when the home BSF allocated one. No MSK."""
    body = [avp("EAP-Payload", eap_payload), *user_info_avps(user)]
    if btid is not None:
        body.append(avp("Transaction-Identifier", btid.encode("utf-8")))
    return _dea(request, local, d.ResultCode.SUCCESS, body)


def build_dea_failure(request: Message, local: PeerIdentity, eap_payload: bytes) -> Message:
    """DEA 4001 DIAMETER_AUTHENTICATION_REJECTED with EAP-Failure and no user information
    (wrong RES, bad AT_MAC, unknown IMSI: docs/roaming.md §3)."""
    return _dea(request, local, d.ResultCode.AUTHENTICATION_REJECTED,
                [avp("EAP-Payload", eap_payload)])


def build_dea_error(request: Message, local: PeerIdentity, code: int,
                    failed: Avp | Iterable[Avp] | None = None,
                    eap_payload: bytes | None = None) -> Message:
    """A DEA refusing the DER (:func:`gba.protocols.nasreq.application_error`): 3xxx with
    the E bit, 54xx as Experimental-Result 10415, others (5003, 5004, ...) as Result-Code
    with *failed* in Failed-AVP and *eap_payload* (an EAP-Failure, RFC 4072 §3.2 "SHOULD
    include an EAP-Payload") when given."""
    extra = [avp("EAP-Payload", eap_payload)] if eap_payload is not None else []
    return application_error(request, local, APP_EAP, AUTHORIZE_AUTHENTICATE, code, failed,
                             extra)


def parse_dea(msg: Message) -> EapAnswer:
    """What a DEA brings back. :class:`CodecError` for a DEA carrying
    EAP-Master-Session-Key (the server never takes an MSK for key information), for 1001
    without an EAP-Request, for 2001 without EAP-Success, User-Name or key material (the
    server refuses: seed 000 claim 7), and
    :class:`~gba.protocols.diameter.capabilities.UnsupportedAvp` for an M-bit AVP it does
    not know. Other results (4001, 5003, errors) carry no user information."""
    check_header(msg, APP_EAP, CMD_DIAMETER_EAP, False, "DEA")
    if any(a.code == EAP_MASTER_SESSION_KEY and not a.vendor for a in msg.avps):
        raise CodecError("DEA carries EAP-Master-Session-Key (464): key information must "
                         "be Ks or derived from it, never the MSK")
    reject_unknown_mandatory(msg, USER_INFO_AVPS, "DEA")
    result = msg.result_code
    if result is None:
        raise CodecError("DEA carries neither Result-Code nor Experimental-Result")
    found = msg.find(_EAP_PAYLOAD)
    payload = found.as_bytes() if found is not None else None
    if result == d.ResultCode.MULTI_ROUND_AUTH:
        if payload is None or _eap_code(payload, "DEA") != _EAP_REQUEST:
            raise CodecError("DEA 1001 does not carry an EAP-Request")
        return EapAnswer(result, payload)
    if result != d.ResultCode.SUCCESS:
        return EapAnswer(result, payload)
    if payload is None or _eap_code(payload, "DEA") != _EAP_SUCCESS:
        raise CodecError("DEA 2001 does not carry EAP-Success")
    user = parse_user_info(msg, "DEA")
    tid = msg.find(401, VENDOR_3GPP)
    try:
        btid = tid.as_bytes().decode("utf-8") if tid is not None else None
    except UnicodeDecodeError:
        raise CodecError("DEA Transaction-Identifier is not UTF-8") from None
    return EapAnswer(result, payload, user, btid)

"""NASREQ AA-Request/AA-Answer carrying GBA user information (roaming case C).

Diameter NASREQ (RFC 7155; Application-Id 1, command 265) between a visited server, the
visited AAA and the home AAA (docs/roaming.md §1 case C, steps 303-310). The command
formats are RFC 7155 §3.1 and §3.2 (text read in a copy of the RFC, mobius corsac-diameter
``AARequest.java`` / ``AAAnswer.java``), of which these AVPs are used::

    AAR: < Session-Id > { Auth-Application-Id } { Origin-Host } { Origin-Realm }
         { Destination-Realm } { Auth-Request-Type } [ Destination-Host ] [ User-Name ]
         [ Auth-Session-State ] *[ Proxy-Info ] *[ Route-Record ] *[ AVP ]
    AAA: < Session-Id > { Auth-Application-Id } { Auth-Request-Type } { Result-Code }
         { Origin-Host } { Origin-Realm } [ User-Name ] *[ Failed-AVP ]
         [ Authorization-Lifetime ] [ Auth-Session-State ] *[ Proxy-Info ] *[ AVP ]

This project's choices (no specification puts GBA in NASREQ; docs/roaming.md §1 C):

* Auth-Request-Type = AUTHORIZE_ONLY (2, RFC 6733 §8.7): the visited server asks for a
  user's key information, nothing is authenticated here. An AAR with another value is
  refused with 5004 DIAMETER_INVALID_AVP_VALUE and that AVP in Failed-AVP (RFC 6733
  §7.1.5, which requires Failed-AVP for 5004): it names the AVP at fault, where 5012
  DIAMETER_UNABLE_TO_COMPLY ("unspecified reasons") would not.
* User-Name (optional in RFC 7155) is required: in the AAR it is the B-TID, which is
  an NAI (``base64(RAND)@BSF name``, TS 33.220 §4.5.2) so AAA proxies route on its realm
  (RFC 5729); in the AAA it is the IMPI the home network supplies. Whether the B-TID is
  well formed is the AAA's check (answer 4001, docs/roaming.md §3), not the codec's.
* The TS 29.109 GBA AVPs ride in the ``*[ AVP ]`` of both commands, unchanged: NAF-Id,
  GAA-Service-Identifier, GBA_U-Awareness-Indicator and Visited-Network-Identifier
  (TS 29.229 §6.3) in the AAR; ME-Key-Material, UICC-Key-Material, Key-ExpiryTime,
  BootstrapInfoCreationTime, Transaction-Identifier (the B-TID), GBA-UserSecSettings and
  Key-Kind (this project's, :mod:`gba.protocols.roaming`) in the AAA.
* Auth-Session-State = NO_STATE_MAINTAINED (RFC 6733 §8.11) in both: one AAR per key
  request, no session to terminate with an STR.
* Authorization-Lifetime (RFC 6733 §8.9) = whole seconds from *now* to Key-ExpiryTime,
  never negative (0 = authorise again at once).
* Either side refuses a message with an M-bit AVP it does not know (RFC 6733 §4.1), the
  answer included: that is what makes Key-Kind's M bit protect a server that would take
  Ks for Ks_NAF.
* An answer lacking User-Name or key material is refused by the server (seed 000 claim 7,
  docs/roaming.md §3): :func:`parse_aaa` raises :class:`CodecError`.

:func:`user_info_avps`, :func:`parse_user_info` and :func:`application_error` are shared
with :mod:`gba.protocols.diameter_eap`, whose answers carry the same user information.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from gba.errors import CodecError, InvalidInput
from gba.protocols import zn
from gba.protocols.diameter import (
    APP_NASREQ,
    CMD_AA,
    VENDOR_3GPP,
    VENDOR_PROJECT,
    Avp,
    DiameterCodecError,
    Message,
    PeerIdentity,
    avp,
    experimental_result,
    need_avp,
)
from gba.protocols.diameter import dictionary as d
from gba.protocols.diameter.capabilities import error_answer, reject_unknown_mandatory
from gba.protocols.guss import decode_uss_list
from gba.protocols.roaming import KeyKind

log = logging.getLogger(__name__)

AUTHORIZE_ONLY = 2
"""Auth-Request-Type of every AAR and AAA here (RFC 6733 §8.7)."""
_NO_STATE_MAINTAINED = 1
_PROXY_INFO = 284
_MAX_LIFETIME = 0xFFFFFFFE
"""All ones means "no re-authorisation expected" (RFC 6733 §8.9): a finite key never
gets it."""

_AAR_AVPS = frozenset(
    d.avp_key(code, VENDOR_3GPP) for code in (402, 403, 407, 600))
"""The GBA AVPs an AAR may carry with the M bit set (besides the base protocol's)."""
USER_INFO_AVPS = frozenset(
    [d.avp_key(code, VENDOR_3GPP) for code in (400, 401, 404, 405, 406, 408, 410)]
    + [d.avp_key(d.KEY_KIND, VENDOR_PROJECT)])
"""The AVPs of user information an answer may carry with the M bit set (TS 29.109 §6.3.1;
GBA-Type accepted from a home network that copies a BIA whole)."""


@dataclass(frozen=True, slots=True)
class AuthRequest:
    """A visited server's AAR (RFC 7155 §3.1) asking for the user behind a B-TID."""

    btid: str
    naf_id: bytes
    gaa_service_ids: tuple[bytes, ...] = ()
    gba_u_aware: bool = False
    origin_host: str = ""
    """Origin-Host of a received AAR (the server that asked); not used when building."""
    origin_realm: str = ""
    """Origin-Realm of a received AAR: the visited network (unchanged by AAA proxies)."""
    visited_network: str | None = None
    """Visited-Network-Identifier (600/10415, TS 29.229 §6.3), when the sender adds it."""


def to_key_request(auth: AuthRequest) -> zn.KeyRequest:
    """The BIR a home AAA sends its BSF for an AAR (docs/roaming.md §1 step 306):
    Transaction-Identifier = User-Name, the AAR's NAF-Id, and Visited-Network-Identifier
    = the AAR's Origin-Realm (this project's use of 600 in a BIR; the BSF trusts it only
    from its configured AAAs). A Visited-Network-Identifier inside the AAR is not copied:
    the realm the request came from is the one the home operator's policy applies to."""
    return zn.KeyRequest(btid=auth.btid, naf_id=auth.naf_id,
                         gaa_service_ids=auth.gaa_service_ids, gba_u_aware=auth.gba_u_aware,
                         origin_host=auth.origin_host,
                         visited_network=auth.origin_realm or None)


def from_key_request(req: zn.KeyRequest) -> AuthRequest:
    """The AAR a visited server sends instead of a BIR (``key_source = "nasreq"``): the
    same B-TID, NAF-Id and service identifiers (the inverse of :func:`to_key_request`)."""
    return AuthRequest(btid=req.btid, naf_id=req.naf_id, gaa_service_ids=req.gaa_service_ids,
                       gba_u_aware=req.gba_u_aware, visited_network=req.visited_network)


def authorization_lifetime(expiry: datetime, now: datetime) -> int:
    """Authorization-Lifetime (RFC 6733 §8.9): whole seconds from *now* until *expiry*,
    0 once it is past, never the all-ones "unlimited" value. Naive times are UTC."""
    if expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return min(max(0, math.floor((expiry - now).total_seconds())), _MAX_LIFETIME)


def result_for_bia(code: int) -> int:
    """The Result-Code a home AAA (or the EAP server) answers for a Zn result
    (docs/roaming.md §3): 5403/5401 -> 4001 AUTHENTICATION_REJECTED, 5402 -> 5003
    AUTHORIZATION_REJECTED, protocol errors (3xxx) unchanged, any other failure (a BIR
    the BSF could not read is the AAA's fault, not the server's) -> 5012."""
    if code in (d.ResultCode.SUCCESS, d.ResultCode.MULTI_ROUND_AUTH) or 3000 <= code < 4000:
        return code
    if code in (d.ExperimentalResultCode.TRANSACTION_IDENTIFIER_INVALID,
                d.ExperimentalResultCode.IMPI_UNKNOWN):
        return d.ResultCode.AUTHENTICATION_REJECTED
    if code == d.ExperimentalResultCode.NOT_AUTHORIZED:
        return d.ResultCode.AUTHORIZATION_REJECTED
    return d.ResultCode.UNABLE_TO_COMPLY


# ------------------------------------------------------------------ shared pieces


def check_header(msg: Message, application: int, command: int, request: bool,
                 where: str) -> None:
    """A :class:`CodecError` for a message of another command, application or direction."""
    if (msg.command_code, msg.application_id, msg.is_request) != (command, application,
                                                                  request):
        raise CodecError(f"{where} expected, got command {msg.command_code} application "
                         f"{msg.application_id} ({'request' if msg.is_request else 'answer'})")


def check_request_type(msg: Message, expected: int, where: str) -> None:
    """Auth-Application-Id and Auth-Request-Type present, the latter *expected*; another
    value is 5004 with the AVP in Failed-AVP (RFC 6733 §7.1.5)."""
    need_avp(msg, d.AUTH_APPLICATION_ID, 0, where)
    kind = need_avp(msg, 274, 0, where)
    if kind.as_int() != expected:
        raise DiameterCodecError(f"{where} Auth-Request-Type {kind.as_int()} is not "
                                 f"{expected}", result_code=d.ResultCode.INVALID_AVP_VALUE,
                                 failed=kind)


def user_info_avps(user: zn.KeyAnswer) -> list[Avp]:
    """User identity and key information (TS 29.109 §4.5 BIA AVPs, here in a NASREQ or
    EAP answer): User-Name = IMPI, ME-/UICC-Key-Material, Key-ExpiryTime,
    BootstrapInfoCreationTime, [GBA-UserSecSettings], [Key-Kind = KS]."""
    avps = [avp("User-Name", user.impi)]
    if user.me_key is not None:
        avps.append(avp("ME-Key-Material", user.me_key))
    if user.uicc_key is not None:
        avps.append(avp("UICC-Key-Material", user.uicc_key))
    avps += [avp("Key-ExpiryTime", user.expiry),
             avp("BootstrapInfoCreationTime", user.created)]
    if user.uss is not None:
        avps.append(avp("GBA-UserSecSettings", user.uss.encode("utf-8")))
    if user.key_kind is KeyKind.KS:
        avps.append(avp("Key-Kind", int(KeyKind.KS)))
    return avps


def parse_user_info(msg: Message, where: str) -> zn.KeyAnswer:
    """The user information of a successful answer; :class:`CodecError` without User-Name,
    Key-ExpiryTime or any key material (the server then refuses, seed 000 claim 7)."""
    user = msg.find(d.USER_NAME)
    expiry = msg.find(404, VENDOR_3GPP)
    if user is None or not user.data:
        raise CodecError(f"{where} lacks User-Name (the IMPI): no user identity")
    if expiry is None:
        raise CodecError(f"{where} lacks Key-ExpiryTime")
    me = msg.find(405, VENDOR_3GPP)
    uicc = msg.find(406, VENDOR_3GPP)
    if me is None and uicc is None:
        raise CodecError(f"{where} carries neither ME-Key-Material nor UICC-Key-Material")
    created = msg.find(408, VENDOR_3GPP)
    kind = msg.find(d.KEY_KIND, VENDOR_PROJECT)
    try:
        key_kind = KeyKind(kind.as_int()) if kind is not None else KeyKind.KS_NAF
    except ValueError:
        raise CodecError(f"{where} Key-Kind {kind.as_int() if kind else None} "
                         "unknown") from None
    session = msg.find(d.SESSION_ID)
    return zn.KeyAnswer(
        impi=user.as_str(), expiry=expiry.as_time(),
        created=created.as_time() if created is not None else expiry.as_time(),
        me_key=me.as_bytes() if me is not None else None,
        uicc_key=uicc.as_bytes() if uicc is not None else None,
        uss=_uss(msg.find_all(400, VENDOR_3GPP), where), key_kind=key_kind,
        session=session.as_str() if session is not None else "")


def _uss(found: list[Avp], where: str) -> str | None:
    """The one GBA-UserSecSettings ``ussList`` (TS 29.109 §6.3.1.1), as sent. Unreadable
    settings are dropped with a warning, not the answer (as on Zn: the key beside them is
    valid, and a server that needs a USS refuses without one)."""
    if not found:
        return None
    try:
        text = found[0].as_bytes().decode("utf-8")
        decode_uss_list(text)
    except (UnicodeDecodeError, CodecError) as exc:
        log.warning("%s: GBA-UserSecSettings unreadable, ignored: %s", where, exc)
        return None
    return text


def application_error(request: Message, local: PeerIdentity, application: int,
                      request_type: int, code: int, failed: Avp | Iterable[Avp] | None = None,
                      extra: Iterable[Avp] = ()) -> Message:
    """An answer refusing *request* with *code*:

    * 3xxx: the answer-message of RFC 6733 §7.2 with the E bit (§7.1.3), via
      :func:`~gba.protocols.diameter.capabilities.error_answer`;
    * 54xx (TS 29.109 §6.2): Experimental-Result { Vendor-Id 10415, code } (RFC 6733
      §7.6) in place of Result-Code, as a home network relaying a BSF's refusal sends it.
      The NASREQ and EAP answers' ABNF asks for Result-Code: :func:`result_for_bia` gives
      the code this project's AAAs answer instead (docs/roaming.md §3);
    * any other (4001, 5003, 5004, ...): Result-Code in the command's own answer, with
      Auth-Application-Id and Auth-Request-Type (copied from the request when it has one)
      and *failed* in Failed-AVP (RFC 6733 §7.5).

    *extra* AVPs (an EAP-Failure payload) go in non-3xxx answers only."""
    if code < 3000:
        raise InvalidInput(f"result {code} is not an error")
    failed_avps = [failed] if isinstance(failed, Avp) else list(failed or ())
    if 3000 <= code < 4000:
        return error_answer(request, local, code, failed=failed_avps or None)
    kind = request.find(274)
    avps = [request.find(d.SESSION_ID) or avp("Session-Id", ""),
            avp("Auth-Application-Id", application),
            kind if kind is not None else avp("Auth-Request-Type", request_type)]
    avps.append(experimental_result(code, VENDOR_3GPP) if 5400 <= code < 5500
                else avp("Result-Code", code))
    avps += [avp("Origin-Host", local.origin_host), avp("Origin-Realm", local.origin_realm),
             avp("Auth-Session-State", _NO_STATE_MAINTAINED), *extra]
    if failed_avps:
        avps.append(avp("Failed-AVP", failed_avps))
    return request.answer([*avps, *request.find_all(_PROXY_INFO)])


# ------------------------------------------------------------------ AAR


def build_aar(local: PeerIdentity, destination_realm: str, session_id: str, req: AuthRequest,
              destination_host: str | None = None) -> Message:
    """AA-Request (RFC 7155 §3.1) with User-Name = B-TID and the GBA AVPs of a BIR."""
    avps = [avp("Session-Id", session_id), avp("Auth-Application-Id", APP_NASREQ),
            avp("Origin-Host", local.origin_host), avp("Origin-Realm", local.origin_realm),
            avp("Destination-Realm", destination_realm)]
    if destination_host:
        avps.append(avp("Destination-Host", destination_host))
    avps += [avp("Auth-Request-Type", AUTHORIZE_ONLY), avp("User-Name", req.btid),
             avp("Auth-Session-State", _NO_STATE_MAINTAINED), avp("NAF-Id", req.naf_id)]
    avps += [avp("GAA-Service-Identifier", s) for s in req.gaa_service_ids]
    if req.gba_u_aware:
        avps.append(avp("GBA_U-Awareness-Indicator", "YES"))
    if req.visited_network:
        avps.append(avp("Visited-Network-Identifier", req.visited_network.encode("utf-8")))
    return Message.new(CMD_AA, APP_NASREQ, avps=avps)


def parse_aar(msg: Message) -> AuthRequest:
    """The server's AAR. :class:`MissingAvp` (5005) for a required AVP absent,
    :class:`~gba.protocols.diameter.capabilities.UnsupportedAvp` (5001) for an M-bit AVP
    this AAR does not know (RFC 6733 §4.1), 5004 for Auth-Request-Type other than 2."""
    check_header(msg, APP_NASREQ, CMD_AA, True, "AAR")
    reject_unknown_mandatory(msg, _AAR_AVPS, "AAR")
    for code in (d.SESSION_ID, d.ORIGIN_HOST, d.ORIGIN_REALM, d.DESTINATION_REALM):
        need_avp(msg, code, 0, "AAR")
    check_request_type(msg, AUTHORIZE_ONLY, "AAR")
    btid = need_avp(msg, d.USER_NAME, 0, "AAR").as_str()
    naf = need_avp(msg, 402, VENDOR_3GPP, "AAR")
    aware = msg.find(407, VENDOR_3GPP)
    visited = msg.find(600, VENDOR_3GPP)
    return AuthRequest(
        btid=btid, naf_id=naf.as_bytes(),
        gaa_service_ids=tuple(a.as_bytes() for a in msg.find_all(403, VENDOR_3GPP)),
        gba_u_aware=aware is not None and aware.as_int() == 1,
        origin_host=need_avp(msg, d.ORIGIN_HOST, 0, "AAR").as_str(),
        origin_realm=need_avp(msg, d.ORIGIN_REALM, 0, "AAR").as_str(),
        visited_network=(visited.as_bytes().decode("utf-8", "replace")
                         if visited is not None else None))


# ------------------------------------------------------------------ AAA


def build_aaa(request: Message, local: PeerIdentity, answer: zn.KeyAnswer,
              now: datetime) -> Message:
    """AA-Answer (RFC 7155 §3.2), 2001, with the user information of *answer* (the home
    BSF's BIA), Authorization-Lifetime until its Key-ExpiryTime counted from *now*, and
    Transaction-Identifier = the B-TID asked for (the AAR's User-Name)."""
    btid = need_avp(request, d.USER_NAME, 0, "AAR").as_bytes()
    avps = [request.find(d.SESSION_ID) or avp("Session-Id", ""),
            avp("Auth-Application-Id", APP_NASREQ),
            avp("Auth-Request-Type", AUTHORIZE_ONLY),
            avp("Result-Code", d.ResultCode.SUCCESS),
            avp("Origin-Host", local.origin_host), avp("Origin-Realm", local.origin_realm),
            avp("Auth-Session-State", _NO_STATE_MAINTAINED),
            *user_info_avps(answer),
            avp("Authorization-Lifetime", authorization_lifetime(answer.expiry, now)),
            avp("Transaction-Identifier", btid)]
    return request.answer([*avps, *request.find_all(_PROXY_INFO)])


def build_aaa_error(request: Message, local: PeerIdentity, code: int,
                    failed: Avp | Iterable[Avp] | None = None) -> Message:
    """An AA-Answer refusing the AAR (see :func:`application_error`): 3003 with the E bit
    for an unknown home realm, 4001 for an unknown or expired B-TID, 5003 for a visited
    network the home operator does not serve; *failed* for 5004/5005/5001."""
    return application_error(request, local, APP_NASREQ, AUTHORIZE_ONLY, code, failed)


def parse_aaa(msg: Message) -> zn.KeyAnswer:
    """The user information of a successful AA-Answer. :class:`CodecError` for a
    non-2001 answer (callers check ``msg.result_code`` first), for one lacking User-Name
    or key material (the server refuses and stores nothing, docs/roaming.md §3), and
    :class:`~gba.protocols.diameter.capabilities.UnsupportedAvp` for an M-bit AVP it does
    not know. Key-ExpiryTime decides the key's life; Authorization-Lifetime is for
    NASREQ peers that know nothing else."""
    check_header(msg, APP_NASREQ, CMD_AA, False, "AAA")
    result = msg.result_code
    if result != d.ResultCode.SUCCESS:
        raise CodecError(f"AAA result {result} is not success")
    reject_unknown_mandatory(msg, USER_INFO_AVPS, "AAA")
    return parse_user_info(msg, "AAA")

"""Zh (BSF - HSS): Multimedia-Auth-Request/Answer carrying AKA vectors and the GUSS.

TS 29.109 §4.2 and §4.3 (Zh reuses the Cx MAR/MAA of TS 29.229 §6.1.7-6.1.8 with the
application id 16777221). The command formats follow the ABNF that fkgi/bag, the
techsujhav Zh page and dsTest's dictionary (29.109 V11.0.0) agree on (VERIFIED only by
those secondary sources; the clause text was not read)::

    MAR: < Session-Id > { Vendor-Specific-Application-Id } { Auth-Session-State }
         { Origin-Host } { Origin-Realm } { Destination-Realm } [ Destination-Host ]
         [ User-Name ] [ Public-Identity ] [ SIP-Auth-Data-Item ] [ GUSS-Timestamp ]
         *[ AVP ] *[ Proxy-Info ] *[ Route-Record ]
    MAA: < Session-Id > { Vendor-Specific-Application-Id } [ Result-Code ]
         [ Experimental-Result ] { Auth-Session-State } { Origin-Host } { Origin-Realm }
         [ User-Name ] [ Public-Identity ] [ SIP-Auth-Data-Item ] [ GBA-UserSecSettings ]
         *[ AVP ] *[ Proxy-Info ] *[ Route-Record ]

The BSF sends User-Name = IMPI and a SIP-Auth-Data-Item with SIP-Authentication-Scheme
"Digest-AKAv1-MD5", plus SIP-Authorization = RAND || AUTS when resynchronising; the HSS
answers with one SIP-Auth-Data-Item { SIP-Authenticate = RAND || AUTN, SIP-Authorization
= XRES, Confidentiality-Key, Integrity-Key } and GBA-UserSecSettings (the GUSS XML, root
``guss``, TS 29.109 §6.3.1.1). Neither command has SIP-Number-Auth-Items or
GBA_U-Awareness-Indicator, so none is sent (the HSS learns nothing of GBA_U from the BSF:
the UICC type is in the GUSS it sends); both are still accepted from older peers. A MAR
with an M-bit AVP outside this list is refused with 5001 (RFC 6733 §4.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from gba.errors import CodecError
from gba.protocols.diameter import (
    APP_ZH,
    CMD_MULTIMEDIA_AUTH,
    VENDOR_3GPP,
    Avp,
    Message,
    PeerIdentity,
    avp,
    experimental_result,
    need_avp,
)
from gba.protocols.diameter import dictionary as d
from gba.protocols.diameter.capabilities import reject_unknown_mandatory

AUTH_SCHEME = "Digest-AKAv1-MD5"
"""SIP-Authentication-Scheme for GBA (TS 29.109 §6.3; TS 29.229 §6.3.9)."""
APPLICATION = (VENDOR_3GPP, APP_ZH)


def vendor_app(app_id: int) -> Avp:
    return avp("Vendor-Specific-Application-Id",
               [avp("Vendor-Id", VENDOR_3GPP), avp("Auth-Application-Id", app_id)])


def experimental_error(request: Message, local: PeerIdentity, app_id: int, code: int
                       ) -> Message:
    """An answer of 3GPP application *app_id* refusing *request* with Experimental-Result
    *code* under vendor 10415 (RFC 6733 §7.6; TS 29.109 §6.2: 5401-5403)."""
    avps: list[Avp] = []
    session = request.find(d.SESSION_ID)
    if session is not None:
        avps.append(session)
    avps += [vendor_app(app_id), experimental_result(code, VENDOR_3GPP),
             avp("Origin-Host", local.origin_host), avp("Origin-Realm", local.origin_realm)]
    return request.answer(avps)


@dataclass(frozen=True, slots=True)
class VectorRequest:
    """What the BSF asks for (TS 29.109 §4.2.1 Multimedia-Auth-Request)."""

    impi: str
    resync_rand: bytes | None = None
    auts: bytes | None = None
    gba_u_aware: bool = False
    """The UE announced GBA_U (``3gpp-gba-uicc``). Not sent on Zh: the MAR of TS 29.109
    has no GBA_U-Awareness-Indicator; read from an older peer's MAR only."""
    guss_timestamp: datetime | None = None
    """GUSS-Timestamp (TS 29.109 §6.3.1.10): when the BSF's copy of the GUSS was made."""


@dataclass(frozen=True, slots=True)
class VectorAnswer:
    """What the HSS returns (TS 29.109 §4.2.2 Multimedia-Auth-Answer)."""

    impi: str
    rand: bytes
    autn: bytes
    xres: bytes = field(repr=False)
    ck: bytes = field(repr=False)
    ik: bytes = field(repr=False)
    guss: str | None = None


_MAR_AVPS = frozenset(
    d.avp_key(code, vendor) for code, vendor in (
        (d.SESSION_ID, 0), (d.VENDOR_SPECIFIC_APPLICATION_ID, 0), (d.AUTH_SESSION_STATE, 0),
        (d.ORIGIN_HOST, 0), (d.ORIGIN_REALM, 0), (d.DESTINATION_REALM, 0),
        (d.DESTINATION_HOST, 0), (d.USER_NAME, 0), (601, VENDOR_3GPP), (612, VENDOR_3GPP),
        (409, VENDOR_3GPP), (284, 0), (282, 0),
        (d.ORIGIN_STATE_ID, 0),  # RFC 6733 §8.16: may be in any message
        # not in the Zh MAR, but sent by older BSFs (this package's included)
        (607, VENDOR_3GPP), (407, VENDOR_3GPP)))
"""The AVPs a MAR may carry with the M bit set (TS 29.109 §4.2 ABNF, above)."""


def build_mar(local: PeerIdentity, destination_realm: str, session_id: str,
              req: VectorRequest) -> Message:
    item = [avp("SIP-Authentication-Scheme", AUTH_SCHEME)]
    if req.auts is not None and req.resync_rand is not None:
        item.append(avp("SIP-Authorization", req.resync_rand + req.auts))
    avps = [
        avp("Session-Id", session_id), vendor_app(APP_ZH),
        avp("Auth-Session-State", "NO_STATE_MAINTAINED"),
        avp("Origin-Host", local.origin_host), avp("Origin-Realm", local.origin_realm),
        avp("Destination-Realm", destination_realm),
        avp("User-Name", req.impi), avp("SIP-Auth-Data-Item", item),
    ]
    if req.guss_timestamp is not None:
        avps.append(avp("GUSS-Timestamp", req.guss_timestamp))
    return Message.new(CMD_MULTIMEDIA_AUTH, APP_ZH, avps=avps)


def parse_mar(msg: Message) -> VectorRequest:
    """The BSF's request; :class:`~gba.protocols.diameter.capabilities.UnsupportedAvp`
    for an M-bit AVP the MAR does not have (RFC 6733 §4.1: answer 5001)."""
    reject_unknown_mandatory(msg, _MAR_AVPS, "MAR")
    impi = need_avp(msg, d.USER_NAME, 0, "MAR").as_str()
    resync_rand = auts = None
    item = msg.find(612, VENDOR_3GPP)
    if item is not None:
        authz = item.find(610, VENDOR_3GPP)
        if authz is not None:
            raw = authz.as_bytes()
            if len(raw) != 30:
                raise CodecError(f"MAR SIP-Authorization holds {len(raw)} octets, "
                                 "RAND || AUTS needs 30")
            resync_rand, auts = raw[:16], raw[16:]
    aware = msg.find(407, VENDOR_3GPP)
    stamp = msg.find(409, VENDOR_3GPP)
    return VectorRequest(impi, resync_rand, auts, aware is not None and aware.as_int() == 1,
                         stamp.as_time() if stamp is not None else None)


def build_maa(request: Message, local: PeerIdentity, ans: VectorAnswer) -> Message:
    avps = [
        need_avp(request, d.SESSION_ID, 0, "MAR"), vendor_app(APP_ZH),
        avp("Result-Code", d.ResultCode.SUCCESS),
        avp("Auth-Session-State", "NO_STATE_MAINTAINED"),
        avp("Origin-Host", local.origin_host), avp("Origin-Realm", local.origin_realm),
        avp("User-Name", ans.impi),
        avp("SIP-Auth-Data-Item", [
            avp("SIP-Item-Number", 1), avp("SIP-Authentication-Scheme", AUTH_SCHEME),
            avp("SIP-Authenticate", ans.rand + ans.autn), avp("SIP-Authorization", ans.xres),
            avp("Confidentiality-Key", ans.ck), avp("Integrity-Key", ans.ik)]),
    ]
    if ans.guss is not None:
        avps.append(avp("GBA-UserSecSettings", ans.guss.encode("utf-8")))
    return request.answer(avps)


def build_maa_error(request: Message, local: PeerIdentity, code: int,
                    experimental: bool) -> Message:
    """An MAA carrying a failure: Experimental-Result for 3GPP codes (TS 29.109 §6.2)."""
    avps: list[Avp] = []
    session = request.find(d.SESSION_ID)
    if session is not None:
        avps.append(session)
    avps += [vendor_app(APP_ZH)]
    avps.append(experimental_result(code, VENDOR_3GPP) if experimental
                else avp("Result-Code", code))
    avps += [avp("Auth-Session-State", "NO_STATE_MAINTAINED"),
             avp("Origin-Host", local.origin_host), avp("Origin-Realm", local.origin_realm)]
    return request.answer(avps)


def parse_maa(msg: Message) -> VectorAnswer:
    """A successful MAA's vector; callers check ``msg.result_code`` first."""
    item = need_avp(msg, 612, VENDOR_3GPP, "MAA")
    challenge = need_avp(item, 609, VENDOR_3GPP, "MAA SIP-Auth-Data-Item").as_bytes()
    if len(challenge) != 32:
        raise CodecError(f"MAA SIP-Authenticate holds {len(challenge)} octets, expected 32")
    xres = need_avp(item, 610, VENDOR_3GPP, "MAA SIP-Auth-Data-Item").as_bytes()
    ck = need_avp(item, 625, VENDOR_3GPP, "MAA SIP-Auth-Data-Item").as_bytes()
    ik = need_avp(item, 626, VENDOR_3GPP, "MAA SIP-Auth-Data-Item").as_bytes()
    if not 4 <= len(xres) <= 16 or len(ck) != 16 or len(ik) != 16:
        raise CodecError("MAA XRES/CK/IK lengths are wrong")
    guss_avp = msg.find(400, VENDOR_3GPP)
    user = msg.find(d.USER_NAME)
    return VectorAnswer(
        impi=user.as_str() if user is not None else "",
        rand=challenge[:16], autn=challenge[16:], xres=xres, ck=ck, ik=ik,
        guss=guss_avp.as_bytes().decode("utf-8", "replace") if guss_avp is not None else None)

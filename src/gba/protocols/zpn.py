"""Zpn (Push-NAF - BSF): GBA-Push-Info Request/Answer, GPIR/GPIA (TS 29.109 §5.4, §6).

Application-Id 16777268 "3GPP Zpn" (TS 29.230 Table 4.1, read on itecspec). Command code
:data:`~gba.protocols.diameter.dictionary.CMD_GBA_PUSH_INFO`; three independent
Diameter command tables give 312 "GBAPush-Info" (docs/push-formats.md §3).

The ABNF below is UNVERIFIED (§5.4 was not read); it is assembled from the AVPs the
clause's Web Services twin lists (§5.5: ptid, nafid, gsid, gbaUAware, userId,
userIdType, ...), the TS 29.309 PushInfoRequest/Response fields and the AVP table
(§6.3.1.12-§6.3.1.19), on the model of Zn's BIR/BIA (:mod:`gba.protocols.zn`)::

    GPIR: < Session-Id > { Vendor-Specific-Application-Id } { Origin-Host }
          { Origin-Realm } { Destination-Realm } [ Destination-Host ]
          { NAF-Id } { UE-Id } { UE-Id-Type } { NAF-SA-Identifier } { UICC-ME }
          [ UICC-App-Label ] [ Requested-Key-Lifetime ] [ GBA_U-Awareness-Indicator ]
          [ Private-Identity-Request ] *[ GAA-Service-Identifier ]
          *[ AVP ] *[ Proxy-Info ] *[ Route-Record ]
    GPIA: < Session-Id > { Vendor-Specific-Application-Id } [ Result-Code ]
          [ Experimental-Result ] { Origin-Host } { Origin-Realm } [ User-Name ]
          [ GBA-Push-Info ] [ ME-Key-Material ] [ UICC-Key-Material ]
          [ Key-ExpiryTime ] [ BootstrapInfoCreationTime ] [ GBA-UserSecSettings ]
          *[ AVP ] *[ Proxy-Info ] *[ Route-Record ]

The NAF-SA-Identifier is the P-TID the NAF chose (§6.3.1.19; §5.5: the BSF puts it,
encrypted, into the GPI). GBA-Push-Info is the GPI, opaque to the NAF
(:mod:`gba.protocols.gpi`). User-Name (the IMPI) is sent only when the NAF asked with
Private-Identity-Request = PRIVATE_IDENTITY_REQUESTED. A GPIR with another M-bit AVP is
refused with 5001 (RFC 6733 §4.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum

from gba.errors import CodecError
from gba.protocols.diameter import (
    APP_ZPN,
    CMD_GBA_PUSH_INFO,
    VENDOR_3GPP,
    Avp,
    Message,
    PeerIdentity,
    avp,
    need_avp,
)
from gba.protocols.diameter import dictionary as d
from gba.protocols.diameter.capabilities import reject_unknown_mandatory
from gba.protocols.gpi import UiccMe
from gba.protocols.zh import experimental_error, vendor_app

APPLICATION = (VENDOR_3GPP, APP_ZPN)

# TS 29.109 §6.3.1 AVP codes (vendor 10415)
GBA_USER_SEC_SETTINGS = 400
NAF_ID = 402
GAA_SERVICE_IDENTIFIER = 403
KEY_EXPIRY_TIME = 404
ME_KEY_MATERIAL = 405
UICC_KEY_MATERIAL = 406
GBA_U_AWARENESS_INDICATOR = 407
BOOTSTRAP_INFO_CREATION_TIME = 408
UE_ID = 411
UE_ID_TYPE = 412
UICC_APP_LABEL = 413
UICC_ME = 414
REQUESTED_KEY_LIFETIME = 415
PRIVATE_IDENTITY_REQUEST = 416
GBA_PUSH_INFO = 417
NAF_SA_IDENTIFIER = 418
SECURITY_FEATURE_REQUEST = 419


class UeIdType(IntEnum):
    """UE-Id-Type (AVP 412, TS 29.109 §6.3.1.13)."""

    PRIVATE_USER_IDENTITY = 0
    PUBLIC_USER_IDENTITY = 1


_PRIVATE_IDENTITY_REQUESTED = 0  # Private-Identity-Request (416) §6.3.1.17; 1 = not


@dataclass(frozen=True, slots=True)
class PushInfoRequest:
    """What the Push-NAF asks the BSF for (TS 29.109 §5.4 step 1)."""

    ue_id: str
    ue_id_type: UeIdType
    naf_id: bytes
    ptid: bytes
    """NAF-SA-Identifier: the P-TID the NAF chose for this NAF SA."""
    mode: UiccMe
    app_label: bytes | None = None
    requested_lifetime: datetime | None = None
    gba_u_aware: bool = False
    private_identity_requested: bool = False
    gaa_service_ids: tuple[bytes, ...] = ()
    origin_host: str = ""


@dataclass(frozen=True, slots=True)
class PushInfoAnswer:
    """The BSF's answer (TS 29.109 §5.4 step 2): the GPI and the NAF keys."""

    gpi: bytes
    expiry: datetime
    me_key: bytes | None = field(default=None, repr=False)
    uicc_key: bytes | None = field(default=None, repr=False)
    created: datetime | None = None
    impi: str | None = None
    """User-Name, sent only when the GPIR requested the private identity."""
    uss: str | None = None
    """The ``ussList`` document of GBA-UserSecSettings (§6.3.1.1), as sent."""
    session: str = field(default="", compare=False)

    @property
    def gba_u(self) -> bool:
        """A GBA_U key: the GPIA carries UICC-Key-Material (Ks_int_NAF)."""
        return self.uicc_key is not None


_GPIR_AVPS = frozenset(
    d.avp_key(code, VENDOR_3GPP) for code in (
        NAF_ID, GAA_SERVICE_IDENTIFIER, GBA_U_AWARENESS_INDICATOR, UE_ID, UE_ID_TYPE,
        UICC_APP_LABEL, UICC_ME, REQUESTED_KEY_LIFETIME, PRIVATE_IDENTITY_REQUEST,
        NAF_SA_IDENTIFIER,
        SECURITY_FEATURE_REQUEST))  # accepted, not acted on (as on Zn)
"""The 3GPP AVPs a GPIR may carry with the M bit set; base AVPs are always accepted."""


def build_gpir(local: PeerIdentity, destination_realm: str, session_id: str,
               req: PushInfoRequest, destination_host: str | None = None) -> Message:
    avps = [avp("Session-Id", session_id), vendor_app(APP_ZPN),
            avp("Origin-Host", local.origin_host), avp("Origin-Realm", local.origin_realm),
            avp("Destination-Realm", destination_realm)]
    if destination_host:
        avps.append(avp("Destination-Host", destination_host))
    avps += [avp("NAF-Id", req.naf_id), avp("UE-Id", req.ue_id.encode("utf-8")),
             avp("UE-Id-Type", int(req.ue_id_type)),
             avp("NAF-SA-Identifier", req.ptid), avp("UICC-ME", int(req.mode))]
    if req.app_label is not None:
        avps.append(avp("UICC-App-Label", req.app_label))
    if req.requested_lifetime is not None:
        avps.append(avp("Requested-Key-Lifetime", req.requested_lifetime))
    if req.gba_u_aware:
        avps.append(avp("GBA_U-Awareness-Indicator", "YES"))
    if req.private_identity_requested:
        avps.append(avp("Private-Identity-Request", _PRIVATE_IDENTITY_REQUESTED))
    avps += [avp("GAA-Service-Identifier", s) for s in req.gaa_service_ids]
    return Message.new(CMD_GBA_PUSH_INFO, APP_ZPN, avps=avps)


def parse_gpir(msg: Message) -> PushInfoRequest:
    """The Push-NAF's request; :class:`MissingAvp` (5005) for a required AVP it lacks,
    :class:`~gba.protocols.diameter.capabilities.UnsupportedAvp` (5001) for an M-bit
    AVP the GPIR does not have, :class:`CodecError` for a value out of range."""
    reject_unknown_mandatory(msg, _GPIR_AVPS, "GPIR")
    origin = need_avp(msg, d.ORIGIN_HOST, 0, "GPIR")
    naf = need_avp(msg, NAF_ID, VENDOR_3GPP, "GPIR")
    ue_id = need_avp(msg, UE_ID, VENDOR_3GPP, "GPIR")
    id_type = need_avp(msg, UE_ID_TYPE, VENDOR_3GPP, "GPIR")
    ptid = need_avp(msg, NAF_SA_IDENTIFIER, VENDOR_3GPP, "GPIR")
    mode = need_avp(msg, UICC_ME, VENDOR_3GPP, "GPIR")
    try:
        ue = ue_id.as_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise CodecError("GPIR UE-Id is not UTF-8") from None
    try:
        kind = UeIdType(id_type.as_int())
        uicc_me = UiccMe(mode.as_int())
    except ValueError as exc:
        raise CodecError(f"GPIR enumerated value out of range: {exc}") from None
    label = msg.find(UICC_APP_LABEL, VENDOR_3GPP)
    lifetime = msg.find(REQUESTED_KEY_LIFETIME, VENDOR_3GPP)
    aware = msg.find(GBA_U_AWARENESS_INDICATOR, VENDOR_3GPP)
    private = msg.find(PRIVATE_IDENTITY_REQUEST, VENDOR_3GPP)
    return PushInfoRequest(
        ue_id=ue, ue_id_type=kind, naf_id=naf.as_bytes(), ptid=ptid.as_bytes(),
        mode=uicc_me, app_label=label.as_bytes() if label is not None else None,
        requested_lifetime=lifetime.as_time() if lifetime is not None else None,
        gba_u_aware=aware is not None and aware.as_int() == 1,
        private_identity_requested=(private is not None
                                    and private.as_int() == _PRIVATE_IDENTITY_REQUESTED),
        gaa_service_ids=tuple(a.as_bytes()
                              for a in msg.find_all(GAA_SERVICE_IDENTIFIER, VENDOR_3GPP)),
        origin_host=origin.as_str())


def build_gpia(request: Message, local: PeerIdentity, ans: PushInfoAnswer) -> Message:
    avps: list[Avp] = [
        request.find(d.SESSION_ID) or avp("Session-Id", ""), vendor_app(APP_ZPN),
        avp("Result-Code", d.ResultCode.SUCCESS),
        avp("Origin-Host", local.origin_host), avp("Origin-Realm", local.origin_realm)]
    if ans.impi is not None:
        avps.append(avp("User-Name", ans.impi))
    avps.append(avp("GBA-Push-Info", ans.gpi))
    if ans.me_key is not None:
        avps.append(avp("ME-Key-Material", ans.me_key))
    if ans.uicc_key is not None:
        avps.append(avp("UICC-Key-Material", ans.uicc_key))
    avps.append(avp("Key-ExpiryTime", ans.expiry))
    if ans.created is not None:
        avps.append(avp("BootstrapInfoCreationTime", ans.created))
    if ans.uss is not None:
        avps.append(avp("GBA-UserSecSettings", ans.uss.encode("utf-8")))
    return request.answer(avps)


def build_gpia_error(request: Message, local: PeerIdentity, code: int) -> Message:
    """A GPIA with Experimental-Result *code* (vendor 10415): 5401 unknown user, 5402 NAF
    not authorised (TS 29.109 §6.2.2)."""
    return experimental_error(request, local, APP_ZPN, code)


def parse_gpia(msg: Message) -> PushInfoAnswer:
    """A successful GPIA; callers check ``msg.result_code`` first. :class:`MissingAvp`
    without GBA-Push-Info or Key-ExpiryTime, :class:`CodecError` without key material."""
    gpi = need_avp(msg, GBA_PUSH_INFO, VENDOR_3GPP, "GPIA")
    expiry = need_avp(msg, KEY_EXPIRY_TIME, VENDOR_3GPP, "GPIA")
    me = msg.find(ME_KEY_MATERIAL, VENDOR_3GPP)
    uicc = msg.find(UICC_KEY_MATERIAL, VENDOR_3GPP)
    if me is None and uicc is None:
        raise CodecError("GPIA carries neither ME-Key-Material nor UICC-Key-Material")
    created = msg.find(BOOTSTRAP_INFO_CREATION_TIME, VENDOR_3GPP)
    user = msg.find(d.USER_NAME)
    uss = msg.find(GBA_USER_SEC_SETTINGS, VENDOR_3GPP)
    try:
        uss_text = uss.as_bytes().decode("utf-8") if uss is not None else None
    except UnicodeDecodeError:
        raise CodecError("GPIA GBA-UserSecSettings is not UTF-8") from None
    session = msg.find(d.SESSION_ID)
    return PushInfoAnswer(
        gpi=gpi.as_bytes(), expiry=expiry.as_time(),
        me_key=me.as_bytes() if me is not None else None,
        uicc_key=uicc.as_bytes() if uicc is not None else None,
        created=created.as_time() if created is not None else None,
        impi=user.as_str() if user is not None else None, uss=uss_text,
        session=session.as_str() if session is not None else "")

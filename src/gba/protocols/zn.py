"""Zn (NAF - BSF): Bootstrapping-Info-Request/Answer (TS 29.109 §4.4, §4.5; TS 33.220 §4.5.3).

The NAF sends Transaction-Identifier = B-TID, NAF-Id = NAF FQDN || Ua security protocol
id, optional GAA-Service-Identifier(s) and GBA_U-Awareness-Indicator. The BSF answers
with User-Name = IMPI, ME-Key-Material = Ks_(ext)_NAF (UICC-Key-Material = Ks_int_NAF for
GBA_U), Key-ExpiryTime, BootstrapInfoCreationTime, GBA-UserSecSettings (the USSs for the
requested services) and GBA-Type; or an Experimental-Result: 5403 for an unknown or
expired B-TID, 5402 for a NAF that is not authorised.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from gba.errors import CodecError
from gba.protocols.diameter import (
    APP_ZN,
    CMD_BOOTSTRAPPING_INFO,
    VENDOR_3GPP,
    Avp,
    Message,
    MissingAvp,
    PeerIdentity,
    avp,
    experimental_result,
)
from gba.protocols.diameter import dictionary as d
from gba.protocols.zh import vendor_app

APPLICATION = (VENDOR_3GPP, APP_ZN)

_BSF_DOMAIN = re.compile(r"bsf\.(mnc\d{3}\.mcc\d{3})\.pub\.3gppnetwork\.org", re.IGNORECASE)


def home_realm(btid: str, known: Mapping[str, str] | None = None) -> str | None:
    """The Diameter realm of the network whose BSF issued *btid*, or None if unknown.

    A B-TID is base64(RAND)@BSF_servers_domain_name (TS 33.220 §4.5.2 step 6). A domain in
    *known* (configured domain -> realm) decides; otherwise the TS 23.003 BSF address
    ``bsf.mnc<MNC>.mcc<MCC>.pub.3gppnetwork.org`` (clause 16, Annex D) gives the home
    realm ``mnc<MNC>.mcc<MCC>.3gppnetwork.org``.
    """
    domain = btid.rpartition("@")[2].lower()
    if not domain:
        return None
    if known and domain in known:
        return known[domain]
    match = _BSF_DOMAIN.fullmatch(domain)
    return f"{match.group(1)}.3gppnetwork.org" if match else None


@dataclass(frozen=True, slots=True)
class KeyRequest:
    btid: str
    naf_id: bytes
    gaa_service_ids: tuple[bytes, ...] = ()
    gba_u_aware: bool = False
    origin_host: str = ""


@dataclass(frozen=True, slots=True)
class KeyAnswer:
    impi: str
    expiry: datetime
    created: datetime
    me_key: bytes | None = field(default=None, repr=False)
    uicc_key: bytes | None = field(default=None, repr=False)
    uss: tuple[str, ...] = ()
    gba_u: bool = False


def build_bir(local: PeerIdentity, destination_realm: str, session_id: str,
              req: KeyRequest, destination_host: str | None = None) -> Message:
    avps = [avp("Session-Id", session_id), vendor_app(APP_ZN),
            avp("Auth-Session-State", "NO_STATE_MAINTAINED"),
            avp("Origin-Host", local.origin_host), avp("Origin-Realm", local.origin_realm),
            avp("Destination-Realm", destination_realm)]
    if destination_host:
        avps.append(avp("Destination-Host", destination_host))
    avps += [avp("Transaction-Identifier", req.btid.encode("utf-8")),
             avp("NAF-Id", req.naf_id)]
    avps += [avp("GAA-Service-Identifier", s) for s in req.gaa_service_ids]
    if req.gba_u_aware:
        avps.append(avp("GBA_U-Awareness-Indicator", "YES"))
    return Message.new(CMD_BOOTSTRAPPING_INFO, APP_ZN, avps=avps)


def parse_bir(msg: Message) -> KeyRequest:
    tid = msg.find(401, VENDOR_3GPP)
    naf = msg.find(402, VENDOR_3GPP)
    origin = msg.find(d.ORIGIN_HOST)
    if origin is None:
        raise MissingAvp(d.ORIGIN_HOST, 0, "BIR")
    if tid is None:
        raise MissingAvp(401, VENDOR_3GPP, "BIR")
    if naf is None:
        raise MissingAvp(402, VENDOR_3GPP, "BIR")
    try:
        btid = tid.as_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise CodecError("BIR Transaction-Identifier is not UTF-8") from None
    aware = msg.find(407, VENDOR_3GPP)
    return KeyRequest(
        btid=btid, naf_id=naf.as_bytes(),
        gaa_service_ids=tuple(a.as_bytes() for a in msg.find_all(403, VENDOR_3GPP)),
        gba_u_aware=aware is not None and aware.as_int() == 1,
        origin_host=origin.as_str())


def build_bia(request: Message, local: PeerIdentity, ans: KeyAnswer) -> Message:
    avps: list[Avp] = [
        request.find(d.SESSION_ID) or avp("Session-Id", ""), vendor_app(APP_ZN),
        avp("Result-Code", d.ResultCode.SUCCESS),
        avp("Auth-Session-State", "NO_STATE_MAINTAINED"),
        avp("Origin-Host", local.origin_host), avp("Origin-Realm", local.origin_realm),
        avp("User-Name", ans.impi)]
    if ans.me_key is not None:
        avps.append(avp("ME-Key-Material", ans.me_key))
    if ans.uicc_key is not None:
        avps.append(avp("UICC-Key-Material", ans.uicc_key))
    avps += [avp("Key-ExpiryTime", ans.expiry), avp("BootstrapInfoCreationTime", ans.created)]
    avps += [avp("GBA-UserSecSettings", u.encode("utf-8")) for u in ans.uss]
    avps += [avp("GBA-Type", "3G_GBA"), avp("UICC-ME", "GBA_U" if ans.gba_u else "GBA_ME")]
    return request.answer(avps)


def build_bia_error(request: Message, local: PeerIdentity, code: int) -> Message:
    avps: list[Avp] = []
    session = request.find(d.SESSION_ID)
    if session is not None:
        avps.append(session)
    avps += [vendor_app(APP_ZN), experimental_result(code, VENDOR_3GPP),
             avp("Auth-Session-State", "NO_STATE_MAINTAINED"),
             avp("Origin-Host", local.origin_host), avp("Origin-Realm", local.origin_realm)]
    return request.answer(avps)


def parse_bia(msg: Message) -> KeyAnswer:
    """A successful BIA; callers check ``msg.result_code`` first."""
    user = msg.find(d.USER_NAME)
    expiry = msg.find(404, VENDOR_3GPP)
    created = msg.find(408, VENDOR_3GPP)
    if user is None or expiry is None:
        raise CodecError("BIA lacks User-Name or Key-ExpiryTime")
    me = msg.find(405, VENDOR_3GPP)
    uicc = msg.find(406, VENDOR_3GPP)
    if me is None and uicc is None:
        raise CodecError("BIA carries neither ME-Key-Material nor UICC-Key-Material")
    uicc_me = msg.find(414, VENDOR_3GPP)
    return KeyAnswer(
        impi=user.as_str(), expiry=expiry.as_time(),
        created=created.as_time() if created is not None else expiry.as_time(),
        me_key=me.as_bytes() if me is not None else None,
        uicc_key=uicc.as_bytes() if uicc is not None else None,
        uss=tuple(a.as_bytes().decode("utf-8", "replace")
                  for a in msg.find_all(400, VENDOR_3GPP)),
        gba_u=uicc_me is not None and uicc_me.as_int() == 1)

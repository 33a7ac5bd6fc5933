"""Zn (NAF - BSF): Bootstrapping-Info-Request/Answer (TS 29.109 §4.4, §4.5; TS 33.220 §4.5.3).

The command formats are those cipango's Zh.java copies from TS 29.109 (VERIFIED only by
that secondary source; the clause text was not read)::

    BIR: < Session-Id > { Vendor-Specific-Application-Id } { Origin-Host } { Origin-Realm }
         { Destination-Realm } [ Destination-Host ] *[ GAA-Service-Identifier ]
         { Transaction-Identifier } { NAF-Id } [ GBA_U-Awareness-Indicator ]
         *[ AVP ] *[ Proxy-Info ] *[ Route-Record ]
    BIA: < Session-Id > { Vendor-Specific-Application-Id } [ Result-Code ]
         [ Experimental-Result ] { Origin-Host } { Origin-Realm } [ User-Name ]
         [ ME-Key-Material ] [ UICC-Key-Material ] [ Key-ExpiryTime ]
         [ BootstrapInfoCreationTime ] [ GBA-UserSecSettings ] [ GBA-Type ]
         *[ AVP ] *[ Proxy-Info ] *[ Route-Record ]

The NAF sends Transaction-Identifier = B-TID, NAF-Id = NAF FQDN || Ua security protocol
id, optional GAA-Service-Identifier(s) and GBA_U-Awareness-Indicator. The BSF answers
with User-Name = IMPI, ME-Key-Material = Ks_(ext)_NAF (UICC-Key-Material = Ks_int_NAF for
GBA_U), Key-ExpiryTime, BootstrapInfoCreationTime, at most one GBA-UserSecSettings whose
XML root is ``ussList`` holding the USSs selected for the NAF (§6.3.1.1; none when nothing
was selected) and GBA-Type; or an Experimental-Result: 5403 for an unknown or expired
B-TID, 5402 for a NAF that is not authorised (§6.2.2).

Choices where the copied ABNF leaves room:

* No UICC-ME (414) in the BIA: it is a Zpn AVP (§6.3.1.15, "GBA_ME or GBA_U is to be used
  for GBA push"), and a NAF without Zpn may refuse its M bit with 5001. The NAF learns
  GBA_U from the presence of UICC-Key-Material (:attr:`KeyAnswer.gba_u`).
* No Auth-Session-State in BIR or BIA: the copied ABNF has none (whether Rel-12 and
  later add it is UNVERIFIED). It is accepted on receipt, since older peers (this
  package's included) send it and every Diameter node knows the base AVP.
* Security-Feature-Request (419) is accepted in a BIR but not acted on: the Rel-15 AVP
  table has it, its place in the BIR is UNVERIFIED, and answering without a
  Security-Feature-Response is what a BSF without the feature does.
* A BIR with any other M-bit AVP (414 or another Zpn AVP, say) is refused with 5001
  (RFC 6733 §4.1).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

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
)
from gba.protocols.diameter import dictionary as d
from gba.protocols.diameter.capabilities import reject_unknown_mandatory
from gba.protocols.guss import Uss, decode_uss_list, encode_uss_list
from gba.protocols.roaming import KeyKind
from gba.protocols.zh import experimental_error, vendor_app

log = logging.getLogger(__name__)

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
    visited_network: str | None = None
    """Visited-Network-Identifier (600/10415, TS 29.229 §6.3.1): the realm of the visited
    network a home AAA asks for (docs/roaming.md §1 C; its use in a BIR is this
    project's). The BSF trusts it only from its configured AAAs."""


@dataclass(frozen=True, slots=True)
class KeyAnswer:
    impi: str
    expiry: datetime
    created: datetime
    me_key: bytes | None = field(default=None, repr=False)
    uicc_key: bytes | None = field(default=None, repr=False)
    uss: str | None = None
    """The ``ussList`` document of GBA-UserSecSettings (TS 29.109 §6.3.1.1), as sent."""
    session: str = field(default="", compare=False)
    """The answer's Session-Id (for a charging record's correlation; not part of the
    user information, so not compared)."""
    key_kind: KeyKind = KeyKind.KS_NAF
    """KS when a home BSF hands a visited network Ks itself (Key-Kind AVP,
    :mod:`gba.protocols.roaming`); sent only then, so an ordinary BIA is unchanged."""

    @property
    def gba_u(self) -> bool:
        """A GBA_U key: the BIA carries UICC-Key-Material (Ks_int_NAF), TS 29.109 §4.5."""
        return self.uicc_key is not None


_BIR_AVPS = frozenset(
    d.avp_key(code, vendor) for code, vendor in (
        (d.SESSION_ID, 0), (d.VENDOR_SPECIFIC_APPLICATION_ID, 0), (d.ORIGIN_HOST, 0),
        (d.ORIGIN_REALM, 0), (d.DESTINATION_REALM, 0), (d.DESTINATION_HOST, 0),
        (403, VENDOR_3GPP), (401, VENDOR_3GPP), (402, VENDOR_3GPP), (407, VENDOR_3GPP),
        (284, 0), (282, 0),
        (d.ORIGIN_STATE_ID, 0),  # RFC 6733 §8.16: may be in any message
        (d.AUTH_SESSION_STATE, 0),  # older peers (this package's included)
        (419, VENDOR_3GPP),  # Security-Feature-Request: accepted, not acted on
        (600, VENDOR_3GPP)))  # Visited-Network-Identifier: from a home AAA (roaming)
"""The AVPs a BIR may carry with the M bit set (TS 29.109 §4.4 ABNF, above)."""


def uss_list(selected: tuple[Uss, ...]) -> str | None:
    """The GBA-UserSecSettings document for the USSs selected for a NAF, or None when
    none was: the BIA then carries no GBA-UserSecSettings (TS 29.109 §6.3.1.1)."""
    return encode_uss_list(selected) if selected else None


def build_bir(local: PeerIdentity, destination_realm: str, session_id: str,
              req: KeyRequest, destination_host: str | None = None) -> Message:
    avps = [avp("Session-Id", session_id), vendor_app(APP_ZN),
            avp("Origin-Host", local.origin_host), avp("Origin-Realm", local.origin_realm),
            avp("Destination-Realm", destination_realm)]
    if destination_host:
        avps.append(avp("Destination-Host", destination_host))
    avps += [avp("GAA-Service-Identifier", s) for s in req.gaa_service_ids]
    avps += [avp("Transaction-Identifier", req.btid.encode("utf-8")),
             avp("NAF-Id", req.naf_id)]
    if req.gba_u_aware:
        avps.append(avp("GBA_U-Awareness-Indicator", "YES"))
    if req.visited_network:
        avps.append(avp("Visited-Network-Identifier", req.visited_network.encode("utf-8")))
    return Message.new(CMD_BOOTSTRAPPING_INFO, APP_ZN, avps=avps)


def parse_bir(msg: Message) -> KeyRequest:
    """The NAF's request; :class:`~gba.protocols.diameter.capabilities.UnsupportedAvp`
    for an M-bit AVP the BIR does not have (RFC 6733 §4.1: answer 5001)."""
    reject_unknown_mandatory(msg, _BIR_AVPS, "BIR")
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
    visited = msg.find(600, VENDOR_3GPP)
    return KeyRequest(
        btid=btid, naf_id=naf.as_bytes(),
        gaa_service_ids=tuple(a.as_bytes() for a in msg.find_all(403, VENDOR_3GPP)),
        gba_u_aware=aware is not None and aware.as_int() == 1,
        origin_host=origin.as_str(),
        visited_network=(visited.as_bytes().decode("utf-8", "replace")
                         if visited is not None else None))


@functools.lru_cache(maxsize=16)
def _bia_head(origin_host: str, origin_realm: str) -> tuple[Avp, ...]:
    """The AVPs every successful BIA of one BSF carries alike (Avp is immutable): built
    once, not for every answer."""
    return (vendor_app(APP_ZN), avp("Result-Code", d.ResultCode.SUCCESS),
            avp("Origin-Host", origin_host), avp("Origin-Realm", origin_realm))


_GBA_TYPE_3G: Final = avp("GBA-Type", "3G_GBA")


def build_bia(request: Message, local: PeerIdentity, ans: KeyAnswer) -> Message:
    avps: list[Avp] = [request.find(d.SESSION_ID) or avp("Session-Id", ""),
                       *_bia_head(local.origin_host, local.origin_realm),
                       avp("User-Name", ans.impi)]
    if ans.me_key is not None:
        avps.append(avp("ME-Key-Material", ans.me_key))
    if ans.uicc_key is not None:
        avps.append(avp("UICC-Key-Material", ans.uicc_key))
    avps += [avp("Key-ExpiryTime", ans.expiry), avp("BootstrapInfoCreationTime", ans.created)]
    if ans.uss is not None:
        avps.append(avp("GBA-UserSecSettings", ans.uss.encode("utf-8")))
    avps.append(_GBA_TYPE_3G)
    if ans.key_kind is KeyKind.KS:
        avps.append(avp("Key-Kind", int(KeyKind.KS)))
    return request.answer(avps)


def build_bia_error(request: Message, local: PeerIdentity, code: int) -> Message:
    return experimental_error(request, local, APP_ZN, code)


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
    kind = msg.find(d.KEY_KIND, d.VENDOR_PROJECT)
    try:
        key_kind = KeyKind(kind.as_int()) if kind is not None else KeyKind.KS_NAF
    except ValueError:
        raise CodecError(f"BIA Key-Kind {kind.as_int() if kind else None} unknown") from None
    return KeyAnswer(
        impi=user.as_str(), expiry=expiry.as_time(),
        created=created.as_time() if created is not None else expiry.as_time(),
        me_key=me.as_bytes() if me is not None else None,
        uicc_key=uicc.as_bytes() if uicc is not None else None,
        uss=_received_uss(msg.find_all(400, VENDOR_3GPP)), key_kind=key_kind,
        session=session.as_str() if (session := msg.find(d.SESSION_ID)) is not None else "")


def _received_uss(found: list[Avp]) -> str | None:
    """The BIA's ``ussList`` document: the one GBA-UserSecSettings as sent (TS 29.109
    §6.3.1.1), once checked to be a ussList. Older peers (this package's included) sent
    one AVP per USS, each a bare ``uss``: their USSs are gathered into one ussList.

    Settings that cannot be read are dropped with a warning, not the answer: the key
    material beside them is valid, and a NAF that needs a USS refuses without one."""
    if not found:
        return None
    try:
        texts = [a.as_bytes().decode("utf-8") for a in found]
        if len(texts) == 1:
            with contextlib.suppress(CodecError):
                decode_uss_list(texts[0])
                return texts[0]
        return encode_uss_list([u for t in texts for u in decode_uss_list(t, bare_uss=True)])
    except (UnicodeDecodeError, CodecError) as exc:
        log.warning("Zn BIA: GBA-UserSecSettings unreadable, ignored: %s", exc)
        return None

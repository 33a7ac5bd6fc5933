"""The softswitch - AuC leg of the NGN flow over Diameter: s3/s4 and s11 (seed 001;
docs/ngn.md §0). All [P]: no standard defines this interface; the base is RFC 6733.

Application [P]: a vendor-specific application of vendor 32473 (the project's vendor,
:data:`~gba.protocols.diameter.dictionary.VENDOR_PROJECT`, as for the MTC AVPs), announced
as Vendor-Specific-Application-Id { Vendor-Id 32473, Auth-Application-Id
:data:`APP_NGN_AUC` = 0x4E474E01 ("NGN" 1) }: a value of the vendor-specific range
0x01000000-0xfffffffe (RFC 6733 §11.3), far above the ids IANA has handed out
sequentially from 16777216; a deployment should register its own and change this constant.

Commands [P], in the experimental range (RFC 6733 §11.2.1: 16777214 and 16777215)::

    NGN-Auth-Request (NAR, 16777214, s3):
        < Session-Id > { Vendor-Specific-Application-Id } { Auth-Session-State }
        { Origin-Host } { Origin-Realm } { Destination-Realm } [ Destination-Host ]
        { User-Name } { NGN-Proxy-Id } *[ AVP ] *[ Proxy-Info ] *[ Route-Record ]
    NGN-Auth-Answer (NAA, s4):
        < Session-Id > { Vendor-Specific-Application-Id } [ Result-Code ]
        [ Experimental-Result ] { Auth-Session-State } { Origin-Host } { Origin-Realm }
        [ User-Name ] [ NGN-Proxy-Id ] [ NGN-Rand ] [ NGN-Authenticator ]
        [ SIP-Auth-Data-Item ] [ NGN-Wrapped-Key-Terminal ] [ NGN-Wrapped-Key-Proxy ]
    NGN-Registration-Notice-Request (NRR, 16777215, s11):
        < Session-Id > { Vendor-Specific-Application-Id } { Auth-Session-State }
        { Origin-Host } { Origin-Realm } { Destination-Realm } [ Destination-Host ]
        { User-Name } { NGN-Proxy-Id } [ Framed-IP-Address ] [ NGN-Terminal-Address ]
    NGN-Registration-Notice-Answer (NRA): Session-Id, Vendor-Specific-Application-Id,
        Result-Code 2001 or Experimental-Result, Auth-Session-State, Origin-Host/Realm.

User-Name = ID_c. The terminal's address travels as Framed-IP-Address (code 8, RFC 7155
§4.4.10.5.1; OctetString of 4 or 16 octets) when it is an IP literal, else as the text
NGN-Terminal-Address [P]; exactly one of the two.

Vendor AVPs [P] (vendor 32473; V and M set; codes after the MTC ones, 1-7):

=====  ===========================  ===========  ===========================
code   name                         type         value
=====  ===========================  ===========  ===========================
20     NGN-Proxy-Id                 UTF8String   ID_sp
21     NGN-Rand                     OctetString  Rand (16) / the AKA RAND
22     NGN-Authenticator            OctetString  Authenticator_c (16)
23     NGN-Wrapped-Key-Terminal     OctetString  E_Kc[Kc,sp] (24)
24     NGN-Wrapped-Key-Proxy        OctetString  E_Ksp[Kc,sp] (24)
25     NGN-Terminal-Address         UTF8String   the terminal's address, text
=====  ===========================  ===========  ===========================

Refusals: Experimental-Result { Vendor-Id 32473, Experimental-Result-Code } (RFC 6733
§7.6) with :class:`NgnResultCode` 5110 unknown terminal, 5111 unknown proxy (after the
MTC codes 5100-5103). :func:`refusal_of` maps an answer to :class:`Refusal`:
5110 -> UNKNOWN_TERMINAL, 5111 -> UNKNOWN_PROXY, a request we built wrongly (5001, 5004,
5005, 5009, 5014) -> MALFORMED, anything else (3002, 5012, ...) -> UNAVAILABLE.

AKA interoperability extension [P]: for a terminal provisioned with OPc the s4 answer
carries the AKA vector instead of NGN-Authenticator: NGN-Rand = RAND and a Cx
SIP-Auth-Data-Item (TS 29.229 §6.3.13, vendor 10415) { SIP-Item-Number 1,
SIP-Authentication-Scheme "Digest-AKAv1-MD5", SIP-Authenticate (609) = RAND || AUTN,
SIP-Authorization (610) = XRES, Confidentiality-Key (625), Integrity-Key (626) }; the
softswitch verifies the terminal's RFC 3310 digest with XRES. NGN-Wrapped-Key-Terminal
is then AES-KW (RFC 3394) of Kc,sp under the 32-octet AES-256 KEK CK || IK
(:func:`aka_wrap`, :func:`aka_unwrap`); NGN-Wrapped-Key-Proxy is as for NGN terminals.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)

from gba.errors import CodecError, InvalidInput, MacFailure
from gba.protocols import ngn
from gba.protocols.diameter import (
    VENDOR_3GPP,
    VENDOR_PROJECT,
    Avp,
    DiameterCodecError,
    Message,
    MissingAvp,
    PeerIdentity,
    avp,
    experimental_result,
    raw_avp,
)
from gba.protocols.diameter import dictionary as d
from gba.protocols.diameter.capabilities import reject_unknown_mandatory
from gba.protocols.ngn_flow import Refusal, S3AuthRequest, S4AuthVector, S11Registered

VENDOR = VENDOR_PROJECT
APP_NGN_AUC = 0x4E474E01
"""Auth-Application-Id of the softswitch - AuC application [P] (RFC 6733 §11.3)."""
APPLICATION = (VENDOR, APP_NGN_AUC)
CMD_NGN_AUTH = 16777214
"""NGN-Auth-Request/Answer, s3/s4 [P] (RFC 6733 §11.2.1 experimental)."""
CMD_NGN_REGISTRATION_NOTICE = 16777215
"""NGN-Registration-Notice-Request/Answer, s11 [P] (RFC 6733 §11.2.1 experimental)."""

NGN_PROXY_ID = 20
NGN_RAND = 21
NGN_AUTHENTICATOR = 22
NGN_WRAPPED_KEY_TERMINAL = 23
NGN_WRAPPED_KEY_PROXY = 24
NGN_TERMINAL_ADDRESS = 25
FRAMED_IP_ADDRESS = 8
"""RFC 7155 §4.4.10.5.1 (NASREQ; not in the project's dictionary, so built raw)."""

AKA_SCHEME = "Digest-AKAv1-MD5"
"""SIP-Authentication-Scheme of the AKA item (TS 29.229 §6.3.9; RFC 3310)."""
AKA_KEK_LEN = 32
_SIP_AUTH_DATA_ITEM, _SIP_AUTHENTICATE, _SIP_AUTHORIZATION = 612, 609, 610
_CK, _IK = 625, 626
_AVP_OCCURS_TOO_MANY_TIMES = 5009
_PROXY_INFO, _ROUTE_RECORD = 284, 282


class NgnResultCode(enum.IntEnum):
    """Experimental-Result-Code values under vendor 32473 [P] (RFC 6733 §7.6)."""

    UNKNOWN_TERMINAL = 5110
    UNKNOWN_PROXY = 5111


_REFUSAL_OF_CODE = {
    NgnResultCode.UNKNOWN_TERMINAL: Refusal.UNKNOWN_TERMINAL,
    NgnResultCode.UNKNOWN_PROXY: Refusal.UNKNOWN_PROXY,
}
_MALFORMED_CODES = frozenset({5001, 5004, 5005, 5009, 5014})


@dataclass(frozen=True, slots=True)
class AkaVector:
    """s4 for an AKA terminal [P]: the AKA vector (TS 33.102 §6.3.2) and the two wraps;
    ``e_kc`` is :func:`aka_wrap` (CK || IK, Kc,sp)."""

    id_c: str
    id_sp: str
    rand: bytes
    autn: bytes
    xres: bytes = field(repr=False)
    ck: bytes = field(repr=False)
    ik: bytes = field(repr=False)
    e_kc: bytes
    e_ksp: bytes


@dataclass(frozen=True, slots=True)
class NgnAuthRefusal:
    """A non-2001 answer to s3 or s11: the flow's :class:`Refusal` and the code seen."""

    refusal: Refusal
    result_code: int
    detail: str = ""


# ------------------------------------------------------------------ AKA wrap [P]


def aka_wrap(ck: bytes, ik: bytes, kc_sp: bytes) -> bytes:
    """E_{CK||IK}[Kc,sp]: RFC 3394 AES Key Wrap under the 32-octet KEK CK || IK [P]."""
    if len(ck) != 16 or len(ik) != 16:
        raise InvalidInput("CK and IK must be 16 octets each")
    if len(kc_sp) != ngn.KEY_LEN:
        raise InvalidInput(f"Kc,sp must be {ngn.KEY_LEN} octets")
    return aes_key_wrap(ck + ik, kc_sp)


def aka_unwrap(ck: bytes, ik: bytes, wrapped: bytes) -> bytes:
    """Kc,sp from :func:`aka_wrap`'s output; :class:`MacFailure` when RFC 3394's
    integrity check fails."""
    if len(ck) != 16 or len(ik) != 16:
        raise InvalidInput("CK and IK must be 16 octets each")
    if len(wrapped) != ngn.WRAP_LEN:
        raise InvalidInput(f"E_K[Kc,sp] must be {ngn.WRAP_LEN} octets")
    try:
        return aes_key_unwrap(ck + ik, wrapped)
    except InvalidUnwrap:
        raise MacFailure("E_{CK||IK}[Kc,sp] failed the key wrap integrity check") from None


# ------------------------------------------------------------------ helpers


def _vavp(code: int, data: bytes) -> Avp:
    """A vendor-32473 AVP, V and M set."""
    return raw_avp(code, data, vendor=VENDOR, mandatory=True)


def vendor_app() -> Avp:
    return avp("Vendor-Specific-Application-Id",
               [avp("Vendor-Id", VENDOR), avp("Auth-Application-Id", APP_NGN_AUC)])


def _one(msg: Message, code: int, vendor: int, where: str) -> Avp | None:
    found = msg.find_all(code, vendor)
    if len(found) > 1:
        raise DiameterCodecError(f"{where} carries AVP {code} {len(found)} times",
                                 result_code=_AVP_OCCURS_TOO_MANY_TIMES, failed=found[1])
    return found[0] if found else None


def _need(msg: Message, code: int, vendor: int, where: str) -> Avp:
    found = _one(msg, code, vendor, where)
    if found is None:
        raise MissingAvp(code, vendor, where)
    return found


def _ident(a: Avp, where: str) -> str:
    try:
        return ngn.check_id(a.as_str())
    except InvalidInput as exc:
        raise DiameterCodecError(f"{where} AVP {a.code}: {exc}", result_code=5004,
                                 failed=a) from None


def _octets(a: Avp, length: int, where: str) -> bytes:
    if len(a.data) != length:
        raise DiameterCodecError(f"{where} AVP {a.code} holds {len(a.data)} octets, "
                                 f"expected {length}", result_code=5014, failed=a)
    return a.data


def _ids(msg: Message, where: str) -> tuple[str, str]:
    id_c = _ident(_need(msg, d.USER_NAME, 0, where), where)
    id_sp = _ident(_need(msg, NGN_PROXY_ID, VENDOR, where), where)
    return id_c, id_sp


def _request(command: int, local: PeerIdentity, realm: str, session_id: str,
             id_c: str, id_sp: str, extra: list[Avp]) -> Message:
    ngn.check_id(id_c)
    ngn.check_id(id_sp)
    return Message.new(command, APP_NGN_AUC, avps=[
        avp("Session-Id", session_id), vendor_app(),
        avp("Auth-Session-State", "NO_STATE_MAINTAINED"),
        avp("Origin-Host", local.origin_host), avp("Origin-Realm", local.origin_realm),
        avp("Destination-Realm", realm), avp("User-Name", id_c),
        _vavp(NGN_PROXY_ID, id_sp.encode("utf-8")), *extra])


def _check_request(msg: Message, command: int, known: frozenset[int], where: str) -> None:
    if msg.command_code != command or msg.application_id != APP_NGN_AUC:
        raise CodecError(f"not an {where} (command {msg.command_code}, "
                         f"application {msg.application_id})")
    if not msg.is_request:
        raise CodecError(f"{where} without the R bit")
    reject_unknown_mandatory(msg, known, where)


def _answer_head(request: Message, local: PeerIdentity, result: Avp) -> list[Avp]:
    avps: list[Avp] = []
    session = request.find(d.SESSION_ID)
    if session is not None:
        avps.append(session)
    return [*avps, vendor_app(), result, avp("Auth-Session-State", "NO_STATE_MAINTAINED"),
            avp("Origin-Host", local.origin_host), avp("Origin-Realm", local.origin_realm)]


def _tail(request: Message) -> list[Avp]:
    """Proxy-Info copied into the answer (RFC 6733 §6.2)."""
    return request.find_all(_PROXY_INFO)


_COMMON = ((d.SESSION_ID, 0), (d.VENDOR_SPECIFIC_APPLICATION_ID, 0),
           (d.AUTH_SESSION_STATE, 0), (d.ORIGIN_HOST, 0), (d.ORIGIN_REALM, 0),
           (d.DESTINATION_REALM, 0), (d.DESTINATION_HOST, 0), (d.USER_NAME, 0),
           (NGN_PROXY_ID, VENDOR), (_PROXY_INFO, 0), (_ROUTE_RECORD, 0),
           (d.ORIGIN_STATE_ID, 0))
_NAR_AVPS = frozenset(d.avp_key(c, v) for c, v in _COMMON)
_NRR_AVPS = frozenset(d.avp_key(c, v) for c, v in (
    *_COMMON, (FRAMED_IP_ADDRESS, 0), (NGN_TERMINAL_ADDRESS, VENDOR)))


# ------------------------------------------------------------------ s3 / s4


def build_auth_request(local: PeerIdentity, realm: str, session_id: str,
                       req: S3AuthRequest) -> Message:
    """s3 as an NGN-Auth-Request [P] to the AuC of *realm*."""
    return _request(CMD_NGN_AUTH, local, realm, session_id, req.id_c, req.id_sp, [])


def parse_auth_request(msg: Message) -> S3AuthRequest:
    """The s3 of an NGN-Auth-Request; :class:`CodecError` subclasses carry the result
    code to answer (5001 unknown M-bit AVP, 5005 missing, 5004 bad identity, 5009 twice)."""
    _check_request(msg, CMD_NGN_AUTH, _NAR_AVPS, "NGN-Auth-Request")
    return S3AuthRequest(*_ids(msg, "NGN-Auth-Request"))


def build_auth_answer(request: Message, local: PeerIdentity,
                      vector: S4AuthVector | AkaVector) -> Message:
    """s4: the NGN-Auth-Answer, Result-Code 2001, carrying *vector* [P]."""
    ids = [avp("User-Name", vector.id_c), _vavp(NGN_PROXY_ID, vector.id_sp.encode("utf-8")),
           _vavp(NGN_RAND, vector.rand)]
    if isinstance(vector, S4AuthVector):
        ids.append(_vavp(NGN_AUTHENTICATOR, vector.authenticator))
    else:
        ids.append(avp("SIP-Auth-Data-Item", [
            avp("SIP-Item-Number", 1), avp("SIP-Authentication-Scheme", AKA_SCHEME),
            avp("SIP-Authenticate", vector.rand + vector.autn),
            avp("SIP-Authorization", vector.xres),
            avp("Confidentiality-Key", vector.ck), avp("Integrity-Key", vector.ik)]))
    ids += [_vavp(NGN_WRAPPED_KEY_TERMINAL, vector.e_kc),
            _vavp(NGN_WRAPPED_KEY_PROXY, vector.e_ksp)]
    head = _answer_head(request, local, avp("Result-Code", d.ResultCode.SUCCESS))
    return request.answer([*head, *ids, *_tail(request)])


def build_refusal(request: Message, local: PeerIdentity, code: NgnResultCode) -> Message:
    """An NAA or NRA refusing with Experimental-Result { 32473, *code* } (RFC 6733 §7.6)."""
    code = NgnResultCode(code)
    head = _answer_head(request, local, experimental_result(int(code), VENDOR))
    return request.answer([*head, *_tail(request)])


def refusal_of(msg: Message) -> NgnAuthRefusal | None:
    """None for a 2001 answer, else the :class:`NgnAuthRefusal` it means."""
    code = msg.result_code
    if code == d.ResultCode.SUCCESS:
        return None
    if code is None:
        return NgnAuthRefusal(Refusal.UNAVAILABLE, int(d.ResultCode.UNABLE_TO_COMPLY),
                              "answer without a result")
    group = msg.find(d.EXPERIMENTAL_RESULT)
    vendor = group.find(d.VENDOR_ID) if group is not None else None
    if vendor is not None and len(vendor.data) == 4 and vendor.as_int() == VENDOR:
        known = {int(c): r for c, r in _REFUSAL_OF_CODE.items()}
        if code in known:
            return NgnAuthRefusal(known[code], code)
    if code in _MALFORMED_CODES:
        return NgnAuthRefusal(Refusal.MALFORMED, code)
    return NgnAuthRefusal(Refusal.UNAVAILABLE, code)


def _aka(item: Avp, id_c: str, id_sp: str, rand: bytes, e_kc: bytes, e_ksp: bytes
         ) -> AkaVector:
    where = "NGN-Auth-Answer SIP-Auth-Data-Item"
    grouped = Message.new(0, 0, avps=item.children())
    challenge = _octets(_need(grouped, _SIP_AUTHENTICATE, VENDOR_3GPP, where), 32, where)
    xres = _need(grouped, _SIP_AUTHORIZATION, VENDOR_3GPP, where).data
    if not 4 <= len(xres) <= 16:
        raise DiameterCodecError(f"{where} XRES of {len(xres)} octets is not 4..16",
                                 result_code=5014)
    ck = _octets(_need(grouped, _CK, VENDOR_3GPP, where), 16, where)
    ik = _octets(_need(grouped, _IK, VENDOR_3GPP, where), 16, where)
    if challenge[:16] != rand:
        raise CodecError("NGN-Auth-Answer: NGN-Rand is not the RAND of SIP-Authenticate")
    return AkaVector(id_c, id_sp, rand, challenge[16:], xres, ck, ik, e_kc, e_ksp)


def parse_auth_answer(msg: Message) -> S4AuthVector | AkaVector | NgnAuthRefusal:
    """s4 from an NGN-Auth-Answer: the vector on 2001 (NGN-Authenticator for an NGN
    terminal, a SIP-Auth-Data-Item for an AKA one), else :func:`refusal_of`'s refusal.
    Lengths are checked (Rand 16, Authenticator 16, wraps 24); anything malformed raises
    :class:`CodecError`."""
    where = "NGN-Auth-Answer"
    if msg.command_code != CMD_NGN_AUTH or msg.is_request:
        raise CodecError(f"not an {where}")
    refused = refusal_of(msg)
    if refused is not None:
        return refused
    id_c, id_sp = _ids(msg, where)
    rand = _octets(_need(msg, NGN_RAND, VENDOR, where), ngn.RAND_LEN, where)
    e_kc = _octets(_need(msg, NGN_WRAPPED_KEY_TERMINAL, VENDOR, where), ngn.WRAP_LEN, where)
    e_ksp = _octets(_need(msg, NGN_WRAPPED_KEY_PROXY, VENDOR, where), ngn.WRAP_LEN, where)
    auth = _one(msg, NGN_AUTHENTICATOR, VENDOR, where)
    item = _one(msg, _SIP_AUTH_DATA_ITEM, VENDOR_3GPP, where)
    if (auth is None) == (item is None):
        raise CodecError(f"{where} must carry exactly one of NGN-Authenticator and "
                         "SIP-Auth-Data-Item")
    if item is not None:
        return _aka(item, id_c, id_sp, rand, e_kc, e_ksp)
    assert auth is not None
    return S4AuthVector(id_c, id_sp, rand, _octets(auth, ngn.AUTH_LEN, where), e_kc, e_ksp)


# ------------------------------------------------------------------ s11


def _address_avp(address: str) -> Avp:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        ngn.check_id(address)  # 1..255 octets, no control characters [P]
        return _vavp(NGN_TERMINAL_ADDRESS, address.encode("utf-8"))
    return raw_avp(FRAMED_IP_ADDRESS, ip.packed, mandatory=True)


def build_notice_request(local: PeerIdentity, realm: str, session_id: str,
                         note: S11Registered) -> Message:
    """s11 as an NGN-Registration-Notice-Request [P]; an IP-literal address goes as
    Framed-IP-Address (RFC 7155 §4.4.10.5.1), any other as NGN-Terminal-Address."""
    return _request(CMD_NGN_REGISTRATION_NOTICE, local, realm, session_id, note.id_c,
                    note.id_sp, [_address_avp(note.address)])


def parse_notice_request(msg: Message) -> S11Registered:
    """The s11 of an NGN-Registration-Notice-Request; the address as text (an IP in its
    normal form, ``ipaddress``)."""
    where = "NGN-Registration-Notice-Request"
    _check_request(msg, CMD_NGN_REGISTRATION_NOTICE, _NRR_AVPS, where)
    id_c, id_sp = _ids(msg, where)
    framed = _one(msg, FRAMED_IP_ADDRESS, 0, where)
    text = _one(msg, NGN_TERMINAL_ADDRESS, VENDOR, where)
    if (framed is None) == (text is None):
        raise MissingAvp(FRAMED_IP_ADDRESS, 0, f"{where} (exactly one of Framed-IP-Address "
                         "and NGN-Terminal-Address)")
    if framed is not None:
        if len(framed.data) not in (4, 16):
            raise DiameterCodecError(f"{where} Framed-IP-Address of {len(framed.data)} "
                                     "octets is not 4 or 16", result_code=5014, failed=framed)
        return S11Registered(id_c, id_sp, str(ipaddress.ip_address(framed.data)))
    assert text is not None
    return S11Registered(id_c, id_sp, _ident(text, where))


def build_notice_answer(request: Message, local: PeerIdentity) -> Message:
    """The NGN-Registration-Notice-Answer, 2001: the AuC has recorded the registration."""
    head = _answer_head(request, local, avp("Result-Code", d.ResultCode.SUCCESS))
    return request.answer([*head, *_tail(request)])


def parse_notice_answer(msg: Message) -> NgnAuthRefusal | None:
    """None when the AuC recorded s11 (2001), else the refusal."""
    if msg.command_code != CMD_NGN_REGISTRATION_NOTICE or msg.is_request:
        raise CodecError("not an NGN-Registration-Notice-Answer")
    return refusal_of(msg)

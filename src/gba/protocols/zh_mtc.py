"""MTC device groups on Zh and Zn: the group AVPs this project adds (docs/mtc.md §3 [P]).

The base messages are those of :mod:`gba.protocols.zh` (MAR/MAA, TS 29.109 §4.2) and
:mod:`gba.protocols.zn` (BIA, TS 29.109 §4.5), built and read by the functions there;
this module only adds, in each command's ``*[ AVP ]`` (before any Proxy-Info or
Route-Record), the vendor-specific AVPs of vendor
:data:`~gba.protocols.diameter.dictionary.VENDOR_GBA_LAB_MTC` (32473, RFC 5612's
documentation number; no 3GPP AVP carries an MTC group) [P]::

    MAR: ... [ MTC-Group-Id ] [ MTC-Group-Key-Id ] [ MTC-Small-Data-Capability ]
    MAA: ... [ MTC-Security-Settings ]
    BIA: ... [ MTC-Security-Settings ] [ MTC-Small-Data-Capability ]
             [ MTC-Enc-Key ] [ MTC-Int-Key ]

All have the M bit set, so a peer without them answers 5001 rather than ignoring the
group. The three MAR AVPs come together or not at all. A refusal is an
Experimental-Result under vendor 32473 (:class:`MtcResultCode`).

Deviation from docs/mtc.md §3: MTC-Group-Id is code 7, not 1, because (1, 32473) is
Key-Kind (docs/roaming.md §2); the other codes are as documented.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag

from gba.errors import CodecError, InvalidInput
from gba.protocols import zh
from gba.protocols.diameter import (
    APP_ZH,
    CMD_BOOTSTRAPPING_INFO,
    Avp,
    DiameterCodecError,
    Message,
    MissingAvp,
    PeerIdentity,
    avp,
    experimental_result,
)
from gba.protocols.diameter import dictionary as d

VENDOR = d.VENDOR_GBA_LAB_MTC

_UINT32_MAX = 0xFFFFFFFF
_ENC_KEY_LENGTH = 16
_INT_KEY_LENGTH = 32
_INVALID_AVP_VALUE = int(d.ResultCode.INVALID_AVP_VALUE)
_INVALID_AVP_LENGTH = int(d.ResultCode.INVALID_AVP_LENGTH)
_AVP_OCCURS_TOO_MANY_TIMES = 5009  # RFC 6733 §7.1.5
_PROXY_INFO, _ROUTE_RECORD = 284, 282

_MAR_CODES = (d.MTC_GROUP_ID, d.MTC_GROUP_KEY_ID, d.MTC_SMALL_DATA_CAPABILITY)
_BIA_CODES = (d.MTC_SECURITY_SETTINGS, d.MTC_SMALL_DATA_CAPABILITY, d.MTC_ENC_KEY,
              d.MTC_INT_KEY)


class MtcResultCode(IntEnum):
    """Experimental-Result-Code values under vendor 32473 (docs/mtc.md §3 [P]), in the
    order the HSS checks them: UNKNOWN_GROUP, NOT_A_MEMBER, STALE_GROUP_KEY,
    NO_SMALL_DATA."""

    NOT_A_MEMBER = 5100
    NO_SMALL_DATA = 5101
    STALE_GROUP_KEY = 5102
    UNKNOWN_GROUP = 5103


class SmallData(IntFlag):
    """MTC-Small-Data-Capability bits (docs/mtc.md §3): bit 0 send, bit 1 receive."""

    SEND = 1
    RECEIVE = 2


_CAPABILITY_MAX = int(SmallData.SEND | SmallData.RECEIVE)


def _check_capability(capability: int) -> None:
    if isinstance(capability, bool) or not 0 <= capability <= _CAPABILITY_MAX:
        raise InvalidInput(f"MTC small-data capability {capability!r} is not 0..3")


@dataclass(frozen=True, slots=True)
class MtcVectorRequest:
    """The group part of a MAR (docs/mtc.md §2-§3): the device's IMPI (the MAR's
    User-Name), its group, the identifier of the group key it holds and the small-data
    capability it claims (:class:`SmallData` bits)."""

    impi: str
    group_id: str
    key_id: int
    capability: int

    def __post_init__(self) -> None:
        if not self.group_id:
            raise InvalidInput("MTC group identity is empty")
        if isinstance(self.key_id, bool) or not 0 <= self.key_id <= _UINT32_MAX:
            raise InvalidInput(f"MTC group-key identifier {self.key_id!r} is not Unsigned32")
        _check_capability(self.capability)


@dataclass(frozen=True, slots=True)
class MtcKeys:
    """What a BSF adds to a BIA for an MTC device (docs/mtc.md §3-§4): the MTC security
    settings XML, the small-data capability answered and the subkeys K_enc (16 octets)
    and K_int (32 octets) when the configured ``subkeys`` asks for them."""

    settings_xml: str
    enc_key: bytes | None = field(default=None, repr=False)
    int_key: bytes | None = field(default=None, repr=False)
    capability: int = 0

    def __post_init__(self) -> None:
        _check_capability(self.capability)
        if self.enc_key is not None and len(self.enc_key) != _ENC_KEY_LENGTH:
            raise InvalidInput(f"MTC K_enc is {len(self.enc_key)} octets, not 16")
        if self.int_key is not None and len(self.int_key) != _INT_KEY_LENGTH:
            raise InvalidInput(f"MTC K_int is {len(self.int_key)} octets, not 32")


# ------------------------------------------------------------------ helpers


def _with_extra(msg: Message, extra: Iterable[Avp]) -> Message:
    """*msg* with *extra* in its ``*[ AVP ]``: before the first Proxy-Info or Route-Record
    (RFC 6733 §3.2 ABNF order), else at the end."""
    avps = list(msg.avps)
    at = next((i for i, a in enumerate(avps)
               if a.vendor == 0 and a.code in (_PROXY_INFO, _ROUTE_RECORD)), len(avps))
    avps[at:at] = list(extra)
    return msg.with_avps(avps)


def _one(msg: Message, code: int, where: str) -> Avp | None:
    """The MTC AVP *code*, or None; 5009 when it occurs twice (RFC 6733 §7.1.5)."""
    found = msg.find_all(code, VENDOR)
    if len(found) > 1:
        raise DiameterCodecError(f"{where} carries MTC AVP {code} {len(found)} times",
                                 result_code=_AVP_OCCURS_TOO_MANY_TIMES, failed=found[1])
    return found[0] if found else None


def _uint32(a: Avp, where: str) -> int:
    if len(a.data) != 4:
        raise DiameterCodecError(f"{where} MTC AVP {a.code} holds {len(a.data)} octets, "
                                 "Unsigned32 needs 4", result_code=_INVALID_AVP_LENGTH,
                                 failed=a)
    return a.as_int()


def _capability(a: Avp, where: str) -> int:
    value = _uint32(a, where)
    if value > _CAPABILITY_MAX:
        raise DiameterCodecError(f"{where} MTC-Small-Data-Capability {value} is not 0..3",
                                 result_code=_INVALID_AVP_VALUE, failed=a)
    return value


def _text(a: Avp, where: str) -> str:
    try:
        return a.data.decode("utf-8")
    except UnicodeDecodeError:
        raise DiameterCodecError(f"{where} MTC AVP {a.code} is not UTF-8",
                                 result_code=_INVALID_AVP_VALUE, failed=a) from None


# ------------------------------------------------------------------ Zh MAR


def build_mtc_mar(local: PeerIdentity, destination_realm: str, session_id: str,
                  req: MtcVectorRequest, *, base: zh.VectorRequest | None = None
                  ) -> Message:
    """The MAR of :func:`gba.protocols.zh.build_mar` (TS 29.109 §4.2) for the device's
    IMPI, plus MTC-Group-Id, MTC-Group-Key-Id and MTC-Small-Data-Capability (docs/mtc.md
    §3 [P]). *base*, when given, is the Zh request to extend instead of a plain one for
    ``req.impi`` (to resynchronise with RAND || AUTS, or send GUSS-Timestamp); its IMPI
    must be ``req.impi``."""
    if base is None:
        base = zh.VectorRequest(req.impi)
    elif base.impi != req.impi:
        raise InvalidInput("MTC MAR: the Zh request is for another IMPI")
    return _with_extra(zh.build_mar(local, destination_realm, session_id, base), [
        avp("MTC-Group-Id", req.group_id), avp("MTC-Group-Key-Id", req.key_id),
        avp("MTC-Small-Data-Capability", req.capability)])


def parse_mtc_mar(msg: Message) -> tuple[zh.VectorRequest, MtcVectorRequest | None]:
    """A MAR as :func:`gba.protocols.zh.parse_mar` reads it (TS 29.109 §4.2), and its
    group part (docs/mtc.md §3), None when it has no MTC-Group-Id.

    Every M-bit AVP zh's MAR refuses is refused here too, by zh's own check
    (:class:`~gba.protocols.diameter.capabilities.UnsupportedAvp`, answer 5001): the three
    MAR group AVPs are taken out before it runs, nothing else (MTC-Security-Settings,
    the subkeys or Key-Kind in a MAR are refused). Group AVPs that come partly
    (:class:`MissingAvp`, 5005 / :class:`CodecError`), twice (5009) or out of range (5004,
    5014) raise :class:`CodecError` subclasses."""
    base = zh.parse_mar(msg.with_avps(
        a for a in msg.avps if not (a.vendor == VENDOR and a.code in _MAR_CODES)))
    group = _one(msg, d.MTC_GROUP_ID, "MAR")
    key = _one(msg, d.MTC_GROUP_KEY_ID, "MAR")
    capability = _one(msg, d.MTC_SMALL_DATA_CAPABILITY, "MAR")
    if group is None:
        if key is not None or capability is not None:
            raise CodecError("MAR carries MTC-Group-Key-Id or MTC-Small-Data-Capability "
                             "without MTC-Group-Id")
        return base, None
    if key is None:
        raise MissingAvp(d.MTC_GROUP_KEY_ID, VENDOR, "MAR with MTC-Group-Id")
    if capability is None:
        raise MissingAvp(d.MTC_SMALL_DATA_CAPABILITY, VENDOR, "MAR with MTC-Group-Id")
    group_id = _text(group, "MAR")
    if not group_id:
        raise DiameterCodecError("MAR MTC-Group-Id is empty", result_code=_INVALID_AVP_VALUE,
                                 failed=group)
    return base, MtcVectorRequest(base.impi, group_id, _uint32(key, "MAR"),
                                  _capability(capability, "MAR"))


# ------------------------------------------------------------------ Zh MAA


def build_mtc_maa(request: Message, local: PeerIdentity, ans: zh.VectorAnswer,
                  settings_xml: str) -> Message:
    """The MAA of :func:`gba.protocols.zh.build_maa` (TS 29.109 §4.2: the vector from the
    group key) plus MTC-Security-Settings = *settings_xml* (docs/mtc.md §1, §3 [P])."""
    return _with_extra(zh.build_maa(request, local, ans),
                       [avp("MTC-Security-Settings", settings_xml.encode("utf-8"))])


def parse_mtc_maa(msg: Message) -> tuple[zh.VectorAnswer, str | None]:
    """A successful MAA's vector (:func:`gba.protocols.zh.parse_maa`, TS 29.109 §4.2) and
    its MTC security settings XML, None when absent (docs/mtc.md §3). Callers check
    ``msg.result_code`` (and :func:`mtc_result`) first."""
    ans = zh.parse_maa(msg)
    settings = _one(msg, d.MTC_SECURITY_SETTINGS, "MAA")
    return ans, _text(settings, "MAA") if settings is not None else None


def build_mtc_error(request: Message, local: PeerIdentity, code: MtcResultCode) -> Message:
    """An MAA refusing the group: Experimental-Result { Vendor-Id 32473,
    Experimental-Result-Code *code* } (RFC 6733 §7.6; docs/mtc.md §3 [P]), otherwise as
    :func:`gba.protocols.zh.build_maa_error` (TS 29.109 §4.2)."""
    try:
        code = MtcResultCode(code)
    except ValueError:
        raise InvalidInput(f"{code} is not an MTC Experimental-Result-Code") from None
    avps: list[Avp] = []
    session = request.find(d.SESSION_ID)
    if session is not None:
        avps.append(session)
    avps += [zh.vendor_app(APP_ZH), experimental_result(int(code), VENDOR),
             avp("Auth-Session-State", "NO_STATE_MAINTAINED"),
             avp("Origin-Host", local.origin_host), avp("Origin-Realm", local.origin_realm)]
    return request.answer(avps)


def mtc_result(msg: Message) -> MtcResultCode | None:
    """The :class:`MtcResultCode` of an answer's Experimental-Result under vendor 32473,
    None for any other answer (a 3GPP 5401 or a Result-Code, say). ``msg.result_code``
    alone does not tell the vendor."""
    group = msg.find(d.EXPERIMENTAL_RESULT)
    if group is None:
        return None
    vendor = group.find(d.VENDOR_ID)
    code = group.find(d.EXPERIMENTAL_RESULT_CODE)
    if vendor is None or code is None or len(vendor.data) != 4 or len(code.data) != 4:
        return None
    if vendor.as_int() != VENDOR:
        return None
    try:
        return MtcResultCode(code.as_int())
    except ValueError:
        return None


# ------------------------------------------------------------------ Zn BIA


def add_mtc_to_bia(bia: Message, keys: MtcKeys) -> Message:
    """A new BIA: *bia* (:func:`gba.protocols.zn.build_bia`, TS 29.109 §4.5) with
    MTC-Security-Settings, MTC-Small-Data-Capability and, when present, MTC-Enc-Key and
    MTC-Int-Key (docs/mtc.md §3-§4 [P])."""
    if bia.command_code != CMD_BOOTSTRAPPING_INFO or bia.is_request:
        raise InvalidInput("MTC keys go into a Bootstrapping-Info-Answer")
    if any(a.vendor == VENDOR and a.code in _BIA_CODES for a in bia.avps):
        raise InvalidInput("the BIA already carries MTC AVPs")
    extra = [avp("MTC-Security-Settings", keys.settings_xml.encode("utf-8")),
             avp("MTC-Small-Data-Capability", keys.capability)]
    if keys.enc_key is not None:
        extra.append(avp("MTC-Enc-Key", keys.enc_key))
    if keys.int_key is not None:
        extra.append(avp("MTC-Int-Key", keys.int_key))
    return _with_extra(bia, extra)


def parse_mtc_bia(msg: Message) -> MtcKeys | None:
    """The MTC part of a BIA (docs/mtc.md §3-§4), None when it has no MTC AVP; the
    standard part is :func:`gba.protocols.zn.parse_bia`'s (TS 29.109 §4.5). A BIA with
    subkeys or capability but no MTC-Security-Settings, or keys of the wrong length,
    raises :class:`CodecError`."""
    settings = _one(msg, d.MTC_SECURITY_SETTINGS, "BIA")
    capability = _one(msg, d.MTC_SMALL_DATA_CAPABILITY, "BIA")
    enc = _one(msg, d.MTC_ENC_KEY, "BIA")
    integrity = _one(msg, d.MTC_INT_KEY, "BIA")
    if settings is None:
        if capability is not None or enc is not None or integrity is not None:
            raise MissingAvp(d.MTC_SECURITY_SETTINGS, VENDOR, "BIA with MTC AVPs")
        return None
    if capability is None:
        raise MissingAvp(d.MTC_SMALL_DATA_CAPABILITY, VENDOR, "BIA with MTC-Security-Settings")
    for a, length in ((enc, _ENC_KEY_LENGTH), (integrity, _INT_KEY_LENGTH)):
        if a is not None and len(a.data) != length:
            raise DiameterCodecError(f"BIA MTC AVP {a.code} holds {len(a.data)} octets, "
                                     f"expected {length}", result_code=_INVALID_AVP_LENGTH,
                                     failed=a)
    return MtcKeys(settings_xml=_text(settings, "BIA"),
                   enc_key=enc.data if enc is not None else None,
                   int_key=integrity.data if integrity is not None else None,
                   capability=_capability(capability, "BIA"))

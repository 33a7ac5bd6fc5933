"""MTC device groups: the initialisation request, the security settings and the keys
(seed 004; docs/mtc.md §§1, 2, 4).

No 3GPP specification defines group-key GBA, so every wire element here is this project's
[P], named so that it cannot be mistaken for a 3GPP one. Pure: no clock, no randomness.

* Initialisation request (§2): a Ub ``GET`` (TS 24.109 §4.4 [C]) with two headers [P]::

      X-MTC-Group: <group id>; key-id=<n>
      X-MTC-Small-Data: send, receive

  The group key never travels; its identifier does. The group id has the
  External-Group-Identifier form ``name@domain`` (TS 23.003 §19.7.3 [C: the form only]).
* Device IMPI (§1): ``<IMSI>@ims.mnc<MNC>.mcc<MCC>.3gppnetwork.org``, MNC padded to three
  digits (TS 23.003 §13.3 [C]).
* MTC user security settings (§1) [P]: XML in ``urn:gba-lab:mtc:1``, read with defusedxml
  and bounded (:data:`gba.protocols.xmlutil.MAX_XML`, :data:`MAX_MEMBERS`).
* Keys (§4): K_IWF = Ks_(ext)_NAF (TS 33.220 Annex B.3 [C]) with NAF_Id = MTC-IWF FQDN ||
  FF 00 00 00 01 (organisation 0xFF is private use, TS 33.220 Annex H.2 [C]) [P];
  K_enc = KDF(K_IWF, 0x70, "mtc-small-data-enc")[:16], K_int = KDF(K_IWF, 0x70,
  "mtc-small-data-int") [P: an FC outside TS 33.220's allocations].
* B-TID (§4) [P]: base64(RAND || SHA-256(IMPI)[:6]) @ BSF name, since devices that share a
  vector share RAND. It is **not** a TS 33.220 B-TID: :func:`gba.crypto.kdf.parse_btid`
  refuses it (22 octets, not 16); read it with :func:`parse_mtc_btid`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntFlag, StrEnum
from xml.etree.ElementTree import Element, SubElement, tostring

from gba.crypto import kdf, ua_protocols
from gba.errors import CodecError, InvalidInput
from gba.protocols.xmlutil import MAX_XML, parse_xml

NAMESPACE = "urn:gba-lab:mtc:1"
"""Namespace of the MTC user security settings [P]."""
HEADER_GROUP = "X-MTC-Group"
HEADER_SMALL_DATA = "X-MTC-Small-Data"
MAX_GROUP_ID = 255
MAX_KEY_ID = 2**32 - 1
"""The group-key identifier travels as a Diameter Unsigned32 (docs/mtc.md §3)."""
MAX_MEMBERS = 100_000
DECODED_SETTINGS = 64
"""Settings documents :func:`decode_settings` remembers (each at most MAX_XML octets)."""
MAX_LIFETIME_S = 366 * 86400
"""As :data:`gba.protocols.guss.MAX_LIFETIME_S`: no key lives longer than a year."""
_MAX_HEADER = 512
_KEY_ID_PARAM = "key-id"


# -- small-data capability (§1, §2) -----------------------------------------------------

class Capability(IntFlag):
    """Small-data capability; the bits are those of MTC-Small-Data-Capability (§3) [P]."""

    NONE = 0
    SEND = 1
    RECEIVE = 2


_CAP_NAMES = ((Capability.SEND, "send"), (Capability.RECEIVE, "receive"))
_CAP_BY_NAME = {name: cap for cap, name in _CAP_NAMES}
_ALL_CAPS = Capability.SEND | Capability.RECEIVE


def format_capability(cap: Capability) -> str:
    """``send``, ``receive``, ``send, receive``; ``""`` for none."""
    if int(cap) & ~int(_ALL_CAPS):
        raise InvalidInput(f"small-data capability {int(cap):#x} has unknown bits")
    return ", ".join(name for flag, name in _CAP_NAMES if cap & flag)


def parse_capability(text: str) -> Capability:
    """The ``X-MTC-Small-Data`` value: comma-separated tokens, case-insensitive; empty
    (or white space) is none. An unknown, empty or repeated token is a CodecError."""
    known = _CAP_BY_TEXT.get(text)  # the forms format_capability writes: every member of
    if known is not None:           # a group's settings carries one
        return known
    if len(text) > _MAX_HEADER:
        raise CodecError(f"small-data capability of {len(text)} characters is too long")
    if not text.strip():
        return Capability.NONE
    cap = Capability.NONE
    for raw in text.split(","):
        token = raw.strip(" \t").lower()
        flag = _CAP_BY_NAME.get(token)
        if flag is None:
            raise CodecError(f"small-data capability token {raw.strip()[:20]!r} is not "
                             "'send' or 'receive'")
        if cap & flag:
            raise CodecError(f"small-data capability {token!r} is repeated")
        cap |= flag
    return cap


_CAP_BY_TEXT: dict[str, Capability] = {
    format_capability(cap): cap
    for cap in (Capability.SEND, Capability.RECEIVE, _ALL_CAPS)}


def capability_from_bits(value: int) -> Capability:
    """The capability of an Unsigned32 (bit 0 send, bit 1 receive; §3); CodecError for
    other bits."""
    if not 0 <= value <= int(_ALL_CAPS):
        raise CodecError(f"small-data capability {value:#x} has unknown bits")
    return Capability(value)


# -- the initialisation request (§2) ---------------------------------------------------

def _group_id_problem(group_id: str) -> str | None:
    if not 1 <= len(group_id) <= MAX_GROUP_ID:
        return f"group id of {len(group_id)} characters is not 1..{MAX_GROUP_ID}"
    if any(not 0x21 <= ord(c) <= 0x7E or c in ";," for c in group_id):
        return f"group id {group_id[:40]!r} has white space, ';', ',' or a non-ASCII character"
    name, _, domain = group_id.partition("@")
    if not name or not domain or "@" in domain:
        return f"group id {group_id[:40]!r} is not of the form name@domain"
    return None


def check_group_id(group_id: str) -> str:
    """*group_id* if it has the ``name@domain`` form (TS 23.003 §19.7.3 [C: the form]),
    else InvalidInput."""
    problem = _group_id_problem(group_id)
    if problem is not None:
        raise InvalidInput(problem)
    return group_id


@dataclass(frozen=True, slots=True)
class InitRequest:
    """What a device claims in its initialisation request (steps 200, 300, 400, 500)."""

    group_id: str
    key_id: int
    capability: Capability

    def __post_init__(self) -> None:
        check_group_id(self.group_id)
        if not 0 <= self.key_id <= MAX_KEY_ID:
            raise InvalidInput(f"group-key id {self.key_id} is not 0..{MAX_KEY_ID}")
        format_capability(self.capability)


def request_headers(req: InitRequest) -> list[tuple[str, str]]:
    """The two request headers of §2, for both GETs of the Ub exchange."""
    return [(HEADER_GROUP, f"{req.group_id}; {_KEY_ID_PARAM}={req.key_id}"),
            (HEADER_SMALL_DATA, format_capability(req.capability))]


def _parse_key_id(text: str) -> int:
    if not (1 <= len(text) <= 10 and text.isascii() and text.isdigit()):
        raise CodecError(f"group-key id {text[:20]!r} is not a decimal number")
    value = int(text)
    if value > MAX_KEY_ID:
        raise CodecError(f"group-key id {value} exceeds {MAX_KEY_ID}")
    return value


def _parse_group_header(value: str) -> tuple[str, int]:
    if len(value) > _MAX_HEADER:
        raise CodecError(f"{HEADER_GROUP} of {len(value)} characters is too long")
    group_id, *params = (p.strip(" \t") for p in value.split(";"))
    problem = _group_id_problem(group_id)
    if problem is not None:
        raise CodecError(f"{HEADER_GROUP}: {problem}")
    key_id: int | None = None
    for param in params:
        name, eq, raw = param.partition("=")
        if not eq or name.strip(" \t").lower() != _KEY_ID_PARAM:
            raise CodecError(f"{HEADER_GROUP} parameter {param[:20]!r} is not key-id=<n>")
        if key_id is not None:
            raise CodecError(f"{HEADER_GROUP} has key-id twice")
        key_id = _parse_key_id(raw.strip(" \t"))
    if key_id is None:
        raise CodecError(f"{HEADER_GROUP} lacks key-id")
    return group_id, key_id


def parse_request_headers(get: Callable[[str], str | None]) -> InitRequest | None:
    """The group claim of a Ub request, *get* looking a header up by name (case-
    insensitively, as HTTP requires). None when neither header is present (an ordinary
    GBA request); CodecError when only one is, or either is malformed."""
    group, small = get(HEADER_GROUP), get(HEADER_SMALL_DATA)
    if group is None and small is None:
        return None
    if group is None or small is None:
        missing = HEADER_GROUP if group is None else HEADER_SMALL_DATA
        raise CodecError(f"MTC initialisation request lacks {missing}")
    group_id, key_id = _parse_group_header(group)
    return InitRequest(group_id, key_id, parse_capability(small))


# -- device identity (§1; TS 23.003 §13.3) ----------------------------------------------

_DIGITS = re.compile(r"[0-9]+")
_IMPI = re.compile(r"([0-9]{6,15})@ims\.mnc([0-9]{3})\.mcc([0-9]{3})\.3gppnetwork\.org",
                   re.IGNORECASE)


def _imsi_ok(imsi: str) -> bool:
    return 6 <= len(imsi) <= 15 and _DIGITS.fullmatch(imsi) is not None


def device_impi(imsi: str, mcc: str, mnc: str) -> str:
    """``<IMSI>@ims.mnc<MNC>.mcc<MCC>.3gppnetwork.org``, a two-digit MNC padded with a
    leading 0 (TS 23.003 §13.3 [C]). The IMSI must begin with MCC || MNC, since §13.3
    takes them from the IMSI; InvalidInput otherwise."""
    if not _imsi_ok(imsi):
        raise InvalidInput(f"IMSI {imsi[:20]!r} is not 6..15 digits")
    if len(mcc) != 3 or not _DIGITS.fullmatch(mcc):
        raise InvalidInput(f"MCC {mcc[:10]!r} is not three digits")
    if len(mnc) not in (2, 3) or not _DIGITS.fullmatch(mnc):
        raise InvalidInput(f"MNC {mnc[:10]!r} is not two or three digits")
    if not imsi.startswith(mcc + mnc):
        raise InvalidInput(f"IMSI {imsi[:20]!r} does not begin with MCC {mcc} MNC {mnc}")
    return f"{imsi}@ims.mnc{mnc.zfill(3)}.mcc{mcc}.3gppnetwork.org"


def imsi_of(impi: str) -> str:
    """The IMSI of an IMPI of :func:`device_impi`'s form; CodecError for any other."""
    match = _IMPI.fullmatch(impi) if len(impi) <= 80 else None
    if match is None:
        raise CodecError(f"IMPI {impi[:80]!r} is not <IMSI>@ims.mnc<MNC>.mcc<MCC>."
                         "3gppnetwork.org")
    imsi, mnc, mcc = match.groups()
    two_digit = mnc[0] == "0" and imsi[3:5] == mnc[1:]
    if imsi[:3] != mcc or not (imsi[3:6] == mnc or two_digit):
        raise CodecError(f"IMPI {impi[:80]!r}: the IMSI is not of MCC {mcc} MNC {mnc}")
    return imsi


# -- MTC user security settings (§1) ----------------------------------------------------

@dataclass(frozen=True, slots=True)
class MtcSettings:
    """The MTC user security settings the HSS generates for one device (§1) [P]."""

    group_id: str
    key_id: int
    imsi: str
    capability: Capability
    members: tuple[str, ...]
    """The group's member IMSIs (the BSF checks them on the reuse path, step 401)."""
    lifetime_s: int
    subscribed: tuple[Capability, ...] = ()
    """Each member's subscribed small-data capability, in ``members`` order (empty:
    not given), and the HSS's ``capability_source`` below: with them the BSF decides a
    device's capability on the reuse path as the HSS would."""
    capability_source: str = "request"

    def granted(self, imsi: str, claimed: Capability) -> Capability:
        """The capability the HSS's rule gives *imsi* claiming *claimed* (NONE: refused)."""
        if self.capability_source == "request" or not self.subscribed:
            return claimed if self.capability_source == "request" else Capability.NONE
        try:
            subscribed = self.subscribed[self.members.index(imsi)]
        except ValueError:
            return Capability.NONE
        if self.capability_source == "subscription":
            return subscribed
        return claimed if int(claimed) & ~int(subscribed) == 0 else Capability.NONE


def _settings_problem(s: MtcSettings) -> str | None:
    problem = _group_id_problem(s.group_id)
    if problem is not None:
        return problem
    if not 0 <= s.key_id <= MAX_KEY_ID:
        return f"group-key id {s.key_id} is not 0..{MAX_KEY_ID}"
    if not _imsi_ok(s.imsi):
        return f"IMSI {s.imsi[:20]!r} is not 6..15 digits"
    if int(s.capability) & ~int(_ALL_CAPS):
        return f"small-data capability {int(s.capability):#x} has unknown bits"
    if not 1 <= s.lifetime_s <= MAX_LIFETIME_S:
        return f"lifetime {s.lifetime_s} s is not 1..{MAX_LIFETIME_S}"
    if len(s.members) > MAX_MEMBERS:
        return f"{len(s.members)} members exceed {MAX_MEMBERS}"
    if s.subscribed and len(s.subscribed) != len(s.members):
        return "subscribed capabilities do not match the members"
    if s.capability_source not in ("request", "subscription", "both"):
        return f"capability source {s.capability_source[:20]!r} is unknown"
    seen: set[str] = set()
    for imsi in s.members:
        if not _imsi_ok(imsi):
            return f"member IMSI {imsi[:20]!r} is not 6..15 digits"
        if imsi in seen:
            return f"member IMSI {imsi} is listed twice"
        seen.add(imsi)
    return None


def encode_settings(s: MtcSettings) -> str:
    """The settings document (root ``mtcSecuritySettings``, namespace
    :data:`NAMESPACE`). InvalidInput for invalid settings or a document that
    :func:`decode_settings` would refuse as too large (over :data:`MAX_XML` octets:
    some 2,000 fifteen-digit members)."""
    problem = _settings_problem(s)
    if problem is not None:
        raise InvalidInput(f"MTC settings: {problem}")
    root = Element("mtcSecuritySettings", {"xmlns": NAMESPACE})
    SubElement(root, "groupId").text = s.group_id
    SubElement(root, "groupKeyId").text = str(s.key_id)
    SubElement(root, "imsi").text = s.imsi
    SubElement(root, "smallData").text = format_capability(s.capability)
    SubElement(root, "lifeTime").text = str(s.lifetime_s)
    SubElement(root, "capabilitySource").text = s.capability_source
    members = SubElement(root, "members")
    for n, imsi in enumerate(s.members):
        attrs = {"smallData": format_capability(s.subscribed[n])} if s.subscribed else {}
        SubElement(members, "member", attrs).text = imsi
    text = tostring(root, encoding="unicode")
    if len(text.encode("utf-8")) > MAX_XML:
        raise InvalidInput(f"MTC settings document exceeds {MAX_XML} octets "
                           f"({len(s.members)} members)")
    return text


_FIELDS = ("groupId", "groupKeyId", "imsi", "smallData", "lifeTime", "members")
_OPTIONAL = ("capabilitySource",)


def _text(el: Element, name: str) -> str:
    if len(el):
        raise CodecError(f"MTC settings: {name} has child elements")
    return (el.text or "").strip()


def _number(text: str, name: str, maximum: int) -> int:
    if not (1 <= len(text) <= 10 and text.isascii() and text.isdigit()):
        raise CodecError(f"MTC settings: {name} {text[:20]!r} is not a decimal number")
    value = int(text)
    if value > maximum:
        raise CodecError(f"MTC settings: {name} {value} exceeds {maximum}")
    return value


def _members(el: Element) -> tuple[tuple[str, ...], tuple[Capability, ...]]:
    out: list[str] = []
    caps: list[Capability] = []
    for n, child in enumerate(el):
        if n >= MAX_MEMBERS:
            raise CodecError(f"MTC settings: more than {MAX_MEMBERS} members")
        if child.tag != f"{{{NAMESPACE}}}member":
            raise CodecError(f"MTC settings: unexpected {child.tag[-40:]!r} in members")
        if set(child.attrib) - {"smallData"}:
            raise CodecError("MTC settings: unexpected member attribute")
        out.append(_text(child, "member"))
        if "smallData" in child.attrib:
            caps.append(parse_capability(child.attrib["smallData"]))
    if caps and len(caps) != len(out):
        raise CodecError("MTC settings: smallData on some members only")
    return tuple(out), tuple(caps)


@functools.lru_cache(maxsize=DECODED_SETTINGS)
def decode_settings(data: str | bytes) -> MtcSettings:
    """The settings of :func:`encode_settings`; CodecError for anything else (another
    root or namespace, a missing, repeated or unknown element, a bad value, duplicate
    member IMSIs, over :data:`MAX_XML` octets or :data:`MAX_MEMBERS` members).

    The last :data:`DECODED_SETTINGS` documents decoded are remembered (the result is
    immutable; a refusal is not remembered): one group's document is read for every
    transmission of its devices, at the BSF several times (issue 16)."""
    root = parse_xml(data, "MTC settings")
    if root.tag != f"{{{NAMESPACE}}}mtcSecuritySettings":
        raise CodecError(f"MTC settings root is {root.tag[-60:]!r}, expected "
                         f"mtcSecuritySettings in {NAMESPACE}")
    found: dict[str, Element] = {}
    for child in root:
        name = child.tag.removeprefix(f"{{{NAMESPACE}}}")
        if name not in _FIELDS and name not in _OPTIONAL:
            raise CodecError(f"MTC settings: unexpected element {child.tag[-40:]!r}")
        if name in found:
            raise CodecError(f"MTC settings: {name} appears twice")
        found[name] = child
    missing = [n for n in _FIELDS if n not in found]
    if missing:
        raise CodecError(f"MTC settings lack {', '.join(missing)}")
    members, subscribed = _members(found["members"])
    source = found.get("capabilitySource")
    settings = MtcSettings(
        group_id=_text(found["groupId"], "groupId"),
        key_id=_number(_text(found["groupKeyId"], "groupKeyId"), "groupKeyId", MAX_KEY_ID),
        imsi=_text(found["imsi"], "imsi"),
        capability=parse_capability(_text(found["smallData"], "smallData")),
        members=members,
        lifetime_s=_number(_text(found["lifeTime"], "lifeTime"), "lifeTime", MAX_LIFETIME_S),
        subscribed=subscribed,
        capability_source=_text(source, "capabilitySource") if source is not None
        else "request",
    )
    problem = _settings_problem(settings)
    if problem is not None:
        raise CodecError(f"MTC settings: {problem}")
    return settings


# -- keys (§4) ---------------------------------------------------------------------------

IWF_UA = bytes((ua_protocols.ORG_PRIVATE, 0, 0, 0, 1))
"""The MTC-IWF's Ua security protocol identifier, FF 00 00 00 01 (private use, TS 33.220
Annex H.2 [C: that 0xFF is private]) [P]."""
FC_MTC = 0x70
"""FC of the small-data subkeys [P: outside the values TS 33.220 allocates]."""
ENC_LABEL = b"mtc-small-data-enc"
INT_LABEL = b"mtc-small-data-int"
ENC_KEY_LEN = 16
INT_KEY_LEN = 32


class SubKeys(StrEnum):
    """Which subkeys protect small data (claims 8, 11; config ``subkeys``)."""

    NONE = "none"
    ENC = "enc"
    INT = "int"
    BOTH = "both"


def parse_subkeys(text: str) -> SubKeys:
    """The ``subkeys`` setting; InvalidInput for anything but none, enc, int, both."""
    try:
        return SubKeys(text.strip().lower())
    except ValueError:
        raise InvalidInput(f"subkeys {text[:20]!r} is not none, enc, int or both") from None


def iwf_naf_id(fqdn: str) -> bytes:
    """NAF_Id of the MTC-IWF: FQDN || FF 00 00 00 01 (TS 33.220 §4.5.2 [C]; §4 [P])."""
    return kdf.naf_id(fqdn, IWF_UA)


def k_iwf(ks: bytes, rand: bytes, impi: str, fqdn: str) -> bytes:
    """K_IWF = Ks_(ext)_NAF with the MTC-IWF's NAF_Id and the device's own IMPI (TS 33.220
    Annex B.3 [C]), so devices sharing a vector still get distinct keys."""
    return kdf.ks_naf(ks, rand, impi, iwf_naf_id(fqdn))


def _k_iwf_checked(key: bytes) -> bytes:
    if not isinstance(key, bytes) or len(key) != 32:
        raise InvalidInput("K_IWF is not 32 octets")
    return key


def enc_key(k_iwf_value: bytes) -> bytes:
    """K_enc = KDF(K_IWF, FC=0x70, "mtc-small-data-enc")[:16] [P]."""
    return kdf.kdf(_k_iwf_checked(k_iwf_value), FC_MTC, ENC_LABEL)[:ENC_KEY_LEN]


def int_key(k_iwf_value: bytes) -> bytes:
    """K_int = KDF(K_IWF, FC=0x70, "mtc-small-data-int"), 32 octets [P]."""
    return kdf.kdf(_k_iwf_checked(k_iwf_value), FC_MTC, INT_LABEL)


def subkeys_for(k_iwf_value: bytes, mode: SubKeys | str) -> tuple[bytes | None, bytes | None]:
    """(K_enc, K_int) as *mode* asks for them; None for a subkey not in use."""
    m = parse_subkeys(mode)
    _k_iwf_checked(k_iwf_value)
    enc = enc_key(k_iwf_value) if m in (SubKeys.ENC, SubKeys.BOTH) else None
    mac = int_key(k_iwf_value) if m in (SubKeys.INT, SubKeys.BOTH) else None
    return enc, mac


BTID_TAG_LEN = 6


def mtc_btid(rand: bytes, impi: str, bsf_server_name: str) -> str:
    """B-TID = base64(RAND || SHA-256(IMPI)[:6]) @ BSF name (§4) [P]: devices sharing a
    vector share RAND, so the IMPI is mixed in to name one context per device."""
    if not impi:
        raise InvalidInput("IMPI is empty")
    tag = hashlib.sha256(impi.encode("utf-8")).digest()[:BTID_TAG_LEN]
    # kdf.btid checks RAND and the server name; its local part is replaced by ours
    _, _, name = kdf.btid(rand, bsf_server_name).partition("@")
    return base64.b64encode(rand + tag).decode("ascii") + "@" + name


def parse_mtc_btid(value: str) -> tuple[bytes, bytes, str]:
    """An MTC B-TID -> (RAND, the 6-octet IMPI tag, BSF server name); CodecError for
    anything else, an ordinary B-TID included."""
    local_part, sep, domain = value.rpartition("@") if len(value) <= 512 else ("", "", "")
    if not sep or not local_part or not domain:
        raise CodecError(f"MTC B-TID {value[:80]!r} has no '<base64>@<domain>' form")
    try:
        raw = base64.b64decode(local_part, validate=True)
    except (binascii.Error, ValueError):
        raise CodecError("MTC B-TID local part is not base64") from None
    if len(raw) != 16 + BTID_TAG_LEN:
        raise CodecError(f"MTC B-TID local part decodes to {len(raw)} octets, "
                         f"expected {16 + BTID_TAG_LEN}")
    return raw[:16], raw[16:], domain


def btid_names(value: str, impi: str) -> bool:
    """True if the MTC B-TID *value* carries *impi*'s tag (a quick consistency check)."""
    try:
        _, tag, _ = parse_mtc_btid(value)
    except CodecError:
        return False
    return tag == hashlib.sha256(impi.encode("utf-8")).digest()[:BTID_TAG_LEN]

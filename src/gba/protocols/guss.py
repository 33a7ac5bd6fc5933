"""GBA User Security Settings (GUSS) and User Security Settings (USS), TS 29.109 Annex A.

The shape (element names per TS 29.109 Annex A, as three independent sources render it:
the OpenIMS FHoSS schema and builder, Metaswitch's Sentinel GAA GUSS example, and the
TS 29.309 data model)::

    <guss xmlns="urn:3gpp:gba:GBAGUSSSchema-R9:2010-02" id="IMPI">
      <bsfInfo><uiccType>GBA|GBA_U</uiccType><lifeTime>seconds</lifeTime></bsfInfo>
      <ussList>
        <uss id="GSID" type="GAA service type" nafGroup="..">
          <uids><uid>public identity</uid></uids><flags><flag>1</flag></flags>
        </uss>
      </ussList>
    </guss>

* The document travels in GBA-UserSecSettings (TS 29.109 §6.3.1.1): its root is ``guss``
  on Zh, and ``ussList`` (only the USSs selected for the NAF) on Zn.
* Namespace: we write the Rel-9 one, ``urn:3gpp:gba:GBAGUSSSchema-R9:2010-02``
  (Metaswitch's example; VERIFIED only by that secondary source). We read it, our
  earlier ``uri:3gpp-gaa`` (which no source confirms), and documents without a
  namespace (FHoSS writes none). Elements are matched by local name, so a document in
  another namespace is read too: the Rel-6/7 namespace is UNVERIFIED, and refusing it
  would lose a real HSS's settings.
* ``guss@id`` is the IMPI (FHoSS and Metaswitch both fill it so).
* ``lifeTime`` is in seconds (Metaswitch: "in seconds"; TS 29.309 ``BsfInfo.lifeTime``:
  "a time in seconds"; FHoSS defaults to 3600).
* ``uiccType`` is ``GBA`` or ``GBA_U`` (FHoSS ZhConstants); the old FHoSS builder writes
  ``0``/``1``, which are read as GBA/GBA_U. Whether Annex A enumerates exactly these
  values is UNVERIFIED.
* Elements this module does not know (``Extension``, TS 29.309's ``securityFeatures``)
  are skipped on decode.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, SubElement, tostring

from gba.errors import CodecError
from gba.protocols.xmlutil import local, parse_xml

log = logging.getLogger(__name__)

NAMESPACE = "urn:3gpp:gba:GBAGUSSSchema-R9:2010-02"
"""What we write: the Rel-9 GUSS namespace (TS 29.109 Annex A, as Metaswitch's example)."""
LEGACY_NAMESPACE = "uri:3gpp-gaa"
"""What this package wrote before; still read (so is no namespace at all)."""
UICC_GBA = "GBA"
UICC_GBA_U = "GBA_U"
_UICC_ALIASES = {UICC_GBA: UICC_GBA, UICC_GBA_U: UICC_GBA_U, "0": UICC_GBA, "1": UICC_GBA_U}
MAX_LIFETIME_S = 366 * 86400
"""No key lives longer than a year here; larger values are refused, not overflowed."""


@dataclass(frozen=True, slots=True)
class Uss:
    """User security settings for one GAA service (TS 29.109 Annex A ``uss``).

    ``id`` is the GAA service identifier (GSID) a NAF names in GAA-Service-Identifier;
    ``type`` the GAA service type code (Annex B: 0 unspecified, 1 PKI portal, 2
    authentication proxy, 3 presence, 4 MBMS, 5 Liberty); ``flags`` the Annex C flags.
    """

    id: str
    type: str
    naf_group: str | None = None
    uids: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Guss:
    """The subscriber's GUSS (TS 29.109 Annex A ``guss``); ``id`` is the IMPI."""

    uicc_type: str = UICC_GBA
    lifetime_s: int | None = None
    uss: tuple[Uss, ...] = field(default=())
    id: str | None = None

    def for_service(self, gaa_service_id: str, naf_group: str | None = None) -> tuple[Uss, ...]:
        """The USSs a BSF hands to a NAF asking for *gaa_service_id* (TS 33.220 §4.5.3,
        TS 29.109 §6.3.1.4), limited to the NAF's group and to USSs of no group.

        The GSID names a USS by ``uss@id`` (TS 29.309: ``gsId`` is the GAA service
        identifier, ``gsType`` the service type). Only when no USS has that id is it
        matched against ``type``: TS 29.109 §6.3.1.4 says that for 3GPP services the GSID
        currently equals the service type code, and older NAFs (ours included) send the
        type. A GSID that names a USS outside the NAF's group selects nothing rather
        than falling back to another USS of the same type.

        A NAF in no group gets only the USSs of no group: a USS with a ``nafGroup`` is for
        the NAFs of that group (TS 29.109 Annex A), and the clause saying what an
        ungrouped NAF gets was not found, so the BSF hands out the least.
        """
        by_id = [u for u in self.uss if u.id == gaa_service_id]
        chosen = by_id or [u for u in self.uss if u.type == gaa_service_id]
        return tuple(u for u in chosen if u.naf_group in (None, naf_group))


def uss_element(u: Uss, root: bool = False) -> Element:
    # Unqualified names with an xmlns attribute on the root: the default-namespace form
    # other implementations emit, without ElementTree's ns0: prefixes.
    attrs = {"id": u.id, "type": u.type}
    if u.naf_group is not None:
        attrs["nafGroup"] = u.naf_group
    el = Element("uss", attrs)
    if root:
        el.set("xmlns", NAMESPACE)
    uids = SubElement(el, "uids")
    for uid in u.uids:
        SubElement(uids, "uid").text = uid
    if u.flags:  # Metaswitch's example leaves out flags when there are none
        flags = SubElement(el, "flags")
        for flag in u.flags:
            SubElement(flags, "flag").text = flag
    return el


def _uss_list_element(uss: Iterable[Uss], root: bool = False) -> Element:
    lst = Element("ussList", {"xmlns": NAMESPACE} if root else {})
    for u in uss:
        lst.append(uss_element(u))
    return lst


def encode_guss(g: Guss) -> str:
    """The GUSS as sent on Zh (TS 29.109 §6.3.1.1: root ``guss``)."""
    attrs = {"xmlns": NAMESPACE}
    if g.id is not None:
        attrs["id"] = g.id
    root = Element("guss", attrs)
    info = SubElement(root, "bsfInfo")
    SubElement(info, "uiccType").text = g.uicc_type
    if g.lifetime_s is not None:
        SubElement(info, "lifeTime").text = str(g.lifetime_s)
    root.append(_uss_list_element(g.uss))
    return tostring(root, encoding="unicode")


def encode_uss_list(uss: Iterable[Uss]) -> str:
    """The selected USSs as sent on Zn (TS 29.109 §6.3.1.1: root ``ussList``)."""
    return tostring(_uss_list_element(uss, root=True), encoding="unicode")


def encode_uss(u: Uss) -> str:
    """One USS as its own document (what this package sent on Zn before; tests only)."""
    return tostring(uss_element(u, root=True), encoding="unicode")


def _parse_uss(el: Element) -> Uss:
    if "id" not in el.attrib or "type" not in el.attrib:
        raise CodecError("uss element lacks id or type")
    uids = tuple((c.text or "").strip() for c in el.iter() if local(c.tag) == "uid")
    flags = tuple((c.text or "").strip() for c in el.iter() if local(c.tag) == "flag")
    return Uss(el.attrib["id"], el.attrib["type"], el.attrib.get("nafGroup"), uids, flags)


def decode_uss(data: bytes | str) -> Uss:
    root = parse_xml(data, "USS")
    if local(root.tag) != "uss":
        raise CodecError(f"USS root element is {local(root.tag)!r}")
    return _parse_uss(root)


def decode_uss_list(data: bytes | str, bare_uss: bool = False) -> tuple[Uss, ...]:
    """The USSs of a Zn GBA-UserSecSettings, whose root is ``ussList`` (TS 29.109
    §6.3.1.1). With *bare_uss*, a lone ``uss`` root is read too, as older peers (this
    package included) sent one per AVP."""
    root = parse_xml(data, "ussList")
    name = local(root.tag)
    if name == "uss" and bare_uss:
        return (_parse_uss(root),)
    if name != "ussList":
        raise CodecError(f"ussList root element is {name[:20]!r}, expected 'ussList'")
    return tuple(_parse_uss(u) for u in root if local(u.tag) == "uss")


def _bsf_info(el: Element) -> tuple[str, int | None]:
    uicc, lifetime = UICC_GBA, None
    for item in el:
        if local(item.tag) == "uiccType":
            text = (item.text or "").strip()
            # an unknown value must not cost the subscriber's lifeTime cap and USSs:
            # it is read as GBA (GBA_ME, the safe side: no Ks_int_NAF) with a warning
            uicc = _UICC_ALIASES.get(text, UICC_GBA)
            if text not in _UICC_ALIASES:
                log.warning("GUSS uiccType %r is not GBA or GBA_U: taken as GBA", text[:20])
        elif local(item.tag) == "lifeTime":
            text = (item.text or "").strip()
            if not (text.isascii() and text.isdigit()):
                raise CodecError(f"GUSS lifeTime {text[:20]!r} is not a number")
            lifetime = int(text)
            if lifetime > MAX_LIFETIME_S:
                raise CodecError(f"GUSS lifeTime {lifetime} s exceeds {MAX_LIFETIME_S}")
    return uicc, lifetime


def decode_guss(data: bytes | str) -> Guss:
    root = parse_xml(data, "GUSS")
    if local(root.tag) != "guss":
        raise CodecError(f"GUSS root element is {local(root.tag)!r}, expected 'guss'")
    uicc, lifetime = UICC_GBA, None
    uss: list[Uss] = []
    for child in root:
        name = local(child.tag)
        if name == "bsfInfo":
            uicc, lifetime = _bsf_info(child)
        elif name == "ussList":
            uss.extend(_parse_uss(u) for u in child if local(u.tag) == "uss")
    return Guss(uicc, lifetime, tuple(uss), root.attrib.get("id"))

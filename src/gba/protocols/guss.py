"""GBA User Security Settings (GUSS) and User Security Settings (USS), TS 29.109 Annex A.

``<guss xmlns="uri:3gpp-gaa"><bsfInfo><uiccType>GBA|GBA_U</uiccType><lifeTime>s</lifeTime>
</bsfInfo><ussList><uss id=".." type=".." nafGroup=".."><uids><uid>..</uid></uids>
<flags><flag>..</flag></flags></uss></ussList></guss>``. The element names follow TS
29.109 Annex A; the namespace and the unit of lifeTime (seconds) are as read from the
schema summary and should be verified against the clause before interop testing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, SubElement, tostring

from gba.errors import CodecError
from gba.protocols.xmlutil import local, parse_xml

NAMESPACE = "uri:3gpp-gaa"
UICC_GBA = "GBA"
UICC_GBA_U = "GBA_U"
MAX_LIFETIME_S = 366 * 86400
"""No key lives longer than a year here; larger values are refused, not overflowed."""


@dataclass(frozen=True, slots=True)
class Uss:
    """User security settings for one GAA service type (TS 29.109 Annex A)."""

    id: str
    type: str
    naf_group: str | None = None
    uids: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Guss:
    uicc_type: str = UICC_GBA
    lifetime_s: int | None = None
    uss: tuple[Uss, ...] = field(default=())

    def for_service(self, gaa_service_id: str, naf_group: str | None = None) -> tuple[Uss, ...]:
        """The USSs a BSF hands to a NAF asking for *gaa_service_id* (TS 33.220 §4.5.3)."""
        return tuple(u for u in self.uss if u.type == gaa_service_id
                     and (naf_group is None or u.naf_group in (None, naf_group)))


def _ns(name: str) -> str:
    # Unqualified names with an xmlns attribute on the root: the default-namespace form
    # other implementations emit, without ElementTree's ns0: prefixes.
    return name


def uss_element(u: Uss, root: bool = False) -> Element:
    attrs = {"id": u.id, "type": u.type}
    if u.naf_group is not None:
        attrs["nafGroup"] = u.naf_group
    el = Element(_ns("uss"), attrs)
    if root:
        el.set("xmlns", NAMESPACE)
    uids = SubElement(el, _ns("uids"))
    for uid in u.uids:
        SubElement(uids, _ns("uid")).text = uid
    flags = SubElement(el, _ns("flags"))
    for flag in u.flags:
        SubElement(flags, _ns("flag")).text = flag
    return el


def encode_guss(g: Guss) -> str:
    root = Element(_ns("guss"), {"xmlns": NAMESPACE})
    info = SubElement(root, _ns("bsfInfo"))
    SubElement(info, _ns("uiccType")).text = g.uicc_type
    if g.lifetime_s is not None:
        SubElement(info, _ns("lifeTime")).text = str(g.lifetime_s)
    lst = SubElement(root, _ns("ussList"))
    for u in g.uss:
        lst.append(uss_element(u))
    return tostring(root, encoding="unicode")


def encode_uss(u: Uss) -> str:
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


def decode_guss(data: bytes | str) -> Guss:
    root = parse_xml(data, "GUSS")
    if local(root.tag) != "guss":
        raise CodecError(f"GUSS root element is {local(root.tag)!r}, expected 'guss'")
    uicc, lifetime = UICC_GBA, None
    uss: list[Uss] = []
    for child in root:
        name = local(child.tag)
        if name == "bsfInfo":
            for item in child:
                if local(item.tag) == "uiccType":
                    uicc = (item.text or "").strip()
                    if uicc not in (UICC_GBA, UICC_GBA_U):
                        raise CodecError(f"GUSS uiccType {uicc[:20]!r} is not GBA or GBA_U")
                elif local(item.tag) == "lifeTime":
                    text = (item.text or "").strip()
                    if not (text.isascii() and text.isdigit()):
                        raise CodecError(f"GUSS lifeTime {text[:20]!r} is not a number")
                    lifetime = int(text)
                    if lifetime > MAX_LIFETIME_S:
                        raise CodecError(f"GUSS lifeTime {lifetime} s exceeds {MAX_LIFETIME_S}")
        elif name == "ussList":
            uss.extend(_parse_uss(u) for u in child if local(u.tag) == "uss")
    return Guss(uicc, lifetime, tuple(uss))

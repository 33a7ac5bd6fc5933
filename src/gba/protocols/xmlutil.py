"""Safe XML parsing for every document gba receives (defusedxml: no entities, no DTDs)."""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from gba.errors import CodecError

MAX_XML = 64 * 1024


def parse_xml(data: bytes | str, what: str) -> Element:
    """Parse *data*; any malformed, oversized or unsafe document is a CodecError."""
    if len(data) > MAX_XML:
        raise CodecError(f"{what}: {len(data)} octets exceeds {MAX_XML}")
    try:
        root: Element = safe_et.fromstring(data)
    except (ParseError, DefusedXmlException, ValueError, LookupError) as exc:
        raise CodecError(f"{what}: malformed XML ({type(exc).__name__}: {exc})") from None
    return root


def local(tag: str) -> str:
    """The local name of a ``{namespace}name`` tag."""
    return tag.rpartition("}")[2]

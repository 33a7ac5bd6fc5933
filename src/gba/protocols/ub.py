"""Ub, the UE-BSF bootstrapping exchange over HTTP Digest AKA (TS 24.109 §4, TS 33.220 §4.5.2).

Sans-IO pieces of both sides:

1. UE: ``GET /`` with ``Authorization: Digest username="<IMPI>", realm, nonce="", uri="/",
   response=""`` and a User-Agent carrying the product token ``3gpp-gba-tmpi``
   (TS 33.220 §4.5.2: "A UE shall always include the product token "3gpp-gba-tmpi" in
   the user agent request-header field when communicating over Ub"; TS 24.109 §4.3.1).
2. BSF: ``401`` with ``WWW-Authenticate: Digest realm, nonce=base64(RAND||AUTN),
   algorithm=AKAv1-MD5, qop="auth-int"``. Every Ub response of the BSF carries
   ``Server: <product> 3gpp-gba-tmpi`` (TS 33.220 §4.5.2).
3. UE: the Digest response keyed by RES, or ``auts`` after a synchronisation failure.
4. BSF: ``200 OK`` with ``Authentication-Info`` (rspauth) and the BootstrappingInfo body
   (``application/vnd.3gpp.bsf+xml``) holding the B-TID and the key lifetime (§4.5.2).

This module holds the constants and codecs; the exchange itself is run by the sans-IO
machines :mod:`gba.protocols.ub_bsf` (BSF) and :mod:`gba.protocols.ub_ue` (UE), whose
result on the UE side is a :class:`Bootstrap`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from xml.etree.ElementTree import Element, SubElement, tostring

from gba.errors import CodecError
from gba.protocols.digest_header import Credentials
from gba.protocols.xmlutil import local, parse_xml

PRODUCT = "gba-python/0.1"
"""This implementation's own product (RFC 9110 §10.1.5, §10.2.4), before the GBA token."""
PRODUCT_TOKEN = "3gpp-gba"
"""The UE's token on Ua (TS 24.109 Annex E example ``User-Agent: ... 3gpp-gba``; the
normative §5.2.2.1 wording was not read: UNVERIFIED)."""
"""Seen in older UEs; no 33.220/24.109 text for it was found (UNVERIFIED). It decides
nothing: GBA_U is a matter of subscription (TS 33.220 §5.1)."""
PRODUCT_TOKEN_TMPI = "3gpp-gba-tmpi"
"""Both ends of Ub, always: User-Agent of the UE, Server of the BSF (TS 33.220 §4.5.2)."""
CONTENT_TYPE = "application/vnd.3gpp.bsf+xml"
NAMESPACE = "uri:3gpp-gba"
ALGORITHM = "AKAv1-MD5"
QOP = "auth-int"


def initial_credentials(impi: str, realm: str, uri: str = "/") -> Credentials:
    """The first request's Authorization header (TS 24.109 §4.3.1): empty nonce/response."""
    return Credentials(username=impi, realm=realm, nonce="", uri=uri, response="")


def user_agent(base: str = PRODUCT) -> str:
    """The UE's User-Agent on Ub: *base* and ``3gpp-gba-tmpi`` (TS 33.220 §4.5.2)."""
    return f"{base} {PRODUCT_TOKEN_TMPI}"


def server(base: str = PRODUCT) -> str:
    """The BSF's Server header on every Ub response: *base* and ``3gpp-gba-tmpi``
    (TS 33.220 §4.5.2)."""
    return f"{base} {PRODUCT_TOKEN_TMPI}"


def ua_user_agent(base: str = PRODUCT) -> str:
    """The UE's User-Agent on Ua: *base* and ``3gpp-gba`` (TS 24.109 §5.2.2.1, Annex E)."""
    return f"{base} {PRODUCT_TOKEN}"


def has_product_token(header: str | None, token: str) -> bool:
    """Whether a User-Agent or Server value names the product *token* (RFC 9110 §10.1.5:
    products separated by whitespace, with optional ``/version``; comments in parentheses
    are not products). ``3gpp-gba`` does not match ``3gpp-gba-tmpi``."""
    depth = 0
    word = ""
    for ch in (header or "") + " ":
        if ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif depth == 0 and ch.isspace():
            if word.partition("/")[0] == token:
                return True
            word = ""
        elif depth == 0:
            word += ch
    return False


def format_time(moment: datetime) -> str:
    """xs:dateTime in UTC with 'Z' (TS 24.109 Annex C)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        if value.tzinfo is None:
            raise CodecError("lifetime has no time zone")
        return value.astimezone(UTC)
    except (ValueError, OverflowError):
        raise CodecError(f"lifetime {text[:40]!r} is not an xs:dateTime in range") from None


@dataclass(frozen=True, slots=True)
class BootstrappingInfo:
    """The 200 OK body: B-TID and key lifetime (TS 24.109 §4.5.2, Annex C)."""

    btid: str
    lifetime: datetime

    def encode(self) -> bytes:
        root = Element("BootstrappingInfo", {"xmlns": NAMESPACE})
        SubElement(root, "btid").text = self.btid
        SubElement(root, "lifetime").text = format_time(self.lifetime)
        text = tostring(root, encoding="unicode")
        return ('<?xml version="1.0" encoding="UTF-8"?>\n' + text).encode("utf-8")

    @classmethod
    def decode(cls, data: bytes) -> BootstrappingInfo:
        root = parse_xml(data, "BootstrappingInfo")
        if local(root.tag) != "BootstrappingInfo":
            raise CodecError(f"root element is {local(root.tag)!r}, expected BootstrappingInfo")
        fields = {local(c.tag): (c.text or "").strip() for c in root}
        if not fields.get("btid") or not fields.get("lifetime"):
            raise CodecError("BootstrappingInfo lacks btid or lifetime")
        return cls(fields["btid"], parse_time(fields["lifetime"]))


@dataclass(frozen=True, slots=True)
class Bootstrap:
    """What the UE keeps after a successful bootstrap (TS 33.220 §4.5.2 step 7)."""

    impi: str
    btid: str
    ks: bytes = field(repr=False)
    rand: bytes
    lifetime: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.lifetime

"""The grammar of Digest headers (RFC 7616 §3.3-§3.5, RFC 7235 §2.1, RFC 3310 §3.4).

``WWW-Authenticate: Digest realm="...", nonce="...", ...``, ``Authorization: Digest ...``
and ``Authentication-Info: rspauth="...", ...`` are comma-separated ``name=value`` lists
where a value is a token or a quoted-string with backslash escapes. Parsing is strict:
anything else raises :class:`~gba.errors.CodecError` saying where.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gba.errors import CodecError

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_PARAM = re.compile(  # possessive: a quoted run is taken whole, never backtracked
    rf"\s*({_TOKEN})\s*=\s*(?:\"((?:[^\"\\\x00-\x08\x0a-\x1f\x7f]++|\\[\x09\x20-\x7e\x80-\xff])*+)\"|({_TOKEN}))\s*"
)
_ESCAPE = re.compile(r"\\(.)")
MAX_HEADER = 8192


def parse_params(text: str) -> dict[str, str]:
    """Parse ``a=b, c="d"`` into a dict with lower-case names; duplicates are an error."""
    if len(text) > MAX_HEADER:
        raise CodecError(f"Digest header of {len(text)} characters exceeds {MAX_HEADER}")
    params: dict[str, str] = {}
    pos = 0
    end = len(text)
    match = _PARAM.match
    while pos < end:
        m = match(text, pos)
        if m is None:
            if pos and text[pos - 1] == "," and not text[pos:].strip():
                raise CodecError("Digest header ends with ','")
            raise CodecError(f"Digest parameter list malformed at offset {pos}")
        name, quoted, token = m.groups()
        name = name.lower()
        if quoted is None:
            value = token
        else:
            value = _ESCAPE.sub(r"\1", quoted) if "\\" in quoted else quoted
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:  # undecodable octets arrive as surrogates
                    raise CodecError(
                        f"Digest parameter {name!r} is not UTF-8 (offset {pos})") from None
        if name in params:
            raise CodecError(f"Digest parameter {name!r} repeated at offset {pos}")
        params[name] = value
        pos = m.end()
        if pos < end:
            if text[pos] != ",":
                raise CodecError(f"expected ',' at offset {pos} of the Digest header")
            pos += 1
            if pos == end:
                raise CodecError("Digest header ends with ','")
    return params


def parse_digest(header: str) -> dict[str, str]:
    """Parse a ``Digest ...`` credentials or challenge header value."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        raise CodecError(f"authentication scheme {scheme[:20]!r} is not Digest")
    return parse_params(rest)


def _quote(value: str) -> str:
    if any(c in value for c in "\r\n\x00"):
        raise CodecError("header value holds a control character")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_params(params: list[tuple[str, str, bool]]) -> str:
    """Serialise ``(name, value, quoted)`` triples as a parameter list."""
    return ", ".join(f"{n}={_quote(v) if q else v}" for n, v, q in params)


@dataclass(frozen=True, slots=True)
class Challenge:
    """A WWW-Authenticate Digest challenge (RFC 7616 §3.3)."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ("auth",)
    opaque: str | None = None
    stale: bool = False

    def to_header(self) -> str:
        parts: list[tuple[str, str, bool]] = [("realm", self.realm, True),
                                              ("nonce", self.nonce, True)]
        if self.qop:
            parts.append(("qop", ",".join(self.qop), True))
        parts.append(("algorithm", self.algorithm, False))
        if self.opaque is not None:
            parts.append(("opaque", self.opaque, True))
        if self.stale:
            parts.append(("stale", "true", False))
        return "Digest " + build_params(parts)

    @classmethod
    def from_header(cls, header: str) -> Challenge:
        p = parse_digest(header)
        if "realm" not in p or "nonce" not in p:
            raise CodecError("Digest challenge lacks realm or nonce")
        qop = tuple(q.strip() for q in p["qop"].split(",") if q.strip()) if "qop" in p else ()
        return cls(realm=p["realm"], nonce=p["nonce"], algorithm=p.get("algorithm", "MD5"),
                   qop=qop, opaque=p.get("opaque"), stale=p.get("stale", "").lower() == "true")


@dataclass(frozen=True, slots=True)
class Credentials:
    """An Authorization Digest header (RFC 7616 §3.4; ``auts`` from RFC 3310 §3.4)."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str | None = None
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    opaque: str | None = None
    auts: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def to_header(self) -> str:
        parts: list[tuple[str, str, bool]] = [
            ("username", self.username, True), ("realm", self.realm, True),
            ("nonce", self.nonce, True), ("uri", self.uri, True),
            ("response", self.response, True)]
        if self.algorithm is not None:
            parts.append(("algorithm", self.algorithm, False))
        if self.qop is not None:
            parts.append(("qop", self.qop, False))
            parts.append(("nc", self.nc or "00000001", False))
            parts.append(("cnonce", self.cnonce or "", True))
        if self.opaque is not None:
            parts.append(("opaque", self.opaque, True))
        if self.auts is not None:
            parts.append(("auts", self.auts, True))
        return "Digest " + build_params(parts)

    @classmethod
    def from_header(cls, header: str) -> Credentials:
        p = parse_digest(header)
        missing = [n for n in ("username", "realm", "nonce", "uri", "response") if n not in p]
        if missing:
            raise CodecError(f"Digest credentials lack {', '.join(missing)}")
        qop = p.pop("qop", None)
        if qop is not None and ("nc" not in p or "cnonce" not in p):
            raise CodecError("Digest credentials with qop lack nc or cnonce")
        known = {n: p.pop(n) for n in ("username", "realm", "nonce", "uri", "response")}
        return cls(**known, algorithm=p.pop("algorithm", None), qop=qop, nc=p.pop("nc", None),
                   cnonce=p.pop("cnonce", None), opaque=p.pop("opaque", None),
                   auts=p.pop("auts", None), extra=p)


@dataclass(frozen=True, slots=True)
class AuthenticationInfo:
    """The Authentication-Info header (RFC 7616 §3.5)."""

    rspauth: str
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    nextnonce: str | None = None

    def to_header(self) -> str:
        parts: list[tuple[str, str, bool]] = [("rspauth", self.rspauth, True)]
        if self.qop is not None:
            parts += [("qop", self.qop, False), ("nc", self.nc or "00000001", False),
                      ("cnonce", self.cnonce or "", True)]
        if self.nextnonce is not None:
            parts.append(("nextnonce", self.nextnonce, True))
        return build_params(parts)

    @classmethod
    def from_header(cls, header: str) -> AuthenticationInfo:
        p = parse_params(header)
        if "rspauth" not in p:
            raise CodecError("Authentication-Info lacks rspauth")
        return cls(rspauth=p["rspauth"], qop=p.get("qop"), nc=p.get("nc"),
                   cnonce=p.get("cnonce"), nextnonce=p.get("nextnonce"))

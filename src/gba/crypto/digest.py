"""HTTP Digest (RFC 7616) and Digest AKA (RFC 3310 AKAv1, RFC 4169 AKAv2).

Pure computations, both sides:

* :func:`response` computes the ``response`` value (RFC 7616 §3.4.1) for MD5, SHA-256
  and their ``-sess`` variants, qop ``auth`` and ``auth-int``, or the RFC 2069 form
  without qop; :func:`rspauth` the ``rspauth`` of Authentication-Info (RFC 7616 §3.5).
* Digest AKA (RFC 3310 §3.1-§3.4): the nonce is base64(RAND || AUTN || server data) and
  the password is RES as raw octets; on a synchronisation failure the client sends
  ``auts`` and computes its response with an empty password (§3.4). AKAv2 (RFC 4169 §3)
  uses password = base64(HMAC-MD5(RES || IK || CK, "http-digest-akav2-password")).

Header grammar (parsing and building of WWW-Authenticate, Authorization and
Authentication-Info) lives in :mod:`gba.protocols.digest_header`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field

from gba.errors import CodecError, InvalidInput, UnknownAlgorithm

HashFn = Callable[[bytes], str]


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Algorithm:
    """A Digest algorithm token and what it implies."""

    token: str
    hash: HashFn
    session: bool
    aka_version: int  # 0 for plain Digest, 1 for AKAv1, 2 for AKAv2


ALGORITHMS: dict[str, Algorithm] = {
    a.token.lower(): a
    for a in (
        Algorithm("MD5", _md5, False, 0),
        Algorithm("MD5-sess", _md5, True, 0),
        Algorithm("SHA-256", _sha256, False, 0),
        Algorithm("SHA-256-sess", _sha256, True, 0),
        Algorithm("AKAv1-MD5", _md5, False, 1),
        Algorithm("AKAv2-MD5", _md5, False, 2),
    )
}

QOP_AUTH = "auth"
QOP_AUTH_INT = "auth-int"
AKAV2_LABEL = b"http-digest-akav2-password"


def algorithm(token: str | None) -> Algorithm:
    """Look up an algorithm token (case-insensitive; absent means MD5, RFC 7616 §3.3)."""
    found = ALGORITHMS.get((token or "MD5").lower())
    if found is None:
        raise UnknownAlgorithm(f"Digest algorithm {token!r} is not supported")
    return found


def _b(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def ha1(alg: Algorithm, username: str, realm: str, password: bytes | str,
        nonce: str = "", cnonce: str = "") -> str:
    """A1 hashed (RFC 7616 §3.4.2); ``-sess`` folds in nonce and cnonce."""
    h = alg.hash
    base = h(b":".join((_b(username), _b(realm), _b(password))))
    if alg.session:
        return h(f"{base}:{nonce}:{cnonce}".encode())
    return base


def ha2(alg: Algorithm, method: str, uri: str, qop: str | None, body: bytes = b"") -> str:
    """A2 hashed (RFC 7616 §3.4.3); auth-int adds H(entity-body)."""
    h = alg.hash
    if qop == QOP_AUTH_INT:
        return h(f"{method}:{uri}:{h(body)}".encode())
    return h(f"{method}:{uri}".encode())


def _check_qop(qop: str | None, nc: str, cnonce: str) -> None:
    if qop is None:
        return
    if qop not in (QOP_AUTH, QOP_AUTH_INT):
        raise InvalidInput(f"qop {qop!r} is neither auth nor auth-int")
    if len(nc) != 8 or any(c not in "0123456789abcdefABCDEF" for c in nc):
        raise InvalidInput(f"nc {nc!r} is not 8 hex digits")
    if not cnonce:
        raise InvalidInput("cnonce is required with qop")


@dataclass(frozen=True, slots=True)
class DigestInput:
    """What both sides feed into a Digest computation (RFC 7616 §3.4)."""

    algorithm_token: str | None
    username: str
    realm: str
    password: bytes | str = field(repr=False)
    uri: str
    nonce: str
    qop: str | None = QOP_AUTH
    nc: str = "00000001"
    cnonce: str = ""


def response(d: DigestInput, method: str, body: bytes = b"") -> str:
    """The request-digest (RFC 7616 §3.4.1; RFC 2069 form when qop is None)."""
    alg = algorithm(d.algorithm_token)
    _check_qop(d.qop, d.nc, d.cnonce)
    a1 = ha1(alg, d.username, d.realm, d.password, d.nonce, d.cnonce)
    a2 = ha2(alg, method, d.uri, d.qop, body)
    if d.qop is None:
        return alg.hash(f"{a1}:{d.nonce}:{a2}".encode())
    return alg.hash(f"{a1}:{d.nonce}:{d.nc}:{d.cnonce}:{d.qop}:{a2}".encode())


def rspauth(d: DigestInput, body: bytes = b"") -> str:
    """The rspauth of Authentication-Info: the response with an empty method (§3.5).

    For auth-int *body* is the entity body of the HTTP *response*.
    """
    return response(d, "", body)


def verify(expected: str, received: str) -> bool:
    """Constant-time comparison of two hex digests (case-insensitive); False for non-ASCII."""
    if not received.isascii():
        return False
    return hmac.compare_digest(expected.lower().encode(), received.lower().encode())


# --- Digest AKA ------------------------------------------------------------------------


def aka_nonce(rand: bytes, autn: bytes, server_data: bytes = b"") -> str:
    """nonce = base64(RAND || AUTN || server specific data) (RFC 3310 §3.2)."""
    if len(rand) != 16 or len(autn) != 16:
        raise InvalidInput(f"RAND/AUTN: {len(rand)}/{len(autn)} octets, expected 16/16")
    return base64.b64encode(rand + autn + server_data).decode("ascii")


def parse_aka_nonce(nonce: str) -> tuple[bytes, bytes, bytes]:
    """nonce -> (RAND, AUTN, server data); a truncated nonce is a :class:`CodecError`."""
    try:
        raw = base64.b64decode(nonce, validate=True)
    except (binascii.Error, ValueError):
        raise CodecError("AKA nonce is not base64") from None
    if len(raw) < 32:
        raise CodecError(f"AKA nonce holds {len(raw)} octets, RAND || AUTN needs 32")
    return raw[:16], raw[16:32], raw[32:]


def aka_password(alg: Algorithm, res: bytes, ik: bytes = b"", ck: bytes = b"") -> bytes:
    """The Digest password for AKA: RES (AKAv1) or the RFC 4169 §3 derivation (AKAv2)."""
    if alg.aka_version == 1:
        return res
    if alg.aka_version == 2:
        if len(ik) != 16 or len(ck) != 16:
            raise InvalidInput("AKAv2 needs IK and CK of 16 octets")
        return base64.b64encode(hmac.digest(res + ik + ck, AKAV2_LABEL, "md5"))
    raise UnknownAlgorithm(f"{alg.token} is not a Digest AKA algorithm")


def encode_auts(auts: bytes) -> str:
    """The ``auts`` directive value: base64 of the 14-octet AUTS (RFC 3310 §3.4)."""
    if len(auts) != 14:
        raise InvalidInput(f"AUTS: {len(auts)} octets, expected 14")
    return base64.b64encode(auts).decode("ascii")


def decode_auts(value: str) -> bytes:
    """Inverse of :func:`encode_auts`; a malformed or truncated AUTS is a CodecError."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise CodecError("auts is not base64") from None
    if len(raw) != 14:
        raise CodecError(f"auts decodes to {len(raw)} octets, expected 14")
    return raw

"""The AKA interoperability extension of the NGN SIP binding (issue 14): HTTP Digest AKA
over SIP REGISTER (RFC 3310), pure functions.

* :func:`aka_challenge`: ``Digest realm="<ngn_domain>", nonce="<base64(RAND||AUTN)>",
  algorithm=AKAv1-MD5, qop="auth"`` (RFC 3310 §3.1, §3.2), the WWW-Authenticate value
  of the 401.
* :func:`parse_aka_authorization`: the Authorization value of the answering REGISTER
  (RFC 3310 §3.4, RFC 2617 §3.2.2): AKAv1-MD5 with qop ``auth`` required [P].
* :func:`verify_aka_response`: RFC 2617 §3.2.2.1 with the password RES as raw octets
  (RFC 3310 §3.4), MD5, compared in constant time; a mismatch is
  :class:`~gba.errors.MacFailure`.
* :func:`aka_response`: the same computation for our own terminal and tests.

The computations live in :mod:`gba.crypto.digest` and the header grammar in
:mod:`gba.protocols.digest_header` (shared with HTTP Digest AKA on Ub); this module only
fixes the RFC 3310 profile used over SIP.
"""

from __future__ import annotations

from gba.crypto import digest
from gba.errors import CodecError, MacFailure
from gba.protocols import digest_header
from gba.protocols.digest_header import Credentials

ALGORITHM = "AKAv1-MD5"
QOP = digest.QOP_AUTH


def aka_challenge(realm: str, rand: bytes, autn: bytes) -> str:
    """The WWW-Authenticate value (RFC 3310 §3.1): nonce = base64(RAND || AUTN) (§3.2)."""
    nonce = digest.aka_nonce(rand, autn)
    return "Digest " + digest_header.build_params([
        ("realm", realm, True), ("nonce", nonce, True),
        ("algorithm", ALGORITHM, False), ("qop", QOP, True)])


def parse_aka_authorization(value: str) -> Credentials:
    """The Digest AKA credentials of an Authorization value (RFC 3310 §3.4): username,
    realm, nonce, uri, response, qop, nc, cnonce (and auts when resynchronising). Another
    algorithm, a qop other than ``auth`` or a nonce that is not base64(RAND || AUTN ...)
    is a :class:`CodecError`."""
    creds = Credentials.from_header(value)
    if (creds.algorithm or "").casefold() != ALGORITHM.casefold():
        raise CodecError(f"Digest algorithm {creds.algorithm!r} is not {ALGORITHM}")
    if creds.qop != QOP:
        raise CodecError(f"Digest qop {creds.qop!r} is not {QOP!r}")
    digest.parse_aka_nonce(creds.nonce)
    if creds.auts is not None:
        digest.decode_auts(creds.auts)
    return creds


def _input(creds: Credentials, res: bytes) -> digest.DigestInput:
    return digest.DigestInput(ALGORITHM, creds.username, creds.realm, res, creds.uri,
                              creds.nonce, creds.qop, creds.nc or "", creds.cnonce or "")


def verify_aka_response(creds: Credentials, res: bytes, method: str = "REGISTER") -> None:
    """Check ``response`` with password = RES (XRES on the server side) as raw octets
    (RFC 3310 §3.4; RFC 2617 §3.2.2.1). For a resynchronisation (``auts``) RFC 3310 §3.4
    takes an empty password: pass ``res=b""``. :class:`MacFailure` on mismatch."""
    expected = digest.response(_input(creds, res), method)
    if not digest.verify(expected, creds.response):
        raise MacFailure("Digest AKA response does not verify")


def aka_response(username: str, realm: str, nonce: str, uri: str, res: bytes, cnonce: str,
                 nc: str = "00000001", method: str = "REGISTER") -> str:
    """The Authorization value answering :func:`aka_challenge` (RFC 3310 §3.4)."""
    draft = Credentials(username=username, realm=realm, nonce=nonce, uri=uri, response="",
                        algorithm=ALGORITHM, qop=QOP, nc=nc, cnonce=cnonce)
    value = digest.response(_input(draft, res), method)
    return Credentials(username=username, realm=realm, nonce=nonce, uri=uri, response=value,
                       algorithm=ALGORITHM, qop=QOP, nc=nc, cnonce=cnonce).to_header()

"""The AKA interoperability extension of the softswitch's SIP faces (issue 14 item 6;
docs/ngn.md §5): an off-the-shelf SIP user agent with Digest AKA support registers with
RFC 3310 AKAv1-MD5, beside the seed's flow (not a replacement for it).

A REGISTER that carries no ``NGN`` credentials is taken here: without credentials it is
answered 401 with ``WWW-Authenticate: Digest realm="<domain>", nonce="<base64(RAND ||
AUTN)>", algorithm=AKAv1-MD5, qop="auth"`` from an AKA vector of the AuC (s3/s4); the
second REGISTER's response is checked with XRES as the password (RFC 3310 §3.4) and
answered 200. The AuC's answer also carries Kc,sp wrapped under CK || IK (for the UA) and
under the softswitch's key: the 200 carries ``X-NGN-Key: e-kc=<hex>, mechanism=<token>,
mac=<hex>`` [P] (a UA ignores it; a terminal holding CK and IK unwraps Kc,sp), the
softswitch keeps Kc,sp for protected refreshes and sends s11 to the AuC.
"""

from __future__ import annotations

import logging
import os
import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from gba.errors import CodecError, GbaError, InvalidInput, MacFailure
from gba.protocols import ngn, ngn_sip_aka, ngn_sip_fields, sip
from gba.protocols.ngn_auc import AkaVector
from gba.protocols.ngn_flow import Refusal, Refuse, S3AuthRequest, S11Registered
from gba.protocols.ngn_proxy import NgnProxy
from gba.protocols.sip import SipRequest

log = logging.getLogger(__name__)

MAX_PENDING = 65536
MAX_EXPIRES = 3600
"""The longest registration granted (RFC 3261 §10.3 step 7: shorten, never lengthen)."""
_AOR = re.compile(r"<?\s*sips?:([^>;?\s]+)", re.IGNORECASE)
_EXPIRES_PARAM = re.compile(r";\s*expires\s*=\s*([0-9]+)", re.IGNORECASE)


class AkaAuc(Protocol):
    async def authenticate_aka(self, request: S3AuthRequest) -> AkaVector | Refuse:
        ...

    async def registered(self, notice: S11Registered) -> None:
        ...


def _has_ngn_credentials(req: SipRequest) -> bool:
    for name in ("Authorization", "Proxy-Authorization"):
        for value in req.headers_named(name):
            if value.strip().split(" ", 1)[0].casefold() == ngn_sip_fields.SCHEME.casefold():
                return True
    return False


def _aor(req: SipRequest) -> str:
    """The user@host of the To header (the identity an AKA UA registers)."""
    match = _AOR.match(req.header("To") or "")
    if match is None:
        raise CodecError("To has no SIP URI")
    return ngn.check_id(match.group(1))


class AkaRegistrar:
    """RFC 3310 registration at the softswitch, with the key distribution riding along."""

    def __init__(self, domain: str, own: NgnProxy, auc: AkaAuc,
                 rng: Callable[[int], bytes] = os.urandom) -> None:
        self._domain = domain
        self._own = own
        self._auc = auc
        self._rng = rng
        self._pending: OrderedDict[str, AkaVector] = OrderedDict()

    def takes(self, data: bytes) -> SipRequest | None:
        """The REGISTER in ``data`` when it belongs to this extension (no NGN
        credentials); None for anything else (the seed's flow decodes it)."""
        try:
            msg = sip.decode(data)
        except (CodecError, InvalidInput):
            return None
        if not isinstance(msg, SipRequest) or msg.method != "REGISTER":
            return None
        return None if _has_ngn_credentials(msg) else msg

    def _tag(self) -> str:
        return self._rng(8).hex()

    def _refuse(self, req: SipRequest, refusal: Refusal, detail: str) -> bytes | None:
        """The reject; a request lacking a header a response copies (RFC 3261 §8.2.6.2)
        gets the ones it has, and None without a Via to answer along."""
        status, reason = ngn_sip_fields.STATUS[refusal]
        warning = ngn_sip_fields.warning(self._domain, refusal, detail)
        try:
            return sip.response_to(req, status, reason, (("Warning", warning),),
                                   to_tag=self._tag()).encode()
        except InvalidInput:  # a header to copy is missing: copy what there is
            copied = tuple((name, value) for name in ("Via", "From", "To", "Call-ID", "CSeq")
                           for value in req.headers_named(name))
            if not copied or copied[0][0] != "Via":
                return None
            return sip.SipResponse(status, reason, (*copied, ("Warning", warning))).encode()

    async def handle(self, req: SipRequest, peer_ip: str) -> bytes | None:
        """The response to an AKA REGISTER; None when none can be built."""
        try:
            sip.check_request(req)
            id_c = _aor(req)
        except (CodecError, InvalidInput) as exc:
            return self._refuse(req, Refusal.MALFORMED, str(exc))
        credentials = [v for v in req.headers_named("Authorization")
                       if v.strip().casefold().startswith("digest")]
        if not credentials:
            return await self._challenge(req, id_c)
        try:
            creds = ngn_sip_aka.parse_aka_authorization(credentials[0])
        except (CodecError, InvalidInput) as exc:
            return self._refuse(req, Refusal.MALFORMED, str(exc))
        if creds.realm != self._domain:
            return self._refuse(req, Refusal.AUTH_FAILED, "not this registrar's realm")
        vector = self._pending.get(creds.nonce)
        if vector is None or creds.auts is not None:
            return await self._challenge(req, id_c)  # unknown or used nonce: a fresh one
        if creds.username != vector.id_c or id_c != vector.id_c:
            # RFC 3261 §10.3 step 6: the address of record must be the authenticated user's
            return self._refuse(req, Refusal.AUTH_FAILED, "username or To does not match")
        try:
            ngn_sip_aka.verify_aka_response(creds, vector.xres)
        except MacFailure:
            del self._pending[creds.nonce]
            return self._refuse(req, Refusal.AUTH_FAILED, "Digest AKA response fails")
        del self._pending[creds.nonce]
        return await self._registered(req, vector, peer_ip)

    async def _challenge(self, req: SipRequest, id_c: str) -> bytes | None:
        answer = await self._auc.authenticate_aka(S3AuthRequest(id_c, self._own.id_sp))
        if isinstance(answer, Refuse):
            return self._refuse(req, answer.refusal, answer.detail)
        nonce = ngn_sip_aka.aka_challenge(self._domain, answer.rand, answer.autn)
        self._pending[_nonce_of(nonce)] = answer
        while len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)
        return sip.response_to(req, 401, "Unauthorized", (("WWW-Authenticate", nonce),),
                               to_tag=self._tag()).encode()

    async def _registered(self, req: SipRequest, vector: AkaVector, peer_ip: str
                          ) -> bytes | None:
        mechanism = self._own.supported[0]
        offered = req.header("Security-Client")
        if offered is not None:
            try:
                mechanism = ngn.choose(ngn_sip_fields.mechanisms(offered), self._own.supported)
            except GbaError as exc:
                return self._refuse(req, Refusal.NO_COMMON_MECHANISM, str(exc))
        try:
            kc_sp = self._own.adopt(vector.id_c, vector.e_ksp, mechanism, peer_ip)
        except MacFailure:
            return self._refuse(req, Refusal.UNAVAILABLE, "the AuC's wrap does not open")
        await self._auc.registered(S11Registered(vector.id_c, self._own.id_sp, peer_ip))
        tag = ngn.mac(kc_sp, [("id-c", vector.id_c), ("id-sp", self._own.id_sp),
                              ("e-kc", ngn.hexfield(vector.e_kc)), ("mechanism", mechanism)])
        key_info = (f"e-kc={ngn.hexfield(vector.e_kc)}, mechanism={mechanism}, "
                    f"mac={ngn.hexfield(tag)}")
        contact = req.header("Contact")
        expires = _granted(req, contact)
        headers: list[tuple[str, str]] = []
        if contact is not None:
            headers.append(("Contact", f"{_EXPIRES_PARAM.sub('', contact)};expires={expires}"))
        headers.append(("Expires", str(expires)))
        headers.append(("X-NGN-Key", key_info))
        if expires == 0:  # RFC 3261 §10.2.2: removing the binding
            self._own.sessions.pop(vector.id_c, None)
        log.info("AKA registration of %r from %s", vector.id_c, peer_ip)
        return sip.response_to(req, 200, "OK", tuple(headers), to_tag=self._tag()).encode()


def _granted(req: SipRequest, contact: str | None) -> int:
    """The expiry granted: the Contact's ``expires``, else the Expires header, else the
    maximum, never above :data:`MAX_EXPIRES` (RFC 3261 §10.2.1, §10.3 step 7)."""
    asked = _EXPIRES_PARAM.search(contact or "")
    text = asked.group(1) if asked else (req.header("Expires") or "").strip()
    if not text.isascii() or not text.isdigit():
        return MAX_EXPIRES
    return min(int(text[:10]), MAX_EXPIRES)


def _nonce_of(challenge: str) -> str:
    match = re.search(r'nonce="([^"]*)"', challenge)
    assert match is not None
    return match.group(1)

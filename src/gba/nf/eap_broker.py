"""A visited server that does not recognise B-TIDs (seed 000 case D, fig. 4, steps 402-412;
docs/roaming.md §1 D): it tells the UE its identifier is invalid and asks for the
permanent identity, then relays EAP-AKA between the UE (over HTTP) and its AAA (Diameter
EAP, RFC 4072), which takes it through the home AAA to the home BSF. On EAP-Success the
answer's user information (identity and key) is the security association; the next
request is served from it without a new run.

HTTP binding of EAP (this project's: no standard one was found, PANA being the IETF's
EAP transport): the server's 401 carries ``WWW-Authenticate: EAP realm="<fqdn>",
session="<id>", eap="<base64 EAP packet>"``; the UE answers on the same URI with
``Authorization: EAP session="<id>", eap="<base64 EAP-Response>"``, its request body
unchanged. The final 200 carries ``Authentication-Info: EAP eap="<base64 EAP-Success>"``
and a 403 the EAP-Failure the same way.
"""

from __future__ import annotations

import base64
import itertools
import logging
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from gba.clock import Clock, utc_now
from gba.errors import CodecError, GbaError
from gba.protocols import diameter_eap, eap, nai, roaming
from gba.protocols.diameter import PeerIdentity, ResultCode
from gba.protocols.eap_http import eap_header
from gba.protocols.http import HttpResponse, text_response
from gba.store.base import NafKey
from gba.transport.diameter import DiameterNode

log = logging.getLogger(__name__)

MAX_SESSIONS = 1024
SESSION_LIFETIME = timedelta(seconds=60)


@dataclass(slots=True)
class _Session:
    diameter_session: str
    started: datetime
    nai: str = ""


@dataclass(frozen=True, slots=True)
class Association:
    """What EAP-Success gave the server: the key under the identity the UE uses next."""

    key: NafKey
    btid: str | None
    nai: str
    session: str
    kind: roaming.KeyKind
    eap_success: bytes


class EapBroker:
    def __init__(self, node: DiameterNode, identity: PeerIdentity, aaa_realm: str, fqdn: str,
                 subsequent_identity: str = "btid", clock: Clock = utc_now,
                 rng: Callable[[int], bytes] = os.urandom) -> None:
        self.node = node
        self.identity = identity
        self.aaa_realm = aaa_realm
        self.fqdn = fqdn
        self.subsequent_identity = subsequent_identity
        self.clock = clock
        self.rng = rng
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._counter = itertools.count(1)

    def ask_identity(self) -> HttpResponse:
        """Step 403: the B-TID is not one this server reads; send the permanent identity."""
        now = self.clock()
        self._expire(now)
        token = base64.urlsafe_b64encode(self.rng(12)).decode("ascii")
        self._sessions[token] = _Session(
            f"{self.identity.origin_host};{int(now.timestamp())};{next(self._counter)}", now)
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        packet = base64.b64encode(eap.identity_request(1).encode()).decode("ascii")
        return text_response(401, "identifier not valid here: send your permanent identity "
                             "(EAP)\n", (("WWW-Authenticate", eap_header(
                                 realm=self.fqdn, session=token, eap=packet)),))

    async def round(self, token: str, payload: bytes, naf_id: bytes
                    ) -> HttpResponse | Association:
        """One EAP-Response of the UE, relayed as a DER (steps 404-408); the next
        EAP-Request as a 401, a refusal, or on success the association (409-411)."""
        now = self.clock()
        self._expire(now)
        session = self._sessions.get(token)
        if session is None:
            return self.ask_identity()  # unknown or expired: start again
        if not session.nai:
            try:
                name = eap.identity_of(eap.parse(payload))
            except CodecError as exc:
                return self._refuse(token, 400, f"not an EAP-Response/Identity: {exc}")
            if nai.permanent_imsi(name) is None:
                return self._refuse(token, 403, "not a permanent identity (0<IMSI>@realm)")
            session.nai = name
        request = diameter_eap.build_der(self.identity, self.aaa_realm, diameter_eap.EapRequest(
            session.diameter_session, session.nai, payload, naf_id))
        try:
            answer = diameter_eap.parse_dea(await self.node.request(request))
        except GbaError as exc:
            log.warning("EAP: AAA unreachable or answer unreadable: %s", exc,
                        extra={"interface": "eap", "result": int(ResultCode.UNABLE_TO_DELIVER)})
            self._sessions.pop(token, None)
            return text_response(503, "the home network cannot be reached, try again later\n",
                                 (("Retry-After", "5"),))
        if answer.result_code == ResultCode.MULTI_ROUND_AUTH and answer.eap_payload:
            return text_response(401, "EAP continues\n", (("WWW-Authenticate", eap_header(
                realm=self.fqdn, session=token,
                eap=base64.b64encode(answer.eap_payload).decode("ascii"))),))
        self._sessions.pop(token, None)
        if answer.result_code != ResultCode.SUCCESS or answer.user is None:
            log.warning("EAP: run for %s refused with %s", session.nai, answer.result_code,
                        extra={"interface": "eap", "result": answer.result_code})
            failure = answer.eap_payload or eap.failure(1).encode()
            status = 503 if 3000 <= answer.result_code < 4000 else 403
            return text_response(status, "authentication failed: no service\n", (
                ("WWW-Authenticate", eap_header(
                    realm=self.fqdn, eap=base64.b64encode(failure).decode("ascii"))),))
        return self._associate(session, answer, naf_id, now)

    def _associate(self, session: _Session, answer: diameter_eap.EapAnswer, naf_id: bytes,
                   now: datetime) -> Association | HttpResponse:
        user = answer.user
        if user is None or user.me_key is None:  # parse_dea refuses such a 2001 already
            return text_response(502, "the home network sent no key information\n")
        if user.key_kind is roaming.KeyKind.KS and answer.btid is None:
            return text_response(502, "the home network sent Ks without a B-TID\n")
        try:
            key = roaming.visited_key(user.key_kind, user.me_key, answer.btid or "", user.impi,
                                      naf_id)
        except CodecError as exc:
            return text_response(502, f"unusable key information: {exc}\n")
        identity = (answer.btid if self.subsequent_identity == "btid" and answer.btid
                    else session.nai)
        return Association(NafKey(btid=identity, naf_id=naf_id, key=key, impi=user.impi,
                                  expires=user.expiry, created=now, uss=user.uss),
                           answer.btid, session.nai, session.diameter_session,
                           user.key_kind, answer.eap_payload or eap.success(1).encode())

    def _refuse(self, token: str, status: int, why: str) -> HttpResponse:
        self._sessions.pop(token, None)
        return text_response(status, why + "\n")

    def _expire(self, now: datetime) -> None:
        while self._sessions:
            token, session = next(iter(self._sessions.items()))
            if now - session.started < SESSION_LIFETIME:
                break
            del self._sessions[token]

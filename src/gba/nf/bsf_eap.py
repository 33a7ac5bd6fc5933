"""The home BSF's side of roaming case D (seed 000 fig. 4, steps 407-409; docs/roaming.md
§1 D): a visited server that cannot read B-TIDs asked the UE for its permanent identity,
and the home BSF authenticates the UE with EAP-AKA (RFC 4187) carried in Diameter EAP
(RFC 4072) through the visited and home AAAs. The run is
:class:`gba.protocols.eap_aka_server.EapAkaServer`'s; this keeps one per Diameter
Session-Id, fetches its one vector over Zh (the AAA sends nothing to the HSS, so SQNs stay
in step), and on success keeps a bootstrapping context (Ks = CK || IK of the run, B-TID =
base64(RAND)@BSF name) and answers with the user information under the visited
network's policy: never the EAP MSK or EMSK.

Who may ask: a home AAA (``aaa_hosts``) naming the visited network in
Visited-Network-Identifier, or, with the AAA co-located (``aaa = true``), the partner's
AAA itself for its own realm.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from gba.clock import Clock, utc_now
from gba.crypto import kdf
from gba.errors import CodecError, GbaError
from gba.nf.bsf import Bsf
from gba.protocols import diameter_eap, roaming, zn
from gba.protocols.actions import NeedVector
from gba.protocols.diameter import Message, ResultCode
from gba.protocols.diameter.capabilities import UnsupportedAvp, error_answer
from gba.protocols.diameter.codec import DiameterCodecError
from gba.protocols.eap_aka_server import (
    EapAkaFailure,
    EapAkaServer,
    EapAkaSuccess,
    SendEapRequest,
    ServerAction,
    impi_of_permanent_identity,
)
from gba.store.base import BootstrapContext

log = logging.getLogger(__name__)

MAX_RUNS = 4096
"""EAP-AKA runs in progress at once; the oldest goes first past it (bounded memory)."""
RUN_LIFETIME = timedelta(seconds=60)
"""How long a run may wait for the UE's next answer (RFC 4072 Multi-Round-Time-Out)."""


@dataclass(slots=True)
class _Run:
    server: EapAkaServer
    partner: roaming.VisitedPartner
    naf_id: bytes
    started: datetime


class BsfEap:
    def __init__(self, bsf: Bsf, colocated_aaa: bool = False, clock: Clock = utc_now) -> None:
        self.bsf = bsf
        self.colocated_aaa = colocated_aaa
        """The home AAA runs in this BSF: partners' AAAs send their DERs here directly."""
        self.clock = clock
        self._runs: OrderedDict[str, _Run] = OrderedDict()

    def _partner(self, req: diameter_eap.EapRequest, peer: str
                 ) -> roaming.VisitedPartner | None:
        policy = self.bsf.roaming
        if req.visited_network is not None and peer in policy.aaa_hosts:
            return policy.by_realm(req.visited_network)
        if not self.colocated_aaa:
            return None
        partner = policy.by_realm(req.origin_realm)
        return partner if partner is not None and peer in partner.proxies else None

    async def der(self, request: Message, peer: str) -> Message:
        """One Diameter-EAP-Request of a run (RFC 4072 §3.1)."""
        identity = self.bsf.identity
        try:
            req = diameter_eap.parse_der(request)
        except DiameterCodecError as exc:
            failed = exc.avps if isinstance(exc, UnsupportedAvp) else exc.failed
            return diameter_eap.build_dea_error(request, identity, exc.result_code, failed)
        except CodecError as exc:
            log.warning("EAP: DER from %s unreadable: %s", peer, exc)
            return diameter_eap.build_dea_error(request, identity,
                                                ResultCode.INVALID_AVP_VALUE)
        fields: dict[str, object] = {"interface": "eap", "peer": peer}
        now = self.clock()
        self._expire(now)
        run = self._runs.get(req.session_id)
        if run is None:
            partner = self._partner(req, peer)
            if partner is None or not partner.allows_naf(roaming.naf_fqdn(req.naf_id)):
                log.warning("EAP: DER of %s via %s refused: no roaming agreement for it",
                            req.origin_realm, peer,
                            extra={**fields, "result": int(ResultCode.AUTHORIZATION_REJECTED)})
                return diameter_eap.build_dea_error(request, identity,
                                                    ResultCode.AUTHORIZATION_REJECTED)
            server = EapAkaServer(impi_of_permanent_identity)
            run = _Run(server, partner, req.naf_id, now)
            action = server.start(req.eap_payload)
        else:
            action = run.server.response_received(req.eap_payload)
        while isinstance(action, NeedVector):
            try:
                answer = await self.bsf.fetch_vector(action.request)
            except GbaError as exc:
                action = run.server.vector_unavailable(str(exc))
            else:
                action = run.server.vector_received(answer)
        return await self._answer(request, req, run, action, now, fields)

    async def _answer(self, request: Message, req: diameter_eap.EapRequest, run: _Run,
                      action: ServerAction, now: datetime, fields: dict[str, object]
                      ) -> Message:
        identity = self.bsf.identity
        if isinstance(action, SendEapRequest):
            self._runs[req.session_id] = run
            self._runs.move_to_end(req.session_id)
            while len(self._runs) > MAX_RUNS:
                self._runs.popitem(last=False)
            return diameter_eap.build_dea_challenge(
                request, identity, action.eap, int(RUN_LIFETIME.total_seconds()))
        self._runs.pop(req.session_id, None)
        if isinstance(action, EapAkaFailure):
            log.warning("EAP: run for %s failed (%s): %s", req.nai, action.cause.name,
                        action.reason,
                        extra={**fields, "result": int(ResultCode.AUTHENTICATION_REJECTED)})
            return diameter_eap.build_dea_failure(request, identity, action.eap)
        assert isinstance(action, EapAkaSuccess)
        return await self._success(request, run, action, now, fields)

    async def _success(self, request: Message, run: _Run, done: EapAkaSuccess,
                       now: datetime, fields: dict[str, object]) -> Message:
        """Keep the context (a B-TID the UE learns too) and answer with the user
        information the partner's policy gives: Ks_NAF for the server, or Ks."""
        bsf, partner = self.bsf, run.partner
        created = now
        expires = kdf.key_expiry(created, bsf.key_lifetime)
        btid = kdf.btid(done.rand, bsf.server_name)
        keep = partner.allocate_btid or partner.key is roaming.KeyPolicy.KS
        if keep:  # with Ks the server needs RAND, which the B-TID carries
            await bsf.store.put_context(BootstrapContext(
                btid=btid, impi=done.impi, ks=done.ks, rand=done.rand, created=created,
                expires=expires, guss=done.guss))
        given = roaming.partner_key(partner, done.ks, done.rand, done.impi, run.naf_id,
                                    created, expires, now)
        if given is None:  # a policy lifetime of zero: nothing to hand out
            return error_answer(request, bsf.identity, ResultCode.UNABLE_TO_COMPLY)
        user = zn.KeyAnswer(impi=done.impi, expiry=given.expiry, created=created,
                            me_key=given.key, key_kind=given.kind)
        log.info("EAP: %s authenticated for visited network %s; %s%s", done.impi,
                 partner.realm, "Ks" if given.kind is roaming.KeyKind.KS else "Ks_NAF",
                 f", B-TID {btid}" if keep else "",
                 extra={**fields, "impi": done.impi, "result": int(ResultCode.SUCCESS),
                        **({"btid": btid} if keep else {})})
        return diameter_eap.build_dea_success(request, bsf.identity, done.eap, user,
                                              btid if keep else None)

    def _expire(self, now: datetime) -> None:
        while self._runs:
            session, run = next(iter(self._runs.items()))
            if now - run.started < RUN_LIFETIME:
                break
            del self._runs[session]


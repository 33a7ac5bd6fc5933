"""The softswitch's end of the softswitch-AuC leg over Diameter (s3/s4, s11;
:mod:`gba.protocols.ngn_auc`)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from gba.errors import GbaError
from gba.protocols import ngn_auc
from gba.protocols.ngn_auc import AkaVector, NgnAuthRefusal
from gba.protocols.ngn_flow import Refusal, Refuse, S3AuthRequest, S4AuthVector, S11Registered
from gba.transport.diameter import DiameterNode

log = logging.getLogger(__name__)


class DiameterAuc:
    """An :class:`~gba.nf.ngn_node.AucLink` over the softswitch's Diameter node."""

    def __init__(self, node: DiameterNode, realm: str, sessions: Callable[[], str]) -> None:
        self._node = node
        self._realm = realm
        self._sessions = sessions

    async def _ask(self, request: S3AuthRequest
                   ) -> S4AuthVector | AkaVector | Refuse:
        msg = ngn_auc.build_auth_request(self._node.identity, self._realm, self._sessions(),
                                         request)
        try:
            answer = ngn_auc.parse_auth_answer(await self._node.request(msg))
        except (GbaError, OSError, TimeoutError) as exc:
            log.warning("AuC request for %r failed: %s", request.id_c, exc)
            return Refuse(request.id_c, request.id_sp, Refusal.UNAVAILABLE, "AuC unreachable")
        if isinstance(answer, NgnAuthRefusal):
            return Refuse(request.id_c, request.id_sp, answer.refusal, answer.detail)
        return answer

    async def authenticate(self, request: S3AuthRequest) -> S4AuthVector | Refuse:
        """s3 -> s4, or the reject the AuC's answer (or its silence) means. An AKA vector
        is refused here: the seed's flow needs Authenticator_c."""
        answer = await self._ask(request)
        if isinstance(answer, AkaVector):
            return Refuse(request.id_c, request.id_sp, Refusal.UNKNOWN_TERMINAL,
                          "an AKA subscriber: register with Digest AKAv1-MD5")
        return answer

    async def authenticate_aka(self, request: S3AuthRequest) -> AkaVector | Refuse:
        """s3 for an AKA subscriber (the RFC 3310 interoperability extension)."""
        answer = await self._ask(request)
        if isinstance(answer, S4AuthVector):
            return Refuse(request.id_c, request.id_sp, Refusal.AUTH_FAILED,
                          "not an AKA subscriber: register with the NGN flow")
        return answer

    async def registered(self, notice: S11Registered) -> None:
        """s11: the AuC records the registration; a failure is logged, not fatal (the
        terminal is registered with the softswitch either way)."""
        msg = ngn_auc.build_notice_request(self._node.identity, self._realm, self._sessions(),
                                           notice)
        try:
            refused = ngn_auc.parse_notice_answer(await self._node.request(msg))
        except (GbaError, OSError, TimeoutError) as exc:
            log.warning("s11 for %r failed: %s", notice.id_c, exc)
            return
        if refused is not None:
            log.warning("the AuC refused s11 for %r: %s", notice.id_c, refused.detail)

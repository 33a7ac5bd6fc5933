"""The GBA proxy: a visited network's Zn-Proxy of its own (TS 33.220 Annex K.2 a; seed 000
case B, "an independent server"). Its NAFs send it the key requests of visitors' B-TIDs
(:class:`gba.nf.naf.ZnRoute` ``proxy``); it checks the NAF as a BSF would (the NAFs it
serves are configured, TS 33.220 §4.5.3), works out the home network from the B-TID and
asks that network's BSF directly (seed 000 claim 3), then relays the answer
(:class:`gba.nf.zn_proxy.ZnProxy`). A B-TID of its own network is passed to its own BSF
the same way, by realm. It holds no bootstrapping context and no key.
"""

from __future__ import annotations

import logging

from gba.errors import CodecError
from gba.nf.bsf import NafPolicy, naf_refusal
from gba.nf.zn_proxy import ZnProxy
from gba.protocols import zn, zn_proxy
from gba.protocols.diameter import (
    CMD_BOOTSTRAPPING_INFO,
    ExperimentalResultCode,
    Message,
    ResultCode,
)
from gba.protocols.diameter.capabilities import codec_error_answer, error_answer
from gba.protocols.shedding import InflightLimit

log = logging.getLogger(__name__)


class GbaProxy:
    def __init__(self, proxy: ZnProxy, policy: NafPolicy,
                 inflight: InflightLimit | None = None) -> None:
        self.proxy = proxy
        self.policy = policy
        self.inflight = inflight or InflightLimit()

    async def zn(self, request: Message, peer: str) -> Message:
        """One BIR of a NAF (TS 29.109 §4.4), answered through the home BSF. Past
        :attr:`inflight` it is answered DIAMETER_TOO_BUSY 3004 (RFC 6733 §7.1.3)."""
        identity = self.proxy.identity
        if not self.inflight.try_enter():
            return error_answer(request, identity, ResultCode.TOO_BUSY)
        try:
            if request.command_code != CMD_BOOTSTRAPPING_INFO:
                return error_answer(request, identity, ResultCode.COMMAND_UNSUPPORTED)
            try:
                req = zn.parse_bir(request)
            except CodecError as exc:
                log.warning("GBA proxy: BIR from %s malformed: %s", peer, exc,
                            extra={"interface": "zn", "peer": peer})
                return codec_error_answer(request, identity, exc)
            refusal = (f"Origin-Host {req.origin_host!r} is not a NAF of this proxy"
                       if req.origin_host not in self.policy.hostnames_by_origin
                       else naf_refusal(self.policy, request, req, peer))
            if refusal is not None:
                log.warning("GBA proxy: NAF %s (via %s) refused: %s", req.origin_host, peer,
                            refusal, extra={"interface": "zn", "btid": req.btid, "peer": peer,
                                            "result": int(ExperimentalResultCode.NOT_AUTHORIZED)})
                return zn.build_bia_error(request, identity,
                                          ExperimentalResultCode.NOT_AUTHORIZED)
            decision = self.proxy.decide(req)
            if isinstance(decision, zn_proxy.AnswerLocally):
                decision = zn_proxy.AskHome(self.proxy.realm)  # our BSF, reached by realm
            return await self.proxy.answer(request, req, decision)
        finally:
            self.inflight.leave()

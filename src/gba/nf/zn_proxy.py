"""A Zn-Proxy (TS 33.220 Annex K): the visited network's entity that fetches a roaming
user's key from the home BSF for its NAFs. It runs inside the visited BSF (case A,
``zn_proxy = true``), as a GBA proxy of its own (case B-standalone, :mod:`gba.nf.gba_proxy`)
or inside the visited AAA (case B-aaa); the decisions are :mod:`gba.protocols.zn_proxy`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from gba.errors import GbaError
from gba.protocols import zn, zn_proxy
from gba.protocols.diameter import Message, PeerIdentity, ResultCode

log = logging.getLogger(__name__)

FetchHome = Callable[[zn.KeyRequest], Awaitable[zn.KeyAnswer | int]]
"""Zn' to the home BSF: its answer or the result code that refused it
(:func:`gba.nf.naf.zn_fetcher` with route ``home``)."""


class ZnProxy:
    def __init__(self, identity: PeerIdentity, realm: str, fetch_home: FetchHome,
                 btid_realms: Mapping[str, str] | None = None) -> None:
        self.identity = identity
        self.realm = realm
        self.fetch_home = fetch_home
        self.btid_realms = btid_realms

    def decide(self, req: zn.KeyRequest) -> zn_proxy.Decision:
        return zn_proxy.decide(req.btid, self.realm, self.btid_realms)

    async def answer(self, request: Message, req: zn.KeyRequest,
                     decision: zn_proxy.AskHome | zn_proxy.Refuse) -> Message:
        """The NAF's answer: the home BSF's user information relayed, or the refusal. A
        home BSF that cannot be reached is 3002 DIAMETER_UNABLE_TO_DELIVER."""
        fields = {"interface": "zn", "btid": req.btid, "peer": req.origin_host}
        if isinstance(decision, zn_proxy.Refuse):
            log.warning("Zn-Proxy: key for %s refused (%s): %s", req.btid, decision.code,
                        decision.reason, extra={**fields, "result": decision.code})
            return zn_proxy.relay(request, self.identity, decision.code)
        try:
            result = await self.fetch_home(zn_proxy.home_request(req))
        except GbaError as exc:
            log.warning("Zn-Proxy: home BSF of %s unreachable: %s", decision.realm, exc,
                        extra={**fields, "result": int(ResultCode.UNABLE_TO_DELIVER)})
            result = ResultCode.UNABLE_TO_DELIVER
        if isinstance(result, int):
            log.info("Zn-Proxy: home network %s refused the key for %s: %s", decision.realm,
                     req.btid, result, extra={**fields, "result": result})
        else:
            log.info("Zn-Proxy: key for %s (%s) from home network %s relayed to %s",
                     req.btid, result.impi, decision.realm, req.origin_host,
                     extra={**fields, "impi": result.impi, "result": int(ResultCode.SUCCESS)})
        return zn_proxy.relay(request, self.identity, result)

"""The AAA servers of roaming cases B-aaa, C and D (seed 000; docs/roaming.md §1).

The visited network's AAA (:class:`VisitedAaa`) takes its servers' NASREQ (RFC 7155,
Application 1: case C) and Diameter EAP (RFC 4072, Application 5: case D) requests and
proxies each to the home network the User-Name names (:func:`gba.protocols.nai.home_realm`:
a B-TID's BSF domain, or the IMSI of an EAP-AKA permanent identity), rewriting
Destination-Realm to it (:meth:`gba.transport.diameter.DiameterNode.forward`): seed steps
304-305 and 405-406. A name of no known network is answered 3003
DIAMETER_REALM_NOT_SERVED (RFC 6733 §7.1.3). With ``zn_proxy`` it is also its servers'
Zn-Proxy (case B-aaa: "the GBA proxy combined with the AAA").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from gba.protocols import nai
from gba.protocols.diameter import Message, ResultCode
from gba.protocols.diameter.capabilities import error_answer
from gba.protocols.diameter.dictionary import USER_NAME
from gba.transport.diameter import DiameterNode

log = logging.getLogger(__name__)


class VisitedAaa:
    def __init__(self, node: DiameterNode, btid_realms: Mapping[str, str] | None = None,
                 mnc_digits: Mapping[str, int] | None = None) -> None:
        self.node = node
        self.btid_realms = btid_realms
        self.mnc_digits = mnc_digits

    async def relay(self, request: Message, peer: str) -> Message:
        """One NASREQ or Diameter EAP request of a server, on to the user's home AAA."""
        user = request.find(USER_NAME)
        if user is None:
            return error_answer(request, self.node.identity, ResultCode.MISSING_AVP,
                                "User-Name is needed to find the home network")
        name = user.as_str()
        realm = nai.home_realm(name, self.btid_realms, self.mnc_digits)
        fields = {"interface": "aaa", "peer": peer}
        if realm is None:
            log.warning("AAA: no home network for user name %s of %s", name, peer,
                        extra={**fields, "result": int(ResultCode.REALM_NOT_SERVED)})
            return error_answer(request, self.node.identity, ResultCode.REALM_NOT_SERVED,
                                "the user name names no network served here")
        answer = await self.node.forward(request, peer, realm)
        log.info("AAA: command %d for %s proxied to %s: result %s", request.command_code,
                 name, realm, answer.result_code,
                 extra={**fields, "result": answer.result_code or 0})
        return answer

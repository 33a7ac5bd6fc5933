"""The AAA servers of roaming cases B-aaa, C and D (seed 000; docs/roaming.md §1).

The home network's AAA (:class:`HomeAaa`) answers an AA-Request for a B-TID by asking
its BSF over Zn, naming the visited network in Visited-Network-Identifier (seed step
306; :func:`gba.protocols.nasreq.to_key_request`), and turns the BIA into the AA-Answer
(309): the user information flows back along the chain. Co-located with the BSF (the
``bsf`` kind with ``aaa = true``) it asks the BSF in-process (:meth:`gba.nf.bsf.Bsf.aaa_key`).

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
from collections.abc import Awaitable, Callable, Mapping

from gba.clock import Clock, utc_now
from gba.errors import CodecError, GbaError
from gba.protocols import diameter_eap, nai, nasreq, zn
from gba.protocols.diameter import (
    CMD_AA,
    ExperimentalResultCode,
    Message,
    PeerIdentity,
    ResultCode,
)
from gba.protocols.diameter.capabilities import UnsupportedAvp, error_answer
from gba.protocols.diameter.codec import DiameterCodecError
from gba.protocols.diameter.dictionary import ORIGIN_REALM, USER_NAME
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


FetchUser = Callable[[zn.KeyRequest], Awaitable[zn.KeyAnswer | int]]
"""The home BSF's user information for a key request naming the visited network: over
Zn (:func:`gba.nf.naf.zn_fetcher`) or in-process (:meth:`gba.nf.bsf.Bsf.aaa_key`)."""
Authorise = Callable[[str, str], bool]
"""Whether AA-Requests of visited realm *realm* may arrive from peer *peer*."""


class HomeAaa:
    def __init__(self, identity: PeerIdentity, fetch: FetchUser, authorise: Authorise,
                 clock: Clock = utc_now, node: DiameterNode | None = None) -> None:
        self.identity = identity
        self.fetch = fetch
        self.authorise = authorise
        self.clock = clock
        self.node = node
        """Where a DER goes on to the BSF (a standalone home AAA)."""

    async def der(self, request: Message, peer: str) -> Message:
        """A Diameter-EAP-Request of a visited network (case D, step 407): proxied to the
        home BSF, which runs EAP-AKA, with Visited-Network-Identifier = the request's
        Origin-Realm. The AAA itself sends nothing to the HSS."""
        origin = request.find(ORIGIN_REALM)
        realm = origin.as_str() if origin is not None else ""
        if self.node is None or not self.authorise(realm, peer):
            log.warning("AAA: DER of realm %s from %s refused: no roaming agreement", realm,
                        peer, extra={"interface": "aaa", "peer": peer,
                                     "result": int(ResultCode.AUTHORIZATION_REJECTED)})
            return diameter_eap.build_dea_error(request, self.identity,
                                                ResultCode.AUTHORIZATION_REJECTED)
        return await self.node.forward(diameter_eap.with_visited_network(request, realm),
                                       peer)

    async def aa(self, request: Message, peer: str) -> Message:
        """One AA-Request of a visited network (RFC 7155 §3.1; docs/roaming.md §1 C,
        steps 305-309): the user information of the B-TID, or a refusal: 4001 for a
        B-TID the home BSF does not know (or whose key's life is over), 5003 for a visited
        network it does not serve, 3002 when the BSF cannot be reached."""
        if request.command_code != CMD_AA:
            return error_answer(request, self.identity, ResultCode.COMMAND_UNSUPPORTED)
        try:
            auth = nasreq.parse_aar(request)
        except DiameterCodecError as exc:
            failed = exc.avps if isinstance(exc, UnsupportedAvp) else exc.failed
            return nasreq.build_aaa_error(request, self.identity, exc.result_code, failed)
        except CodecError as exc:
            log.warning("AAA: AAR from %s unreadable: %s", peer, exc)
            return nasreq.build_aaa_error(request, self.identity,
                                          ResultCode.INVALID_AVP_VALUE)
        fields = {"interface": "aaa", "btid": auth.btid, "peer": peer}
        if not self.authorise(auth.origin_realm, peer):
            log.warning("AAA: AAR of realm %s from %s refused: no roaming agreement",
                        auth.origin_realm, peer,
                        extra={**fields, "result": int(ResultCode.AUTHORIZATION_REJECTED)})
            return nasreq.build_aaa_error(request, self.identity,
                                          ResultCode.AUTHORIZATION_REJECTED)
        try:
            result = await self.fetch(nasreq.to_key_request(auth))
        except GbaError as exc:
            log.warning("AAA: home BSF unreachable: %s", exc,
                        extra={**fields, "result": int(ResultCode.UNABLE_TO_DELIVER)})
            result = ResultCode.UNABLE_TO_DELIVER
        if isinstance(result, int):
            code = nasreq.result_for_bia(result)
            log.info("AAA: user information for %s refused (BSF %s): %s", auth.btid,
                     result, code, extra={**fields, "result": code})
            return nasreq.build_aaa_error(request, self.identity, code)
        log.info("AAA: user information of %s (%s) for visited network %s", auth.btid,
                 result.impi, auth.origin_realm,
                 extra={**fields, "impi": result.impi, "result": int(ResultCode.SUCCESS)})
        return nasreq.build_aaa(request, self.identity, result, self.clock())


_ZN_EQUIVALENT: dict[int, int] = {
    ResultCode.AUTHENTICATION_REJECTED: ExperimentalResultCode.TRANSACTION_IDENTIFIER_INVALID,
    ResultCode.AUTHORIZATION_REJECTED: ExperimentalResultCode.NOT_AUTHORIZED}
"""NASREQ refusals read as the Zn results a NAF acts on (docs/roaming.md §3)."""


def nasreq_fetcher(client: DiameterNode, identity: PeerIdentity, aaa_realm: str,
                   session_id: Callable[[], str]) -> FetchUser:
    """A visited server's key source in case C (docs/roaming.md §1 C, steps 303-310):
    an AA-Request for the B-TID to its AAA, whose AA-Answer is the user information. An
    answer without User-Name or key material is refused (:func:`nasreq.parse_aaa`)."""

    async def fetch(req: zn.KeyRequest) -> zn.KeyAnswer | int:
        answer = await client.request(nasreq.build_aar(
            identity, aaa_realm, session_id(), nasreq.from_key_request(req)))
        code = answer.result_code
        if code != ResultCode.SUCCESS:
            if code is None:
                return ResultCode.UNABLE_TO_COMPLY
            return _ZN_EQUIVALENT.get(code, code)
        return nasreq.parse_aaa(answer)

    return fetch

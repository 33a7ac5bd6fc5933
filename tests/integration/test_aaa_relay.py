"""The visited AAA on real sockets (gba.nf.aaa.VisitedAaa, docs/roaming.md §1 C/D): a
server's NASREQ request addressed to its own realm is proxied to the realm its User-Name
names, Destination-Realm rewritten, Route-Record appended, End-to-End id kept
(:meth:`gba.transport.diameter.DiameterNode.forward`); a name of no network is 3003, a
home AAA that cannot be reached 3002."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from gba.config import DiameterNodeConfig
from gba.crypto import kdf
from gba.nf.aaa import VisitedAaa
from gba.nf.common import peer_identity
from gba.protocols.diameter import APP_NASREQ, CMD_AA, Message, ResultCode, avp
from gba.protocols.diameter import dictionary as d
from gba.protocols.diameter.routing import route_record
from gba.transport.diameter import DiameterClient, DiameterNode, DiameterServer, PeerSpec

pytestmark = pytest.mark.roaming

HOME = "mnc001.mcc001.3gppnetwork.org"
VISITED = "mnc002.mcc001.3gppnetwork.org"
BMSC = peer_identity(DiameterNodeConfig(f"bmsc.{VISITED}", VISITED))
AAA_V = peer_identity(DiameterNodeConfig(f"aaa.{VISITED}", VISITED))
AAA_H = peer_identity(DiameterNodeConfig(f"aaa.{HOME}", HOME))
NASREQ = (0, APP_NASREQ)
BTID = kdf.btid(bytes(range(16)), "bsf.mnc001.mcc001.pub.3gppnetwork.org")


@dataclass
class Chain:
    client: DiameterClient
    seen: list[Message]
    home: DiameterServer


def aar(user: str) -> Message:
    return Message.new(CMD_AA, APP_NASREQ, avps=[
        avp("Session-Id", f"{BMSC.origin_host};1;7"), avp("Auth-Application-Id", APP_NASREQ),
        avp("Origin-Host", BMSC.origin_host), avp("Origin-Realm", VISITED),
        avp("Destination-Realm", VISITED), avp("Auth-Request-Type", 2),
        avp("User-Name", user)])


@pytest.fixture
async def chain() -> AsyncIterator[Chain]:
    seen: list[Message] = []

    async def home_aaa(request: Message, _peer: str) -> Message:
        seen.append(request)
        return request.answer([request.find(d.SESSION_ID) or avp("Session-Id", ""),
                               avp("Result-Code", ResultCode.SUCCESS),
                               avp("Origin-Host", AAA_H.origin_host),
                               avp("Origin-Realm", HOME)])

    home = DiameterServer(AAA_H, [NASREQ], home_aaa, "127.0.0.1", 0)
    await home.start()
    node = DiameterNode(AAA_V, [NASREQ], request_timeout=0.5)
    node.connect(PeerSpec("127.0.0.1", home.port, None, AAA_H.origin_host,
                          host=AAA_H.origin_host, routes_its_realm=True))
    aaa = VisitedAaa(node)
    node.serve(APP_NASREQ, None, aaa.relay)
    node.listen("127.0.0.1", 0)
    await node.start()
    await node.wait_open(5.0, AAA_H.origin_host)
    port = node.port
    client = DiameterClient(BMSC, [NASREQ], "127.0.0.1", port)
    await client.start()
    try:
        yield Chain(client, seen, home)
    finally:
        await client.close()
        await node.close()
        await home.close()


async def test_request_reaches_the_home_realm_rewritten_and_recorded(chain: Chain) -> None:
    answer = await asyncio.wait_for(chain.client.request(aar(BTID)), 5)
    assert answer.result_code == ResultCode.SUCCESS
    [forwarded] = chain.seen
    assert forwarded.find(d.DESTINATION_REALM).as_str() == HOME  # type: ignore[union-attr]
    assert route_record(forwarded) == [BMSC.origin_host]
    assert forwarded.find(d.ORIGIN_HOST).as_str() == BMSC.origin_host  # type: ignore[union-attr]
    assert forwarded.end_to_end == answer.end_to_end


async def test_user_name_of_no_network_is_3003(chain: Chain) -> None:
    answer = await asyncio.wait_for(chain.client.request(aar("someone@example.com")), 5)
    assert answer.result_code == ResultCode.REALM_NOT_SERVED
    assert answer.is_error
    assert chain.seen == []


async def test_permanent_identity_of_another_network_is_3003(chain: Chain) -> None:
    answer = await asyncio.wait_for(
        chain.client.request(aar(f"0001010123456789@{VISITED}")), 5)
    assert answer.result_code == ResultCode.REALM_NOT_SERVED
    assert chain.seen == []


async def test_missing_user_name_is_5005(chain: Chain) -> None:
    request = aar(BTID)
    bare = request.with_avps([a for a in request.avps if a.code != d.USER_NAME])
    answer = await asyncio.wait_for(chain.client.request(bare), 5)
    assert answer.result_code == ResultCode.MISSING_AVP


async def test_unreachable_home_aaa_is_3002(chain: Chain) -> None:
    await chain.home.close()
    answer = await asyncio.wait_for(chain.client.request(aar(BTID)), 5)
    assert answer.result_code == ResultCode.UNABLE_TO_DELIVER
    assert answer.is_error

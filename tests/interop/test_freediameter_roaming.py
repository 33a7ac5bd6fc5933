"""The roaming AAA legs through freeDiameter (docs/roaming.md §1 C, D): our visited AAA
proxies a server's NASREQ and Diameter EAP requests by the user name's realm to the home
network, freeDiameter 1.2.1 relays them between the operators (an inter-operator agent,
as an IPX's would), and the home BSF with its AAA co-located answers. Case C returns the
user information; case D runs EAP-AKA to the end with one vector from the HSS.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from freediameter import FREEDIAMETERD, FdPeer, FreeDiameterRelay
from gba.config import DiameterNodeConfig
from gba.crypto import kdf, ua_protocols
from gba.nf.aaa import HomeAaa, VisitedAaa, nasreq_fetcher
from gba.nf.bsf import Bsf, NafPolicy
from gba.nf.bsf_eap import BsfEap
from gba.nf.common import peer_identity
from gba.nf.eap_broker import Association, EapBroker
from gba.protocols import eap_aka_peer, roaming, zh, zn
from gba.protocols.diameter import APP_EAP, APP_NASREQ, Message
from gba.protocols.eap_http import eap_of, parse_eap_header
from gba.protocols.http import HttpResponse
from gba.store.base import BootstrapContext
from gba.store.factory import open_bsf_store
from gba.transport.diameter import DiameterClient, DiameterNode, DiameterServer, PeerSpec
from gba.transport.diameter import session_id_factory as sessions
from gba_memory import OPC, K, MemoryHss

pytestmark = [
    pytest.mark.interop,
    pytest.mark.roaming,
    pytest.mark.skipif(FREEDIAMETERD is None,
                       reason="needs freeDiameterd (Debian package freediameter)"),
]

HOME = "mnc001.mcc001.3gppnetwork.org"
VISITED = "mnc002.mcc001.3gppnetwork.org"
RELAY = "ipx.fd.test"
IMSI = "001010000000001"
IMPI = f"{IMSI}@ims.{HOME}"
BMSC = f"bmsc.{VISITED}"
NAF_ID = BMSC.encode() + ua_protocols.MBMS
BSF_NAME = "bsf.mnc001.mcc001.pub.3gppnetwork.org"
BSF_H = peer_identity(DiameterNodeConfig(f"bsf.{HOME}", HOME))
AAA_V = peer_identity(DiameterNodeConfig(f"aaa.{VISITED}", VISITED))
NASREQ, EAP = (0, APP_NASREQ), (0, APP_EAP)
WAIT = 15.0


@dataclass
class Chain:
    client: DiameterClient
    hss: MemoryHss
    bsf: Bsf


@pytest.fixture
async def chain(tmp_path: Path) -> AsyncIterator[Chain]:
    hss = MemoryHss(impi=IMPI)

    async def fetch_vector(request: zh.VectorRequest) -> zh.VectorAnswer | int:
        return hss(request)

    now = datetime.now(UTC)
    contexts = open_bsf_store("memory:")
    btid = kdf.btid(bytes(range(16)), BSF_NAME)
    await contexts.put_context(BootstrapContext(btid, IMPI, bytes(range(32)),
                                                bytes(range(16)), now, now + timedelta(hours=1)))
    # the home operator trusts the inter-operator relay to speak for the visited network
    partner = roaming.VisitedPartner(VISITED, frozenset({RELAY}), naf_domains=(VISITED,))
    bsf = Bsf(contexts, fetch_vector, BSF_H, HOME, BSF_NAME, NafPolicy({}),
              key_lifetime=timedelta(hours=1), roaming_policy=roaming.RoamingPolicy((partner,)))
    aaa = HomeAaa(BSF_H, bsf.aaa_key, bsf.aaa_peer_allowed)
    eap = BsfEap(bsf, colocated_aaa=True)

    async def home(request: Message, peer: str) -> Message:
        return await (aaa.aa if request.application_id == APP_NASREQ else eap.der)(request,
                                                                                    peer)

    home_server = DiameterServer(BSF_H, [NASREQ, EAP], home, "127.0.0.1", 0)
    await home_server.start()
    peers = [FdPeer(BSF_H.origin_host, HOME, ("127.0.0.1", home_server.port)),
             FdPeer(AAA_V.origin_host, VISITED)]
    async with FreeDiameterRelay(RELAY, "fd.test", peers, tmp_path) as relay:
        await relay.wait_open(BSF_H.origin_host)
        node = DiameterNode(AAA_V, [NASREQ, EAP], routes={HOME: [RELAY]})
        node.connect(PeerSpec("127.0.0.1", relay.port, None, RELAY, host=RELAY))
        visited = VisitedAaa(node)
        node.serve(APP_NASREQ, None, visited.relay)
        node.serve(APP_EAP, None, visited.relay)
        node.listen("127.0.0.1", 0)
        await node.start()
        await node.wait_open(WAIT, RELAY)
        client = DiameterClient(peer_identity(DiameterNodeConfig(BMSC, VISITED)),
                                [NASREQ, EAP], "127.0.0.1", node.port)
        await client.start()
        try:
            yield Chain(client, hss, bsf)
        finally:
            await client.close()
            await node.close()
    await home_server.close()
    await contexts.close()


async def test_case_c_user_information_crosses_freediameter(chain: Chain) -> None:
    fetch = nasreq_fetcher(chain.client, chain.client.identity, VISITED, sessions(BMSC))
    btid = kdf.btid(bytes(range(16)), BSF_NAME)
    answer = await asyncio.wait_for(fetch(zn.KeyRequest(btid, NAF_ID)), WAIT)
    assert isinstance(answer, zn.KeyAnswer)
    assert answer.impi == IMPI
    assert answer.me_key == kdf.ks_naf(bytes(range(32)), bytes(range(16)), IMPI, NAF_ID)


async def test_case_d_eap_aka_runs_through_freediameter(chain: Chain) -> None:
    from gba.crypto.aka import Usim

    broker = EapBroker(chain.client, chain.client.identity, VISITED, BMSC)
    peer = eap_aka_peer.EapAkaPeer(Usim(K, OPC), f"0{IMSI}@{HOME}")
    step: HttpResponse | Association = broker.ask_identity()
    for _ in range(4):
        assert isinstance(step, HttpResponse)
        params = parse_eap_header(dict(step.headers)["WWW-Authenticate"])
        action = peer.request_received(eap_of(params))
        assert isinstance(action, eap_aka_peer.SendResponse)
        step = await asyncio.wait_for(broker.round(params["session"], action.eap, NAF_ID),
                                      WAIT)
        if isinstance(step, Association):
            break
    assert isinstance(step, Association)
    done = peer.request_received(step.eap_success)
    assert isinstance(done, eap_aka_peer.PeerAuthenticated)
    assert step.key.impi == IMPI
    assert step.key.key == kdf.ks_naf(done.ks, done.rand, IMPI, NAF_ID)  # UE == server
    assert len(chain.hss.requests) == 1  # one vector for the run

"""Roaming case C over loopback Diameter (docs/roaming.md §1 C, §3): server --NASREQ-->
visited AAA --NASREQ--> home AAA --Zn--> home BSF, and the home AAA co-located with the
BSF; the user information flows back and counts as authorisation; every refusal leaves
the server nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from gba.config import DiameterNodeConfig
from gba.crypto import kdf, ua_protocols
from gba.nf.aaa import HomeAaa, VisitedAaa, nasreq_fetcher
from gba.nf.bsf import Bsf, NafPolicy
from gba.nf.common import peer_identity
from gba.nf.naf import KeyUnavailable, NafKeys, Roaming, ZnRoute, zn_fetcher
from gba.protocols import roaming, zh, zn
from gba.protocols.diameter import APP_NASREQ, ResultCode
from gba.store.base import BootstrapContext, NafStore
from gba.store.factory import open_bsf_store, open_naf_store
from gba.transport.diameter import DiameterClient, DiameterNode, DiameterServer, PeerSpec
from gba.transport.diameter import session_id_factory as sessions

pytestmark = pytest.mark.roaming

HOME = "mnc001.mcc001.3gppnetwork.org"
VISITED = "mnc002.mcc001.3gppnetwork.org"
IMPI = f"001010000000001@ims.{HOME}"
SERVER_NAME = "bsf.mnc001.mcc001.pub.3gppnetwork.org"
BMSC = f"bmsc-c.{VISITED}"
NAF_ID = BMSC.encode() + ua_protocols.MBMS
RAND = bytes(range(16))
KS = bytes(range(100, 132))
NOW = datetime(2030, 3, 4, 5, 6, 7, tzinfo=UTC)
CONTEXT = BootstrapContext(btid=kdf.btid(RAND, SERVER_NAME), impi=IMPI, ks=KS, rand=RAND,
                           created=NOW - timedelta(minutes=1), expires=NOW + timedelta(hours=1))
AAA_V = peer_identity(DiameterNodeConfig(f"aaa.{VISITED}", VISITED))
AAA_H = peer_identity(DiameterNodeConfig(f"aaa.{HOME}", HOME))
BSF_H = peer_identity(DiameterNodeConfig(f"bsf.{HOME}", HOME))
PARTNER = roaming.VisitedPartner(realm=VISITED, proxies=frozenset({AAA_V.origin_host}),
                                 naf_domains=(VISITED,))
NASREQ = (0, APP_NASREQ)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


async def no_vector(_: zh.VectorRequest) -> zh.VectorAnswer | int:
    raise AssertionError("no Zh in case C")


@dataclass
class Chain:
    clock: Clock
    keys: NafKeys
    store: NafStore
    bsf_server: DiameterServer | None


async def _chain(form: str, partner: roaming.VisitedPartner) -> AsyncIterator[Chain]:
    clock = Clock()
    contexts = open_bsf_store("memory:")
    await contexts.put_context(CONTEXT)
    bsf = Bsf(contexts, no_vector, BSF_H, HOME, SERVER_NAME, NafPolicy({}),
              key_lifetime=timedelta(hours=1), clock=clock,
              roaming_policy=roaming.RoamingPolicy((partner,),
                                                   frozenset({AAA_H.origin_host})))
    closers = []
    bsf_server = None
    if form == "standalone":
        bsf_server = DiameterServer(BSF_H, [zn.APPLICATION], bsf.zn, "127.0.0.1", 0,
                                    authorise=bsf.check_peer)
        await bsf_server.start()
        to_bsf = DiameterClient(AAA_H, [zn.APPLICATION], "127.0.0.1", bsf_server.port)
        to_bsf.request_timeout = 0.5
        await to_bsf.start()
        closers += [to_bsf, bsf_server]
        fetch = zn_fetcher(to_bsf, AAA_H, HOME, sessions("aaa-h"), route=ZnRoute.LOCAL)
        home = HomeAaa(AAA_H, fetch, lambda realm, peer: realm == VISITED
                       and peer == AAA_V.origin_host, clock)
        home_id = AAA_H
    else:
        home = HomeAaa(BSF_H, bsf.aaa_key, bsf.aaa_peer_allowed, clock)
        home_id = BSF_H
    home_server = DiameterServer(home_id, [NASREQ], home.aa, "127.0.0.1", 0)
    await home_server.start()
    node = DiameterNode(AAA_V, [NASREQ], request_timeout=0.5)
    node.connect(PeerSpec("127.0.0.1", home_server.port, None, home_id.origin_host,
                          host=home_id.origin_host))
    visited = VisitedAaa(node)
    node.serve(APP_NASREQ, None, visited.relay)
    node.listen("127.0.0.1", 0)
    await node.start()
    await node.wait_open(5.0, home_id.origin_host)
    bmsc = peer_identity(DiameterNodeConfig(BMSC, VISITED))
    client = DiameterClient(bmsc, [NASREQ], "127.0.0.1", node.port)
    await client.start()
    store = open_naf_store("memory:")
    keys = NafKeys(store, nasreq_fetcher(client, bmsc, VISITED, sessions("bmsc")),
                   clock=clock, roaming=Roaming("C", BMSC))
    try:
        yield Chain(clock, keys, store, bsf_server)
    finally:
        await client.close()
        await node.close()
        await home_server.close()
        for c in closers:
            await c.close()
        await store.close()
        await contexts.close()


@pytest.fixture(params=["standalone", "colocated"])
async def chain(request: pytest.FixtureRequest) -> AsyncIterator[Chain]:
    async for c in _chain(request.param, PARTNER):
        yield c


@pytest.fixture(params=["standalone", "colocated"])
async def ks_chain(request: pytest.FixtureRequest) -> AsyncIterator[Chain]:
    async for c in _chain(request.param, replace(PARTNER, key=roaming.KeyPolicy.KS,
                                                 send_uss=False)):
        yield c


async def nothing_kept(c: Chain, btid: str) -> bool:
    return (await c.store.get_key(btid, NAF_ID, c.clock.now) is None
            and await c.store.charging_records() == [])


async def test_user_information_reaches_the_server_as_the_muk(chain: Chain) -> None:
    key = await chain.keys.get(CONTEXT.btid, NAF_ID)
    assert key is not None
    assert key.key == kdf.ks_naf(KS, RAND, IMPI, NAF_ID)  # the MUK (TS 33.246 §6.1)
    assert key.impi == IMPI
    [record] = await chain.store.charging_records()
    assert (record.case, record.user, record.home_realm) == ("C", IMPI, HOME)


async def test_ks_policy_gives_the_same_muk(ks_chain: Chain) -> None:
    key = await ks_chain.keys.get(CONTEXT.btid, NAF_ID)
    assert key is not None
    assert key.key == kdf.ks_naf(KS, RAND, IMPI, NAF_ID)
    [record] = await ks_chain.store.charging_records()
    assert record.key_kind == "ks"


async def test_unknown_btid_is_rejected_and_the_ue_bootstraps_again(chain: Chain) -> None:
    btid = kdf.btid(bytes(16), SERVER_NAME)
    assert await chain.keys.get(btid, NAF_ID) is None  # 4001 -> as 5403
    assert await nothing_kept(chain, btid)


async def test_expired_context_is_rejected(chain: Chain) -> None:
    chain.clock.now = CONTEXT.expires
    assert await chain.keys.get(CONTEXT.btid, NAF_ID) is None
    assert await nothing_kept(chain, CONTEXT.btid)


async def test_naf_outside_the_partner_domains_is_refused_5003(chain: Chain) -> None:
    naf_id = b"naf.elsewhere.org" + ua_protocols.MBMS
    with pytest.raises(KeyUnavailable) as refused:
        await chain.keys.get(CONTEXT.btid, naf_id)
    assert refused.value.result_code == 5402  # the AAA's 5003 read as Zn's 5402: 403
    assert await chain.store.charging_records() == []


async def test_unknown_home_realm_is_refused_3003(chain: Chain) -> None:
    btid = kdf.btid(RAND, "bsf.mnc099.mcc999.pub.3gppnetwork.org")
    with pytest.raises(KeyUnavailable) as refused:
        await chain.keys.get(btid, NAF_ID)
    assert refused.value.result_code == ResultCode.REALM_NOT_SERVED
    assert await nothing_kept(chain, btid)


async def test_home_bsf_down_is_3002_and_leaves_nothing() -> None:
    async for c in _chain("standalone", PARTNER):
        assert c.bsf_server is not None
        await c.bsf_server.close()
        with pytest.raises(KeyUnavailable) as refused:
            await c.keys.get(CONTEXT.btid, NAF_ID)
        assert refused.value.result_code == ResultCode.UNABLE_TO_DELIVER
        assert await nothing_kept(c, CONTEXT.btid)

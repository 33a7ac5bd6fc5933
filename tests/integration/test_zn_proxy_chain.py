"""Roaming cases A and B-standalone over loopback Diameter (docs/roaming.md §1, §3): a
visited server asks its BSF acting as Zn-Proxy, or a GBA proxy, which asks the home BSF
over Zn'; every refusal row of §3 that a Zn chain can meet, with what the server keeps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from gba.config import DiameterNodeConfig
from gba.crypto import kdf, ua_protocols
from gba.nf.bsf import Bsf, NafPolicy
from gba.nf.common import peer_identity
from gba.nf.gba_proxy import GbaProxy
from gba.nf.naf import KeyUnavailable, NafKeys, Roaming, ZnRoute, zn_fetcher
from gba.nf.zn_proxy import ZnProxy
from gba.protocols import roaming, zh, zn
from gba.protocols.diameter import ResultCode
from gba.store.base import BootstrapContext, NafStore
from gba.store.factory import open_bsf_store, open_naf_store
from gba.transport.diameter import DiameterClient, DiameterServer, session_id_factory

pytestmark = pytest.mark.roaming

HOME = "mnc001.mcc001.3gppnetwork.org"
VISITED = "mnc002.mcc001.3gppnetwork.org"
IMPI = f"001010000000001@ims.{HOME}"
SERVER_NAME = "bsf.mnc001.mcc001.pub.3gppnetwork.org"
BMSC = f"bmsc.{VISITED}"
NAF_ID = BMSC.encode() + ua_protocols.HTTP_DIGEST
RAND = bytes(range(16))
KS = bytes(range(100, 132))
NOW = datetime(2030, 3, 4, 5, 6, 7, tzinfo=UTC)
CONTEXT = BootstrapContext(btid=kdf.btid(RAND, SERVER_NAME), impi=IMPI, ks=KS, rand=RAND,
                           created=NOW - timedelta(minutes=1), expires=NOW + timedelta(hours=1))
PARTNER = roaming.VisitedPartner(
    realm=VISITED, proxies=frozenset({f"bsf.{VISITED}", f"gba-proxy.{VISITED}"}),
    key_lifetime=timedelta(minutes=30), naf_domains=(VISITED,))


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


async def no_vector(_: zh.VectorRequest) -> zh.VectorAnswer | int:
    raise AssertionError("no Zh in a Zn chain")


@dataclass
class Chain:
    clock: Clock
    keys: NafKeys
    store: NafStore
    home_server: DiameterServer


async def _chain(kind: str, partner: roaming.VisitedPartner | None
                 ) -> AsyncIterator[Chain]:
    """Home BSF <- (Zn') <- proxy <- (Zn) <- the server's NafKeys; *kind* is ``bsf`` (case
    A: the visited BSF is the proxy) or ``gba-proxy`` (case B-standalone)."""
    clock = Clock()
    home_id = peer_identity(DiameterNodeConfig(f"bsf.{HOME}", HOME))
    contexts = open_bsf_store("memory:")
    await contexts.put_context(CONTEXT)
    home = Bsf(contexts, no_vector, home_id, HOME, SERVER_NAME, NafPolicy({}),
               key_lifetime=timedelta(hours=1), clock=clock,
               roaming_policy=roaming.RoamingPolicy((partner,) if partner else ()))
    home_server = DiameterServer(home_id, [zn.APPLICATION], home.zn, "127.0.0.1", 0,
                                 authorise=home.check_peer)
    await home_server.start()
    proxy_id = peer_identity(DiameterNodeConfig(f"{kind}.{VISITED}", VISITED))
    upstream = DiameterClient(proxy_id, [zn.APPLICATION], "127.0.0.1", home_server.port)
    upstream.request_timeout = 0.5
    await upstream.start()
    fetch_home = zn_fetcher(upstream, proxy_id, VISITED, session_id_factory(kind),
                            route=ZnRoute.HOME)
    znproxy = ZnProxy(proxy_id, VISITED, fetch_home)
    naf_policy = NafPolicy({BMSC: frozenset({BMSC})})
    if kind == "bsf":
        visited = Bsf(open_bsf_store("memory:"), no_vector, proxy_id, VISITED,
                      "bsf.mnc002.mcc001.pub.3gppnetwork.org", naf_policy,
                      key_lifetime=timedelta(hours=1), clock=clock, proxy=znproxy)
        handler = visited.zn
    else:
        handler = GbaProxy(znproxy, naf_policy).zn
    proxy_server = DiameterServer(proxy_id, [zn.APPLICATION], handler, "127.0.0.1", 0)
    await proxy_server.start()
    bmsc_id = peer_identity(DiameterNodeConfig(BMSC, VISITED))
    client = DiameterClient(bmsc_id, [zn.APPLICATION], "127.0.0.1", proxy_server.port)
    await client.start()
    route = ZnRoute.LOCAL if kind == "bsf" else ZnRoute.PROXY
    store = open_naf_store("memory:")
    keys = NafKeys(store, zn_fetcher(client, bmsc_id, VISITED, session_id_factory("bmsc"),
                                     route=route, proxy_host=proxy_id.origin_host),
                   clock=clock, roaming=Roaming("A" if kind == "bsf" else "B-standalone",
                                                BMSC))
    try:
        yield Chain(clock, keys, store, home_server)
    finally:
        await client.close()
        await proxy_server.close()
        await upstream.close()
        await home_server.close()
        await store.close()
        await contexts.close()


@pytest.fixture(params=["bsf", "gba-proxy"])
async def chain(request: pytest.FixtureRequest) -> AsyncIterator[Chain]:
    async for c in _chain(request.param, PARTNER):
        yield c


@pytest.fixture(params=["bsf", "gba-proxy"])
async def stranger_chain(request: pytest.FixtureRequest) -> AsyncIterator[Chain]:
    """The home BSF has no roaming agreement with the visited network."""
    async for c in _chain(request.param, None):
        yield c


async def nothing_kept(c: Chain, btid: str) -> bool:
    return (await c.store.get_key(btid, NAF_ID, c.clock.now) is None
            and await c.store.charging_records() == [])


async def test_key_comes_from_the_home_bsf_through_the_proxy(chain: Chain) -> None:
    key = await chain.keys.get(CONTEXT.btid, NAF_ID)
    assert key is not None
    assert key.key == kdf.ks_naf(KS, RAND, IMPI, NAF_ID)
    assert key.impi == IMPI
    assert key.expires == CONTEXT.created + timedelta(minutes=30)
    [record] = await chain.store.charging_records()
    assert (record.user, record.home_realm, record.naf_id) == (IMPI, HOME, NAF_ID)
    assert record.key_kind == "derived"


@pytest.fixture(params=["bsf", "gba-proxy"])
async def ks_chain(request: pytest.FixtureRequest) -> AsyncIterator[Chain]:
    async for c in _chain(request.param, replace(PARTNER, key=roaming.KeyPolicy.KS)):
        yield c


async def test_ks_from_home_becomes_the_same_ks_naf_and_ks_is_not_kept(ks_chain: Chain
                                                                       ) -> None:
    key = await ks_chain.keys.get(CONTEXT.btid, NAF_ID)
    assert key is not None
    assert key.key == kdf.ks_naf(KS, RAND, IMPI, NAF_ID)
    assert key.key != KS
    [record] = await ks_chain.store.charging_records()
    assert record.key_kind == "ks"


async def test_unknown_home_domain_is_refused_3003(chain: Chain) -> None:
    btid = kdf.btid(RAND, "bsf.mnc099.mcc999.pub.3gppnetwork.org")
    with pytest.raises(KeyUnavailable) as refused:
        await chain.keys.get(btid, NAF_ID)
    assert refused.value.result_code == ResultCode.REALM_NOT_SERVED
    assert await nothing_kept(chain, btid)


async def test_domain_of_no_3gpp_form_is_refused_3003(chain: Chain) -> None:
    btid = kdf.btid(RAND, "bsf.example.com")
    with pytest.raises(KeyUnavailable) as refused:
        await chain.keys.get(btid, NAF_ID)
    assert refused.value.result_code == ResultCode.REALM_NOT_SERVED
    assert await nothing_kept(chain, btid)


async def test_malformed_btid_is_answered_as_unknown(chain: Chain) -> None:
    btid = "not-base64!@bsf.mnc001.mcc001.pub.3gppnetwork.org"
    assert await chain.keys.get(btid, NAF_ID) is None  # 5403: the UE bootstraps again
    assert await nothing_kept(chain, btid)


async def test_unknown_btid_at_home_is_answered_as_unknown(chain: Chain) -> None:
    btid = kdf.btid(bytes(16), SERVER_NAME)
    assert await chain.keys.get(btid, NAF_ID) is None
    assert await nothing_kept(chain, btid)


async def test_key_past_the_partner_lifetime_is_refused(chain: Chain) -> None:
    chain.clock.now = CONTEXT.created + timedelta(minutes=30)
    assert await chain.keys.get(CONTEXT.btid, NAF_ID) is None
    assert await nothing_kept(chain, CONTEXT.btid)


async def test_visited_network_without_agreement_cannot_even_connect(stranger_chain: Chain
                                                                    ) -> None:
    # the home BSF refuses the proxy's CER (3010 DIAMETER_UNKNOWN_PEER): no partner host,
    # no Diameter connection, so the proxy answers the server 3002 (RFC 6733 §7.1.3)
    with pytest.raises(KeyUnavailable) as refused:
        await stranger_chain.keys.get(CONTEXT.btid, NAF_ID)
    assert refused.value.result_code == ResultCode.UNABLE_TO_DELIVER
    assert await nothing_kept(stranger_chain, CONTEXT.btid)


async def test_naf_id_outside_the_partner_domains_is_refused_5402(chain: Chain) -> None:
    naf_id = b"naf.elsewhere.org" + ua_protocols.HTTP_DIGEST
    with pytest.raises(KeyUnavailable) as refused:
        await chain.keys.get(CONTEXT.btid, naf_id)
    assert refused.value.result_code == 5402


async def test_home_bsf_down_is_3002(chain: Chain) -> None:
    await chain.home_server.close()
    with pytest.raises(KeyUnavailable) as refused:
        await chain.keys.get(CONTEXT.btid, NAF_ID)
    assert refused.value.result_code == ResultCode.UNABLE_TO_DELIVER
    assert await nothing_kept(chain, CONTEXT.btid)

"""Load shedding on real sockets (issue 10 item 7): a BSF with in-flight limits of 4, a
slow HSS behind Zh and a slow store behind Zn, driven by 16 concurrent clients. Some
requests are shed (503 with Retry-After on Ub, 3004 with the E bit on Zn), every one that
is admitted completes, and once the load is gone the BSF serves again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from aiohttp import web

from gba.config import DiameterNodeConfig
from gba.crypto import aka, ua_protocols
from gba.errors import ProtocolError
from gba.nf.bsf import Bsf, NafPolicy, zh_fetcher
from gba.nf.common import peer_identity
from gba.nf.hss import Hss
from gba.nf.provisioning import subscriber_from_fields
from gba.protocols import zh, zn
from gba.protocols.diameter import Message, PeerIdentity
from gba.protocols.ratelimit import ChallengeLimits, Rate
from gba.protocols.shedding import InflightLimit
from gba.store.base import BootstrapContext, BsfStore
from gba.store.factory import open_bsf_store, open_subscriber_store
from gba.transport.diameter import DiameterClient, DiameterServer, session_id_factory
from gba.ue.client import GbaClient
from vectors import ts35208_set

K, OPC = ts35208_set(1)[:2]  # TS 35.208 test set 1
REALM = "home.example.org"
NAF_HOST = "naf.example.org"
LIMIT = 4
CLIENTS = 16
DELAY = 0.2
"""Seconds the slow HSS and the slow store take: long enough that 16 requests overlap."""


class SlowStore:
    """A BSF store whose context lookups (the Zn path) take :data:`DELAY` seconds."""

    def __init__(self, inner: BsfStore) -> None:
        self.inner = inner

    async def get_context(self, btid: str, now: datetime) -> BootstrapContext | None:
        await asyncio.sleep(DELAY)
        return await self.inner.get_context(btid, now)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


@dataclass
class Lab:
    bsf: Bsf
    bsf_url: str
    zn_client: DiameterClient
    naf_identity: PeerIdentity


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    hss_id = peer_identity(DiameterNodeConfig("hss." + REALM, REALM))
    bsf_id = peer_identity(DiameterNodeConfig("bsf." + REALM, REALM))
    naf_id = peer_identity(DiameterNodeConfig(NAF_HOST, "example.org"))
    hss = Hss(open_subscriber_store("memory:"), hss_id)
    for i in range(CLIENTS):
        await hss.store.put_subscriber(subscriber_from_fields(f"user{i}@{REALM}", K.hex(),
                                                              opc=OPC.hex()))
    zh_server = DiameterServer(hss_id, [zh.APPLICATION], hss.handle, "127.0.0.1", 0)
    await zh_server.start()
    zh_client = DiameterClient(bsf_id, [zh.APPLICATION], "127.0.0.1", zh_server.port)
    await zh_client.start()
    fetch = zh_fetcher(zh_client, bsf_id, REALM, session_id_factory("bsf"))

    async def slow_fetch(req: zh.VectorRequest) -> zh.VectorAnswer | int:
        await asyncio.sleep(DELAY)
        return await fetch(req)

    store = open_bsf_store("memory:")
    bsf = Bsf(SlowStore(store), slow_fetch, bsf_id, REALM, "bsf." + REALM,  # type: ignore[arg-type]
              NafPolicy({NAF_HOST: frozenset({NAF_HOST})}), key_lifetime=timedelta(hours=1),
              ub_limits=ChallengeLimits(Rate(0), Rate(0)),
              ub_inflight=InflightLimit(LIMIT), zn_inflight=InflightLimit(LIMIT))
    zn_server = DiameterServer(bsf_id, [zn.APPLICATION], bsf.zn, "127.0.0.1", 0)
    await zn_server.start()
    zn_client = DiameterClient(naf_id, [zn.APPLICATION], "127.0.0.1", zn_server.port)
    await zn_client.start()
    runner = web.AppRunner(bsf.ub_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield Lab(bsf, f"http://127.0.0.1:{port}/", zn_client, naf_id)
    finally:
        await runner.cleanup()
        await zn_client.close()
        await zn_server.close()
        await zh_client.close()
        await zh_server.close()
        await store.close()


async def bootstrap(lab: Lab, i: int) -> str:
    """'served' with a B-TID, or 'shed' when the BSF answered 503."""
    async with GbaClient(f"user{i}@{REALM}", aka.Usim(K, OPC), lab.bsf_url) as ue:
        try:
            await ue.bootstrap()
        except ProtocolError as exc:
            refusal = str(exc)
        else:
            return "served"
    assert "503" in refusal, refusal
    return "shed"


async def test_ub_sheds_past_the_limit_and_serves_the_admitted(lab: Lab) -> None:
    outcomes = await asyncio.gather(*(bootstrap(lab, i) for i in range(CLIENTS)))
    assert outcomes.count("shed") > 0
    assert outcomes.count("served") >= 1
    assert lab.bsf.ub_inflight.shed >= outcomes.count("shed")
    assert lab.bsf.ub_inflight.in_flight == 0
    # the load is gone: a UE that was shed now bootstraps
    assert await bootstrap(lab, outcomes.index("shed")) == "served"


async def test_zn_sheds_with_3004_past_the_limit(lab: Lab) -> None:
    async with GbaClient(f"user0@{REALM}", aka.Usim(K, OPC), lab.bsf_url) as ue:
        btid = (await ue.bootstrap()).btid
    await lab.zn_client.wait_open()
    naf_id = NAF_HOST.encode() + ua_protocols.HTTP_DIGEST
    session = session_id_factory(NAF_HOST)

    async def ask() -> Message:
        return await lab.zn_client.request(zn.build_bir(
            lab.naf_identity, REALM, session(), zn.KeyRequest(btid, naf_id)))

    answers = await asyncio.gather(*(ask() for _ in range(CLIENTS)))
    codes = [a.result_code for a in answers]
    busy = [a for a in answers if a.result_code == 3004]
    assert busy
    assert all(a.is_error for a in busy)
    served = [a for a in answers if a.result_code == 2001]
    assert len(served) + len(busy) == CLIENTS, codes
    assert served  # the admitted ones are answered, not shed
    assert zn.parse_bia(served[0]).me_key is not None
    assert lab.bsf.zn_inflight.in_flight == 0
    assert (await ask()).result_code == 2001  # recovered

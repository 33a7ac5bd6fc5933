"""Zpn over loopback Diameter (TS 29.109; docs/push.md §2): a NAF asks the BSF for GBA
Push Info on the same node that serves Zn; the BSF fetches one vector and answers the GPI
and Ks_NAF; the UE, given the GPI, derives the same key and opens the P-TID."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from gba.config import DiameterNodeConfig
from gba.nf.bsf import Bsf, NafPolicy
from gba.nf.bsf_zpn import BsfZpn
from gba.nf.common import peer_identity
from gba.nf.naf import zpn_fetcher
from gba.protocols import gpi, push_keys, zh, zn, zpn
from gba.protocols.diameter import APP_ZN, APP_ZPN, CMD_GBA_PUSH_INFO, Message
from gba.store.factory import open_bsf_store
from gba.transport.diameter import DiameterClient, DiameterNode, session_id_factory
from gba_memory import IMPI, MemoryHss, usim

pytestmark = pytest.mark.push

BSF = peer_identity(DiameterNodeConfig("bsf.home.example.org", "home.example.org"))
NAF = peer_identity(DiameterNodeConfig("push.naf.example", "naf.example"))
NAF_ID = b"push.naf.example\x01\x00\x00\x00\x02"
PTID = b"ptid-0001@push.naf.example"


@dataclass
class Net:
    client: DiameterClient
    hss: MemoryHss
    zpn: BsfZpn


@pytest.fixture
async def net() -> AsyncIterator[Net]:
    hss = MemoryHss()

    async def fetch(request: zh.VectorRequest) -> zh.VectorAnswer | int:
        return hss(request)

    store = open_bsf_store("memory:")
    bsf = Bsf(store, fetch, BSF, "home.example.org", "bsf.home.example.org",
              NafPolicy({NAF.origin_host: frozenset({"push.naf.example"})}),
              key_lifetime=timedelta(hours=1))
    handler = BsfZpn(bsf)
    node = DiameterNode(BSF, [zn.APPLICATION, zpn.APPLICATION])
    node.serve(APP_ZN, None, bsf.zn)
    node.serve(APP_ZPN, CMD_GBA_PUSH_INFO, handler.gpir)
    node.listen("127.0.0.1", 0, authorise=bsf.check_peer)
    await node.start()
    client = DiameterClient(NAF, [zn.APPLICATION, zpn.APPLICATION], "127.0.0.1", node.port)
    await client.start()
    try:
        yield Net(client, hss, handler)
    finally:
        await client.close()
        await node.close()
        await store.close()


def gpir(ue_id: str = IMPI, mode: gpi.UiccMe = gpi.UiccMe.GBA_ME) -> Message:
    return zpn.build_gpir(NAF, "home.example.org", "push.naf.example;1;1",
                          zpn.PushInfoRequest(ue_id, zpn.UeIdType.PRIVATE_USER_IDENTITY,
                                              NAF_ID, PTID, mode,
                                              private_identity_requested=True))


@pytest.mark.parametrize("mode", list(gpi.UiccMe))
async def test_ue_derives_the_naf_key_from_the_gpi(net: Net, mode: gpi.UiccMe) -> None:
    answer = zpn.parse_gpia(await net.client.request(gpir(mode=mode)))
    received = gpi.decode_gpi(answer.gpi)
    assert received.naf_id == NAF_ID
    assert received.mode is mode
    keys = push_keys.ue_push_keys(usim(), IMPI, received.rand, received.autn, NAF_ID,
                                  gba_u=mode is gpi.UiccMe.GBA_U)
    assert keys.ks_naf == answer.me_key
    assert keys.ks_int_naf == answer.uicc_key
    assert gpi.open_ptid(received, keys.ks_naf) == PTID
    assert PTID not in answer.gpi  # the P-TID travels sealed (TS 29.109 §5.5)
    assert answer.impi == IMPI
    assert len(net.hss.requests) == 1
    assert net.zpn.requests == 1
    assert answer.expiry > datetime.now(UTC)


async def test_unknown_ue_is_5401(net: Net) -> None:
    answer = await net.client.request(gpir(ue_id="nobody@home.example.org"))
    assert answer.result_code == 5401


async def test_naf_id_the_naf_may_not_use_is_5402(net: Net) -> None:
    request = zpn.build_gpir(NAF, "home.example.org", "s;1;2", zpn.PushInfoRequest(
        IMPI, zpn.UeIdType.PRIVATE_USER_IDENTITY, b"other.example\x01\x00\x00\x00\x02",
        PTID, gpi.UiccMe.GBA_ME))
    assert (await net.client.request(request)).result_code == 5402
    assert net.hss.requests == []


async def test_public_identity_is_5401(net: Net) -> None:
    request = zpn.build_gpir(NAF, "home.example.org", "s;1;3", zpn.PushInfoRequest(
        "sip:user@home.example.org", zpn.UeIdType.PUBLIC_USER_IDENTITY, NAF_ID, PTID,
        gpi.UiccMe.GBA_ME))
    assert (await net.client.request(request)).result_code == 5401


async def test_naf_fetcher_returns_the_gpi_and_key(net: Net) -> None:
    fetch = zpn_fetcher(net.client, NAF, "home.example.org", session_id_factory("naf"))
    answer = await fetch(zpn.PushInfoRequest(IMPI, zpn.UeIdType.PRIVATE_USER_IDENTITY,
                                             NAF_ID, PTID, gpi.UiccMe.GBA_ME))
    assert isinstance(answer, zpn.PushInfoAnswer)
    received = gpi.decode_gpi(answer.gpi)
    keys = push_keys.ue_push_keys(usim(), IMPI, received.rand, received.autn, NAF_ID)
    assert keys.ks_naf == answer.me_key
    refused = await fetch(zpn.PushInfoRequest("nobody@x", zpn.UeIdType.PRIVATE_USER_IDENTITY,
                                              NAF_ID, PTID, gpi.UiccMe.GBA_ME))
    assert refused == 5401

"""The refusal forms of load shedding (gba.protocols.shedding) at the BSF and the NAF:
Ub and Ua past their limit are 503 with Retry-After, Zn past its limit is
DIAMETER_TOO_BUSY 3004 in an E-bit answer (RFC 6733 §7.1.3); nothing is read or asked
before the check, and the count falls back afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest
from aiohttp import web

from gba.config import DiameterNodeConfig
from gba.crypto import ua_protocols
from gba.nf.bsf import Bsf, NafPolicy
from gba.nf.common import peer_identity
from gba.nf.naf import Naf, NafKeys
from gba.protocols import zh, zn
from gba.protocols.diameter import Message
from gba.protocols.shedding import InflightLimit
from gba.store.base import BsfStore, NafStore
from gba.store.factory import open_bsf_store, open_naf_store

NAF_HOST = "naf.example.org"
BSF_ID = peer_identity(DiameterNodeConfig("bsf.example.org", "example.org"))
NAF_ID = peer_identity(DiameterNodeConfig(NAF_HOST, "example.org"))


async def no_vector(_: zh.VectorRequest) -> zh.VectorAnswer | int:
    raise AssertionError("a shed request must not reach the HSS")


async def no_key(_: zn.KeyRequest) -> zn.KeyAnswer | int:
    raise AssertionError("a shed request must not reach the BSF")


@pytest.fixture
async def bsf_store() -> AsyncIterator[BsfStore]:
    s = open_bsf_store("memory:")
    yield s
    await s.close()


@pytest.fixture
async def naf_store() -> AsyncIterator[NafStore]:
    s = open_naf_store("memory:")
    yield s
    await s.close()


def make_bsf(store: BsfStore, limit: int) -> Bsf:
    return Bsf(store, no_vector, BSF_ID, realm="example.org", server_name="bsf.example.org",
               policy=NafPolicy({NAF_HOST: frozenset({NAF_HOST})}),
               key_lifetime=timedelta(hours=1), ub_inflight=InflightLimit(limit),
               zn_inflight=InflightLimit(limit))


async def get(app: web.Application) -> tuple[int, str | None, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as session, session.get(
                f"http://127.0.0.1:{port}/", headers={"Authorization": "Digest x"}) as reply:
            return reply.status, reply.headers.get("Retry-After"), await reply.text()
    finally:
        await runner.cleanup()


def bir() -> Message:
    return zn.build_bir(NAF_ID, "example.org", f"{NAF_HOST};1;1",
                        zn.KeyRequest("btid@bsf.example.org",
                                      NAF_HOST.encode() + ua_protocols.HTTP_DIGEST))


async def test_zn_past_the_limit_is_3004_with_the_e_bit(bsf_store: BsfStore) -> None:
    bsf = make_bsf(bsf_store, 2)
    assert bsf.zn_inflight.try_enter()  # two in flight
    assert bsf.zn_inflight.try_enter()
    answer = Message.decode((await bsf.zn(Message.decode(bir().encode()), NAF_HOST)).encode())
    assert answer.result_code == 3004
    assert answer.is_error
    assert bsf.zn_inflight.shed == 1
    assert bsf.zn_inflight.in_flight == 2


async def test_zn_under_the_limit_is_served_and_gives_its_place_back(
        bsf_store: BsfStore) -> None:
    bsf = make_bsf(bsf_store, 1)
    answer = await bsf.zn(Message.decode(bir().encode()), NAF_HOST)
    assert answer.result_code != 3004  # the B-TID is unknown: 5401, but served
    assert bsf.zn_inflight.in_flight == 0
    assert bsf.zn_inflight.admitted == 1


async def test_ub_past_the_limit_is_503_with_retry_after(bsf_store: BsfStore) -> None:
    bsf = make_bsf(bsf_store, 1)
    assert bsf.ub_inflight.try_enter()
    status, retry_after, text = await get(bsf.ub_app())
    assert (status, retry_after) == (503, "1")
    assert "busy" in text
    bsf.ub_inflight.leave()
    status, _, _ = await get(bsf.ub_app())
    assert status != 503
    assert bsf.ub_inflight.in_flight == 0


async def test_ua_past_the_limit_is_503_with_retry_after(naf_store: NafStore) -> None:
    naf = Naf(NAF_HOST, NafKeys(naf_store, no_key), ua_inflight=InflightLimit(1))
    assert naf.ua_inflight.try_enter()
    status, retry_after, text = await get(naf.ua_app())
    assert (status, retry_after) == (503, "1")
    assert "busy" in text
    naf.ua_inflight.leave()
    status, _, _ = await get(naf.ua_app())
    assert status != 503
    assert naf.ua_inflight.in_flight == 0

"""An in-process network on real sockets (Zh/Zn over TCP, Ub/Ua over HTTP) with a clock
the test drives: HSS, BSF and NAF objects in this process, talking as they would across
processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from gba.config import DiameterNodeConfig
from gba.nf.bsf import Bsf, NafPolicy, zh_fetcher
from gba.nf.common import peer_identity
from gba.nf.hss import Hss
from gba.nf.naf import Naf, NafKeys, zn_fetcher
from gba.nf.provisioning import subscriber_from_fields
from gba.protocols import ua, zh, zn
from gba.store.factory import open_bsf_store, open_naf_store, open_subscriber_store
from gba.transport.diameter import DiameterClient, DiameterServer, session_id_factory
from vectors import ts35208_set

K, OPC = (value.hex() for value in ts35208_set(1))  # TS 35.208 test set 1
IMPI = "user@home.example.org"


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Net:
    clock: FakeClock
    bsf_url: str
    naf_url: str
    hss: Hss


async def _site(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port: int = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port


@pytest.fixture
async def net() -> AsyncIterator[Net]:
    clock = FakeClock()
    hss_id = peer_identity(DiameterNodeConfig("hss.home.example.org", "home.example.org"))
    bsf_id = peer_identity(DiameterNodeConfig("bsf.home.example.org", "home.example.org"))
    naf_id = peer_identity(DiameterNodeConfig("naf.example.org", "example.org"))
    hss = Hss(open_subscriber_store("memory:"), hss_id)
    await hss.store.put_subscriber(subscriber_from_fields(IMPI, K, opc=OPC))
    zh_server = DiameterServer(hss_id, [zh.APPLICATION], hss.handle, "127.0.0.1", 0)
    await zh_server.start()
    zh_client = DiameterClient(bsf_id, [zh.APPLICATION], "127.0.0.1", zh_server.port)
    await zh_client.start()
    bsf = Bsf(open_bsf_store("memory:"), zh_fetcher(zh_client, bsf_id, "home.example.org",
                                                    session_id_factory("bsf")),
              bsf_id, "home.example.org", "bsf.home.example.org",
              NafPolicy({"naf.example.org": frozenset({"naf.example.org"})}),
              key_lifetime=timedelta(hours=1), clock=clock)
    zn_server = DiameterServer(bsf_id, [zn.APPLICATION], bsf.zn, "127.0.0.1", 0)
    await zn_server.start()
    zn_client = DiameterClient(naf_id, [zn.APPLICATION], "127.0.0.1", zn_server.port)
    await zn_client.start()
    naf = Naf("naf.example.org", NafKeys(open_naf_store("memory:"), zn_fetcher(
        zn_client, naf_id, "home.example.org", session_id_factory("naf")), clock=clock),
        ua.NonceMint(lifetime=timedelta(days=1)), clock=clock)
    ub_runner, ub_port = await _site(bsf.ub_app())
    ua_runner, ua_port = await _site(naf.ua_app())
    yield Net(clock, f"http://127.0.0.1:{ub_port}/", f"http://127.0.0.1:{ua_port}/res", hss)
    await ua_runner.cleanup()
    await ub_runner.cleanup()
    await zn_client.close()
    await zn_server.close()
    await zh_client.close()
    await zh_server.close()



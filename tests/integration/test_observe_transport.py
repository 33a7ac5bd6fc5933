"""Metrics on real sockets: a Diameter node tells its observer of every request it
answers or sends and says which peers are open; the metrics site serves the text
exposition and the status document, read-only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from gba.config import Address, DiameterNodeConfig
from gba.nf.common import peer_identity
from gba.nf.services import http_site
from gba.observe.endpoint import make_app
from gba.observe.metrics import Metrics
from gba.protocols import zn
from gba.protocols.diameter import Message
from gba.transport.diameter import DiameterClient, DiameterServer

SERVER = peer_identity(DiameterNodeConfig("bsf.test", "test"))
CLIENT = peer_identity(DiameterNodeConfig("naf.test", "test"))


async def answer_5403(request: Message, peer: str) -> Message:
    return zn.build_bia_error(request, SERVER, 5403)


def bir() -> Message:
    return zn.build_bir(CLIENT, "test", "naf.test;1;1",
                        zn.KeyRequest("AAAAAAAAAAAAAAAAAAAAAA==@bsf.test", b"naf.test" + bytes(5)))


def sample(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return None


@pytest.fixture
async def pair() -> AsyncIterator[tuple[DiameterServer, DiameterClient]]:
    server = DiameterServer(SERVER, [zn.APPLICATION], answer_5403, "127.0.0.1", 0)
    await server.start()
    client = DiameterClient(CLIENT, [zn.APPLICATION], "127.0.0.1", server.port,
                            retry_delay=0.05, max_retry_delay=0.1)
    yield server, client
    await client.close()
    await server.close()


async def test_a_node_counts_requests_both_ways_and_shows_its_peers(
        pair: tuple[DiameterServer, DiameterClient]) -> None:
    server, client = pair
    metrics = Metrics()
    metrics.function("bsf").watch_node(server)
    metrics.function("naf").watch_node(client)
    assert client.peer_states() == {f"127.0.0.1:{server.port}": False}
    await client.start()
    for _ in range(2):
        assert (await client.request(bir())).result_code == 5403
    assert client.peer_states() == {"bsf.test": True}
    assert server.peer_states() == {"naf.test": True}

    text = (await metrics.exposition()).decode()
    labels = {"interface": "zn", "command": "BIR", "result": "5403"}
    assert sample(text, "gba_requests_total", function="bsf", **labels) == 2
    assert sample(text, "gba_diameter_sent_total", function="naf", **labels) == 2
    assert sample(text, "gba_requests_total", function="naf", **labels) is None
    assert sample(text, "gba_diameter_peer_up", function="naf", peer="bsf.test") == 1
    assert sample(text, "gba_diameter_peer_up", function="bsf", peer="naf.test") == 1

    await server.close()
    for _ in range(500):  # the link ends once the server's DPR is in: at most 5 s
        if client.peer_states() == {"bsf.test": False}:
            break
        await asyncio.sleep(0.01)
    assert client.peer_states() == {"bsf.test": False}
    text = (await metrics.exposition()).decode()
    assert sample(text, "gba_diameter_peer_up", function="naf", peer="bsf.test") == 0


async def test_the_metrics_site_serves_the_exposition_and_the_status_read_only(
        pair: tuple[DiameterServer, DiameterClient]) -> None:
    server, client = pair
    metrics = Metrics()
    observed = metrics.function("bsf")
    observed.watch_node(server)
    runner = await http_site(make_app(metrics, observed), Address("127.0.0.1", 0))
    try:
        host, port = runner.addresses[0][:2]
        base = f"http://{host}:{port}"
        await client.start()
        await client.request(bir())
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/metrics") as r:
                assert r.status == 200
                assert r.headers["Content-Type"] == CONTENT_TYPE_LATEST
                text = await r.text()
            async with http.get(f"{base}/status.json") as r:
                assert r.status == 200
                doc = await r.json()
            async with http.post(f"{base}/metrics") as r:
                assert r.status == 405
            async with http.get(f"{base}/other") as r:
                assert r.status == 404
    finally:
        await runner.cleanup()
    assert sample(text, "gba_requests_total", function="bsf", interface="zn", command="BIR",
                  result="5403") == 1
    assert doc["function"] == "bsf"
    assert doc["peers"] == [{"host": "naf.test", "state": "open"}]

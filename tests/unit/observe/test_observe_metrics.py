"""Metrics of a network function (gba.observe.metrics) and its status document
(gba.observe.endpoint), fed by the real handlers in this process, without sockets: the
HSS's Zh handler, the NAF's key cache, the BSF's store, an HTTP middleware.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import prometheus_client
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from prometheus_client.parser import text_string_to_metric_families

from gba.config import DiameterNodeConfig
from gba.nf.common import peer_identity
from gba.nf.hss import Hss
from gba.nf.naf import NafKeys
from gba.observe.endpoint import STATUS_LIMIT, status
from gba.observe.metrics import (
    FunctionMetrics,
    Identity,
    Metrics,
    diameter_command,
    diameter_interface,
    diameter_result,
    http_method,
)
from gba.protocols import zh, zn
from gba.protocols.diameter import Message
from gba.store.base import BootstrapContext, Subscriber
from gba.store.factory import open_bsf_store, open_naf_store, open_subscriber_store
from gba.store.sqlite import SqliteSubscriberStore
from gba.transport.diameter import Observer
from gba.transport.http import observing
from vectors import ts35208_set

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
IMPI = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
K, OPC = ts35208_set(1)
BSF = peer_identity(DiameterNodeConfig("bsf.example.org", "example.org"))
HSS = peer_identity(DiameterNodeConfig("hss.example.org", "example.org"))
NAF_ID = b"naf.example.org\x01\x00\x00\x00\x02"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition, by (name, labels)."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


async def scrape(metrics: Metrics) -> Samples:
    return samples((await metrics.exposition()).decode("utf-8"))


def mar(impi: str) -> Message:
    return zh.build_mar(BSF, "example.org", "bsf.example.org;1;1",
                        zh.VectorRequest(impi, None, None)).with_ids(1, 2)


@pytest.fixture
async def subscribers() -> AsyncIterator[SqliteSubscriberStore]:
    store = SqliteSubscriberStore(":memory:")
    await store.put_subscriber(Subscriber(IMPI, K, OPC, imsi="001010000000001"))
    yield store
    await store.close()


# ------------------------------------------------------------------ labels


def test_label_values_come_from_bounded_sets() -> None:
    assert (diameter_interface(16777221), diameter_interface(16777220)) == ("zh", "zn")
    assert diameter_interface(4242) == "other"
    assert (diameter_command(303), diameter_command(310), diameter_command(77)) == (
        "MAR", "BIR", "other")
    assert [diameter_result(c) for c in (2001, 5401, 3004, 4999, 123456, None)] == [
        "2001", "5401", "3004", "4xxx", "other", "none"]
    assert (http_method("GET"), http_method("BREW")) == ("GET", "other")


def test_each_metrics_has_its_own_registry_and_the_default_one_has_none() -> None:
    one, two = Metrics(), Metrics()
    one.function("bsf").request("ub", "GET", "401", 0.01)
    assert one.registry is not two.registry
    names = {m.name for m in prometheus_client.REGISTRY.collect()}
    assert not any(n.startswith("gba_") for n in names)


# ------------------------------------------------------------------ Diameter


async def test_zh_answers_of_the_hss_handler_are_counted_by_result(
        subscribers: SqliteSubscriberStore) -> None:
    metrics = Metrics()
    hss_metrics = metrics.function("hss")
    hss_metrics.subscribers = subscribers
    observer: Observer = hss_metrics.diameter
    hss = Hss(subscribers, HSS)
    for impi in (IMPI, IMPI, "nobody@example.org"):
        request = mar(impi)
        observer(request, await hss.handle(request, "bsf.example.org"), 0.003, False)
    found = await scrape(metrics)
    labels = {"function": "hss", "interface": "zh", "command": "MAR"}
    assert value(found, "gba_requests_total", **labels, result="2001") == 2
    assert value(found, "gba_requests_total", **labels, result="5401") == 1
    assert value(found, "gba_request_duration_seconds_count", **labels) == 3
    assert value(found, "gba_hss_unknown_impi_requests_total", function="hss") == 1


async def test_requests_a_node_originates_are_counted_apart() -> None:
    metrics = Metrics()
    request = zn.build_bir(BSF, "example.org", "naf;1;1",
                           zn.KeyRequest("btid@bsf.example.org", NAF_ID))
    metrics.function("naf").diameter(request, None, 5.0, True)
    found = await scrape(metrics)
    assert value(found, "gba_diameter_sent_total", function="naf", interface="zn",
                 command="BIR", result="none") == 1
    assert not any(name == "gba_requests_total" for name, _ in found)


class FakeNode:
    def __init__(self, states: dict[str, bool]) -> None:
        self.states = states
        self.observer: Observer | None = None

    def peer_states(self) -> dict[str, bool]:
        return self.states


async def test_peer_state_is_one_for_an_open_peer_and_zero_for_a_down_one() -> None:
    metrics = Metrics()
    node = FakeNode({"bsf.example.org": True, "dra.example.net": False})
    metrics.function("naf").watch_node(node)
    assert node.observer is not None  # the node now reports its requests
    found = await scrape(metrics)
    assert value(found, "gba_diameter_peer_up", function="naf", peer="bsf.example.org") == 1
    assert value(found, "gba_diameter_peer_up", function="naf", peer="dra.example.net") == 0
    node.states = {"bsf.example.org": True}
    found = await scrape(metrics)
    assert value(found, "gba_diameter_peer_up", function="naf", peer="dra.example.net") is None


# ------------------------------------------------------------------ stores and caches


async def test_active_contexts_are_read_from_the_bsf_store_when_scraped() -> None:
    metrics = Metrics()
    bsf_metrics = metrics.function("bsf")
    bsf_metrics.clock = lambda: NOW
    store = open_bsf_store("memory:")
    try:
        bsf_metrics.contexts = store
        assert value(await scrape(metrics), "gba_bsf_contexts_active", function="bsf") == 0
        for n, hours in enumerate((1, 2, -1)):
            await store.put_context(BootstrapContext(
                btid=f"b{n}@bsf.example.org", impi=IMPI, ks=bytes(32), rand=bytes(16),
                created=NOW - timedelta(hours=2), expires=NOW + timedelta(hours=hours)))
        assert value(await scrape(metrics), "gba_bsf_contexts_active", function="bsf") == 2
    finally:
        await store.close()


async def test_the_naf_key_cache_counts_hits_and_misses() -> None:
    metrics = Metrics()
    naf_metrics = metrics.function("naf")
    naf_metrics.clock = lambda: NOW
    store = open_naf_store("memory:")

    async def fetch(req: zn.KeyRequest) -> zn.KeyAnswer | int:
        return zn.KeyAnswer(IMPI, NOW + timedelta(hours=1), NOW, me_key=bytes(32))

    keys = NafKeys(store, fetch, clock=lambda: NOW)
    naf_metrics.keys = keys
    try:
        for _ in range(3):
            assert await keys.get("btid@bsf.example.org", NAF_ID) is not None
        found = await scrape(metrics)
    finally:
        await store.close()
    assert value(found, "gba_naf_key_cache_total", function="naf", result="miss") == 1
    assert value(found, "gba_naf_key_cache_total", function="naf", result="hit") == 2
    assert value(found, "gba_naf_keys_cached", function="naf") == 1


# ------------------------------------------------------------------ HTTP middleware


async def _ok(_: web.Request) -> web.StreamResponse:
    return web.Response(status=401)


async def _forbidden(_: web.Request) -> web.StreamResponse:
    raise web.HTTPForbidden()


async def _broken(_: web.Request) -> web.StreamResponse:
    raise RuntimeError("a bug")


async def test_the_http_middleware_counts_each_request_by_method_and_status() -> None:
    metrics = Metrics()
    middleware = observing(metrics.function("bsf").http("ub"))
    await middleware(make_mocked_request("GET", "/"), _ok)
    with pytest.raises(web.HTTPForbidden):
        await middleware(make_mocked_request("POST", "/"), _forbidden)
    with pytest.raises(RuntimeError):
        await middleware(make_mocked_request("BREW", "/"), _broken)
    found = await scrape(metrics)
    base = {"function": "bsf", "interface": "ub"}
    assert value(found, "gba_requests_total", **base, command="GET", result="401") == 1
    assert value(found, "gba_requests_total", **base, command="POST", result="403") == 1
    assert value(found, "gba_requests_total", **base, command="other", result="500") == 1


# ------------------------------------------------------------------ status


def _forms(secret: bytes) -> list[str]:
    return [secret.hex(), secret.hex().upper(), base64.b64encode(secret).decode().rstrip("=")]


async def test_status_lists_contexts_and_subscribers_without_key_material(
        subscribers: SqliteSubscriberStore) -> None:
    metrics = Metrics()
    bsf_metrics = metrics.function("bsf")
    bsf_metrics.identity = Identity("bsf", "home", "example.org")
    bsf_metrics.clock = lambda: NOW
    bsf_metrics.watch_node(FakeNode({"hss.example.org": True}))
    store = open_bsf_store("memory:")
    ks = bytes(range(100, 132))
    try:
        for n in range(STATUS_LIMIT + 5):
            await store.put_context(BootstrapContext(
                btid=f"b{n}@bsf.example.org", impi=f"u{n}@example.org", ks=ks,
                rand=bytes(range(16)), created=NOW, expires=NOW + timedelta(minutes=n + 1)))
        bsf_metrics.contexts = store
        doc: dict[str, Any] = await status(bsf_metrics)
    finally:
        await store.close()
    assert (doc["function"], doc["kind"], doc["network"], doc["realm"]) == (
        "bsf", "bsf", "home", "example.org")
    assert doc["peers"] == [{"host": "hss.example.org", "state": "open"}]
    assert len(doc["contexts"]) == STATUS_LIMIT
    assert doc["contexts"][0] == {"btid": f"b{STATUS_LIMIT + 4}@bsf.example.org",
                                  "impi": f"u{STATUS_LIMIT + 4}@example.org",
                                  "expires": (NOW + timedelta(minutes=STATUS_LIMIT + 5))
                                  .isoformat()}

    hss_metrics = metrics.function("hss")
    hss_metrics.subscribers = subscribers
    hss_doc = await status(hss_metrics)
    assert hss_doc["subscribers"] == [{"impi": IMPI, "imsi": "001010000000001",
                                       "sqn": "000000000000"}]
    text = json.dumps([doc, hss_doc])
    leaks = [form for secret in (ks, K, OPC) for form in _forms(secret) if form in text]
    assert not leaks


async def test_forget_drops_the_sources_of_a_stopped_function() -> None:
    metrics = Metrics()
    fm: FunctionMetrics = metrics.function("naf")
    fm.watch_node(FakeNode({"bsf.example.org": True}))
    fm.keys_cached = 3
    fm.forget()
    found = await scrape(metrics)
    assert not any(name in ("gba_diameter_peer_up", "gba_naf_keys_cached")
                   for name, _ in found)
    assert metrics.function("naf") is fm


async def test_a_failing_store_leaves_its_sample_out() -> None:
    metrics = Metrics()
    fm = metrics.function("hss")
    store = open_subscriber_store("memory:")
    await store.close()  # every read now fails with a StoreError
    fm.subscribers = store
    found = await scrape(metrics)
    assert value(found, "gba_hss_unknown_impi_requests_total", function="hss") is None


async def test_more_status_parts_are_read_when_the_status_is_asked_for() -> None:
    fm = Metrics().function("naf")
    calls: list[int] = []

    def recent() -> object:
        calls.append(1)
        return [{"summary": "BIR"}]

    fm.status_parts["recent"] = recent
    assert calls == []
    assert (await status(fm))["recent"] == [{"summary": "BIR"}]
    fm.forget()
    assert "recent" not in await status(fm)

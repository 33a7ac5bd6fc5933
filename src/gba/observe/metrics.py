"""Prometheus metrics of the network functions of one process.

:class:`Metrics` owns a ``CollectorRegistry`` of its own (never prometheus_client's global
default); :func:`process_metrics` is the one of this process. Each function of the process
records under its name (:meth:`Metrics.function`, a :class:`FunctionMetrics`):

``gba_requests_total{function,interface,command,result}``
    requests served: HTTP (interface ``ub``, ``ua``, ``ua_psk``, ``rest``; command the
    method; result the status; and each PSK-TLS handshake, command ``handshake``, result
    ``ok`` or ``failed``) and Diameter (interface ``zh``, ``zn``, ``zpn``; command
    ``MAR``, ``BIR``, ...; result the answer's Result-Code or Experimental-Result-Code).
``gba_request_duration_seconds{function,interface,command}``
    their latency, a histogram.
``gba_diameter_sent_total{function,interface,command,result}`` and
``gba_diameter_sent_duration_seconds{function,interface,command}``
    Diameter requests originated here (the BSF's MAR, the NAF's BIR); result ``none`` when
    no answer came.
``gba_diameter_peer_up{function,peer}``
    1 while the connection to a peer is open, 0 while a configured peer is not.
``gba_bsf_contexts_active{function}``
    live bootstrapping contexts in the BSF's store (counted at most up to
    :data:`gba.store.COUNT_CAP`).
``gba_naf_key_cache_total{function,result}``
    Ks_NAF lookups answered by the NAF's cache (``hit``) or sent to the BSF (``miss``);
    ``gba_naf_keys_cached{function}`` the live keys cached.
``gba_hss_unknown_impi_requests_total{function}``
    vectors asked for IMPIs the HSS does not have (its store's count).

Every label value comes from a bounded set: a command, method or result code a peer
invents is counted as ``other``. Store counts and peer states are read when scraped
(:meth:`Metrics.exposition`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gba.clock import Clock, utc_now
from gba.errors import GbaError
from gba.protocols.diameter import Message
from gba.protocols.diameter import dictionary as d
from gba.store.base import BsfStore, NafStore, SubscriberStore
from gba.transport.diameter import Observer
from gba.transport.http import HttpObserver

log = logging.getLogger(__name__)

DIAMETER_INTERFACES: dict[int, str] = {d.APP_ZH: "zh", d.APP_ZN: "zn", d.APP_ZPN: "zpn"}
"""Application-Id -> interface label (TS 29.109)."""
DIAMETER_COMMANDS: dict[int, str] = {
    d.CMD_MULTIMEDIA_AUTH: "MAR", d.CMD_BOOTSTRAPPING_INFO: "BIR", d.CMD_GBA_PUSH_INFO: "GPI",
    d.CMD_CAPABILITIES_EXCHANGE: "CER", d.CMD_DEVICE_WATCHDOG: "DWR",
    d.CMD_DISCONNECT_PEER: "DPR"}
"""Command-Code -> command label (the request's abbreviation)."""
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
_RESULT_CODES = frozenset(int(c) for c in (*d.ResultCode, *d.ExperimentalResultCode))
OTHER = "other"

def diameter_interface(application_id: int) -> str:
    return DIAMETER_INTERFACES.get(application_id, OTHER)


def diameter_command(command_code: int) -> str:
    return DIAMETER_COMMANDS.get(command_code, OTHER)


def diameter_result(code: int | None) -> str:
    """A Result-Code of RFC 6733 §7.1 or TS 29.109 as itself, any other by its class
    (``3xxx``), ``none`` when the answer has none."""
    if code is None:
        return "none"
    if code in _RESULT_CODES:
        return str(code)
    return f"{code // 1000}xxx" if 1000 <= code < 6000 else OTHER


def http_method(method: str) -> str:
    return method if method in HTTP_METHODS else OTHER


def http_result(status: int) -> str:
    return str(status) if 100 <= status <= 599 else OTHER


class ObservedNode(Protocol):
    """A Diameter node (:class:`gba.transport.diameter.DiameterNode`): it tells its
    observer of each request, and says which peers are open."""

    observer: Observer | None

    def peer_states(self) -> dict[str, bool]: ...


class KeyCache(Protocol):
    """The NAF's key cache (:class:`gba.nf.naf.NafKeys`): its counts and its store."""

    @property
    def hits(self) -> int: ...

    @property
    def misses(self) -> int: ...

    @property
    def store(self) -> NafStore: ...


@dataclass(frozen=True, slots=True)
class Identity:
    """Which function a status document describes."""

    kind: str = ""
    network: str = ""
    realm: str = ""


class FunctionMetrics:
    """What one network function records and exposes: its requests (through
    :meth:`http` and :meth:`diameter`) and the sources read at scrape time (its Diameter
    node, its BSF or HSS store, its NAF key cache)."""

    def __init__(self, metrics: Metrics, name: str, clock: Clock = utc_now) -> None:
        self.metrics = metrics
        self.name = name
        self.clock = clock
        self.identity = Identity()
        self.nodes: list[ObservedNode] = []
        self.contexts: BsfStore | None = None
        self.subscribers: SubscriberStore | None = None
        self.keys: KeyCache | None = None
        self._children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}
        """The counter and histogram series of each (interface, command, result)."""
        self.status_parts: dict[str, Callable[[], object]] = {}
        """More parts of the status document, by key, each read when it is asked for
        (e.g. a recorder's recent messages); JSON values, never key material."""
        self.contexts_active: int | None = None
        self.keys_cached: int | None = None
        self.unknown_impi: int | None = None

    # ------------------------------------------------------------------ requests

    def http(self, interface: str) -> HttpObserver:
        """The observer of an HTTP interface (``ub``, ``ua``, ``ua_psk``, ``rest``)."""
        def observe(method: str, status: int, seconds: float) -> None:
            self.request(interface, http_method(method), http_result(status), seconds)
        return observe

    def psk_handshake(self, established: bool, seconds: float) -> None:
        """A PSK-TLS handshake on Ua (:class:`gba.transport.psk_tls.PskTlsServer`): counted
        as interface ``ua_psk``, command ``handshake``, result ``ok`` or ``failed`` (an
        unknown B-TID, a wrong key, a stall past the deadline, a refusal by the caps)."""
        self.request("ua_psk", "handshake", "ok" if established else "failed", seconds)

    def request(self, interface: str, command: str, result: str, seconds: float) -> None:
        key = (interface, command, result)
        children = self._children.get(key)
        if children is None:  # labels() takes a lock and builds a key: once per series
            m = self.metrics
            children = self._children[key] = (
                m.requests.labels(self.name, interface, command, result),
                m.duration.labels(self.name, interface, command))
        children[0].inc()
        children[1].observe(seconds)

    def diameter(self, request: Message, answer: Message | None, seconds: float,
                 originated: bool) -> None:
        """A Diameter node's observer (:data:`gba.transport.diameter.Observer`)."""
        interface = diameter_interface(request.application_id)
        command = diameter_command(request.command_code)
        result = diameter_result(answer.result_code if answer is not None else None)
        if not originated:
            self.request(interface, command, result, seconds)
            return
        m = self.metrics
        m.sent.labels(self.name, interface, command, result).inc()
        m.sent_duration.labels(self.name, interface, command).observe(seconds)

    # ------------------------------------------------------------------ sources

    def watch_node(self, node: ObservedNode) -> None:
        """Count the requests of a Diameter node and show its peers."""
        node.observer = self.diameter
        self.nodes.append(node)

    def forget(self) -> None:
        """Drop the sources (the function stopped; its stores are closed)."""
        self.nodes.clear()
        self.contexts = self.subscribers = self.keys = None
        self.status_parts.clear()
        self.contexts_active = self.keys_cached = self.unknown_impi = None

    def peer_states(self) -> dict[str, bool]:
        states: dict[str, bool] = {}
        for node in self.nodes:
            for peer, up in node.peer_states().items():
                states[peer] = states.get(peer, False) or up
        return states

    async def refresh(self) -> None:
        """Read the store counts (a store that fails leaves its sample out)."""
        now = self.clock()
        self.contexts_active = await _read(
            self.contexts.count_contexts(now) if self.contexts is not None else None)
        self.keys_cached = await _read(
            self.keys.store.count_keys(now) if self.keys is not None else None)
        self.unknown_impi = await _read(
            self.subscribers.unknown_impi_requests() if self.subscribers is not None
            else None)


async def _read(count: Awaitable[int] | None) -> int | None:
    if count is None:
        return None
    try:
        return await count
    except GbaError as exc:
        log.warning("metrics: a store count failed: %s", exc)
        return None


class Metrics:
    """The metrics of one process, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "gba_requests", "Requests served, by interface, command and result code",
            ("function", "interface", "command", "result"), registry=r)
        self.duration = Histogram(
            "gba_request_duration_seconds", "Time to answer a request served",
            ("function", "interface", "command"), registry=r)
        self.sent = Counter(
            "gba_diameter_sent", "Diameter requests originated, by interface, command and "
            "result code (none: no answer)",
            ("function", "interface", "command", "result"), registry=r)
        self.sent_duration = Histogram(
            "gba_diameter_sent_duration_seconds", "Time to the answer of a Diameter request "
            "originated", ("function", "interface", "command"), registry=r)
        self.functions: dict[str, FunctionMetrics] = {}
        r.register(_Live(self.functions))

    def function(self, name: str) -> FunctionMetrics:
        """The metrics of function *name* (made on first use)."""
        found = self.functions.get(name)
        if found is None:
            found = self.functions[name] = FunctionMetrics(self, name)
        return found

    async def exposition(self) -> bytes:
        """Every metric in the Prometheus text format, store counts read now."""
        for function in list(self.functions.values()):
            await function.refresh()
        return generate_latest(self.registry)


class _Live(Collector):
    """The values read at scrape time: peers, store counts, key cache counts."""

    def __init__(self, functions: dict[str, FunctionMetrics]) -> None:
        self.functions = functions

    def collect(self) -> Iterable[Metric]:
        return list(self._families())

    def _families(self) -> Iterator[Metric]:
        functions = list(self.functions.values())
        peers = GaugeMetricFamily("gba_diameter_peer_up",
                                  "1 while the Diameter connection to a peer is open",
                                  labels=("function", "peer"))
        contexts = GaugeMetricFamily("gba_bsf_contexts_active",
                                     "Live bootstrapping contexts in the BSF's store",
                                     labels=("function",))
        cache = CounterMetricFamily("gba_naf_key_cache",
                                    "Ks_NAF lookups answered by the NAF's cache (hit) or "
                                    "sent to the BSF (miss)", labels=("function", "result"))
        cached = GaugeMetricFamily("gba_naf_keys_cached", "Live keys in the NAF's cache",
                                   labels=("function",))
        unknown = CounterMetricFamily("gba_hss_unknown_impi_requests",
                                      "Vectors asked for IMPIs the HSS does not have",
                                      labels=("function",))
        for f in functions:
            for peer, up in sorted(f.peer_states().items()):
                peers.add_metric((f.name, peer), 1.0 if up else 0.0)
            if f.contexts_active is not None:
                contexts.add_metric((f.name,), f.contexts_active)
            if f.keys is not None:
                cache.add_metric((f.name, "hit"), f.keys.hits)
                cache.add_metric((f.name, "miss"), f.keys.misses)
            if f.keys_cached is not None:
                cached.add_metric((f.name,), f.keys_cached)
            if f.unknown_impi is not None:
                unknown.add_metric((f.name,), f.unknown_impi)
        yield from (peers, contexts, cache, cached, unknown)


_PROCESS: Metrics | None = None


def process_metrics() -> Metrics:
    """The metrics of this process (one registry, every function of the process)."""
    global _PROCESS
    if _PROCESS is None:
        _PROCESS = Metrics()
    return _PROCESS

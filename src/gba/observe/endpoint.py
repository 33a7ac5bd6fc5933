"""The read-only observability site of a function: ``GET /metrics`` and ``GET /status.json``.

``/metrics`` is the Prometheus text exposition of the process's registry
(:mod:`gba.observe.metrics`). ``/status.json`` describes the function for a status page::

    {"function": "bsf", "kind": "bsf", "network": "default", "realm": "...",
     "peers": [{"host": "hss.example.org", "state": "open"}],
     "contexts": [{"btid": "...", "impi": "...", "expires": "2030-01-01T00:00:00+00:00"}]}

with, by kind, ``contexts`` (BSF: up to :data:`STATUS_LIMIT` live bootstrapping contexts,
latest expiry first), ``subscribers`` (HSS: up to :data:`STATUS_LIMIT`, each ``impi``,
``imsi``, ``sqn`` in hex; never K or OPc) or ``keys_cached`` (NAF: how many live keys),
and whatever :attr:`~gba.observe.metrics.FunctionMetrics.status_parts` adds.
Neither carries key material; both are built from identifiers and counts only.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from gba.errors import GbaError
from gba.observe.metrics import FunctionMetrics, Metrics

log = logging.getLogger(__name__)

STATUS_LIMIT: Final = 50
"""The most contexts or subscribers one status document lists."""


async def status(function: FunctionMetrics) -> dict[str, Any]:
    """The status document of *function* (store errors propagate as GbaError)."""
    ident = function.identity
    doc: dict[str, Any] = {
        "function": function.name, "kind": ident.kind, "network": ident.network,
        "realm": ident.realm,
        "peers": [{"host": host, "state": "open" if up else "closed"}
                  for host, up in sorted(function.peer_states().items())]}
    now = function.clock()
    if function.contexts is not None:
        doc["contexts"] = [
            {"btid": c.btid, "impi": c.impi, "expires": c.expires.isoformat()}
            for c in await function.contexts.live_contexts(now, STATUS_LIMIT)]
    if function.subscribers is not None:
        doc["subscribers"] = [
            {"impi": s.impi, "imsi": s.imsi, "sqn": f"{s.sqn:012x}"}
            for s in await function.subscribers.list_subscribers(STATUS_LIMIT)]
    if function.keys is not None:
        doc["keys_cached"] = await function.keys.store.count_keys(now)
    for key, part in function.status_parts.items():
        doc.setdefault(key, part())
    return doc


def make_app(metrics: Metrics, function: FunctionMetrics) -> web.Application:
    """``GET /metrics`` and ``GET /status.json`` of *function* (and HEAD of each)."""
    async def scrape(_: web.Request) -> web.Response:
        return web.Response(body=await metrics.exposition(),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def status_json(_: web.Request) -> web.Response:
        try:
            doc = await status(function)
        except GbaError as exc:
            log.warning("status of %s: %s", function.name, exc)
            return web.json_response({"function": function.name, "error": str(exc)},
                                     status=503)
        return web.json_response(doc, headers={"Cache-Control": "no-store"})

    app = web.Application(client_max_size=4096)
    app.router.add_get("/metrics", scrape)
    app.router.add_get("/status.json", status_json)
    return app

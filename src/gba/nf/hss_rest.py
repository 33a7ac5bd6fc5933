"""A small REST provisioning API on the HSS, described by OpenAPI 3.0 at /openapi.json.

GET /subscribers, GET/PUT/DELETE /subscribers/{impi}. Keys are write-only: no answer
ever carries K or OPc.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from gba.errors import CodecError, InvalidInput, NotFound
from gba.nf.provisioning import subscriber_from_fields, subscriber_view
from gba.store.base import SubscriberStore

log = logging.getLogger(__name__)

_SUBSCRIBER_IN = {
    "type": "object", "required": ["k"],
    "properties": {
        "k": {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"},
        "opc": {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"},
        "op": {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"},
        "imsi": {"type": "string", "pattern": "^[0-9]{5,15}$"},
        "sqn": {"type": "string", "pattern": "^[0-9a-fA-F]{12}$"},
        "amf": {"type": "string", "pattern": "^[0-9a-fA-F]{4}$"},
        "guss": {"type": "string", "description": "GUSS XML, TS 29.109 Annex A"},
    },
    "additionalProperties": False,
}
_SUBSCRIBER_OUT = {
    "type": "object",
    "properties": {"impi": {"type": "string"}, "imsi": {"type": "string", "nullable": True},
                   "sqn": {"type": "string"}, "seq": {"type": "integer"},
                   "ind": {"type": "integer"}, "amf": {"type": "string"},
                   "guss": {"type": "string", "nullable": True}},
}
_FIELDS = frozenset({"k", "opc", "op", "imsi", "sqn", "amf", "guss"})
_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}}
_IMPI = {"name": "impi", "in": "path", "required": True, "schema": {"type": "string"}}


def _resp(desc: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {"schema": schema}}}


OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "gba HSS provisioning", "version": "1.0.0"},
    "paths": {
        "/subscribers": {"get": {"summary": "List subscribers", "responses": {
            "200": _resp("subscribers", {"type": "array", "items": _SUBSCRIBER_OUT})}}},
        "/subscribers/{impi}": {
            "parameters": [_IMPI],
            "get": {"summary": "One subscriber", "responses": {
                "200": _resp("subscriber", _SUBSCRIBER_OUT), "404": _resp("unknown", _ERROR)}},
            "put": {"summary": "Create or replace a subscriber",
                    "requestBody": {"required": True, "content": {
                        "application/json": {"schema": _SUBSCRIBER_IN}}},
                    "responses": {"200": _resp("stored", _SUBSCRIBER_OUT),
                                  "400": _resp("bad input", _ERROR)}},
            "delete": {"summary": "Delete a subscriber", "responses": {
                "204": {"description": "deleted"}, "404": _resp("unknown", _ERROR)}},
        },
    },
}


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def make_app(store: SubscriberStore) -> web.Application:
    routes = web.RouteTableDef()

    @routes.get("/openapi.json")
    async def openapi(_: web.Request) -> web.Response:
        return web.json_response(OPENAPI)

    @routes.get("/subscribers")
    async def list_all(_: web.Request) -> web.Response:
        return web.json_response([subscriber_view(s) for s in await store.list_subscribers()])

    @routes.get("/subscribers/{impi}")
    async def get_one(request: web.Request) -> web.Response:
        try:
            return web.json_response(subscriber_view(
                await store.get_subscriber(request.match_info["impi"])))
        except NotFound:
            return _error(404, "unknown IMPI")

    @routes.put("/subscribers/{impi}")
    async def put_one(request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "body is not JSON")
        if not isinstance(body, dict) or not all(isinstance(v, str) for v in body.values()):
            return _error(400, "body must be an object of strings")
        unknown = set(body) - _FIELDS
        if unknown:
            return _error(400, f"unknown fields: {', '.join(sorted(unknown))}")
        if "k" not in body:
            return _error(400, "k is required")
        try:
            sub = subscriber_from_fields(request.match_info["impi"], **body)
        except (InvalidInput, CodecError) as exc:
            return _error(400, str(exc))
        await store.put_subscriber(sub)
        log.info("provisioned %s", sub.impi)
        return web.json_response(subscriber_view(sub))

    @routes.delete("/subscribers/{impi}")
    async def delete_one(request: web.Request) -> web.Response:
        if await store.delete_subscriber(request.match_info["impi"]):
            return web.Response(status=204)
        return _error(404, "unknown IMPI")

    app = web.Application(client_max_size=64 * 1024)
    app.add_routes(routes)
    return app

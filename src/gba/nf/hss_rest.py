"""A small REST provisioning API on the HSS, described by OpenAPI 3.0 at /openapi.json.

GET /subscribers, GET/PUT/DELETE /subscribers/{impi}. Keys are write-only: no answer
ever carries K or OPc.

Every request except ``GET /openapi.json`` needs ``Authorization: Bearer <token>``
(RFC 6750 §2.1), reads too: the list names every IMSI and SQN. The token is read from an
owner-only file (:func:`read_token_file`) and compared with :func:`hmac.compare_digest`;
a missing or wrong one gets 401 with ``WWW-Authenticate: Bearer`` (RFC 6750 §3).

SQN only moves forward here (TS 33.102 Annex C.3): a PUT whose ``sqn`` is below the
stored one is refused with 409 and changes nothing, and a PUT without ``sqn`` keeps the
stored SQN; resynchronisation over Zh stays the only way back. Replacing K/OPc of an
existing subscriber is allowed (a new card), SQN kept. DELETE forgets the subscriber and
its SQN: a later PUT creates a new subscription from the SQN it gives.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import os
import re
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from gba.errors import CodecError, ConfigError, InvalidInput, NotFound
from gba.nf.provisioning import subscriber_from_fields, subscriber_view
from gba.store.base import SubscriberStore
from gba.store.hss import SqnNotForward

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

REALM = "gba-hss"
"""The ``realm`` of the Bearer challenge (RFC 6750 §3)."""
TOKEN_MIN_LENGTH = 32
"""Characters of a REST token at least (the lab's are 43: 32 random octets, base64url)."""
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
"""RFC 6750 §2.1 ``b64token``: what may follow ``Bearer `` in the header."""
PUBLIC_PATHS = frozenset({"/openapi.json"})
"""Paths served without a token: the API's description, nothing about subscribers."""


def _resp(desc: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {"schema": schema}}}


_UNAUTHORIZED = {"description": "no or wrong bearer token (RFC 6750 §3)",
                 "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
                 "content": {"application/json": {"schema": _ERROR}}}

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "gba HSS provisioning", "version": "1.1.0"},
    "components": {"securitySchemes": {"bearer": {
        "type": "http", "scheme": "bearer",
        "description": "the token in the HSS's rest_token_file (RFC 6750)"}}},
    "security": [{"bearer": []}],
    "paths": {
        "/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {
            "200": {"description": "OpenAPI 3.0",
                    "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        "/subscribers": {"get": {"summary": "List subscribers", "responses": {
            "200": _resp("subscribers", {"type": "array", "items": _SUBSCRIBER_OUT}),
            "401": _UNAUTHORIZED}}},
        "/subscribers/{impi}": {
            "parameters": [_IMPI],
            "get": {"summary": "One subscriber", "responses": {
                "200": _resp("subscriber", _SUBSCRIBER_OUT), "401": _UNAUTHORIZED,
                "404": _resp("unknown", _ERROR)}},
            "put": {"summary": "Create or replace a subscriber; SQN only moves forward "
                               "(absent: the stored SQN is kept)",
                    "requestBody": {"required": True, "content": {
                        "application/json": {"schema": _SUBSCRIBER_IN}}},
                    "responses": {"200": _resp("stored", _SUBSCRIBER_OUT),
                                  "400": _resp("bad input", _ERROR), "401": _UNAUTHORIZED,
                                  "409": _resp("SQN below the stored one (TS 33.102 "
                                               "Annex C.3)", _ERROR)}},
            "delete": {"summary": "Delete a subscriber", "responses": {
                "204": {"description": "deleted"}, "401": _UNAUTHORIZED,
                "404": _resp("unknown", _ERROR)}},
        },
    },
}


def new_token(rng: Callable[[int], bytes] = os.urandom) -> str:
    """A bearer token: 32 random octets, base64url without padding (43 characters)."""
    return base64.urlsafe_b64encode(rng(32)).rstrip(b"=").decode("ascii")


def write_token_file(path: Path, rng: Callable[[int], bytes] = os.urandom) -> None:
    """Create *path* owner-only (0600) holding a new token; an existing file is an error."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot create REST token file {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(new_token(rng) + "\n")


def read_token_file(path: Path) -> bytes:
    """The token in *path*: refused unless owner-only (no group/other bits, as ssh does for
    keys) and an RFC 6750 b64token of at least :data:`TOKEN_MIN_LENGTH` characters. Errors
    name the file, never its content."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"REST token file {path} is unreadable: {exc}") from None
    if mode & 0o077:
        raise ConfigError(f"REST token file {path} has mode {mode:04o}: it must be "
                          "owner-only (chmod 600)")
    if len(text) < TOKEN_MIN_LENGTH or not _B64TOKEN.fullmatch(text):
        raise ConfigError(f"REST token file {path} does not hold a token of at least "
                          f"{TOKEN_MIN_LENGTH} characters of A-Z a-z 0-9 - . _ ~ + / "
                          "(RFC 6750 b64token)")
    return text.encode("ascii")


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _unauthorized(message: str, error: str | None) -> web.Response:
    """401 with a Bearer challenge; *error* (``invalid_token``) only when a token was
    presented (RFC 6750 §3.1: a request without one gets no error code)."""
    challenge = f'Bearer realm="{REALM}"' + (f', error="{error}"' if error else "")
    response = _error(401, message)
    response.headers["WWW-Authenticate"] = challenge
    return response


def bearer_auth(token: bytes) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Middleware: every path except :data:`PUBLIC_PATHS` needs ``Bearer <token>``
    (RFC 6750 §2.1), unknown paths too, so they cannot be probed without it."""

    @web.middleware
    async def check(request: web.Request,
                    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                    ) -> web.StreamResponse:
        if request.path in PUBLIC_PATHS and request.method in ("GET", "HEAD"):
            return await handler(request)
        scheme, _, presented = request.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return _unauthorized("this API needs Authorization: Bearer <token>", None)
        if not hmac.compare_digest(presented.strip().encode("utf-8", "replace"), token):
            log.warning("REST %s %s: wrong bearer token from %s", request.method,
                        request.path, request.remote)
            return _unauthorized("wrong bearer token", "invalid_token")
        return await handler(request)

    return check


def make_app(store: SubscriberStore, token: bytes) -> web.Application:
    """The API on *store*, every request but ``GET /openapi.json`` authorised by *token*."""
    if len(token) < TOKEN_MIN_LENGTH:
        raise ConfigError(f"a REST token needs at least {TOKEN_MIN_LENGTH} characters")
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
        try:
            stored = await store.provision_subscriber(sub, keep_sqn="sqn" not in body)
        except SqnNotForward as exc:
            log.warning("REST: refused to move SQN of %s back", sub.impi)
            return _error(409, str(exc))
        log.info("provisioned %s", sub.impi)
        return web.json_response(subscriber_view(stored))

    @routes.delete("/subscribers/{impi}")
    async def delete_one(request: web.Request) -> web.Response:
        if await store.delete_subscriber(request.match_info["impi"]):
            return web.Response(status=204)
        return _error(404, "unknown IMPI")

    app = web.Application(client_max_size=64 * 1024, middlewares=[bearer_auth(token)])
    app.add_routes(routes)
    return app

"""The Push-NAF as a network function (``push_naf`` kind; seed 002, docs/push.md).

A NAF section (:mod:`gba.nf.naf_service`: ``fqdn``, ``diameter_host``, ``http_listen``,
``psk_tls_listen``, ``bsf``, ``store``, ``tls``, ...) plus:

* ``push_psk_listen``: the PSK-TLS push endpoint of embodiment 4 (:mod:`gba.nf.push_psk`);
* ``control_listen`` and ``control_token_file`` (owner-only bearer token, RFC 6750; `gba
  lab up` writes one): the operator's API, ``POST /push/send`` (a JSON order, answered
  with the outcome once the push has ended) and ``GET /push/outcomes``;
* ``gpi_placement`` (``digest``, ``future-use`` or ``trigger``: where package 0 carries the
  GPI), ``pkg3_timeout_s`` (default 30), ``skip_ue_check`` (normal GBA, and embodiment 3),
  ``key_derivation`` (the SA key derived from Ks_NAF), ``bootstrap_wait_s`` (default 30).

The HTTP site serves the UE's ``POST /push/register`` and ``POST /dm`` beside the NAF's
Ua Digest resource. Zn and Zpn go to the BSF on one Diameter node.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web

from gba.config import Address, Topology
from gba.errors import ConfigError, GbaError, InvalidInput
from gba.nf import naf_service
from gba.nf.hss_rest import bearer_auth, read_token_file
from gba.nf.naf import Naf, NafKeys, zn_fetcher, zpn_fetcher
from gba.nf.naf_service import ExtendsNaf, NafConfig
from gba.nf.push_naf import PushNaf, PushOrder, PushSettings
from gba.nf.push_psk import PushMailbox, make_push_psk_server
from gba.nf.registry import Kind
from gba.nf.services import http_site, purging
from gba.observe.metrics import process_metrics
from gba.protocols import zpn
from gba.protocols.omadm_pkg0 import Placement
from gba.protocols.push_sa import IdKind
from gba.store.factory import open_naf_store
from gba.transport.diameter import session_id_factory

log = logging.getLogger(__name__)

PLACEMENTS = ("digest", "future-use", "trigger")


@dataclass(frozen=True, slots=True)
class PushNafConfig(ExtendsNaf):
    naf: NafConfig
    push_psk_listen: Address
    control_listen: Address
    control_token_file: str | None
    settings: PushSettings


def parse(topology: Topology, name: str) -> PushNafConfig:
    s = topology.function(name).section
    placement = s.text("gpi_placement", "trigger")
    if placement not in PLACEMENTS:
        raise ConfigError(f"{s.where}.gpi_placement should be one of {', '.join(PLACEMENTS)}, "
                          f"not {placement!r}")
    return PushNafConfig(
        naf=naf_service.parse(topology, name),
        push_psk_listen=s.address("push_psk_listen"),
        control_listen=s.address("control_listen"),
        control_token_file=s.opt_text("control_token_file"),
        settings=PushSettings(
            placement=cast(Placement, placement),
            pkg3_timeout_s=float(s.integer("pkg3_timeout_s", 30, 1, 3600)),
            skip_ue_check=s.flag("skip_ue_check", False),
            key_derivation=s.flag("key_derivation", False),
            bootstrap_wait_s=float(s.integer("bootstrap_wait_s", 30, 1, 3600))))


def order_of(data: Any) -> PushOrder:
    """A push order from the control API's JSON; :class:`InvalidInput` if malformed."""
    if not isinstance(data, dict):
        raise InvalidInput("the order is not a JSON object")
    known = {"impi", "embodiment", "payloads", "gba", "sa_kind", "sa_id", "session_id",
             "key_selection", "notify"}
    if set(data) - known:
        raise InvalidInput(f"unknown fields {sorted(set(data) - known)}")
    impi, embodiment, payloads = data.get("impi"), data.get("embodiment"), data.get("payloads")
    if not isinstance(impi, str) or not impi:
        raise InvalidInput("impi is missing")
    if not isinstance(embodiment, int) or isinstance(embodiment, bool) or \
            not 1 <= embodiment <= 5:
        raise InvalidInput("embodiment is 1 to 5")
    if not isinstance(payloads, list) or not all(isinstance(p, str) for p in payloads):
        raise InvalidInput("payloads is a list of base64 strings")
    try:
        octets = tuple(base64.b64decode(p, validate=True) for p in payloads)
        kind = IdKind(data.get("sa_kind", "session"))
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"bad order: {exc}") from None
    gba, selection = data.get("gba", "push"), data.get("key_selection", "btid")
    session_id, sa_id = data.get("session_id"), data.get("sa_id")
    if gba not in ("push", "normal") or selection not in ("btid", "latest"):
        raise InvalidInput("gba is push or normal; key_selection btid or latest")
    if session_id is not None and (not isinstance(session_id, int)
                                   or isinstance(session_id, bool)):
        raise InvalidInput("session_id is a number")
    if sa_id is not None and (not isinstance(sa_id, str) or not 0 < len(sa_id) <= 255):
        raise InvalidInput("sa_id is a string of 1 to 255 characters")
    return PushOrder(impi, embodiment, octets, gba=gba, sa_kind=kind, sa_value=sa_id,
                     session_id=session_id, key_selection=selection)


def control_app(push: PushNaf, token: bytes) -> web.Application:
    """The operator's API: order a push, read the outcomes (bearer token)."""

    async def send(request: web.Request) -> web.Response:
        try:
            data = await request.json()
            order = order_of(data)
            if order.embodiment == 4 and data.get("notify") is False:
                outcome = await push.push_waiting(order)
            else:
                outcome = await push.push(order)
        except (ValueError, InvalidInput) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except (GbaError, TimeoutError) as exc:
            log.info("push refused: %s", exc)
            return web.json_response({"error": f"{type(exc).__name__}: {exc}"}, status=502)
        return web.json_response(outcome.view())

    async def outcomes(_request: web.Request) -> web.Response:
        return web.json_response([o.view() for o in push.outcomes])

    app = web.Application(client_max_size=256 * 1024, middlewares=[bearer_auth(token)])
    app.router.add_post("/push/send", send)
    app.router.add_get("/push/outcomes", outcomes)
    return app


def _ua_app(naf: Naf, push: PushNaf) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app.add_routes(push.routes())
    app.router.add_route("*", "/{tail:.*}", naf.ua_digest)
    return app


@contextlib.asynccontextmanager
async def running(cfg: PushNafConfig, topology: Topology, name: str) -> AsyncIterator[PushNaf]:
    if cfg.control_token_file is None:
        raise ConfigError(f"functions.{name}.control_token_file is missing: the push control "
                          "API needs a bearer token file (RFC 6750), owner-only")
    token = read_token_file(topology.file(cfg.control_token_file))
    n = cfg.naf
    store = open_naf_store(topology.store_url(n.store))
    node = naf_service.zn_node(n, topology, name, more_apps=(zpn.APPLICATION,))
    await node.start()
    sessions = session_id_factory(node.identity.origin_host)
    keys = NafKeys(store, zn_fetcher(node, node.identity, n.bsf_realm, sessions,
                                     n.btid_realms, n.zn_route, n.zn_proxy_host),
                   gaa_service_id=n.gaa_service_id)
    naf = Naf(n.fqdn, keys, require_gba_token=n.require_gba_token)
    mailbox = PushMailbox()
    push = PushNaf(n.fqdn, store, keys, zpn_fetcher(node, node.identity, n.bsf_realm, sessions),
                   cfg.settings, mailbox)
    await push.start(n.http_listen.host)
    observed = process_metrics().function(name)
    observed.watch_node(node)
    observed.keys = keys
    http = await http_site(_ua_app(naf, push), n.http_listen, n.http,
                           observe=observed.http("ua"))
    control = await http_site(control_app(push, token), cfg.control_listen, n.http)
    psk = make_push_psk_server(n.fqdn, cfg.push_psk_listen, push.resolve, mailbox,
                               on_delivered=push.delivered)
    await psk.start()
    log.info("Push-NAF %s (%s): DM and register on http://%s, PSK-TLS push on %s, control "
             "on http://%s, BSF %s", name, n.fqdn, n.http_listen, cfg.push_psk_listen,
             cfg.control_listen, n.bsf)
    try:
        async with purging(store, "NAF"):
            yield push
    finally:
        push.close()
        await psk.close()
        await control.cleanup()
        await http.cleanup()
        await node.close()
        await store.close()


KIND = Kind(
    name="push_naf", parse=parse, run=running,
    endpoints=lambda c: {"http": c.naf.http_listen, "push_psk": c.push_psk_listen,
                         "control": c.control_listen},
    listen_keys=("http_listen", "psk_tls_listen", "push_psk_listen", "control_listen"),
    peers=lambda c: {"bsf": (c.naf.bsf,) if c.naf.bsf else (), "connect": c.naf.connect},
    order=30)

"""The MTC-IWF (seed 004: "the MTC-IWF implements the NAF"; claim 4; docs/mtc.md §5) and
the application server (SCS/AS) behind it.

MTC-IWF, ``POST /small-data``: the message's B-TID names the device's keys, which the
MTC-IWF asks the BSF for over Zn (NAF_Id = FQDN || FF 00 00 00 01): K_IWF, the MTC user
security settings, which it keeps (step 204), and the small-data keys (step 304). The
message must open under them with a counter above the last one (a forged or replayed
one is refused with 403 and forwards nothing) and the device must be allowed to send;
the clear data goes to the application server the device names (``?as=<name>``; the
first configured by default; bearer token), and the
server's answer comes back sealed as the downlink when the device may receive (else 204).

Application server, ``POST /small-data`` (bearer token): records the device, group and
data (JSON) and answers ``{"data": <base64>}``; ``GET /received`` lists what it got. It
holds no key material.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web

from gba.clock import Clock, utc_now
from gba.errors import AuthError, CodecError, GbaError
from gba.nf.hss_rest import bearer_auth
from gba.protocols import mtc, mtc_small_data, zh_mtc, zn
from gba.protocols.diameter import Message, PeerIdentity, ResultCode
from gba.protocols.mtc_small_data import Direction, Keys, ReplayWindow
from gba.transport.diameter import DiameterNode

log = logging.getLogger(__name__)

MAX_BODY = 8192
MAX_DEVICES = 100_000
"""B-TIDs whose keys the MTC-IWF keeps at once (least recently used go first)."""


@dataclass(frozen=True, slots=True)
class DeviceKeys:
    """What the BSF gave for one B-TID (step 204/304), as the MTC-IWF keeps it."""

    keys: Keys = field(repr=False)
    settings: mtc.MtcSettings
    expires: datetime


@dataclass(slots=True)
class _Held:
    device: DeviceKeys
    window: ReplayWindow
    sent: int = 0


FetchMtcKeys = Callable[[str], Awaitable[DeviceKeys | int]]
"""Zn for one B-TID: the device's keys and settings, or the refusing result code."""


def mtc_zn_fetcher(node: DiameterNode, identity: PeerIdentity, bsf_realm: str,
                   session_id: Callable[[], str], fqdn: str) -> FetchMtcKeys:
    """BIR for K_IWF (NAF_Id = FQDN || FF 00 00 00 01); the BIA's MTC AVPs give the
    settings and the small-data keys (docs/mtc.md §3)."""
    naf_id = mtc.iwf_naf_id(fqdn)

    async def fetch(btid: str) -> DeviceKeys | int:
        answer: Message = await node.request(zn.build_bir(
            identity, bsf_realm, session_id(), zn.KeyRequest(btid, naf_id)))
        code = answer.result_code
        if code != ResultCode.SUCCESS:
            return code if code is not None else int(ResultCode.UNABLE_TO_COMPLY)
        key = zn.parse_bia(answer)
        extra = zh_mtc.parse_mtc_bia(answer)
        if key.me_key is None or extra is None:
            return int(ResultCode.UNABLE_TO_COMPLY)  # not an MTC device's B-TID
        mode = (mtc.SubKeys.BOTH if extra.enc_key and extra.int_key else
                mtc.SubKeys.ENC if extra.enc_key else
                mtc.SubKeys.INT if extra.int_key else mtc.SubKeys.NONE)
        return DeviceKeys(Keys(mode, key.me_key, extra.enc_key, extra.int_key),
                          mtc.decode_settings(extra.settings_xml), key.expiry)

    return fetch


ForwardToAs = Callable[[mtc.MtcSettings, bytes], Awaitable[bytes]]
"""The application server's leg: the clear uplink in, the downlink out."""


def as_forwarder(http: aiohttp.ClientSession, as_url: str, token: bytes) -> ForwardToAs:
    async def forward(settings: mtc.MtcSettings, data: bytes) -> bytes:
        body = {"imsi": settings.imsi, "group": settings.group_id,
                "data": base64.b64encode(data).decode("ascii")}
        async with http.post(f"{as_url.rstrip('/')}/small-data", json=body,
                             headers={"Authorization": f"Bearer {token.decode()}"}) as r:
            if r.status != 200:
                raise GbaError(f"the application server answered {r.status}")
            answer = await r.json()
        try:
            return base64.b64decode(str(answer.get("data", "")), validate=True)
        except (binascii.Error, ValueError, AttributeError):
            raise CodecError("the application server's answer is not base64 data") from None

    return forward


class MtcIwf:
    def __init__(self, fetch: FetchMtcKeys, servers: dict[str, ForwardToAs],
                 clock: Clock = utc_now) -> None:
        if not servers:
            raise GbaError("an MTC-IWF needs an application server")
        self.fetch = fetch
        self.servers = servers
        """The application servers by name; the first is the default."""
        self.clock = clock
        self.held: OrderedDict[str, _Held] = OrderedDict()
        self.accepted = 0
        self.refused = 0

    async def _keys(self, btid: str) -> _Held | None:
        held = self.held.get(btid)
        if held is not None and held.device.expires > self.clock():
            self.held.move_to_end(btid)
            return held
        got = await self.fetch(btid)
        if isinstance(got, int):
            log.info("MTC-IWF: no keys for %s (Zn %d)", btid, got,
                     extra={"interface": "zn", "btid": btid, "result": got})
            return None
        held = _Held(got, ReplayWindow())
        self.held[btid] = held
        while len(self.held) > MAX_DEVICES:
            self.held.popitem(last=False)
        log.info("MTC-IWF: keys and settings of %s (group %s, %s) from the BSF", btid,
                 got.settings.group_id, got.keys.mode.value,
                 extra={"interface": "zn", "btid": btid})
        return held

    async def small_data(self, data: bytes, server: str | None = None) -> tuple[int, bytes]:
        """(status, body) for one uplink message to *server* (default: the first)."""
        try:
            header = mtc_small_data.read_header(data)
        except CodecError as exc:
            self.refused += 1
            return 400, f"malformed small-data message: {exc}\n".encode()
        held = await self._keys(header.btid)
        if held is None:
            self.refused += 1
            return 403, b"unknown or expired B-TID\n"
        try:
            _, clear, window = mtc_small_data.open_(held.device.keys, header.btid, data,
                                                    held.window, expect=Direction.UPLINK)
        except (AuthError, CodecError) as exc:
            self.refused += 1
            log.warning("MTC-IWF: small data of %s refused: %s", header.btid, exc,
                        extra={"interface": "mtc", "btid": header.btid, "result": 403})
            return 403, b"small data refused\n"
        settings = held.device.settings
        if not settings.capability & mtc.Capability.SEND:
            self.refused += 1
            return 403, b"this device may not send small data\n"
        forward = self.servers.get(server or next(iter(self.servers)))
        if forward is None:
            self.refused += 1
            return 404, b"no such application server\n"
        held.window = window
        self.accepted += 1
        downlink = await forward(settings, clear)
        if not settings.capability & mtc.Capability.RECEIVE:
            return 204, b""
        held.sent += 1
        return 200, mtc_small_data.seal(held.device.keys, header.btid, Direction.DOWNLINK,
                                        held.sent, downlink)

    def routes(self) -> list[web.RouteDef]:
        async def handle(request: web.Request) -> web.Response:
            body = await request.content.read(MAX_BODY + 1)
            if len(body) > MAX_BODY:
                return web.Response(status=413, text="small data too large\n")
            try:
                status, out = await self.small_data(body, request.query.get("as"))
            except (GbaError, aiohttp.ClientError) as exc:
                log.warning("MTC-IWF: application server leg failed: %s", exc)
                return web.Response(status=502, text="application server unreachable\n")
            return web.Response(status=status, body=out,
                                content_type="application/vnd.gba-lab.mtc-small-data")

        return [web.post("/small-data", handle)]


class ApplicationServer:
    """The SCS/AS: small data in the clear from the MTC-IWF, no key material."""

    def __init__(self, limit: int = 10_000) -> None:
        self.received: list[dict[str, Any]] = []
        self.limit = limit

    def app(self, token: bytes) -> web.Application:
        async def small_data(request: web.Request) -> web.Response:
            try:
                body = json.loads(await request.content.read(MAX_BODY * 2))
                entry = {"imsi": str(body["imsi"]), "group": str(body["group"]),
                         "data": base64.b64decode(str(body["data"]), validate=True)
                         .decode("utf-8", "replace")}
            except (ValueError, KeyError, TypeError, binascii.Error):
                return web.json_response({"error": "bad small data"}, status=400)
            self.received.append(entry)
            del self.received[:-self.limit]
            reply = f"ack {len(self.received)} for {entry['imsi']}".encode()
            return web.json_response({"data": base64.b64encode(reply).decode("ascii")})

        async def received(_request: web.Request) -> web.Response:
            return web.json_response(self.received)

        app = web.Application(client_max_size=MAX_BODY * 2, middlewares=[bearer_auth(token)])
        app.router.add_post("/small-data", small_data)
        app.router.add_get("/received", received)
        return app

"""The BM-SC of MBMS as a GBA NAF (TS 33.246; docs/roaming.md §4): the visited network's
service server of seed 000, whose NAF key is the MUK.

On its Ua HTTP site, besides the NAF's Digest resource:

* ``POST /mbms/register``: MBMS user service registration (TS 33.246 §6.3.2.1A), HTTP
  Digest keyed with the NAF key for NAF_Id = FQDN || 01 00 00 00 01 (TS 33.220 Annex H.3;
  TS 33.246 §6.1: the MRK). Body JSON ``{"services": [...], "key_port": N}``. The 200 goes
  out first (seed steps 209, 311, 412), then the MSK message, protected with the MUK, to
  the UE's key port over UDP (MIKEY, TS 33.246 §6.3.2.3.1).
* ``POST /mbms/join``: a receiver tunes in to the broadcast (no authentication: a
  broadcast reaches everyone). Body JSON ``{"key_port": N, "media_port": M}``; it gets the
  MTK message (protected with the MSK) on its key port and the SRTP stream on its media
  port, the same octets every receiver gets (:class:`gba.protocols.mbms_delivery.BmscDelivery`).

Lab UEs share 127.0.0.1, so each names its ports; the address is the request's source.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from gba.crypto import mbms as mbms_keys
from gba.crypto import ua_protocols
from gba.errors import CodecError
from gba.nf.eap_broker import EapBroker
from gba.nf.naf import Naf
from gba.protocols import nai
from gba.protocols.digest_header import parse_digest
from gba.protocols.eap_http import eap_header, eap_of, parse_eap_header
from gba.protocols.http import HttpRequest, HttpResponse, text_response
from gba.protocols.mbms_delivery import BmscDelivery, ServiceKeys
from gba.protocols.roaming import KeyKind
from gba.protocols.ua_naf import NafDigestConfig
from gba.store.base import NafKey
from gba.store.naf import ChargingRecord
from gba.transport.http import to_web_response

log = logging.getLogger(__name__)

MAX_BODY = 4096


@dataclass(frozen=True, slots=True)
class MbmsConfig:
    services: tuple[str, ...] = ("lab-tv",)
    stream: tuple[str, ...] = tuple(f"MBMS content {n}" for n in range(1, 11))
    """The broadcast's packets (the lab's content: short texts)."""


def _ports(body: bytes, names: tuple[str, ...]) -> dict[str, int]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CodecError("the body is not JSON") from None
    if not isinstance(data, dict):
        raise CodecError("the body is not a JSON object")
    ports = {}
    for name in names:
        value = data.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
            raise CodecError(f"{name} is not a port number")
        ports[name] = value
    return ports


class Bmsc:
    def __init__(self, naf: Naf, config: MbmsConfig,
                 rng: Callable[[int], bytes] = os.urandom,
                 broker: EapBroker | None = None) -> None:
        self.naf = naf
        self.config = config
        self.broker = broker
        """Set for a server that does not read B-TIDs (case D): EAP-AKA instead."""
        self.delivery = BmscDelivery(naf.fqdn, ServiceKeys.fresh(config.services[0], 1, rng),
                                     rng)
        self.registration = NafDigestConfig.for_naf(naf.fqdn, naf.nonces,
                                                    ua_protocol=ua_protocols.MBMS)
        self._udp: asyncio.DatagramTransport | None = None

    async def start(self, host: str) -> None:
        loop = asyncio.get_running_loop()
        self._udp, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                           local_addr=(host, 0))

    def close(self) -> None:
        if self._udp is not None:
            self._udp.close()

    def _send(self, data: bytes, address: tuple[str, int]) -> None:
        assert self._udp is not None, "start() first"
        self._udp.sendto(data, address)

    async def register(self, request: web.Request) -> web.StreamResponse:
        """User service registration; the 200 is sent before the MSK message. A server
        that does not read B-TIDs (case D) answers an unknown one with an EAP request for
        the permanent identity and runs EAP-AKA through its AAA (:mod:`gba.nf.eap_broker`);
        an identity it associated before is served by Digest from that association."""
        if self.broker is not None:
            auth = request.headers.get("Authorization", "")
            if auth[:4].upper() == "EAP ":
                return await self._eap_round(request, auth)
            if auth[:7].lower() == "digest ":
                try:
                    username = parse_digest(auth).get("username", "")
                except CodecError:
                    username = ""
                naf_id = self.registration.naf_id()
                if await self.naf.keys.store.get_key(username, naf_id,
                                                     self.naf.clock()) is None:
                    return to_web_response(self.broker.ask_identity())
        granted: list[tuple[NafKey, int]] = []

        async def produce(key: NafKey, http: HttpRequest) -> tuple[bytes, str]:
            ports = _ports(http.body, ("key_port",))
            granted.append((key, ports["key_port"]))
            return json.dumps({"services": list(self.config.services),
                               "msk_id": self.delivery.keys.msk_id.hex()}).encode(), \
                "application/json"

        try:
            answer = await self.naf.digest_exchange(request, self.registration, produce)
        except CodecError as exc:
            return to_web_response(text_response(400, f"bad registration: {exc}\n"))
        response = to_web_response(answer)
        if answer.status != 200 or not granted:
            return response
        await response.prepare(request)
        await response.write_eof()  # the success answer first (seed steps 209, 311, 412)
        key, port = granted[0]
        muk, _mrk = mbms_keys.muk_mrk(key.key)
        self._send(self.delivery.msk_message(muk, key.btid), (request.remote or "", port))
        log.info("BM-SC: %s registered to %s; MSK %s sent to port %d", key.impi,
                 ", ".join(self.config.services), self.delivery.keys.msk_id.hex(), port,
                 extra={"interface": "mbms", "impi": key.impi, "result": 200})
        return response

    async def _eap_round(self, request: web.Request, auth: str) -> web.StreamResponse:
        """One EAP round of case D (steps 404-412)."""
        assert self.broker is not None
        body = await request.content.read(MAX_BODY + 1)
        try:
            if len(body) > MAX_BODY:
                raise CodecError("body too large")
            port = _ports(body, ("key_port",))["key_port"]
            params = parse_eap_header(auth)
            payload = eap_of(params)
        except CodecError as exc:
            return to_web_response(text_response(400, f"bad EAP round: {exc}\n"))
        naf_id = self.registration.naf_id()
        outcome = await self.broker.round(params.get("session", ""), payload, naf_id)
        if isinstance(outcome, HttpResponse):
            return to_web_response(outcome)
        key = outcome.key
        roaming = self.naf.keys.roaming
        await self.naf.keys.store.put_charging(ChargingRecord(
            time=self.naf.clock(), case=roaming.case if roaming else "D",
            server=self.naf.fqdn, naf_id=naf_id, home_realm=nai.home_realm(outcome.nai) or "",
            user=key.impi, key_kind="ks" if outcome.kind is KeyKind.KS else "derived",
            key_expiry=key.expires, session=outcome.session))
        await self.naf.keys.store.put_key(key)
        answer = json.dumps({"services": list(self.config.services),
                             "msk_id": self.delivery.keys.msk_id.hex(),
                             "btid": outcome.btid, "identity": key.btid,
                             "lifetime": key.expires.isoformat()}).encode()
        response = to_web_response(HttpResponse(200, (
            ("Content-Type", "application/json"),
            ("Authentication-Info", eap_header(
                eap=base64.b64encode(outcome.eap_success).decode("ascii")))), answer))
        await response.prepare(request)
        await response.write_eof()  # the success answer first (step 412)
        muk, _mrk = mbms_keys.muk_mrk(key.key)
        self._send(self.delivery.msk_message(muk, key.btid), (request.remote or "", port))
        log.info("BM-SC: %s authenticated by its home network (EAP-AKA), next as %s; MSK "
                 "sent to port %d", key.impi, key.btid, port,
                 extra={"interface": "mbms", "impi": key.impi, "result": 200})
        return response

    async def join(self, request: web.Request) -> web.Response:
        """A receiver tunes in: the MTK message, then the stream."""
        body = await request.content.read(MAX_BODY + 1)
        try:
            if len(body) > MAX_BODY:
                raise CodecError("body too large")
            ports = _ports(body, ("key_port", "media_port"))
        except CodecError as exc:
            return to_web_response(text_response(400, f"bad join: {exc}\n"))
        address = request.remote or ""
        mtk_message, packets = self.delivery.broadcast(
            tuple(t.encode("utf-8") for t in self.config.stream))
        self._send(mtk_message, (address, ports["key_port"]))
        for packet in packets:
            self._send(packet, (address, ports["media_port"]))
        log.info("BM-SC: broadcast of %s to %s: MTK %s and %d packets", self.delivery.keys
                 .service, address, self.delivery.keys.mtk_id.hex(), len(packets),
                 extra={"interface": "mbms", "result": 200})
        return to_web_response(HttpResponse(200, (("Content-Type", "application/json"),),
                                            json.dumps({"packets": len(packets)}).encode()))

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_post("/mbms/register", self.register)
        app.router.add_post("/mbms/join", self.join)
        app.router.add_route("*", "/{tail:.*}", self.naf.ua_digest)
        return app

"""A UE's MBMS client (TS 33.246; docs/roaming.md §4): registers with a BM-SC over Ua
(HTTP Digest keyed for NAF_Id = BM-SC FQDN || 01 00 00 00 01), takes the MSK message the
BM-SC then sends under its MUK, tunes in to the broadcast and decrypts it. The key logic
is :class:`gba.protocols.mbms_delivery.UeMbms`; this owns two UDP sockets (MIKEY key
messages, SRTP media) and the HTTP requests.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
from dataclasses import dataclass
from datetime import datetime

import aiohttp

from gba.crypto import mbms as mbms_keys
from gba.crypto import ua_protocols
from gba.errors import GbaError, ProtocolError
from gba.protocols import nai
from gba.protocols.eap_aka_peer import EapAkaPeer, PeerAuthenticated, SendResponse
from gba.protocols.eap_http import SCHEME, eap_header, eap_of, parse_eap_header
from gba.protocols.mbms import MskDelivery
from gba.protocols.mbms_delivery import UeMbms
from gba.protocols.ub import Bootstrap
from gba.ue.client import GbaClient, UaResponse

MAX_EAP_ROUNDS = 4
"""Identity, challenge, resynchronisation, challenge again (RFC 4187 §6)."""
WAIT_S = 10.0
"""How long a datagram the BM-SC announced may take on loopback before the UE gives up."""


class _Inbox(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.queue.put_nowait(data)


def _scheme(answer: UaResponse) -> str:
    return answer.headers.get("WWW-Authenticate", "").strip().partition(" ")[0].upper()


def _same(inbox: _Inbox) -> _Inbox:
    return inbox


@dataclass(frozen=True, slots=True)
class Registration:
    response: UaResponse
    msk: MskDelivery | None


class MbmsReceiver:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.keys: UeMbms | None = None
        self._transports: list[asyncio.DatagramTransport] = []
        self._key = _Inbox()
        self._media = _Inbox()
        self.key_port = self.media_port = 0

    async def __aenter__(self) -> MbmsReceiver:
        loop = asyncio.get_running_loop()
        for inbox in (self._key, self._media):
            transport, _ = await loop.create_datagram_endpoint(
                functools.partial(_same, inbox), local_addr=(self.host, 0))
            self._transports.append(transport)
        self.key_port = self._transports[0].get_extra_info("sockname")[1]
        self.media_port = self._transports[1].get_extra_info("sockname")[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        for transport in self._transports:
            transport.close()

    async def register(self, ue: GbaClient, bmsc_url: str, fqdn: str,
                       username: str | None = None) -> Registration:
        """User service registration; on 200 the MSK message is awaited and taken under
        the MUK (a message failing its MAC raises and leaves no MSK). The UE sends its
        B-TID (or *username*); told it is not valid there, it falls back to its
        permanent identity and EAP-AKA (docs/roaming.md §1 D, steps 402-412)."""
        url = f"{bmsc_url}/mbms/register"
        body = json.dumps({"key_port": self.key_port}).encode()
        answer = await ue.fetch_digest(url, fqdn, "POST", body, ua_protocol=ua_protocols.MBMS,
                                       username=username)
        if answer.status == 401 and _scheme(answer) == SCHEME:
            answer, username = await self._eap(ue, url, body, answer)
        if answer.status != 200:
            return Registration(answer, None)
        key = ue.naf_key(fqdn, ua_protocols.MBMS)
        muk, _mrk = mbms_keys.muk_mrk(key.key)
        self.keys = UeMbms(muk, (fqdn, username or key.btid))
        data = await asyncio.wait_for(self._key.queue.get(), WAIT_S)
        return Registration(answer, self.keys.msk_message(data))

    async def _eap(self, ue: GbaClient, url: str, body: bytes, answer: UaResponse
                   ) -> tuple[UaResponse, str | None]:
        """EAP-AKA with the permanent identity through the server (the USIM's run); on
        success the UE holds Ks = CK || IK of the run and the B-TID the home BSF
        allocated, and learns which identity the server wants next."""
        identity = nai.permanent_identity_of(ue.impi)
        if identity is None:
            raise ProtocolError(f"the server wants a permanent identity; {ue.impi!r} is "
                                "not IMSI-derived")
        peer = EapAkaPeer(ue.usim, identity)
        async with aiohttp.ClientSession() as http:
            for _ in range(MAX_EAP_ROUNDS):
                header = answer.headers.get("WWW-Authenticate", "")
                params = parse_eap_header(header)
                action = peer.request_received(eap_of(params))
                if not isinstance(action, SendResponse):
                    return answer, None
                credentials = eap_header(session=params.get("session", ""),
                                         eap=base64.b64encode(action.eap).decode("ascii"))
                async with http.post(url, data=body, headers={
                        "Authorization": credentials, "User-Agent": "3gpp-gba"}) as r:
                    answer = UaResponse(r.status, await r.read(), dict(r.headers))
                if answer.status == 200:
                    return self._authenticated(ue, peer, answer)
                if answer.status != 401:
                    failure = answer.headers.get("WWW-Authenticate", "")
                    if _scheme(answer) == SCHEME:
                        peer.request_received(eap_of(parse_eap_header(failure)))
                    return answer, None
        raise ProtocolError(f"EAP did not end within {MAX_EAP_ROUNDS} rounds")

    @staticmethod
    def _authenticated(ue: GbaClient, peer: EapAkaPeer, answer: UaResponse
                       ) -> tuple[UaResponse, str | None]:
        done = peer.request_received(eap_of(parse_eap_header(
            answer.headers.get("Authentication-Info", ""))))
        if not isinstance(done, PeerAuthenticated):
            raise ProtocolError("200 without an EAP-Success this UE accepts")
        info = json.loads(answer.body)
        btid = info.get("btid") or ""
        lifetime = datetime.fromisoformat(str(info["lifetime"]))
        ue.adopt(Bootstrap(impi=ue.impi, btid=btid, ks=done.ks, rand=done.rand,
                           lifetime=lifetime))
        return answer, str(info.get("identity") or btid) or None

    async def tune_in(self, bmsc_url: str) -> list[bytes]:
        """Join the broadcast; the MTK message is taken under a held MSK and every
        packet decrypted. Without an MSK the MTK message cannot be opened: the
        :class:`~gba.errors.MacFailure` (``UnknownMsk``) is raised."""
        async with aiohttp.ClientSession() as http, http.post(
                f"{bmsc_url}/mbms/join",
                json={"key_port": self.key_port, "media_port": self.media_port}) as r:
            if r.status != 200:
                raise ProtocolError(f"BM-SC refused the join: {r.status}")
            count = int((await r.json())["packets"])
        mtk_message = await asyncio.wait_for(self._key.queue.get(), WAIT_S)
        packets = [await asyncio.wait_for(self._media.queue.get(), WAIT_S)
                   for _ in range(count)]
        if self.keys is None:
            raise GbaError("no MUK: this UE holds no MSK, the content cannot be decrypted")
        self.keys.mtk_message(mtk_message)
        return [self.keys.media(p) for p in packets]

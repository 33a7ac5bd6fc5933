"""A UE's MBMS client (TS 33.246; docs/roaming.md §4): registers with a BM-SC over Ua
(HTTP Digest keyed for NAF_Id = BM-SC FQDN || 01 00 00 00 01), takes the MSK message the
BM-SC then sends under its MUK, tunes in to the broadcast and decrypts it. The key logic
is :class:`gba.protocols.mbms_delivery.UeMbms`; this owns two UDP sockets (MIKEY key
messages, SRTP media) and the HTTP requests.
"""

from __future__ import annotations

import asyncio
import functools
import json
from dataclasses import dataclass

import aiohttp

from gba.crypto import mbms as mbms_keys
from gba.crypto import ua_protocols
from gba.errors import GbaError, ProtocolError
from gba.protocols.mbms import MskDelivery
from gba.protocols.mbms_delivery import UeMbms
from gba.ue.client import GbaClient, UaResponse

WAIT_S = 10.0
"""How long a datagram the BM-SC announced may take on loopback before the UE gives up."""


class _Inbox(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.queue.put_nowait(data)


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

    async def register(self, ue: GbaClient, bmsc_url: str, fqdn: str) -> Registration:
        """User service registration; on 200 the MSK message is awaited and taken under
        the MUK (a message failing its MAC raises and leaves no MSK)."""
        body = json.dumps({"key_port": self.key_port}).encode()
        answer = await ue.fetch_digest(f"{bmsc_url}/mbms/register", fqdn, "POST", body,
                                       ua_protocol=ua_protocols.MBMS)
        if answer.status != 200:
            return Registration(answer, None)
        key = ue.naf_key(fqdn, ua_protocols.MBMS)
        muk, _mrk = mbms_keys.muk_mrk(key.key)
        self.keys = UeMbms(muk, (fqdn, key.btid))
        data = await asyncio.wait_for(self._key.queue.get(), WAIT_S)
        return Registration(answer, self.keys.msk_message(data))

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

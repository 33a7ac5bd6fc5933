"""Zn and Zh through a real RFC 6733 relay agent: freeDiameter 1.2.1 (``freeDiameterd``).

Topology: a NAF-like client connects to the relay (let in by the acl_wl whitelist); the
relay connects out to a BSF/HSS-like responder (a ``ConnectPeer``). Both of ours are the
sans-IO :class:`~gba.protocols.diameter.PeerConnection` on the tiny asyncio loop of
``tests/diameter_peer.py``, not the product's transport. The relay has no dictionary for
Zn or Zh; it forwards them as the Relay application (RFC 6733 §2.4, §6.1.9).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import ip_address
from pathlib import Path

import pytest

from diameter_peer import CapturingPeer, Listener, connect, listening
from freediameter import FREEDIAMETERD, FdPeer, FreeDiameterError, FreeDiameterRelay, free_port
from gba.protocols import zh, zn
from gba.protocols.diameter import (
    APP_RELAY,
    CMD_CAPABILITIES_EXCHANGE,
    CMD_DISCONNECT_PEER,
    Message,
    PeerIdentity,
    ResultCode,
)
from gba.protocols.diameter import dictionary as d

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(FREEDIAMETERD is None,
                       reason="needs freeDiameterd (Debian package freediameter)"),
]

ROUTE_RECORD = 282
RELAY = "relay.fd.test"
NAF = PeerIdentity("naf.visited.test", "visited.test", (ip_address("127.0.0.1"),))
BSF = PeerIdentity("bsf.home.test", "home.test", (ip_address("127.0.0.1"),))
BTID = "AAECAwQFBgcICQoLDA0ODw==@bsf.home.test"
NAF_ID = b"naf.visited.test" + bytes.fromhex("0100000002")
IMPI = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
MOMENT = datetime(2026, 11, 24, 12, tzinfo=UTC)
NAF_FIRST_HOP_BY_HOP = 0x0BADF000
"""Our client's hop-by-hop ids start here, far from anything freeDiameter picks."""


def answer(request: Message) -> Message:
    """The responder: a BIA for a BIR, an MAA for a MAR (fixed, non-secret values)."""
    if request.application_id == zn.APPLICATION[1]:
        return zn.build_bia(request, BSF, zn.KeyAnswer(IMPI, MOMENT, MOMENT,
                                                       me_key=bytes(range(32))))
    return zh.build_maa(request, BSF, zh.VectorAnswer(
        IMPI, bytes(range(16)), bytes(range(16, 32)), bytes(8), bytes(range(32, 48)),
        bytes(range(48, 64))))


def bir(destination_realm: str = BSF.origin_realm) -> Message:
    return zn.build_bir(NAF, destination_realm, f"{NAF.origin_host};1;1",
                        zn.KeyRequest(BTID, NAF_ID))


@dataclass
class Relayed:
    """client -> relay -> responder, all open."""

    relay: FreeDiameterRelay
    client: CapturingPeer
    responder: CapturingPeer
    listener: Listener


@asynccontextmanager
async def relayed(workdir: Path) -> AsyncIterator[Relayed]:
    apps = [zn.APPLICATION, zh.APPLICATION]
    async with listening(BSF, apps, answer) as listener:
        peers = [FdPeer(BSF.origin_host, BSF.origin_realm, ("127.0.0.1", listener.port)),
                 FdPeer(NAF.origin_host, NAF.origin_realm)]
        async with FreeDiameterRelay(RELAY, "fd.test", peers, workdir) as relay:
            responder = await listener.accepted()
            await responder.opened()
            await relay.wait_open(BSF.origin_host)  # the relay's side of CER/CEA is done
            client = await connect(NAF, apps, "127.0.0.1", relay.port,
                                   hop_by_hop_start=NAF_FIRST_HOP_BY_HOP)
            try:
                await client.opened()
                yield Relayed(relay, client, responder, listener)
            finally:
                await client.close()


async def test_relay_advertises_the_relay_application_both_ways(tmp_path: Path) -> None:
    async with relayed(tmp_path) as path:
        cer = (await path.responder.frame(CMD_CAPABILITIES_EXCHANGE)).message
        cea = (await path.client.frame(CMD_CAPABILITIES_EXCHANGE, request=False)).message
    for message in (cer, cea):
        origin = message.find(d.ORIGIN_HOST)
        assert origin is not None
        assert origin.as_str() == RELAY
        assert [a.as_int() for a in message.find_all(d.AUTH_APPLICATION_ID)] == [APP_RELAY]
    assert cea.result_code == ResultCode.SUCCESS


async def test_bir_is_routed_by_destination_realm_with_a_route_record(tmp_path: Path) -> None:
    async with relayed(tmp_path) as path:
        sent, _ = await path.client.request(bir())
        (received,) = path.responder.requests
    assert received.command_code == d.CMD_BOOTSTRAPPING_INFO
    assert received.application_id == zn.APPLICATION[1]
    assert [a.as_str() for a in received.find_all(ROUTE_RECORD)] == [NAF.origin_host]
    assert received.end_to_end == sent.end_to_end
    assert received.hop_by_hop != sent.hop_by_hop  # rewritten hop by hop (RFC 6733 §6.1.9)
    request = zn.parse_bir(received)
    assert (request.btid, request.naf_id, request.origin_host) == (BTID, NAF_ID,
                                                                   NAF.origin_host)


async def test_bia_comes_back_with_the_senders_ids(tmp_path: Path) -> None:
    async with relayed(tmp_path) as path:
        sent, bia = await path.client.request(bir())
    assert sent.hop_by_hop >= NAF_FIRST_HOP_BY_HOP
    assert (bia.hop_by_hop, bia.end_to_end) == (sent.hop_by_hop, sent.end_to_end)
    assert not bia.is_request
    assert bia.result_code == ResultCode.SUCCESS
    key = zn.parse_bia(bia)
    assert (key.impi, key.me_key) == (IMPI, bytes(range(32)))


async def test_relay_adds_a_route_record_to_answers_too(tmp_path: Path) -> None:
    """freeDiameter's default (``RouteRecordInAnswers`` came later, default Always): the
    answer leaves the relay with a Route-Record naming the responder; a BIA parser must
    ignore it."""
    async with relayed(tmp_path) as path:
        _, bia = await path.client.request(bir())
    assert [a.as_str() for a in bia.find_all(ROUTE_RECORD)] == [BSF.origin_host]


async def test_mar_is_relayed_without_a_zh_dictionary(tmp_path: Path) -> None:
    mar = zh.build_mar(NAF, BSF.origin_realm, f"{NAF.origin_host};1;2", zh.VectorRequest(IMPI))
    async with relayed(tmp_path) as path:
        sent, maa = await path.client.request(mar)
        (received,) = path.responder.requests
    assert received.application_id == zh.APPLICATION[1]
    assert zh.parse_mar(received).impi == IMPI
    assert maa.end_to_end == sent.end_to_end
    assert zh.parse_maa(maa).ck == bytes(range(32, 48))


async def test_unknown_realm_is_answered_unable_to_deliver(tmp_path: Path) -> None:
    async with relayed(tmp_path) as path:
        _, error = await path.client.request(bir("nowhere.test"))
        assert path.responder.requests == []
    assert error.is_error
    assert error.result_code == ResultCode.UNABLE_TO_DELIVER
    origin = error.find(d.ORIGIN_HOST)
    assert origin is not None
    assert origin.as_str() == RELAY


async def test_relay_sends_dpr_when_stopped(tmp_path: Path) -> None:
    async with relayed(tmp_path) as path:
        responder = path.responder
    dpr = (await responder.frame(CMD_DISCONNECT_PEER)).message
    assert dpr.find(d.ORIGIN_HOST) is not None
    assert "DPR" in await responder.wait_closed()
    assert path.relay.stop() == 0


async def test_peer_missing_from_the_whitelist_is_refused_3010(tmp_path: Path) -> None:
    stranger = PeerIdentity("stranger.visited.test", "visited.test", (ip_address("127.0.0.1"),))
    async with FreeDiameterRelay(RELAY, "fd.test", [FdPeer(NAF.origin_host, NAF.origin_realm)],
                                 tmp_path) as relay:
        peer = await connect(stranger, [zn.APPLICATION], "127.0.0.1", relay.port)
        with pytest.raises(ConnectionError, match="3010"):
            await peer.opened()
        await peer.close()
    cea = (await peer.frame(CMD_CAPABILITIES_EXCHANGE, request=False)).message
    assert cea.result_code == ResultCode.UNKNOWN_PEER


def test_relay_that_cannot_listen_fails_with_its_log(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("", free_port()))
        taken.listen()
        relay = FreeDiameterRelay(RELAY, "fd.test", [], tmp_path, port=taken.getsockname()[1])
        with pytest.raises(FreeDiameterError, match="Address already in use"), relay:
            pass
    assert not relay.running

"""The asyncio Diameter transport on real sockets: request/answer, reconnect, closed peer."""

from __future__ import annotations

import asyncio

import pytest

from gba.config import DiameterNodeConfig
from gba.nf.common import peer_identity
from gba.protocols import zn
from gba.protocols.diameter import Event, Message, PeerClosed, PeerConnection, PeerOpen, Role
from gba.transport.diameter import DiameterClient, DiameterServer, DiameterUnavailable

SERVER = peer_identity(DiameterNodeConfig("bsf.test", "test"))
CLIENT = peer_identity(DiameterNodeConfig("naf.test", "test"))


async def echo_5403(request: Message, peer: str) -> Message:
    assert peer == "naf.test"
    return zn.build_bia_error(request, SERVER, 5403)


def bir() -> Message:
    return zn.build_bir(CLIENT, "test", "naf.test;1;1",
                        zn.KeyRequest("AAAAAAAAAAAAAAAAAAAAAA==@bsf.test", b"naf.test" + bytes(5)))


async def test_client_reconnects_when_the_server_comes_back() -> None:
    server = DiameterServer(SERVER, [zn.APPLICATION], echo_5403, "127.0.0.1", 0)
    await server.start()
    port = server.port
    client = DiameterClient(CLIENT, [zn.APPLICATION], "127.0.0.1", port, retry_delay=0.05,
                            max_retry_delay=0.1)
    await client.start()
    try:
        assert (await client.request(bir())).result_code == 5403
        await server.close()
        with pytest.raises(DiameterUnavailable):
            await client.request(bir(), timeout=0.3)
        again = DiameterServer(SERVER, [zn.APPLICATION], echo_5403, "127.0.0.1", port)
        await again.start()
        try:
            assert (await client.request(bir(), timeout=5.0)).result_code == 5403
        finally:
            await again.close()
    finally:
        await client.close()


async def test_peer_without_common_application_never_opens() -> None:
    server = DiameterServer(SERVER, [(10415, 16777221)], echo_5403, "127.0.0.1", 0)
    await server.start()
    client = DiameterClient(CLIENT, [zn.APPLICATION], "127.0.0.1", server.port,
                            retry_delay=0.05, max_retry_delay=0.1)
    await client.start()
    try:
        with pytest.raises(DiameterUnavailable):
            await client.wait_open(timeout=0.5)
    finally:
        await client.close()
        await server.close()


async def test_handler_failure_becomes_unable_to_comply() -> None:
    async def broken(request: Message, peer: str) -> Message:
        raise RuntimeError("handler bug")

    server = DiameterServer(SERVER, [zn.APPLICATION], broken, "127.0.0.1", 0)
    await server.start()
    client = DiameterClient(CLIENT, [zn.APPLICATION], "127.0.0.1", server.port)
    await client.start()
    try:
        assert (await client.request(bir())).result_code == 5012
        assert (await client.request(bir())).result_code == 5012
    finally:
        await client.close()
        await server.close()


async def test_closing_a_client_sends_dpr_to_the_peer_it_dialled() -> None:
    """RFC 6733 §5.4: the node says goodbye with DPR before closing the connection; the
    other side here is a bare PeerConnection on a socket, so we see what arrived."""
    events: asyncio.Queue[Event] = asyncio.Queue()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        conn = PeerConnection(SERVER, Role.RESPONDER, [zn.APPLICATION])
        conn.connection_made(loop.time())
        while data := await reader.read(65536):
            conn.receive_data(data, loop.time())
            writer.write(conn.data_to_send())
            for event in conn.pop_events():
                events.put_nowait(event)
        conn.connection_lost("end of stream")
        for event in conn.pop_events():
            events.put_nowait(event)
        writer.close()

    listener = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    client = DiameterClient(CLIENT, [zn.APPLICATION], "127.0.0.1", port)
    await client.start()
    try:
        await client.wait_open(timeout=5.0)
        assert isinstance(await asyncio.wait_for(events.get(), 5.0), PeerOpen)
    finally:
        await client.close()
        listener.close()
    closed = await asyncio.wait_for(events.get(), 5.0)
    assert closed == PeerClosed("peer sent DPR (DO_NOT_WANT_TO_TALK_TO_YOU)")
    await listener.wait_closed()

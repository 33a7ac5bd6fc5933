"""The Diameter node under abuse, on real sockets: caps on connections not past CER and
per address, refused connections closed at once and logged in a summary, nothing but one
log line (no traceback) when a connection or a handler fails, and 5009 for a request
nested too deep (issue 10 item 3)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import AsyncIterator

import pytest

from gba.config import DiameterNodeConfig
from gba.nf.common import peer_identity
from gba.protocols import zn
from gba.protocols.diameter import Avp, Message, PeerConnection, message_length
from gba.protocols.diameter import capabilities as caps
from gba.transport.diameter import DiameterClient, DiameterServer

SERVER = peer_identity(DiameterNodeConfig("bsf.test", "test"))
CLIENT = peer_identity(DiameterNodeConfig("naf.test", "test"))
PARTIAL_CER = struct.pack(">IIIII", 0x01000000 | 1000, 0x80000101, 0, 1, 1)
"""A CER header announcing 1000 bytes, and none of them: the connection waits for more."""


async def answer_5403(request: Message, peer: str) -> Message:
    return zn.build_bia_error(request, SERVER, 5403)


def bir(*extra: Avp) -> Message:
    request = zn.build_bir(CLIENT, "test", "naf.test;1;1",
                           zn.KeyRequest("AAAAAAAAAAAAAAAAAAAAAA==@bsf.test",
                                         b"naf.test" + bytes(5)))
    return request.with_avps([*request.avps, *extra])


@contextlib.asynccontextmanager
async def server(**limits: int) -> AsyncIterator[DiameterServer]:
    node = DiameterServer(SERVER, [zn.APPLICATION], answer_5403, "127.0.0.1", 0)
    for key, value in limits.items():
        setattr(node, key, value)
    await node.start()
    try:
        yield node
    finally:
        await node.close()


async def connect(node: DiameterServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", node.port)


async def closed_at_once(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(100), 2.0) == b""
    except ConnectionError:
        return True
    except TimeoutError:
        return False


async def still_open(reader: asyncio.StreamReader) -> bool:
    try:
        await asyncio.wait_for(reader.read(100), 0.2)
    except TimeoutError:
        return True
    except ConnectionError:
        return False
    return False


async def read_message(reader: asyncio.StreamReader) -> Message:
    head = await asyncio.wait_for(reader.readexactly(20), 2.0)
    length = message_length(head)
    assert length is not None
    return Message.decode(head + await asyncio.wait_for(reader.readexactly(length - 20), 2.0))


async def test_connections_past_the_pending_cap_are_closed_at_once() -> None:
    async with server(max_pending=3) as node:
        held = [await connect(node) for _ in range(3)]
        for _, writer in held:
            writer.write(PARTIAL_CER)
        await asyncio.sleep(0.1)
        reader, writer = await connect(node)
        assert await closed_at_once(reader)
        writer.close()
        assert all([await still_open(r) for r, _ in held])
        for _, w in held:
            w.close()


async def test_an_open_peer_frees_its_pending_slot() -> None:
    async with server(max_pending=1) as node:
        client = DiameterClient(CLIENT, [zn.APPLICATION], "127.0.0.1", node.port)
        await client.start()
        try:
            await client.wait_open(2.0)
            reader, writer = await connect(node)
            assert await still_open(reader)
            writer.close()
            assert (await client.request(bir())).result_code == 5403
        finally:
            await client.close()


async def test_connections_past_the_per_address_cap_are_closed_at_once() -> None:
    async with server(max_per_address=2) as node:
        held = [await connect(node) for _ in range(2)]
        reader, writer = await connect(node)
        assert await closed_at_once(reader)
        writer.close()
        for _, w in held:
            w.close()
        await asyncio.sleep(0.1)  # the node sees them go: the address has room again
        reader, writer = await connect(node)
        assert await still_open(reader)
        writer.close()


async def test_a_flood_of_refused_connections_costs_one_log_line(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gba.transport")
    async with server(max_per_address=1) as node:
        _, holder = await connect(node)
        await asyncio.sleep(0.05)
        caplog.clear()
        for _ in range(50):
            reader, writer = await connect(node)
            assert await closed_at_once(reader)
            writer.close()
        refusals = [r for r in caplog.records if "refused" in r.getMessage()]
        assert len(refusals) == 1
        holder.close()
    assert "refused 49 more connection(s)" in caplog.text  # the summary, at close


async def test_oversize_frame_before_cer_closes_with_one_log_line(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gba.transport")
    async with server() as node:
        reader, writer = await connect(node)
        writer.write(struct.pack(">IIIII", 0x01000000 | (1 << 20), 0x80000101, 0, 1, 1))
        with contextlib.suppress(ConnectionError):
            writer.write(bytes(1 << 16))
            await writer.drain()
        assert await closed_at_once(reader)
        writer.close()
        await asyncio.sleep(0.05)
    lines = [r for r in caplog.records if "16384" in r.getMessage()]
    assert len(lines) == 1
    assert "127.0.0.1:" in lines[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)


async def test_deeply_nested_request_after_cer_is_answered_5009() -> None:
    deep = Avp(284, b"")
    for _ in range(600):
        deep = Avp(284, deep.encode())
    async with server() as node:
        reader, writer = await connect(node)
        writer.write(caps.build_cer(CLIENT, [zn.APPLICATION]).with_ids(1, 1).encode())
        assert (await read_message(reader)).result_code == 2001
        writer.write(bir(deep).with_ids(0xBEEF, 2).encode())
        answer = await read_message(reader)
        assert (answer.hop_by_hop, answer.result_code) == (0xBEEF, 5009)
        writer.write(bir().with_ids(0xF00D, 3).encode())
        assert (await read_message(reader)).result_code == 5403
        writer.close()


async def test_a_failing_handler_logs_one_line_without_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    async def broken(request: Message, peer: str) -> Message:
        raise RuntimeError("handler bug")

    caplog.set_level(logging.INFO, logger="gba.transport")
    node = DiameterServer(SERVER, [zn.APPLICATION], broken, "127.0.0.1", 0)
    await node.start()
    client = DiameterClient(CLIENT, [zn.APPLICATION], "127.0.0.1", node.port)
    await client.start()
    try:
        caplog.clear()
        assert (await client.request(bir())).result_code == 5012
    finally:
        await client.close()
        await node.close()
    failures = [r for r in caplog.records if "handler bug" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].exc_info is None
    assert "Traceback" not in caplog.text


async def test_an_exception_in_the_peer_machine_closes_that_connection_only(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    original = PeerConnection.receive_data

    def exploding(self: PeerConnection, data: bytes, now: float) -> None:
        if data.startswith(b"BOOM"):
            raise RecursionError("maximum recursion depth exceeded")
        original(self, data, now)

    monkeypatch.setattr(PeerConnection, "receive_data", exploding)
    caplog.set_level(logging.DEBUG, logger="gba.transport")
    async with server() as node:
        reader, writer = await connect(node)
        writer.write(b"BOOM")
        assert await closed_at_once(reader)
        writer.close()
        client = DiameterClient(CLIENT, [zn.APPLICATION], "127.0.0.1", node.port)
        await client.start()
        try:
            assert (await client.request(bir())).result_code == 5403
        finally:
            await client.close()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING
                and "RecursionError" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].exc_info is None
    assert all(r.levelno == logging.DEBUG for r in caplog.records if r.exc_info)

"""The transport tap: a :class:`TapLoop` reports what its TCP, TLS and UDP transports
carry, at the wire and above TLS, and PSK-TLS reports its plaintext; TLS secrets go to
the key log (owner-only) only while capture is on."""

from __future__ import annotations

import asyncio
import ssl
from asyncio import selector_events
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from gba.capture import tap
from gba.capture.events import Segment
from gba.crypto.kdf import btid
from gba.transport.psk_tls import (
    PskGrant,
    PskTlsConnection,
    PskTlsServer,
    psk_identity_for,
    psk_tls_request,
)
from gba.transport.psk_tls_io import CAPTURE_NOTE
from gba.transport.tls import LabCa, client_context, server_context

TIMEOUT = 10.0


class Memory:
    def __init__(self) -> None:
        self.segments: list[Segment] = []
        self.closed = False

    def segment(self, seg: Segment) -> None:
        self.segments.append(seg)

    def close(self) -> None:
        self.closed = True

    def of(self, layer: str = "wire", kind: str | None = None) -> list[Segment]:
        return [s for s in self.segments
                if s.layer == layer and (kind is None or s.kind == kind)]


def run(main: Callable[[], Coroutine[Any, Any, None]], *sinks: Any, keylog: Path | None = None
        ) -> None:
    tap.run(asyncio.wait_for(main(), TIMEOUT), recorder="test", sinks=sinks, keylog=keylog)


async def echo_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"echo " + await reader.readline())
    await writer.drain()
    writer.close()
    await writer.wait_closed()


def test_tcp_both_directions_one_open_one_close() -> None:
    memory = Memory()
    ports: list[int] = []

    async def main() -> None:
        server = await asyncio.start_server(echo_once, "127.0.0.1", 0)
        ports.append(server.sockets[0].getsockname()[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", ports[0])
        writer.write(b"hello\n")
        assert await reader.read() == b"echo hello\n"
        writer.close()
        await writer.wait_closed()
        server.close()

    run(main, memory)
    assert memory.closed
    by_connection: dict[int, list[Segment]] = {}
    for s in memory.of():
        by_connection.setdefault(s.connection, []).append(s)
    assert len(by_connection) == 2, "the client's and the server's end"
    for segments in by_connection.values():
        assert [s.kind for s in segments] == ["open", "data", "data", "close"]
        opened, request, answer, closed = segments
        assert opened.dst == ("127.0.0.1", ports[0]), "open goes from client to server"
        assert (request.dst, request.data) == (opened.dst, b"hello\n")
        assert (answer.src, answer.data) == (opened.dst, b"echo hello\n")
        assert closed.src == opened.dst, "the server closed first"
        assert {s.recorder for s in segments} == {"test"}


def test_tls_is_recorded_as_records_and_above_tls_with_a_key_log(tmp_path: Path) -> None:
    ca = LabCa(tmp_path / "ca")
    ca.issue("server.example", tmp_path / "s.pem", tmp_path / "s.key")
    keys = tmp_path / "capture.keys"
    memory = Memory()

    async def main() -> None:
        server_ctx = server_context(tmp_path / "s.pem", tmp_path / "s.key")
        client_ctx = client_context(ca.ca)
        assert client_ctx.keylog_filename == str(keys)
        server = await asyncio.start_server(echo_once, "127.0.0.1", 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx,
                                                       server_hostname="server.example")
        assert writer.get_extra_info("ssl_object") is not None
        writer.write(b"secret\n")
        assert await reader.read() == b"echo secret\n"
        writer.close()
        await writer.wait_closed()
        server.close()

    run(main, memory, keylog=keys)
    wire = memory.of("wire", "data")
    assert wire[0].data[:1] == b"\x16", "a TLS handshake record first"
    assert not any(b"secret" in s.data for s in wire)
    above = [s.data for s in memory.of("decrypted", "data")]
    assert above.count(b"secret\n") == 2
    assert above.count(b"echo secret\n") == 2
    wire_ids = {s.connection for s in wire}
    assert {s.connection for s in memory.of("decrypted")} == wire_ids
    assert len(memory.of("decrypted", "open")) == len(memory.of("decrypted", "close")) == 2
    assert keys.stat().st_mode & 0o777 == 0o600
    assert "CLIENT_HANDSHAKE_TRAFFIC_SECRET" in keys.read_text()


def test_udp_datagrams_both_ways() -> None:
    memory = Memory()

    class Answer(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.DatagramTransport)
            self.transport = transport

        def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
            self.transport.sendto(b"SIP/2.0 200 OK\r\n\r\n", addr)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server, _ = await loop.create_datagram_endpoint(Answer, local_addr=("127.0.0.1", 0))
        client = await loop.run_in_executor(None, _udp_ask, server.get_extra_info("sockname"))
        assert client == b"SIP/2.0 200 OK\r\n\r\n"
        server.close()

    run(main, memory)
    request, answer = memory.of("wire")
    assert request.transport == answer.transport == "udp"
    assert request.data.startswith(b"OPTIONS")
    assert answer.data.startswith(b"SIP/2.0")
    assert (request.src, request.dst) == (answer.dst, answer.src)


def _udp_ask(where: tuple[str, int]) -> bytes:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendto(b"OPTIONS sip:x SIP/2.0\r\n\r\n", where)
        return sock.recv(2048)


def test_psk_tls_reports_its_plaintext() -> None:
    memory = Memory()
    key = bytes(range(32))

    async def lookup(identity: str, suite: int, name: str | None) -> PskGrant[str]:
        return PskGrant(key, identity)

    async def handler(conn: PskTlsConnection[str]) -> None:
        await conn.readline()
        await conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    async def main() -> None:
        async with PskTlsServer("127.0.0.1", 0, lookup, handler,
                                ciphers="PSK-AES128-CBC-SHA") as server:
            identity = psk_identity_for(btid(bytes(16), "bsf.example.org"))
            reply = await psk_tls_request("127.0.0.1", server.port, identity, key,
                                          b"GET /\r\n")
        assert reply.startswith(b"HTTP/1.1 200")

    run(main, memory)
    segments = memory.of("decrypted")
    assert [s.kind for s in segments] == ["open", "data", "data", "close"]
    assert segments[1].data == b"GET /\r\n"
    assert segments[2].data.startswith(b"HTTP/1.1 200")
    assert {s.note for s in segments} == {CAPTURE_NOTE}
    assert memory.of("wire") == [], "the loop never sees a PSK-TLS socket's bytes"


def test_a_raising_sink_is_dropped_and_traffic_goes_on() -> None:
    class Broken:
        def segment(self, seg: Segment) -> None:
            raise RuntimeError("disk full")

        def close(self) -> None:
            pass

    memory = Memory()

    async def main() -> None:
        server = await asyncio.start_server(echo_once, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
        writer.write(b"x\n")
        assert await reader.read() == b"echo x\n"
        writer.close()
        server.close()

    run(main, Broken(), memory)
    assert memory.of("wire", "data")


def test_proxies_keep_the_protocol_interface() -> None:
    async def main() -> None:
        server = await asyncio.start_server(echo_once, "127.0.0.1", 0)
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_connection(asyncio.Protocol,
                                                           *server.sockets[0].getsockname())
        assert isinstance(transport, asyncio.Transport)
        assert transport.get_protocol() is protocol
        other = asyncio.Protocol()
        transport.set_protocol(other)
        assert transport.get_protocol() is other
        transport.close()
        server.close()

    run(main, Memory())


def test_capture_is_refused_without_the_transport_hooks(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.delattr(selector_events.BaseSelectorEventLoop, "_make_ssl_transport")

    async def main() -> None:
        raise AssertionError("not run")

    with pytest.raises(tap.CaptureError, match="_make_ssl_transport"):
        tap.run(main(), recorder="test", sinks=[Memory()])
    assert not tap.installed()


def test_no_key_log_unless_capture_is_on(tmp_path: Path) -> None:
    assert not tap.installed()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    assert tap.keylog(ctx).keylog_filename is None
    assert tap.stream_tap(object(), accepted=True) is None

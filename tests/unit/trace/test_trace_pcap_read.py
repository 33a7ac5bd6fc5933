"""read_segments: pcapng (written here with python-pcapng) and pcap to segments, TCP put
back in order; files that are not captures, empty or cut short are refused clearly."""

from __future__ import annotations

import io
import ipaddress
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pcapng  # type: ignore[import-untyped]
import pytest
from pcapng import blocks
from typer.testing import CliRunner

from gba.cli.main import app
from gba.trace.assemble import messages
from gba.trace.pcap_read import CaptureError, read_segments

UE = ("10.0.0.1", 40000)
BSF = ("10.0.0.2", 8080)
SYN, FIN, ACK, PSH, RST = 0x02, 0x01, 0x10, 0x08, 0x04
REQUEST = b"GET /boot HTTP/1.1\r\nHost: bsf\r\n\r\n"
RESPONSE = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 10\r\n\r\n0123456789"


def tcp(src: tuple[str, int], dst: tuple[str, int], seq: int, flags: int,
        payload: bytes = b"", ack: int = 0) -> bytes:
    return struct.pack("!HHIIBBHHH", src[1], dst[1], seq, ack, 5 << 4, flags, 65535, 0,
                       0) + payload


def ipv4(src: str, dst: str, proto: int, payload: bytes) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0x4000, 64, proto, 0,
                       ipaddress.IPv4Address(src).packed,
                       ipaddress.IPv4Address(dst).packed) + payload


def ipv6(src: str, dst: str, proto: int, payload: bytes) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), proto, 64,
                       ipaddress.IPv6Address(src).packed,
                       ipaddress.IPv6Address(dst).packed) + payload


def ether(packet: bytes, ethertype: int = 0x0800) -> bytes:
    return bytes(12) + struct.pack("!H", ethertype) + packet


def segment(src: tuple[str, int], dst: tuple[str, int], seq: int, flags: int,
            payload: bytes = b"") -> bytes:
    return ether(ipv4(src[0], dst[0], 6, tcp(src, dst, seq, flags, payload)))


def exchange() -> list[bytes]:
    """A whole connection, with a retransmission and a segment out of order."""
    c, s = 1000, 5000
    return [
        segment(UE, BSF, c, SYN), segment(BSF, UE, s, SYN | ACK), segment(UE, BSF, c + 1, ACK),
        segment(UE, BSF, c + 1, PSH | ACK, REQUEST[:10]),
        segment(UE, BSF, c + 1 + 10, PSH | ACK, REQUEST[10:]),
        segment(UE, BSF, c + 1, PSH | ACK, REQUEST[:10]),  # retransmitted
        segment(BSF, UE, s + 1 + 20, PSH | ACK, RESPONSE[20:]),  # overtakes the next one
        segment(BSF, UE, s + 1, PSH | ACK, RESPONSE[:25]),  # overlaps the one before
        segment(UE, BSF, c + 1 + len(REQUEST), FIN | ACK),
        segment(BSF, UE, s + 1 + len(RESPONSE), FIN | ACK),
        segment(UE, BSF, c + 2 + len(REQUEST), ACK),
    ]


def write_pcapng(path: Path, frames: list[bytes], name: str = "bsf", link_type: int = 1,
                 comment: str = "", comments: list[str] | None = None) -> bytes:
    shb = blocks.SectionHeader(options={"shb_userappl": "test"})
    shb.new_member(blocks.InterfaceDescription, link_type=link_type,
                   options={"if_name": name})
    stream = io.BytesIO()
    writer = pcapng.FileWriter(stream, shb)
    for i, frame in enumerate(frames):
        micros = 1_700_000_000_000_000 + i * 1000
        note = comments[i] if comments is not None else comment
        options: dict[str, Any] = {"opt_comment": note} if note else {}
        writer.write_block(shb.new_member(
            blocks.EnhancedPacket, interface_id=0, timestamp_high=micros >> 32,
            timestamp_low=micros & 0xFFFFFFFF, packet_data=frame, options=options))
    path.write_bytes(stream.getvalue())
    return stream.getvalue()


def test_tcp_reassembled_in_order_once(tmp_path: Path) -> None:
    path = tmp_path / "bsf.pcapng"
    write_pcapng(path, exchange())
    segments = read_segments(path)
    assert [s.kind for s in segments] == ["open", "data", "data", "data", "data", "close"]
    assert all(s.recorder == "bsf" and s.connection == 1 for s in segments)
    assert segments[0].src == UE
    assert segments[0].dst == BSF
    sent = b"".join(s.data for s in segments if s.src == UE)
    received = b"".join(s.data for s in segments if s.src == BSF)
    assert (sent, received) == (REQUEST, RESPONSE)
    assert segments[0].time == pytest.approx(1_700_000_000.0)
    found = messages(segments)
    assert [(m.src, m.summary) for m in found] == [(UE, "GET /boot"),
                                                   (BSF, "401 Unauthorized")]


def test_ipv6_udp_raw_ip_and_comment(tmp_path: Path) -> None:
    sip = b"OPTIONS sip:x SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n"
    udp = struct.pack("!HHHH", 5060, 5060, 8 + len(sip), 0) + sip
    v6 = tcp(("::1", 40001), ("::1", 443), 7, PSH | ACK, b"GET / HTTP/1.1\r\n\r\n")
    frames = [ipv6("::1", "::2", 17, udp), ipv6("::1", "::1", 6, v6)]
    path = tmp_path / "raw.pcapng"
    write_pcapng(path, frames, name="naf", link_type=101,
                 comment="decrypted: PSK-TLS, recorded above TLS")
    segments = read_segments(path)
    assert [(s.transport, s.kind, s.src) for s in segments] == [
        ("udp", "data", ("::1", 5060)), ("tcp", "data", ("::1", 40001))]
    assert all(s.layer == "decrypted" and "PSK-TLS" in s.note for s in segments)
    assert [m.summary for m in messages(segments)] == ["OPTIONS sip:x", "GET /"]


def test_decrypted_copy_of_a_tls_connection_is_preferred(tmp_path: Path) -> None:
    record = bytes([23, 3, 3, 0, 40]) + bytes(40)
    wire = [segment(UE, BSF, 1, SYN), segment(BSF, UE, 9, SYN | ACK),
            segment(UE, BSF, 2, PSH | ACK, record)]
    plain = [segment(UE, BSF, 500, SYN), segment(BSF, UE, 900, SYN | ACK),
             segment(UE, BSF, 501, PSH | ACK, REQUEST)]
    path = tmp_path / "both.pcapng"
    write_pcapng(path, wire + plain, comments=["", "", ""] + ["decrypted: Zh over TLS"] * 3)
    found = messages(read_segments(path))
    assert [(m.summary, m.layer) for m in found] == [("GET /boot", "decrypted")]


def test_classic_pcap_is_read_too(tmp_path: Path) -> None:
    path = tmp_path / "old.pcap"
    records = b"".join(struct.pack("<IIII", 1_700_000_000, i, len(f), len(f)) + f
                       for i, f in enumerate(exchange()))
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) + records)
    assert [m.summary for m in messages(read_segments(path))] == ["GET /boot",
                                                                  "401 Unauthorized"]


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pcapng"
    path.write_bytes(b"")
    with pytest.raises(CaptureError, match=r"empty\.pcapng: empty file, not a capture"):
        read_segments(path)


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.bin"
    path.write_bytes(b"\x3f\x2a\x00\x01" + os.urandom(200))
    with pytest.raises(CaptureError, match=r"noise\.bin: not a pcapng or pcap capture "
                                           r"\(it starts with 3f 2a 00 01"):
        read_segments(path)


@pytest.mark.parametrize("cut", [3, 10, 30, 41, 200, -1])
def test_truncated_pcapng(tmp_path: Path, cut: int) -> None:
    whole = write_pcapng(tmp_path / "whole.pcapng", exchange())
    path = tmp_path / "cut.pcapng"
    path.write_bytes(whole[:cut])
    with pytest.raises(CaptureError, match=r"cut\.pcapng: (truncated|corrupt) (pcapng|capture)"):
        read_segments(path)


def test_truncated_pcap(tmp_path: Path) -> None:
    frame = exchange()[0]
    path = tmp_path / "cut.pcap"
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
                     + struct.pack("<IIII", 0, 0, len(frame), len(frame)) + frame[:-3])
    with pytest.raises(CaptureError, match=r"cut\.pcap: truncated pcap \(record at byte 24"):
        read_segments(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="cannot read"):
        read_segments(tmp_path / "nothing.pcapng")


@pytest.mark.parametrize(("content", "words"), [
    (b"", "empty file"), (b"\x00\x01garbage", "not a pcapng"),
    (b"\x0a\x0d\x0d\x0a\x1c\x00", "truncated pcapng"),
    (b'{"kind": "nonsense"}\n', "not a gba-trace-message record"),
])
def test_gba_trace_exits_2_with_one_line(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "bad.pcapng"
    path.write_bytes(content)
    result = CliRunner().invoke(app, ["trace", str(path)])
    assert result.exit_code == 2
    assert words in result.output
    assert "Traceback" not in result.output


def test_gba_trace_subprocess_has_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "cut.pcapng"
    path.write_bytes(write_pcapng(tmp_path / "whole.pcapng", exchange())[:-7])
    run = subprocess.run([sys.executable, "-m", "gba", "trace", str(path)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2
    assert run.stderr.startswith(f"error: {path}: truncated pcapng")
    assert "Traceback" not in run.stderr
    assert run.stdout == ""

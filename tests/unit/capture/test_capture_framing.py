"""The pcapng sink: segments framed as Ethernet/IP/TCP-or-UDP, read back with python-pcapng.

Checked: lengths and checksums (RFC 1071 over the IP header and the TCP/UDP
pseudo-header), a three-way handshake, sequence and acknowledgment numbers that follow
the bytes each side sent, data split at 65,000 octets, FIN/FIN/ACK at the close, one
interface named after the recorder, and which decrypted segments are framed.
"""

from __future__ import annotations

import struct
import threading
from pathlib import Path
from typing import Any

import pcapng  # type: ignore[import-untyped]
from pcapng import blocks

from gba.capture.events import Segment
from gba.capture.framing import (
    ACK,
    FIN,
    MAX_TCP_PAYLOAD,
    PROTO_TCP,
    PROTO_UDP,
    PSH,
    SYN,
    Framer,
    checksum,
    is_decrypted,
    parse_frame,
)
from gba.capture.merge import comments_of
from gba.capture.pcapng_sink import PcapngSink

CLIENT, SERVER = ("127.0.0.1", 40000), ("127.0.0.1", 3868)
T0 = 1_780_000_000.0


def seg(kind: Any, src: tuple[str, int] = CLIENT, dst: tuple[str, int] = SERVER,
        data: bytes = b"", *, t: float = 0.0, connection: int = 1, layer: Any = "wire",
        note: str = "", transport: Any = "tcp") -> Segment:
    return Segment(T0 + t, transport, src, dst, kind, connection, data, note, layer, "hss")


def read_back(path: Path) -> tuple[list[Any], list[Any]]:
    """(interfaces, enhanced packets) of a pcapng file."""
    with path.open("rb") as stream:
        found = list(pcapng.FileScanner(stream))
    return ([b for b in found if isinstance(b, blocks.InterfaceDescription)],
            [b for b in found if isinstance(b, blocks.EnhancedPacket)])


def write(path: Path, segments: list[Segment]) -> list[Any]:
    sink = PcapngSink(path, "hss")
    for s in segments:
        sink.segment(s)
    sink.close()
    return read_back(path)[1]


def tcp_fields(frame: bytes) -> tuple[int, int, int]:
    """(seq, ack, flags) of an IPv4 or IPv6 TCP frame."""
    ip = 14 + (20 if frame[12:14] == b"\x08\x00" else 40)
    seq, ack = struct.unpack_from("!II", frame, ip + 4)
    return seq, ack, frame[ip + 13]


def assert_checksums_hold(frame: bytes) -> None:
    if frame[12:14] == b"\x08\x00":
        header, body = frame[14:34], frame[34:]
        assert checksum(header) == 0
        assert struct.unpack_from("!H", header, 2)[0] == 20 + len(body)
        pseudo = header[12:20] + struct.pack("!BBH", 0, header[9], len(body))
    else:
        header, body = frame[14:54], frame[54:]
        assert struct.unpack_from("!H", header, 4)[0] == len(body)
        pseudo = header[8:40] + struct.pack("!IxxxB", len(body), header[6])
    assert checksum(pseudo + body) == 0


def test_a_connection_reads_back_with_consistent_numbers(tmp_path: Path) -> None:
    big = bytes(range(256)) * 600  # 153,600 octets: three frames
    packets = write(tmp_path / "c.pcapng", [
        seg("open"), seg("data", data=b"CER", t=0.1),
        seg("data", SERVER, CLIENT, b"CEA!", t=0.2), seg("data", data=big, t=0.3),
        seg("close", SERVER, CLIENT, t=0.4)])
    frames = [bytes(p.packet_data) for p in packets]
    infos = [parse_frame(f) for f in frames]
    assert all(i is not None and i.proto == PROTO_TCP for i in infos)
    for f in frames:
        assert_checksums_hold(f)
    flags = [tcp_fields(f)[2] for f in frames]
    assert flags == [SYN, SYN | ACK, ACK, PSH | ACK, PSH | ACK, PSH | ACK, PSH | ACK,
                     PSH | ACK, FIN | ACK, FIN | ACK, ACK]
    next_seq: dict[tuple[str, int], int] = {}
    for frame, info in zip(frames, infos, strict=True):
        assert info is not None
        seq, ack, flag = tcp_fields(frame)
        if flag & SYN:
            next_seq[info.src] = seq + 1
            continue
        assert seq == next_seq[info.src], "sequence numbers follow the bytes sent"
        assert ack == next_seq[info.dst], "acknowledgments follow the bytes received"
        next_seq[info.src] += len(info.payload) + (1 if flag & FIN else 0)
    payloads = [i.payload for i in infos if i is not None and i.payload]
    assert payloads[:2] == [b"CER", b"CEA!"]
    assert [len(p) for p in payloads[2:]] == [MAX_TCP_PAYLOAD, MAX_TCP_PAYLOAD,
                                               len(big) - 2 * MAX_TCP_PAYLOAD]
    assert b"".join(payloads[2:]) == big
    closing = infos[-3]
    assert closing is not None
    assert closing.src == SERVER, "who closed first sends FIN"
    micros = [(p.timestamp_high << 32) + p.timestamp_low for p in packets]
    assert micros == sorted(micros)
    assert micros[0] == round(T0 * 1e6)


def test_one_interface_named_after_the_recorder_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "hss.pcapng"
    write(path, [seg("open")])
    interfaces, _ = read_back(path)
    assert [i.options["if_name"] for i in interfaces] == ["hss"]
    assert interfaces[0].link_type == 1
    assert path.stat().st_mode & 0o777 == 0o600


def test_ipv6_and_udp_frames(tmp_path: Path) -> None:
    a, b = ("::1", 5060), ("::1", 5070)
    packets = write(tmp_path / "u.pcapng", [
        seg("data", a, b, b"OPTIONS sip:x SIP/2.0\r\n\r\n", transport="udp", connection=0),
        seg("open", ("::1", 40000), ("::1", 8080), connection=7)])
    udp = bytes(packets[0].packet_data)
    assert udp[12:14] == b"\x86\xdd"
    info = parse_frame(udp)
    assert info is not None
    assert info.proto == PROTO_UDP
    assert info.src == a
    assert info.dst == b
    for p in packets:
        assert_checksums_hold(bytes(p.packet_data))


def test_decrypted_bytes_only_where_the_wire_was_not_seen(tmp_path: Path) -> None:
    psk = ("127.0.0.1", 4443)
    packets = write(tmp_path / "d.pcapng", [
        seg("open"), seg("open", layer="decrypted"),
        seg("data", data=b"\x17\x03\x03 ciphertext"),
        seg("data", data=b"plaintext", layer="decrypted"),
        seg("close"), seg("close", layer="decrypted"),
        seg("open", CLIENT, psk, connection=2, layer="decrypted", note="PSK-TLS"),
        seg("data", CLIENT, psk, b"GET / HTTP/1.1\r\n\r\n", connection=2,
            layer="decrypted", note="PSK-TLS"),
        seg("close", psk, CLIENT, connection=2, layer="decrypted", note="PSK-TLS")])
    payloads = [parse_frame(bytes(p.packet_data)) for p in packets]
    assert [i.payload for i in payloads if i is not None and i.payload] == [
        b"\x17\x03\x03 ciphertext", b"GET / HTTP/1.1\r\n\r\n"]
    comments = [comments_of(p) for p in packets]
    assert comments[:7] == [[]] * 7
    assert all(c == ["decrypted: PSK-TLS"] for c in comments[7:])
    assert len(comments) == 14
    assert is_decrypted("decrypted: PSK-TLS")
    assert not is_decrypted("")


def test_both_ends_in_one_process_are_framed_once() -> None:
    framer = Framer()
    frames = [f for s in (seg("open", connection=1), seg("open", connection=2),
                          seg("data", data=b"x", connection=1),
                          seg("data", data=b"x", connection=2),
                          seg("close", connection=2), seg("close", connection=1))
              for f in framer.frames(s)]
    assert len(frames) == 3 + 1 + 3


def test_segments_from_threads_are_written_whole(tmp_path: Path) -> None:
    sink = PcapngSink(tmp_path / "t.pcapng", "naf")

    def talk(n: int) -> None:
        ends = (("127.0.0.1", 41000 + n), SERVER)
        sink.segment(seg("open", *ends, connection=n))
        for _ in range(50):
            sink.segment(seg("data", *ends, b"y" * 100, connection=n))
        sink.segment(seg("close", *ends, connection=n))

    threads = [threading.Thread(target=talk, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sink.close()
    _, packets = read_back(tmp_path / "t.pcapng")
    assert len(packets) == 8 * (3 + 50 + 3)

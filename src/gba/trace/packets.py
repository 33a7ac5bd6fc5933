"""Captured frames to segments: link layer, IPv4/IPv6, UDP, and TCP put back in order.

Link types (tcpdump.org LINKTYPE_*): 0 NULL and 108 LOOP (BSD loopback), 1 Ethernet (with
802.1Q tags), 101/228/229 raw IP, 113 Linux cooked (SLL) and 276 SLL2. IP fragments and
other transports are skipped. TCP (RFC 9293 §3.4): bytes are delivered in sequence order;
a retransmitted or overlapping span is delivered once; a gap is waited for (bounded), and
given up at FIN/RST. A SYN starts a connection ("open", client to server); a FIN from
each side, or an RST, ends it ("close", from the side that closed first).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

from gba.capture.events import Layer, Segment, SegmentKind

LINK_NULL, LINK_ETHERNET, LINK_RAW, LINK_LOOP = 0, 1, 101, 108
LINK_SLL, LINK_IPV4, LINK_IPV6, LINK_SLL2 = 113, 228, 229, 276
SUPPORTED_LINKS = frozenset({LINK_NULL, LINK_ETHERNET, LINK_RAW, LINK_LOOP, LINK_SLL,
                             LINK_IPV4, LINK_IPV6, LINK_SLL2})
_MAX_OUT_OF_ORDER = 1 << 20
_SYN, _FIN, _RST, _ACK = 0x02, 0x01, 0x04, 0x10
_IPV6_EXTENSIONS = frozenset({0, 43, 60, 135, 139, 140})  # hop-by-hop, routing, options...


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured frame and what the capture said about it."""

    time: float
    link_type: int
    data: bytes
    recorder: str = ""
    comment: str = ""


@dataclass(frozen=True, slots=True)
class IpPacket:
    src: str
    dst: str
    protocol: int
    payload: bytes


def _ip_payload(data: bytes) -> IpPacket | None:
    """IPv4 (RFC 791) or IPv6 (RFC 8200) by the version nibble; None for anything else."""
    if len(data) >= 20 and data[0] >> 4 == 4:
        header = (data[0] & 0x0F) * 4
        total = int.from_bytes(data[2:4], "big")
        flags_offset = int.from_bytes(data[6:8], "big")
        if header < 20 or flags_offset & 0x3FFF:  # options, or a fragment: skipped
            return None
        end = total if header <= total <= len(data) else len(data)
        return IpPacket(str(ipaddress.IPv4Address(data[12:16])),
                        str(ipaddress.IPv4Address(data[16:20])), data[9], data[header:end])
    if len(data) >= 40 and data[0] >> 4 == 6:
        next_header, pos = data[6], 40
        end = min(len(data), 40 + int.from_bytes(data[4:6], "big"))
        while next_header in _IPV6_EXTENSIONS and pos + 8 <= end:
            next_header, pos = data[pos], pos + (data[pos + 1] + 1) * 8
        if next_header == 44:  # a fragment
            return None
        return IpPacket(str(ipaddress.IPv6Address(data[8:24])),
                        str(ipaddress.IPv6Address(data[24:40])), next_header, data[pos:end])
    return None


def ip_of_frame(link_type: int, data: bytes) -> IpPacket | None:
    """The IP packet inside a frame of *link_type*, or None (not IP, or not supported)."""
    if link_type == LINK_ETHERNET:
        pos, ethertype = 14, int.from_bytes(data[12:14], "big")
        while ethertype in (0x8100, 0x88A8) and len(data) >= pos + 4:  # 802.1Q/802.1ad tags
            ethertype, pos = int.from_bytes(data[pos + 2:pos + 4], "big"), pos + 4
        return _ip_payload(data[pos:]) if ethertype in (0x0800, 0x86DD) else None
    if link_type in (LINK_RAW, LINK_IPV4, LINK_IPV6):
        return _ip_payload(data)
    if link_type in (LINK_NULL, LINK_LOOP):
        return _ip_payload(data[4:])  # the family word: the version nibble says enough
    if link_type == LINK_SLL:
        return _ip_payload(data[16:]) if data[14:16] in (b"\x08\x00", b"\x86\xdd") else None
    if link_type == LINK_SLL2:
        return _ip_payload(data[20:]) if data[0:2] in (b"\x08\x00", b"\x86\xdd") else None
    return None


@dataclass
class _Direction:
    next_seq: int | None = None
    pending: dict[int, bytes] = field(default_factory=dict)
    finished: bool = False


@dataclass
class _Flow:
    """One TCP connection as seen in one capture interface."""

    number: int
    client: tuple[str, int]
    server: tuple[str, int]
    directions: dict[tuple[str, int], _Direction] = field(default_factory=dict)
    first_closer: tuple[str, int] | None = None
    closed: bool = False


class TcpReassembler:
    """Frames in capture order, segments out: IP and UDP decoded, TCP reassembled."""

    def __init__(self) -> None:
        self._flows: dict[tuple[str, str, tuple[str, int], tuple[str, int]], _Flow] = {}
        self._count = 0
        self.skipped = 0
        """Frames that were not IPv4/IPv6 TCP or UDP (or were too short to be)."""

    def frame(self, frame: Frame) -> list[Segment]:
        ip = ip_of_frame(frame.link_type, frame.data)
        layer: Layer = "decrypted" if _above_tls(frame.comment) else "wire"
        if ip is not None and ip.protocol == 17 and len(ip.payload) >= 8:
            sport, dport = struct.unpack_from("!HH", ip.payload)
            return [Segment(frame.time, "udp", (ip.src, sport), (ip.dst, dport), "data",
                            data=ip.payload[8:], note=frame.comment, layer=layer,
                            recorder=frame.recorder)]
        if ip is None or ip.protocol != 6 or len(ip.payload) < 20:
            self.skipped += 1
            return []
        sport, dport, seq = struct.unpack_from("!HHI", ip.payload)
        offset = (ip.payload[12] >> 4) * 4
        flags = ip.payload[13]
        payload = ip.payload[offset:] if offset >= 20 else b""
        src, dst = (ip.src, sport), (ip.dst, dport)
        return self._tcp(frame, src, dst, seq, flags, payload, layer)

    def _tcp(self, frame: Frame, src: tuple[str, int], dst: tuple[str, int], seq: int,
             flags: int, payload: bytes, layer: Layer) -> list[Segment]:
        low, high = sorted((src, dst))
        key = (frame.recorder, layer, low, high)  # a decrypted copy is a flow of its own
        flow = self._flows.get(key)
        out: list[Segment] = []

        def segment(kind: SegmentKind, data: bytes = b"", first: tuple[str, int] = src
                    ) -> Segment:
            assert flow is not None
            other = dst if first == src else src
            return Segment(frame.time, "tcp", first, other, kind, flow.number, data,
                           note=frame.comment, layer=layer, recorder=frame.recorder)

        if flags & _SYN and not flags & _ACK and (flow is None or flow.closed
                                                  or flow.client != src):
            self._count += 1
            flow = self._flows[key] = _Flow(self._count, src, dst)
            flow.directions[src] = _Direction((seq + 1) & 0xFFFFFFFF)
            return [segment("open")]
        if flow is not None and flow.closed:
            return []  # retransmissions and ACKs after the end
        if flow is None:
            self._count += 1  # a connection whose start was not captured
            flow = self._flows[key] = _Flow(self._count, src, dst)
        state = flow.directions.setdefault(src, _Direction())
        if flags & _SYN:  # SYN-ACK: the server's initial sequence number
            state.next_seq = (seq + 1) & 0xFFFFFFFF
            return []
        if state.next_seq is None:
            state.next_seq = seq
        if payload:
            out += [segment("data", chunk) for chunk in self._deliver(state, seq, payload)]
        if flags & (_FIN | _RST) and not state.finished:
            state.finished = True
            leftovers = b"".join(state.pending[s] for s in sorted(state.pending))
            state.pending.clear()
            if leftovers and flags & _FIN:
                out.append(segment("data", leftovers))
            flow.first_closer = flow.first_closer or src
            both = len(flow.directions) == 2 and all(
                d.finished for d in flow.directions.values())
            if flags & _RST or both:
                flow.closed = True
                out.append(segment("close", first=flow.first_closer))
        return out

    @staticmethod
    def _deliver(state: _Direction, seq: int, payload: bytes) -> list[bytes]:
        """The bytes that are now in order; out-of-order ones wait in ``pending``."""
        expected = seq if state.next_seq is None else state.next_seq
        ahead = (seq - expected) & 0xFFFFFFFF
        if ahead >= 1 << 31:  # starts before what was delivered: keep only what is new
            behind = (expected - seq) & 0xFFFFFFFF
            if behind >= len(payload):
                return []
            payload, seq = payload[behind:], expected
        elif ahead:
            if sum(map(len, state.pending.values())) < _MAX_OUT_OF_ORDER:
                state.pending.setdefault(seq, payload)
            return []
        out = [payload]
        expected = (seq + len(payload)) & 0xFFFFFFFF
        while state.pending:
            early = min(state.pending, key=lambda s: (s - expected) & 0xFFFFFFFF)
            gap = (early - expected) & 0xFFFFFFFF
            if gap and gap < 1 << 31:
                break
            data = state.pending.pop(early)
            skip = (expected - early) & 0xFFFFFFFF
            if skip < len(data):
                out.append(data[skip:])
                expected = (early + len(data)) & 0xFFFFFFFF
        state.next_seq = expected
        return out


def _above_tls(comment: str) -> bool:
    lowered = comment.lower()
    return "above tls" in lowered or "decrypted" in lowered

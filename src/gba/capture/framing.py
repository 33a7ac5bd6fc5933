"""Segments as packets: Ethernet / IPv4 or IPv6 / TCP or UDP frames, sans-IO.

:class:`Framer` turns one recorder's :class:`~gba.capture.events.Segment` stream into the
frames a Linux ``lo`` capture would hold (zero MAC addresses, link type Ethernet): per TCP
connection a three-way handshake (RFC 9293 §3.5), data segments of at most
:data:`MAX_TCP_PAYLOAD` octets with consistent sequence and acknowledgment numbers, and
FIN, FIN, ACK at the close; header lengths and checksums (RFC 1071, pseudo-headers of
RFC 9293 §3.1, RFC 768 and RFC 8200 §8.1) are correct, so tshark has nothing to flag.

Layers: ``wire`` segments are framed; ``decrypted`` ones (bytes above TLS) only for a
connection the tap did not see on the wire (PSK-TLS), and every frame of such a
connection carries the comment ``decrypted: <note>`` (:data:`DECRYPTED_COMMENT`), so a
reader can tell (:func:`is_decrypted`). :func:`parse_frame` reads the addressing back.
"""

from __future__ import annotations

import ipaddress
import itertools
import struct
import zlib
from dataclasses import dataclass, field
from typing import Final

from gba.capture.events import Segment

LINKTYPE_ETHERNET: Final = 1
ETH_IPV4: Final = 0x0800
ETH_IPV6: Final = 0x86DD
PROTO_TCP: Final = 6
PROTO_UDP: Final = 17
MAX_TCP_PAYLOAD: Final = 65_000
"""Most octets of one TCP frame: IPv4 total length stays below 65,535."""
MAX_UDP_PAYLOAD: Final = 65_507
"""Largest IPv4 UDP payload; a longer datagram (none on loopback) is truncated."""
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
WINDOW: Final = 0xFFFF
WINDOW_SHIFT: Final = 7
SYN_OPTIONS: Final = struct.pack("!BBH", 2, 4, 65_495) + bytes((1, 3, 3, WINDOW_SHIFT))
"""MSS 65,495 (loopback MTU) and window scale 7 (RFC 7323 §2), so no window fills up."""
DECRYPTED_COMMENT: Final = "decrypted"
"""First word of the comment on frames whose payload was recorded above TLS."""

Endpoint = tuple[str, int]
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Frame:
    """One Ethernet frame and when it was seen (seconds since the epoch)."""

    time: float
    data: bytes
    comment: str = ""


@dataclass(frozen=True, slots=True)
class FrameInfo:
    """What :func:`parse_frame` reads from a frame: protocol, ends and TCP flags."""

    proto: int
    src: Endpoint
    dst: Endpoint
    flags: int = 0
    payload: bytes = b""


def is_decrypted(comment: str) -> bool:
    """Whether a frame comment marks bytes recorded above TLS."""
    return comment == DECRYPTED_COMMENT or comment.startswith(DECRYPTED_COMMENT + ":")


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): one's complement of the one's complement sum."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ip(host: str) -> IpAddress:
    return ipaddress.ip_address(host.partition("%")[0])


def _pair(src: str, dst: str) -> tuple[IpAddress, IpAddress]:
    """Both addresses in one family (IPv4 as IPv4-mapped IPv6 when the other is IPv6)."""
    a, b = _ip(src), _ip(dst)
    if a.version != b.version:
        a, b = (ipaddress.IPv6Address(f"::ffff:{x}") if x.version == 4 else x for x in (a, b))
    return a, b


def ip_frame(src: str, dst: str, proto: int, payload: bytes, ident: int = 0) -> bytes:
    """An Ethernet frame (zero MACs) carrying *payload* in IPv4 or IPv6 from *src* to
    *dst*; *payload* must already hold its transport checksum."""
    a, b = _pair(src, dst)
    if isinstance(a, ipaddress.IPv4Address):
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident & 0xFFFF,
                             0x4000, 64, proto, 0, a.packed, b.packed)
        header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
        return bytes(12) + struct.pack("!H", ETH_IPV4) + header + payload
    header = struct.pack("!IHBB16s16s", 6 << 28, len(payload), proto, 64, a.packed, b.packed)
    return bytes(12) + struct.pack("!H", ETH_IPV6) + header + payload


def _pseudo(src: str, dst: str, proto: int, length: int) -> bytes:
    a, b = _pair(src, dst)
    if isinstance(a, ipaddress.IPv4Address):
        return a.packed + b.packed + struct.pack("!BBH", 0, proto, length)
    return a.packed + b.packed + struct.pack("!IxxxB", length, proto)


def tcp_segment(src: Endpoint, dst: Endpoint, seq: int, ack: int, flags: int,
                payload: bytes = b"", options: bytes = b"", window: int = WINDOW) -> bytes:
    """A TCP header (RFC 9293 §3.1) with *options* (a multiple of 4 octets), *payload*
    and the checksum over the pseudo-header."""
    offset = (20 + len(options)) // 4
    header = struct.pack("!HHIIBBHHH", src[1], dst[1], seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                         offset << 4, flags, window, 0, 0) + options
    body = header + payload
    total = checksum(_pseudo(src[0], dst[0], PROTO_TCP, len(body)) + body)
    return body[:16] + struct.pack("!H", total) + body[18:]


def udp_datagram(src: Endpoint, dst: Endpoint, payload: bytes) -> bytes:
    """A UDP header (RFC 768) and *payload*, checksum included (0 sent as 0xFFFF)."""
    body = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0) + payload
    total = checksum(_pseudo(src[0], dst[0], PROTO_UDP, len(body)) + body) or 0xFFFF
    return body[:6] + struct.pack("!H", total) + body[8:]


def parse_frame(frame: bytes) -> FrameInfo | None:
    """Protocol, ends and TCP flags of an Ethernet/IP/TCP-or-UDP frame; None otherwise."""
    if len(frame) < 14:
        return None
    (ethertype,) = struct.unpack_from("!H", frame, 12)
    ip = frame[14:]
    if ethertype == ETH_IPV4 and len(ip) >= 20:
        ihl = (ip[0] & 0x0F) * 4
        proto = ip[9]
        src: str = str(ipaddress.IPv4Address(ip[12:16]))
        dst: str = str(ipaddress.IPv4Address(ip[16:20]))
        (total,) = struct.unpack_from("!H", ip, 2)
        body = ip[ihl:total]
    elif ethertype == ETH_IPV6 and len(ip) >= 40:
        proto = ip[6]
        src, dst = str(ipaddress.IPv6Address(ip[8:24])), str(ipaddress.IPv6Address(ip[24:40]))
        (length,) = struct.unpack_from("!H", ip, 4)
        body = ip[40:40 + length]
    else:
        return None
    if proto == PROTO_TCP and len(body) >= 20:
        sport, dport = struct.unpack_from("!HH", body)
        offset = (body[12] >> 4) * 4
        return FrameInfo(proto, (src, sport), (dst, dport), body[13], body[offset:])
    if proto == PROTO_UDP and len(body) >= 8:
        sport, dport = struct.unpack_from("!HH", body)
        return FrameInfo(proto, (src, sport), (dst, dport), 0, body[8:])
    return None


@dataclass(slots=True)
class _Flow:
    """One TCP connection: its ends, who reported it, the next sequence number of each."""

    connection: int
    client: Endpoint
    server: Endpoint
    layer: str
    comment: str
    next_seq: dict[Endpoint, int] = field(default_factory=dict)


def _comment(seg: Segment) -> str:
    if seg.layer == "decrypted":
        return f"{DECRYPTED_COMMENT}: {seg.note}" if seg.note else DECRYPTED_COMMENT
    return seg.note


def initial_sequence(client: Endpoint, server: Endpoint, end: Endpoint) -> int:
    """The ISN of *end*: a function of the connection's ends only, so that both ends of
    a connection, recorded apart, frame it alike."""
    return zlib.crc32(f"{client} {server} {end}".encode())


class Framer:
    """Frames for one recorder's segments, in the order they are given (not thread-safe:
    :class:`~gba.capture.pcapng_sink.PcapngSink` holds a lock around it).

    A connection whose two ends are in the same process is reported twice (two
    connection numbers, one pair of ends): the one opened second is a mirror and dropped.
    """

    def __init__(self) -> None:
        self._flows: dict[tuple[Endpoint, Endpoint], _Flow] = {}
        self._mirrors: dict[int, str] = {}
        self._ident = itertools.count(1)
        self._last = 0.0

    def frames(self, seg: Segment) -> list[Frame]:
        """The frames *seg* adds (none for a decrypted segment of a wire connection)."""
        when = self._last = max(seg.time, self._last)  # a capture's clock never runs back
        if seg.transport == "udp":
            if seg.kind != "data":
                return []
            payload = seg.data[:MAX_UDP_PAYLOAD]
            return [Frame(when, ip_frame(seg.src[0], seg.dst[0], PROTO_UDP,
                                         udp_datagram(seg.src, seg.dst, payload),
                                         next(self._ident)), _comment(seg))]
        if seg.connection in self._mirrors:
            if seg.kind == "close" and self._mirrors[seg.connection] == seg.layer:
                del self._mirrors[seg.connection]
            return []
        low, high = sorted((seg.src, seg.dst))
        key = (low, high)
        flow = self._flows.get(key)
        if flow is not None and (flow.connection != seg.connection
                                 or flow.layer != seg.layer):
            if seg.kind == "open" and flow.connection != seg.connection:
                self._mirrors[seg.connection] = seg.layer
            return []  # a mirror, or bytes above TLS whose TLS records are framed already
        out: list[Frame] = []
        if flow is None:
            if seg.kind == "close" or (seg.kind == "data" and seg.layer == "decrypted"):
                return []
            flow = self._open(key, seg, out, when)
        if seg.kind == "data":
            self._data(flow, seg, out, when)
        elif seg.kind == "close":
            self._close(flow, seg.src if seg.src in flow.next_seq else flow.client, out, when)
            del self._flows[key]
        return out

    def _open(self, key: tuple[Endpoint, Endpoint], seg: Segment, out: list[Frame],
              when: float) -> _Flow:
        client, server = seg.src, seg.dst
        flow = _Flow(seg.connection, client, server, seg.layer, _comment(seg))
        self._flows[key] = flow
        isn = {end: initial_sequence(client, server, end) for end in (client, server)}
        self._emit(out, when, flow, client, server, isn[client], 0, SYN, SYN_OPTIONS)
        self._emit(out, when, flow, server, client, isn[server], isn[client] + 1,
                   SYN | ACK, SYN_OPTIONS)
        flow.next_seq = {client: isn[client] + 1, server: isn[server] + 1}
        self._emit(out, when, flow, client, server, flow.next_seq[client],
                   flow.next_seq[server], ACK)
        return flow

    def _data(self, flow: _Flow, seg: Segment, out: list[Frame], when: float) -> None:
        src = seg.src if seg.src in flow.next_seq else flow.client
        dst = flow.server if src == flow.client else flow.client
        for start in range(0, len(seg.data), MAX_TCP_PAYLOAD):
            chunk = seg.data[start:start + MAX_TCP_PAYLOAD]
            self._emit(out, when, flow, src, dst, flow.next_seq[src], flow.next_seq[dst],
                       PSH | ACK, payload=chunk)
            flow.next_seq[src] += len(chunk)

    def _close(self, flow: _Flow, first: Endpoint, out: list[Frame], when: float) -> None:
        other = flow.server if first == flow.client else flow.client
        seq = flow.next_seq
        self._emit(out, when, flow, first, other, seq[first], seq[other], FIN | ACK)
        seq[first] += 1
        self._emit(out, when, flow, other, first, seq[other], seq[first], FIN | ACK)
        seq[other] += 1
        self._emit(out, when, flow, first, other, seq[first], seq[other], ACK)

    def _emit(self, out: list[Frame], when: float, flow: _Flow, src: Endpoint, dst: Endpoint,
              seq: int, ack: int, flags: int, options: bytes = b"", payload: bytes = b""
              ) -> None:
        segment = tcp_segment(src, dst, seq, ack, flags, payload, options)
        out.append(Frame(when, ip_frame(src[0], dst[0], PROTO_TCP, segment,
                                        next(self._ident)), flow.comment))

"""What a tap reports: one :class:`Segment` per connection event or chunk of bytes.

A tap sits in the transport layer (:mod:`gba.capture.tap`), so every network function and
every interface is recorded without code of its own. Sinks consume the segments: the
pcapng writer (:mod:`gba.capture.pcapng_sink`) frames them as IP/TCP/UDP packets, the
recent-message ring of the status page (:mod:`gba.capture.recent`) parses them into
messages. A sink must never raise into the tap and never block: it is called on the
event loop (or a PSK-TLS worker thread) for every chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Transport = Literal["tcp", "udp"]
SegmentKind = Literal["open", "data", "close"]
Layer = Literal["wire", "decrypted"]


@dataclass(frozen=True, slots=True)
class Segment:
    """One event on one connection (TCP) or one datagram (UDP).

    For TCP, ``open`` is reported once per connection with *src* the side that connected
    (client) and *dst* the side that accepted (server); ``data`` carries bytes in the
    direction *src* -> *dst*; ``close`` is reported once, *src* the side that closed
    first (or the local side when unknown). For UDP every segment is ``data``.
    *connection* identifies the TCP connection within one process (0 for UDP).
    *note* says something a reader should know about the bytes, e.g. that they were
    recorded above TLS (decrypted) because the tap could not see the wire.
    """

    time: float
    """Seconds since the epoch (``time.time()``) when the tap saw it."""
    transport: Transport
    src: tuple[str, int]
    dst: tuple[str, int]
    kind: SegmentKind
    connection: int = 0
    data: bytes = b""
    note: str = ""
    layer: Layer = "wire"
    """``decrypted``: the bytes were recorded above TLS, not as they crossed the wire."""
    recorder: str = ""
    """The network function whose tap saw it (a pcapng interface name), if known."""


class Sink(Protocol):
    def segment(self, seg: Segment) -> None:
        """Take one segment; never raise, never block."""

    def close(self) -> None:
        """Flush and release; no segment follows."""

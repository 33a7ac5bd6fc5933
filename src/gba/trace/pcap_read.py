"""Read a capture file: pcapng (blocks read with python-pcapng) or classic pcap.

pcapng (draft-ietf-opsawg-pcapng): the Interface Description Blocks name the recording
network function (``if_name``, e.g. ``bsf``), which becomes
:attr:`~gba.capture.events.Segment.recorder`; an Enhanced Packet Block comment such as
"PSK-TLS, recorded above TLS" marks bytes as decrypted. Classic pcap (libpcap format,
magic a1b2c3d4 or a1b23c4d in either byte order) has no names. A file that is empty,
of another format or cut short raises :class:`CaptureError` naming the file and the fault.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pcapng  # type: ignore[import-untyped]  # python-pcapng ships no types
from pcapng import blocks

from gba.capture.events import Segment
from gba.errors import GbaError
from gba.trace.packets import Frame, TcpReassembler

PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
_PCAP_MAGICS = {b"\xa1\xb2\xc3\xd4": (">", 1e-6), b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
                b"\xa1\xb2\x3c\x4d": (">", 1e-9), b"\x4d\x3c\xb2\xa1": ("<", 1e-9)}


class CaptureError(GbaError):
    """A capture file that cannot be read: missing, empty, of another format, truncated."""


def _pcapng_frames(name: str, stream: BinaryIO, size: int) -> Iterator[Frame]:
    scanner = pcapng.FileScanner(stream)
    last_time = 0.0
    try:
        for block in scanner:
            if not isinstance(block, blocks.EnhancedPacket | blocks.SimplePacket
                              | blocks.ObsoletePacket):
                continue
            interface = block.interface
            options = interface.options
            recorder = str(options["if_name"]) if "if_name" in options else ""
            comment = "; ".join(str(c) for c in block.options.get_all("opt_comment")) \
                if "opt_comment" in block.options else ""
            if not isinstance(block, blocks.SimplePacket):
                last_time = float(block.timestamp)
            yield Frame(last_time, int(interface.link_type), bytes(block.packet_data),
                        recorder, comment)
    except pcapng.exceptions.TruncatedFile:
        raise CaptureError(f"{name}: truncated pcapng: its last block is cut short "
                           f"(file of {size} bytes)") from None
    except (pcapng.exceptions.PcapngException, ValueError, struct.error, KeyError,
            IndexError, TypeError, RuntimeError, UnicodeDecodeError) as exc:
        raise CaptureError(f"{name}: corrupt pcapng near byte {stream.tell()}: "
                           f"{type(exc).__name__} {exc}") from None
    if stream.tell() != size:
        raise CaptureError(f"{name}: truncated pcapng: a block is cut short at byte "
                           f"{stream.tell()} (file of {size} bytes)")


def _pcap_frames(name: str, data: bytes) -> Iterator[Frame]:
    """Classic libpcap: a 24-byte file header, then 16-byte record headers."""
    if len(data) < 24:
        raise CaptureError(f"{name}: truncated pcap (file header is {len(data)} of 24 bytes)")
    order, unit = _PCAP_MAGICS[data[:4]]
    link_type = struct.unpack_from(order + "I", data, 20)[0] & 0xFFFF
    pos = 24
    while pos < len(data):
        if pos + 16 > len(data):
            raise CaptureError(f"{name}: truncated pcap (record header at byte {pos})")
        seconds, fraction, length, _ = struct.unpack_from(order + "IIII", data, pos)
        if pos + 16 + length > len(data):
            raise CaptureError(f"{name}: truncated pcap (record at byte {pos} needs "
                               f"{length} bytes, {len(data) - pos - 16} left)")
        yield Frame(seconds + fraction * unit, link_type, data[pos + 16:pos + 16 + length])
        pos += 16 + length


def read_frames(path: str | Path) -> list[Frame]:
    """Every frame of a pcapng or pcap file; :class:`CaptureError` when it is neither."""
    name = str(path)
    try:
        with open(path, "rb") as stream:
            head = stream.read(4)
            size = stream.seek(0, 2)
            stream.seek(0)
            if not head:
                raise CaptureError(f"{name}: empty file, not a capture")
            if head == PCAPNG_MAGIC:
                return list(_pcapng_frames(name, stream, size))
            if head in _PCAP_MAGICS:
                return list(_pcap_frames(name, stream.read()))
            if len(head) < 4 and any(m.startswith(head) for m in (PCAPNG_MAGIC, *_PCAP_MAGICS)):
                raise CaptureError(f"{name}: truncated capture ({len(head)} bytes, less "
                                   "than its magic number)")
    except OSError as exc:
        raise CaptureError(f"{name}: cannot read ({exc.strerror or exc})") from None
    raise CaptureError(f"{name}: not a pcapng or pcap capture (it starts with "
                       f"{head.hex(' ')}; pcapng starts with 0a 0d 0d 0a)")


def read_segments(path: str | Path) -> list[Segment]:
    """The capture as segments, in capture order: TCP reassembled per connection and
    interface, UDP one segment per datagram."""
    reassembler = TcpReassembler()
    out: list[Segment] = []
    for frame in read_frames(path):
        out += reassembler.frame(frame)
    return out


def is_capture(path: str | Path) -> bool:
    """Does the file start like a pcapng or pcap capture?"""
    try:
        with open(path, "rb") as stream:
            head = stream.read(4)
    except OSError:
        return False
    return head == PCAPNG_MAGIC or head in _PCAP_MAGICS

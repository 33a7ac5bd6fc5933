"""A :class:`~gba.capture.events.Sink` writing a pcapng file (draft-ietf-opsawg-pcapng).

One Section Header Block, one Interface Description Block named after the recorder
(``if_name``, link type Ethernet, microsecond timestamps), then one Enhanced Packet Block
per frame of :class:`~gba.capture.framing.Framer`, with its comment (``opt_comment``) when
the frame has one. The blocks are built by python-pcapng into memory and each goes to
the file in one ``write`` of an unbuffered file, so a process killed at any moment leaves
a file that ends at a block boundary (or, at worst, with one torn last block, which
:mod:`gba.capture.merge` tolerates).

Segments may come from the event loop and from worker threads: a lock orders them. The
file is created owner-only: PSK-TLS connections are in it as plaintext.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from pathlib import Path
from typing import Any, Final

import pcapng  # type: ignore[import-untyped]  # python-pcapng ships no types
from pcapng import blocks

from gba.capture.events import Layer, Segment
from gba.capture.framing import LINKTYPE_ETHERNET, Frame, Framer

log = logging.getLogger(__name__)

SNAPLEN: Final = 262_144
USER_APPLICATION: Final = "gba capture tap"
INTERFACE_DESCRIPTION: Final = ("gba transport tap: loopback framing synthesised from the "
                                "bytes each socket carried")


def section(options: dict[str, Any] | None = None) -> Any:
    """A little-endian Section Header Block naming this application."""
    return blocks.SectionHeader(options={"shb_userappl": USER_APPLICATION, **(options or {})})


def interface(shb: Any, name: str, link_type: int = LINKTYPE_ETHERNET) -> Any:
    """An Interface Description Block of *shb* for recorder *name*."""
    return shb.new_member(blocks.InterfaceDescription, link_type=link_type, snaplen=SNAPLEN,
                          options={"if_name": name, "if_description": INTERFACE_DESCRIPTION})


def packet(shb: Any, interface_id: int, micros: int, data: bytes, comments: list[str]
           ) -> Any:
    """An Enhanced Packet Block at *micros* microseconds since the epoch."""
    options = {"opt_comment": comments} if comments else {}
    return shb.new_member(blocks.EnhancedPacket, interface_id=interface_id,
                          timestamp_high=micros >> 32, timestamp_low=micros & 0xFFFFFFFF,
                          packet_data=data, options=options)


class BlockFile:
    """A pcapng file written block by block, each block in one ``write``."""

    def __init__(self, path: Path, shb: Any, mode: int = 0o600) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        self._buffer = io.BytesIO()
        self._writer = pcapng.FileWriter(self._buffer, shb)  # writes the SHB and its IDBs
        self._drain()

    def write(self, block: Any) -> None:
        self._writer.write_block(block)
        self._drain()

    def _drain(self) -> None:
        view = memoryview(self._buffer.getbuffer())
        try:
            while view:
                view = view[os.write(self._fd, view):]
        finally:
            view.release()
            self._buffer.seek(0)
            self._buffer.truncate()

    def close(self) -> None:
        os.close(self._fd)


class PcapngSink:
    """Frames one recorder's segments into the pcapng file at *path* (replaced); with
    *layer* ``decrypted``, only what was seen above TLS on connections whose TLS records
    the tap saw too (the sidecar of :func:`gba.capture.layout.decrypted_path`; PSK-TLS,
    recorded only above TLS, is in the main file already)."""

    def __init__(self, path: Path, recorder: str, layer: Layer | None = None) -> None:
        self.path = path
        self.recorder = recorder
        self.layer = layer
        self._wired: set[int] = set()
        """With *layer*: connections that have wire segments."""
        self._shb = section()
        interface(self._shb, recorder)
        self._file: BlockFile | None = BlockFile(path, self._shb)
        self._framer = Framer()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PcapngSink({str(self.path)!r}, recorder={self.recorder!r})"

    def segment(self, seg: Segment) -> None:
        with self._lock:
            if self.layer is not None and not self._selected(seg):
                return
            if self._file is None:
                return
            try:
                for frame in self._framer.frames(seg):
                    self._file.write(self._block(frame))
            except Exception as exc:  # a sink never raises into the tap: stop recording
                log.error("capture to %s stopped: %s", self.path, exc)
                self._close()

    def _selected(self, seg: Segment) -> bool:
        if seg.layer != self.layer:
            if seg.transport == "tcp" and seg.kind != "close":
                self._wired.add(seg.connection)
            return False
        if seg.connection not in self._wired:
            return False
        if seg.kind == "close":
            self._wired.discard(seg.connection)
        return True

    def _block(self, frame: Frame) -> Any:
        micros = round(frame.time * 1_000_000)
        return packet(self._shb, 0, micros, frame.data, [frame.comment] if frame.comment else [])

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

"""The last messages a network function sent and received, for the lab's status page.

A :class:`RecentMessages` is a tap sink (:mod:`gba.capture.tap`) that parses the
segments into messages as they pass (:class:`gba.trace.assemble.MessageAssembler`) and
keeps the last *size* of them as one-line summaries: command, status or result code, user
name or B-TID, never a key, RES or password (:mod:`gba.trace.summary`). A TLS connection
is kept from above TLS (the tap reports both layers), so Zh and Zn over mutual TLS show
as MAR/MAA and BIR/BIA rather than as TLS records.

It never raises into the tap: a segment it cannot handle is counted in ``dropped``.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

from gba.capture.events import Segment
from gba.trace.assemble import MessageAssembler
from gba.trace.model import TracedMessage, endpoint_text

log = logging.getLogger(__name__)

BUFFER_LIMIT = 64 * 1024
"""Bytes buffered per connection and direction before a message is shown as unparsed:
Ub, Ua, Zh and Zn messages are a few KB, and a flood of 1 MiB partial Diameter frames
must not cost the ring more than this per connection (256 KiB added 20 MB of RSS to the
HSS under tests/e2e/test_diameter_limits.py; 64 KiB adds nothing measurable)."""

_TLS_RECORD_TYPES = frozenset({20, 21, 22, 23})
_WATCHDOG = ("DWR", "DWA")
"""Diameter watchdogs (RFC 3539) are left out: every 30 s per peer, they would push the
flows an engineer looks for out of the ring."""


def _looks_like_tls(data: bytes) -> bool:
    return len(data) >= 3 and data[0] in _TLS_RECORD_TYPES and data[1] == 3


class RecentMessages:
    """A ring of the last *size* messages (newest last), fed by the tap."""

    def __init__(self, size: int = 200, ignore: frozenset[tuple[str, int]] = frozenset()
                 ) -> None:
        """*ignore*: endpoints whose traffic is left out (the function's own metrics and
        status site, which the status page polls)."""
        self._ignore = ignore
        self._ring: deque[TracedMessage] = deque(maxlen=size)
        self._assembler = MessageAssembler(limit=BUFFER_LIMIT)
        self._tls: set[tuple[str, int]] = set()
        """Connections (recorder, id) whose wire bytes are TLS: read above TLS instead."""
        self._lock = threading.Lock()
        self.dropped = 0

    def segment(self, seg: Segment) -> None:
        try:
            with self._lock:
                self._take(seg)
        except Exception:  # a sink must never raise into the tap
            self.dropped += 1
            log.debug("recent messages: segment dropped", exc_info=True)

    def _take(self, seg: Segment) -> None:
        if seg.src in self._ignore or seg.dst in self._ignore:
            return
        key = (seg.recorder, seg.connection)
        if seg.transport == "tcp" and seg.layer == "wire":
            if seg.kind == "data" and _looks_like_tls(seg.data):
                self._tls.add(key)
            if key in self._tls:
                if seg.kind == "close":
                    self._tls.discard(key)
                return
        self._ring.extend(m for m in self._assembler.feed(seg)
                          if not m.summary.startswith(_WATCHDOG))

    def close(self) -> None:
        """Nothing to flush: what is incomplete when the function stops is not shown."""

    def snapshot(self) -> list[dict[str, Any]]:
        """The messages, oldest first, as JSON objects (the ``recent`` part of
        ``/status.json``)."""
        with self._lock:
            messages = list(self._ring)
        return [{"time": m.time, "src": endpoint_text(m.src), "dst": endpoint_text(m.dst),
                 "protocol": m.protocol, "summary": m.summary, "direction": m.direction,
                 "recorder": m.recorder, "layer": m.layer} for m in messages]

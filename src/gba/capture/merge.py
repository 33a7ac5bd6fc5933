"""Merging the captures of several network functions into one pcapng file.

``gba lab up --capture FILE`` has each function write its own part
(:mod:`gba.capture.layout`); ``gba lab down`` merges the parts into FILE, as
``gba capture merge OUT PART...`` does by hand.

Merging keeps one Interface Description Block per recorder (``if_name``) and sorts the
packets by time. A connection between two recorded functions is in both parts, framed
alike (:func:`~gba.capture.framing.initial_sequence`): it is kept once, from the part
that saw it on the wire if only one did, else from the part named first. Connections are
told apart by their ends and, for a pair of ends used again, by their SYN and by when
they ran. A part cut short (a function killed mid-write) is read up to its last whole
block.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pcapng  # type: ignore[import-untyped]  # python-pcapng ships no types
from pcapng import blocks
from pcapng.exceptions import PcapngLoadError  # type: ignore[import-untyped]

from gba.capture.framing import ACK, PROTO_TCP, SYN, is_decrypted, parse_frame
from gba.capture.layout import decrypted_parts_dir, decrypted_path, parts_dir
from gba.capture.pcapng_sink import BlockFile, interface, packet, section
from gba.errors import GbaError

log = logging.getLogger(__name__)

SAME_CONNECTION_SLACK_S: Final = 1.0
"""How far apart in time two parts' records of one pair of ends may start or end and
still be one connection (the client's tap sees it before the server's accept)."""


class MergeError(GbaError):
    """A part is not a pcapng file we can read."""


@dataclass(slots=True)
class _Packet:
    micros: int
    data: bytes
    comments: list[str]
    recorder: tuple[str, int]
    order: tuple[int, int]


@dataclass(slots=True)
class _Connection:
    """One part's record of one connection (TCP) or one pair of UDP ends."""

    part: int
    ends: tuple[Any, ...]
    packets: list[_Packet] = field(default_factory=list)
    kept: bool = True

    @property
    def start(self) -> float:
        return self.packets[0].micros / 1e6

    @property
    def end(self) -> float:
        return self.packets[-1].micros / 1e6

    @property
    def wire(self) -> bool:
        return not any(is_decrypted(c) for p in self.packets for c in p.comments)

    def overlaps(self, other: _Connection) -> bool:
        return (self.start - SAME_CONNECTION_SLACK_S <= other.end
                and other.start - SAME_CONNECTION_SLACK_S <= self.end)


@dataclass(frozen=True, slots=True)
class MergeReport:
    """What a merge wrote: packets kept, duplicates dropped, recorders, torn parts."""

    packets: int
    duplicates: int
    recorders: tuple[str, ...]
    truncated: tuple[str, ...]


def _micros(block: Any) -> int:
    raw = (block.timestamp_high << 32) + block.timestamp_low
    if block.timestamp_resolution == 1e-6:
        return int(raw)
    micros: int = round(float(block.timestamp) * 1_000_000)
    return micros


def _read(path: Path, part: int) -> tuple[list[_Packet], bool]:
    """The packets of *path* and whether it ended in a torn block."""
    packets: list[_Packet] = []
    try:
        with path.open("rb") as stream:
            for block in pcapng.FileScanner(stream):
                if not isinstance(block, blocks.EnhancedPacket):
                    continue
                idb = block.interface
                name = str(idb.options.get("if_name") or f"{path.stem}#{block.interface_id}")
                comments = [str(c) for c in comments_of(block)]
                packets.append(_Packet(_micros(block), bytes(block.packet_data), comments,
                                       (name, int(idb.link_type)), (part, len(packets))))
    except PcapngLoadError as exc:
        if not packets:
            raise MergeError(f"{path}: not a pcapng file we can read ({exc})") from None
        log.warning("%s: read up to a torn block (%s)", path, exc)
        return packets, True
    except (OSError, ValueError) as exc:
        raise MergeError(f"{path}: {exc}") from None
    return packets, False


def comments_of(block: Any) -> list[Any]:
    """The ``opt_comment`` values of a block (none when it has none)."""
    options = block.options
    return list(options.get_all("opt_comment")) if "opt_comment" in options else []


def _connections(part: int, packets: Iterable[_Packet]) -> list[_Connection]:
    """Split one part's packets into connections (a SYN starts a new one of its ends)."""
    current: dict[tuple[Any, ...], _Connection] = {}
    found: list[_Connection] = []
    for pkt in packets:
        info = parse_frame(pkt.data) if pkt.recorder[1] == 1 else None
        ends: tuple[Any, ...] = ((info.proto, *sorted((info.src, info.dst)))
                                 if info is not None else ("other", pkt.order))
        conn = current.get(ends)
        starts = info is not None and info.proto == PROTO_TCP and info.flags & (SYN | ACK) == SYN
        if conn is None or starts:
            conn = current[ends] = _Connection(part, ends)
            found.append(conn)
        conn.packets.append(pkt)
    return found


def _dedupe(connections: Sequence[_Connection]) -> None:
    """Keep one record of each connection seen by two parts (in part order)."""
    by_ends: dict[tuple[Any, ...], list[_Connection]] = defaultdict(list)
    for conn in connections:
        for other in by_ends[conn.ends]:
            if other.kept and other.part != conn.part and other.overlaps(conn):
                loser = other if conn.wire and not other.wire else conn
                loser.kept = False
                if loser is conn:
                    break
        by_ends[conn.ends].append(conn)


def merge(parts: Sequence[Path], out: Path) -> MergeReport:
    """Merge the pcapng files *parts* into *out* (replaced, owner-only)."""
    connections: list[_Connection] = []
    truncated: list[str] = []
    for index, path in enumerate(parts):
        packets, torn = _read(path, index)
        if torn:
            truncated.append(str(path))
        connections += _connections(index, packets)
    _dedupe(connections)
    kept = sorted((p for c in connections if c.kept for p in c.packets),
                  key=lambda p: (p.micros, p.order))
    recorders = list(dict.fromkeys(p.recorder for c in connections for p in c.packets))
    shb = section()
    ids = {rec: interface(shb, rec[0], rec[1]).interface_id for rec in recorders}
    tmp = out.with_name(out.name + ".tmp")
    target = BlockFile(tmp, shb)
    try:
        for pkt in kept:
            target.write(packet(shb, ids[pkt.recorder], pkt.micros, pkt.data, pkt.comments))
    finally:
        target.close()
    os.replace(tmp, out)
    return MergeReport(len(kept), sum(len(c.packets) for c in connections if not c.kept),
                       tuple(r[0] for r in recorders), tuple(truncated))


def merge_lab(capture: Path, functions: Sequence[str] = ()) -> MergeReport | None:
    """Merge a lab's parts (:func:`parts_dir`) into *capture*, those of *functions*
    first, in that order, and its decrypted parts into the sidecar
    (:func:`~gba.capture.layout.decrypted_path`); None when there are no parts."""
    found = {p.stem: p for p in sorted(parts_dir(capture).glob("*.pcapng"))}
    parts = [found.pop(name) for name in functions if name in found] + list(found.values())
    decrypted = sorted(decrypted_parts_dir(capture).glob("*.pcapng"))
    if decrypted:
        merge(decrypted, decrypted_path(capture))
    return merge(parts, capture) if parts else None

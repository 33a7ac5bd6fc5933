"""Merging the parts of a lab capture: one interface per recorder, time order, and a
connection recorded at both ends kept once (framed alike by both, so either will do)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pcapng  # type: ignore[import-untyped]
from pcapng import blocks

from gba.capture.events import Segment
from gba.capture.framing import parse_frame
from gba.capture.layout import keylog_path, parts_dir
from gba.capture.merge import comments_of, merge, merge_lab
from gba.capture.pcapng_sink import PcapngSink

T0 = 1_780_000_000.0
BSF, HSS, NAF = ("127.0.0.1", 41000), ("127.0.0.1", 3868), ("127.0.0.1", 42000)
BSF_ZN = ("127.0.0.1", 3869)


def read_back(path: Path) -> tuple[list[Any], list[Any]]:
    """(interfaces, enhanced packets) of a pcapng file."""
    with path.open("rb") as stream:
        found = list(pcapng.FileScanner(stream))
    return ([b for b in found if isinstance(b, blocks.InterfaceDescription)],
            [b for b in found if isinstance(b, blocks.EnhancedPacket)])


def record(path: Path, recorder: str, segments: list[tuple[float, Any, Any, Any, bytes, int]],
           layer: Any = "wire") -> Path:
    sink = PcapngSink(path, recorder)
    for t, kind, src, dst, data, conn in segments:
        sink.segment(Segment(T0 + t, "tcp", src, dst, kind, conn, data, "", layer, recorder))
    sink.close()
    return path


def zh(t: float = 0.0) -> list[tuple[float, Any, Any, Any, bytes, int]]:
    """The BSF-HSS connection as either end reports it (connection numbers differ)."""
    return [(t, "open", BSF, HSS, b"", 1), (t + 0.01, "data", BSF, HSS, b"MAR", 1),
            (t + 0.02, "data", HSS, BSF, b"MAA", 1), (t + 0.03, "close", BSF, HSS, b"", 1)]


def payloads(path: Path) -> list[bytes]:
    found = [parse_frame(bytes(p.packet_data)) for p in read_back(path)[1]]
    return [i.payload for i in found if i is not None and i.payload]


def test_a_connection_seen_at_both_ends_is_kept_once(tmp_path: Path) -> None:
    hss = record(tmp_path / "hss.pcapng", "hss", [(t + 0.001, *rest) for t, *rest in zh()])
    bsf = record(tmp_path / "bsf.pcapng", "bsf", [
        *zh(), (0.5, "open", NAF, BSF_ZN, b"", 2), (0.6, "data", NAF, BSF_ZN, b"BIR", 2)])
    report = merge([hss, bsf], tmp_path / "all.pcapng")
    assert report.recorders == ("hss", "bsf")
    assert report.duplicates == 3 + 2 + 3
    interfaces, packets = read_back(tmp_path / "all.pcapng")
    assert [i.options["if_name"] for i in interfaces] == ["hss", "bsf"]
    assert payloads(tmp_path / "all.pcapng") == [b"MAR", b"MAA", b"BIR"]
    assert {p.interface_id for p in packets[:8]} == {0}, "the first part wins"
    assert {p.interface_id for p in packets[8:]} == {1}
    micros = [(p.timestamp_high << 32) + p.timestamp_low for p in packets]
    assert micros == sorted(micros)
    assert report.packets == len(packets) == 8 + 4


def test_the_same_ends_later_are_another_connection(tmp_path: Path) -> None:
    hss = record(tmp_path / "hss.pcapng", "hss", zh(0.0))
    bsf = record(tmp_path / "bsf.pcapng", "bsf", [*zh(0.0), *zh(30.0)])
    report = merge([hss, bsf], tmp_path / "all.pcapng")
    assert payloads(tmp_path / "all.pcapng") == [b"MAR", b"MAA"] * 2
    assert report.duplicates == 8


def test_the_wire_wins_over_bytes_recorded_above_tls(tmp_path: Path) -> None:
    above = record(tmp_path / "naf.pcapng", "naf", zh(), layer="decrypted")
    wire = record(tmp_path / "bsf.pcapng", "bsf", zh())
    merge([above, wire], tmp_path / "all.pcapng")
    _, packets = read_back(tmp_path / "all.pcapng")
    assert all(comments_of(p) == [] for p in packets)
    assert len(packets) == 8


def test_a_torn_part_is_read_up_to_its_last_whole_block(tmp_path: Path) -> None:
    hss = record(tmp_path / "hss.pcapng", "hss", zh())
    hss.write_bytes(hss.read_bytes()[:-10])  # killed in the middle of the last block
    report = merge([hss], tmp_path / "all.pcapng")
    assert report.truncated == (str(hss),)
    assert report.packets == 7


def test_lab_layout_and_merge_in_function_order(tmp_path: Path) -> None:
    capture = tmp_path / "capture.pcapng"
    assert keylog_path(capture) == tmp_path / "capture.keys"
    parts = parts_dir(capture)
    assert parts == tmp_path / "capture.parts"
    parts.mkdir()
    record(parts / "bsf.pcapng", "bsf", zh())
    record(parts / "hss.pcapng", "hss", zh())
    report = merge_lab(capture, ["hss", "bsf"])
    assert report is not None
    assert report.recorders == ("hss", "bsf")
    assert merge_lab(tmp_path / "none.pcapng") is None

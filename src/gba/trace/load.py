"""What ``gba trace`` reads: captures, demo event logs, and the names in lab.json.

A file starting with the pcapng or pcap magic is a capture (:mod:`.pcap_read`); one whose
first line is a JSON object is a demo event log (one :func:`~.model.to_json` line per
message, after an optional :func:`lab_record` line); anything else is refused with
:class:`~.pcap_read.CaptureError`. Captures of several network functions are assembled
together, so a connection recorded at both ends is shown once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from gba.capture.events import Segment
from gba.capture.layout import decrypted_path
from gba.errors import CodecError
from gba.trace.assemble import messages
from gba.trace.model import LAB_RECORD_KIND, TracedMessage, from_json
from gba.trace.pcap_read import CaptureError, is_capture, read_segments
from gba.trace.render import Directory

LAB_JSON = "lab.json"


def read_event_log(path: str | Path) -> tuple[list[TracedMessage], Directory | None]:
    """Every message of a demo event log, in file order, and the lab it names, if any."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CaptureError(f"{name}: cannot read as an event log ({exc})") from None
    out: list[TracedMessage] = []
    directory = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if number == 1 and LAB_RECORD_KIND in line:
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if isinstance(record, dict) and record.get("kind") == LAB_RECORD_KIND:
                directory = directory_from_lab(record)
                continue
        try:
            out.append(from_json(line, f"{name} line {number}"))
        except CodecError as exc:
            raise CaptureError(str(exc)) from None
    return out, directory


def lab_record(info: Mapping[str, object]) -> str:
    """The first line of an event log: the ``functions`` of a lab.json document."""
    return json.dumps({"kind": LAB_RECORD_KIND, "functions": info.get("functions", {})},
                      sort_keys=True)


def _looks_like_event_log(path: Path) -> bool:
    try:
        with open(path, "rb") as stream:
            return stream.read(64).lstrip().startswith(b"{")
    except OSError:
        return False


def load(paths: Sequence[str | Path]) -> tuple[list[TracedMessage], Directory | None]:
    """The messages of every file in *paths*, sorted by time (captures assembled
    together, event logs as written), and the lab an event log names, if one does. A
    capture's decrypted sidecar (:func:`gba.capture.layout.decrypted_path`) is read with
    it when present: a connection seen above TLS is then shown from there."""
    segments: list[Segment] = []
    logged: list[TracedMessage] = []
    directory = None
    for path in map(Path, paths):
        if not path.exists():
            raise CaptureError(f"{path}: no such file")
        if is_capture(path) or not _looks_like_event_log(path):
            segments += read_segments(path)  # also raises the "not a capture" error
            sidecar = decrypted_path(path)
            if sidecar.exists() and sidecar not in map(Path, paths):
                segments += read_segments(sidecar)
        else:
            found, named = read_event_log(path)
            logged += found
            directory = directory or named
    assembled = messages(segments) if segments else []
    return sorted(assembled + logged, key=lambda m: m.time), directory


def load_messages(paths: Sequence[str | Path]) -> list[TracedMessage]:
    """The messages of :func:`load`."""
    return load(paths)[0]


def directory_from_lab(info: Mapping[str, object]) -> Directory:
    """Server endpoints and kinds of the functions of a lab.json document."""
    names: dict[str, str] = {}
    kinds: dict[str, str] = {}
    interfaces: dict[str, str] = {}
    functions = info.get("functions")
    for name, entry in (functions.items() if isinstance(functions, dict) else ()):
        if not isinstance(entry, dict):
            continue
        kinds[str(name)] = str(entry.get("kind", name))
        endpoints = entry.get("endpoints")
        for key, where in (endpoints.items() if isinstance(endpoints, dict) else ()):
            names[str(where)] = str(name)
            interfaces[str(where)] = str(key)
    return Directory(names, kinds, interfaces)


def read_lab(path: str | Path) -> Directory:
    """The :class:`Directory` of a lab.json file; :class:`CaptureError` if unreadable."""
    try:
        info = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CaptureError(f"{path}: cannot read lab.json ({exc})") from None
    if not isinstance(info, dict):
        raise CaptureError(f"{path}: lab.json is not a JSON object")
    return directory_from_lab(info)


def find_lab(files: Sequence[str | Path]) -> Path | None:
    """lab.json beside the first file, else ./lab/lab.json, else ./lab.json; or None."""
    candidates = [Path(f).parent / LAB_JSON for f in files[:1]]
    candidates += [Path("lab") / LAB_JSON, Path(LAB_JSON)]
    return next((c for c in candidates if c.is_file()), None)

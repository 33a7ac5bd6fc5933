"""A demo's capture cut into flows, one per demo step, drawn or logged (``gba demo
--diagram`` / ``--events``).

A step is a time window (its ``start`` and ``end``); a message belongs to the last step
that started at or before it. The diagram format follows the file suffix: ``.svg``,
``.mmd`` (Mermaid), anything else text. One flow goes to the given path; several go to
``<stem>-<step number><suffix>``, numbered as the demo numbers its steps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gba.trace.load import lab_record
from gba.trace.model import TracedMessage, to_json
from gba.trace.render import Directory, to_mermaid, to_svg, to_text


@dataclass(frozen=True, slots=True)
class Window:
    """One demo step: its number (from 1), name and time span."""

    number: int
    name: str
    start: float
    end: float


def assign(messages: Sequence[TracedMessage], windows: Sequence[Window]
           ) -> list[tuple[Window, list[TracedMessage]]]:
    """Each window with its messages, in step order; windows without messages left out."""
    timed = sorted((w for w in windows if w.start), key=lambda w: w.start)
    found: dict[int, list[TracedMessage]] = {}
    for message in messages:
        owner = None
        for window in timed:
            if window.start <= message.time:
                owner = window
        if owner is not None:
            found.setdefault(owner.number, []).append(
                dataclasses.replace(message, flow=owner.name))
    return [(w, found[w.number]) for w in sorted(timed, key=lambda w: w.number)
            if w.number in found]


def render_for(path: Path, messages: Sequence[TracedMessage], directory: Directory | None,
               title: str) -> str:
    """*messages* in the format *path*'s suffix asks for."""
    suffix = path.suffix.lower()
    if suffix == ".svg":
        return to_svg(messages, directory, title)
    if suffix in (".mmd", ".mermaid"):
        return to_mermaid(messages, directory, title)
    return to_text(messages, directory, width=160)


def write_diagrams(path: Path, flows: Sequence[tuple[Window, list[TracedMessage]]],
                   directory: Directory | None) -> list[tuple[Path, Window]]:
    """One diagram per flow (see the module docstring for the file names)."""
    written: list[tuple[Path, Window]] = []
    for window, messages in flows:
        target = path if len(flows) == 1 else \
            path.with_name(f"{path.stem}-{window.number}{path.suffix}")
        plain = [dataclasses.replace(m, flow="") for m in messages]
        target.write_text(render_for(target, plain, directory, window.name), encoding="utf-8")
        written.append((target, window))
    return written


def write_events(path: Path, flows: Sequence[tuple[Window, list[TracedMessage]]],
                 lab: Mapping[str, object] | None = None) -> int:
    """The flows' messages as a demo event log (one JSON line each, after the functions
    of *lab*, a lab.json document, when given); how many messages."""
    lines = [to_json(m) for _, messages in flows for m in messages]
    head = [lab_record(lab)] if lab is not None else []
    path.write_text("".join(line + "\n" for line in head + lines), encoding="utf-8")
    return len(lines)

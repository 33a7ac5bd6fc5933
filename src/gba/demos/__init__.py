"""End-to-end demonstrations behind ``gba demo <system>``; each returns its steps."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Step:
    """One step of a demo trace: who talked to whom, what was shown, whether it held;
    *start* and *end* (``time.time()``, 0 when not timed) place the step's messages in a
    capture, one sequence diagram per step (``gba demo --diagram``)."""

    name: str
    ok: bool
    lines: list[str] = field(default_factory=list)
    start: float = 0.0
    end: float = 0.0


def summary(system: str, steps: list[Step]) -> dict[str, object]:
    """The JSON summary printed as the last line of ``gba demo --json``."""
    return {"system": system, "ok": bool(steps) and all(s.ok for s in steps),
            "steps": [{"name": s.name, "ok": s.ok} for s in steps]}


def metric_sum(text: str, name: str, labels: Mapping[str, str]) -> float:
    """The sum of a Prometheus counter's samples whose labels include *labels*, from an
    exposition *text* (a function's /metrics)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{"):
            head, _, value = line.rpartition(" ")
            if all(f'{k}="{v}"' in head for k, v in labels.items()):
                total += float(value)
    return total


LabBody = Callable[[dict[str, Any], Path, list["Step"]], None]
"""What a demo does in its running lab: (lab.json, a scratch directory, the steps so far)."""


def lab_demo(prefix: str, title: str, up: Callable[[Path], dict[str, Any]], body: LabBody,
             failing: str, lab_dir: Path | None = None) -> list[Step]:
    """Start a lab with *up* (step *title*), run *body* in it (an exception is the step
    *failing*, not a crash), and always stop the lab (the last step)."""
    from gba.lab import lab

    steps: list[Step] = []
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        where = lab_dir or Path(tmp) / "lab"
        start = time.time()
        try:
            info = up(where)
        except Exception as exc:  # report, do not crash the demo
            return [Step(title, False, [f"error: {exc}"])]
        try:
            steps.append(Step(title, True,
                              [f"{name}: pid {pid}" for name, pid in info["pids"].items()],
                              start, time.time()))
            body(info, Path(tmp), steps)
        except Exception as exc:  # report, do not crash the demo
            steps.append(Step(failing, False, [f"error: {exc!r}"]))
        finally:
            stopped = lab.down(where)
            steps.append(Step("stop the network", all(stopped.values()),
                              [f"{name}: {'stopped' if ok else 'killed'}"
                               for name, ok in stopped.items()]))
    return steps

"""End-to-end demonstrations behind ``gba demo <system>``; each returns its steps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


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

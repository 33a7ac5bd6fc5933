"""What ``gba bench push`` and ``gba bench mtc`` read from /proc, and how they record a run
(issue 16 item 1): the fields common to every benchmark.

* :func:`cpu_seconds` -- user + system CPU time of a process (``/proc/<pid>/stat`` utime
  and stime, fields 14 and 15 of proc(5)); :class:`CpuWatch` takes it for named processes
  before and after a run and gives CPU milliseconds per operation (``cpu_ms_per_op``).
* :func:`peak_rss_mb` -- a process's peak resident set (VmHWM of ``/proc/<pid>/status``).
* :class:`Timeline` -- per completed operation, when it ended and how long it took; its
  :meth:`Timeline.series` is the per-second ``{t, count, p50_ms, p99_ms}`` of a chart, its
  :meth:`Timeline.summary` the throughput and p50/p99/max latency.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from gba.lab.bench_report import cpu_seconds, peak_rss_mb, percentile

__all__ = ["LOAD", "CpuWatch", "Timeline", "cpu_seconds", "peak_rss_mb", "percentile",
           "rss_mb"]

LOAD = "load"
"""The key of this process (the load generator) in ``cpu_ms_per_op``."""

def rss_mb(pids: dict[str, int]) -> dict[str, float]:
    """:func:`peak_rss_mb` of each named process, rounded."""
    return {name: round(peak_rss_mb(pid), 1) for name, pid in pids.items()}


class CpuWatch:
    """CPU time of named processes (and of this one, as :data:`LOAD`) between
    :meth:`start` and :meth:`stop`."""

    def __init__(self, pids: dict[str, int], *, load: bool = True) -> None:
        self.pids = dict(pids)
        if load:
            self.pids[LOAD] = os.getpid()
        self._before: dict[str, float] = {}
        self.cpu_s: dict[str, float] = {}

    def start(self) -> None:
        self._before = {n: c for n, p in self.pids.items() if (c := cpu_seconds(p)) is not None}

    def stop(self) -> dict[str, float]:
        """CPU seconds each process spent since :meth:`start`."""
        for name, pid in self.pids.items():
            now = cpu_seconds(pid)
            if now is not None and name in self._before:
                self.cpu_s[name] = now - self._before[name]
        return self.cpu_s

    def per_op(self, ops: int) -> dict[str, float]:
        """CPU milliseconds per operation of each process (0 when no operation ended)."""
        return {name: round(1000 * s / ops, 4) if ops else 0.0
                for name, s in self.cpu_s.items()}


@dataclass
class Timeline:
    """The operations of one run: end (seconds since :meth:`begin`) and latency, and
    the errors."""

    started: float = field(default_factory=time.monotonic)
    ends: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    def begin(self) -> None:
        self.started = time.monotonic()

    def done(self, t0: float) -> None:
        """One operation, begun at *t0* (``time.monotonic()``), ended now."""
        now = time.monotonic()
        self.ends.append(now - self.started)
        self.latencies.append(now - t0)

    def failed(self, what: str) -> None:
        self.errors.append(what)

    def finish(self) -> None:
        self.elapsed = time.monotonic() - self.started

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def per_s(self) -> float:
        return self.count / self.elapsed if self.elapsed > 0 else 0.0

    def series(self, offset: float = 0.0, **tags: Any) -> list[dict[str, Any]]:
        """Per second of the run: ``t`` (seconds, plus *offset*), ``count`` (operations
        that ended in that second), ``ops_per_s`` (the same over a last part-second),
        their ``p50_ms`` and ``p99_ms``, and *tags*. A last
        part-second shorter than half a second is left out (it is in the totals)."""
        buckets: dict[int, list[float]] = {}
        for end, latency in zip(self.ends, self.latencies, strict=True):
            buckets.setdefault(int(end), []).append(latency)
        out: list[dict[str, Any]] = []
        for second in range(int(self.elapsed) + 1):
            if self.elapsed - second < 0.5:
                continue
            got = buckets.get(second, [])
            span = min(1.0, self.elapsed - second)
            out.append({"t": round(second + offset, 3), "count": len(got),
                        "ops_per_s": round(len(got) / span, 1),
                        "p50_ms": round(percentile(got, 0.5) * 1000, 3),
                        "p99_ms": round(percentile(got, 0.99) * 1000, 3), **tags})
        return out

    def summary(self) -> dict[str, Any]:
        """``requests``, ``seconds``, ``throughput_per_s``, ``errors``, ``first_errors``
        and ``p50_ms``/``p99_ms``/``max_ms``."""
        return {"requests": self.count, "seconds": round(self.elapsed, 3),
                "throughput_per_s": round(self.per_s, 1), "errors": len(self.errors),
                "first_errors": self.errors[:3],
                "p50_ms": round(percentile(self.latencies, 0.5) * 1000, 3),
                "p99_ms": round(percentile(self.latencies, 0.99) * 1000, 3),
                "max_ms": round(max(self.latencies, default=0.0) * 1000, 3)}

"""The common result of ``gba bench bootstrap|zn|ua`` (issue 16 items 1-2), and its chart;
the process watch and the timeline of every benchmark (``push`` and ``mtc`` too).

A run records, per completed operation, when it ended and how long it took
(:class:`Recorder`); the server processes are read from /proc before and after the run
(:class:`ProcWatch`: user+system CPU time from ``/proc/<pid>/stat``, peak RSS from VmHWM in
``/proc/<pid>/status``). :func:`result` turns both, and the floor's run, into the JSON
object the load benchmarks print last:

``name``, ``throughput_per_s``, ``floor_per_s``, ``floor_kind`` ("http" or "diameter"),
``ratio`` (= throughput_per_s / floor_per_s), ``ratio_target``, ``target_met``,
``errors``, ``first_errors``, ``requests``, ``p50_ms``, ``p99_ms``, ``max_ms``, ``rss_mb``
and ``cpu_ms_per_op`` (per server process; the floor server and this load generator too),
``concurrency``, ``seconds`` (as measured), ``floor`` (the floor's own requests, latency
and errors), ``series`` (per second of each run: operations and p50/p99 latency, for the
chart) and ``chart`` (the PNG's path, or null).

:func:`chart` draws throughput and latency over the run, the floor's beside the load's
(matplotlib, Agg backend: no display needed).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TARGETS: dict[str, float] = {"bootstrap": 0.35, "zn": 0.5, "ua": 0.6}
"""Ratio of the floor each benchmark should reach on the reference 2-core machine, load
generator included (issue 16 item 2)."""

LOAD = "load"
"""The key of this process (the load generator) in ``cpu_ms_per_op`` of ``gba bench push``
and ``gba bench mtc`` (the load benchmarks name it ``load_generator``)."""

_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank *fraction* percentile of *values* (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of *pid* so far (``/proc/<pid>/stat`` utime + stime);
    None when the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / _TICKS  # fields 14 and 15 of proc(5)


def peak_rss_mb(pid: int) -> float:
    """The peak resident set of *pid* in MB (VmHWM), 0 when unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class ProcWatch:
    """CPU time of named processes between :meth:`start` and :meth:`stop`."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = dict(pids)
        self._before: dict[str, float] = {}
        self.cpu_s: dict[str, float] = {}

    def start(self) -> None:
        self._before = {n: c for n, p in self.pids.items()
                        if (c := cpu_seconds(p)) is not None}

    def stop(self) -> dict[str, float]:
        """CPU seconds each process spent since :meth:`start`."""
        for name, pid in self.pids.items():
            now = cpu_seconds(pid)
            if now is not None and name in self._before:
                self.cpu_s[name] = now - self._before[name]
        return self.cpu_s

    def per_op(self, ops: int) -> dict[str, float]:
        """CPU milliseconds per operation of each process over :meth:`start` ..
        :meth:`stop`, *ops* operations having ended (see :func:`ms_per_op`)."""
        return ms_per_op(self.cpu_s, ops)

    def rss_mb(self) -> dict[str, float]:
        """:func:`peak_rss_mb` of each process, rounded."""
        return {name: round(peak_rss_mb(pid), 1) for name, pid in self.pids.items()}


def ms_per_op(cpu_s: dict[str, float], ops: int) -> dict[str, float]:
    """CPU milliseconds per operation of each process of *cpu_s* (seconds), rounded; 0
    when no operation ended."""
    return {process: round(1000 * seconds / ops, 4) if ops else 0.0
            for process, seconds in cpu_s.items()}


@dataclass
class Recorder:
    """Operations of one run: end time (seconds since :meth:`begin`) and latency, and the
    errors. Times are :func:`time.perf_counter` readings: *t0* of :meth:`done` too."""

    started: float = field(default_factory=time.perf_counter)
    ends: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    def begin(self) -> None:
        self.started = time.perf_counter()

    def done(self, t0: float) -> None:
        """One operation, begun at *t0* (``time.perf_counter()``), ended now."""
        now = time.perf_counter()
        self.ends.append(now - self.started)
        self.latencies.append(now - t0)

    def failed(self, what: str) -> None:
        self.errors.append(what)

    def finish(self) -> None:
        self.elapsed = time.perf_counter() - self.started

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def per_s(self) -> float:
        return self.count / self.elapsed if self.elapsed > 0 else 0.0

    def series(self, offset: float = 0.0, *, counts: bool = False, **tags: Any
               ) -> list[dict[str, Any]]:
        """Per second of the run: ``t`` (the second, plus *offset* rounded to the ms when
        there is one), with *counts* ``count`` (operations that ended in that second),
        ``ops_per_s`` (the same over a last part-second), their ``p50_ms`` and ``p99_ms``,
        and *tags*. A last part-second under half a second, the tail past the deadline, is
        left out (it is in the totals)."""
        buckets: dict[int, list[float]] = {}
        for end, latency in zip(self.ends, self.latencies, strict=True):
            buckets.setdefault(int(end), []).append(latency)
        last = int(self.elapsed)
        out: list[dict[str, Any]] = []
        for second in range(last + 1):
            got = buckets.get(second, [])
            span = min(1.0, self.elapsed - second)
            if span < 0.5:  # the tail past the deadline: counted in the totals only
                continue
            point: dict[str, Any] = {"t": round(second + offset, 3) if offset else second}
            if counts:
                point["count"] = len(got)
            point.update({"ops_per_s": round(len(got) / max(span, 1e-3), 1),
                          "p50_ms": round(percentile(got, 0.5) * 1000, 3),
                          "p99_ms": round(percentile(got, 0.99) * 1000, 3), **tags})
            out.append(point)
        return out

    def summary(self) -> dict[str, Any]:
        return {"requests": self.count, "seconds": round(self.elapsed, 3),
                "per_s": round(self.per_s, 1), "errors": len(self.errors),
                "p50_ms": round(percentile(self.latencies, 0.5) * 1000, 3),
                "p99_ms": round(percentile(self.latencies, 0.99) * 1000, 3),
                "max_ms": round(max(self.latencies, default=0.0) * 1000, 3)}


def result(name: str, load: Recorder, floor: Recorder, floor_kind: str, concurrency: int,
           cpu_s: dict[str, float], rss_mb: dict[str, float],
           floor_cpu_s: dict[str, float], **extra: Any) -> dict[str, Any]:
    """The common JSON object of one benchmark (see the module's docstring). *cpu_s* are
    the processes' CPU seconds during the load run, *floor_cpu_s* during the floor's (its
    keys are reported as they are, e.g. ``floor_http``, ``client_floor``)."""
    throughput = round(load.per_s, 3)
    floor_per_s = round(floor.per_s, 3)
    ratio = throughput / floor_per_s if floor_per_s > 0 else 0.0
    target = TARGETS.get(name)
    cpu_ms = {**ms_per_op(cpu_s, load.count), **ms_per_op(floor_cpu_s, floor.count)}
    summary = load.summary()
    return {
        "name": name,
        "throughput_per_s": throughput,
        "floor_per_s": floor_per_s,
        "floor_kind": floor_kind,
        "ratio": ratio,
        "ratio_target": target,
        "target_met": target is not None and ratio >= target,
        "errors": len(load.errors) + len(floor.errors),
        "first_errors": (load.errors + floor.errors)[:5],
        "requests": load.count,
        "p50_ms": summary["p50_ms"],
        "p99_ms": summary["p99_ms"],
        "max_ms": summary["max_ms"],
        "rss_mb": rss_mb,
        "cpu_ms_per_op": cpu_ms,
        "concurrency": concurrency,
        "seconds": summary["seconds"],
        "floor": floor.summary(),
        **extra,
        "series": {"load": load.series(), "floor": floor.series()},
        "chart": None,
    }


def chart(res: dict[str, Any], path: Path) -> Path:
    """A PNG of throughput (top) and p50/p99 latency (bottom) per second, the load's and
    the floor's, at *path*; sets ``res["chart"]``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    load, floor = res["series"]["load"], res["series"]["floor"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    try:
        name, kind = res["name"], res["floor_kind"]
        top.plot([p["t"] for p in load], [p["ops_per_s"] for p in load], marker="o", color="C0",
                 label=f"{name} ({res['throughput_per_s']:,.0f}/s)")
        top.plot([p["t"] for p in floor], [p["ops_per_s"] for p in floor], marker="s",
                 linestyle="--", color="C1",
                 label=f"{kind} floor ({res['floor_per_s']:,.0f}/s)")
        top.set_ylabel("operations / s")
        top.set_ylim(bottom=0)
        top.legend(loc="best")
        top.set_title(f"gba bench {name}: ratio {res['ratio']:.3f} of the {kind} floor "
                      f"(target {res['ratio_target']}), concurrency {res['concurrency']}, "
                      f"errors {res['errors']}", fontsize=9)
        for series, label, color in ((load, name, "C0"), (floor, f"{kind} floor", "C1")):
            bottom.plot([p["t"] for p in series], [p["p50_ms"] for p in series],
                        color=color, linestyle="-", label=f"{label} p50")
            bottom.plot([p["t"] for p in series], [p["p99_ms"] for p in series],
                        color=color, linestyle=":", label=f"{label} p99")
        bottom.set_ylabel("latency (ms)")
        bottom.set_xlabel("second of the run")
        bottom.set_ylim(bottom=0)
        bottom.legend(loc="best", fontsize=8)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
    res["chart"] = str(path)
    return path


TABLE_HEAD = (f"{'name':10s} {'throughput/s':>13s} {'floor/s':>10s} {'ratio':>7s} "
              f"{'target':>7s} {'met':>4s} {'errors':>7s} {'p99 ms':>9s}")


def table_row(res: dict[str, Any]) -> str:
    """One line of the table of ``gba bench all`` (missing fields shown as -)."""

    def num(key: str, fmt: str) -> str:
        value = res.get(key)
        return format(value, fmt) if isinstance(value, int | float) else "-"

    met = res.get("target_met")
    return (f"{res.get('name', '?')!s:10s} {num('throughput_per_s', ',.1f'):>13s} "
            f"{num('floor_per_s', ',.0f'):>10s} {num('ratio', '.3f'):>7s} "
            f"{num('ratio_target', '.2f'):>7s} "
            f"{('-' if met is None else 'yes' if met else 'no'):>4s} "
            f"{num('errors', 'd'):>7s} {num('p99_ms', '.1f'):>9s}")

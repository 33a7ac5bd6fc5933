"""A tiny run of ``bench_push`` (issue 16 item 1): real HSS, BSF and Push-NAF processes,
a few in-process UEs; first pushes make new SAs (one Zpn and one Zh request each), reused
pushes none; no errors and the common fields present. Timing is never asserted."""

from __future__ import annotations

import pytest

from gba.lab.bench_push import bench_push

pytestmark = pytest.mark.push

COMMON = ("name", "throughput_per_s", "requests", "errors", "p50_ms", "p99_ms", "max_ms",
          "rss_mb", "cpu_ms_per_op", "concurrency", "seconds", "series")
PHASE = ("requests", "throughput_per_s", "errors", "p50_ms", "p99_ms", "max_ms",
         "cpu_ms_per_op", "bsf_zpn_per_push", "hss_zh_per_push")


def test_bench_push_smoke() -> None:
    out = bench_push(seconds=1.0, concurrency=2, ues=3)
    assert out["errors"] == 0, out["first_errors"]
    assert set(COMMON) <= set(out)
    assert out["name"] == "push"
    assert out["concurrency"] == 2
    for phase in ("first", "reuse"):
        assert set(PHASE) <= set(out[phase])
        assert out[phase]["requests"] > 0
    assert out["requests"] == out["reuse"]["requests"]
    assert out["first"]["bsf_zpn_per_push"] == 1.0
    assert out["reuse"]["bsf_zpn_per_push"] == 0.0
    assert out["reuse"]["hss_zh_per_push"] == 0.0
    assert {"hss", "bsf", "push-naf"} <= set(out["rss_mb"])
    assert {"hss", "bsf", "push-naf", "load"} <= set(out["cpu_ms_per_op"])
    assert all({"t", "count", "p50_ms", "phase"} <= set(p) for p in out["series"])

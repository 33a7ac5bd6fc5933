"""A tiny run of each load benchmark (issue 16): ``gba bench bootstrap|zn|ua --json`` for
about a second against real lab processes and its floor, and of ``gba bench bootstrap
--hss-store postgres`` (the HSS's subscribers in a private PostgreSQL server). Asserts
zero errors and the shape of the JSON, never a timing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2e.labctl import gba
from gba.lab.bench_report import Recorder, result, table_row

FIELDS = ("name", "throughput_per_s", "floor_per_s", "floor_kind", "ratio", "ratio_target",
          "target_met", "errors", "requests", "p50_ms", "p99_ms", "max_ms", "rss_mb",
          "cpu_ms_per_op", "concurrency", "seconds", "chart", "series")
KINDS = {"bootstrap": "http", "zn": "diameter", "ua": "http"}
TARGETS = {"bootstrap": 0.35, "zn": 0.5, "ua": 0.6}


@pytest.mark.parametrize("name", ["bootstrap", "zn", "ua"])
def test_bench_smoke(name: str, tmp_path: Path) -> None:
    png = tmp_path / f"{name}.png"
    out = gba("bench", name, "--seconds", "1", "--concurrency", "4", "--json",
              "--chart", png)
    res = json.loads(out.strip().splitlines()[-1])
    assert set(FIELDS) <= set(res)
    assert res["name"] == name
    assert res["errors"] == 0, res["first_errors"]
    assert res["floor"]["errors"] == 0
    assert res["requests"] > 0
    assert res["floor"]["requests"] > 0
    assert res["floor_kind"] == KINDS[name]
    assert res["ratio_target"] == TARGETS[name]
    assert res["ratio"] == pytest.approx(res["throughput_per_s"] / res["floor_per_s"])
    assert res["target_met"] == (res["ratio"] >= res["ratio_target"])
    assert res["concurrency"] == 4
    assert 0 < res["p50_ms"] <= res["p99_ms"] <= res["max_ms"]
    servers = {"bootstrap": {"hss", "bsf"}, "zn": {"bsf"}, "ua": {"naf"}}[name]
    assert servers <= set(res["rss_mb"])
    assert all(res["rss_mb"][s] > 0 for s in servers)
    assert servers <= set(res["cpu_ms_per_op"])
    assert f"floor_{KINDS[name]}" in res["rss_mb"]
    assert res["chart"] == str(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if name == "bootstrap":
        assert res["hss_store"] == "sqlite"
        assert "postgres" not in res["cpu_ms_per_op"]


@pytest.mark.postgres
def test_bench_bootstrap_hss_postgres_smoke() -> None:
    """``gba bench bootstrap --hss-store postgres``: the benchmark's own PostgreSQL server
    holds the HSS's subscribers; no errors, the server's CPU and RSS reported."""
    out = gba("bench", "bootstrap", "--seconds", "1", "--concurrency", "4", "--json",
              "--hss-store", "postgres")
    res = json.loads(out.strip().splitlines()[-1])
    assert set(FIELDS) <= set(res)
    assert res["name"] == "bootstrap"
    assert res["hss_store"] == "postgres"
    assert res["errors"] == 0, res["first_errors"]
    assert res["floor"]["errors"] == 0
    assert res["requests"] > 0
    assert {"hss", "bsf", "postgres"} <= set(res["cpu_ms_per_op"])
    assert {"hss", "bsf", "postgres"} <= set(res["rss_mb"])
    assert res["rss_mb"]["postgres"] > 0


def test_result_and_series_from_recorded_operations() -> None:
    """The common result from hand-made recordings: ratio, percentiles, per-second
    series (the tail past the deadline left out of the series, not of the totals)."""
    load, floor = Recorder(started=0.0), Recorder(started=0.0)
    load.ends, load.latencies, load.elapsed = [0.1, 0.6, 1.2, 2.01], [0.01, 0.02, 0.03, 0.04], 2.01
    floor.ends, floor.latencies, floor.elapsed = [0.1 * i for i in range(1, 21)], [0.001] * 20, 2.0
    res = result("zn", load, floor, "diameter", 2, {"bsf": 0.004}, {"bsf": 50.0},
                 {"floor_diameter": 0.002})
    assert res["throughput_per_s"] == pytest.approx(4 / 2.01, abs=1e-3)
    assert res["floor_per_s"] == 10.0
    assert res["ratio"] == res["throughput_per_s"] / res["floor_per_s"]
    assert res["target_met"] is False
    assert res["cpu_ms_per_op"] == {"bsf": 1.0, "floor_diameter": 0.1}
    assert res["max_ms"] == 40.0
    assert [p["t"] for p in res["series"]["load"]] == [0, 1]
    assert [p["ops_per_s"] for p in res["series"]["load"]] == [2.0, 1.0]
    assert "zn" in table_row(res)
    assert "no" in table_row(res)

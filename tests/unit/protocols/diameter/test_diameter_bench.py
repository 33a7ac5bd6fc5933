"""The benchmark function runs and reports the three rates (no threshold: CI is noisy)."""

from __future__ import annotations

from gba.protocols.diameter.bench import bench_diameter


def test_bench_reports_three_positive_rates() -> None:
    result = bench_diameter(seconds=0.05)
    assert set(result) == {"encode_per_s", "decode_per_s", "roundtrip_per_s"}
    assert all(rate > 0 for rate in result.values())

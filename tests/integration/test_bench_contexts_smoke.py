"""A tiny run of ``bench_contexts`` (issue 16 item 4): each backend stores its contexts,
measures some bytes and finds every context it looks up. Timing is never asserted."""

from __future__ import annotations

import pytest

from gba.lab.bench_contexts import bench_contexts

KEYS = ("bytes_per_context", "insert_per_s", "lookup_p50_us", "lookup_p99_us",
        "lookup_max_us", "lookups_per_s")


# redis: the benchmark starts a redis-server of its own, so it needs one on PATH
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_bench_contexts_smoke(backend: str) -> None:
    out = bench_contexts(count=2000, backends=(backend,), lookups=200)
    assert out["count"] == 2000
    result = out["backends"][backend]
    assert set(KEYS) <= set(result)
    assert result["bytes_per_context"] > 0
    assert result["lookups"] == 200
    assert result["lookups_missed"] == 0

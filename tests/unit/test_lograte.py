"""Rate-limited log lines (gba.lograte): a burst, then one per interval with a count."""

from __future__ import annotations

import logging

import pytest

from gba.lograte import RateLimitedLog


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_flood_costs_the_burst_then_one_line_per_interval_with_a_count(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    limited = RateLimitedLog(logging.getLogger("t"), burst=3, interval=10.0, now=clock)
    with caplog.at_level(logging.WARNING, logger="t"):
        for i in range(100):
            limited.warning("bad %d", i)
        assert [r.getMessage() for r in caplog.records] == ["bad 0", "bad 1", "bad 2"]
        clock.now = 10.0
        limited.warning("bad %d", 100)
    assert caplog.records[-1].getMessage() == "bad 100 (97 similar lines held back)"
    assert len(caplog.records) == 4

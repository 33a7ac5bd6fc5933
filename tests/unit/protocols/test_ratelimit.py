"""Token buckets with time as a parameter (gba.protocols.ratelimit), no clock read."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gba.protocols.ratelimit import (
    ChallengeLimits,
    KeyedBuckets,
    Rate,
    admit,
    retry_after,
    source_key,
)
from gba_memory import NOW


def test_a_bucket_allows_its_burst_then_says_how_long_to_wait() -> None:
    buckets = KeyedBuckets(Rate(6))
    for _ in range(6):
        assert buckets.wait("a", NOW) == 0
        buckets.take("a", NOW)
    assert buckets.wait("a", NOW) == pytest.approx(10.0)
    assert buckets.wait("b", NOW) == 0, "each key has its own bucket"


def test_a_bucket_refills_at_its_rate_and_no_further_than_its_burst() -> None:
    buckets = KeyedBuckets(Rate(6))
    for _ in range(6):
        buckets.take("a", NOW)
    assert buckets.wait("a", NOW + timedelta(seconds=10)) == 0
    for _ in range(6):
        buckets.take("a", NOW + timedelta(hours=1))
    assert buckets.wait("a", NOW + timedelta(hours=1)) > 0


def test_time_going_backwards_refills_nothing() -> None:
    buckets = KeyedBuckets(Rate(1))
    buckets.take("a", NOW)
    assert buckets.wait("a", NOW - timedelta(minutes=5)) == pytest.approx(60.0)


def test_a_zero_rate_is_unlimited() -> None:
    buckets = KeyedBuckets(Rate(0))
    for _ in range(1000):
        buckets.take("a", NOW)
    assert buckets.wait("a", NOW) == 0
    assert len(buckets) == 0


def test_admit_spends_nothing_unless_every_bucket_has_a_token() -> None:
    impis, sources = KeyedBuckets(Rate(5)), KeyedBuckets(Rate(1))
    assert admit([(impis, "u"), (sources, "s")], NOW) is None
    assert admit([(impis, "u"), (sources, "s")], NOW) == pytest.approx(60.0)
    for _ in range(4):
        assert admit([(impis, "u")], NOW) is None, "the refused check spent no IMPI token"
    assert admit([(impis, "u")], NOW) is not None


def test_idle_keys_are_dropped_when_too_many_are_held() -> None:
    buckets = KeyedBuckets(Rate(1), max_keys=2)
    buckets.take("old", NOW)
    buckets.take("mid", NOW + timedelta(seconds=30))
    buckets.take("new", NOW + timedelta(seconds=61))  # "old" has refilled: dropped
    assert len(buckets) == 2
    assert buckets.wait("mid", NOW + timedelta(seconds=61)) > 0
    buckets.take("newer", NOW + timedelta(seconds=62))  # none idle: the oldest goes
    assert len(buckets) == 2


@pytest.mark.parametrize(("seconds", "header"), [(0.01, "1"), (1.0, "1"), (19.2, "20")])
def test_retry_after_is_whole_seconds_rounded_up(seconds: float, header: str) -> None:
    assert retry_after(seconds) == header


@pytest.mark.parametrize(("address", "key"), [
    ("192.0.2.1", "192.0.2.1"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("::ffff:192.0.2.1", "192.0.2.1"),
    ("not-an-address", "not-an-address"),
])
def test_sources_are_limited_by_address_or_ipv6_slash_64(address: str, key: str) -> None:
    assert source_key(address) == key


def test_challenge_limits_count_an_impi_in_any_case_and_a_source_by_its_slash_64() -> None:
    limits = ChallengeLimits(Rate(1), Rate(1))
    assert limits.admit("User@Home.Example.org", "2001:db8::1", NOW) is None
    assert limits.admit("user@home.example.org", "192.0.2.1", NOW) is not None
    assert limits.admit("other@home.example.org", "2001:db8::2", NOW) is not None
    assert limits.admit("other@home.example.org", None, NOW) is None

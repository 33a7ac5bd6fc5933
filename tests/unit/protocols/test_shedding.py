"""The in-flight limiter of gba.protocols.shedding: counts, refusals, recovery."""

from __future__ import annotations

import pytest

from gba.errors import InvalidInput
from gba.protocols.shedding import DEFAULT_MAX_INFLIGHT, InflightLimit, busy_response


def test_admits_up_to_the_limit_then_sheds() -> None:
    limit = InflightLimit(3)
    assert [limit.try_enter() for _ in range(5)] == [True, True, True, False, False]
    assert (limit.in_flight, limit.admitted, limit.shed) == (3, 3, 2)


def test_a_place_given_back_is_taken_again() -> None:
    limit = InflightLimit(2)
    assert limit.try_enter()
    assert limit.try_enter()
    assert not limit.try_enter()
    limit.leave()
    assert limit.try_enter()
    assert limit.in_flight == 2


def test_recovers_completely_when_load_drops() -> None:
    limit = InflightLimit(4)
    taken = sum(limit.try_enter() for _ in range(100))
    for _ in range(taken):
        limit.leave()
    assert limit.in_flight == 0
    assert all(limit.try_enter() for _ in range(4))


def test_zero_is_no_limit() -> None:
    limit = InflightLimit(0)
    assert all(limit.try_enter() for _ in range(10_000))
    assert limit.shed == 0


def test_default_limit() -> None:
    assert InflightLimit().limit == DEFAULT_MAX_INFLIGHT == 256


def test_negative_limit_is_refused() -> None:
    with pytest.raises(InvalidInput):
        InflightLimit(-1)


def test_leave_without_enter_is_a_bug() -> None:
    with pytest.raises(RuntimeError):
        InflightLimit(1).leave()


def test_busy_response_is_503_with_retry_after() -> None:
    response = busy_response("BSF")
    assert response.status == 503
    assert response.header("Retry-After") == "1"
    assert b"busy" in response.body

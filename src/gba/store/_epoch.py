"""Record times as integer microseconds since the Unix epoch, the form both backends store.

Integers round-trip exactly (a float of epoch seconds loses the last microsecond) and sort
and compare in SQL and in Redis sorted-set scores (below 2**53, so exact as a double).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gba.errors import StoreError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_us(when: datetime, what: str = "time") -> int:
    """Microseconds since the epoch of the timezone-aware *when*; StoreError if naive."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise StoreError(f"{what} {when.isoformat()} has no timezone; records hold UTC times")
    return (when - _EPOCH) // _US


def from_us(us: int) -> datetime:
    """The timezone-aware UTC datetime *us* microseconds after the epoch."""
    return _EPOCH + timedelta(microseconds=us)


def now_us() -> int:
    """The wall clock, for the Redis server's own expiry (records carry their own times)."""
    return to_us(datetime.now(UTC))

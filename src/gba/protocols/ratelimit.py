"""Token buckets keyed by a name (an IMPI, a source address), with time as a parameter.

The BSF spends one token of each bucket that applies before it asks the HSS for a vector,
so that probing Ub cannot burn a subscriber's SQNs quickly (each vector advances SEQ,
TS 33.102 §6.3.2; see :mod:`gba.protocols.ub_bsf`). Nothing here reads a clock: every
call takes ``now``.

A :class:`Rate` of ``count`` per ``period`` allows a burst of ``count`` and refills
continuously; ``count`` 0 means no limit.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

IPV6_PREFIX = 64
"""An IPv6 source is limited by its /64: one host usually holds all of it (RFC 6177)."""


@dataclass(frozen=True, slots=True)
class Rate:
    """At most *count* events per *period* (and a burst of *count*); 0 is unlimited."""

    count: int
    period: timedelta = timedelta(minutes=1)

    @property
    def unlimited(self) -> bool:
        return self.count <= 0

    @property
    def per_second(self) -> float:
        return self.count / self.period.total_seconds()


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: datetime


class KeyedBuckets:
    """One token bucket per key, all with the same :class:`Rate`.

    A bucket that has refilled completely is the same as no bucket, so idle keys are
    dropped once more than *max_keys* are held (then the oldest, if still too many).
    """

    def __init__(self, rate: Rate, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def _tokens(self, key: str, now: datetime) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            return float(self.rate.count)
        elapsed = max(0.0, (now - bucket.updated).total_seconds())
        return min(float(self.rate.count), bucket.tokens + elapsed * self.rate.per_second)

    def wait(self, key: str, now: datetime) -> float:
        """Seconds until *key* has a token at *now* (0: it has one)."""
        if self.rate.unlimited:
            return 0.0
        missing = 1.0 - self._tokens(key, now)
        return 0.0 if missing <= 0 else missing / self.rate.per_second

    def take(self, key: str, now: datetime) -> None:
        """Spend one token of *key* (the caller checked :meth:`wait`)."""
        if self.rate.unlimited:
            return
        tokens = self._tokens(key, now) - 1.0
        self._buckets.pop(key, None)  # re-inserted last: the dict stays oldest-first
        self._buckets[key] = _Bucket(tokens, now)
        if len(self._buckets) > self.max_keys:
            self._prune(now)

    def _prune(self, now: datetime) -> None:
        full = float(self.rate.count)
        for key in [k for k in self._buckets if self._tokens(k, now) >= full]:
            del self._buckets[key]
        while len(self._buckets) > self.max_keys:
            del self._buckets[next(iter(self._buckets))]


def admit(checks: Sequence[tuple[KeyedBuckets, str]], now: datetime) -> float | None:
    """Spend a token of every (buckets, key) if each has one: None. Otherwise spend
    nothing and return the seconds until all of them will have one."""
    wait = max((buckets.wait(key, now) for buckets, key in checks), default=0.0)
    if wait > 0:
        return wait
    for buckets, key in checks:
        buckets.take(key, now)
    return None


def retry_after(seconds: float) -> str:
    """The Retry-After delta-seconds for a wait (RFC 9110 §10.2.3): whole seconds, >= 1."""
    return str(max(1, math.ceil(seconds)))


def source_key(address: str) -> str:
    """The key a source address is limited by: the address, or an IPv6 address's /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))
    return str(ip)


DEFAULT_PER_IMPI = Rate(10)
"""New Ub challenges per IMPI per minute: a UE needs one, two after a resynchronisation."""
DEFAULT_PER_SOURCE = Rate(120)
"""New Ub challenges per source address (IPv6: per /64) per minute."""


class ChallengeLimits:
    """How fast the BSF hands out new Ub challenges, per IMPI and per source address.

    Every vector the HSS issues advances the subscriber's SQN, so whoever may ask for
    challenges without limit may push SQN ahead of the USIM's window. The check comes
    before the HSS is asked, so it treats known and unknown IMPIs alike.
    """

    def __init__(self, per_impi: Rate = DEFAULT_PER_IMPI,
                 per_source: Rate = DEFAULT_PER_SOURCE, max_keys: int = 100_000) -> None:
        self.per_impi = KeyedBuckets(per_impi, max_keys)
        self.per_source = KeyedBuckets(per_source, max_keys)

    def admit(self, impi: str, source: str | None, now: datetime) -> float | None:
        """None: go on (a token of each is spent); else the seconds to wait."""
        checks = [(self.per_impi, impi.lower())]
        if source:
            checks.append((self.per_source, source_key(source)))
        return admit(checks, now)

"""Log lines that an attacker cannot multiply: a burst, then one line per interval that
counts what it held back (issue of log flooding: a flood of bad connections must cost at
most a few lines, not one per connection)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RateLimitedLog:
    """At most *burst* lines, then at most one per *interval* seconds; a line after a
    pause says how many similar ones were held back."""

    def __init__(self, log: logging.Logger, *, burst: int = 5, interval: float = 10.0,
                 now: Callable[[], float] = time.monotonic) -> None:
        self._log = log
        self._burst = burst
        self._interval = interval
        self._now = now
        self._tokens = float(burst)
        self._last = now()
        self._held = 0

    def warning(self, message: str, *args: object) -> None:
        now = self._now()
        self._tokens = min(self._burst, self._tokens + (now - self._last) / self._interval)
        self._last = now
        if self._tokens < 1:
            self._held += 1
            return
        self._tokens -= 1
        if self._held:
            message += " (%d similar lines held back)"
            args = (*args, self._held)
            self._held = 0
        self._log.warning(message, *args)

"""Load shedding: at most *limit* requests in flight per interface, the rest refused at once.

A network function that queues every request it accepts answers all of them late under
overload (issue 10: p99 2.7 s at 3,000 bootstrapping UEs, nothing refused). With an
:class:`InflightLimit` in front of an interface's handler, a request past the limit is
refused before any work is done -- HTTP 503 with Retry-After on Ub and Ua (RFC 9110
§15.6.4, §10.2.3), DIAMETER_TOO_BUSY 3004 in an E-bit answer on Zn (RFC 6733 §7.1.3) --
so that the accepted ones keep their latency and the client may try again or elsewhere.

The caller enters before reading the request and leaves in ``finally``, so the count
falls back as soon as load drops. Nothing here reads a clock or owns a task: the count is
only touched from the event loop's thread, between awaits, so no lock is needed.
"""

from __future__ import annotations

from typing import Final

from gba.errors import InvalidInput
from gba.protocols.http import HttpResponse, text_response

DEFAULT_MAX_INFLIGHT: Final = 256
"""Requests in flight per interface when the configuration says nothing."""

RETRY_AFTER_S: Final = 1
"""The Retry-After of a shed HTTP request: overload passes in seconds, not minutes."""


class InflightLimit:
    """A counter of requests in flight on one interface; *limit* 0 is no limit.

    ``admitted`` and ``shed`` count every decision since start, for logs and benches."""

    __slots__ = ("admitted", "in_flight", "limit", "shed")

    def __init__(self, limit: int = DEFAULT_MAX_INFLIGHT) -> None:
        if limit < 0:
            raise InvalidInput(f"in-flight limit {limit} < 0")
        self.limit = limit
        self.in_flight = 0
        self.admitted = 0
        self.shed = 0

    def try_enter(self) -> bool:
        """Take a place if one is free (True), else count the request as shed (False).
        A True must be paired with exactly one :meth:`leave`."""
        if self.limit and self.in_flight >= self.limit:
            self.shed += 1
            return False
        self.in_flight += 1
        self.admitted += 1
        return True

    def leave(self) -> None:
        """Give back the place taken by a successful :meth:`try_enter`."""
        if self.in_flight <= 0:
            raise RuntimeError("InflightLimit.leave() without a matching try_enter()")
        self.in_flight -= 1

    def __repr__(self) -> str:
        return (f"InflightLimit(limit={self.limit}, in_flight={self.in_flight}, "
                f"admitted={self.admitted}, shed={self.shed})")


def busy_response(who: str) -> HttpResponse:
    """The answer to an HTTP request shed past its limit: 503 with Retry-After
    (RFC 9110 §15.6.4, §10.2.3), as the NAF answers when the BSF is unavailable."""
    return text_response(503, f"{who} busy, try again later\n",
                         (("Retry-After", str(RETRY_AFTER_S)),))

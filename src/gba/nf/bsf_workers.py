"""BSF worker processes (issue 16 item 3): ``workers = N`` in a BSF section.

The machinery is shared with the NAF's workers and lives in :mod:`gba.nf.workers`; this
module names it for the BSF. N BSF processes share one Ub and one Zn port (SO_REUSEPORT)
and their challenges, bootstrapping contexts and Ub rate limits through the section's
Redis store; each has its own Diameter node with the BSF's Origin-Host (the HSS serves a
second connection of one Origin-Host:
:meth:`gba.transport.diameter.DiameterNode.link_opened`), and a NAF's Zn connection
lands on any worker. Each worker logs, as it stops, how many Ub requests it answered.
"""

from __future__ import annotations

from gba.nf.workers import (
    CAPTURE_ENV,
    MAX_WORKERS,
    PARENT_ENV,
    PR_SET_PDEATHSIG,
    READY_FD_ENV,
    START_TIMEOUT_S,
    STOP_GRACE_S,
    WorkerError,
    counting,
    die_with_parent,
    ready,
    start,
    stop,
    until_stopped,
    watch,
)

__all__ = ["CAPTURE_ENV", "MAX_WORKERS", "PARENT_ENV", "PR_SET_PDEATHSIG", "READY_FD_ENV",
           "START_TIMEOUT_S", "STOP_GRACE_S", "WorkerError", "counting", "die_with_parent",
           "ready", "start", "stop", "until_stopped", "watch"]

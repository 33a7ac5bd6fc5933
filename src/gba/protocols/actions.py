"""What the sans-IO Ub and Ua machines ask of the layer that drives them.

Every feeder method of a machine (:mod:`gba.protocols.ub_bsf`, :mod:`~.ub_ue`,
:mod:`~.ua_naf`, :mod:`~.ua_ue`) returns one of these small frozen records; the driver
does what it says (a store call, a Zh or Zn request, an HTTP send) and feeds the outcome
back through the method the action names. Nothing here does I/O.

Server side (BSF, NAF): the exchange ends with :class:`Respond`.
UE side: the exchange ends with :class:`Bootstrapped` (Ub) or :class:`Done` (Ua).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from gba.errors import ProtocolError
from gba.protocols.contexts import BootstrapContext, NafKey
from gba.protocols.contexts import Challenge as PendingChallenge
from gba.protocols.http import HttpRequest, HttpResponse
from gba.protocols.mtc import InitRequest
from gba.protocols.ub import Bootstrap
from gba.protocols.zh import VectorRequest

# --- both servers --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Respond:
    """Send this response; the exchange is over."""

    response: HttpResponse


# --- BSF, Ub (TS 24.109 §4; TS 33.220 §4.5.2) ----------------------------------------


@dataclass(frozen=True, slots=True)
class TakeChallenge:
    """Remove and hand back the pending challenge for *nonce*, if it is still valid at
    *now*, through ``challenge_taken`` (taken once: a replayed nonce finds nothing)."""

    nonce: str
    now: datetime


@dataclass(frozen=True, slots=True)
class AdmitChallenge:
    """May a new challenge for *impi*, asked from *source*, be issued at *now*? Check the
    rate limits before the HSS spends an SQN on it; feed ``challenge_admitted`` with None
    (a token was spent, go on) or the seconds to wait (:mod:`gba.protocols.ratelimit`)."""

    impi: str
    source: str | None
    now: datetime


@dataclass(frozen=True, slots=True)
class NeedVector:
    """Ask the HSS over Zh for a vector (TS 29.109 §4.2); feed ``vector_received`` with
    the answer or the refusing result code, or ``vector_unavailable``."""

    request: VectorRequest
    mtc: InitRequest | None = None
    """An MTC device's initialisation request (docs/mtc.md §2): the vector is its
    group's, from the HSS or reused (feed ``vector_received`` with the settings)."""


@dataclass(frozen=True, slots=True)
class StoreChallenge:
    """Keep this challenge until the UE answers; then ``challenge_stored``."""

    challenge: PendingChallenge


@dataclass(frozen=True, slots=True)
class StoreContext:
    """Keep this bootstrapping context (TS 33.220 §4.5.2 step 6); then ``context_stored``."""

    context: BootstrapContext


# --- NAF, Ua with HTTP Digest (TS 33.222 §5.3) ----------------------------------------


@dataclass(frozen=True, slots=True)
class NeedKey:
    """Find Ks_(ext)_NAF for (B-TID, NAF_Id), from the cache or the BSF over Zn
    (TS 33.220 §4.5.3); feed ``key_received`` (None: unknown B-TID) or ``key_unavailable``
    with the Zn result code that refused it (None: the BSF could not be asked)."""

    btid: str
    naf_id: bytes


@dataclass(frozen=True, slots=True)
class CheckNonceCount:
    """Record *nc* for *nonce* (kept until *expires*); feed ``nonce_count_checked`` with
    whether it was above every earlier count (RFC 7616 §3.4, §5.4)."""

    nonce: str
    nc: int
    expires: datetime


@dataclass(frozen=True, slots=True)
class ServeResource:
    """The request is authenticated: produce the resource at *path* for the holder of *key*
    and feed its body to ``resource_ready``."""

    key: NafKey
    path: str


# --- UE ------------------------------------------------------------------------------

Trace = Callable[[str], None]
"""Where a UE machine narrates the exchange, one line per step (the CLI's ``-v``)."""


def no_trace(_: str) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Send:
    """Send this request to the peer; feed its response to ``response_received``."""

    request: HttpRequest


@dataclass(frozen=True, slots=True)
class Bootstrapped:
    """Ub is done: the UE holds a new bootstrap (TS 33.220 §4.5.2 step 7)."""

    bootstrap: Bootstrap


@dataclass(frozen=True, slots=True)
class NeedNafKey:
    """Derive Ks_(ext)_NAF for *naf_fqdn* and *ua_protocol* (which follows the transport,
    TS 33.220 H.3), bootstrapping first when no valid bootstrap is held or
    *force_bootstrap*; feed ``key_received``."""

    naf_fqdn: str
    ua_protocol: bytes
    force_bootstrap: bool


@dataclass(frozen=True, slots=True)
class Done:
    """Ua is done: this is the NAF's final response (checked, when credentials were sent)."""

    response: HttpResponse


def expect(machine: object, state: Enum, feeder: str, *wanted: Enum) -> None:
    """A feeder called out of turn is the driver's bug (h11's LocalProtocolError)."""
    if state not in wanted:
        raise ProtocolError(f"{type(machine).__name__}.{feeder}() called in state "
                            f"{state.name}, expected {' or '.join(w.name for w in wanted)}")

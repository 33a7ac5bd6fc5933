"""The terminal's side of NGN key distribution (seed 001, s1, s6/s7, s10/s11; docs/ngn.md
§1), sans-IO: flow messages in, flow messages and outcomes out; the clock (``now``) and the
randomness (``rng``) come from the caller.

The terminal registers with N1 and TS1 (s1); answers the challenge (s6) after checking that
it echoes N1 and that TS2 is fresh, with N1', the echoed N2, TS3, Authenticator_c =
f(Kc, Rand, ID_c) and its mechanism list (s7); on success (s10) it checks TS4, that N1' and
N2 came back, unwraps Kc,sp with Kc, verifies the MAC (which authenticates the SP) and that
its own list came back unaltered (no downgrade). A failed check discards Kc,sp and starts
again from s1 with a fresh N1 (s11), at most ``max_restarts`` times in a row.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from gba.errors import AuthError, InvalidInput, ProtocolError
from gba.protocols import ngn
from gba.protocols.ngn import Mechanism
from gba.protocols.ngn_flow import Refuse, S1Register, S6Challenge, S7Response, S10Success

DEFAULT_MAX_RESTARTS = 3


class _State(enum.Enum):
    IDLE = "idle"
    CHALLENGE = "awaiting s6"
    SUCCESS = "awaiting s10"
    REGISTERED = "registered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Registered:
    """The registration succeeded: the terminal holds Kc,sp and the chosen mechanism."""

    id_c: str
    id_sp: str
    kc_sp: bytes = field(repr=False)
    mechanism: str


@dataclass(frozen=True, slots=True)
class Restart:
    """A check of s10 (or a re-challenge by reject) failed: Kc,sp is discarded and the
    terminal registers again with this s1 (seed s11)."""

    reason: str
    register: S1Register


@dataclass(frozen=True, slots=True)
class Failed:
    """The registration ended without a key: refused, or too many restarts."""

    reason: str
    refuse: Refuse | None = None


class NgnTerminal:
    """One terminal's registration (ID_c with Kc, towards ID_sp)."""

    def __init__(self, id_c: str, id_sp: str, kc: bytes, mechanisms: tuple[Mechanism, ...], *,
                 skew: int = ngn.DEFAULT_SKEW_S, max_restarts: int = DEFAULT_MAX_RESTARTS,
                 rng: Callable[[int], bytes] = os.urandom) -> None:
        if len(kc) != ngn.KEY_LEN:
            raise InvalidInput(f"Kc must be {ngn.KEY_LEN} octets")
        ngn.format_mechanisms(mechanisms)  # validates: non-empty, no duplicates
        self.id_c = ngn.check_id(id_c)
        self.id_sp = ngn.check_id(id_sp)
        self._kc = kc
        self.mechanisms = tuple(mechanisms)
        self._skew = skew
        self._max_restarts = max_restarts
        self._rng = rng
        self._state = _State.IDLE
        self._nonce = b""  # the nonce the next answer must echo: N1, then N1'
        self._n2 = b""
        self._restarts = 0
        self.registered: Registered | None = None

    @property
    def state(self) -> str:
        return self._state.value

    def register(self, now: int) -> S1Register:
        """s1: register with a fresh N1 and TS1 = ``now`` (a new series of restarts)."""
        self._restarts = 0
        return self._register(now)

    def _register(self, now: int) -> S1Register:
        self.registered = None
        self._nonce = self._rng(ngn.NONCE_LEN)
        self._n2 = b""
        self._state = _State.CHALLENGE
        return S1Register(self.id_c, self.id_sp, self._nonce, now)

    def _mine(self, id_c: str, id_sp: str) -> None:
        if id_c != self.id_c or id_sp != self.id_sp:
            raise ProtocolError("a message for another terminal or SP")

    def on_challenge(self, msg: S6Challenge, now: int) -> S7Response:
        """s6 -> s7. Accepted while awaiting s6, or while awaiting s10 (a re-challenge after
        a mismatch, echoing N1'). :class:`AuthError` (stale TS2, N1 not echoed) or
        :class:`ProtocolError` (unexpected): the message is ignored, the state unchanged."""
        self._mine(msg.id_c, msg.id_sp)
        if self._state not in (_State.CHALLENGE, _State.SUCCESS):
            raise ProtocolError(f"a challenge while {self._state.value}")
        ngn.fresh(msg.ts2, now, self._skew)
        ngn.echoed(self._nonce, msg.n1)
        auth = ngn.authenticator(self._kc, msg.rand, self.id_c)
        self._nonce = self._rng(ngn.NONCE_LEN)
        self._n2 = msg.n2
        self._state = _State.SUCCESS
        return S7Response(self.id_c, self.id_sp, self._nonce, msg.n2, now, auth, self.mechanisms)

    def on_success(self, msg: S10Success, now: int) -> Registered | Restart | Failed:
        """s10: every check of s11; any failure discards Kc,sp and restarts from s1."""
        self._mine(msg.id_c, msg.id_sp)
        if self._state is not _State.SUCCESS:
            raise ProtocolError(f"a success while {self._state.value}")
        try:
            ngn.fresh(msg.ts4, now, self._skew)
            ngn.echoed(self._nonce, msg.n1)
            ngn.echoed(self._n2, msg.n2)
            kc_sp = ngn.unwrap(self._kc, msg.e_kc)
            ngn.verify_mac(kc_sp, msg.mac_fields(), msg.mac)
            if msg.mechanisms != self.mechanisms:
                raise AuthError("the mechanism list came back altered (a downgrade attempt)")
            if msg.chosen.casefold() not in {m.name.casefold() for m in self.mechanisms}:
                raise AuthError(f"mechanism {msg.chosen!r} is not one the terminal offered")
        except AuthError as exc:
            return self._restart(str(exc), now)
        self._state = _State.REGISTERED
        self._restarts = 0
        self.registered = Registered(self.id_c, self.id_sp, kc_sp, msg.chosen)
        return self.registered

    def on_refuse(self, msg: Refuse, now: int) -> Restart | Failed:
        """A reject: a re-challenge (H.323 RRJ securityDenial, ``detail`` "rechallenge")
        starts again from s1; anything else ends the registration. A reject carries no
        MAC: one that arrives when no registration is in progress is a
        :class:`ProtocolError` and changes nothing."""
        self._mine(msg.id_c, msg.id_sp)
        if self._state not in (_State.CHALLENGE, _State.SUCCESS):
            raise ProtocolError(f"a reject while {self._state.value}")
        if msg.detail == "rechallenge" and self._state is _State.SUCCESS:
            return self._restart("re-challenged", now)
        self._state = _State.FAILED
        return Failed(f"refused: {msg.refusal.value}", msg)

    def _restart(self, reason: str, now: int) -> Restart | Failed:
        self.registered = None
        self._restarts += 1
        if self._restarts > self._max_restarts:
            self._state = _State.FAILED
            return Failed(f"{reason}; gave up after {self._max_restarts} restarts")
        return Restart(reason, self._register(now))

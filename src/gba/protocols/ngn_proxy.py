"""The signalling proxy's side of NGN key distribution (seed 001, s1/s2, s5/s6, s7/s8,
s9/s10; claims 9-16), sans-IO. Without a proxy the softswitch runs this same machine under
its own identity and key (claims 1-8).

The SP refuses a stale TS1 or TS3 and a replayed N1 or N1'; it answers the softswitch's
challenge with N1 echoed, its own N2 and TS2, and asks for the terminal's mechanisms; it
refuses an s7 whose N2 was not echoed, chooses the mechanism (none in common refuses the
registration); on success it unwraps Kc,sp with its own key, and sends E_Kc[Kc,sp], the
chosen mechanism, the terminal's list, N1', N2, TS4 and fm(Kc,sp) over all of them.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from gba.errors import AuthError, InvalidInput, MacFailure
from gba.protocols import ngn
from gba.protocols.ngn import Mechanism, NoCommonMechanism, StaleTimestamp
from gba.protocols.ngn_flow import (
    Protected,
    Refusal,
    Refuse,
    S1Register,
    S2Forward,
    S5Challenge,
    S6Challenge,
    S7Response,
    S8Response,
    S9Success,
    S10Success,
    mac_fields,
)

MAX_PENDING = 65536
"""Registrations in progress at once; the oldest is dropped beyond."""
MAX_SEEN = 262144
"""Nonces remembered against replay; each for twice the clock-skew window."""


@dataclass(slots=True)
class _Pending:
    nonce: bytes  # N1, then N1': what the next s6 echoes
    rand: bytes = b""
    n2: bytes = b""
    mechanisms: tuple[Mechanism, ...] = ()
    chosen: str = ""
    challenged: bool = False
    answered: bool = False
    address: str = ""


@dataclass(frozen=True, slots=True)
class Session:
    """A terminal registered through this SP: Kc,sp and the chosen mechanism."""

    id_c: str
    kc_sp: bytes = field(repr=False)
    mechanism: str
    address: str


class NgnProxy:
    """The SP role (ID_sp with Ksp, shared with the AuC)."""

    def __init__(self, id_sp: str, ksp: bytes, supported: Collection[str], *,
                 forward_mechanisms: bool = False, skew: int = ngn.DEFAULT_SKEW_S,
                 rng: Callable[[int], bytes] = os.urandom) -> None:
        if len(ksp) != ngn.KEY_LEN:
            raise InvalidInput(f"Ksp must be {ngn.KEY_LEN} octets")
        if not supported:
            raise InvalidInput("an SP supporting no mechanism")
        self.id_sp = ngn.check_id(id_sp)
        self._ksp = ksp
        self.supported = tuple(supported)
        self.forward_mechanisms = forward_mechanisms
        self._skew = skew
        self._rng = rng
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._seen: OrderedDict[bytes, int] = OrderedDict()
        self.sessions: dict[str, Session] = {}
        self._refresh_seq: dict[str, int] = {}

    def _refuse(self, id_c: str, refusal: Refusal, detail: str) -> Refuse:
        return Refuse(id_c, self.id_sp, refusal, detail)

    def _replayed(self, nonce: bytes, now: int) -> bool:
        """Whether ``nonce`` was seen within the window; remembers it otherwise."""
        while self._seen:
            at = next(iter(self._seen.values()))
            if at >= now - 2 * self._skew and len(self._seen) < MAX_SEEN:
                break
            self._seen.popitem(last=False)
        if nonce in self._seen:
            return True
        self._seen[nonce] = now
        return False

    def _check_fresh(self, id_c: str, ts: int, nonce: bytes, now: int) -> Refuse | None:
        try:
            ngn.fresh(ts, now, self._skew)
        except StaleTimestamp as exc:
            return self._refuse(id_c, Refusal.STALE, str(exc))
        if self._replayed(nonce, now):
            return self._refuse(id_c, Refusal.REPLAY, "a nonce seen before")
        return None

    def on_register(self, msg: S1Register, now: int) -> S2Forward | Refuse:
        """s1 -> s2: check ID_sp, TS1 and N1; start (or restart) the registration."""
        if msg.id_sp != self.id_sp:  # answered in the terminal's terms: the ID_sp it named
            return Refuse(msg.id_c, msg.id_sp, Refusal.UNKNOWN_PROXY, "ID_sp is not this SP")
        refused = self._check_fresh(msg.id_c, msg.ts1, msg.n1, now)
        if refused is not None:
            return refused
        self._pending.pop(msg.id_c, None)
        self._pending[msg.id_c] = _Pending(msg.n1)
        while len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)
        return S2Forward(msg.id_c, self.id_sp)

    def on_challenge(self, msg: S5Challenge, now: int) -> S6Challenge | Refuse:
        """s5 -> s6: N1 (or N1') echoed, a fresh N2, TS2, and the request for the list."""
        pending = self._pending.get(msg.id_c)
        if pending is None:
            return self._refuse(msg.id_c, Refusal.MALFORMED, "no registration in progress")
        pending.rand = msg.rand
        pending.n2 = self._rng(ngn.NONCE_LEN)
        pending.challenged = True
        pending.answered = False
        return S6Challenge(msg.id_c, self.id_sp, msg.rand, pending.nonce, pending.n2, now, True)

    def on_response(self, msg: S7Response, address: str, now: int) -> S8Response | Refuse:
        """s7 -> s8: TS3 fresh, N1' new, N2 echoed, a mechanism in common; ``address`` is
        the terminal's IP as this SP sees it (after any address translation)."""
        if msg.id_sp != self.id_sp:
            return Refuse(msg.id_c, msg.id_sp, Refusal.UNKNOWN_PROXY, "ID_sp is not this SP")
        pending = self._pending.get(msg.id_c)
        if pending is None or not pending.challenged:
            return self._refuse(msg.id_c, Refusal.MALFORMED, "no challenge outstanding")
        try:
            ngn.fresh(msg.ts3, now, self._skew)
        except StaleTimestamp as exc:
            return self._refuse(msg.id_c, Refusal.STALE, str(exc))
        try:
            ngn.echoed(pending.n2, msg.n2)
        except AuthError as exc:
            return self._refuse(msg.id_c, Refusal.NOT_ECHOED, str(exc))
        if self._replayed(msg.n1, now):
            return self._refuse(msg.id_c, Refusal.REPLAY, "a nonce seen before")
        try:
            chosen = ngn.choose(msg.mechanisms, self.supported)
        except NoCommonMechanism as exc:
            self._pending.pop(msg.id_c, None)
            return self._refuse(msg.id_c, Refusal.NO_COMMON_MECHANISM, str(exc))
        pending.nonce = msg.n1
        pending.mechanisms = msg.mechanisms
        pending.chosen = chosen
        pending.answered = True
        pending.address = address
        listed = msg.mechanisms if self.forward_mechanisms else None
        return S8Response(msg.id_c, self.id_sp, msg.authenticator, address, listed)

    def on_success(self, msg: S9Success, now: int) -> S10Success | Refuse:
        """s9 -> s10: unwrap Kc,sp with Ksp, MAC the success under it; keep the session."""
        pending = self._pending.get(msg.id_c)
        if pending is None or not pending.answered:
            return self._refuse(msg.id_c, Refusal.MALFORMED, "no response outstanding")
        try:
            kc_sp = ngn.unwrap(self._ksp, msg.e_ksp)
        except MacFailure as exc:
            self._pending.pop(msg.id_c, None)
            return self._refuse(msg.id_c, Refusal.UNAVAILABLE, str(exc))
        del self._pending[msg.id_c]
        fields = mac_fields(msg.id_c, self.id_sp, pending.nonce, pending.n2, now, msg.e_kc,
                            pending.chosen, pending.mechanisms)
        tag = ngn.mac(kc_sp, fields)
        self.sessions[msg.id_c] = Session(msg.id_c, kc_sp, pending.chosen, pending.address)
        self._refresh_seq.pop(msg.id_c, None)
        return S10Success(msg.id_c, self.id_sp, pending.nonce, pending.n2, now, msg.e_kc,
                          pending.chosen, pending.mechanisms, tag)

    def on_refuse(self, msg: Refuse) -> Refuse:
        """The softswitch refused: the registration ends here too; relay the reject."""
        if msg.detail != "rechallenge":
            self._pending.pop(msg.id_c, None)
        return Refuse(msg.id_c, self.id_sp, msg.refusal, msg.detail)

    def abandon(self, id_c: str) -> None:
        """Forget a registration in progress (a binding that re-challenges by reject)."""
        self._pending.pop(id_c, None)

    def on_protected(self, msg: Protected) -> Protected | Refuse:
        """A refresh protected under Kc,sp [P]: accepted, with no new key exchange, when
        the terminal is registered here, names the chosen mechanism, its MAC verifies and
        its ``seq`` is above the last one; answered under Kc,sp."""
        session = self.sessions.get(msg.id_c)
        if msg.answer or msg.id_sp != self.id_sp or session is None:
            return self._refuse(msg.id_c, Refusal.AUTH_FAILED, "not registered here")
        try:
            ngn.verify_mac(session.kc_sp, msg.mac_fields(), msg.mac)
        except MacFailure:
            return self._refuse(msg.id_c, Refusal.AUTH_FAILED, "the refresh's MAC fails")
        if msg.mechanism.casefold() != session.mechanism.casefold():
            return self._refuse(msg.id_c, Refusal.AUTH_FAILED, "not the chosen mechanism")
        if msg.seq <= self._refresh_seq.get(msg.id_c, -1):
            return self._refuse(msg.id_c, Refusal.REPLAY, "a refresh seen before")
        self._refresh_seq[msg.id_c] = msg.seq
        answer = Protected(msg.id_c, self.id_sp, session.mechanism, msg.seq, b"", True)
        tag = ngn.mac(session.kc_sp, answer.mac_fields())
        return Protected(msg.id_c, self.id_sp, session.mechanism, msg.seq, tag, True)

    def adopt(self, id_c: str, e_ksp: bytes, mechanism: str, address: str) -> bytes:
        """Keep the session of a terminal registered by other means (the AKA
        interoperability extension, where no s10 MAC is sent): Kc,sp from E_Ksp under this
        node's key; :class:`MacFailure` when the wrap does not open."""
        kc_sp = ngn.unwrap(self._ksp, e_ksp)
        self._pending.pop(id_c, None)
        self.sessions[id_c] = Session(id_c, kc_sp, mechanism, address)
        self._refresh_seq.pop(id_c, None)
        return kc_sp

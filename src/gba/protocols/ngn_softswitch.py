"""The softswitch's side of NGN key distribution (seed 001, s2/s3, s4/s5, s8/s9, s11), sans-IO.

The softswitch holds no authentication data for a terminal, so every registration asks the
AuC (s3); it challenges with the AuC's Rand (s5) and keeps Authenticator_c and both wraps;
it compares the terminal's authenticator with the AuC's (s9): a match sends both wraps to
the SP and the registration notice to the AuC (s11) together; a mismatch challenges again
with a new vector, and the ``max_failures``-th mismatch in a row is refused. Without a
proxy the softswitch also runs :class:`~gba.protocols.ngn_proxy.NgnProxy` under its own
identity (claims 1-8).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from gba.errors import InvalidInput, MacFailure
from gba.protocols import ngn
from gba.protocols.ngn_flow import (
    Refusal,
    Refuse,
    S2Forward,
    S3AuthRequest,
    S4AuthVector,
    S5Challenge,
    S8Response,
    S9Success,
    S11Registered,
)

DEFAULT_MAX_FAILURES = 3
MAX_PENDING = 65536


@dataclass(slots=True)
class _Pending:
    id_sp: str
    vector: S4AuthVector | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Registration:
    """A terminal the softswitch registered."""

    id_c: str
    id_sp: str
    address: str


class NgnSoftswitch:
    """The softswitch role: registrar / media gateway controller / gatekeeper."""

    def __init__(self, id_ss: str, *, max_failures: int = DEFAULT_MAX_FAILURES) -> None:
        if max_failures < 1:
            raise InvalidInput("max_failures must be at least 1")
        self.id_ss = ngn.check_id(id_ss)
        self.max_failures = max_failures
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._failures: dict[str, int] = {}
        self.registrations: dict[str, Registration] = {}

    def on_register(self, msg: S2Forward) -> S3AuthRequest:
        """s2 -> s3: no authentication data here, so ask the AuC."""
        self._pending.pop(msg.id_c, None)
        self._pending[msg.id_c] = _Pending(msg.id_sp)
        while len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)
        return S3AuthRequest(msg.id_c, msg.id_sp)

    def on_vector(self, vector: S4AuthVector) -> S5Challenge | Refuse:
        """s4 -> s5: keep the vector, challenge with its Rand."""
        pending = self._pending.get(vector.id_c)
        if pending is None or pending.id_sp != vector.id_sp:
            return Refuse(vector.id_c, vector.id_sp, Refusal.MALFORMED, "no registration waiting")
        pending.vector = vector
        return S5Challenge(vector.id_c, vector.id_sp, vector.rand)

    def on_auc_refusal(self, request: S3AuthRequest, refusal: Refusal, detail: str) -> Refuse:
        """The AuC refused s3 (unknown ID_c or ID_sp) or was unreachable."""
        self._pending.pop(request.id_c, None)
        return Refuse(request.id_c, request.id_sp, refusal, detail)

    def on_response(
        self, msg: S8Response,
    ) -> tuple[S9Success, S11Registered] | S3AuthRequest | Refuse:
        """s8: compare the authenticators. Match: s9 and s11 together. Mismatch: a new s3
        (challenge again), or the reject after ``max_failures`` mismatches in a row."""
        pending = self._pending.get(msg.id_c)
        if pending is None or pending.vector is None or pending.id_sp != msg.id_sp:
            return Refuse(msg.id_c, msg.id_sp, Refusal.MALFORMED, "no challenge outstanding")
        vector = pending.vector
        try:
            ngn.verify_authenticator(vector.authenticator, msg.authenticator)
        except MacFailure:
            failures = self._failures.get(msg.id_c, 0) + 1
            if failures >= self.max_failures:
                self._failures.pop(msg.id_c, None)
                self._pending.pop(msg.id_c, None)
                return Refuse(msg.id_c, msg.id_sp, Refusal.AUTH_FAILED,
                              f"{failures} wrong authenticators")
            self._failures[msg.id_c] = failures
            pending.vector = None
            return S3AuthRequest(msg.id_c, msg.id_sp)
        self._failures.pop(msg.id_c, None)
        del self._pending[msg.id_c]
        self.registrations[msg.id_c] = Registration(msg.id_c, msg.id_sp, msg.address)
        return (S9Success(msg.id_c, msg.id_sp, vector.e_kc, vector.e_ksp),
                S11Registered(msg.id_c, msg.id_sp, msg.address))

    def failures(self, id_c: str) -> int:
        """Wrong authenticators in a row for ``id_c`` so far."""
        return self._failures.get(id_c, 0)

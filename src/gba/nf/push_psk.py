"""GBA Push over PSK-TLS (seed 002 embodiment 4; docs/push.md §2 row 4).

Steps 503-505: the NAF sends the GPI / SA information naming PSK-TLS as the Ua
protocol (503); the UE and the NAF run a TLS 1.2 PSK handshake keyed with
Ks_(ext/int)_NAF (504; TS 33.222 §5.4, RFC 4279); the NAF sends its pushes over that
connection (505). The UE may also open the PSK-TLS connection on its own, without
step 503, to collect what is pending.

The key is Ks_(ext/int)_NAF for NAF_Id = FQDN || 01 00 01 yy zz, yy zz the suite
negotiated on this connection (TS 33.220 Annex H.3; :func:`~gba.nf.naf_psk.naf_id_for`).
The UE names it by its PSK identity: ``3GPP-bootstrapping.`` + B-TID after a normal
bootstrap (TS 33.222 §5.4), or [P] ``3GPP-bootstrapping-push.`` + P-TID after GBA Push
(no specification gives a PSK identity for a P-TID; :mod:`gba.protocols.push_psk`).
The UE's side is :mod:`gba.ue.push_pull`.

[P] The pushes ride HTTP/1.1 inside the connection: ``GET /push?wait=<seconds>`` answers
``{"pushes": [<base64>, ...]}``, everything the NAF's :class:`PushMailbox` holds for the
TID, waiting up to *wait* seconds (long poll) when nothing is pending. Payloads taken
from the mailbox are gone once the response is built: a connection that breaks before
the UE reads it loses them (no acknowledgement at this layer).

The transport (:class:`~gba.transport.psk_tls.PskTlsServer`) is given
:func:`~gba.protocols.push_psk.tid_from_identity` to read identities, so ``conn.btid``
holds the P-TID on a push connection. The mailbox is read by the key's *owner* (the
user: the NAF queues pushes by IMPI, so a UE that connects on its own with its B-TID
collects them too).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from gba.clock import Clock, utc_now
from gba.config import Address
from gba.errors import CodecError, InvalidInput
from gba.nf.naf_psk import naf_id_for
from gba.protocols.http import HttpRequest, HttpResponse, text_response
from gba.protocols.push_psk import JSON, PUSH_PATH, tid_from_identity
from gba.protocols.push_sa import MAX_PUSH
from gba.transport.psk_http import CLOSE, http_handler
from gba.transport.psk_tls import (
    SERVER_CIPHERS,
    PskGrant,
    PskTlsConnection,
    PskTlsServer,
)

__all__ = ["PushKey", "PushMailbox", "Resolve", "make_push_psk_server"]

log = logging.getLogger(__name__)

_WAIT = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,6})?")

class PushMailbox:
    """Push payloads waiting per TID (B-TID or P-TID), for one event loop.

    At most *max_per_tid* payloads wait per TID and *max_tids* TIDs have payloads
    waiting; :meth:`put` past either bound, or of a payload over
    :data:`~gba.protocols.push_sa.MAX_PUSH` octets, raises :class:`InvalidInput` and
    stores nothing. Call it from the loop's thread."""

    def __init__(self, max_per_tid: int = 256, max_tids: int = 100_000) -> None:
        if max_per_tid < 1 or max_tids < 1:
            raise InvalidInput("mailbox bounds must be positive")
        self.max_per_tid = max_per_tid
        self.max_tids = max_tids
        self._queues: dict[str, list[bytes]] = {}
        self._waiters: dict[str, set[asyncio.Event]] = {}

    def __repr__(self) -> str:
        return f"PushMailbox(tids={len(self._queues)}, waiting={len(self._waiters)})"

    def put(self, tid: str, payloads: Sequence[bytes]) -> None:
        """Queue *payloads* for *tid*, after those already waiting, and wake its takers."""
        if not tid:
            raise InvalidInput("TID is empty")
        items = [bytes(p) for p in payloads]
        if not items:
            return
        big = next((len(p) for p in items if len(p) > MAX_PUSH), None)
        if big is not None:
            raise InvalidInput(f"push payload of {big} octets exceeds {MAX_PUSH}")
        queue = self._queues.get(tid)
        if queue is None and len(self._queues) >= self.max_tids:
            raise InvalidInput(f"push mailbox full: {self.max_tids} TIDs have pushes pending")
        held = len(queue) if queue is not None else 0
        if held + len(items) > self.max_per_tid:
            raise InvalidInput(f"{held} pushes pending for {tid[:80]!r}; "
                               f"{len(items)} more exceed {self.max_per_tid}")
        self._queues.setdefault(tid, []).extend(items)
        for event in self._waiters.get(tid, ()):
            event.set()

    def pending(self, tid: str) -> int:
        """Payloads waiting for *tid*."""
        return len(self._queues.get(tid, ()))

    def waiting(self, tid: str) -> int:
        """Takers waiting for a payload for *tid*."""
        return len(self._waiters.get(tid, ()))

    async def take(self, tid: str, wait_s: float) -> list[bytes]:
        """Remove and return every payload waiting for *tid*; when there is none, wait up
        to *wait_s* seconds for one, then return [] (a concurrent taker may win them)."""
        taken = self._queues.pop(tid, None)
        if taken or wait_s <= 0:
            return taken or []
        event = asyncio.Event()
        self._waiters.setdefault(tid, set()).add(event)
        try:
            async with asyncio.timeout(wait_s):
                while True:
                    await event.wait()
                    event.clear()
                    taken = self._queues.pop(tid, None)
                    if taken:
                        return taken
        except TimeoutError:
            return []
        finally:
            waiters = self._waiters.get(tid)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[tid]


@dataclass(frozen=True, slots=True)
class PushKey:
    """The PSK for one TID, as the NAF's resolver answers it."""

    key: bytes = field(repr=False)
    """Ks_(ext/int)_NAF for the NAF_Id of the negotiated suite."""
    tid: str
    """The B-TID or P-TID the key belongs to."""
    expires: datetime
    owner: str = ""
    """The mailbox it reads (the user's IMPI); the TID when empty."""


Resolve = Callable[[bool, str, bytes], Awaitable[PushKey | None]]
"""``resolve(is_push, tid, naf_id)``: the key for a P-TID (*is_push*) or B-TID at
NAF_Id = FQDN || 01 00 01 yy zz, or None when there is none."""


def _wait_of(target: str, cap: float) -> float:
    """The ``wait`` query parameter in seconds, capped; :class:`CodecError` if malformed."""
    values = parse_qs(urlsplit(target).query, keep_blank_values=True).get("wait", [])
    if not values:
        return 0.0
    if len(values) > 1 or _WAIT.fullmatch(values[0]) is None:
        raise CodecError("wait must be one number of seconds")
    return min(float(values[0]), cap)


def make_push_psk_server(fqdn: str, where: Address, resolve: Resolve, mailbox: PushMailbox,
                         *, clock: Clock = utc_now, wait_cap_s: float = 30.0,
                         on_delivered: Callable[[str, int], None] | None = None
                         ) -> PskTlsServer[PushKey]:
    """The NAF's push endpoint (steps 504-505): PSK-TLS on every suite of
    :data:`~gba.transport.psk_tls.SERVER_CIPHERS`, SNI *fqdn* only, serving
    ``GET /push?wait=<s>`` from *mailbox*; *on_delivered(tid, count)* is told of each
    200 that carries pushes. Not started."""

    async def key_for(identity: str, ciphersuite: int, server_name: str | None
                      ) -> PskGrant[PushKey] | None:
        try:
            is_push, tid = tid_from_identity(identity)
            key = await resolve(is_push, tid, naf_id_for(fqdn, ciphersuite))
            if key is None or key.tid != tid:
                log.info("PSK-TLS push: no key for %s %s at %s (suite 0x%04x)",
                         "P-TID" if is_push else "B-TID", tid, fqdn, ciphersuite,
                         extra={"interface": "ua_psk"})
                return None
            return PskGrant(key.key, key)
        except Exception as exc:  # the resolver's failure fails the handshake
            log.info("PSK-TLS push: no key for identity %r at %s (suite 0x%04x): %s",
                     identity[:80], fqdn, ciphersuite, type(exc).__name__,
                     extra={"interface": "ua_psk"})
            return None

    async def app(conn: PskTlsConnection[PushKey], request: HttpRequest) -> HttpResponse:
        key = conn.context
        if key.expires <= clock():
            log.info("PSK-TLS push: key for %s expired at %s; closing", key.tid,
                     key.expires.isoformat(), extra={"interface": "ua_psk", "result": 403})
            return text_response(403, "Ks_NAF expired: bootstrap again\n", [CLOSE])
        if request.path != PUSH_PATH:
            return text_response(404, "Not Found\n")
        if request.method != "GET":
            return text_response(405, "Method Not Allowed\n", [("Allow", "GET")])
        try:
            wait = _wait_of(request.target, wait_cap_s)
        except CodecError as exc:
            return text_response(400, f"{exc}\n")
        box = key.owner or key.tid
        payloads = await mailbox.take(box, wait)
        body = json.dumps({"pushes": [base64.b64encode(p).decode("ascii")
                                      for p in payloads]}).encode("ascii")
        if payloads and on_delivered is not None:
            try:
                on_delivered(box, len(payloads))
            except Exception as exc:  # an observer never costs a delivery
                log.debug("PSK-TLS push: on_delivered failed: %r", exc)
        return HttpResponse(200, (("Content-Type", JSON),), body)

    return PskTlsServer(where.host, where.port, key_for, http_handler(app, clock=clock),
                        ciphers=SERVER_CIPHERS, server_names={fqdn},
                        parse_identity=lambda identity: tid_from_identity(identity)[1])



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
(no specification gives a PSK identity for a P-TID).

[P] The pushes ride HTTP/1.1 inside the connection: ``GET /push?wait=<seconds>`` answers
``{"pushes": [<base64>, ...]}``, everything the NAF's :class:`PushMailbox` holds for the
TID, waiting up to *wait* seconds (long poll) when nothing is pending. Payloads taken
from the mailbox are gone once the response is built: a connection that breaks before
the UE reads it loses them (no acknowledgement at this layer).

The transport (:class:`~gba.transport.psk_tls.PskTlsServer`) is given
:func:`tid_from_identity` to read identities, so ``conn.btid`` holds the P-TID on a push
connection. The mailbox is read by the key's *owner* (the user: the NAF queues pushes by
IMPI, so a UE that connects on its own with its B-TID collects them too).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final
from urllib.parse import parse_qs, urlsplit

import h11

from gba.clock import Clock, utc_now
from gba.config import Address
from gba.crypto import ua_protocols
from gba.errors import CodecError, InvalidInput, ProtocolError
from gba.nf.naf_psk import naf_id_for
from gba.protocols.http import HttpRequest, HttpResponse, text_response
from gba.protocols.push_sa import MAX_PUSH
from gba.protocols.ua_psk import btid_from_psk_identity, psk_identity_for
from gba.transport.psk_http import CLOSE, http_handler
from gba.transport.psk_tls import (
    SERVER_CIPHERS,
    PskGrant,
    PskTlsConnection,
    PskTlsServer,
    psk_tls_request,
)

__all__ = [
    "PUSH_PATH",
    "PUSH_PSK_IDENTITY_PREFIX",
    "PushKey",
    "PushMailbox",
    "PushRefused",
    "Resolve",
    "make_push_psk_server",
    "pull_pushes",
    "push_psk_identity",
    "tid_from_identity",
]

log = logging.getLogger(__name__)

PUSH_PSK_IDENTITY_PREFIX: Final = "3GPP-bootstrapping-push."
"""[P] PSK identity prefix for a P-TID (B-TIDs keep ``3GPP-bootstrapping.``)."""
MAX_IDENTITY: Final = 255
"""Longest PSK identity, in characters (the client's limit, in octets, is the same)."""
PUSH_PATH: Final = "/push"
"""[P] Where the UE collects its pushes inside the PSK-TLS connection."""
JSON: Final = "application/json"

_PTID = re.compile(r"[\x21-\x7e]+")
"""A P-TID in a PSK identity: visible ASCII, so that it is safe to log and to key on."""
_WAIT = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,6})?")


def push_psk_identity(ptid: str) -> str:
    """[P] The UE's PSK identity for a GBA Push key: ``3GPP-bootstrapping-push.`` + P-TID.

    No specification defines one; a B-TID keeps ``3GPP-bootstrapping.`` + B-TID
    (:func:`~gba.protocols.ua_psk.psk_identity_for`)."""
    identity = PUSH_PSK_IDENTITY_PREFIX + ptid
    if _PTID.fullmatch(ptid) is None or len(identity) > MAX_IDENTITY:
        raise InvalidInput(f"P-TID of {len(ptid)} characters is empty, too long or not "
                           "visible ASCII")
    return identity


def tid_from_identity(identity: str) -> tuple[bool, str]:
    """(is_push, TID) named by a received PSK identity; :class:`CodecError` if malformed.

    ``3GPP-bootstrapping-push.<P-TID>`` (any ASCII case in the prefix) gives
    (True, P-TID); anything else must carry a B-TID
    (:func:`~gba.protocols.ua_psk.btid_from_psk_identity`) and gives (False, B-TID)."""
    if not identity:
        raise CodecError("PSK identity is empty")
    if len(identity) > MAX_IDENTITY:
        raise CodecError(f"PSK identity of {len(identity)} characters exceeds "
                         f"{MAX_IDENTITY}")
    head = identity[:len(PUSH_PSK_IDENTITY_PREFIX)]
    if head.isascii() and head.lower() == PUSH_PSK_IDENTITY_PREFIX.lower():
        ptid = identity[len(PUSH_PSK_IDENTITY_PREFIX):]
        if _PTID.fullmatch(ptid) is None:
            raise CodecError(f"PSK identity {identity[:80]!r}: P-TID is empty or not "
                             "visible ASCII")
        return True, ptid
    return False, btid_from_psk_identity(identity)


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


class PushRefused(ProtocolError):
    """The NAF answered the pull with a status other than 200."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


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


def _response(raw: bytes) -> tuple[int, bytes]:
    """(status, body) of the one HTTP/1.1 response in *raw*; :class:`CodecError` if none."""
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target=PUSH_PATH, headers=[("Host", "naf")]))
    client.send(h11.EndOfMessage())
    try:
        client.receive_data(raw)
        client.receive_data(b"")
        head = client.next_event()
        while isinstance(head, h11.InformationalResponse):
            head = client.next_event()
        if not isinstance(head, h11.Response):
            raise CodecError(f"PSK-TLS push: no HTTP response ({len(raw)} octets)")
        body = bytearray()
        while not isinstance(event := client.next_event(), h11.EndOfMessage):
            if not isinstance(event, h11.Data):
                raise CodecError("PSK-TLS push: HTTP response truncated")
            body += event.data
    except h11.RemoteProtocolError as exc:
        raise CodecError(f"PSK-TLS push: malformed HTTP response: {exc}") from None
    return head.status_code, bytes(body)


def _pushes(body: bytes) -> list[bytes]:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise CodecError("PSK-TLS push: body is not JSON") from None
    items = doc.get("pushes") if isinstance(doc, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise CodecError('PSK-TLS push: body has no "pushes" list of strings')
    try:
        return [base64.b64decode(i, validate=True) for i in items]
    except (binascii.Error, ValueError):
        raise CodecError("PSK-TLS push: a push is not base64") from None


async def pull_pushes(host: str, port: int, fqdn: str, tid: str, key: bytes, *, push: bool,
                      suite: int = ua_protocols.TLS_PSK_WITH_AES_128_CBC_SHA,
                      wait_s: float = 0.0) -> list[bytes]:
    """UE side: one PSK-TLS connection to the NAF, ``GET /push``, its payloads.

    *key* is Ks_(ext/int)_NAF for *fqdn* || 01 00 01 yy zz of *suite*, the only suite
    offered; *tid* is a P-TID (*push*) or a B-TID. Raises :class:`~gba.errors.AuthError`
    when the handshake fails, :class:`PushRefused` (a :class:`ProtocolError`) on a status
    other than 200, :class:`CodecError` on a malformed answer."""
    if not math.isfinite(wait_s) or not 0 <= wait_s < 1_000_000:
        raise InvalidInput(f"wait of {wait_s} s is not a number of seconds")
    if not fqdn or not fqdn.isascii() or not fqdn.isprintable() or " " in fqdn:
        raise InvalidInput(f"NAF FQDN {fqdn[:80]!r} is not an ASCII host name")
    identity = push_psk_identity(tid) if push else psk_identity_for(tid)
    request = (f"GET {PUSH_PATH}?wait={wait_s:.3f} HTTP/1.1\r\nHost: {fqdn}\r\n"
               f"Accept: {JSON}\r\nConnection: close\r\n\r\n").encode("ascii")
    raw = await psk_tls_request(host, port, identity, key, request,
                                ciphers=ua_protocols.openssl_suite_name(suite),
                                timeout=wait_s + 10.0, server_hostname=fqdn)
    status, body = _response(raw)
    if status != 200:
        raise PushRefused(f"PSK-TLS push: {host}:{port} answered {status}", status)
    return _pushes(body)

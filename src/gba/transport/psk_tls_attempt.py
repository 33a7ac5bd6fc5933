"""One PSK-TLS handshake in progress, and what a key lookup grants it (TS 33.222 §5.4).

:class:`PskGrant` is a lookup's answer; :class:`Attempt` is what the worker thread running
the handshake learns (identity, B-TID, negotiated suite, SNI name, the grant) and how the
event loop aborts it. The server in :mod:`.psk_tls` drives both.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from gba.errors import CodecError, InvalidInput
from gba.protocols.ua_psk import btid_from_psk_identity
from gba.transport.psk_tls_context import MAX_PSK, failure_reason
from gba.transport.psk_tls_io import PskTlsConnection

C = TypeVar("C")


@dataclass(frozen=True, slots=True, eq=False)
class PskGrant(Generic[C]):
    """A key lookup's answer: the PSK for this handshake and what the connection carries.

    *context* is handed to the application as :attr:`PskTlsConnection.context` (a NAF
    passes its key record, with the IMPI and B-TID). *psk* goes to OpenSSL only; it is not
    in the repr and not kept once the handshake is over.
    """

    psk: bytes = field(repr=False)
    context: C

    def __post_init__(self) -> None:
        if not isinstance(self.psk, bytes | bytearray) or not 0 < len(self.psk) <= MAX_PSK:
            size = len(self.psk) if isinstance(self.psk, bytes | bytearray) else "no"
            raise InvalidInput(f"PSK of {size} octets; expected 1 to {MAX_PSK}")


KeyLookup = Callable[[str, int, str | None], Awaitable[PskGrant[C] | None]]
"""``key_for(psk_identity, ciphersuite, server_name)``: the grant, or None when the
identity is unknown. *ciphersuite* is the negotiated suite, *server_name* the SNI host
name (lower case; one of the server's *server_names* when it has them) or None.

Called once per handshake; the grant's context travels with the connection."""
Handler = Callable[[PskTlsConnection[C]], Awaitable[None]]
"""The application, called once per established connection; the server closes it after."""


def reason(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, Refused) else failure_reason(exc)


def peer_name(addr: Any) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host, port = addr[0], addr[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(addr)


class Refused(Exception):
    """A handshake that completed but that we do not accept."""


class Attempt(Generic[C]):
    """One handshake in progress: what the PSK callback learned, and how to abort it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.identity: str | None = None
        self.btid: str | None = None
        self.failure: str | None = None
        self.grant: PskGrant[C] | None = None
        self.suite: int | None = None
        self.server_name: str | None = None
        self.key_future: concurrent.futures.Future[PskGrant[C] | None] | None = None
        self.sock: ssl.SSLSocket | None = None
        self.steps = 0
        """Calls of ``do_handshake`` so far (each in a worker, one at a time)."""
        self.aborted = False

    def abort(self) -> None:
        """Wake a worker blocked on the socket or on the key lookup (from the loop)."""
        self.aborted = True
        if self.key_future is not None:
            self.key_future.cancel()
        if self.sock is not None:
            # socket.socket.shutdown, not SSLSocket.shutdown: the latter drops the SSL
            # object under the feet of the worker thread.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(self.sock, socket.SHUT_RDWR)

    def lookup(self, identity: str | None, suite: int | None, offered: tuple[int, ...],
               key_for: KeyLookup[C], key_timeout: float,
               parse_identity: Callable[[str], str] = btid_from_psk_identity) -> bytes:
        """The PSK callback's work (worker thread): the key for *identity* and the
        negotiated *suite*, asked of *key_for* on the loop; b"" fails the handshake and
        :attr:`failure` says why."""
        attempt = self
        if not identity:
            attempt.failure = "client sent no PSK identity"
            return b""
        attempt.identity = identity
        try:
            btid = parse_identity(identity)
        except CodecError as exc:
            attempt.failure = str(exc)
            return b""
        attempt.btid = btid
        if suite is None or suite not in offered:
            attempt.failure = ("negotiated suite not seen before the PSK callback"
                               if suite is None else f"suite {suite:#06x} was not offered")
            return b""
        attempt.suite = suite
        server_name = attempt.server_name

        async def lookup() -> PskGrant[C] | None:
            return await key_for(identity, suite, server_name)

        future = asyncio.run_coroutine_threadsafe(lookup(), attempt.loop)
        attempt.key_future = future
        if attempt.aborted:
            future.cancel()
        try:
            grant = future.result(key_timeout)
        except TimeoutError:
            future.cancel()
            attempt.failure = (f"key lookup for B-TID {btid} timed out after "
                               f"{key_timeout:.1f} s")
            return b""
        except concurrent.futures.CancelledError:
            attempt.failure = "key lookup cancelled: handshake aborted"
            return b""
        except Exception as exc:
            attempt.failure = f"key lookup for B-TID {btid} failed: {reason(exc)}"
            return b""
        if grant is None:
            attempt.failure = f"unknown PSK identity (B-TID {btid})"
            return b""
        if not isinstance(grant, PskGrant):
            attempt.failure = (f"key lookup for B-TID {btid} gave a {type(grant).__name__}, "
                               "not a PskGrant")
            return b""
        attempt.grant = grant
        return bytes(grant.psk)

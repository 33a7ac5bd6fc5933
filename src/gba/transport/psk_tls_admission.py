"""Who gets a PSK-TLS handshake: caps on pending handshakes, and the whole ClientHello first.

A handshake runs OpenSSL in a worker thread (:mod:`.psk_tls`), and a pool has few threads,
so a client must not get one before it has sent its whole ClientHello (RFC 5246 §7.4.1.2):
:func:`await_client_hello` waits for it on the event loop, with a deadline, and only
peeks (``MSG_PEEK``), so that OpenSSL still reads every octet from the socket. While the
record is incomplete, ``SO_RCVLOWAT`` keeps the socket unreadable until the octets still
missing have arrived, so a client trickling one octet at a time costs one wake-up, not
one per octet.

:class:`Admission` counts the handshakes pending, from accept to the end of the
handshake, per source (an IPv4 address, or an IPv6 /64, which one client usually owns
whole) and in total; a connection over either cap is closed at once, and the refusals are
logged in at most one line per :data:`REFUSAL_LOG_INTERVAL`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Final

from gba.errors import InvalidInput
from gba.transport.psk_tls_attempt import Refused
from gba.transport.psk_tls_io import wake_future

RECORD_HEADER: Final = 5
MAX_RECORD: Final = 16 * 1024
"""Largest TLSPlaintext fragment (RFC 5246 §6.2.1)."""
MAX_HELLO: Final = RECORD_HEADER + MAX_RECORD
"""Most octets peeked for a ClientHello, all its records included: a larger one is refused."""
REFUSAL_LOG_INTERVAL: Final = 10.0
"""Seconds between two log lines about connections refused over a cap."""
_HANDSHAKE: Final = 22
_CLIENT_HELLO: Final = 1
_TCP_CLOSE_WAIT: Final = b"\x08"
_TCP_CLOSE: Final = b"\x07"
"""tcpi_state values (linux/tcp_states.h): the peer has closed its side."""
_RETRY: Final = 0.05
"""Seconds between two peeks when the socket woke up before its low-water mark."""


def client_hello_size(data: bytes, limit: int = MAX_HELLO) -> int:
    """Octets the records carrying a ClientHello take, given their first ``len(data)``.

    The answer is at most ``len(data)`` when the ClientHello is complete; more when octets
    are missing (then at least the next record header). Raises :class:`Refused` when the
    octets are not TLS handshake records starting a ClientHello, or the records pass
    *limit* octets. A ClientHello may span several records (RFC 5246 §6.2.1).
    """
    pos = 0
    body = b""
    while True:
        if len(data) < pos + RECORD_HEADER:
            return pos + RECORD_HEADER
        kind, major = data[pos], data[pos + 1]
        length = int.from_bytes(data[pos + 3:pos + 5], "big")
        if kind != _HANDSHAKE or major != 3:
            raise Refused(f"not a TLS handshake record (first octets "
                          f"{data[pos:pos + 3].hex()}) at offset {pos}")
        if not 0 < length <= MAX_RECORD:
            raise Refused(f"TLS record of {length} octets at offset {pos}")
        end = pos + RECORD_HEADER + length
        if end > limit:
            raise Refused(f"ClientHello records pass {limit} octets")
        if len(data) < end:
            return end
        body += data[pos + RECORD_HEADER:end]
        if len(body) >= 4:
            if body[0] != _CLIENT_HELLO:
                raise Refused(f"handshake message {body[0]} where a ClientHello belongs")
            if len(body) >= 4 + int.from_bytes(body[1:4], "big"):
                return end
        pos = end


async def await_client_hello(raw: socket.socket, timeout: float,
                             limit: int = MAX_HELLO) -> bool:
    """Wait, on the loop, until the whole ClientHello is in *raw*'s receive buffer.

    True when it is (not one octet consumed); False when the peer closed first. Raises
    :class:`Refused` for octets that are no ClientHello and :class:`TimeoutError` past
    *timeout* seconds.
    """
    loop = asyncio.get_running_loop()
    fd = raw.fileno()
    need, seen = RECORD_HEADER, -1
    _low_water(raw, need)
    try:
        async with asyncio.timeout(timeout):
            while True:
                try:
                    data = raw.recv(need, socket.MSG_PEEK | socket.MSG_DONTWAIT)
                except (BlockingIOError, InterruptedError):
                    data = None
                except OSError:
                    return False
                if data == b"":
                    return False
                if data is not None:
                    if len(data) == seen:  # woke up with nothing new: EOF, or no low water
                        if _peer_closed(raw):
                            return False
                        await asyncio.sleep(_RETRY)
                    seen = len(data)
                    need = client_hello_size(data, limit)
                    if need <= seen:
                        return True
                    _low_water(raw, need)
                ready: asyncio.Future[None] = loop.create_future()
                loop.add_reader(fd, wake_future, ready)
                try:
                    await ready
                finally:
                    loop.remove_reader(fd)
    finally:
        _low_water(raw, 1)


def _peer_closed(raw: socket.socket) -> bool:
    """Whether the peer's FIN is in, behind the octets a peek shows (Linux's TCP_INFO;
    elsewhere False, and the deadline ends the wait)."""
    try:
        state = raw.getsockopt(socket.IPPROTO_TCP, getattr(socket, "TCP_INFO", -1), 1)
    except OSError:
        return False
    return state[:1] in (_TCP_CLOSE_WAIT, _TCP_CLOSE)


def _low_water(raw: socket.socket, octets: int) -> None:
    # Linux and the BSDs: poll() reports readable once this many octets are in (or EOF).
    with contextlib.suppress(OSError, AttributeError):
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, octets)


def source_of(addr: Any) -> str:
    """The source a cap counts: the IPv4 address, or the /64 of an IPv6 address."""
    host = addr[0] if isinstance(addr, tuple) and addr else addr
    try:
        ip = ipaddress.ip_address(str(host).split("%", 1)[0])
    except ValueError:
        return str(host)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class Admission:
    """Pending handshakes, per source and in total; refuses past *per_source* or *total*."""

    def __init__(self, total: int, per_source: int, *,
                 log: logging.Logger, now: Callable[[], float] = time.monotonic,
                 log_interval: float = REFUSAL_LOG_INTERVAL) -> None:
        if total < 1 or per_source < 1:
            raise InvalidInput(f"pending handshake caps must be >= 1, not {total}, {per_source}")
        self.total = total
        self.per_source = per_source
        self._pending: Counter[str] = Counter()
        self._count = 0
        self._log = log
        self._now = now
        self._interval = log_interval
        self._next_log = float("-inf")
        self._unlogged = 0

    @property
    def pending(self) -> int:
        return self._count

    def admit(self, source: str) -> bool:
        """Count a handshake from *source*, or refuse it (False) over a cap."""
        if self._count >= self.total:
            self._refused(f"{self._count} handshakes pending (cap {self.total})")
            return False
        if self._pending[source] >= self.per_source:
            self._refused(f"{self._pending[source]} handshakes pending from {source} "
                          f"(cap {self.per_source})")
            return False
        self._pending[source] += 1
        self._count += 1
        return True

    def done(self, source: str) -> None:
        """The handshake from *source* admitted earlier is over, one way or another."""
        self._count -= 1
        self._pending[source] -= 1
        if self._pending[source] <= 0:
            del self._pending[source]

    def _refused(self, why: str) -> None:
        now = self._now()
        if now < self._next_log:
            self._unlogged += 1
            return
        more = (f"; {self._unlogged} more refused since the last report"
                if self._unlogged else "")
        self._log.warning("PSK-TLS connection refused: %s%s; next report in %.0f s at the "
                          "earliest", why, more, self._interval)
        self._unlogged = 0
        self._next_log = now + self._interval

"""The UE's PSK-TLS client on Ua (TS 33.222 §5.4): send one request, read up to EOF.

The handshake and the exchange run blocking in a worker thread (sslpsk3's client
callback is synchronous too). The bytes are not parsed: the caller sends an HTTP request
with ``Connection: close`` and gets the raw response, status line first; the server
closes after answering it (RFC 9112 §9.6), which is the end of the response.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from typing import Final

from gba.errors import AuthError, InvalidInput, ProtocolError
from gba.transport.psk_tls_context import (
    DEFAULT_CIPHER,
    MAX_PSK,
    client_context,
    failure_reason,
    release,
)

MAX_RESPONSE: Final = 16 * 1024 * 1024


async def psk_tls_request(host: str, port: int, identity: str, psk: bytes, request: bytes,
                          ciphers: str = DEFAULT_CIPHER, timeout: float = 10.0,
                          server_hostname: str | None = None) -> bytes:
    """Connect with TLS 1.2 PSK, send *request*, and return all bytes up to EOF.

    *server_hostname* goes in the ClientHello's server_name extension (RFC 6066 §3): the
    UE names the NAF whose FQDN is in its NAF_Id (TS 24.109 Annex F.3). None, or an IP
    address, sends no SNI. *ciphers* should be the one suite the key was derived for.

    Raises :class:`AuthError` when the handshake fails (wrong key, unknown identity),
    :class:`TimeoutError` past *timeout* seconds, and :class:`OSError` on network errors.
    """
    if not identity or len(identity.encode("utf-8")) > 255:
        raise InvalidInput(f"PSK identity of {len(identity)} characters is empty or too long")
    if not 0 < len(psk) <= MAX_PSK:
        raise InvalidInput(f"PSK of {len(psk)} octets; expected 1 to {MAX_PSK}")
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, _request_blocking, host, port, identity,
                                      bytes(psk), bytes(request), ciphers, timeout,
                                      server_hostname)


def _request_blocking(host: str, port: int, identity: str, psk: bytes, request: bytes,
                      ciphers: str, timeout: float, server_hostname: str | None) -> bytes:
    deadline = time.monotonic() + timeout
    ctx = client_context(ciphers, identity, psk)
    with socket.create_connection((host, port), timeout=timeout) as raw, \
            ctx.wrap_socket(raw, do_handshake_on_connect=False,
                            server_hostname=server_hostname) as tls:
        try:
            tls.do_handshake()
        except ssl.SSLError as exc:
            raise AuthError(f"PSK-TLS handshake with {host}:{port} failed: "
                            f"{failure_reason(exc)}") from None
        finally:
            release(tls)
        tls.sendall(request)
        chunks: list[bytes] = []
        size = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"PSK-TLS response from {host}:{port} not complete "
                                   f"after {timeout:.1f} s")
            tls.settimeout(remaining)
            chunk = tls.recv(65536)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_RESPONSE:
                raise ProtocolError(f"PSK-TLS response from {host}:{port} exceeds "
                                    f"{MAX_RESPONSE} octets")
            chunks.append(chunk)

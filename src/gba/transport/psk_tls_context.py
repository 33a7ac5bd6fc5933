"""OpenSSL contexts for PSK-TLS on Ua (TS 33.222 §5.4), server and client, via ``sslpsk3``.

Python 3.11's :mod:`ssl` has no PSK callbacks; ``sslpsk3`` adds OpenSSL's, for TLS 1.2.
Both sides are pinned to TLS 1.2 with one configured suite, no session tickets, no
renegotiation and no compression. :class:`_PskContext` is sslpsk3's context without its
per-connection leak.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any, Final

import sslpsk3
import sslpsk3.sslpsk3 as _sslpsk3_impl

from gba.errors import InvalidInput

DEFAULT_CIPHER: Final = "PSK-AES128-CBC-SHA"
MAX_PSK: Final = 256
"""Longest PSK we hand to OpenSSL (its PSK_MAX_PSK_LEN is 512 in 3.0, 256 before)."""


def ciphersuite_code(cipher: str) -> int:
    """The TLS code of exactly one OpenSSL PSK suite name: PSK-AES128-CBC-SHA -> 0x008C."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.set_ciphers(cipher)
    except ssl.SSLError:
        raise InvalidInput(f"OpenSSL has no cipher matching {cipher!r}") from None
    suites = [c for c in ctx.get_ciphers() if c["protocol"] != "TLSv1.3"]
    if len(suites) != 1:
        names = ", ".join(c["name"] for c in suites)
        raise InvalidInput(f"{cipher!r} names {len(suites)} TLS 1.2 suites ({names}), not one")
    if suites[0]["auth"] != "auth-psk":
        raise InvalidInput(f"{suites[0]['name']} is not a PSK ciphersuite")
    return int(suites[0]["id"]) & 0xFFFF


def _tls12(ctx: Any, cipher: str) -> None:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(cipher)
    ctx.options |= ssl.OP_NO_TICKET | ssl.OP_NO_RENEGOTIATION | ssl.OP_NO_COMPRESSION


class _PskContext(sslpsk3.SSLPSKContext):  # type: ignore[misc]  # sslpsk3 is untyped
    """sslpsk3's context without its leak.

    sslpsk3 (2.1.0) files every connection's SSL* in the module dict ``psk_contexts``, for
    its C callback to find the context, and never removes it: with one context per request
    that keeps every context alive. This is its ``setup_psk_callbacks`` keeping the id on
    the socket, so that :func:`release` can drop the entry once the handshake is over.
    On Python 3.13+ sslpsk3 uses the ssl module's own callbacks and files nothing.
    """

    def setup_psk_callbacks(self, sock: Any) -> None:
        c = _sslpsk3_impl._sslpsk3
        if self.psk_client_callback and not sock.server_side:
            ssl_id = c.sslpsk3_set_psk_client_callback(_sslpsk3_impl.get_ssl_socket(sock))
        elif self.psk_server_callback and sock.server_side:
            handle = _sslpsk3_impl.get_ssl_socket(sock)
            ssl_id = c.sslpsk3_set_accept_state(handle)
            c.sslpsk3_set_psk_server_callback(handle)
            c.sslpsk3_use_psk_identity_hint(handle, self.psk_server_hint or "")
        else:
            return
        _sslpsk3_impl.psk_contexts[ssl_id] = self
        sock.gba_ssl_id = ssl_id


def release(tls: ssl.SSLSocket) -> None:
    """Forget the socket in sslpsk3's table; only while its SSL* is alive (ids are reused)."""
    ssl_id = getattr(tls, "gba_ssl_id", None)
    if ssl_id is not None:
        _sslpsk3_impl.psk_contexts.pop(ssl_id, None)


def server_context(cipher: str, hint: str, callback: Callable[[str | None], bytes]
                   ) -> ssl.SSLContext:
    """A TLS 1.2 server context offering *cipher* only, asking *callback* for the PSK."""
    ctx: Any = _PskContext(ssl.PROTOCOL_TLS_SERVER)
    _tls12(ctx, cipher)
    ctx.set_psk_server_callback(callback, hint)
    assert isinstance(ctx, ssl.SSLContext)
    return ctx


def client_context(cipher: str, identity: str, psk: bytes) -> ssl.SSLContext:
    """A TLS 1.2 client context presenting *identity* with *psk* (no certificates)."""
    ctx: Any = _PskContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    _tls12(ctx, cipher)

    def callback(hint: str | None) -> tuple[str, bytes]:
        return identity, psk

    ctx.set_psk_client_callback(callback)
    assert isinstance(ctx, ssl.SSLContext)
    return ctx


def failure_reason(exc: BaseException) -> str:
    """A short, key-free description of why a handshake or lookup failed."""
    if isinstance(exc, SystemError) and isinstance(exc.__cause__, UnicodeDecodeError):
        return "PSK identity is not UTF-8"  # sslpsk3 fails to decode it, leaving this
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return f"TLS {exc.reason}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

"""OpenSSL contexts for PSK-TLS on Ua (TS 33.222 §5.4), server and client, via ``sslpsk3``.

Python 3.11's :mod:`ssl` has no PSK callbacks; ``sslpsk3`` adds OpenSSL's, for TLS 1.2.
While capture is on, both contexts write the TLS key log (:func:`gba.capture.tap.keylog`).
Both sides are pinned to TLS 1.2, with no session tickets, no renegotiation and no
compression. A client offers one suite (its key is derived for it before the
handshake); a server offers a list, in its own order of preference
(``OP_CIPHER_SERVER_PREFERENCE``), and has finite-field DH parameters (RFC 7919
ffdhe2048) for the DHE-PSK suites. :class:`_PskContext` is sslpsk3's context without its
per-connection leak.

**Which suite was negotiated, inside the PSK callback.** Ks_NAF depends on it
(NAF_Id = FQDN || 01 00 01 yy zz, TS 33.220 Annex H.3), but OpenSSL asks for the PSK
before the handshake ends, when ``SSLSocket.cipher()`` is still None, and neither the
ssl module nor sslpsk3 exposes ``SSL_get_pending_cipher``. :func:`watch_server_hello`
reads the suite from our own ServerHello instead, through CPython's private
``SSLContext._msg_callback`` (undocumented; in ssl.py since 3.8): OpenSSL reports every
handshake message it writes, and the server writes the ServerHello before it reads the
ClientKeyExchange that brings the identity and triggers the PSK callback.

Why this and not the alternatives (measured or tried on Python 3.11.7, OpenSSL 3.0):
one suite per port (the fallback, kept: :func:`suite_hook_available`) needs a port per
suite, and a UE does not know which port goes with the suite it prefers; predicting the
choice from a peeked ClientHello means parsing (fragmented) ClientHellos ourselves and
re-implementing OpenSSL's selection; Python 3.13's ``set_psk_server_callback`` gives only
the identity; pyOpenSSL has no PSK API. The risk: CPython may rename or drop the hook in
any release. :func:`suite_hook_available` is checked when a server offering several
suites is built (it refuses to start rather than guess), and a unit test fails loudly
when the hook is gone or no longer called. The cost is one Python call per TLS record
(handshake and data) on every server connection. Measured on loopback (our client, 8 at
a time, 2000 handshakes, median of 5 runs on a busy shared host, so +-20 %): 750
handshakes/s before (one suite, no hook), 730 with one suite and the hook, 640 with the
ten suites and the hook; one 15 MiB response 350 MiB/s before, about 300 after.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import ssl
import tempfile
from collections.abc import Callable
from typing import Any, Final

import sslpsk3
import sslpsk3.sslpsk3 as _sslpsk3_impl

from gba.capture.tap import keylog
from gba.errors import InvalidInput, ProtocolError

DEFAULT_CIPHER: Final = "PSK-AES128-CBC-SHA"
"""The client's one suite unless told otherwise (TLS_PSK_WITH_AES_128_CBC_SHA, 00 8C)."""
SERVER_CIPHERS: Final = ":".join((
    "DHE-PSK-AES128-GCM-SHA256",     # 00 AA  forward secret AEAD: what Android accepts
    "DHE-PSK-AES256-GCM-SHA384",     # 00 AB
    "ECDHE-PSK-CHACHA20-POLY1305",   # CC AC
    "DHE-PSK-CHACHA20-POLY1305",     # CC AD
    "DHE-PSK-AES128-CCM",            # C0 A6
    "DHE-PSK-AES256-CCM",            # C0 A7
    "PSK-AES128-GCM-SHA256",         # 00 A8  plain PSK, for UEs without (EC)DHE-PSK
    "PSK-AES256-GCM-SHA384",         # 00 A9
    "PSK-AES128-CBC-SHA256",         # 00 AE
    "PSK-AES128-CBC-SHA",            # 00 8C  TLS 1.2's mandatory PSK suite (RFC 4279)
))
"""What a server offers on its one port, most preferred first. The 3GPP TLS profile
(TS 33.310 Annex E -> TS 33.210 §6.2) was not read: UNVERIFIED; the DHE-PSK AEAD suites
first follows Android's ``TlsParams``, which refuses the plain-PSK ones."""
MAX_PSK: Final = 256
"""Longest PSK we hand to OpenSSL (its PSK_MAX_PSK_LEN is 512 in 3.0, 256 before)."""

_FFDHE2048: Final = b"""-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
"""
"""RFC 7919 Appendix A.1 ffdhe2048, as ``openssl genpkey -genparam -pkeyopt
group:ffdhe2048`` writes it. Python's ssl does not turn on OpenSSL's automatic DH
parameters, and without some the DHE-PSK suites are never chosen."""

_HANDSHAKE: Final = 22
_SERVER_HELLO: Final = 2


def ciphersuite_codes(ciphers: str) -> tuple[int, ...]:
    """The TLS codes of an OpenSSL cipher list, in its order; every suite must be PSK."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.set_ciphers(ciphers)
    except ssl.SSLError:
        raise InvalidInput(f"OpenSSL has no cipher matching {ciphers!r}") from None
    suites = [c for c in ctx.get_ciphers() if c["protocol"] != "TLSv1.3"]
    if not suites:
        raise InvalidInput(f"{ciphers!r} names no TLS 1.2 suite")
    for suite in suites:
        if suite["auth"] != "auth-psk":
            raise InvalidInput(f"{suite['name']} is not a PSK ciphersuite")
    return tuple(int(c["id"]) & 0xFFFF for c in suites)


def ciphersuite_code(cipher: str) -> int:
    """The TLS code of exactly one OpenSSL PSK suite name: PSK-AES128-CBC-SHA -> 0x008C."""
    codes = ciphersuite_codes(cipher)
    if len(codes) != 1:
        raise InvalidInput(f"{cipher!r} names {len(codes)} TLS 1.2 suites, not one")
    return codes[0]


def suite_hook_available() -> bool:
    """Whether this CPython still has the private ``SSLContext._msg_callback`` hook."""
    return isinstance(getattr(ssl.SSLContext, "_msg_callback", None), property)


def server_hello_suite(message: bytes) -> int | None:
    """The cipher_suite of a TLS 1.2 ServerHello handshake message (RFC 5246 §7.4.1.3).

    *message* is the handshake message with its 4-octet header: type, length (3),
    server_version (2), random (32), session_id (1 + n), cipher_suite (2). None when it
    is not a ServerHello or is cut short.
    """
    if len(message) < 39 or message[0] != _SERVER_HELLO:
        return None
    end = 39 + message[38] + 2
    if len(message) < end:
        return None
    return int.from_bytes(message[end - 2:end], "big")


def watch_server_hello(ctx: ssl.SSLContext, on_suite: Callable[[int], None]) -> None:
    """Call *on_suite(code)* with the suite of each ServerHello this server context writes.

    It runs in the thread doing the handshake, before OpenSSL asks for the PSK. It must
    not raise: CPython would keep the exception and raise it from the handshake.
    """
    if not suite_hook_available():
        raise ProtocolError("this Python has no SSLContext._msg_callback: a PSK-TLS server "
                            "cannot learn the negotiated suite, so offer one suite per port")

    def on_message(conn: object, direction: str, version: object, content_type: int,
                   msg_type: int, data: bytes) -> None:
        if direction == "write" and content_type == _HANDSHAKE and msg_type == _SERVER_HELLO:
            suite = server_hello_suite(data)
            if suite is not None:
                on_suite(suite)

    ctx._msg_callback = on_message  # type: ignore[attr-defined]  # private CPython hook


def _tls12(ctx: Any, cipher: str) -> None:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(cipher)
    ctx.options |= ssl.OP_NO_TICKET | ssl.OP_NO_RENEGOTIATION | ssl.OP_NO_COMPRESSION


_SSL_CTRL_SET_SESS_CACHE_MODE = 44
_SSL_SESS_CACHE_OFF = 0


@functools.cache
def _libssl() -> Any:
    """The libssl this Python's ssl module runs on, through ctypes, or None when the one
    found is not that very version (then nothing is called in it)."""
    name = ctypes.util.find_library("ssl")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
        lib.OpenSSL_version_num.restype = ctypes.c_ulong
        if lib.OpenSSL_version_num() != ssl.OPENSSL_VERSION_NUMBER:
            return None
        lib.SSL_CTX_ctrl.restype = ctypes.c_long
        lib.SSL_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long,
                                     ctypes.c_void_p]
    except (OSError, AttributeError):
        return None
    return lib


def session_cache_off(ctx: ssl.SSLContext) -> bool:
    """Turn OpenSSL's server session cache off (SSL_CTX_set_session_cache_mode, OFF), which
    Python's ssl module cannot: a resumed session completes without a PSK callback, so
    without an identity to check, and the server would have to refuse it; with the cache
    off a client offering an old session gets a full handshake instead. The SSL_CTX* is the
    first field after the object header of CPython's SSLContext (Modules/_ssl.c). True if
    it took; otherwise resumed sessions stay refused after the handshake."""
    lib = _libssl()
    if lib is None:
        return False
    handle = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value
    if not handle:
        return False
    lib.SSL_CTX_ctrl(handle, _SSL_CTRL_SET_SESS_CACHE_MODE, _SSL_SESS_CACHE_OFF, None)
    return True


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


def server_context(ciphers: str, hint: str, callback: Callable[[str | None], bytes], *,
                   on_suite: Callable[[int], None] | None = None,
                   server_name: Callable[[str | None], bool] | None = None) -> ssl.SSLContext:
    """A TLS 1.2 server context offering *ciphers* in its own order, asking *callback*
    for the PSK; *on_suite* learns each ServerHello's suite (:func:`watch_server_hello`),
    *server_name* judges the client's SNI (None when it sent none; False fails the
    handshake with an unrecognized_name alert, RFC 6066 §3)."""
    ctx: Any = _PskContext(ssl.PROTOCOL_TLS_SERVER)
    _tls12(ctx, ciphers)
    session_cache_off(ctx)
    ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    _load_dh(ctx)
    if on_suite is not None:
        watch_server_hello(ctx, on_suite)
    if server_name is not None:
        accept = server_name

        def sni(sock: object, name: str | None, _: object) -> int | None:
            return None if accept(name) else ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME

        ctx.sni_callback = sni
    ctx.set_psk_server_callback(callback, hint)
    assert isinstance(ctx, ssl.SSLContext)
    return keylog(ctx)


def _load_dh(ctx: ssl.SSLContext) -> None:
    """ffdhe2048 for DHE-PSK; load_dh_params takes only a path."""
    fd, path = tempfile.mkstemp(prefix="gba-ffdhe2048-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(_FFDHE2048)
        ctx.load_dh_params(path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


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
    return keylog(ctx)


def failure_reason(exc: BaseException) -> str:
    """A short, key-free description of why a handshake or lookup failed."""
    if isinstance(exc, SystemError) and isinstance(exc.__cause__, UnicodeDecodeError):
        return "PSK identity is not UTF-8"  # sslpsk3 fails to decode it, leaving this
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return f"TLS {exc.reason}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

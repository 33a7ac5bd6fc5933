"""How a PSK-TLS server learns the negotiated suite inside the PSK callback (TS 33.220
Annex H.3: Ks_NAF depends on it): CPython's private ``SSLContext._msg_callback``.

If CPython drops or changes that hook, these tests fail first, and loudly: a server then
may offer one suite per port only (see :mod:`gba.transport.psk_tls_context`). The
handshake here runs over a socketpair, no network.
"""

from __future__ import annotations

import socket
import ssl
import threading

import pytest

from gba.errors import ProtocolError
from gba.transport import psk_tls
from gba.transport.psk_tls import PskTlsServer
from gba.transport.psk_tls_context import (
    client_context,
    release,
    server_context,
    server_hello_suite,
    suite_hook_available,
)

PSK = bytes.fromhex("00112233445566778899aabbccddeeff")
OFFERED = "PSK-AES256-GCM-SHA384:PSK-AES128-GCM-SHA256:PSK-AES128-CBC-SHA"


def server_hello(suite: bytes, session_id: bytes = b"") -> bytes:
    body = b"\x03\x03" + bytes(32) + bytes([len(session_id)]) + session_id + suite + b"\x00"
    return b"\x02" + len(body).to_bytes(3, "big") + body


def test_cpython_still_has_the_private_msg_callback_hook() -> None:
    assert suite_hook_available(), (
        "ssl.SSLContext._msg_callback is gone: a PSK-TLS server can no longer learn the "
        "negotiated suite in its PSK callback; offer one suite per port")


@pytest.mark.parametrize("session_id", [b"", bytes(range(32))])
def test_server_hello_suite_is_read_after_the_session_id(session_id: bytes) -> None:
    assert server_hello_suite(server_hello(b"\x00\xa8", session_id)) == 0x00A8


@pytest.mark.parametrize("message", [b"", server_hello(b"\x00\xa8")[:40],
                                     b"\x01" + server_hello(b"\x00\xa8")[1:]])
def test_anything_but_a_whole_server_hello_gives_none(message: bytes) -> None:
    assert server_hello_suite(message) is None


def handshake(client_cipher: str) -> tuple[list[int], list[int | None], str]:
    """One PSK handshake over a socketpair: (suites seen, suite when asked for the PSK,
    the suite the client reports)."""
    seen: list[int] = []
    at_psk: list[int | None] = []

    def on_psk(identity: str | None) -> bytes:
        at_psk.append(seen[-1] if seen else None)
        return PSK

    server_ctx = server_context(OFFERED, "3GPP-bootstrapping", on_psk, on_suite=seen.append)
    client_ctx = client_context(client_cipher, "3GPP-bootstrapping.x@bsf.example.org", PSK)
    a, b = socket.socketpair()
    a.settimeout(10)
    b.settimeout(10)
    with a, b:
        server = server_ctx.wrap_socket(a, server_side=True, do_handshake_on_connect=False)
        client = client_ctx.wrap_socket(b, do_handshake_on_connect=False)
        errors: list[BaseException] = []

        def serve() -> None:
            try:
                server.do_handshake()
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)
            finally:
                release(server)

        worker = threading.Thread(target=serve)
        worker.start()
        try:
            client.do_handshake()
        finally:
            release(client)
            worker.join(10)
        assert not errors, errors
        cipher = client.cipher()
        assert cipher is not None
        server.close()
        client.close()
    return seen, at_psk, cipher[0]


@pytest.mark.parametrize(("cipher", "code"), [
    ("PSK-AES128-CBC-SHA", 0x008C),
    ("PSK-AES128-GCM-SHA256", 0x00A8),
    ("PSK-AES128-CBC-SHA:PSK-AES256-GCM-SHA384", 0x00A9),  # the server's preference wins
])
def test_the_hook_sees_the_server_hello_before_the_psk_callback(cipher: str, code: int
                                                                ) -> None:
    seen, at_psk, negotiated = handshake(cipher)
    assert seen == [code], "the ServerHello hook was not called"
    assert at_psk == [code], "the ServerHello came after the PSK callback"
    assert negotiated == {0x008C: "PSK-AES128-CBC-SHA", 0x00A8: "PSK-AES128-GCM-SHA256",
                          0x00A9: "PSK-AES256-GCM-SHA384"}[code]


async def none(identity: str, suite: int, name: str | None) -> None:
    return None


async def ignore(conn: object) -> None:
    return None


def test_without_the_hook_several_suites_on_one_port_are_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psk_tls, "suite_hook_available", lambda: False)
    with pytest.raises(ProtocolError, match="one suite per port"):
        PskTlsServer("127.0.0.1", 0, none, ignore, ciphers=OFFERED)
    server: PskTlsServer[None] = PskTlsServer("127.0.0.1", 0, none, ignore,
                                              ciphers="PSK-AES128-GCM-SHA256")
    assert server.ciphersuites == (0x00A8,)


def test_server_context_turns_on_server_preference_and_dh() -> None:
    ctx = server_context(OFFERED, "hint", lambda identity: PSK)
    assert ctx.options & ssl.OP_CIPHER_SERVER_PREFERENCE
    assert ctx.maximum_version is ssl.TLSVersion.TLSv1_2

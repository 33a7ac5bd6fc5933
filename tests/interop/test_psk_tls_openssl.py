"""PSK-TLS on Ua (TS 33.222 §5.4) against ``openssl s_client`` and our own client.

The server answers HTTP/1.1 over PSK-TLS ("HTTPS with PSK") with the B-TID it learned
from the PSK identity. Keys start with a zero octet on purpose: ``-psk`` takes hex and
some OpenSSL versions lost leading zeros when parsing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import shutil
from collections.abc import AsyncIterator

import pytest
import sslpsk3.sslpsk3

from gba.crypto.kdf import btid
from gba.crypto.ua_protocols import (
    TLS_PSK_WITH_AES_128_CBC_SHA,
    TLS_PSK_WITH_AES_128_GCM_SHA256,
    TLS_PSK_WITH_AES_256_CBC_SHA,
)
from gba.errors import AuthError, InvalidInput
from gba.transport.psk_tls import (
    PSK_IDENTITY_HINT,
    PSK_IDENTITY_HINT_UICC,
    Handler,
    PskGrant,
    PskTlsConnection,
    PskTlsServer,
    btid_from_psk_identity,
    ciphersuite_code,
    psk_identity_for,
    psk_tls_request,
)
from gba.transport.psk_tls_context import server_context, session_cache_off
from subprocess_run import run_tool

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl s_client"),
]

TIMEOUT = 20.0
BSF = "bsf.mnc001.mcc001.pub.3gppnetwork.org"
BTID = btid(bytes(range(16)), BSF)
OTHER_BTID = btid(bytes(range(16, 32)), BSF)
KEY = b"\x00" + hashlib.sha256(b"Ks_NAF for BTID").digest()[:31]
OTHER_KEY = b"\x00" + hashlib.sha256(b"Ks_NAF for OTHER_BTID").digest()[:31]
WRONG_KEY = b"\x00" + hashlib.sha256(b"not the key").digest()[:31]
REQUEST = b"GET /resource HTTP/1.1\r\nHost: naf.example.org\r\nConnection: close\r\n\r\n"


class StaticKeys:
    """key_for: a dict lookup by B-TID granting "context for <B-TID>", recording every call."""

    def __init__(self, keys: dict[str, bytes]) -> None:
        self.keys = keys
        self.calls: list[tuple[str, int]] = []
        self.server_names: list[str | None] = []

    async def __call__(self, identity: str, ciphersuite: int, server_name: str | None = None
                       ) -> PskGrant[str] | None:
        self.calls.append((identity, ciphersuite))
        self.server_names.append(server_name)
        found = btid_from_psk_identity(identity)
        key = self.keys.get(found)
        return PskGrant(key, f"context for {found}") if key is not None else None


async def http_handler(conn: PskTlsConnection[str]) -> None:
    """One HTTP/1.1 request line and headers in, "200 OK" with the B-TID out."""
    request_line = await conn.readline()
    while (await conn.readline()) not in (b"\r\n", b"\n", b""):
        pass
    body = (f"request {request_line.decode().strip()}\nB-TID {conn.btid}\n"
            f"identity {conn.psk_identity}\n{conn.context}\n"
            f"ciphersuite 0x{conn.ciphersuite:04x}\n").encode()
    await conn.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)


@contextlib.asynccontextmanager
async def serving(key_for: StaticKeys | None = None, handler: Handler[str] = http_handler, *,
                  ciphers: str = "PSK-AES128-CBC-SHA", hint: str = PSK_IDENTITY_HINT,
                  handshake_timeout: float = 10.0, key_timeout: float = 5.0
                  ) -> AsyncIterator[PskTlsServer[str]]:
    lookup = key_for or StaticKeys({BTID: KEY, OTHER_BTID: OTHER_KEY})
    server = PskTlsServer("127.0.0.1", 0, lookup, handler, ciphers=ciphers, hint=hint,
                          handshake_timeout=handshake_timeout, key_timeout=key_timeout)
    await server.start()
    try:
        yield server
    finally:
        await asyncio.wait_for(server.close(), TIMEOUT)


async def s_client(port: int, identity: str, key: bytes, *, cipher: str = "PSK-AES128-CBC-SHA",
                   quiet: bool = True, extra: tuple[str, ...] = ()) -> tuple[int, str, str]:
    """Run ``openssl s_client`` with *REQUEST* on stdin; (exit code, stdout, stderr)."""
    args = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_2",
            "-cipher", cipher, "-psk_identity", identity, "-psk", key.hex(), "-ign_eof",
            *(["-quiet"] if quiet else []), *extra]
    return await run_tool(*args, stdin=REQUEST, timeout=TIMEOUT)


async def test_openssl_with_the_right_key_gets_the_http_response() -> None:
    keys = StaticKeys({BTID: KEY})
    async with serving(keys) as server:
        code, out, err = await s_client(server.port, psk_identity_for(BTID), KEY)
    assert code == 0, err
    assert out.startswith("HTTP/1.1 200 OK\r\n")
    assert f"B-TID {BTID}\n" in out
    assert "request GET /resource HTTP/1.1\n" in out
    assert f"context for {BTID}\n" in out  # what the lookup granted, on the connection
    assert keys.calls == [(psk_identity_for(BTID), TLS_PSK_WITH_AES_128_CBC_SHA)]


async def test_server_sends_the_identity_hint_3gpp_bootstrapping() -> None:
    async with serving() as server:
        code, out, err = await s_client(server.port, psk_identity_for(BTID), KEY, quiet=False)
    assert code == 0, err
    lines = [line.strip() for line in out.splitlines()]
    assert "PSK identity hint: 3GPP-bootstrapping" in lines
    assert f"PSK identity: 3GPP-bootstrapping.{BTID}" in lines
    assert "Protocol  : TLSv1.2" in lines


async def test_uicc_server_sends_the_uicc_hint() -> None:
    async with serving(hint=PSK_IDENTITY_HINT_UICC) as server:
        code, out, err = await s_client(server.port, psk_identity_for(BTID), KEY, quiet=False)
    assert code == 0, err
    assert "PSK identity hint: 3GPP-bootstrapping-uicc" in [s.strip() for s in out.splitlines()]


async def test_wrong_key_fails_and_the_server_keeps_serving(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="gba.transport.psk_tls")
    async with serving() as server:
        code, out, err = await s_client(server.port, psk_identity_for(BTID), WRONG_KEY)
        assert code != 0
        assert "HTTP/1.1" not in out
        assert "bad record mac" in err.lower()
        code, out, err = await s_client(server.port, psk_identity_for(BTID), KEY)
        assert code == 0, err
        assert f"B-TID {BTID}\n" in out
    # close() has waited for every connection, so every log line is written.
    failures = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(failures) == 1
    assert BTID in failures[0]


async def test_no_key_material_reaches_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with serving() as server:
        await s_client(server.port, psk_identity_for(BTID), WRONG_KEY)
        await s_client(server.port, psk_identity_for(BTID), KEY)
        await psk_tls_request("127.0.0.1", server.port, psk_identity_for(BTID), KEY, REQUEST)
    text = caplog.text + "".join(repr(r.args) for r in caplog.records)
    assert caplog.records
    for key in (KEY, WRONG_KEY):
        assert key.hex() not in text.lower()
        assert repr(key)[2:-1] not in text


async def test_unknown_identity_fails_with_unknown_psk_identity_alert() -> None:
    keys = StaticKeys({BTID: KEY})
    async with serving(keys) as server:
        code, out, err = await s_client(server.port, psk_identity_for(OTHER_BTID), KEY)
    assert code != 0
    assert "HTTP/1.1" not in out
    assert "unknown psk identity" in err.lower()
    assert keys.calls == [(psk_identity_for(OTHER_BTID), TLS_PSK_WITH_AES_128_CBC_SHA)]


async def test_identity_without_a_btid_is_refused_without_a_lookup() -> None:
    keys = StaticKeys({BTID: KEY})
    async with serving(keys) as server:
        code, out, err = await s_client(server.port, "3GPP-bootstrapping.nobody", KEY)
    assert code != 0
    assert "HTTP/1.1" not in out
    assert "unknown psk identity" in err.lower()
    assert keys.calls == []


@pytest.mark.parametrize("identity", [BTID, "3GPP-bootstrapping" + BTID,
                                      "3GPP-bootstrapping." + BTID])
async def test_every_identity_form_is_accepted(identity: str) -> None:
    async with serving() as server:
        code, out, err = await s_client(server.port, identity, KEY)
    assert code == 0, err
    assert f"B-TID {BTID}\n" in out
    assert f"identity {identity}\n" in out


@pytest.mark.parametrize(("cipher", "code"), [
    ("PSK-AES128-CBC-SHA", TLS_PSK_WITH_AES_128_CBC_SHA),
    ("PSK-AES256-CBC-SHA", TLS_PSK_WITH_AES_256_CBC_SHA),
    ("PSK-AES128-GCM-SHA256", TLS_PSK_WITH_AES_128_GCM_SHA256),
])
async def test_lookup_gets_the_code_of_the_one_configured_suite(cipher: str, code: int) -> None:
    keys = StaticKeys({BTID: KEY})
    async with serving(keys, ciphers=cipher) as server:
        assert server.ciphersuites == (code,)
        exit_code, out, err = await s_client(server.port, psk_identity_for(BTID), KEY,
                                             cipher=cipher)
    assert exit_code == 0, err
    assert f"ciphersuite 0x{code:04x}\n" in out
    assert keys.calls == [(psk_identity_for(BTID), code)]


async def test_client_offering_another_suite_is_refused() -> None:
    async with serving(ciphers="PSK-AES128-GCM-SHA256") as server:
        code, out, _ = await s_client(server.port, psk_identity_for(BTID), KEY)
    assert code != 0
    assert "HTTP/1.1" not in out


async def test_a_client_offering_its_session_again_gets_full_handshakes(
        caplog: pytest.LogCaptureFixture) -> None:
    # a resumed session would skip the PSK callback (no identity to check): the server
    # keeps no session cache, so s_client -reconnect (5 resumption attempts) gets six
    # full handshakes, each keyed anew, and none is refused
    caplog.set_level(logging.WARNING, logger="gba.transport.psk_tls")
    async with serving() as server:
        code, out, err = await s_client(server.port, psk_identity_for(BTID), KEY,
                                        quiet=False, extra=("-reconnect",))
    assert code == 0, err
    assert out.count("New, ") == 6, out[-3000:]  # the first handshake and 5 reconnects
    assert "Reused, " not in out
    assert "HTTP/1.1 200 OK" in out
    assert not any("resumed TLS session" in r.getMessage() for r in caplog.records)


def test_the_session_cache_is_off_on_server_contexts() -> None:
    ctx = server_context("PSK-AES128-CBC-SHA", "hint", lambda _: b"")
    assert session_cache_off(ctx)  # this Python's own libssl was found and called


async def test_our_client_round_trip() -> None:
    async with serving() as server:
        response = await psk_tls_request("127.0.0.1", server.port,
                                         psk_identity_for(OTHER_BTID), OTHER_KEY, REQUEST)
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert response.endswith(b"ciphersuite 0x008c\n")
    assert f"B-TID {OTHER_BTID}\n".encode() in response


async def test_our_client_round_trip_with_gcm() -> None:
    async with serving(ciphers="PSK-AES128-GCM-SHA256") as server:
        response = await psk_tls_request("127.0.0.1", server.port, psk_identity_for(BTID),
                                         KEY, REQUEST, ciphers="PSK-AES128-GCM-SHA256")
    assert response.endswith(b"ciphersuite 0x00a8\n")


async def test_our_client_with_a_wrong_key_raises_auth_error() -> None:
    async with serving() as server:
        with pytest.raises(AuthError, match="handshake"):
            await psk_tls_request("127.0.0.1", server.port, psk_identity_for(BTID),
                                  WRONG_KEY, REQUEST)


async def test_large_response_arrives_whole() -> None:
    payload = bytes(range(256)) * 16384  # 4 MiB: more than the socket buffers hold

    async def bulk(conn: PskTlsConnection[str]) -> None:
        await conn.readline()
        await conn.write(payload)

    async with serving(handler=bulk) as server:
        response = await psk_tls_request("127.0.0.1", server.port, psk_identity_for(BTID),
                                         KEY, REQUEST)
    assert response == payload


class LogWatch(logging.Handler):
    """Sets *seen* when a record containing *needle* is logged (on the loop's thread)."""

    def __init__(self, needle: str) -> None:
        super().__init__()
        self.needle = needle
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.needle in record.getMessage():
            self.seen.set()


async def test_lookup_answering_bare_bytes_fails_the_handshake() -> None:
    class BareKey(StaticKeys):
        async def __call__(self, identity: str, ciphersuite: int, server_name: str | None = None
                           ) -> PskGrant[str] | None:
            return KEY  # type: ignore[return-value]  # the pre-PskGrant answer

    watch = LogWatch("gave a bytes, not a PskGrant")
    logger = logging.getLogger("gba.transport.psk_tls")
    logger.addHandler(watch)
    try:
        async with serving(BareKey({})) as server:
            with pytest.raises(AuthError):
                await psk_tls_request("127.0.0.1", server.port, psk_identity_for(BTID), KEY,
                                      REQUEST)
            # the client can see the alert before the server has logged why it sent it
            await asyncio.wait_for(watch.seen.wait(), TIMEOUT)
    finally:
        logger.removeHandler(watch)


async def test_connection_repr_leaves_out_the_granted_context() -> None:
    seen: list[str] = []

    async def record(conn: PskTlsConnection[str]) -> None:
        seen.append(repr(conn))

    async with serving(handler=record) as server:
        await psk_tls_request("127.0.0.1", server.port, psk_identity_for(BTID), KEY, REQUEST)
    [text] = seen
    assert BTID in text
    assert "context for" not in text


async def test_slow_lookup_does_not_hold_up_other_connections() -> None:
    asked = asyncio.Event()
    release = asyncio.Event()

    class SlowForOther(StaticKeys):
        async def __call__(self, identity: str, ciphersuite: int, server_name: str | None = None
                           ) -> PskGrant[str] | None:
            if btid_from_psk_identity(identity) == OTHER_BTID:
                asked.set()
                await release.wait()
            return await super().__call__(identity, ciphersuite, server_name)

    async with serving(SlowForOther({BTID: KEY, OTHER_BTID: OTHER_KEY})) as server:
        slow = asyncio.create_task(psk_tls_request(
            "127.0.0.1", server.port, psk_identity_for(OTHER_BTID), OTHER_KEY, REQUEST))
        await asyncio.wait_for(asked.wait(), TIMEOUT)
        fast = await psk_tls_request("127.0.0.1", server.port, psk_identity_for(BTID), KEY,
                                     REQUEST)
        assert not slow.done()
        release.set()
        slow_response = await asyncio.wait_for(slow, TIMEOUT)
    assert f"B-TID {BTID}\n".encode() in fast
    assert f"B-TID {OTHER_BTID}\n".encode() in slow_response


async def test_lookup_past_key_timeout_fails_and_is_cancelled() -> None:
    cancelled = asyncio.Event()

    class Never(StaticKeys):
        async def __call__(self, identity: str, ciphersuite: int, server_name: str | None = None
                           ) -> PskGrant[str] | None:
            try:
                await asyncio.Event().wait()
            finally:
                cancelled.set()
            return None

    async with serving(Never({}), key_timeout=0.2) as server:
        with pytest.raises(AuthError):
            await psk_tls_request("127.0.0.1", server.port, psk_identity_for(BTID), KEY,
                                  REQUEST)
        await asyncio.wait_for(cancelled.wait(), TIMEOUT)


async def test_close_aborts_a_handshake_waiting_for_its_key() -> None:
    asked = asyncio.Event()

    class Never(StaticKeys):
        async def __call__(self, identity: str, ciphersuite: int, server_name: str | None = None
                           ) -> PskGrant[str] | None:
            asked.set()
            await asyncio.Event().wait()
            return None

    server = PskTlsServer("127.0.0.1", 0, Never({}), http_handler, key_timeout=60.0)
    await server.start()
    client = asyncio.create_task(psk_tls_request(
        "127.0.0.1", server.port, psk_identity_for(BTID), KEY, REQUEST))
    await asyncio.wait_for(asked.wait(), TIMEOUT)
    await asyncio.wait_for(server.close(), TIMEOUT)
    with pytest.raises((AuthError, OSError)):
        await asyncio.wait_for(client, TIMEOUT)


async def test_silent_connection_is_dropped_after_handshake_timeout() -> None:
    async with serving(handshake_timeout=0.2) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
        writer.close()


async def test_sslpsk3_table_does_not_grow_per_connection() -> None:
    before = len(sslpsk3.sslpsk3.psk_contexts)
    async with serving() as server:
        for key in (KEY, WRONG_KEY, KEY):
            with contextlib.suppress(AuthError):
                await psk_tls_request("127.0.0.1", server.port, psk_identity_for(BTID), key,
                                      REQUEST)
        await s_client(server.port, psk_identity_for(BTID), KEY)
    assert len(sslpsk3.sslpsk3.psk_contexts) == before


async def test_port_zero_binds_a_real_port() -> None:
    async with serving() as server:
        assert server.port > 0


@pytest.mark.parametrize(("name", "code"), [
    ("PSK-AES128-CBC-SHA", 0x008C),
    ("PSK-AES256-CBC-SHA", 0x008D),
    ("PSK-AES128-GCM-SHA256", 0x00A8),
    ("PSK-AES256-GCM-SHA384", 0x00A9),
])
def test_ciphersuite_code_of_openssl_names(name: str, code: int) -> None:
    assert ciphersuite_code(name) == code


@pytest.mark.parametrize("name", ["PSK", "AES128-SHA", "NO-SUCH-CIPHER"])
def test_ciphersuite_code_wants_exactly_one_psk_suite(name: str) -> None:
    with pytest.raises(InvalidInput):
        ciphersuite_code(name)

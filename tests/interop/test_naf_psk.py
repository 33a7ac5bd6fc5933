"""The NAF's PSK-TLS endpoint (TS 33.222 §5.4) against ``openssl s_client``, in process.

A stand-in NAF (the three things the endpoint uses: ``fqdn``, ``keys.get`` and
``resource``) counts its key lookups: one per connection, however many requests it
carries, because the key record travels with the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from gba.clock import Clock, utc_now
from gba.config import Address
from gba.crypto import ua_protocols
from gba.crypto.kdf import btid
from gba.errors import AuthError, GbaError
from gba.nf.naf_psk import make_server, naf_id_for
from gba.store.base import NafKey
from gba.transport.psk_tls import PskTlsServer, psk_identity_for, psk_tls_request

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl s_client"),
]

TIMEOUT = 20.0
FQDN = "naf.example.org"
IMPI = "user@home.example.org"
BTID = btid(bytes(range(16)), "bsf.mnc001.mcc001.pub.3gppnetwork.org")
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
KS_NAF = b"\x00" + hashlib.sha256(b"Ks_NAF for the PSK-TLS NAF").digest()[:31]
NAF_ID = FQDN.encode() + ua_protocols.psk_tls(ua_protocols.TLS_PSK_WITH_AES_128_CBC_SHA)


def ks_naf(expires: datetime = NOW + timedelta(hours=1)) -> NafKey:
    return NafKey(btid=BTID, naf_id=NAF_ID, key=KS_NAF, impi=IMPI, expires=expires)


@dataclass
class CountingKeys:
    keys: dict[str, NafKey]
    failure: GbaError | None = None
    calls: list[tuple[str, bytes]] = field(default_factory=list)

    async def get(self, btid: str, naf_id: bytes) -> NafKey | None:
        self.calls.append((btid, naf_id))
        if self.failure is not None:
            raise self.failure
        return self.keys.get(btid)


@dataclass
class StandInNaf:
    fqdn: str
    keys: CountingKeys

    def resource(self, key: NafKey, path: str) -> str:
        return f"hello {key.impi}: {path} (B-TID {key.btid})\n"


@contextlib.asynccontextmanager
async def naf_serving(keys: CountingKeys, clock: Clock = utc_now
                      ) -> AsyncIterator[PskTlsServer[NafKey]]:
    server = make_server(StandInNaf(FQDN, keys), Address("127.0.0.1", 0), clock=clock)
    await server.start()
    try:
        yield server
    finally:
        await asyncio.wait_for(server.close(), TIMEOUT)


async def s_client(port: int, request: bytes) -> str:
    """What ``openssl s_client`` prints for *request* (its stdout); it must exit 0."""
    proc = await asyncio.create_subprocess_exec(
        "openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_2",
        "-cipher", "PSK-AES128-CBC-SHA", "-psk_identity", psk_identity_for(BTID),
        "-psk", KS_NAF.hex(), "-ign_eof", "-quiet", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(request), TIMEOUT)
    assert proc.returncode == 0, err.decode("utf-8", "replace")
    return out.decode("utf-8", "replace")


def get(path: str, *headers: str) -> bytes:
    return "\r\n".join([f"GET {path} HTTP/1.1", f"Host: {FQDN}", *headers, "", ""]).encode()


def test_naf_id_ends_in_the_ua_protocol_of_the_suite() -> None:
    assert naf_id_for(FQDN, 0x008C) == FQDN.encode() + bytes.fromhex("010001008c")


async def test_one_key_lookup_serves_two_requests_on_one_connection() -> None:
    keys = CountingKeys({BTID: ks_naf()})
    async with naf_serving(keys, clock=lambda: NOW) as server:
        out = await s_client(server.port, get("/one") + get("/two", "Connection: close"))
    assert out.count("HTTP/1.1 200 OK\r\n") == 2
    assert f"hello {IMPI}: /one (B-TID {BTID})\n" in out
    assert f"hello {IMPI}: /two (B-TID {BTID})\n" in out
    assert keys.calls == [(BTID, NAF_ID)]


async def test_ue_client_gets_the_resource_and_the_connection_closes() -> None:
    keys = CountingKeys({BTID: ks_naf()})
    async with naf_serving(keys, clock=lambda: NOW) as server:
        raw = await psk_tls_request("127.0.0.1", server.port, psk_identity_for(BTID), KS_NAF,
                                    get("/ue?x=1", "Connection: close"), timeout=TIMEOUT)
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert raw.endswith(f"hello {IMPI}: /ue (B-TID {BTID})\n".encode())
    assert b"\r\nConnection: close\r\n" in raw


async def test_unknown_btid_fails_the_handshake() -> None:
    keys = CountingKeys({})
    async with naf_serving(keys) as server:
        with pytest.raises(AuthError, match="handshake"):
            await psk_tls_request("127.0.0.1", server.port, psk_identity_for(BTID), KS_NAF,
                                  get("/"), timeout=TIMEOUT)
    assert keys.calls == [(BTID, NAF_ID)]


async def test_failed_zn_request_fails_the_handshake() -> None:
    keys = CountingKeys({BTID: ks_naf()}, failure=GbaError("BSF unreachable"))
    async with naf_serving(keys) as server:
        with pytest.raises(AuthError, match="handshake"):
            await psk_tls_request("127.0.0.1", server.port, psk_identity_for(BTID), KS_NAF,
                                  get("/"), timeout=TIMEOUT)


async def test_request_after_the_key_expired_gets_403_and_close() -> None:
    keys = CountingKeys({BTID: ks_naf(expires=NOW)})
    async with naf_serving(keys, clock=lambda: NOW + timedelta(seconds=1)) as server:
        out = await s_client(server.port, get("/late") + get("/later"))
    assert out.startswith("HTTP/1.1 403 Forbidden\r\n")
    assert out.count("HTTP/1.1 ") == 1
    assert "hello" not in out

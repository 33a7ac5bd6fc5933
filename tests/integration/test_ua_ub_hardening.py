"""Ub and Ua refuse what RFC 7616 / TS 24.109 do not allow, on real sockets."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import aiohttp.abc
import pytest
from aiohttp import web
from aiohttp.abc import ResolveResult

from gba.clock import Clock, utc_now
from gba.crypto import aka, digest, kdf, ua_protocols
from gba.errors import AuthError
from gba.nf.naf import FetchKey, Naf, NafKeys
from gba.protocols import ua, ub, zn
from gba.protocols.digest_header import Challenge, Credentials
from gba.store.factory import open_naf_store
from gba.transport.diameter import DiameterUnavailable
from gba.transport.http import TlsAwareConnector, https_server_context
from gba.transport.tls import LabCa
from gba.ue import client as ue_client
from gba.ue.client import GbaClient
from integration.conftest import IMPI, OPC, K, Net


def usim() -> aka.Usim:
    return aka.Usim(bytes.fromhex(K), bytes.fromhex(OPC))


async def _ub_answer(net: Net, http: aiohttp.ClientSession, *, qop: str | None,
                     uri: str) -> int:
    first = ub.initial_credentials(IMPI, "home.example.org").to_header()
    async with http.get(net.bsf_url, headers={"Authorization": first}) as r:
        challenge = Challenge.from_header(r.headers["WWW-Authenticate"])
    rand, autn, _ = digest.parse_aka_nonce(challenge.nonce)
    result = usim().authenticate(rand, autn)
    assert isinstance(result, aka.AkaSuccess)
    d = digest.DigestInput("AKAv1-MD5", IMPI, challenge.realm, result.res, uri,
                           challenge.nonce, qop, "00000001", "c0ffee")
    creds = Credentials(IMPI, challenge.realm, challenge.nonce, uri, digest.response(d, "GET"),
                        "AKAv1-MD5", qop, "00000001" if qop else None,
                        "c0ffee" if qop else None)
    async with http.get(net.bsf_url, headers={"Authorization": creds.to_header()}) as r:
        return r.status


@pytest.mark.parametrize(("qop", "uri"), [(None, "/"), ("auth", "/"), ("auth-int", "/else")])
async def test_bsf_refuses_answers_without_auth_int_or_for_another_uri(
        net: Net, qop: str | None, uri: str) -> None:
    async with aiohttp.ClientSession() as http:
        assert await _ub_answer(net, http, qop=qop, uri=uri) == 400
        assert await _ub_answer(net, http, qop="auth-int", uri="/") == 200


async def test_non_utf8_digest_values_get_400_not_500(net: Net) -> None:
    host, port = urlsplit(net.bsf_url).hostname, urlsplit(net.bsf_url).port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b'GET / HTTP/1.1\r\nHost: bsf\r\nConnection: close\r\nAuthorization: '
                 b'Digest username="\xff\xfe", realm="r", nonce="", uri="/", response=""'
                 b"\r\n\r\n")
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert status_line.split()[1] == b"400"


async def test_naf_digest_covers_the_query_string(net: Net) -> None:
    async with GbaClient(IMPI, usim(), net.bsf_url, clock=net.clock) as ue:
        ok = await ue.fetch_digest(net.naf_url + "?account=me", "naf.example.org")
        assert ok.status == 200
        key = ue.naf_key("naf.example.org", ua_protocols.HTTP_DIGEST)
    async with aiohttp.ClientSession() as http:
        async with http.get(net.naf_url + "?account=victim") as r:
            challenge = Challenge.from_header(r.headers["WWW-Authenticate"])
        d = digest.DigestInput("MD5", key.btid, challenge.realm, ua.password_for(key.key),
                               "/res", challenge.nonce, "auth", "00000001", "abcd")
        creds = Credentials(key.btid, challenge.realm, challenge.nonce, "/res",
                            digest.response(d, "GET"), "MD5", "auth", "00000001", "abcd")
        async with http.get(net.naf_url + "?account=victim",
                            headers={"Authorization": creds.to_header()}) as r:
            assert r.status == 400


async def test_ue_rejects_a_200_without_authentication_info(net: Net) -> None:
    """A fake NAF that cannot prove it holds Ks_NAF must not be believed."""
    async def fake(request: web.Request) -> web.Response:
        if "Authorization" not in request.headers:
            c = Challenge(ua.realm_for("naf.example.org"), os.urandom(8).hex(), "MD5", ("auth",))
            return web.Response(status=401, headers={"WWW-Authenticate": c.to_header()})
        return web.Response(text="attacker content")

    app = web.Application()
    app.router.add_get("/{tail:.*}", fake)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with GbaClient(IMPI, usim(), net.bsf_url, clock=net.clock) as ue:
            with pytest.raises(AuthError, match="Authentication-Info"):
                await ue.fetch_digest(f"http://127.0.0.1:{port}/x", "naf.example.org")
    finally:
        await runner.cleanup()


# ------------------------------------------------------------------ product tokens on sockets


async def test_bsf_names_3gpp_gba_tmpi_in_server_on_every_ub_response(net: Net) -> None:
    # TS 33.220 §4.5.2; aiohttp must not put its own Server header in its place
    first = ub.initial_credentials(IMPI, "home.example.org").to_header()
    async with aiohttp.ClientSession() as http:
        async with http.get(net.bsf_url, headers={"Authorization": first,
                                                  "User-Agent": "curl/8"}) as r:
            assert r.status == 401
            assert r.headers.getall("Server") == [ub.server()]
        async with http.get(net.bsf_url) as r:
            assert r.status == 400
            assert r.headers.getall("Server") == [ub.server()]


# ------------------------------------------------------------------ Zn refusals as HTTP


async def _naf_site(naf: Naf, context: ssl.SSLContext | None = None
                    ) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(naf.ua_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


def _naf(fetch: FetchKey, clock: Clock = utc_now) -> Naf:
    return Naf("naf.example.org", NafKeys(open_naf_store("memory:"), fetch, clock),
               clock=clock)


async def _fetch_status(net: Net, fetch: FetchKey) -> tuple[int, dict[str, str]]:
    runner, port = await _naf_site(_naf(fetch))
    try:
        async with GbaClient(IMPI, usim(), net.bsf_url, clock=net.clock) as ue:
            reply = await ue.fetch_digest(f"http://127.0.0.1:{port}/res", "naf.example.org")
    finally:
        await runner.cleanup()
    return reply.status, reply.headers


@pytest.mark.parametrize("code", [5402, 5401])
async def test_naf_refused_by_the_bsf_answers_403(net: Net, code: int) -> None:
    # TS 29.109 §6.2.2.2: 5402, "the NAF should indicate to the UE that the service is
    # not allowed" -- not a 503 that invites the UE to retry
    async def refusing(_: zn.KeyRequest) -> zn.KeyAnswer | int:
        return code

    status, headers = await _fetch_status(net, refusing)
    assert status == 403
    assert "Retry-After" not in headers


async def test_bsf_that_does_not_answer_is_503_with_retry_after(net: Net) -> None:
    async def silent(_: zn.KeyRequest) -> zn.KeyAnswer | int:
        raise DiameterUnavailable("no answer within 5s")

    status, headers = await _fetch_status(net, silent)
    assert (status, headers.get("Retry-After")) == (503, "5")


@pytest.mark.parametrize("code", [3002, 3004])
async def test_bsf_unreachable_by_result_code_is_503_with_retry_after(net: Net, code: int
                                                                     ) -> None:
    async def unreachable(_: zn.KeyRequest) -> zn.KeyAnswer | int:
        return code

    status, headers = await _fetch_status(net, unreachable)
    assert (status, headers.get("Retry-After")) == (503, "5")


# ------------------------------------------------------------------ Digest inside HTTPS


@pytest.fixture
def naf_tls(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) contexts: a lab CA certificate for naf.example.org."""
    ca = LabCa(tmp_path / "pki")
    ca.issue("naf.example.org", tmp_path / "naf-cert.pem", tmp_path / "naf-key.pem")
    server = https_server_context(tmp_path / "naf-cert.pem", tmp_path / "naf-key.pem")
    client = ssl.create_default_context(cafile=str(ca.ca))
    return server, client


async def _https_fetch(net: Net, naf_tls: tuple[ssl.SSLContext, ssl.SSLContext],
                       client_ciphers: str | None = None
                       ) -> tuple[int, list[bytes], bytes, ue_client.GbaKey]:
    """The UE fetches over HTTPS from a NAF whose Zn derives Ks_NAF from the UE's own
    bootstrap for whatever NAF_Id the NAF asks (so a NAF_Id mismatch shows as a 401)."""
    server, client = naf_tls
    if client_ciphers:
        client.set_ciphers(client_ciphers)
    asked: list[bytes] = []
    ue: GbaClient

    async def zn_from_the_ues_bootstrap(req: zn.KeyRequest) -> zn.KeyAnswer | int:
        asked.append(req.naf_id)
        boot = ue.current
        assert boot is not None
        return zn.KeyAnswer(IMPI, boot.lifetime, net.clock(),
                            me_key=kdf.ks_naf(boot.ks, boot.rand, IMPI, req.naf_id))

    runner, port = await _naf_site(_naf(zn_from_the_ues_bootstrap, net.clock),
                                   server)
    resolver = _Loopback({"naf.example.org"})
    connector = TlsAwareConnector(ssl=client, resolver=resolver)
    try:
        async with aiohttp.ClientSession(connector=connector) as http:
            ue = GbaClient(IMPI, usim(), net.bsf_url, clock=net.clock, session=http)
            reply = await ue.fetch_digest(f"https://naf.example.org:{port}/res")
            assert ue.current is not None
            negotiated = reply.body
            return reply.status, asked, negotiated, ue.naf_key(
                "naf.example.org", asked[-1][-5:] if asked else ua_protocols.HTTP_DIGEST)
    finally:
        await runner.cleanup()


class _Loopback(aiohttp.abc.AbstractResolver):
    """Resolves the given names to 127.0.0.1, so that certificate names are checked."""

    def __init__(self, names: set[str]) -> None:
        self.names = names

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET
                      ) -> list[ResolveResult]:
        assert host in self.names, host
        return [ResolveResult(hostname=host, host="127.0.0.1", port=port,
                              family=socket.AF_INET, proto=0, flags=socket.AI_NUMERICHOST)]

    async def close(self) -> None:
        return None


@pytest.mark.parametrize("ciphers", [None, "ECDHE-ECDSA-AES128-GCM-SHA256",
                                     "ECDHE-ECDSA-CHACHA20-POLY1305"])
async def test_digest_inside_https_uses_01_00_01_and_the_negotiated_suite(
        net: Net, naf_tls: tuple[ssl.SSLContext, ssl.SSLContext], ciphers: str | None
        ) -> None:
    # TS 33.222 §5.3, TS 33.220 H.3: NAF_Id = FQDN || 01 00 01 yy zz on both ends
    status, asked, _, key = await _https_fetch(net, naf_tls, ciphers)
    assert status == 200
    assert len(asked) == 1
    assert asked[0][:-5] == b"naf.example.org"
    assert asked[0][-5:-2] == bytes([1, 0, 1])
    if ciphers == "ECDHE-ECDSA-AES128-GCM-SHA256":
        assert asked[0][-2:] == bytes([0xC0, 0x2B])
    if ciphers == "ECDHE-ECDSA-CHACHA20-POLY1305":
        assert asked[0][-2:] == bytes([0xCC, 0xA9])
    assert key.naf_id == asked[0]


async def test_https_listener_refuses_tls_1_3(naf_tls: tuple[ssl.SSLContext, ssl.SSLContext]
                                              ) -> None:
    # the Ua protocol of Digest inside TLS 1.3 is UNVERIFIED: the listener is TLS 1.2 only
    server, client = naf_tls
    client.minimum_version = ssl.TLSVersion.TLSv1_3
    runner, port = await _naf_site(_naf(_never), server)
    try:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await asyncio.open_connection("127.0.0.1", port, ssl=client,
                                          server_hostname="naf.example.org")
    finally:
        await runner.cleanup()


async def _never(_: zn.KeyRequest) -> zn.KeyAnswer | int:
    raise AssertionError("no Zn expected")

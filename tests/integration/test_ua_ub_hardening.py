"""Ub and Ua refuse what RFC 7616 / TS 24.109 do not allow, on real sockets."""

from __future__ import annotations

import asyncio
import os
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web

from gba.crypto import aka, digest, ua_protocols
from gba.errors import AuthError
from gba.protocols import ua, ub
from gba.protocols.digest_header import Challenge, Credentials
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

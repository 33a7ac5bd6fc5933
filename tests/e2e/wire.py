"""What the e2e tests put on the wire by hand: Ub and Ua Digest headers, Diameter peers,
raw frames. Built from the project's sans-IO pieces so that a test can send exactly
the request it wants (a wrong RES, a replay, garbage) where the UE client would not.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp

from e2e.labctl import Lab
from gba.config import DiameterNodeConfig
from gba.crypto import aka, digest
from gba.nf.common import peer_identity
from gba.protocols import ub, zh, zn
from gba.protocols.diameter import Application, Message, message_length
from gba.protocols.diameter import capabilities as caps
from gba.protocols.digest_header import Challenge, Credentials
from gba.transport.diameter import DiameterClient, session_id_factory
from gba.transport.tls import client_context

IO_TIMEOUT = 5.0
"""Deadline for one read from a server; every answer here is local and immediate."""


# --- HTTP --------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


async def get(http: aiohttp.ClientSession, url: str, authorization: str | None = None
              ) -> Reply:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with http.get(url, headers=headers) as r:
        return Reply(r.status, dict(r.headers), await r.read())


def challenge_of(reply: Reply) -> Challenge:
    assert reply.status == 401, f"expected a 401 challenge, got {reply.status}"
    return Challenge.from_header(reply.headers["WWW-Authenticate"])


# --- Ub ----------------------------------------------------------------------------


def ub_initial(impi: str) -> str:
    """The first Ub Authorization: username only, empty nonce and response (TS 24.109)."""
    return ub.initial_credentials(impi, impi.partition("@")[2]).to_header()


async def ub_challenge(http: aiohttp.ClientSession, lab: Lab, impi: str) -> Challenge:
    return challenge_of(await get(http, lab.bsf_url, ub_initial(impi)))


def usim_res(usim: aka.Usim, challenge: Challenge) -> bytes:
    """RES for the challenge's RAND/AUTN; the USIM must accept AUTN."""
    rand, autn, _ = digest.parse_aka_nonce(challenge.nonce)
    result = usim.authenticate(rand, autn)
    assert isinstance(result, aka.AkaSuccess), "the USIM refused the BSF's SQN"
    return result.res


def ub_answer(impi: str, challenge: Challenge, res: bytes) -> str:
    """The Ub Authorization answering *challenge* with password *res* (RFC 3310 §3.3)."""
    d = digest.DigestInput(ub.ALGORITHM, impi, challenge.realm, res, "/", challenge.nonce,
                           ub.QOP, "00000001", os.urandom(8).hex())
    return Credentials(username=impi, realm=d.realm, nonce=d.nonce, uri=d.uri,
                       response=digest.response(d, "GET"), algorithm=ub.ALGORITHM,
                       qop=d.qop, nc=d.nc, cnonce=d.cnonce).to_header()


# --- Ua (HTTP Digest at the NAF) ----------------------------------------------------


def ua_answer(challenge: Challenge, btid: str, password: str, uri: str = "/",
              nc: str = "00000001", qop: str | None = "auth") -> str:
    """An Authorization for a NAF challenge: username B-TID, qop auth unless told
    otherwise (``None``: the RFC 2069 form, RFC 7616 §3.4.1)."""
    d = digest.DigestInput(challenge.algorithm, btid, challenge.realm, password, uri,
                           challenge.nonce, qop, nc, os.urandom(8).hex())
    return Credentials(username=btid, realm=d.realm, nonce=d.nonce, uri=uri,
                       response=digest.response(d, "GET"), algorithm=challenge.algorithm,
                       qop=d.qop, nc=d.nc, cnonce=d.cnonce,
                       opaque=challenge.opaque).to_header()


# --- Diameter -----------------------------------------------------------------------


@asynccontextmanager
async def diameter_peer(node: DiameterNodeConfig, application: Application,
                        address: tuple[str, int], tls: ssl.SSLContext | None = None,
                        server_hostname: str | None = None) -> AsyncIterator[DiameterClient]:
    """A Diameter client with identity *node*, open to *address* (CER/CEA done)."""
    client = DiameterClient(peer_identity(node), [application], *address, ssl_context=tls,
                            server_hostname=server_hostname)
    await client.start()
    try:
        await client.wait_open(IO_TIMEOUT)
        yield client
    finally:
        await client.close()


async def zn_request(lab: Lab, node: DiameterNodeConfig, btid: str, naf_id: bytes
                     ) -> Message:
    """One Bootstrapping-Info-Request to the lab's BSF, sent as Diameter node *node*."""
    cfg = lab.network()
    realm = cfg.bsf.diameter.realm
    async with diameter_peer(node, zn.APPLICATION, lab.bsf_zn, lab.zn_tls(),
                             cfg.bsf.diameter.host) as client:
        bir = zn.build_bir(client.identity, realm, session_id_factory(node.host)(),
                           zn.KeyRequest(btid, naf_id))
        return await client.request(bir, IO_TIMEOUT)


def zh_tls(lab: Lab) -> ssl.SSLContext | None:
    """A client context presenting the lab BSF's certificate (the lab CA issued it, naming
    the BSF's Diameter host), when the lab's HSS runs Zh over TLS."""
    cfg = lab.network()
    if not cfg.hss.tls.enabled:
        return None
    return client_context(cfg.file(cfg.bsf.tls.ca), cfg.file(cfg.bsf.tls.cert),
                          cfg.file(cfg.bsf.tls.key))


def mar(client: DiameterClient, realm: str, impi: str) -> Message:
    """A Multimedia-Auth-Request for *impi* from *client* to the HSS of *realm*."""
    return zh.build_mar(client.identity, realm,
                        session_id_factory(client.identity.origin_host)(),
                        zh.VectorRequest(impi))


async def zh_request(lab: Lab, impi: str) -> Message:
    """One Multimedia-Auth-Request to the lab's HSS, sent as the BSF: its identity and,
    when the HSS runs Zh over TLS, its certificate."""
    cfg = lab.network()
    async with diameter_peer(cfg.bsf.diameter, zh.APPLICATION, lab.hss_zh, zh_tls(lab),
                             cfg.hss.diameter.host) as client:
        return await client.request(mar(client, cfg.hss.diameter.realm, impi), IO_TIMEOUT)


def frame(command: int, application: int, body: bytes, *, flags: int = 0x80,
          hop_by_hop: int = 1, end_to_end: int = 1) -> bytes:
    """A Diameter header (RFC 6733 §3) in front of *body*, whatever *body* holds."""
    length = 20 + len(body)
    return struct.pack(">IIIII", 0x01000000 | length, (flags << 24) | command, application,
                       hop_by_hop, end_to_end) + body


OVERLONG_AVP = struct.pack(">III", 264, (0x40 << 24) | 200, 0)
"""An Origin-Host AVP header that claims 200 octets where 4 follow (RFC 6733 §4.1)."""


async def read_message(reader: asyncio.StreamReader) -> Message:
    head = await asyncio.wait_for(reader.readexactly(20), IO_TIMEOUT)
    length = message_length(head)
    assert length is not None
    rest = await asyncio.wait_for(reader.readexactly(length - 20), IO_TIMEOUT)
    return Message.decode(head + rest)


async def capabilities_exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                                node: DiameterNodeConfig, application: Application) -> Message:
    """CER on a raw connection; the CEA."""
    cer = caps.build_cer(peer_identity(node), [application]).with_ids(0x5EED, 0x5EED)
    writer.write(cer.encode())
    await writer.drain()
    return await read_message(reader)


async def open_raw(lab: Lab, address: tuple[str, int]
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw connection to a Diameter port: TLS for Zn (with the NAF's certificate) and
    for Zh (with the BSF's) when the lab runs them over TLS, plain TCP otherwise."""
    if address == lab.bsf_zn and (tls := lab.zn_tls()) is not None:
        return await asyncio.open_connection(
            *address, ssl=tls, server_hostname=lab.network().bsf.diameter.host)
    if address == lab.hss_zh and (tls := zh_tls(lab)) is not None:
        return await asyncio.open_connection(
            *address, ssl=tls, server_hostname=lab.network().hss.diameter.host)
    return await asyncio.open_connection(*address)


async def hang_up(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def closed_by_server(reader: asyncio.StreamReader) -> tuple[bool, bytes]:
    """(True, bytes read) once the server ends the connection; (False, ...) at the
    deadline while it is still open."""
    received = b""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + IO_TIMEOUT
    while (left := deadline - loop.time()) > 0:
        try:
            chunk = await asyncio.wait_for(reader.read(65536), left)
        except TimeoutError:
            break
        except ConnectionError:
            return True, received
        if not chunk:
            return True, received
        received += chunk
    return False, received

"""The NAF's PSK-TLS endpoint on Ua (TS 33.222 §5.4): HTTP over TLS keyed with Ks_NAF.

The client's PSK identity carries the B-TID; the PSK is Ks_(ext)_NAF for
NAF_Id = FQDN || 01 00 01 yy zz with the negotiated suite (TS 33.220 Annex H), fetched
over Zn through the same :class:`~gba.nf.naf.NafKeys` cache as the Digest endpoint.
An unknown B-TID or a failed Zn request fails the handshake, as TLS requires.
"""

from __future__ import annotations

import logging

from gba.config import Address
from gba.crypto import ua_protocols
from gba.errors import CodecError, GbaError
from gba.nf.naf import Naf
from gba.protocols.ua_psk import btid_from_psk_identity
from gba.transport.psk_tls import PskTlsConnection, PskTlsServer

log = logging.getLogger(__name__)
MAX_REQUEST_HEAD = 16 * 1024


def naf_id_for(naf: Naf, ciphersuite: int) -> bytes:
    return naf.fqdn.encode("utf-8") + ua_protocols.psk_tls(ciphersuite)


async def _read_head(conn: PskTlsConnection) -> bytes:
    head = b""
    while len(head) < MAX_REQUEST_HEAD:
        line = await conn.readline()
        if not line:
            break
        head += line
        if line in (b"\r\n", b"\n"):
            break
    return head


def make_server(naf: Naf, where: Address) -> PskTlsServer:
    async def key_for(identity: str, ciphersuite: int) -> bytes | None:
        try:
            btid = btid_from_psk_identity(identity)
            key = await naf.keys.get(btid, naf_id_for(naf, ciphersuite))
        except (CodecError, GbaError) as exc:
            log.info("PSK-TLS: no key for identity %r: %s", identity[:80], exc)
            return None
        return key.key if key is not None else None

    async def handler(conn: PskTlsConnection) -> None:
        head = await _read_head(conn)
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")
        parts = request_line.split(" ")
        key = await naf.keys.get(conn.btid, naf_id_for(naf, conn.ciphersuite))
        if len(parts) != 3 or not parts[2].startswith("HTTP/") or key is None:
            body = b"bad request\n"
            await conn.write(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                             b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
                             + body)
        else:
            body = naf.resource(key, parts[1]).encode("utf-8")
            await conn.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                             b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
                             + body)
        await conn.close()

    return PskTlsServer(where.host, where.port, key_for, handler)


async def start_psk_tls(naf: Naf, where: Address) -> PskTlsServer:
    server = make_server(naf, where)
    await server.start()
    return server

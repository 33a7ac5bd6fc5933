"""The NAF's PSK-TLS endpoint on Ua (TS 33.222 §5.4): HTTP over TLS keyed with Ks_NAF.

The client's PSK identity carries the B-TID; the PSK is Ks_(ext)_NAF for
NAF_Id = FQDN || 01 00 01 yy zz with the negotiated suite (TS 33.220 Annex H), fetched
over Zn through the same key cache as the Digest endpoint. An unknown B-TID or a failed
Zn request fails the handshake, as TLS requires.

The key is looked up once per connection, in the handshake: the key record rides on the
connection (:class:`~gba.transport.psk_tls.PskGrant`) and every HTTP request on it
(:mod:`gba.transport.psk_http`, keep-alive allowed) is served with that record. Once
the key has expired (TS 33.220 §4.5.3) the connection is answered 403 and closed; a new
handshake then needs a fresh bootstrap.
"""

from __future__ import annotations

import logging
from typing import Protocol

from gba.clock import Clock, utc_now
from gba.config import Address
from gba.crypto import ua_protocols
from gba.errors import CodecError, GbaError
from gba.protocols.http import HttpRequest, HttpResponse, text_response
from gba.protocols.ua_psk import btid_from_psk_identity
from gba.store.base import NafKey
from gba.transport.psk_http import CLOSE, HttpLimits, http_handler
from gba.transport.psk_tls import PskGrant, PskTlsConnection, PskTlsServer

log = logging.getLogger(__name__)


class NafKeySource(Protocol):
    async def get(self, btid: str, naf_id: bytes) -> NafKey | None: ...


class PskNaf(Protocol):
    """All this endpoint uses of :class:`gba.nf.naf.Naf`."""

    @property
    def fqdn(self) -> str: ...

    @property
    def keys(self) -> NafKeySource: ...

    def resource(self, key: NafKey, path: str) -> str: ...


def naf_id_for(naf: PskNaf, ciphersuite: int) -> bytes:
    return naf.fqdn.encode("utf-8") + ua_protocols.psk_tls(ciphersuite)


def make_server(naf: PskNaf, where: Address, *, clock: Clock = utc_now,
                limits: HttpLimits | None = None) -> PskTlsServer[NafKey]:
    async def key_for(identity: str, ciphersuite: int) -> PskGrant[NafKey] | None:
        try:
            btid = btid_from_psk_identity(identity)
            key = await naf.keys.get(btid, naf_id_for(naf, ciphersuite))
        except (CodecError, GbaError) as exc:
            log.info("PSK-TLS: no key for identity %r: %s", identity[:80], exc)
            return None
        return PskGrant(key.key, key) if key is not None else None

    async def app(conn: PskTlsConnection[NafKey], request: HttpRequest) -> HttpResponse:
        key = conn.context
        if key.expires <= clock():
            log.info("PSK-TLS: Ks_NAF for B-TID %s expired at %s; closing", key.btid,
                     key.expires.isoformat())
            return text_response(403, "Ks_NAF expired: bootstrap again\n", [CLOSE])
        return text_response(200, naf.resource(key, request.path))

    return PskTlsServer(where.host, where.port, key_for, http_handler(app, limits, clock))


async def start_psk_tls(naf: PskNaf, where: Address) -> PskTlsServer[NafKey]:
    server = make_server(naf, where)
    await server.start()
    return server

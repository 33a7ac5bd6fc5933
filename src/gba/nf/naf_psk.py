"""The NAF's PSK-TLS endpoint on Ua (TS 33.222 §5.4): HTTP over TLS keyed with Ks_NAF.

The client's PSK identity carries the B-TID; the PSK is Ks_(ext)_NAF for
NAF_Id = FQDN || 01 00 01 yy zz with the suite negotiated on this connection (TS 33.220
Annex H.3), fetched over Zn through the same key cache as the Digest endpoint. One port
offers every suite of :data:`~gba.transport.psk_tls.SERVER_CIPHERS`. An unknown B-TID or
a failed Zn request fails the handshake, as TLS requires.

The FQDN is the host name the UE put in its SNI (TS 24.109 Annex F.3), when it is one of
the NAF's names: its ``fqdn`` and the extra ``hostnames`` (given to :func:`make_server`,
or exposed by the NAF object). Another name fails the handshake (unrecognized_name); a
UE that sends no SNI gets the default ``fqdn``. The BSF must allow each name for this NAF
(TS 29.109 §6.3.1.3: the FQDN in NAF_Id may differ from the name the BSF knows it by).

The key is looked up once per connection, in the handshake: the key record rides on the
connection (:class:`~gba.transport.psk_tls.PskGrant`) and every HTTP request on it
(:mod:`gba.transport.psk_http`, keep-alive allowed) is served with that record. Once
the key has expired (TS 33.220 §4.5.3) the connection is answered 403 and closed; a new
handshake then needs a fresh bootstrap. With an *inflight* limit
(:class:`~gba.protocols.shedding.InflightLimit`), a request past it is answered 503 with
Retry-After before anything else is done, as on the Digest endpoint.

TLS 1.3 (NAF_Id ending 01 00 00 00 07, TS 33.222 §5.4.0.2) is not served: see
:mod:`gba.transport.psk_tls`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Protocol

from gba.clock import Clock, utc_now
from gba.config import Address
from gba.crypto import ua_protocols
from gba.errors import CodecError, GbaError
from gba.protocols.http import HttpRequest, HttpResponse, text_response
from gba.protocols.shedding import InflightLimit, busy_response
from gba.protocols.ua_psk import btid_from_psk_identity
from gba.store.base import NafKey
from gba.transport.http import HttpObserver
from gba.transport.psk_http import CLOSE, HttpLimits, http_handler
from gba.transport.psk_tls import (
    SERVER_CIPHERS,
    HandshakeObserver,
    PskGrant,
    PskTlsConnection,
    PskTlsServer,
)

log = logging.getLogger(__name__)


class NafKeySource(Protocol):
    async def get(self, btid: str, naf_id: bytes) -> NafKey | None: ...


class PskNaf(Protocol):
    """All this endpoint uses of :class:`gba.nf.naf.Naf` (and ``hostnames``, if it has it)."""

    @property
    def fqdn(self) -> str: ...

    @property
    def keys(self) -> NafKeySource: ...

    def resource(self, key: NafKey, path: str) -> str: ...


def naf_id_for(fqdn: str, ciphersuite: int) -> bytes:
    """NAF_Id = FQDN || 01 00 01 yy zz (TS 33.220 Annex H.3)."""
    return fqdn.encode("utf-8") + ua_protocols.psk_tls(ciphersuite)


def host_names(naf: PskNaf, hostnames: Sequence[str] = ()) -> dict[str, str]:
    """The NAF's names by their lower-case form: its fqdn first, then the extra ones."""
    extra: Sequence[str] = getattr(naf, "hostnames", ()) or ()
    names: dict[str, str] = {}
    for name in (naf.fqdn, *extra, *hostnames):
        names.setdefault(name.lower().rstrip("."), name)
    return names


DEFAULT_PSK_TLS_MAX_PENDING = 512
"""PSK-TLS handshakes pending at once, when the configuration says nothing."""
DEFAULT_PSK_TLS_MAX_PENDING_PER_SOURCE = 64
"""PSK-TLS handshakes pending at once from one source, when the configuration says
nothing."""


def make_server(naf: PskNaf, where: Address, *, hostnames: Sequence[str] = (),
                ciphers: str = SERVER_CIPHERS, clock: Clock = utc_now,
                limits: HttpLimits | None = None,
                max_pending: int = DEFAULT_PSK_TLS_MAX_PENDING,
                max_pending_per_source: int = DEFAULT_PSK_TLS_MAX_PENDING_PER_SOURCE,
                inflight: InflightLimit | None = None,
                observe: HttpObserver | None = None,
                on_handshake: HandshakeObserver | None = None,
                reuse_port: bool = False) -> PskTlsServer[NafKey]:
    """The PSK-TLS Ua server; *max_pending* and *max_pending_per_source* cap the pending
    handshakes (:class:`~gba.transport.psk_tls.PskTlsServer`), *inflight* the HTTP
    requests being answered (none: no cap); *observe* is told of each (metrics);
    *reuse_port* binds with SO_REUSEPORT (NAF workers)."""
    names = host_names(naf, hostnames)

    async def key_for(identity: str, ciphersuite: int, server_name: str | None
                      ) -> PskGrant[NafKey] | None:
        fqdn = names[server_name] if server_name is not None else naf.fqdn
        try:
            btid = btid_from_psk_identity(identity)
            key = await naf.keys.get(btid, naf_id_for(fqdn, ciphersuite))
        except (CodecError, GbaError) as exc:
            log.info("PSK-TLS: no key for identity %r at %s (suite 0x%04x): %s",
                     identity[:80], fqdn, ciphersuite, exc, extra={"interface": "ua_psk"})
            return None
        return PskGrant(key.key, key) if key is not None else None

    async def app(conn: PskTlsConnection[NafKey], request: HttpRequest) -> HttpResponse:
        if observe is None:
            return await limited(conn, request)
        started = time.monotonic()
        response = await limited(conn, request)
        observe(request.method, response.status, time.monotonic() - started)
        return response

    async def limited(conn: PskTlsConnection[NafKey], request: HttpRequest
                      ) -> HttpResponse:
        if inflight is None:
            return await answer(conn, request)
        if not inflight.try_enter():
            return busy_response("NAF")
        try:
            return await answer(conn, request)
        finally:
            inflight.leave()

    async def answer(conn: PskTlsConnection[NafKey], request: HttpRequest) -> HttpResponse:
        key = conn.context
        if key.expires <= clock():
            log.info("PSK-TLS: Ks_NAF for B-TID %s expired at %s; closing", key.btid,
                     key.expires.isoformat(),
                     extra={"interface": "ua_psk", "btid": key.btid, "impi": key.impi,
                            "result": 403})
            return text_response(403, "Ks_NAF expired: bootstrap again\n", [CLOSE])
        return text_response(200, naf.resource(key, request.path))

    return PskTlsServer(where.host, where.port, key_for, http_handler(app, limits, clock),
                        ciphers=ciphers, server_names=names, max_pending=max_pending,
                        max_pending_per_source=max_pending_per_source,
                        on_handshake=on_handshake, reuse_port=reuse_port)


async def start_psk_tls(naf: PskNaf, where: Address, *, hostnames: Sequence[str] = (),
                        max_pending: int = DEFAULT_PSK_TLS_MAX_PENDING,
                        max_pending_per_source: int = DEFAULT_PSK_TLS_MAX_PENDING_PER_SOURCE,
                        inflight: InflightLimit | None = None,
                        observe: HttpObserver | None = None,
                        on_handshake: HandshakeObserver | None = None,
                        reuse_port: bool = False) -> PskTlsServer[NafKey]:
    server = make_server(naf, where, hostnames=hostnames, max_pending=max_pending,
                         max_pending_per_source=max_pending_per_source, inflight=inflight,
                         observe=observe, on_handshake=on_handshake, reuse_port=reuse_port)
    await server.start()
    return server

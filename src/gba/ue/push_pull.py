"""The UE's side of GBA Push over PSK-TLS (seed 002 steps 504-505): one PSK-TLS
connection to the NAF's push endpoint keyed with Ks_(ext/int)_NAF, ``GET /push``, its
payloads (:mod:`gba.protocols.push_psk` for the identities and the path)."""

from __future__ import annotations

import base64
import binascii
import json
import math

import h11

from gba.crypto import ua_protocols
from gba.errors import CodecError, InvalidInput, ProtocolError
from gba.protocols.push_psk import JSON, PUSH_PATH, push_psk_identity
from gba.protocols.ua_psk import psk_identity_for
from gba.transport.psk_tls import psk_tls_request


class PushRefused(ProtocolError):
    """The NAF answered the pull with a status other than 200."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _response(raw: bytes) -> tuple[int, bytes]:
    """(status, body) of the one HTTP/1.1 response in *raw*; :class:`CodecError` if none."""
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target=PUSH_PATH, headers=[("Host", "naf")]))
    client.send(h11.EndOfMessage())
    try:
        client.receive_data(raw)
        client.receive_data(b"")
        head = client.next_event()
        while isinstance(head, h11.InformationalResponse):
            head = client.next_event()
        if not isinstance(head, h11.Response):
            raise CodecError(f"PSK-TLS push: no HTTP response ({len(raw)} octets)")
        body = bytearray()
        while not isinstance(event := client.next_event(), h11.EndOfMessage):
            if not isinstance(event, h11.Data):
                raise CodecError("PSK-TLS push: HTTP response truncated")
            body += event.data
    except h11.RemoteProtocolError as exc:
        raise CodecError(f"PSK-TLS push: malformed HTTP response: {exc}") from None
    return head.status_code, bytes(body)


def _pushes(body: bytes) -> list[bytes]:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise CodecError("PSK-TLS push: body is not JSON") from None
    items = doc.get("pushes") if isinstance(doc, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise CodecError('PSK-TLS push: body has no "pushes" list of strings')
    try:
        return [base64.b64decode(i, validate=True) for i in items]
    except (binascii.Error, ValueError):
        raise CodecError("PSK-TLS push: a push is not base64") from None


async def pull_pushes(host: str, port: int, fqdn: str, tid: str, key: bytes, *, push: bool,
                      suite: int = ua_protocols.TLS_PSK_WITH_AES_128_CBC_SHA,
                      wait_s: float = 0.0) -> list[bytes]:
    """UE side: one PSK-TLS connection to the NAF, ``GET /push``, its payloads.

    *key* is Ks_(ext/int)_NAF for *fqdn* || 01 00 01 yy zz of *suite*, the only suite
    offered; *tid* is a P-TID (*push*) or a B-TID. Raises :class:`~gba.errors.AuthError`
    when the handshake fails, :class:`PushRefused` (a :class:`ProtocolError`) on a status
    other than 200, :class:`CodecError` on a malformed answer."""
    if not math.isfinite(wait_s) or not 0 <= wait_s < 1_000_000:
        raise InvalidInput(f"wait of {wait_s} s is not a number of seconds")
    if not fqdn or not fqdn.isascii() or not fqdn.isprintable() or " " in fqdn:
        raise InvalidInput(f"NAF FQDN {fqdn[:80]!r} is not an ASCII host name")
    identity = push_psk_identity(tid) if push else psk_identity_for(tid)
    request = (f"GET {PUSH_PATH}?wait={wait_s:.3f} HTTP/1.1\r\nHost: {fqdn}\r\n"
               f"Accept: {JSON}\r\nConnection: close\r\n\r\n").encode("ascii")
    raw = await psk_tls_request(host, port, identity, key, request,
                                ciphers=ua_protocols.openssl_suite_name(suite),
                                timeout=wait_s + 10.0, server_hostname=fqdn)
    status, body = _response(raw)
    if status != 200:
        raise PushRefused(f"PSK-TLS push: {host}:{port} answered {status}", status)
    return _pushes(body)

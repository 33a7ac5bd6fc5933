"""Ua with HTTP Digest (TS 33.222 §5.2-§5.3; RFC 7616): the NAF's side of the rules.

* realm ``3GPP-bootstrapping@<NAF FQDN>`` (``3GPP-bootstrapping-uicc@`` for Ks_int_NAF),
  username = B-TID, password = base64(Ks_(ext/int)_NAF) (TS 33.222 §5.3.1).
* NAF nonces are stateless: base64(time || random || HMAC(secret, time || random)), so
  any NAF process holding the secret can check one; their age is limited and each nonce
  count may be used once (RFC 7616 §3.4, §5.4).

The exchange is run by the sans-IO machines :mod:`gba.protocols.ua_naf` (NAF) and
:mod:`gba.protocols.ua_ue` (UE).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import struct
from datetime import UTC, datetime, timedelta
from hashlib import sha256

from gba.errors import CodecError, StaleNonce

REALM_PREFIX = "3GPP-bootstrapping@"
REALM_PREFIX_UICC = "3GPP-bootstrapping-uicc@"


def realm_for(naf_fqdn: str, uicc: bool = False) -> str:
    return (REALM_PREFIX_UICC if uicc else REALM_PREFIX) + naf_fqdn


def password_for(ks_naf: bytes) -> str:
    """The Digest password: base64 of Ks_NAF (TS 33.222 §5.3.1)."""
    return base64.b64encode(ks_naf).decode("ascii")


class NonceMint:
    """Stateless NAF nonces with an age limit."""

    def __init__(self, secret: bytes | None = None, lifetime: timedelta = timedelta(minutes=5)
                 ) -> None:
        self.secret = secret or os.urandom(32)
        self.lifetime = lifetime

    def issue(self, now: datetime, rand: bytes | None = None) -> str:
        head = struct.pack(">Q", int(now.timestamp())) + (rand or os.urandom(8))
        mac = hmac.digest(self.secret, head, sha256)[:16]
        return base64.b64encode(head + mac).decode("ascii")

    def check(self, nonce: str, now: datetime) -> datetime:
        """The nonce's expiry if it is ours and fresh; :class:`StaleNonce` if it is ours but
        too old, CodecError otherwise."""
        try:
            raw = base64.b64decode(nonce, validate=True)
        except (binascii.Error, ValueError):
            raise CodecError("nonce is not base64") from None
        if len(raw) != 32:
            raise CodecError("nonce has the wrong length")
        head, mac = raw[:16], raw[16:]
        if not hmac.compare_digest(mac, hmac.digest(self.secret, head, sha256)[:16]):
            raise CodecError("nonce was not issued here")
        issued = datetime.fromtimestamp(struct.unpack(">Q", head[:8])[0], UTC)
        expires = issued + self.lifetime
        if now >= expires:
            raise StaleNonce("nonce is stale")
        return expires

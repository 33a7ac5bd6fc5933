"""One exception hierarchy for the whole package.

Every parser and every check raises a subclass of :class:`GbaError`; callers never see a
bare ``ValueError`` from deep inside. Messages say what was wrong and where, and never
carry key material.
"""

from __future__ import annotations


class GbaError(Exception):
    """Base of every error raised by gba."""


class InvalidInput(GbaError, ValueError):
    """A caller passed a value of the wrong form: length, hex, range, unknown name."""


class UnknownAlgorithm(InvalidInput):
    """An algorithm, scheme or protocol name that gba does not implement."""


class CodecError(GbaError):
    """Bytes or text on the wire that do not follow the protocol's grammar."""


class StaleNonce(CodecError):
    """A Digest nonce that was issued here but has aged out: the client should retry with
    a fresh challenge carrying ``stale=true`` (RFC 7616 §3.3, §3.4)."""


class AuthError(GbaError):
    """An authentication check failed."""


class MacFailure(AuthError):
    """A message authentication code (MAC-A, MAC-S, Digest response) did not verify."""


class AmfError(AuthError):
    """The AMF separation bit is not what the serving context requires (TS 33.102 Annex H)."""


class DigestError(GbaError):
    """An HTTP Digest exchange that cannot proceed (missing parameter, stale nonce)."""


class ProtocolError(GbaError):
    """A peer broke the rules of a protocol state machine."""


class RequestRefused(ProtocolError):
    """A request a server refuses outright rather than challenging again.

    ``status_hint`` is the HTTP status to answer with, as h11's ``error_status_hint``:
    callers map the error by its type and this attribute, never by its message.
    """

    def __init__(self, message: str, status_hint: int = 400) -> None:
        super().__init__(message)
        self.status_hint = status_hint


class StoreError(GbaError):
    """A storage backend failed or holds inconsistent data."""


class NotFound(StoreError):
    """The requested record does not exist."""


class ConfigError(GbaError):
    """A configuration file is missing, unreadable or inconsistent."""

"""HTTP messages as data, for the sans-IO Ub and Ua machines (RFC 9110 §6, §9, §15).

A machine receives an :class:`HttpRequest` (method, request-target, headers, body) and
answers an :class:`HttpResponse`; the UE-side machines do the reverse. Nothing here
reads a socket: :mod:`gba.transport.http` converts to and from aiohttp. Header names
compare case-insensitively (RFC 9110 §5.1); values are kept as received.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from gba.errors import InvalidInput

Header = tuple[str, str]

TEXT_PLAIN = "text/plain; charset=utf-8"


def headers_of(headers: Mapping[str, str] | Iterable[Header]) -> tuple[Header, ...]:
    """Headers as an immutable tuple of (name, value) pairs, order kept."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(name), str(value)) for name, value in items)


def _lookup(headers: tuple[Header, ...], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers if key.lower() == wanted), None)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One complete request as a server machine sees it, or a UE machine sends it."""

    method: str
    target: str
    """The request-target as sent, in origin form: path and query (RFC 9112 §3.2.1)."""
    headers: tuple[Header, ...] = ()
    body: bytes = b""

    @property
    def path(self) -> str:
        """The target's path without the query, percent-decoded (RFC 3986 §2.1)."""
        return unquote(urlsplit(self.target).path)

    def header(self, name: str) -> str | None:
        """The first value of header *name* (any case), or None."""
        return _lookup(self.headers, name)


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """One complete final response (RFC 9110 §15: 200-599)."""

    status: int
    headers: tuple[Header, ...] = ()
    body: bytes = b""

    def __post_init__(self) -> None:
        if not 200 <= self.status <= 599:
            raise InvalidInput(f"HTTP status {self.status} is not a final status 200-599")

    def header(self, name: str) -> str | None:
        """The first value of header *name* (any case), or None."""
        return _lookup(self.headers, name)


def text_response(status: int, text: str, headers: Iterable[Header] = ()) -> HttpResponse:
    """A plain-text response, as servers here explain a refusal."""
    return HttpResponse(status, (*headers, ("Content-Type", TEXT_PLAIN)),
                        text.encode("utf-8"))

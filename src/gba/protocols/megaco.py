"""A bounded parser and serializer for the subset of the H.248 / Megaco text encoding
(RFC 3525 Annex B, the ABNF) that the NGN key distribution binding uses.

The message header ``MEGACO/<version> <mId>`` (Annex B ``message``, ``mId``) is read on
its own; the body is read as a generic tree of :class:`Item`, the shape every Annex B
production in the subset has: ``name [= value] [{ item, item, ... }]``, where name and
value are a word (``SafeChar``, plus ``:`` ``[`` ``]`` for time stamps) or a
``quotedString``. Transactions follow each other without a comma (``transactionList``),
items inside braces are separated by ``COMMA``. Which names are legal where is the
binding's job: this module knows the grammar, not the semantics.

Limits [P]: 64 KiB per message, nesting depth 16, 1024 items; the parser is iterative.
Quoted strings are ``DQUOTE *(SafeChar / EOL / %x80-FF / RestChar / WSP) DQUOTE``: no
DQUOTE and no escape inside (Annex B ``quotedString``); octets %x80-FF must form UTF-8
[P]. Tokens are case-insensitive and have a long and a short form (Annex B, e.g.
``Transaction`` / ``T``): :func:`is_token` compares either; :func:`serialize` writes the
long form, or the short one with ``short=True``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from gba.errors import CodecError, InvalidInput

MAX_MESSAGE = 65536
MAX_DEPTH = 16
MAX_ITEMS = 1024
VERSIONS = (1, 2, 3)
"""Accepted protocol versions (RFC 3525 is version 1; H.248.1 v2, v3 keep the syntax)."""

TOKENS: dict[str, str] = {
    "MEGACO": "!", "Transaction": "T", "Reply": "P", "Pending": "PN",
    "TransactionResponseAck": "K", "ImmAckRequired": "IA", "Context": "C",
    "ServiceChange": "SC", "Modify": "MF", "Notify": "N", "Events": "E",
    "ObservedEvents": "OE", "Error": "ER", "Services": "SV", "Method": "MT",
    "Reason": "RE", "Restart": "RS", "Media": "M", "TerminationState": "TS",
    "Authentication": "AU",
}
"""The Annex B tokens of the subset, long form -> short form."""

_CANON = {**{k.casefold(): k for k in TOKENS}, **{v.casefold(): k for k, v in TOKENS.items()}}

_SAFE = r"0-9A-Za-z+\-&!_/'?@^`~*$\\()%|."
_WORD = re.compile(rf"[{_SAFE}:\[\]\u0080-\U0010ffff]+")
_PLAIN_VALUE = re.compile(rf"[{_SAFE}\u0080-\U0010ffff]+")
_QUOTED_BAD = re.compile(r'["\x00-\x08\x0b\x0c\x0e-\x1f\x7f]')
_HEADER = re.compile(
    r"(?i:MEGACO|!)/([0-9]{1,2})[ \t\r\n]+"
    r"(\[[0-9A-Fa-f:.]{2,45}\]|<[A-Za-z0-9][A-Za-z0-9.\-]{0,63}>)(?::([0-9]{1,5}))?"
    r"(?=[ \t\r\n;])"
)
_DOMAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]{0,63}")
_LWSP = re.compile(r"(?:[ \t\r\n]|;[^\r\n]*(?:\r\n?|\n))*")
_PUNCT = "{},="


class MegacoError(CodecError):
    """Text that breaks the Annex B grammar or a limit; ``code`` is the RFC 3525 §14.2
    error code to answer with (400 syntax error, 406 version not supported)."""

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Item:
    """``name [= value] [{ children }]``; a quoted name is a bare quotedString (the text
    of an errorDescriptor)."""

    name: str
    value: str | None = None
    children: tuple[Item, ...] | None = None
    quoted_name: bool = False
    quoted_value: bool = False


@dataclass(frozen=True, slots=True)
class Message:
    """A Megaco message: ``MEGACO/<version> <mId>`` and the items of its body."""

    mid: str
    body: tuple[Item, ...]
    version: int = 1


def is_token(word: str, long: str) -> bool:
    """Whether ``word`` is the Annex B token ``long`` in its long or short form, in any
    case (Annex B: the ABNF literals are case-insensitive)."""
    return _CANON.get(word.casefold()) == long


def canonical(word: str) -> str | None:
    """The long form of a token of the subset, or None."""
    return _CANON.get(word.casefold())


def quoted(text: str) -> Item:
    """A bare quotedString item (the text of an errorDescriptor)."""
    return Item(text, quoted_name=True)


def error_item(code: int, text: str) -> Item:
    """``Error = <code> { "<text>" }`` (Annex B ``errorDescriptor``)."""
    return Item("Error", str(code), (quoted(text),) if text else ())


def format_mid(host: str, port: int) -> str:
    """Annex B ``mId``: ``[IPv4 or IPv6]:port`` (``domainAddress``) or ``<name>:port``
    (``domainName``)."""
    if not 0 <= port <= 0xFFFF:
        raise InvalidInput(f"port {port} is not a UINT16")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if _DOMAIN.fullmatch(host) is None:
            raise InvalidInput(f"{host!r} is neither an IP address nor a domain name") from None
        return f"<{host}>:{port}"
    return f"[{host}]:{port}"


# --- parsing -----------------------------------------------------------------------------


def _tokens(text: str, pos: int) -> list[tuple[str, str, int]]:
    """(kind, text, offset) per lexical token: kind is one of ``{},=``, ``w`` (word) or
    ``q`` (quoted string); LWSP and comments are skipped."""
    out: list[tuple[str, str, int]] = []
    end = len(text)
    while True:
        pos = _LWSP.match(text, pos).end()  # type: ignore[union-attr]  # always matches
        if pos >= end:
            return out
        if len(out) >= 8 * MAX_ITEMS:
            raise MegacoError(f"more than {8 * MAX_ITEMS} tokens")
        ch = text[pos]
        if ch == ";":
            raise MegacoError(f"comment without an end of line at offset {pos}")
        if ch in _PUNCT:
            out.append((ch, ch, pos))
            pos += 1
        elif ch == '"':
            close = text.find('"', pos + 1)
            if close < 0:
                raise MegacoError(f"unterminated quoted string at offset {pos}")
            body = text[pos + 1 : close]
            bad = _QUOTED_BAD.search(body)
            if bad is not None:
                at = pos + 1 + bad.start()
                raise MegacoError(f"control character in quoted string at offset {at}")
            out.append(("q", body, pos))
            pos = close + 1
        else:
            match = _WORD.match(text, pos)
            if match is None:
                raise MegacoError(f"unexpected character {ch!r} at offset {pos}")
            out.append(("w", match.group(), pos))
            pos = match.end()


@dataclass(slots=True)
class _Open:
    name: str
    value: str | None
    quoted_name: bool
    quoted_value: bool
    children: list[Item]


def _items(toks: list[tuple[str, str, int]]) -> tuple[Item, ...]:
    """The item tree of the body, iteratively, with the depth and item limits."""
    top: list[Item] = []
    stack: list[_Open] = []
    count = 0
    i = 0
    after_item = False  # an item just ended: inside braces expect ',' or '}'
    n = len(toks)
    while i < n:
        kind, word, at = toks[i]
        if kind == "}":
            if not stack or (not after_item and stack[-1].children):
                raise MegacoError(f"unexpected '}}' at offset {at}")
            done = stack.pop()
            closed = Item(done.name, done.value, tuple(done.children), done.quoted_name,
                          done.quoted_value)
            (stack[-1].children if stack else top).append(closed)
            after_item = True
            i += 1
            continue
        if after_item:
            if stack:
                if kind != ",":
                    raise MegacoError(f"expected ',' or '}}' at offset {at}")
                i += 1
                if i >= n:
                    break
                kind, word, at = toks[i]
            after_item = False
        if kind not in "wq":
            raise MegacoError(f"expected a name at offset {at}")
        count += 1
        if count > MAX_ITEMS:
            raise MegacoError(f"more than {MAX_ITEMS} items")
        name, qname = word, kind == "q"
        value: str | None = None
        qvalue = False
        i += 1
        if i < n and toks[i][0] == "=":
            if i + 1 >= n or toks[i + 1][0] not in "wq":
                raise MegacoError(f"expected a value after '=' at offset {toks[i][2]}")
            value, qvalue = toks[i + 1][1], toks[i + 1][0] == "q"
            i += 2
        if i < n and toks[i][0] == "{":
            if len(stack) >= MAX_DEPTH:
                raise MegacoError(f"nesting deeper than {MAX_DEPTH} at offset {toks[i][2]}")
            stack.append(_Open(name, value, qname, qvalue, []))
            i += 1
            continue
        (stack[-1].children if stack else top).append(Item(name, value, None, qname, qvalue))
        after_item = True
    if stack:
        raise MegacoError(f"{len(stack)} unclosed '{{'")
    if not top:
        raise MegacoError("a message without a body")
    return tuple(top)


def parse_header(text: str, check_version: bool = True) -> tuple[int, str, int]:
    """(version, mId, offset of the body) of Annex B ``message``; ``check_version``
    False reads a header of any version (to answer it with error 406)."""
    pos = _LWSP.match(text).end()  # type: ignore[union-attr]  # always matches
    if re.match(r"(?i:Authentication|AU)[ \t\r\n]*=", text[pos:]):
        raise MegacoError("authentication header not supported", 401)
    match = _HEADER.match(text, pos)
    if match is None:
        raise MegacoError("no 'MEGACO/<version> <mId>' header")
    version = int(match.group(1))
    if check_version and version not in VERSIONS:
        raise MegacoError(f"version {version} not supported", 406)
    port = match.group(3)
    if port is not None and int(port) > 0xFFFF:
        raise MegacoError(f"port {port} is not a UINT16")
    mid = match.group(2) + (f":{port}" if port is not None else "")
    return version, mid, match.end()


def parse(data: bytes) -> Message:
    """The Megaco message in ``data`` (RFC 3525 Annex B); :class:`MegacoError` otherwise."""
    if len(data) > MAX_MESSAGE:
        raise MegacoError(f"message of {len(data)} octets exceeds {MAX_MESSAGE}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MegacoError(f"not UTF-8 at offset {exc.start}") from None
    version, mid, pos = parse_header(text)
    return Message(mid, _items(_tokens(text, pos)), version)


# --- serializing -------------------------------------------------------------------------


def _atom(text: str, is_quoted: bool, short: bool) -> str:
    if is_quoted:
        if _QUOTED_BAD.search(text):
            raise InvalidInput(f"{text!r} cannot be a quotedString (DQUOTE or control character)")
        return f'"{text}"'
    if _WORD.fullmatch(text) is None:
        raise InvalidInput(f"{text!r} is not a word of SafeChar")
    long = canonical(text)
    if long is not None and long == text:
        return TOKENS[long] if short else long
    return text


def _write(item: Item, depth: int, short: bool, out: list[str]) -> None:
    if depth > MAX_DEPTH:
        raise InvalidInput(f"nesting deeper than {MAX_DEPTH}")
    pad = "  " * depth
    head = _atom(item.name, item.quoted_name, short)
    if item.value is not None:
        head += f" = {_atom(item.value, item.quoted_value, short)}"
    if item.children is None:
        out.append(pad + head)
        return
    if not item.children:
        out.append(f"{pad}{head} {{ }}")
        return
    out.append(f"{pad}{head} {{\n")
    for k, child in enumerate(item.children):
        _write(child, depth + 1, short, out)
        out.append(",\n" if k + 1 < len(item.children) else "\n")
    out.append(pad + "}")


def serialize(message: Message, *, short: bool = False) -> bytes:
    """``message`` as Annex B text: the header line, then each item of the body, nested
    items indented, tokens in their long form (``short``: the short form)."""
    if message.version not in VERSIONS:
        raise InvalidInput(f"version {message.version} not supported")
    out = [f"{'!' if short else 'MEGACO'}/{message.version} {message.mid}\n"]
    for item in message.body:
        _write(item, 0, short, out)
        out.append("\n")
    data = "".join(out).encode("utf-8")
    if len(data) > MAX_MESSAGE:
        raise InvalidInput(f"message of {len(data)} octets exceeds {MAX_MESSAGE}")
    return data


def plain_value(text: str) -> bool:
    """Whether ``text`` can travel as an unquoted VALUE (``1*(SafeChar / %x80-FF)``)."""
    return _PLAIN_VALUE.fullmatch(text) is not None

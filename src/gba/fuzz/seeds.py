"""Seeds beyond the valid messages: the abusive shapes of issue 10 (items 3 and 8), and
the published vectors under ``tests/vectors``.

Deep nesting, lengths that announce far more than arrives and long header lists are the
inputs a coverage-guided fuzzer reaches slowly, so they are given to it from the start.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gba.errors import InvalidInput
from gba.protocols.diameter import APP_ZH, CMD_MULTIMEDIA_AUTH, Avp, Message, PeerIdentity
from gba.protocols.diameter.capabilities import build_cer
from gba.protocols.diameter.codec import MAX_AVPS

PROXY_INFO = 284
PROXY_HOST = 280
MIB16 = (1 << 24) - 1
"""The largest length a 24-bit Diameter length field can announce (RFC 6733 §3, §4)."""


def nested(levels: int) -> Avp:
    """*levels* Proxy-Info grouped AVPs, one inside the other, a Proxy-Host innermost."""
    avp = Avp(PROXY_HOST, b"fuzz")
    for _ in range(levels):
        avp = Avp(PROXY_INFO, avp.encode())
    return avp


def _mar(avps: list[Avp]) -> bytes:
    return Message.new(CMD_MULTIMEDIA_AUTH, APP_ZH, avps=avps).encode()


def _header(length: int) -> bytes:
    """A Diameter request header (MAR on Zh) announcing *length* octets."""
    return ((0x01 << 24) | length).to_bytes(4, "big") + bytes.fromhex(
        "8000012e" "01000010" "00000001" "00000001")


def abusive_messages() -> list[bytes]:
    """Grouped AVPs nested 20, 300 and 600 deep (600 was a RecursionError before the
    iterative decode); one AVP more than ``MAX_AVPS``; an AVP whose length field announces
    16 MiB; a header announcing 16 MiB with 1 KiB after it; 4096 empty AVPs."""
    huge_avp = (PROXY_HOST.to_bytes(4, "big") + (0x40000000 | MIB16).to_bytes(4, "big")
                + b"fuzz")
    short = _mar([]) + huge_avp
    return [
        _mar([nested(20)]), _mar([nested(300)]), _mar([nested(599)]),
        _mar([Avp(1, b"")] * (MAX_AVPS + 1)),
        ((0x01 << 24) | len(short)).to_bytes(4, "big") + short[4:],
        _header(MIB16) + bytes(1024),
        _mar([Avp(PROXY_HOST, b"")] * 4096),
    ]


def abusive_streams() -> list[bytes]:
    """For the peer machine: a CER then the 300-deep request (5009 after the CEA); headers
    announcing 1 MiB and 16 MiB before any CER (closed at once); a CER then 16 MiB."""
    from ipaddress import ip_address

    cer = build_cer(PeerIdentity("fuzz.peer", "fuzz", (ip_address("127.0.0.1"),)),
                    [(10415, 16777220)]).encode()
    deep = _mar([nested(300)])
    return [cer + deep, _header(1 << 20) + bytes(1024), _header(MIB16) + bytes(64),
            cer + _header(MIB16) + bytes(64)]


def abusive_digest(scheme: bytes) -> list[bytes]:
    """Digest-style headers after *scheme*: 500 parameters; a qop list of 2000 tokens;
    5000 empty list elements; one 64 KiB quoted value; 300 nested quotes and escapes."""
    base = b'realm="r", nonce="n", username="u", uri="/", response="0", rspauth="a", '
    params = b", ".join(b'p%d="v%d"' % (i, i) for i in range(500))
    qop = b'qop="' + b",".join([b"auth", b"auth-int"] * 1000) + b'"'
    return [scheme + base + params, scheme + base + qop, scheme + base + b"," * 5000,
            scheme + base + b'opaque="' + b"x" * 65536 + b'"',
            scheme + base + b'opaque="' + b'\\"' * 300 + b'"']


def long_text(valid: bytes) -> bytes:
    """*valid* with 64 KiB of its own bytes repeated in front."""
    return valid * (65536 // max(1, len(valid))) + valid


def _message_hex(document: Any) -> Iterator[str]:
    """The ``"hex"`` of each entry of the document's ``"messages"`` list (the vector file
    format of tests/vectors/diameter/); nothing for another kind of JSON file."""
    messages = document.get("messages") if isinstance(document, dict) else None
    for entry in messages if isinstance(messages, list) else ():
        if isinstance(entry, dict) and isinstance(entry.get("hex"), str):
            yield entry["hex"]


def load_corpus(directory: Path) -> list[bytes]:
    """The messages of the ``*.json`` files in *directory*: the ``"hex"`` of every entry
    of their ``"messages"`` list, files sorted by name, entries in file order."""
    if not directory.is_dir():
        raise InvalidInput(f"corpus {directory} is not a directory")
    found: list[bytes] = []
    for path in sorted(directory.glob("*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise InvalidInput(f"corpus file {path} is not readable JSON: {exc}") from None
        for text in _message_hex(document):
            try:
                found.append(bytes.fromhex(text))
            except ValueError:
                raise InvalidInput(f"corpus file {path}: {text[:40]!r} is not hex") from None
    if not found:
        raise InvalidInput(f"corpus {directory} holds no *.json file with \"messages\"")
    return found


def load_vectors(root: Path) -> dict[str, list[bytes]]:
    """Seeds per target from a ``tests/vectors`` tree: the Diameter messages of
    ``diameter/*.json`` (for both Diameter targets; the peer also gets them as one
    stream) and the documents of ``guss/*.xml``. Missing folders give nothing."""
    seeds: dict[str, list[bytes]] = {}
    if (root / "diameter").is_dir():
        messages = load_corpus(root / "diameter")
        seeds["diameter"] = messages
        seeds["diameter-peer"] = [*messages, b"".join(messages)]
    xml = sorted((root / "guss").glob("*.xml")) if (root / "guss").is_dir() else []
    if xml:
        seeds["guss"] = [path.read_bytes() for path in xml]
    return seeds

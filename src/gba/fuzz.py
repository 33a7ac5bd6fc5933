"""``gba fuzz``: mutation fuzzing of every parser that reads bytes from the network.

Each target takes untrusted input and must either succeed or raise a
:class:`~gba.errors.GbaError`; anything else (IndexError, UnicodeDecodeError, a hang)
is a finding. Seeds are valid messages; mutations flip bits, cut, splice, repeat and
insert interesting bytes. Long runs belong here, not in CI.

The Diameter targets can take more seeds from a corpus directory (``gba fuzz --corpus
tests/vectors/diameter``): every message of its ``*.json`` vector files, such as the
captured messages of ours and of freeDiameter kept there.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gba.crypto import digest, kdf
from gba.errors import GbaError, InvalidInput
from gba.protocols import guss, ua_psk, ub, zh, zn
from gba.protocols.diameter import (
    APP_ZH,
    CMD_MULTIMEDIA_AUTH,
    Avp,
    Message,
    PeerConnection,
    PeerIdentity,
    Role,
)
from gba.protocols.diameter.bench import sample_bia, sample_maa
from gba.protocols.diameter.capabilities import build_cer
from gba.protocols.diameter.codec import MAX_AVPS
from gba.protocols.digest_header import AuthenticationInfo, Challenge, Credentials

Target = Callable[[bytes], object]


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _peer(data: bytes) -> object:
    from ipaddress import ip_address

    conn = PeerConnection(PeerIdentity("fuzz", "fuzz", (ip_address("127.0.0.1"),)),
                          Role.RESPONDER, [(10415, 16777220)])
    conn.connection_made(0.0)
    conn.receive_data(data, 1.0)
    return conn.data_to_send(), conn.pop_events()


def _diameter_app(data: bytes) -> object:
    msg = Message.decode(data)
    for parse in (zh.parse_mar, zh.parse_maa, zn.parse_bir, zn.parse_bia):
        with contextlib.suppress(GbaError):
            parse(msg)
    return msg


def _abuse_seeds() -> tuple[list[bytes], list[bytes]]:
    """Seeds from the attack run of issue 10 item 3: (messages, peer streams).

    600 nested Proxy-Info (4.8 KB, RecursionError before the iterative decode), one AVP
    more than ``MAX_AVPS``; for the peer: a CER then the nested request (5009 after the
    CEA), and a header announcing 1 MiB before any CER (closed at once)."""
    from ipaddress import ip_address

    nested = Avp(284, b"")
    for _ in range(599):
        nested = Avp(284, nested.encode())
    deep = Message.new(CMD_MULTIMEDIA_AUTH, APP_ZH, avps=[nested]).encode()
    many = Message.new(CMD_MULTIMEDIA_AUTH, APP_ZH,
                       avps=[Avp(1, b"")] * (MAX_AVPS + 1)).encode()
    cer = build_cer(PeerIdentity("fuzz.peer", "fuzz", (ip_address("127.0.0.1"),)),
                    [(10415, 16777220)]).encode()
    oversize = (0x01000000 | (1 << 20)).to_bytes(4, "big") + bytes.fromhex(
        "80000101" "00000000" "00000001" "00000001") + bytes(1024)
    return [deep, many], [cer + deep, oversize]


def _seeds() -> dict[str, tuple[Target, list[bytes]]]:
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    challenge = Challenge("realm", digest.aka_nonce(bytes(16), bytes(16)), "AKAv1-MD5",
                          ("auth-int",)).to_header().encode()
    creds = Credentials("user@realm", "realm", "bm9uY2U=", "/", "0" * 32, "AKAv1-MD5",
                        "auth-int", "00000001", "abc", auts="AAAAAAAAAAAAAAAAAAA=").to_header()
    abusive, abusive_streams = _abuse_seeds()
    return {
        "diameter": (_diameter_app, [sample_bia().encode(), sample_maa().encode(), *abusive]),
        "diameter-peer": (_peer, [sample_bia().encode() + sample_maa().encode(),
                                  *abusive_streams]),
        "digest-challenge": (lambda d: Challenge.from_header(_text(d)), [challenge]),
        "digest-credentials": (lambda d: Credentials.from_header(_text(d)), [creds.encode()]),
        "authentication-info": (lambda d: AuthenticationInfo.from_header(_text(d)),
                                [b'rspauth="abc", qop=auth-int, nc=00000001, cnonce="x"']),
        "bootstrapping-info": (ub.BootstrappingInfo.decode,
                               [ub.BootstrappingInfo("a@b", now).encode()]),
        "guss": (guss.decode_guss, [guss.encode_guss(guss.Guss(
            "GBA_U", 3600, (guss.Uss("1", "2", "g", ("sip:a@b",), ("1",)),))).encode()]),
        "btid": (lambda d: kdf.parse_btid(_text(d)), [kdf.btid(bytes(16), "bsf.x").encode()]),
        "aka-nonce": (lambda d: digest.parse_aka_nonce(_text(d)),
                      [digest.aka_nonce(bytes(16), bytes(16), b"x").encode()]),
        "psk-identity": (ua_psk.btid_from_psk_identity,
                         [ua_psk.psk_identity_for(kdf.btid(bytes(16), "bsf.x")).encode()]),
    }


TARGETS = tuple(_seeds())
DIAMETER_TARGETS = ("diameter", "diameter-peer")
"""The targets that take Diameter messages, and so the seeds of a ``--corpus``."""


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


_INTERESTING = [b"\x00", b"\xff", b"\x7f", b"\x80", b"\xff\xff\xff\xff", b"\x00\x00\x00\x00",
                b'"', b"\\", b",", b"=", b"<", b"&", b"\r\n", b"@", b"=="]


def mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        if op == 0 and buf:
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:
            del buf[rng.randrange(len(buf)):]
        elif op == 2:
            i = rng.randrange(len(buf) + 1)
            buf[i:i] = rng.choice(_INTERESTING)
        elif op == 3 and buf:
            i, j = sorted(rng.randrange(len(buf)) for _ in range(2))
            buf[i:i] = buf[i:j + 1] * rng.randint(1, 3)
        elif op == 4 and buf:
            i = rng.randrange(len(buf))
            buf[i] = rng.randrange(256)
        elif op == 5 and len(buf) > 1:
            i, j = sorted(rng.randrange(len(buf)) for _ in range(2))
            del buf[i:j]
    return bytes(buf)


@dataclass
class FuzzResult:
    target: str
    runs: int = 0
    findings: list[str] = field(default_factory=list)


def fuzz(targets: tuple[str, ...] = TARGETS, seconds: float = 10.0, seed: int | None = None,
         diameter_seeds: Sequence[bytes] = ()) -> list[FuzzResult]:
    """Fuzz each target for *seconds*; return runs and findings (tracebacks) per target.

    *diameter_seeds* (see :func:`load_corpus`) join the seeds of the Diameter targets;
    the peer target also gets them all in one stream, so that a CER among them opens the
    connection for the messages after it."""
    seeds = _seeds()
    if diameter_seeds:
        seeds["diameter"][1].extend(diameter_seeds)
        seeds["diameter-peer"][1].extend([*diameter_seeds, b"".join(diameter_seeds)])
    rng = random.Random(seed if seed is not None else int.from_bytes(os.urandom(8), "big"))
    results = []
    for name in targets:
        target, corpus = seeds[name]
        result = FuzzResult(name)
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            data = mutate(rng.choice(corpus), rng)
            result.runs += 1
            try:
                target(data)
            except GbaError:
                continue
            except Exception:  # the point of fuzzing: anything untyped is a finding
                result.findings.append(f"input {data!r}\n{traceback.format_exc(limit=4)}")
                if len(result.findings) >= 5:
                    break
            else:
                if len(corpus) < 64:
                    corpus.append(data)
        results.append(result)
    return results

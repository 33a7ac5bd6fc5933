"""The mutation fuzzer: the fallback engine where atheris is not installed.

Mutations flip bits, cut, splice, repeat and insert interesting bytes into the seeds;
an input that parses joins the seeds. No coverage feedback, so it finds less than
:mod:`gba.fuzz.libfuzzer`, but it needs nothing beyond the standard library.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gba.errors import GbaError

if TYPE_CHECKING:
    from gba.fuzz.targets import Table

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
    saved: list[Path] = field(default_factory=list)
    """The crashing inputs written under the findings folder."""
    engine: str = "mutation"


def save_crash(folder: Path, data: bytes) -> Path:
    """Write *data* as ``crash-<sha1>`` in *folder* (libFuzzer's artifact name)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"crash-{hashlib.sha1(data, usedforsecurity=False).hexdigest()}"
    path.write_bytes(data)
    return path


def fuzz(targets: Sequence[str] | None = None, seconds: float = 10.0, seed: int | None = None,
         diameter_seeds: Sequence[bytes] = (), findings: Path | None = None,
         table: Table | None = None,
         extra_seeds: Mapping[str, Sequence[bytes]] | None = None) -> list[FuzzResult]:
    """Fuzz each target for *seconds*; return runs and findings (tracebacks) per target.

    *diameter_seeds* (see :func:`~gba.fuzz.seeds.load_corpus`) join the seeds of the
    Diameter targets; the peer target also gets them all in one stream, so that a CER
    among them opens the connection for the messages after it. *extra_seeds* adds seeds
    per target name. With *findings*, each crashing input is saved under
    ``findings/<target>/``. *table* replaces :func:`~gba.fuzz.targets.table`."""
    from gba.fuzz import targets as registry  # late: the atheris child instruments it

    seeds = table if table is not None else registry.table()
    if diameter_seeds:
        seeds["diameter"][1].extend(diameter_seeds)
        seeds["diameter-peer"][1].extend([*diameter_seeds, b"".join(diameter_seeds)])
    for name, more in (extra_seeds or {}).items():
        if name in seeds:
            seeds[name][1].extend(more)
    rng = random.Random(seed if seed is not None else int.from_bytes(os.urandom(8), "big"))
    results = []
    for name in targets if targets is not None else tuple(seeds):
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
                if findings is not None:
                    result.saved.append(save_crash(findings / name, data))
                if len(result.findings) >= 5:
                    break
            else:
                if len(corpus) < 64:
                    corpus.append(data)
        results.append(result)
    return results

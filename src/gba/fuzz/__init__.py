"""``gba fuzz``: fuzzing of every parser that reads bytes from the network.

Each target (:mod:`gba.fuzz.targets`) takes untrusted input and must either succeed or
raise a :class:`~gba.errors.GbaError`; anything else (IndexError, UnicodeDecodeError, a
hang) is a finding, and its input is saved under the findings folder. The engine is
atheris, coverage-guided (:mod:`gba.fuzz.libfuzzer`), where it imports, else the mutation
fuzzer (:mod:`gba.fuzz.mutation`). Seeds are valid messages, the abusive shapes of
:mod:`gba.fuzz.seeds` and, with ``--corpus``, the vectors under ``tests/vectors``.
Long runs belong here, not in CI.

Names load lazily, so that the atheris child process imports the parsers only inside
its instrumentation.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gba.fuzz.mutation import FuzzResult, fuzz, mutate
    from gba.fuzz.seeds import load_corpus, load_vectors
    from gba.fuzz.targets import DIAMETER_TARGETS, TARGETS

__all__ = ["DIAMETER_TARGETS", "TARGETS", "FuzzResult", "fuzz", "load_corpus",
           "load_vectors", "mutate", "run"]
_LAZY = {"FuzzResult": "mutation", "fuzz": "mutation", "mutate": "mutation",
         "load_corpus": "seeds", "load_vectors": "seeds",
         "DIAMETER_TARGETS": "targets", "TARGETS": "targets"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(f"gba.fuzz.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'gba.fuzz' has no attribute {name!r}")


def run(names: Sequence[str], seconds: float, findings: Path, *, engine: str = "auto",
        seed: int | None = None, extra_seeds: Mapping[str, Sequence[bytes]] | None = None,
        ) -> list[FuzzResult]:
    """Fuzz each of *names* for *seconds* with *engine* (``auto``: atheris when it
    imports, else ``mutation``); crashing inputs go under ``findings/<target>/``."""
    from gba.fuzz import libfuzzer, mutation, targets

    if engine == "auto":
        engine = "atheris" if libfuzzer.available() else "mutation"
    if engine == "mutation":
        return mutation.fuzz(names, seconds, seed, findings=findings,
                             extra_seeds=extra_seeds)
    table = targets.table()
    return [libfuzzer.run(name, [*table[name][1], *(extra_seeds or {}).get(name, ())],
                          seconds, findings) for name in names]

"""The coverage-guided engine: one atheris (libFuzzer) process per target.

libFuzzer owns its process (it exits when the time is up or at the first crash), so
:func:`run` starts ``python -m gba.fuzz.libfuzzer`` per target with the seeds written
into a temporary corpus folder, ``-max_total_time`` from the seconds, and crashing
inputs written as ``crash-<sha1>`` under the findings folder. In that process the
``gba`` modules the target imports are instrumented (``atheris.instrument_imports``)
before it is handed to ``atheris.Setup``; instrumenting every loaded module instead
(``instrument_all``) costs 30 s per target.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gba.errors import GbaError
from gba.fuzz.mutation import FuzzResult

DEFAULT_TABLE = "gba.fuzz.targets:table"
"""Where the child process finds its targets: ``module:function`` returning a Table."""
_RUNS = re.compile(rb"^(?:Done (\d+) runs|#(\d+)\s)", re.MULTILINE)
_ARTIFACT = re.compile(rb"Test unit written to (\S+)")


def available() -> bool:
    """Whether atheris imports here."""
    try:
        importlib.import_module("atheris")
    except ImportError:
        return False
    return True


def run(name: str, seeds: Sequence[bytes], seconds: float, findings: Path,
        table: str = DEFAULT_TABLE) -> FuzzResult:
    """Fuzz target *name* of *table* with atheris for *seconds*, from *seeds*."""
    result = FuzzResult(name, engine="atheris")
    folder = findings / name
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"gba-fuzz-{name}-") as corpus:
        for i, seed in enumerate(seeds):
            (Path(corpus) / f"seed-{i:04d}").write_bytes(seed)
        max_len = max([65536, *(len(s) for s in seeds)])
        cmd = [sys.executable, "-m", "gba.fuzz.libfuzzer", "--table", table, name, "--",
               corpus, f"-max_total_time={max(1, round(seconds))}", f"-max_len={max_len}",
               f"-artifact_prefix={folder}{os.sep}", "-timeout=10", "-print_final_stats=1"]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=seconds + 300, check=False)
        except subprocess.TimeoutExpired as exc:
            result.findings.append(f"libFuzzer did not stop within {seconds + 300:.0f} s")
            output = exc.stderr or b""
        else:
            output = proc.stdout + proc.stderr
            if proc.returncode != 0:
                tail = output.decode("utf-8", "replace").splitlines()[-40:]
                result.findings.append(f"exit status {proc.returncode}\n" + "\n".join(tail))
    result.runs = max((int(a or b) for a, b in _RUNS.findall(output)), default=0)
    result.saved = [Path(m.decode()) for m in _ARTIFACT.findall(output)]
    return result


def _resolve(table: str) -> object:
    module, _, attr = table.partition(":")
    return getattr(importlib.import_module(module), attr)()


def main(argv: Sequence[str] | None = None) -> None:
    """The child process: ``--table MOD:FN NAME -- LIBFUZZER_ARGS...``."""
    atheris: Any = importlib.import_module("atheris")  # untyped, and optional

    args = list(sys.argv[1:] if argv is None else argv)
    split = args.index("--") if "--" in args else len(args)
    parser = argparse.ArgumentParser(prog="gba.fuzz.libfuzzer")
    parser.add_argument("--table", default=DEFAULT_TABLE)
    parser.add_argument("name")
    ours = parser.parse_args(args[:split])
    # gba.fuzz and gba.errors are loaded already; the parsers load here, instrumented.
    with atheris.instrument_imports(include=["gba"]):
        targets = _resolve(ours.table)
    assert isinstance(targets, dict)
    target = targets[ours.name][0]

    def one_input(data: bytes) -> None:
        with contextlib.suppress(GbaError):
            target(data)

    atheris.Setup([sys.argv[0], *args[split + 1:]], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

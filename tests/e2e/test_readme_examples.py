"""The README's examples work as written, run as a new user would after the set-up step.

The rule: every fenced block of README.md whose language is ``sh`` or ``bash`` is an
example and runs, except the set-up block (``./run demo`` / ``./run test``: this test
runs inside them); a ``console`` block runs its ``$ `` lines. A usage synopsis with
placeholders is fenced ``text`` and does not run. The blocks run in README order, each
with ``bash -euo pipefail`` and a timeout, in one fresh directory (so the lab one block
starts is the lab the next one uses), with the venv's ``bin`` first on PATH (where the
set-up step puts ``gba``); each must exit 0. Whatever happens, every lab the blocks
started is brought down.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from e2e.labctl import lab_down

pytestmark = pytest.mark.interop

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK_TIMEOUT = 180.0
"""Seconds one block may take (a lab start is a few seconds)."""
TOOLS = ("bash", "jq", "curl", "openssl", "basenc", "base64")
"""What the examples call besides gba: the set-up step installs them (coreutils has the
last two)."""

FENCE = re.compile(r"^```([A-Za-z0-9_-]*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def _console_commands(text: str) -> str:
    """The ``$ `` lines of a console block, with their backslash continuations."""
    out: list[str] = []
    continued = False
    for line in text.splitlines():
        if continued or line.startswith("$ "):
            out.append(line if continued else line[2:])
            continued = line.endswith("\\")
    return "\n".join(out) + "\n"


def readme_examples(text: str) -> list[str]:
    """The runnable blocks of a README, in order (the rule in the module docstring)."""
    blocks = []
    for lang, body in FENCE.findall(text):
        if lang in ("sh", "bash") and not re.search(r"^\./run\b", body, re.MULTILINE):
            blocks.append(body)
        elif lang == "console":
            blocks.append(_console_commands(body))
    return blocks


def test_the_rule_picks_the_lab_example_and_leaves_the_setup_and_synopses() -> None:
    blocks = readme_examples(README.read_text(encoding="utf-8"))
    joined = "\n".join(blocks)
    for command in ("gba lab up", "gba hss add-subscriber", "gba ue fetch", "gba lab down"):
        assert command in joined, f"no README example runs {command!r}"
    assert "./run" not in joined
    assert not any(re.search(r"<[A-Za-z][^>]*>|\bHEX\b", b) for b in blocks), \
        "a block with placeholders would be fenced text"
    assert readme_examples("```console\n$ echo a \\\n  b\na b\n```\n") == ["echo a \\\n  b\n"]


def test_every_readme_example_exits_0_in_a_fresh_directory(tmp_path: Path) -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    assert not missing, f"the set-up step installs {missing}; install them (./run test as root)"
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "gba").exists(), f"no gba in {bin_dir}: pip install -e '.[dev]'"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    blocks = readme_examples(README.read_text(encoding="utf-8"))
    try:
        for number, block in enumerate(blocks, 1):
            proc = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path,
                                  env=env, capture_output=True, text=True,
                                  timeout=BLOCK_TIMEOUT, check=False)
            first = block.strip().splitlines()[0]
            print(f"README example {number}/{len(blocks)} exit {proc.returncode}: {first}")
            assert proc.returncode == 0, (
                f"README example {number} ({first} ...) exited {proc.returncode}\n"
                f"stdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-3000:]}")
    finally:
        for lab_json in tmp_path.rglob("lab.json"):
            lab_down(lab_json.parent)

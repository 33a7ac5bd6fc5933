"""``gba fuzz --corpus DIR``: the captured Diameter vectors as extra seeds."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gba.fuzz.mutation
import gba.fuzz.targets
from gba.errors import InvalidInput
from gba.fuzz import DIAMETER_TARGETS, fuzz, load_corpus
from vectors import VECTORS, diameter_messages

CORPUS = VECTORS / "diameter"


def test_corpus_is_every_diameter_vector_in_file_order() -> None:
    assert load_corpus(CORPUS) == [bytes.fromhex(v["hex"]) for v in diameter_messages()]


def test_corpus_skips_json_files_without_messages(tmp_path: Path) -> None:
    (tmp_path / "other.json").write_text('{"hex": "01"}')
    (tmp_path / "v.json").write_text('{"messages": [{"name": "x", "hex": "0102"}]}')
    assert load_corpus(tmp_path) == [b"\x01\x02"]


@pytest.mark.parametrize(("name", "content", "error"), [
    ("empty.json", '{"messages": []}', "no \\*.json file"),
    ("broken.json", '{"messages": [', "not readable JSON"),
    ("odd.json", '{"messages": [{"hex": "0g"}]}', "is not hex"),
])
def test_unusable_corpus_is_invalid_input(tmp_path: Path, name: str, content: str,
                                          error: str) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(InvalidInput, match=error):
        load_corpus(tmp_path)


def test_missing_corpus_directory_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not a directory"):
        load_corpus(tmp_path / "absent")


def test_corpus_messages_reach_the_diameter_target(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: set[bytes] = set()
    parse = gba.fuzz.targets._diameter_app

    def recording(data: bytes) -> object:
        seen.add(data)
        return parse(data)

    monkeypatch.setattr(gba.fuzz.mutation, "mutate", lambda data, rng: data)
    monkeypatch.setattr(gba.fuzz.targets, "_diameter_app", recording)
    corpus = load_corpus(CORPUS)
    (result,) = fuzz(("diameter",), seconds=1.5, seed=7, diameter_seeds=corpus)
    assert result.findings == []
    assert set(corpus) <= seen


@pytest.mark.parametrize("target", DIAMETER_TARGETS)
def test_short_fuzz_run_from_the_corpus_finds_nothing(target: str) -> None:
    (result,) = fuzz((target,), seconds=0.3, seed=1234, diameter_seeds=load_corpus(CORPUS))
    assert result.runs > 100
    assert result.findings == []


def _gba(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("gba") or str(Path(sys.executable).parent / "gba")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60, check=False)


def test_cli_takes_a_corpus_directory() -> None:
    proc = _gba("fuzz", "diameter", "--seconds", "0.2", "--seed", "1", "--corpus", str(CORPUS))
    assert proc.returncode == 0, proc.stderr
    assert f"corpus: {len(diameter_messages())} messages" in proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["ok"] is True


def test_cli_refuses_a_corpus_without_messages(tmp_path: Path) -> None:
    proc = _gba("fuzz", "diameter", "--seconds", "0.1", "--corpus", str(tmp_path))
    assert proc.returncode != 0
    assert "holds no *.json file" in proc.stderr

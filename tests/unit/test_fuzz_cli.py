"""``gba fuzz``: --list, a crashing target's input saved under --findings, the fallback
to the mutation fuzzer where atheris does not import."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import gba.fuzz.targets
from gba.cli.main import app
from gba.errors import CodecError
from gba.fuzz import TARGETS, libfuzzer


def _crash(data: bytes) -> object:
    if data.startswith(b"ok"):
        raise CodecError("typed errors are fine")
    raise IndexError("untyped: a finding")


def crashing_table() -> gba.fuzz.targets.Table:
    return {"crash": (_crash, [b"ok", b"boom"])}


def test_list_prints_one_target_per_line() -> None:
    result = CliRunner().invoke(app, ["fuzz", "--list"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == list(TARGETS)


def test_crashing_target_saves_its_input_and_exits_1(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gba.fuzz.targets, "table", crashing_table)
    result = CliRunner().invoke(app, ["fuzz", "crash", "--seconds", "0.2", "--seed", "1",
                                      "--engine", "mutation", "--findings", str(tmp_path)])
    assert result.exit_code == 1
    saved = sorted((tmp_path / "crash").iterdir())
    assert saved
    assert all(not p.read_bytes().startswith(b"ok") for p in saved)
    assert json.loads(result.stdout.splitlines()[-1])["ok"] is False


def test_fallback_to_mutation_when_atheris_does_not_import(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "atheris", None)  # import atheris -> ImportError
    assert not libfuzzer.available()
    result = CliRunner().invoke(app, ["fuzz", "btid", "--seconds", "0.1", "--seed", "1",
                                      "--findings", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "(mutation)" in result.stdout


def test_atheris_engine_refused_when_atheris_does_not_import(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "atheris", None)
    result = CliRunner().invoke(app, ["fuzz", "btid", "--engine", "atheris"])
    assert result.exit_code != 0


@pytest.mark.skipif(not libfuzzer.available(), reason="atheris is not installed")
def test_atheris_saves_a_crashing_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    result = libfuzzer.run("crash", [b"ok", b"boom"], 30, tmp_path,
                           table="test_fuzz_cli:crashing_table")
    assert result.engine == "atheris"
    assert result.findings
    assert result.saved
    assert all(p.parent == tmp_path / "crash" for p in result.saved)
    assert not result.saved[0].read_bytes().startswith(b"ok")

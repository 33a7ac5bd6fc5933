"""Inputs `gba fuzz` once broke, and a short fuzz run per target (typed errors only)."""

from __future__ import annotations

import pytest

from gba.errors import CodecError
from gba.fuzz import TARGETS, fuzz
from gba.protocols import guss, ub


@pytest.mark.parametrize("encoding", ["UUF-8", "UTF-O", "no-such-codec"])
def test_unknown_xml_encoding_is_a_codec_error(encoding: str) -> None:
    doc = (f'<?xml version="1.0" encoding="{encoding}"?>'
           '<BootstrappingInfo><btid>a@b</btid><lifetime>2026-01-01T00:00:00Z</lifetime>'
           '</BootstrappingInfo>').encode()
    with pytest.raises(CodecError):
        ub.BootstrappingInfo.decode(doc)
    with pytest.raises(CodecError):
        guss.decode_guss(doc)


@pytest.mark.parametrize("target", TARGETS)
def test_short_fuzz_run_finds_nothing(target: str) -> None:
    (result,) = fuzz((target,), seconds=0.3, seed=1234)
    assert result.runs > 100
    assert result.findings == []


def test_abusive_seeds_are_typed_errors_or_parse() -> None:
    """Deep nesting, 16 MiB lengths and long header lists, straight to each target."""
    from gba.errors import GbaError
    from gba.fuzz.targets import table

    for name, (target, seeds) in table().items():
        for seed in seeds:
            try:
                target(seed)
            except GbaError:
                pass
            except Exception as exc:  # pragma: no cover - a finding
                pytest.fail(f"{name}: {len(seed)}-octet seed raised {exc!r}")


def test_seeds_include_deep_nesting_and_huge_lengths() -> None:
    from gba.fuzz.seeds import MIB16, abusive_digest, abusive_messages, nested

    assert len(nested(300).encode()) > 300 * 8
    messages = abusive_messages()
    assert any(int.from_bytes(m[1:4], "big") == MIB16 for m in messages)
    assert any(m.count(b"p499=") for m in abusive_digest(b"Digest "))

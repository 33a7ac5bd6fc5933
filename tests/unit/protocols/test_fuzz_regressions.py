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

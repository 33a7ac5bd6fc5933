"""The BSF section's Ub rate limits (gba.nf.bsf_service): defaults, overrides, bounds."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from gba.config import load
from gba.errors import ConfigError
from gba.nf import bsf_service
from gba.protocols.ratelimit import DEFAULT_PER_IMPI, DEFAULT_PER_SOURCE


def sample(tmp_path: Path, extra: str = "") -> Path:
    text = resources.files("gba.data").joinpath("network.toml").read_text(encoding="utf-8")
    text = text.replace('store = "bsf.sqlite"', f'store = "bsf.sqlite"\n{extra}')
    path = tmp_path / "network.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_limits_default_to_the_per_impi_and_per_source_rates(tmp_path: Path) -> None:
    cfg = bsf_service.parse(load(sample(tmp_path)), "bsf")
    assert (cfg.ub_challenges_per_impi_per_min, cfg.ub_challenges_per_source_per_min) == (
        DEFAULT_PER_IMPI.count, DEFAULT_PER_SOURCE.count)


def test_the_limits_are_read_from_the_bsf_section(tmp_path: Path) -> None:
    path = sample(tmp_path, "ub_challenges_per_impi_per_min = 3\n"
                            "ub_challenges_per_source_per_min = 0")
    cfg = bsf_service.parse(load(path), "bsf")
    assert (cfg.ub_challenges_per_impi_per_min, cfg.ub_challenges_per_source_per_min) == (3, 0)


def test_a_negative_limit_is_refused_naming_the_key(tmp_path: Path) -> None:
    path = sample(tmp_path, "ub_challenges_per_impi_per_min = -1")
    with pytest.raises(ConfigError, match="ub_challenges_per_impi_per_min"):
        bsf_service.parse(load(path), "bsf")

"""The observability keys of a function's section (gba.observe.settings): where metrics
listen, and the ``[logging]`` tables; a bad value fails when the file is loaded."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from gba.config import SAMPLE_CONFIG, Address, Section, normalise
from gba.errors import ConfigError
from gba.nf import registry
from gba.observe.settings import LogSettings, MetricsSettings, log_settings, metrics_settings


def sample() -> dict[str, Any]:
    return normalise(tomllib.loads(SAMPLE_CONFIG.read_text(encoding="utf-8")))


def section(**data: Any) -> Section:
    return Section("bsf", data, "functions.bsf")


def test_no_metrics_listen_serves_no_metrics() -> None:
    assert metrics_settings(section()) == MetricsSettings(None, False)


@pytest.mark.parametrize("where", ["127.0.0.1:9101", "[::1]:9101", "localhost:9101"])
def test_metrics_listen_on_loopback_is_accepted(where: str) -> None:
    assert metrics_settings(section(metrics_listen=where)).listen == Address.parse(where, "x")


def test_metrics_listen_off_loopback_needs_metrics_public() -> None:
    with pytest.raises(ConfigError, match=r"functions\.bsf\.metrics_listen = '0\.0\.0\.0:9101' "
                       r"is not a loopback address"):
        metrics_settings(section(metrics_listen="0.0.0.0:9101"))
    assert metrics_settings(section(metrics_listen="0.0.0.0:9101", metrics_public=True)) == (
        MetricsSettings(Address("0.0.0.0", 9101), True))


def test_the_default_log_settings_are_text_at_info() -> None:
    topology = registry.parse(sample(), SAMPLE_CONFIG)
    assert log_settings(topology, "bsf") == LogSettings("text", "INFO", {})


def test_a_functions_logging_table_goes_over_the_top_level_one() -> None:
    data = sample()
    data["logging"] = {"format": "json", "level": "warning",
                       "levels": {"gba.transport": "DEBUG", "gba.nf": "ERROR"}}
    data["functions"]["bsf"]["logging"] = {"level": "DEBUG", "levels": {"gba.nf": "INFO"}}
    topology = registry.parse(data, SAMPLE_CONFIG)
    assert log_settings(topology, "bsf") == LogSettings(
        "json", "DEBUG", {"gba.transport": "DEBUG", "gba.nf": "INFO"})
    assert log_settings(topology, "naf") == LogSettings(
        "json", "WARNING", {"gba.transport": "DEBUG", "gba.nf": "ERROR"})


@pytest.mark.parametrize(("table", "message"), [
    ({"format": "xml"}, r"logging\.format = 'xml': text or json"),
    ({"level": "LOUD"}, r"logging\.level = 'LOUD' is not a log level"),
    ({"levels": {"gba": 10}}, r"logging\.levels\.gba = 10 is not a log level"),
    ({"colour": True}, r"logging: unknown key 'colour'"),
])
def test_a_bad_logging_table_fails_at_load(table: dict[str, Any], message: str) -> None:
    data = sample()
    data["logging"] = table
    with pytest.raises(ConfigError, match=message):
        registry.parse(data, SAMPLE_CONFIG)


def test_a_bad_metrics_listen_fails_at_load() -> None:
    data = sample()
    data["functions"]["naf"]["metrics_listen"] = "192.0.2.1:9101"
    with pytest.raises(ConfigError, match=r"functions\.naf\.metrics_listen"):
        registry.parse(data, SAMPLE_CONFIG)


def test_the_legacy_layout_keeps_its_logging_table() -> None:
    raw = {"network": {"realm": "example.org"}, "logging": {"format": "json"},
           **{name: {} for name in ("hss", "bsf", "naf")}}
    assert normalise(raw)["logging"] == {"format": "json"}

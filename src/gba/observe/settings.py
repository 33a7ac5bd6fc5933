"""The observability keys of a function's section, the same for every kind.

``metrics_listen`` (optional, ``host:port``): where ``/metrics`` and ``/status.json`` are
served; absent, neither is. It must be a loopback address unless ``metrics_public = true``
(the status document names subscribers and B-TIDs; put an authenticating proxy in front
of a public one). ``gba lab up`` gives every function one on 127.0.0.1.

Logging: a top-level ``[logging]`` table, and a function's own ``[functions.<name>.logging]``
over it, key by key::

    [logging]
    format = "text"                  # or "json": one JSON object per line
    level = "INFO"                   # the root level; GBA_LOG_LEVEL overrides it
    levels = { "gba.transport" = "DEBUG" }    # per logger
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from gba.config import Address, Section, Topology
from gba.errors import ConfigError

LogFormat = Literal["text", "json"]


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    """Where a function serves its metrics and status (None: nowhere)."""

    listen: Address | None = None
    public: bool = False
    recent_messages: int = 0
    """How many of its last messages the function keeps, as one-line summaries, for the
    status page (``recent_messages``; 0, the default, keeps none and leaves the tap off;
    ``gba lab up`` sets 200)."""


@dataclass(frozen=True, slots=True)
class LogSettings:
    """How a function logs: the line format, the root level and levels per logger."""

    format: LogFormat = "text"
    level: str = "INFO"
    levels: dict[str, str] = field(default_factory=dict)


def is_loopback(host: str) -> bool:
    """Whether *host* is ``localhost`` or a loopback IP address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def metrics_settings(section: Section) -> MetricsSettings:
    """``metrics_listen`` and ``metrics_public``: loopback only unless public;
    ``recent_messages`` (0 .. 10000, default 0; the lab sets 200)."""
    public = section.flag("metrics_public", False)
    recent = section.integer("recent_messages", 0, 0, 10_000)
    if "metrics_listen" not in section.data:
        return MetricsSettings(None, public, recent)
    where = section.address("metrics_listen")
    if not public and not is_loopback(where.host):
        raise ConfigError(f"{section.where}.metrics_listen = {str(where)!r} is not a loopback "
                          "address; metrics and status listen on loopback unless "
                          "metrics_public = true")
    return MetricsSettings(where, public, recent)


def _level(value: Any, where: str) -> str:
    names = logging.getLevelNamesMapping()
    if not isinstance(value, str) or value.upper() not in names:
        raise ConfigError(f"{where} = {value!r} is not a log level (one of DEBUG, INFO, "
                          "WARNING, ERROR, CRITICAL)")
    return value.upper()


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} should be a table")
    unknown = sorted(set(value) - {"format", "level", "levels"})
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (format, level, levels)")
    return value


def log_settings(topology: Topology, name: str) -> LogSettings:
    """The top-level ``[logging]`` table with the function's own over it."""
    fmt: str = "text"
    level = "INFO"
    levels: dict[str, str] = {}
    tables = [(topology.raw.get("logging"), "logging")]
    if name in topology.functions:
        tables.append((topology.function(name).section.data.get("logging"),
                       f"functions.{name}.logging"))
    for raw, where in tables:
        if raw is None:
            continue
        table = _table(raw, where)
        if "format" in table:
            fmt = table["format"]
            if fmt not in ("text", "json"):
                raise ConfigError(f"{where}.format = {fmt!r}: text or json")
        if "level" in table:
            level = _level(table["level"], f"{where}.level")
        more = table.get("levels", {})
        if not isinstance(more, dict):
            raise ConfigError(f"{where}.levels should be a table logger = level")
        levels |= {str(k): _level(v, f"{where}.levels.{k}") for k, v in more.items()}
    return LogSettings("json" if fmt == "json" else "text", level, levels)


def check(topology: Topology, name: str) -> None:
    """Read the observability keys of function *name*, so that a bad one fails at load."""
    metrics_settings(topology.function(name).section)
    log_settings(topology, name)

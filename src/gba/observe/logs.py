"""Log lines of a network function: readable text by default, JSON when configured.

A log call names what it is about with ``extra=``: ``interface`` (``ub``, ``ua``,
``ua_psk``, ``zh``, ``zn``, ...), ``impi`` or ``btid``, ``peer`` and ``result``::

    log.info("Zn: Ks_NAF for %s to NAF %s", btid, naf,
             extra={"interface": "zn", "btid": btid, "impi": impi, "peer": naf,
                    "result": 2001})

JSON lines (``format = "json"``) are objects with ``time`` (UTC, ISO 8601), ``level``,
``function``, ``logger``, ``message``, the extra fields, and ``exc`` for a traceback.
Text lines are ``TIME FUNCTION LEVEL LOGGER: MESSAGE`` with the extra fields appended as
``[key=value ...]``.

The formatters guard the extra fields: a field whose name is key material (:data:`DENIED`,
or containing ``key``, ``secret``, ``password``, ``token`` or ``psk``) and any value in
octets is dropped, so that a careless ``extra={"ks": ks}`` never reaches a log. The
message itself is the caller's: it never formats a key (STYLE.md).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any, Final, TextIO

from gba.observe.settings import LogSettings

FIELDS: Final = ("interface", "impi", "btid", "peer", "result")
"""The structured fields, in the order text lines show them."""
_ORDER: Final = {name: i for i, name in enumerate(FIELDS)}
DENIED: Final = frozenset({
    "k", "opc", "op", "ks", "ks_naf", "ks_ext_naf", "ks_int_naf", "ks_naf_me", "res",
    "xres", "ck", "ik", "ck_ik", "password", "passwd", "key", "psk", "auts", "mac",
    "secret", "token"})
"""Extra field names that are never written."""
_DENIED_PARTS: Final = ("key", "secret", "password", "passwd", "token", "psk")
_STANDARD: Final = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "taskName"}
"""The attributes every LogRecord has: anything else came in ``extra=``."""


@functools.lru_cache(maxsize=1024)
def denied(name: str) -> bool:
    """Whether an extra field of this name could hold key material."""
    low = name.lower()
    return low in DENIED or any(part in low for part in _DENIED_PARTS)


@functools.lru_cache(maxsize=512)
def _written(extra: frozenset[str]) -> tuple[str, ...]:
    """The extra field names of this set that may be written, in the order they are:
    worked out once per set of names a log call uses, not once per line."""
    names = [n for n in extra if not n.startswith("_") and not denied(n)]
    names.sort(key=lambda n: (_ORDER.get(n, len(FIELDS)), n))
    return tuple(names)


_PLAIN: Final = (str, int, float, bool, type(None))


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's ``extra=`` fields that may be written: the structured ones first,
    none named like key material, none in octets."""
    fields = record.__dict__
    extra = fields.keys() - _STANDARD
    if not extra:
        return {}
    out: dict[str, Any] = {}
    for name in _written(frozenset(extra)):
        value = fields[name]
        if type(value) in _PLAIN:
            out[name] = value
        elif isinstance(value, bytes | bytearray | memoryview):
            continue
        elif value is None or isinstance(value, str | int | float | bool):
            out[name] = value
        else:
            out[name] = str(value)
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def __init__(self, function: str) -> None:
        super().__init__()
        self.function = function

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname, "function": self.function, "logger": record.name,
            "message": record.getMessage()}
        for name, value in extra_fields(record).items():
            doc.setdefault(name, value)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


_NEEDS_QUOTES = re.compile(r'[\s"=\]]')


def _text(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if not text or _NEEDS_QUOTES.search(text) else text


class TextFormatter(logging.Formatter):
    """``TIME FUNCTION LEVEL LOGGER: MESSAGE [field=value ...]``."""

    def __init__(self, function: str) -> None:
        super().__init__(f"%(asctime)s {function} %(levelname)s %(name)s: %(message)s")
        self.function = function
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord,  # noqa: N802 (logging.Formatter)
                   datefmt: str | None = None) -> str:
        """``YYYY-MM-DD HH:MM:SS,mmm`` local time, as :class:`logging.Formatter` writes
        it; the part up to the second is formatted once per second."""
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:
            self._stamp = super().formatTime(record).rpartition(",")[0]
            self._second = second
        return f"{self._stamp},{int(record.msecs):03d}"

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = extra_fields(record)
        if not fields:
            return line
        head, newline, rest = line.partition("\n")
        tail = " ".join(f"{k}={_text(v)}" for k, v in fields.items())
        return f"{head} [{tail}]{newline}{rest}"


class _Handler(logging.StreamHandler[TextIO]):
    """The handler :func:`configure` installs (and replaces when called again)."""


def _level(name: str) -> int:
    level = logging.getLevelNamesMapping().get(name.strip().upper())
    return level if level is not None else logging.INFO


def configure(function: str, settings: LogSettings | None = None,
              stream: TextIO | None = None) -> logging.Logger:
    """Log every record of this process to *stream* (stderr) in the configured format;
    the root level is ``GBA_LOG_LEVEL`` when set, else the configured one, and each
    logger of ``levels`` gets its own. Returns the logger ``gba.<function>``."""
    chosen = settings or LogSettings()
    # Neither format writes the caller's file and line, the thread or the process: do not
    # look them up for every record (the logging documentation's "Optimization").
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
        old.close()
    handler = _Handler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(function) if chosen.format == "json"
                         else TextFormatter(function))
    root.addHandler(handler)
    root.setLevel(_level(os.environ.get("GBA_LOG_LEVEL") or chosen.level))
    for name, level in chosen.levels.items():
        logging.getLogger(name).setLevel(_level(level))
    return logging.getLogger(f"gba.{function}")

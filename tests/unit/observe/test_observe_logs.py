"""Log lines (gba.observe.logs): text by default, JSON when configured, the structured
fields of ``extra=``, and the guard that drops any field that could be key material."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from gba.nf.common import setup_logging
from gba.observe import logs
from gba.observe.settings import LogSettings

KS = bytes(range(32))


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put back the root logger's handlers and levels the test changed."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    transport = logging.getLogger("gba.transport").level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    logging.getLogger("gba.transport").setLevel(transport)


def record(message: str = "Ub: %s bootstrapped", *args: object,
           extra: dict[str, object] | None = None, level: int = logging.INFO
           ) -> logging.LogRecord:
    return logging.getLogger("gba.protocols.ub_bsf").makeRecord(
        "gba.protocols.ub_bsf", level, __file__, 1, message, args or ("alice",), None,
        extra=extra)


def test_json_lines_carry_the_fields_of_the_event() -> None:
    line = logs.JsonFormatter("bsf").format(record(extra={
        "interface": "ub", "impi": "alice@example.org", "btid": "b@bsf", "peer": "::1",
        "result": 200}))
    doc = json.loads(line)
    assert doc["time"].endswith("+00:00")
    assert {k: doc[k] for k in ("level", "function", "logger", "message")} == {
        "level": "INFO", "function": "bsf", "logger": "gba.protocols.ub_bsf",
        "message": "Ub: alice bootstrapped"}
    assert {k: doc[k] for k in logs.FIELDS} == {
        "interface": "ub", "impi": "alice@example.org", "btid": "b@bsf", "peer": "::1",
        "result": 200}


@pytest.mark.parametrize("name", ["ks", "K", "OPc", "res", "XRES", "ck", "ik", "ks_naf",
                                  "password", "key", "me_key", "psk_identity_key", "secret",
                                  "bearer_token"])
def test_a_field_named_like_key_material_is_never_written(name: str) -> None:
    rec = record(extra={"interface": "ub", name: "00112233445566778899aabbccddeeff"})
    for formatter in (logs.JsonFormatter("bsf"), logs.TextFormatter("bsf")):
        line = formatter.format(rec)
        assert "00112233445566778899aabbccddeeff" not in line
        assert "interface" in line


def test_a_field_in_octets_is_never_written() -> None:
    rec = record(extra={"interface": "zn", "blob": KS})
    for formatter in (logs.JsonFormatter("bsf"), logs.TextFormatter("bsf")):
        line = formatter.format(rec)
        assert "blob" not in line
        assert KS.hex() not in line
        assert repr(KS) not in line


def test_text_lines_append_the_fields_after_the_message() -> None:
    line = logs.TextFormatter("hss").format(record(
        "Zh vector for %s", "alice@example.org",
        extra={"interface": "zh", "impi": "alice@example.org", "peer": "bsf.example.org",
               "result": 2001}))
    assert line.endswith(" hss INFO gba.protocols.ub_bsf: Zh vector for alice@example.org "
                         "[interface=zh impi=alice@example.org peer=bsf.example.org "
                         "result=2001]")
    assert logs.TextFormatter("hss").format(record()).endswith(": Ub: alice bootstrapped")


def test_a_traceback_goes_into_the_json_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        rec = logging.getLogger("x").makeRecord("x", logging.ERROR, __file__, 1, "failed",
                                                (), exc_info=sys.exc_info())
    doc = json.loads(logs.JsonFormatter("naf").format(rec))
    assert "ValueError: boom" in doc["exc"]


def test_configure_writes_json_at_the_configured_levels(
        restore_logging: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GBA_LOG_LEVEL", raising=False)
    out = io.StringIO()
    logger = logs.configure("naf", LogSettings("json", "WARNING", {"gba.transport": "DEBUG"}),
                            stream=out)
    assert logger.name == "gba.naf"
    logging.getLogger("gba.nf.naf").info("dropped: below WARNING")
    logging.getLogger("gba.transport.diameter").debug("kept: its logger is at DEBUG",
                                                      extra={"peer": "bsf"})
    logging.getLogger("gba.nf.naf").warning("kept", extra={"interface": "ua", "ks": "x"})
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(d["logger"], d["message"]) for d in lines] == [
        ("gba.transport.diameter", "kept: its logger is at DEBUG"), ("gba.nf.naf", "kept")]
    assert lines[1]["interface"] == "ua"
    assert "ks" not in lines[1]


def test_gba_log_level_overrides_the_configured_level(
        restore_logging: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GBA_LOG_LEVEL", "debug")
    logs.configure("bsf", LogSettings(level="ERROR"), stream=io.StringIO())
    assert logging.getLogger().level == logging.DEBUG


def test_configuring_again_replaces_the_handler(restore_logging: None) -> None:
    first, second = io.StringIO(), io.StringIO()
    logs.configure("bsf", stream=first)
    setup_logging("bsf", LogSettings())  # the old entry point, the same handler kind
    logs.configure("bsf", stream=second)
    logging.getLogger("gba.test").warning("once")
    assert first.getvalue() == ""
    assert second.getvalue().count("once") == 1


@pytest.mark.parametrize("created", [1_700_000_000.0, 1_700_000_000.999, 1_700_000_001.5,
                                     1_700_000_000.25, 1_800_000_123.004])
def test_text_time_is_the_standard_formatters(created: float) -> None:
    """The per-second cache of the time prefix writes what logging.Formatter writes, also
    across a second boundary and back."""
    cached = logs.TextFormatter("bsf")
    standard = logging.Formatter()
    for when in (created - 1.0, created, created + 0.0004, created - 1.0):
        record = logging.LogRecord("gba.test", logging.INFO, "", 0, "m", (), None)
        record.created = when
        record.msecs = (when - int(when)) * 1000
        assert cached.formatTime(record) == standard.formatTime(record)


def test_fields_of_one_shape_are_written_alike_each_time() -> None:
    """The cached order of a set of field names: structured first, denied and private
    names and octets dropped, other values as text."""
    record = logging.LogRecord("gba.test", logging.INFO, "", 0, "m", (), None)
    record.__dict__.update({"zeta": 1.5, "result": 2001, "ks": "x", "_hidden": 1,
                            "impi": "u@r", "blob": b"\x00", "obj": [1], "flag": None})
    for _ in range(2):
        assert list(logs.extra_fields(record).items()) == [
            ("impi", "u@r"), ("result", 2001), ("flag", None), ("obj", "[1]"),
            ("zeta", 1.5)]

"""What a trace shows: one :class:`TracedMessage` per protocol message seen on a connection.

A message carries a short summary made by :mod:`gba.trace.summary`, never its content: no
key, RES, Digest response or password reaches a summary, so a trace can be shown anywhere.
:func:`to_json` / :func:`from_json` are the lines of a demo event log (``gba demo
--events``), which ``gba trace`` reads like a capture; its first line may hold lab.json's
``functions`` (:data:`LAB_RECORD_KIND`), so the log names its endpoints by itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, get_args

from gba.capture.events import Layer
from gba.errors import CodecError

TraceProtocol = Literal["HTTP", "Diameter", "SIP", "TLS", "TCP", "UDP"]
Direction = Literal["request", "response", "other"]
Endpoint = tuple[str, int]

EVENT_LOG_KIND = "gba-trace-message"
"""The ``kind`` of every message line of a demo event log, so the file says what it is."""
LAB_RECORD_KIND = "gba-trace-lab"
"""The ``kind`` of the optional first line: lab.json's ``functions``, to name endpoints."""


@dataclass(frozen=True, slots=True)
class TracedMessage:
    """One message from *src* to *dst* (``(host, port)``), summarised in one short line."""

    time: float
    src: Endpoint
    dst: Endpoint
    protocol: TraceProtocol
    summary: str
    direction: Direction = "other"
    """Requests draw as solid arrows, responses as dashed ones."""
    recorder: str = ""
    """The network function whose capture held it ("" when unknown)."""
    connection: int = 0
    layer: Layer = "wire"
    """``decrypted``: recorded above TLS, so it crossed the wire inside TLS."""
    note: str = ""
    flow: str = ""
    """The demo step it belongs to (empty for a capture)."""


def endpoint_text(endpoint: Endpoint) -> str:
    """``host:port``, with brackets around an IPv6 host."""
    host, port = endpoint
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_endpoint(text: str, where: str = "endpoint") -> Endpoint:
    """The inverse of :func:`endpoint_text`; :class:`CodecError` naming *where* otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or not host:
        raise CodecError(f"{where}: {text!r} is not host:port")
    return host.strip("[]"), int(port)


def to_json(message: TracedMessage) -> str:
    """One line of a demo event log."""
    record: dict[str, Any] = {
        "kind": EVENT_LOG_KIND, "time": message.time, "src": endpoint_text(message.src),
        "dst": endpoint_text(message.dst), "protocol": message.protocol,
        "summary": message.summary, "direction": message.direction}
    for name in ("recorder", "connection", "note", "flow"):
        if getattr(message, name):
            record[name] = getattr(message, name)
    if message.layer != "wire":
        record["layer"] = message.layer
    return json.dumps(record, sort_keys=True)


def from_json(line: str, where: str = "line") -> TracedMessage:
    """Parse one event-log line; :class:`CodecError` naming *where* when it is not one."""
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise CodecError(f"{where}: not JSON ({exc.args[0]})") from None
    if not isinstance(record, dict) or record.get("kind") != EVENT_LOG_KIND:
        raise CodecError(f"{where}: not a {EVENT_LOG_KIND} record")
    try:
        protocol = record["protocol"]
        direction = record.get("direction", "other")
        layer = record.get("layer", "wire")
        if protocol not in get_args(TraceProtocol) or direction not in get_args(Direction) \
                or layer not in get_args(Layer):
            raise CodecError(f"{where}: unknown protocol, direction or layer")
        return TracedMessage(
            time=float(record["time"]),
            src=parse_endpoint(str(record["src"]), f"{where} src"),
            dst=parse_endpoint(str(record["dst"]), f"{where} dst"),
            protocol=protocol, summary=str(record["summary"]), direction=direction,
            recorder=str(record.get("recorder", "")),
            connection=int(record.get("connection", 0)), layer=layer,
            note=str(record.get("note", "")), flow=str(record.get("flow", "")))
    except KeyError as exc:
        raise CodecError(f"{where}: missing field {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise CodecError(f"{where}: bad field value ({exc})") from None

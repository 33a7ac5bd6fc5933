"""The lab's status page: its functions, their peers, subscribers, contexts, recent flows.

``gba lab up`` starts it as one more background process (``python -m gba lab
status-serve``) on loopback and writes its URL to lab.json as ``status_url``; ``gba lab
down`` stops it. Per page load it reads lab.json and asks every function for its status:
``/status.json`` on the port of its ``metrics`` URL in lab.json (:mod:`gba.observe`); a
function that does not answer within :data:`FETCH_TIMEOUT` shows as down, one without a
metrics URL as unknown. The answers are merged (:class:`Snapshot`, served as
``/status.json``) and rendered as server-side HTML, the recent messages of all functions
as sequence diagrams (:func:`gba.trace.render.to_svg`), one per flow.

Read only and local: GET/HEAD only (anything else 405), loopback only, a Host header
other than the listening address refused (DNS rebinding), a CSP without scripts. No key
material: only the fields named here are taken from the functions' answers.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any, cast, get_args
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from aiohttp import web

from gba import config
from gba.capture.events import Layer
from gba.config import Address
from gba.errors import ConfigError, GbaError
from gba.observe.settings import is_loopback
from gba.trace.load import directory_from_lab
from gba.trace.model import Direction, TracedMessage, TraceProtocol, endpoint_text, parse_endpoint
from gba.trace.render import Directory, participants, to_svg

log = logging.getLogger(__name__)

STATUS_PAGE = "status-page"
"""Its name in lab.json's ``stopped`` report and its log, DIR/status-page.log."""
FETCH_TIMEOUT = 1.0
"""Seconds a function has to answer ``/status.json``."""
MAX_STATUS_BYTES = 1 << 20
SAME_MESSAGE_S = 0.05
"""Two records of one message by its two ends (same src, dst, summary) are this close."""
FLOW_GAP_S = 2.0
"""A pause longer than this between messages starts a new flow."""
FLOWS = 5
MAX_FLOW_MESSAGES = 80
REFRESH_S = 5

HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
           "img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "Cache-Control": "no-store"}


# ---------------------------------------------------------------- recent messages, flows

def parse_recent(records: Iterable[Mapping[str, Any]]) -> list[TracedMessage]:
    """The functions' ``recent`` records as messages; a malformed record is skipped."""
    out = []
    for r in records:
        try:
            protocol = cast(TraceProtocol, r.get("protocol"))
            direction = cast(Direction, r.get("direction") or "other")
            layer = cast(Layer, r.get("layer") or "wire")
            if protocol not in get_args(TraceProtocol) or direction not in get_args(
                    Direction) or layer not in get_args(Layer):
                continue
            out.append(TracedMessage(
                time=float(r["time"]), src=parse_endpoint(str(r["src"])),
                dst=parse_endpoint(str(r["dst"])), protocol=protocol,
                summary=str(r["summary"]), direction=direction, layer=layer,
                recorder=str(r.get("recorder") or "")))
        except (GbaError, KeyError, TypeError, ValueError):
            continue
    return out


def merge_recent(messages: Iterable[TracedMessage]) -> list[TracedMessage]:
    """*messages* in time order, each once: the same message recorded by both its ends
    (same src, dst and summary within :data:`SAME_MESSAGE_S`, from another recorder) is
    kept as first seen; two alike from one recorder are two messages."""
    merged: list[tuple[TracedMessage, set[str]]] = []
    for m in sorted(messages, key=lambda m: m.time):
        twin = _twin(merged, m)
        if twin is None:
            merged.append((m, {m.recorder}))
        else:
            twin.add(m.recorder)
    return [m for m, _ in merged]


def _twin(merged: Sequence[tuple[TracedMessage, set[str]]], m: TracedMessage
          ) -> set[str] | None:
    """The recorders of the message that *m* records again at its other end, if any."""
    for seen, recorders in reversed(merged):
        if m.time - seen.time > SAME_MESSAGE_S:
            return None
        if (seen.src, seen.dst, seen.summary) == (m.src, m.dst, m.summary) \
                and m.recorder not in recorders:
            return recorders
    return None


def split_flows(messages: Sequence[TracedMessage], gap: float = FLOW_GAP_S,
                last: int = FLOWS) -> list[list[TracedMessage]]:
    """The last *last* flows of time-ordered *messages*: a pause over *gap* seconds
    between two messages starts a new flow."""
    flows: list[list[TracedMessage]] = []
    for m in messages:
        if not flows or m.time - flows[-1][-1].time > gap:
            flows.append([])
        flows[-1].append(m)
    return flows[-last:] if last > 0 else []


def names_of(messages: Iterable[TracedMessage], endpoints: Mapping[str, str]
             ) -> dict[str, str]:
    """Function names by ``host:port``: a function's listening endpoints (lab.json), and
    the client end of every message a function recorded to or from another function's
    endpoint (its connection to that function). Learnt from the records of both ends,
    before :func:`merge_recent` keeps one."""
    names = dict(endpoints)
    for m in messages:
        for here, there in ((m.src, m.dst), (m.dst, m.src)):
            mine, theirs = endpoint_text(here), names.get(endpoint_text(there))
            if m.recorder and mine not in names and theirs not in (None, m.recorder):
                names[mine] = m.recorder
    return names


# ---------------------------------------------------------------- gathering

def status_json_url(metrics_url: str) -> str:
    """The function's status URL: its metrics URL with the path ``/status.json``."""
    return urlunsplit((*urlsplit(metrics_url)[:2], "/status.json", "", ""))


async def _fetch(session: aiohttp.ClientSession, url: str) -> dict[str, Any] | None:
    try:
        async with asyncio.timeout(FETCH_TIMEOUT), session.get(url) as resp:
            if resp.status != 200:
                return None
            body = await resp.content.read(MAX_STATUS_BYTES + 1)
            if len(body) > MAX_STATUS_BYTES:
                return None
            data = json.loads(body)
            return data if isinstance(data, dict) else None
    except (TimeoutError, aiohttp.ClientError, ValueError, OSError):
        return None


def _rows(data: Mapping[str, Any], key: str, fields: Sequence[str]) -> list[dict[str, Any]]:
    """The whitelisted *fields* of each row of ``data[key]``, scalars only: nothing else
    of a function's answer reaches the page."""
    rows = data.get(key)
    return [{f: _scalar(r.get(f)) for f in fields} for r in rows if isinstance(r, dict)
            ] if isinstance(rows, list) else []


def _scalar(value: Any) -> str | int | float | None:
    return value if isinstance(value, str | int | float) else None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One look at the lab: *data* (JSON, served as ``/status.json``: lab.json and each
    function's status, the flows with their participants named) and the flows as
    messages with the lab's :class:`Directory`, to draw them."""

    data: dict[str, Any]
    flows: list[list[TracedMessage]]
    directory: Directory


async def snapshot(lab_dir: Path, session: aiohttp.ClientSession,
                   now: float | None = None) -> Snapshot:
    """Read lab.json and ask each function for its status."""
    try:
        info: dict[str, Any] = json.loads((lab_dir / "lab.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):  # not written yet (``up`` writes it last), or mid-write
        info = {}
    functions: dict[str, Any] = info.get("functions") or {}
    metrics: dict[str, Any] = info.get("metrics") or {}

    async def status(name: str) -> dict[str, Any] | None:
        url = metrics.get(name)
        return await _fetch(session, status_json_url(url)) if url else None

    answers = await asyncio.gather(*(status(n) for n in functions))
    out: dict[str, Any] = {"generated": time.time() if now is None else now,
                           "dir": str(lab_dir), "realm": info.get("realm"),
                           "functions": [], "subscribers": [], "contexts": [], "flows": []}
    recent: list[dict[str, Any]] = []
    for (name, f), answer in zip(functions.items(), answers, strict=True):
        endpoints = {str(k): str(v) for k, v in (f.get("endpoints") or {}).items()}
        state = "up" if answer is not None else "down" if metrics.get(name) else "unknown"
        data = answer or {}
        out["functions"].append({
            "name": name, "kind": f.get("kind"), "network": f.get("network"),
            "realm": f.get("realm"), "endpoints": endpoints, "state": state,
            "peers": _rows(data, "peers", ("host", "state")),
            "keys_cached": _scalar(data.get("keys_cached"))})
        out["subscribers"] += [{"function": name, **r}
                               for r in _rows(data, "subscribers", ("impi", "imsi", "sqn"))]
        out["contexts"] += [{"function": name, **r}
                            for r in _rows(data, "contexts", ("btid", "impi", "expires"))]
        recent += _rows(data, "recent", ("time", "src", "dst", "protocol", "direction",
                                         "layer", "summary", "recorder"))
    parsed = parse_recent(recent)
    lab = directory_from_lab(info)
    directory = Directory(names_of(parsed, lab.names), lab.kinds, lab.interfaces)
    merged = merge_recent(parsed)
    shown = participants(merged, directory)
    flows = split_flows(merged)
    out["flows"] = [[{"time": m.time, "src": endpoint_text(m.src), "dst": endpoint_text(m.dst),
                      "src_name": shown[m.src], "dst_name": shown[m.dst],
                      "protocol": m.protocol, "direction": m.direction, "layer": m.layer,
                      "summary": m.summary, "recorder": m.recorder} for m in flow]
                    for flow in flows]
    return Snapshot(out, flows, directory)


# ---------------------------------------------------------------- rendering

def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(float(epoch), UTC).strftime("%H:%M:%S.%f")[:-3]


def _expiry(value: Any, now: float) -> str:
    """An expiry (epoch seconds or ISO 8601) with the time left."""
    try:
        at = (datetime.fromtimestamp(float(value), UTC) if isinstance(value, int | float)
              else datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except (TypeError, ValueError, OverflowError):
        return _e(value)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    left = at.timestamp() - now
    rest = ("expired" if left < 0 else f"in {int(left // 60)} min {int(left % 60)} s"
            if left < 3600 else f"in {int(left // 3600)} h {int(left % 3600 // 60)} min")
    return f"{_e(at.strftime('%Y-%m-%d %H:%M:%S UTC'))} ({rest})"


def _state(text: Any) -> str:
    s = str(text)
    cls = ("up" if s.lower() in ("up", "open", "i-open", "r-open") else
           "down" if s.lower() in ("down", "closed", "suspect") else "other")
    return f'<span class="state {cls}">{_e(s)}</span>'


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> str:
    """A table of already escaped cells."""
    if not rows:
        return f'<p class="empty">{_e(empty)}</p>'
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _holds(f: Mapping[str, Any], snap: Mapping[str, Any]) -> str:
    """What a function holds: an HSS subscribers, a BSF live contexts, a NAF keys."""
    parts = [f"{what}: {n}" for key, what in (("subscribers", "subscribers"),
                                             ("contexts", "live contexts"))
             if (n := sum(r["function"] == f["name"] for r in snap[key]))]
    if f.get("keys_cached") is not None:
        parts.append(f"Ks_NAF cached: {f['keys_cached']}")
    return ", ".join(parts)


def _svg(flow: Sequence[TracedMessage], directory: Directory) -> str | None:
    try:
        svg = to_svg(flow, directory)
    except Exception:  # a drawing bug must not take the page down: a table stands in
        log.exception("gba.trace.render.to_svg failed; showing the flow as a table")
        return None
    return svg.split("?>", 1)[1].lstrip() if svg.startswith("<?xml") else svg


def _flow_table(flow: Sequence[Mapping[str, Any]]) -> str:
    start = flow[0]["time"]
    rows = [[f"+{(m['time'] - start) * 1000:.0f} ms", _e(m["src_name"]),
             _e(m["dst_name"]), _e(m["protocol"]), f'<span class="mono">{_e(m["summary"])}'
             "</span>"] for m in flow]
    return _table(("time", "from", "to", "protocol", "message"), rows, "no messages")


def render(snap: Mapping[str, Any], drawings: Sequence[str | None] = ()) -> str:
    """The page of :attr:`Snapshot.data`: server-side HTML, every value escaped, no script,
    no outside asset; each flow drawn as in *drawings* (else a table)."""
    now = float(snap["generated"])
    fns = snap["functions"]
    functions = _table(("name", "kind", "network", "realm", "endpoints", "holds", "state"), [
        [_e(f["name"]), _e(f["kind"]), _e(f["network"]), _e(f["realm"]),
         "<br>".join(f'{_e(k)} <span class="mono">{_e(v)}</span>'
                     for k, v in f["endpoints"].items()), _e(_holds(f, snap)),
         _state(f["state"])] for f in fns], "no functions in lab.json")
    peers = _table(("function", "peer", "state"), [
        [_e(f["name"]), f'<span class="mono">{_e(p["host"])}</span>', _state(p["state"])]
        for f in fns for p in f["peers"]], "no peer reported")
    subscribers = _table(("HSS", "IMPI", "IMSI", "SQN"), [
        [_e(s["function"]), _e(s["impi"]), _e(s["imsi"]), f'<span class="mono">'
         f'{_e(s["sqn"])}</span>'] for s in snap["subscribers"]], "no subscriber reported")
    contexts = _table(("BSF", "B-TID", "IMPI", "expires"), [
        [_e(c["function"]), f'<span class="mono">{_e(c["btid"])}</span>', _e(c["impi"]),
         _expiry(c["expires"], now)] for c in snap["contexts"]], "no live context")
    flows: list[str] = []
    for k in reversed(range(len(snap["flows"]))):  # the latest first
        flow = snap["flows"][k]
        shown = flow[:MAX_FLOW_MESSAGES]
        caption = (f"{'Latest flow' if not flows else 'Flow'} at {_when(flow[0]['time'])} UTC: "
                   f"{len(flow)} messages" + (f", the first {len(shown)} shown"
                                              if len(shown) < len(flow) else ""))
        drawing = drawings[k] if k < len(drawings) else None
        flows.append(f'<figure class="gba-flow"><figcaption>{_e(caption)}</figcaption>'
                     f"{drawing or _flow_table(shown)}</figure>")
    page = resources.files("gba").joinpath("data/status.html").read_text(encoding="utf-8")
    up = sum(f["state"] != "down" for f in fns)
    return Template(page).substitute(
        refresh=REFRESH_S, title=_e(f"gba lab: {up}/{len(fns)} up"),
        subtitle=_e(f"realm {snap['realm']} · {snap['dir']} · {_when(now)} UTC, refreshed "
                    f"every {REFRESH_S} s"),
        functions=functions, peers=peers, subscribers=subscribers, contexts=contexts,
        flows="".join(flows) or '<p class="empty">no message recorded yet</p>')


# ---------------------------------------------------------------- serving

def make_app(lab_dir: Path, listen: Address) -> web.Application:
    """The read-only app: ``/`` (HTML) and ``/status.json``, for Host = *listen* only."""
    hosts = {str(listen), f"localhost:{listen.port}"}
    session_key = web.AppKey("session", aiohttp.ClientSession)

    @web.middleware
    async def local_only(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.host not in hosts:
            raise web.HTTPMisdirectedRequest(text="wrong Host\n")
        response: web.StreamResponse = await handler(request)
        return response

    async def page(request: web.Request) -> web.Response:
        snap = await snapshot(lab_dir, request.app[session_key])
        drawings = [_svg(flow[:MAX_FLOW_MESSAGES], snap.directory) for flow in snap.flows]
        return web.Response(text=render(snap.data, drawings), content_type="text/html",
                            charset="utf-8")

    async def status_json(request: web.Request) -> web.Response:
        return web.json_response((await snapshot(lab_dir, request.app[session_key])).data)

    async def headers(_: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(HEADERS)

    async def session(app: web.Application) -> AsyncIterator[None]:
        app[session_key] = aiohttp.ClientSession()
        yield
        await app[session_key].close()

    app = web.Application(middlewares=[local_only])
    app.router.add_get("/", page)
    app.router.add_get("/status.json", status_json)
    app.on_response_prepare.append(headers)
    app.cleanup_ctx.append(session)
    return app


def serve(lab_dir: Path, listen: Address) -> None:
    """Serve the page in the foreground until SIGTERM/SIGINT; loopback addresses only."""
    if not is_loopback(listen.host):
        raise ConfigError(f"the status page listens on loopback only, not {listen.host}")
    log.info("status page on http://%s/ for %s", listen, lab_dir)
    web.run_app(make_app(lab_dir.resolve(), listen), host=listen.host, port=listen.port,
                access_log=None, print=None)


@dataclass(frozen=True, slots=True)
class StatusProcess:
    url: str
    pid: int


def start(lab_dir: Path, env: Mapping[str, str], timeout: float,
          host: str = "127.0.0.1") -> StatusProcess:
    """Start ``gba lab status-serve`` in the background on a free port of *host*; return
    once it serves."""
    from gba.lab.lab import _stop, _wait_serving

    listen = Address(host, config.free_port(host))
    with open(lab_dir / f"{STATUS_PAGE}.log", "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gba", "lab", "status-serve", "--dir", str(lab_dir),
             "--listen", str(listen)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=dict(env),
            start_new_session=True, cwd=lab_dir)
    try:
        _wait_serving(proc, STATUS_PAGE, [listen], lab_dir, timeout)
    except BaseException:
        _stop(proc.pid, 5.0)
        raise
    return StatusProcess(f"http://{listen}/", proc.pid)

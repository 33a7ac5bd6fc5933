"""Sequence diagrams: who the participants are, and three ways to draw the messages.

:func:`participants` names each endpoint: a server endpoint listed in lab.json is its
function ("bsf" -> ``BSF``); an endpoint a function recorded on its own side of a
connection (the other side being another function's server) is that function; a client
nobody knows that speaks HTTP or TLS to a BSF or NAF is the ``UE``; anything else stays
``host:port``. :func:`to_text` draws lifeline columns when they fit the width, else one
numbered line per message; :func:`to_mermaid` writes a Mermaid ``sequenceDiagram``;
:func:`to_svg` draws a self-contained SVG (no script, no external reference).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from gba.trace.model import Endpoint, TracedMessage, endpoint_text

UE = "UE"
UE_INTERFACES = frozenset({"ub", "http", "https", "psk_tls", "ua"})
"""lab.json endpoint keys a UE talks to (Ub, Ua with Digest or PSK-TLS)."""
CLIENT_KIND = {"zh": "bsf", "zn": "naf", "zpn": "naf"}
"""Who connects to a Diameter endpoint of this key (TS 33.220 figure 4.1)."""
_INTERFACE_LABELS = {"zh": "Zh", "zn": "Zn", "zpn": "Zpn", "ub": "Ub", "http": "Ua",
                     "https": "Ua", "psk_tls": "Ua", "rest": "REST"}


@dataclass(frozen=True)
class Directory:
    """What lab.json says: server endpoints ("host:port") to function names and to the
    key they are listed under ("zh", "ub", ...), and each function's kind."""

    names: Mapping[str, str] = field(default_factory=dict)
    kinds: Mapping[str, str] = field(default_factory=dict)
    interfaces: Mapping[str, str] = field(default_factory=dict)

    def lookup(self, endpoint: Endpoint) -> tuple[str, str] | None:
        """(function, endpoint key) serving *endpoint*, also when it listens on every
        address; None for an endpoint lab.json does not list."""
        port = endpoint[1]
        for key in (endpoint_text(endpoint), f"0.0.0.0:{port}", f"[::]:{port}"):
            if key in self.names:
                return self.names[key], self.interfaces.get(key, "")
        return None

    def only(self, kind: str) -> str | None:
        """The one function of *kind*, or None when there are none or several."""
        found = [name for name, k in self.kinds.items() if k == kind]
        return found[0] if len(found) == 1 else None


def display(function: str) -> str:
    """How a function is labelled in a diagram: "bsf" -> "BSF"."""
    return function.upper()


def _client_name(directory: Directory, server: tuple[str, str], protocol: str) -> str | None:
    """Who an unknown client of *server* (function, endpoint key) must be, if it can be
    told: a UE on Ub or Ua, the only BSF of the lab on Zh, the only NAF on Zn."""
    function, key = server
    if key in CLIENT_KIND:
        client = directory.only(CLIENT_KIND[key])
        return display(client) if client is not None else None
    kind = directory.kinds.get(function, function).lower()
    if protocol in ("HTTP", "TLS") and (key in UE_INTERFACES or
                                        (not key and kind in ("bsf", "naf"))):
        return UE
    return None


def participants(messages: Sequence[TracedMessage], directory: Directory | None = None
                 ) -> dict[Endpoint, str]:
    """The participant name of every endpoint of *messages*."""
    directory = directory or Directory()
    known = {ep: found for m in messages for ep in (m.src, m.dst)
             if (found := directory.lookup(ep)) is not None}
    owned: dict[Endpoint, str] = {}
    for m in messages:
        for mine, other in ((m.src, m.dst), (m.dst, m.src)):
            peer = known.get(other)
            if m.recorder and mine not in known and peer is not None \
                    and peer[0] != m.recorder:
                owned.setdefault(mine, m.recorder)
    out: dict[Endpoint, str] = {}
    for m in messages:
        for mine, other in ((m.src, m.dst), (m.dst, m.src)):
            if mine in out:
                continue
            if mine in known:
                out[mine] = display(known[mine][0])
            elif mine in owned:
                out[mine] = display(owned[mine])
            else:
                peer = known.get(other)
                guess = _client_name(directory, peer, m.protocol) if peer else None
                out[mine] = guess or endpoint_text(mine)
    return out


def interface_of(message: TracedMessage, directory: Directory | None) -> str:
    """"Zh", "Ub", ... when lab.json names the server end of *message*'s connection."""
    for end in (message.dst, message.src):
        found = directory.lookup(end) if directory is not None else None
        if found is not None and found[1] in _INTERFACE_LABELS:
            return _INTERFACE_LABELS[found[1]]
    return ""


def label(message: TracedMessage, directory: Directory | None = None) -> str:
    """The text on an arrow: the summary, marked when it travelled inside TLS; a TLS
    record is prefixed with the interface it carries ("Zh: TLS application data ...")."""
    where = interface_of(message, directory) if message.protocol == "TLS" else ""
    return (f"{where}: " if where else "") + message.summary + (
        " [TLS]" if message.layer == "decrypted" else "")


@dataclass(frozen=True)
class _Row:
    message: TracedMessage
    a: int
    b: int


def _rows(messages: Sequence[TracedMessage], names: Mapping[Endpoint, str]
          ) -> tuple[list[str], list[_Row]]:
    order: list[str] = []
    for m in messages:
        for ep in (m.src, m.dst):
            if names[ep] not in order:
                order.append(names[ep])
    if UE in order:  # the UE on the left, as TS 33.220's figures draw it
        order.remove(UE)
        order.insert(0, UE)
    index = {name: i for i, name in enumerate(order)}
    return order, [_Row(m, index[names[m.src]], index[names[m.dst]]) for m in messages]


def _columns(widths: Sequence[float], rows: Sequence[_Row], need: Sequence[float],
             gap: float) -> list[float]:
    """Lifeline positions: neighbours *gap* plus half their name widths apart, and every
    message's two lifelines at least its *need* apart (greedy: widen the right gap)."""
    x = [widths[0] / 2]
    for i in range(1, len(widths)):
        x.append(x[-1] + max(gap, (widths[i - 1] + widths[i]) / 2 + gap))
    for row, want in zip(rows, need, strict=True):
        lo, hi = sorted((row.a, row.b))
        if lo == hi:
            hi = min(lo + 1, len(x) - 1)
            if lo == hi:
                continue
        short = want - (x[hi] - x[lo])
        if short > 0:
            for j in range(hi, len(x)):
                x[j] += short
    return x


def _flows(rows: Sequence[_Row]) -> list[tuple[str, list[_Row]]]:
    """Consecutive rows of one flow (demo step) together; a capture has one, unnamed."""
    out: list[tuple[str, list[_Row]]] = []
    for row in rows:
        if not out or out[-1][0] != row.message.flow:
            out.append((row.message.flow, []))
        out[-1][1].append(row)
    return out


# ---------------------------------------------------------------------- text


def to_text(messages: Sequence[TracedMessage], directory: Directory | None = None,
            width: int = 100) -> str:
    """Lifeline columns with labelled arrows if they fit *width* characters, else one
    numbered line per message ("1  +0.000s  UE -> BSF  HTTP  GET /")."""
    if not messages:
        return "(no messages)\n"
    names = participants(messages, directory)
    order, rows = _rows(messages, names)
    x = [round(v) for v in _columns([len(n) for n in order], rows,
                                    [len(label(r.message, directory)) + 8 for r in rows], 4)]
    if x[-1] + len(order[-1]) // 2 + 1 > width:
        return _text_list(messages, names, directory)
    right = x[-1] + len(order[-1]) + 1
    head = [" "] * right
    for name, at in zip(order, x, strict=True):
        start = at - len(name) // 2
        head[start:start + len(name)] = name
    lines = ["".join(head).rstrip()]
    blank = [" "] * right
    for at in x:
        blank[at] = "|"
    for flow, flow_rows in _flows(rows):
        if flow:
            lines.append(f"== {flow} ==")
        for row in flow_rows:
            line = list(blank)
            text = label(row.message, directory)
            if row.a == row.b:
                segment = f"|-- {text} (to itself)"
                line[x[row.a]:x[row.a] + len(segment)] = segment
            else:
                lo, hi = sorted((x[row.a], x[row.b]))
                span = hi - lo - 1
                body = f"-- {text} "
                if row.a < row.b:
                    drawn = body + "-" * (span - len(body) - 1) + ">"
                else:
                    drawn = "<" + body + "-" * (span - len(body) - 1)
                line[lo + 1:hi] = drawn
            lines.append("".join(line).rstrip())
    return "\n".join(lines) + "\n"


def _text_list(messages: Sequence[TracedMessage], names: Mapping[Endpoint, str],
               directory: Directory | None) -> str:
    t0 = messages[0].time
    pairs = [f"{names[m.src]} -> {names[m.dst]}" for m in messages]
    wide = max(len(p) for p in pairs)
    number = len(str(len(messages)))
    offsets = [f"+{m.time - t0:.3f}s" for m in messages]
    late = max(len(o) for o in offsets)
    lines: list[str] = []
    flow = ""
    for i, (m, pair) in enumerate(zip(messages, pairs, strict=True), 1):
        if m.flow and m.flow != flow:
            flow = m.flow
            lines.append(f"== {flow} ==")
        lines.append(f"{i:>{number}}  {offsets[i - 1]:>{late}}  {pair:<{wide}}  "
                     f"{m.protocol:<8}  {label(m, directory)}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- Mermaid


_MERMAID_SAFE = str.maketrans({"#": "\uff03", ";": ",", "<": "\u2039", ">": "\u203a"})


def _mermaid_text(text: str) -> str:
    """*text* without the characters Mermaid's grammar reserves (``;`` ends a statement,
    ``#`` starts an entity code, ``<`` and ``>`` are markup): look-alikes instead, since
    entity codes do not survive every Mermaid renderer."""
    return text.translate(_MERMAID_SAFE)


def to_mermaid(messages: Sequence[TracedMessage], directory: Directory | None = None,
               title: str = "") -> str:
    """A Mermaid ``sequenceDiagram``: requests as solid arrows, responses dotted."""
    lines = ["sequenceDiagram"]
    if title:
        lines.append(f"    title {_mermaid_text(title)}")
    if not messages:
        return "\n".join(lines) + "\n"
    names = participants(messages, directory)
    order, rows = _rows(messages, names)
    ids = [f"P{i}" for i in range(1, len(order) + 1)]
    lines += [f"    participant {pid} as {_mermaid_text(name)}"
              for pid, name in zip(ids, order, strict=True)]
    for flow, flow_rows in _flows(rows):
        if flow:
            lines.append(f"    Note over {ids[0]},{ids[-1]}: {_mermaid_text(flow)}")
        for row in flow_rows:
            arrow = "-->>" if row.message.direction == "response" else "->>"
            lines.append(f"    {ids[row.a]}{arrow}{ids[row.b]}: "
                         f"{_mermaid_text(label(row.message, directory))}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- SVG

_CHAR = 7.2  # width of one character of 12px monospace, in px
_ROW = 30
_TOP = 20
_BOX = 28


_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml(text: str) -> str:
    """*text* escaped for XML, without the characters XML 1.0 forbids."""
    return escape(_XML_UNSAFE.sub("?", text))


def _svg_text(x: float, y: float, text: str, cls: str, anchor: str = "middle") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" class="{cls}" text-anchor="{anchor}">'
            f"{_xml(text)}</text>")


def to_svg(messages: Sequence[TracedMessage], directory: Directory | None = None,
           title: str = "") -> str:
    """A self-contained SVG: participant boxes, dashed lifelines, one arrow and one label
    (``<text class="msg">``) per message, responses dashed; flows titled."""
    names = participants(messages, directory) if messages else {}
    order, rows = _rows(messages, names) if messages else ([], [])
    widths = [len(n) * _CHAR + 24 for n in order]
    x = [v + 20 for v in _columns(widths, rows, [len(label(r.message, directory)) * _CHAR + 40
                                                 for r in rows], 40)] if order else []
    width = (x[-1] + widths[-1] / 2 + 20) if order else 320
    width = max(width, len(title) * _CHAR * 1.2 + 40)
    top = _TOP + (24 if title else 0)
    y = top + _BOX + _ROW
    body: list[str] = []
    for flow, flow_rows in _flows(rows):
        if flow:
            body.append(f'<line x1="10" y1="{y - 18}" x2="{width - 10:.1f}" y2="{y - 18}" '
                        'class="flowline"/>')
            body.append(_svg_text(14, y - 4, flow, "flow", "start"))
            y += _ROW
        for row in flow_rows:
            text = label(row.message, directory)
            dashed = ' stroke-dasharray="6,4"' if row.message.direction == "response" else ""
            if row.a == row.b:
                xa = x[row.a]
                body.append(f'<path d="M{xa:.1f},{y - 6} h30 v12 h-26" class="arrow"'
                            f'{dashed} marker-end="url(#head)"/>')
                body.append(_svg_text(xa + 36, y + 4, text, "msg", "start"))
            else:
                xa, xb = x[row.a], x[row.b]
                tip = xb - 4 if xb > xa else xb + 4
                body.append(f'<line x1="{xa:.1f}" y1="{y}" x2="{tip:.1f}" y2="{y}" '
                            f'class="arrow"{dashed} marker-end="url(#head)"/>')
                body.append(_svg_text((xa + xb) / 2, y - 6, text, "msg"))
            y += _ROW
    height = y + 10
    head = [f'<rect x="{cx - w / 2:.1f}" y="{top}" width="{w:.1f}" height="{_BOX}" '
            f'rx="4" class="box"/>' + _svg_text(cx, top + 18, name, "name")
            + f'<line x1="{cx:.1f}" y1="{top + _BOX}" x2="{cx:.1f}" y2="{height - 10}" '
            'class="life"/>' for name, cx, w in zip(order, x, widths, strict=True)]
    caption = [_svg_text(width / 2, _TOP + 8, title, "title")] if title else []
    return "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label={quoteattr(_XML_UNSAFE.sub("?", title or "sequence diagram"))}>',
        f"<title>{_xml(title or 'sequence diagram')}</title>",
        "<defs><marker id=\"head\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" "
        "markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\">"
        "<path d=\"M0,0 L10,5 L0,10 z\" fill=\"#333\"/></marker></defs>",
        "<style>text{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;"
        "fill:#222}.name{font-weight:bold}.title{font-size:14px;font-weight:bold}"
        ".flow{font-style:italic;fill:#555}.box{fill:#eef3fb;stroke:#4a6fa5}"
        ".life{stroke:#999;stroke-dasharray:4,4}.arrow{stroke:#333;stroke-width:1.3}"
        ".flowline{stroke:#ccc}</style>",
        '<rect width="100%" height="100%" fill="#fff"/>',
        *caption, *head, *body, "</svg>", ""])

"""``gba demo [system] [--json] [--diagram FILE] [--events FILE]``: run a system end to end
and print its message flow.

With --json the last line is a JSON summary: {"ok": bool, "steps": [...]}. With
--diagram or --events every network function records its traffic (``gba lab up
--capture``) and a last step draws it: one sequence diagram per demo step that exchanged
messages (:mod:`gba.trace.flows`), or the messages as an event log for ``gba trace``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from gba.cli.output import emit_json
from gba.demos import Step, summary

app = typer.Typer(help="End-to-end demonstrations; --json ends with a JSON summary.",
                  invoke_without_command=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="last line: JSON summary")]
DiagramOpt = Annotated[Path | None, typer.Option(
    "--diagram", help="draw each step's messages as a sequence diagram: FILE for one step, "
    "else FILE's stem + -N (N = the step's number: out.svg -> out-3.svg, ...); format by "
    "suffix: .svg, .mmd (Mermaid), else text")]
EventsOpt = Annotated[Path | None, typer.Option(
    "--events", help="write every step's messages to FILE as a demo event log (JSON "
    "lines, no key material) that `gba trace FILE` draws")]

Recorded = Callable[[Path | None], list[Step]]


def _draw(steps: list[Step], capture: Path, diagram: Path | None, events: Path | None
          ) -> Step:
    """The step that turns the capture into diagrams and an event log."""
    from gba.errors import GbaError
    from gba.trace import flows, load

    try:
        found = load.load_messages([capture])
        lab_json = capture.with_name(load.LAB_JSON)
        info = json.loads(lab_json.read_text(encoding="utf-8")) if lab_json.exists() else None
        directory = load.directory_from_lab(info) if info is not None else None
        windows = [flows.Window(i, s.name, s.start, s.end) for i, s in enumerate(steps, 1)]
        cut = flows.assign(found, windows)
        counts = {window.number: len(messages) for window, messages in cut}
        lines = []
        if diagram is not None:
            lines += [f"{path}: [{w.number}] {w.name} ({counts[w.number]} messages)"
                      for path, w in flows.write_diagrams(diagram, cut, directory)]
        if events is not None:
            lines.append(f"{events}: {flows.write_events(events, cut, info)} messages")
        return Step("draw the message flows", bool(cut), lines or ["no messages captured"])
    except (GbaError, OSError, ValueError) as exc:
        return Step("draw the message flows", False, [f"error: {exc}"])


def _show(system: str, run: Callable[[], list[Step]], as_json: bool,
          recorded: Recorded | None = None, diagram: Path | None = None,
          events: Path | None = None) -> None:
    if recorded is not None and (diagram is not None or events is not None):
        with tempfile.TemporaryDirectory(prefix="gba-demo-capture-") as tmp:
            capture = Path(tmp) / "capture.pcapng"
            steps = recorded(capture)
            steps.append(_draw(steps, capture, diagram, events))
    else:
        steps = run()
    for i, step in enumerate(steps, 1):
        typer.echo(f"[{i}] {step.name}: {'ok' if step.ok else 'FAILED'}")
        for line in step.lines:
            typer.echo(f"      {line}")
    result = summary(system, steps)
    if as_json:
        emit_json(result)
    if not result["ok"]:
        raise typer.Exit(1)


def _core(as_json: bool, diagram: Path | None, events: Path | None) -> None:
    from gba.demos import network

    _show("core", network.run, as_json, lambda capture: network.run(capture=capture),
          diagram, events)


@app.callback()
def default(ctx: typer.Context, json_out: JsonFlag = False, diagram: DiagramOpt = None,
            events: EventsOpt = None) -> None:
    """Without a system name: the core GBA network (HSS, BSF, NAF processes)."""
    if ctx.invoked_subcommand is None:
        _core(json_out, diagram, events)


@app.command()
def core(json_out: JsonFlag = False, diagram: DiagramOpt = None,
         events: EventsOpt = None) -> None:
    """The core GBA network: HSS, BSF and NAF processes, a UE on Ub and Ua."""
    _core(json_out, diagram, events)


@app.command()
def roaming(json_out: JsonFlag = False) -> None:
    """Roaming (issue 12): home and visited networks as processes, a roaming UE and the
    visited BM-SC in every case of seed 000, each with its message flow; --json adds one
    entry per case ("cases")."""
    from gba.demos import roaming as roaming_demo

    steps = roaming_demo.run()
    for i, step in enumerate(steps, 1):
        typer.echo(f"[{i}] {step.name}: {'ok' if step.ok else 'FAILED'}")
        for line in step.lines:
            typer.echo(f"      {line}")
    result = {**summary("roaming", steps), "cases": roaming_demo.cases(steps)}
    if json_out:
        emit_json(result)
    if not result["ok"]:
        raise typer.Exit(1)


@app.command()
def push(json_out: JsonFlag = False) -> None:
    """GBA Push (issue 13): HSS, BSF, Push-NAF and UEs as processes; every embodiment of
    seed 002 pushes twice, first on a new SA and then reusing it; --json adds one entry
    per embodiment ("embodiments", with the BSF requests of each push) and the normal-GBA
    and timeout runs ("variants")."""
    from gba.demos import push as push_demo

    steps, entries, variants = push_demo.run()
    for i, step in enumerate(steps, 1):
        typer.echo(f"[{i}] {step.name}: {'ok' if step.ok else 'FAILED'}")
        for line in step.lines:
            typer.echo(f"      {line}")
    result = {**summary("push", steps), "embodiments": entries, "variants": variants}
    result["ok"] = bool(result["ok"]) and set(entries) == set(push_demo.EMBODIMENTS)
    if json_out:
        emit_json(result)
    if not result["ok"]:
        raise typer.Exit(1)


@app.command()
def mtc(json_out: JsonFlag = False) -> None:
    """MTC device groups (issue 15): HSS, BSF, MTC-IWF and application server as
    processes, a group of devices sending small data on fresh keys, the group's vector
    reused, the refusals; --json adds one entry per case ("cases")."""
    from gba.demos import mtc as mtc_demo

    steps, cases = mtc_demo.run()
    for i, step in enumerate(steps, 1):
        typer.echo(f"[{i}] {step.name}: {'ok' if step.ok else 'FAILED'}")
        for line in step.lines:
            typer.echo(f"      {line}")
    result = {**summary("mtc", steps), "cases": cases}
    result["ok"] = bool(result["ok"]) and bool(cases) and all(c["ok"] for c in cases.values())
    if json_out:
        emit_json(result)
    if not result["ok"]:
        raise typer.Exit(1)


@app.command()
def ngn(json_out: JsonFlag = False) -> None:
    """NGN key distribution during registration (issue 14): AuC, softswitch and signalling
    proxy as processes; a terminal registers over SIP (UDP, TCP), MGCP, H.248 and H.323
    RAS, directly and through the proxy, and refreshes under Kc,sp; each message flow is
    printed; --json adds one entry per case ("cases", ``<face>/<topology>``)."""
    from gba.demos import ngn as ngn_demo

    steps, cases = ngn_demo.run()
    for i, step in enumerate(steps, 1):
        typer.echo(f"[{i}] {step.name}: {'ok' if step.ok else 'FAILED'}")
        for line in step.lines:
            typer.echo(f"      {line}")
    result = {**summary("ngn", steps), "cases": cases}
    result["ok"] = bool(result["ok"]) and len(cases) == len(ngn_demo.CASES) and all(
        c["ok"] for c in cases.values())
    if json_out:
        emit_json(result)
    if not result["ok"]:
        raise typer.Exit(1)


@app.command()
def crypto(json_out: JsonFlag = False) -> None:
    """The crypto core end to end in one process: vector, USIM, Digest AKA, Ks, Ks_NAF."""
    from gba.demos import crypto as crypto_demo

    _show("crypto", crypto_demo.run, json_out)

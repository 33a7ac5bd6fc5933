"""``gba demo [system] [--json]``: run a system end to end and print its message flow.

With --json the last line is a JSON summary: {"ok": bool, "steps": [...]}.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from gba.cli.output import emit_json
from gba.demos import Step, summary

app = typer.Typer(help="End-to-end demonstrations; --json ends with a JSON summary.",
                  invoke_without_command=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="last line: JSON summary")]


def _show(system: str, run: Callable[[], list[Step]], as_json: bool) -> None:
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


@app.callback()
def default(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Without a system name: the core GBA network (HSS, BSF, NAF processes)."""
    if ctx.invoked_subcommand is None:
        from gba.demos import network

        _show("core", network.run, json_out)


@app.command()
def core(json_out: JsonFlag = False) -> None:
    """The core GBA network: HSS, BSF and NAF processes, a UE on Ub and Ua."""
    from gba.demos import network

    _show("core", network.run, json_out)


@app.command()
def crypto(json_out: JsonFlag = False) -> None:
    """The crypto core end to end in one process: vector, USIM, Digest AKA, Ks, Ks_NAF."""
    from gba.demos import crypto as crypto_demo

    _show("crypto", crypto_demo.run, json_out)

"""``gba fuzz [TARGET...] [--seconds N] [--seed S]``: mutation fuzzing of the parsers."""

from __future__ import annotations

from typing import Annotated

import typer

from gba.cli.output import emit_json


def fuzz(targets: Annotated[list[str] | None, typer.Argument(help="default: all")] = None,
         seconds: Annotated[float, typer.Option(help="per target")] = 10.0,
         seed: Annotated[int | None, typer.Option(help="reproduce a run")] = None) -> None:
    """Feed mutated messages to every network parser; exit 1 on an untyped exception."""
    from gba.errors import InvalidInput
    from gba.fuzz import TARGETS
    from gba.fuzz import fuzz as run

    chosen = tuple(targets or TARGETS)
    unknown = [t for t in chosen if t not in TARGETS]
    if unknown:
        raise InvalidInput(f"unknown fuzz targets {unknown}; known: {', '.join(TARGETS)}")
    results = run(chosen, seconds, seed)
    for r in results:
        typer.echo(f"{r.target:22s} {r.runs:9,d} runs  {len(r.findings)} findings")
        for finding in r.findings:
            typer.echo(finding, err=True)
    emit_json({"runs": sum(r.runs for r in results),
               "findings": sum(len(r.findings) for r in results),
               "ok": not any(r.findings for r in results)})
    if any(r.findings for r in results):
        raise typer.Exit(1)

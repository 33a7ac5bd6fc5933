"""``gba fuzz [TARGET...] [--seconds N] [--seed S] [--corpus DIR]``: mutation fuzzing of
the parsers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gba.cli.output import emit_json


def fuzz(targets: Annotated[list[str] | None, typer.Argument(help="default: all")] = None,
         seconds: Annotated[float, typer.Option(help="per target")] = 10.0,
         seed: Annotated[int | None, typer.Option(help="reproduce a run")] = None,
         corpus: Annotated[Path | None, typer.Option(
             help="more Diameter seeds: the \"messages\" of DIR/*.json vector files "
                  "(e.g. tests/vectors/diameter)", metavar="DIR")] = None) -> None:
    """Feed mutated messages to every network parser; exit 1 on an untyped exception."""
    from gba.errors import InvalidInput
    from gba.fuzz import DIAMETER_TARGETS, TARGETS, load_corpus
    from gba.fuzz import fuzz as run

    chosen = tuple(targets or TARGETS)
    unknown = [t for t in chosen if t not in TARGETS]
    if unknown:
        raise InvalidInput(f"unknown fuzz targets {unknown}; known: {', '.join(TARGETS)}")
    extra = load_corpus(corpus) if corpus is not None else []
    if extra:
        typer.echo(f"corpus: {len(extra)} messages from {corpus} for "
                   f"{', '.join(DIAMETER_TARGETS)}", err=True)
    results = run(chosen, seconds, seed, extra)
    for r in results:
        typer.echo(f"{r.target:22s} {r.runs:9,d} runs  {len(r.findings)} findings")
        for finding in r.findings:
            typer.echo(finding, err=True)
    emit_json({"runs": sum(r.runs for r in results),
               "findings": sum(len(r.findings) for r in results),
               "ok": not any(r.findings for r in results)})
    if any(r.findings for r in results):
        raise typer.Exit(1)

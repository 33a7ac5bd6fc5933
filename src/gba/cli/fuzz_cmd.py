"""``gba fuzz [TARGET...] [--seconds N] [--findings DIR] [--engine E] [--corpus DIR]
[--list]``: coverage-guided (atheris) or mutation fuzzing of the parsers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gba.cli.output import emit_json

_ENGINES = ("auto", "atheris", "mutation")
_VECTORS = Path("tests/vectors")
"""The default --corpus, when run from the repository root."""


def fuzz(targets: Annotated[list[str] | None, typer.Argument(help="default: all")] = None,
         seconds: Annotated[float, typer.Option(help="per target")] = 10.0,
         seed: Annotated[int | None, typer.Option(help="reproduce a mutation run")] = None,
         corpus: Annotated[Path | None, typer.Option(
             help="more seeds from a vectors tree (diameter/*.json, guss/*.xml; default "
                  "tests/vectors when present) or a folder of Diameter *.json vector files",
             metavar="DIR")] = None,
         findings: Annotated[Path, typer.Option(
             help="crashing inputs go to DIR/<target>/", metavar="DIR")] = Path("fuzz-findings"),
         engine: Annotated[str, typer.Option(
             help="auto: atheris when it imports, else mutation")] = "auto",
         list_: Annotated[bool, typer.Option("--list", help="print the targets")] = False,
         ) -> None:
    """Feed fuzzed messages to every network parser; save each crashing input under
    --findings and exit 1 on an untyped exception."""
    from gba.errors import InvalidInput
    from gba.fuzz import libfuzzer, load_corpus, load_vectors, run
    from gba.fuzz import targets as registry

    known = tuple(registry.table())
    if list_:
        for name in known:
            typer.echo(name)
        return
    chosen = tuple(targets or known)
    unknown = [t for t in chosen if t not in known]
    if unknown:
        raise InvalidInput(f"unknown fuzz targets {unknown}; known: {', '.join(known)}")
    if engine not in _ENGINES:
        raise InvalidInput(f"unknown engine {engine!r}; known: {', '.join(_ENGINES)}")
    if engine == "atheris" and not libfuzzer.available():
        raise InvalidInput("atheris does not import here: pip install 'gba[fuzz]'")
    extra: dict[str, list[bytes]] = {}
    if corpus is None and _VECTORS.is_dir():
        corpus = _VECTORS
    if corpus is not None:
        extra = load_vectors(corpus)
        if not extra:
            messages = load_corpus(corpus)
            extra = {"diameter": messages, "diameter-peer": [*messages, b"".join(messages)]}
        for name, seeds in extra.items():
            typer.echo(f"corpus: {len(seeds)} messages from {corpus} for {name}", err=True)
    results = run(chosen, seconds, findings, engine=engine, seed=seed, extra_seeds=extra)
    for r in results:
        typer.echo(f"{r.target:22s} {r.runs:9,d} runs  {len(r.findings)} findings  "
                   f"({r.engine})")
        for finding in r.findings:
            typer.echo(finding, err=True)
        for path in r.saved:
            typer.echo(f"crashing input saved to {path}", err=True)
    emit_json({"runs": sum(r.runs for r in results),
               "findings": sum(len(r.findings) for r in results),
               "saved": [str(p) for r in results for p in r.saved],
               "ok": not any(r.findings for r in results)})
    if any(r.findings for r in results):
        raise typer.Exit(1)

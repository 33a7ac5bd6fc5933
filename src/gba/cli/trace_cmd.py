"""``gba trace FILE...``: a capture or a demo event log as a sequence diagram."""

from __future__ import annotations

import shutil
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from gba.errors import GbaError


class Format(StrEnum):
    text = "text"
    mermaid = "mermaid"
    svg = "svg"


_SUFFIXES = {".svg": Format.svg, ".mmd": Format.mermaid, ".mermaid": Format.mermaid}

Files = Annotated[list[Path], typer.Argument(
    metavar="FILE", help="pcapng or pcap captures (several are merged: a connection "
    "recorded at both ends is shown once), or a demo event log (gba demo --events)")]
FormatOpt = Annotated[Format | None, typer.Option(
    "--format", "-f", help="text (terminal), mermaid or svg; default: from the --output "
    "suffix (.svg, .mmd), else text")]
Output = Annotated[Path | None, typer.Option("--output", "-o", help="write here, not stdout")]
Lab = Annotated[Path | None, typer.Option(
    "--lab", help="lab.json naming the functions' endpoints (default: lab.json beside the "
    "first FILE, else ./lab/lab.json or ./lab.json, else the one an event log holds)")]
Width = Annotated[int | None, typer.Option(
    help="text width; wider diagrams become numbered lines (default: the terminal's)")]
Title = Annotated[str, typer.Option(help="title of a Mermaid or SVG diagram")]


def render(files: list[Path], fmt: Format, lab: Path | None, width: int, title: str) -> str:
    """The diagram of *files* in *fmt*."""
    from gba.trace import load
    from gba.trace.render import to_mermaid, to_svg, to_text

    found, named = load.load(files)
    where = lab or load.find_lab(files)
    directory = load.read_lab(where) if where is not None else named
    if fmt is Format.svg:
        return to_svg(found, directory, title)
    if fmt is Format.mermaid:
        return to_mermaid(found, directory, title)
    return to_text(found, directory, width)


def trace(files: Files, fmt: FormatOpt = None, output: Output = None, lab: Lab = None,
          width: Width = None, title: Title = "") -> None:
    """Draw the messages of a capture or demo event log: HTTP, Diameter, SIP and TLS
    (TLS shown as records, never decrypted; no key, RES or password is ever shown)."""
    chosen = fmt or (_SUFFIXES.get(output.suffix.lower(), Format.text) if output else
                     Format.text)
    columns = width or shutil.get_terminal_size((100, 24)).columns
    try:
        text = render(files, chosen, lab, columns, title)
        if output is None:
            typer.echo(text, nl=False)
        else:
            output.write_text(text, encoding="utf-8")
    except GbaError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        typer.echo(f"error: {output}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None

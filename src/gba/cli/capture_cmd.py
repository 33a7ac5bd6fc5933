"""``gba capture merge OUT PART...``: one pcapng file from the captures of several functions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gba.cli.output import emit_json

app = typer.Typer(help="Packet captures of network functions (pcapng; `gba lab up "
                  "--capture FILE` records them).", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Packet captures of network functions."""


@app.command("merge")
def merge(out: Annotated[Path, typer.Argument(help="the merged pcapng file (replaced)")],
          parts: Annotated[list[Path], typer.Argument(help="pcapng files, one per function; "
                                                      "the first wins a duplicate")]) -> None:
    """Merge captures into one pcapng file.

    One interface per function, packets in time order, a connection recorded at both
    ends kept once. Prints packets kept and duplicate packets dropped."""
    from gba.capture.merge import merge as run

    report = run(parts, out)
    emit_json({"out": str(out), "packets": report.packets, "duplicates": report.duplicates,
               "recorders": list(report.recorders), "truncated": list(report.truncated)})

"""``gba bench <name> [--json]``: benchmarks that print numbers (never timed tests)."""

from __future__ import annotations

from typing import Annotated

import typer

from gba.cli.output import emit_json

app = typer.Typer(help="Benchmarks; with --json the last line is a JSON object.",
                  no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="last line: JSON object")]
Seconds = Annotated[float, typer.Option(help="seconds per measurement")]


def _report(title: str, figures: dict[str, float], as_json: bool) -> None:
    typer.echo(title)
    for name, value in figures.items():
        shown = f"{value:.3f}" if value < 10 else f"{value:,.0f}"
        typer.echo(f"  {name:32s} {shown}")
    if as_json:
        emit_json({k: round(v, 3) for k, v in figures.items()})


@app.command()
def crypto(json_out: JsonFlag = False, seconds: Seconds = 1.0) -> None:
    """Milenage (cached and new key), KDF and Digest rates against the AES floor."""
    from gba.crypto.bench import bench_crypto

    _report("crypto core, one core:", bench_crypto(seconds), json_out)


@app.command()
def diameter(json_out: JsonFlag = False, seconds: Seconds = 1.0) -> None:
    """Diameter codec: encode, decode and round trips of Zn BIA / Zh MAA per second."""
    from gba.protocols.diameter.bench import bench_diameter

    _report("diameter codec, one core:", bench_diameter(seconds), json_out)


@app.command()
def network(json_out: JsonFlag = False,
            seconds: Annotated[float, typer.Option(help="seconds per phase")] = 3.0,
            concurrency: Annotated[int, typer.Option(help="UEs / outstanding requests")] = 8
            ) -> None:
    """Bootstraps/s (Ub + Zh) and Zn key requests/s against a lab of separate processes."""
    from gba.lab.bench import bench_network

    _report("core network on loopback:", bench_network(seconds, concurrency), json_out)

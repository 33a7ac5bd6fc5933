"""Entry point of the ``gba`` command."""

from __future__ import annotations

import sys

import typer

from gba.cli import (
    bench_cmd,
    capture_cmd,
    crypto_cmd,
    demo_cmd,
    fuzz_cmd,
    mtc_cmd,
    network_cmd,
    ngn_cmd,
    trace_cmd,
    ue_cmd,
)
from gba.errors import GbaError

app = typer.Typer(help="gba: 3GPP Generic Bootstrapping Architecture (TS 33.220).",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(crypto_cmd.app, name="crypto")
app.add_typer(bench_cmd.app, name="bench")
app.add_typer(demo_cmd.app, name="demo")
app.command("serve")(network_cmd.serve)
app.command("fuzz")(fuzz_cmd.fuzz)
app.add_typer(network_cmd.hss_app, name="hss")
app.add_typer(network_cmd.bsf_app, name="bsf")
app.add_typer(network_cmd.naf_app, name="naf")
app.add_typer(network_cmd.lab_app, name="lab")
app.add_typer(capture_cmd.app, name="capture")
app.add_typer(ue_cmd.app, name="ue")
app.add_typer(mtc_cmd.app, name="mtc")
app.add_typer(ngn_cmd.app, name="ngn")
app.command("trace")(trace_cmd.trace)


def main() -> None:
    """Run the CLI; a :class:`GbaError` becomes one line on stderr and exit status 2."""
    try:
        app()
    except GbaError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)

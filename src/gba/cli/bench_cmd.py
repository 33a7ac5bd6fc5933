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


@app.command()
def overload(json_out: JsonFlag = False,
             seconds: Annotated[float, typer.Option(help="seconds per step")] = 2.0,
             limit: Annotated[int, typer.Option(help="the BSF's Ub in-flight limit")] = 32,
             steps: Annotated[str, typer.Option(help="UEs offered per step, comma-separated")]
             = "8,64,256,1024") -> None:
    """Load shedding: served/s, shed/s and p50/p99 of served bootstraps as offered UEs
    grow past the BSF's in-flight limit, against a lab of separate processes."""
    from gba.lab.bench import bench_overload

    try:
        offered = tuple(int(n) for n in steps.split(","))
    except ValueError:
        raise typer.BadParameter(f"--steps {steps!r}: comma-separated integers") from None
    rows = bench_overload(seconds, offered, limit)
    typer.echo(f"core network under overload (BSF Ub limit {limit} in flight):")
    typer.echo(f"  {'UEs':>6s} {'served/s':>10s} {'shed/s':>10s} {'p50 ms':>9s} "
               f"{'p99 ms':>9s} {'failed':>7s}")
    for row in rows:
        typer.echo(f"  {row['offered_ues']:6.0f} {row['served_per_s']:10.1f} "
                   f"{row['shed_per_s']:10.1f} {row['p50_ms']:9.1f} {row['p99_ms']:9.1f} "
                   f"{row['failed']:7.0f}")
    if json_out:
        emit_json({"limit": limit, "seconds": seconds,
                   "steps": [{k: round(v, 3) for k, v in row.items()} for row in rows]})


@app.command()
def mtc(json_out: JsonFlag = False,
        devices: Annotated[int, typer.Option(help="simulated MTC devices")] = 10_000,
        groups: Annotated[int, typer.Option(help="device groups")] = 100,
        seconds: Annotated[float, typer.Option(help="seconds of load")] = 10.0,
        concurrency: Annotated[int, typer.Option(help="transmissions in flight")] = 32
        ) -> None:
    """MTC small data (issue 15): devices in groups, each transmission a fresh
    initialisation request and a message through the MTC-IWF, against real HSS, BSF and
    MTC-IWF processes; HSS requests per transmission show the group reuse."""
    from gba.lab.bench_mtc import bench_mtc

    if devices < 1 or groups < 1 or groups > devices:
        raise typer.BadParameter("1 <= groups <= devices")
    result = bench_mtc(devices, groups, seconds, concurrency)
    typer.echo(f"MTC small data, {devices} devices in {groups} groups, "
               f"{concurrency} in flight:")
    for name in ("transmissions", "transmissions_per_s", "hss_requests",
                 "hss_requests_per_transmission", "p50_ms", "p99_ms", "max_ms", "errors"):
        typer.echo(f"  {name:32s} {result[name]}")
    for name, mb in result["rss_mb"].items():
        typer.echo(f"  peak RSS {name:23s} {mb} MB")
    if json_out:
        emit_json(result)


@app.command()
def ngn(json_out: JsonFlag = False,
        face: Annotated[str, typer.Option(
            help="sip_udp, sip_tcp, mgcp, h248 or ras")] = "sip_udp",
        topology: Annotated[str, typer.Option(help="proxy or direct")] = "proxy",
        terminals: Annotated[int, typer.Option(help="terminals provisioned")] = 1000,
        seconds: Annotated[float, typer.Option(help="seconds of load")] = 10.0,
        concurrency: Annotated[int, typer.Option(help="registrations in flight")] = 16
        ) -> None:
    """NGN registrations with key distribution (issue 14): the whole s1-s11 flow per
    registration, each on a new socket, against real AuC, softswitch and SP processes."""
    from gba.lab.bench_ngn import bench_ngn
    from gba.protocols.ngn_bindings import FACES

    if face not in FACES:
        raise typer.BadParameter(f"one of {', '.join(FACES)}", param_hint="--face")
    if topology not in ("proxy", "direct"):
        raise typer.BadParameter("proxy or direct", param_hint="--topology")
    if terminals < 1 or concurrency < 1:
        raise typer.BadParameter("at least 1 terminal and 1 in flight")
    result = bench_ngn(face, topology, terminals, seconds, concurrency)
    typer.echo(f"NGN registrations over {face} ({topology}), {concurrency} in flight:")
    for name in ("registrations", "registrations_per_s", "p50_ms", "p99_ms", "max_ms",
                 "errors"):
        typer.echo(f"  {name:32s} {result[name]}")
    if json_out:
        emit_json(result)

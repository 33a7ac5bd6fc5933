"""``gba bench <name> [--json]``: benchmarks that print numbers (never timed tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

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


ChartOpt = Annotated[Path | None, typer.Option(
    "--chart", help="write a PNG of throughput and latency over the run here")]
LoadSeconds = Annotated[float, typer.Option(help="seconds of load (and of the floor)")]
Concurrency = Annotated[int, typer.Option(help="workers: UEs / requests in flight")]


def _show(res: dict[str, Any]) -> None:
    """The human lines of one load benchmark's result."""
    kind = res.get("floor_kind", "?")
    target = res.get("ratio_target")
    met = res.get("target_met")
    typer.echo(f"{res['name']}: {res.get('concurrency', '?')} concurrent, "
               f"{res.get('seconds', 0):.1f} s")
    typer.echo(f"  {'throughput':24s} {res.get('throughput_per_s', 0):,.1f} /s")
    typer.echo(f"  {kind + ' floor':24s} {res.get('floor_per_s', 0):,.1f} /s")
    typer.echo(f"  {'ratio':24s} {res.get('ratio', 0):.3f}"
               + (f" (target {target}: {'met' if met else 'NOT met'})"
                  if target is not None else ""))
    typer.echo(f"  {'requests':24s} {res.get('requests', 0)}")
    typer.echo(f"  {'errors':24s} {res.get('errors', 0)}")
    for error in res.get("first_errors", [])[:3]:
        typer.echo(f"    {error}")
    typer.echo(f"  {'latency p50/p99/max':24s} {res.get('p50_ms', 0):.2f} / "
               f"{res.get('p99_ms', 0):.2f} / {res.get('max_ms', 0):.2f} ms")
    for process, mb in res.get("rss_mb", {}).items():
        typer.echo(f"  peak RSS {process:15s} {mb:.1f} MB")
    for process, ms in res.get("cpu_ms_per_op", {}).items():
        typer.echo(f"  CPU/op {process:17s} {ms:.4f} ms")
    if res.get("chart"):
        typer.echo(f"  chart {res['chart']}")


def _load(name: str, seconds: float, concurrency: int, chart: Path | None,
          as_json: bool, workers: tuple[int, ...] | None = None,
          hss_store: str = "sqlite") -> None:
    from gba.lab.bench_load import run

    if seconds <= 0 or concurrency < 1:
        raise typer.BadParameter("--seconds > 0 and --concurrency >= 1")
    res = run(name, seconds, concurrency, chart, workers, hss_store)
    if workers is not None:
        _show_workers(res)
    else:
        _show(res)
    if "hss_store" in res:
        typer.echo(f"  {'HSS store':24s} {res['hss_store']}")
    if as_json:
        emit_json(res)
    if res["errors"]:
        raise typer.Exit(1)


def _show_workers(res: dict[str, Any]) -> None:
    """The human lines of ``--workers``: each worker count's run, the scaling."""
    nf = "NAF" if res["name"] == "ua" else "BSF"
    for count, run in res["runs"].items():
        typer.echo(f"{nf} workers = {count}:")
        _show(run)
    per_op = res.get("cpu_ms_per_request") or res["cpu_ms_per_bootstrap"]
    what = "request" if res["name"] == "ua" else "bootstrap"
    for count, cpu in per_op.items():
        total = cpu.get("naf_total", cpu.get("bsf_total", 0.0))
        typer.echo(f"  {nf + ' CPU/' + what:24s} {total:.4f} ms with {count} worker(s)")
    typer.echo(f"  {'scaling':24s} {res['scaling']:.3f}x (workers {res['workers']})")


HSS_STORES = ("sqlite", "postgres")
"""``--hss-store`` (as :data:`gba.lab.bench_load.HSS_STORES`, not imported at start-up)."""


def _hss_store(text: str) -> str:
    if text not in HSS_STORES:
        raise typer.BadParameter(f"one of {', '.join(HSS_STORES)}", param_hint="--hss-store")
    return text


def _worker_counts(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        counts = tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        counts = ()
    if not counts or any(not 1 <= c <= 64 for c in counts):
        raise typer.BadParameter("a comma-separated list of 1..64, e.g. 1,2",
                                 param_hint="--workers")
    return counts


@app.command()
def bootstrap(json_out: JsonFlag = False, seconds: LoadSeconds = 5.0,
              concurrency: Concurrency = 8, chart: ChartOpt = None,
              workers: Annotated[str | None, typer.Option(
                  help="BSF worker counts, e.g. 1,2: one run each on a BSF of that many "
                       "processes sharing a private redis-server; reports the scaling")
                  ] = None,
              hss_store: Annotated[str, typer.Option(
                  help="the HSS's subscriber store: sqlite (the lab's file) or postgres (a "
                       "private PostgreSQL server, started and removed by the benchmark)")
                  ] = "sqlite") -> None:
    """Full Ub bootstraps (with Zh) per second over real sockets, as a ratio of an aiohttp
    trivial-handler floor measured in the same run (target 0.35)."""
    _load("bootstrap", seconds, concurrency, chart, json_out, _worker_counts(workers),
          _hss_store(hss_store))


@app.command()
def zn(json_out: JsonFlag = False, seconds: LoadSeconds = 5.0,
       concurrency: Concurrency = 8, chart: ChartOpt = None) -> None:
    """Zn key requests per second for existing B-TIDs over mutual TLS, as a ratio of a
    Diameter echo over the same TLS measured in the same run (target 0.5)."""
    _load("zn", seconds, concurrency, chart, json_out)


@app.command()
def ua(json_out: JsonFlag = False, seconds: LoadSeconds = 5.0,
       concurrency: Concurrency = 8, chart: ChartOpt = None,
       workers: Annotated[str | None, typer.Option(
           help="NAF worker counts, e.g. 1,2: one run each on a NAF of that many processes "
                "sharing a private redis-server; reports the scaling")] = None) -> None:
    """Digest-protected NAF requests per second with cached keys, as a ratio of an aiohttp
    trivial-handler floor measured in the same run (target 0.6)."""
    _load("ua", seconds, concurrency, chart, json_out, _worker_counts(workers))


def _optional(name: str, seconds: float, concurrency: int) -> dict[str, Any] | str:
    """push (gba.lab.bench_push.bench_push) and mtc (gba.lab.bench_mtc.bench_mtc): their
    result, or a note saying why they were skipped."""
    import importlib

    try:
        module = importlib.import_module(f"gba.lab.bench_{name}")
    except ImportError as exc:
        return f"skipped: gba.lab.bench_{name} not importable ({exc})"
    bench = getattr(module, f"bench_{name}", None)
    if bench is None:
        return f"skipped: gba.lab.bench_{name} has no bench_{name}()"
    # push takes the load shape; mtc keeps its own device count and concurrency
    res = bench(seconds, concurrency) if name == "push" else bench(seconds=seconds)
    if not isinstance(res, dict):
        return f"skipped: bench_{name}() returned {type(res).__name__}, not a dict"
    res.setdefault("name", name)
    return with_http_floor(res, seconds, int(res.get("concurrency", concurrency)))


def with_http_floor(res: dict[str, Any], seconds: float, concurrency: int) -> dict[str, Any]:
    """Add the HTTP floor (measured now, with the result's concurrency) and the ratio to a
    push or mtc result; its per-second series becomes the chart's load series."""
    from gba.lab.bench_floor import measure_http_floor

    floor = measure_http_floor(seconds, concurrency)
    res["floor"] = floor
    res["floor_per_s"] = floor["per_s"]
    res["floor_kind"] = "http"
    res["ratio"] = res["throughput_per_s"] / floor["per_s"] if floor["per_s"] else 0.0
    res.setdefault("ratio_target", None)
    res.setdefault("target_met", None)
    if isinstance(res.get("series"), list):
        res["series"] = {"load": res["series"], "floor": []}
    return res


@app.command("all")
def all_(json_out: JsonFlag = False, seconds: LoadSeconds = 5.0,
         concurrency: Concurrency = 8,
         out_dir: Annotated[Path, typer.Option(
             help="where each <name>.json (and the PNGs) are written")] = Path("bench-results"),
         chart_dir: Annotated[Path | None, typer.Option(
             help="where the PNGs go (default: --out-dir)")] = None) -> None:
    """bootstrap, zn and ua (and push and mtc where their benchmarks exist), each against
    its floor: a table, <name>.json and <name>.png in --out-dir, and with --json one
    object {"benchmarks": {name: result}, "ok": no errors anywhere}."""
    import json

    from gba.lab import bench_load
    from gba.lab.bench_report import TABLE_HEAD, chart, table_row

    charts = chart_dir or out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    notes: dict[str, str] = {}
    for name in (*bench_load.NAMES, "push", "mtc"):
        typer.echo(f"running {name} ...", err=True)
        try:
            if name in bench_load.NAMES:
                got: dict[str, Any] | str = bench_load.run(name, seconds, concurrency,
                                                            charts / f"{name}.png")
            else:
                got = _optional(name, seconds, concurrency)
        except Exception as exc:  # one benchmark failing must not hide the others
            got = {"name": name, "errors": 1, "first_errors": [f"{type(exc).__name__}: {exc}"]}
        if isinstance(got, str):
            notes[name] = got
            typer.echo(f"  {name}: {got}", err=True)
            continue
        if got.get("chart") is None and isinstance(got.get("series"), dict):
            try:
                chart(got, charts / f"{name}.png")
            except Exception as exc:  # a result of another shape: no chart, say so
                notes[name] = f"no chart: {type(exc).__name__}: {exc}"
        results[name] = got
        (out_dir / f"{name}.json").write_text(json.dumps(got, indent=1) + "\n",
                                              encoding="utf-8")
    ok = all(r.get("errors", 1) == 0 for r in results.values())
    typer.echo(TABLE_HEAD)
    for res in results.values():
        typer.echo(table_row(res))
    for name, note in notes.items():
        typer.echo(f"{name}: {note}")
    typer.echo(f"results in {out_dir}/" + ("" if ok else "  (ERRORS: see first_errors)"))
    if json_out:
        emit_json({"benchmarks": results, "ok": ok,
                   **({"notes": notes} if notes else {})})
    if not ok:
        raise typer.Exit(1)


@app.command()
def contexts(json_out: JsonFlag = False,
             count: Annotated[int, typer.Option(help="bootstrapping contexts held")] = 1_000_000,
             backends: Annotated[str, typer.Option(help="comma-separated: sqlite, redis")
                                 ] = "sqlite,redis",
             lookups: Annotated[int, typer.Option(help="random lookups timed")] = 20_000
             ) -> None:
    """BSF memory (issue 16 item 4): COUNT contexts through the store's own API in SQLite
    and in a private redis-server; bytes per context, insert rate, lookup latency."""
    from gba.lab.bench_contexts import bench_contexts

    chosen = tuple(b.strip() for b in backends.split(",") if b.strip())
    if not chosen or set(chosen) - {"sqlite", "redis"} or count < 1 or lookups < 1:
        raise typer.BadParameter("backends from sqlite, redis; count and lookups >= 1")
    result = bench_contexts(count, chosen, lookups)
    typer.echo(f"BSF contexts, {count:,} held:")
    for name, figures in result["backends"].items():
        typer.echo(f"  {name}: {figures['bytes_per_context']:.1f} bytes/context, "
                   f"insert {figures['insert_per_s']:,.0f}/s, lookup p50 "
                   f"{figures['lookup_p50_us']:.1f} us p99 {figures['lookup_p99_us']:.1f} us")
    if json_out:
        emit_json(result)


@app.command()
def push(json_out: JsonFlag = False, seconds: LoadSeconds = 5.0,
         concurrency: Concurrency = 8, chart: ChartOpt = None) -> None:
    """GBA Push (issue 13): first pushes on new SAs, then pushes reusing them, through a
    real Push-NAF, BSF and HSS, against an HTTP floor measured in the same run; the main
    figure is the reuse phase's (``first`` and ``reuse`` hold both)."""
    from gba.lab.bench_push import bench_push
    from gba.lab.bench_report import chart as draw

    res = with_http_floor(bench_push(seconds, concurrency), seconds, concurrency)
    if chart is not None:
        draw(res, chart)
    typer.echo(f"GBA Push, {concurrency} in flight:")
    for name in ("throughput_per_s", "floor_per_s", "ratio", "errors", "p50_ms", "p99_ms",
                 "max_ms"):
        typer.echo(f"  {name:32s} {res[name]}")
    typer.echo(f"  {'first push per s':32s} {res['first']['throughput_per_s']}")
    if json_out:
        emit_json(res)
    if res["errors"]:
        raise typer.Exit(1)

"""``gba ue ...``: a UE on the command line (bootstrap, NAF keys, Ua fetches)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from gba.cli.crypto_cmd import ua_protocol_of
from gba.cli.output import emit_json
from gba.crypto import aka, ua_protocols
from gba.crypto.milenage import opc_from_op
from gba.errors import InvalidInput, ProtocolError
from gba.hexutil import from_hex
from gba.protocols.ub import format_time
from gba.ue import state
from gba.ue.client import GbaClient, NafFqdnMismatch

app = typer.Typer(help="A UE: bootstrap against a BSF and use the keys on Ua.",
                  no_args_is_help=True)
T = TypeVar("T")

BsfUrl = Annotated[str, typer.Option("--bsf-url", help="BSF Ub URL, e.g. http://127.0.0.1:8080/")]
Impi = Annotated[str, typer.Option(help="private identity")]
K = Annotated[str, typer.Option("--k", help="hex")]
OptHex = Annotated[str | None, typer.Option(help="hex")]
StateFile = Annotated[Path, typer.Option("--state", help="UE state file (SQN array, B-TID)")]
Verbose = Annotated[bool, typer.Option("--trace", help="print the message flow")]
TlsSuite = Annotated[str | None, typer.Option(
    help="PSK-TLS suite, Ua protocol 01 00 01 yy zz (TS 33.220 H.3): IANA or OpenSSL name, "
         "or code such as 0x00A8")]


def _run(impi: str, k: str, opc: str | None, op: str | None, bsf_url: str, state_file: Path,
         verbose: bool, job: Callable[[GbaClient], Awaitable[T]]) -> T:
    key = from_hex(k, "K", 16)
    if (opc is None) == (op is None):
        raise InvalidInput("give exactly one of --opc and --op")
    opc_b = from_hex(opc, "OPc", 16) if opc else opc_from_op(key, from_hex(op or "", "OP", 16))
    arr, boot = state.load(state_file, impi)
    trace: Callable[[str], None] = (lambda line: typer.echo(line, err=True)) if verbose else (
        lambda _: None)

    async def go() -> T:
        async with GbaClient(impi, aka.Usim(key, opc_b, arr), bsf_url, trace=trace) as ue:
            ue.current = boot
            try:
                return await job(ue)
            finally:
                state.save(state_file, arr, ue.current)

    return asyncio.run(go())


@app.command()
def bootstrap(bsf_url: BsfUrl, impi: Impi, k: K, opc: OptHex = None, op: OptHex = None,
              state_file: StateFile = Path("ue-state.json"),
              force: Annotated[bool, typer.Option("--force")] = False,
              verbose: Verbose = False) -> None:
    """Bootstrap (TS 33.220 §4.5.2) unless a valid B-TID is held; prints B-TID and lifetime."""
    b = _run(impi, k, opc, op, bsf_url, state_file, verbose, lambda ue: ue.bootstrap(force))
    emit_json({"impi": b.impi, "btid": b.btid, "lifetime": format_time(b.lifetime)})


@app.command("naf-key")
def naf_key(bsf_url: BsfUrl, impi: Impi, k: K, naf_fqdn: Annotated[str, typer.Option()],
            ua_protocol: Annotated[str | None, typer.Option(
                help="5 octets hex; default 0100000002 (HTTP Digest)")] = None,
            tls_suite: TlsSuite = None,
            opc: OptHex = None, op: OptHex = None,
            state_file: StateFile = Path("ue-state.json"), verbose: Verbose = False) -> None:
    """Ks_(ext)_NAF for a NAF FQDN and Ua protocol (bootstraps first when needed)."""
    proto = ua_protocol_of(ua_protocol, tls_suite, ua_protocols.HTTP_DIGEST)
    g = _run(impi, k, opc, op, bsf_url, state_file, verbose,
             lambda ue: ue.bootstrap_authentication(naf_fqdn, proto))
    emit_json({"btid": g.btid, "naf_id": g.naf_id.hex(), "ks_naf": g.key.hex(),
               "lifetime": format_time(g.lifetime)})


@app.command()
def fetch(url: Annotated[str, typer.Argument(help="NAF resource URL")], bsf_url: BsfUrl,
          impi: Impi, k: K, opc: OptHex = None, op: OptHex = None,
          naf_fqdn: Annotated[str | None, typer.Option(help="default: the URL's host")] = None,
          state_file: StateFile = Path("ue-state.json"), verbose: Verbose = False) -> None:
    """GET a Digest-protected NAF resource (TS 33.222 §5.3)."""
    try:
        r = _run(impi, k, opc, op, bsf_url, state_file, verbose,
                 lambda ue: ue.fetch_digest(url, naf_fqdn))
    except NafFqdnMismatch as exc:
        given = "defaults to the URL's host" if exc.from_url else "given is not the NAF's"
        raise ProtocolError(f"{exc.reason}: the NAF FQDN {given}; pass --naf-fqdn with the "
                            f"NAF's FQDN (its realm names {exc.named}; a lab's is naf_fqdn in "
                            "lab.json)") from None
    emit_json({"status": r.status, "body": r.body.decode("utf-8", "replace")})
    if r.status != 200:
        raise typer.Exit(1)


@app.command("fetch-psk")
def fetch_psk(host: Annotated[str, typer.Option()], port: Annotated[int, typer.Option()],
              naf_fqdn: Annotated[str, typer.Option()], bsf_url: BsfUrl, impi: Impi, k: K,
              opc: OptHex = None, op: OptHex = None, path: str = "/",
              tls_suite: Annotated[str, typer.Option(
                  help="the one suite offered: IANA or OpenSSL name, or code such as 0x00A8"
              )] = "TLS_PSK_WITH_AES_128_CBC_SHA",
              state_file: StateFile = Path("ue-state.json"), verbose: Verbose = False) -> None:
    """GET over PSK-TLS keyed with Ks_NAF for the suite (TS 33.222 §5.4), SNI = NAF FQDN."""
    suite = ua_protocols.tls_suite(tls_suite)
    ua_protocols.openssl_suite_name(suite)  # fail before bootstrapping if OpenSSL lacks it
    raw = _run(impi, k, opc, op, bsf_url, state_file, verbose,
               lambda ue: ue.fetch_psk_tls(host, port, naf_fqdn, path, suite))
    emit_json({"response": raw.decode("utf-8", "replace")})


NafUrl = Annotated[str, typer.Option("--naf-url", help="the Push-NAF's HTTP site "
                                     "(lab.json push.naf_url)")]
PushFqdn = Annotated[str, typer.Option("--naf-fqdn", help="the Push-NAF's FQDN")]
PskHost = Annotated[str | None, typer.Option("--psk-host", help="its PSK-TLS push host")]
PskPort = Annotated[int | None, typer.Option("--psk-port", help="its PSK-TLS push port")]
Timeout = Annotated[float, typer.Option("--timeout", help="seconds to wait for each step")]


def _line(obj: dict[str, Any]) -> None:
    print(json.dumps(obj), flush=True)  # read line by line by whoever started us


@app.command("push-listen")
def push_listen(naf_url: NafUrl, naf_fqdn: PushFqdn, bsf_url: BsfUrl, impi: Impi, k: K,
                opc: OptHex = None, op: OptHex = None,
                state_file: StateFile = Path("ue-state.json"),
                sessions: Annotated[int, typer.Option(help="stop after this many")] = 1,
                timeout: Timeout = 60.0,
                bootstrap_first: Annotated[bool, typer.Option(
                    "--bootstrap", help="bootstrap first and register the B-TID "
                    "(normal GBA)")] = False,
                skip_naf_auth: Annotated[bool, typer.Option(
                    "--skip-naf-auth", help="normal GBA: omit the NAF's MAC check")] = False,
                no_pkg3: Annotated[bool, typer.Option(
                    "--no-pkg3", help="withhold pkg3 (the NAF's timeout path)")] = False,
                psk_host: PskHost = None, psk_port: PskPort = None,
                verbose: Verbose = False) -> None:
    """Receive pushes (seed 002, embodiments 1, 2, 4, 5): register a UDP push port with the
    Push-NAF, then print one JSON line per session and a last line with "ok"."""
    from gba.ue.push import PushUe

    sas = state.load_push_sas(state_file)

    async def job(ue: GbaClient) -> list[dict[str, Any]]:
        async with PushUe(ue, naf_url, naf_fqdn, psk_host=psk_host, psk_port=psk_port,
                          skip_naf_auth=skip_naf_auth, send_pkg3=not no_pkg3,
                          trace=ue.trace, store=sas) as push:
            await push.open()
            if bootstrap_first:
                await ue.bootstrap()
            await push.register(with_btid=bootstrap_first)
            _line({"registered": impi, "port": push.port})
            reports = []
            try:
                for _ in range(sessions):
                    report = await push.next_report(timeout, aside=_line)
                    _line(report)
                    reports.append(report)
            finally:
                state.save_push_sas(state_file, push.store)
            return reports

    reports = _run(impi, k, opc, op, bsf_url, state_file, verbose, job)
    wanted = "timed_out" if no_pkg3 else "done"
    _line({"ok": all(r.get("end") == wanted for r in reports), "sessions": len(reports)})


@app.command("push-start")
def push_start(naf_url: NafUrl, naf_fqdn: PushFqdn, bsf_url: BsfUrl, impi: Impi, k: K,
               opc: OptHex = None, op: OptHex = None,
               state_file: StateFile = Path("ue-state.json"), timeout: Timeout = 60.0,
               normal: Annotated[bool, typer.Option(
                   "--normal", help="normal GBA: bootstrap and send the B-TID")] = False,
               new_sa: Annotated[bool, typer.Option(
                   "--new-sa", help="do not name the SA held for this NAF")] = False,
               verbose: Verbose = False) -> None:
    """Embodiment 3: open a DM session with the Push-NAF (pkg1, no package 0) and take
    what it has queued; prints the session's report with "ok"."""
    from gba.ue.push import PushUe

    sas = state.load_push_sas(state_file)

    async def job(ue: GbaClient) -> dict[str, Any]:
        async with PushUe(ue, naf_url, naf_fqdn, trace=ue.trace, store=sas) as push:
            try:
                return await push.start_session(timeout, normal, reuse=not new_sa)
            finally:
                state.save_push_sas(state_file, push.store)

    report = _run(impi, k, opc, op, bsf_url, state_file, verbose, job)
    _line(report | {"ok": report.get("end") == "done"})


@app.command("push-pull")
def push_pull(naf_fqdn: PushFqdn, bsf_url: BsfUrl, impi: Impi, k: K,
              psk_host: Annotated[str, typer.Option("--psk-host")],
              psk_port: Annotated[int, typer.Option("--psk-port")],
              opc: OptHex = None, op: OptHex = None,
              state_file: StateFile = Path("ue-state.json"),
              wait: Annotated[float, typer.Option(help="long-poll seconds")] = 10.0,
              tls_suite: Annotated[str, typer.Option()] = "TLS_PSK_WITH_AES_128_CBC_SHA",
              verbose: Verbose = False) -> None:
    """Embodiment 4 without step 503: open PSK-TLS to the Push-NAF with the B-TID and
    collect the pushes waiting there."""
    from gba.ue.push import PushUe

    suite = ua_protocols.tls_suite(tls_suite)

    async def job(ue: GbaClient) -> dict[str, Any]:
        async with PushUe(ue, "http://unused", naf_fqdn, psk_host=psk_host,
                          psk_port=psk_port, trace=ue.trace) as push:
            return await push.pull_psk(suite, wait)

    report = _run(impi, k, opc, op, bsf_url, state_file, verbose, job)
    _line(report | {"ok": bool(report.get("payloads"))})

"""``gba ngn ...``: provisioning of the NGN flow's AuC (seed 001; docs/ngn.md §0).

``add-terminal`` stores a terminal's key Kc (or, with ``--opc``/``--op``, an AKA
terminal's K, OPc and AMF [P]); ``add-node`` stores an SP's (or a softswitch's) key. Both
work on the AuC's store file, found as ``gba hss add-subscriber`` finds the HSS's (access
to the file is the authorisation), and print JSON without key material.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from gba.cli.output import emit_json
from gba.errors import InvalidInput
from gba.hexutil import from_hex
from gba.store.auc import DEFAULT_AMF, AucStore, Node, Terminal, TerminalKind

app = typer.Typer(help="NGN key distribution: AuC provisioning (terminals and nodes).",
                  no_args_is_help=True)

ConfigOpt = Annotated[Path, typer.Option("--config", help="network TOML file")]
FunctionOpt = Annotated[str | None, typer.Option(
    "--function", help="which auc function (needed when the file has several)")]
IdOpt = Annotated[str, typer.Option("--id", help="ID_c or ID_sp (UTF-8, 1..255 octets)")]
KOpt = Annotated[str, typer.Option("--k", help="hex, 16 octets")]


def _store(config_file: Path, function: str | None) -> AucStore:
    from gba.cli.network_cmd import _store_url
    from gba.store.auc import open_auc_store

    return open_auc_store(_store_url(config_file, "auc", function))


def terminal_from_fields(id_c: str, k: str, opc: str | None = None, op: str | None = None,
                         amf: str | None = None) -> Terminal:
    """A :class:`Terminal` from the command line's hex fields: AKA with OPc or OP (AMF
    default 8000), else NGN (Kc = K; ``--amf`` is then an error)."""
    from gba.crypto.milenage import opc_from_op

    key = from_hex(k, "K", 16)
    if opc is not None and op is not None:
        raise InvalidInput("give at most one of --opc and --op")
    if opc is None and op is None:
        if amf is not None:
            raise InvalidInput("--amf is for AKA terminals: give --opc or --op as well")
        return Terminal(id_c, key)
    opc_b = from_hex(opc, "OPc", 16) if opc is not None else opc_from_op(
        key, from_hex(op or "", "OP", 16))
    amf_b = from_hex(amf, "AMF", 2) if amf is not None else DEFAULT_AMF
    return Terminal(id_c, key, TerminalKind.AKA, opc_b, amf_b)


def terminal_view(t: Terminal) -> dict[str, Any]:
    """A JSON view without K or OPc."""
    view: dict[str, Any] = {"id": t.id_c, "kind": t.kind.value}
    if t.kind is TerminalKind.AKA:
        view.update(amf=t.amf.hex(), sqn=f"{t.sqn:012x}")
    return view


@app.command("add-terminal")
def add_terminal(config_file: ConfigOpt, id_c: IdOpt, k: KOpt,
                 opc: Annotated[str | None, typer.Option(help="hex, 16 octets: AKA")] = None,
                 op: Annotated[str | None, typer.Option(help="hex, 16 octets: AKA")] = None,
                 amf: Annotated[str | None, typer.Option(
                     help="hex, 2 octets (AKA only; default 8000)")] = None,
                 function: FunctionOpt = None) -> None:
    """Add or replace a terminal in the AuC's store (a replaced AKA terminal keeps its
    SQN); prints it without key material."""
    terminal = terminal_from_fields(id_c, k, opc, op, amf)

    async def put() -> dict[str, Any]:
        store = _store(config_file, function)
        try:
            return terminal_view(await store.put_terminal(terminal))
        finally:
            await store.close()

    emit_json(asyncio.run(put()))


@app.command("add-node")
def add_node(config_file: ConfigOpt, node_id: IdOpt, k: KOpt,
             function: FunctionOpt = None) -> None:
    """Add or replace a signalling proxy's or softswitch's key; prints it without key
    material."""
    node = Node(node_id, from_hex(k, "K", 16))

    async def put() -> None:
        store = _store(config_file, function)
        try:
            await store.put_node(node)
        finally:
            await store.close()

    asyncio.run(put())
    emit_json({"id": node.id, "kind": "node"})


@app.command("register")
def register(
    binding: Annotated[str, typer.Option(
        "--binding", help="sip_udp, sip_tcp, mgcp, h248 or ras")],
    target: Annotated[str, typer.Option(
        "--target", help="host:port of the SP or softswitch face to register with")],
    id_c: Annotated[str, typer.Option("--id", help="the terminal's ID_c")],
    id_sp: Annotated[str, typer.Option("--sp", help="ID_sp: the SP's identity, or the "
                                       "softswitch's when registering directly")],
    k: KOpt,
    domain: Annotated[str, typer.Option("--domain", help="the NGN domain")] = "",
    mechanisms: Annotated[str, typer.Option(
        "--mechanisms", help="the terminal's list, RFC 3329 style")
    ] = "tls;q=0.5, ipsec;q=0.3, app;q=0.1",
    refreshes: Annotated[int, typer.Option(
        "--refreshes", help="protected refreshes to send after registering")] = 1,
    timeout: Annotated[float, typer.Option("--timeout", help="seconds")] = 10.0,
) -> None:
    """Register as an NGN terminal with key distribution (seed 001 s1-s11) over one
    binding, then send protected refreshes under Kc,sp (no new key exchange). Prints one
    JSON object: ok, the chosen mechanism, a fingerprint of Kc,sp (never the key), the
    message flow, restarts and the refreshes' outcomes."""
    from gba.config import Address
    from gba.protocols import ngn
    from gba.protocols.ngn_bindings import FACES
    from gba.protocols.ngn_terminal import NgnTerminal
    from gba.ue.ngn import register_over

    if binding not in FACES:
        raise typer.BadParameter(f"one of {', '.join(FACES)}", param_hint="--binding")
    try:
        where = Address.parse(target, "--target")
        kc = from_hex(k, "--k", 16)
        mechs = ngn.parse_mechanisms(mechanisms)
        terminal = NgnTerminal(id_c, id_sp, kc, mechs)
    except (InvalidInput, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from None

    out = asyncio.run(register_over(binding, where, terminal, domain or where.host,
                                    refreshes=refreshes, timeout=timeout))
    emit_json(out)
    if not out["ok"]:
        raise typer.Exit(1)

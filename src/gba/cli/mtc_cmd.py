"""``gba mtc ...``: an MTC device on the command line (seed 004; docs/mtc.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from gba.cli.output import emit_json
from gba.crypto import aka
from gba.crypto.milenage import opc_from_op
from gba.errors import InvalidInput
from gba.hexutil import from_hex
from gba.protocols import mtc
from gba.ue import state

app = typer.Typer(help="An MTC device: small data through the MTC-IWF on fresh keys.",
                  no_args_is_help=True)


@app.command()
def send(
    bsf_url: Annotated[str, typer.Option("--bsf-url")],
    iwf_url: Annotated[str, typer.Option("--iwf-url", help="the MTC-IWF's HTTP site")],
    iwf_fqdn: Annotated[str, typer.Option("--iwf-fqdn")],
    imsi: Annotated[str, typer.Option()],
    group_id: Annotated[str, typer.Option("--group-id")],
    key_id: Annotated[int, typer.Option("--key-id", help="the group key's identifier")],
    k: Annotated[str, typer.Option("--k", help="the group key, hex")],
    data: Annotated[list[str], typer.Option("--data", help="one transmission each")],
    opc: Annotated[str | None, typer.Option(help="hex")] = None,
    op: Annotated[str | None, typer.Option(help="hex")] = None,
    small_data: Annotated[str, typer.Option(
        "--small-data", help="the capability the request claims: send, receive, both, "
        "none")] = "both",
    server: Annotated[str | None, typer.Option(
        "--as", help="the application server (an MTC-IWF's name for it)")] = None,
    mcc: str = "001", mnc: str = "01",
    state_file: Annotated[Path, typer.Option("--state", help="the USIM's SQN array")] =
    Path("mtc-state.json"),
) -> None:
    """Send each --data as one transmission: an initialisation request, AKA with the
    group's vector, K_IWF and the small-data keys, the sealed data; prints a JSON line
    per transmission (B-TID, key fingerprints, the downlink) and a last one with "ok"."""
    from gba.ue.mtc import MtcDevice, view

    caps = {"none": mtc.Capability.NONE, "send": mtc.Capability.SEND,
            "receive": mtc.Capability.RECEIVE,
            "both": mtc.Capability.SEND | mtc.Capability.RECEIVE}.get(small_data)
    if caps is None:
        raise typer.BadParameter("send, receive, both or none", param_hint="--small-data")
    key = from_hex(k, "K", 16)
    if (opc is None) == (op is None):
        raise InvalidInput("give exactly one of --opc and --op")
    opc_b = from_hex(opc, "OPc", 16) if opc else opc_from_op(key, from_hex(op or "", "OP", 16))
    impi = mtc.device_impi(imsi, mcc, mnc)
    arr, _ = state.load(state_file, impi)

    async def run() -> list[dict[str, Any]]:
        out = []
        async with MtcDevice(imsi, group_id, key_id, aka.Usim(key, opc_b, arr), caps,
                             bsf_url, iwf_url, iwf_fqdn, mcc=mcc, mnc=mnc) as device:
            try:
                for text in data:
                    t = await device.transmit(text.encode("utf-8"), server)
                    out.append(view(t))
                    emit_json(out[-1])
            finally:
                state.save(state_file, arr, None)
        return out

    sent = asyncio.run(run())
    emit_json({"ok": len(sent) == len(data), "transmissions": len(sent)})

"""``gba serve``, ``gba hss ...``, ``gba bsf ...`` and ``gba lab up|down``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gba.cli.output import emit_json

if TYPE_CHECKING:
    from gba.store.base import SubscriberStore

ConfigOpt = Annotated[Path, typer.Option("--config", help="network TOML file")]
OptConfig = Annotated[Path | None, typer.Option("--config", help="network TOML file")]

hss_app = typer.Typer(help="HSS provisioning (works on a running or stopped HSS).",
                      no_args_is_help=True)
bsf_app = typer.Typer(help="BSF operations on its bootstrapping contexts.", no_args_is_help=True)
lab_app = typer.Typer(help="Start/stop a lab: every network function of a config, one "
                      "process each.",
                      no_args_is_help=True)


FunctionOpt = Annotated[str | None, typer.Option(
    "--function", help="which function of that kind (needed when the file has several)")]


def serve(function: Annotated[str, typer.Argument(help="a function's name in the config "
                                                  "(hss, bsf, naf in the sample)")],
          config_file: ConfigOpt) -> None:
    """Run one network function of the config in the foreground until SIGTERM/SIGINT."""
    from gba.nf import registry
    from gba.nf.common import setup_logging
    from gba.nf.services import serve as run

    setup_logging(function)
    asyncio.run(run(function, registry.load(config_file)))


def _store_url(config_file: Path, kind: str, function: str | None) -> str:
    from gba.nf import registry

    cfg = registry.load(config_file)
    store: str = registry.config_of(cfg, cfg.only(kind, function).name).store
    return cfg.store_url(store)


def _subscriber_store(config_file: Path, function: str | None = None) -> SubscriberStore:
    from gba.store.factory import open_subscriber_store

    return open_subscriber_store(_store_url(config_file, "hss", function))


@hss_app.command("add-subscriber")
def add_subscriber(
    config_file: ConfigOpt,
    impi: Annotated[str, typer.Option(help="private identity")],
    k: Annotated[str, typer.Option(help="hex, 16 octets")],
    opc: Annotated[str | None, typer.Option(help="hex, 16 octets")] = None,
    op: Annotated[str | None, typer.Option(help="hex, 16 octets")] = None,
    imsi: Annotated[str | None, typer.Option()] = None,
    sqn: Annotated[str | None, typer.Option(help="hex, 6 octets")] = None,
    amf: Annotated[str | None, typer.Option(help="hex, 2 octets")] = None,
    guss: Annotated[Path | None, typer.Option(help="GUSS XML file (TS 29.109 Annex A)")] = None,
    function: FunctionOpt = None,
) -> None:
    """Add or replace a subscriber in the HSS's store file (access to the file is the
    authorisation); prints it without key material. As over REST, SQN only moves forward
    (TS 33.102 Annex C.3): without --sqn a replaced subscriber keeps its SQN, and an --sqn
    below the stored one is refused."""
    from gba.nf.provisioning import subscriber_from_fields, subscriber_view

    guss_text = guss.read_text(encoding="utf-8") if guss is not None else None
    sub = subscriber_from_fields(impi, k, opc=opc, op=op, imsi=imsi, sqn=sqn, amf=amf,
                                 guss=guss_text)

    async def put() -> dict[str, object]:
        store = _subscriber_store(config_file, function)
        try:
            return subscriber_view(await store.provision_subscriber(sub, keep_sqn=sqn is None))
        finally:
            await store.close()

    emit_json(asyncio.run(put()))


@hss_app.command("list")
def list_subscribers(config_file: ConfigOpt, function: FunctionOpt = None) -> None:
    """List subscribers (no keys)."""
    from gba.nf.provisioning import subscriber_view

    async def run() -> list[dict[str, object]]:
        store = _subscriber_store(config_file, function)
        try:
            return [subscriber_view(s) for s in await store.list_subscribers()]
        finally:
            await store.close()

    for row in asyncio.run(run()):
        emit_json(row)


@bsf_app.command("revoke")
def revoke(config_file: ConfigOpt, btid: Annotated[str, typer.Option(help="B-TID")],
           function: FunctionOpt = None) -> None:
    """Delete a bootstrapping context: a NAF asking for it over Zn now gets 5403, so the UE
    must bootstrap again there; a NAF that already cached Ks_NAF keeps it until its expiry
    (TS 33.220 §4.5.3: the key lifetime bounds its use)."""
    from gba.store.factory import open_bsf_store

    async def run() -> bool:
        store = open_bsf_store(_store_url(config_file, "bsf", function))
        try:
            return await store.delete_context(btid)
        finally:
            await store.close()

    emit_json({"btid": btid, "revoked": asyncio.run(run())})


@bsf_app.command("purge")
def purge(config_file: ConfigOpt, function: FunctionOpt = None) -> None:
    """Remove expired challenges and contexts now."""
    from gba.clock import utc_now
    from gba.store.factory import open_bsf_store

    async def run() -> int:
        store = open_bsf_store(_store_url(config_file, "bsf", function))
        try:
            return await store.purge_expired(utc_now())
        finally:
            await store.close()

    emit_json({"purged": asyncio.run(run())})


@lab_app.command("up")
def lab_up(dir: Annotated[Path, typer.Option("--dir", help="lab directory")] = Path("lab"),
           config_file: OptConfig = None) -> None:
    """Start every network function of the config in the background; write DIR/lab.json."""
    from gba.lab import lab

    info = lab.up(dir, config_file)
    typer.echo(json.dumps(info, indent=2))


@lab_app.command("down")
def lab_down(dir: Annotated[Path, typer.Option("--dir", help="lab directory")] = Path("lab")
             ) -> None:
    """Stop the lab's processes."""
    from gba.lab import lab

    emit_json({"stopped": lab.down(dir)})

"""``gba serve``, ``gba hss ...``, ``gba bsf ...`` and ``gba lab up|down``."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gba.cli.output import emit_json

if TYPE_CHECKING:
    from gba.capture.events import Sink
    from gba.config import NetworkConfig
    from gba.store.base import SubscriberStore

ConfigOpt = Annotated[Path, typer.Option("--config", help="network TOML file")]
OptConfig = Annotated[Path | None, typer.Option("--config", help="network TOML file")]

hss_app = typer.Typer(help="HSS provisioning (works on a running or stopped HSS).",
                      no_args_is_help=True)
bsf_app = typer.Typer(help="BSF operations on its bootstrapping contexts.", no_args_is_help=True)
naf_app = typer.Typer(help="NAF records: charging records of roaming users.",
                      no_args_is_help=True)
lab_app = typer.Typer(help="Start/stop a lab: every network function of a config, one "
                      "process each.",
                      no_args_is_help=True)


FunctionOpt = Annotated[str | None, typer.Option(
    "--function", help="which function of that kind (needed when the file has several)")]
CaptureOpt = Annotated[Path | None, typer.Option(
    "--capture", envvar="GBA_CAPTURE",
    help="record what the function sends and receives to this pcapng file")]
DecryptedOpt = Annotated[Path | None, typer.Option(
    "--decrypted", envvar="GBA_CAPTURE_DECRYPTED",
    help="with --capture: also write what was seen above TLS to this pcapng file (keys "
         "in clear: owner-only; `gba trace` reads it to show Diameter inside TLS)")]
KeylogOpt = Annotated[Path | None, typer.Option(
    "--keylog", envvar="GBA_KEYLOG",
    help="with --capture: the TLS key log (NSS format, owner-only; default: the capture "
         "file with suffix .keys)")]


def serve(function: Annotated[str, typer.Argument(help="a function's name in the config "
                                                  "(hss, bsf, naf in the sample)")],
          config_file: ConfigOpt, capture: CaptureOpt = None, keylog: KeylogOpt = None,
          decrypted: DecryptedOpt = None,
          worker: Annotated[int, typer.Option(
              "--worker", hidden=True, help="a BSF's or NAF's worker K (1..workers-1), "
              "started by worker 0 (gba.nf.workers)")] = 0) -> None:
    """Run one network function of the config in the foreground until SIGTERM/SIGINT;
    with --capture, record its traffic (:mod:`gba.capture.tap`)."""
    from gba.nf import registry
    from gba.nf.common import setup_logging
    from gba.nf.services import serve as run
    from gba.observe.settings import log_settings

    setup_logging(function)
    topology = registry.load(config_file)
    setup_logging(function, log_settings(topology, function))  # its [logging] tables
    if worker:  # no metrics site, no capture: worker 0 has them
        from gba.nf.workers import serve_worker  # by the function's kind: BSF or NAF

        asyncio.run(serve_worker(topology, function, worker))
        return
    sinks = _sinks(topology, function, capture, decrypted)
    if not sinks:
        asyncio.run(run(function, topology))
        return
    from gba.capture import layout, tap

    tap.run(run(function, topology), recorder=function, sinks=sinks,
            keylog=(keylog or layout.keylog_path(capture)) if capture is not None else None)


def _sinks(topology: NetworkConfig, function: str, capture: Path | None,
           decrypted: Path | None = None) -> list[Sink]:
    """What the tap feeds: the pcapng part with --capture, and the recent messages of
    the status page when the function serves /status.json (``recent_messages`` > 0)."""
    from gba.nf.registry import metrics_endpoint
    from gba.observe.metrics import process_metrics
    from gba.observe.settings import metrics_settings

    sinks: list[Sink] = []
    if capture is not None:
        from gba.capture.pcapng_sink import PcapngSink

        sinks.append(PcapngSink(capture, function))
        if decrypted is not None:
            sinks.append(PcapngSink(decrypted, function, layer="decrypted"))
    size = metrics_settings(topology.function(function).section).recent_messages
    status = metrics_endpoint(topology, function)
    if status is not None and size > 0 and capture is None:
        from gba.capture.tap import CaptureError, check_hooks

        try:
            check_hooks()
        except CaptureError as exc:  # the status page's flows are a nicety: serve without
            logging.getLogger("gba.capture").warning(
                "%s: no recent messages for the status page: %s", function, exc)
            return sinks
    if status is not None and size > 0:
        from gba.capture.recent import RecentMessages

        recent = RecentMessages(size, ignore=frozenset({(status.host, status.port)}))
        process_metrics().function(function).status_parts["recent"] = recent.snapshot
        sinks.append(recent)
    return sinks


def _store_url(config_file: Path, kind: str, function: str | None,
               also: tuple[str, ...] = ()) -> str:
    """The store of the one function of *kind* (or of *also*, kinds sharing its store
    layout: a ``bmsc`` is a NAF), or of the function named."""
    from gba.errors import ConfigError
    from gba.nf import registry

    cfg = registry.load(config_file)
    if function is not None and cfg.function(function).kind in also:
        name = function
    elif function is None and also:
        found = [f for k in (kind, *also) for f in cfg.of_kind(k)]
        if len(found) != 1:
            names = ", ".join(f.name for f in found) or "none"
            raise ConfigError(f"{cfg.path} has {len(found)} such functions ({names}): "
                              "name one with --function")
        name = found[0].name
    else:
        name = cfg.only(kind, function).name
    store: str = registry.config_of(cfg, name).store
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


@hss_app.command("add-mtc-group")
def add_mtc_group(
    config_file: ConfigOpt,
    group_id: Annotated[str, typer.Option("--group-id", help="the group identity, "
                                          "name@domain")],
    key_id: Annotated[int, typer.Option("--key-id", help="the identifier of the group key "
                                        "given now (devices name it in their requests)")],
    k: Annotated[str, typer.Option(help="the group key, hex, 16 octets")],
    opc: Annotated[str | None, typer.Option(help="hex, 16 octets")] = None,
    op: Annotated[str | None, typer.Option(help="hex, 16 octets")] = None,
    amf: Annotated[str | None, typer.Option(help="hex, 2 octets")] = None,
    function: FunctionOpt = None,
) -> None:
    """Add an MTC device group, or give it a new group key (seed 004; docs/mtc.md §1).
    Its vectors come from the group key under one SQN for the group, which a new key
    keeps; prints the group without key material."""
    from gba.nf.provisioning import subscriber_from_fields
    from gba.store.hss import MtcGroup

    if not 0 <= key_id <= 0xFFFFFFFF:
        raise typer.BadParameter("0 to 2**32-1", param_hint="--key-id")
    key = subscriber_from_fields(group_id, k, opc=opc, op=op, amf=amf)

    async def put() -> dict[str, object]:
        store = _subscriber_store(config_file, function)
        try:
            stored = await store.provision_mtc_group(MtcGroup(group_id, key_id), key)
        finally:
            await store.close()
        return {"group_id": group_id, "key_id": key_id, "sqn": f"{stored.sqn:012x}"}

    emit_json(asyncio.run(put()))


@hss_app.command("add-mtc-device")
def add_mtc_device(
    config_file: ConfigOpt,
    imsi: Annotated[str, typer.Option(help="the device's IMSI")],
    group_id: Annotated[str, typer.Option("--group-id", help="its group")],
    small_data: Annotated[str, typer.Option(
        "--small-data", help="the subscription's small-data capability: send, receive, "
        "both or none")] = "both",
    function: FunctionOpt = None,
) -> None:
    """Add an MTC device to a group, with its subscription's small-data capability."""
    from gba.store.hss import MtcDevice

    capability = {"none": 0, "send": 1, "receive": 2, "both": 3}.get(small_data)
    if capability is None:
        raise typer.BadParameter("send, receive, both or none", param_hint="--small-data")
    if not imsi.isdigit() or not 6 <= len(imsi) <= 15:
        raise typer.BadParameter("6 to 15 digits", param_hint="--imsi")

    async def put() -> None:
        store = _subscriber_store(config_file, function)
        try:
            await store.put_mtc_device(MtcDevice(imsi, group_id, capability))
        finally:
            await store.close()

    asyncio.run(put())
    emit_json({"imsi": imsi, "group_id": group_id, "small_data": small_data})


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


@naf_app.command("charging")
def charging(config_file: ConfigOpt, function: FunctionOpt = None,
             limit: Annotated[int, typer.Option(help="at most this many, newest")] = 1000
             ) -> None:
    """List the charging records of a server of roaming users, oldest first, one JSON
    object per line: the identity the home network supplied, its realm, the NAF_Id, the
    case and the time (docs/roaming.md §3). No key material, no B-TID."""
    from gba.store.factory import open_naf_store

    async def run() -> list[dict[str, object]]:
        store = open_naf_store(_store_url(config_file, "naf", function, ("bmsc",)))
        try:
            records = await store.charging_records(limit)
        finally:
            await store.close()
        return [{"time": r.time.isoformat(), "case": r.case, "server": r.server,
                 "naf_id": r.naf_id.hex(), "home_realm": r.home_realm, "user": r.user,
                 "key_kind": r.key_kind, "key_expiry": r.key_expiry.isoformat(),
                 "session": r.session} for r in records]

    for row in asyncio.run(run()):
        emit_json(row)


@lab_app.command("up")
def lab_up(dir: Annotated[Path, typer.Option("--dir", help="lab directory")] = Path("lab"),
           config_file: OptConfig = None,
           capture: Annotated[Path | None, typer.Option(
               "--capture", help="record every function's traffic; `gba lab down` merges "
               "it into this pcapng file (parts in FILE's stem + .parts/), with the TLS key "
               "log beside it: FILE with suffix .keys (capture.pcapng -> capture.keys), "
               "for Wireshark's tls.keylog_file")] = None,
           with_: Annotated[str | None, typer.Option(
               "--with", help="roaming: run the two-network roaming lab (home network in "
               "DIR/home, visited in DIR/visited; docs/roaming.md) instead of --config; "
               "push: the lab plus a Push-NAF (docs/push.md); mtc: the lab plus an "
               "MTC-IWF and an application server (docs/mtc.md); ngn: the lab plus an AuC, "
               "a softswitch and a signalling proxy (docs/ngn.md)")] = None,
           mtc_subkeys: Annotated[str, typer.Option(
               "--mtc-subkeys", help="with --with mtc: small-data keys from K_IWF, none, "
               "enc, int or both")] = "both",
           mtc_reuse_on: Annotated[str, typer.Option(
               "--mtc-reuse-on", help="with --with mtc: when a group's vector serves "
               "another device, kiwf, enc_int or off")] = "kiwf",
           capability_source: Annotated[str, typer.Option(
               "--capability-source", help="with --with mtc: the HSS takes small-data "
               "capability from the request, the subscription or both")] = "both",
           gpi_placement: Annotated[str, typer.Option(
               "--gpi-placement", help="with --with push: where package 0 carries the GPI, "
               "digest, future-use or trigger")] = "trigger",
           pkg3_timeout: Annotated[int, typer.Option(
               "--pkg3-timeout", help="with --with push: seconds the Push-NAF waits for "
               "pkg3")] = 30,
           skip_ue_check: Annotated[bool, typer.Option(
               "--skip-ue-check", help="with --with push: the Push-NAF omits the UE check "
               "under normal GBA")] = False,
           key_derivation: Annotated[bool, typer.Option(
               "--key-derivation", help="with --with push: SA keys derived from "
               "Ks_NAF")] = False,
           roaming_key: Annotated[str, typer.Option(
               "--roaming-key", help="with --with roaming: what the home BSF gives the "
               "visited network, derived (Ks_NAF for the server's NAF_Id) or ks")] = "derived",
           roaming_aaa: Annotated[str, typer.Option(
               "--roaming-aaa", help="with --with roaming: the home AAA as a function of its "
               "own (standalone) or inside the home BSF (colocated)")] = "standalone",
           roaming_next_identity: Annotated[str, typer.Option(
               "--roaming-next-identity", help="with --with roaming: the identity case D's "
               "server has the UE use after EAP-AKA, btid or permanent")] = "btid"
           ) -> None:
    """Start every network function of the config in the background; write DIR/lab.json."""
    from gba.lab import lab

    if with_ == "mtc":
        if config_file is not None or capture is not None:
            raise typer.BadParameter("--with mtc takes neither --config nor --capture",
                                     param_hint="--with")
        from gba.lab import mtc as mtc_lab

        info = mtc_lab.up(dir, subkeys=mtc_subkeys, reuse_on=mtc_reuse_on,
                          capability_source=capability_source)
        typer.echo(json.dumps(info, indent=2))
        typer.echo(f"status page: {info['status_url']}", err=True)
        return
    if with_ == "ngn":
        if config_file is not None or capture is not None:
            raise typer.BadParameter("--with ngn takes neither --config nor --capture",
                                     param_hint="--with")
        from gba.lab import ngn as ngn_lab

        info = ngn_lab.up(dir)
        typer.echo(json.dumps(info, indent=2))
        typer.echo(f"status page: {info['status_url']}", err=True)
        return
    if with_ == "push":
        if config_file is not None or capture is not None:
            raise typer.BadParameter("--with push takes neither --config nor --capture",
                                     param_hint="--with")
        if gpi_placement not in ("digest", "future-use", "trigger"):
            raise typer.BadParameter(f"{gpi_placement!r}: digest, future-use or trigger",
                                     param_hint="--gpi-placement")
        from gba.lab import push

        info = push.up(dir, placement=gpi_placement, pkg3_timeout_s=pkg3_timeout,
                       skip_ue_check=skip_ue_check, key_derivation=key_derivation)
        typer.echo(json.dumps(info, indent=2))
        typer.echo(f"status page: {info['status_url']}", err=True)
        return
    if with_ is not None:
        if with_ != "roaming":
            raise typer.BadParameter(f"{with_!r}: roaming, push, mtc or ngn",
                                     param_hint="--with")
        if config_file is not None or capture is not None:
            raise typer.BadParameter("--with roaming takes neither --config nor --capture",
                                     param_hint="--with")
        from gba.lab import roaming

        if roaming_key not in ("derived", "ks"):
            raise typer.BadParameter(f"{roaming_key!r}: derived or ks",
                                     param_hint="--roaming-key")
        if roaming_aaa not in ("standalone", "colocated"):
            raise typer.BadParameter(f"{roaming_aaa!r}: standalone or colocated",
                                     param_hint="--roaming-aaa")
        if roaming_next_identity not in ("btid", "permanent"):
            raise typer.BadParameter(f"{roaming_next_identity!r}: btid or permanent",
                                     param_hint="--roaming-next-identity")
        info = roaming.up(dir, key=roaming_key, colocated_aaa=roaming_aaa == "colocated",
                          next_identity=roaming_next_identity)
        typer.echo(json.dumps(info, indent=2))
        typer.echo(f"status pages: {info['status_url']} (home), "
                   f"{info['roaming']['visited']['status_url']} (visited)", err=True)
        return
    info = lab.up(dir, config_file, capture=capture)
    typer.echo(json.dumps(info, indent=2))
    typer.echo(f"status page: {info['status_url']}", err=True)


@lab_app.command("down")
def lab_down(dir: Annotated[Path, typer.Option("--dir", help="lab directory")] = Path("lab")
             ) -> None:
    """Stop the lab's processes."""
    from gba.lab import lab

    emit_json({"stopped": lab.down(dir)})


@lab_app.command("status-serve", hidden=True)
def lab_status_serve(dir: Annotated[Path, typer.Option("--dir", help="lab directory")],
                     listen: Annotated[str, typer.Option(help="loopback host:port")]) -> None:
    """Serve the lab's status page in the foreground (``gba lab up`` starts it)."""
    from gba.config import Address
    from gba.lab import status
    from gba.nf.common import setup_logging

    setup_logging(status.STATUS_PAGE)
    status.serve(dir, Address.parse(listen, "--listen"))

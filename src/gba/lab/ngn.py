"""``gba lab up --with ngn``: the one-network lab plus the NGN key-distribution functions
(seed 001; docs/ngn.md §4): an AuC, a softswitch and a signalling proxy, each face (SIP over
UDP and TCP, MGCP, H.248, H.323 RAS) on its own port.

The softswitch's and the SP's keys are drawn here, written owner-only beside the lab and
provisioned into the AuC's store. lab.json gains ``ngn_domain`` and ``ngn_sip_udp``,
``ngn_sip_tcp``, ``ngn_mgcp``, ``ngn_h248``, ``ngn_ras``: the softswitch's faces, where a
terminal registers directly (claims 1-8; an outside SIP UA with AKA support registers
there), and ``ngn``: ``softswitch`` and ``proxy`` (the faces of each: register through
the SP for claims 9-16), their identities, ``auc_config`` and ``auc_function`` (for
``gba ngn add-terminal``).
"""

from __future__ import annotations

import asyncio
import json
import os
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from gba import config
from gba.lab import lab
from gba.nf.ngn_service import write_key_file
from gba.protocols.ngn_bindings import FACES

AUC = "auc"
SOFTSWITCH = "softswitch"
PROXY = "sp"
DOMAIN = "ngn.example.org"
SOFTSWITCH_ID = "ss.ngn.example.org"
PROXY_ID = "sp.ngn.example.org"


def topology(lab_dir: Path, *, forward_mechanisms: bool = False, max_failures: int = 3,
             clock_skew_s: int = 30, ss_mechanisms: tuple[str, ...] = ("tls", "ipsec", "app"),
             sp_mechanisms: tuple[str, ...] = ("tls", "ipsec", "app"),
             faces: tuple[str, ...] = FACES) -> dict[str, Any]:
    raw = tomllib.loads(Path(config.SAMPLE_CONFIG).read_text(encoding="utf-8"))
    functions = raw["functions"]
    realm = raw["networks"]["default"]["realm"]
    functions[AUC] = {"kind": "auc", "network": "default",
                      "diameter_host": f"auc.{realm}", "diameter": "127.0.0.1:0",
                      "store": "auc.sqlite", "tls": False,
                      "softswitch_hosts": [f"softswitch.{realm}"]}
    listen = {face: "127.0.0.1:0" for face in faces}
    functions[SOFTSWITCH] = {
        "kind": "ngn_softswitch", "network": "default", "id": SOFTSWITCH_ID,
        "key_file": str(lab_dir / "ngn-keys" / "softswitch.key"), "domain": DOMAIN,
        "auc": AUC, "diameter_host": f"softswitch.{realm}", "tls": False,
        "max_failures": max_failures, "clock_skew_s": clock_skew_s,
        "mechanisms": list(ss_mechanisms), **listen}
    functions[PROXY] = {
        "kind": "ngn_proxy", "network": "default", "id": PROXY_ID,
        "key_file": str(lab_dir / "ngn-keys" / "sp.key"), "domain": DOMAIN,
        "softswitch": SOFTSWITCH, "forward_mechanisms": forward_mechanisms,
        "clock_skew_s": clock_skew_s, "mechanisms": list(sp_mechanisms), **listen}
    return raw


async def _provision_nodes(store_url: str, keys: dict[str, bytes]) -> None:
    from gba.store.auc import Node, open_auc_store

    store = open_auc_store(store_url)
    try:
        for ident, key in keys.items():
            await store.put_node(Node(ident, key))
    finally:
        await store.close()


def up(lab_dir: Path, *, forward_mechanisms: bool = False, max_failures: int = 3,
       clock_skew_s: int = 30, faces: tuple[str, ...] = FACES,
       timeout: float = 30.0) -> dict[str, Any]:
    """Start the NGN lab; returns (and writes) lab.json."""
    lab_dir = lab_dir.resolve()
    lab_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    keys = {SOFTSWITCH_ID: os.urandom(16), PROXY_ID: os.urandom(16)}
    write_key_file(lab_dir / "ngn-keys" / "softswitch.key", keys[SOFTSWITCH_ID])
    write_key_file(lab_dir / "ngn-keys" / "sp.key", keys[PROXY_ID])
    source = lab_dir / "ngn-network.toml"
    raw = topology(lab_dir, forward_mechanisms=forward_mechanisms, max_failures=max_failures,
                   clock_skew_s=clock_skew_s, faces=faces)
    source.write_text(tomli_w.dumps(raw), encoding="utf-8")
    info: dict[str, Any] = dict(lab.up(lab_dir, source, timeout=timeout))
    resolved = tomllib.loads(Path(info["config"]).read_text(encoding="utf-8"))
    store = config.Topology(Path(info["config"]), {}, {}).store_url(
        resolved["functions"][AUC]["store"])
    asyncio.run(_provision_nodes(store, keys))
    ss = info["functions"][SOFTSWITCH]["endpoints"]
    sp = info["functions"][PROXY]["endpoints"]
    info["ngn_domain"] = DOMAIN
    for face in faces:
        info[f"ngn_{face}"] = ss[face]
    info["ngn"] = {
        "softswitch": {"id": SOFTSWITCH_ID, **{face: ss[face] for face in faces}},
        "proxy": {"id": PROXY_ID, **{face: sp[face] for face in faces}},
        "auc_config": info["config"], "auc_function": AUC,
        "forward_mechanisms": forward_mechanisms, "max_failures": max_failures,
        "clock_skew_s": clock_skew_s}
    (lab_dir / lab.LAB_JSON).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info

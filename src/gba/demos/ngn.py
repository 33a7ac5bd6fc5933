"""``gba demo ngn``: NGN key distribution during registration (seed 001; docs/ngn.md).

Starts the NGN lab (AuC, softswitch, signalling proxy as processes), provisions a terminal
per case, and registers it over each binding -- SIP over UDP and TCP, MGCP, H.248, H.323
RAS -- once directly with the softswitch (claims 1-8) and once through the signalling
proxy (claims 9-16), then sends a protected refresh under Kc,sp. Each case prints the
terminal's message flow; --json has one entry per case (``<face>/<topology>``).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from gba.config import Address
from gba.demos import Step, lab_demo
from gba.lab import ngn as ngn_lab
from gba.protocols import ngn
from gba.protocols.ngn_bindings import FACES
from gba.protocols.ngn_terminal import NgnTerminal
from gba.store.auc import Terminal, TerminalKind, open_auc_store
from gba.ue.ngn import register_over

TOPOLOGIES = ("direct", "proxy")
MECHANISMS = "app;q=0.1, ipsec;q=0.3, tls;q=0.5"
CASES = tuple(f"{face}/{topology}" for face in FACES for topology in TOPOLOGIES)


async def _provision(store_url: str, terminals: dict[str, bytes]) -> None:
    store = open_auc_store(store_url)
    try:
        for id_c, kc in terminals.items():
            await store.put_terminal(Terminal(id_c, kc, TerminalKind.NGN))
    finally:
        await store.close()


def _auc_store(info: dict[str, Any]) -> str:
    import tomllib

    from gba.config import Topology

    path = Path(info["config"])
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    return Topology(path, {}, {}).store_url(raw["functions"][ngn_lab.AUC]["store"])


async def _cases(info: dict[str, Any], steps: list[Step]) -> dict[str, dict[str, Any]]:
    keys = {f"{face}.{topology}@{ngn_lab.DOMAIN}": os.urandom(16)
            for face in FACES for topology in TOPOLOGIES}
    await _provision(_auc_store(info), keys)
    cases: dict[str, dict[str, Any]] = {}
    for face in FACES:
        for topology in TOPOLOGIES:
            node = info["ngn"]["softswitch" if topology == "direct" else "proxy"]
            id_c = f"{face}.{topology}@{ngn_lab.DOMAIN}"
            terminal = NgnTerminal(id_c, node["id"], keys[id_c],
                                   ngn.parse_mechanisms(MECHANISMS))
            start = time.time()
            report = await register_over(face, Address.parse(node[face], face), terminal,
                                         ngn_lab.DOMAIN, refreshes=1)
            arrow = {"sent": "->", "received": "<-"}
            lines = [f"{arrow.get(s['direction'], '  ')} {s['step']:<13} {s['message']}"
                     for s in report["flow"]]
            lines.append(f"mechanism {report.get('mechanism')}, Kc,sp fingerprint "
                         f"{report.get('key_fingerprint')}, refresh accepted "
                         f"{report.get('refreshes')}")
            name = f"{face}/{topology}"
            path = "through the SP" if topology == "proxy" else "directly"
            steps.append(Step(f"register over {face} ({path})", bool(report["ok"]), lines,
                              start, time.time()))
            cases[name] = {"ok": report["ok"], "mechanism": report.get("mechanism"),
                           "messages": len(report["flow"]),
                           "refreshes": report.get("refreshes"),
                           "error": report.get("error")}
    return cases


def run(lab_dir: Path | None = None) -> tuple[list[Step], dict[str, dict[str, Any]]]:
    cases: dict[str, dict[str, Any]] = {}

    def body(info: dict[str, Any], _tmp: Path, steps: list[Step]) -> None:
        cases.update(asyncio.run(_cases(info, steps)))

    steps = lab_demo("gba-demo-ngn-", "start AuC, softswitch and signalling proxy",
                     ngn_lab.up, body, "register the terminals", lab_dir)
    return steps, cases

"""The core GBA network end to end: HSS, BSF and NAF as separate processes on loopback.

TS 33.220 §4.5.2 and §4.5.3: a lab is started (``gba lab up``), a subscriber provisioned,
a UE bootstraps over Ub (the BSF fetching the vector over Zh), then reaches the NAF over
Ua with HTTP Digest and with PSK-TLS (the NAF fetching Ks_NAF over Zn), and finally a UE
whose USIM is ahead of the HSS shows the synchronisation-failure path (AUTS over Ub,
resynchronisation over Zh).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from gba.crypto import aka
from gba.demos import Step
from gba.lab import lab
from gba.lab.subscribers import DEMO_K, DEMO_OPC
from gba.nf import registry
from gba.nf.provisioning import subscriber_from_fields
from gba.store.factory import open_subscriber_store
from gba.ue.client import GbaClient

IMPI = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"


async def _provision(cfg_path: str) -> None:
    cfg = registry.load(cfg_path)
    store = open_subscriber_store(cfg.store_url(cfg.hss.store))
    try:
        await store.put_subscriber(subscriber_from_fields(
            IMPI, DEMO_K.hex(), opc=DEMO_OPC.hex(), imsi="001010000000001"))
    finally:
        await store.close()


async def _flow(info: dict[str, Any], steps: list[Step]) -> None:
    lines: list[str] = []
    usim = aka.Usim(DEMO_K, DEMO_OPC)
    async with GbaClient(IMPI, usim, info["bsf_url"], trace=lines.append) as ue:
        start = time.time()
        try:
            boot = await ue.bootstrap()
            steps.append(Step("UE bootstraps over Ub (Digest AKA; BSF asks HSS over Zh)", True,
                              [*lines, f"Ks held by UE and BSF; B-TID {boot.btid}"],
                              start, time.time()))
        except Exception as exc:  # report, do not crash the demo
            steps.append(Step("UE bootstraps over Ub", False, [*lines, f"error: {exc}"],
                              start, time.time()))
            return
        lines = []
        start = time.time()
        url = info["naf_url"] + "/"
        try:
            r = await ue.fetch_digest(url, info["naf_fqdn"])
            ok = r.status == 200
            lines.append(f"NAF body: {r.body.decode(errors='replace').strip()}")
        except Exception as exc:
            ok = False
            lines.append(f"error: {exc}")
        steps.append(Step("Ua with HTTP Digest (NAF fetches Ks_NAF over Zn)", ok, lines,
                          start, time.time()))
        lines = []
        start = time.time()
        try:
            raw = await ue.fetch_psk_tls(info["naf_host"], info["naf_psk_tls_port"],
                                         info["naf_fqdn"])
            ok = raw.startswith(b"HTTP/1.1 200")
            lines.append("NAF answered: " + raw.split(b"\r\n", 1)[0].decode(errors="replace"))
        except Exception as exc:
            ok = False
            lines.append(f"error: {exc}")
        steps.append(Step("Ua with PSK-TLS (PSK = Ks_NAF for 01 00 01 00 8C)", ok, lines,
                          start, time.time()))

    lines = []
    start = time.time()
    ahead = aka.Usim(DEMO_K, DEMO_OPC, aka.SqnArray(seq=[5000] * aka.IND_COUNT))
    async with GbaClient(IMPI, ahead, info["bsf_url"], trace=lines.append) as ue2:
        try:
            boot = await ue2.bootstrap()
            ok = any("synchronisation failure" in line for line in lines)
            lines.append(f"bootstrapped after resync: B-TID {boot.btid}")
        except Exception as exc:
            ok = False
            lines.append(f"error: {exc}")
    steps.append(Step("USIM ahead of HSS: AUTS, resync over Zh, new challenge", ok, lines,
                      start, time.time()))


def _log_lines(lab_dir: Path) -> list[str]:
    """The Diameter and HTTP events each process logged (no key material is logged)."""
    lines = []
    for function in ("hss", "bsf", "naf"):
        path = lab_dir / f"{function}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        for line in text.splitlines():
            if any(tag in line for tag in ("Zh ", "Zn", "Ub:", "Ua:", "PSK-TLS")):
                lines.append(f"{function.upper()}: " + line.split(": ", 1)[-1])
    return lines


def run(lab_dir: Path | None = None, capture: Path | None = None) -> list[Step]:
    """The demo's steps; with *capture*, every function records its traffic there (a
    pcapng file, ``gba lab up --capture``) and lab.json is copied beside it."""
    steps: list[Step] = []
    with tempfile.TemporaryDirectory(prefix="gba-demo-") as tmp:
        where = lab_dir or Path(tmp)
        start = time.time()
        try:
            info = lab.up(where, capture=capture)
        except Exception as exc:
            return [Step("start HSS, BSF, NAF processes", False, [f"error: {exc}"])]
        try:
            steps.append(Step("start HSS, BSF, NAF processes", True, [
                f"HSS pid {info['pids']['hss']}: Zh {info['hss_zh']}, REST {info['hss_rest_url']}",
                f"BSF pid {info['pids']['bsf']}: Ub {info['bsf_url']}, Zn {info['bsf_zn']}",
                f"NAF pid {info['pids']['naf']}: Ua {info['naf_url']} (Digest), "
                f"PSK-TLS port {info['naf_psk_tls_port']}"], start, time.time()))
            asyncio.run(_provision(info["config"]))
            steps.append(Step("provision subscriber in the HSS", True,
                              [f"IMPI {IMPI}, K/OPc of TS 35.208 test set 1, SQN 0"]))
            asyncio.run(_flow(info, steps))
            steps.append(Step("what the network functions logged (Zh, Zn, Ub)", True,
                              _log_lines(where)))
        finally:
            start = time.time()
            stopped = lab.down(where)
            steps.append(Step("stop the network", all(stopped.values()),
                              [f"{name}: {'stopped' if ok else 'killed'}"
                               for name, ok in stopped.items()], start, time.time()))
            if capture is not None:
                shutil.copyfile(where / lab.LAB_JSON, capture.with_name(lab.LAB_JSON))
    return steps

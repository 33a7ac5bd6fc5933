"""Roaming end to end (issue 12, docs/roaming.md): a home and a visited network as separate
processes on loopback (``gba lab up --with roaming``); a roaming UE bootstraps with its
home BSF only, then uses the visited network's BM-SC in each case of seed 000 -- A (the
visited BSF as Zn-Proxy), B (a GBA proxy: standalone, inside the AAA, inside the server),
C (the B-TID as user name over NASREQ through the AAAs) and D (the permanent identity and
EAP-AKA through the AAAs) -- registering for MBMS, receiving the MSK under its MUK and
decrypting the broadcast. Each case's messages, as the functions themselves recorded
them (their recent-message rings, :mod:`gba.capture.recent`), are printed with the
interface they crossed.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

from gba.crypto import aka, ua_protocols
from gba.demos import Step
from gba.errors import GbaError
from gba.lab import lab
from gba.lab import roaming as roaming_lab
from gba.lab.status import merge_recent, names_of, parse_recent, status_json_url
from gba.lab.subscribers import DEMO_K, DEMO_OPC
from gba.nf import registry
from gba.nf.provisioning import subscriber_from_fields
from gba.store.factory import open_subscriber_store
from gba.trace.model import TracedMessage, endpoint_text
from gba.ue.client import GbaClient
from gba.ue.mbms import MbmsReceiver

IMSI = "001010000000099"
IMPI = f"{IMSI}@ims.mnc001.mcc001.3gppnetwork.org"
CASE_TITLES = {
    "A": "case A: the visited BSF is the Zn-Proxy",
    "B-standalone": "case B: a GBA proxy on its own",
    "B-aaa": "case B: the GBA proxy inside the visited AAA",
    "B-in-server": "case B: the GBA proxy inside the BM-SC",
    "C": "case C: the B-TID as user name, NASREQ through the AAAs",
    "D": "case D: the permanent identity, EAP-AKA through the AAAs",
}
"""The cases the demo runs, in order."""
INTERFACES = {"ub": "Ub", "http": "Ua", "zn": "Zn", "zh": "Zh", "diameter": "AAA"}
DIAMETER_INTERFACES = {"BIR": "Zn", "BIA": "Zn", "MAR": "Zh", "MAA": "Zh",
                       "AAR": "NASREQ", "AAA": "NASREQ", "DER": "EAP", "DEA": "EAP"}
"""A Diameter message's interface by its command: Zn and Zh (TS 29.109), the AAA legs'
NASREQ (RFC 7155) and Diameter EAP (RFC 4072)."""


async def _provision(config: str) -> None:
    cfg = registry.load(config)
    store = open_subscriber_store(cfg.store_url(cfg.hss.store))
    try:
        await store.put_subscriber(subscriber_from_fields(
            IMPI, DEMO_K.hex(), opc=DEMO_OPC.hex(), imsi=IMSI))
    finally:
        await store.close()


class Recorder:
    """The messages every function of both networks recorded, named by function."""

    def __init__(self, info: Mapping[str, Any]) -> None:
        self.labs: dict[str, dict[str, Any]] = {}
        for network, sub in zip(("home", "visited"), info["labs"], strict=True):
            self.labs[network] = json.loads((Path(sub) / lab.LAB_JSON).read_text())
        self.endpoints: dict[str, str] = {}
        self.interfaces: dict[str, str] = {}
        for network, sub_info in self.labs.items():
            for name, entry in sub_info.get("functions", {}).items():
                for key, where in (entry.get("endpoints") or {}).items():
                    self.endpoints[str(where)] = f"{network}:{name}"
                    self.interfaces[str(where)] = INTERFACES.get(str(key), str(key))

    async def lines(self, start: float, end: float) -> list[str]:
        """Each message between *start* and *end*, once: sender -> receiver [interface]."""
        records: list[dict[str, Any]] = []
        async with aiohttp.ClientSession() as session:
            for network, sub_info in self.labs.items():
                for name, url in (sub_info.get("metrics") or {}).items():
                    try:
                        async with session.get(status_json_url(str(url))) as r:
                            data = await r.json()
                    except (aiohttp.ClientError, ValueError):
                        continue
                    records += [{**rec, "recorder": f"{network}:{name}"}
                                for rec in data.get("recent") or []]
        found = [m for m in parse_recent(records) if start <= m.time <= end]
        names = names_of(found, self.endpoints)
        out: list[str] = []
        media = 0
        for m in merge_recent(found):
            if m.summary.startswith("SRTP"):  # the broadcast: one line for the stream
                media += 1
                continue
            if media:
                out.append(f"{out_sender(out)} -> UE  [MBMS]  SRTP x {media} (the stream)")
                media = 0
            out.append(self._label(m, names))
        if media:
            out.append(f"{out_sender(out)} -> UE  [MBMS]  SRTP x {media} (the stream)")
        return out

    def _label(self, m: TracedMessage, names: Mapping[str, str]) -> str:
        src, dst = endpoint_text(m.src), endpoint_text(m.dst)
        if m.protocol == "UDP":  # the BM-SC's key and media sockets: it sends, UEs listen
            return f"{m.recorder or names.get(src, '?')} -> UE  [MBMS]  {m.summary}"
        command = m.summary.split(" ", 1)[0]
        interface = (DIAMETER_INTERFACES.get(command) or self.interfaces.get(dst)
                     or self.interfaces.get(src) or m.protocol)
        return (f"{names.get(src, 'UE')} -> {names.get(dst, 'UE')}  [{interface}]  "
                f"{m.summary}")


def out_sender(lines: list[str]) -> str:
    """The sender of the last MBMS line (the BM-SC), for the stream's summary line."""
    for line in reversed(lines):
        if "[MBMS]" in line:
            return line.split(" -> ", 1)[0]
    return "BM-SC"


async def _case(info: dict[str, Any], ue: GbaClient, case: str, recorder: Recorder
                ) -> Step:
    server = info["roaming"]["visited"]["cases"][case]
    start = time.time()
    lines: list[str] = []
    ok = False
    try:
        async with MbmsReceiver() as viewer, MbmsReceiver() as stranger:
            registration = await viewer.register(ue, server["naf_url"], server["naf_fqdn"])
            lines.append(f"MBMS registration: {registration.response.status}; MSK "
                         + (registration.msk.msk_id.hex() if registration.msk else "none")
                         + " received under the MUK (NAF_Id = "
                         + f"{server['naf_fqdn']} || {ua_protocols.MBMS.hex(' ')})")
            if case == "D":
                info_json = json.loads(registration.response.body or b"{}")
                async with MbmsReceiver() as again:
                    second = await again.register(ue, server["naf_url"], server["naf_fqdn"],
                                                  username=info_json.get("identity"))
                lines.append(f"next registration as {info_json.get('identity')}: "
                             f"{second.response.status}, from the association (no AKA run)")
            content = await viewer.tune_in(server["naf_url"])
            lines.append(f"broadcast decrypted: {len(content)} packets, first "
                         f"{content[0].decode(errors='replace')!r}")
            try:
                await stranger.tune_in(server["naf_url"])
                lines.append("a receiver without MSK decrypted the broadcast: WRONG")
                refused = False
            except GbaError as exc:
                lines.append(f"a receiver without MSK cannot decrypt: {type(exc).__name__}")
                refused = True
            ok = registration.msk is not None and len(content) > 0 and refused
    except (GbaError, OSError, TimeoutError, aiohttp.ClientError) as exc:
        lines.append(f"error: {type(exc).__name__}: {exc}")
    end = time.time()
    flow = await recorder.lines(start - 0.01, end + 0.01)
    return Step(CASE_TITLES[case], ok, [*flow, *lines], start, end)


async def _flows(info: dict[str, Any], steps: list[Step]) -> None:
    recorder = Recorder(info)
    usim = aka.Usim(DEMO_K, DEMO_OPC)
    lines: list[str] = []
    async with GbaClient(IMPI, usim, info["roaming"]["home"]["bsf_url"],
                         trace=lines.append) as ue:
        start = time.time()
        try:
            boot = await ue.bootstrap()
        except (GbaError, OSError, aiohttp.ClientError) as exc:
            steps.append(Step("the roaming UE bootstraps with its home BSF", False,
                              [*lines, f"error: {exc}"], start, time.time()))
            return
        end = time.time()
        flow = await recorder.lines(start - 0.01, end + 0.01)
        steps.append(Step("the roaming UE bootstraps with its home BSF (Ub, Zh: home only)",
                          True, [*flow, f"B-TID {boot.btid}"], start, end))
        for case in CASE_TITLES:
            steps.append(await _case(info, ue, case, recorder))


def run(lab_dir: Path | None = None) -> list[Step]:
    steps: list[Step] = []
    with tempfile.TemporaryDirectory(prefix="gba-demo-roaming-") as tmp:
        where = lab_dir or Path(tmp)
        start = time.time()
        try:
            info = roaming_lab.up(where)
        except Exception as exc:  # report, do not crash the demo
            return [Step("start the home and visited networks", False, [f"error: {exc}"])]
        try:
            steps.append(Step("start the home and visited networks", True, [
                f"home {info['roaming']['home']['realm']}: "
                + ", ".join(sorted(n.split("/", 1)[1] for n in info["pids"]
                                   if n.startswith("home/"))),
                f"visited {info['roaming']['visited']['realm']}: "
                + ", ".join(sorted(n.split("/", 1)[1] for n in info["pids"]
                                   if n.startswith("visited/")))], start, time.time()))
            asyncio.run(_provision(info["roaming"]["home"]["config"]))
            steps.append(Step("provision the roaming user at its home HSS", True,
                              [f"IMPI {IMPI}, IMSI {IMSI}"]))
            asyncio.run(_flows(info, steps))
        finally:
            stopped = lab.down(where)
            steps.append(Step("stop both networks", all(stopped.values()),
                              [f"{name}: {'stopped' if ok else 'killed'}"
                               for name, ok in stopped.items()]))
    return steps


def cases(steps: list[Step]) -> dict[str, dict[str, object]]:
    """One entry per case for the JSON summary: whether it held, how many messages."""
    by_title = {s.name: s for s in steps}
    out: dict[str, dict[str, object]] = {}
    for case, title in CASE_TITLES.items():
        step = by_title.get(title)
        out[case] = {"ok": bool(step and step.ok),
                     "messages": sum(1 for line in (step.lines if step else ())
                                     if " -> " in line)}
    return out


"""MTC device groups end to end (issue 15, docs/mtc.md): HSS, BSF, MTC-IWF and application
server as processes (``gba lab up --with mtc``), each device a ``gba mtc send`` process.

Cases: embodiment 1 (a group's first device: the HSS gives a vector from the group key;
K_IWF; the MTC-IWF gets the settings), 2 (the same with small-data encryption and
integrity keys), 3 and 4 (another device of the group: the BSF reuses the group's vector,
no HSS request, then K_IWF, or K_IWF and enc/int keys), the refusals (a device outside the
group, a wrong group key, a stale group-key identifier, a request without small-data
capability, a forged and a replayed message), and fresh keys for every transmission.
:class:`MtcDriver` is shared with the end-to-end tests.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

from gba.demos import Step, lab_demo, metric_sum
from gba.lab import mtc as mtc_lab
from gba.lab.subscribers import DEMO_K, DEMO_OPC
from gba.nf import registry
from gba.store.factory import open_subscriber_store
from gba.store.hss import MtcDevice, MtcGroup, Subscriber

GROUP = "meters@mtc.example.org"
KEY_ID = 1
BOTH = 3


def imsi(n: int) -> str:
    return f"0010100000{n:05d}"


async def provision(config: str, groups: Mapping[str, tuple[int, list[tuple[str, int]]]]
                    ) -> None:
    """Groups (id -> (key id, [(IMSI, capability)])) straight into the HSS's store, all
    with the demo key as group key."""
    cfg = registry.load(config)
    store = open_subscriber_store(cfg.store_url(cfg.hss.store))
    try:
        for group_id, (key_id, devices) in groups.items():
            await store.provision_mtc_group(MtcGroup(group_id, key_id),
                                            Subscriber(group_id, DEMO_K, DEMO_OPC))
            for who, capability in devices:
                await store.put_mtc_device(MtcDevice(who, group_id, capability))
    finally:
        await store.close()


class MtcDriver:
    """The MTC lab from its lab.json: devices as processes, the HSS's and BSF's counts,
    and what the application server received."""

    def __init__(self, info: Mapping[str, Any], work: Path) -> None:
        self.info = info
        self.mtc = info["mtc"]
        self.work = work
        self.token = Path(self.mtc["as_token_file"]).read_text().strip()
        self.tokens = {name: Path(where["token_file"]).read_text().strip()
                       for name, where in self.mtc.get("servers", {}).items()}

    async def _scrape(self, url: str) -> str:
        async with aiohttp.ClientSession() as http, http.get(url) as r:
            return await r.text()

    async def zh_requests(self) -> int:
        """The Zh requests the HSS has answered (its own counter)."""
        return int(metric_sum(await self._scrape(self.mtc["hss_metrics"]),
                              "gba_requests_total", {"function": "hss", "interface": "zh"}))

    async def zn_requests(self) -> int:
        return int(metric_sum(await self._scrape(self.mtc["bsf_metrics"]),
                              "gba_requests_total", {"function": "bsf", "interface": "zn"}))

    async def received(self, server: str | None = None) -> list[dict[str, Any]]:
        """What an application server received (default: the MTC-IWF's first)."""
        url, token = self.mtc["as_url"], self.token
        if server is not None:
            where = self.mtc["servers"][server]
            url, token = where["url"], self.tokens[server]
        async with aiohttp.ClientSession() as http, http.get(
                f"{url}/received", headers={"Authorization": f"Bearer {token}"}) as r:
            got: list[dict[str, Any]] = await r.json()
            return got

    async def send(self, who: str, *data: str, group: str = GROUP, key_id: int = KEY_ID,
                   key: bytes = DEMO_K, small_data: str = "both", server: str | None = None
                   ) -> tuple[int, list[dict[str, Any]], str]:
        """``gba mtc send`` for device *who*: (exit code, its JSON lines, its stderr)."""
        args = ["--bsf-url", self.mtc["bsf_url"], "--iwf-url", self.mtc["iwf_url"],
                "--iwf-fqdn", self.mtc["iwf_fqdn"], "--imsi", who, "--group-id", group,
                "--key-id", str(key_id), "--k", key.hex(), "--opc", DEMO_OPC.hex(),
                "--small-data", small_data, "--state", str(self.work / f"{who}.json")]
        for text in data:
            args += ["--data", text]
        if server is not None:
            args += ["--as", server]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gba", "mtc", "send", *args,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
        return proc.returncode or 0, lines, err.decode("utf-8", "replace")


def _lines(transmission: Mapping[str, Any]) -> list[str]:
    return [f"  {m}" for m in transmission.get("messages", [])]


async def _flows(info: Mapping[str, Any], work: Path, steps: list[Step]
                 ) -> dict[str, dict[str, Any]]:
    driver = MtcDriver(info, work)
    cases: dict[str, dict[str, Any]] = {}

    zh0 = await driver.zh_requests()
    code, first, _ = await driver.send(imsi(1), "meter 1: 42 kWh")
    zh1 = await driver.zh_requests()
    ok = code == 0 and zh1 - zh0 == 1 and first[0]["downlink"] is not None
    steps.append(Step("embodiment 1/2: the group's first device; the HSS gives a vector "
                      "from the group key; K_IWF, enc and int keys; small data through "
                      "the MTC-IWF", ok,
                      [f"Zh requests: {zh1 - zh0}", *(_lines(first[0]) if first else [])]))
    cases["embodiment-1-2"] = {"ok": ok, "hss_requests": zh1 - zh0}

    results = [await driver.send(imsi(n), f"meter {n}: {40 + n} kWh") for n in (2, 3, 4)]
    zh2 = await driver.zh_requests()
    fps = {r[1][0]["k_iwf_fp"] for r in results if r[0] == 0 and r[1]}
    ok = all(r[0] == 0 for r in results) and zh2 == zh1 and len(fps) == 3
    steps.append(Step("embodiments 3/4: three more devices of the group reuse its vector "
                      "(no HSS request), each with its own K_IWF", ok,
                      [f"Zh requests: {zh2 - zh1}; distinct K_IWF: {len(fps)}",
                       *(_lines(results[0][1][0]) if results[0][1] else [])]))
    cases["embodiment-3-4"] = {"ok": ok, "hss_requests": zh2 - zh1, "devices": 3}

    code, again, _ = await driver.send(imsi(1), "meter 1: 43 kWh")
    zh3 = await driver.zh_requests()
    ok = code == 0 and zh3 - zh2 == 1 and again[0]["k_iwf_fp"] != first[0]["k_iwf_fp"]
    steps.append(Step("a device that used the group's vector gets a new one from the HSS: "
                      "fresh keys for every transmission", ok,
                      [f"Zh requests: {zh3 - zh2}"]))
    cases["fresh-keys"] = {"ok": ok, "hss_requests": zh3 - zh2}

    refusals = {
        "outside the group": await driver.send(imsi(99), "x"),
        "wrong group key": await driver.send(imsi(5), "x", key=bytes(16)),
        "stale group-key id": await driver.send(imsi(5), "x", key_id=KEY_ID + 1),
        "no small-data capability": await driver.send(imsi(5), "x", small_data="none"),
        "unknown group": await driver.send(imsi(5), "x", group="nobody@mtc.example.org"),
    }
    ok = all(code != 0 for code, _, _ in refusals.values())
    steps.append(Step("refusals: no key material for any of them", ok,
                      [f"{name}: {err.strip().splitlines()[-1] if err.strip() else code}"
                       for name, (code, _, err) in refusals.items()]))
    cases["refusals"] = {"ok": ok, "refused": sum(c != 0 for c, _, _ in refusals.values())}

    got = await driver.received()
    ok = len(got) == 5 and {g["imsi"] for g in got} == {imsi(n) for n in (1, 2, 3, 4)}
    steps.append(Step("the application server received the small data in the clear, and "
                      "holds no key", ok, [f"{g['imsi']}: {g['data']}" for g in got]))
    cases["application-server"] = {"ok": ok, "received": len(got)}
    return cases


def run(lab_dir: Path | None = None) -> tuple[list[Step], dict[str, dict[str, Any]]]:
    cases: dict[str, dict[str, Any]] = {}

    def body(info: dict[str, Any], tmp: Path, steps: list[Step]) -> None:
        devices = [(imsi(n), BOTH) for n in range(1, 6)]
        asyncio.run(provision(info["config"], {GROUP: (KEY_ID, devices)}))
        steps.append(Step("provision a group of five devices at the HSS", True,
                          [f"{GROUP}: {', '.join(d for d, _ in devices)}"]))
        cases.update(asyncio.run(_flows(info, tmp, steps)))

    steps = lab_demo("gba-demo-mtc-", "start HSS, BSF, MTC-IWF and application server",
                     mtc_lab.up, body, "run the devices", lab_dir)
    return steps, cases

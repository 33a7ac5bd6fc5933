"""GBA Push end to end (issue 13, docs/push.md): HSS, BSF, Push-NAF and UEs as processes.

``gba lab up --with push`` runs the network; each UE is a ``gba ue push-*`` process. For
every embodiment of seed 002 the operator orders a first push (a new SA: the BSF is asked
once, over Zpn for GBA Push or Zn for normal GBA) and a second one naming the same SA
(reuse: the BSF is not asked). The BSF's own request counters (its Prometheus
``gba_requests_total`` for Zn and Zpn) say how many requests it received; the UE's trace
gives the messages it sent and received. :class:`PushDriver` is shared with the
end-to-end tests.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from gba.demos import Step, lab_demo, metric_sum
from gba.lab import push as push_lab
from gba.lab.subscribers import DEMO_K, DEMO_OPC
from gba.nf import registry
from gba.nf.provisioning import subscriber_from_fields
from gba.store.factory import open_subscriber_store

REALM = "mnc001.mcc001.3gppnetwork.org"
EMBODIMENTS = {
    "1": "embodiment 1: package 0 carries the GPI; the session id names the SA",
    "2": "embodiment 2: a secure id names the SA; a new session id reuses it",
    "3": "embodiment 3: the UE starts with pkg1; the GPI comes in pkg2",
    "4": "embodiment 4: the SA parameters name psk-tls; the pushes come over PSK-TLS",
    "5": "embodiment 5: explicit SA parameters; the UE returns its choice and identity",
}


def impi(name: str) -> str:
    return f"{name}@{REALM}"


async def provision(config: str, names: list[str]) -> None:
    """Subscribers for the UEs, straight into the HSS's store."""
    cfg = registry.load(config)
    store = open_subscriber_store(cfg.store_url(cfg.hss.store))
    try:
        for name in names:
            await store.put_subscriber(subscriber_from_fields(
                impi(name), DEMO_K.hex(), opc=DEMO_OPC.hex()))
    finally:
        await store.close()


@dataclass
class UeProcess:
    """A ``gba ue push-*`` process: its JSON lines and its trace."""

    proc: asyncio.subprocess.Process
    lines: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    trace: list[str] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    registered_port: int = 0
    """The UDP port a ``push-listen`` registered with the Push-NAF."""

    async def _read_out(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            with contextlib.suppress(ValueError):
                self.lines.put_nowait(json.loads(raw))

    async def _read_err(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.trace.append(raw.decode("utf-8", "replace").rstrip())

    async def line(self, timeout: float = 30.0) -> dict[str, Any]:
        return await asyncio.wait_for(self.lines.get(), timeout)

    async def finish(self, timeout: float = 30.0) -> int:
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        await asyncio.gather(*self.tasks)
        return code


class PushDriver:
    """The push lab from its lab.json: the operator's control API, the BSF's counters,
    and UE processes."""

    def __init__(self, info: Mapping[str, Any], work: Path) -> None:
        self.info = info
        self.push = info["push"]
        self.work = work
        self.token = Path(self.push["control_token_file"]).read_text().strip()

    async def order(self, order: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
        """POST /push/send; the outcome once the push has ended."""
        body = {**order, "payloads": [base64.b64encode(p.encode()).decode()
                                      for p in order["payloads"]]}
        async with aiohttp.ClientSession() as http, http.post(
                f"{self.push['control_url']}/push/send", json=body,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=aiohttp.ClientTimeout(total=timeout)) as r:
            answer: dict[str, Any] = await r.json()
            if r.status != 200:
                raise RuntimeError(f"push order refused: {r.status} {answer}")
            return answer

    async def bsf_requests(self) -> dict[str, int]:
        """The Zn and Zpn requests the BSF has received (its own counters)."""
        async with aiohttp.ClientSession() as http, http.get(self.push["bsf_metrics"]) as r:
            text = await r.text()
        return {iface: int(metric_sum(text, "gba_requests_total",
                                       {"function": "bsf", "interface": iface}))
                for iface in ("zn", "zpn")}

    def _ue_args(self, name: str) -> list[str]:
        return ["--bsf-url", self.info["bsf_url"], "--impi", impi(name),
                "--k", DEMO_K.hex(), "--opc", DEMO_OPC.hex(),
                "--state", str(self.work / f"{name}.json"), "--trace"]

    async def _spawn(self, *args: str) -> UeProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gba", "ue", *args, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        ue = UeProcess(proc)
        ue.tasks = [asyncio.create_task(ue._read_out()), asyncio.create_task(ue._read_err())]
        return ue

    @contextlib.asynccontextmanager
    async def listener(self, name: str, sessions: int, *extra: str
                       ) -> AsyncIterator[UeProcess]:
        """``gba ue push-listen``, registered when this yields."""
        ue = await self._spawn(
            "push-listen", "--naf-url", self.push["naf_url"], "--naf-fqdn",
            self.push["naf_fqdn"], "--psk-host", self.push["psk_host"], "--psk-port",
            str(self.push["psk_port"]), "--sessions", str(sessions), "--timeout", "30",
            *self._ue_args(name), *extra)
        try:
            first = await ue.line()
            if "registered" not in first:
                raise RuntimeError(f"UE {name} did not register: {first} {ue.trace}")
            ue.registered_port = int(first["port"])
            yield ue
        finally:
            if ue.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    ue.proc.kill()
            await ue.finish()

    async def start_session(self, name: str, *extra: str) -> tuple[dict[str, Any], list[str]]:
        """``gba ue push-start`` (embodiment 3): its report and trace."""
        ue = await self._spawn("push-start", "--naf-url", self.push["naf_url"],
                               "--naf-fqdn", self.push["naf_fqdn"], *self._ue_args(name),
                               *extra)
        report = await ue.line(60.0)
        await ue.finish()
        return report, ue.trace

    async def pull(self, name: str) -> UeProcess:
        """``gba ue push-pull`` (embodiment 4 without step 503), running."""
        return await self._spawn("push-pull", "--naf-fqdn", self.push["naf_fqdn"],
                                 "--psk-host", self.push["psk_host"], "--psk-port",
                                 str(self.push["psk_port"]), "--wait", "20",
                                 *self._ue_args(name))


@dataclass
class Push:
    """One push as the demo saw it."""

    outcome: dict[str, Any]
    report: dict[str, Any]
    bsf: dict[str, int]
    messages: list[str]

    @property
    def bsf_total(self) -> int:
        return sum(self.bsf.values())


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in after}


def _with_diameter(bsf: dict[str, int], messages: list[str]) -> list[str]:
    """The UE's messages with the BSF's in their place: Zpn before the first push; Zn
    once the NAF knows the B-TID (after the UE registered it, or after the pkg1 that
    returned it in embodiment 5)."""
    zpn = ["Push-NAF -> BSF  [Zpn] GPIR", "BSF -> HSS  [Zh] MAR", "HSS -> BSF  [Zh] MAA",
           "BSF -> Push-NAF  [Zpn] GPIA (GPI, Ks_NAF)"] * bsf.get("zpn", 0)
    zn = ["Push-NAF -> BSF  [Zn] BIR", "BSF -> Push-NAF  [Zn] BIA (Ks_NAF)"] * bsf.get("zn", 0)
    at = 0
    for i, line in enumerate(messages):
        if "/push/register" in line or ("POST /dm pkg1" in line and at == 0 and i > 0
                                        and "SA parameters" in messages[i - 1]):
            at = i + 1
    return zpn + messages[:at] + zn + messages[at:]


async def _listened(driver: PushDriver, ue: UeProcess, order: dict[str, Any]) -> Push:
    before = await driver.bsf_requests()
    outcome = await driver.order(order)
    report = await ue.line()
    bsf = _delta(before, await driver.bsf_requests())
    return Push(outcome, report, bsf, _with_diameter(bsf, report.get("messages", [])))


async def _started(driver: PushDriver, name: str, order: dict[str, Any],
                   *extra: str) -> Push:
    before = await driver.bsf_requests()
    queued = await driver.order(order)
    report, _ = await driver.start_session(name, *extra)
    bsf = _delta(before, await driver.bsf_requests())
    return Push(queued, report, bsf, _with_diameter(bsf, report.get("messages", [])))


def _held(first: Push, reuse: Push, payloads: tuple[str, str]) -> bool:
    return (first.report.get("end") == "done" and reuse.report.get("end") == "done"
            and first.report.get("payloads") == [payloads[0]]
            and reuse.report.get("payloads") == [payloads[1]]
            and reuse.report.get("reused") is True and first.bsf_total >= 1
            and reuse.bsf_total == 0)


def _step(title: str, first: Push, reuse: Push, ok: bool) -> Step:
    lines = [f"first push (new SA {first.report.get('sa')}): "
             f"{first.bsf_total} BSF request(s), {_count(first.messages)} messages"]
    lines += [f"  {m}" for m in first.messages]
    lines += [f"reused push: {reuse.bsf_total} BSF request(s), {_count(reuse.messages)} "
              "messages"]
    lines += [f"  {m}" for m in reuse.messages]
    lines.append(f"payloads received: {first.report.get('payloads')} then "
                 f"{reuse.report.get('payloads')}")
    return Step(title, ok, lines)


def _count(messages: list[str]) -> int:
    """Messages on the wire (the trace also notes what the UE did in between)."""
    return sum(1 for m in messages if " -> " in m.split(";")[-1])


def _entry(first: Push, reuse: Push, ok: bool, gba: str) -> dict[str, Any]:
    return {"ok": ok, "gba": gba, "bsf_requests_first": first.bsf_total,
            "bsf_requests_reuse": reuse.bsf_total, "messages_first": _count(first.messages),
            "messages_reuse": _count(reuse.messages), "sa": first.report.get("sa")}


async def _embodiments(driver: PushDriver, steps: list[Step],
                       entries: dict[str, dict[str, Any]]) -> None:
    orders: dict[str, list[dict[str, Any]]] = {
        "1": [{"embodiment": 1, "session_id": 4101}, {"embodiment": 1, "session_id": 4101}],
        "2": [{"embodiment": 2, "sa_kind": "secure", "sa_id": "demo-secure"},
              {"embodiment": 2, "sa_kind": "secure", "sa_id": "demo-secure"}],
        "4": [{"embodiment": 4, "sa_kind": "secure", "sa_id": "demo-psk"},
              {"embodiment": 4, "sa_kind": "secure", "sa_id": "demo-psk"}],
        "5": [{"embodiment": 5, "sa_kind": "pseudonym", "sa_id": "demo-pseudonym"},
              {"embodiment": 5, "sa_kind": "pseudonym", "sa_id": "demo-pseudonym"}]}
    for number, title in EMBODIMENTS.items():
        payloads = (f"push {number}a", f"push {number}b")
        who = f"ue{number}"
        if number == "3":
            first = await _started(driver, who, {"impi": impi(who), "embodiment": 3,
                                                 "payloads": [payloads[0]]})
            reuse = await _started(driver, who, {"impi": impi(who), "embodiment": 3,
                                                 "payloads": [payloads[1]]})
        else:
            async with driver.listener(who, 2) as ue:
                first = await _listened(driver, ue, {**orders[number][0], "impi": impi(who),
                                                     "payloads": [payloads[0]]})
                reuse = await _listened(driver, ue, {**orders[number][1], "impi": impi(who),
                                                     "payloads": [payloads[1]]})
        ok = _held(first, reuse, payloads)
        steps.append(_step(title + " (GBA Push)", first, reuse, ok))
        entries[number] = _entry(first, reuse, ok, "push")


async def _normal(driver: PushDriver, steps: list[Step],
                  variants: dict[str, dict[str, Any]]) -> None:
    """Normal GBA: the NAF asks the UE to bootstrap, then Zn; embodiment 5 unsigned."""
    who = "ue-normal"
    async with driver.listener(who, 4) as ue:
        first = await _listened(driver, ue, {"impi": impi(who), "embodiment": 1,
                                             "gba": "normal", "sa_kind": "btid",
                                             "payloads": ["normal 1a"]})
        btid = (first.report.get("sa") or {}).get("id")
        reuse = await _listened(driver, ue, {"impi": impi(who), "embodiment": 1,
                                             "gba": "normal", "sa_kind": "btid",
                                             "sa_id": btid, "payloads": ["normal 1b"]})
        ok = _held(first, reuse, ("normal 1a", "normal 1b")) and any(
            "bootstrap request" in m for m in first.messages)
        steps.append(_step("normal GBA, embodiment 1: a bootstrap request on the push "
                           "channel, Ub, then Zn; the SA named by the B-TID", first, reuse,
                           ok))
        variants["1-normal"] = _entry(first, reuse, ok, "normal")
    who = "ue-normal5"
    async with driver.listener(who, 2, "--bootstrap") as ue:
        first = await _listened(driver, ue, {
            "impi": impi(who), "embodiment": 5, "gba": "normal", "key_selection": "latest",
            "sa_kind": "temporary", "sa_id": "demo-temp", "payloads": ["normal 5a"]})
        reuse = await _listened(driver, ue, {
            "impi": impi(who), "embodiment": 5, "gba": "normal", "sa_kind": "temporary",
            "sa_id": "demo-temp", "payloads": ["normal 5b"]})
        ok = _held(first, reuse, ("normal 5a", "normal 5b"))
        steps.append(_step("normal GBA, embodiment 5: unsigned parameters (the NAF lacks "
                           "the key), the UE picks its latest bootstrap, the NAF fetches "
                           "Ks_NAF by the B-TID it returns", first, reuse, ok))
        variants["5-normal-unsigned"] = _entry(first, reuse, ok, "normal")


async def _timeout(driver: PushDriver, steps: list[Step],
                   variants: dict[str, dict[str, Any]]) -> None:
    who = "ue-slow"
    async with driver.listener(who, 1, "--no-pkg3") as ue:
        slow = await _listened(driver, ue, {"impi": impi(who), "embodiment": 2,
                                            "sa_kind": "secure", "sa_id": "demo-slow",
                                            "payloads": ["late"]})
    async with driver.listener(who, 1) as ue:
        again = await _listened(driver, ue, {"impi": impi(who), "embodiment": 2,
                                             "sa_kind": "secure", "sa_id": "demo-slow",
                                             "payloads": ["on time"]})
    ok = (slow.outcome.get("end") == "timed_out" and slow.report.get("end") == "timed_out"
          and again.report.get("reused") is True and again.bsf_total == 0
          and again.report.get("payloads") == ["on time"])
    steps.append(Step(
        f"timeout: the UE withholds pkg3; after {driver.push['pkg3_timeout_s']} s the NAF "
        "sends the end indication; the SA stays and is reused", ok,
        [f"  {m}" for m in slow.messages] + [f"NAF outcome: {slow.outcome.get('end')}",
                                            f"then reused with {again.bsf_total} BSF "
                                            "requests"]))
    variants["timeout"] = {"ok": ok, "bsf_requests_first": slow.bsf_total,
                           "bsf_requests_reuse": again.bsf_total}


async def _flows(info: Mapping[str, Any], work: Path, steps: list[Step]
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
    driver = PushDriver(info, work)
    entries: dict[str, dict[str, Any]] = {}
    variants: dict[str, dict[str, Any]] = {}
    await _embodiments(driver, steps, entries)
    await _normal(driver, steps, variants)
    await _timeout(driver, steps, variants)
    return entries, variants


def run(lab_dir: Path | None = None) -> tuple[list[Step], dict[str, Any], dict[str, Any]]:
    """The demo's steps, its entries per embodiment and its normal-GBA variants."""
    entries: dict[str, Any] = {}
    variants: dict[str, Any] = {}

    def body(info: dict[str, Any], tmp: Path, steps: list[Step]) -> None:
        names = [f"ue{n}" for n in EMBODIMENTS] + ["ue-normal", "ue-normal5", "ue-slow"]
        asyncio.run(provision(info["config"], names))
        steps.append(Step("provision the UEs at the HSS", True,
                          [", ".join(impi(n) for n in names)]))
        found, more = asyncio.run(_flows(info, tmp, steps))
        entries.update(found)
        variants.update(more)

    steps = lab_demo("gba-demo-push-", "start HSS, BSF and the Push-NAF",
                     lambda where: push_lab.up(where, pkg3_timeout_s=2), body,
                     "run the pushes", lab_dir)
    return steps, entries, variants

"""MTC device groups end to end (issue 15, docs/mtc.md): ``gba lab up --with mtc`` runs the
HSS, BSF, NAF, MTC-IWF and application server as processes, and each device is a
``gba mtc send`` process (:class:`gba.demos.mtc.MtcDriver`). The HSS's own Zh counter
(its /metrics) shows when a group's vector is reused, and the application server's
``/received`` shows what reached it.

Labs are started once per configuration (subkeys, reuse_on, capability_source) and
shared by the tests of this module; each test uses its own group and IMSIs so that no
test sees another's vector.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from e2e.labctl import gba, lab_down
from gba.crypto import aka
from gba.demos.mtc import KEY_ID, MtcDriver, imsi, provision
from gba.lab.subscribers import DEMO_K, DEMO_OPC
from gba.protocols import mtc, mtc_small_data
from gba.protocols.mtc_small_data import Direction, Keys
from gba.ue.mtc import SMALL_DATA_TYPE, MtcDevice

pytestmark = pytest.mark.mtc

BOTH = 3
SEND = 1
NONE = 0
WRONG_KEY = bytes(16)
"""Not the demo group key every group of this module is provisioned with."""


@dataclass(frozen=True)
class Config:
    subkeys: str = "both"
    reuse_on: str = "kiwf"
    capability_source: str = "both"

    @property
    def name(self) -> str:
        return f"{self.subkeys}-{self.reuse_on}-{self.capability_source}"


MAIN = Config()


class Labs:
    """MTC labs by configuration, started on first use, all brought down at the end."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self.factory = factory
        self.running: dict[Config, tuple[dict[str, Any], Path]] = {}

    def get(self, config: Config) -> tuple[dict[str, Any], Path]:
        if config not in self.running:
            lab_dir = self.factory.mktemp(f"mtc-lab-{config.name}")
            try:
                gba("lab", "up", "--with", "mtc", "--dir", lab_dir,
                    "--mtc-subkeys", config.subkeys, "--mtc-reuse-on", config.reuse_on,
                    "--capability-source", config.capability_source)
            except BaseException:
                lab_down(lab_dir)
                raise
            info: dict[str, Any] = json.loads((lab_dir / "lab.json").read_text("utf-8"))
            self.running[config] = info, lab_dir
        return self.running[config]

    def close(self) -> None:
        with ThreadPoolExecutor() as pool:  # each `gba lab down` waits for its processes
            list(pool.map(lab_down, [lab_dir for _, lab_dir in self.running.values()]))


@pytest.fixture(scope="module")
def labs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Labs]:
    pool = Labs(tmp_path_factory)
    try:
        yield pool
    finally:
        pool.close()


def group(name: str) -> str:
    return f"{name}@mtc.example.org"


async def _driver(labs: Labs, config: Config, work: Path,
                  groups: dict[str, list[tuple[str, int]]]) -> MtcDriver:
    """The lab of *config* with *groups* (name -> [(IMSI, capability)]) provisioned,
    each group with the demo group key under KEY_ID."""
    info, _ = labs.get(config)
    await provision(info["config"], {group(name): (KEY_ID, devices)
                                     for name, devices in groups.items()})
    return MtcDriver(info, work)


def _transmission(code: int, lines: list[dict[str, Any]], err: str, count: int = 1
                  ) -> list[dict[str, Any]]:
    """The transmissions of a ``gba mtc send`` that succeeded *count* times."""
    assert code == 0, err
    assert lines[-1] == {"ok": True, "transmissions": count}
    assert len(lines) == count + 1
    return lines[:-1]


def _btid_parts(btid: str) -> tuple[bytes, bytes]:
    """(RAND, device tag) of an MTC B-TID: base64(RAND || 6-octet tag) @ BSF name
    (docs/mtc.md §4)."""
    head, at, server = btid.partition("@")
    assert at
    assert server.startswith("bsf.")
    raw = base64.b64decode(head, validate=True)
    assert len(raw) == 16 + 6
    return raw[:16], raw[16:]


def _tag(who: str) -> bytes:
    return hashlib.sha256(mtc.device_impi(who, "001", "01").encode()).digest()[:6]


def _challenge_rand(t: dict[str, Any]) -> bytes:
    """The RAND of the BSF's 401, as the device traced it."""
    found = [m for m in t["messages"] if m.startswith("BSF -> UE  401")]
    assert len(found) == 1, t["messages"]
    match = re.search(r"RAND ([0-9a-f]{32})", found[0])
    assert match is not None
    return bytes.fromhex(match.group(1))


async def _send_ok(driver: MtcDriver, who: str, grp: str, *data: str,
                   small_data: str = "both") -> tuple[list[dict[str, Any]], int]:
    """(transmissions, Zh requests they cost) of a device that must succeed."""
    zh = await driver.zh_requests()
    got = _transmission(*await driver.send(who, *data, group=group(grp),
                                           small_data=small_data), count=len(data))
    return got, await driver.zh_requests() - zh


async def _refused(driver: MtcDriver, who: str, grp: str, *, key: bytes = DEMO_K,
                   key_id: int = KEY_ID, small_data: str = "both") -> tuple[str, int]:
    """A device that must be refused with no key material issued: a non-zero exit, no
    transmission, nothing new at the application server and no Zn request (the MTC-IWF
    never asked the BSF for a key). Returns (its last stderr line, Zh requests)."""
    received, zn, zh = (len(await driver.received()), await driver.zn_requests(),
                        await driver.zh_requests())
    code, lines, err = await driver.send(who, "must not arrive", group=group(grp), key=key,
                                         key_id=key_id, small_data=small_data)
    assert code != 0
    assert lines == [], lines
    assert len(await driver.received()) == received
    assert await driver.zn_requests() == zn
    assert "must not arrive" not in json.dumps(await driver.received())
    last = err.strip().splitlines()[-1] if err.strip() else ""
    return last, await driver.zh_requests() - zh


def _fps(ts: Sequence[dict[str, Any]], name: str) -> list[str]:
    got = [t[name] for t in ts]
    assert all(isinstance(fp, str) and len(fp) == 16 for fp in got), got
    return got


# --------------------------------------------------------------------------- lab.json


async def test_lab_json_lists_the_mtc_endpoints(labs: Labs, tmp_path: Path) -> None:
    info, lab_dir = labs.get(MAIN)
    assert info["dir"] == str(lab_dir.resolve())
    m = info["mtc"]
    assert m["iwf_url"].startswith("http://127.0.0.1:")
    assert m["as_url"].startswith("http://127.0.0.1:")
    assert m["iwf_fqdn"] == "iwf.example.org"
    assert m["bsf_url"] == info["bsf_url"]
    assert (m["subkeys"], m["reuse_on"], m["capability_source"]) == ("both", "kiwf", "both")
    kinds = {name: f["kind"] for name, f in info["functions"].items()}
    assert kinds["mtc-iwf"] == "mtc_iwf"
    assert kinds["mtc-as"] == "mtc_as"
    assert {"hss", "bsf"} <= set(kinds.values())
    token = MtcDriver(info, tmp_path).token  # read from as_token_file
    assert len(token) >= 16
    async with aiohttp.ClientSession() as http:
        for url in (m["hss_metrics"], m["bsf_metrics"]):
            assert url.endswith("/metrics")
            async with http.get(url) as r:
                assert r.status == 200
                assert "gba_" in await r.text()
        async with http.get(f"{m['as_url']}/received") as r:
            assert r.status == 401  # the application server wants its bearer token
        async with http.get(f"{m['as_url']}/received",
                            headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 200
            assert isinstance(await r.json(), list)


# ------------------------------------------------------------------ embodiments 1 and 2


async def test_embodiment_1_first_device_k_iwf_only(labs: Labs, tmp_path: Path) -> None:
    config = Config(subkeys="none")
    driver = await _driver(labs, config, tmp_path, {"e1": [(imsi(101), BOTH),
                                                           (imsi(102), BOTH)]})
    [t], zh = await _send_ok(driver, imsi(101), "e1", "meter 101: 7 kWh")
    assert zh == 1
    assert t["subkeys"] == "none"
    assert (t["enc_fp"], t["int_fp"]) == (None, None)
    assert len(t["k_iwf_fp"]) == 16
    assert t["downlink"].startswith("ack ")
    assert t["downlink"].endswith(f"for {imsi(101)}")
    rand, tag = _btid_parts(t["btid"])
    assert rand == _challenge_rand(t)
    assert tag == _tag(imsi(101))
    assert (await driver.received())[-1] == {"imsi": imsi(101), "group": group("e1"),
                                             "data": "meter 101: 7 kWh"}


@pytest.mark.parametrize("subkeys", ["none", "enc", "int", "both"])
async def test_embodiment_2_small_data_keys_by_mode(labs: Labs, tmp_path: Path,
                                                    subkeys: str) -> None:
    driver = await _driver(labs, Config(subkeys=subkeys), tmp_path,
                           {f"e2{subkeys}": [(imsi(201), BOTH)]})
    assert driver.mtc["subkeys"] == subkeys
    [t], zh = await _send_ok(driver, imsi(201), f"e2{subkeys}", f"sealed {subkeys}")
    assert zh == 1
    assert t["subkeys"] == subkeys
    assert (t["enc_fp"] is not None) == (subkeys in ("enc", "both"))
    assert (t["int_fp"] is not None) == (subkeys in ("int", "both"))
    fps = [fp for fp in (t["k_iwf_fp"], t["enc_fp"], t["int_fp"]) if fp is not None]
    assert len(set(fps)) == len(fps)  # subkeys are not K_IWF, nor each other
    assert t["downlink"] == f"ack {len(await driver.received())} for {imsi(201)}"
    assert (await driver.received())[-1]["data"] == f"sealed {subkeys}"


# ------------------------------------------------------------------ embodiments 3 and 4


@pytest.mark.parametrize("config", [Config("none", "kiwf"), Config("both", "kiwf"),
                                    Config("both", "enc_int")], ids=lambda c: c.name)
async def test_embodiments_3_4_the_group_reuses_one_vector(labs: Labs, tmp_path: Path,
                                                           config: Config) -> None:
    devices = [imsi(300 + n) for n in range(1, 5)]
    driver = await _driver(labs, config, tmp_path,
                           {"e34": [(who, BOTH) for who in devices]})
    sent = []
    costs = []
    for n, who in enumerate(devices, 1):
        [t], zh = await _send_ok(driver, who, "e34", f"reading {n}")
        sent.append(t)
        costs.append(zh)
    assert costs == [1, 0, 0, 0]  # only the first device's vector comes from the HSS
    btids = [t["btid"] for t in sent]
    assert len(set(btids)) == 4
    parts = [_btid_parts(b) for b in btids]
    assert {rand for rand, _ in parts} == {_challenge_rand(sent[0])}  # one shared RAND
    assert all(btid[:20] == btids[0][:20] for btid in btids)
    assert [tag for _, tag in parts] == [_tag(who) for who in devices]
    assert len(set(_fps(sent, "k_iwf_fp"))) == 4
    if config.subkeys == "both":
        assert len(set(_fps(sent, "enc_fp"))) == 4
        assert len(set(_fps(sent, "int_fp"))) == 4
    else:
        assert all(t["enc_fp"] is None and t["int_fp"] is None for t in sent)
    got = (await driver.received())[-4:]
    assert [(g["imsi"], g["group"], g["data"]) for g in got] == [
        (who, group("e34"), f"reading {n}") for n, who in enumerate(devices, 1)]


@pytest.mark.parametrize("config", [Config("none", "enc_int"), Config("both", "off")],
                         ids=lambda c: c.name)
async def test_no_reuse_each_device_asks_the_hss(labs: Labs, tmp_path: Path,
                                                 config: Config) -> None:
    devices = [imsi(400 + n) for n in range(1, 4)]
    driver = await _driver(labs, config, tmp_path,
                           {"noreuse": [(who, BOTH) for who in devices]})
    sent = []
    for who in devices:
        [t], zh = await _send_ok(driver, who, "noreuse", "x")
        assert zh == 1
        sent.append(t)
    rands = {_btid_parts(t["btid"])[0] for t in sent}
    assert len(rands) == 3  # a vector of its own for each device
    assert len(set(_fps(sent, "k_iwf_fp"))) == 3


# ------------------------------------------------------------------------- fresh keys


async def test_fresh_keys_for_every_transmission(labs: Labs, tmp_path: Path) -> None:
    one, two = imsi(501), imsi(502)
    driver = await _driver(labs, MAIN, tmp_path, {"fresh": [(one, BOTH), (two, BOTH)]})
    first, zh1 = await _send_ok(driver, one, "fresh", "a", "b")
    assert zh1 == 2  # the second transmission: the device used the vector, so the HSS
    again, zh2 = await _send_ok(driver, one, "fresh", "c")
    assert zh2 == 1  # and again, from a new process with the USIM's saved SQN array
    mine = [*first, *again]
    assert len({t["btid"] for t in mine}) == 3
    assert len({_btid_parts(t["btid"])[0] for t in mine}) == 3  # three vectors
    for name in ("k_iwf_fp", "enc_fp", "int_fp"):
        assert len(set(_fps(mine, name))) == 3
    [other], zh3 = await _send_ok(driver, two, "fresh", "d")
    assert zh3 == 0  # the other device reuses the group's current vector...
    assert _btid_parts(other["btid"])[0] == _btid_parts(again[0]["btid"])[0]
    for name in ("k_iwf_fp", "enc_fp", "int_fp"):  # ...with keys of its own
        assert other[name] != again[0][name]
    got = [(g["imsi"], g["data"]) for g in (await driver.received())[-4:]]
    assert got == [(one, "a"), (one, "b"), (one, "c"), (two, "d")]


# -------------------------------------------------------------------------- refusals


async def test_refusals_issue_no_key_material(labs: Labs, tmp_path: Path) -> None:
    g = "refuse"
    members = [(imsi(600 + n), BOTH) for n in range(0, 6)]
    driver = await _driver(labs, MAIN, tmp_path, {g: [*members, (imsi(607), NONE)],
                                                  "other": [(imsi(610), BOTH)]})
    # no vector in use for the group: the HSS refuses
    at_hss = {
        "outside": await _refused(driver, imsi(699), g),
        "other group's device": await _refused(driver, imsi(610), g),
        "stale key id": await _refused(driver, imsi(600), g, key_id=KEY_ID + 1),
        "no capability asked": await _refused(driver, imsi(600), g, small_data="none"),
        "unknown group": await _refused(driver, imsi(600), "nobody"),
        "no capability subscribed": await _refused(driver, imsi(607), g),
    }
    assert at_hss["outside"][0].endswith("not a member of that group")
    assert at_hss["other group's device"][0].endswith("not a member of that group")
    assert at_hss["stale key id"][0].endswith("not the group's current key")
    assert at_hss["no capability asked"][0].endswith("no small-data capability for this "
                                                     "device")
    assert at_hss["unknown group"][0].endswith("unknown MTC group")
    assert at_hss["no capability subscribed"][0].endswith("no small-data capability for "
                                                          "this device")
    assert all(zh == 1 for _, zh in at_hss.values())  # each one Zh request, refused

    # a vector in use: the BSF refuses on the reuse path, without asking the HSS
    _, zh = await _send_ok(driver, imsi(601), g, "genuine")
    assert zh == 1
    on_reuse = {
        "stale key id": await _refused(driver, imsi(602), g, key_id=KEY_ID + 1),
        "no capability asked": await _refused(driver, imsi(603), g, small_data="none"),
    }
    assert on_reuse["stale key id"][0].endswith("not the group's current key")
    assert on_reuse["no capability asked"][0].endswith("no small-data capability for "
                                                       "this device")
    assert all(zh == 0 for _, zh in on_reuse.values())
    # an IMSI the stored settings do not list is not given the shared vector: the HSS
    # is asked, and refuses the outsider
    last, zh = await _refused(driver, imsi(698), g)
    assert last.endswith("not a member of that group")
    assert zh == 1
    assert [(r["imsi"], r["data"]) for r in (await driver.received())
            if r["group"] == group(g)] == [(imsi(601), "genuine")]


async def test_wrong_group_key_fails_aka(labs: Labs, tmp_path: Path) -> None:
    # alone in its group: see the next test
    driver = await _driver(labs, MAIN, tmp_path, {"wrongkey": [(imsi(620), BOTH)]})
    last, zh = await _refused(driver, imsi(620), "wrongkey", key=WRONG_KEY)
    assert "MAC-A does not verify" in last
    assert zh == 1


async def test_a_failed_aka_does_not_block_the_groups_vector(labs: Labs, tmp_path: Path
                                                             ) -> None:
    """Devices sharing a vector get nonces of their own (server data in the nonce), so a
    challenge left pending by a device whose AKA failed does not stop the next one."""
    driver = await _driver(labs, MAIN, tmp_path, {"pending": [(imsi(630), BOTH),
                                                              (imsi(631), BOTH)]})
    last, _ = await _refused(driver, imsi(630), "pending", key=WRONG_KEY)
    assert "MAC-A does not verify" in last
    [t], zh = await _send_ok(driver, imsi(631), "pending", "after")
    assert zh == 0  # the vector the failed device was given, reused
    assert t["downlink"] == f"ack {len(await driver.received())} for {imsi(631)}"
    assert (await driver.received())[-1] == {"imsi": imsi(631), "group": group("pending"),
                                             "data": "after"}


async def _capability_lab(labs: Labs, tmp_path: Path, source: str, name: str,
                          base: int = 700) -> MtcDriver:
    """Groups *name*-none (IMSI base: subscribed to nothing, base+1: both), *name*-send
    (base+10: send only) and *name*-asknone (base+20: both)."""
    return await _driver(labs, Config(capability_source=source), tmp_path, {
        f"{name}-none": [(imsi(base), NONE), (imsi(base + 1), BOTH)],
        f"{name}-send": [(imsi(base + 10), SEND)],
        f"{name}-asknone": [(imsi(base + 20), BOTH)]})


async def test_capability_from_the_request(labs: Labs, tmp_path: Path) -> None:
    driver = await _capability_lab(labs, tmp_path, "request", "capreq")
    last, zh = await _refused(driver, imsi(720), "capreq-asknone", small_data="none")
    assert last.endswith("no small-data capability for this device")
    assert zh == 1
    # the subscription says none, the request both: claim 6 takes the request's
    [t], zh = await _send_ok(driver, imsi(700), "capreq-none", "by request")
    assert zh == 1
    assert t["downlink"] is not None
    assert (await driver.received())[-1]["data"] == "by request"


async def test_capability_from_the_subscription(labs: Labs, tmp_path: Path) -> None:
    driver = await _capability_lab(labs, tmp_path, "subscription", "capsub")
    last, zh = await _refused(driver, imsi(700), "capsub-none")
    assert last.endswith("no small-data capability for this device")
    assert zh == 1
    # subscribed to send only, asking both: it may send, and gets no downlink (204)
    [t], zh = await _send_ok(driver, imsi(710), "capsub-send", "send only")
    assert zh == 1
    assert t["downlink"] is None
    assert any("204 (no downlink)" in m for m in t["messages"])
    assert (await driver.received())[-1]["data"] == "send only"
    # claim 7: the subscription decides, whatever the request says
    [t], zh = await _send_ok(driver, imsi(720), "capsub-asknone", "subscribed",
                             small_data="none")
    assert t["downlink"] is not None


async def test_capability_from_both(labs: Labs, tmp_path: Path) -> None:
    driver = await _capability_lab(labs, tmp_path, "both", "capboth")
    for who, grp, asked in ((imsi(700), "capboth-none", "both"),
                            (imsi(710), "capboth-send", "both"),  # more than subscribed
                            (imsi(720), "capboth-asknone", "none")):
        last, zh = await _refused(driver, who, grp, small_data=asked)
        assert last.endswith("no small-data capability for this device")
        assert zh == 1
    [t], zh = await _send_ok(driver, imsi(710), "capboth-send", "within", small_data="send")
    assert zh == 1
    assert t["downlink"] is None
    assert (await driver.received())[-1]["data"] == "within"


async def test_subscription_capability_holds_on_the_reuse_path(labs: Labs, tmp_path: Path
                                                               ) -> None:
    driver = await _capability_lab(labs, tmp_path, "subscription", "capsubreuse", 750)
    await _send_ok(driver, imsi(751), "capsubreuse-none", "first")  # the vector in use
    last, _ = await _refused(driver, imsi(750), "capsubreuse-none")
    assert last.endswith("no small-data capability for this device")


# ------------------------------------------------------------- membership on reuse


async def test_a_device_the_stored_settings_do_not_list_goes_to_the_hss(
        labs: Labs, tmp_path: Path) -> None:
    """docs/mtc.md §4: the reuse path refuses an IMSI the group's stored settings do not
    list; the HSS decides for it, and serves a device added since the vector was
    fetched (whose vector becomes the group's current one)."""
    a, b, c = imsi(801), imsi(802), imsi(803)
    driver = await _driver(labs, MAIN, tmp_path, {"late": [(a, BOTH), (b, BOTH)]})
    [first], zh = await _send_ok(driver, a, "late", "a")
    assert zh == 1  # the vector, stored with the settings listing a and b
    gba("hss", "add-mtc-device", "--config", driver.info["config"], "--imsi", c,
        "--group-id", group("late"))
    [late], zh = await _send_ok(driver, c, "late", "c")
    assert zh == 1  # not the stored vector: the HSS was asked, and knows c now
    late_rand = _btid_parts(late["btid"])[0]
    assert late_rand != _btid_parts(first["btid"])[0]
    assert late_rand == _challenge_rand(late)
    [then], zh = await _send_ok(driver, b, "late", "b")
    assert zh == 0  # b reuses c's vector, now the group's current one
    assert _btid_parts(then["btid"])[0] == late_rand
    got = [(g["imsi"], g["data"]) for g in (await driver.received())
           if g["group"] == group("late")]
    assert got == [(a, "a"), (c, "c"), (b, "b")]


# ------------------------------------------------------------- the MTC-IWF directly


async def test_mtc_iwf_refuses_garbage_unknown_replayed_and_forged(labs: Labs,
                                                                   tmp_path: Path) -> None:
    driver = await _driver(labs, MAIN, tmp_path, {"direct": [(imsi(901), BOTH)]})
    url = f"{driver.mtc['iwf_url']}/small-data"
    headers = {"Content-Type": SMALL_DATA_TYPE}
    zn0 = await driver.zn_requests()
    async with aiohttp.ClientSession() as http:

        async def post(body: bytes) -> tuple[int, bytes]:
            async with http.post(url, data=body, headers=headers) as r:
                return r.status, await r.read()

        assert (await post(b"\x07not a small-data message"))[0] == 400
        unknown = mtc_small_data.encode_header(
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==@bsf.mnc001.mcc001.pub.3gppnetwork.org",
            Direction.UPLINK, 1) + bytes(32)
        assert await post(unknown) == (403, b"unknown or expired B-TID\n")
        assert await driver.zn_requests() == zn0 + 1  # the BSF was asked, and said no

        async with MtcDevice(imsi(901), group("direct"), KEY_ID,
                             aka.Usim(DEMO_K, DEMO_OPC), mtc.Capability(BOTH),
                             driver.mtc["bsf_url"], driver.mtc["iwf_url"],
                             driver.mtc["iwf_fqdn"]) as device:
            btid, k_iwf, mode = await device.initialise([])
        assert mode == "both"
        keys = Keys.derive(k_iwf, mode)
        before = len(await driver.received())
        one = mtc_small_data.seal(keys, btid, Direction.UPLINK, 1, b"direct one")
        status, body = await post(one)
        assert status == 200
        _, downlink, _ = mtc_small_data.open_(keys, btid, body,
                                              mtc_small_data.ReplayWindow(),
                                              expect=Direction.DOWNLINK)
        assert downlink.decode().endswith(f"for {imsi(901)}")
        assert await post(one) == (403, b"small data refused\n")  # replayed
        two = bytearray(mtc_small_data.seal(keys, btid, Direction.UPLINK, 2, b"direct two"))
        two[-20] ^= 0x01
        assert await post(bytes(two)) == (403, b"small data refused\n")  # forged
        got = (await driver.received())[before:]
        assert [(g["imsi"], g["data"]) for g in got] == [(imsi(901), "direct one")]
        # a refused message leaves the replay window: the genuine counter 2 still opens
        status, _ = await post(mtc_small_data.seal(keys, btid, Direction.UPLINK, 2,
                                                   b"direct two"))
        assert status == 200
    got = (await driver.received())[before:]
    assert [g["data"] for g in got] == ["direct one", "direct two"]

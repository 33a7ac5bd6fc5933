"""The two-network roaming lab (issue 12, docs/roaming.md §5 step 1): ``gba lab up --with
roaming`` runs a home network (HSS, BSF, NAF) and a visited network (one server per
roaming case, and the home BSF as a ``remote`` function) as separate processes, and
``gba lab down`` stops both.

Until the cases are built, each visited server is a plain NAF asking the home BSF over
Zn directly (what case B-in-server will do).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.labctl import Subscriber, alive, gba, lab_down
from gba.ue.client import GbaClient

pytestmark = pytest.mark.roaming

HOME_REALM = "mnc001.mcc001.3gppnetwork.org"
VISITED_REALM = "mnc002.mcc001.3gppnetwork.org"
CASES = ("A", "B-standalone", "B-aaa", "B-in-server", "C", "D")
UA_DIGEST_CASES = ("A", "B-standalone", "B-aaa", "B-in-server", "C")
"""The cases whose server serves a Ua HTTP Digest resource (issue 12: A to C)."""
FETCH_TIMEOUT = 30.0
DOWN_TIMEOUT = 15.0


def _up(lab_dir: Path) -> dict[str, Any]:
    gba("lab", "up", "--with", "roaming", "--dir", lab_dir)
    info: dict[str, Any] = json.loads((lab_dir / "lab.json").read_text(encoding="utf-8"))
    return info


@pytest.fixture(scope="module")
def roaming_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    lab_dir = tmp_path_factory.mktemp("roaming")
    try:
        yield _up(lab_dir)
    finally:
        lab_down(lab_dir)


def _roamer(info: dict[str, Any], name: str) -> Subscriber:
    """A home subscriber, provisioned with the home network's config."""
    sub = Subscriber.fresh(f"{name}@ims.{HOME_REALM}")
    gba("hss", "add-subscriber", "--config", info["roaming"]["home"]["config"],
        "--impi", sub.impi, "--k", sub.k.hex(), "--opc", sub.opc.hex())
    return sub


def test_lab_json_describes_both_networks_and_every_case(roaming_lab: dict[str, Any]
                                                         ) -> None:
    roaming = roaming_lab["roaming"]
    assert set(roaming) == {"home", "visited"}
    home, visited = roaming["home"], roaming["visited"]
    assert home["realm"] == HOME_REALM
    assert home["bsf_url"].startswith("http://127.0.0.1:")
    assert Path(home["config"]).is_file()
    assert visited["realm"] == VISITED_REALM
    assert Path(visited["config"]).is_file()
    assert tuple(visited["cases"]) == CASES
    for case in visited["cases"].values():
        assert set(case) == {"naf_url", "naf_fqdn"}
        assert case["naf_url"].startswith("http://127.0.0.1:")
        assert case["naf_fqdn"].endswith(f".{VISITED_REALM}")
    # the home network's one-network keys come first, as in any lab
    assert roaming_lab["bsf_url"] == home["bsf_url"]
    assert roaming_lab["realm"] == HOME_REALM
    assert roaming_lab["config"] == home["config"]


def test_the_visited_lab_runs_no_process_for_the_remote_home_bsf(
        roaming_lab: dict[str, Any]) -> None:
    visited = json.loads((Path(roaming_lab["dir"]) / "visited" / "lab.json").read_text())
    assert "home-bsf" not in visited["functions"]
    assert {f["kind"] for f in visited["functions"].values()} == {"naf"}
    zn = roaming_lab["functions"]["bsf"]["endpoints"]["zn"]
    resolved = Path(roaming_lab["roaming"]["visited"]["config"]).read_text()
    assert f'diameter = "{zn}"' in resolved  # the home BSF's real Zn address


async def test_a_roaming_ue_bootstraps_at_home_and_reaches_a_home_naf(
        roaming_lab: dict[str, Any]) -> None:
    sub = _roamer(roaming_lab, "roamer-home-naf")
    async with asyncio.timeout(FETCH_TIMEOUT), GbaClient(
            sub.impi, sub.usim(), roaming_lab["roaming"]["home"]["bsf_url"]) as ue:
        boot = await ue.bootstrap()
        assert boot.btid.endswith("@bsf.mnc001.mcc001.pub.3gppnetwork.org")
        answer = await ue.fetch_digest(f"{roaming_lab['naf_url']}/", roaming_lab["naf_fqdn"])
    assert answer.status == 200
    assert sub.impi in answer.body.decode()


@pytest.mark.parametrize("case", UA_DIGEST_CASES)
async def test_each_visited_server_serves_ua_digest_keyed_by_the_home_bsf(
        roaming_lab: dict[str, Any], case: str) -> None:
    sub = _roamer(roaming_lab, f"roamer-{case.lower()}")
    server = roaming_lab["roaming"]["visited"]["cases"][case]
    async with asyncio.timeout(FETCH_TIMEOUT), GbaClient(
            sub.impi, sub.usim(), roaming_lab["roaming"]["home"]["bsf_url"]) as ue:
        answer = await ue.fetch_digest(f"{server['naf_url']}/", server["naf_fqdn"])
    assert answer.status == 200
    assert sub.impi in answer.body.decode()


def test_lab_down_stops_every_process_of_both_networks(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    lab_dir = tmp_path_factory.mktemp("roaming-down")
    try:
        info = _up(lab_dir)
        pids = [int(p) for p in info["pids"].values()]
        pids += [int(p) for p in info["status_pids"].values()]
        assert len(pids) == 3 + len(CASES) + 2  # home HSS, BSF, NAF; servers; 2 pages
        assert all(alive(pid) for pid in pids)
    finally:
        lab_down(lab_dir)
    deadline = time.monotonic() + DOWN_TIMEOUT
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)  # polling other processes' exit, bounded
    assert [pid for pid in pids if alive(pid)] == []
    assert json.loads((lab_dir / "lab.json").read_text())["pids"] == {}

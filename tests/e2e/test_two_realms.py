"""Two operator networks in one lab: a NAF of realm A gets Ks_NAF for a B-TID of realm B
through Diameter realm routing and a relay agent (RFC 6733 §2.8, §6.1; TS 33.220 §4.5.3).

Everything runs as separate processes started by ``gba lab up`` from one topology file
(tests/e2e/two_realms.toml): HSS and BSF of each network, a relay in network A, and
network A's NAF.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.labctl import Subscriber, gba, lab_down, lab_up
from gba.ue.client import GbaClient

TOPOLOGY = Path(__file__).with_name("two_realms.toml")
NAF_FQDN = "naf-a.example.org"


@pytest.fixture(scope="module")
def two_realms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    lab_dir = tmp_path_factory.mktemp("two-realms")
    lab_up(lab_dir, TOPOLOGY)
    try:
        yield json.loads((lab_dir / "lab.json").read_text(encoding="utf-8"))
    finally:
        lab_down(lab_dir)


def _endpoint(info: dict[str, Any], function: str, role: str) -> str:
    return str(info["functions"][function]["endpoints"][role])


def _subscriber(info: dict[str, Any], hss: str, name: str) -> Subscriber:
    realm = info["functions"][hss]["realm"]
    sub = Subscriber.fresh(f"{name}@ims.{realm}")
    gba("hss", "add-subscriber", "--config", info["config"], "--function", hss,
        "--impi", sub.impi, "--k", sub.k.hex(), "--opc", sub.opc.hex())
    return sub


def test_lab_json_lists_every_function_with_its_network(two_realms: dict[str, Any]) -> None:
    functions = two_realms["functions"]
    assert {n: f["kind"] for n, f in functions.items()} == {
        "hss-a": "hss", "hss-b": "hss", "bsf-a": "bsf", "bsf-b": "bsf", "dra": "dra",
        "naf-a": "naf"}
    assert functions["bsf-b"]["realm"] == "mnc002.mcc001.3gppnetwork.org"
    assert functions["naf-a"]["realm"] == "mnc001.mcc001.3gppnetwork.org"
    assert two_realms["naf_fqdn"] == NAF_FQDN  # the one-network keys still come first


async def test_naf_of_realm_a_serves_a_user_of_realm_b_through_the_relay(
        two_realms: dict[str, Any]) -> None:
    sub = _subscriber(two_realms, "hss-b", "roamer")
    bsf_b = f"http://{_endpoint(two_realms, 'bsf-b', 'ub')}/"
    naf_a = f"http://{_endpoint(two_realms, 'naf-a', 'http')}/"
    async with GbaClient(sub.impi, sub.usim(), bsf_b) as ue:
        boot = await ue.bootstrap()
        assert boot.btid.endswith("@bsf.mnc002.mcc001.pub.3gppnetwork.org")
        answer = await ue.fetch_digest(naf_a, NAF_FQDN)
    assert answer.status == 200
    assert sub.impi in answer.body.decode()
    logs = Path(two_realms["dir"])
    assert f"Zn: Ks_NAF for {boot.btid}" in (logs / "bsf-b.log").read_text()
    assert boot.btid not in (logs / "bsf-a.log").read_text()


async def test_naf_of_realm_a_still_serves_its_own_users_directly(
        two_realms: dict[str, Any]) -> None:
    sub = _subscriber(two_realms, "hss-a", "local")
    bsf_a = f"http://{_endpoint(two_realms, 'bsf-a', 'ub')}/"
    naf_a = f"http://{_endpoint(two_realms, 'naf-a', 'http')}/"
    async with GbaClient(sub.impi, sub.usim(), bsf_a) as ue:
        boot = await ue.bootstrap()
        answer = await ue.fetch_digest(naf_a, NAF_FQDN)
    assert answer.status == 200
    assert f"Zn: Ks_NAF for {boot.btid}" in (Path(two_realms["dir"]) / "bsf-a.log").read_text()


async def test_a_b_tid_of_an_unknown_network_is_refused_without_a_key(
        two_realms: dict[str, Any]) -> None:
    sub = _subscriber(two_realms, "hss-a", "stranger")
    naf_a = f"http://{_endpoint(two_realms, 'naf-a', 'http')}/"
    bsf_a = f"http://{_endpoint(two_realms, 'bsf-a', 'ub')}/"
    async with GbaClient(sub.impi, sub.usim(), bsf_a) as ue:
        await ue.bootstrap()
        assert ue.current is not None
        # a B-TID of realm mnc009 (no route, no peer): the NAF gets 3003 and refuses
        ue.current = type(ue.current)(ue.current.impi, ue.current.btid.replace(
            "mnc001", "mnc009"), ue.current.ks, ue.current.rand, ue.current.lifetime)
        answer = await ue.fetch_digest(naf_a, NAF_FQDN)
    assert answer.status == 503
    log = (Path(two_realms["dir"]) / "naf-a.log").read_text()
    assert "mnc009.mcc001.pub.3gppnetwork.org: BSF refused the key request with result 3003" \
        in log

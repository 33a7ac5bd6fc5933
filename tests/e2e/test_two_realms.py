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
from gba.config import DiameterNodeConfig
from gba.nf.common import peer_identity
from gba.protocols import zn
from gba.transport.diameter import DiameterClient, DiameterUnavailable
from gba.transport.tls import client_context
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


async def test_a_b_tid_of_an_unknown_network_makes_the_ue_bootstrap_again(
        two_realms: dict[str, Any]) -> None:
    sub = _subscriber(two_realms, "hss-a", "stranger")
    naf_a = f"http://{_endpoint(two_realms, 'naf-a', 'http')}/"
    bsf_a = f"http://{_endpoint(two_realms, 'bsf-a', 'ub')}/"
    async with GbaClient(sub.impi, sub.usim(), bsf_a) as ue:
        await ue.bootstrap()
        assert ue.current is not None
        # a B-TID of realm mnc009: the NAF's default route, its BSF, serves no such
        # realm (3003); the NAF treats the B-TID as unknown and challenges again
        forged = ue.current.btid.replace("mnc001", "mnc009")
        ue.current = type(ue.current)(ue.current.impi, forged, ue.current.ks,
                                      ue.current.rand, ue.current.lifetime)
        answer = await ue.fetch_digest(naf_a, NAF_FQDN)
        assert ue.current.btid != forged
    assert answer.status == 200  # after a fresh bootstrap with its home BSF
    log = (Path(two_realms["dir"]) / "naf-a.log").read_text()
    assert f"B-TID {forged} unknown to the BSF or expired" in log
    bsf_log = (Path(two_realms["dir"]) / "bsf-a.log").read_text()
    assert "realm mnc009.mcc001.3gppnetwork.org is not served" in bsf_log


async def _opens_as(info: dict[str, Any], origin_host: str, cert_of: str) -> bool:
    """Whether the relay opens for a peer claiming *origin_host* with *cert_of*'s
    lab certificate (mutual TLS on the relay's listener)."""
    tls_dir = Path(info["dir"]) / "zn-tls"
    tls = client_context(tls_dir / "ca.pem", tls_dir / f"{cert_of}-cert.pem",
                         tls_dir / f"{cert_of}-key.pem")
    host, port = _endpoint(info, "dra", "diameter").rsplit(":", 1)
    node = DiameterClient(peer_identity(DiameterNodeConfig(origin_host, "example.org")),
                          [zn.APPLICATION], host, int(port), ssl_context=tls,
                          server_hostname="dra.mnc001.mcc001.3gppnetwork.org")
    await node.start()
    try:
        await node.wait_open(timeout=3)
        return True
    except DiameterUnavailable:
        return False
    finally:
        await node.close()


async def test_the_relay_admits_a_peer_only_under_the_name_its_certificate_gives(
        two_realms: dict[str, Any]) -> None:
    # the BSF of realm B trusts the relay for naf-a: the relay must not let anyone else
    # speak as naf-a
    assert await _opens_as(two_realms, "naf-a.mnc001.mcc001.3gppnetwork.org", "naf-a")
    assert not await _opens_as(two_realms, "naf-a.mnc001.mcc001.3gppnetwork.org", "bsf-a")

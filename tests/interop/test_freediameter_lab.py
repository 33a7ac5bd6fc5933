"""freeDiameter, a real RFC 6733 relay agent, between our NAF and our BSF: the NAF gets
Ks_NAF through it (TS 33.220 §4.5.3; RFC 6733 §2.8, §6.1.9).

``freeDiameterd`` runs as its own process (Debian package ``freediameter``); the HSS, BSF
and NAF run as the processes ``gba lab up`` starts. The NAF's only Diameter peer is the
relay; the relay connects to the BSF and routes the BIR by Destination-Realm; the BSF
authorises the NAF by its Origin-Host and the relay in Route-Record (``via``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from e2e.labctl import Subscriber, gba, lab_down, lab_up
from freediameter import FREEDIAMETERD, FdPeer, FreeDiameterRelay, free_port
from gba.ue.client import GbaClient

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(FREEDIAMETERD is None,
                       reason="freeDiameterd not installed (Debian package freediameter)"),
]

REALM = "mnc001.mcc001.3gppnetwork.org"
RELAY = "relay.fd.mnc001.mcc001.3gppnetwork.org"
BSF_HOST = "bsf.mnc001.mcc001.3gppnetwork.org"
NAF_HOST = "naf.example.org"


def topology(bsf_zn_port: int, relay_port: int) -> dict[str, Any]:
    """HSS, BSF and NAF of one network, the NAF's Diameter peer being the relay."""
    return {
        "networks": {"home": {"realm": REALM}},
        "functions": {
            "hss": {"kind": "hss", "network": "home",
                    "diameter_host": "hss.mnc001.mcc001.3gppnetwork.org",
                    "zh_listen": "127.0.0.1:0", "rest_listen": "127.0.0.1:0",
                    "store": "hss.sqlite"},
            "bsf": {"kind": "bsf", "network": "home",
                    "server_name": "bsf.mnc001.mcc001.pub.3gppnetwork.org",
                    "diameter_host": BSF_HOST, "ub_listen": "127.0.0.1:0",
                    "zn_listen": f"127.0.0.1:{bsf_zn_port}", "hss": "hss",
                    "store": "bsf.sqlite", "tls": False,
                    "naf": [{"diameter_host": NAF_HOST, "hostnames": [NAF_HOST],
                             "via": [RELAY]}]},
            "naf": {"kind": "naf", "network": "home", "fqdn": NAF_HOST,
                    "diameter_host": NAF_HOST, "diameter_realm": "example.org",
                    "http_listen": "127.0.0.1:0", "psk_tls_listen": "127.0.0.1:0",
                    "bsf": f"127.0.0.1:{relay_port}", "bsf_realm": REALM,
                    "store": "naf.sqlite"},
        },
    }


@pytest.fixture
async def relayed_lab(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    bsf_port, relay_port = free_port(), free_port()
    config_file = tmp_path / "relayed.toml"
    config_file.write_text(tomli_w.dumps(topology(bsf_port, relay_port)), encoding="utf-8")
    relay = FreeDiameterRelay(RELAY, REALM, [
        FdPeer(BSF_HOST, REALM, ("127.0.0.1", bsf_port)),
        FdPeer(NAF_HOST, "example.org")], tmp_path / "fd", relay_port)
    async with relay:
        lab_up(tmp_path / "lab", config_file)
        try:
            await relay.wait_open(BSF_HOST, timeout=15)
            yield json.loads((tmp_path / "lab" / "lab.json").read_text(encoding="utf-8"))
        finally:
            lab_down(tmp_path / "lab")


async def test_naf_fetches_ks_naf_from_the_bsf_through_freediameter(
        relayed_lab: dict[str, Any]) -> None:
    sub = Subscriber.fresh(f"relayed@ims.{REALM}")
    gba("hss", "add-subscriber", "--config", relayed_lab["config"], "--impi", sub.impi,
        "--k", sub.k.hex(), "--opc", sub.opc.hex())
    async with GbaClient(sub.impi, sub.usim(), relayed_lab["bsf_url"]) as ue:
        boot = await ue.bootstrap()
        answer = await ue.fetch_digest(relayed_lab["naf_url"] + "/", NAF_HOST)
    assert answer.status == 200
    assert sub.impi in answer.body.decode()
    bsf_log = (Path(relayed_lab["dir"]) / "bsf.log").read_text()
    assert f"Zn: Ks_NAF for {boot.btid} to NAF {NAF_HOST}" in bsf_log
    assert f"diameter peer {RELAY} (realm {REALM}) open" in bsf_log
    naf_log = (Path(relayed_lab["dir"]) / "naf.log").read_text()
    assert f"diameter peer {RELAY} (realm {REALM}) open" in naf_log
    assert f"diameter peer {BSF_HOST}" not in naf_log

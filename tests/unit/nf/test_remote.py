"""The ``remote`` kind: another operator's function, named as a Diameter peer, never run
here (docs/roaming.md §5 step 1)."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path
from typing import Any

import pytest

from gba.config import Address
from gba.lab import lab, roaming
from gba.nf import registry, services
from gba.nf.registry import DiameterEndpoint

pytestmark = pytest.mark.roaming


def _visited() -> dict[str, Any]:
    return tomllib.loads(roaming.source("visited").read_text(encoding="utf-8"))


def test_a_peer_reference_to_a_remote_function_resolves_to_its_listener() -> None:
    raw = _visited()
    raw["functions"]["home-bsf"]["diameter"] = "127.0.0.1:3868"
    topology = registry.parse(raw, roaming.source("visited"))
    assert registry.diameter_peer(topology, "home-bsf", "x") == DiameterEndpoint(
        Address("127.0.0.1", 3868), "bsf.mnc001.mcc001.3gppnetwork.org", tls=True)


def test_a_naf_naming_a_remote_bsf_asks_the_remote_realm() -> None:
    topology = registry.load(roaming.source("visited"))
    remote = registry.config_of(topology, "home-bsf")
    assert remote.diameter.realm == "mnc001.mcc001.3gppnetwork.org"
    assert registry.config_of(topology, "bmsc-bin").bsf_realm == remote.diameter.realm


def test_a_remote_function_has_no_endpoints_and_does_not_run() -> None:
    topology = registry.load(roaming.source("visited"))
    assert registry.endpoints(topology, "home-bsf") == {}
    assert not registry.runs(topology, "home-bsf")
    assert registry.runs(topology, "bmsc-a")


def test_serving_a_remote_function_returns_at_once() -> None:
    topology = registry.load(roaming.source("visited"))
    asyncio.run(asyncio.wait_for(services.serve("home-bsf", topology), 5.0))


def test_the_lab_resolves_no_address_of_a_remote_function(tmp_path: Path) -> None:
    data = lab._resolve(_visited(), None)
    section = data["functions"]["home-bsf"]
    assert section["diameter"] == "127.0.0.1:0"  # the roaming lab writes the real one
    assert registry.METRICS_LISTEN not in section


def test_the_roaming_topologies_ship_in_the_package() -> None:
    for name in (roaming.HOME, roaming.VISITED):
        assert roaming.source(name).is_file()
    assert set(roaming.CASES.values()) <= set(_visited()["functions"])

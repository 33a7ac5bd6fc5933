"""The registry of network-function kinds (gba.nf.registry): which kinds exist, how a
function's section becomes its kind's config, where it listens, how a peer reference
resolves, and the start order of a lab."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gba.config import SAMPLE_CONFIG, Address, Topology, normalise
from gba.errors import ConfigError
from gba.nf import (
    aaa_service,
    auc_service,
    bsf_service,
    dra,
    gba_proxy_service,
    hss_service,
    mtc_service,
    naf_service,
    ngn_service,
    push_service,
    registry,
    remote,
)
from gba.nf.registry import DiameterEndpoint, load, parse

TWO_REALMS = Path(__file__).parents[2] / "e2e" / "two_realms.toml"
KIND_ORDER = {"hss": 0, "bsf": 1, "dra": 2, "naf": 3}


def two_realms_data() -> dict[str, Any]:
    return normalise(tomllib.loads(TWO_REALMS.read_text(encoding="utf-8")))


def with_distinct_ports(data: dict[str, Any]) -> dict[str, Any]:
    """Every listen key of every function at its own port, 20000 upwards."""
    port = 20000
    for section in data["functions"].values():
        for key in registry.kind(section["kind"]).listen_keys:
            if key not in section:  # an optional listener (e.g. the NAF's https_listen)
                continue
            host = Address.parse(section[key], key).host
            section[key] = str(Address(host, port))
            port += 1
    return data


@pytest.fixture(scope="module")
def two() -> Topology:
    return parse(with_distinct_ports(two_realms_data()), TWO_REALMS)


# ------------------------------------------------------------------ kinds


def test_kinds_come_from_their_modules() -> None:
    assert registry.kinds() == {"hss": hss_service.KIND, "bsf": bsf_service.KIND,
                                "dra": dra.KIND, "naf": naf_service.KIND,
                                "remote": remote.KIND, "gba_proxy": gba_proxy_service.KIND,
                                "aaa": aaa_service.KIND, "bmsc": naf_service.BMSC_KIND,
                                "push_naf": push_service.KIND,
                                "mtc_iwf": mtc_service.IWF_KIND,
                                "mtc_as": mtc_service.AS_KIND,
                                "auc": auc_service.KIND,
                                "ngn_softswitch": ngn_service.SOFTSWITCH_KIND,
                                "ngn_proxy": ngn_service.PROXY_KIND}
    assert all(name == k.name for name, k in registry.kinds().items())


def test_unknown_kind_raises_config_error_listing_the_known_ones() -> None:
    with pytest.raises(ConfigError,
                       match=r"unknown network function kind 'pcrf'; one of aaa, auc, bmsc, bsf, "
                             r"dra, gba_proxy, hss, mtc_as, mtc_iwf, naf, ngn_proxy, "
                             r"ngn_softswitch, push_naf, remote$"):
        registry.kind("pcrf")


def test_servers_start_before_their_clients() -> None:
    order = {name: k.order for name, k in registry.kinds().items()}
    assert order["hss"] < order["bsf"] < order["dra"] < order["naf"]


@pytest.mark.parametrize("name", ["hss-a", "bsf-b", "dra", "naf-a"])
def test_endpoints_are_the_addresses_under_the_kinds_listen_keys(
        two: Topology, name: str) -> None:
    section = two.function(name).section
    listen_keys = registry.kind(two.function(name).kind).listen_keys
    assert sorted(registry.endpoints(two, name).values(), key=str) == sorted(
        (section.address(key) for key in listen_keys if key in section.data), key=str)


def test_endpoints_name_each_socket_by_role(two: Topology) -> None:
    assert {n: sorted(registry.endpoints(two, n)) for n in two.functions} == {
        "hss-a": ["rest", "zh"], "hss-b": ["rest", "zh"], "bsf-a": ["ub", "zn"],
        "bsf-b": ["ub", "zn"], "dra": ["diameter"], "naf-a": ["http", "psk_tls"]}


# ------------------------------------------------------------------ config_of and check


def test_config_of_parses_a_function_with_its_kinds_parser(two: Topology) -> None:
    assert isinstance(registry.config_of(two, "hss-b"), hss_service.HssConfig)
    assert isinstance(registry.config_of(two, "bsf-b"), bsf_service.BsfConfig)
    assert isinstance(registry.config_of(two, "dra"), dra.DraConfig)
    assert isinstance(registry.config_of(two, "naf-a"), naf_service.NafConfig)
    assert registry.config_of(two, "dra") == dra.parse(two, "dra")


def test_config_of_an_unknown_function_raises_config_error(two: Topology) -> None:
    with pytest.raises(ConfigError, match=r"no network function 'naf-b'"):
        registry.config_of(two, "naf-b")


def test_check_parses_every_function_so_a_bad_section_fails() -> None:
    cfg = load(SAMPLE_CONFIG)
    registry.check(cfg)
    del cfg.function("naf").section.data["fqdn"]  # a section spoilt after load
    with pytest.raises(ConfigError, match=r"functions\.naf\.fqdn is missing"):
        registry.check(cfg)


# ------------------------------------------------------------------ peer references


def test_function_reference_resolves_to_its_zn_listener_host_and_tls(two: Topology) -> None:
    bsf_b = registry.config_of(two, "bsf-b")
    assert registry.diameter_peer(two, "bsf-b", "functions.dra.connect") == DiameterEndpoint(
        bsf_b.zn_listen, "bsf.mnc002.mcc001.3gppnetwork.org", tls=True)
    assert bsf_b.zn_listen.port != 0


def test_hss_reference_resolves_to_its_zh_listener_with_tls(two: Topology) -> None:
    assert registry.diameter_peer(two, "hss-a", "functions.bsf-a.hss") == DiameterEndpoint(
        registry.config_of(two, "hss-a").zh_listen, "hss.mnc001.mcc001.3gppnetwork.org",
        tls=True)


def test_relay_reference_resolves_to_its_listener(two: Topology) -> None:
    assert registry.diameter_peer(two, "dra", "functions.naf-a.connect") == DiameterEndpoint(
        registry.config_of(two, "dra").listen, "dra.mnc001.mcc001.3gppnetwork.org", tls=True,
        agent=True)  # so its own realm is not routed to it


def test_tls_of_a_reference_follows_the_peers_listener() -> None:
    raw = tomllib.loads(TWO_REALMS.read_text(encoding="utf-8"))
    raw["functions"]["bsf-b"]["tls"] = False
    assert not registry.diameter_peer(parse(raw, TWO_REALMS), "bsf-b", "x").tls


def test_sample_naf_reaches_its_bsf_over_tls_without_a_tls_key_of_its_own() -> None:
    sample = load(SAMPLE_CONFIG)
    assert not sample.naf.tls.enabled
    assert registry.diameter_peer(sample, sample.naf.bsf, "functions.naf.bsf").tls


@pytest.mark.parametrize(("ref", "address"), [
    ("192.0.2.7:3868", Address("192.0.2.7", 3868)),
    ("[2001:db8::1]:3869", Address("2001:db8::1", 3869)),
    ("dra.example.net:3868", Address("dra.example.net", 3868)),
])
def test_host_port_reference_is_an_outside_node_of_unknown_identity(
        two: Topology, ref: str, address: Address) -> None:
    assert registry.diameter_peer(two, ref, "functions.naf-a.connect") == DiameterEndpoint(
        address, None, tls=False)


def test_reference_to_no_function_raises_config_error_naming_the_key(two: Topology) -> None:
    with pytest.raises(ConfigError, match=r"^functions\.naf-a\.connect = 'dra-b' is neither "
                                          r"host:port nor a function$"):
        registry.diameter_peer(two, "dra-b", "functions.naf-a.connect")


def test_reference_to_a_function_without_diameter_listener_raises_config_error(
        two: Topology) -> None:
    with pytest.raises(ConfigError, match=r"^functions\.dra\.connect = 'naf-a' is a naf, "
                                          r"which has no Diameter listener$"):
        registry.diameter_peer(two, "naf-a", "functions.dra.connect")


def test_bad_port_in_a_reference_raises_config_error_naming_the_key(two: Topology) -> None:
    with pytest.raises(ConfigError, match=r"functions\.bsf-a\.hss: .* is not host:port"):
        registry.diameter_peer(two, "hss:99999", "functions.bsf-a.hss")


# ------------------------------------------------------------------ start order


def test_ordered_starts_hsss_then_bsfs_then_the_relay_then_the_naf(two: Topology) -> None:
    assert registry.ordered(two) == ["hss-a", "hss-b", "bsf-a", "bsf-b", "dra", "naf-a"]


def test_ordered_sample_starts_hss_bsf_naf() -> None:
    assert registry.ordered(load(SAMPLE_CONFIG)) == ["hss", "bsf", "naf"]


@settings(max_examples=50, deadline=None)
@given(st.permutations(list(two_realms_data()["functions"])))
def test_ordered_follows_the_kinds_whatever_the_file_order(names: list[str]) -> None:
    data = two_realms_data()
    data["functions"] = {n: data["functions"][n] for n in names}
    cfg = parse(data, TWO_REALMS)
    kinds = [cfg.function(n).kind for n in registry.ordered(cfg)]
    assert kinds == sorted(kinds, key=KIND_ORDER.__getitem__)
    assert sorted(registry.ordered(cfg)) == sorted(names)
    # functions of one kind keep the file's order
    assert [n for n in registry.ordered(cfg) if n.startswith("hss")] == [
        n for n in names if n.startswith("hss")]

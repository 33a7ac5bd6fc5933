"""A topology of several networks and several functions of a kind (gba.config.Topology):
tests/e2e/two_realms.toml, choosing a function, the errors of a topology, the lab's port
and store-path resolution, and ``--function`` on the command line."""

from __future__ import annotations

import copy
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gba import config
from gba.cli.main import app
from gba.config import SAMPLE_CONFIG, Address, Topology, normalise
from gba.errors import ConfigError
from gba.lab import lab
from gba.nf import registry
from gba.nf.registry import load, parse
from gba.protocols import zn
from vectors import ts35208_set

TWO_REALMS = Path(__file__).parents[1] / "e2e" / "two_realms.toml"
REALM_A = "mnc001.mcc001.3gppnetwork.org"
REALM_B = "mnc002.mcc001.3gppnetwork.org"
DRA_HOST = "dra.mnc001.mcc001.3gppnetwork.org"


def two_realms_raw() -> dict[str, Any]:
    return tomllib.loads(TWO_REALMS.read_text(encoding="utf-8"))


def sample_data() -> dict[str, Any]:
    return normalise(tomllib.loads(SAMPLE_CONFIG.read_text(encoding="utf-8")))


def listeners(data: dict[str, Any]) -> dict[tuple[str, str], Address]:
    """Every listening address of a topology's raw data, by (function, TOML key)."""
    return {(name, key): Address.parse(section[key], key)
            for name, section in data["functions"].items()
            for key in registry.kind(section["kind"]).listen_keys if key in section}


@pytest.fixture(scope="module")
def two() -> Topology:
    return load(TWO_REALMS)


# ------------------------------------------------------------------ two realms


def test_two_realms_has_two_networks(two: Topology) -> None:
    assert two.networks == {"a": REALM_A, "b": REALM_B}
    assert two.realm == REALM_A


def test_two_realms_has_six_functions_of_four_kinds_in_their_networks(two: Topology) -> None:
    assert {n: (f.kind, f.network) for n, f in two.functions.items()} == {
        "hss-a": ("hss", "a"), "bsf-a": ("bsf", "a"), "hss-b": ("hss", "b"),
        "bsf-b": ("bsf", "b"), "dra": ("dra", "a"), "naf-a": ("naf", "a")}


def test_each_function_takes_the_realm_of_its_network(two: Topology) -> None:
    realms = {n: f.realm for n, f in two.functions.items()}
    assert realms == {"hss-a": REALM_A, "bsf-a": REALM_A, "hss-b": REALM_B, "bsf-b": REALM_B,
                      "dra": REALM_A, "naf-a": REALM_A}
    origin_realms = {n: registry.config_of(two, n).diameter.realm for n in two.functions}
    assert origin_realms == realms


def test_each_bsf_asks_the_hss_of_its_own_realm(two: Topology) -> None:
    bsf_a, bsf_b = (registry.config_of(two, n) for n in ("bsf-a", "bsf-b"))
    assert (bsf_a.hss, bsf_a.hss_realm) == ("hss-a", REALM_A)
    assert (bsf_b.hss, bsf_b.hss_realm) == ("hss-b", REALM_B)


def test_each_hss_allows_only_the_bsf_of_its_network_on_zh(two: Topology) -> None:
    assert registry.config_of(two, "hss-a").bsf_hosts == ("bsf.mnc001.mcc001.3gppnetwork.org",)
    assert registry.config_of(two, "hss-b").bsf_hosts == ("bsf.mnc002.mcc001.3gppnetwork.org",)


def test_bsf_b_accepts_the_naf_of_network_a_through_the_relay(two: Topology) -> None:
    (naf,) = registry.config_of(two, "bsf-b").nafs
    assert (naf.diameter_host, naf.hostnames, naf.via) == (
        "naf-a.mnc001.mcc001.3gppnetwork.org", ("naf-a.example.org",), (DRA_HOST,))
    (direct,) = registry.config_of(two, "bsf-a").nafs
    assert direct.via == ()


def test_naf_routes_realm_b_through_the_relay_and_connects_to_it(two: Topology) -> None:
    naf = registry.config_of(two, "naf-a")
    assert (naf.bsf, naf.bsf_realm) == ("bsf-a", REALM_A)
    assert naf.connect == ("dra",)
    assert naf.routes == {REALM_B: (DRA_HOST,)}
    assert naf.btid_realms == {}


def test_relay_connects_to_bsf_b_in_relay_mode_over_tls(two: Topology) -> None:
    dra = registry.config_of(two, "dra")
    assert dra.mode == "relay"
    assert dra.connect == ("bsf-b",)
    assert dra.routes == {}
    assert dra.applications == (zn.APPLICATION,)  # Zh is not relayed unless asked for
    assert dra.accept is None
    assert dra.tls.enabled
    assert dra.diameter.host == DRA_HOST


def test_relay_mode_proxy_announces_the_configured_applications() -> None:
    raw = two_realms_raw()
    raw["functions"]["dra"] |= {"mode": "proxy", "applications": ["zn"]}
    dra = registry.config_of(parse(raw, TWO_REALMS), "dra")
    assert (dra.mode, dra.applications) == ("proxy", (zn.APPLICATION,))


@pytest.mark.parametrize(("key", "value", "message"), [
    ("mode", "redirect", r"functions\.dra\.mode = 'redirect': relay or proxy"),
    ("applications", ["zn", "s6a"], r"functions\.dra\.applications: 's6a' is not one of"),
])
def test_relay_with_an_unknown_mode_or_application_raises_config_error(
        key: str, value: Any, message: str) -> None:
    raw = two_realms_raw()
    raw["functions"]["dra"][key] = value
    with pytest.raises(ConfigError, match=message):
        parse(raw, TWO_REALMS)


def test_one_network_accessors_give_the_first_function_of_a_kind(two: Topology) -> None:
    assert two.hss == registry.config_of(two, "hss-a")
    assert two.bsf == registry.config_of(two, "bsf-a")
    assert two.naf == registry.config_of(two, "naf-a")


def test_one_network_accessor_without_such_a_function_raises_config_error() -> None:
    raw = two_realms_raw()
    del raw["functions"]["naf-a"]
    with pytest.raises(ConfigError, match="has no naf function"):
        _ = parse(raw, TWO_REALMS).naf


# ------------------------------------------------------------------ choosing a function


def test_only_gives_the_one_function_of_a_kind(two: Topology) -> None:
    assert two.only("naf").name == "naf-a"
    assert two.only("dra").name == "dra"


def test_only_with_two_candidates_raises_config_error_naming_them(two: Topology) -> None:
    with pytest.raises(ConfigError, match=r"has 2 hss functions \(hss-a, hss-b\): name one"):
        two.only("hss")


def test_only_with_no_candidate_raises_config_error() -> None:
    with pytest.raises(ConfigError, match=r"has 0 dra functions \(none\)"):
        load(SAMPLE_CONFIG).only("dra")


def test_only_with_a_name_picks_that_function(two: Topology) -> None:
    assert two.only("hss", "hss-b") == two.function("hss-b")


def test_only_with_a_name_of_another_kind_raises_config_error(two: Topology) -> None:
    with pytest.raises(ConfigError, match=r"function 'bsf-b' is a bsf, not a hss"):
        two.only("hss", "bsf-b")


def test_unknown_function_name_raises_config_error_listing_the_functions(
        two: Topology) -> None:
    with pytest.raises(ConfigError,
                       match=r"no network function 'hss-c' .* it has hss-a, bsf-a, hss-b"):
        two.function("hss-c")


# ------------------------------------------------------------------ topology errors


def test_unknown_kind_raises_config_error_listing_the_known_kinds() -> None:
    raw = two_realms_raw()
    raw["functions"]["dra"]["kind"] = "dea"
    with pytest.raises(ConfigError, match=r"unknown network function kind 'dea'; "
                                          r"one of aaa, auc, bmsc, bsf, dra, gba_proxy, hss, "
                                          r"mtc_as, mtc_iwf, naf, ngn_proxy, ngn_softswitch, "
                                          r"push_naf, remote"):
        parse(raw, TWO_REALMS)


def test_unknown_kind_raises_config_error_naming_the_function() -> None:
    raw = two_realms_raw()
    raw["functions"]["dra"]["kind"] = "dea"
    with pytest.raises(ConfigError, match=r"functions\.dra\.kind"):
        parse(raw, TWO_REALMS)


def test_function_in_an_unknown_network_raises_config_error_naming_it() -> None:
    raw = two_realms_raw()
    raw["functions"]["bsf-b"]["network"] = "c"
    with pytest.raises(ConfigError,
                       match=r"functions\.bsf-b\.network = 'c' is not in \[networks\]"):
        parse(raw, TWO_REALMS)


def test_topology_without_networks_raises_config_error() -> None:
    raw = two_realms_raw()
    del raw["networks"]
    with pytest.raises(ConfigError, match=r"\[networks\.<name>\] with a realm is missing"):
        parse(raw, TWO_REALMS)


def test_topology_without_functions_raises_config_error() -> None:
    raw = two_realms_raw()
    raw["functions"] = {}
    with pytest.raises(ConfigError, match=r"no \[functions\.<name>\] sections"):
        parse(raw, TWO_REALMS)


def test_networks_without_any_function_table_raises_the_topology_error() -> None:
    raw = two_realms_raw()
    del raw["functions"]
    with pytest.raises(ConfigError, match=r"no \[functions\.<name>\] sections"):
        parse(raw, TWO_REALMS)


def test_peer_reference_to_an_unknown_function_raises_config_error() -> None:
    raw = two_realms_raw()
    raw["functions"]["bsf-b"]["hss"] = "hss-c"
    with pytest.raises(ConfigError, match=r"hss = 'hss-c' is neither host:port nor a function"):
        parse(raw, TWO_REALMS)


def test_peer_reference_to_an_unknown_function_names_the_key() -> None:
    raw = two_realms_raw()
    raw["functions"]["bsf-b"]["hss"] = "hss-c"
    with pytest.raises(ConfigError, match=r"functions\.bsf-b\.hss"):
        parse(raw, TWO_REALMS)


@pytest.mark.parametrize(("name", "key", "value"), [
    ("naf-a", "connect", ["dra", "nowhere"]),
    ("dra", "connect", ["naf-a"]),
    ("bsf-a", "hss", "naf-a"),
])
def test_bad_peer_reference_fails_at_load(name: str, key: str, value: Any) -> None:
    raw = two_realms_raw()
    raw["functions"][name][key] = value
    with pytest.raises(ConfigError, match=rf"functions\.{name}\.{key}"):
        parse(raw, TWO_REALMS)


def test_parse_does_not_change_the_parsed_dict() -> None:
    raw = two_realms_raw()
    before = copy.deepcopy(raw)
    parse(raw, TWO_REALMS)
    assert raw == before


# ------------------------------------------------------------------ lab resolution


def test_resolve_replaces_every_port_zero_of_every_listener(two: Topology) -> None:
    before = listeners(normalise(two.raw))
    after = listeners(lab._resolve(normalise(two.raw), None))
    assert set(after) == set(before)
    assert len(after) == 11
    assert all(a.port != 0 and a.host == before[k].host for k, a in after.items())


def test_resolve_gives_distinct_ports_even_when_the_os_repeats_one(
        two: Topology, monkeypatch: pytest.MonkeyPatch) -> None:
    # The OS can hand a just-released port back: measured on Linux, 11 calls of
    # free_port() repeat a port in about 1 run in 300.
    ports = itertools.chain([40000], itertools.count(40000))
    monkeypatch.setattr(config, "free_port", lambda host="127.0.0.1": next(ports))
    resolved = listeners(lab._resolve(normalise(two.raw), None))
    assert len({a.port for a in resolved.values()}) == len(resolved)


def test_resolve_keeps_explicit_ports_and_peer_references(two: Topology) -> None:
    data = normalise(two.raw)
    data["functions"]["hss-a"]["zh_listen"] = "127.0.0.1:3868"
    data["functions"]["dra"]["listen"] = "[::1]:3870"
    resolved = lab._resolve(data, None)["functions"]
    assert resolved["hss-a"]["zh_listen"] == "127.0.0.1:3868"
    assert resolved["dra"]["listen"] == "[::1]:3870"
    assert (resolved["bsf-a"]["hss"], resolved["naf-a"]["connect"]) == ("hss-a", ["dra"])


def test_resolve_picks_a_port_on_an_ipv6_listener() -> None:
    data = sample_data()
    data["functions"]["naf"]["http_listen"] = "[::1]:0"
    resolved = Address.parse(lab._resolve(data, None)["functions"]["naf"]["http_listen"], "x")
    assert resolved.host == "::1"
    assert resolved.port != 0


def test_resolve_makes_a_users_relative_store_absolute_beside_the_users_file(
        tmp_path: Path) -> None:
    data = normalise(two_realms_raw())
    data["functions"]["bsf-b"]["store"] = "redis://127.0.0.1:6379/3"
    data["functions"]["naf-a"]["store"] = "db/naf-a.sqlite"
    data["functions"]["hss-b"]["store"] = str(tmp_path / "abs" / "hss-b.sqlite")
    user_file = tmp_path / "conf" / "two.toml"
    stores = {n: s["store"] for n, s in lab._resolve(data, user_file)["functions"].items()
              if "store" in s}
    assert stores == {"hss-a": str(tmp_path / "conf" / "hss-a.sqlite"),
                      "bsf-a": str(tmp_path / "conf" / "bsf-a.sqlite"),
                      "hss-b": str(tmp_path / "abs" / "hss-b.sqlite"),
                      "bsf-b": "redis://127.0.0.1:6379/3",
                      "naf-a": str(tmp_path / "conf" / "db" / "naf-a.sqlite")}


def test_resolve_leaves_the_samples_stores_relative_to_the_lab_directory() -> None:
    stores = {n: s["store"] for n, s in lab._resolve(sample_data(), None)["functions"].items()}
    assert stores == {"hss": "hss.sqlite", "bsf": "bsf.sqlite", "naf": "naf.sqlite"}


@pytest.fixture
def resolved_two_realms(tmp_path: Path) -> Path:
    """two_realms.toml as a user's file in tmp/src, resolved by the lab into tmp/lab."""
    user_file = tmp_path / "src" / "two_realms.toml"
    user_file.parent.mkdir()
    shutil.copy(TWO_REALMS, user_file)
    (tmp_path / "lab").mkdir()  # as lab.up() makes it
    return lab._prepare_config(tmp_path / "lab", user_file).path


def test_prepared_lab_config_loads_with_ports_stores_and_certificates(
        resolved_two_realms: Path, tmp_path: Path) -> None:
    cfg = load(resolved_two_realms)
    assert cfg.path == (tmp_path / "lab" / "network.toml").resolve()
    assert cfg.networks == load(TWO_REALMS).networks
    ports = [a.port for n in cfg.functions for a in registry.endpoints(cfg, n).values()]
    assert len(ports) == 11
    assert 0 not in ports
    stores = {n: cfg.store_url(getattr(registry.config_of(cfg, n), "store", "memory:"))
              for n in cfg.functions}
    assert stores["hss-b"] == str(tmp_path / "src" / "hss-b.sqlite")
    for name in ("bsf-a", "bsf-b", "dra", "naf-a"):
        tls = registry.config_of(cfg, name).tls
        assert cfg.file(tls.cert).is_file()
        assert cfg.file(tls.key).is_file()
    assert (tmp_path / "lab" / "zn-tls" / "ca.pem").is_file()


def test_peer_references_resolve_to_the_picked_ports(resolved_two_realms: Path) -> None:
    cfg = load(resolved_two_realms)
    peer = registry.diameter_peer(cfg, "bsf-b", "functions.dra.connect")
    assert peer.address == registry.config_of(cfg, "bsf-b").zn_listen
    assert peer.address.port != 0


texts = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(realm=texts, host=texts, server_name=texts, hostnames=st.lists(texts, max_size=3),
       gaa=texts)
def test_any_string_round_trips_through_the_labs_writer_and_load(
        scratch: Path, realm: str, host: str, server_name: str, hostnames: list[str],
        gaa: str) -> None:
    data = sample_data()
    data["networks"]["default"]["realm"] = realm
    functions = data["functions"]
    functions["hss"]["diameter_host"] = host
    functions["bsf"] |= {"server_name": server_name, "naf": [
        {"diameter_host": host, "hostnames": hostnames, "gaa_service_ids": [gaa]}]}
    functions["naf"]["gaa_service_id"] = gaa
    path = scratch / "network.toml"
    path.write_text(tomli_w.dumps(lab._resolve(data, None)), encoding="utf-8")
    cfg = load(path)
    assert cfg.networks == {"default": realm}
    assert cfg.hss.diameter == config.DiameterNodeConfig(host, realm)
    assert cfg.bsf.server_name == server_name
    assert (cfg.bsf.nafs[0].hostnames, cfg.bsf.nafs[0].gaa_service_ids) == (
        tuple(hostnames), (gaa,))
    assert cfg.naf.gaa_service_id == gaa


# ------------------------------------------------------------------ the command line


IMPI = "roamer@ims.mnc002.mcc001.3gppnetwork.org"
K, OPC = (octets.hex() for octets in ts35208_set(1))


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def listed(config_file: Path, function: str) -> list[str]:
    result = cli("hss", "list", "--config", str(config_file), "--function", function)
    assert result.exit_code == 0, result.output
    return [json.loads(line)["impi"] for line in result.output.splitlines()]


def test_add_subscriber_writes_into_the_named_hss_only(
        resolved_two_realms: Path, tmp_path: Path) -> None:
    result = cli("hss", "add-subscriber", "--config", str(resolved_two_realms),
                 "--function", "hss-b", "--impi", IMPI, "--k", K, "--opc", OPC)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["impi"] == IMPI
    assert (tmp_path / "src" / "hss-b.sqlite").is_file()
    assert listed(resolved_two_realms, "hss-b") == [IMPI]
    assert listed(resolved_two_realms, "hss-a") == []


def test_add_subscriber_without_function_on_two_hss_raises_config_error(
        resolved_two_realms: Path, tmp_path: Path) -> None:
    result = cli("hss", "add-subscriber", "--config", str(resolved_two_realms),
                 "--impi", IMPI, "--k", K, "--opc", OPC)
    assert isinstance(result.exception, ConfigError)
    assert "2 hss functions (hss-a, hss-b): name one" in str(result.exception)
    assert not (tmp_path / "src" / "hss-a.sqlite").exists()
    assert not (tmp_path / "src" / "hss-b.sqlite").exists()


def test_add_subscriber_with_a_function_of_another_kind_raises_config_error(
        resolved_two_realms: Path) -> None:
    result = cli("hss", "add-subscriber", "--config", str(resolved_two_realms),
                 "--function", "bsf-b", "--impi", IMPI, "--k", K, "--opc", OPC)
    assert isinstance(result.exception, ConfigError)
    assert "'bsf-b' is a bsf, not a hss" in str(result.exception)


def test_gba_without_function_on_two_hss_prints_one_error_line_and_exits_2(
        resolved_two_realms: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gba", "hss", "add-subscriber", "--config",
         str(resolved_two_realms), "--impi", IMPI, "--k", K, "--opc", OPC],
        capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"error: {resolved_two_realms} has 2 hss functions (hss-a, hss-b): name one"]


def test_add_subscriber_on_a_one_hss_file_needs_no_function(tmp_path: Path) -> None:
    (tmp_path / "lab").mkdir()
    cfg = lab._prepare_config(tmp_path / "lab", None)
    result = cli("hss", "add-subscriber", "--config", str(cfg.path), "--impi", IMPI,
                 "--k", K, "--opc", OPC)
    assert result.exit_code == 0, result.output
    assert listed(cfg.path, "hss") == [IMPI]
    assert (tmp_path / "lab" / "hss.sqlite").is_file()


def test_a_relay_must_know_its_peers_by_tls_or_an_accept_list() -> None:
    # the BSF trusts an agent in `via` to vouch for the first Route-Record
    raw = two_realms_raw()
    raw["functions"]["dra"]["tls"] = False
    with pytest.raises(ConfigError, match=r"functions\.dra: an agent vouches"):
        parse(raw, TWO_REALMS)
    raw["functions"]["dra"]["accept"] = ["naf-a.mnc001.mcc001.3gppnetwork.org"]
    assert registry.config_of(parse(raw, TWO_REALMS), "dra").accept == frozenset(
        {"naf-a.mnc001.mcc001.3gppnetwork.org"})

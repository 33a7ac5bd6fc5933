"""The network topology file (gba.config): the sample, the legacy one-section-per-function
layout, typed getters and the errors that name their key, addresses, files, store paths.

Several networks and functions of a kind (tests/e2e/two_realms.toml), ``Topology.only``
and the lab's port resolution are in test_topology.py; the kind registry in
nf/test_registry.py.
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gba.config import SAMPLE_CONFIG, Address, Topology, is_address
from gba.errors import ConfigError
from gba.nf.bsf_service import BsfConfig, NafAuthorisation
from gba.nf.common import DiameterTls
from gba.nf.hss_service import HssConfig
from gba.nf.naf_service import NafConfig
from gba.nf.registry import config_of, endpoints, load, parse

REALM = "mnc001.mcc001.3gppnetwork.org"

# The sample as it looked before the topology layout (``git show HEAD~5`` of
# src/gba/data/network.toml at the change): one section per function.
LEGACY_SAMPLE = """\
[network]
realm = "mnc001.mcc001.3gppnetwork.org"

[hss]
diameter_host = "hss.mnc001.mcc001.3gppnetwork.org"
diameter_realm = "mnc001.mcc001.3gppnetwork.org"
zh_listen = "127.0.0.1:0"
rest_listen = "127.0.0.1:0"
store = "hss.sqlite"
ind = 0
tls = true

[bsf]
server_name = "bsf.mnc001.mcc001.pub.3gppnetwork.org"
diameter_host = "bsf.mnc001.mcc001.3gppnetwork.org"
diameter_realm = "mnc001.mcc001.3gppnetwork.org"
ub_listen = "127.0.0.1:0"
zn_listen = "127.0.0.1:0"
hss = "127.0.0.1:0"             # 0: the [hss] zh_listen above
store = "bsf.sqlite"
key_lifetime_s = 3600
challenge_lifetime_s = 120
zn_tls = true

[[bsf.naf]]
diameter_host = "naf.example.org"
hostnames = ["naf.example.org"]
gaa_service_ids = []

[naf]
fqdn = "naf.example.org"
diameter_host = "naf.example.org"
diameter_realm = "example.org"
http_listen = "127.0.0.1:0"
psk_tls_listen = "127.0.0.1:0"
bsf = "127.0.0.1:0"             # 0: the [bsf] zn_listen above
store = "naf.sqlite"
zn_tls = true
"""


def sample_raw() -> dict[str, Any]:
    return tomllib.loads(SAMPLE_CONFIG.read_text(encoding="utf-8"))


def legacy_raw() -> dict[str, Any]:
    return tomllib.loads(LEGACY_SAMPLE)


def with_key(name: str, key: str, value: Any) -> dict[str, Any]:
    """The sample with ``functions.<name>.<key> = value``."""
    raw = sample_raw()
    raw["functions"][name][key] = value
    return raw


def without_key(name: str, key: str) -> dict[str, Any]:
    raw = sample_raw()
    del raw["functions"][name][key]
    return raw


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def sample() -> Topology:
    return load(SAMPLE_CONFIG)


# ------------------------------------------------------------------ the sample


def test_sample_has_an_hss_a_bsf_and_a_naf_in_the_default_network(sample: Topology) -> None:
    assert sample.path == SAMPLE_CONFIG.resolve()
    assert sample.networks == {"default": REALM}
    assert {n: (f.kind, f.network, f.realm) for n, f in sample.functions.items()} == {
        "hss": ("hss", "default", REALM), "bsf": ("bsf", "default", REALM),
        "naf": ("naf", "default", REALM)}
    assert sample.realm == REALM


def test_sample_functions_parse_into_their_kinds_configs(sample: Topology) -> None:
    assert isinstance(config_of(sample, "hss"), HssConfig)
    assert isinstance(config_of(sample, "bsf"), BsfConfig)
    assert isinstance(config_of(sample, "naf"), NafConfig)
    assert sample.bsf == config_of(sample, "bsf")


def test_sample_diameter_realm_is_the_networks_unless_the_function_says(
        sample: Topology) -> None:
    assert sample.hss.diameter.realm == REALM
    assert sample.bsf.diameter.realm == REALM
    assert sample.naf.diameter.realm == "example.org"


def test_sample_bsf_names_its_hss_by_function(sample: Topology) -> None:
    assert sample.bsf.hss == "hss"
    assert sample.bsf.hss_realm == REALM
    assert sample.naf.bsf == "bsf"
    assert sample.naf.bsf_realm == REALM


def test_sample_bsf_authorises_the_sample_naf_on_zn(sample: Topology) -> None:
    assert sample.bsf.nafs == (NafAuthorisation("naf.example.org", ("naf.example.org",)),)
    assert sample.naf.fqdn in sample.bsf.nafs[0].hostnames
    assert sample.naf.diameter.host == sample.bsf.nafs[0].diameter_host


def test_sample_bsf_serves_zn_over_mutual_tls_with_lab_certificates(sample: Topology) -> None:
    assert sample.bsf.tls == DiameterTls(True, "zn-tls/bsf-cert.pem", "zn-tls/bsf-key.pem",
                                         "zn-tls/ca.pem")
    assert sample.bsf.zn_tls


def test_sample_hss_allows_the_bsf_of_its_network_on_zh(sample: Topology) -> None:
    assert sample.hss.bsf_hosts == (sample.bsf.diameter.host,)


def test_sample_leaves_every_listening_port_to_be_picked(sample: Topology) -> None:
    ports = {(n, role): a.port for n in sample.functions
             for role, a in endpoints(sample, n).items()}
    assert set(ports) == {("hss", "zh"), ("hss", "rest"), ("bsf", "ub"), ("bsf", "zn"),
                          ("naf", "http"), ("naf", "psk_tls")}
    assert set(ports.values()) == {0}


# ------------------------------------------------------------------ the legacy layout


def test_legacy_layout_loads_into_the_same_functions(tmp_path: Path) -> None:
    cfg = load(write(tmp_path / "old.toml", LEGACY_SAMPLE))
    assert cfg.networks == {"default": REALM}
    assert {n: (f.kind, f.network) for n, f in cfg.functions.items()} == {
        "hss": ("hss", "default"), "bsf": ("bsf", "default"), "naf": ("naf", "default")}


def test_legacy_peer_at_port_zero_becomes_a_reference_to_that_function() -> None:
    cfg = parse(legacy_raw(), SAMPLE_CONFIG)
    assert cfg.bsf.hss == "hss"
    assert cfg.naf.bsf == "bsf"


def test_legacy_layout_configures_the_functions_as_the_sample_does(sample: Topology) -> None:
    cfg = parse(legacy_raw(), SAMPLE_CONFIG)
    assert cfg.hss == sample.hss
    assert cfg.bsf == sample.bsf  # zn_tls = true reads as tls
    # the old NAF said zn_tls itself; now the NAF follows its BSF's listener
    assert cfg.naf.tls.enabled
    assert replace(cfg.naf, tls=sample.naf.tls) == sample.naf


def test_legacy_explicit_peer_address_is_kept() -> None:
    raw = legacy_raw()
    raw["bsf"]["hss"] = "10.0.0.9:3869"
    raw["naf"]["bsf"] = "10.0.0.8:3870"
    cfg = parse(raw, SAMPLE_CONFIG)
    assert (cfg.bsf.hss, cfg.bsf.hss_realm) == ("10.0.0.9:3869", REALM)
    assert (cfg.naf.bsf, cfg.naf.bsf_realm) == ("10.0.0.8:3870", REALM)


def test_legacy_layout_does_not_change_the_parsed_dict() -> None:
    raw = legacy_raw()
    before = copy.deepcopy(raw)
    parse(raw, SAMPLE_CONFIG)
    assert raw == before


@pytest.mark.parametrize("section", ["network", "hss", "bsf", "naf"])
def test_legacy_missing_section_raises_config_error_naming_it(section: str) -> None:
    raw = legacy_raw()
    del raw[section]
    with pytest.raises(ConfigError, match=rf"section \[{section}\]"):
        parse(raw, SAMPLE_CONFIG)


def test_legacy_network_without_realm_raises_config_error() -> None:
    raw = legacy_raw()
    del raw["network"]["realm"]
    with pytest.raises(ConfigError, match=r"\[network\] with realm is missing"):
        parse(raw, SAMPLE_CONFIG)


def test_legacy_missing_key_names_it_under_functions(tmp_path: Path) -> None:
    raw = legacy_raw()
    del raw["bsf"]["server_name"]
    with pytest.raises(ConfigError, match=r"functions\.bsf\.server_name is missing"):
        parse(raw, SAMPLE_CONFIG)


# ------------------------------------------------------------------ missing keys


@pytest.mark.parametrize(("name", "key"), [
    ("hss", "kind"), ("hss", "diameter_host"), ("hss", "zh_listen"), ("hss", "rest_listen"),
    ("hss", "store"), ("bsf", "server_name"), ("bsf", "diameter_host"), ("bsf", "ub_listen"),
    ("bsf", "zn_listen"), ("bsf", "hss"), ("bsf", "store"), ("naf", "fqdn"),
    ("naf", "diameter_host"), ("naf", "http_listen"), ("naf", "psk_tls_listen"),
    ("naf", "bsf"), ("naf", "store"),
])
def test_missing_key_raises_config_error_naming_it(name: str, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"^functions\.{name}\.{key} is missing$"):
        parse(without_key(name, key), SAMPLE_CONFIG)


def test_missing_realm_raises_config_error_naming_the_network() -> None:
    raw = sample_raw()
    del raw["networks"]["default"]["realm"]
    with pytest.raises(ConfigError, match=r"networks\.default\.realm is missing"):
        parse(raw, SAMPLE_CONFIG)


def test_missing_naf_authorisation_key_raises_config_error_naming_it() -> None:
    raw = sample_raw()
    del raw["functions"]["bsf"]["naf"][0]["diameter_host"]
    with pytest.raises(ConfigError,
                       match=r"functions\.bsf\.naf\[0\]\.diameter_host is missing"):
        parse(raw, SAMPLE_CONFIG)


def test_naf_authorisation_without_hostnames_raises_config_error_naming_it() -> None:
    raw = sample_raw()
    del raw["functions"]["bsf"]["naf"][0]["hostnames"]
    with pytest.raises(ConfigError, match=r"functions\.bsf\.naf\[0\]\.hostnames is missing"):
        parse(raw, SAMPLE_CONFIG)


def test_function_without_a_network_joins_the_first_network() -> None:
    cfg = parse(without_key("naf", "network"), SAMPLE_CONFIG)
    assert (cfg.function("naf").network, cfg.function("naf").realm) == ("default", REALM)


def test_diameter_realm_defaults_to_the_realm_of_the_functions_network() -> None:
    cfg = parse(without_key("naf", "diameter_realm"), SAMPLE_CONFIG)
    assert cfg.naf.diameter.realm == REALM


def test_optional_keys_take_their_defaults() -> None:
    raw = sample_raw()
    for key in ("ind", "key_lifetime_s", "challenge_lifetime_s", "tls"):
        raw["functions"]["hss" if key == "ind" else "bsf"].pop(key)
    cfg = parse(raw, SAMPLE_CONFIG)
    assert cfg.hss.ind == 0
    assert (cfg.bsf.key_lifetime_s, cfg.bsf.challenge_lifetime_s) == (3600, 120)
    assert not cfg.bsf.tls.enabled
    assert (cfg.bsf.connect, cfg.bsf.routes, cfg.naf.gaa_service_id) == ((), {}, None)


# ------------------------------------------------------------------ wrong types


@pytest.mark.parametrize(("name", "key", "value", "message"), [
    ("bsf", "server_name", 5, r"functions\.bsf\.server_name should be str, got int"),
    ("hss", "ind", "soon", r"functions\.hss\.ind should be an integer, got 'soon'"),
    ("hss", "ind", 1.0, r"functions\.hss\.ind should be an integer"),
    ("bsf", "key_lifetime_s", True, r"functions\.bsf\.key_lifetime_s should be an integer"),
    ("bsf", "tls", "yes", r"functions\.bsf\.tls should be bool, got str"),
    ("bsf", "tls", 1, r"functions\.bsf\.tls should be bool, got int"),
    ("bsf", "connect", "hss", r"functions\.bsf\.connect should be list, got str"),
    ("bsf", "connect", ["hss", 7], r"functions\.bsf\.connect\[1\] should be a string"),
    ("bsf", "naf", {"diameter_host": "x"}, r"functions\.bsf\.naf should be an array of tables"),
    ("naf", "routes", ["x"], r"functions\.naf\.routes should be a table realm = \[hosts\]"),
    ("naf", "routes", {"r.example": "h"}, r"functions\.naf\.routes\.r\.example should be a list"),
    ("naf", "btid_realms", {"d.example": 1}, r"functions\.naf\.btid_realms should be a table"),
    ("naf", "gaa_service_id", 3, r"functions\.naf\.gaa_service_id should be str"),
    ("naf", "network", 1, r"functions\.naf\.network should be str"),
])
def test_key_of_the_wrong_type_raises_config_error_naming_it(
        name: str, key: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(with_key(name, key, value), SAMPLE_CONFIG)


def test_realm_of_the_wrong_type_raises_config_error_naming_it() -> None:
    raw = sample_raw()
    raw["networks"]["default"]["realm"] = 5
    with pytest.raises(ConfigError, match=r"networks\.default\.realm"):
        parse(raw, SAMPLE_CONFIG)


def test_function_that_is_not_a_table_raises_config_error() -> None:
    raw = sample_raw()
    raw["functions"]["naf"] = "naf.example.org"
    with pytest.raises(ConfigError, match=r"functions\.naf should be a table"):
        parse(raw, SAMPLE_CONFIG)


# ------------------------------------------------------------------ numbers


@pytest.mark.parametrize(("name", "key", "value", "bounds"), [
    ("hss", "ind", 32, "0..31"), ("hss", "ind", -1, "0..31"),
    ("bsf", "key_lifetime_s", 0, "1..31622400"),
    ("bsf", "challenge_lifetime_s", 3601, "1..3600"),
])
def test_number_out_of_range_raises_config_error_naming_key_and_bounds(
        name: str, key: str, value: int, bounds: str) -> None:
    with pytest.raises(ConfigError,
                       match=rf"functions\.{name}\.{key} = {value} is outside {bounds}"):
        parse(with_key(name, key, value), SAMPLE_CONFIG)


@pytest.mark.parametrize(("name", "key", "value"), [
    ("hss", "ind", 31), ("hss", "ind", 0), ("bsf", "challenge_lifetime_s", 3600),
    ("bsf", "key_lifetime_s", 1),
])
def test_number_at_its_bound_is_accepted(name: str, key: str, value: int) -> None:
    cfg = parse(with_key(name, key, value), SAMPLE_CONFIG)
    assert getattr(config_of(cfg, name), key) == value


# ------------------------------------------------------------------ addresses


@pytest.mark.parametrize("text", ["localhost", "localhost:", ":3868", "host:abc",
                                  "host:70000", "host:-1", "host: 80", "host:\u00b2",
                                  "host:\uff18\uff10", "[::1]", ""])
def test_bad_host_port_raises_config_error_naming_the_key(text: str) -> None:
    with pytest.raises(ConfigError, match=r"functions\.bsf\.zn_listen: .* is not host:port"):
        parse(with_key("bsf", "zn_listen", text), SAMPLE_CONFIG)


def test_listen_address_parses_into_host_and_port() -> None:
    cfg = parse(with_key("bsf", "zn_listen", "192.0.2.1:3868"), SAMPLE_CONFIG)
    assert cfg.bsf.zn_listen == Address("192.0.2.1", 3868)


def test_bracketed_ipv6_address_parses() -> None:
    assert Address.parse("[::1]:3868", "x") == Address("::1", 3868)
    assert Address.parse("[2001:db8::7]:0", "x") == Address("2001:db8::7", 0)


def test_ipv6_address_is_written_in_brackets() -> None:
    assert str(Address("::1", 3868)) == "[::1]:3868"
    assert str(Address("127.0.0.1", 3868)) == "127.0.0.1:3868"


hosts = st.one_of(
    st.ip_addresses().map(str),
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z0-9]{1,10}){0,3}",
                  fullmatch=True))


@settings(max_examples=200, deadline=None)
@given(host=hosts, port=st.integers(0, 65535))
def test_address_round_trips_through_its_text(host: str, port: int) -> None:
    assert Address.parse(str(Address(host, port)), "x") == Address(host, port)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(), st.tuples(st.text(), st.text()).map(":".join)))
def test_any_text_is_an_address_or_a_config_error(text: str) -> None:
    try:
        addr = Address.parse(text, "here")
    except ConfigError as exc:
        error = str(exc)
    else:
        assert 0 <= addr.port <= 65535
        return
    assert error.startswith("here: ")


@pytest.mark.parametrize(("ref", "expected"), [
    ("127.0.0.1:3868", True), ("[::1]:3868", True), ("dra.example.net:3868", True),
    ("hss", False), ("bsf-b", False), ("hss:", False),
])
def test_is_address_tells_host_port_from_a_function_name(ref: str, expected: bool) -> None:
    assert is_address(ref) is expected


# ------------------------------------------------------------------ files


def test_missing_file_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"absent\.toml not found"):
        load(tmp_path / "absent.toml")


def test_invalid_toml_raises_config_error_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        load(write(tmp_path / "bad.toml", "[networks.a\nrealm = "))


def test_non_utf8_file_raises_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[networks.a]\nrealm = "r\xe9seau"\n')
    with pytest.raises(ConfigError, match=r"latin1\.toml"):
        load(path)


def test_directory_instead_of_a_file_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=str(tmp_path)):
        load(tmp_path)


def test_empty_file_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load(write(tmp_path / "empty.toml", ""))


def test_load_accepts_a_relative_path_and_records_it_absolute(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "lab" / "net.toml", SAMPLE_CONFIG.read_text(encoding="utf-8"))
    monkeypatch.chdir(tmp_path)
    assert load("lab/net.toml").path == (tmp_path / "lab" / "net.toml").resolve()


# ------------------------------------------------------------------ paths


@pytest.fixture
def lab_cfg(tmp_path: Path) -> Topology:
    return load(write(tmp_path / "lab" / "net.toml", SAMPLE_CONFIG.read_text(encoding="utf-8")))


def lab_dir(tmp_path: Path) -> Path:
    return (tmp_path / "lab").resolve()


def test_store_url_resolves_a_relative_path_against_the_config_directory(
        lab_cfg: Topology, tmp_path: Path) -> None:
    assert lab_cfg.store_url("hss.sqlite") == str(lab_dir(tmp_path) / "hss.sqlite")


def test_each_functions_store_resolves_against_the_config_directory(
        lab_cfg: Topology, tmp_path: Path) -> None:
    stores = {n: lab_cfg.store_url(config_of(lab_cfg, n).store) for n in lab_cfg.functions}
    assert stores == {n: str(lab_dir(tmp_path) / f"{n}.sqlite") for n in ("hss", "bsf", "naf")}


def test_store_url_resolves_a_relative_sqlite_url_against_the_config_directory(
        lab_cfg: Topology, tmp_path: Path) -> None:
    expected = lab_dir(tmp_path) / "db" / "bsf.sqlite"
    assert lab_cfg.store_url("sqlite:db/bsf.sqlite") == str(expected)


def test_store_url_keeps_an_absolute_path(lab_cfg: Topology, tmp_path: Path) -> None:
    absolute = tmp_path / "elsewhere" / "naf.sqlite"
    assert lab_cfg.store_url(str(absolute)) == str(absolute)
    assert lab_cfg.store_url(f"sqlite://{absolute}") == str(absolute)


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://cache:6380/1",
                                 "unix:///run/redis.sock", "unix:///run/redis.sock?db=2",
                                 "memory:"])
def test_store_url_passes_redis_and_memory_through(lab_cfg: Topology, url: str) -> None:
    assert lab_cfg.store_url(url) == url


def test_unix_socket_store_url_stays_a_redis_url_not_a_sqlite_path(lab_cfg: Topology) -> None:
    # regression: unix:// used to become <config dir>/unix:/run/redis.sock
    assert lab_cfg.store_url("unix:///run/redis.sock") == "unix:///run/redis.sock"


@pytest.mark.parametrize("url", ["ftp://host/db", "sqlite://host/db.sqlite", "sqlite:", ""])
def test_store_url_that_names_no_store_raises_config_error(lab_cfg: Topology, url: str) -> None:
    with pytest.raises(ConfigError):
        lab_cfg.store_url(url)


def test_file_resolves_relative_to_the_config_directory(
        lab_cfg: Topology, tmp_path: Path) -> None:
    assert lab_cfg.file("zn-tls/ca.pem") == lab_dir(tmp_path) / "zn-tls" / "ca.pem"
    assert lab_cfg.file("/etc/ca.pem") == Path("/etc/ca.pem")


def test_tls_files_of_a_function_resolve_beside_the_config(
        lab_cfg: Topology, tmp_path: Path) -> None:
    tls = lab_cfg.bsf.tls
    assert lab_cfg.file(tls.cert) == lab_dir(tmp_path) / "zn-tls" / "bsf-cert.pem"
    assert lab_cfg.file(tls.ca) == lab_dir(tmp_path) / "zn-tls" / "ca.pem"

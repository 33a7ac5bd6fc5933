"""The network TOML file (gba.config): load, port resolution, dump, errors, store paths."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gba.config import (
    SAMPLE_CONFIG,
    Address,
    NafAuthorisation,
    NetworkConfig,
    dump,
    load,
    parse,
    resolve_ports,
)
from gba.errors import ConfigError


def sample_raw() -> dict[str, Any]:
    return tomllib.loads(SAMPLE_CONFIG.read_text(encoding="utf-8"))


def listen_addresses(cfg: NetworkConfig) -> list[Address]:
    return [cfg.hss.zh_listen, cfg.hss.rest_listen, cfg.bsf.ub_listen, cfg.bsf.zn_listen,
            cfg.naf.http_listen, cfg.naf.psk_tls_listen]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------ the sample


def test_sample_config_loads() -> None:
    cfg = load(SAMPLE_CONFIG)
    assert cfg.path == SAMPLE_CONFIG.resolve()
    assert cfg.realm == "mnc001.mcc001.3gppnetwork.org"
    assert cfg.bsf.nafs == (NafAuthorisation("naf.example.org", ("naf.example.org",)),)
    assert cfg.naf.fqdn in cfg.bsf.nafs[0].hostnames


def test_sample_config_leaves_every_port_to_be_picked() -> None:
    cfg = load(SAMPLE_CONFIG)
    assert [a.port for a in listen_addresses(cfg)] == [0] * 6
    assert (cfg.bsf.hss.port, cfg.naf.bsf.port) == (0, 0)


def test_resolve_ports_picks_distinct_non_zero_ports() -> None:
    ports = [a.port for a in listen_addresses(resolve_ports(load(SAMPLE_CONFIG)))]
    assert all(ports)
    assert len(set(ports)) == len(ports)


def test_resolve_ports_points_the_bsf_at_the_hss_zh_listener() -> None:
    cfg = resolve_ports(load(SAMPLE_CONFIG))
    assert cfg.bsf.hss == cfg.hss.zh_listen


def test_resolve_ports_points_the_naf_at_the_bsf_zn_listener() -> None:
    cfg = resolve_ports(load(SAMPLE_CONFIG))
    assert cfg.naf.bsf == cfg.bsf.zn_listen


def test_resolve_ports_keeps_explicit_ports_and_peer_addresses() -> None:
    raw = sample_raw()
    raw["hss"]["zh_listen"] = "127.0.0.1:3868"
    raw["bsf"]["hss"] = "10.0.0.9:3869"
    raw["naf"]["bsf"] = "10.0.0.8:3870"
    cfg = resolve_ports(parse(raw, SAMPLE_CONFIG))
    assert cfg.hss.zh_listen == Address("127.0.0.1", 3868)
    assert cfg.bsf.hss == Address("10.0.0.9", 3869)
    assert cfg.naf.bsf == Address("10.0.0.8", 3870)


# ------------------------------------------------------------------ dump


def test_dump_then_parse_gives_an_equal_config() -> None:
    cfg = resolve_ports(load(SAMPLE_CONFIG))
    assert parse(tomllib.loads(dump(cfg)), cfg.path) == cfg


def test_dump_keeps_every_optional_setting() -> None:
    cfg = load(SAMPLE_CONFIG)
    nafs = (NafAuthorisation("naf1.example.org", ("a.example.org", "b.example.org"),
                             ("svc-1", "svc-2"), "group-1"),
            NafAuthorisation("naf2.example.org", ()))
    cfg = replace(cfg, hss=replace(cfg.hss, ind=7),
                  bsf=replace(cfg.bsf, nafs=nafs, zn_tls=True, key_lifetime_s=60,
                              zn_tls_cert="c.pem", store="redis://127.0.0.1:6379/2"),
                  naf=replace(cfg.naf, gaa_service_id="svc-1", zn_tls=True, zn_tls_ca="ca.pem"))
    assert parse(tomllib.loads(dump(cfg)), cfg.path) == cfg


names = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1,
                max_size=30)


@settings(max_examples=60, deadline=None)
@given(realm=names, host=names, server=names, hostnames=st.lists(names, max_size=3))
def test_dump_quotes_any_printable_string(realm: str, host: str, server: str,
                                          hostnames: list[str]) -> None:
    cfg = load(SAMPLE_CONFIG)
    cfg = replace(cfg, realm=realm, hss=replace(cfg.hss, diameter=replace(
        cfg.hss.diameter, host=host)), bsf=replace(cfg.bsf, server_name=server, nafs=(
            NafAuthorisation(host, tuple(hostnames)),)))
    assert parse(tomllib.loads(dump(cfg)), cfg.path) == cfg


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("section", ["network", "hss", "bsf", "naf"])
def test_missing_section_raises_config_error(section: str) -> None:
    raw = sample_raw()
    del raw[section]
    with pytest.raises(ConfigError, match=rf"\[{section}\] is missing"):
        parse(raw, SAMPLE_CONFIG)


@pytest.mark.parametrize(("section", "key"), [
    ("network", "realm"), ("hss", "diameter_host"), ("hss", "zh_listen"), ("hss", "store"),
    ("bsf", "server_name"), ("bsf", "zn_listen"), ("bsf", "hss"), ("naf", "fqdn"),
    ("naf", "bsf"), ("naf", "diameter_realm"),
])
def test_missing_key_raises_config_error_naming_it(section: str, key: str) -> None:
    raw = sample_raw()
    del raw[section][key]
    with pytest.raises(ConfigError, match=rf"{section}\.{key} is missing"):
        parse(raw, SAMPLE_CONFIG)


def test_missing_naf_authorisation_key_raises_config_error() -> None:
    raw = sample_raw()
    del raw["bsf"]["naf"][0]["hostnames"]
    with pytest.raises(ConfigError, match=r"bsf\.naf\[0\]\.hostnames is missing"):
        parse(raw, SAMPLE_CONFIG)


def test_key_of_the_wrong_type_raises_config_error() -> None:
    raw = sample_raw()
    raw["network"]["realm"] = 5
    with pytest.raises(ConfigError, match="should be str"):
        parse(raw, SAMPLE_CONFIG)


@pytest.mark.parametrize("text", ["localhost", "localhost:", ":3868", "host:abc", "host:70000",
                                  "host:-1", "host: 80"])
def test_bad_host_port_raises_config_error(text: str) -> None:
    raw = sample_raw()
    raw["bsf"]["zn_listen"] = text
    with pytest.raises(ConfigError, match="not host:port"):
        parse(raw, SAMPLE_CONFIG)


def test_bracketed_ipv6_address_parses() -> None:
    assert Address.parse("[::1]:3868", "x") == Address("::1", 3868)


@pytest.mark.parametrize(("section", "key"), [("hss", "ind"), ("bsf", "key_lifetime_s")])
def test_non_numeric_number_raises_config_error(section: str, key: str) -> None:
    raw = sample_raw()
    raw[section][key] = "soon"
    with pytest.raises(ConfigError):
        parse(raw, SAMPLE_CONFIG)


def test_missing_file_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load(tmp_path / "absent.toml")


def test_invalid_toml_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        load(write(tmp_path / "bad.toml", "[network\nrealm = "))


# ------------------------------------------------------------------ paths


@pytest.fixture
def lab_cfg(tmp_path: Path) -> NetworkConfig:
    return load(write(tmp_path / "lab" / "net.toml", dump(load(SAMPLE_CONFIG))))


def test_store_url_resolves_a_relative_path_against_the_config_directory(
        lab_cfg: NetworkConfig, tmp_path: Path) -> None:
    assert lab_cfg.store_url("hss.sqlite") == str((tmp_path / "lab" / "hss.sqlite").resolve())


def test_store_url_resolves_a_relative_sqlite_url_against_the_config_directory(
        lab_cfg: NetworkConfig, tmp_path: Path) -> None:
    expected = (tmp_path / "lab" / "db" / "bsf.sqlite").resolve()
    assert lab_cfg.store_url("sqlite:db/bsf.sqlite") == str(expected)


def test_store_url_keeps_an_absolute_path(lab_cfg: NetworkConfig, tmp_path: Path) -> None:
    absolute = tmp_path / "elsewhere" / "naf.sqlite"
    assert lab_cfg.store_url(str(absolute)) == str(absolute)
    assert lab_cfg.store_url(f"sqlite://{absolute}") == str(absolute)


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://cache:6380/1", "memory:"])
def test_store_url_passes_redis_and_memory_through(lab_cfg: NetworkConfig, url: str) -> None:
    assert lab_cfg.store_url(url) == url


def test_file_resolves_relative_to_the_config_directory(
        lab_cfg: NetworkConfig, tmp_path: Path) -> None:
    assert lab_cfg.file("zn-tls/ca.pem") == (tmp_path / "lab" / "zn-tls" / "ca.pem").resolve()
    assert lab_cfg.file("/etc/ca.pem") == Path("/etc/ca.pem")

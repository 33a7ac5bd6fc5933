"""Robustness caps read from a function's section (gba.nf.common.DiameterLimits, the NAF's
PSK-TLS handshake caps) and the PSK-TLS Ua endpoint's in-flight limit (gba.nf.naf_psk):
the keys parse, defaults apply when absent, bounds are enforced naming the key, the values
reach the Diameter node and the PSK-TLS server, and a PSK-TLS request past the limit is
answered 503 with Retry-After."""

from __future__ import annotations

import asyncio
import hashlib
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gba.config import Address, Topology, normalise
from gba.crypto.kdf import btid
from gba.errors import ConfigError
from gba.nf import bsf_service, dra, hss_service, naf_service
from gba.nf.common import DiameterLimits
from gba.nf.naf_psk import make_server, start_psk_tls
from gba.nf.registry import parse
from gba.protocols.diameter.peer import MAX_MESSAGE_SIZE
from gba.protocols.shedding import InflightLimit
from gba.store.base import NafKey
from gba.transport.diameter import MAX_PENDING, MAX_PER_ADDRESS
from gba.transport.psk_tls import psk_identity_for, psk_tls_request

TOPOLOGY = """
[networks.home]
realm = "home.example.org"

[functions.hss]
kind = "hss"
network = "home"
diameter_host = "hss.home.example.org"
zh_listen = "127.0.0.1:3868"
rest_listen = "127.0.0.1:8080"
store = "hss.sqlite"
{hss}

[functions.bsf]
kind = "bsf"
network = "home"
server_name = "bsf.home.example.org"
diameter_host = "bsf.home.example.org"
ub_listen = "127.0.0.1:8081"
zn_listen = "127.0.0.1:3869"
hss = "hss"
store = "bsf.sqlite"
{bsf}

[[functions.bsf.naf]]
diameter_host = "naf.example.org"
hostnames = ["naf.example.org"]

[functions.dra]
kind = "dra"
network = "home"
diameter_host = "dra.home.example.org"
listen = "127.0.0.1:3870"
accept = ["naf.example.org"]
connect = ["bsf"]
{dra}

[functions.naf]
kind = "naf"
network = "home"
fqdn = "naf.example.org"
diameter_host = "naf.example.org"
http_listen = "127.0.0.1:8082"
psk_tls_listen = "127.0.0.1:8443"
bsf = "bsf"
store = "naf.sqlite"
{naf}
"""

CAPS = ("diameter_max_message_size = 65536\n"
        "diameter_max_pending = 7\n"
        "diameter_max_per_address = 3\n")


def topology(tmp_path: Path, *, hss: str = "", bsf: str = "", dra: str = "",
             naf: str = "") -> Topology:
    text = TOPOLOGY.format(hss=hss, bsf=bsf, dra=dra, naf=naf)
    return parse(normalise(tomllib.loads(text)), tmp_path / "network.toml")


# ------------------------------------------------------------------ Diameter caps


def test_diameter_caps_default_to_the_node_constants(tmp_path: Path) -> None:
    topo = topology(tmp_path)
    expected = DiameterLimits(MAX_MESSAGE_SIZE, MAX_PENDING, MAX_PER_ADDRESS)
    assert (MAX_MESSAGE_SIZE, MAX_PENDING, MAX_PER_ADDRESS) == (1 << 20, 64, 16)
    assert hss_service.parse(topo, "hss").limits == expected
    assert bsf_service.parse(topo, "bsf").limits == expected
    assert dra.parse(topo, "dra").limits == expected
    assert naf_service.parse(topo, "naf").limits == expected


def test_diameter_caps_are_read_from_every_kinds_section(tmp_path: Path) -> None:
    topo = topology(tmp_path, hss=CAPS, bsf=CAPS, dra=CAPS, naf=CAPS)
    expected = DiameterLimits(max_message_size=65536, max_pending=7, max_per_address=3)
    assert topo.configs["hss"].limits == expected
    assert topo.configs["bsf"].limits == expected
    assert topo.configs["dra"].limits == expected
    assert topo.configs["naf"].limits == expected
    assert expected.node_kwargs() == {"max_message_size": 65536, "max_pending": 7,
                                      "max_per_address": 3}


def test_one_functions_caps_leave_the_others_at_their_defaults(tmp_path: Path) -> None:
    topo = topology(tmp_path, bsf="diameter_max_pending = 5")
    assert topo.configs["bsf"].limits == DiameterLimits(max_pending=5)
    assert topo.configs["naf"].limits == DiameterLimits()


@pytest.mark.parametrize("kind", ["hss", "bsf", "dra", "naf"])
@pytest.mark.parametrize(("key", "value"), [
    ("diameter_max_message_size", 4095),
    ("diameter_max_message_size", 16 * 1024 * 1024 + 1),
    ("diameter_max_pending", 0),
    ("diameter_max_pending", 100_001),
    ("diameter_max_per_address", 0),
    ("diameter_max_per_address", 100_001),
])
def test_an_out_of_range_diameter_cap_is_refused_naming_the_key(
        tmp_path: Path, kind: str, key: str, value: int) -> None:
    with pytest.raises(ConfigError, match=rf"functions\.{kind}\.{key} = {value} is outside"):
        topology(tmp_path, **{kind: f"{key} = {value}"})


@pytest.mark.parametrize(("key", "value"), [
    ("diameter_max_message_size", 4096), ("diameter_max_message_size", 16 * 1024 * 1024),
    ("diameter_max_pending", 1), ("diameter_max_pending", 100_000),
    ("diameter_max_per_address", 1), ("diameter_max_per_address", 100_000)])
def test_the_bounds_themselves_are_accepted(tmp_path: Path, key: str, value: int) -> None:
    limits = topology(tmp_path, naf=f"{key} = {value}").configs["naf"].limits
    assert getattr(limits, key.removeprefix("diameter_")) == value


def test_a_diameter_cap_that_is_not_an_integer_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"functions\.hss\.diameter_max_pending should be "
                                          r"an integer"):
        topology(tmp_path, hss='diameter_max_pending = "7"')


def test_the_nafs_zn_node_has_the_configured_caps(tmp_path: Path) -> None:
    topo = topology(tmp_path, naf=CAPS)
    node = naf_service.zn_node(topo.configs["naf"], topo, "naf")
    assert (node.max_message_size, node.max_pending, node.max_per_address) == (65536, 7, 3)


def test_the_nafs_zn_node_has_the_default_caps_without_keys(tmp_path: Path) -> None:
    topo = topology(tmp_path)
    node = naf_service.zn_node(topo.configs["naf"], topo, "naf")
    assert (node.max_message_size, node.max_pending, node.max_per_address) == (
        MAX_MESSAGE_SIZE, MAX_PENDING, MAX_PER_ADDRESS)


# ------------------------------------------------------------------ PSK-TLS handshake caps


def test_psk_tls_handshake_caps_default_to_512_and_64(tmp_path: Path) -> None:
    cfg = topology(tmp_path).configs["naf"]
    assert (cfg.psk_tls_max_pending, cfg.psk_tls_max_pending_per_source) == (512, 64)


def test_psk_tls_handshake_caps_are_read_from_the_naf_section(tmp_path: Path) -> None:
    cfg = topology(tmp_path, naf="psk_tls_max_pending = 100\n"
                                 "psk_tls_max_pending_per_source = 4").configs["naf"]
    assert (cfg.psk_tls_max_pending, cfg.psk_tls_max_pending_per_source) == (100, 4)


@pytest.mark.parametrize(("key", "value"), [
    ("psk_tls_max_pending", 0), ("psk_tls_max_pending", 1_000_001),
    ("psk_tls_max_pending_per_source", 0), ("psk_tls_max_pending_per_source", 1_000_001)])
def test_an_out_of_range_psk_tls_cap_is_refused_naming_the_key(
        tmp_path: Path, key: str, value: int) -> None:
    with pytest.raises(ConfigError, match=rf"functions\.naf\.{key} = {value} is outside"):
        topology(tmp_path, naf=f"{key} = {value}")


# ------------------------------------------------------------------ PSK-TLS endpoint

FQDN = "naf.example.org"
IMPI = "user@home.example.org"
BTID = btid(bytes(range(16)), "bsf.home.example.org")
KS_NAF = hashlib.sha256(b"Ks_NAF for the in-flight test").digest()
TIMEOUT = 20.0


@dataclass
class Keys:
    calls: list[str] = field(default_factory=list)

    async def get(self, btid: str, naf_id: bytes) -> NafKey | None:
        self.calls.append(btid)
        return NafKey(btid=btid, naf_id=naf_id, key=KS_NAF, impi=IMPI,
                      expires=datetime.now(UTC) + timedelta(hours=1))


@dataclass
class StandInNaf:
    fqdn: str
    keys: Keys
    served: list[str] = field(default_factory=list)

    def resource(self, key: NafKey, path: str) -> str:
        self.served.append(path)
        return f"hello {key.impi}: {path}\n"


def request(path: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: {FQDN}\r\nConnection: close\r\n\r\n").encode()


async def psk_get(port: int, path: str) -> bytes:
    return await psk_tls_request("127.0.0.1", port, psk_identity_for(BTID), KS_NAF,
                                 request(path), timeout=TIMEOUT)


async def test_a_psk_tls_request_past_the_inflight_limit_is_503_with_retry_after() -> None:
    naf = StandInNaf(FQDN, Keys())
    inflight = InflightLimit(1)
    assert inflight.try_enter()  # the single place is taken
    server = make_server(naf, Address("127.0.0.1", 0), inflight=inflight)
    await server.start()
    try:
        raw = await psk_get(server.port, "/shed")
    finally:
        await asyncio.wait_for(server.close(), TIMEOUT)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 ")
    assert b"\r\nRetry-After: 1" in head
    assert body == b"NAF busy, try again later\n"
    assert naf.served == []  # the application was not reached
    assert (inflight.in_flight, inflight.admitted, inflight.shed) == (1, 1, 1)


async def test_a_psk_tls_request_within_the_limit_is_served_and_gives_its_place_back(
        ) -> None:
    naf = StandInNaf(FQDN, Keys())
    inflight = InflightLimit(1)
    server = await start_psk_tls(naf, Address("127.0.0.1", 0), inflight=inflight)
    try:
        first = await psk_get(server.port, "/one")
        second = await psk_get(server.port, "/two")
    finally:
        await asyncio.wait_for(server.close(), TIMEOUT)
    assert first.startswith(b"HTTP/1.1 200 ")
    assert first.endswith(f"hello {IMPI}: /one\n".encode())
    assert second.startswith(b"HTTP/1.1 200 ")
    assert naf.served == ["/one", "/two"]
    assert (inflight.in_flight, inflight.admitted, inflight.shed) == (0, 2, 0)


async def test_start_psk_tls_and_make_server_pass_the_handshake_caps_to_the_server(
        ) -> None:
    naf = StandInNaf(FQDN, Keys())
    server = await start_psk_tls(naf, Address("127.0.0.1", 0), max_pending=9,
                                 max_pending_per_source=2)
    try:
        assert (server._admission.total, server._admission.per_source) == (9, 2)
    finally:
        await asyncio.wait_for(server.close(), TIMEOUT)
    built = make_server(naf, Address("127.0.0.1", 0), max_pending=5, max_pending_per_source=1)
    assert (built._admission.total, built._admission.per_source) == (5, 1)

"""The network topology as data: one TOML file lists networks and network functions.

::

    [networks.home]
    realm = "mnc001.mcc001.3gppnetwork.org"

    [functions.hss]                 # a function: its name, kind and network
    kind = "hss"
    network = "home"
    zh_listen = "127.0.0.1:0"
    ...
    [functions.bsf]
    kind = "bsf"
    network = "home"
    hss = "hss"                     # a peer: a function's name, or host:port

One file can describe several networks and several functions of a kind; each kind
(:mod:`gba.nf.registry`) reads its own section. The older layout with one section per
function (``[network]``, ``[hss]``, ``[bsf]``, ``[naf]``) still loads: it becomes the
functions ``hss``, ``bsf`` and ``naf`` of the network ``default``.

Addresses are ``host:port``; port 0 means "pick a free port" and is resolved by
``gba lab up`` / ``gba demo``, which write the resolved file next to lab.json. Relative
store paths are relative to the config file's directory.
"""

from __future__ import annotations

import copy
import socket
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from gba.errors import ConfigError

SAMPLE_CONFIG = Path(__file__).parent / "data" / "network.toml"
DEFAULT_NETWORK = "default"
LEGACY_SECTIONS = ("hss", "bsf", "naf")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str, where: str) -> Address:
        host, sep, port = str(text).rpartition(":")
        if not sep or not host or not port.isascii() or not port.isdigit() or int(port) > 65535:
            raise ConfigError(f"{where}: {text!r} is not host:port")
        return cls(host.strip("[]"), int(port))

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def is_address(text: str) -> bool:
    """Whether a peer reference is ``host:port`` rather than a function name."""
    host, sep, port = text.rpartition(":")
    return bool(sep and host and port.isdigit())


@dataclass(frozen=True, slots=True)
class DiameterNodeConfig:
    """A Diameter identity (Origin-Host/Origin-Realm, RFC 6733 §6.3-6.4)."""

    host: str
    realm: str


class Section:
    """One function's TOML table, read with typed getters whose errors name the key."""

    def __init__(self, name: str, data: dict[str, Any], where: str) -> None:
        self.name = name
        self.data = data
        self.where = where

    def _typed(self, key: str, value: Any, kind: type[T]) -> T:
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{self.where}.{key} should be an integer, got {value!r}")
        if not isinstance(value, kind):
            raise ConfigError(f"{self.where}.{key} should be {kind.__name__}, "
                              f"got {type(value).__name__}")
        return value

    def text(self, key: str, default: str | None = None) -> str:
        if key not in self.data:
            if default is None:
                raise ConfigError(f"{self.where}.{key} is missing")
            return default
        return self._typed(key, self.data[key], str)

    def opt_text(self, key: str) -> str | None:
        return None if key not in self.data else self._typed(key, self.data[key], str)

    def integer(self, key: str, default: int, lo: int, hi: int) -> int:
        value = self._typed(key, self.data.get(key, default), int)
        if not lo <= value <= hi:
            raise ConfigError(f"{self.where}.{key} = {value} is outside {lo}..{hi}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        return self._typed(key, self.data.get(key, default), bool)

    def strings(self, key: str, default: tuple[str, ...] | None = ()) -> tuple[str, ...]:
        """A list of strings; *default* None makes the key required."""
        if key not in self.data:
            if default is None:
                raise ConfigError(f"{self.where}.{key} is missing")
            return default
        items = self._typed(key, self.data[key], list)
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise ConfigError(f"{self.where}.{key}[{i}] should be a string")
        return tuple(items)

    def address(self, key: str, default: str | None = None) -> Address:
        return Address.parse(self.text(key, default), f"{self.where}.{key}")

    def tables(self, key: str) -> list[Section]:
        items = self.data.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ConfigError(f"{self.where}.{key} should be an array of tables")
        return [Section(self.name, item, f"{self.where}.{key}[{i}]")
                for i, item in enumerate(items)]

    def routes(self, key: str = "routes") -> dict[str, tuple[str, ...]]:
        """A realm routing table: realm (or "*") -> Diameter identities of next hops."""
        table = self.data.get(key, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{self.where}.{key} should be a table realm = [hosts]")
        out = {}
        for realm, hosts in table.items():
            if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
                raise ConfigError(f"{self.where}.{key}.{realm} should be a list of hosts")
            out[str(realm)] = tuple(hosts)
        return out

    def diameter(self, realm: str) -> DiameterNodeConfig:
        """Origin-Host (``diameter_host``) and Origin-Realm (``diameter_realm``, by default
        the realm of the function's network)."""
        return DiameterNodeConfig(self.text("diameter_host"), self.text("diameter_realm", realm))


@dataclass(frozen=True, slots=True)
class Function:
    """A network function in the topology: its name, kind, network and realm."""

    name: str
    kind: str
    network: str
    realm: str
    section: Section = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Topology:
    """Every network and function of one TOML file."""

    path: Path
    networks: dict[str, str]
    """network name -> realm"""
    functions: dict[str, Function]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    configs: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """Each function's typed configuration, filled by :func:`gba.nf.registry.load`."""

    def file(self, path: str) -> Path:
        """A path from the config, relative to the config file's directory."""
        p = Path(path)
        return p if p.is_absolute() else (self.path.parent / p).resolve()

    def store_url(self, url: str) -> str:
        """A store URL with a relative SQLite path made absolute (relative to this file);
        parsed by the one store-URL parser, :func:`gba.store.factory.parse_store_url`."""
        from gba.store.factory import parse_store_url

        location = parse_store_url(url, self.path.parent)
        if location.backend == "redis" or location.target == ":memory:":
            return url.strip()
        return location.target

    def function(self, name: str) -> Function:
        found = self.functions.get(name)
        if found is None:
            raise ConfigError(f"no network function {name!r} in {self.path}; it has "
                              f"{', '.join(self.functions) or 'none'}")
        return found

    def referenced(self, ref: str, where: str) -> Function:
        """The function a peer reference names; the error names the referring key."""
        found = self.functions.get(ref)
        if found is None:
            raise ConfigError(f"{where} = {ref!r} is neither host:port nor a function")
        return found

    def of_kind(self, kind: str) -> list[Function]:
        return [f for f in self.functions.values() if f.kind == kind]

    def only(self, kind: str, name: str | None = None) -> Function:
        """The function *name*, or the one function of *kind* when no name is given."""
        if name is not None:
            found = self.function(name)
            if found.kind != kind:
                raise ConfigError(f"function {name!r} is a {found.kind}, not a {kind}")
            return found
        candidates = self.of_kind(kind)
        if len(candidates) != 1:
            names = ", ".join(f.name for f in candidates) or "none"
            raise ConfigError(f"{self.path} has {len(candidates)} {kind} functions ({names}): "
                              "name one")
        return candidates[0]

    @property
    def realm(self) -> str:
        """The realm of the first network (the only one in a single-network lab)."""
        return next(iter(self.networks.values()))

    # one-network accessors, for tools written before the topology had several
    @property
    def hss(self) -> Any:
        return self._first_config("hss")

    @property
    def bsf(self) -> Any:
        return self._first_config("bsf")

    @property
    def naf(self) -> Any:
        return self._first_config("naf")

    def _first_config(self, kind: str) -> Any:
        candidates = self.of_kind(kind)
        if not candidates:
            raise ConfigError(f"{self.path} has no {kind} function")
        if candidates[0].name not in self.configs:
            raise ConfigError(f"{self.path} was read without its kinds' parsers: load it "
                              "with gba.nf.registry.load")
        return self.configs[candidates[0].name]


NetworkConfig = Topology
"""The name of a topology from when a file held one network."""


def _normalise_legacy(raw: dict[str, Any]) -> dict[str, Any]:
    """``[network]`` + ``[hss]``/``[bsf]``/``[naf]`` -> ``[networks]`` + ``[functions]``.

    Peer addresses with port 0 (``hss = "127.0.0.1:0"``) meant "that section's listener";
    they become references by name.
    """
    net = raw.get("network")
    if not isinstance(net, dict) or "realm" not in net:
        raise ConfigError("section [network] with realm is missing")
    out: dict[str, Any] = {"networks": {DEFAULT_NETWORK: {"realm": net["realm"]}},
                           "functions": {}}
    if "logging" in raw:  # the [logging] table (gba.observe.settings) applies as it is
        out["logging"] = copy.deepcopy(raw["logging"])
    for name in LEGACY_SECTIONS:
        section = raw.get(name)
        if not isinstance(section, dict):
            raise ConfigError(f"section [{name}] is missing")
        item = {"kind": name, "network": DEFAULT_NETWORK, **copy.deepcopy(section)}
        out["functions"][name] = item
    for name, peer in (("bsf", "hss"), ("naf", "bsf")):
        ref = out["functions"][name].get(peer)
        if isinstance(ref, str) and ref.endswith(":0"):
            out["functions"][name][peer] = peer
    return out


def normalise(raw: dict[str, Any]) -> dict[str, Any]:
    """The raw TOML in the topology layout (a copy; legacy files are converted)."""
    if "functions" in raw or "networks" in raw:
        return copy.deepcopy(raw)
    return _normalise_legacy(raw)


def parse(raw: dict[str, Any], path: Path) -> Topology:
    """Build a :class:`Topology` from parsed TOML: networks and functions, each function's
    section unread (its kind reads it: :func:`gba.nf.registry.parse` does both); any gap
    is a :class:`ConfigError`."""
    data = normalise(raw)
    networks_raw = data.get("networks")
    if not isinstance(networks_raw, dict) or not networks_raw:
        raise ConfigError("[networks.<name>] with a realm is missing")
    networks: dict[str, str] = {}
    for name, net in networks_raw.items():
        if not isinstance(net, dict) or not isinstance(net.get("realm"), str):
            raise ConfigError(f"networks.{name}.realm is missing")
        networks[name] = net["realm"]
    functions_raw = data.get("functions")
    if not isinstance(functions_raw, dict) or not functions_raw:
        raise ConfigError("no [functions.<name>] sections")
    functions: dict[str, Function] = {}
    for name, section in functions_raw.items():
        where = f"functions.{name}"
        if not isinstance(section, dict):
            raise ConfigError(f"{where} should be a table")
        s = Section(name, section, where)
        network = s.text("network", next(iter(networks)))
        if network not in networks:
            raise ConfigError(f"{where}.network = {network!r} is not in [networks]")
        functions[name] = Function(name, s.text("kind"), network, networks[network], s)
    return Topology(path, networks, functions, data)


def read(path: Path | str) -> tuple[dict[str, Any], Path]:
    """The parsed TOML of a network file and its absolute path."""
    p = Path(path).resolve()
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {p} not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {p}: {exc}") from None
    return raw, p


def load(path: Path | str) -> Topology:
    """Read a network TOML file's structure (:func:`gba.nf.registry.load` also reads and
    checks every function's section)."""
    return parse(*read(path))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on *host*."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port

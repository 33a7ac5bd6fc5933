"""One TOML file per network; every network function reads its own section.

Addresses are ``host:port``; port 0 means "pick a free port" and is resolved by
``gba lab up`` / ``gba demo``, which write the resolved file next to lab.json. Relative
store paths are relative to the config file's directory.
"""

from __future__ import annotations

import socket
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gba.errors import ConfigError

SAMPLE_CONFIG = Path(__file__).parent / "data" / "network.toml"


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str, where: str) -> Address:
        host, sep, port = str(text).rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ConfigError(f"{where}: {text!r} is not host:port")
        return cls(host.strip("[]"), int(port))

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class DiameterNodeConfig:
    """A Diameter identity (Origin-Host/Origin-Realm, RFC 6733 §6.3-6.4)."""

    host: str
    realm: str


@dataclass(frozen=True, slots=True)
class HssConfig:
    diameter: DiameterNodeConfig
    zh_listen: Address
    rest_listen: Address
    store: str
    ind: int = 0
    bsf_hosts: tuple[str, ...] = ()
    """Origin-Hosts of the BSFs allowed on Zh (default: the [bsf] section's host)."""


@dataclass(frozen=True, slots=True)
class NafAuthorisation:
    """A NAF the BSF serves on Zn: its Diameter identity and the NAF host names it may use."""

    diameter_host: str
    hostnames: tuple[str, ...]
    gaa_service_ids: tuple[str, ...] = ()
    naf_group: str | None = None
    """The NAF group whose USSs this NAF receives (TS 29.109 Annex A nafGroup)."""
    addresses: tuple[str, ...] = ()
    """IP addresses this NAF connects from; empty accepts any."""


@dataclass(frozen=True, slots=True)
class BsfConfig:
    server_name: str
    """The BSF server name: the domain part of every B-TID (TS 33.220 §4.5.2)."""
    diameter: DiameterNodeConfig
    ub_listen: Address
    zn_listen: Address
    hss: Address
    store: str
    key_lifetime_s: int
    challenge_lifetime_s: int
    nafs: tuple[NafAuthorisation, ...]
    zn_tls: bool = False
    zn_tls_cert: str = "zn-tls/bsf-cert.pem"
    zn_tls_key: str = "zn-tls/bsf-key.pem"
    zn_tls_client_ca: str = "zn-tls/ca.pem"


@dataclass(frozen=True, slots=True)
class NafConfig:
    fqdn: str
    diameter: DiameterNodeConfig
    http_listen: Address
    psk_tls_listen: Address
    bsf: Address
    store: str
    gaa_service_id: str | None = None
    zn_tls: bool = False
    zn_tls_ca: str = "zn-tls/ca.pem"
    zn_tls_cert: str = "zn-tls/naf-cert.pem"
    zn_tls_key: str = "zn-tls/naf-key.pem"


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    path: Path
    realm: str
    hss: HssConfig
    bsf: BsfConfig
    naf: NafConfig
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def file(self, path: str) -> Path:
        """A path from the config, relative to the config file's directory."""
        p = Path(path)
        return p if p.is_absolute() else (self.path.parent / p).resolve()

    def store_url(self, url: str) -> str:
        """A store URL with a relative SQLite path made absolute (relative to this file)."""
        if url.startswith(("redis://", "rediss://", "memory:")):
            return url
        path = Path(url.removeprefix("sqlite://").removeprefix("sqlite:"))
        return str(path if path.is_absolute() else (self.path.parent / path).resolve())


def _section(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name)
    if not isinstance(value, dict):
        raise ConfigError(f"section [{name}] is missing")
    return value


def _get(sec: dict[str, Any], key: str, where: str, kind: type = str) -> Any:
    if key not in sec:
        raise ConfigError(f"{where}.{key} is missing")
    value = sec[key]
    if not isinstance(value, kind):
        raise ConfigError(f"{where}.{key} should be {kind.__name__}, got {type(value).__name__}")
    return value


def _int(sec: dict[str, Any], key: str, where: str, default: int, lo: int, hi: int) -> int:
    value = sec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}.{key} should be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ConfigError(f"{where}.{key} = {value} is outside {lo}..{hi}")
    return value


def _diameter(sec: dict[str, Any], where: str) -> DiameterNodeConfig:
    return DiameterNodeConfig(_get(sec, "diameter_host", where), _get(sec, "diameter_realm", where))


def parse(raw: dict[str, Any], path: Path) -> NetworkConfig:
    """Build a :class:`NetworkConfig` from parsed TOML; any gap is a :class:`ConfigError`."""
    net = _section(raw, "network")
    h, b, n = _section(raw, "hss"), _section(raw, "bsf"), _section(raw, "naf")
    nafs = []
    for i, item in enumerate(b.get("naf", [])):
        where = f"bsf.naf[{i}]"
        nafs.append(NafAuthorisation(
            _get(item, "diameter_host", where),
            tuple(_get(item, "hostnames", where, list)),
            tuple(item.get("gaa_service_ids", [])), item.get("naf_group"),
            tuple(item.get("addresses", []))))
    return NetworkConfig(
        path=path,
        realm=_get(net, "realm", "network"),
        hss=HssConfig(
            diameter=_diameter(h, "hss"),
            zh_listen=Address.parse(_get(h, "zh_listen", "hss"), "hss.zh_listen"),
            rest_listen=Address.parse(_get(h, "rest_listen", "hss"), "hss.rest_listen"),
            store=_get(h, "store", "hss"),
            ind=_int(h, "ind", "hss", 0, 0, 31),
            bsf_hosts=tuple(h.get("bsf_hosts", [b.get("diameter_host", "")])),
        ),
        bsf=BsfConfig(
            server_name=_get(b, "server_name", "bsf"),
            diameter=_diameter(b, "bsf"),
            ub_listen=Address.parse(_get(b, "ub_listen", "bsf"), "bsf.ub_listen"),
            zn_listen=Address.parse(_get(b, "zn_listen", "bsf"), "bsf.zn_listen"),
            hss=Address.parse(_get(b, "hss", "bsf"), "bsf.hss"),
            store=_get(b, "store", "bsf"),
            key_lifetime_s=_int(b, "key_lifetime_s", "bsf", 3600, 1, 366 * 86400),
            challenge_lifetime_s=_int(b, "challenge_lifetime_s", "bsf", 120, 1, 3600),
            nafs=tuple(nafs),
            zn_tls=bool(b.get("zn_tls", False)),
            zn_tls_cert=str(b.get("zn_tls_cert", "zn-tls/bsf-cert.pem")),
            zn_tls_key=str(b.get("zn_tls_key", "zn-tls/bsf-key.pem")),
            zn_tls_client_ca=str(b.get("zn_tls_client_ca", "zn-tls/ca.pem")),
        ),
        naf=NafConfig(
            fqdn=_get(n, "fqdn", "naf"),
            diameter=_diameter(n, "naf"),
            http_listen=Address.parse(_get(n, "http_listen", "naf"), "naf.http_listen"),
            psk_tls_listen=Address.parse(_get(n, "psk_tls_listen", "naf"), "naf.psk_tls_listen"),
            bsf=Address.parse(_get(n, "bsf", "naf"), "naf.bsf"),
            store=_get(n, "store", "naf"),
            gaa_service_id=n.get("gaa_service_id"),
            zn_tls=bool(n.get("zn_tls", False)),
            zn_tls_ca=str(n.get("zn_tls_ca", "zn-tls/ca.pem")),
            zn_tls_cert=str(n.get("zn_tls_cert", "zn-tls/naf-cert.pem")),
            zn_tls_key=str(n.get("zn_tls_key", "zn-tls/naf-key.pem")),
        ),
        raw=raw,
    )


def load(path: Path | str) -> NetworkConfig:
    """Read and check a network TOML file."""
    p = Path(path).resolve()
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {p} not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {p}: {exc}") from None
    return parse(raw, p)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on *host*."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def resolve_ports(cfg: NetworkConfig) -> NetworkConfig:
    """Replace every port 0 by a free port, keeping the peers' references consistent."""
    def fix(a: Address) -> Address:
        return a if a.port else Address(a.host, free_port(a.host))

    hss = replace(cfg.hss, zh_listen=fix(cfg.hss.zh_listen), rest_listen=fix(cfg.hss.rest_listen))
    bsf = replace(cfg.bsf, ub_listen=fix(cfg.bsf.ub_listen), zn_listen=fix(cfg.bsf.zn_listen),
                  hss=hss.zh_listen if cfg.bsf.hss.port == 0 else cfg.bsf.hss)
    naf = replace(cfg.naf, http_listen=fix(cfg.naf.http_listen),
                  psk_tls_listen=fix(cfg.naf.psk_tls_listen),
                  bsf=bsf.zn_listen if cfg.naf.bsf.port == 0 else cfg.naf.bsf)
    return replace(cfg, hss=hss, bsf=bsf, naf=naf)


def dump(cfg: NetworkConfig) -> str:
    """Serialise *cfg* back to TOML (a lab writes its resolved config with it)."""
    def q(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def store(url: str) -> str:
        return q(url)

    lines = [
        "[network]", f"realm = {q(cfg.realm)}", "",
        "[hss]", f"diameter_host = {q(cfg.hss.diameter.host)}",
        f"diameter_realm = {q(cfg.hss.diameter.realm)}",
        f"zh_listen = {q(str(cfg.hss.zh_listen))}", f"rest_listen = {q(str(cfg.hss.rest_listen))}",
        f"store = {store(cfg.hss.store)}", f"ind = {cfg.hss.ind}",
        "bsf_hosts = [" + ", ".join(q(h) for h in cfg.hss.bsf_hosts) + "]", "",
        "[bsf]", f"server_name = {q(cfg.bsf.server_name)}",
        f"diameter_host = {q(cfg.bsf.diameter.host)}",
        f"diameter_realm = {q(cfg.bsf.diameter.realm)}",
        f"ub_listen = {q(str(cfg.bsf.ub_listen))}", f"zn_listen = {q(str(cfg.bsf.zn_listen))}",
        f"hss = {q(str(cfg.bsf.hss))}", f"store = {store(cfg.bsf.store)}",
        f"key_lifetime_s = {cfg.bsf.key_lifetime_s}",
        f"challenge_lifetime_s = {cfg.bsf.challenge_lifetime_s}",
        f"zn_tls = {'true' if cfg.bsf.zn_tls else 'false'}",
        f"zn_tls_cert = {q(cfg.bsf.zn_tls_cert)}", f"zn_tls_key = {q(cfg.bsf.zn_tls_key)}",
        f"zn_tls_client_ca = {q(cfg.bsf.zn_tls_client_ca)}", "",
    ]
    for naf in cfg.bsf.nafs:
        lines += ["[[bsf.naf]]", f"diameter_host = {q(naf.diameter_host)}",
                  "hostnames = [" + ", ".join(q(h) for h in naf.hostnames) + "]",
                  "gaa_service_ids = [" + ", ".join(q(g) for g in naf.gaa_service_ids) + "]"]
        if naf.naf_group is not None:
            lines.append(f"naf_group = {q(naf.naf_group)}")
        if naf.addresses:
            lines.append("addresses = [" + ", ".join(q(a) for a in naf.addresses) + "]")
        lines.append("")
    lines += [
        "[naf]", f"fqdn = {q(cfg.naf.fqdn)}", f"diameter_host = {q(cfg.naf.diameter.host)}",
        f"diameter_realm = {q(cfg.naf.diameter.realm)}",
        f"http_listen = {q(str(cfg.naf.http_listen))}",
        f"psk_tls_listen = {q(str(cfg.naf.psk_tls_listen))}", f"bsf = {q(str(cfg.naf.bsf))}",
        f"store = {store(cfg.naf.store)}",
        f"zn_tls = {'true' if cfg.naf.zn_tls else 'false'}",
        f"zn_tls_ca = {q(cfg.naf.zn_tls_ca)}", f"zn_tls_cert = {q(cfg.naf.zn_tls_cert)}",
        f"zn_tls_key = {q(cfg.naf.zn_tls_key)}",
    ]
    if cfg.naf.gaa_service_id is not None:
        lines.append(f"gaa_service_id = {q(cfg.naf.gaa_service_id)}")
    return "\n".join(lines) + "\n"

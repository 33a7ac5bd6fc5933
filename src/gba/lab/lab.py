"""``gba lab up`` / ``gba lab down``: start and stop a network, described by lab.json.

Every function of the topology (:mod:`gba.config`, any number of networks and of
functions of a kind) runs as ``python -m gba serve <name> --config DIR/network.toml`` in
its own session, logging to DIR/<name>.log, in the start order of its kind. ``up``
returns once every listening socket accepts connections; lab.json then holds
``functions`` (kind, network, realm, pid and endpoints of each), ``networks``, ``config``,
``pids`` and, from the first HSS/BSF/NAF, the keys of a one-network lab: bsf_url, naf_url,
naf_fqdn, naf_psk_tls_port, hss_rest_url, hss_rest_token_file, hss_zh, bsf_zn, ... (a
stable interface), ``status_url``, the lab's status page (:mod:`gba.lab.status`), and
``metrics``: function name -> its Prometheus URL (each function gets a ``metrics_listen``
on loopback unless its section has one; :mod:`gba.observe`).
Every HSS gets a random REST bearer token, owner-only, in DIR/<name>-rest.token unless its
section names a ``rest_token_file`` that exists.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import tomli_w

from gba import config
from gba.capture import layout
from gba.config import Address, Topology
from gba.errors import ConfigError, GbaError
from gba.nf import registry

LAB_JSON = "lab.json"


class LabError(GbaError):
    """A network function did not come up, or the lab directory is unusable."""


def _accepts(addr: Address) -> bool:
    try:
        with socket.create_connection((addr.host, addr.port), timeout=0.5):
            return True
    except OSError:
        return False


RECENT_MESSAGES = "recent_messages"
LAB_RECENT_MESSAGES = 200
"""Messages each lab function keeps for the status page's flows (a function that feeds
the ring pays for it on every message: about 15% of Zn throughput)."""


def _resolve(data: dict[str, Any], user_file: Path | None) -> dict[str, Any]:
    """Pick a free port for every listener at port 0 (a function without
    ``metrics_listen`` gets one on loopback, and keeps its last messages for the status
    page: ``recent_messages``, off by default outside a lab) and, for a user's file, make
    store paths absolute so the stores stay where that file put them."""
    base = Topology(user_file or config.SAMPLE_CONFIG, {}, {})
    taken: set[tuple[str, int]] = set()
    for name, section in data["functions"].items():
        kind = registry.kind(str(section.get("kind")), f"functions.{name}.kind")
        if not kind.runs:  # another operator's function: its addresses are as given
            continue
        section.setdefault(registry.METRICS_LISTEN, "127.0.0.1:0")
        section.setdefault(RECENT_MESSAGES, LAB_RECENT_MESSAGES)
        for key in (*kind.listen_keys, registry.METRICS_LISTEN):
            if key in section:
                where = Address.parse(section[key], f"functions.{name}.{key}")
                port = where.port
                while port == 0 or (where.host, port) in taken:  # the OS may repeat one
                    port = config.free_port(where.host)
                taken.add((where.host, port))
                section[key] = str(Address(where.host, port))
        if user_file is not None and isinstance(section.get("store"), str):
            section["store"] = base.store_url(section["store"])
    return data


def _issue_certificates(cfg: Topology, lab_dir: Path) -> None:
    """When any Diameter listener uses TLS or a NAF serves HTTPS, give every function with
    a TLS section a certificate from the lab CA (unless its files exist), naming its
    Diameter host and, for a NAF, its FQDN (the HTTPS server name)."""
    configs = {name: registry.config_of(cfg, name) for name in cfg.functions}
    tls_of = {name: getattr(c, "tls", None) for name, c in configs.items()}
    https = any(getattr(c, "https_listen", None) is not None for c in configs.values())
    if not https and not any(t is not None and t.enabled for t in tls_of.values()):
        return
    from gba.nf.common import TLS_DIR
    from gba.transport.tls import LabCa

    ca = LabCa(lab_dir / TLS_DIR)
    for name, tls in tls_of.items():
        if tls is None:
            continue
        cert, key = cfg.file(tls.cert), cfg.file(tls.key)
        if not (cert.exists() and key.exists()):
            fqdn = getattr(configs[name], "fqdn", None)
            ca.issue(configs[name].diameter.host, cert, key, (fqdn,) if fqdn else ())
        if not cfg.file(tls.ca).exists():
            raise LabError(f"functions.{name}: TLS CA file {cfg.file(tls.ca)} is missing")


def _rest_tokens(data: dict[str, Any], lab_dir: Path, user_file: Path | None) -> None:
    """Give every HSS a REST bearer token file (RFC 6750), and every Push-NAF a control
    one: the one its section names (relative to *user_file*, made absolute), else
    DIR/<name>-rest.token (DIR/<name>-control.token); written with a random token,
    owner-only, unless it exists."""
    from gba.nf.hss_rest import write_token_file

    base = user_file.parent if user_file is not None else lab_dir
    for name, section in data["functions"].items():
        key, suffix = {"hss": ("rest_token_file", "rest"),
                       "push_naf": ("control_token_file", "control"),
                       "mtc_as": ("token_file", "as")}.get(
                           section.get("kind"), (None, None))
        if key is None:
            continue
        path = base / str(section.get(key, lab_dir / f"{name}-{suffix}.token"))
        section[key] = str(path)
        if not path.exists():
            write_token_file(path)


def _prepare_config(lab_dir: Path, config_file: Path | None) -> Topology:
    source = registry.load(config_file or config.SAMPLE_CONFIG)
    data = _resolve(config.normalise(source.raw), config_file.resolve()
                    if config_file is not None else None)
    _rest_tokens(data, lab_dir, config_file.resolve() if config_file is not None else None)
    target = lab_dir / "network.toml"
    target.write_text(tomli_w.dumps(data), encoding="utf-8")
    cfg = registry.load(target)
    _issue_certificates(cfg, lab_dir)
    return cfg


def _first(cfg: Topology, kind: str) -> Any:
    found = cfg.of_kind(kind)
    return registry.config_of(cfg, found[0].name) if found else None


def _classic_keys(cfg: Topology) -> dict[str, Any]:
    """The lab.json keys of a one-network lab (a stable interface): from the first HSS,
    BSF and NAF of the topology."""
    info: dict[str, Any] = {}
    hss, bsf, naf = _first(cfg, "hss"), _first(cfg, "bsf"), _first(cfg, "naf")
    if bsf is not None:
        info |= {"bsf_url": f"http://{bsf.ub_listen}/", "bsf_zn": str(bsf.zn_listen),
                 "bsf_server_name": bsf.server_name, "zn_tls": bsf.tls.enabled}
    if naf is not None:
        tls = bool(bsf is not None and bsf.tls.enabled)
        info |= {"naf_url": f"http://{naf.http_listen}", "naf_fqdn": naf.fqdn,
                 "naf_host": naf.http_listen.host,
                 "naf_psk_tls_port": naf.psk_tls_listen.port,
                 "zn_tls_ca": str(cfg.file(naf.tls.ca)) if tls else None,
                 "zn_tls_naf_cert": str(cfg.file(naf.tls.cert)) if tls else None,
                 "zn_tls_naf_key": str(cfg.file(naf.tls.key)) if tls else None}
    if hss is not None:
        info |= {"hss_rest_url": f"http://{hss.rest_listen}", "hss_zh": str(hss.zh_listen),
                 "hss_rest_token_file": str(cfg.file(hss.rest_token_file))}
    return info


def up(lab_dir: Path, config_file: Path | None = None, timeout: float = 30.0,
       capture: Path | None = None) -> dict[str, Any]:
    """Start every function of the topology; wait until each serves; write lab.json.
    With *capture*, every function records its part (:mod:`gba.capture.layout`)."""
    lab_dir = lab_dir.resolve()
    lab_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if (lab_dir / LAB_JSON).exists():
        existing = json.loads((lab_dir / LAB_JSON).read_text())
        running = [*existing.get("pids", {}).values(), existing.get("status_pid")]
        if any(_alive(int(pid)) for pid in running if pid):
            raise LabError(f"a lab is already running in {lab_dir}; run `gba lab down` first")
    cfg = _prepare_config(lab_dir, config_file)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if capture is not None:
        capture = capture.resolve()
        layout.prepare(capture)
    pids: dict[str, int] = {}
    functions: dict[str, Any] = {}
    metrics_urls: dict[str, str] = {}
    try:
        for name in registry.ordered(cfg):
            if not registry.runs(cfg, name):  # another operator runs it
                continue
            log = open(lab_dir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
            proc = subprocess.Popen(
                [sys.executable, "-m", "gba", "serve", name, "--config", str(cfg.path)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**env, **layout.child_env(capture, name)},
                start_new_session=True, cwd=lab_dir)
            log.close()
            pids[name] = proc.pid
            listening = registry.endpoints(cfg, name)
            probed = registry.stream_endpoints(cfg, name)
            metrics = registry.metrics_endpoint(cfg, name)
            if metrics is not None:
                listening["metrics"] = probed["metrics"] = metrics
                metrics_urls[name] = f"http://{metrics}/metrics"
            _wait_serving(proc, name, list(probed.values()), lab_dir, timeout)
            function = cfg.function(name)
            functions[name] = {"kind": function.kind, "network": function.network,
                               "realm": function.realm, "pid": proc.pid,
                               "endpoints": {k: str(v) for k, v in listening.items()}}
        from gba.lab import status

        page = status.start(lab_dir, env, timeout)  # the status page, on loopback
    except BaseException:
        for pid in pids.values():
            _stop(pid, 5.0)
        raise
    info: dict[str, Any] = {
        **_classic_keys(cfg),
        "realm": cfg.realm,
        "networks": cfg.networks,
        "functions": functions,
        "config": str(cfg.path),
        "dir": str(lab_dir),
        "status_url": page.url,
        "status_pid": page.pid,
        "pids": pids,
        "metrics": metrics_urls,
        **layout.lab_info(capture),
    }
    (lab_dir / LAB_JSON).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def _wait_serving(proc: subprocess.Popen[bytes], function: str, addrs: list[Address],
                  lab_dir: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.02
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (lab_dir / f"{function}.log").read_text(errors="replace")[-2000:]
            raise LabError(f"{function} exited with status {proc.returncode}:\n{tail}")
        if all(_accepts(a) for a in addrs):
            return
        time.sleep(delay)  # polling a child process's sockets, not timing a test
        delay = min(delay * 2, 0.25)
    raise LabError(f"{function} did not serve {', '.join(map(str, addrs))} within {timeout:g}s")


def _alive(pid: int) -> bool:
    """True while *pid* runs; a zombie (exited, not yet reaped by its new parent) is dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rpartition(")")[2].split()[0] in ("Z", "X"):
            return False
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def _stop(pid: int, grace: float) -> bool:
    """SIGTERM, wait up to *grace* seconds, then SIGKILL; True if it stopped cleanly."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return False


def down(lab_dir: Path, grace: float = 10.0) -> dict[str, bool]:
    """Stop every process in lab.json, last started first; return who stopped cleanly."""
    path = lab_dir.resolve() / LAB_JSON
    if not path.exists():
        raise ConfigError(f"no {LAB_JSON} in {lab_dir}")
    info = json.loads(path.read_text())
    result: dict[str, bool] = {}
    if info.get("labs"):  # several labs in one (`gba lab up --with roaming`)
        for sub in reversed(info["labs"]):
            if (Path(sub) / LAB_JSON).exists():
                result |= {f"{Path(sub).name}/{k}": v for k, v in down(Path(sub), grace).items()}
        info["pids"], info["status_pids"], info["stopped"] = {}, {}, True
        path.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        return result
    if info.get("status_pid"):  # started last, stopped first
        from gba.lab.status import STATUS_PAGE

        result[STATUS_PAGE] = _stop(int(info["status_pid"]), grace)
        info["status_pid"] = None
    for function, pid in reversed(list(info.get("pids", {}).items())):
        result[function] = _stop(int(pid), grace)
    info["pids"] = {}
    info["stopped"] = True
    path.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    if info.get("capture"):  # the functions' parts into one file (gba.capture.merge)
        from gba.capture.merge import merge_lab

        merge_lab(Path(info["capture"]), list(info.get("functions", {})))
    return result

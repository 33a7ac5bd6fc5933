"""``gba lab up`` / ``gba lab down``: start and stop a network, described by lab.json.

Each network function runs as ``python -m gba serve <function> --config DIR/network.toml``
in its own session, logging to DIR/<function>.log. ``up`` returns once every listening
socket accepts connections; lab.json then holds at least bsf_url, naf_url, naf_fqdn,
naf_psk_tls_port, config and pids (a stable interface).
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
from dataclasses import replace
from pathlib import Path
from typing import Any

from gba import config
from gba.config import Address, NetworkConfig
from gba.errors import ConfigError, GbaError

FUNCTIONS = ("hss", "bsf", "naf")
LAB_JSON = "lab.json"


class LabError(GbaError):
    """A network function did not come up, or the lab directory is unusable."""


def _listening(cfg: NetworkConfig, function: str) -> list[Address]:
    return {"hss": [cfg.hss.zh_listen, cfg.hss.rest_listen],
            "bsf": [cfg.bsf.ub_listen, cfg.bsf.zn_listen],
            "naf": [cfg.naf.http_listen, cfg.naf.psk_tls_listen]}[function]


def _accepts(addr: Address) -> bool:
    try:
        with socket.create_connection((addr.host, addr.port), timeout=0.5):
            return True
    except OSError:
        return False


def _prepare_config(lab_dir: Path, config_file: Path | None) -> NetworkConfig:
    cfg = config.load(config_file or config.SAMPLE_CONFIG)
    cfg = config.resolve_ports(cfg)
    if config_file is not None:
        # keep the user's stores where the user's file put them
        cfg = replace(cfg, hss=replace(cfg.hss, store=cfg.store_url(cfg.hss.store)),
                      bsf=replace(cfg.bsf, store=cfg.store_url(cfg.bsf.store)),
                      naf=replace(cfg.naf, store=cfg.store_url(cfg.naf.store)))
    target = lab_dir / "network.toml"
    target.write_text(config.dump(cfg), encoding="utf-8")
    cfg = config.load(target)
    if cfg.bsf.zn_tls and not cfg.file(cfg.bsf.zn_tls_cert).exists():
        from gba.transport.tls import make_lab_pki

        pki = make_lab_pki(lab_dir / "zn-tls", cfg.bsf.diameter.host, cfg.naf.diameter.host)
        cfg = replace(cfg, bsf=replace(cfg.bsf, zn_tls_cert=str(pki.bsf_cert),
                                       zn_tls_key=str(pki.bsf_key),
                                       zn_tls_client_ca=str(pki.ca)),
                      naf=replace(cfg.naf, zn_tls_ca=str(pki.ca),
                                  zn_tls_cert=str(pki.naf_cert), zn_tls_key=str(pki.naf_key)))
        target.write_text(config.dump(cfg), encoding="utf-8")
        cfg = config.load(target)
    return cfg


def up(lab_dir: Path, config_file: Path | None = None, timeout: float = 30.0) -> dict[str, Any]:
    """Start HSS, BSF and NAF; wait until each serves; write and return lab.json."""
    lab_dir = lab_dir.resolve()
    lab_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if (lab_dir / LAB_JSON).exists():
        existing = json.loads((lab_dir / LAB_JSON).read_text())
        if any(_alive(pid) for pid in existing.get("pids", {}).values()):
            raise LabError(f"a lab is already running in {lab_dir}; run `gba lab down` first")
    cfg = _prepare_config(lab_dir, config_file)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    pids: dict[str, int] = {}
    try:
        for function in FUNCTIONS:
            log = open(lab_dir / f"{function}.log", "ab")  # noqa: SIM115 - handed to the child
            proc = subprocess.Popen(
                [sys.executable, "-m", "gba", "serve", function, "--config", str(cfg.path)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True, cwd=lab_dir)
            log.close()
            pids[function] = proc.pid
            _wait_serving(proc, function, _listening(cfg, function), lab_dir, timeout)
    except BaseException:
        for pid in pids.values():
            _stop(pid, 5.0)
        raise
    info: dict[str, Any] = {
        "bsf_url": f"http://{cfg.bsf.ub_listen}/",
        "naf_url": f"http://{cfg.naf.http_listen}",
        "naf_fqdn": cfg.naf.fqdn,
        "naf_host": cfg.naf.http_listen.host,
        "naf_psk_tls_port": cfg.naf.psk_tls_listen.port,
        "hss_rest_url": f"http://{cfg.hss.rest_listen}",
        "hss_zh": str(cfg.hss.zh_listen),
        "bsf_zn": str(cfg.bsf.zn_listen),
        "realm": cfg.realm,
        "bsf_server_name": cfg.bsf.server_name,
        "config": str(cfg.path),
        "zn_tls": cfg.bsf.zn_tls,
        "zn_tls_ca": str(cfg.file(cfg.naf.zn_tls_ca)) if cfg.bsf.zn_tls else None,
        "zn_tls_naf_cert": str(cfg.file(cfg.naf.zn_tls_cert)) if cfg.bsf.zn_tls else None,
        "zn_tls_naf_key": str(cfg.file(cfg.naf.zn_tls_key)) if cfg.bsf.zn_tls else None,
        "dir": str(lab_dir),
        "pids": pids,
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
    """Stop every process in lab.json (NAF first, HSS last); return who stopped cleanly."""
    path = lab_dir.resolve() / LAB_JSON
    if not path.exists():
        raise ConfigError(f"no {LAB_JSON} in {lab_dir}")
    info = json.loads(path.read_text())
    result = {}
    for function in reversed(FUNCTIONS):
        pid = info.get("pids", {}).get(function)
        if pid is not None:
            result[function] = _stop(int(pid), grace)
    info["pids"] = {}
    info["stopped"] = True
    path.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return result

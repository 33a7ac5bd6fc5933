"""Run a lab network the way an operator does: the real ``gba`` command, as subprocesses.

``gba lab up --dir DIR [--config FILE]`` starts HSS, BSF and NAF as background processes
and writes DIR/lab.json; ``gba hss add-subscriber`` provisions into the HSS's SQLite file;
``gba lab down --dir DIR`` stops them. Shared by tests/e2e and tests/interop.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gba.config import NetworkConfig
from gba.crypto import aka
from gba.nf import registry
from gba.transport.tls import client_context

CLI_TIMEOUT = 60.0
"""Seconds one ``gba`` command may take; ``lab up`` waits for readiness itself."""


def gba_executable() -> str:
    """The ``gba`` of the interpreter running the tests, else the one on PATH."""
    beside = Path(sys.executable).with_name("gba")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("gba")
    if found is None:
        raise RuntimeError(f"no gba command next to {sys.executable} nor on PATH "
                           "(pip install -e '.[dev]')")
    return found


def gba(*args: str | Path) -> str:
    """Run ``gba ARGS...`` and return its stdout; a non-zero exit fails with its stderr."""
    argv = [gba_executable(), *map(str, args)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=CLI_TIMEOUT,
                          check=False)
    if proc.returncode != 0:
        raise AssertionError(f"gba {' '.join(map(str, args[:3]))} ... exited "
                             f"{proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc.stdout


@dataclass(frozen=True)
class Subscriber:
    """A subscription with fresh random keys, as provisioned into the HSS."""

    impi: str
    k: bytes = field(repr=False)
    opc: bytes = field(repr=False)

    @classmethod
    def fresh(cls, impi: str) -> Subscriber:
        return cls(impi, os.urandom(16), os.urandom(16))

    def usim(self, sqn_array: aka.SqnArray | None = None) -> aka.Usim:
        """A USIM for this subscription (a fresh SQN array unless one is given)."""
        return aka.Usim(self.k, self.opc, sqn_array)


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


@dataclass(frozen=True)
class Lab:
    """What DIR/lab.json says about a running lab, plus the subscribers provisioned in it."""

    dir: Path
    config: Path
    bsf_url: str
    naf_url: str
    naf_fqdn: str
    hss_rest_url: str
    hss_zh: tuple[str, int]
    bsf_zn: tuple[str, int]
    realm: str
    bsf_server_name: str
    pids: dict[str, int]
    subscribers: dict[str, Subscriber] = field(default_factory=dict)

    @classmethod
    def read(cls, lab_dir: Path, subscribers: dict[str, Subscriber] | None = None) -> Lab:
        info: dict[str, Any] = json.loads((lab_dir / "lab.json").read_text(encoding="utf-8"))
        return cls(dir=Path(info["dir"]), config=Path(info["config"]),
                   bsf_url=info["bsf_url"], naf_url=info["naf_url"],
                   naf_fqdn=info["naf_fqdn"], hss_rest_url=info["hss_rest_url"],
                   hss_zh=_address(info["hss_zh"]), bsf_zn=_address(info["bsf_zn"]),
                   realm=info["realm"], bsf_server_name=info["bsf_server_name"],
                   pids={k: int(v) for k, v in info["pids"].items()},
                   subscribers=dict(subscribers or {}))

    def subscriber(self, name: str) -> Subscriber:
        """The subscriber provisioned for *name* (each test uses its own)."""
        try:
            return self.subscribers[name]
        except KeyError:
            raise KeyError(f"no subscriber {name!r} was provisioned in this lab; add it to "
                           "the fixture's list") from None

    def network(self) -> NetworkConfig:
        """The resolved network config the lab runs with (DIR/network.toml)."""
        return registry.load(self.config)

    def zn_tls(self) -> ssl.SSLContext | None:
        """A client context presenting the lab NAF's certificate, when Zn runs over TLS."""
        cfg = self.network()
        if not cfg.bsf.zn_tls:
            return None
        return client_context(cfg.file(cfg.naf.zn_tls_ca), cfg.file(cfg.naf.zn_tls_cert),
                              cfg.file(cfg.naf.zn_tls_key))

    def hss_rows(self) -> dict[str, dict[str, Any]]:
        """``gba hss list``: one row per subscriber (no key material), by IMPI."""
        rows = [json.loads(line) for line in gba("hss", "list", "--config", self.config)
                .splitlines() if line.strip()]
        return {row["impi"]: row for row in rows}


def hss_rest_auth(lab: Lab) -> dict[str, str]:
    """``Authorization: Bearer <token>`` for the lab HSS's REST API (RFC 6750): the token
    ``gba lab up`` wrote to the file lab.json names as ``hss_rest_token_file``."""
    info: dict[str, Any] = json.loads((lab.dir / "lab.json").read_text(encoding="utf-8"))
    token = Path(info["hss_rest_token_file"]).read_text(encoding="ascii").strip()
    return {"Authorization": f"Bearer {token}"}


LabFactory = Callable[..., Lab]
"""The ``lab_factory`` fixture: ``start(names=(), config_file=None, lab_dir=None) -> Lab``."""


def impi_for(name: str, realm: str) -> str:
    return f"{name}@{realm}"


def provision(config_file: Path, subscribers: Iterable[Subscriber]) -> None:
    """``gba hss add-subscriber`` for each, run side by side (SQLite serialises writers)."""
    exe = gba_executable()
    running = [(sub, subprocess.Popen(
        [exe, "hss", "add-subscriber", "--config", str(config_file), "--impi", sub.impi,
         "--k", sub.k.hex(), "--opc", sub.opc.hex()],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)) for sub in subscribers]
    failures = []
    for sub, proc in running:
        out, err = proc.communicate(timeout=CLI_TIMEOUT)
        if proc.returncode != 0 or json.loads(out).get("impi") != sub.impi:
            failures.append(f"{sub.impi}: exit {proc.returncode}: {err[-1000:]}")
    if failures:
        raise AssertionError("gba hss add-subscriber failed:\n" + "\n".join(failures))


def lab_up(lab_dir: Path, config_file: Path | None = None) -> None:
    args: list[str | Path] = ["lab", "up", "--dir", lab_dir]
    if config_file is not None:
        args += ["--config", config_file]
    gba(*args)


def lab_down(lab_dir: Path) -> None:
    if (lab_dir / "lab.json").exists():  # `lab up` stops what it started when it fails
        gba("lab", "down", "--dir", lab_dir)


@contextmanager
def running_lab(lab_dir: Path, names: Iterable[str] = (), config_file: Path | None = None
                ) -> Iterator[Lab]:
    """A lab in *lab_dir* (from *config_file*, else the sample network) with one fresh
    subscriber per name; always brought down."""
    lab_up(lab_dir, config_file)
    try:
        started = Lab.read(lab_dir)
        subs = {n: Subscriber.fresh(impi_for(n, started.realm)) for n in names}
        provision(started.config, subs.values())
        yield Lab.read(lab_dir, subs)
    finally:
        lab_down(lab_dir)


def children(pid: int) -> list[int]:
    """The pids of *pid*'s children (a function's worker processes), from /proc."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def alive(pid: int) -> bool:
    """True while *pid* runs (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rpartition(")")[2].split()[0] in ("Z", "X"):
            return False
    return True

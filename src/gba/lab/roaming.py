"""``gba lab up --with roaming``: two operator networks at once (docs/roaming.md §5).

The home network (``data/roaming/home.toml``: HSS, BSF, a NAF) runs as a lab of its own in
DIR/home, then the visited network (``data/roaming/visited.toml``) in DIR/visited, with
the home functions it names as ``remote`` (the home BSF) given their real Diameter
addresses. Both use one lab CA: the home lab's CA files are copied into the visited lab's
TLS directory before it starts, so its certificates chain to the same root (a lab
simplification: Annex K.1 of TS 33.220 has the home operator issue the proxy's
certificate). Each source file is copied into its lab directory first, so its relative
stores land there.

DIR/lab.json holds the home lab's keys (the one-network keys: bsf_url, naf_url, ...,
hss_rest_token_file, config = the home network file), ``labs`` (the two sub-lab
directories, which ``gba lab down`` stops, last started first), ``pids`` (every process,
as ``home/<name>`` and ``visited/<name>``) and ``roaming``::

    {"home": {"realm", "bsf_url", "config"},
     "visited": {"realm", "config", "cases": {"A", "B-standalone", "B-aaa",
                                               "B-in-server", "C", "D": {"naf_url",
                                                                        "naf_fqdn"}}}}
"""

from __future__ import annotations

import json
import shutil
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import tomli_w

from gba.lab import lab
from gba.nf import registry
from gba.nf.common import TLS_DIR

HOME, VISITED = "home", "visited"
CASES: dict[str, str] = {"A": "bmsc-a", "B-standalone": "bmsc-bs", "B-aaa": "bmsc-baaa",
                         "B-in-server": "bmsc-bin", "C": "bmsc-c", "D": "bmsc-d"}
"""Each roaming case -> the visited function serving it."""
CA_FILES = ("ca.pem", "ca-key.pem")


def source(name: str) -> Path:
    """A roaming topology shipped with the package: ``home`` or ``visited``."""
    return Path(str(resources.files("gba") / "data" / "roaming" / f"{name}.toml"))


HOME_AAA = "aaa.mnc001.mcc001.3gppnetwork.org"


def colocate_aaa(raw: dict[str, Any], name: str) -> None:
    """The co-located form of case C: the home file's AAA runs inside its BSF (``aaa =
    true``); the visited file's functions reach it as the home BSF, which they connect to
    already, so its ``remote`` home AAA goes."""
    functions = raw.get("functions", {})
    if name == HOME:
        functions.pop("aaa", None)
        functions["bsf"]["aaa"] = True
        functions["bsf"]["aaa_hosts"] = []
        return
    gone = [n for n, section in functions.items()
            if section.get("kind") == "remote" and section.get("diameter_host") == HOME_AAA]
    for fname in gone:
        del functions[fname]
    for section in functions.values():
        if "connect" in section:
            section["connect"] = [c for c in section["connect"] if c not in gone]


def _copy_source(name: str, lab_dir: Path, remotes_from: Path | None = None,
                 key: str | None = None, colocated: bool = False,
                 next_identity: str | None = None) -> Path:
    """Copy topology *name* into *lab_dir* (so relative stores land there); with
    *remotes_from* (a running network's resolved file), every ``remote`` function gets the
    Diameter address of the function of that network with its ``diameter_host``; with
    *key*, every BSF's ``[[visited]]`` policy hands out that key kind."""
    raw = tomllib.loads(source(name).read_text(encoding="utf-8"))
    if colocated:
        colocate_aaa(raw, name)
    if next_identity is not None:
        for section in raw.get("functions", {}).values():
            if "subsequent_identity" in section:
                section["subsequent_identity"] = next_identity
    if key is not None:
        for section in raw.get("functions", {}).values():
            for partner in section.get("visited", []):
                partner["key"] = key
    if remotes_from is not None:
        running = registry.load(remotes_from)
        by_host = {}
        for fn in running.functions:
            endpoint = registry.kind(running.function(fn).kind).diameter(
                registry.config_of(running, fn))
            if endpoint is not None and endpoint.host is not None:
                by_host[endpoint.host] = endpoint
        for fname, section in raw.get("functions", {}).items():
            if section.get("kind") != "remote":
                continue
            found = by_host.get(str(section.get("diameter_host")))
            if found is None:
                raise lab.LabError(f"{name}: remote function {fname} names "
                                   f"{section.get('diameter_host')!r}, which the other "
                                   "network does not run")
            section["diameter"] = str(found.address)
            section["tls"] = found.tls
    lab_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = lab_dir / f"roaming-{name}.toml"
    target.write_text(tomli_w.dumps(raw), encoding="utf-8")
    return target


def _share_ca(home_dir: Path, visited_dir: Path) -> None:
    """Give the visited lab the home lab's CA (``gba.transport.tls.LabCa`` reuses it)."""
    src, dst = home_dir / TLS_DIR, visited_dir / TLS_DIR
    visited_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not (src / CA_FILES[0]).exists():
        return  # no TLS in the home network: nothing to share
    dst.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in CA_FILES:
        if not (dst / name).exists():
            shutil.copy2(src / name, dst / name)


def up(lab_dir: Path, timeout: float = 30.0, key: str = "derived",
       colocated_aaa: bool = False, next_identity: str = "btid") -> dict[str, Any]:
    """Start the home network, then the visited one; write DIR/lab.json. *key* is the
    home operator's policy towards the visited network (``derived`` or ``ks``); with
    *colocated_aaa* the home AAA runs inside the home BSF (case C's second form);
    *next_identity* is case D's server's ``subsequent_identity`` (``btid`` or
    ``permanent``)."""
    lab_dir = lab_dir.resolve()
    lab_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if (lab_dir / lab.LAB_JSON).exists():
        existing = json.loads((lab_dir / lab.LAB_JSON).read_text())
        if any(lab._alive(int(pid)) for pid in existing.get("pids", {}).values()):
            raise lab.LabError(f"a lab is already running in {lab_dir}; run `gba lab down` "
                               "first")
    home_dir, visited_dir = lab_dir / HOME, lab_dir / VISITED
    home = lab.up(home_dir, _copy_source(HOME, home_dir, key=key, colocated=colocated_aaa),
                  timeout)
    try:
        _share_ca(home_dir, visited_dir)
        visited = lab.up(visited_dir, _copy_source(VISITED, visited_dir,
                                                   Path(home["config"]),
                                                   colocated=colocated_aaa,
                                                   next_identity=next_identity), timeout)
    except BaseException:
        lab.down(home_dir)
        raise
    vcfg = registry.load(visited["config"])
    cases = {}
    for case, fn in CASES.items():
        naf = registry.config_of(vcfg, fn)
        cases[case] = {"naf_url": f"http://{naf.http_listen}", "naf_fqdn": naf.fqdn}
    info: dict[str, Any] = {
        **{k: v for k, v in home.items() if k not in ("pids", "status_pid", "dir")},
        "dir": str(lab_dir),
        "labs": [str(home_dir), str(visited_dir)],
        "pids": {**{f"{HOME}/{n}": p for n, p in home["pids"].items()},
                 **{f"{VISITED}/{n}": p for n, p in visited["pids"].items()}},
        "status_pids": {HOME: home["status_pid"], VISITED: visited["status_pid"]},
        "roaming": {
            HOME: {"realm": home["realm"], "bsf_url": home["bsf_url"],
                   "config": home["config"], "key": key,
                   "aaa": "colocated" if colocated_aaa else "standalone"},
            VISITED: {"realm": visited["realm"], "config": visited["config"],
                      "status_url": visited["status_url"], "cases": cases},
        },
    }
    (lab_dir / lab.LAB_JSON).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info

"""``gba lab up --with push``: the one-network lab plus a Push-NAF (docs/push.md).

The lab's topology (``data/network.toml``) gains a ``push_naf`` function (``push-naf``,
FQDN ``push.example.org``) that the BSF authorises on Zn and Zpn; lab.json gains a ``push``
object with its endpoints: ``naf_fqdn``, ``register_url`` and ``dm_url`` (the UE's),
``control_url`` and ``control_token_file`` (the operator's), ``psk_host``/``psk_port``
(embodiment 4), and ``bsf_metrics`` (where the BSF's Zn/Zpn request counts are read).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from gba import config
from gba.lab import lab

NAME = "push-naf"
FQDN = "push.example.org"


def topology(placement: str = "trigger", pkg3_timeout_s: int = 30,
             skip_ue_check: bool = False, key_derivation: bool = False) -> dict[str, Any]:
    """The sample network with a Push-NAF added."""
    raw = tomllib.loads(Path(config.SAMPLE_CONFIG).read_text(encoding="utf-8"))
    functions = raw["functions"]
    functions["bsf"].setdefault("naf", []).append(
        {"diameter_host": FQDN, "hostnames": [FQDN], "gaa_service_ids": []})
    functions[NAME] = {
        "kind": "push_naf", "network": "default", "fqdn": FQDN, "diameter_host": FQDN,
        "diameter_realm": "example.org", "http_listen": "127.0.0.1:0",
        "psk_tls_listen": "127.0.0.1:0", "push_psk_listen": "127.0.0.1:0",
        "control_listen": "127.0.0.1:0", "bsf": "bsf", "store": "push-naf.sqlite",
        "gpi_placement": placement, "pkg3_timeout_s": pkg3_timeout_s,
        "skip_ue_check": skip_ue_check, "key_derivation": key_derivation}
    return raw


def up(lab_dir: Path, *, placement: str = "trigger", pkg3_timeout_s: int = 30,
       skip_ue_check: bool = False, key_derivation: bool = False,
       timeout: float = 30.0) -> dict[str, Any]:
    lab_dir = lab_dir.resolve()
    lab_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    source = lab_dir / "push-network.toml"
    source.write_text(tomli_w.dumps(topology(placement, pkg3_timeout_s, skip_ue_check,
                                             key_derivation)), encoding="utf-8")
    info = lab.up(lab_dir, source, timeout=timeout)
    endpoints = info["functions"][NAME]["endpoints"]
    cfg: dict[str, Any] = dict(info)
    toml = tomllib.loads(Path(info["config"]).read_text(encoding="utf-8"))
    section = toml["functions"][NAME]
    psk_host, _, psk_port = endpoints["push_psk"].rpartition(":")
    cfg["push"] = {
        "function": NAME, "naf_fqdn": FQDN,
        "register_url": f"http://{endpoints['http']}/push/register",
        "dm_url": f"http://{endpoints['http']}/dm",
        "naf_url": f"http://{endpoints['http']}",
        "control_url": f"http://{endpoints['control']}",
        "control_token_file": section["control_token_file"],
        "psk_host": psk_host, "psk_port": int(psk_port),
        "bsf_metrics": info["metrics"].get("bsf"),
        "gpi_placement": placement, "pkg3_timeout_s": pkg3_timeout_s,
        "skip_ue_check": skip_ue_check, "key_derivation": key_derivation}
    (lab_dir / lab.LAB_JSON).write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    return cfg

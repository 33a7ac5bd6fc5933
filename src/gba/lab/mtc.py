"""``gba lab up --with mtc``: the one-network lab plus an MTC-IWF and an application server
(docs/mtc.md).

The BSF serves MTC groups (``mtc = true``, the given ``mtc_subkeys`` and ``mtc_reuse_on``),
the HSS takes small-data capability from ``capability_source``, the MTC-IWF
(``iwf.example.org``, a NAF the BSF authorises) relays to the application server. lab.json
gains ``mtc``: ``iwf_url``, ``iwf_fqdn``, ``as_url``, ``as_token_file`` (the default
application server), ``servers`` (both servers by name: url, token_file), ``bsf_url``,
``hss_metrics`` and ``bsf_metrics`` (where the Zh and Zn counts are read).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from gba import config
from gba.lab import lab

IWF = "mtc-iwf"
AS = "mtc-as"
AS2 = "mtc-as2"
"""A second application server behind the same MTC-IWF."""
IWF_FQDN = "iwf.example.org"


def topology(subkeys: str = "both", reuse_on: str = "kiwf",
             capability_source: str = "both", max_reuse: int = 100) -> dict[str, Any]:
    raw = tomllib.loads(Path(config.SAMPLE_CONFIG).read_text(encoding="utf-8"))
    functions = raw["functions"]
    functions["hss"]["capability_source"] = capability_source
    bsf = functions["bsf"]
    bsf.update({"mtc": True, "mtc_subkeys": subkeys, "mtc_reuse_on": reuse_on,
                "mtc_max_reuse": max_reuse})
    bsf.setdefault("naf", []).append(
        {"diameter_host": IWF_FQDN, "hostnames": [IWF_FQDN], "gaa_service_ids": []})
    for server in (AS, AS2):
        functions[server] = {"kind": "mtc_as", "network": "default",
                             "http_listen": "127.0.0.1:0"}
    functions[IWF] = {
        "kind": "mtc_iwf", "network": "default", "fqdn": IWF_FQDN, "diameter_host": IWF_FQDN,
        "diameter_realm": "example.org", "http_listen": "127.0.0.1:0",
        "psk_tls_listen": "127.0.0.1:0", "bsf": "bsf", "store": "mtc-iwf.sqlite",
        "as": [AS, AS2]}
    return raw


def up(lab_dir: Path, *, subkeys: str = "both", reuse_on: str = "kiwf",
       capability_source: str = "both", max_reuse: int = 100, timeout: float = 30.0,
       bsf_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Start the MTC lab; *bsf_overrides* are more keys for the BSF's section (the
    simulator turns the Ub probe limits off)."""
    lab_dir = lab_dir.resolve()
    lab_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    source = lab_dir / "mtc-network.toml"
    raw = topology(subkeys, reuse_on, capability_source, max_reuse)
    raw["functions"]["bsf"].update(bsf_overrides or {})
    source.write_text(tomli_w.dumps(raw), encoding="utf-8")
    info: dict[str, Any] = dict(lab.up(lab_dir, source, timeout=timeout))
    resolved = tomllib.loads(Path(info["config"]).read_text(encoding="utf-8"))
    iwf = info["functions"][IWF]["endpoints"]["http"]
    server = info["functions"][AS]["endpoints"]["http"]
    info["mtc"] = {
        "iwf_url": f"http://{iwf}", "iwf_fqdn": IWF_FQDN, "as_url": f"http://{server}",
        "as_token_file": resolved["functions"][AS]["token_file"],
        "servers": {name: {"url": f"http://{info['functions'][name]['endpoints']['http']}",
                           "token_file": resolved["functions"][name]["token_file"]}
                    for name in (AS, AS2)},
        "bsf_url": info["bsf_url"], "hss_metrics": info["metrics"].get("hss"),
        "bsf_metrics": info["metrics"].get("bsf"), "subkeys": subkeys, "reuse_on": reuse_on,
        "capability_source": capability_source, "max_reuse": max_reuse}
    (lab_dir / lab.LAB_JSON).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info

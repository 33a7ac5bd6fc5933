"""A NAF of two worker processes (``workers = 2``, issue 16 item 3) behind one Ua Digest
and one PSK-TLS port (SO_REUSEPORT), sharing its Zn key cache and Digest nonce counts
through Redis, each with its own Zn connection of one Origin-Host to the BSF: requests
of several UEs on new connections all succeed, both workers answer some, and ``gba lab
down`` leaves no worker behind."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from e2e.labctl import Subscriber, alive, impi_for, lab_down, provision, running_lab
from gba import config
from gba.crypto import ua_protocols
from gba.errors import ConfigError
from gba.nf import registry
from gba.ue.client import GbaClient

pytestmark = pytest.mark.redis

UES = 8
ROUNDS = 3
"""Rounds per UE, each a new UE client (new connections): a bootstrap, a Digest request
and a PSK-TLS request."""
SUITE = ua_protocols.TLS_PSK_WITH_AES_128_CBC_SHA


def _sample() -> dict[str, Any]:
    data: dict[str, Any] = config.normalise(config.load(config.SAMPLE_CONFIG).raw)
    return data


def workers_config(directory: Path, redis_url: str, workers: int = 2) -> Path:
    data = _sample()
    data["functions"]["bsf"]["store"] = redis_url
    data["functions"]["bsf"]["ub_challenges_per_impi_per_min"] = 0
    data["functions"]["naf"]["store"] = redis_url
    data["functions"]["naf"]["workers"] = workers
    target = directory / "naf-workers-network.toml"
    target.write_text(tomli_w.dumps(data), encoding="utf-8")
    return target


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


async def _use(sub: Subscriber, bsf_url: str, naf_url: str, naf_fqdn: str,
               psk_host: str, psk_port: int) -> list[str]:
    btids = []
    for _ in range(ROUNDS):
        async with GbaClient(sub.impi, sub.usim(), bsf_url) as ue:  # new connections
            boot = await ue.bootstrap()
            btids.append(boot.btid)
            reply = await ue.fetch_digest(naf_url + "/", naf_fqdn)
            assert reply.status == 200, reply.body[:200]
            assert boot.btid in reply.body.decode()
            body = await ue.fetch_psk_tls(psk_host, psk_port, naf_fqdn, ciphersuite=SUITE)
            assert b" 200 " in body.split(b"\r\n", 1)[0], body[:200]
    return btids


def test_two_naf_workers_share_keys_through_redis(redis_url: str, tmp_path: Path) -> None:
    lab_dir = tmp_path / "lab"
    names = [f"naf-worker-ue{n}" for n in range(UES)]
    with running_lab(lab_dir, (), workers_config(tmp_path, redis_url)) as lab:
        subs = [Subscriber.fresh(impi_for(n, lab.realm)) for n in names]
        provision(lab.config, subs)
        info = json.loads((lab_dir / "lab.json").read_text(encoding="utf-8"))
        naf_pid = int(lab.pids["naf"])
        workers = children(naf_pid)
        assert len(workers) == 1, f"NAF worker 0 should have one child worker, has {workers}"

        async def run() -> list[list[str]]:
            return await asyncio.gather(*(_use(
                s, lab.bsf_url, lab.naf_url, lab.naf_fqdn, info["naf_host"],
                int(info["naf_psk_tls_port"])) for s in subs))

        btids = [b for per_ue in asyncio.run(run()) for b in per_ue]
        assert len(set(btids)) == UES * ROUNDS
        lab_down(lab_dir)
        for pid in (naf_pid, *workers):
            assert not alive(pid), f"pid {pid} still runs after lab down"
    log = (lab_dir / "naf.log").read_text(errors="replace")
    answered = {int(w): (int(d), int(p)) for w, d, p in re.findall(
        r"NAF naf worker (\d) of 2 \(pid \d+\) stops: answered (\d+) Ua Digest and (\d+) "
        r"PSK-TLS requests", log)}
    assert set(answered) == {0, 1}, log[-3000:]
    assert all(d + p > 0 for d, p in answered.values()), answered
    assert sum(d for d, _ in answered.values()) >= 2 * UES * ROUNDS  # a 401 and a 200 each
    assert sum(p for _, p in answered.values()) == UES * ROUNDS


def test_naf_workers_need_a_redis_store(tmp_path: Path) -> None:
    data = _sample()
    data["functions"]["naf"]["workers"] = 2
    target = tmp_path / "net.toml"
    target.write_text(tomli_w.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError, match="workers = 2 needs"):
        registry.config_of(registry.load(target), "naf")


def test_kinds_built_on_a_naf_refuse_workers(redis_url: str, tmp_path: Path) -> None:
    data = _sample()
    data["functions"]["bmsc"] = {**data["functions"]["naf"], "kind": "bmsc",
                                 "store": redis_url, "workers": 2}
    target = tmp_path / "net.toml"
    target.write_text(tomli_w.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError, match="runs as one process"):
        registry.config_of(registry.load(target), "bmsc")

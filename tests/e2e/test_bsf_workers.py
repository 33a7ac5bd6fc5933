"""A BSF of two worker processes (``workers = 2``, issue 16 item 3) behind one Ub and one
Zn port (SO_REUSEPORT), sharing challenges and contexts through Redis: concurrent
bootstraps all succeed, both workers answer some, the NAF gets Ks_NAF for every B-TID
whichever worker bootstrapped it, and ``gba lab down`` leaves no worker behind."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
import tomli_w

from e2e.labctl import (
    Subscriber,
    alive,
    children,
    impi_for,
    lab_down,
    provision,
    running_lab,
)
from gba import config
from gba.ue.client import GbaClient

pytestmark = pytest.mark.redis

UES = 12
ROUNDS = 3
"""Bootstraps per UE, each on a new connection: 36 in all, UES at a time."""


def workers_config(directory: Path, redis_url: str, workers: int = 2) -> Path:
    data = config.normalise(config.load(config.SAMPLE_CONFIG).raw)
    data["functions"]["bsf"]["store"] = redis_url
    data["functions"]["bsf"]["workers"] = workers
    data["functions"]["bsf"]["ub_challenges_per_impi_per_min"] = 0
    target = directory / "workers-network.toml"
    target.write_text(tomli_w.dumps(data), encoding="utf-8")
    return target


async def _bootstrap_and_use(ue_sub: Subscriber, bsf_url: str, naf_url: str,
                             naf_fqdn: str) -> list[str]:
    btids = []
    for _ in range(ROUNDS):
        async with GbaClient(ue_sub.impi, ue_sub.usim(), bsf_url) as ue:  # a new connection
            boot = await ue.bootstrap()
            btids.append(boot.btid)
            reply = await ue.fetch_digest(naf_url + "/", naf_fqdn)
            assert reply.status == 200, reply.body[:200]
            assert boot.btid in reply.body.decode()
    return btids


def test_two_bsf_workers_share_contexts_through_redis(redis_url: str, tmp_path: Path) -> None:
    lab_dir = tmp_path / "lab"
    names = [f"worker-ue{n}" for n in range(UES)]
    with running_lab(lab_dir, (), workers_config(tmp_path, redis_url)) as lab:
        subs = [Subscriber.fresh(impi_for(n, lab.realm)) for n in names]
        provision(lab.config, subs)
        bsf_pid = int(lab.pids["bsf"])
        workers = children(bsf_pid)
        assert len(workers) == 1, f"worker 0 should have one child worker, has {workers}"

        async def run() -> list[list[str]]:
            return await asyncio.gather(*(_bootstrap_and_use(
                s, lab.bsf_url, lab.naf_url, lab.naf_fqdn) for s in subs))

        btids = [b for per_ue in asyncio.run(run()) for b in per_ue]
        assert len(set(btids)) == UES * ROUNDS
        lab_down(lab_dir)
        for pid in (bsf_pid, *workers):
            assert not alive(pid), f"pid {pid} still runs after lab down"
    log = (lab_dir / "bsf.log").read_text(errors="replace")
    answered = {int(w): int(n) for w, n in re.findall(
        r"BSF bsf worker (\d) of 2 \(pid \d+\) stops: answered (\d+) Ub requests", log)}
    assert set(answered) == {0, 1}, log[-3000:]
    assert all(n > 0 for n in answered.values()), answered
    assert sum(answered.values()) >= 2 * UES * ROUNDS  # a 401 and a 200 per bootstrap


def test_workers_need_a_redis_store(tmp_path: Path) -> None:
    from gba.errors import ConfigError
    from gba.nf import registry

    data = config.normalise(config.load(config.SAMPLE_CONFIG).raw)
    data["functions"]["bsf"]["workers"] = 2
    target = tmp_path / "net.toml"
    target.write_text(tomli_w.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError, match="workers = 2 needs"):
        registry.config_of(registry.load(target), "bsf")


def test_bench_bootstrap_workers_smoke() -> None:
    """``gba bench bootstrap --workers 1,2``: one run per worker count on a BSF sharing a
    private redis-server; no errors, the scaling and CPU per bootstrap reported (timing
    never asserted)."""
    import json

    from e2e.labctl import gba

    out = gba("bench", "bootstrap", "--workers", "1,2", "--seconds", "1", "--concurrency",
              "4", "--json")
    res = json.loads(out.strip().splitlines()[-1])
    assert res["errors"] == 0, res.get("first_errors")
    assert "scaling" in res
    assert res["workers"] == [1, 2]
    assert set(res["runs"]) == {"1", "2"}
    for count, run in res["runs"].items():
        assert run["errors"] == 0, run.get("first_errors")
        assert run["requests"] > 0
        assert len(run["bsf_processes"]) == int(count)
        assert set(run["bsf_processes"]) <= set(run["cpu_ms_per_op"])
        assert "bsf_total" in res["cpu_ms_per_bootstrap"][count]

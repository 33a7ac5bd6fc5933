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

import aiohttp
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
from e2e.wire import Reply, challenge_of, get, ua_answer
from gba import config
from gba.crypto import ua_protocols
from gba.errors import ConfigError
from gba.nf import registry
from gba.protocols import ua
from gba.protocols.digest_header import Challenge
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


NONCE_USES = 20
"""Digest requests with one nonce, each on a new connection."""
REPLAYS = 6
"""Replayed nonce counts, each on a new connection."""


async def _alone(url: str, authorization: str | None = None) -> Reply:
    """One request on a connection of its own (a new session, closed after the answer):
    SO_REUSEPORT hands each connection to either worker."""
    async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=True),
            timeout=aiohttp.ClientTimeout(total=10)) as http:
        return await get(http, url, authorization)


def test_a_nonce_from_one_naf_worker_verifies_at_the_other(
        redis_url: str, tmp_path: Path) -> None:
    # the workers share the nonce secret and the nonce counts through Redis: before they
    # did, a connection that landed on the other worker got a 401 (not stale), "nonce was
    # not issued here"
    lab_dir = tmp_path / "lab"
    with running_lab(lab_dir, ("naf-worker-nonce",),
                     workers_config(tmp_path, redis_url)) as lab:
        sub = lab.subscriber("naf-worker-nonce")
        url = lab.naf_url + "/"

        async def run() -> tuple[list[tuple[int, bytes]], list[Reply]]:
            async with GbaClient(sub.impi, sub.usim(), lab.bsf_url) as ue:
                await ue.bootstrap()
                key = ue.naf_key(lab.naf_fqdn, ua_protocols.HTTP_DIGEST)
            password = ua.password_for(key.key)
            challenge = challenge_of(await _alone(url))
            answered = []
            for nc in range(1, NONCE_USES + 1):
                reply = await _alone(url, ua_answer(challenge, key.btid, password,
                                                    nc=f"{nc:08x}"))
                answered.append((reply.status, reply.body))
            replays = [await _alone(url, ua_answer(challenge, key.btid, password,
                                                   nc=f"{nc:08x}"))
                       for nc in (NONCE_USES, 1, *[NONCE_USES - 1] * (REPLAYS - 2))]
            assert all(key.btid.encode() in body for status, body in answered
                       if status == 200)
            return answered, replays

        answered, replays = asyncio.run(run())
        assert [status for status, _ in answered] == [200] * NONCE_USES, [
            (status, body[:120]) for status, body in answered]
        for reply in replays:
            assert reply.status == 401, reply.body[:200]
            stale = Challenge.from_header(reply.headers["WWW-Authenticate"])
            assert stale.stale, "a replayed nc is answered with a stale challenge"
        lab_down(lab_dir)
    log = (lab_dir / "naf.log").read_text(errors="replace")
    digest = {int(w): int(d) for w, d in re.findall(
        r"NAF naf worker (\d) of 2 \(pid \d+\) stops: answered (\d+) Ua Digest", log)}
    assert set(digest) == {0, 1}, log[-3000:]
    assert all(d > 0 for d in digest.values()), digest
    assert sum(digest.values()) >= 1 + NONCE_USES + REPLAYS, digest


def test_bench_ua_workers_smoke() -> None:
    """``gba bench ua --workers 1,2``: one run per NAF worker count sharing a private
    redis-server; no errors, every NAF process reported, the scaling and the CPU per
    request reported (timing never asserted)."""
    import json

    from e2e.labctl import gba

    out = gba("bench", "ua", "--workers", "1,2", "--seconds", "1", "--concurrency", "4",
              "--json")
    res = json.loads(out.strip().splitlines()[-1])
    assert res["errors"] == 0, res.get("first_errors")
    assert res["name"] == "ua"
    assert res["workers"] == [1, 2]
    assert "scaling" in res
    for count, run in res["runs"].items():
        assert run["errors"] == 0, run.get("first_errors")
        assert run["requests"] > 0
        assert len(run["naf_pids"]) == int(count)
        assert set(run["naf_pids"]) <= set(run["cpu_ms_per_op"])
        assert "naf_total" in res["cpu_ms_per_request"][count]

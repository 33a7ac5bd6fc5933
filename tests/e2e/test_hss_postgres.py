"""The HSS on PostgreSQL end to end (``store = "postgresql://..."`` in its section).

A lab (``gba lab up``) whose HSS keeps its subscribers in a fresh PostgreSQL database of
this test's own (the ``postgres_db_url`` fixture): subscribers provisioned with ``gba hss
add-subscriber`` and over the HSS's REST API, several UEs bootstrapping at once, each then
fetching the NAF's Digest resource (the NAF gets Ks_NAF over Zn: the key it keeps is the
UE's). The SQN in the ``subscriber`` table, read with psycopg, is the highest the USIMs
accepted. Then the HSS is SIGKILLed and restarted as ``gba lab up`` starts it: the UEs
bootstrap again with SQNs above every earlier one and no synchronisation failure (the
SQN was committed, WAL flushed, before it left the HSS: TS 33.102 Annex C.3.2).
``gba lab down`` then leaves no process of the lab running.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp
import psycopg
import pytest
import tomli_w

from e2e.labctl import Lab, LabFactory, Subscriber, alive, hss_rest_auth, lab_down
from e2e.test_crash_safety import RecordingUsim, kill_function, restart_function
from gba import config
from gba.clock import utc_now
from gba.crypto import aka, ua_protocols
from gba.store.factory import open_naf_store, parse_store_url
from gba.ue.client import GbaClient

pytestmark = pytest.mark.postgres

CLI_UES = 4
"""Subscribers provisioned with ``gba hss add-subscriber``."""
REST_UES = 4
"""Subscribers provisioned with PUT /subscribers/{impi} on the HSS's REST API."""
ROUNDS = 3
"""Bootstraps per UE before the HSS is killed, and again after its restart."""
RUN_TIMEOUT = 60.0
"""Seconds a phase of UE traffic may take in all (a restart's first Zh included)."""
DOWN_TIMEOUT = 15.0


class AcceptingUsim(RecordingUsim):
    """A :class:`RecordingUsim` that also notes the SQNs it accepted."""

    def __init__(self, sub: Subscriber) -> None:
        super().__init__(sub)
        self.accepted: list[int] = []

    def authenticate(self, rand: bytes, autn: bytes) -> aka.AkaResult:
        result = super().authenticate(rand, autn)
        if isinstance(result, aka.AkaSuccess):
            self.accepted.append(result.sqn)
        return result


def postgres_config(directory: Path, hss_store: str) -> Path:
    """The sample network, the HSS's subscribers in *hss_store*, without the BSF's Ub
    challenge rate limits (every UE bootstraps several times from one address)."""
    data = config.normalise(config.load(config.SAMPLE_CONFIG).raw)
    data["functions"]["hss"]["store"] = hss_store
    bsf = data["functions"]["bsf"]
    bsf["ub_challenges_per_impi_per_min"] = 0
    bsf["ub_challenges_per_source_per_min"] = 0
    target = directory / "postgres-network.toml"
    target.write_text(tomli_w.dumps(data), encoding="utf-8")
    return target


async def _put_over_rest(lab: Lab, subs: list[Subscriber]) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:

        async def put(sub: Subscriber) -> None:
            async with http.put(f"{lab.hss_rest_url}/subscribers/{sub.impi}",
                                json={"k": sub.k.hex(), "opc": sub.opc.hex()},
                                headers=hss_rest_auth(lab)) as r:
                assert r.status == 200, await r.text()

        await asyncio.gather(*(put(s) for s in subs))


def _stored_sqns(url: str) -> dict[str, int]:
    """IMPI -> SQN, as the HSS committed them to PostgreSQL."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT impi, sqn FROM subscriber").fetchall()
    return {str(impi): int(sqn) for impi, sqn in rows}


async def _bootstrap_rounds(ues: dict[str, GbaClient], rounds: int) -> int:
    """*rounds* bootstraps of each UE, all UEs at once; a failed attempt (the BSF's Zh
    connection to a restarted HSS is not up yet) is tried again until the deadline.
    Returns the failed attempts."""
    deadline = time.monotonic() + RUN_TIMEOUT
    failed = 0

    async def one(ue: GbaClient) -> None:
        nonlocal failed
        done, pause = 0, 0.01
        while done < rounds:
            try:
                await ue.bootstrap(force=True)
            except Exception:
                failed += 1
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(pause)  # polling for the BSF's Zh link, with a deadline
                pause = min(pause * 2, 0.2)
                continue
            done += 1

    await asyncio.gather(*(one(ue) for ue in ues.values()))
    return failed


async def _digest_with_zn_key(lab: Lab, ues: dict[str, GbaClient]) -> None:
    """Every UE fetches the NAF's Digest resource (200, rspauth verified by the client);
    the Ks_NAF the NAF got over Zn for its B-TID is the UE's."""
    replies = await asyncio.gather(*(ue.fetch_digest(lab.naf_url + "/", lab.naf_fqdn)
                                     for ue in ues.values()))
    assert [r.status for r in replies] == [200] * len(ues)
    cfg = lab.network()
    naf_store = open_naf_store(cfg.store_url(cfg.naf.store))
    try:
        for impi, ue in ues.items():
            key = ue.naf_key(lab.naf_fqdn, ua_protocols.HTTP_DIGEST)
            assert key.btid in replies[list(ues).index(impi)].body.decode()
            cached = await naf_store.get_key(key.btid, key.naf_id, utc_now())
            assert cached is not None, f"{impi}: the NAF holds no Ks_NAF from Zn"
            assert cached.key == key.key
            assert cached.impi == impi
    finally:
        await naf_store.close()


def _down_and_wait(lab_dir: Path, pids: list[int]) -> list[int]:
    """``gba lab down``, then the *pids* still running once they all exited or
    :data:`DOWN_TIMEOUT` passed."""
    lab_down(lab_dir)
    deadline = time.monotonic() + DOWN_TIMEOUT
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)  # polling other processes' exit, bounded
    return [pid for pid in pids if alive(pid)]


async def test_hss_on_postgres_provisions_bootstraps_and_survives_sigkill(
        lab_factory: LabFactory, tmp_path: Path, postgres_db_url: str) -> None:
    cli_names = [f"pg-cli-{i}" for i in range(CLI_UES)]
    lab = lab_factory(cli_names, postgres_config(tmp_path, postgres_db_url))
    hss_store = lab.network().hss.store
    assert parse_store_url(hss_store).backend == "postgres"
    assert not await asyncio.to_thread(lambda: list(tmp_path.rglob("hss.sqlite"))), \
        "the HSS made a SQLite file"

    rest_subs = [Subscriber.fresh(f"pg-rest-{i}@{lab.realm}") for i in range(REST_UES)]
    await _put_over_rest(lab, rest_subs)
    subs = {**{s.impi: s for s in rest_subs},
            **{lab.subscriber(n).impi: lab.subscriber(n) for n in cli_names}}
    stored = await asyncio.to_thread(_stored_sqns, postgres_db_url)
    assert stored == {impi: 0 for impi in subs}, "provisioned rows are not in PostgreSQL"

    usims = {impi: AcceptingUsim(sub) for impi, sub in subs.items()}
    ues = {impi: GbaClient(impi, usims[impi], lab.bsf_url) for impi in subs}
    try:
        # before the kill: concurrent bootstraps, Digest at the NAF with a Zn key
        failed_before = await _bootstrap_rounds(ues, ROUNDS)
        await _digest_with_zn_key(lab, ues)
        stored = await asyncio.to_thread(_stored_sqns, postgres_db_url)
        for impi, usim in usims.items():
            assert len(usim.accepted) == ROUNDS, impi
            assert stored[impi] == max(usim.accepted), \
                f"{impi}: PostgreSQL holds {stored[impi]:#x}, the USIM accepted " \
                f"{max(usim.accepted):#x}"
        before = {impi: list(u.seen) for impi, u in usims.items()}

        # SIGKILL the HSS, restart it as `gba lab up` does; bootstraps go on
        old_pid = lab.pids["hss"]
        await asyncio.to_thread(kill_function, lab, "hss")
        new_pid = await asyncio.to_thread(restart_function, lab, "hss")
        assert new_pid != old_pid
        failed_after = await _bootstrap_rounds(ues, ROUNDS)
        await _digest_with_zn_key(lab, ues)
    finally:
        await asyncio.gather(*(ue.close() for ue in ues.values()))

    stored = await asyncio.to_thread(_stored_sqns, postgres_db_url)
    sync_failures = sum(u.sync_failures for u in usims.values())
    print(f"\nHSS on PostgreSQL: {len(subs)} UEs ({CLI_UES} CLI, {REST_UES} REST), "
          f"{2 * ROUNDS} bootstraps each around 1 SIGKILL of the HSS, {failed_before} / "
          f"{failed_after} failed attempts before / after, {sync_failures} sync failures")
    assert sync_failures == 0
    for impi, usim in usims.items():
        after = usim.seen[len(before[impi]):]
        assert len(after) >= ROUNDS, impi
        assert min(after) > max(before[impi]), f"{impi}: an SQN after the restart is not " \
                                               "above every earlier one"
        assert usim.seen == sorted(set(usim.seen)), f"{impi}: SQN repeated or went back"
        assert len(usim.accepted) == 2 * ROUNDS, impi
        assert stored[impi] == max(usim.accepted), impi
    rows = await asyncio.to_thread(lab.hss_rows)  # `gba hss list` reads PostgreSQL too
    assert {impi: int(rows[impi]["sqn"], 16) for impi in subs} == stored

    # `gba lab down` stops every process of the lab, the restarted HSS included
    info = json.loads((lab.dir / "lab.json").read_text(encoding="utf-8"))
    info_pids = [*map(int, info["pids"].values()), int(info["status_pid"])]
    assert new_pid in info_pids
    assert await asyncio.to_thread(_down_and_wait, lab.dir, info_pids) == []

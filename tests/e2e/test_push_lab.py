"""GBA Push end to end (issue 13, docs/push.md): ``gba lab up --with push`` runs HSS, BSF,
NAF and the Push-NAF as processes, each UE is a ``gba ue push-*`` process, and the
operator orders pushes over the Push-NAF's control API. Every embodiment of seed 002 runs
once on a new SA and once reusing it; the BSF's own counters (Zn and Zpn requests, from
its /metrics) show that a reused SA costs no BSF request.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from e2e.labctl import gba, lab_down
from gba.demos.push import PushDriver, UeProcess, impi, provision
from gba.protocols import omadm_pkg0, upa

pytestmark = pytest.mark.push

UES = [f"e2e-{n}" for n in range(1, 19)]


def _up(lab_dir: Path, *options: str) -> dict[str, Any]:
    gba("lab", "up", "--with", "push", "--dir", lab_dir, *options)
    info: dict[str, Any] = json.loads((lab_dir / "lab.json").read_text(encoding="utf-8"))
    return info


@pytest.fixture(scope="module")
def push_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], Path]]:
    lab_dir = tmp_path_factory.mktemp("push-lab")
    try:
        info = _up(lab_dir, "--pkg3-timeout", "2")
        asyncio.run(provision(info["config"], UES))
        yield info, lab_dir
    finally:
        lab_down(lab_dir)


@pytest.fixture
def driver(push_lab: tuple[dict[str, Any], Path], tmp_path: Path) -> PushDriver:
    return PushDriver(push_lab[0], tmp_path)


async def _push(driver: PushDriver, ue: UeProcess, order: dict[str, Any]
                ) -> tuple[dict[str, Any], dict[str, Any], int]:
    """(NAF outcome, UE report, BSF Zn+Zpn requests) of one push to a listening UE."""
    before = await driver.bsf_requests()
    outcome = await driver.order(order)
    report = await ue.line()
    after = await driver.bsf_requests()
    return outcome, report, sum(after.values()) - sum(before.values())


def _order(who: str, embodiment: int, payload: str, **more: Any) -> dict[str, Any]:
    return {"impi": impi(who), "embodiment": embodiment, "payloads": [payload], **more}


async def test_lab_json_lists_the_push_endpoints(push_lab: tuple[dict[str, Any], Path]
                                                 ) -> None:
    push = push_lab[0]["push"]
    assert push["naf_fqdn"] == "push.example.org"
    assert push["dm_url"].endswith("/dm")
    assert push["register_url"].endswith("/push/register")
    assert push["psk_port"] > 0
    assert push["bsf_metrics"].endswith("/metrics")
    assert push_lab[0]["functions"]["push-naf"]["kind"] == "push_naf"


async def test_embodiment_1_gpi_in_package_0_then_reuse_by_session_id(
        driver: PushDriver) -> None:
    async with driver.listener("e2e-1", 2) as ue:
        first, got1, bsf1 = await _push(driver, ue, _order("e2e-1", 1, "one",
                                                           session_id=501))
        again, got2, bsf2 = await _push(driver, ue, _order("e2e-1", 1, "two",
                                                           session_id=501))
    assert (first["end"], got1["end"], got1["payloads"], got1["reused"]) == (
        "done", "done", ["one"], False)
    assert (again["end"], got2["payloads"], got2["reused"], again["reused"]) == (
        "done", ["two"], True, True)
    assert got1["sa"]["kind"] == "session"
    assert got1["sa"]["id"] == "501"
    assert (bsf1, bsf2) == (1, 0)  # one GPIR, then nothing
    assert any("package 0" in m for m in got1["messages"])


async def test_embodiment_2_secure_id_names_the_sa_across_sessions(driver: PushDriver
                                                                   ) -> None:
    async with driver.listener("e2e-2", 2) as ue:
        first, got1, bsf1 = await _push(driver, ue, _order(
            "e2e-2", 2, "one", sa_kind="secure", sa_id="sec-2"))
        again, got2, bsf2 = await _push(driver, ue, _order(
            "e2e-2", 2, "two", sa_kind="secure", sa_id="sec-2"))
    assert first["session_id"] != again["session_id"]  # a new session, the same SA
    assert got2["sa"] == got1["sa"]
    assert got2["reused"] is True
    assert (got1["payloads"], got2["payloads"], bsf1, bsf2) == (["one"], ["two"], 1, 0)


async def test_embodiment_3_the_ue_starts_and_the_gpi_comes_in_pkg2(driver: PushDriver
                                                                    ) -> None:
    before = sum((await driver.bsf_requests()).values())
    await driver.order(_order("e2e-3", 3, "one"))
    first, _ = await driver.start_session("e2e-3")
    middle = sum((await driver.bsf_requests()).values())
    await driver.order(_order("e2e-3", 3, "two"))
    again, _ = await driver.start_session("e2e-3")
    after = sum((await driver.bsf_requests()).values())
    assert (first["ok"], first["payloads"], first["reused"]) == (True, ["one"], False)
    assert (again["ok"], again["payloads"], again["reused"]) == (True, ["two"], True)
    assert (middle - before, after - middle) == (1, 0)
    sent = [m for m in first["messages"] if m.startswith("UE -> NAF")]
    assert "confirmation (step 407)" in sent[1]
    assert any("pkg2 (GPI + SA parameters)" in m for m in first["messages"])


async def test_embodiment_3_under_normal_gba(driver: PushDriver) -> None:
    await driver.order(_order("e2e-4", 3, "normal three", gba="normal"))
    report, _ = await driver.start_session("e2e-4", "--normal")
    assert report["ok"] is True
    assert report["payloads"] == ["normal three"]
    assert "@bsf." in report["sa"]["tid"]  # the B-TID, not a P-TID
    assert not any("GPI" in m for m in report["messages"])


async def test_embodiment_4_pushes_over_psk_tls_keyed_with_ks_naf(driver: PushDriver
                                                                   ) -> None:
    async with driver.listener("e2e-5", 2) as ue:
        first, got1, bsf1 = await _push(driver, ue, _order(
            "e2e-5", 4, "over tls", sa_kind="secure", sa_id="psk-5"))
        _, got2, bsf2 = await _push(driver, ue, _order(
            "e2e-5", 4, "again", sa_kind="secure", sa_id="psk-5"))
    assert first["end"] == "done"
    assert got1["over"] == "psk-tls"
    assert (got1["payloads"], got2["payloads"], got2["reused"]) == (["over tls"], ["again"],
                                                                    True)
    assert (bsf1, bsf2) == (1, 0)
    assert any("identity P-TID" in m for m in got1["messages"])


async def test_embodiment_4_the_ue_opens_psk_tls_on_its_own(driver: PushDriver) -> None:
    ue = await driver.pull("e2e-6")  # bootstraps, then waits on GET /push
    outcome = await driver.order(_order("e2e-6", 4, "collected", gba="normal",
                                        notify=False))
    report = await ue.line()
    await ue.finish()
    assert outcome["end"] == "done"
    assert outcome["acknowledged"] == 1
    assert report["payloads"] == ["collected"]
    assert any("identity B-TID" in m for m in report["messages"])


async def test_embodiment_5_explicit_parameters_signed_under_gba_push(driver: PushDriver
                                                                      ) -> None:
    async with driver.listener("e2e-7", 2) as ue:
        _, got1, bsf1 = await _push(driver, ue, _order(
            "e2e-7", 5, "five", sa_kind="pseudonym", sa_id="anon-7"))
        _, got2, bsf2 = await _push(driver, ue, _order(
            "e2e-7", 5, "five again", sa_kind="pseudonym", sa_id="anon-7"))
    assert (got1["payloads"], got2["payloads"], got2["reused"]) == (
        ["five"], ["five again"], True)
    assert (bsf1, bsf2) == (1, 0)
    assert got1["messages"][0].endswith("SA parameters")


async def test_embodiment_5_unsigned_the_naf_fetches_the_key_by_the_ue_s_btid(
        driver: PushDriver) -> None:
    async with driver.listener("e2e-8", 2, "--bootstrap") as ue:
        first, got1, bsf1 = await _push(driver, ue, _order(
            "e2e-8", 5, "latest", gba="normal", key_selection="latest",
            sa_kind="temporary", sa_id="tmp-8"))
        _, got2, bsf2 = await _push(driver, ue, _order(
            "e2e-8", 5, "latest again", gba="normal", sa_kind="temporary", sa_id="tmp-8"))
    assert first["end"] == "done"
    assert got1["payloads"] == ["latest"]
    assert got2["payloads"] == ["latest again"]
    assert got2["reused"] is True
    assert (bsf1, bsf2) == (1, 0)  # the Zn request after pkg1 named the B-TID


async def test_normal_gba_bootstrap_request_then_the_sa_named_by_the_btid(
        driver: PushDriver) -> None:
    async with driver.listener("e2e-9", 2) as ue:
        _, got1, bsf1 = await _push(driver, ue, _order("e2e-9", 1, "n1", gba="normal",
                                                       sa_kind="btid"))
        btid = got1["sa"]["id"]
        _, got2, bsf2 = await _push(driver, ue, _order("e2e-9", 1, "n2", gba="normal",
                                                       sa_kind="btid", sa_id=btid))
    assert any("bootstrap request" in m for m in got1["messages"])
    assert any("BSF -> UE  200 B-TID" in m for m in got1["messages"])
    assert got1["sa"]["kind"] == "btid"
    assert got1["sa"]["tid"] == btid
    assert (got2["payloads"], got2["reused"], bsf1, bsf2) == (["n2"], True, 1, 0)


@pytest.mark.parametrize("kind", ["pseudonym", "temporary", "secure"])
async def test_each_kind_of_sa_name_is_reused_without_the_bsf(driver: PushDriver,
                                                              kind: str) -> None:
    who = {"pseudonym": "e2e-10", "temporary": "e2e-11", "secure": "e2e-12"}[kind]
    async with driver.listener(who, 2) as ue:
        _, got1, bsf1 = await _push(driver, ue, _order(who, 1, "a", sa_kind=kind,
                                                       sa_id=f"{kind}-x"))
        _, got2, bsf2 = await _push(driver, ue, _order(who, 1, "b", sa_kind=kind,
                                                       sa_id=f"{kind}-x"))
    assert got1["sa"]["kind"] == got2["sa"]["kind"] == kind
    assert (got2["reused"], bsf1, bsf2) == (True, 1, 0)


async def test_no_pkg3_in_time_ends_the_session_and_keeps_the_sa(driver: PushDriver
                                                                 ) -> None:
    async with driver.listener("e2e-13", 1, "--no-pkg3") as ue:
        slow, got, _ = await _push(driver, ue, _order("e2e-13", 2, "late", sa_kind="secure",
                                                      sa_id="slow-13"))
    assert slow["end"] == "timed_out"
    assert slow["acknowledged"] == 0
    assert got["end"] == "timed_out"  # the UE saw the end indication (Alert 1223)
    assert got["messages"][-1].endswith("end indication (Alert 1223)")
    async with driver.listener("e2e-13", 1) as ue:
        again, got2, bsf = await _push(driver, ue, _order("e2e-13", 2, "on time",
                                                          sa_kind="secure", sa_id="slow-13"))
    assert (again["end"], again["reused"], got2["payloads"], bsf) == (
        "done", True, ["on time"], 0)


async def test_a_ue_without_the_sa_gets_a_new_gpi(driver: PushDriver, tmp_path: Path
                                                  ) -> None:
    async with driver.listener("e2e-14", 1) as ue:
        await _push(driver, ue, _order("e2e-14", 2, "one", sa_kind="secure", sa_id="lost"))
    (tmp_path / "e2e-14.json.push-sas.json").unlink()  # the UE forgets its SAs
    async with driver.listener("e2e-14", 1) as ue:
        outcome, got, bsf = await _push(driver, ue, _order(
            "e2e-14", 2, "two", sa_kind="secure", sa_id="lost"))
        unknown = await ue.line()  # the UE's "unknown SA" answer came first
    assert outcome["new_gpi_after_404"] is True
    assert outcome["end"] == "done"
    assert got["end"] == "unknown_sa" or unknown["end"] == "unknown_sa"
    assert bsf == 1  # a new GPI


async def test_malformed_pushes_are_refused_and_the_sas_stay(driver: PushDriver) -> None:
    async with driver.listener("e2e-15", 4) as ue:
        _, good, _ = await _push(driver, ue, _order("e2e-15", 2, "ok", sa_kind="secure",
                                                    sa_id="keep"))
        port = ue.registered_port
        bad_digest = upa.encode(upa.Push(upa.MediaType.NOTIFICATION, omadm_pkg0.encode(
            omadm_pkg0.Pkg0(ui_mode=1, initiator=1, session_id=9,
                            server_id=driver.push["naf_fqdn"], vendor=b"x"), b"wrong", b"")))
        for datagram in (b"\x00garbage", bad_digest):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(datagram, ("127.0.0.1", port))
            refused = await ue.line()
            assert refused["end"] == "refused"
            assert "stored_sas" not in refused or refused["stored_sas"] == 1
        _, again, bsf = await _push(driver, ue, _order("e2e-15", 2, "still", sa_kind="secure",
                                                       sa_id="keep"))
    assert good["payloads"] == ["ok"]
    assert again["reused"] is True
    assert bsf == 0


async def test_the_control_api_needs_its_token_and_dm_refuses_garbage(
        driver: PushDriver) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{driver.push['control_url']}/push/send", json={}) as r:
            assert r.status == 401
        async with http.post(f"{driver.push['control_url']}/push/send", json={},
                             headers={"Authorization": "Bearer wrong"}) as r:
            assert r.status == 401
        async with http.post(driver.push["dm_url"], data=b"<SyncML>") as r:
            assert r.status == 400
        async with http.post(driver.push["register_url"], json={"impi": "x"}) as r:
            assert r.status == 400
    with pytest.raises(RuntimeError, match="400"):
        await driver.order({"impi": impi("e2e-1"), "embodiment": 7, "payloads": ["x"]})


@pytest.mark.parametrize("options", [("--gpi-placement", "digest"),
                                     ("--gpi-placement", "future-use", "--key-derivation",
                                      "--skip-ue-check")])
async def test_other_placements_and_a_derived_key(tmp_path: Path, options: tuple[str, ...]
                                                  ) -> None:
    lab_dir = tmp_path / "lab"
    try:
        info = _up(lab_dir, *options)
        await provision(info["config"], ["alt-1"])
        driver = PushDriver(info, tmp_path)
        async with driver.listener("alt-1", 3) as ue:
            _, got1, bsf1 = await _push(driver, ue, _order("alt-1", 1, "p1", session_id=7))
            _, got2, bsf2 = await _push(driver, ue, _order("alt-1", 1, "p2", session_id=7))
            _, got3, _ = await _push(driver, ue, _order("alt-1", 1, "p3", gba="normal",
                                                        sa_kind="btid"))
    finally:
        lab_down(lab_dir)
    assert (got1["payloads"], got2["payloads"], got2["reused"]) == (["p1"], ["p2"], True)
    assert (bsf1, bsf2) == (1, 0)
    assert got3["payloads"] == ["p3"]


@pytest.mark.parametrize(("embodiment", "kind"), [(2, "secure"), (4, "secure"),
                                                  (5, "pseudonym")])
async def test_normal_gba_for_a_bootstrapped_ue(driver: PushDriver, embodiment: int,
                                                kind: str) -> None:
    """Steps 203, 303, 503, 603 under normal GBA: the UE registered its B-TID, the NAF
    takes Ks_NAF over Zn and signs the parameters carrying the B-TID; then reuse."""
    who = {2: "e2e-16", 4: "e2e-17", 5: "e2e-18"}[embodiment]
    async with driver.listener(who, 2, "--bootstrap") as ue:
        first, got1, bsf1 = await _push(driver, ue, _order(
            who, embodiment, "n-a", gba="normal", sa_kind=kind, sa_id=f"{kind}-n"))
        _, got2, bsf2 = await _push(driver, ue, _order(
            who, embodiment, "n-b", gba="normal", sa_kind=kind, sa_id=f"{kind}-n"))
    assert first["gba"] == "normal"
    assert "@bsf." in got1["sa"]["tid"]  # the SA is on the bootstrap's key
    assert (got1["payloads"], got2["payloads"], got2["reused"]) == (["n-a"], ["n-b"], True)
    assert (bsf1, bsf2) == (1, 0)  # one BIR, then nothing

"""The two-network roaming lab (issue 12, docs/roaming.md §5 step 1): ``gba lab up --with
roaming`` runs a home network (HSS, BSF, NAF) and a visited network (one server per
roaming case, and the home BSF as a ``remote`` function) as separate processes, and
``gba lab down`` stops both.

Cases A (the visited BSF as Zn-Proxy), B-standalone (a GBA proxy), B-aaa (the visited
AAA as Zn-Proxy) and B-in-server (the server asks the home BSF itself) are built: each
ends with the UE served over Ua with a key the home BSF derived, and the visited server
holding one charging record with the home-supplied identity. C and D are still plain
servers asking the home BSF.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from e2e.labctl import Subscriber, alive, gba, lab_down
from e2e.test_log_hygiene import forms
from gba.crypto import aka, kdf, ua_protocols
from gba.errors import GbaError
from gba.protocols.digest_header import Challenge, Credentials
from gba.ue.client import GbaClient
from gba.ue.mbms import MbmsReceiver

pytestmark = pytest.mark.roaming

HOME_REALM = "mnc001.mcc001.3gppnetwork.org"
VISITED_REALM = "mnc002.mcc001.3gppnetwork.org"
CASES = ("A", "B-standalone", "B-aaa", "B-in-server", "C", "D")
UA_DIGEST_CASES = ("A", "B-standalone", "B-aaa", "B-in-server", "C")
"""The cases whose server serves a Ua HTTP Digest resource (issue 12: A to C)."""
FETCH_TIMEOUT = 30.0
DOWN_TIMEOUT = 15.0
BUILT_CASES = ("A", "B-standalone", "B-aaa", "B-in-server", "C")
"""The cases whose key path is built (docs/roaming.md §5 steps 2-3)."""
ASKER = {"A": f"bsf.{VISITED_REALM}", "B-standalone": f"gba-proxy.{VISITED_REALM}",
         "B-aaa": f"aaa.{VISITED_REALM}", "B-in-server": f"bmsc-bin.{VISITED_REALM}",
         "C": f"aaa.{HOME_REALM}"}
"""Who asks the home BSF in each case: the visited BSF, GBA proxy, AAA or server over
Zn', or in case C the home AAA over Zn (the visited AAA asked it over NASREQ)."""
CASE_SERVERS = {"A": "bmsc-a", "B-standalone": "bmsc-bs", "B-aaa": "bmsc-baaa",
                "B-in-server": "bmsc-bin", "C": "bmsc-c", "D": "bmsc-d"}


def _up(lab_dir: Path, *options: str) -> dict[str, Any]:
    gba("lab", "up", "--with", "roaming", "--dir", lab_dir, *options)
    info: dict[str, Any] = json.loads((lab_dir / "lab.json").read_text(encoding="utf-8"))
    return info


@pytest.fixture(scope="module")
def roaming_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    lab_dir = tmp_path_factory.mktemp("roaming")
    try:
        yield _up(lab_dir)
    finally:
        lab_down(lab_dir)


@pytest.fixture(scope="module")
def ks_colocated_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The other policy and the other form: the home BSF hands the visited network Ks,
    and the home AAA runs inside the home BSF."""
    lab_dir = tmp_path_factory.mktemp("roaming-ks")
    try:
        yield _up(lab_dir, "--roaming-key", "ks", "--roaming-aaa", "colocated")
    finally:
        lab_down(lab_dir)


def _roamer(info: dict[str, Any], name: str) -> Subscriber:
    """A home subscriber, provisioned with the home network's config."""
    sub = Subscriber.fresh(f"{name}@ims.{HOME_REALM}")
    gba("hss", "add-subscriber", "--config", info["roaming"]["home"]["config"],
        "--impi", sub.impi, "--k", sub.k.hex(), "--opc", sub.opc.hex())
    return sub


def test_lab_json_describes_both_networks_and_every_case(roaming_lab: dict[str, Any]
                                                         ) -> None:
    roaming = roaming_lab["roaming"]
    assert set(roaming) == {"home", "visited"}
    home, visited = roaming["home"], roaming["visited"]
    assert home["realm"] == HOME_REALM
    assert home["bsf_url"].startswith("http://127.0.0.1:")
    assert Path(home["config"]).is_file()
    assert visited["realm"] == VISITED_REALM
    assert Path(visited["config"]).is_file()
    assert tuple(visited["cases"]) == CASES
    for case in visited["cases"].values():
        assert set(case) == {"naf_url", "naf_fqdn"}
        assert case["naf_url"].startswith("http://127.0.0.1:")
        assert case["naf_fqdn"].endswith(f".{VISITED_REALM}")
    # the home network's one-network keys come first, as in any lab
    assert roaming_lab["bsf_url"] == home["bsf_url"]
    assert roaming_lab["realm"] == HOME_REALM
    assert roaming_lab["config"] == home["config"]


def test_the_visited_lab_runs_no_process_for_the_remote_home_bsf(
        roaming_lab: dict[str, Any]) -> None:
    visited = json.loads((Path(roaming_lab["dir"]) / "visited" / "lab.json").read_text())
    assert "home-bsf" not in visited["functions"]
    assert {f["kind"] for f in visited["functions"].values()} == {
        "hss", "bsf", "gba_proxy", "aaa", "bmsc"}
    zn = roaming_lab["functions"]["bsf"]["endpoints"]["zn"]
    resolved = Path(roaming_lab["roaming"]["visited"]["config"]).read_text()
    assert f'diameter = "{zn}"' in resolved  # the home BSF's real Zn address


async def test_a_roaming_ue_bootstraps_at_home_and_reaches_a_home_naf(
        roaming_lab: dict[str, Any]) -> None:
    sub = _roamer(roaming_lab, "roamer-home-naf")
    async with asyncio.timeout(FETCH_TIMEOUT), GbaClient(
            sub.impi, sub.usim(), roaming_lab["roaming"]["home"]["bsf_url"]) as ue:
        boot = await ue.bootstrap()
        assert boot.btid.endswith("@bsf.mnc001.mcc001.pub.3gppnetwork.org")
        answer = await ue.fetch_digest(f"{roaming_lab['naf_url']}/", roaming_lab["naf_fqdn"])
    assert answer.status == 200
    assert sub.impi in answer.body.decode()


@pytest.mark.parametrize("case", UA_DIGEST_CASES)
async def test_each_visited_server_serves_ua_digest_keyed_by_the_home_bsf(
        roaming_lab: dict[str, Any], case: str) -> None:
    sub = _roamer(roaming_lab, f"roamer-{case.lower()}")
    server = roaming_lab["roaming"]["visited"]["cases"][case]
    async with asyncio.timeout(FETCH_TIMEOUT), GbaClient(
            sub.impi, sub.usim(), roaming_lab["roaming"]["home"]["bsf_url"]) as ue:
        answer = await ue.fetch_digest(f"{server['naf_url']}/", server["naf_fqdn"])
    assert answer.status == 200
    assert sub.impi in answer.body.decode()


@pytest.mark.parametrize("case", BUILT_CASES)
async def test_case_ends_with_the_ue_decrypting_mbms_content(roaming_lab: dict[str, Any],
                                                             case: str) -> None:
    await mbms_session(roaming_lab, case, "derived")


@pytest.mark.parametrize("case", BUILT_CASES)
async def test_case_with_ks_policy_ends_with_mbms_content(ks_colocated_lab: dict[str, Any],
                                                          case: str) -> None:
    await mbms_session(ks_colocated_lab, case, "ks")


async def mbms_session(info: dict[str, Any], case: str, key_kind: str) -> None:
    """A roamer registers with the case's BM-SC (Ua Digest keyed for NAF_Id = FQDN ||
    01 00 00 00 01: the MUK), receives the MSK under its MUK, tunes in and decrypts the
    broadcast; a receiver that did not register gets the same octets and cannot."""
    sub = _roamer(info, f"viewer-{key_kind}-{case.lower()}")
    server = info["roaming"]["visited"]["cases"][case]
    url, fqdn = server["naf_url"], server["naf_fqdn"]
    async with asyncio.timeout(FETCH_TIMEOUT), GbaClient(
            sub.impi, sub.usim(), info["roaming"]["home"]["bsf_url"]) as ue, \
            MbmsReceiver() as viewer, MbmsReceiver() as stranger:
        registration = await viewer.register(ue, url, fqdn)
        assert registration.response.status == 200
        assert registration.msk is not None
        content = await viewer.tune_in(url)
        with pytest.raises(GbaError):
            await stranger.tune_in(url)
    assert content == [f"MBMS content {n}".encode() for n in range(1, 11)]
    mine = [r for r in charging_records(info, case) if r["user"] == sub.impi]
    assert len(mine) == 1
    assert bytes.fromhex(mine[0]["naf_id"]) == fqdn.encode() + ua_protocols.MBMS
    assert mine[0]["key_kind"] == key_kind


def charging_records(info: dict[str, Any], case: str) -> list[dict[str, Any]]:
    """The charging records of the server of *case*, read with ``gba naf charging``."""
    out = gba("naf", "charging", "--config", info["roaming"]["visited"]["config"],
              "--function", CASE_SERVERS[case])
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.mark.parametrize("case", BUILT_CASES)
async def test_case_serves_the_roamer_and_writes_one_charging_record(
        roaming_lab: dict[str, Any], case: str) -> None:
    await serve_and_charge(roaming_lab, case, "derived", ASKER[case])


KS_ASKER = {**ASKER, "C": f"bmsc-c.{VISITED_REALM}"}
"""With the home AAA inside the BSF, no Zn message: the BSF logs the server's request."""


@pytest.mark.parametrize("case", BUILT_CASES)
async def test_case_with_ks_policy_and_colocated_home_aaa(ks_colocated_lab: dict[str, Any],
                                                          case: str) -> None:
    await serve_and_charge(ks_colocated_lab, case, "ks", KS_ASKER[case])


async def serve_and_charge(roaming_lab: dict[str, Any], case: str, key_kind: str,
                           asker: str) -> None:
    """A roamer is served twice by the case's server, which holds exactly one charging
    record for it (home-supplied identity, home realm, NAF_Id, time, key kind), and the
    home BSF was asked once, by *asker*."""
    sub = _roamer(roaming_lab, f"charged-{case.lower()}")
    server = roaming_lab["roaming"]["visited"]["cases"][case]
    before = datetime.now(UTC)
    async with asyncio.timeout(FETCH_TIMEOUT), GbaClient(
            sub.impi, sub.usim(), roaming_lab["roaming"]["home"]["bsf_url"]) as ue:
        first = await ue.fetch_digest(f"{server['naf_url']}/one", server["naf_fqdn"])
        second = await ue.fetch_digest(f"{server['naf_url']}/two", server["naf_fqdn"])
        btid = ue.current.btid if ue.current is not None else ""
    assert (first.status, second.status) == (200, 200)
    mine = [r for r in charging_records(roaming_lab, case) if r["user"] == sub.impi]
    assert len(mine) == 1  # one association, used twice
    record = mine[0]
    assert record["case"] == case
    assert record["home_realm"] == HOME_REALM
    assert record["server"] == server["naf_fqdn"]
    assert bytes.fromhex(record["naf_id"]) == (server["naf_fqdn"].encode()
                                               + ua_protocols.HTTP_DIGEST)
    assert record["key_kind"] == key_kind
    assert before <= datetime.fromisoformat(record["time"]) <= datetime.now(UTC)
    assert btid
    assert btid not in json.dumps(mine)
    # the home BSF was asked by the case's own asker: the visited BSF (A), the GBA proxy
    # (B-standalone) or the server itself (B-in-server)
    home_log = (Path(roaming_lab["dir"]) / "home" / "bsf.log").read_text()
    word = "Ks" if key_kind == "ks" else "Ks_NAF"
    asked = [line for line in home_log.splitlines() if btid in line and f"{word} for" in line]
    assert len(asked) == 1
    assert f" to {asker} " in asked[0]


@pytest.mark.parametrize("case", BUILT_CASES)
async def test_unknown_home_domain_is_refused_with_403_and_leaves_nothing(
        roaming_lab: dict[str, Any], case: str) -> None:
    server = roaming_lab["roaming"]["visited"]["cases"][case]
    btid = kdf.btid(bytes(range(16)), "bsf.mnc099.mcc999.pub.3gppnetwork.org")
    before = len(charging_records(roaming_lab, case))
    status, body = await digest_with_btid(server, btid)
    assert status == 403
    assert "mnc099.mcc999" in body  # the realm that is not served
    assert len(charging_records(roaming_lab, case)) == before


async def digest_with_btid(server: dict[str, str], btid: str) -> tuple[int, str]:
    """The status and body a server answers a UE claiming *btid* with a made-up
    response: the server must ask for the key before it can check the response."""
    async with aiohttp.ClientSession() as http:
        url = f"{server['naf_url']}/"
        async with http.get(url, headers={"User-Agent": "3gpp-gba"}) as first:
            challenge = Challenge.from_header(first.headers["WWW-Authenticate"])
        credentials = Credentials(username=btid, realm=challenge.realm, nonce=challenge.nonce,
                                  uri="/", response="0" * 32, algorithm=challenge.algorithm,
                                  qop="auth", nc="00000001", cnonce="0a4f113b",
                                  opaque=challenge.opaque)
        async with http.get(url, headers={"Authorization": credentials.to_header(),
                                          "User-Agent": "3gpp-gba"}) as second:
            return second.status, await second.text()


def test_lab_down_stops_every_process_of_both_networks(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    lab_dir = tmp_path_factory.mktemp("roaming-down")
    try:
        info = _up(lab_dir)
        pids = [int(p) for p in info["pids"].values()]
        pids += [int(p) for p in info["status_pids"].values()]
        # home HSS, BSF, NAF, AAA; visited HSS, BSF, GBA proxy, AAA; the servers; 2 pages
        assert len(pids) == 4 + 4 + len(CASES) + 2
        assert all(alive(pid) for pid in pids)
    finally:
        lab_down(lab_dir)
    deadline = time.monotonic() + DOWN_TIMEOUT
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)  # polling other processes' exit, bounded
    assert [pid for pid in pids if alive(pid)] == []
    assert json.loads((lab_dir / "lab.json").read_text())["pids"] == {}


# --- case D: the server reads no B-TID; EAP-AKA with the permanent identity -----------

_imsis = iter(range(1, 10_000))


def _d_roamer(info: dict[str, Any], provision: bool = True) -> Subscriber:
    """A home subscriber with an IMSI-derived IMPI (the only kind EAP-AKA can name)."""
    imsi = f"00101{next(_imsis) + 5_000_000_000:010d}"
    sub = Subscriber.fresh(f"{imsi}@ims.{HOME_REALM}")
    if provision:
        gba("hss", "add-subscriber", "--config", info["roaming"]["home"]["config"],
            "--impi", sub.impi, "--imsi", imsi, "--k", sub.k.hex(), "--opc", sub.opc.hex())
    return sub


def vectors_for(info: dict[str, Any], impi: str) -> int:
    """How many vectors the home HSS has handed out for *impi* (its log, one line each)."""
    log = (Path(info["dir"]) / "home" / "hss.log").read_text()
    return sum(1 for line in log.splitlines() if f"Zh vector for {impi} " in line)


class LyingUsim(aka.Usim):
    """A USIM whose RES is wrong: what a UE without the key would send."""

    def authenticate(self, rand: bytes, autn: bytes) -> aka.AkaResult:
        result = super().authenticate(rand, autn)
        if isinstance(result, aka.AkaSuccess):
            return replace(result, res=bytes(b ^ 0xFF for b in result.res))
        return result


async def _d_session(info: dict[str, Any], key_kind: str, next_identity: str) -> None:
    sub = _d_roamer(info)
    server = info["roaming"]["visited"]["cases"]["D"]
    url, fqdn = server["naf_url"], server["naf_fqdn"]
    async with asyncio.timeout(FETCH_TIMEOUT), GbaClient(
            sub.impi, sub.usim(), info["roaming"]["home"]["bsf_url"]) as ue:
        async with MbmsReceiver() as viewer:
            first = await viewer.register(ue, url, fqdn)  # B-TID refused, then EAP-AKA
            assert first.response.status == 200
            assert first.msk is not None
            assert await viewer.tune_in(url) == [f"MBMS content {n}".encode()
                                                 for n in range(1, 11)]
        info_json = json.loads(first.response.body)
        nai = f"0{sub.impi.split('@')[0]}@{HOME_REALM}"
        expected = info_json["btid"] if next_identity == "btid" else nai
        assert info_json["identity"] == expected
        assert ue.current is not None
        assert ue.current.btid == info_json["btid"]  # the UE holds the run's B-TID
        vectors = vectors_for(info, sub.impi)
        assert vectors == 2  # one for Ub, exactly one for the EAP-AKA run
        async with MbmsReceiver() as again:
            second = await again.register(ue, url, fqdn, username=expected)
            assert second.response.status == 200
            assert second.msk is not None
        assert vectors_for(info, sub.impi) == vectors  # served from the association
    mine = [r for r in charging_records(info, "D") if r["user"] == sub.impi]
    assert len(mine) == 1
    assert mine[0]["home_realm"] == HOME_REALM
    assert mine[0]["key_kind"] == key_kind
    assert bytes.fromhex(mine[0]["naf_id"]) == fqdn.encode() + ua_protocols.MBMS


async def test_case_d_eap_aka_through_the_aaas_then_the_btid(roaming_lab: dict[str, Any]
                                                             ) -> None:
    await _d_session(roaming_lab, "derived", "btid")


async def test_case_d_with_ks_colocated_and_the_permanent_identity_next(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    lab_dir = tmp_path_factory.mktemp("roaming-d")
    try:
        info = _up(lab_dir, "--roaming-key", "ks", "--roaming-aaa", "colocated",
                   "--roaming-next-identity", "permanent")
        await _d_session(info, "ks", "permanent")
    finally:
        lab_down(lab_dir)


async def test_case_d_wrong_res_gets_eap_failure_and_nothing(roaming_lab: dict[str, Any]
                                                             ) -> None:
    sub = _d_roamer(roaming_lab)
    server = roaming_lab["roaming"]["visited"]["cases"]["D"]
    usim = LyingUsim(sub.k, sub.opc)
    async with asyncio.timeout(FETCH_TIMEOUT), GbaClient(
            sub.impi, usim, roaming_lab["roaming"]["home"]["bsf_url"]) as ue:
        # Ub needs the right RES too: bootstrap with the honest USIM first
        ue.usim = sub.usim()
        await ue.bootstrap()
        ue.usim = usim
        async with MbmsReceiver() as viewer:
            refused = await viewer.register(ue, server["naf_url"], server["naf_fqdn"])
    assert refused.response.status == 403
    assert refused.msk is None
    assert "EAP" in refused.response.headers.get("WWW-Authenticate", "")
    assert [r for r in charging_records(roaming_lab, "D") if r["user"] == sub.impi] == []


async def test_case_d_unknown_imsi_is_refused_like_a_wrong_res(roaming_lab: dict[str, Any]
                                                               ) -> None:
    known = _d_roamer(roaming_lab)
    stranger = _d_roamer(roaming_lab, provision=False)
    server = roaming_lab["roaming"]["visited"]["cases"]["D"]
    async with asyncio.timeout(FETCH_TIMEOUT), GbaClient(
            known.impi, known.usim(), roaming_lab["roaming"]["home"]["bsf_url"]) as ue:
        await ue.bootstrap()  # a B-TID to send; then the permanent identity of another
        ue.impi = stranger.impi
        async with MbmsReceiver() as viewer:
            refused = await viewer.register(ue, server["naf_url"], server["naf_fqdn"])
    assert refused.response.status == 403
    assert refused.msk is None


async def test_no_process_of_either_network_logs_key_material(roaming_lab: dict[str, Any]
                                                              ) -> None:
    """After a case-A and a case-D session, no log of either network holds K, OPc, Ks,
    the MUK or the MSK, in any encoding (tests/e2e/test_log_hygiene.py's rule)."""
    secrets: list[bytes] = []
    for case, sub in (("A", _roamer(roaming_lab, "hygiene-a")), ("D", _d_roamer(roaming_lab))):
        server = roaming_lab["roaming"]["visited"]["cases"][case]
        async with asyncio.timeout(FETCH_TIMEOUT), GbaClient(
                sub.impi, sub.usim(), roaming_lab["roaming"]["home"]["bsf_url"]) as ue, \
                MbmsReceiver() as viewer:
            registration = await viewer.register(ue, server["naf_url"], server["naf_fqdn"])
            assert registration.response.status == 200
            assert ue.current is not None
            assert viewer.keys is not None
            secrets += [sub.k, sub.opc, ue.current.ks,
                        ue.naf_key(server["naf_fqdn"], ua_protocols.MBMS).key,
                        *viewer.keys.msks.values()]
    logs = every_log(Path(roaming_lab["dir"]))
    assert len(logs) >= 14  # every process of both networks
    leaks = [(p.name, secret.hex()[:8]) for p, text in logs.items() for secret in secrets
             if any(form in text for form in forms(secret))]
    assert leaks == []


def every_log(lab_dir: Path) -> dict[Path, bytes]:
    """The log of every process of both sub-labs."""
    return {p: p.read_bytes() for p in lab_dir.glob("*/*.log")}

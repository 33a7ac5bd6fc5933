"""The HSS REST provisioning API across real processes (``gba lab up``): bearer
authentication (RFC 6750) and SQN forward only (TS 33.102 Annex C.3).

The attack (issue 10, item 2). Before, ``nf/hss_rest.py`` served every request without
authentication, so anyone who reached the port could do::

    PUT /subscribers/<impi>  {"k": "<attacker's K>", "opc": "<attacker's OPc>"}  -> 200

and take over the subscription (the BSF then bootstraps whoever holds the new K), or
``{"k": ..., "opc": ..., "sqn": "000000000000"}`` to set SQN back, after which the HSS
issued SQNs the USIM had already seen. The tests below make the same requests: without a
token and with a wrong one they get 401 and change nothing; with the lab's token SQN still
cannot go back, and the next vector's SQN is above every one issued before.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from e2e.labctl import Lab, Subscriber, hss_rest_auth
from gba.ue.client import GbaClient


def token_file(lab: Lab) -> Path:
    info: dict[str, Any] = json.loads((lab.dir / "lab.json").read_text(encoding="utf-8"))
    return Path(info["hss_rest_token_file"])


def keys(sub: Subscriber, **more: str) -> dict[str, str]:
    return {"k": sub.k.hex(), "opc": sub.opc.hex(), **more}


async def provision(lab: Lab, http: aiohttp.ClientSession, name: str) -> Subscriber:
    """A fresh subscriber, provisioned over REST with the lab's token."""
    sub = Subscriber.fresh(f"{name}@{lab.realm}")
    async with http.put(f"{lab.hss_rest_url}/subscribers/{sub.impi}", json=keys(sub),
                        headers=hss_rest_auth(lab)) as r:
        assert r.status == 200, await r.text()
    return sub


async def subscriber_row(lab: Lab, http: aiohttp.ClientSession, impi: str) -> dict[str, Any]:
    async with http.get(f"{lab.hss_rest_url}/subscribers/{impi}", headers=hss_rest_auth(lab)) as r:
        assert r.status == 200
        row: dict[str, Any] = await r.json()
        return row


def test_lab_writes_an_owner_only_token_file_named_in_lab_json(lab: Lab) -> None:
    path = token_file(lab)
    assert path.parent == lab.dir
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_text(encoding="ascii").strip()) >= 32


async def test_replacing_k_without_a_token_is_401_and_the_card_still_bootstraps(
        lab: Lab, http: aiohttp.ClientSession) -> None:
    sub = await provision(lab, http, "rest-no-token")
    attacker = Subscriber.fresh(sub.impi)
    url = f"{lab.hss_rest_url}/subscribers/{sub.impi}"
    async with http.put(url, json=keys(attacker)) as r:
        assert r.status == 401
        assert r.headers["WWW-Authenticate"].startswith("Bearer ")
    async with http.put(url, json=keys(attacker, sqn="000000000000"),
                        headers={"Authorization": "Bearer " + "A" * 43}) as r:
        assert r.status == 401
        assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    async with http.delete(url) as r:
        assert r.status == 401
    async with GbaClient(sub.impi, sub.usim(), lab.bsf_url) as ue:
        assert (await ue.bootstrap()).btid  # the HSS still holds the card's own K


@pytest.mark.parametrize("path", ["/subscribers", "/subscribers/nobody@example.org"])
async def test_reads_without_a_token_are_401(lab: Lab, http: aiohttp.ClientSession,
                                             path: str) -> None:
    async with http.get(lab.hss_rest_url + path) as r:
        assert r.status == 401
        assert r.headers["WWW-Authenticate"] == 'Bearer realm="gba-hss"'


async def test_the_openapi_document_is_public_and_declares_bearer(
        lab: Lab, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{lab.hss_rest_url}/openapi.json") as r:
        assert r.status == 200
        doc = json.loads(await r.text())
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert doc["security"] == [{"bearer": []}]


async def test_sqn_cannot_be_set_back_and_the_hss_never_reissues_one(
        lab: Lab, http: aiohttp.ClientSession) -> None:
    sub = await provision(lab, http, "rest-sqn-back")
    usim = sub.usim()
    async with GbaClient(sub.impi, usim, lab.bsf_url) as ue:
        await ue.bootstrap()
    before = (await subscriber_row(lab, http, sub.impi))["seq"]
    assert before >= 1
    url = f"{lab.hss_rest_url}/subscribers/{sub.impi}"
    async with http.put(url, json=keys(sub, sqn="000000000000"), headers=hss_rest_auth(lab)) as r:
        assert r.status == 409
        assert "Annex C.3" in (await r.json())["error"]
    async with http.put(url, json=keys(sub), headers=hss_rest_auth(lab)) as r:  # no sqn: kept
        assert r.status == 200
        assert (await r.json())["seq"] == before
    trace: list[str] = []
    async with GbaClient(sub.impi, usim, lab.bsf_url, trace=trace.append) as ue:
        await ue.bootstrap()
    after = (await subscriber_row(lab, http, sub.impi))["seq"]
    # had the HSS gone back, the USIM would have refused the vector as stale (AUTS)
    assert not any("AUTS" in line for line in trace), "the HSS reissued an old SQN"
    assert after > before
    assert after == max(usim.sqn_array.seq)


def test_the_token_file_is_not_in_lab_json_itself(lab: Lab) -> None:
    token = token_file(lab).read_text(encoding="ascii").strip()
    assert token not in (lab.dir / "lab.json").read_text(encoding="utf-8")
    assert token not in (lab.dir / "network.toml").read_text(encoding="utf-8")
    assert os.path.basename(token_file(lab)) == "hss-rest.token"

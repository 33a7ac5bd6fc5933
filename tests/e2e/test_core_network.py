"""The home network end to end: HSS, BSF and NAF as separate processes (``gba lab up``),
a UE bootstrapping over Ub and using its keys on Ua, NAF and BSF on Zn, the HSS on Zh
and its REST API. TS 33.220 §4.5.2-§4.5.3, TS 24.109 §4, TS 29.109, TS 33.222 §5.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import struct
from datetime import timedelta

import aiohttp
import pytest

from e2e.labctl import Lab, LabFactory, gba, hss_rest_auth, lab_down, lab_up
from e2e.wire import (
    OVERLONG_AVP,
    capabilities_exchange,
    challenge_of,
    closed_by_server,
    frame,
    get,
    hang_up,
    open_raw,
    read_message,
    ua_answer,
    ub_answer,
    ub_challenge,
    usim_res,
    zh_request,
    zn_request,
)
from gba.clock import utc_now
from gba.config import DiameterNodeConfig
from gba.crypto import aka, kdf, ua_protocols
from gba.crypto.milenage import Milenage
from gba.protocols import ua, zh, zn
from gba.protocols.diameter import (
    APP_ZH,
    APP_ZN,
    CMD_BOOTSTRAPPING_INFO,
    CMD_DEVICE_WATCHDOG,
    CMD_MULTIMEDIA_AUTH,
    VENDOR_3GPP,
    Application,
    ExperimentalResultCode,
    ResultCode,
)
from gba.protocols.digest_header import Challenge
from gba.store.factory import open_naf_store
from gba.ue.client import GbaClient

ROGUE = DiameterNodeConfig("rogue.example.net", "example.net")
"""A Diameter node the BSF has no [[bsf.naf]] entry for."""


def ks_naf_by_hand(ks: bytes, rand: bytes, impi: str, naf_id: bytes) -> bytes:
    """TS 33.220 Annex B.2.0/B.3 written out: HMAC-SHA-256(Ks, 0x01 || Pi || Li ...)."""
    s = b"\x01"
    for p in (b"gba-me", rand, impi.encode("utf-8"), naf_id):
        s += p + len(p).to_bytes(2, "big")
    return hmac.new(ks, s, hashlib.sha256).digest()


def naf_url(lab: Lab) -> str:
    return lab.naf_url + "/"


# --- Ub and Ua with the UE client ------------------------------------------------------


async def test_ue_bootstraps_and_fetches_the_digest_resource(lab: Lab) -> None:
    sub = lab.subscriber("digest")
    trace: list[str] = []
    async with GbaClient(sub.impi, sub.usim(), lab.bsf_url, trace=trace.append) as ue:
        reply = await ue.fetch_digest(naf_url(lab), lab.naf_fqdn)
        assert ue.current is not None
        btid = ue.current.btid
    assert reply.status == 200
    body = reply.body.decode()
    assert sub.impi in body
    assert btid in body
    assert btid.endswith("@" + lab.bsf_server_name)
    assert any("rspauth verified: the NAF holds Ks_NAF" in line for line in trace)


async def test_naf_key_equals_the_ues_and_the_annex_b_derivation(lab: Lab) -> None:
    sub = lab.subscriber("kdf")
    async with GbaClient(sub.impi, sub.usim(), lab.bsf_url) as ue:
        reply = await ue.fetch_digest(naf_url(lab), lab.naf_fqdn)
        ue_key = ue.naf_key(lab.naf_fqdn, ua_protocols.HTTP_DIGEST)
        assert ue.current is not None
        rand = ue.current.rand
    assert reply.status == 200
    # Ks = CK || IK from the subscriber's own K/OPc, not from the UE's state
    _, ck, ik, _, _ = Milenage(sub.k, sub.opc).f2345(rand)
    naf_id = lab.naf_fqdn.encode() + bytes.fromhex("0100000002")
    expected = ks_naf_by_hand(ck + ik, rand, sub.impi, naf_id)
    cfg = lab.network()
    naf_store = open_naf_store(cfg.store_url(cfg.naf.store))
    try:
        cached = await naf_store.get_key(ue_key.btid, naf_id, utc_now())
    finally:
        await naf_store.close()
    assert ue_key.naf_id == naf_id
    assert ue_key.key == expected
    assert cached is not None, "the NAF did not keep the key it fetched over Zn"
    assert cached.key == expected
    assert cached.impi == sub.impi


async def test_usim_ahead_of_the_hss_resynchronises_and_bootstraps(lab: Lab) -> None:
    sub = lab.subscriber("sync")
    ahead = 1000  # SEQ the USIM has already seen in every IND slot; the HSS is at 0
    usim = sub.usim(aka.SqnArray(seq=[ahead] * aka.IND_COUNT))
    trace: list[str] = []
    async with GbaClient(sub.impi, usim, lab.bsf_url, trace=trace.append) as ue:
        boot = await ue.bootstrap()
    assert boot.btid.endswith("@" + lab.bsf_server_name)
    assert any("synchronisation failure, sending AUTS" in line for line in trace)
    row = (await asyncio.to_thread(lab.hss_rows))[sub.impi]
    assert row["seq"] > ahead
    assert row["seq"] == max(usim.sqn_array.seq), "HSS and USIM disagree on the last SEQ"


async def test_revoked_context_makes_the_ue_bootstrap_again(lab: Lab) -> None:
    sub = lab.subscriber("revoke")
    trace: list[str] = []
    async with GbaClient(sub.impi, sub.usim(), lab.bsf_url, trace=trace.append) as ue:
        first = await ue.bootstrap()
        out = await asyncio.to_thread(gba, "bsf", "revoke", "--config", lab.config,
                                      "--btid", first.btid)
        assert json.loads(out) == {"btid": first.btid, "revoked": True}
        reply = await ue.fetch_digest(naf_url(lab), lab.naf_fqdn)
        assert ue.current is not None
        second = ue.current.btid
    assert reply.status == 200
    assert second != first.btid
    assert second in reply.body.decode()
    assert any("bootstrapping anew" in line for line in trace)


# --- Ub by hand: what the BSF refuses ------------------------------------------------


async def test_wrong_res_is_refused_and_the_bsf_keeps_serving(
        lab: Lab, http: aiohttp.ClientSession) -> None:
    sub = lab.subscriber("wrong-res")
    usim = sub.usim()
    challenge = await ub_challenge(http, lab, sub.impi)
    res = usim_res(usim, challenge)
    wrong = bytes(b ^ 0x55 for b in res)
    refused = await get(http, lab.bsf_url, ub_answer(sub.impi, challenge, wrong))
    assert refused.status == 403
    assert "Authentication-Info" not in refused.headers
    async with GbaClient(sub.impi, usim, lab.bsf_url) as ue:
        boot = await ue.bootstrap()
    assert boot.btid.endswith("@" + lab.bsf_server_name)


async def test_replayed_ub_answer_gets_a_fresh_challenge(
        lab: Lab, http: aiohttp.ClientSession) -> None:
    sub = lab.subscriber("replay-ub")
    challenge = await ub_challenge(http, lab, sub.impi)
    answer = ub_answer(sub.impi, challenge, usim_res(sub.usim(), challenge))
    first = await get(http, lab.bsf_url, answer)
    replayed = await get(http, lab.bsf_url, answer)
    assert first.status == 200
    assert replayed.status == 401
    fresh = challenge_of(replayed)
    assert fresh.nonce != challenge.nonce
    assert fresh.stale


@pytest.mark.parametrize(("authorization", "status"), [
    pytest.param("Basic dXNlcjpwYXNz", 400, id="not-digest"),
    pytest.param('Digest username="a@b", realm', 400, id="truncated"),
    pytest.param('Digest username="a@b" realm="b"', 400, id="no-comma"),
    pytest.param('Digest username="a@b"', 400, id="no-nonce-uri-response"),
    pytest.param('Digest username="a@b", username="c@d", realm="b", nonce="", uri="/", '
                 'response=""', 400, id="repeated-parameter"),
])
async def test_bsf_refuses_bad_ub_requests_and_keeps_serving(
        lab: Lab, http: aiohttp.ClientSession, authorization: str, status: int) -> None:
    # (an unknown IMPI gets a decoy challenge: tests/e2e/test_ub_enumeration.py)
    reply = await get(http, lab.bsf_url, authorization)
    assert reply.status == status
    assert "WWW-Authenticate" not in reply.headers
    sub = lab.subscriber("bsf-keeps-serving")
    async with GbaClient(sub.impi, sub.usim(), lab.bsf_url) as ue:
        boot = await ue.bootstrap()
    assert boot.btid.endswith("@" + lab.bsf_server_name)


async def test_ub_request_without_authorization_is_refused_with_400(
        lab: Lab, http: aiohttp.ClientSession) -> None:
    reply = await get(http, lab.bsf_url)
    assert reply.status == 400
    assert b"Authorization" in reply.body


# --- Zn: the BSF hands Ks_NAF to authorised NAFs only ----------------------------------


async def test_zn_gives_the_authorised_naf_the_ues_key(lab: Lab) -> None:
    sub = lab.subscriber("zn")
    naf = lab.network().naf.diameter
    async with GbaClient(sub.impi, sub.usim(), lab.bsf_url) as ue:
        boot = await ue.bootstrap()
        keys = {proto: ue.naf_key(lab.naf_fqdn, proto)
                for proto in (ua_protocols.HTTP_DIGEST, ua_protocols.PKI_PORTAL)}
    for proto, key in keys.items():
        answer = await zn_request(lab, naf, boot.btid, key.naf_id)
        assert answer.result_code == ResultCode.SUCCESS, proto.hex()
        info = zn.parse_bia(answer)
        assert info.impi == sub.impi
        assert info.me_key == key.key, f"ME-Key-Material differs for Ua protocol {proto.hex()}"
        assert abs(info.expiry - boot.lifetime) <= timedelta(seconds=1)
    assert keys[ua_protocols.HTTP_DIGEST].key != keys[ua_protocols.PKI_PORTAL].key


async def test_zn_refuses_a_naf_asking_for_another_host_with_5402(lab: Lab) -> None:
    sub = lab.subscriber("zn-unauthorised")
    async with GbaClient(sub.impi, sub.usim(), lab.bsf_url) as ue:
        boot = await ue.bootstrap()
    naf_id = kdf.naf_id("other.example.org", ua_protocols.HTTP_DIGEST)
    answer = await zn_request(lab, lab.network().naf.diameter, boot.btid, naf_id)
    assert answer.result_code == ExperimentalResultCode.NOT_AUTHORIZED
    assert answer.find(405, VENDOR_3GPP) is None, "ME-Key-Material leaked to an unauthorised NAF"


async def test_zn_refuses_an_origin_host_its_certificate_does_not_name(lab: Lab) -> None:
    """A peer with the lab NAF's certificate claiming another Origin-Host gets CEA 3010."""
    reader, writer = await open_raw(lab, lab.bsf_zn)
    try:
        cea = await capabilities_exchange(reader, writer, ROGUE, zn.APPLICATION)
        closed, received = await closed_by_server(reader)
    finally:
        await hang_up(writer)
    assert cea.result_code == ResultCode.UNKNOWN_PEER
    assert closed
    assert received == b""


async def test_zn_answers_5403_for_an_unknown_btid(lab: Lab) -> None:
    btid = kdf.btid(os.urandom(16), lab.bsf_server_name)
    naf_id = kdf.naf_id(lab.naf_fqdn, ua_protocols.HTTP_DIGEST)
    answer = await zn_request(lab, lab.network().naf.diameter, btid, naf_id)
    assert answer.result_code == ExperimentalResultCode.TRANSACTION_IDENTIFIER_INVALID


# --- garbage on the Diameter ports -----------------------------------------------------

_ZN = (zn.APPLICATION, CMD_BOOTSTRAPPING_INFO, APP_ZN)
_ZH = (zh.APPLICATION, CMD_MULTIMEDIA_AUTH, APP_ZH)

GARBAGE = {
    "http-request": b"GET / HTTP/1.1\r\nHost: bsf\r\n\r\n",
    "version-2": struct.pack(">IIIII", 0x02000014, 0x80000101, 0, 1, 1),
    "length-not-multiple-of-4": struct.pack(">IIIII", 0x01000015, 0x80000101, 0, 1, 1) + b"\0",
    "length-beyond-limit": struct.pack(">IIIII", 0x01FFFFFC, 0x80000101, 0, 1, 1),
    "overlong-avp-in-cer": frame(257, 0, OVERLONG_AVP + bytes(4)),
    "request-before-cer": frame(CMD_DEVICE_WATCHDOG, 0, b""),
}


def _target(lab: Lab, name: str) -> tuple[tuple[str, int], Application, int, int]:
    address = lab.bsf_zn if name == "bsf-zn" else lab.hss_zh
    return (address, *(_ZN if name == "bsf-zn" else _ZH))


async def _proper_client_is_served(lab: Lab, name: str) -> None:
    if name == "bsf-zn":
        btid = kdf.btid(os.urandom(16), lab.bsf_server_name)
        answer = await zn_request(lab, lab.network().naf.diameter, btid,
                                  kdf.naf_id(lab.naf_fqdn, ua_protocols.HTTP_DIGEST))
        assert answer.result_code == ExperimentalResultCode.TRANSACTION_IDENTIFIER_INVALID
    else:
        impi = lab.subscriber("zh-probe").impi
        answer = await zh_request(lab, impi)
        assert answer.result_code == ResultCode.SUCCESS
        assert zh.parse_maa(answer).impi == impi


@pytest.mark.parametrize("garbage", list(GARBAGE))
@pytest.mark.parametrize("name", ["bsf-zn", "hss-zh"])
async def test_garbage_before_cer_closes_the_connection(lab: Lab, name: str, garbage: str
                                                        ) -> None:
    address, *_ = _target(lab, name)
    reader, writer = await open_raw(lab, address)
    try:
        writer.write(GARBAGE[garbage])
        await writer.drain()
        closed, received = await closed_by_server(reader)
    finally:
        await hang_up(writer)
    assert closed, f"{name} kept the connection open after {garbage}"
    assert received == b"", "no Diameter peer should answer before CER/CEA"
    await _proper_client_is_served(lab, name)


@pytest.mark.parametrize("name", ["bsf-zn", "hss-zh"])
async def test_undecodable_request_after_cer_gets_an_error_answer(lab: Lab, name: str
                                                                  ) -> None:
    address, application, command, app_id = _target(lab, name)
    cfg = lab.network()
    # the peer each port admits: the NAF on Zn, the BSF on Zh
    node = cfg.naf.diameter if name == "bsf-zn" else cfg.bsf.diameter
    reader, writer = await open_raw(lab, address)
    try:
        cea = await capabilities_exchange(reader, writer, node, application)
        assert cea.result_code == ResultCode.SUCCESS
        writer.write(frame(command, app_id, OVERLONG_AVP + bytes(4), hop_by_hop=0xABCD))
        await writer.drain()
        answer = await read_message(reader)
    finally:
        await hang_up(writer)
    assert not answer.is_request
    assert (answer.command_code, answer.hop_by_hop) == (command, 0xABCD)
    assert answer.result_code == ResultCode.INVALID_AVP_LENGTH
    await _proper_client_is_served(lab, name)


# --- Ua Digest at the NAF, by hand -------------------------------------------------------


async def _naf_challenge_and_key(lab: Lab, http: aiohttp.ClientSession, name: str
                                 ) -> tuple[Challenge, str, bytes]:
    sub = lab.subscriber(name)
    async with GbaClient(sub.impi, sub.usim(), lab.bsf_url) as ue:
        await ue.bootstrap()
        key = ue.naf_key(lab.naf_fqdn, ua_protocols.HTTP_DIGEST)
    challenge = challenge_of(await get(http, naf_url(lab)))
    assert challenge.realm == ua.realm_for(lab.naf_fqdn)
    return challenge, key.btid, key.key


async def test_naf_refuses_a_wrong_password_with_401(
        lab: Lab, http: aiohttp.ClientSession) -> None:
    challenge, btid, key = await _naf_challenge_and_key(lab, http, "naf-wrong-password")
    wrong = ua.password_for(bytes(b ^ 0x01 for b in key))
    refused = await get(http, naf_url(lab), ua_answer(challenge, btid, wrong))
    right = await get(http, naf_url(lab), ua_answer(challenge, btid, ua.password_for(key)))
    assert refused.status == 401
    assert btid.encode() not in refused.body
    assert right.status == 200, "the same challenge answered with base64(Ks_NAF) must pass"


async def test_naf_refuses_a_replayed_authorization(
        lab: Lab, http: aiohttp.ClientSession) -> None:
    challenge, btid, key = await _naf_challenge_and_key(lab, http, "naf-replay")
    authorization = ua_answer(challenge, btid, ua.password_for(key))
    first = await get(http, naf_url(lab), authorization)
    replayed = await get(http, naf_url(lab), authorization)
    assert first.status == 200
    assert replayed.status == 401
    assert btid.encode() not in replayed.body


async def test_naf_refuses_a_replayed_authorization_without_qop(
        lab: Lab, http: aiohttp.ClientSession) -> None:
    challenge, btid, key = await _naf_challenge_and_key(lab, http, "naf-replay-no-qop")
    assert challenge.qop, "the NAF offers qop, so a client must use it (RFC 7616 §3.4)"
    authorization = ua_answer(challenge, btid, ua.password_for(key), qop=None)
    statuses = [(await get(http, naf_url(lab), authorization)).status for _ in range(2)]
    assert statuses.count(200) <= 1, f"the same Authorization was accepted twice: {statuses}"


async def test_naf_refuses_credentials_made_for_another_uri(
        lab: Lab, http: aiohttp.ClientSession) -> None:
    challenge, btid, key = await _naf_challenge_and_key(lab, http, "naf-other-uri")
    authorization = ua_answer(challenge, btid, ua.password_for(key), uri="/public")
    reply = await get(http, lab.naf_url + "/private", authorization)
    assert reply.status in (400, 401)
    assert b"/private" not in reply.body


# --- HSS REST provisioning ---------------------------------------------------------------


async def test_hss_rest_stores_a_subscriber_without_showing_keys(
        lab: Lab, http: aiohttp.ClientSession) -> None:
    impi = f"rest-put@{lab.realm}"
    sqn = os.urandom(6).hex()
    body = {"k": os.urandom(16).hex(), "opc": os.urandom(16).hex(), "sqn": sqn,
            "amf": "8000", "imsi": "001010000000042"}
    async with http.put(f"{lab.hss_rest_url}/subscribers/{impi}", json=body,
                        headers=hss_rest_auth(lab)) as r:
        assert r.status == 200
        stored = await r.json()
    async with http.get(f"{lab.hss_rest_url}/subscribers/{impi}",
                        headers=hss_rest_auth(lab)) as r:
        assert r.status == 200
        fetched = await r.json()
    assert fetched == stored
    assert not {"k", "opc", "op"} & set(fetched)
    assert body["k"] not in json.dumps(fetched)
    assert body["opc"] not in json.dumps(fetched)
    assert (fetched["impi"], fetched["sqn"], fetched["amf"], fetched["imsi"]) == (
        impi, sqn, "8000", "001010000000042")
    assert fetched["seq"] == int(sqn, 16) >> 5


async def test_hss_rest_openapi_describes_the_subscriber_resource(
        lab: Lab, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{lab.hss_rest_url}/openapi.json") as r:
        assert r.status == 200
        spec = json.loads(await r.text())
    assert spec["openapi"].startswith("3.")
    item = spec["paths"]["/subscribers/{impi}"]
    assert {"get", "put", "delete"} <= set(item)
    assert "/subscribers" in spec["paths"]


@pytest.mark.parametrize("field", ["k", "opc", "sqn", "amf"])
async def test_hss_rest_refuses_bad_hex_with_400(
        lab: Lab, http: aiohttp.ClientSession, field: str) -> None:
    impi = f"rest-bad-{field}@{lab.realm}"
    body = {"k": os.urandom(16).hex(), "opc": os.urandom(16).hex(), "sqn": "00" * 6,
            "amf": "0000"}
    body[field] = "zz" + body[field][2:]
    async with http.put(f"{lab.hss_rest_url}/subscribers/{impi}", json=body,
                        headers=hss_rest_auth(lab)) as r:
        assert r.status == 400
        assert "error" in await r.json()
    async with http.get(f"{lab.hss_rest_url}/subscribers/{impi}",
                        headers=hss_rest_auth(lab)) as r:
        assert r.status == 404, "a refused subscriber must not be stored"


# --- SQN across a restart ----------------------------------------------------------------


async def test_sqn_survives_a_restart_of_the_network(lab_factory: LabFactory) -> None:
    lab = lab_factory(["restart"])
    sub = lab.subscriber("restart")
    usim = sub.usim()  # the same card before and after the restart
    async with GbaClient(sub.impi, usim, lab.bsf_url) as ue:
        await ue.bootstrap()
    before = (await asyncio.to_thread(lab.hss_rows))[sub.impi]["seq"]
    await asyncio.to_thread(lab_down, lab.dir)
    await asyncio.to_thread(lab_up, lab.dir)
    restarted = Lab.read(lab.dir, lab.subscribers)
    assert set(restarted.pids.values()).isdisjoint(lab.pids.values())
    trace: list[str] = []
    async with GbaClient(sub.impi, usim, restarted.bsf_url, trace=trace.append) as ue:
        await ue.bootstrap()
    after = (await asyncio.to_thread(restarted.hss_rows))[sub.impi]["seq"]
    # had the HSS forgotten its SQN, the USIM would have refused the vector as stale
    assert not any("AUTS" in line for line in trace), "the restarted HSS reissued an old SQN"
    assert after > before
    assert after == max(usim.sqn_array.seq)

"""The Push-NAF as a network function (gba.nf.push_service) and its core (gba.nf.push_naf):
the control API's order parsing and bearer token, the section's settings, UE registration,
the embodiment-3 queue, the PSK-TLS key resolver (TS 33.220 Annex H.3 NAF_Ids) and the
bounds; the BSF is a fake (Zn and Zpn)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from aiohttp.test_utils import TestClient, TestServer

from gba.crypto import ua_protocols
from gba.errors import CodecError, ConfigError, InvalidInput
from gba.lab import push as lab_push
from gba.nf import push_naf, push_service, registry
from gba.nf.naf import NafKeys
from gba.nf.push_naf import MAX_PAYLOADS, MAX_QUEUED, PushNaf, PushOrder, PushSettings
from gba.nf.push_psk import PushKey, PushMailbox
from gba.protocols import syncml, zn, zpn
from gba.protocols.diameter import ExperimentalResultCode
from gba.protocols.push_sa import MAX_PUSH, IdKind
from gba.store.base import NafStore
from gba.store.factory import open_naf_store

pytestmark = pytest.mark.push

FQDN = "push.example.org"
IMPI = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
OTHER = "001010000000002@ims.mnc001.mcc001.3gppnetwork.org"
BTID = "AAECAwQFBgcICQoLDA0ODw==@bsf.example.org"
TOKEN = b"t0ken-" * 8
AUTH = {"Authorization": f"Bearer {TOKEN.decode()}"}
GPIA_REFUSED = 5001  # DIAMETER_ERROR_USER_UNKNOWN-like result code from the fake BSF


class FakeZn:
    """A FetchKey that knows no B-TID (TS 29.109 5401), recording what it was asked."""

    def __init__(self) -> None:
        self.requests: list[zn.KeyRequest] = []

    async def __call__(self, req: zn.KeyRequest) -> zn.KeyAnswer | int:
        self.requests.append(req)
        return int(ExperimentalResultCode.TRANSACTION_IDENTIFIER_INVALID)


class FakeZpn:
    """A FetchPush that refuses every GPIR with a result code, recording the requests."""

    def __init__(self, code: int = GPIA_REFUSED) -> None:
        self.code = code
        self.requests: list[zpn.PushInfoRequest] = []

    async def __call__(self, req: zpn.PushInfoRequest) -> zpn.PushInfoAnswer | int:
        self.requests.append(req)
        return self.code


@pytest.fixture
async def store() -> AsyncIterator[NafStore]:
    s = open_naf_store("memory:")
    yield s
    await s.close()


@pytest.fixture
def zn_bsf() -> FakeZn:
    return FakeZn()


@pytest.fixture
def zpn_bsf() -> FakeZpn:
    return FakeZpn()


def make_push(store: NafStore, zn_bsf: FakeZn, zpn_bsf: FakeZpn,
              settings: PushSettings | None = None) -> PushNaf:
    return PushNaf(FQDN, store, NafKeys(store, zn_bsf), zpn_bsf, settings or PushSettings(),
                   PushMailbox())


@pytest.fixture
async def push(store: NafStore, zn_bsf: FakeZn, zpn_bsf: FakeZpn) -> AsyncIterator[PushNaf]:
    p = make_push(store, zn_bsf, zpn_bsf)
    await p.start("127.0.0.1")
    yield p
    p.close()


def b64(octets: bytes) -> str:
    return base64.b64encode(octets).decode()


def valid_order(**changes: Any) -> dict[str, Any]:
    order: dict[str, Any] = {"impi": IMPI, "embodiment": 1,
                             "payloads": [b64(b"hello"), b64(b"\x00\xffworld")]}
    order.update(changes)
    return order


# ------------------------------------------------------------------ order_of


def test_order_of_a_full_order() -> None:
    order = push_service.order_of({
        "impi": IMPI, "embodiment": 5, "payloads": [b64(b"one"), b64(b"\x01\x02")],
        "gba": "normal", "sa_kind": "pseudonym", "sa_id": "alias-7", "session_id": 4242,
        "key_selection": "latest", "notify": True})
    assert order == PushOrder(IMPI, 5, (b"one", b"\x01\x02"), gba="normal",
                              sa_kind=IdKind.PSEUDONYM, sa_value="alias-7", session_id=4242,
                              key_selection="latest")
    assert order.sa_kind is IdKind.PSEUDONYM


def test_order_of_defaults() -> None:
    order = push_service.order_of(valid_order())
    assert order.payloads == (b"hello", b"\x00\xffworld")
    assert (order.gba, order.key_selection) == ("push", "btid")
    assert order.sa_kind is IdKind.SESSION
    assert (order.sa_value, order.session_id) == (None, None)


@pytest.mark.parametrize("embodiment", [1, 2, 3, 4, 5])
def test_order_of_takes_each_embodiment(embodiment: int) -> None:
    assert push_service.order_of(valid_order(embodiment=embodiment)).embodiment == embodiment


def test_order_of_takes_an_sa_id_of_255_characters() -> None:
    assert push_service.order_of(valid_order(sa_id="s" * 255)).sa_value == "s" * 255


@pytest.mark.parametrize("data", [
    pytest.param([valid_order()], id="a list"),
    pytest.param("order", id="a string"),
    pytest.param(None, id="null"),
    pytest.param(valid_order(priority=1), id="unknown field"),
    pytest.param({"embodiment": 1, "payloads": []}, id="impi missing"),
    pytest.param(valid_order(impi=""), id="impi empty"),
    pytest.param(valid_order(impi=7), id="impi a number"),
    pytest.param({"impi": IMPI, "payloads": []}, id="embodiment missing"),
    pytest.param(valid_order(embodiment=0), id="embodiment 0"),
    pytest.param(valid_order(embodiment=6), id="embodiment 6"),
    pytest.param(valid_order(embodiment="1"), id="embodiment a string"),
    pytest.param(valid_order(embodiment=1.0), id="embodiment a float"),
    pytest.param(valid_order(payloads=b64(b"x")), id="payloads not a list"),
    pytest.param(valid_order(payloads=[1]), id="payloads of numbers"),
    pytest.param(valid_order(payloads=["not base64!"]), id="payloads not base64"),
    pytest.param(valid_order(payloads=["abc"]), id="payloads badly padded"),
    pytest.param(valid_order(sa_kind="imsi"), id="bad sa_kind"),
    pytest.param(valid_order(gba="x"), id="gba x"),
    pytest.param(valid_order(key_selection="x"), id="key_selection x"),
    pytest.param(valid_order(session_id="5"), id="session_id a string"),
    pytest.param(valid_order(sa_id=""), id="sa_id empty"),
    pytest.param(valid_order(sa_id="s" * 256), id="sa_id 256 characters"),
    pytest.param(valid_order(sa_id=5), id="sa_id a number"),
])
def test_order_of_refuses(data: Any) -> None:
    with pytest.raises(InvalidInput):
        push_service.order_of(data)


@pytest.mark.parametrize("field", ["embodiment", "session_id"])
def test_order_of_refuses_a_boolean_number(field: str) -> None:
    with pytest.raises(InvalidInput):
        push_service.order_of(valid_order(**{field: True}))


# ------------------------------------------------------------------ parse (the section)


def load_push(tmp_path: Path, **changes: Any) -> push_service.PushNafConfig:
    raw = lab_push.topology()
    section = raw["functions"][lab_push.NAME]
    for key in ("gpi_placement", "pkg3_timeout_s", "skip_ue_check", "key_derivation"):
        del section[key]
    section.update(changes)
    source = tmp_path / "net.toml"
    source.write_text(tomli_w.dumps(raw), encoding="utf-8")
    return push_service.parse(registry.load(source), lab_push.NAME)


def test_parse_defaults(tmp_path: Path) -> None:
    cfg = load_push(tmp_path)
    assert cfg.settings == PushSettings()
    assert cfg.settings.placement == "trigger"
    assert cfg.settings.pkg3_timeout_s == 30.0
    assert cfg.settings.skip_ue_check is False
    assert cfg.settings.key_derivation is False
    assert cfg.settings.bootstrap_wait_s == 30.0
    assert cfg.fqdn == FQDN
    assert cfg.control_token_file is None
    assert (cfg.control_listen.host, cfg.push_psk_listen.host) == ("127.0.0.1", "127.0.0.1")


def test_parse_overrides(tmp_path: Path) -> None:
    cfg = load_push(tmp_path, gpi_placement="future-use", pkg3_timeout_s=5,
                    skip_ue_check=True, key_derivation=True, bootstrap_wait_s=7,
                    control_token_file="push-control.token")
    assert cfg.settings == PushSettings(placement="future-use", pkg3_timeout_s=5.0,
                                        skip_ue_check=True, key_derivation=True,
                                        bootstrap_wait_s=7.0)
    assert isinstance(cfg.settings.pkg3_timeout_s, float)
    assert cfg.control_token_file == "push-control.token"


@pytest.mark.parametrize("placement", ["digest", "future-use", "trigger"])
def test_parse_each_placement(tmp_path: Path, placement: str) -> None:
    assert load_push(tmp_path, gpi_placement=placement).settings.placement == placement


@pytest.mark.parametrize("changes", [
    pytest.param({"gpi_placement": "elsewhere"}, id="gpi_placement elsewhere"),
    pytest.param({"pkg3_timeout_s": 0}, id="pkg3_timeout_s 0"),
    pytest.param({"pkg3_timeout_s": 3601}, id="pkg3_timeout_s 3601"),
    pytest.param({"bootstrap_wait_s": 0}, id="bootstrap_wait_s 0"),
])
def test_parse_refuses(tmp_path: Path, changes: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        load_push(tmp_path, **changes)


def test_parse_names_the_bad_placement(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"gpi_placement.*'elsewhere'"):
        load_push(tmp_path, gpi_placement="elsewhere")


# ------------------------------------------------------------------ control API


@pytest.fixture
async def control(push: PushNaf) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(push_service.control_app(push, TOKEN)),
                          headers=AUTH) as c:
        yield c


@pytest.fixture
async def anonymous(push: PushNaf) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(push_service.control_app(push, TOKEN))) as c:
        yield c


async def send(client: TestClient[Any, Any], body: Any) -> tuple[int, Any]:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    resp = await client.post("/push/send", data=data,
                             headers={"Content-Type": "application/json"})
    return resp.status, await resp.json()


async def test_control_without_a_token_is_401(anonymous: TestClient[Any, Any],
                                              zpn_bsf: FakeZpn) -> None:
    status, _ = await send(anonymous, valid_order())
    assert status == 401
    resp = await anonymous.get("/push/outcomes")
    assert resp.status == 401
    assert "Bearer" in resp.headers.get("WWW-Authenticate", "")
    assert zpn_bsf.requests == []


async def test_control_with_a_wrong_token_is_401(anonymous: TestClient[Any, Any],
                                                 push: PushNaf) -> None:
    push.register(IMPI, "127.0.0.1", 9, None)
    for path in ("/push/outcomes", "/push/send"):
        resp = await anonymous.request("POST" if path == "/push/send" else "GET", path,
                                       headers={"Authorization": "Bearer wrong-token"},
                                       data=json.dumps(valid_order()))
        assert resp.status == 401
    assert push.outcomes == []


@pytest.mark.parametrize("body", [
    pytest.param("{not json", id="not JSON"),
    pytest.param([1, 2], id="a JSON list"),
    pytest.param(valid_order(embodiment=9), id="embodiment 9"),
    pytest.param(valid_order(payloads=["%%%"]), id="payload not base64"),
])
async def test_control_bad_order_is_400(control: TestClient[Any, Any], body: Any,
                                        zpn_bsf: FakeZpn) -> None:
    status, answer = await send(control, body)
    assert status == 400
    assert isinstance(answer["error"], str)
    assert answer["error"]
    assert zpn_bsf.requests == []


async def test_control_push_with_no_payloads_is_400(control: TestClient[Any, Any],
                                                    push: PushNaf) -> None:
    push.register(IMPI, "127.0.0.1", 9, None)
    status, answer = await send(control, valid_order(payloads=[]))
    assert status == 400
    assert f"1 to {MAX_PAYLOADS} payloads" in answer["error"]


async def test_control_outcomes_is_a_list(control: TestClient[Any, Any]) -> None:
    resp = await control.get("/push/outcomes")
    assert resp.status == 200
    assert await resp.json() == []


async def test_control_unregistered_ue_is_502(control: TestClient[Any, Any],
                                              zpn_bsf: FakeZpn) -> None:
    status, answer = await send(control, valid_order(impi=OTHER))
    assert status == 502
    assert "no registered push address" in answer["error"]
    assert answer["error"].startswith("ProtocolError")
    assert zpn_bsf.requests == []


async def test_control_bsf_refusal_is_502(control: TestClient[Any, Any], push: PushNaf,
                                          zpn_bsf: FakeZpn) -> None:
    push.register(IMPI, "127.0.0.1", 9, None)
    status, answer = await send(control, valid_order())
    assert status == 502
    assert f"result {GPIA_REFUSED}" in answer["error"]
    # one GPIR, for the user, under the generic push layer NAF_Id
    [request] = zpn_bsf.requests
    assert request.ue_id == IMPI
    assert request.naf_id == push.naf_id(1)
    assert push.sessions == {}
    resp = await control.get("/push/outcomes")
    assert await resp.json() == []


async def test_control_queues_embodiment_3(control: TestClient[Any, Any],
                                           push: PushNaf) -> None:
    status, answer = await send(control, valid_order(embodiment=3, gba="normal",
                                                     sa_kind="btid"))
    assert status == 200
    assert answer == {"impi": IMPI, "embodiment": 3, "session_id": 0,
                      "sa": {"kind": "btid", "id": ""}, "reused": False, "end": "queued",
                      "acknowledged": 0, "new_gpi_after_404": False, "gba": "normal"}
    assert [o.payloads for o in push.queued[IMPI]] == [(b"hello", b"\x00\xffworld")]


# ------------------------------------------------------------------ PushNaf


async def test_register_then_register_again(push: PushNaf) -> None:
    push.register(IMPI, "127.0.0.1", 4000, None)
    first = push.ues[IMPI]
    assert (first.host, first.port, first.btid) == ("127.0.0.1", 4000, None)
    changed = first.changed
    push.register(IMPI, "127.0.0.2", 4001, BTID)
    reg = push.ues[IMPI]
    assert (reg.host, reg.port, reg.btid) == ("127.0.0.2", 4001, BTID)
    assert changed.is_set()  # a waiting normal-GBA push wakes up
    assert not reg.changed.is_set()
    push.register(IMPI, "127.0.0.3", 4002, None)  # no B-TID: the known one stays
    assert (push.ues[IMPI].host, push.ues[IMPI].port, push.ues[IMPI].btid) == \
        ("127.0.0.3", 4002, BTID)
    assert list(push.ues) == [IMPI]


async def test_embodiment_3_is_queued(push: PushNaf, zpn_bsf: FakeZpn) -> None:
    order = PushOrder(IMPI, 3, (b"p",), gba="normal", sa_kind=IdKind.BTID)
    outcome = await push.push(order)
    assert (outcome.end, outcome.gba, outcome.embodiment, outcome.session_id) == \
        ("queued", "normal", 3, 0)
    assert (outcome.sa_kind, outcome.sa_id) == ("btid", "")
    pushed = await push.push(PushOrder(IMPI, 3, (b"q",), sa_value="named"))
    assert (pushed.end, pushed.gba, pushed.sa_id) == ("queued", "push", "named")
    assert push.queued[IMPI] == [order, PushOrder(IMPI, 3, (b"q",), sa_value="named")]
    assert zpn_bsf.requests == []  # no key until the UE starts its session
    assert push.outcomes == []


async def test_the_queue_per_ue_is_bounded(push: PushNaf) -> None:
    for n in range(MAX_QUEUED):
        await push.push(PushOrder(IMPI, 3, (bytes([n]),)))
    with pytest.raises(InvalidInput, match="too many pushes queued"):
        await push.push(PushOrder(IMPI, 3, (b"one too many",)))
    assert len(push.queued[IMPI]) == MAX_QUEUED
    # another UE has a queue of its own
    assert (await push.push(PushOrder(OTHER, 3, (b"x",)))).end == "queued"


@pytest.mark.parametrize("count", [0, MAX_PAYLOADS + 1])
async def test_push_payload_count_is_bounded(push: PushNaf, zpn_bsf: FakeZpn,
                                             count: int) -> None:
    push.register(IMPI, "127.0.0.1", 9, None)
    for embodiment in (1, 3):
        with pytest.raises(InvalidInput, match="payloads"):
            await push.push(PushOrder(IMPI, embodiment, tuple(b"p" for _ in range(count))))
    assert push.queued == {}
    assert zpn_bsf.requests == []


async def test_push_takes_sixteen_payloads(push: PushNaf) -> None:
    outcome = await push.push(PushOrder(IMPI, 3, tuple(b"p" for _ in range(MAX_PAYLOADS))))
    assert outcome.end == "queued"


async def test_resolve_an_unknown_ptid_is_none(push: PushNaf, zn_bsf: FakeZn) -> None:
    assert await push.resolve(True, f"0011223344556677@{FQDN}", push.naf_id(4)) is None
    assert zn_bsf.requests == []  # a P-TID is never asked for over Zn


async def test_resolve_an_unknown_btid_asks_the_bsf(push: PushNaf, zn_bsf: FakeZn) -> None:
    assert await push.resolve(False, BTID, push.naf_id(4)) is None
    [request] = zn_bsf.requests
    assert (request.btid, request.naf_id) == (BTID, push.naf_id(4))


async def test_resolve_a_held_key_only_for_the_psk_tls_naf_id(push: PushNaf) -> None:
    ptid = f"8899aabbccddeeff@{FQDN}"
    key = PushKey(b"K" * 32, ptid, datetime.now(UTC) + timedelta(hours=1), owner=IMPI)
    push.psk_keys[ptid] = key
    assert await push.resolve(True, ptid, push.naf_id(4)) is key
    assert await push.resolve(False, ptid, push.naf_id(4)) is key
    assert await push.resolve(True, ptid, push.naf_id(1)) is None
    assert await push.resolve(True, ptid, FQDN.encode() + ua_protocols.psk_tls(
        ua_protocols.TLS_PSK_WITH_AES_256_CBC_SHA)) is None
    assert await push.resolve(True, ptid, b"other.example.org" + push.naf_id(4)[-5:]) is None


def test_naf_ids(store: NafStore, zn_bsf: FakeZn, zpn_bsf: FakeZpn) -> None:
    push = make_push(store, zn_bsf, zpn_bsf)
    for embodiment in (1, 2, 3, 5):
        assert push.naf_id(embodiment) == FQDN.encode() + bytes.fromhex("0100000005")
    assert push.naf_id(4) == FQDN.encode() + bytes.fromhex("010001008c")
    assert push.naf_id(4).endswith(ua_protocols.psk_tls(
        ua_protocols.TLS_PSK_WITH_AES_128_CBC_SHA))
    other = make_push(store, zn_bsf, zpn_bsf, PushSettings(
        psk_suite=ua_protocols.TLS_PSK_WITH_AES_128_GCM_SHA256))
    assert other.naf_id(4) == FQDN.encode() + bytes.fromhex("01000100a8")


async def test_dm_refuses_garbage(push: PushNaf) -> None:
    with pytest.raises(CodecError):
        await push.dm(b"garbage")


async def test_dm_refuses_an_unknown_session_that_is_not_a_pkg1(push: PushNaf) -> None:
    message = syncml.encode(syncml.Message(syncml.SyncHdr("77", 1, "t", "s")))
    with pytest.raises(CodecError, match="no push session"):
        await push.dm(message)
    assert push.sessions == {}


async def test_dm_refuses_a_non_numeric_session(push: PushNaf) -> None:
    message = syncml.encode(syncml.Message(syncml.SyncHdr("abc", 1, "t", "s")))
    with pytest.raises(CodecError, match="no push session"):
        await push.dm(message)


async def test_push_waiting_refused_leaves_no_session(push: PushNaf) -> None:
    with pytest.raises(InvalidInput):
        await push.push_waiting(PushOrder(IMPI, 4, (b"x" * (MAX_PUSH + 1),), gba="normal"))
    assert push.sessions == {}


async def test_push_waiting_payload_count_is_bounded(store: NafStore, zn_bsf: FakeZn,
                                                     zpn_bsf: FakeZpn) -> None:
    push = make_push(store, zn_bsf, zpn_bsf, PushSettings(pkg3_timeout_s=0.05))
    await push.start("127.0.0.1")
    try:
        with pytest.raises(InvalidInput):
            await push.push_waiting(PushOrder(IMPI, 4, (), gba="normal"))
    finally:
        push.close()


def test_module_bounds() -> None:
    assert (push_naf.MAX_PAYLOADS, push_naf.MAX_QUEUED) == (16, 64)

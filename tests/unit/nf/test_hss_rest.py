"""The HSS REST provisioning API (gba.nf.hss_rest) through aiohttp's in-process test
server: bearer authentication (RFC 6750), SQN forward only (TS 33.102 Annex C.3), and the
HSS section's REST keys (gba.nf.hss_service)."""

from __future__ import annotations

import hmac
import json
import os
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gba import config
from gba.crypto.milenage import opc_from_op
from gba.errors import ConfigError
from gba.nf import hss_service, registry
from gba.nf.hss_rest import make_app, new_token, read_token_file, write_token_file
from gba.store.base import Subscriber, SubscriberStore
from gba.store.factory import open_subscriber_store
from vectors import milenage_sets, ts35208_set

IMPI = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
K, OPC = (value.hex() for value in ts35208_set(1))  # TS 35.208 test set 1
OP = next(s["op"] for s in milenage_sets() if s["set"] == 1)
PATH = f"/subscribers/{IMPI}"
TOKEN = new_token(lambda n: bytes(range(n)))
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def store() -> AsyncIterator[SubscriberStore]:
    s = open_subscriber_store("memory:")
    yield s
    await s.close()


@pytest.fixture
async def client(store: SubscriberStore) -> AsyncIterator[TestClient[Any, Any]]:
    """A client that sends the right bearer token with every request."""
    async with TestClient(TestServer(make_app(store, TOKEN.encode())), headers=AUTH) as c:
        yield c


@pytest.fixture
async def anonymous(store: SubscriberStore) -> AsyncIterator[TestClient[Any, Any]]:
    """A client that sends no Authorization header of its own."""
    async with TestClient(TestServer(make_app(store, TOKEN.encode()))) as c:
        yield c


def assert_no_keys(text: str, *secrets: str) -> None:
    for secret in (K, OPC, *secrets):
        assert secret.lower() not in text.lower()


async def put(client: TestClient[Any, Any], body: Any, path: str = PATH) -> tuple[int, Any]:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    resp = await client.put(path, data=data, headers={"Content-Type": "application/json"})
    return resp.status, await resp.json()


# ------------------------------------------------------------------ PUT / GET / DELETE / list


async def test_put_stores_the_subscriber_and_answers_its_view(
        client: TestClient[Any, Any], store: SubscriberStore) -> None:
    status, body = await put(client, {"k": K, "opc": OPC, "imsi": "001010000000001"})
    assert status == 200
    assert body == {"impi": IMPI, "imsi": "001010000000001", "sqn": "000000000000", "seq": 0,
                    "ind": 0, "amf": "0000", "guss": None}
    stored = await store.get_subscriber(IMPI)
    assert (stored.k, stored.opc) == (bytes.fromhex(K), bytes.fromhex(OPC))


async def test_put_with_op_stores_the_derived_opc(client: TestClient[Any, Any],
                                                  store: SubscriberStore) -> None:
    status, _ = await put(client, {"k": K, "op": OP})
    assert status == 200
    assert (await store.get_subscriber(IMPI)).opc == bytes.fromhex(OPC)


async def test_get_returns_what_put_stored(client: TestClient[Any, Any]) -> None:
    _, stored = await put(client, {"k": K, "opc": OPC, "sqn": "000000000041", "amf": "8000"})
    resp = await client.get(PATH)
    assert resp.status == 200
    assert await resp.json() == stored
    assert (stored["seq"], stored["ind"], stored["amf"]) == (2, 1, "8000")


async def test_put_replaces_an_existing_subscriber(client: TestClient[Any, Any]) -> None:
    await put(client, {"k": K, "opc": OPC, "imsi": "001010000000001"})
    await put(client, {"k": K, "opc": OPC, "imsi": "001010000000002"})
    resp = await client.get(PATH)
    assert (await resp.json())["imsi"] == "001010000000002"


async def test_list_returns_every_subscriber(client: TestClient[Any, Any]) -> None:
    await put(client, {"k": K, "opc": OPC})
    await put(client, {"k": K, "opc": OPC}, path="/subscribers/second@example.org")
    resp = await client.get("/subscribers")
    assert resp.status == 200
    assert sorted(s["impi"] for s in await resp.json()) == [IMPI, "second@example.org"]


async def test_list_of_an_empty_hss_is_empty(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/subscribers")
    assert await resp.json() == []


async def test_delete_removes_the_subscriber(client: TestClient[Any, Any]) -> None:
    await put(client, {"k": K, "opc": OPC})
    resp = await client.delete(PATH)
    assert resp.status == 204
    assert (await client.get(PATH)).status == 404


async def test_keys_are_never_returned(client: TestClient[Any, Any]) -> None:
    derived = opc_from_op(bytes.fromhex(K), bytes.fromhex(OP)).hex()
    status, body = await put(client, {"k": K, "op": OP})
    assert status == 200
    texts = [json.dumps(body)]
    for path in (PATH, "/subscribers"):
        texts.append(await (await client.get(path)).text())
    for text in texts:
        assert_no_keys(text, OP, derived)
        assert '"k"' not in text
        assert '"opc"' not in text


# ------------------------------------------------------------------ 404


async def test_get_of_an_unknown_impi_is_404(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/subscribers/nobody@example.org")
    assert resp.status == 404
    assert "error" in await resp.json()


async def test_delete_of_an_unknown_impi_is_404(client: TestClient[Any, Any]) -> None:
    resp = await client.delete("/subscribers/nobody@example.org")
    assert resp.status == 404


# ------------------------------------------------------------------ 400


@pytest.mark.parametrize(("body", "says"), [
    ({"k": "zz" * 16, "opc": OPC}, "K"),
    ({"k": K, "opc": OPC[:-2]}, "OPc"),
    ({"k": K, "opc": OPC, "amf": "xyz0"}, "AMF"),
    ({"k": K, "opc": OPC, "ki": K}, "unknown fields: ki"),
    ({"k": K, "opc": OPC, "K": K}, "unknown fields: K"),
    ({"opc": OPC}, "k is required"),
    ({"k": K}, "exactly one of OPc and OP"),
    ({"k": K, "opc": OPC, "op": OP}, "exactly one of OPc and OP"),
    ({"k": K, "opc": OPC, "imsi": "12"}, "IMSI"),
    ({"k": K, "opc": OPC, "guss": "<guss"}, "GUSS"),
    ({"k": 5, "opc": OPC}, "object of strings"),
    ([K, OPC], "object of strings"),
    ("{not json", "not JSON"),
    (b"\xff\xfe", "not JSON"),
])
async def test_bad_input_is_400_with_a_reason(client: TestClient[Any, Any], store: SubscriberStore,
                                              body: Any, says: str) -> None:
    status, answer = await put(client, body)
    assert status == 400
    assert says in answer["error"]
    assert await store.list_subscribers() == []


async def test_error_about_a_bad_key_does_not_echo_it(client: TestClient[Any, Any]) -> None:
    almost = K[:-1] + "g"
    _, answer = await put(client, {"k": almost, "opc": OPC})
    assert_no_keys(json.dumps(answer), almost)


# ------------------------------------------------------------------ OpenAPI


async def test_openapi_document_describes_the_api(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/openapi.json")
    assert resp.status == 200
    doc = json.loads(await resp.text())
    assert doc["openapi"].startswith("3.0.")
    assert {"title", "version"} <= set(doc["info"])
    assert set(doc["paths"]) == {"/openapi.json", "/subscribers", "/subscribers/{impi}"}
    assert set(doc["paths"]["/subscribers"]) == {"get"}
    assert {"get", "put", "delete"} <= set(doc["paths"]["/subscribers/{impi}"])


async def test_openapi_input_schema_lists_exactly_the_accepted_fields(
        client: TestClient[Any, Any]) -> None:
    doc = await (await client.get("/openapi.json")).json()
    put_op = doc["paths"]["/subscribers/{impi}"]["put"]
    schema = put_op["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == {"k", "opc", "op", "imsi", "sqn", "amf", "guss"}
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["k"]


async def test_openapi_declares_the_bearer_scheme_for_every_operation_but_itself(
        client: TestClient[Any, Any]) -> None:
    doc = await (await client.get("/openapi.json")).json()
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": doc["components"][
            "securitySchemes"]["bearer"]["description"]}
    assert doc["security"] == [{"bearer": []}]
    assert doc["paths"]["/openapi.json"]["get"]["security"] == []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method != "parameters" and path != "/openapi.json":
                assert "401" in op["responses"], f"{method} {path}"


# ------------------------------------------------------------------ authentication (RFC 6750)

EVERY_OPERATION = [("GET", "/subscribers"), ("GET", PATH), ("PUT", PATH), ("DELETE", PATH),
                   ("GET", "/no-such-path")]


async def send(client: TestClient[Any, Any], method: str, path: str,
               headers: dict[str, str] | None = None) -> Any:
    body = json.dumps({"k": "00" * 16, "opc": "00" * 16}) if method == "PUT" else None
    return await client.request(method, path, data=body, headers=headers)


@pytest.mark.parametrize(("method", "path"), EVERY_OPERATION)
async def test_a_request_without_a_token_is_401_with_a_bearer_challenge(
        anonymous: TestClient[Any, Any], store: SubscriberStore, method: str, path: str
        ) -> None:
    await store.put_subscriber(Subscriber(IMPI, bytes.fromhex(K), bytes.fromhex(OPC)))
    resp = await send(anonymous, method, path)
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="gba-hss"'
    assert (await store.get_subscriber(IMPI)).k == bytes.fromhex(K)


@pytest.mark.parametrize(("method", "path"), EVERY_OPERATION)
async def test_a_wrong_token_is_401_invalid_token(
        anonymous: TestClient[Any, Any], store: SubscriberStore, method: str, path: str
        ) -> None:
    await store.put_subscriber(Subscriber(IMPI, bytes.fromhex(K), bytes.fromhex(OPC)))
    resp = await send(anonymous, method, path, {"Authorization": f"Bearer {TOKEN[:-1]}x"})
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="gba-hss", error="invalid_token"'
    assert (await store.get_subscriber(IMPI)).k == bytes.fromhex(K)


@pytest.mark.parametrize("authorization", [
    f"Basic {TOKEN}", "Bearer", "Bearer ", TOKEN, f"Bearer {TOKEN}{TOKEN}",
    f"Bearer {TOKEN[:-1]}\u00e9"])
async def test_anything_but_bearer_and_the_token_is_401(
        anonymous: TestClient[Any, Any], authorization: str) -> None:
    resp = await anonymous.get("/subscribers", headers={"Authorization": authorization})
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer ")


async def test_the_scheme_name_is_case_insensitive(anonymous: TestClient[Any, Any]) -> None:
    resp = await anonymous.get("/subscribers", headers={"Authorization": f"bearer {TOKEN}"})
    assert resp.status == 200


async def test_the_openapi_document_needs_no_token(anonymous: TestClient[Any, Any]) -> None:
    assert (await anonymous.get("/openapi.json")).status == 200


async def test_the_token_is_compared_in_constant_time(
        anonymous: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    compare = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)  # the module hss_rest calls
    await anonymous.get("/subscribers", headers={"Authorization": "Bearer wrong"})
    assert calls == [(b"wrong", TOKEN.encode())]


async def test_a_wrong_token_is_not_echoed(anonymous: TestClient[Any, Any]) -> None:
    wrong = new_token(lambda n: b"\x01" * n)
    resp = await anonymous.get("/subscribers", headers={"Authorization": f"Bearer {wrong}"})
    assert wrong not in await resp.text()
    assert wrong not in str(resp.headers)


def test_an_app_with_a_short_token_is_refused(store: SubscriberStore) -> None:
    with pytest.raises(ConfigError, match="at least 32"):
        make_app(store, b"short")


# ------------------------------------------------------------------ SQN forward only


async def test_put_lowering_sqn_is_409_and_changes_nothing(
        client: TestClient[Any, Any], store: SubscriberStore) -> None:
    await put(client, {"k": K, "opc": OPC, "sqn": "000000000041", "imsi": "001010000000001"})
    status, answer = await put(client, {"k": OPC, "opc": K, "sqn": "000000000040"})
    assert status == 409
    assert "000000000040" in answer["error"]
    assert "000000000041" in answer["error"]
    assert "Annex C.3" in answer["error"]
    stored = await store.get_subscriber(IMPI)
    assert (stored.k, stored.sqn, stored.imsi) == (bytes.fromhex(K), 0x41, "001010000000001")


async def test_put_without_sqn_keeps_the_stored_sqn(client: TestClient[Any, Any],
                                                    store: SubscriberStore) -> None:
    await put(client, {"k": K, "opc": OPC, "sqn": "000000000041"})
    status, answer = await put(client, {"k": K, "opc": OPC})
    assert (status, answer["sqn"]) == (200, "000000000041")
    assert (await store.get_subscriber(IMPI)).sqn == 0x41


async def test_put_may_replace_k_and_opc_keeping_sqn_forward(
        client: TestClient[Any, Any], store: SubscriberStore) -> None:
    await put(client, {"k": K, "opc": OPC, "sqn": "000000000041"})
    status, answer = await put(client, {"k": OPC, "opc": K, "sqn": "000000000041"})
    assert (status, answer["sqn"]) == (200, "000000000041")
    stored = await store.get_subscriber(IMPI)
    assert (stored.k, stored.opc) == (bytes.fromhex(OPC), bytes.fromhex(K))


async def test_put_raising_sqn_is_stored(client: TestClient[Any, Any],
                                         store: SubscriberStore) -> None:
    await put(client, {"k": K, "opc": OPC, "sqn": "000000000041"})
    status, _ = await put(client, {"k": K, "opc": OPC, "sqn": "000000000100"})
    assert status == 200
    assert (await store.get_subscriber(IMPI)).sqn == 0x100


async def test_put_after_an_issued_vector_cannot_reissue_its_sqn(
        client: TestClient[Any, Any], store: SubscriberStore) -> None:
    await put(client, {"k": K, "opc": OPC})
    _, issued = await store.issue_sqn(IMPI, 0)
    status, _ = await put(client, {"k": K, "opc": OPC, "sqn": "000000000000"})
    assert status == 409
    assert (await store.issue_sqn(IMPI, 0))[1] > issued


# ------------------------------------------------------------------ the token file


def test_a_written_token_file_is_owner_only_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "hss-rest.token"
    write_token_file(path, lambda n: bytes(range(n)))
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_token_file(path) == TOKEN.encode()
    assert len(TOKEN) == 43


def test_writing_over_an_existing_token_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hss-rest.token"
    write_token_file(path)
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="cannot create"):
        write_token_file(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_token_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "hss-rest.token"
    write_token_file(path)
    path.chmod(mode)
    with pytest.raises(ConfigError, match="owner-only"):
        read_token_file(path)


@pytest.mark.parametrize("content", ["", "short", "x" * 31, "has space " + "x" * 32])
def test_a_token_file_without_a_token_is_refused_without_echoing_it(
        tmp_path: Path, content: str) -> None:
    path = tmp_path / "hss-rest.token"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="RFC 6750") as caught:
        read_token_file(path)
    assert not content or content not in str(caught.value)


def test_a_missing_token_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unreadable"):
        read_token_file(tmp_path / "absent.token")


# ------------------------------------------------------------------ the HSS section's REST keys


def hss_topology(tmp_path: Path, **keys: Any) -> Any:
    data = config.normalise(tomllib.loads(config.SAMPLE_CONFIG.read_text(encoding="utf-8")))
    data["functions"]["hss"].update(keys)
    return registry.parse(data, tmp_path / "network.toml")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "[::1]", "localhost"])
def test_rest_listen_on_loopback_is_accepted(tmp_path: Path, host: str) -> None:
    cfg = registry.config_of(hss_topology(tmp_path, rest_listen=f"{host}:0"), "hss")
    assert (cfg.rest_public, cfg.rest_token_file) == (False, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "[::]", "hss.example.org"])
def test_rest_listen_off_loopback_is_refused_unless_rest_public(tmp_path: Path,
                                                                 host: str) -> None:
    with pytest.raises(ConfigError, match=r"rest_listen .* not a loopback .* rest_public"):
        hss_topology(tmp_path, rest_listen=f"{host}:0")
    cfg = registry.config_of(hss_topology(tmp_path, rest_listen=f"{host}:0", rest_public=True),
                             "hss")
    assert cfg.rest_public


def test_rest_token_file_is_read_relative_to_the_config(tmp_path: Path) -> None:
    topology = hss_topology(tmp_path, rest_token_file="hss-rest.token")
    cfg = registry.config_of(topology, "hss")
    assert topology.file(cfg.rest_token_file) == (tmp_path / "hss-rest.token").resolve()


async def test_an_hss_without_rest_token_file_does_not_start(tmp_path: Path) -> None:
    topology = hss_topology(tmp_path)
    with pytest.raises(ConfigError, match=r"functions\.hss\.rest_token_file is missing"):
        async with hss_service.running(registry.config_of(topology, "hss"), topology, "hss"):
            pass
    assert not (tmp_path / "hss.sqlite").exists()


async def test_an_hss_whose_token_file_others_can_read_does_not_start(tmp_path: Path) -> None:
    write_token_file(tmp_path / "hss-rest.token")
    os.chmod(tmp_path / "hss-rest.token", 0o644)
    topology = hss_topology(tmp_path, rest_token_file="hss-rest.token")
    with pytest.raises(ConfigError, match="owner-only"):
        async with hss_service.running(registry.config_of(topology, "hss"), topology, "hss"):
            pass

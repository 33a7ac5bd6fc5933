"""The HSS REST provisioning API (gba.nf.hss_rest) through aiohttp's in-process test server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gba.crypto.milenage import opc_from_op
from gba.nf.hss_rest import make_app
from gba.store.base import SubscriberStore
from gba.store.factory import open_subscriber_store
from vectors import milenage_sets, ts35208_set

IMPI = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
K, OPC = (value.hex() for value in ts35208_set(1))  # TS 35.208 test set 1
OP = next(s["op"] for s in milenage_sets() if s["set"] == 1)
PATH = f"/subscribers/{IMPI}"


@pytest.fixture
async def store() -> AsyncIterator[SubscriberStore]:
    s = open_subscriber_store("memory:")
    yield s
    await s.close()


@pytest.fixture
async def client(store: SubscriberStore) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(make_app(store))) as c:
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
    assert set(doc["paths"]) == {"/subscribers", "/subscribers/{impi}"}
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

"""The AuC service over real Diameter on loopback (gba.nf.auc_service): a softswitch's
DiameterClient exchanges CER/CEA with the running service, asks s3 and gets s4, sends
s11 and finds it recorded; an unknown terminal is refused 5110; a peer that is not an
allowed softswitch is refused at CER."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gba.config import DiameterNodeConfig, free_port
from gba.nf import auc_service, registry
from gba.nf.auc import Auc
from gba.nf.common import peer_identity
from gba.protocols import ngn, ngn_auc
from gba.protocols.ngn_auc import NgnAuthRefusal
from gba.protocols.ngn_flow import Refusal, S3AuthRequest, S4AuthVector, S11Registered
from gba.store.auc import Node, Terminal, open_auc_store
from gba.transport.diameter import DiameterClient, ask, session_id_factory
from gba.transport.diameter_link import DiameterUnavailable

pytestmark = pytest.mark.ngn

KC, KSS = bytes(range(16)), bytes(range(50, 66))
ID_C, ID_SS = "alice@ngn.example", "ss.ngn.example"
SS = peer_identity(DiameterNodeConfig("ss.ngn.example", "ngn.example"))


@dataclass
class Net:
    auc: Auc
    client: DiameterClient
    port: int


async def provision(path: Path) -> None:
    store = open_auc_store(str(path))
    await store.put_terminal(Terminal(ID_C, KC))
    await store.put_node(Node(ID_SS, KSS))  # no proxy: the softswitch's own key
    await store.close()


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[Net]:
    await provision(tmp_path / "auc.sqlite")
    port = free_port()
    raw = {"networks": {"a": {"realm": "ngn.example"}},
           "functions": {"auc": {"kind": "auc", "diameter_host": "auc.ngn.example",
                                 "diameter": f"127.0.0.1:{port}", "store": "auc.sqlite",
                                 "softswitch_hosts": [SS.origin_host]}}}
    topology = registry.parse(raw, tmp_path / "net.toml")
    cfg = registry.config_of(topology, "auc")
    assert registry.endpoints(topology, "auc") == {"ngn_auc": cfg.listen}
    async with auc_service.running(cfg, topology, "auc") as auc:
        client = DiameterClient(SS, [ngn_auc.APPLICATION], "127.0.0.1", port)
        await client.start()
        try:
            await client.wait_open()
            yield Net(auc, client, port)
        finally:
            await client.close()


async def test_s3_gets_s4_over_tcp(net: Net) -> None:
    sid = session_id_factory(SS.origin_host)
    request = ngn_auc.build_auth_request(SS, "ngn.example", sid(), S3AuthRequest(ID_C, ID_SS))
    vector = await ask(net.client, request, ngn_auc.parse_auth_answer)
    assert isinstance(vector, S4AuthVector)
    assert vector.authenticator == ngn.authenticator(KC, vector.rand, ID_C)
    assert ngn.unwrap(KC, vector.e_kc) == ngn.unwrap(KSS, vector.e_ksp)


async def test_unknown_terminal_is_refused_5110(net: Net) -> None:
    request = ngn_auc.build_auth_request(SS, "ngn.example", "ss;1;9",
                                         S3AuthRequest("nobody@ngn.example", ID_SS))
    answer = await net.client.request(request)
    assert ngn_auc.parse_auth_answer(answer) == NgnAuthRefusal(Refusal.UNKNOWN_TERMINAL, 5110)


async def test_s11_is_recorded(net: Net) -> None:
    note = S11Registered(ID_C, ID_SS, "203.0.113.5")
    answer = await net.client.request(
        ngn_auc.build_notice_request(SS, "ngn.example", "ss;1;10", note))
    assert ngn_auc.parse_notice_answer(answer) is None
    registration = await net.auc.store.get_registration(ID_C)
    assert (registration.id_sp, registration.address) == (ID_SS, "203.0.113.5")


async def test_a_peer_that_is_not_a_softswitch_is_refused(net: Net) -> None:
    stranger = peer_identity(DiameterNodeConfig("x.ngn.example", "ngn.example"))
    client = DiameterClient(stranger, [ngn_auc.APPLICATION], "127.0.0.1", net.port,
                            retry_delay=0.05, max_retry_delay=0.05)
    await client.start()
    try:
        with pytest.raises(DiameterUnavailable):
            await client.wait_open(timeout=0.5)
    finally:
        await client.close()

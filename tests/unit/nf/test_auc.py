"""The AuC core (gba.nf.auc): s4 for NGN and AKA terminals per seed 001, the Diameter
handler's answers (vector, refusals, peer and codec errors, s11 recorded), and the
``gba ngn`` provisioning commands."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from ipaddress import ip_address
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gba.cli.main import app
from gba.crypto import aka
from gba.crypto.milenage import Milenage
from gba.errors import InvalidInput
from gba.nf.auc import Auc, UnknownProxy, UnknownTerminal, authenticate, authenticate_aka
from gba.protocols import ngn, ngn_auc
from gba.protocols.diameter import Message, PeerIdentity
from gba.protocols.ngn_auc import AkaVector, NgnAuthRefusal
from gba.protocols.ngn_flow import Refusal, S3AuthRequest, S4AuthVector, S11Registered
from gba.store.auc import AucStore, Node, Registration, Terminal, TerminalKind, open_auc_store
from vectors import ts35208_set

pytestmark = pytest.mark.ngn

KC = bytes(range(16))
KSP = bytes(range(100, 116))
K_AKA, OPC = ts35208_set(1)
ID_C, ID_SP, ID_AKA = "alice@ngn.example", "sp1.ngn.example", "bob@ngn.example"
SS = PeerIdentity("ss.ngn.example", "ngn.example", (ip_address("127.0.0.1"),))
AUC = PeerIdentity("auc.ngn.example", "ngn.example", (ip_address("127.0.0.1"),))
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


# ------------------------------------------------------------------ pure core


def test_authenticate_follows_the_seed() -> None:
    vector = authenticate(Terminal(ID_C, KC), Node(ID_SP, KSP), S3AuthRequest(ID_C, ID_SP),
                          lambda n: b"\x01" * n if n == 16 else b"")
    assert isinstance(vector, S4AuthVector)
    assert vector.rand == b"\x01" * 16
    assert vector.authenticator == ngn.authenticator(KC, vector.rand, ID_C)
    kc_sp = ngn.unwrap(KC, vector.e_kc)
    assert kc_sp == ngn.unwrap(KSP, vector.e_ksp)


def test_authenticate_draws_rand_then_kc_sp() -> None:
    draws = iter([b"\xaa" * 16, b"\xbb" * 16])
    vector = authenticate(Terminal(ID_C, KC), Node(ID_SP, KSP), S3AuthRequest(ID_C, ID_SP),
                          lambda n: next(draws))
    assert vector.rand == b"\xaa" * 16
    assert ngn.unwrap(KC, vector.e_kc) == b"\xbb" * 16


def test_authenticate_aka_gives_a_vector_the_usim_accepts() -> None:
    terminal = Terminal(ID_AKA, K_AKA, TerminalKind.AKA, OPC)
    sqn = aka.next_sqn(0)
    vector = authenticate_aka(terminal, sqn, Node(ID_SP, KSP), S3AuthRequest(ID_AKA, ID_SP))
    assert isinstance(vector, AkaVector)
    result = aka.Usim(K_AKA, OPC).authenticate(vector.rand, vector.autn)
    assert isinstance(result, aka.AkaSuccess)
    assert (result.res, result.ck, result.ik) == (vector.xres, vector.ck, vector.ik)
    assert vector.autn[6:8] == b"\x80\x00"  # default AMF
    expected = Milenage(K_AKA, OPC).compute(vector.rand, sqn.to_bytes(6, "big"), b"\x80\x00")
    assert vector.xres == expected.res
    kc_sp = ngn_auc.aka_unwrap(vector.ck, vector.ik, vector.e_kc)
    assert kc_sp == ngn.unwrap(KSP, vector.e_ksp)


def test_core_refuses_mismatched_records_and_kinds() -> None:
    req = S3AuthRequest(ID_C, ID_SP)
    with pytest.raises(UnknownTerminal):
        authenticate(Terminal("other", KC), Node(ID_SP, KSP), req)
    with pytest.raises(UnknownProxy):
        authenticate(Terminal(ID_C, KC), Node("other", KSP), req)
    with pytest.raises(InvalidInput):
        authenticate(Terminal(ID_C, K_AKA, TerminalKind.AKA, OPC), Node(ID_SP, KSP), req)
    with pytest.raises(InvalidInput):
        authenticate_aka(Terminal(ID_C, KC), 32, Node(ID_SP, KSP), req)


# ------------------------------------------------------------------ the handler


@pytest.fixture
async def store() -> AucStore:
    s = open_auc_store("memory:")
    await s.put_terminal(Terminal(ID_C, KC))
    await s.put_terminal(Terminal(ID_AKA, K_AKA, TerminalKind.AKA, OPC))
    await s.put_node(Node(ID_SP, KSP))
    return s


def auc(store: AucStore, allowed: frozenset[str] | None = None) -> Auc:
    return Auc(store, AUC, allowed_peers=allowed, clock=lambda: NOW)


def s3(id_c: str = ID_C, id_sp: str = ID_SP) -> Message:
    return ngn_auc.build_auth_request(SS, "ngn.example", "ss;1;1", S3AuthRequest(id_c, id_sp))


async def test_handle_answers_an_ngn_vector(store: AucStore) -> None:
    answer = await auc(store).handle(s3(), SS.origin_host)
    vector = ngn_auc.parse_auth_answer(Message.decode(answer.encode()))
    assert isinstance(vector, S4AuthVector)
    assert vector.authenticator == ngn.authenticator(KC, vector.rand, ID_C)


async def test_handle_answers_an_aka_vector_and_commits_sqn(store: AucStore) -> None:
    node = auc(store)
    first = ngn_auc.parse_auth_answer(await node.handle(s3(ID_AKA), SS.origin_host))
    second = ngn_auc.parse_auth_answer(await node.handle(s3(ID_AKA), SS.origin_host))
    assert isinstance(first, AkaVector)
    assert isinstance(second, AkaVector)
    assert (await store.get_terminal(ID_AKA)).sqn == 2 << 5
    usim = aka.Usim(K_AKA, OPC)
    assert isinstance(usim.authenticate(first.rand, first.autn), aka.AkaSuccess)
    assert isinstance(usim.authenticate(second.rand, second.autn), aka.AkaSuccess)


@pytest.mark.parametrize(("id_c", "id_sp", "refusal", "code"), [
    ("nobody", ID_SP, Refusal.UNKNOWN_TERMINAL, 5110),
    (ID_C, "sp9.ngn.example", Refusal.UNKNOWN_PROXY, 5111)])
async def test_handle_refuses_unknown_ids(store: AucStore, id_c: str, id_sp: str,
                                          refusal: Refusal, code: int) -> None:
    answer = await auc(store).handle(s3(id_c, id_sp), SS.origin_host)
    assert ngn_auc.parse_auth_answer(answer) == NgnAuthRefusal(refusal, code)


async def test_handle_refuses_peers_and_other_commands(store: AucStore) -> None:
    assert (await auc(store).handle(s3(), "someone.else")).result_code == 3010
    allowed = auc(store, frozenset({"other.ngn.example"}))
    assert (await allowed.handle(s3(), SS.origin_host)).result_code == 3010
    other = Message.new(303, ngn_auc.APP_NGN_AUC, avps=s3().avps)
    assert (await auc(store).handle(other, SS.origin_host)).result_code == 3001


async def test_handle_answers_malformed_requests_with_their_code(store: AucStore) -> None:
    request = s3()
    missing = request.with_avps(a for a in request.avps if a.code != 1)
    assert (await auc(store).handle(missing, SS.origin_host)).result_code == 5005


async def test_s11_is_recorded_and_answered(store: AucStore) -> None:
    note = S11Registered(ID_C, ID_SP, "198.51.100.4")
    request = ngn_auc.build_notice_request(SS, "ngn.example", "ss;1;2", note)
    answer = await auc(store).handle(request, SS.origin_host)
    assert ngn_auc.parse_notice_answer(answer) is None
    assert await store.get_registration(ID_C) == Registration(ID_C, ID_SP, "198.51.100.4",
                                                              NOW)
    unknown = ngn_auc.build_notice_request(SS, "ngn.example", "ss;1;3",
                                           S11Registered("nobody", ID_SP, "198.51.100.4"))
    refused = await auc(store).handle(unknown, SS.origin_host)
    assert ngn_auc.parse_notice_answer(refused) == NgnAuthRefusal(Refusal.UNKNOWN_TERMINAL, 5110)


# ------------------------------------------------------------------ gba ngn


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "net.toml"
    path.write_text('[networks.a]\nrealm = "ngn.example"\n\n[functions.auc]\nkind = "auc"\n'
                    'diameter_host = "auc.ngn.example"\ndiameter = "127.0.0.1:0"\n'
                    'store = "auc.sqlite"\n', encoding="utf-8")
    return path


def test_cli_add_terminal_and_node(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    runner = CliRunner()
    out = runner.invoke(app, ["ngn", "add-terminal", "--config", str(config), "--id", ID_C,
                              "--k", KC.hex()])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == {"id": ID_C, "kind": "ngn"}
    out = runner.invoke(app, ["ngn", "add-terminal", "--config", str(config), "--id", ID_AKA,
                              "--k", K_AKA.hex(), "--opc", OPC.hex(), "--amf", "9000"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == {"id": ID_AKA, "kind": "aka", "amf": "9000",
                                      "sqn": "000000000000"}
    out = runner.invoke(app, ["ngn", "add-node", "--config", str(config), "--id", ID_SP,
                              "--k", KSP.hex()])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == {"id": ID_SP, "kind": "node"}
    for secret in (KC.hex(), K_AKA.hex(), OPC.hex(), KSP.hex()):
        assert secret not in out.output
    asyncio.run(check_cli_store(tmp_path / "auc.sqlite"))


async def check_cli_store(path: Path) -> None:
    store = open_auc_store(str(path))
    assert (await store.get_terminal(ID_C)).k == KC
    aka_t = await store.get_terminal(ID_AKA)
    assert (aka_t.kind, aka_t.opc, aka_t.amf) == (TerminalKind.AKA, OPC, b"\x90\x00")
    assert (await store.get_node(ID_SP)).k == KSP
    await store.close()


def test_cli_add_terminal_with_op_derives_opc(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    out = CliRunner().invoke(app, ["ngn", "add-terminal", "--config", str(config), "--id",
                                   ID_AKA, "--k", K_AKA.hex(), "--op", "00" * 16])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["amf"] == "8000"


@pytest.mark.parametrize("args", [
    ["--k", KC.hex(), "--amf", "8000"],  # --amf without --opc/--op
    ["--k", KC.hex(), "--opc", OPC.hex(), "--op", OPC.hex()],
    ["--k", "abcd"],
    ["--k", KC.hex(), "--opc", OPC.hex(), "--amf", "80"]])
def test_cli_add_terminal_refuses_bad_fields(tmp_path: Path, args: list[str]) -> None:
    config = write_config(tmp_path)
    out = CliRunner().invoke(app, ["ngn", "add-terminal", "--config", str(config), "--id",
                                   ID_C, *args])
    assert out.exit_code != 0
    assert isinstance(out.exception, InvalidInput)
    assert not (tmp_path / "auc.sqlite").exists()

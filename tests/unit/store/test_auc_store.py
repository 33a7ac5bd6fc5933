"""The AuC's SQLite store (gba.store.sqlite.auc): owner-only file, terminals (NGN and
AKA), SQN forward only, nodes, the latest registration per terminal, durability."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gba.errors import ConfigError, InvalidInput, NotFound, StoreError
from gba.store.auc import DEFAULT_AMF, Node, Registration, Terminal, TerminalKind, open_auc_store
from gba.store.sqlite.auc import AUC_SCHEMA, SqliteAucStore

pytestmark = pytest.mark.ngn

K = bytes(range(16))
OPC = bytes(range(16, 32))
AKA = Terminal("bob@ngn.example", K, TerminalKind.AKA, OPC)


async def test_file_is_owner_only_and_at_the_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "auc.sqlite"
    store = SqliteAucStore(path)
    await store.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert AUC_SCHEMA.version == 1


async def test_terminals_round_trip_and_unknown_is_not_found() -> None:
    store = open_auc_store("memory:")
    ngn_t = Terminal("alice@ngn.example", K)
    assert await store.put_terminal(ngn_t) == ngn_t
    assert await store.put_terminal(AKA) == AKA
    assert await store.get_terminal("alice@ngn.example") == ngn_t
    got = await store.get_terminal(AKA.id_c)
    assert (got.kind, got.opc, got.amf, got.sqn) == (TerminalKind.AKA, OPC, DEFAULT_AMF, 0)
    with pytest.raises(NotFound):
        await store.get_terminal("nobody")
    await store.close()


async def test_issue_sqn_steps_seq_with_ind_and_replacing_keeps_it() -> None:
    store = open_auc_store("memory:")
    await store.put_terminal(AKA)
    _, first = await store.issue_sqn(AKA.id_c, 3)
    _, second = await store.issue_sqn(AKA.id_c, 3)
    assert (first, second) == ((1 << 5) | 3, (2 << 5) | 3)
    kept = await store.put_terminal(Terminal(AKA.id_c, bytes(16), TerminalKind.AKA, OPC))
    assert kept.sqn == second
    assert (await store.get_terminal(AKA.id_c)).k == bytes(16)
    await store.close()


async def test_issue_sqn_refuses_ngn_and_unknown_terminals() -> None:
    store = open_auc_store("memory:")
    await store.put_terminal(Terminal("alice@ngn.example", K))
    with pytest.raises(StoreError):
        await store.issue_sqn("alice@ngn.example", 0)
    with pytest.raises(NotFound):
        await store.issue_sqn("nobody", 0)
    await store.close()


async def test_nodes_round_trip_and_replace() -> None:
    store = open_auc_store("memory:")
    await store.put_node(Node("sp1.ngn.example", K))
    await store.put_node(Node("sp1.ngn.example", OPC))
    assert await store.get_node("sp1.ngn.example") == Node("sp1.ngn.example", OPC)
    with pytest.raises(NotFound):
        await store.get_node("sp2.ngn.example")
    await store.close()


async def test_registration_keeps_the_latest_per_terminal() -> None:
    store = open_auc_store("memory:")
    with pytest.raises(NotFound):
        await store.get_registration("alice@ngn.example")
    t1 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    t2 = datetime(2026, 1, 1, 12, 5, tzinfo=UTC)
    await store.record_registration(Registration("alice@ngn.example", "sp1", "192.0.2.1", t1))
    await store.record_registration(Registration("alice@ngn.example", "sp2", "192.0.2.9", t2))
    assert await store.get_registration("alice@ngn.example") == Registration(
        "alice@ngn.example", "sp2", "192.0.2.9", t2)
    await store.close()


async def test_records_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "auc.sqlite"
    store = open_auc_store(f"sqlite://{path}")
    await store.put_terminal(AKA)
    await store.issue_sqn(AKA.id_c, 0)
    await store.put_node(Node("ss.ngn.example", K))
    await store.close()
    again = open_auc_store(str(path))
    assert (await again.get_terminal(AKA.id_c)).sqn == 1 << 5
    assert (await again.get_node("ss.ngn.example")).k == K
    await again.close()


def test_redis_is_refused() -> None:
    with pytest.raises(ConfigError):
        open_auc_store("redis://127.0.0.1:6379/0")


@pytest.mark.parametrize("build", [
    lambda: Terminal("a", bytes(15)),
    lambda: Terminal("a", K, TerminalKind.AKA),  # AKA without OPc
    lambda: Terminal("a", K, TerminalKind.NGN, OPC),  # NGN with OPc
    lambda: Terminal("a", K, TerminalKind.AKA, bytes(15)),
    lambda: Terminal("a", K, amf=b"\x80"),
    lambda: Terminal("", K),
    lambda: Node("sp\x00", K),
    lambda: Node("sp", bytes(17))])
def test_records_validate(build: object) -> None:
    with pytest.raises(InvalidInput):
        build()  # type: ignore[operator]


def test_reprs_hide_keys() -> None:
    assert K.hex() not in repr(AKA)
    assert repr(K) not in repr(AKA)
    assert repr(OPC) not in repr(AKA)
    assert repr(K) not in repr(Node("sp", K))

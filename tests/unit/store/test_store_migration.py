"""SQLite schema versions: a file of an older version is migrated forward on open, in one
transaction; a file of a newer version is refused. The NAF file of schema version 1 is a
real one, written by the code of that version (tests/vectors/store/README.md).
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gba.errors import StoreError
from gba.store.base import NafKey
from gba.store.sqlite import (
    BSF_SCHEMA,
    HSS_SCHEMA,
    NAF_SCHEMA,
    Schema,
    SqliteBsfStore,
    SqliteNafStore,
    SqliteSubscriberStore,
)
from gba.store.sqlite.db import Db
from vectors import VECTORS

NAF_V1 = VECTORS / "store" / "naf-v1.db"
IMPI = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
BTID = "AAECAwQFBgcICQoLDA0ODw==@bsf.example.org"
DIGEST_NAF_ID = b"naf.example.org\x01\x00\x00\x00\x02"
PSK_NAF_ID = b"naf.example.org\x01\x00\x01\x00\xa8"
VECTOR_EXPIRY = datetime(2100, 1, 1, tzinfo=UTC)
NOW = datetime(2030, 1, 1, tzinfo=UTC)

STORES: list[tuple[Callable[[Path], Any], Schema]] = [
    (SqliteSubscriberStore, HSS_SCHEMA),
    (SqliteBsfStore, BSF_SCHEMA),
    (SqliteNafStore, NAF_SCHEMA),
]
STORE_IDS = ["hss", "bsf", "naf"]


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return version


def layout(path: Path) -> list[tuple[Any, ...]]:
    """Every table and index with its columns: what the schema steps built."""
    with sqlite3.connect(path) as conn:
        names = conn.execute(
            "SELECT type, name, tbl_name FROM sqlite_master ORDER BY type, name"
        ).fetchall()
        columns = [
            (table, *col)
            for (kind, table, _) in names
            if kind == "table"
            for col in conn.execute(f"PRAGMA table_info({table})").fetchall()
        ]
    return names + columns


@pytest.fixture
def naf_v1(tmp_path: Path) -> Path:
    """A copy of the schema-1 NAF vector: opening a WAL file, even to read, leaves -wal and
    -shm files beside it, and opening it with a store migrates it."""
    path = tmp_path / "naf.sqlite"
    shutil.copyfile(NAF_V1, path)
    return path


# --- the vector ------------------------------------------------------------------------


def test_vector_is_a_schema_1_file(naf_v1: Path) -> None:
    assert user_version(naf_v1) == 1
    columns = [row[2] for row in layout(naf_v1) if row[0] == "naf_key"]
    assert columns == ["btid", "naf_id", "key", "impi", "expires", "created", "uss", "gba_u"]


async def test_step_1_builds_the_layout_of_the_vector(naf_v1: Path, tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    Db(path, Schema("NAF", NAF_SCHEMA.steps[:1]), synchronous="NORMAL", busy_timeout=1).close()
    assert layout(path) == layout(naf_v1)


# --- forward migration -----------------------------------------------------------------


async def test_schema_1_naf_file_is_migrated_to_the_current_version(naf_v1: Path) -> None:
    store = SqliteNafStore(naf_v1)
    await store.close()
    assert NAF_SCHEMA.version == 5
    assert user_version(naf_v1) == NAF_SCHEMA.version


async def test_schema_1_keys_read_through_the_store_without_uicc_key(naf_v1: Path) -> None:
    store = SqliteNafStore(naf_v1)
    try:
        digest = await store.get_key(BTID, DIGEST_NAF_ID, NOW)
        psk = await store.get_key(BTID, PSK_NAF_ID, NOW)
    finally:
        await store.close()
    assert digest == NafKey(
        btid=BTID,
        naf_id=DIGEST_NAF_ID,
        key=bytes(range(32)),
        impi=IMPI,
        expires=VECTOR_EXPIRY,
        created=datetime(2025, 1, 1, tzinfo=UTC),
        uss='<ussList xmlns="uri:3gpp-gaa"/>',
    )
    assert psk == NafKey(
        btid=BTID,
        naf_id=PSK_NAF_ID,
        key=bytes(range(32, 64)),
        impi=IMPI,
        expires=VECTOR_EXPIRY,
        gba_u=True,
    )
    assert psk.uicc_key is None


async def test_schema_1_nonce_counts_survive_migration(naf_v1: Path) -> None:
    store = SqliteNafStore(naf_v1)
    try:
        assert await store.check_nonce_count("bm9uY2U=", 3, VECTOR_EXPIRY) is False
        assert await store.check_nonce_count("bm9uY2U=", 4, VECTOR_EXPIRY) is True
    finally:
        await store.close()


async def test_migrated_file_caches_a_uicc_key(naf_v1: Path) -> None:
    store = SqliteNafStore(naf_v1)
    key = NafKey(
        btid=BTID,
        naf_id=DIGEST_NAF_ID,
        key=bytes(32),
        impi=IMPI,
        expires=NOW + timedelta(hours=1),
        gba_u=True,
        uicc_key=bytes(range(64, 96)),
    )
    try:
        await store.put_key(key)
        assert await store.get_key(BTID, DIGEST_NAF_ID, NOW) == key
    finally:
        await store.close()


async def test_migrated_file_has_the_layout_of_a_new_file(naf_v1: Path, tmp_path: Path) -> None:
    await SqliteNafStore(naf_v1).close()
    await SqliteNafStore(tmp_path / "new.sqlite").close()
    assert layout(naf_v1) == layout(tmp_path / "new.sqlite")


async def test_failed_migration_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "naf.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version=1")  # claims schema 1 but has no naf_key table
    with pytest.raises(StoreError, match="migrate NAF schema failed"):
        SqliteNafStore(path)
    assert user_version(path) == 1
    assert layout(path) == []


def test_steps_run_in_one_transaction(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    broken = Schema("T", (("CREATE TABLE a (x)",), ("CREATE TABLE a (y)",)))
    with pytest.raises(StoreError, match="already exists"):
        Db(path, broken, synchronous="NORMAL", busy_timeout=1)
    assert user_version(path) == 0
    assert layout(path) == []


# --- versions per store ----------------------------------------------------------------


@pytest.mark.parametrize(("open_store", "schema"), STORES, ids=STORE_IDS)
async def test_new_file_is_at_the_current_version(
    tmp_path: Path, open_store: Callable[[Path], Any], schema: Schema
) -> None:
    path = tmp_path / "store.sqlite"
    await open_store(path).close()
    await open_store(path).close()
    assert user_version(path) == schema.version


@pytest.mark.parametrize(("open_store", "schema"), STORES, ids=STORE_IDS)
def test_file_of_a_newer_version_is_refused(
    tmp_path: Path, open_store: Callable[[Path], Any], schema: Schema
) -> None:
    path = tmp_path / "store.sqlite"
    newer = schema.version + 1
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version={newer}")
    with pytest.raises(StoreError, match=f"schema version {newer} is newer than the"):
        open_store(path)
    assert user_version(path) == newer
    assert layout(path) == []


async def test_schema_4_push_sas_keep_every_field_under_no_owner(tmp_path: Path) -> None:
    """Step 5 moves the push SAs to (owner, kind, value): one stored under schema 4 is
    found afterwards with owner "" and every field as it was."""
    import sqlite3

    from gba.protocols.push_sa import IdKind, SaId

    path = tmp_path / "v4.sqlite"
    Db(path, Schema("NAF", NAF_SCHEMA.steps[:4]), synchronous="NORMAL", busy_timeout=1).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO push_sa VALUES ('secure', 's1', ?, 'ptid', ?, ?, "
                     "'aes-128-gcm', '1.0', 'gpi', 3, 2, '[1, 2]')",
                     (b"naf\x01\x00\x00\x00\x05", bytes(32), 4_000_000_000_000_000))
    conn.close()
    store = SqliteNafStore(path)
    try:
        found = await store.get_push_sa(SaId(IdKind.SECURE, "s1"), NOW)
    finally:
        await store.close()
    assert user_version(path) == 5
    assert found is not None
    assert (found.owner, found.tid, found.send_seq, found.received, found.highest) == (
        "", "ptid", 3, frozenset({1, 2}), 2)


async def test_schema_1_bsf_contexts_read_as_not_mtc_after_step_2(tmp_path: Path) -> None:
    """BSF step 2 adds the MTC columns and the group vectors: a context stored under
    schema 1 is read back with ``mtc`` None, and group vectors work in the same file."""
    import sqlite3

    from gba.store.bsf import GroupVector

    path = tmp_path / "bsf-v1.sqlite"
    Db(path, Schema("BSF", BSF_SCHEMA.steps[:1]), synchronous="NORMAL", busy_timeout=1).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO context VALUES ('AAEC@bsf.x', 'u@x', ?, ?, 1, ?, NULL, 0)",
                     (bytes(32), bytes(16), 4_000_000_000_000_000))
    conn.close()
    store = SqliteBsfStore(path)
    try:
        ctx = await store.get_context("AAEC@bsf.x", NOW)
        await store.put_group_vector(GroupVector("g@x", bytes(16), bytes(16), bytes(8),
                                                 bytes(16), bytes(16), "<s/>",
                                                 NOW + timedelta(hours=1), ("1",)))
        claimed = await store.claim_group_vector("g@x", "2", NOW, 5)
    finally:
        await store.close()
    assert user_version(path) == BSF_SCHEMA.version == 2
    assert ctx is not None
    assert ctx.mtc is None
    assert claimed is not None

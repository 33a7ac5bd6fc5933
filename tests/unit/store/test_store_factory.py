"""The store URL parser (the only one: gba.store.factory.parse_store_url) and the openers."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gba.config import Topology
from gba.errors import ConfigError, StoreError
from gba.store.base import BsfStore, NafStore, Subscriber
from gba.store.factory import (
    StoreLocation,
    open_bsf_store,
    open_naf_store,
    open_subscriber_store,
    parse_store_url,
)
from gba.store.postgres import PostgresSubscriberStore
from gba.store.redis import RedisBsfStore, RedisNafStore
from gba.store.sqlite import SqliteBsfStore, SqliteNafStore, SqliteSubscriberStore

IMPI = "001010123456789@ims.mnc001.mcc001.3gppnetwork.org"


def subscriber() -> Subscriber:
    return Subscriber(impi=IMPI, k=bytes(16), opc=bytes(16), imsi="001010123456789")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///abs/hss.sqlite", StoreLocation("sqlite", "/abs/hss.sqlite")),
        ("sqlite:/abs/hss.sqlite", StoreLocation("sqlite", "/abs/hss.sqlite")),
        ("sqlite:rel/hss.sqlite", StoreLocation("sqlite", "/base/rel/hss.sqlite")),
        ("rel/hss.sqlite", StoreLocation("sqlite", "/base/rel/hss.sqlite")),
        ("/abs/hss.sqlite", StoreLocation("sqlite", "/abs/hss.sqlite")),
        ("memory:", StoreLocation("sqlite", ":memory:")),
        ("sqlite::memory:", StoreLocation("sqlite", ":memory:")),
        ("redis://127.0.0.1:6379/2", StoreLocation("redis", "redis://127.0.0.1:6379/2")),
        ("unix:///run/redis.sock", StoreLocation("redis", "unix:///run/redis.sock")),
        ("unix:///path?db=2", StoreLocation("redis", "unix:///path?db=2")),
        ("rediss://cache.example.org/1", StoreLocation("redis", "rediss://cache.example.org/1")),
        ("postgresql://gba@db/hss", StoreLocation("postgres", "postgresql://gba@db/hss")),
        (" postgres://db:5433/hss ", StoreLocation("postgres", "postgres://db:5433/hss")),
        ("PostgreSQL://db/hss", StoreLocation("postgres", "PostgreSQL://db/hss")),
    ],
)
def test_store_urls_are_parsed(url: str, expected: StoreLocation) -> None:
    assert parse_store_url(url, Path("/base")) == expected


@pytest.mark.parametrize("url", ["sqlite:state/bsf.sqlite", "state/bsf.sqlite"])
def test_relative_sqlite_path_resolves_against_base_dir(tmp_path: Path, url: str) -> None:
    assert parse_store_url(url, tmp_path) == StoreLocation(
        "sqlite", str(tmp_path / "state" / "bsf.sqlite")
    )


def test_absolute_sqlite_path_ignores_base_dir(tmp_path: Path) -> None:
    assert parse_store_url(f"sqlite://{tmp_path}/bsf.sqlite", Path("/elsewhere")).target == str(
        tmp_path / "bsf.sqlite"
    )


def test_relative_path_defaults_to_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_store_url("sqlite:x.sqlite").target == str(tmp_path / "x.sqlite")


@pytest.mark.parametrize(
    "url", ["", "   ", "mysql://db/gba", "pg://db/gba", "sqlite://host/x.sqlite", "sqlite:",
            "sqlite://"]
)
def test_bad_store_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_store_url(url)


def test_factory_opens_sqlite_files_under_base_dir(tmp_path: Path) -> None:
    hss = open_subscriber_store("sqlite:hss.sqlite", base_dir=tmp_path)
    bsf = open_bsf_store("bsf.sqlite", base_dir=tmp_path)
    naf = open_naf_store(f"sqlite://{tmp_path}/naf.sqlite")
    assert isinstance(hss, SqliteSubscriberStore)
    assert isinstance(bsf, SqliteBsfStore)
    assert isinstance(naf, SqliteNafStore)
    for store in (hss, bsf, naf):
        asyncio.run(store.close())
    assert sorted(p.name for p in tmp_path.glob("*.sqlite")) == [
        "bsf.sqlite",
        "hss.sqlite",
        "naf.sqlite",
    ]


async def test_factory_opens_memory_stores() -> None:
    hss = open_subscriber_store("memory:")
    await hss.put_subscriber(subscriber())
    assert (await hss.get_subscriber(IMPI)).impi == IMPI
    await hss.close()


async def test_factory_opens_redis_for_bsf_and_naf() -> None:
    bsf = open_bsf_store("redis://127.0.0.1:6379/0")
    naf = open_naf_store("redis://127.0.0.1:6379/0")
    assert isinstance(bsf, RedisBsfStore)
    assert isinstance(naf, RedisNafStore)
    await bsf.close()
    await naf.close()


@pytest.mark.parametrize("opener", [open_bsf_store, open_naf_store])
async def test_factory_opens_redis_over_a_unix_socket(
    tmp_path: Path, opener: Callable[[str], BsfStore | NafStore]
) -> None:
    sock = tmp_path / "redis.sock"
    store = opener(f"unix://{sock}?db=2")
    assert isinstance(store, RedisBsfStore | RedisNafStore)
    try:
        with pytest.raises(StoreError, match=f"redis at unix:{sock} unreachable"):
            await store.purge_expired(datetime.now(UTC))
    finally:
        await store.close()


def test_subscriber_store_refuses_redis() -> None:
    with pytest.raises(ConfigError, match="SQLite or PostgreSQL only"):
        open_subscriber_store("redis://127.0.0.1:6379/0")


@pytest.mark.parametrize("opener", [open_bsf_store, open_naf_store])
@pytest.mark.parametrize("url", ["postgresql://gba@127.0.0.1/gba", "postgres://db/gba"])
def test_bsf_and_naf_refuse_postgres(opener: Callable[[str], object], url: str) -> None:
    with pytest.raises(ConfigError, match="SQLite or Redis only"):
        opener(url)


def test_config_passes_a_postgres_url_through(tmp_path: Path) -> None:
    topology = Topology(path=tmp_path / "lab.toml", networks={}, functions={})
    url = "postgresql://gba:secret@db.example.org:5433/hss?sslmode=require"
    assert topology.store_url(f"  {url} ") == url


def test_postgres_hss_store_is_built_outside_a_loop() -> None:
    """The factory runs before any event loop: the pool opens lazily, on first use."""
    store = open_subscriber_store("postgresql://gba@127.0.0.1:1/none")
    assert isinstance(store, PostgresSubscriberStore)
    asyncio.run(store.close())


def test_unreachable_postgres_is_a_store_error_without_the_password() -> None:
    async def use() -> None:
        store = open_subscriber_store(
            "postgresql://gba:hunter2@127.0.0.1:1/gba?connect_timeout=1")
        try:
            await store.get_subscriber(IMPI)
        finally:
            await store.close()

    with pytest.raises(StoreError, match=re.escape("127.0.0.1:1/gba")) as failed:
        asyncio.run(use())
    assert "hunter2" not in str(failed.value)


@pytest.mark.postgres
def test_factory_opens_postgres_for_the_hss(postgres_db_url: str) -> None:
    store = open_subscriber_store(postgres_db_url)  # outside any running loop
    assert isinstance(store, PostgresSubscriberStore)

    async def use() -> tuple[Subscriber, int]:
        try:
            await store.put_subscriber(subscriber())
            return await store.issue_sqn(IMPI, 1)
        finally:
            await store.close()

    sub, sqn = asyncio.run(use())
    assert (sub.impi, sqn) == (IMPI, (1 << 5) | 1)

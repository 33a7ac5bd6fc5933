"""The BsfStore and NafStore contract (gba.store.base), run against SQLite and Redis alike.

Records expire an hour from the real clock, so Redis keeps them, and the tests move the
injected ``now`` past ``expires`` to see them vanish; a record already past its expiry by
the real clock is checked too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gba.errors import StoreError
from gba.protocols.push_sa import IdKind, PushSa, SaId
from gba.store.base import BootstrapContext, Challenge, NafKey
from gba.store.bsf import GroupVector
from gba.store.naf import ChargingRecord
from gba.store.redis import RedisBsfStore, RedisNafStore
from gba.store.sqlite import SqliteBsfStore, SqliteNafStore

BACKENDS = ["sqlite", pytest.param("redis", marks=pytest.mark.redis)]
HOUR = timedelta(hours=1)
NAF_ID = b"naf.example.org\x01\x00\x00\x00\x02"

BsfBackend = SqliteBsfStore | RedisBsfStore
NafBackend = SqliteNafStore | RedisNafStore


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=123456)


@pytest.fixture(params=BACKENDS)
async def bsf(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BsfBackend]:
    store: BsfBackend
    if request.param == "sqlite":
        store = SqliteBsfStore(tmp_path / "bsf.sqlite")
    else:
        url = request.getfixturevalue("redis_url")
        store = RedisBsfStore(url, prefix=request.getfixturevalue("redis_prefix"))
    yield store
    await store.close()


@pytest.fixture(params=BACKENDS)
async def naf(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[NafBackend]:
    store: NafBackend
    if request.param == "sqlite":
        store = SqliteNafStore(tmp_path / "naf.sqlite")
    else:
        url = request.getfixturevalue("redis_url")
        store = RedisNafStore(url, prefix=request.getfixturevalue("redis_prefix"))
    yield store
    await store.close()


def challenge(nonce: str, expires: datetime, guss: str | None = None) -> Challenge:
    return Challenge(
        nonce=nonce,
        impi="001010000000001@ims.mnc001.mcc001.3gppnetwork.org",
        rand=bytes(range(16)),
        autn=bytes(range(16, 32)),
        xres=bytes(range(32, 40)),
        ck=bytes(range(40, 56)),
        ik=bytes(range(56, 72)),
        expires=expires,
        guss=guss,
    )


def context(
    btid: str, created: datetime, expires: datetime, guss: str | None = None, gba_u: bool = False
) -> BootstrapContext:
    return BootstrapContext(
        btid=btid,
        impi="001010000000001@ims.mnc001.mcc001.3gppnetwork.org",
        ks=bytes(range(32)),
        rand=bytes(range(16)),
        created=created,
        expires=expires,
        guss=guss,
        gba_u=gba_u,
    )


def naf_key(btid: str, expires: datetime, created: datetime | None = None) -> NafKey:
    return NafKey(
        btid=btid,
        naf_id=NAF_ID,
        key=bytes(range(100, 132)),
        impi="001010000000001@ims.mnc001.mcc001.3gppnetwork.org",
        expires=expires,
        created=created,
        uss="<uss/>",
        gba_u=True,
    )


# --- BSF: challenges -------------------------------------------------------------------


async def test_challenge_round_trips_every_field(bsf: BsfBackend, now: datetime) -> None:
    ch = challenge("n1", now + HOUR, guss="<guss/>")
    await bsf.put_challenge(ch)
    got = await bsf.take_challenge("n1", now)
    assert got == ch
    assert got.expires.tzinfo is not None
    assert got.expires.utcoffset() == timedelta(0)


async def test_challenge_is_taken_exactly_once(bsf: BsfBackend, now: datetime) -> None:
    await bsf.put_challenge(challenge("n1", now + HOUR))
    assert await bsf.take_challenge("n1", now) is not None
    assert await bsf.take_challenge("n1", now) is None


async def test_concurrent_takes_yield_one_challenge(bsf: BsfBackend, now: datetime) -> None:
    await bsf.put_challenge(challenge("n1", now + HOUR))
    got = await asyncio.gather(*(bsf.take_challenge("n1", now) for _ in range(8)))
    assert sum(g is not None for g in got) == 1


async def test_unknown_challenge_is_none(bsf: BsfBackend, now: datetime) -> None:
    assert await bsf.take_challenge("never-issued", now) is None


async def test_expired_challenge_is_none_and_gone(bsf: BsfBackend, now: datetime) -> None:
    await bsf.put_challenge(challenge("n1", now + HOUR))
    assert await bsf.take_challenge("n1", now + HOUR) is None
    assert await bsf.take_challenge("n1", now) is None


async def test_challenge_past_real_expiry_is_none(bsf: BsfBackend, now: datetime) -> None:
    await bsf.put_challenge(challenge("n1", now - HOUR))
    assert await bsf.take_challenge("n1", now) is None


async def test_pending_nonce_cannot_be_reused(bsf: BsfBackend, now: datetime) -> None:
    await bsf.put_challenge(challenge("n1", now + HOUR))
    with pytest.raises(StoreError):
        await bsf.put_challenge(challenge("n1", now + 2 * HOUR))
    got = await bsf.take_challenge("n1", now)
    assert got is not None
    assert got.expires == now + HOUR


async def test_naive_datetime_is_refused(bsf: BsfBackend) -> None:
    with pytest.raises(StoreError, match="timezone"):
        await bsf.put_challenge(challenge("n1", datetime(2030, 1, 1)))


# --- BSF: bootstrapping contexts -------------------------------------------------------


async def test_context_round_trips_every_field(bsf: BsfBackend, now: datetime) -> None:
    ctx = context("AAEC@bsf.example.org", now, now + HOUR, guss="<guss/>", gba_u=True)
    await bsf.put_context(ctx)
    got = await bsf.get_context(ctx.btid, now)
    assert got == ctx
    assert got is not None
    assert got.created.utcoffset() == timedelta(0)


async def test_context_is_read_many_times(bsf: BsfBackend, now: datetime) -> None:
    ctx = context("AAEC@bsf.example.org", now, now + HOUR)
    await bsf.put_context(ctx)
    assert await bsf.get_context(ctx.btid, now) == ctx
    assert await bsf.get_context(ctx.btid, now + timedelta(minutes=59)) == ctx


async def test_unknown_context_is_none(bsf: BsfBackend, now: datetime) -> None:
    assert await bsf.get_context("nobody@bsf.example.org", now) is None


async def test_context_is_invisible_from_its_expiry(bsf: BsfBackend, now: datetime) -> None:
    ctx = context("AAEC@bsf.example.org", now, now + HOUR)
    await bsf.put_context(ctx)
    assert await bsf.get_context(ctx.btid, now + HOUR) is None
    assert await bsf.get_context(ctx.btid, now + 2 * HOUR) is None


async def test_context_past_real_expiry_is_none(bsf: BsfBackend, now: datetime) -> None:
    ctx = context("AAEC@bsf.example.org", now - 2 * HOUR, now - HOUR)
    await bsf.put_context(ctx)
    assert await bsf.get_context(ctx.btid, now) is None


async def test_contexts_of_one_impi_coexist(bsf: BsfBackend, now: datetime) -> None:
    old = context("OLD@bsf.example.org", now, now + HOUR)
    new = context("NEW@bsf.example.org", now, now + 2 * HOUR)
    await bsf.put_context(old)
    await bsf.put_context(new)
    assert await bsf.get_context(old.btid, now) == old
    assert await bsf.get_context(new.btid, now) == new


async def test_put_context_replaces_same_btid(bsf: BsfBackend, now: datetime) -> None:
    await bsf.put_context(context("AAEC@bsf.example.org", now, now + HOUR))
    longer = context("AAEC@bsf.example.org", now, now + 2 * HOUR)
    await bsf.put_context(longer)
    assert await bsf.get_context(longer.btid, now + HOUR) == longer


async def test_delete_context(bsf: BsfBackend, now: datetime) -> None:
    ctx = context("AAEC@bsf.example.org", now, now + HOUR)
    await bsf.put_context(ctx)
    assert await bsf.delete_context(ctx.btid) is True
    assert await bsf.get_context(ctx.btid, now) is None
    assert await bsf.delete_context(ctx.btid) is False


async def test_purge_removes_only_expired(bsf: BsfBackend, now: datetime) -> None:
    keep = context("KEEP@bsf.example.org", now, now + 3 * HOUR)
    await bsf.put_context(keep)
    await bsf.put_context(context("GO@bsf.example.org", now, now + HOUR))
    await bsf.put_challenge(challenge("n-go", now + HOUR))
    await bsf.put_challenge(challenge("n-keep", now + 3 * HOUR))
    assert await bsf.purge_expired(now + 2 * HOUR) == 2
    assert await bsf.purge_expired(now + 2 * HOUR) == 0
    assert await bsf.get_context(keep.btid, now) == keep
    assert await bsf.get_context("GO@bsf.example.org", now) is None
    assert await bsf.take_challenge("n-go", now) is None
    assert await bsf.take_challenge("n-keep", now) is not None


async def test_purge_counts_record_expiring_exactly_now(bsf: BsfBackend, now: datetime) -> None:
    await bsf.put_context(context("AAEC@bsf.example.org", now, now + HOUR))
    assert await bsf.purge_expired(now + HOUR - timedelta(microseconds=1)) == 0
    assert await bsf.purge_expired(now + HOUR) == 1


# --- NAF: Zn keys ----------------------------------------------------------------------


async def test_key_round_trips_every_field(naf: NafBackend, now: datetime) -> None:
    key = naf_key("AAEC@bsf.example.org", now + HOUR, created=now)
    await naf.put_key(key)
    got = await naf.get_key(key.btid, NAF_ID, now)
    assert got == key
    assert got is not None
    assert got.expires.utcoffset() == timedelta(0)


async def test_key_with_uicc_key_round_trips(naf: NafBackend, now: datetime) -> None:
    key = replace(naf_key("AAEC@bsf.example.org", now + HOUR), uicc_key=bytes(range(200, 232)))
    await naf.put_key(key)
    got = await naf.get_key(key.btid, NAF_ID, now)
    assert got == key
    assert got is not None
    assert got.uicc_key == bytes(range(200, 232))


def test_uicc_key_stays_out_of_repr() -> None:
    key = NafKey(
        btid="b",
        naf_id=b"n",
        key=b"\x11" * 32,
        impi="i",
        expires=datetime.now(UTC),
        uicc_key=b"\x22" * 32,
    )
    assert "2222" not in repr(key)
    assert "\\x22" not in repr(key)


async def test_key_without_created_round_trips(naf: NafBackend, now: datetime) -> None:
    key = naf_key("AAEC@bsf.example.org", now + HOUR)
    await naf.put_key(key)
    assert await naf.get_key(key.btid, NAF_ID, now) == key


async def test_key_is_per_naf_id(naf: NafBackend, now: datetime) -> None:
    await naf.put_key(naf_key("AAEC@bsf.example.org", now + HOUR))
    assert await naf.get_key("AAEC@bsf.example.org", NAF_ID + b"x", now) is None
    assert await naf.get_key("OTHER@bsf.example.org", NAF_ID, now) is None


async def test_key_is_invisible_from_its_expiry(naf: NafBackend, now: datetime) -> None:
    await naf.put_key(naf_key("AAEC@bsf.example.org", now + HOUR))
    assert await naf.get_key("AAEC@bsf.example.org", NAF_ID, now + HOUR) is None


async def test_key_past_real_expiry_is_none(naf: NafBackend, now: datetime) -> None:
    await naf.put_key(naf_key("AAEC@bsf.example.org", now - HOUR))
    assert await naf.get_key("AAEC@bsf.example.org", NAF_ID, now) is None


async def test_put_key_replaces(naf: NafBackend, now: datetime) -> None:
    await naf.put_key(naf_key("AAEC@bsf.example.org", now + HOUR))
    fresh = naf_key("AAEC@bsf.example.org", now + 2 * HOUR)
    await naf.put_key(fresh)
    assert await naf.get_key(fresh.btid, NAF_ID, now + HOUR) == fresh


async def test_delete_key(naf: NafBackend, now: datetime) -> None:
    await naf.put_key(naf_key("AAEC@bsf.example.org", now + HOUR))
    assert await naf.delete_key("AAEC@bsf.example.org", NAF_ID) is True
    assert await naf.get_key("AAEC@bsf.example.org", NAF_ID, now) is None
    assert await naf.delete_key("AAEC@bsf.example.org", NAF_ID) is False


async def test_naf_purge_removes_expired_keys_and_counts(naf: NafBackend, now: datetime) -> None:
    await naf.put_key(naf_key("GO@bsf.example.org", now + HOUR))
    await naf.put_key(naf_key("KEEP@bsf.example.org", now + 3 * HOUR))
    await naf.check_nonce_count("n-go", 1, now + HOUR)
    assert await naf.purge_expired(now + 2 * HOUR) == 2
    assert await naf.get_key("KEEP@bsf.example.org", NAF_ID, now) is not None


# --- NAF: Digest nonce counts ----------------------------------------------------------


async def test_first_nonce_count_is_accepted(naf: NafBackend, now: datetime) -> None:
    assert await naf.check_nonce_count("n1", 1, now + HOUR) is True


async def test_replayed_nonce_count_is_refused(naf: NafBackend, now: datetime) -> None:
    assert await naf.check_nonce_count("n1", 1, now + HOUR) is True
    assert await naf.check_nonce_count("n1", 1, now + HOUR) is False


async def test_lower_nonce_count_is_refused(naf: NafBackend, now: datetime) -> None:
    assert await naf.check_nonce_count("n1", 5, now + HOUR) is True
    assert await naf.check_nonce_count("n1", 3, now + HOUR) is False
    assert await naf.check_nonce_count("n1", 6, now + HOUR) is True
    assert await naf.check_nonce_count("n1", 5, now + HOUR) is False


async def test_nonce_counts_are_per_nonce(naf: NafBackend, now: datetime) -> None:
    assert await naf.check_nonce_count("n1", 2, now + HOUR) is True
    assert await naf.check_nonce_count("n2", 1, now + HOUR) is True


async def test_largest_nonce_count_is_handled(naf: NafBackend, now: datetime) -> None:
    assert await naf.check_nonce_count("n1", 0xFFFFFFFE, now + HOUR) is True
    assert await naf.check_nonce_count("n1", 0xFFFFFFFF, now + HOUR) is True
    assert await naf.check_nonce_count("n1", 0xFFFFFFFF, now + HOUR) is False


async def test_concurrent_same_nonce_count_accepted_once(naf: NafBackend, now: datetime) -> None:
    got = await asyncio.gather(*(naf.check_nonce_count("n1", 7, now + HOUR) for _ in range(8)))
    assert got.count(True) == 1


async def test_nonce_count_keeps_the_later_expiry(naf: NafBackend, now: datetime) -> None:
    await naf.check_nonce_count("n1", 1, now + 2 * HOUR)
    await naf.check_nonce_count("n1", 2, now + HOUR)
    assert await naf.purge_expired(now + HOUR) == 0
    assert await naf.check_nonce_count("n1", 2, now + HOUR) is False


# --- NAF: charging records (docs/roaming.md §3) ------------------------------------------


def charging(n: int, now: datetime) -> ChargingRecord:
    return ChargingRecord(time=now + n * HOUR, case="A", server="bmsc.example.org",
                          naf_id=NAF_ID, home_realm="home.example.org",
                          user=f"user{n}@home.example.org", key_kind="derived",
                          key_expiry=now + (n + 1) * HOUR, session=f"s;{n}")


async def test_charging_records_round_trip_in_order(naf: NafBackend, now: datetime) -> None:
    records = [charging(n, now) for n in range(3)]
    for record in records:
        await naf.put_charging(record)
    assert await naf.charging_records() == records


async def test_charging_records_limit_keeps_the_newest(naf: NafBackend, now: datetime) -> None:
    for n in range(5):
        await naf.put_charging(charging(n, now))
    assert [r.user for r in await naf.charging_records(2)] == [
        "user3@home.example.org", "user4@home.example.org"]


async def test_purge_leaves_charging_records(naf: NafBackend, now: datetime) -> None:
    await naf.put_charging(charging(0, now))
    await naf.purge_expired(now + 100 * HOUR)
    assert await naf.charging_records() == [charging(0, now)]


# --- NAF: push security associations (docs/push.md §1) -----------------------------------


def push_sa(value: str, now: datetime, expires_in: timedelta = HOUR) -> PushSa:
    return PushSa(SaId(IdKind.SECURE, value), NAF_ID, "ptid-1@naf.example.org",
                  bytes(range(32)), now + expires_in, send_seq=7, highest=5,
                  received=frozenset({3, 5}))


async def test_push_sa_round_trips_every_field(naf: NafBackend, now: datetime) -> None:
    sa = push_sa("sa-1", now)
    await naf.put_push_sa(sa)
    assert await naf.get_push_sa(sa.sa_id, now) == sa
    assert await naf.get_push_sa(SaId(IdKind.SESSION, "sa-1"), now) is None


async def test_push_sa_is_replaced_and_expires(naf: NafBackend, now: datetime) -> None:
    sa = push_sa("sa-2", now)
    await naf.put_push_sa(sa)
    await naf.put_push_sa(replace(sa, send_seq=8))
    found = await naf.get_push_sa(sa.sa_id, now)
    assert found is not None
    assert found.send_seq == 8
    assert await naf.get_push_sa(sa.sa_id, now + HOUR) is None


async def test_push_sas_of_two_users_never_collide(naf: NafBackend, now: datetime) -> None:
    """The same SA name for two users: two SAs, each found only for its owner."""
    alice = replace(push_sa("shared", now), owner="alice@example.org", key=bytes(32))
    bob = replace(push_sa("shared", now), owner="bob@example.org", key=bytes([1]) * 32)
    await naf.put_push_sa(alice)
    await naf.put_push_sa(bob)
    assert await naf.get_push_sa(alice.sa_id, now, "alice@example.org") == alice
    assert await naf.get_push_sa(bob.sa_id, now, "bob@example.org") == bob
    assert await naf.get_push_sa(alice.sa_id, now) is None
    assert await naf.get_push_sa(alice.sa_id, now, "mallory@example.org") is None


# --- MTC (issue 15): the device's request and settings, the group's current vector -----

def group_vector(group_id: str, expires: datetime, used_by: tuple[str, ...]) -> GroupVector:
    return GroupVector(group_id, bytes(range(16)), bytes(range(16, 32)), bytes(8),
                       bytes(range(40, 56)), bytes(range(56, 72)), "<mtcSecuritySettings/>",
                       expires, used_by)


async def test_mtc_fields_round_trip(bsf: BsfBackend, now: datetime) -> None:
    ch = replace(challenge("mtc-nonce", now + HOUR), mtc="g@x;1;3\n<settings/>")
    await bsf.put_challenge(ch)
    assert await bsf.take_challenge("mtc-nonce", now) == ch
    ctx = replace(context("AAEC@bsf.example.org", now, now + HOUR), mtc="<settings/>")
    await bsf.put_context(ctx)
    assert await bsf.get_context(ctx.btid, now) == ctx


async def test_group_vector_is_claimed_once_per_device(bsf: BsfBackend, now: datetime
                                                       ) -> None:
    first = group_vector("meters@x", now + HOUR, ("001010000000001",))
    await bsf.put_group_vector(first)
    got = await bsf.claim_group_vector("meters@x", "001010000000002", now, 10)
    assert got == replace(first, used_by=("001010000000001", "001010000000002"))
    assert got is not None
    assert got.ck == first.ck  # the same vector
    # a device that used it, and the device that fetched it, get nothing more
    assert await bsf.claim_group_vector("meters@x", "001010000000002", now, 10) is None
    assert await bsf.claim_group_vector("meters@x", "001010000000001", now, 10) is None
    assert await bsf.claim_group_vector("valves@x", "001010000000003", now, 10) is None


async def test_group_vector_stops_at_max_uses_and_expiry(bsf: BsfBackend, now: datetime
                                                         ) -> None:
    await bsf.put_group_vector(group_vector("meters@x", now + HOUR, ("a1",)))
    assert await bsf.claim_group_vector("meters@x", "a2", now, 2) is not None
    assert await bsf.claim_group_vector("meters@x", "a3", now, 2) is None  # 2 users: full
    await bsf.put_group_vector(group_vector("meters@x", now + HOUR, ("b1",)))  # a new one
    assert await bsf.claim_group_vector("meters@x", "a3", now, 2) is not None
    assert await bsf.claim_group_vector("meters@x", "a4", now + HOUR, 10) is None  # expired


async def test_concurrent_claims_admit_each_device_once(bsf: BsfBackend, now: datetime
                                                        ) -> None:
    await bsf.put_group_vector(group_vector("meters@x", now + HOUR, ("a1",)))
    got = await asyncio.gather(*(bsf.claim_group_vector("meters@x", "a2", now, 10)
                                 for _ in range(8)))
    assert sum(g is not None for g in got) == 1


async def test_purge_removes_expired_group_vectors(bsf: BsfBackend, now: datetime) -> None:
    await bsf.put_group_vector(group_vector("old@x", now + timedelta(seconds=1), ("a1",)))
    await bsf.put_group_vector(group_vector("new@x", now + HOUR, ("a1",)))
    await bsf.purge_expired(now + timedelta(seconds=2))
    assert await bsf.claim_group_vector("new@x", "a2", now, 10) is not None
    assert await bsf.claim_group_vector("old@x", "a2", now, 10) is None

"""What a NAF keeps in its own memory on the Ua path (gba.nf.ua_memory): the recent Ks_NAF
keys in front of the store, and the RFC 7616 §3.4 nonce counts of its own nonces; then
both through a :class:`~gba.nf.naf.Naf` served on a real socket (a replayed nc is a 401
with stale=true, a key the store lost still authenticates from memory)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web

from gba.crypto import digest, ua_protocols
from gba.nf.naf import Naf, NafKeys
from gba.nf.ua_memory import MemoryNonceCounts, RecentKeys
from gba.protocols import ua, zn
from gba.protocols.digest_header import Challenge, Credentials
from gba.store.base import NafKey, NafStore
from gba.store.factory import open_naf_store

NOW = datetime(2030, 3, 4, 5, 6, 7, tzinfo=UTC)
BTID = "AAECAwQFBgcICQoLDA0ODw==@bsf.example.org"
NAF_FQDN = "naf.example.org"
NAF_ID = NAF_FQDN.encode() + ua_protocols.HTTP_DIGEST
OTHER_NAF_ID = NAF_FQDN.encode() + ua_protocols.DEFAULT
IMPI = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
KS_NAF = bytes(range(32))


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def naf_key(btid: str = BTID, naf_id: bytes = NAF_ID, key: bytes = KS_NAF,
            expires: datetime = NOW + timedelta(hours=1)) -> NafKey:
    return NafKey(btid=btid, naf_id=naf_id, key=key, impi=IMPI, expires=expires)


# ------------------------------------------------------------------ RecentKeys


def test_recent_key_is_served_until_its_expiry() -> None:
    recent = RecentKeys()
    key = naf_key()
    recent.put(key)
    assert recent.get(BTID, NAF_ID, NOW) == key
    assert recent.get(BTID, NAF_ID, NOW + timedelta(minutes=59)) == key
    assert len(recent) == 1


def test_recent_keys_miss_another_btid_or_naf_id() -> None:
    recent = RecentKeys()
    recent.put(naf_key())
    assert recent.get("other@bsf.example.org", NAF_ID, NOW) is None
    assert recent.get(BTID, OTHER_NAF_ID, NOW) is None
    assert RecentKeys().get(BTID, NAF_ID, NOW) is None


def test_expired_recent_key_is_dropped() -> None:
    recent = RecentKeys()
    recent.put(naf_key(expires=NOW + timedelta(hours=1)))
    assert recent.get(BTID, NAF_ID, NOW + timedelta(hours=1)) is None  # expires <= now
    assert len(recent) == 0
    # dropped, not merely hidden: an earlier time does not bring it back
    assert recent.get(BTID, NAF_ID, NOW) is None


def test_recent_keys_bound_evicts_the_oldest_inserted() -> None:
    recent = RecentKeys(max_keys=2)
    a, b, c = (naf_key(btid=f"{n}@bsf.example.org") for n in "abc")
    recent.put(a)
    recent.put(b)
    assert recent.get(a.btid, NAF_ID, NOW) == a  # a lookup does not make it younger
    recent.put(c)
    assert len(recent) == 2
    assert recent.get(a.btid, NAF_ID, NOW) is None
    assert recent.get(b.btid, NAF_ID, NOW) == b
    assert recent.get(c.btid, NAF_ID, NOW) == c


def test_replacing_a_recent_key_keeps_the_size() -> None:
    recent = RecentKeys(max_keys=2)
    a, b = (naf_key(btid=f"{n}@bsf.example.org") for n in "ab")
    recent.put(a)
    recent.put(b)
    renewed = naf_key(btid=a.btid, key=b"r" * 32, expires=NOW + timedelta(hours=2))
    recent.put(renewed)
    assert len(recent) == 2
    assert recent.get(a.btid, NAF_ID, NOW) == renewed
    assert recent.get(b.btid, NAF_ID, NOW) == b  # nothing was evicted for the replacement


def test_keys_per_naf_id_are_distinct_slots() -> None:
    recent = RecentKeys()
    first, second = naf_key(), naf_key(naf_id=OTHER_NAF_ID, key=b"o" * 32)
    recent.put(first)
    recent.put(second)
    assert len(recent) == 2
    assert recent.get(BTID, NAF_ID, NOW) == first
    assert recent.get(BTID, OTHER_NAF_ID, NOW) == second


# ------------------------------------------------------------------ MemoryNonceCounts


async def test_first_nonce_count_is_accepted() -> None:
    counts = MemoryNonceCounts(Clock())
    assert await counts.check("n1", 1, NOW + timedelta(minutes=5))
    assert len(counts) == 1


async def test_replayed_and_lower_nonce_counts_are_refused() -> None:
    counts = MemoryNonceCounts(Clock())
    expires = NOW + timedelta(minutes=5)
    assert await counts.check("n1", 5, expires)
    assert not await counts.check("n1", 5, expires)
    assert not await counts.check("n1", 4, expires)
    assert not await counts.check("n1", 1, expires)
    assert await counts.check("n1", 6, expires)
    assert not await counts.check("n1", 6, expires)
    assert await counts.check("n1", 100, expires)  # a gap is fine (RFC 7616 §3.4)
    assert not await counts.check("n1", 99, expires)


async def test_nonce_counts_are_per_nonce() -> None:
    counts = MemoryNonceCounts(Clock())
    expires = NOW + timedelta(minutes=5)
    assert await counts.check("n1", 3, expires)
    assert await counts.check("n2", 1, expires)
    assert not await counts.check("n2", 1, expires)
    assert await counts.check("n1", 4, expires)
    assert len(counts) == 2


async def test_the_later_expiry_is_kept() -> None:
    clock = Clock()
    counts = MemoryNonceCounts(clock)
    assert await counts.check("n1", 1, NOW + timedelta(minutes=10))
    assert await counts.check("n1", 2, NOW + timedelta(minutes=5))  # an earlier expiry
    clock.now = NOW + timedelta(minutes=7)
    assert await counts.check("n2", 1, NOW + timedelta(minutes=12))  # forgets expired ones
    assert len(counts) == 2, "n1 lives until the later expiry, minute 10"
    assert not await counts.check("n1", 2, NOW + timedelta(minutes=10))
    clock.now = NOW + timedelta(minutes=10)
    assert await counts.check("n3", 1, NOW + timedelta(minutes=15))
    assert len(counts) == 2, "n1 expired at minute 10 and was forgotten"


async def test_a_new_nonce_is_refused_while_full_of_live_ones() -> None:
    clock = Clock()
    counts = MemoryNonceCounts(clock, max_nonces=3)
    assert await counts.check("n1", 1, NOW + timedelta(minutes=1))
    assert await counts.check("n2", 1, NOW + timedelta(minutes=2))
    assert await counts.check("n3", 1, NOW + timedelta(minutes=2))
    assert not await counts.check("n4", 1, NOW + timedelta(minutes=5))
    assert not await counts.check("n4", 1, NOW + timedelta(minutes=5)), "not recorded"
    assert len(counts) == 3
    # the nonces already counted go on being counted
    assert await counts.check("n1", 2, NOW + timedelta(minutes=1))
    assert not await counts.check("n1", 2, NOW + timedelta(minutes=1))
    clock.now = NOW + timedelta(seconds=59)
    assert not await counts.check("n4", 1, NOW + timedelta(minutes=5)), "n1 still lives"
    clock.now = NOW + timedelta(minutes=1)  # n1 expires: a place is free
    assert await counts.check("n4", 1, NOW + timedelta(minutes=5))
    assert len(counts) == 3
    assert not await counts.check("n5", 1, NOW + timedelta(minutes=5)), "n2-n4 live"
    clock.now = NOW + timedelta(minutes=2)
    assert await counts.check("n5", 1, NOW + timedelta(minutes=6))
    assert len(counts) == 2  # n2 and n3 left together: n4 and n5 remain
    assert not await counts.check("n4", 1, NOW + timedelta(minutes=5))


async def test_memory_follows_the_live_nonces() -> None:
    clock = Clock()
    counts = MemoryNonceCounts(clock)
    life = timedelta(seconds=5)
    sizes = []
    for i in range(200):
        clock.now = NOW + timedelta(seconds=i)
        assert await counts.check(f"n{i}", 1, clock.now + life)
        sizes.append(len(counts))
    assert max(sizes) == 5, sizes  # the nonces of the last 5 seconds, no more
    assert len(counts) == 5


async def test_a_forgotten_nonce_counts_afresh() -> None:
    # once expired the mint refuses the nonce as stale before the count is asked; the
    # count itself no longer remembers it
    clock = Clock()
    counts = MemoryNonceCounts(clock)
    assert await counts.check("n1", 3, NOW + timedelta(seconds=1))
    clock.now = NOW + timedelta(seconds=1)
    assert await counts.check("n2", 1, NOW + timedelta(seconds=10))
    assert len(counts) == 1


# ------------------------------------------------------------------ through the Naf


class FakeBsf:
    """A FetchKey answering with KS_NAF for BTID; counts what it was asked."""

    def __init__(self) -> None:
        self.asked = 0

    async def __call__(self, req: zn.KeyRequest) -> zn.KeyAnswer | int:
        self.asked += 1
        if req.btid != BTID:
            return 5401
        return zn.KeyAnswer(IMPI, NOW + timedelta(hours=1), NOW - timedelta(minutes=1),
                            me_key=KS_NAF)


class Served:
    def __init__(self, naf: Naf, store: NafStore, bsf: FakeBsf, url: str,
                 clock: Clock) -> None:
        self.naf, self.store, self.bsf, self.url, self.clock = naf, store, bsf, url, clock

    async def get(self, authorization: str | None = None
                  ) -> tuple[int, dict[str, str], str]:
        headers = {"User-Agent": "test 3gpp-gba"}
        if authorization is not None:
            headers["Authorization"] = authorization
        async with aiohttp.ClientSession() as session, session.get(
                self.url, headers=headers) as reply:
            return reply.status, dict(reply.headers), await reply.text()

    async def challenge(self) -> Challenge:
        status, headers, _ = await self.get()
        assert status == 401
        return Challenge.from_header(headers["WWW-Authenticate"])


def authorization(challenge: Challenge, nc: int, key: bytes = KS_NAF, uri: str = "/res"
                  ) -> str:
    d = digest.DigestInput(challenge.algorithm, BTID, challenge.realm, ua.password_for(key),
                           uri, challenge.nonce, "auth", f"{nc:08x}", os.urandom(8).hex())
    return Credentials(username=BTID, realm=d.realm, nonce=d.nonce, uri=uri,
                       response=digest.response(d, "GET"), algorithm=challenge.algorithm,
                       qop=d.qop, nc=d.nc, cnonce=d.cnonce,
                       opaque=challenge.opaque).to_header()


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    clock = Clock()
    store = open_naf_store("memory:")
    bsf = FakeBsf()
    naf = Naf(NAF_FQDN, NafKeys(store, bsf, clock), clock=clock)
    runner = web.AppRunner(naf.ua_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield Served(naf, store, bsf, f"http://127.0.0.1:{port}/res", clock)
    finally:
        await runner.cleanup()
        await store.close()


async def test_naf_counts_nonces_in_memory_by_default(served: Served) -> None:
    challenge = await served.challenge()
    assert not challenge.stale
    for nc in (1, 2, 7):
        status, _, body = await served.get(authorization(challenge, nc))
        assert status == 200, body
        assert BTID in body


async def test_naf_answers_a_replayed_nc_with_a_stale_challenge(served: Served) -> None:
    challenge = await served.challenge()
    status, _, _ = await served.get(authorization(challenge, 3))
    assert status == 200
    for nc in (3, 2):  # the same nc again (fresh cnonce, right response), then a lower one
        status, headers, body = await served.get(authorization(challenge, nc))
        assert status == 401
        assert BTID not in body
        again = Challenge.from_header(headers["WWW-Authenticate"])
        assert again.stale
        assert again.nonce != challenge.nonce
    status, _, _ = await served.get(authorization(challenge, 4))
    assert status == 200


async def test_naf_serves_a_key_from_memory_after_the_store_lost_it(served: Served) -> None:
    challenge = await served.challenge()
    status, _, _ = await served.get(authorization(challenge, 1))
    assert status == 200
    assert served.bsf.asked == 1
    assert await served.store.get_key(BTID, NAF_ID, NOW) is not None
    assert await served.store.delete_key(BTID, NAF_ID)
    assert await served.store.get_key(BTID, NAF_ID, NOW) is None
    status, _, body = await served.get(authorization(challenge, 2))
    assert status == 200, body
    assert served.bsf.asked == 1, "served from memory: the BSF was not asked again"
    assert (served.naf.keys.hits, served.naf.keys.misses) == (1, 1)
    assert len(served.naf.keys.recent) == 1


async def test_naf_refuses_a_wrong_password_even_with_the_key_in_memory(
        served: Served) -> None:
    challenge = await served.challenge()
    assert (await served.get(authorization(challenge, 1)))[0] == 200
    status, headers, _ = await served.get(authorization(challenge, 2, key=b"x" * 32))
    assert status == 401
    assert not Challenge.from_header(headers["WWW-Authenticate"]).stale
    # a refused response does not spend its nc
    assert (await served.get(authorization(challenge, 2)))[0] == 200


# ------------------------------------------------------------------ NafKeys.hits


async def test_naf_keys_hits_count_memory_hits() -> None:
    store = open_naf_store("memory:")
    bsf = FakeBsf()
    try:
        keys = NafKeys(store, bsf, Clock())
        await store.put_key(naf_key())
        assert await keys.get(BTID, NAF_ID) == naf_key()  # from the store, now in memory
        assert (keys.hits, keys.misses, len(keys.recent)) == (1, 0, 1)
        await store.delete_key(BTID, NAF_ID)
        assert await keys.get(BTID, NAF_ID) == naf_key()  # from memory alone
        assert await keys.get(BTID, NAF_ID) == naf_key()
        assert (keys.hits, keys.misses) == (3, 0)
        assert bsf.asked == 0
    finally:
        await store.close()


async def test_naf_keys_given_recent_keys_use_them() -> None:
    store = open_naf_store("memory:")
    bsf = FakeBsf()
    recent = RecentKeys()
    recent.put(naf_key(key=b"m" * 32))
    try:
        keys = NafKeys(store, bsf, Clock(), recent=recent)
        got = await keys.get(BTID, NAF_ID)
        assert got is not None
        assert got.key == b"m" * 32
        assert (keys.hits, keys.misses, bsf.asked) == (1, 0, 0)
    finally:
        await store.close()


async def test_naf_keys_ask_the_bsf_once_the_memory_key_expired() -> None:
    store = open_naf_store("memory:")
    bsf = FakeBsf()
    clock = Clock()
    recent = RecentKeys()
    recent.put(naf_key(key=b"m" * 32, expires=NOW + timedelta(minutes=1)))
    try:
        keys = NafKeys(store, bsf, clock, recent=recent)
        clock.now = NOW + timedelta(minutes=1)
        got = await keys.get(BTID, NAF_ID)
        assert got is not None
        assert got.key == KS_NAF  # the BSF's, not the expired one in memory
        assert (keys.hits, keys.misses, bsf.asked) == (0, 1, 1)
        assert recent.get(BTID, NAF_ID, clock.now) == got
    finally:
        await store.close()

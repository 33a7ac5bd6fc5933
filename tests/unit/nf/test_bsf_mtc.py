"""The BSF's choice of vector for an MTC device (gba.nf.bsf_mtc; docs/mtc.md §4): the
HSS for a group's first device, the group's vector for the next ones while ``reuse_on``
allows, never twice for one device, at most ``max_reuse`` devices, and the HSS again for
a device the stored settings do not list."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from gba.nf.bsf_mtc import BsfMtc, MtcPolicy, ReuseOn
from gba.protocols import mtc, zh
from gba.protocols.zh_mtc import MtcResultCode
from gba.store.bsf import BsfStore
from gba.store.factory import open_bsf_store

pytestmark = pytest.mark.mtc

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
GROUP = "meters@mtc.example.org"
MEMBERS = tuple(f"00101000000000{n}" for n in range(1, 6))
REQUEST = mtc.InitRequest(GROUP, 1, mtc.Capability.SEND | mtc.Capability.RECEIVE)


def impi(imsi: str) -> str:
    return mtc.device_impi(imsi, "001", "01")


class FakeHss:
    """Zh for MTC: a new vector per request, the group's members in the settings."""

    def __init__(self, members: tuple[str, ...] = MEMBERS) -> None:
        self.asked: list[str] = []
        self.members = members

    async def __call__(self, req: zh.VectorRequest, init: mtc.InitRequest
                       ) -> tuple[zh.VectorAnswer, str] | int:
        self.asked.append(req.impi)
        imsi = mtc.imsi_of(req.impi)
        if imsi not in self.members:
            return int(MtcResultCode.NOT_A_MEMBER)
        n = len(self.asked)
        settings = mtc.encode_settings(mtc.MtcSettings(
            init.group_id, init.key_id, imsi, init.capability, self.members, 3600))
        return zh.VectorAnswer(req.impi, bytes([n]) * 16, bytes(16), bytes(8),
                               bytes([n]) * 16, bytes(16)), settings


@pytest.fixture
async def store() -> AsyncIterator[BsfStore]:
    s = open_bsf_store("memory:")
    yield s
    await s.close()


DEFAULT = MtcPolicy()


def bsf(store: BsfStore, hss: FakeHss, policy: MtcPolicy = DEFAULT,
        clock: list[datetime] | None = None) -> BsfMtc:
    now = clock or [NOW]
    return BsfMtc(store, hss, policy, lambda: now[0], timedelta(hours=1))


async def vector_of(b: BsfMtc, imsi: str, init: mtc.InitRequest = REQUEST
                    ) -> zh.VectorAnswer | int:
    got, _ = await b.vector(zh.VectorRequest(impi(imsi)), init)
    return got


async def test_the_group_vector_serves_each_other_device_once(store: BsfStore) -> None:
    hss = FakeHss()
    b = bsf(store, hss)
    first = await vector_of(b, MEMBERS[0])
    others = [await vector_of(b, m) for m in MEMBERS[1:4]]
    assert isinstance(first, zh.VectorAnswer)
    assert all(isinstance(o, zh.VectorAnswer) and o.rand == first.rand for o in others)
    assert hss.asked == [impi(MEMBERS[0])]  # one HSS request for four devices
    again = await vector_of(b, MEMBERS[1])  # it used the vector: a new one
    assert isinstance(again, zh.VectorAnswer)
    assert again.rand != first.rand
    assert hss.asked == [impi(MEMBERS[0]), impi(MEMBERS[1])]


async def test_the_reused_settings_name_the_device(store: BsfStore) -> None:
    b = bsf(store, FakeHss())
    await vector_of(b, MEMBERS[0])
    _, settings = await b.vector(zh.VectorRequest(impi(MEMBERS[1])),
                                 mtc.InitRequest(GROUP, 1, mtc.Capability.SEND))
    decoded = mtc.decode_settings(settings or "")
    assert (decoded.imsi, decoded.capability) == (MEMBERS[1], mtc.Capability.SEND)


@pytest.mark.parametrize(("policy", "hss_requests"), [
    (MtcPolicy(mtc.SubKeys.NONE, ReuseOn.KIWF), 1),
    (MtcPolicy(mtc.SubKeys.BOTH, ReuseOn.ENC_INT), 1),
    (MtcPolicy(mtc.SubKeys.NONE, ReuseOn.ENC_INT), 3),  # no enc/int keys in use: no reuse
    (MtcPolicy(mtc.SubKeys.BOTH, ReuseOn.OFF), 3),
    (MtcPolicy(mtc.SubKeys.NONE, ReuseOn.KIWF, max_reuse=2), 2),
])
async def test_reuse_on_and_max_reuse(store: BsfStore, policy: MtcPolicy,
                                      hss_requests: int) -> None:
    hss = FakeHss()
    b = bsf(store, hss, policy)
    for m in MEMBERS[:3]:
        assert isinstance(await vector_of(b, m), zh.VectorAnswer)
    assert len(hss.asked) == hss_requests


async def test_an_expired_group_vector_is_not_reused(store: BsfStore) -> None:
    hss = FakeHss()
    clock = [NOW]
    b = bsf(store, hss, clock=clock)
    await vector_of(b, MEMBERS[0])
    clock[0] = NOW + timedelta(hours=2)
    await vector_of(b, MEMBERS[1])
    assert len(hss.asked) == 2


async def test_a_device_missing_from_the_stored_settings_goes_to_the_hss(
        store: BsfStore) -> None:
    hss = FakeHss(MEMBERS[:2])
    b = bsf(store, hss)
    await vector_of(b, MEMBERS[0])
    outsider = await vector_of(b, MEMBERS[4])  # not listed: not the shared vector
    assert outsider == MtcResultCode.NOT_A_MEMBER  # the HSS refuses it
    assert hss.asked == [impi(MEMBERS[0]), impi(MEMBERS[4])]
    hss.members = MEMBERS  # a member added since the vector was fetched
    newcomer = await vector_of(b, MEMBERS[3])
    assert isinstance(newcomer, zh.VectorAnswer)
    assert len(hss.asked) == 3


async def test_a_stale_key_or_no_capability_is_refused_on_the_reuse_path(
        store: BsfStore) -> None:
    hss = FakeHss()
    b = bsf(store, hss)
    await vector_of(b, MEMBERS[0])
    assert await vector_of(b, MEMBERS[1], mtc.InitRequest(GROUP, 2, REQUEST.capability)) \
        == MtcResultCode.STALE_GROUP_KEY
    assert await vector_of(b, MEMBERS[2], mtc.InitRequest(GROUP, 1, mtc.Capability.NONE)) \
        == MtcResultCode.NO_SMALL_DATA
    assert len(hss.asked) == 1


async def test_a_resynchronisation_always_asks_the_hss(store: BsfStore) -> None:
    hss = FakeHss()
    b = bsf(store, hss)
    await vector_of(b, MEMBERS[0])
    await b.vector(zh.VectorRequest(impi(MEMBERS[1]), bytes(16), bytes(14)), REQUEST)
    assert len(hss.asked) == 2


async def test_an_impi_not_made_from_an_imsi_is_no_member(store: BsfStore) -> None:
    hss = FakeHss()
    got, _ = await bsf(store, hss).vector(zh.VectorRequest("alice@example.org"), REQUEST)
    assert got == MtcResultCode.NOT_A_MEMBER
    assert hss.asked == []


@pytest.mark.parametrize(("source", "subscribed", "claimed", "granted"), [
    ("request", mtc.Capability.NONE, mtc.Capability.SEND, mtc.Capability.SEND),
    ("subscription", mtc.Capability.NONE, mtc.Capability.SEND, mtc.Capability.NONE),
    ("subscription", mtc.Capability.SEND, mtc.Capability.NONE, mtc.Capability.SEND),
    ("both", mtc.Capability.SEND, mtc.Capability.SEND, mtc.Capability.SEND),
    ("both", mtc.Capability.SEND, REQUEST.capability, mtc.Capability.NONE),
])
async def test_the_reuse_path_applies_the_hss_capability_rule(
        store: BsfStore, source: str, subscribed: mtc.Capability, claimed: mtc.Capability,
        granted: mtc.Capability) -> None:
    """The stored settings carry each member's subscription and the HSS's source, so a
    device's capability on the reuse path is the one the HSS would grant."""
    both = mtc.Capability.SEND | mtc.Capability.RECEIVE
    settings = mtc.encode_settings(mtc.MtcSettings(
        GROUP, 1, MEMBERS[0], both, MEMBERS[:2], 3600, subscribed=(both, subscribed),
        capability_source=source))

    async def hss(req: zh.VectorRequest, init: mtc.InitRequest
                  ) -> tuple[zh.VectorAnswer, str] | int:
        return zh.VectorAnswer(req.impi, bytes(16), bytes(16), bytes(8), bytes(16),
                               bytes(16)), settings

    b = BsfMtc(store, hss, MtcPolicy(), lambda: NOW, timedelta(hours=1))
    await b.vector(zh.VectorRequest(impi(MEMBERS[0])), REQUEST)
    got, reused = await b.vector(zh.VectorRequest(impi(MEMBERS[1])),
                                 mtc.InitRequest(GROUP, 1, claimed))
    if granted == mtc.Capability.NONE:
        assert got == MtcResultCode.NO_SMALL_DATA
    else:
        assert isinstance(got, zh.VectorAnswer)
        assert mtc.decode_settings(reused or "").capability == granted

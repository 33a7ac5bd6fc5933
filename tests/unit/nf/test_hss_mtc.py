"""The HSS's answer to MTC devices (seed 004 steps 201-202; docs/mtc.md §3): membership,
the group-key identifier, small-data capability by ``capability_source``, and a vector
from the group key that a device holding that key (and only such a device) accepts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gba.config import DiameterNodeConfig
from gba.crypto import aka
from gba.errors import MacFailure
from gba.nf.common import peer_identity
from gba.nf.hss import Hss
from gba.nf.hss_mtc import CapabilitySource
from gba.protocols import mtc, zh, zh_mtc
from gba.protocols.diameter import Message, ResultCode
from gba.store.base import Subscriber, SubscriberStore
from gba.store.factory import open_subscriber_store
from gba.store.hss import MtcDevice, MtcGroup

pytestmark = pytest.mark.mtc

GROUP = "meters@mtc.example.org"
GROUP_K = bytes.fromhex("465b5ce8b199b49faa5f0a2ee238a6bc")
GROUP_OPC = bytes.fromhex("cd63cb71954a9f4e48a5994e37a02baf")
IMSIS = ("001010000000001", "001010000000002", "001010000000003")
OUTSIDER = "001010000000009"
BSF = peer_identity(DiameterNodeConfig("bsf.example.org", "example.org"))
HSS = peer_identity(DiameterNodeConfig("hss.example.org", "example.org"))
PEER = "bsf.example.org"
BOTH = int(mtc.Capability.SEND | mtc.Capability.RECEIVE)


def impi(imsi: str) -> str:
    return mtc.device_impi(imsi, "001", "01")


@pytest.fixture
async def store() -> AsyncIterator[SubscriberStore]:
    s = open_subscriber_store("memory:")
    await s.provision_mtc_group(MtcGroup(GROUP, 7), Subscriber(GROUP, GROUP_K, GROUP_OPC))
    await s.put_mtc_device(MtcDevice(IMSIS[0], GROUP, BOTH))
    await s.put_mtc_device(MtcDevice(IMSIS[1], GROUP, int(mtc.Capability.SEND)))
    await s.put_mtc_device(MtcDevice(IMSIS[2], GROUP, 0))  # no small data subscribed
    await s.put_subscriber(Subscriber(impi(OUTSIDER), GROUP_K, GROUP_OPC))
    yield s
    await s.close()


def mtc_mar(imsi: str, group: str = GROUP, key_id: int = 7, capability: int = BOTH,
            resync: tuple[bytes, bytes] | None = None) -> Message:
    base = zh.VectorRequest(impi(imsi), *(resync or (None, None)))
    return zh_mtc.build_mtc_mar(BSF, "example.org", f"{PEER};1;{imsi}",
                                zh_mtc.MtcVectorRequest(impi(imsi), group, key_id, capability),
                                base=base).with_ids(1, 2)


async def answer(store: SubscriberStore, mar: Message,
                 source: CapabilitySource = CapabilitySource.BOTH) -> Message:
    hss = Hss(store, HSS, capability_source=source)
    return await hss.handle(Message.decode(mar.encode()), PEER)


async def test_a_member_gets_a_vector_from_the_group_key_and_its_settings(
        store: SubscriberStore) -> None:
    maa = await answer(store, mtc_mar(IMSIS[0]))
    assert maa.result_code == ResultCode.SUCCESS
    vector, settings_xml = zh_mtc.parse_mtc_maa(maa)
    assert vector.impi == impi(IMSIS[0])
    settings = mtc.decode_settings(settings_xml or "")
    assert (settings.group_id, settings.key_id, settings.imsi) == (GROUP, 7, IMSIS[0])
    assert settings.capability == mtc.Capability(BOTH)
    assert set(settings.members) == set(IMSIS)
    # the device's USIM holds the group key: it verifies AUTN and its RES is XRES
    result = aka.Usim(GROUP_K, GROUP_OPC).authenticate(vector.rand, vector.autn)
    assert isinstance(result, aka.AkaSuccess)
    assert result.res == vector.xres
    # a device with another group key cannot
    with pytest.raises(MacFailure):
        aka.Usim(bytes(16), GROUP_OPC).authenticate(vector.rand, vector.autn)


async def test_vectors_of_one_group_share_its_sqn(store: SubscriberStore) -> None:
    first, _ = zh_mtc.parse_mtc_maa(await answer(store, mtc_mar(IMSIS[0])))
    second, _ = zh_mtc.parse_mtc_maa(await answer(store, mtc_mar(IMSIS[1],
                                                               capability=1)))
    assert (await store.get_subscriber(GROUP)).sqn == aka.next_sqn(aka.next_sqn(0, 0), 0)
    assert first.rand != second.rand


@pytest.mark.parametrize(("mar_args", "code"), [
    ({"imsi": IMSIS[0], "group": "nobody@mtc.example.org"}, zh_mtc.MtcResultCode.UNKNOWN_GROUP),
    ({"imsi": OUTSIDER}, zh_mtc.MtcResultCode.NOT_A_MEMBER),
    ({"imsi": IMSIS[0], "key_id": 6}, zh_mtc.MtcResultCode.STALE_GROUP_KEY),
    ({"imsi": IMSIS[0], "capability": 0}, zh_mtc.MtcResultCode.NO_SMALL_DATA),
])
async def test_refusals_issue_nothing(store: SubscriberStore, mar_args: dict[str, object],
                                      code: zh_mtc.MtcResultCode) -> None:
    before = (await store.get_subscriber(GROUP)).sqn
    maa = await answer(store, mtc_mar(**mar_args))  # type: ignore[arg-type]
    assert zh_mtc.mtc_result(maa) is code
    assert maa.find(612, 10415) is None  # no vector
    assert (await store.get_subscriber(GROUP)).sqn == before


@pytest.mark.parametrize(("source", "imsi", "claimed", "granted"), [
    # claim 6: the request's word
    (CapabilitySource.REQUEST, IMSIS[2], BOTH, BOTH),
    (CapabilitySource.REQUEST, IMSIS[0], 0, 0),
    # claim 7: the subscription's word, whatever the request says
    (CapabilitySource.SUBSCRIPTION, IMSIS[1], BOTH, 1),
    (CapabilitySource.SUBSCRIPTION, IMSIS[2], BOTH, 0),
    # both: the claim must lie within the subscription
    (CapabilitySource.BOTH, IMSIS[1], 1, 1),
    (CapabilitySource.BOTH, IMSIS[1], BOTH, 0),
    (CapabilitySource.BOTH, IMSIS[2], 1, 0),
])
async def test_capability_source(store: SubscriberStore, source: CapabilitySource, imsi: str,
                                 claimed: int, granted: int) -> None:
    maa = await answer(store, mtc_mar(imsi, capability=claimed), source)
    if granted == 0:
        assert zh_mtc.mtc_result(maa) is zh_mtc.MtcResultCode.NO_SMALL_DATA
        return
    assert maa.result_code == ResultCode.SUCCESS
    _, settings_xml = zh_mtc.parse_mtc_maa(maa)
    assert mtc.decode_settings(settings_xml or "").capability == mtc.Capability(granted)


async def test_resync_moves_the_group_sqn(store: SubscriberStore) -> None:
    usim = aka.Usim(GROUP_K, GROUP_OPC)
    for _ in range(3):  # the device is ahead of the HSS
        vector, _ = zh_mtc.parse_mtc_maa(await answer(store, mtc_mar(IMSIS[0])))
        usim.authenticate(vector.rand, vector.autn)
    await store.set_sqn(GROUP, 0)  # e.g. a restored backup
    stale, _ = zh_mtc.parse_mtc_maa(await answer(store, mtc_mar(IMSIS[0])))
    failure = usim.authenticate(stale.rand, stale.autn)
    assert isinstance(failure, aka.AkaSyncFailure)
    maa = await answer(store, mtc_mar(IMSIS[0], resync=(stale.rand, failure.auts)))
    fresh, _ = zh_mtc.parse_mtc_maa(maa)
    assert isinstance(usim.authenticate(fresh.rand, fresh.autn), aka.AkaSuccess)


async def test_a_plain_mar_still_gets_a_plain_vector(store: SubscriberStore) -> None:
    mar = zh.build_mar(BSF, "example.org", "s;1", zh.VectorRequest(impi(OUTSIDER)))
    maa = await answer(store, mar.with_ids(3, 4))
    assert maa.result_code == ResultCode.SUCCESS
    assert zh_mtc.parse_mtc_maa(maa)[1] is None

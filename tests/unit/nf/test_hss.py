"""The HSS's Zh logic (gba.nf.hss.Hss), driven with Diameter messages and no transport."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gba.config import SAMPLE_CONFIG, DiameterNodeConfig
from gba.crypto import aka
from gba.errors import MacFailure
from gba.nf import registry
from gba.nf.common import peer_identity
from gba.nf.hss import Hss
from gba.protocols import guss as guss_xml
from gba.protocols import zh
from gba.protocols.diameter import (
    APP_ZN,
    CMD_BOOTSTRAPPING_INFO,
    Message,
    PeerIdentity,
    ResultCode,
    avp,
    raw_avp,
)
from gba.protocols.diameter.dictionary import ORIGIN_HOST
from gba.store.base import Subscriber, SubscriberStore
from gba.store.factory import open_subscriber_store
from vectors import ts35208_set

IMPI = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
K, OPC = ts35208_set(1)  # TS 35.208 test set 1
BSF = peer_identity(DiameterNodeConfig("bsf.example.org", "example.org"))
PEER = "bsf.example.org"
TGPP = 10415


@pytest.fixture
async def store() -> AsyncIterator[SubscriberStore]:
    s = open_subscriber_store("memory:")
    await s.put_subscriber(Subscriber(IMPI, K, OPC))
    yield s
    await s.close()


@pytest.fixture
def identity() -> PeerIdentity:
    return peer_identity(DiameterNodeConfig("hss.example.org", "example.org"))


@pytest.fixture
def hss(store: SubscriberStore, identity: PeerIdentity) -> Hss:
    return Hss(store, identity)


def mar(impi: str = IMPI, rand: bytes | None = None, auts: bytes | None = None) -> Message:
    return zh.build_mar(BSF, "example.org", "bsf.example.org;1;1",
                        zh.VectorRequest(impi, rand, auts)).with_ids(21, 22)


async def ask(hss: Hss, request: Message) -> Message:
    """One exchange, through the wire format both ways."""
    answer = await hss.handle(Message.decode(request.encode()), PEER)
    return Message.decode(answer.encode())


async def vector(hss: Hss, request: Message | None = None) -> zh.VectorAnswer:
    answer = await ask(hss, request or mar())
    assert answer.result_code == 2001
    return zh.parse_maa(answer)


def accepted(usim: aka.Usim, v: zh.VectorAnswer) -> aka.AkaSuccess:
    result = usim.authenticate(v.rand, v.autn)
    assert isinstance(result, aka.AkaSuccess)
    return result


# ------------------------------------------------------------------ vectors


async def test_mar_for_a_provisioned_impi_gets_a_vector_the_usim_accepts(hss: Hss) -> None:
    v = await vector(hss)
    result = accepted(aka.Usim(K, OPC), v)
    assert (result.res, result.ck, result.ik) == (v.xres, v.ck, v.ik)
    assert v.impi == IMPI


async def test_maa_answers_the_mar(hss: Hss, identity: PeerIdentity) -> None:
    answer = await ask(hss, mar())
    assert not answer.is_request
    assert (answer.hop_by_hop, answer.end_to_end) == (21, 22)
    origin = answer.find(264)
    assert origin is not None
    assert origin.as_str() == identity.origin_host


async def test_vector_of_another_k_is_refused_by_the_usim(hss: Hss) -> None:
    v = await vector(hss)
    with pytest.raises(MacFailure):
        aka.Usim(bytes(16), OPC).authenticate(v.rand, v.autn)


async def test_seq_steps_by_one_per_request(hss: Hss, store: SubscriberStore) -> None:
    usim = aka.Usim(K, OPC)
    seqs = [aka.split_sqn(accepted(usim, await vector(hss)).sqn)[0] for _ in range(3)]
    assert seqs == [1, 2, 3]
    assert aka.split_sqn((await store.get_subscriber(IMPI)).sqn)[0] == 3


async def test_vectors_carry_the_configured_ind(store: SubscriberStore,
                                                identity: PeerIdentity) -> None:
    v = await vector(Hss(store, identity, ind=5))
    assert aka.split_sqn(accepted(aka.Usim(K, OPC), v).sqn) == (1, 5)


async def test_each_vector_has_a_fresh_rand(hss: Hss) -> None:
    assert (await vector(hss)).rand != (await vector(hss)).rand


async def test_subscriber_without_guss_gets_a_default_guss_naming_the_impi(hss: Hss) -> None:
    """TS 29.109 Annex A guss@id: the IMPI (FHoSS and Metaswitch fill it so)."""
    v = await vector(hss)
    assert v.guss is not None
    assert guss_xml.decode_guss(v.guss) == guss_xml.Guss(id=IMPI)
    assert v.guss.startswith('<guss xmlns="urn:3gpp:gba:GBAGUSSSchema-R9:2010-02" id="')


async def test_subscriber_guss_is_passed_to_the_bsf(hss: Hss, store: SubscriberStore) -> None:
    guss = guss_xml.encode_guss(guss_xml.Guss(guss_xml.UICC_GBA_U, 600))
    await store.put_subscriber(Subscriber(IMPI, K, OPC, guss=guss))
    assert (await vector(hss)).guss == guss


async def test_provisioned_guss_keeps_its_own_id(hss: Hss, store: SubscriberStore) -> None:
    guss = '<guss id="provisioned-id"><bsfInfo><uiccType>GBA</uiccType></bsfInfo></guss>'
    await store.put_subscriber(Subscriber(IMPI, K, OPC, guss=guss))
    assert (await vector(hss)).guss == guss


async def test_new_keys_of_a_subscriber_are_used_at_once(hss: Hss,
                                                         store: SubscriberStore) -> None:
    await vector(hss)  # caches the Milenage instance of the old K
    k2 = bytes(range(16))
    await store.put_subscriber(Subscriber(IMPI, k2, OPC))
    accepted(aka.Usim(k2, OPC), await vector(hss))


# ------------------------------------------------------------------ failures


async def test_unknown_impi_gets_experimental_result_5401(hss: Hss) -> None:
    answer = await ask(hss, mar("nobody@example.org"))
    assert answer.result_code == 5401
    assert answer.find(268) is None
    group = answer.find(297)
    assert group is not None
    vendor = group.find(266)
    assert vendor is not None
    assert vendor.as_int() == TGPP
    assert answer.find(612, TGPP) is None


async def test_non_mar_command_gets_3001(hss: Hss) -> None:
    request = Message.new(CMD_BOOTSTRAPPING_INFO, APP_ZN, avps=[
        avp("Session-Id", "x;1"), avp("Origin-Host", "naf.example.org"),
        avp("Origin-Realm", "example.org")])
    answer = await ask(hss, request)
    assert answer.result_code == 3001
    assert answer.is_error


async def test_mar_without_user_name_gets_5005(hss: Hss) -> None:
    full = mar()
    request = Message.new(full.command_code, full.application_id,
                          avps=[a for a in full.avps if a.code != 1])
    answer = await ask(hss, request)
    assert answer.result_code == 5005
    failed = answer.find(279)
    assert failed is not None
    assert [c.code for c in failed.children()] == [1]
    assert answer.find(612, TGPP) is None


async def test_mar_with_an_unsupported_mandatory_avp_gets_5001(hss: Hss,
                                                               store: SubscriberStore) -> None:
    """RFC 6733 §4.1, §7.5: 5001 DIAMETER_AVP_UNSUPPORTED with the AVP in Failed-AVP."""
    before = (await store.get_subscriber(IMPI)).sqn
    full = mar()
    stranger = raw_avp(4242, b"\x00\x01", vendor=TGPP, mandatory=True)
    answer = await ask(hss, full.with_avps([*full.avps, stranger]))
    assert answer.result_code == 5001
    failed = answer.find(279)
    assert failed is not None
    assert failed.children() == (stranger,)
    assert answer.find(612, TGPP) is None
    assert (await store.get_subscriber(IMPI)).sqn == before  # no vector was spent


async def test_mar_with_an_unknown_avp_without_the_m_bit_gets_a_vector(hss: Hss) -> None:
    full = mar()
    answer = await ask(hss, full.with_avps([*full.avps, raw_avp(4242, b"x", vendor=TGPP)]))
    assert answer.result_code == 2001
    assert answer.find(612, TGPP) is not None


async def test_resync_mar_with_auts_of_wrong_length_gets_5004(hss: Hss,
                                                             store: SubscriberStore) -> None:
    before = (await store.get_subscriber(IMPI)).sqn
    answer = await ask(hss, mar(rand=bytes(16), auts=bytes(13)))
    assert answer.result_code == 5004
    assert (await store.get_subscriber(IMPI)).sqn == before


# ------------------------------------------------------------------ peers (TS 33.220 §4.3)

OTHER_BSF = "bsf2.example.org"


async def test_mar_from_a_peer_that_is_not_a_served_bsf_gets_3010_and_no_vector(
        store: SubscriberStore, identity: PeerIdentity) -> None:
    before = (await store.get_subscriber(IMPI)).sqn
    hss = Hss(store, identity, allowed_peers=frozenset({OTHER_BSF}))
    answer = await ask(hss, mar())
    assert answer.result_code == ResultCode.UNKNOWN_PEER
    assert answer.find(612, TGPP) is None
    assert (await store.get_subscriber(IMPI)).sqn == before


async def test_mar_naming_another_origin_host_than_its_peer_gets_3010_and_no_vector(
        store: SubscriberStore, identity: PeerIdentity) -> None:
    """A served BSF may not ask in another BSF's name: Origin-Host must be the peer's."""
    before = (await store.get_subscriber(IMPI)).sqn
    hss = Hss(store, identity, allowed_peers=frozenset({PEER, OTHER_BSF}))
    answer = Message.decode((await hss.handle(mar(), OTHER_BSF)).encode())
    assert answer.result_code == ResultCode.UNKNOWN_PEER
    assert answer.find(612, TGPP) is None
    assert (await store.get_subscriber(IMPI)).sqn == before


async def test_mar_without_origin_host_gets_3010(hss: Hss) -> None:
    full = mar()
    answer = await ask(hss, full.with_avps([a for a in full.avps if a.code != ORIGIN_HOST]))
    assert answer.result_code == ResultCode.UNKNOWN_PEER


async def test_mar_from_a_served_bsf_in_its_own_name_gets_a_vector(
        store: SubscriberStore, identity: PeerIdentity) -> None:
    await vector(Hss(store, identity, allowed_peers=frozenset({PEER})))


def test_sample_hss_runs_zh_over_tls_for_its_bsf_only() -> None:
    sample = registry.load(SAMPLE_CONFIG)
    cfg = registry.config_of(sample, "hss")
    assert cfg.tls.enabled
    assert cfg.bsf_hosts == (sample.bsf.diameter.host,)
    endpoint = registry.diameter_peer(sample, "hss", "test")
    assert (endpoint.tls, endpoint.host) == (True, cfg.diameter.host)


# ------------------------------------------------------------------ resynchronisation


async def sync_failure(hss: Hss, usim: aka.Usim) -> tuple[bytes, bytes]:
    v = await vector(hss)
    result = usim.authenticate(v.rand, v.autn)
    assert isinstance(result, aka.AkaSyncFailure)
    return v.rand, result.auts


async def test_resync_moves_the_hss_past_a_usim_that_is_ahead(hss: Hss) -> None:
    usim = aka.Usim(K, OPC, aka.SqnArray(seq=[500] * aka.IND_COUNT))
    rand, auts = await sync_failure(hss, usim)
    v = await vector(hss, mar(rand=rand, auts=auts))
    assert aka.split_sqn(accepted(usim, v).sqn)[0] == 501


async def test_vectors_after_a_resync_keep_stepping(hss: Hss) -> None:
    usim = aka.Usim(K, OPC, aka.SqnArray(seq=[500] * aka.IND_COUNT))
    rand, auts = await sync_failure(hss, usim)
    accepted(usim, await vector(hss, mar(rand=rand, auts=auts)))
    assert aka.split_sqn(accepted(usim, await vector(hss)).sqn)[0] == 502


async def test_forged_auts_gets_4001_and_leaves_sqn(hss: Hss, store: SubscriberStore) -> None:
    usim = aka.Usim(K, OPC, aka.SqnArray(seq=[500] * aka.IND_COUNT))
    rand, auts = await sync_failure(hss, usim)
    before = (await store.get_subscriber(IMPI)).sqn
    forged = auts[:-1] + bytes([auts[-1] ^ 1])
    answer = await ask(hss, mar(rand=rand, auts=forged))
    assert answer.result_code == 4001
    assert answer.find(297) is None  # a base Result-Code, not an Experimental-Result
    assert answer.find(612, TGPP) is None
    assert (await store.get_subscriber(IMPI)).sqn == before


async def test_auts_for_another_rand_gets_4001(hss: Hss, store: SubscriberStore) -> None:
    usim = aka.Usim(K, OPC, aka.SqnArray(seq=[500] * aka.IND_COUNT))
    rand, auts = await sync_failure(hss, usim)
    before = (await store.get_subscriber(IMPI)).sqn
    answer = await ask(hss, mar(rand=bytes(b ^ 0xFF for b in rand), auts=auts))
    assert answer.result_code == 4001
    assert (await store.get_subscriber(IMPI)).sqn == before


async def test_resync_to_an_older_sqn_never_lowers_the_hss(hss: Hss,
                                                           store: SubscriberStore) -> None:
    for _ in range(5):
        await vector(hss)
    usim = aka.Usim(K, OPC, aka.SqnArray(seq=[1] * aka.IND_COUNT))
    v = await vector(hss)
    accepted(usim, v)  # SEQ 6: fresh for this USIM; replaying it gives AUTS with SEQ_MS 6
    replay = usim.authenticate(v.rand, v.autn)
    assert isinstance(replay, aka.AkaSyncFailure)
    await store.put_subscriber(Subscriber(IMPI, K, OPC, sqn=aka.join_sqn(40, 0)))
    nxt = await vector(hss, mar(rand=v.rand, auts=replay.auts))
    assert aka.split_sqn(accepted(usim, nxt).sqn)[0] == 41

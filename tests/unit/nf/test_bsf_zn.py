"""The BSF's Zn side (gba.nf.bsf.Bsf.zn, TS 29.109 §4.4; TS 33.220 §4.5.3), no transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gba.config import DiameterNodeConfig
from gba.crypto import kdf, ua_protocols
from gba.nf.bsf import Bsf, NafPolicy
from gba.nf.common import peer_identity
from gba.protocols import guss as guss_xml
from gba.protocols import zh, zn
from gba.protocols.diameter import APP_ZH, CMD_MULTIMEDIA_AUTH, Message, avp, raw_avp
from gba.store.base import BootstrapContext, BsfStore
from gba.store.factory import open_bsf_store

IMPI = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
SERVER = "bsf.mnc001.mcc001.pub.3gppnetwork.org"
NAF_HOST = "naf.example.org"
NAF_FQDN = "naf.example.org"
NAF_ID = NAF_FQDN.encode() + ua_protocols.HTTP_DIGEST
RAND = bytes(range(16))
KS = bytes(range(100, 132))
NOW = datetime(2030, 3, 4, 5, 6, 7, tzinfo=UTC)
CONTEXT = BootstrapContext(btid=kdf.btid(RAND, SERVER), impi=IMPI, ks=KS, rand=RAND,
                           created=NOW - timedelta(minutes=1), expires=NOW + timedelta(hours=1))
NAF = peer_identity(DiameterNodeConfig(NAF_HOST, "example.org"))
POLICY = NafPolicy({NAF_HOST: frozenset({NAF_FQDN}),
                    "other-naf.example.org": frozenset({"other.example.org"})})


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def no_vector(_: zh.VectorRequest) -> zh.VectorAnswer | int:
    raise AssertionError("a Zn request must not reach the HSS")


@pytest.fixture
async def store() -> AsyncIterator[BsfStore]:
    s = open_bsf_store("memory:")
    await s.put_context(CONTEXT)
    yield s
    await s.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


def make_bsf(store: BsfStore, clock: Clock, policy: NafPolicy = POLICY) -> Bsf:
    return Bsf(store, no_vector, peer_identity(DiameterNodeConfig("bsf.example.org",
                                                                  "example.org")),
               realm="example.org", server_name=SERVER, policy=policy,
               key_lifetime=timedelta(hours=1), clock=clock)


@pytest.fixture
def bsf(store: BsfStore, clock: Clock) -> Bsf:
    return make_bsf(store, clock)


def bir(btid: str = CONTEXT.btid, naf_id: bytes = NAF_ID, services: tuple[bytes, ...] = (),
        aware: bool = False, origin: str = NAF_HOST) -> Message:
    identity = peer_identity(DiameterNodeConfig(origin, "example.org"))
    return zn.build_bir(identity, "example.org", f"{origin};1;1",
                        zn.KeyRequest(btid, naf_id, services, aware))


async def ask(bsf: Bsf, request: Message, peer: str = NAF_HOST) -> Message:
    """One exchange, through the wire format both ways."""
    answer = await bsf.zn(Message.decode(request.encode()), peer)
    return Message.decode(answer.encode())


async def key(bsf: Bsf, request: Message) -> zn.KeyAnswer:
    answer = await ask(bsf, request)
    assert answer.result_code == 2001
    return zn.parse_bia(answer)


# ------------------------------------------------------------------ keys


async def test_authorised_naf_gets_ks_naf(bsf: Bsf) -> None:
    ans = await key(bsf, bir())
    assert ans.me_key == kdf.ks_naf(KS, RAND, IMPI, NAF_ID)
    assert ans.uicc_key is None
    assert ans.impi == IMPI


async def test_bia_carries_the_context_lifetime(bsf: Bsf) -> None:
    ans = await key(bsf, bir())
    assert (ans.created, ans.expiry) == (CONTEXT.created, CONTEXT.expires)


async def test_ks_naf_depends_on_the_ua_protocol_in_the_naf_id(bsf: Bsf) -> None:
    psk_naf_id = NAF_FQDN.encode() + ua_protocols.DEFAULT
    ans = await key(bsf, bir(naf_id=psk_naf_id))
    assert ans.me_key == kdf.ks_naf(KS, RAND, IMPI, psk_naf_id)
    assert ans.me_key != kdf.ks_naf(KS, RAND, IMPI, NAF_ID)


async def test_gba_u_context_and_aware_naf_get_ks_int_naf(bsf: Bsf, store: BsfStore) -> None:
    await store.put_context(replace(CONTEXT, gba_u=True))
    ans = await key(bsf, bir(aware=True))
    assert ans.uicc_key == kdf.ks_naf(KS, RAND, IMPI, NAF_ID, gba_u=True)
    assert ans.me_key == kdf.ks_naf(KS, RAND, IMPI, NAF_ID)
    assert ans.gba_u


async def test_gba_u_context_and_unaware_naf_get_only_ks_ext_naf(bsf: Bsf,
                                                                 store: BsfStore) -> None:
    await store.put_context(replace(CONTEXT, gba_u=True))
    ans = await key(bsf, bir(aware=False))
    assert ans.uicc_key is None
    assert ans.me_key == kdf.ks_naf(KS, RAND, IMPI, NAF_ID)


async def test_bia_carries_no_uicc_me(bsf: Bsf, store: BsfStore) -> None:
    """UICC-ME (414) is a Zpn AVP (TS 29.109 §6.3.1.15); a Zn NAF may refuse its M bit."""
    await store.put_context(replace(CONTEXT, gba_u=True))
    for aware in (False, True):
        answer = await ask(bsf, bir(aware=aware))
        assert answer.find(414, 10415) is None
        assert zn.parse_bia(answer).gba_u is aware


async def test_bir_with_an_unsupported_mandatory_avp_is_answered_5001(bsf: Bsf) -> None:
    """RFC 6733 §4.1, §7.5: 5001 DIAMETER_AVP_UNSUPPORTED, the AVP in Failed-AVP."""
    request = bir()
    uicc_me = avp("UICC-ME", "GBA_U")
    answer = await ask(bsf, request.with_avps([*request.avps, uicc_me]))
    assert answer.result_code == 5001
    failed = answer.find(279)
    assert failed is not None
    assert failed.children() == (uicc_me,)
    assert answer.find(405, 10415) is None


async def test_bir_with_an_unknown_avp_without_the_m_bit_gets_its_key(bsf: Bsf) -> None:
    request = bir()
    ans = await key(bsf, request.with_avps([*request.avps, raw_avp(9999, b"x", vendor=10415)]))
    assert ans.me_key == kdf.ks_naf(KS, RAND, IMPI, NAF_ID)


async def test_gba_me_context_gives_no_uicc_key_even_to_an_aware_naf(bsf: Bsf) -> None:
    ans = await key(bsf, bir(aware=True))
    assert ans.uicc_key is None
    assert not ans.gba_u


# ------------------------------------------------------------------ refusals


async def test_naf_not_in_the_policy_gets_5402(bsf: Bsf) -> None:
    answer = await ask(bsf, bir(origin="rogue.example.org"), peer="rogue.example.org")
    assert answer.result_code == 5402
    assert answer.find(405, 10415) is None


async def test_naf_asking_for_another_nafs_host_gets_5402(bsf: Bsf) -> None:
    answer = await ask(bsf, bir(naf_id=b"other.example.org" + ua_protocols.HTTP_DIGEST))
    assert answer.result_code == 5402


async def test_authorised_naf_asking_for_its_own_other_host_is_still_5402(bsf: Bsf) -> None:
    request = bir(naf_id=NAF_FQDN.encode() + ua_protocols.HTTP_DIGEST,
                  origin="other-naf.example.org")
    answer = await ask(bsf, request, peer="other-naf.example.org")
    assert answer.result_code == 5402


async def test_origin_host_differing_from_the_peer_gets_5402(bsf: Bsf) -> None:
    answer = await ask(bsf, bir(origin=NAF_HOST), peer="other-naf.example.org")
    assert answer.result_code == 5402


async def test_naf_id_too_short_for_a_protocol_id_gets_5402(bsf: Bsf) -> None:
    answer = await ask(bsf, bir(naf_id=b"naf"))
    assert answer.result_code == 5402


async def test_unknown_btid_gets_5403(bsf: Bsf) -> None:
    answer = await ask(bsf, bir(btid=kdf.btid(bytes(16), SERVER)))
    assert answer.result_code == 5403
    assert answer.find(405, 10415) is None


async def test_expired_btid_gets_5403(bsf: Bsf, clock: Clock) -> None:
    clock.now = CONTEXT.expires
    answer = await ask(bsf, bir())
    assert answer.result_code == 5403


async def test_btid_just_before_expiry_still_gets_a_key(bsf: Bsf, clock: Clock) -> None:
    clock.now = CONTEXT.expires - timedelta(seconds=1)
    await key(bsf, bir())


async def test_non_bir_command_gets_3001(bsf: Bsf) -> None:
    request = Message.new(CMD_MULTIMEDIA_AUTH, APP_ZH, avps=[
        avp("Session-Id", "x;1"), avp("Origin-Host", NAF_HOST), avp("Origin-Realm", "x")])
    answer = await ask(bsf, request)
    assert answer.result_code == 3001


async def test_bir_without_naf_id_gets_5005_with_the_missing_avp(bsf: Bsf) -> None:
    full = bir()
    request = Message.new(full.command_code, full.application_id,
                          avps=[a for a in full.avps if a.code != 402])
    answer = await ask(bsf, request)
    assert answer.result_code == 5005
    failed = answer.find(279)
    assert failed is not None
    (example,) = failed.children()
    assert (example.code, example.vendor) == (402, 10415)


# ------------------------------------------------------------------ USS selection

GUSS = guss_xml.encode_guss(guss_xml.Guss(uss=(
    guss_xml.Uss("sip-a", "sip", "A", ("sip:alice@example.org",)),
    guss_xml.Uss("sip-b", "sip", "B", ("sip:alice.b@example.org",)),
    guss_xml.Uss("mbms-a", "mbms", "A", ("urn:mbms:1",)),
    guss_xml.Uss("mbms-b", "mbms", "B", ("urn:mbms:2",)),
)))
GROUPS = NafPolicy({NAF_HOST: frozenset({NAF_FQDN})}, {NAF_HOST: "A"})


async def uss_ids(store: BsfStore, clock: Clock, policy: NafPolicy, services: tuple[bytes, ...],
                  guss: str = GUSS) -> list[str]:
    await store.put_context(replace(CONTEXT, guss=guss))
    ans = await key(make_bsf(store, clock, policy), bir(services=services))
    return [u.id for u in guss_xml.decode_uss_list(ans.uss)] if ans.uss is not None else []


async def test_only_the_uss_of_the_service_and_the_naf_group_come_back(
        store: BsfStore, clock: Clock) -> None:
    assert await uss_ids(store, clock, GROUPS, (b"mbms",)) == ["mbms-a"]


async def test_uss_come_back_for_each_requested_service(store: BsfStore, clock: Clock) -> None:
    assert await uss_ids(store, clock, GROUPS, (b"sip", b"mbms")) == ["sip-a", "mbms-a"]


async def test_naf_without_a_group_gets_only_the_uss_of_no_group(store: BsfStore,
                                                                clock: Clock) -> None:
    ungrouped = guss_xml.encode_guss(guss_xml.Guss(uss=(
        guss_xml.Uss("sip-any", "sip", None, ("sip:alice@example.org",)),
        *guss_xml.decode_guss(GUSS).uss)))
    assert await uss_ids(store, clock, POLICY, (b"sip",), ungrouped) == ["sip-any"]


async def test_returned_uss_keeps_its_uids(store: BsfStore, clock: Clock) -> None:
    await store.put_context(replace(CONTEXT, guss=GUSS))
    ans = await key(make_bsf(store, clock, GROUPS), bir(services=(b"sip",)))
    assert ans.uss is not None
    assert guss_xml.decode_uss_list(ans.uss) == (
        guss_xml.Uss("sip-a", "sip", "A", ("sip:alice@example.org",)),)


async def test_selected_uss_travel_in_one_uss_list_avp(store: BsfStore, clock: Clock) -> None:
    """TS 29.109 §6.3.1.1: one GBA-UserSecSettings whose root is ussList on Zn."""
    await store.put_context(replace(CONTEXT, guss=GUSS))
    answer = await ask(make_bsf(store, clock, GROUPS), bir(services=(b"sip", b"mbms")))
    (found,) = answer.find_all(400, 10415)
    assert found.data.startswith(b'<ussList xmlns="urn:3gpp:gba:GBAGUSSSchema-R9:2010-02">')
    assert [u.id for u in guss_xml.decode_uss_list(found.data)] == ["sip-a", "mbms-a"]


async def test_no_selected_uss_means_no_gba_usersecsettings(store: BsfStore,
                                                            clock: Clock) -> None:
    await store.put_context(replace(CONTEXT, guss=GUSS))
    answer = await ask(make_bsf(store, clock, GROUPS), bir(services=(b"xdm",)))
    assert answer.result_code == 2001
    assert answer.find(400, 10415) is None


GROUP_B = NafPolicy({NAF_HOST: frozenset({NAF_FQDN})}, {NAF_HOST: "B"})


async def test_gsid_names_a_uss_by_its_id(store: BsfStore, clock: Clock) -> None:
    assert await uss_ids(store, clock, GROUP_B, (b"sip-b",)) == ["sip-b"]


async def test_a_uss_asked_for_twice_comes_back_once(store: BsfStore, clock: Clock) -> None:
    assert await uss_ids(store, clock, GROUPS, (b"sip-a", b"sip")) == ["sip-a"]


async def test_no_service_identifier_means_no_uss(store: BsfStore, clock: Clock) -> None:
    assert await uss_ids(store, clock, GROUPS, ()) == []


async def test_unknown_service_means_no_uss(store: BsfStore, clock: Clock) -> None:
    assert await uss_ids(store, clock, GROUPS, (b"xdm",)) == []


async def test_unreadable_guss_still_gives_the_key_without_uss(store: BsfStore,
                                                               clock: Clock) -> None:
    assert await uss_ids(store, clock, GROUPS, (b"sip",), guss="<guss") == []


# ------------------------------------------------------------------ the route a request took

AGENT = "dra.example.net"
ROUTED = NafPolicy({NAF_HOST: frozenset({NAF_FQDN})},
                   agents_by_origin={NAF_HOST: frozenset({AGENT})})


def routed(route: list[str], origin: str = NAF_HOST) -> Message:
    request = bir(origin=origin)
    return request.with_avps([*request.avps, *(avp("Route-Record", hop) for hop in route)])


async def test_a_naf_through_its_configured_agent_gets_its_key(
        store: BsfStore, clock: Clock) -> None:
    answer = await ask(make_bsf(store, clock, ROUTED), routed([NAF_HOST]), peer=AGENT)
    assert answer.result_code == 2001
    assert zn.parse_bia(answer).me_key == kdf.ks_naf(KS, RAND, IMPI, NAF_ID)


@pytest.mark.parametrize(("route", "peer", "why"), [
    ([NAF_HOST], "stranger.example.net", "an agent not configured for the NAF"),
    (["forger.example.org"], AGENT, "a first hop that is not the Origin-Host"),
    ([NAF_HOST, "stranger.example.net"], AGENT, "an unlisted agent further along"),
    ([], AGENT, "an agent that recorded no hop"),
    ([NAF_HOST], NAF_HOST, "a NAF that names itself as a hop"),
])
async def test_a_request_by_an_unauthorised_route_gets_5402(
        store: BsfStore, clock: Clock, route: list[str], peer: str, why: str) -> None:
    answer = await ask(make_bsf(store, clock, ROUTED), routed(route), peer=peer)
    assert answer.result_code == 5402, why
    assert answer.find(405, 10415) is None, why


def test_only_configured_nafs_and_their_agents_may_open_zn() -> None:
    assert ROUTED.check_peer(NAF_HOST, None, "127.0.0.1") is None
    assert ROUTED.check_peer(AGENT, None, "127.0.0.1") is None
    refusal = ROUTED.check_peer("hss.example.org", None, "127.0.0.1")
    assert refusal is not None
    assert "neither a configured NAF nor its agent" in refusal

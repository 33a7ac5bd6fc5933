"""The home BSF's answer to a visited network (docs/roaming.md §2): partner hosts, key
kind, key lifetime, NAF domains, USS, Visited-Network-Identifier from a home AAA."""

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
from gba.protocols import roaming, zh, zn
from gba.protocols.diameter import Message, avp
from gba.protocols.diameter.routing import route_record
from gba.store.base import BootstrapContext, BsfStore
from gba.store.factory import open_bsf_store

pytestmark = pytest.mark.roaming

HOME = "mnc001.mcc001.3gppnetwork.org"
VISITED = "mnc002.mcc001.3gppnetwork.org"
IMPI = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
SERVER = "bsf.mnc001.mcc001.pub.3gppnetwork.org"
PROXY = f"bsf.{VISITED}"
AAA = f"aaa.{HOME}"
BMSC = f"bmsc.{VISITED}"
MUK_NAF_ID = BMSC.encode() + ua_protocols.MBMS
RAND = bytes(range(16))
KS = bytes(range(100, 132))
NOW = datetime(2030, 3, 4, 5, 6, 7, tzinfo=UTC)
GUSS = ('<guss xmlns="uri:3gpp-gba"><bsfInfo/><ussList><uss id="1" type="1">'
        '<uids><uid>sip:a@example.org</uid></uids><flags><flag>1</flag></flags>'
        '</uss></ussList></guss>')
CONTEXT = BootstrapContext(btid=kdf.btid(RAND, SERVER), impi=IMPI, ks=KS, rand=RAND,
                           created=NOW - timedelta(minutes=1), expires=NOW + timedelta(hours=1))
PARTNER = roaming.VisitedPartner(realm=VISITED, proxies=frozenset({PROXY}),
                                 naf_domains=(VISITED,))


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


def home_bsf(store: BsfStore, clock: Clock, *partners: roaming.VisitedPartner) -> Bsf:
    return Bsf(store, no_vector, peer_identity(DiameterNodeConfig(f"bsf.{HOME}", HOME)),
               realm=HOME, server_name=SERVER, policy=NafPolicy({}),
               key_lifetime=timedelta(hours=1), clock=clock,
               roaming_policy=roaming.RoamingPolicy(partners or (PARTNER,),
                                                    frozenset({AAA})))


def bir(origin: str = PROXY, realm: str = VISITED, naf_id: bytes = MUK_NAF_ID,
        visited: str | None = None, services: tuple[bytes, ...] = ()) -> Message:
    identity = peer_identity(DiameterNodeConfig(origin, realm))
    return zn.build_bir(identity, HOME, f"{origin};1;1",
                        zn.KeyRequest(CONTEXT.btid, naf_id, services,
                                      visited_network=visited))


async def ask(bsf: Bsf, request: Message, peer: str = PROXY) -> Message:
    answer = await bsf.zn(Message.decode(request.encode()), peer)
    return Message.decode(answer.encode())


async def test_derived_policy_gives_ks_naf_for_the_bmsc_naf_id(store: BsfStore) -> None:
    answer = zn.parse_bia(await ask(home_bsf(store, Clock(NOW)), bir()))
    assert answer.key_kind is roaming.KeyKind.KS_NAF
    assert answer.me_key == kdf.ks_naf(KS, RAND, IMPI, MUK_NAF_ID)
    assert answer.impi == IMPI
    assert answer.expiry == CONTEXT.expires


async def test_ks_policy_gives_ks_marked_and_the_server_derives_the_same_muk(
        store: BsfStore) -> None:
    partner = replace(PARTNER, key=roaming.KeyPolicy.KS)
    answer = zn.parse_bia(await ask(home_bsf(store, Clock(NOW), partner), bir()))
    assert answer.key_kind is roaming.KeyKind.KS
    assert answer.me_key is not None
    muk = roaming.visited_key(answer.key_kind, answer.me_key, CONTEXT.btid, answer.impi,
                              MUK_NAF_ID)
    assert muk == kdf.ks_naf(KS, RAND, IMPI, MUK_NAF_ID)


async def test_key_lifetime_caps_expiry_and_refuses_after_it(store: BsfStore) -> None:
    partner = replace(PARTNER, key_lifetime=timedelta(minutes=10))
    clock = Clock(NOW)
    bsf = home_bsf(store, clock, partner)
    answer = zn.parse_bia(await ask(bsf, bir()))
    assert answer.expiry == CONTEXT.created + timedelta(minutes=10)
    clock.now = CONTEXT.created + timedelta(minutes=10)
    refused = await ask(bsf, bir())
    assert refused.result_code == 5403


async def test_host_of_no_partner_is_refused_5402(store: BsfStore) -> None:
    stranger = "bsf.mnc003.mcc001.3gppnetwork.org"
    answer = await ask(home_bsf(store, Clock(NOW)),
                       bir(origin=stranger, realm="mnc003.mcc001.3gppnetwork.org"),
                       peer=stranger)
    assert answer.result_code == 5402


async def test_partner_host_claiming_another_realm_is_refused(store: BsfStore) -> None:
    answer = await ask(home_bsf(store, Clock(NOW)),
                       bir(realm="mnc003.mcc001.3gppnetwork.org"))
    assert answer.result_code == 5402


async def test_naf_id_outside_the_partner_domains_is_refused(store: BsfStore) -> None:
    answer = await ask(home_bsf(store, Clock(NOW)),
                       bir(naf_id=b"naf.elsewhere.org" + ua_protocols.HTTP_DIGEST))
    assert answer.result_code == 5402


async def test_partner_request_through_an_agent_is_refused(store: BsfStore) -> None:
    request = bir()
    relayed = request.with_avps([*request.avps, avp("Route-Record", "dra.example.org")])
    assert route_record(relayed)
    answer = await ask(home_bsf(store, Clock(NOW)), relayed, peer="dra.example.org")
    assert answer.result_code == 5402


async def test_unknown_btid_is_5403(store: BsfStore) -> None:
    request = zn.build_bir(peer_identity(DiameterNodeConfig(PROXY, VISITED)), HOME, "s;1;1",
                           zn.KeyRequest(kdf.btid(bytes(16), SERVER), MUK_NAF_ID))
    answer = await ask(home_bsf(store, Clock(NOW)), request)
    assert answer.result_code == 5403


async def test_home_aaa_names_the_visited_network(store: BsfStore) -> None:
    answer = await ask(home_bsf(store, Clock(NOW)),
                       bir(origin=AAA, realm=HOME, visited=VISITED), peer=AAA)
    assert answer.result_code == 2001
    assert zn.parse_bia(answer).me_key == kdf.ks_naf(KS, RAND, IMPI, MUK_NAF_ID)


async def test_visited_network_named_by_a_non_aaa_is_refused(store: BsfStore) -> None:
    answer = await ask(home_bsf(store, Clock(NOW)), bir(visited=VISITED))
    assert answer.result_code == 5402


async def test_aaa_naming_an_unknown_network_is_refused(store: BsfStore) -> None:
    answer = await ask(home_bsf(store, Clock(NOW)),
                       bir(origin=AAA, realm=HOME, visited="mnc009.mcc009.3gppnetwork.org"),
                       peer=AAA)
    assert answer.result_code == 5402


@pytest.mark.parametrize("send_uss", [True, False])
async def test_security_profile_present_or_absent_by_policy(store: BsfStore,
                                                            send_uss: bool) -> None:
    await store.put_context(replace(CONTEXT, guss=GUSS))
    partner = replace(PARTNER, send_uss=send_uss)
    answer = zn.parse_bia(await ask(home_bsf(store, Clock(NOW), partner),
                                    bir(services=(b"1",))))
    if send_uss:
        assert answer.uss is not None
        assert [u.id for u in guss_xml.decode_uss_list(answer.uss)] == ["1"]
    else:
        assert answer.uss is None


async def test_check_peer_admits_partner_hosts_and_aaas_only(store: BsfStore) -> None:
    bsf = home_bsf(store, Clock(NOW))
    assert bsf.check_peer(PROXY, None, "127.0.0.1") is None
    assert bsf.check_peer(AAA, None, "127.0.0.1") is None
    assert bsf.check_peer("x.example.org", None, "127.0.0.1") is not None

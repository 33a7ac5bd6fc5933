"""The Zn-Proxy's decisions and relayed answers (gba.protocols.zn_proxy; TS 33.220 Annex K)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gba.config import DiameterNodeConfig
from gba.crypto import kdf
from gba.nf.common import peer_identity
from gba.protocols import roaming, zn, zn_proxy
from gba.protocols.diameter import Message

pytestmark = pytest.mark.roaming

OWN = "mnc002.mcc001.3gppnetwork.org"
PROXY = peer_identity(DiameterNodeConfig(f"bsf.{OWN}", OWN))
RAND = bytes(range(16))


def test_btid_of_another_3gpp_network_is_asked_at_home() -> None:
    btid = kdf.btid(RAND, "bsf.mnc001.mcc001.pub.3gppnetwork.org")
    assert zn_proxy.decide(btid, OWN) == zn_proxy.AskHome("mnc001.mcc001.3gppnetwork.org")


def test_btid_of_our_own_network_is_answered_locally() -> None:
    btid = kdf.btid(RAND, "bsf.mnc002.mcc001.pub.3gppnetwork.org")
    assert zn_proxy.decide(btid, OWN.upper()) == zn_proxy.AnswerLocally()


def test_configured_domain_maps_to_its_realm() -> None:
    btid = kdf.btid(RAND, "bsf.partner.example")
    decision = zn_proxy.decide(btid, OWN, {"bsf.partner.example": "partner.example"})
    assert decision == zn_proxy.AskHome("partner.example")


@pytest.mark.parametrize("btid", ["no-at-sign", "@bsf.mnc001.mcc001.pub.3gppnetwork.org",
                                  "!!!@bsf.mnc001.mcc001.pub.3gppnetwork.org",
                                  "AAEC@bsf.mnc001.mcc001.pub.3gppnetwork.org"])
def test_malformed_btid_is_refused_5403(btid: str) -> None:
    decision = zn_proxy.decide(btid, OWN)
    assert isinstance(decision, zn_proxy.Refuse)
    assert decision.code == 5403


@pytest.mark.parametrize("domain", ["bsf.example.com", "bsf.mnc01.mcc001.pub.3gppnetwork.org",
                                    "mnc001.mcc001.pub.3gppnetwork.org"])
def test_domain_naming_no_network_is_refused_3003(domain: str) -> None:
    decision = zn_proxy.decide(kdf.btid(RAND, domain), OWN)
    assert isinstance(decision, zn_proxy.Refuse)
    assert decision.code == 3003


def _request() -> Message:
    naf = peer_identity(DiameterNodeConfig(f"bmsc.{OWN}", OWN))
    return zn.build_bir(naf, OWN, "bmsc;1;2", zn.KeyRequest(kdf.btid(RAND, "b.example"),
                                                             b"bmsc\x01\x00\x00\x00\x01"))


def test_relayed_answer_has_the_proxy_as_origin_and_keeps_the_key_kind() -> None:
    answer = zn.KeyAnswer("u@home", datetime(2031, 1, 1, tzinfo=UTC),
                          datetime(2030, 1, 1, tzinfo=UTC), bytes(32),
                          key_kind=roaming.KeyKind.KS)
    relayed = Message.decode(zn_proxy.relay(_request(), PROXY, answer).encode())
    assert relayed.result_code == 2001
    assert relayed.find(264).as_str() == PROXY.origin_host  # type: ignore[union-attr]
    assert zn.parse_bia(relayed) == answer


@pytest.mark.parametrize(("code", "protocol_error"), [(3002, True), (3003, True),
                                                      (5402, False), (5403, False),
                                                      (5012, False)])
def test_relayed_refusal_keeps_its_code(code: int, protocol_error: bool) -> None:
    relayed = Message.decode(zn_proxy.relay(_request(), PROXY, code).encode())
    assert relayed.result_code == code
    assert relayed.is_error is protocol_error


def test_home_request_drops_the_naf_identity() -> None:
    req = zn.KeyRequest("b@x", b"n", (b"s",), True, origin_host="bmsc", visited_network="v")
    assert zn_proxy.home_request(req) == zn.KeyRequest("b@x", b"n", (b"s",), True)

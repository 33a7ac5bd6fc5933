"""Routing decisions of a node and agent (RFC 6733 §6.1), without sockets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from gba.protocols.diameter import (
    APP_RELAY,
    APP_ZH,
    APP_ZN,
    CMD_BOOTSTRAPPING_INFO,
    Avp,
    Message,
    ResultCode,
    avp,
)
from gba.protocols.diameter.routing import (
    DEFAULT_ROUTE,
    Deliver,
    Forward,
    PeerView,
    Refuse,
    Router,
    route_record,
)

CLIENT = "naf.realm-a"
RELAY = "relay.realm-r"
SERVER = "bsf.realm-b"


def _bir(destination_realm: str | None = "realm-b", destination_host: str | None = None,
         *, route: Iterable[str] = (), extra: Iterable[Avp] = (), proxiable: bool = True,
         application_id: int = APP_ZN) -> Message:
    avps = [avp("Session-Id", f"{CLIENT};1;1"), avp("Origin-Host", CLIENT),
            avp("Origin-Realm", "realm-a")]
    if destination_realm is not None:
        avps.append(avp("Destination-Realm", destination_realm))
    if destination_host is not None:
        avps.append(avp("Destination-Host", destination_host))
    avps += [avp("Route-Record", hop) for hop in route]
    avps += extra
    return Message.new(CMD_BOOTSTRAPPING_INFO, application_id, proxiable=proxiable, avps=avps,
                       hop_by_hop=0x11, end_to_end=0xE2E)


def _peers(*views: PeerView) -> dict[str, PeerView]:
    return {v.host: v for v in views}


def _peer(host: str, realm: str, *apps: int) -> PeerView:
    return PeerView(host, realm, frozenset(apps or (APP_ZN,)))


def _server(apps: Iterable[int] = (APP_ZN,)) -> Router:
    return Router(SERVER, "realm-b", frozenset(apps))


def _relay(routes: Mapping[str, Sequence[str]] | None = None, *,
           peer_realms: bool = True) -> Router:
    """An agent that also routes by the realms its peers announced (dynamic discovery)."""
    return Router(RELAY, "realm-r", frozenset(), agent=True, routes=routes or {},
                  peer_realms=peer_realms)


def _candidates(decision: Deliver | Forward | Refuse) -> tuple[str, ...]:
    assert isinstance(decision, Forward), decision
    return decision.candidates


def _refused(decision: Deliver | Forward | Refuse) -> int:
    assert isinstance(decision, Refuse), decision
    return decision.result_code


CLIENT_PEER = _peer(CLIENT, "realm-a")


# ------------------------------------------------------------------ local delivery


def test_request_for_our_realm_is_delivered() -> None:
    assert _server().incoming(_bir("realm-b"), CLIENT, _peers(CLIENT_PEER)) == Deliver()


def test_request_naming_us_in_destination_host_is_delivered() -> None:
    request = _bir("realm-b", destination_host=SERVER)
    assert _server().incoming(request, CLIENT, _peers(CLIENT_PEER)) == Deliver()


def test_request_without_destination_is_delivered() -> None:
    assert _server().incoming(_bir(None), CLIENT, _peers(CLIENT_PEER)) == Deliver()


def test_request_naming_another_host_of_our_realm_is_not_delivered() -> None:
    request = _bir("realm-b", destination_host="other.realm-b")
    decision = _server().incoming(request, CLIENT, _peers(CLIENT_PEER))
    assert _refused(decision) == ResultCode.UNABLE_TO_DELIVER


def test_local_destination_with_an_unserved_application_is_3007() -> None:
    decision = _server(apps=(APP_ZH,)).incoming(_bir("realm-b"), CLIENT, _peers(CLIENT_PEER))
    assert _refused(decision) == ResultCode.APPLICATION_UNSUPPORTED


def test_an_agent_delivers_what_it_serves_for_its_own_realm() -> None:
    router = Router(RELAY, "realm-r", frozenset({APP_ZN}), agent=True,
                    routes={"realm-r": ["elsewhere"]})
    assert router.incoming(_bir("realm-r"), CLIENT, _peers(CLIENT_PEER)) == Deliver()


def test_an_agent_routes_what_it_does_not_serve_for_its_own_realm() -> None:
    # A DRA in front of its realm's servers (RFC 6733 §6.1.4: local only when served).
    peers = _peers(CLIENT_PEER, _peer("hss.realm-r", "realm-r"))
    decision = _relay().incoming(_bir("realm-r"), CLIENT, peers)
    assert _candidates(decision) == ("hss.realm-r",)
    assert isinstance(decision, Forward)
    assert route_record(decision.message) == [CLIENT]


def test_an_agent_without_a_next_hop_for_its_own_realm_is_3007() -> None:
    decision = _relay().incoming(_bir("realm-r"), CLIENT, _peers(CLIENT_PEER))
    assert _refused(decision) == ResultCode.APPLICATION_UNSUPPORTED


def test_an_agent_named_in_destination_host_does_not_pass_the_request_on() -> None:
    peers = _peers(CLIENT_PEER, _peer("hss.realm-r", "realm-r"))
    decision = _relay().incoming(_bir("realm-r", destination_host=RELAY), CLIENT, peers)
    assert _refused(decision) == ResultCode.APPLICATION_UNSUPPORTED


# ------------------------------------------------------------------ refusals


def test_own_host_in_route_record_is_a_loop_3005() -> None:
    request = _bir("realm-b", route=[CLIENT, RELAY, "other.agent"])
    decision = _relay({"realm-b": [SERVER]}).incoming(
        request, "other.agent", _peers(_peer(SERVER, "realm-b")))
    assert _refused(decision) == ResultCode.LOOP_DETECTED


def test_loop_is_detected_before_local_delivery() -> None:
    request = _bir("realm-b", route=[SERVER, RELAY])
    assert _refused(_server().incoming(request, RELAY, {})) == ResultCode.LOOP_DETECTED


def test_non_agent_refuses_a_foreign_realm_3003() -> None:
    decision = _server().incoming(_bir("realm-x"), CLIENT, _peers(CLIENT_PEER))
    assert _refused(decision) == ResultCode.REALM_NOT_SERVED


def test_non_agent_does_not_forward_even_to_a_peer_of_that_realm() -> None:
    server = Router(SERVER, "realm-b", frozenset({APP_ZN}), peer_realms=True)
    decision = server.incoming(_bir("realm-c"), CLIENT,
                               _peers(CLIENT_PEER, _peer("c.realm-c", "realm-c")))
    assert _refused(decision) == ResultCode.UNABLE_TO_DELIVER


def test_agent_refuses_an_unknown_realm_3003() -> None:
    decision = _relay({"realm-b": [SERVER]}).incoming(
        _bir("realm-x"), CLIENT, _peers(CLIENT_PEER, _peer(SERVER, "realm-b")))
    assert _refused(decision) == ResultCode.REALM_NOT_SERVED


def test_agent_refuses_a_known_realm_without_an_open_peer_3002() -> None:
    decision = _relay({"realm-b": [SERVER]}).incoming(_bir("realm-b"), CLIENT,
                                                      _peers(CLIENT_PEER))
    assert _refused(decision) == ResultCode.UNABLE_TO_DELIVER


def test_agent_refuses_a_non_proxiable_request_3002() -> None:
    request = _bir("realm-b", proxiable=False)
    decision = _relay({"realm-b": [SERVER]}).incoming(
        request, CLIENT, _peers(CLIENT_PEER, _peer(SERVER, "realm-b")))
    assert _refused(decision) == ResultCode.UNABLE_TO_DELIVER


def test_refusal_says_why() -> None:
    decision = _relay().incoming(_bir("realm-x"), CLIENT, _peers(CLIENT_PEER))
    assert isinstance(decision, Refuse)
    assert "realm-x" in decision.reason


# ------------------------------------------------------------------ next hops


def test_agent_forwards_by_the_realm_table() -> None:
    peers = _peers(CLIENT_PEER, _peer("hub.realm-c", "realm-c"))
    decision = _relay({"realm-b": ["hub.realm-c"]}).incoming(_bir("realm-b"), CLIENT, peers)
    assert _candidates(decision) == ("hub.realm-c",)


def test_agent_forwards_to_open_peers_of_the_destination_realm() -> None:
    peers = _peers(CLIENT_PEER, _peer("s2.realm-b", "realm-b"), _peer("s1.realm-b", "realm-b"))
    decision = _relay().incoming(_bir("realm-b"), CLIENT, peers)
    assert _candidates(decision) == ("s1.realm-b", "s2.realm-b")


def test_a_peer_announcing_a_realm_is_no_route_unless_asked_for() -> None:
    # a peer that connected and claimed realm-b must not draw realm-b's requests
    peers = _peers(CLIENT_PEER, _peer("claims.realm-b", "realm-b"))
    decision = _relay(peer_realms=False).incoming(_bir("realm-b"), CLIENT, peers)
    assert _refused(decision) == ResultCode.REALM_NOT_SERVED
    client = Router(CLIENT, "realm-a", frozenset())
    assert client.outgoing(_bir("realm-b"), peers) == Refuse(
        ResultCode.REALM_NOT_SERVED, "realm realm-b is not served")


def test_configured_routes_win_over_announced_realms() -> None:
    peers = _peers(CLIENT_PEER, _peer("claims.realm-b", "realm-b"),
                   _peer("bsf.realm-b", "realm-b"))
    decision = _relay({"realm-b": ["bsf.realm-b"]}, peer_realms=False).incoming(
        _bir("realm-b"), CLIENT, peers)
    assert _candidates(decision) == ("bsf.realm-b",)


def test_agent_forwards_to_the_open_peer_named_in_destination_host() -> None:
    peers = _peers(CLIENT_PEER, _peer("s1.realm-b", "realm-b"), _peer("s9", "realm-z"))
    decision = _relay({"realm-b": ["s1.realm-b"]}).incoming(
        _bir("realm-b", destination_host="s9"), CLIENT, peers)
    assert _candidates(decision) == ("s9", "s1.realm-b")


def test_destination_host_that_is_not_open_falls_back_to_the_realm() -> None:
    peers = _peers(CLIENT_PEER, _peer("s1.realm-b", "realm-b"))
    decision = _relay().incoming(_bir("realm-b", destination_host="gone.realm-b"), CLIENT,
                                 peers)
    assert _candidates(decision) == ("s1.realm-b",)


def test_agent_forwards_by_the_default_route() -> None:
    peers = _peers(CLIENT_PEER, _peer("hub", "realm-h"))
    decision = _relay({DEFAULT_ROUTE: ["hub"]}).incoming(_bir("realm-q"), CLIENT, peers)
    assert _candidates(decision) == ("hub",)


def test_next_hops_are_ordered_host_table_realm_default_without_duplicates() -> None:
    peers = _peers(CLIENT_PEER, _peer("named", "realm-n"), _peer("table", "realm-t"),
                   _peer("b2", "realm-b"), _peer("b1", "realm-b"), _peer("hub", "realm-h"))
    router = _relay({"realm-b": ["table", "b2"], DEFAULT_ROUTE: ["hub", "table"]})
    decision = router.incoming(_bir("realm-b", destination_host="named"), CLIENT, peers)
    assert _candidates(decision) == ("named", "table", "b2", "b1", "hub")


def test_the_sender_is_never_a_candidate() -> None:
    peers = _peers(CLIENT_PEER, _peer(SERVER, "realm-b"))
    decision = _relay({"realm-b": [CLIENT, SERVER]}).incoming(_bir("realm-b"), CLIENT, peers)
    assert _candidates(decision) == (SERVER,)


def test_the_sender_as_only_next_hop_is_3002() -> None:
    decision = _relay({"realm-b": [CLIENT]}).incoming(_bir("realm-b"), CLIENT,
                                                      _peers(CLIENT_PEER))
    assert _refused(decision) == ResultCode.UNABLE_TO_DELIVER


def test_peers_that_do_not_carry_the_application_are_skipped() -> None:
    peers = _peers(CLIENT_PEER, _peer("zh-only", "realm-b", APP_ZH), _peer("zn", "realm-b"))
    decision = _relay({"realm-b": ["zh-only", "zn"]}).incoming(_bir("realm-b"), CLIENT, peers)
    assert _candidates(decision) == ("zn",)


def test_relay_peers_carry_every_application() -> None:
    peers = _peers(CLIENT_PEER, _peer("relay2", "realm-c", APP_RELAY))
    decision = _relay({"realm-b": ["relay2"]}).incoming(_bir("realm-b"), CLIENT, peers)
    assert _candidates(decision) == ("relay2",)


def test_only_peers_without_the_application_is_3002() -> None:
    peers = _peers(CLIENT_PEER, _peer("zh-only", "realm-b", APP_ZH))
    decision = _relay().incoming(_bir("realm-b"), CLIENT, peers)
    assert _refused(decision) == ResultCode.UNABLE_TO_DELIVER


# ------------------------------------------------------------------ the forwarded request


def test_forward_appends_the_sender_to_route_record_and_keeps_the_rest() -> None:
    proxy_info = avp("Proxy-Info", [avp("Proxy-Host", "proxy.realm-a"),
                                    avp("Proxy-State", b"\x00opaque")])
    request = _bir("realm-b", route=["first.hop"], extra=[proxy_info, avp("User-Name", "u")])
    peers = _peers(_peer("first.agent", "realm-f"), _peer(SERVER, "realm-b"))
    decision = _relay().incoming(request, "first.agent", peers)
    assert isinstance(decision, Forward)
    forwarded = decision.message
    assert route_record(forwarded) == ["first.hop", "first.agent"]
    assert forwarded.avps == (*request.avps, avp("Route-Record", "first.agent"))
    assert forwarded.find_all(284) == [proxy_info]
    assert (forwarded.command_code, forwarded.application_id, forwarded.flags,
            forwarded.hop_by_hop, forwarded.end_to_end) == (
        request.command_code, request.application_id, request.flags,
        request.hop_by_hop, request.end_to_end)


def test_forwarded_request_survives_the_codec() -> None:
    request = _bir("realm-b", extra=[avp("Proxy-Info", [avp("Proxy-Host", "p"),
                                                        avp("Proxy-State", b"s")])])
    decision = _relay().incoming(request, CLIENT, _peers(CLIENT_PEER, _peer(SERVER, "realm-b")))
    assert isinstance(decision, Forward)
    assert Message.decode(decision.message.encode()) == decision.message


# ------------------------------------------------------------------ originated requests


def test_outgoing_request_is_sent_unchanged() -> None:
    request = _bir("realm-b")
    decision = _relay().outgoing(request, _peers(_peer(SERVER, "realm-b")))
    assert decision == Forward(request, (SERVER,))
    assert route_record(request) == []


def test_outgoing_skips_excluded_peers_after_a_failover() -> None:
    peers = _peers(_peer("s1", "realm-b"), _peer("s2", "realm-b"))
    decision = _relay({"realm-b": ["s1", "s2"]}).outgoing(_bir("realm-b"), peers,
                                                          exclude={"s1"})
    assert _candidates(decision) == ("s2",)


def test_outgoing_without_a_next_hop_is_refused() -> None:
    router = Router(CLIENT, "realm-a", frozenset())
    assert _refused(router.outgoing(_bir("realm-x"), {})) == ResultCode.REALM_NOT_SERVED
    router = Router(CLIENT, "realm-a", frozenset(), routes={DEFAULT_ROUTE: [RELAY]})
    assert _refused(router.outgoing(_bir("realm-x"), {})) == ResultCode.UNABLE_TO_DELIVER

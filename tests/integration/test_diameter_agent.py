"""A Diameter relay agent of ours between our nodes, on real sockets (RFC 6733 §2.8, §6.1):
End-to-End id kept and Hop-by-Hop id replaced on the way, Route-Record appended, Proxy-Info
untouched, protocol errors 3003/3005 answered by the agents, and a pending request failed
over to an alternate server with the T flag (§5.5.4).

client (naf.realm-a) --Zn--> relay (relay.realm-r, agent="relay") --Zn--> server(s) in
realm-b. Every wait is on a future or a condition, with a timeout; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field

import pytest

from gba.config import DiameterNodeConfig
from gba.nf.common import peer_identity
from gba.protocols import zn
from gba.protocols.diameter import (
    APP_RELAY,
    APP_ZN,
    CMD_BOOTSTRAPPING_INFO,
    Avp,
    Message,
    PeerIdentity,
    ResultCode,
    avp,
    message_length,
)
from gba.protocols.diameter import dictionary as d
from gba.protocols.diameter.capabilities import announced_applications, build_cer
from gba.protocols.diameter.codec import HEADER_LENGTH
from gba.protocols.diameter.routing import route_record
from gba.transport.diameter import AgentMode, DiameterNode, PeerSpec

CLIENT = peer_identity(DiameterNodeConfig("naf.realm-a", "realm-a"))
RELAY = peer_identity(DiameterNodeConfig("relay.realm-r", "realm-r"))
SERVER = peer_identity(DiameterNodeConfig("server.b", "realm-b"))
S1 = peer_identity(DiameterNodeConfig("s1", "realm-b"))
S2 = peer_identity(DiameterNodeConfig("s2", "realm-b"))
PROXY_INFO = avp("Proxy-Info", [avp("Proxy-Host", "naf.realm-a"),
                                avp("Proxy-State", b"\x01client state")])
WAIT = 5.0
_sessions = itertools.count(1)


def _bir(destination_realm: str, *extra: Avp) -> Message:
    request = zn.build_bir(CLIENT, destination_realm, f"naf.realm-a;1;{next(_sessions)}",
                           zn.KeyRequest("AAAAAAAAAAAAAAAAAAAAAA==@bsf.realm-b",
                                         b"naf.realm-a" + bytes(5)))
    return request.with_avps([*request.avps, *extra])


def _origin_host(message: Message) -> str:
    origin = message.find(d.ORIGIN_HOST)
    assert origin is not None
    return origin.as_str()


@dataclass
class Recorder:
    """A Zn handler that keeps every request it got and answers 5403 as *identity*."""

    identity: PeerIdentity
    requests: list[tuple[Message, str]] = field(default_factory=list)

    async def __call__(self, request: Message, peer: str) -> Message:
        self.requests.append((request, peer))
        return zn.build_bia_error(request, self.identity, 5403)


class Nodes:
    """The nodes of one test, started in order and closed in reverse at teardown."""

    def __init__(self) -> None:
        self._started: list[DiameterNode] = []

    async def start(self, identity: PeerIdentity, *, serve: Recorder | None = None,
                    agent: AgentMode = None, routes: Mapping[str, Sequence[str]] | None = None,
                    dial: Sequence[DiameterNode] = (),
                    default_route: DiameterNode | None = None) -> DiameterNode:
        """A node listening on a free port, dialling *dial* (and *default_route*)."""
        apps = [zn.APPLICATION] if serve is not None or agent is None else []
        node = DiameterNode(identity, apps, agent=agent, routes=routes, retry_delay=0.05,
                            max_retry_delay=0.2)
        if serve is not None:
            node.serve(APP_ZN, CMD_BOOTSTRAPPING_INFO, serve)
        node.listen("127.0.0.1", 0)
        for other in dial:
            node.connect(PeerSpec("127.0.0.1", other.port))
        if default_route is not None:
            node.connect(PeerSpec("127.0.0.1", default_route.port, default_route=True))
        await node.start()
        self._started.append(node)
        return node

    async def close(self, node: DiameterNode) -> None:
        self._started.remove(node)
        await node.close()

    async def close_all(self) -> None:
        while self._started:
            await self.close(self._started[-1])


@pytest.fixture
async def nodes() -> AsyncIterator[Nodes]:
    started = Nodes()
    try:
        yield started
    finally:
        await started.close_all()


async def _open(node: DiameterNode, *hosts: str) -> None:
    for host in hosts:
        await node.wait_open(WAIT, host=host)


@dataclass
class Chain:
    client: DiameterNode
    relay: DiameterNode
    server: DiameterNode
    recorder: Recorder


@pytest.fixture
async def chain(nodes: Nodes) -> Chain:
    """client -> relay -> server.b; the server dials the relay, the client uses it as its
    default route."""
    recorder = Recorder(SERVER)
    relay = await nodes.start(RELAY, agent="relay", routes={"realm-b": ["server.b"]})
    server = await nodes.start(SERVER, serve=recorder, dial=[relay])
    client = await nodes.start(CLIENT, default_route=relay)
    await _open(relay, "server.b", "naf.realm-a")
    await _open(client, "relay.realm-r")
    return Chain(client, relay, server, recorder)


# ------------------------------------------------------------------ relaying


async def test_answer_from_the_server_reaches_the_client(chain: Chain) -> None:
    answer = await chain.client.request(_bir("realm-b"), timeout=WAIT)
    assert answer.result_code == 5403
    assert _origin_host(answer) == "server.b"
    assert not answer.is_request
    assert len(chain.recorder.requests) == 1


async def test_relay_keeps_the_end_to_end_id_and_replaces_the_hop_by_hop_id(
        chain: Chain) -> None:
    answer = await chain.client.request(_bir("realm-b"), timeout=WAIT)
    ((seen, _),) = chain.recorder.requests
    # The answer carries the ids of the request the client sent on its own connection.
    assert seen.end_to_end == answer.end_to_end
    # Hop-by-Hop ids are per connection (RFC 6733 §3); the relay stamps its own.
    assert seen.hop_by_hop != answer.hop_by_hop
    assert not seen.is_retransmit


async def test_relay_appends_the_client_to_route_record(chain: Chain) -> None:
    await chain.client.request(_bir("realm-b"), timeout=WAIT)
    ((seen, peer),) = chain.recorder.requests
    assert route_record(seen) == ["naf.realm-a"]
    assert peer == "relay.realm-r"
    assert _origin_host(seen) == "naf.realm-a"


async def test_relay_leaves_proxy_info_alone(chain: Chain) -> None:
    request = _bir("realm-b", PROXY_INFO)
    answer = await chain.client.request(request, timeout=WAIT)
    assert answer.find_all(284) == [PROXY_INFO]  # copied into the answer (RFC 6733 §6.2)
    ((seen, _),) = chain.recorder.requests
    assert seen.find_all(284) == [PROXY_INFO]
    route_record_avp = avp("Route-Record", "naf.realm-a")
    assert seen.avps == (*request.avps, route_record_avp)


async def test_relay_announces_the_relay_application_in_its_cea(nodes: Nodes) -> None:
    relay = await nodes.start(RELAY, agent="relay", routes={"realm-b": ["server.b"]})
    reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
    try:
        writer.write(build_cer(CLIENT, [zn.APPLICATION]).with_ids(1, 1).encode())
        header = await asyncio.wait_for(reader.readexactly(HEADER_LENGTH), WAIT)
        length = message_length(header)
        assert length is not None
        body = await asyncio.wait_for(reader.readexactly(length - HEADER_LENGTH), WAIT)
    finally:
        writer.close()
    cea = Message.decode(header + body)
    assert cea.command_code == d.CMD_CAPABILITIES_EXCHANGE
    assert cea.result_code == ResultCode.SUCCESS
    assert announced_applications(cea) == {(0, APP_RELAY)}
    assert _origin_host(cea) == "relay.realm-r"


async def test_client_talks_our_application_to_the_relay(chain: Chain) -> None:
    opened = await chain.client.wait_open(WAIT, host="relay.realm-r")
    assert opened.common_applications == {zn.APPLICATION}
    assert opened.peer_realm == "realm-r"


async def test_relay_in_the_server_realm_passes_requests_on(nodes: Nodes) -> None:
    # A DRA in front of realm-b: realm-b is its own realm but Zn is served behind it.
    recorder = Recorder(SERVER)
    dra = await nodes.start(peer_identity(DiameterNodeConfig("dra.realm-b", "realm-b")),
                            agent="relay", routes={"realm-b": ["server.b"]})
    await nodes.start(SERVER, serve=recorder, dial=[dra])
    client = await nodes.start(CLIENT, default_route=dra)
    await _open(dra, "server.b", "naf.realm-a")
    await _open(client, "dra.realm-b")

    answer = await client.request(_bir("realm-b"), timeout=WAIT)
    assert answer.result_code == 5403
    assert _origin_host(answer) == "server.b"
    ((seen, peer),) = recorder.requests
    assert peer == "dra.realm-b"
    assert route_record(seen) == ["naf.realm-a"]


# ------------------------------------------------------------------ protocol errors


async def test_unknown_realm_is_answered_3003_by_the_relay(chain: Chain) -> None:
    answer = await chain.client.request(_bir("realm-x"), timeout=WAIT)
    assert answer.result_code == ResultCode.REALM_NOT_SERVED
    assert answer.is_error
    assert _origin_host(answer) == "relay.realm-r"
    assert chain.recorder.requests == []


async def test_a_routing_loop_is_answered_3005(nodes: Nodes) -> None:
    # A -> B -> C -> A for realm-loop. A never sends a request back to the peer it came
    # from, so the shortest loop has three agents; A finds itself in the Route-Record.
    a = await nodes.start(peer_identity(DiameterNodeConfig("a.loop", "realm-r")),
                          agent="relay", routes={"realm-loop": ["b.loop"]})
    b = await nodes.start(peer_identity(DiameterNodeConfig("b.loop", "realm-r")),
                          agent="relay", routes={"realm-loop": ["c.loop"]}, dial=[a])
    await nodes.start(peer_identity(DiameterNodeConfig("c.loop", "realm-r")),
                      agent="relay", routes={"realm-loop": ["a.loop"]}, dial=[a, b])
    client = await nodes.start(CLIENT, default_route=a)
    await _open(a, "b.loop", "c.loop", "naf.realm-a")
    await _open(b, "c.loop")
    await _open(client, "a.loop")

    answer = await client.request(_bir("realm-loop"), timeout=WAIT)
    assert answer.result_code == ResultCode.LOOP_DETECTED
    assert answer.is_error
    assert _origin_host(answer) == "a.loop"


# ------------------------------------------------------------------ failover


@dataclass
class Stall:
    """A Zn handler that never answers; ``got`` resolves with the first request."""

    got: asyncio.Future[Message]

    async def __call__(self, request: Message, peer: str) -> Message:
        if not self.got.done():
            self.got.set_result(request)
        never: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        return await never


async def test_pending_request_fails_over_to_the_alternate_with_the_t_flag(
        nodes: Nodes) -> None:
    stall = Stall(asyncio.get_running_loop().create_future())
    second = Recorder(S2)
    relay = await nodes.start(RELAY, agent="relay", routes={"realm-b": ["s1", "s2"]})
    s1 = await nodes.start(S1, dial=[relay])
    s1.serve(APP_ZN, CMD_BOOTSTRAPPING_INFO, stall)
    await nodes.start(S2, serve=second, dial=[relay])
    client = await nodes.start(CLIENT, default_route=relay)
    await _open(relay, "s1", "s2", "naf.realm-a")
    await _open(client, "relay.realm-r")

    pending = asyncio.create_task(client.request(_bir("realm-b"), timeout=3 * WAIT))
    first = await asyncio.wait_for(stall.got, WAIT)
    assert not first.is_retransmit
    await nodes.close(s1)  # DPR while the request is pending at s1
    answer = await asyncio.wait_for(pending, 2 * WAIT)

    assert answer.result_code == 5403
    assert _origin_host(answer) == "s2"
    ((resent, peer),) = second.requests
    assert peer == "relay.realm-r"
    assert resent.is_retransmit
    assert resent.end_to_end == first.end_to_end == answer.end_to_end
    assert route_record(resent) == ["naf.realm-a"]


# ------------------------------------------------------------------ who may take a route


async def test_a_peer_claiming_a_configured_realm_draws_no_requests(nodes: Nodes) -> None:
    recorder = Recorder(SERVER)
    server = await nodes.start(SERVER, serve=recorder)
    client = await nodes.start(CLIENT, dial=[server])
    await _open(client, "server.b")
    claimant = peer_identity(DiameterNodeConfig("a.claims-realm-b", "realm-b"))
    intruder = await nodes.start(claimant, serve=Recorder(claimant), dial=[client])
    await _open(client, "a.claims-realm-b")

    answer = await client.request(_bir("realm-b"), timeout=WAIT)
    assert _origin_host(answer) == "server.b"
    assert len(recorder.requests) == 1
    assert intruder.peer is not None  # it is connected, yet no route leads to it


async def test_a_second_connection_claiming_an_open_peer_is_refused(nodes: Nodes) -> None:
    recorder = Recorder(SERVER)
    server = await nodes.start(SERVER, serve=recorder)
    client = await nodes.start(CLIENT, dial=[server])
    await _open(client, "server.b")
    impostor = await nodes.start(SERVER, serve=Recorder(SERVER), dial=[client])
    with pytest.raises(Exception, match="within"):
        await impostor.wait_open(1.0)

    await client.request(_bir("realm-b"), timeout=WAIT)
    assert len(recorder.requests) == 1


async def test_a_listener_offers_only_its_own_applications(nodes: Nodes) -> None:
    zh_app = (10415, 16777221)
    server = DiameterNode(SERVER, [zn.APPLICATION, zh_app])
    server.listen("127.0.0.1", 0, applications=frozenset({zn.APPLICATION}))
    await server.start()
    try:
        zh_only = DiameterNode(CLIENT, [zh_app], retry_delay=0.05, max_retry_delay=0.2)
        zh_only.connect(PeerSpec("127.0.0.1", server.port))
        await zh_only.start()
        with pytest.raises(Exception, match="within"):
            await zh_only.wait_open(1.0)
        await zh_only.close()
    finally:
        await server.close()

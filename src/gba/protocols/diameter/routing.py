"""Request routing of a Diameter node and agent: pure decisions, no sockets (RFC 6733 §6.1).

A node asks :class:`Router` what to do with each request, whether it came from a peer
(:meth:`Router.incoming`) or was originated here (:meth:`Router.outgoing`), and gets one of

* :class:`Deliver` - process it locally (§6.1.4: Destination-Host and Destination-Realm,
  where present, name this node, and a local application serves it);
* :class:`Forward` - send it to the first usable peer of ``candidates`` (the rest are
  alternates for failover, §5.5.4); a request from a peer carries one more Route-Record,
  the identity of the peer it came from (§6.1.9), and keeps its End-to-End id and
  Proxy-Info (§6.7.2);
* :class:`Refuse` - answer with a protocol error: 3005 DIAMETER_LOOP_DETECTED when this
  node is already in the Route-Record (§6.1.3), 3002 DIAMETER_UNABLE_TO_DELIVER when the
  destination is known but no peer can take it, 3003 DIAMETER_REALM_NOT_SERVED when the
  realm is unknown, 3007 for an application no one here serves (§7.1.3).

Next hops come, in order of preference, from Destination-Host naming an open peer, the
realm routing table (configured peers per realm; §2.7 Realm-Based Routing Table), and the
default route. Open peers that merely announced the Destination-Realm as their
Origin-Realm are candidates only when ``peer_realms`` is set: a node that trusted any
connecting peer's claim to a realm would hand that realm's traffic to whoever claims it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from gba.protocols.diameter import dictionary as d
from gba.protocols.diameter.codec import Message
from gba.protocols.diameter.values import avp

ROUTE_RECORD = 282
DEFAULT_ROUTE = "*"


@dataclass(frozen=True, slots=True)
class PeerView:
    """What routing needs to know of an open peer connection."""

    host: str
    realm: str
    applications: frozenset[int]
    """Application ids the connection carries (APP_RELAY: any)."""

    def carries(self, application_id: int) -> bool:
        return application_id in self.applications or d.APP_RELAY in self.applications


@dataclass(frozen=True, slots=True)
class Deliver:
    """Process the request here."""


@dataclass(frozen=True, slots=True)
class Forward:
    """Send ``message`` to the first usable peer of ``candidates``."""

    message: Message
    candidates: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Refuse:
    """Answer with ``result_code`` (a 3xxx protocol error: E bit set)."""

    result_code: int
    reason: str


Decision = Deliver | Forward | Refuse


def _scan(request: Message) -> tuple[str | None, str | None, list[str]]:
    """Destination-Host, Destination-Realm and the Route-Records, in one pass."""
    host = realm = None
    records: list[str] = []
    for a in request.avps:
        if a.vendor:
            continue
        if a.code == ROUTE_RECORD:
            records.append(a.as_str())
        elif a.code == d.DESTINATION_REALM and realm is None:
            realm = a.as_str()
        elif a.code == d.DESTINATION_HOST and host is None:
            host = a.as_str()
    return host, realm, records


def route_record(request: Message) -> list[str]:
    """The Route-Record identities, first hop first (RFC 6733 §6.7.1)."""
    return [a.as_str() for a in request.find_all(ROUTE_RECORD)]


def _recorded(request: Message, from_peer: str) -> Message:
    """The request with the peer it came from appended to Route-Record (§6.1.9)."""
    return request.with_avps([*request.avps, avp("Route-Record", from_peer)])


@dataclass(slots=True)
class Router:
    """The routing decisions of one node (RFC 6733 §6.1).

    ``local_applications`` are the application ids a local handler serves; ``agent``
    lets the node relay or proxy what it does not serve (§2.8); ``routes`` maps a realm
    (or :data:`DEFAULT_ROUTE`) to its next-hop peers in order of preference.
    """

    host: str
    realm: str
    local_applications: frozenset[int]
    agent: bool = False
    routes: Mapping[str, Sequence[str]] = field(default_factory=dict)
    peer_realms: bool = False
    """Also route to open peers by the realm they announced (dynamic discovery)."""

    def incoming(self, request: Message, from_peer: str,
                 peers: Mapping[str, PeerView]) -> Decision:
        """What to do with a request received from *from_peer*."""
        dest_host, dest_realm, records = _scan(request)
        if self.host in records:
            return Refuse(d.ResultCode.LOOP_DETECTED,
                          f"{self.host} is already in the Route-Record")
        if self._is_local(dest_host, dest_realm):
            if request.application_id in self.local_applications:
                return Deliver()
            # §6.1.4: our realm is local only for the applications served here; an agent
            # routes the others on, as a DRA in front of its own realm's servers does.
            own_realm_agent = (self.agent and dest_host is None and dest_realm is not None
                               and request.is_proxiable)
            candidates = (self._hops(request.application_id, dest_host, dest_realm, peers,
                                     (from_peer,)) if own_realm_agent else ())
            if not candidates:
                return Refuse(d.ResultCode.APPLICATION_UNSUPPORTED,
                              f"application {request.application_id} is not served here")
            return Forward(_recorded(request, from_peer), candidates)
        if not self.agent:
            return self._unreachable(request, dest_realm, peers,
                                     "this node is not an agent")
        if not request.is_proxiable:
            return Refuse(d.ResultCode.UNABLE_TO_DELIVER,
                          "the request is not proxiable (P bit clear)")
        candidates = self._hops(request.application_id, dest_host, dest_realm, peers,
                                (from_peer,))
        if not candidates:
            return self._unreachable(request, dest_realm, peers, "no peer can take it")
        return Forward(_recorded(request, from_peer), candidates)

    def outgoing(self, request: Message, peers: Mapping[str, PeerView],
                 exclude: Collection[str] = ()) -> Forward | Refuse:
        """Where to send a request originated here (or resent after a failover)."""
        dest_host, dest_realm, _ = _scan(request)
        candidates = self._hops(request.application_id, dest_host, dest_realm, peers, exclude)
        if candidates:
            return Forward(request, candidates)
        return self._unreachable(request, dest_realm, peers, "no peer can take it")

    def next_hops(self, request: Message, peers: Mapping[str, PeerView],
                  exclude: Collection[str] = ()) -> tuple[str, ...]:
        """Open peers that carry the request's application, best first (no duplicates)."""
        dest_host, dest_realm, _ = _scan(request)
        return self._hops(request.application_id, dest_host, dest_realm, peers, exclude)

    def _hops(self, app: int, dest_host: str | None, dest_realm: str | None,
              peers: Mapping[str, PeerView], exclude: Collection[str]) -> tuple[str, ...]:
        ordered: list[str] = []
        if dest_host is not None:
            ordered.append(dest_host)
        if dest_realm is not None:
            ordered += self.routes.get(dest_realm, ())
            if self.peer_realms:
                ordered += sorted(p.host for p in peers.values() if p.realm == dest_realm)
        ordered += self.routes.get(DEFAULT_ROUTE, ())
        out: list[str] = []
        for host in ordered:
            peer = peers.get(host)
            if peer is None or host in out or host in exclude or not peer.carries(app):
                continue
            out.append(host)
        return tuple(out)

    def _is_local(self, dest_host: str | None, dest_realm: str | None) -> bool:
        if dest_host is not None:
            return dest_host == self.host
        return dest_realm is None or dest_realm == self.realm

    def _knows_realm(self, realm: str | None, peers: Mapping[str, PeerView]) -> bool:
        return (realm is None or realm == self.realm or realm in self.routes
                or DEFAULT_ROUTE in self.routes
                or (self.peer_realms and any(p.realm == realm for p in peers.values())))

    def _unreachable(self, request: Message, dest_realm: str | None,
                     peers: Mapping[str, PeerView], why: str) -> Refuse:
        if self._knows_realm(dest_realm, peers):
            return Refuse(d.ResultCode.UNABLE_TO_DELIVER,
                          f"cannot deliver to realm {dest_realm}: {why}")
        return Refuse(d.ResultCode.REALM_NOT_SERVED, f"realm {dest_realm} is not served")

"""The asyncio Diameter node: peer table, listeners, connectors, routing and relaying.

RFC 6733 §2.6-§2.8: a :class:`DiameterNode` holds one :class:`~gba.protocols.diameter.
PeerConnection` per transport connection, keyed by the peer's Origin-Host once the
capabilities exchange is done (the peer table). Every request, received or originated
here, is routed by the sans-IO :class:`~gba.protocols.diameter.routing.Router`:
delivered to the handler registered for its (Application-Id, Command-Code), forwarded to
the next hop with the End-to-End id kept, a fresh Hop-by-Hop id and a Route-Record
appended (relay or proxy agent, §2.8), or refused with a protocol error. A request pending
on a peer that fails is resent to an alternate with the T flag (§5.5.4).

This module owns listening and connecting sockets, TLS and the peer table; each
connection is a :class:`~gba.transport.diameter_link.Link`. Every protocol decision is the
peer machine's or the router's. A listener admits at most ``max_pending`` connections that
have not completed the capabilities exchange and ``max_per_address`` from one IP address;
past either a connection is closed at once and counted in a periodic summary line.

A node tells its :attr:`~DiameterNode.observer` (metrics, :mod:`gba.observe`) of every
request it answered or originated, and :meth:`~DiameterNode.peer_states` says which peers
are open; neither knows which network function it serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import os
import ssl
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from gba.protocols.diameter import (
    Application,
    Message,
    PeerConnection,
    PeerIdentity,
    PeerOpen,
    Role,
    avp,
    counter_ids,
)
from gba.protocols.diameter import dictionary as d
from gba.protocols.diameter.capabilities import error_answer
from gba.protocols.diameter.peer import DEFAULT_TW, MAX_MESSAGE_SIZE
from gba.protocols.diameter.routing import (
    DEFAULT_ROUTE,
    Deliver,
    Forward,
    PeerView,
    Refuse,
    Router,
)
from gba.transport.diameter_link import Authorise, DiameterUnavailable, Link, PeerFailed

__all__ = [
    "AgentMode", "Authorise", "DiameterClient", "DiameterNode", "DiameterServer",
    "DiameterUnavailable", "Handler", "Listener", "Observer", "PeerSpec", "ask",
    "session_id_factory", "with_proxy_info",
]

log = logging.getLogger(__name__)

PROXY_INFO = 284

T = TypeVar("T")
Handler = Callable[[Message, str], Awaitable[Message]]
"""An application handler: (request, Origin-Host of the peer it came from) -> answer."""
AgentMode = Literal["relay", "proxy"] | None
Observer = Callable[[Message, Message | None, float, bool], None]
"""Told of each request a node answered or originated: (request, its answer or None when
none came, seconds it took, True if originated here)."""


TLS_HANDSHAKE_TIMEOUT = 10.0
"""Seconds a TLS client has to finish its handshake (asyncio's default is 60): the caps
below count a TLS connection only once its handshake is done, so this bounds how long
one may hold a socket and TLS buffers before them."""

MAX_PENDING = 64
"""Accepted connections that have not completed the capabilities exchange, at most: a
flood of connections that never send a CER is refused past this, not buffered."""
MAX_PER_ADDRESS = 16
"""Accepted connections from one IP address, at most (a peer needs one, a few in a lab
where every function shares 127.0.0.1)."""
REFUSAL_REPORT_INTERVAL = 10.0
"""Seconds between the summary lines of refused connections: a flood costs a line per
interval, not one per connection."""


def _e2e_seed() -> int:
    """End-to-end ids: high 12 bits from the clock, low 20 random (RFC 6733 §3)."""
    return ((int(time.time()) & 0xFFF) << 20) | (int.from_bytes(os.urandom(3), "big") & 0xFFFFF)


@dataclass(frozen=True, slots=True)
class Listener:
    """Where a node accepts peers (RFC 6733 §2.1: TCP, or TLS on connect, §13)."""

    host: str
    port: int
    ssl_context: ssl.SSLContext | None = None
    authorise: Authorise | None = None
    applications: frozenset[Application] | None = None
    """What peers accepted here may use (default: all of the node's): a BSF's Zn port
    offers Zn only, so no one connecting there becomes a Zh route."""
    reuse_port: bool = False
    """SO_REUSEPORT: several processes accept on one address (BSF workers)."""


@dataclass(frozen=True, slots=True)
class PeerSpec:
    """A peer this node connects to and keeps connected (a static peer table entry).

    Once open, it routes the realm it announced (a configured peer is a trusted route; a
    peer that merely connected to a listener never is), and all else when it is the
    default route."""

    address: str
    port: int
    ssl_context: ssl.SSLContext | None = None
    server_hostname: str | None = None
    default_route: bool = False
    """Send requests no other route takes to this peer (a client's only peer)."""
    applications: frozenset[Application] | None = None
    """What this connection announces (default: all of the node's applications)."""
    host: str | None = None
    """The Origin-Host it is expected to have, when known: no one connecting to this node
    may claim it."""
    routes_its_realm: bool = True
    """Route the realm it announces to it (a server of that realm; not an agent, which
    announces its own realm but serves others)."""


class DiameterNode:
    """A Diameter node: serves local applications, originates requests, and as an agent
    relays or proxies the rest (RFC 6733 §2.8).

    ``applications`` are announced in CER/CEA; a relay also announces the Relay
    application (0xffffffff, §2.4) and a proxy only what it is configured to proxy.
    ``routes`` is the realm routing table: realm (or ``"*"``) -> next-hop Origin-Hosts; a
    configured peer (:meth:`connect`) adds the realm it announces once open.
    ``peer_realms`` also routes to any open peer by the realm it announced.
    """

    def __init__(self, identity: PeerIdentity, applications: Iterable[Application] = (), *,
                 agent: AgentMode = None, routes: Mapping[str, Sequence[str]] | None = None,
                 peer_realms: bool = False,
                 tw: float = DEFAULT_TW, request_timeout: float = 5.0, retry_delay: float = 0.2,
                 max_retry_delay: float = 5.0, max_message_size: int = MAX_MESSAGE_SIZE,
                 max_pending: int = MAX_PENDING, max_per_address: int = MAX_PER_ADDRESS
                 ) -> None:
        self.identity = identity
        self.applications = frozenset(applications)
        self.agent = agent
        self.tw = tw
        self.request_timeout = request_timeout
        self.retry_delay, self.max_retry_delay = retry_delay, max_retry_delay
        self.max_message_size = max_message_size
        """The largest message a connection takes once open (before: the peer machine's
        small ``MAX_MESSAGE_SIZE_BEFORE_OPEN``)."""
        self.max_pending, self.max_per_address = max_pending, max_per_address
        self._pending: set[Link] = set()
        """Accepted links whose capabilities exchange is not done."""
        self._accepted: dict[Link, str] = {}
        """Accepted links and the IP address each came from."""
        self._per_address: dict[str, int] = {}
        self._refused = 0
        self._refused_last = ""
        self._refusal_report: asyncio.TimerHandle | None = None
        self._handlers: dict[tuple[int, int | None], Handler] = {}
        self._routes: dict[str, list[str]] = {k: list(v) for k, v in (routes or {}).items()}
        self.router = Router(identity.origin_host, identity.origin_realm, frozenset(),
                             agent=agent is not None, routes=self._routes,
                             peer_realms=peer_realms)
        self._listeners: list[Listener] = []
        self._servers: list[asyncio.Server] = []
        self._peers: list[PeerSpec] = []
        self._connectors: list[asyncio.Task[None]] = []
        self._peers_down = 0
        """Configured peers whose connection is not open (yet)."""
        self._links: dict[str, Link] = {}
        self._peer_views: dict[str, PeerView] = {}
        self._reserved: set[str] = set()
        """Origin-Hosts of the peers this node connects to: an incoming CER claiming one
        is refused, so no one takes over a configured peer's routes by its name."""
        """What the router sees of each open link, kept in step with ``_links``."""
        self._all_links: set[Link] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._stopping = False
        self._e2e = counter_ids(_e2e_seed())
        self.peer: PeerOpen | None = None
        """The last peer that opened (convenient for a node with one peer)."""
        self.observer: Observer | None = None
        """Told of every request answered or originated (metrics); None: no one."""
        self._peer_names: dict[int, str] = {}
        """id() of each configured peer that has opened -> its Origin-Host."""
        self._peers_open: set[int] = set()
        """id() of each configured peer whose connection is open."""

    # ------------------------------------------------------------------ set-up

    def serve(self, application_id: int, command_code: int | None, handler: Handler) -> None:
        """Handle requests of *command_code* (None: every command) of an application."""
        self._handlers[(application_id, command_code)] = handler
        self.router.local_applications = frozenset(app for app, _ in self._handlers)

    def listen(self, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None,
               authorise: Authorise | None = None,
               applications: Iterable[Application] | None = None,
               reuse_port: bool = False) -> None:
        """Accept peers on host:port; *applications* limits what they may use there;
        *reuse_port* shares the address with other processes that set it too."""
        self._listeners.append(Listener(host, port, ssl_context, authorise,
                                        None if applications is None
                                        else frozenset(applications), reuse_port))

    def connect(self, peer: PeerSpec) -> None:
        self._peers.append(peer)
        if peer.host is not None:
            self._reserved.add(peer.host)

    def add_route(self, realm: str, host: str) -> None:
        hops = self._routes.setdefault(realm, [])
        if host not in hops:
            hops.append(host)

    async def start(self) -> None:
        for spec in self._listeners:
            self._servers.append(await asyncio.start_server(
                functools.partial(self._accept, spec=spec), spec.host, spec.port,
                ssl=spec.ssl_context, reuse_port=True if spec.reuse_port else None,
                ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT if spec.ssl_context else None))
        self._peers_down = len(self._peers)
        for peer in self._peers:
            self._connectors.append(asyncio.create_task(self._maintain(peer)))

    @property
    def port(self) -> int:
        """The port of the first listener (the one picked by the OS for port 0)."""
        if self._servers:
            port: int = self._servers[0].sockets[0].getsockname()[1]
            return port
        return self._listeners[0].port if self._listeners else 0

    async def close(self) -> None:
        """Stop accepting and connecting, send DPR on every link at once, wait for them."""
        self._stopping = True
        for server in self._servers:
            server.close()
        if self._refusal_report is not None:
            self._refusal_report.cancel()
            self._report_refusals(reschedule=False)
        # DPR first: cancelling a connector cancels the link it runs, which would close
        # the socket before the DPR is written (RFC 6733 §5.4).
        await asyncio.gather(*(link.disconnect() for link in list(self._all_links)))
        for task in self._connectors:
            task.cancel()
        await asyncio.gather(*self._connectors, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()

    # ------------------------------------------------------------------ connections

    def _new_link(self, role: Role, reader: asyncio.StreamReader,
                  writer: asyncio.StreamWriter, applications: frozenset[Application] | None,
                  authorise: Authorise | None = None) -> Link:
        apps = self.applications if applications is None else applications
        if self.agent == "relay":
            apps = apps | {(0, d.APP_RELAY)}
        conn = PeerConnection(self.identity, role, apps, tw=self.tw, end_to_end=self._e2e,
                              max_message_size=self.max_message_size)
        link = Link(self, conn, reader, writer, authorise)
        self._all_links.add(link)
        return link

    def claims_reserved(self, origin_host: str, link: Link) -> bool:
        return link.conn.role is Role.RESPONDER and origin_host in self._reserved

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      spec: Listener) -> None:
        peername = writer.get_extra_info("peername")
        address = str(peername[0]) if isinstance(peername, tuple) and peername else "?"
        refusal = self._admission(address)
        if refusal is not None:
            writer.transport.abort()  # at once: no TLS close_notify, nothing read
            self._refuse(address, refusal)
            return
        link = self._new_link(Role.RESPONDER, reader, writer, spec.applications,
                              spec.authorise)
        self._pending.add(link)
        self._accepted[link] = address
        self._per_address[address] = self._per_address.get(address, 0) + 1
        await link.run()

    def _admission(self, address: str) -> str | None:
        """Why a new connection from *address* is refused, or None to serve it."""
        if self._stopping:
            return "the node is stopping"
        if len(self._pending) >= self.max_pending:
            return (f"{len(self._pending)} connections have not completed the capabilities "
                    "exchange")
        if self._per_address.get(address, 0) >= self.max_per_address:
            return f"{self.max_per_address} connections from this address already"
        return None

    def _refuse(self, address: str, reason: str) -> None:
        """Count a refused connection: the first of a burst is logged at once, the rest
        in one summary line per :data:`REFUSAL_REPORT_INTERVAL`."""
        self._refused_last = f"{address}: {reason}"
        if self._refusal_report is None:
            log.warning("diameter connection from %s refused: %s", address, reason)
            self._refusal_report = asyncio.get_running_loop().call_later(
                REFUSAL_REPORT_INTERVAL, self._report_refusals)
        else:
            self._refused += 1

    def _report_refusals(self, reschedule: bool = True) -> None:
        count, self._refused = self._refused, 0
        self._refusal_report = None
        if not count:
            return
        log.warning("diameter refused %d more connection(s) in %gs (last from %s)", count,
                    REFUSAL_REPORT_INTERVAL, self._refused_last)
        if reschedule:
            self._refusal_report = asyncio.get_running_loop().call_later(
                REFUSAL_REPORT_INTERVAL, self._report_refusals)

    async def _maintain(self, peer: PeerSpec) -> None:
        """Keep one connection to *peer* open, reconnecting with back-off (RFC 3539 §3.4)."""
        delay = self.retry_delay
        while not self._stopping:
            try:
                reader, writer = await asyncio.open_connection(
                    peer.address, peer.port, ssl=peer.ssl_context,
                    server_hostname=peer.server_hostname if peer.ssl_context else None)
            except OSError as exc:
                log.debug("diameter connect to %s:%d failed: %s", peer.address, peer.port, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_retry_delay)
                continue
            if self._stopping:
                writer.close()
                break
            link = self._new_link(Role.INITIATOR, reader, writer, peer.applications)
            runner = asyncio.create_task(link.run())
            try:
                opened = await link.opened
            except DiameterUnavailable as exc:
                log.warning("diameter %s:%d: %s", peer.address, peer.port, exc)
                await runner
            except asyncio.CancelledError:
                runner.cancel()
                raise
            else:
                self._reserved.add(opened.peer_identity)
                if peer.routes_its_realm:
                    self.add_route(opened.peer_realm, opened.peer_identity)
                if peer.default_route:
                    self.add_route(DEFAULT_ROUTE, opened.peer_identity)
                delay = self.retry_delay
                self._peers_down -= 1
                self._peer_names[id(peer)] = opened.peer_identity
                self._peers_open.add(id(peer))
                try:
                    await runner
                finally:
                    self._peers_down += 1
                    self._peers_open.discard(id(peer))
            if not self._stopping:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_retry_delay)

    def link_opened(self, link: Link) -> None:
        assert link.peer is not None
        self._pending.discard(link)
        existing = self._links.get(link.peer.peer_identity)
        if existing is not None and existing is not link and not (
                existing.conn.role is Role.RESPONDER and link.conn.role is Role.INITIATOR):
            # a second connection of one identity (several processes behind one name, or
            # both sides dialling, RFC 6733 §5.6.4): it is served, the first keeps the
            # routes; a connection we made ourselves wins over one made to us
            log.info("diameter peer %s opened a second connection", link.peer.peer_identity)
            return
        log.info("diameter peer %s (realm %s) open", link.peer.peer_identity,
                 link.peer.peer_realm)
        self._links[link.peer.peer_identity] = link
        self._peer_views[link.peer.peer_identity] = link.view
        self.peer = link.peer
        self._changed.set()
        self._changed = asyncio.Event()

    def link_closed(self, link: Link) -> None:
        self._all_links.discard(link)
        self._pending.discard(link)
        address = self._accepted.pop(link, None)
        if address is not None:
            left = self._per_address.get(address, 1) - 1
            if left > 0:
                self._per_address[address] = left
            else:
                self._per_address.pop(address, None)
        if link.peer is not None and self._links.get(link.peer.peer_identity) is link:
            del self._links[link.peer.peer_identity]
            del self._peer_views[link.peer.peer_identity]

    def peer_states(self) -> dict[str, bool]:
        """Whether each peer's connection is open: every configured peer (by the
        Origin-Host it opened with, else as configured), and every peer connected to this
        node while it is."""
        states: dict[str, bool] = {}
        for spec in self._peers:
            name = (self._peer_names.get(id(spec)) or spec.host or spec.server_hostname
                    or f"{spec.address}:{spec.port}")
            states[name] = states.get(name, False) or id(spec) in self._peers_open
        for name in self._links:
            states[name] = True
        return states

    def _observe(self, request: Message, answer: Message | None, started: float,
                 originated: bool) -> None:
        if self.observer is None:
            return
        try:
            self.observer(request, answer, time.monotonic() - started, originated)
        except Exception as exc:  # metrics must never cost an answer
            log.debug("diameter observer failed: %r", exc)

    def request_received(self, link: Link, request: Message) -> None:
        self.request_task(self._on_request(link, request))

    def request_task(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_open(self, timeout: float = 10.0, host: str | None = None) -> PeerOpen:
        """Wait until a peer (or the peer *host*) is open."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    for name, link in self._links.items():
                        if link.peer is not None and (host is None or name == host):
                            return link.peer
                    await self._changed.wait()
        except TimeoutError:
            where = host or ", ".join(f"{p.address}:{p.port}" for p in self._peers) or "a peer"
            raise DiameterUnavailable(f"no Diameter connection to {where} within "
                                      f"{timeout:g}s") from None

    # ------------------------------------------------------------------ requests

    async def request(self, message: Message, timeout: float | None = None) -> Message:
        """Route and send a request originated here; return its answer.

        While no peer can take it but a configured peer is still connecting, wait for it
        (up to *timeout*); when peers are open but none serves the destination, the answer
        is a local 3002/3003 error answer, as an agent would send (RFC 6733 §6.1)."""
        started = time.monotonic()
        answer: Message | None = None
        try:
            answer = await self._request(message, timeout)
            return answer
        finally:
            self._observe(message, answer, started, originated=True)

    async def _request(self, message: Message, timeout: float | None) -> Message:
        limit = self.request_timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        e2e = self._e2e()
        failed: set[str] = set()
        sent = False
        while True:
            decision = self.router.outgoing(message, self._peer_views, exclude=failed)
            remaining = deadline - loop.time()
            if isinstance(decision, Forward):
                host = decision.candidates[0]
                try:
                    return await self._links[host].request(
                        message, max(remaining, 0.001), end_to_end=e2e, retransmit=sent)
                except PeerFailed as exc:
                    log.info("diameter request to %s failed over: %s", host, exc)
                    failed.add(host)
                    sent = sent or exc.sent
                    continue
            if remaining > 0 and not failed and await self._peer_coming(remaining):
                continue
            if not self._links:
                raise DiameterUnavailable(f"no open Diameter peer within {limit:g}s")
            log.info("diameter request refused locally: %s", decision.reason)
            return error_answer(message, self.identity, decision.result_code, decision.reason)

    async def _peer_coming(self, remaining: float) -> bool:
        """While nothing is open, or a configured peer is (re)connecting, wait up to
        *remaining* seconds for the next peer to open (it may be the route); True if one
        did. In steady state (every configured peer open) nothing waits."""
        if self._links and not self._peers_down:
            return False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(remaining):
                await self._changed.wait()
                return True
        return False

    async def _on_request(self, link: Link, request: Message) -> None:
        """Route, serve and answer one request; nothing escapes (one line if it fails)."""
        started = time.monotonic()
        try:
            answer = await self._serve_request(link, request)
        except Exception as exc:  # a bug costs one answer, not the node
            log.warning("diameter request %d from %s failed: %s: %s", request.command_code,
                        link.label, type(exc).__name__, exc)
            log.debug("diameter request failure", exc_info=exc)
            answer = error_answer(request, self.identity, d.ResultCode.UNABLE_TO_COMPLY)
            link.answer(request, answer)
        self._observe(request, answer, started, originated=False)

    async def _serve_request(self, link: Link, request: Message) -> Message:
        peer = link.conn.peer_identity or ""
        deadline = asyncio.get_running_loop().time() + self.request_timeout
        decision = self.router.incoming(request, peer, self._peer_views)
        while isinstance(decision, Refuse) and decision.result_code in _ROUTE_MISSING:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0 or not await self._peer_coming(remaining):
                break
            decision = self.router.incoming(request, peer, self._peer_views)
        if isinstance(decision, Deliver):
            answer = await self._deliver(request, peer)
        elif isinstance(decision, Forward):
            answer = await self._forward(request, decision)
        else:
            log.info("diameter request %d from %s refused: %s", request.command_code, peer,
                     decision.reason)
            answer = error_answer(request, self.identity, decision.result_code,
                                  decision.reason)
        link.answer(request, answer)
        return answer

    async def _deliver(self, request: Message, peer: str) -> Message:
        handler = (self._handlers.get((request.application_id, request.command_code))
                   or self._handlers.get((request.application_id, None)))
        if handler is None:
            return error_answer(request, self.identity, d.ResultCode.COMMAND_UNSUPPORTED)
        try:
            return with_proxy_info(request, await handler(request, peer))
        except Exception as exc:  # a handler bug must not take the peer down
            # one line per failed request; the traceback only at DEBUG, so that a peer
            # repeating a bad request cannot fill the log
            log.warning("diameter handler failed for command %d from %s: %s: %s",
                        request.command_code, peer, type(exc).__name__, exc)
            log.debug("diameter handler failure", exc_info=exc)
            return error_answer(request, self.identity, d.ResultCode.UNABLE_TO_COMPLY)

    async def forward(self, request: Message, from_peer: str,
                      destination_realm: str | None = None) -> Message:
        """Proxy a request a handler received here on to another node, as an agent does
        (RFC 6733 §6.1.9: Route-Record appended, End-to-End id and Proxy-Info kept), with
        Destination-Realm rewritten to *destination_realm* when given: the realm of the
        user's NAI, as a proxy routing on the User-Name does (RFC 5729 §4 -- section not
        read, UNVERIFIED). The answer is the next hop's, or a local 3002/3003 error
        answer when no peer can take it."""
        message = request
        if destination_realm is not None:  # and no Destination-Host naming this node
            message = request.with_avps(
                [avp("Destination-Realm", destination_realm) if a.code == d.DESTINATION_REALM
                 and not a.vendor else a for a in request.avps
                 if a.vendor or a.code != d.DESTINATION_HOST
                 or a.as_str() != self.identity.origin_host])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.request_timeout
        decision = self.router.outgoing(message, self._peer_views, exclude=(from_peer,))
        while isinstance(decision, Refuse) and decision.result_code in _ROUTE_MISSING:
            remaining = deadline - loop.time()  # a configured peer may still be opening
            if remaining <= 0 or not await self._peer_coming(remaining):
                break
            decision = self.router.outgoing(message, self._peer_views, exclude=(from_peer,))
        if isinstance(decision, Refuse):
            return error_answer(request, self.identity, decision.result_code,
                                decision.reason)
        recorded = message.with_avps([*message.avps, avp("Route-Record", from_peer)])
        return await self._forward(request, Forward(recorded, decision.candidates))

    async def _forward(self, request: Message, decision: Forward) -> Message:
        """Relay a request (RFC 6733 §6.1.9): End-to-End id kept, a fresh Hop-by-Hop id on
        each hop, and on a failed next hop the alternates in turn with the T flag."""
        sent = request.is_retransmit
        for host in decision.candidates:
            link = self._links.get(host)
            if link is None:
                continue
            try:
                return await link.request(decision.message, self.request_timeout,
                                          end_to_end=request.end_to_end, retransmit=sent)
            except PeerFailed as exc:
                log.info("diameter relay to %s failed over: %s", host, exc)
                sent = sent or exc.sent
            except DiameterUnavailable as exc:
                return error_answer(request, self.identity, d.ResultCode.UNABLE_TO_DELIVER,
                                    f"next hop {host}: {exc}")
        return error_answer(request, self.identity, d.ResultCode.UNABLE_TO_DELIVER,
                            "every next hop failed")


_ROUTE_MISSING = frozenset({d.ResultCode.UNABLE_TO_DELIVER, d.ResultCode.REALM_NOT_SERVED})
"""Refusals that a peer opening later could turn into a route."""


def with_proxy_info(request: Message, answer: Message) -> Message:
    """The answer with the request's Proxy-Info AVPs, in order, unless it carries them
    already (RFC 6733 §6.2: a node copies Proxy-Info from the request into the answer)."""
    proxy_info = request.find_all(PROXY_INFO)
    if not proxy_info or answer.find(PROXY_INFO) is not None:
        return answer
    return answer.with_avps([*answer.avps, *proxy_info])


class DiameterServer(DiameterNode):
    """A node serving every command of its applications with one handler, on one port."""

    def __init__(self, identity: PeerIdentity, applications: Iterable[Application],
                 handler: Handler, host: str, port: int, *,
                 ssl_context: ssl.SSLContext | None = None, tw: float = DEFAULT_TW,
                 authorise: Authorise | None = None) -> None:
        apps = frozenset(applications)
        super().__init__(identity, apps, tw=tw)
        for _, app in apps:
            self.serve(app, None, handler)
        self.listen(host, port, ssl_context=ssl_context, authorise=authorise)


class DiameterClient(DiameterNode):
    """A node with one peer, its default route, kept connected (RFC 3539 §3.4)."""

    def __init__(self, identity: PeerIdentity, applications: Iterable[Application], host: str,
                 port: int, *, ssl_context: ssl.SSLContext | None = None,
                 server_hostname: str | None = None, tw: float = DEFAULT_TW,
                 retry_delay: float = 0.2, max_retry_delay: float = 5.0) -> None:
        super().__init__(identity, applications, tw=tw, retry_delay=retry_delay,
                         max_retry_delay=max_retry_delay)
        self.host, self.peer_port = host, port
        self.connect(PeerSpec(host, port, ssl_context, server_hostname, default_route=True))


def session_id_factory(origin_host: str) -> Callable[[], str]:
    """Session-Id = DiameterIdentity;high 32 bits;low 32 bits (RFC 6733 §8.8)."""
    high = int(time.time()) & 0xFFFFFFFF
    counter = itertools.count(int.from_bytes(os.urandom(2), "big"))
    return lambda: f"{origin_host};{high};{next(counter) & 0xFFFFFFFF}"


async def ask(node: DiameterNode, request: Message, parse: Callable[[Message], T]) -> T | int:
    """Send *request*; the parsed answer on DIAMETER_SUCCESS, else the result code
    (Result-Code or Experimental-Result-Code, RFC 6733 §7.1; 5012 when it has neither)."""
    answer = await node.request(request)
    code = answer.result_code
    if code != d.ResultCode.SUCCESS:
        return code if code is not None else d.ResultCode.UNABLE_TO_COMPLY
    return parse(answer)

"""The signalling faces of the NGN signalling proxy and softswitch: a protocol binding
(:class:`~gba.protocols.ngn_flow.Wire`) and the sans-IO machines, wired to channels
(docs/ngn.md §3).

Each face is one binding on one socket. The rules that make the same machines run over
reply bindings (SIP, RAS) and command bindings (MGCP, H.248):

* A request or command from downstream is *held* until the node's reaction to it is known.
  Reply bindings answer it with the reaction itself (s6 answers s1, s10 answers s7, s5
  answers s2, s9 answers s8, or a reject). Command bindings answer it with an
  acknowledgement and send the reaction as a command of its own, or answer it with the
  protocol's error for a reject.
* The SP relays answers: a command it forwards upstream (s2, s8) is acknowledged to the
  terminal when the softswitch acknowledges it; a command from the softswitch (s5, s9) is
  acknowledged when the terminal acknowledges the command the SP sent on (s6, s10).
* The softswitch asks the AuC (s3/s4) and notifies it (s11, together with s9) through an
  :class:`AucLink`.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from gba.nf.ngn_aka import AkaRegistrar
from gba.protocols.ngn_flow import (
    Ack,
    FlowMessage,
    Inbound,
    Protected,
    Refusal,
    Refuse,
    S1Register,
    S2Forward,
    S3AuthRequest,
    S4AuthVector,
    S5Challenge,
    S6Challenge,
    S7Response,
    S8Response,
    S9Success,
    S10Success,
    S11Registered,
    Wire,
    WireError,
)
from gba.protocols.ngn_proxy import NgnProxy
from gba.protocols.ngn_softswitch import NgnSoftswitch
from gba.transport.message_io import Channel

log = logging.getLogger(__name__)

MAX_HELD = 65536


class AucLink(Protocol):
    """The softswitch-AuC leg (s3/s4, s11)."""

    async def authenticate(self, request: S3AuthRequest) -> S4AuthVector | Refuse:
        ...

    async def registered(self, notice: S11Registered) -> None:
        ...


class FaceEvents:
    """What a face counts, by event: ``registered``, ``refreshed``, ``rechallenged``,
    ``aka``, ``malformed``, ``refused:<refusal>``; each also goes to ``sink`` (the
    function's metrics)."""

    def __init__(self, sink: Callable[[str], None] | None = None) -> None:
        self.counts: Counter[str] = Counter()
        self._sink = sink

    def __call__(self, event: str) -> None:
        self.counts[event] += 1
        if self._sink is not None:
            self._sink(event)


def wall_clock() -> int:
    return int(time.time())


@dataclass(frozen=True, slots=True)
class _Held:
    inbound: Inbound
    channel: Channel


class _Leg:
    """One side of a face: its wire and the request or command held from it, by ID_c."""

    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        self.held: OrderedDict[str, _Held] = OrderedDict()
        self.channels: OrderedDict[str, Channel] = OrderedDict()

    def hold(self, inbound: Inbound, channel: Channel, id_c: str) -> None:
        self.held.pop(id_c, None)
        self.held[id_c] = _Held(inbound, channel)
        self.channels.pop(id_c, None)
        self.channels[id_c] = channel
        for table in (self.held, self.channels):
            while len(table) > MAX_HELD:
                table.popitem(last=False)

    def answer(self, id_c: str, message: Ack | Refuse | FlowMessage) -> bool:
        """Answer the held request or command of ``id_c`` with ``message``."""
        held = self.held.pop(id_c, None)
        if held is None:
            return False
        held.channel.send(self.wire.encode(message, held.inbound))
        return True

    def send(self, message: FlowMessage) -> None:
        """Send ``message`` towards this leg: the answer to the held request (reply
        bindings, and any reject); else, after acknowledging what is held, a new command."""
        id_c = message.id_c
        if not self.wire.commands_only or isinstance(message, Refuse | Ack):
            if not self.answer(id_c, message):
                log.info("%s: nothing to answer for %r (%s dropped)", self.wire.name, id_c,
                         type(message).__name__)
            return
        held = self.held.get(id_c)
        if held is not None:
            self.answer(id_c, Ack(id_c, message.id_sp))
        channel = self.channels.get(id_c)
        if channel is None:
            log.info("%s: no channel to %r", self.wire.name, id_c)
            return
        channel.send(self.wire.encode(message))


def _decode(wire: Wire, data: bytes, channel: Channel) -> Inbound | None:
    try:
        return wire.decode(data)
    except WireError as exc:
        log.info("%s from %s refused: %s", wire.name, channel.peer_ip, exc)
        if exc.reply is not None:
            channel.send(exc.reply)
        return None


class SoftswitchFace:
    """One binding of the softswitch: SPs (s2, s8) and, when no proxy is in the path,
    terminals (s1, s7) with the softswitch playing the SP's part (``own``)."""

    def __init__(self, wire: Wire, softswitch: NgnSoftswitch, own: NgnProxy, auc: AucLink,
                 clock: Callable[[], int] = wall_clock, aka: AkaRegistrar | None = None,
                 events: Callable[[str], None] | None = None) -> None:
        self.down = _Leg(wire)
        self._aka = aka
        self._ss = softswitch
        self._own = own
        self._auc = auc
        self._clock = clock
        self.stats = FaceEvents(events)

    async def handle(self, data: bytes, channel: Channel) -> None:
        if self._aka is not None:
            register = self._aka.takes(data)
            if register is not None:
                self.stats("aka")
                reply = await self._aka.handle(register, channel.peer_ip)
                if reply is not None:
                    channel.send(reply)
                return
        inbound = _decode(self.down.wire, data, channel)
        if inbound is None:
            self.stats("malformed")
            return
        msg = inbound.message
        if not inbound.is_request:
            if isinstance(msg, Refuse):
                self._own.abandon(msg.id_c)
            return
        self.down.hold(inbound, channel, msg.id_c)
        if isinstance(msg, S1Register):
            await self._direct_register(msg)
        elif isinstance(msg, S2Forward):
            await self._challenge(self._ss.on_register(msg), direct=False)
        elif isinstance(msg, S7Response):
            answer = self._own.on_response(msg, channel.peer_ip, self._clock())
            if isinstance(answer, Refuse):
                self._refuse(answer)
            else:
                await self._decide(answer, direct=True)
        elif isinstance(msg, S8Response):
            await self._decide(msg, direct=False)
        elif isinstance(msg, Protected):
            self._protected(self._own.on_protected(msg))
        else:
            self._refuse(Refuse(msg.id_c, msg.id_sp, Refusal.MALFORMED,
                                f"{type(msg).__name__} is not for a softswitch"))

    def _refuse(self, refuse: Refuse) -> None:
        self.stats(f"refused:{refuse.refusal.value}")
        self.down.send(refuse)

    def _protected(self, answer: Protected | Refuse) -> None:
        if isinstance(answer, Refuse):
            self._refuse(answer)
            return
        self.stats("refreshed")
        self.down.answer(answer.id_c, answer)

    async def _direct_register(self, msg: S1Register) -> None:
        forward = self._own.on_register(msg, self._clock())
        if isinstance(forward, Refuse):
            self._refuse(forward)
            return
        await self._challenge(self._ss.on_register(forward), direct=True)

    async def _challenge(self, request: S3AuthRequest, *, direct: bool) -> None:
        vector = await self._auc.authenticate(request)
        if isinstance(vector, Refuse):
            self._refuse(self._ss.on_auc_refusal(request, vector.refusal, vector.detail))
            return
        challenge = self._ss.on_vector(vector)
        if isinstance(challenge, Refuse):
            self._refuse(challenge)
            return
        if not direct:
            self.down.send(challenge)
            return
        proxied = self._own.on_challenge(challenge, self._clock())
        if isinstance(proxied, Refuse):
            self._refuse(proxied)
            return
        self.down.send(proxied)

    async def _decide(self, response: S8Response, *, direct: bool) -> None:
        decision = self._ss.on_response(response)
        if isinstance(decision, Refuse):
            self._own.abandon(response.id_c)
            self._refuse(decision)
        elif isinstance(decision, S3AuthRequest):
            self.stats("rechallenged")
            await self._challenge(decision, direct=direct)
        else:
            success, notice = decision
            await self._auc.registered(notice)
            self.stats("registered")
            if not direct:
                self.down.send(success)
                return
            final = self._own.on_success(success, self._clock())
            if isinstance(final, Refuse):
                self._refuse(final)
            else:
                self.down.send(final)


class ProxyFace:
    """One binding of the signalling proxy: terminals below, the softswitch above."""

    def __init__(self, down: Wire, up: Wire, proxy: NgnProxy,
                 clock: Callable[[], int] = wall_clock,
                 events: Callable[[str], None] | None = None) -> None:
        self.down = _Leg(down)
        self.up = _Leg(up)
        self._proxy = proxy
        self._clock = clock
        self._upstream: Channel | None = None
        self.stats = FaceEvents(events)

    def connect(self, upstream: Channel) -> None:
        """The channel to the softswitch (this face's client socket)."""
        self._upstream = upstream

    def _send_up(self, message: FlowMessage) -> None:
        if self._upstream is None:
            self.down.send(Refuse(message.id_c, message.id_sp, Refusal.UNAVAILABLE,
                                  "no softswitch"))
            return
        self._upstream.send(self.up.wire.encode(message))

    def _refuse(self, refuse: Refuse) -> None:
        self.stats(f"refused:{refuse.refusal.value}")
        self.down.send(refuse)

    async def from_terminal(self, data: bytes, channel: Channel) -> None:
        inbound = _decode(self.down.wire, data, channel)
        if inbound is None:
            self.stats("malformed")
            return
        msg = inbound.message
        if not inbound.is_request:
            # the terminal answered s6 or s10: answer the softswitch's s5 or s9 likewise
            answer: Ack | Refuse = msg if isinstance(msg, Refuse) else Ack(msg.id_c, msg.id_sp)
            self.up.answer(msg.id_c, answer)
            return
        self.down.hold(inbound, channel, msg.id_c)
        now = self._clock()
        forward: S2Forward | S8Response | Refuse
        if isinstance(msg, S1Register):
            forward = self._proxy.on_register(msg, now)
        elif isinstance(msg, S7Response):
            forward = self._proxy.on_response(msg, channel.peer_ip, now)
        elif isinstance(msg, Protected):
            protected = self._proxy.on_protected(msg)
            if isinstance(protected, Refuse):
                self._refuse(protected)
            else:
                self.stats("refreshed")
                self.down.answer(msg.id_c, protected)
            return
        else:
            forward = Refuse(msg.id_c, msg.id_sp, Refusal.MALFORMED,
                             f"{type(msg).__name__} is not for an SP")
        if isinstance(forward, Refuse):
            self._refuse(forward)
        else:
            self._send_up(forward)

    async def from_softswitch(self, data: bytes, channel: Channel) -> None:
        inbound = _decode(self.up.wire, data, channel)
        if inbound is None:
            self.stats("malformed")
            return
        msg = inbound.message
        if isinstance(msg, Refuse):
            self._refuse(self._proxy.on_refuse(msg))
            if inbound.is_request:
                self.up.hold(inbound, channel, msg.id_c)
                self.up.answer(msg.id_c, Ack(msg.id_c, msg.id_sp))
            return
        if isinstance(msg, Ack):
            # the softswitch acknowledged s2 or s8: acknowledge the terminal's s1 or s7
            self.down.answer(msg.id_c, msg)
            return
        if inbound.is_request:
            self.up.hold(inbound, channel, msg.id_c)
        now = self._clock()
        if isinstance(msg, S5Challenge):
            onward: S6Challenge | S10Success | Refuse = self._proxy.on_challenge(msg, now)
        elif isinstance(msg, S9Success):
            onward = self._proxy.on_success(msg, now)
            if not isinstance(onward, Refuse):
                self.stats("registered")
        else:
            onward = Refuse(msg.id_c, msg.id_sp, Refusal.MALFORMED,
                            f"{type(msg).__name__} is not for an SP")
        if isinstance(onward, Refuse):
            self._refuse(onward)
            if inbound.is_request:
                self.up.answer(msg.id_c, onward)
            return
        self.down.send(onward)

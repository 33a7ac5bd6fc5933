"""An NGN terminal registering with key distribution over one binding (seed 001; docs/ngn.md):
the :class:`~gba.protocols.ngn_terminal.NgnTerminal` machine on a real socket.

It acknowledges every command a command binding sends it (MGCP 200, H.248 Reply), keeps
the message flow it saw (for ``gba demo ngn``), and after a failed check of s10 registers
again from s1 (s11).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gba.config import Address
from gba.errors import AuthError, GbaError, ProtocolError
from gba.protocols import ngn
from gba.protocols.ngn_bindings import describe, is_stream, make_wire
from gba.protocols.ngn_flow import (
    Ack,
    FlowMessage,
    Inbound,
    Protected,
    Refuse,
    Role,
    S6Challenge,
    S10Success,
    Wire,
    WireError,
)
from gba.protocols.ngn_terminal import Failed, NgnTerminal, Registered, Restart
from gba.protocols.sip import StreamFramer
from gba.transport.message_io import Channel, MessageClient, connect_tcp, connect_udp

DEFAULT_TIMEOUT_S = 10.0


class RegistrationFailed(GbaError):
    """The registration ended without a key (refused, gave up, or timed out)."""


@dataclass(frozen=True, slots=True)
class FlowStep:
    """One message the terminal sent or received."""

    direction: str
    """"sent" or "received"."""
    step: str
    """The flow message (``S1Register``, ``Ack``, ...)."""
    first_line: str
    """The protocol message's first line (text bindings) or its kind (RAS)."""


@dataclass(slots=True)
class Outcome:
    registered: Registered | None
    flow: list[FlowStep] = field(default_factory=list)
    restarts: list[str] = field(default_factory=list)
    failure: str = ""


def first_line(data: bytes) -> str:
    """A protocol message's first line, for the flow printout."""
    line = data.split(b"\n", 1)[0].rstrip(b"\r")
    if line.isascii() and line.decode("ascii").isprintable():
        return line.decode("ascii")[:120]
    return f"{len(data)} octets"


def key_fingerprint(kc_sp: bytes) -> str:
    """A one-way label of Kc,sp for comparing keys across processes [P]:
    HMAC-SHA-256(Kc,sp, "ngn-key-fingerprint"), first 8 octets, hex. Never the key."""
    return hmac.new(kc_sp, b"ngn-key-fingerprint", hashlib.sha256).digest()[:8].hex()


class NgnRegistration:
    """Drive one terminal's registration over ``wire`` and a connected client socket."""

    def __init__(self, terminal: NgnTerminal, wire: Wire, *,
                 describe: Callable[[bytes], str] = first_line,
                 clock: Callable[[], int] = lambda: int(time.time())) -> None:
        self.terminal = terminal
        self.wire = wire
        self._describe = describe
        self._clock = clock
        self._inbox: asyncio.Queue[bytes] = asyncio.Queue(maxsize=256)
        self.outcome = Outcome(None)
        self._seq = 0

    async def receive(self, data: bytes, channel: Channel) -> None:
        """The client socket's handler."""
        if not self._inbox.full():
            self._inbox.put_nowait(data)

    def _send(self, client: MessageClient, message: FlowMessage,
              answering: Inbound | None = None) -> None:
        data = self.wire.encode(message, answering)
        self.outcome.flow.append(FlowStep("sent", type(message).__name__, self._describe(data)))
        client.send(data)

    async def run(self, client: MessageClient, timeout: float = DEFAULT_TIMEOUT_S) -> Outcome:
        """Register; :class:`RegistrationFailed` unless Kc,sp was agreed."""
        try:
            async with asyncio.timeout(timeout):
                await self._run(client)
        except TimeoutError:
            self.outcome.failure = f"no answer within {timeout} s"
        if self.outcome.registered is None:
            raise RegistrationFailed(self.outcome.failure or "not registered")
        return self.outcome

    async def _run(self, client: MessageClient) -> None:
        self._send(client, self.terminal.register(self._clock()))
        while True:
            data = await self._inbox.get()
            try:
                inbound = self.wire.decode(data)
            except WireError as exc:
                self.outcome.flow.append(FlowStep("received", "malformed", str(exc)))
                continue
            msg = inbound.message
            self.outcome.flow.append(FlowStep("received", type(msg).__name__,
                                              self._describe(data)))
            if inbound.is_request and self.wire.commands_only:
                self._send(client, Ack(msg.id_c, msg.id_sp), inbound)
            if self._react(client, msg):
                return

    def _react(self, client: MessageClient, msg: FlowMessage) -> bool:
        """True when the registration ended."""
        now = self._clock()
        try:
            if isinstance(msg, S6Challenge):
                self._send(client, self.terminal.on_challenge(msg, now))
                return False
            if isinstance(msg, S10Success):
                result: Registered | Restart | Failed = self.terminal.on_success(msg, now)
            elif isinstance(msg, Refuse):
                result = self.terminal.on_refuse(msg, now)
            else:
                return False  # an acknowledgement
        except (AuthError, ProtocolError) as exc:
            self.outcome.flow.append(FlowStep("ignored", type(msg).__name__, str(exc)))
            return False
        if isinstance(result, Registered):
            self.outcome.registered = result
            return True
        if isinstance(result, Restart):
            self.outcome.restarts.append(result.reason)
            self._send(client, result.register)
            return False
        self.outcome.failure = result.reason
        return True

    async def refresh(self, client: MessageClient, timeout: float = DEFAULT_TIMEOUT_S) -> bool:
        """After registration: one refresh protected under Kc,sp with the chosen mechanism
        [P]; True when its answer is protected under the same key (no new key exchange)."""
        registered = self.outcome.registered
        if registered is None:
            raise RegistrationFailed("not registered")
        self._seq += 1
        request = Protected(registered.id_c, registered.id_sp, registered.mechanism, self._seq,
                            b"", False)
        request = Protected(request.id_c, request.id_sp, request.mechanism, request.seq,
                            ngn.mac(registered.kc_sp, request.mac_fields()), False)
        self._send(client, request)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    answer = self._answer_of(await self._inbox.get())
                    if answer is not None:
                        break
        except TimeoutError:
            return False
        if not isinstance(answer, Protected) or not answer.answer or answer.seq != self._seq:
            return False
        expected = ngn.mac(registered.kc_sp, answer.mac_fields())
        return answer.mechanism == registered.mechanism and hmac.compare_digest(expected,
                                                                                 answer.mac)

    def _answer_of(self, data: bytes) -> FlowMessage | None:
        try:
            inbound = self.wire.decode(data)
        except WireError as exc:
            self.outcome.flow.append(FlowStep("received", "malformed", str(exc)))
            return None
        msg = inbound.message
        self.outcome.flow.append(FlowStep("received", type(msg).__name__, self._describe(data)))
        return msg if isinstance(msg, Protected | Refuse) else None


async def register_over(face: str, target: Address, terminal: NgnTerminal, domain: str, *,
                        refreshes: int = 1, timeout: float = DEFAULT_TIMEOUT_S
                        ) -> dict[str, Any]:
    """Register ``terminal`` over one face (a new socket), then send ``refreshes``
    protected refreshes: the report ``gba ngn register`` prints (ok, the mechanism, a
    fingerprint of Kc,sp, the refreshes' outcomes, the message flow, the restarts)."""
    holder: list[NgnRegistration] = []

    async def receive(data: bytes, channel: Channel) -> None:
        await holder[0].receive(data, channel)

    client = (await connect_tcp(target, receive, StreamFramer) if is_stream(face)
              else await connect_udp(target, receive))
    wire = make_wire(face, Role.TERMINAL, client.local.host, client.local.port, domain)
    reg = NgnRegistration(terminal, wire, describe=lambda data: describe(face, data))
    holder.append(reg)
    result: dict[str, Any] = {"binding": face, "id_c": terminal.id_c, "id_sp": terminal.id_sp}
    try:
        outcome = await reg.run(client, timeout)
        registered = outcome.registered
        assert registered is not None
        checks = [await reg.refresh(client, timeout) for _ in range(refreshes)]
        result.update(ok=all(checks), mechanism=registered.mechanism,
                      key_fingerprint=key_fingerprint(registered.kc_sp), refreshes=checks)
    except RegistrationFailed as exc:
        result.update(ok=False, error=str(exc))
    finally:
        await client.close()
    result["flow"] = [{"direction": s.direction, "step": s.step, "message": s.first_line}
                      for s in reg.outcome.flow]
    result["restarts"] = reg.outcome.restarts
    return result

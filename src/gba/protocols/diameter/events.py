"""Events a :class:`~gba.protocols.diameter.peer.PeerConnection` reports to its owner.

Small frozen records, as h11 and wsproto do it: the I/O layer reads them and acts (route a
request, complete a pending answer, close the socket). Peer-level messages (CER/CEA,
DWR/DWA, DPR/DPA of RFC 6733 §5) are handled inside the connection and never surface as
requests or answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from gba.protocols.diameter.codec import Message

Application = tuple[int, int]
"""(vendor id, application id); vendor 0 for an application announced without vendor."""


@dataclass(frozen=True, slots=True)
class PeerOpen:
    """Capabilities exchange succeeded (RFC 6733 §5.3): the peer is in the Open state."""

    peer_identity: str
    common_applications: frozenset[Application]
    peer_realm: str = ""


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """An application request from the peer; answer it with ``send_answer``."""

    message: Message


@dataclass(frozen=True, slots=True)
class AnswerReceived:
    """The answer to a request we sent, matched by Hop-by-Hop Identifier (RFC 6733 §6.2)."""

    message: Message
    request_hop_by_hop: int
    request: Message


@dataclass(frozen=True, slots=True)
class PeerClosed:
    """The connection is over (DPR/DPA, failed CER/CEA, watchdog, fatal framing error).

    The owner writes what ``data_to_send()`` still holds (a DPA, or a CEA carrying the
    refusal) and closes the transport. ``unanswered`` are the requests still outstanding,
    for failover (RFC 6733 §5.5.4).
    """

    reason: str
    unanswered: tuple[Message, ...] = ()


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """The peer broke a rule; ``fatal`` when the stream could not be resynchronised."""

    reason: str
    fatal: bool = False
    offset: int | None = None


Event = PeerOpen | RequestReceived | AnswerReceived | PeerClosed | ProtocolViolation

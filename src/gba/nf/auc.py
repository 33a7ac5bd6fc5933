"""The AuC of the NGN flow (seed 001; docs/ngn.md §0-§1): s4 from s3, and the record of
s11, served to the softswitch over the Diameter application of
:mod:`gba.protocols.ngn_auc`.

s4 per the seed: Rand = rng(16); Authenticator_c = f(Kc, Rand, ID_c); Kc,sp = rng(16);
E_Kc = wrap(Kc, Kc,sp); E_Ksp = wrap(K of ID_sp, Kc,sp) (:func:`authenticate`). Without
a proxy ID_sp is the softswitch's own identity, provisioned as a node like an SP.

AKA terminals (the interoperability extension [P], :func:`authenticate_aka`): a Milenage
vector (TS 33.102 §6.3.2) under K/OPc with the SQN the store issued (committed first, as
the HSS does) and the terminal's AMF; the softswitch verifies the RFC 3310 digest with
XRES, so the answer carries XRES and no NGN authenticator, and E_Kc is the AES-KW of
Kc,sp under CK || IK (:func:`gba.protocols.ngn_auc.aka_wrap`).

The softswitch's peer is checked as the HSS checks its BSFs: its Origin-Host must be the
connected peer and, when ``allowed_peers`` is given, one of them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from gba.clock import Clock, utc_now
from gba.crypto import aka
from gba.crypto.milenage import Milenage
from gba.errors import CodecError, InvalidInput, NotFound
from gba.protocols import ngn, ngn_auc
from gba.protocols.diameter import Message, PeerIdentity, ResultCode
from gba.protocols.diameter.capabilities import codec_error_answer, error_answer
from gba.protocols.diameter.dictionary import ORIGIN_HOST
from gba.protocols.ngn_auc import AkaVector, NgnResultCode
from gba.protocols.ngn_flow import S3AuthRequest, S4AuthVector, S11Registered
from gba.store.auc import AucStore, Node, Registration, Terminal, TerminalKind

log = logging.getLogger(__name__)

Rng = Callable[[int], bytes]


class UnknownTerminal(NotFound):
    """The AuC holds no key for ID_c (answered 5110)."""


class UnknownProxy(NotFound):
    """The AuC holds no key for ID_sp (answered 5111)."""


def _check(terminal: Terminal, node: Node, req: S3AuthRequest) -> None:
    if terminal.id_c != req.id_c:
        raise UnknownTerminal(f"terminal record {terminal.id_c!r} is not {req.id_c!r}")
    if node.id != req.id_sp:
        raise UnknownProxy(f"node record {node.id!r} is not {req.id_sp!r}")


def authenticate(terminal: Terminal, node: Node, req: S3AuthRequest,
                 rng: Rng = os.urandom) -> S4AuthVector:
    """s4 for an NGN terminal (seed 001; docs/ngn.md §1): Kc is the terminal's K."""
    _check(terminal, node, req)
    if terminal.kind is not TerminalKind.NGN:
        raise InvalidInput("authenticate() is for NGN terminals; use authenticate_aka()")
    rand = rng(ngn.RAND_LEN)
    kc_sp = rng(ngn.KEY_LEN)
    return S4AuthVector(id_c=req.id_c, id_sp=req.id_sp, rand=rand,
                        authenticator=ngn.authenticator(terminal.k, rand, req.id_c),
                        e_kc=ngn.wrap(terminal.k, kc_sp), e_ksp=ngn.wrap(node.k, kc_sp))


def authenticate_aka(terminal: Terminal, sqn: int, node: Node, req: S3AuthRequest,
                     rng: Rng = os.urandom) -> AkaVector:
    """s4 for an AKA terminal [P]: the Milenage vector for *sqn* (already issued and
    committed), E_Kc = AES-KW(CK || IK, Kc,sp), E_Ksp = wrap(Ksp, Kc,sp)."""
    _check(terminal, node, req)
    if terminal.kind is not TerminalKind.AKA or terminal.opc is None:
        raise InvalidInput("authenticate_aka() is for AKA terminals")
    vector = aka.generate_vector(Milenage(terminal.k, terminal.opc), sqn, terminal.amf,
                                 rng=rng)
    kc_sp = rng(ngn.KEY_LEN)
    return AkaVector(id_c=req.id_c, id_sp=req.id_sp, rand=vector.rand, autn=vector.autn,
                     xres=vector.xres, ck=vector.ck, ik=vector.ik,
                     e_kc=ngn_auc.aka_wrap(vector.ck, vector.ik, kc_sp),
                     e_ksp=ngn.wrap(node.k, kc_sp))


class Auc:
    """The AuC's Diameter application logic; transport-free, driven by a node."""

    def __init__(self, store: AucStore, identity: PeerIdentity, *, ind: int = 0,
                 allowed_peers: frozenset[str] | None = None, rng: Rng = os.urandom,
                 clock: Clock = utc_now) -> None:
        self.store = store
        self.identity = identity
        self.ind = ind
        self.allowed_peers = allowed_peers
        """Origin-Hosts of the softswitches served; None serves every peer (unit tests)."""
        self.rng = rng
        self.clock = clock

    def peer_refusal(self, request: Message, peer: str) -> str | None:
        """Why *peer* may not ask, or None (as :meth:`gba.nf.hss.Hss.peer_refusal`)."""
        if self.allowed_peers is not None and peer not in self.allowed_peers:
            return "not a softswitch this AuC serves"
        found = request.find(ORIGIN_HOST)
        origin = found.data.decode("utf-8", "replace") if found is not None else None
        if origin != peer:
            return f"Origin-Host {origin!r} is not the connected peer"
        return None

    async def vector(self, req: S3AuthRequest) -> S4AuthVector | AkaVector:
        """s4 for *req*; :class:`UnknownTerminal` / :class:`UnknownProxy`."""
        try:
            terminal = await self.store.get_terminal(req.id_c)
        except NotFound:
            raise UnknownTerminal(f"no terminal {req.id_c!r}") from None
        try:
            node = await self.store.get_node(req.id_sp)
        except NotFound:
            raise UnknownProxy(f"no node {req.id_sp!r}") from None
        if terminal.kind is TerminalKind.NGN:
            return authenticate(terminal, node, req, self.rng)
        terminal, sqn = await self.store.issue_sqn(req.id_c, self.ind)
        return authenticate_aka(terminal, sqn, node, req, self.rng)

    async def register(self, note: S11Registered) -> None:
        """Record s11 as the latest registration of ID_c."""
        try:
            await self.store.get_terminal(note.id_c)
        except NotFound:
            raise UnknownTerminal(f"no terminal {note.id_c!r}") from None
        try:
            await self.store.get_node(note.id_sp)
        except NotFound:
            raise UnknownProxy(f"no node {note.id_sp!r}") from None
        await self.store.record_registration(
            Registration(note.id_c, note.id_sp, note.address, self.clock()))

    async def handle(self, request: Message, peer: str) -> Message:
        """Answer one request of the application (s3 or s11)."""
        if request.command_code not in (ngn_auc.CMD_NGN_AUTH,
                                        ngn_auc.CMD_NGN_REGISTRATION_NOTICE):
            return error_answer(request, self.identity, ResultCode.COMMAND_UNSUPPORTED)
        refusal = self.peer_refusal(request, peer)
        extra = {"interface": "ngn-auc", "peer": peer}
        if refusal is not None:
            log.warning("NGN AuC request from %s refused: %s", peer, refusal, extra=extra)
            return error_answer(request, self.identity, ResultCode.UNKNOWN_PEER)
        try:
            if request.command_code == ngn_auc.CMD_NGN_AUTH:
                req = ngn_auc.parse_auth_request(request)
                answer = ngn_auc.build_auth_answer(request, self.identity,
                                                   await self.vector(req))
                log.info("NGN s4 for %s via %s to %s", req.id_c, req.id_sp, peer, extra=extra)
                return answer
            note = ngn_auc.parse_notice_request(request)
            await self.register(note)
            log.info("NGN s11: %s registered via %s", note.id_c, note.id_sp, extra=extra)
            return ngn_auc.build_notice_answer(request, self.identity)
        except CodecError as exc:
            log.warning("NGN AuC request from %s malformed: %s", peer, exc, extra=extra)
            return codec_error_answer(request, self.identity, exc)
        except UnknownTerminal as exc:
            log.info("NGN AuC: %s", exc, extra=extra)
            return ngn_auc.build_refusal(request, self.identity, NgnResultCode.UNKNOWN_TERMINAL)
        except UnknownProxy as exc:
            log.info("NGN AuC: %s", exc, extra=extra)
            return ngn_auc.build_refusal(request, self.identity, NgnResultCode.UNKNOWN_PROXY)

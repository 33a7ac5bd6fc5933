"""The Push-NAF (seed 002; TS 33.223 §4.2; docs/push.md): the five embodiments on sockets.

It drives the sans-IO sessions of :mod:`gba.protocols.push_dm` and owns what they do not:
the UEs' push addresses, the keys (Zpn for GBA Push, Zn for normal GBA), the stored SAs,
the push channel (UDP datagrams, :mod:`gba.protocols.upa`), the DM endpoint the UE posts
its packages to, the pkg3 timer, and the PSK-TLS push mailbox (embodiment 4).

* ``POST /push/register`` (UE): JSON ``{"impi", "port"[, "btid"]}``: pushes for *impi* go
  to the request's source address and *port* over UDP. Not authenticated: an address is
  not a secret, and every push is protected under a key only the UE holds (a forged
  registration can only divert pushes the attacker cannot read) [P].
* ``POST /dm`` (UE): one SyncML DM message in, the next package out
  (``application/vnd.syncml.dm+xml``, OMA DM 1.2 over HTTP).
* The control API (its own site, bearer token, :mod:`gba.nf.push_service`) orders pushes
  with :meth:`PushNaf.push` and reads :attr:`PushNaf.outcomes`.

Normal GBA: the UE registers its B-TID; without one the NAF pushes a bootstrap request and
waits for the UE to register again (steps 402-403, 501-502), then fetches Ks_NAF over Zn
and checks that the B-TID is the user's. GBA Push: a GPIR over Zpn with a P-TID the NAF
chose. NAF_Id = FQDN || 01 00 00 00 05 (generic push layer, TS 33.220 Annex H.3) for pushes
carried in DM, FQDN || 01 00 01 yy zz for PSK-TLS (embodiment 4).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from aiohttp import web

from gba.clock import Clock, utc_now
from gba.crypto import ua_protocols
from gba.errors import AuthError, CodecError, GbaError, InvalidInput, ProtocolError
from gba.nf.naf import FetchPush, NafKeys
from gba.nf.push_psk import PushKey, PushMailbox
from gba.protocols import gpi, push_dm, push_info, syncml, upa, zpn
from gba.protocols.omadm_pkg0 import Placement
from gba.protocols.push_dm import End, NafDmSession
from gba.protocols.push_sa import IdKind, PushSa, SaId
from gba.protocols.push_ue import sa_key
from gba.store.naf import NafStore

log = logging.getLogger(__name__)

DM_TYPE = "application/vnd.syncml.dm+xml"
MAX_DM = 64 * 1024
MAX_PAYLOADS = 16
MAX_REGISTRATIONS = 100_000
MAX_QUEUED = 64
"""Embodiment-3 orders waiting for one UE to start its session."""
MAX_PSK_KEYS = 100_000


@dataclass(frozen=True, slots=True)
class PushSettings:
    placement: Placement = "trigger"
    """Where package 0 carries the GPI: ``digest``, ``future-use`` or ``trigger``."""
    pkg3_timeout_s: float = 30.0
    skip_ue_check: bool = False
    """Under normal GBA (and GBA Push in embodiment 3, step 407): no UE credential check."""
    key_derivation: bool = False
    """The SA key derived from Ks_NAF (steps 103, 606) instead of Ks_NAF itself."""
    psk_suite: int = ua_protocols.TLS_PSK_WITH_AES_128_CBC_SHA
    bootstrap_wait_s: float = 30.0
    """How long a normal-GBA push waits for the UE to bootstrap and register again."""


@dataclass(frozen=True, slots=True)
class PushOrder:
    """One push the operator (the control API) asks for."""

    impi: str
    embodiment: int
    payloads: tuple[bytes, ...]
    gba: str = "push"
    """``push`` (GBA Push, Zpn) or ``normal`` (the UE's bootstrap, Zn)."""
    sa_kind: IdKind = IdKind.SESSION
    sa_value: str | None = None
    """The SA's name: default a fresh one (for ``session`` the session id; for ``btid``
    the UE's B-TID)."""
    session_id: int | None = None
    key_selection: str = "btid"
    """Embodiment 5: ``btid`` (the NAF names the B-TID) or ``latest`` (the UE picks its
    last bootstrap; the NAF lacks the key and fetches it by the B-TID the UE returns)."""


@dataclass(slots=True)
class Outcome:
    impi: str
    embodiment: int
    session_id: int
    sa_kind: str
    sa_id: str
    reused: bool
    end: str = "pending"
    acknowledged: int = 0
    new_gpi_after_404: bool = False
    gba: str = "push"

    def view(self) -> dict[str, Any]:
        return {"impi": self.impi, "embodiment": self.embodiment,
                "session_id": self.session_id, "sa": {"kind": self.sa_kind, "id": self.sa_id},
                "reused": self.reused, "end": self.end, "acknowledged": self.acknowledged,
                "new_gpi_after_404": self.new_gpi_after_404, "gba": self.gba}


@dataclass(slots=True)
class _Registration:
    host: str
    port: int
    btid: str | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(slots=True)
class _Session:
    order: PushOrder
    outcome: Outcome
    done: asyncio.Future[Outcome]
    dm: NafDmSession | None = None
    info: push_info.SaInfo | None = None
    """Embodiment 5 with the key still unknown (an unsigned offer)."""
    expects: str = "pkg1"
    timer: asyncio.TimerHandle | None = None


@dataclass(frozen=True, slots=True)
class _Keyed:
    sa: PushSa
    ks_naf: bytes
    gpi: bytes | None
    info: push_info.SaInfo


class PushNaf:
    def __init__(self, fqdn: str, store: NafStore, keys: NafKeys, fetch_push: FetchPush,
                 settings: PushSettings, mailbox: PushMailbox,
                 clock: Clock = utc_now) -> None:
        self.fqdn = fqdn
        self.store = store
        self.keys = keys
        self.fetch_push = fetch_push
        self.settings = settings
        self.mailbox = mailbox
        self.clock = clock
        self.ues: dict[str, _Registration] = {}
        self.sessions: dict[int, _Session] = {}
        self.queued: dict[str, list[PushOrder]] = {}
        self.outcomes: list[Outcome] = []
        self.psk_keys: dict[str, PushKey] = {}
        """Embodiment 4: the PSK-TLS key by P-TID or B-TID."""
        self._psk_waiters: dict[str, _Session] = {}
        self._transport: asyncio.DatagramTransport | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self, host: str) -> None:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=(host, 0))

    def close(self) -> None:
        for session in self.sessions.values():
            if session.timer is not None:
                session.timer.cancel()
        if self._transport is not None:
            self._transport.close()

    def naf_id(self, embodiment: int) -> bytes:
        ua = (ua_protocols.psk_tls(self.settings.psk_suite) if embodiment == 4
              else ua_protocols.GENERIC_PUSH_LAYER)
        return self.fqdn.encode("utf-8") + ua

    # ------------------------------------------------------------------ Upa
    def _send(self, impi: str, media_type: upa.MediaType, body: bytes) -> None:
        reg = self.ues.get(impi)
        if reg is None or self._transport is None:
            raise ProtocolError(f"{impi} has no registered push address")
        self._transport.sendto(upa.encode(upa.Push(media_type, body)), (reg.host, reg.port))
        log.info("Upa: %s to %s (%s:%d)", media_type.value, impi, reg.host, reg.port,
                 extra={"interface": "upa", "impi": impi})

    def register(self, impi: str, host: str, port: int, btid: str | None) -> None:
        if impi not in self.ues and len(self.ues) >= MAX_REGISTRATIONS:
            raise InvalidInput("too many registered UEs")
        reg = self.ues.setdefault(impi, _Registration(host, port))
        reg.host, reg.port = host, port
        if btid is not None:
            reg.btid = btid
        reg.changed.set()
        reg.changed = asyncio.Event()

    # ------------------------------------------------------------------ keys
    async def _btid_of(self, impi: str) -> str:
        """The UE's B-TID; a bootstrap request first when it has none (steps 402-403)."""
        reg = self.ues.get(impi)
        if reg is None:
            raise ProtocolError(f"{impi} has no registered push address")
        if reg.btid is None:
            waiting = reg.changed
            self._send(impi, upa.MediaType.BOOTSTRAP, self.fqdn.encode("utf-8"))
            await asyncio.wait_for(waiting.wait(), self.settings.bootstrap_wait_s)
            if reg.btid is None:
                raise ProtocolError(f"{impi} registered again without a B-TID")
        return reg.btid

    async def _normal_key(self, impi: str, btid: str, naf_id: bytes
                          ) -> tuple[bytes, datetime]:
        key = await self.keys.get(btid, naf_id)
        if key is None:
            raise ProtocolError(f"the BSF does not know B-TID {btid}")
        if key.impi is not None and key.impi != impi:
            raise AuthError(f"B-TID {btid} is not {impi}'s")
        return key.key, key.expires

    async def _new_sa(self, order: PushOrder, session_id: int, btid: str | None = None
                      ) -> _Keyed:
        """A new SA: its key from the BSF (Zpn or Zn), its parameters signed. Under
        normal GBA the B-TID is *btid* (the UE's pkg1 named it) or the registered one."""
        naf_id = self.naf_id(order.embodiment)
        protocol = push_info.PSK_TLS if order.embodiment == 4 else push_info.SYNCML
        derivation = "hmac-sha256" if self.settings.key_derivation and \
            order.embodiment != 4 else None
        if order.gba == "push":
            ptid = f"{secrets.token_hex(8)}@{self.fqdn}"
            answer = await self.fetch_push(zpn.PushInfoRequest(
                order.impi, zpn.UeIdType.PRIVATE_USER_IDENTITY, naf_id, ptid.encode(),
                gpi.UiccMe.GBA_ME))
            if isinstance(answer, int) or answer.me_key is None:
                raise ProtocolError(f"the BSF refused GBA Push Info (result {answer})"
                                    if isinstance(answer, int) else "GPIA without a key")
            sa_id = self._sa_id(order, session_id, ptid)
            info = push_info.SaInfo(sa_id, naf_id, key_selection="gpi",
                                    key_derivation=derivation, security_protocol=protocol)
            return _Keyed(PushSa(sa_id, naf_id, ptid, sa_key(info, answer.me_key),
                                 answer.expiry, key_selection="gpi", owner=order.impi),
                          answer.me_key, answer.gpi, info)
        btid = btid or await self._btid_of(order.impi)
        ks_naf, expires = await self._normal_key(order.impi, btid, naf_id)
        sa_id = self._sa_id(order, session_id, btid)
        info = push_info.SaInfo(sa_id, naf_id, tid=btid, key_derivation=derivation,
                                security_protocol=protocol)
        return _Keyed(PushSa(sa_id, naf_id, btid, sa_key(info, ks_naf), expires,
                             owner=order.impi), ks_naf, None, info)

    @staticmethod
    def _sa_id(order: PushOrder, session_id: int, tid: str) -> SaId:
        if order.sa_value is not None:
            return SaId(order.sa_kind, order.sa_value)
        if order.sa_kind is IdKind.SESSION:
            return SaId(IdKind.SESSION, str(session_id))
        if order.sa_kind is IdKind.BTID:
            return SaId(IdKind.BTID, tid)
        return SaId(order.sa_kind, secrets.token_hex(8))

    async def _stored(self, order: PushOrder, session_id: int) -> PushSa | None:
        """The SA the order names, when the NAF holds it (reuse: no BSF request)."""
        if order.sa_value is None and order.sa_kind is not IdKind.SESSION:
            return None
        sa_id = SaId(order.sa_kind, order.sa_value or str(session_id))
        return await self.store.get_push_sa(sa_id, self.clock(), order.impi)

    def _session_id(self, wanted: int | None) -> int:
        if wanted is not None:
            if not 1 <= wanted <= 0xFFFF or wanted in self.sessions:
                raise InvalidInput(f"session id {wanted} is not free")
            return wanted
        while True:
            candidate = secrets.randbelow(0xFFFF) + 1
            if candidate not in self.sessions:
                return candidate

    # ------------------------------------------------------------------ pushes
    async def push(self, order: PushOrder) -> Outcome:
        """Run one push to its end (embodiments 1, 2, 4, 5); embodiment 3 is queued until
        the UE starts the session."""
        if not order.payloads or len(order.payloads) > MAX_PAYLOADS:
            raise InvalidInput(f"1 to {MAX_PAYLOADS} payloads")
        if order.embodiment == 3:
            waiting = self.queued.get(order.impi, [])
            if len(waiting) >= MAX_QUEUED or (not waiting and
                                              len(self.queued) >= MAX_REGISTRATIONS):
                raise InvalidInput(f"too many pushes queued for {order.impi}")
            self.queued[order.impi] = [*waiting, order]
            return Outcome(order.impi, 3, 0, order.sa_kind.value, order.sa_value or "",
                           False, end="queued", gba=order.gba)
        if order.embodiment not in (1, 2, 4, 5):
            raise InvalidInput(f"embodiment {order.embodiment} is not 1 to 5")
        if order.impi not in self.ues:
            raise ProtocolError(f"{order.impi} has no registered push address")
        outcome = await self._push_once(order)
        if outcome.end == End.NEEDS_GPI.name.lower():  # the UE lost the SA: a new GPI
            fresh = replace(order, sa_value=None if order.sa_kind is IdKind.SESSION
                            else order.sa_value)
            await self.store.put_push_sa(_expired(await self._stored(order, outcome.session_id)))
            outcome = await self._push_once(fresh)
            outcome.new_gpi_after_404 = True
        return outcome

    async def _push_once(self, order: PushOrder) -> Outcome:
        session_id = self._session_id(order.session_id)
        loop = asyncio.get_running_loop()
        stored = await self._stored(order, session_id)
        # embodiment 5 may leave the key to the UE's choice (step 605's note)
        lacks_key = order.embodiment == 5 and order.key_selection == "latest" and \
            order.gba == "normal"
        keyed = None if stored is not None or lacks_key else \
            await self._new_sa(order, session_id)
        sa = stored or (keyed.sa if keyed else None)
        outcome = Outcome(order.impi, order.embodiment, session_id,
                          sa.sa_id.kind.value if sa else order.sa_kind.value,
                          sa.sa_id.value if sa else (order.sa_value or str(session_id)),
                          stored is not None, gba=order.gba)
        session = _Session(order, outcome, loop.create_future())
        self.sessions[session_id] = session
        try:
            self._first_message(session, session_id, stored, keyed)
            session.timer = loop.call_later(self.settings.pkg3_timeout_s, self._expire,
                                            session_id)
            return await session.done
        finally:
            self._finish(session_id)

    def _first_message(self, session: _Session, session_id: int, stored: PushSa | None,
                       keyed: _Keyed | None) -> None:
        order = session.order
        if order.embodiment == 5 and stored is None and keyed is None:
            # the NAF lacks the key: unsigned parameters, the UE picks (step 605's note)
            sa_id = SaId(order.sa_kind, order.sa_value or secrets.token_hex(8))
            session.info = push_info.SaInfo(sa_id, self.naf_id(5), key_selection="latest")
            session.outcome.sa_id = sa_id.value
            self._send(order.impi, upa.MediaType.SA_PARAMS,
                       push_dm.offer(session_id, session.info, None))
            return
        sa = stored if stored is not None else keyed.sa if keyed is not None else None
        assert sa is not None
        info = keyed.info if keyed is not None else _reused_info(sa, order.embodiment)
        # a new SA is signed with Ks_NAF (the UE checks it before deriving anything), a
        # stored one with its own key
        sign_key = keyed.ks_naf if keyed is not None else sa.key
        gpi_octets = keyed.gpi if keyed is not None else None
        if order.embodiment == 4:
            self._forget_expired_psk_keys()
            self.psk_keys[sa.tid] = PushKey(sa.key, sa.tid, sa.expires, owner=order.impi)
            self.mailbox.put(order.impi, order.payloads)
            self._psk_waiters[order.impi] = session
            self._send(order.impi, upa.MediaType.SA_PARAMS,
                       push_dm.offer(session_id, info, sign_key, gpi_octets))
            self._remember(sa)
            return
        session.dm = NafDmSession(
            self.fqdn, session_id, sa, sign_key, info, order.payloads,
            push_dm.deadline(self.clock(), self.settings.pkg3_timeout_s), gpi=gpi_octets,
            placement=self.settings.placement,
            skip_ue_check=self.settings.skip_ue_check and order.gba == "normal")
        if order.embodiment == 5:
            self._send(order.impi, upa.MediaType.SA_PARAMS,
                       push_dm.offer(session_id, info, sign_key, gpi_octets))
        else:
            self._send(order.impi, upa.MediaType.NOTIFICATION, session.dm.notification())

    def _forget_expired_psk_keys(self) -> None:
        now = self.clock()
        for tid in [t for t, k in self.psk_keys.items() if k.expires <= now]:
            del self.psk_keys[tid]
        if len(self.psk_keys) >= MAX_PSK_KEYS:
            raise InvalidInput("too many PSK-TLS push keys held")

    def _remember(self, sa: PushSa) -> None:
        task = asyncio.get_running_loop().create_task(self.store.put_push_sa(sa))
        task.add_done_callback(_log_failure)

    def _expire(self, session_id: int) -> None:
        """The pkg3 timer (step 210 note): the end indication on the push channel."""
        session = self.sessions.get(session_id)
        if session is None or session.done.done():
            return
        ending = session.dm.expire(max(self.clock(), session.dm.deadline)) \
            if session.dm is not None else None
        if ending is not None:
            try:
                self._send(session.order.impi, upa.MediaType.DM, ending)
            except GbaError as exc:
                log.info("Upa: end indication not sent: %s", exc)
        self._end(session, "timed_out")

    def _end(self, session: _Session, why: str) -> None:
        session.outcome.end = why
        if session.dm is not None:
            session.outcome.acknowledged = session.dm.payloads_acknowledged
        if not session.done.done():
            session.done.set_result(session.outcome)

    def _finish(self, session_id: int) -> None:
        session = self.sessions.pop(session_id, None)
        if session is None:
            return
        if session.timer is not None:
            session.timer.cancel()
        if self._psk_waiters.get(session.order.impi) is session:
            del self._psk_waiters[session.order.impi]
        self.outcomes.append(session.outcome)
        del self.outcomes[:-1000]

    async def resolve(self, is_push: bool, tid: str, naf_id: bytes) -> PushKey | None:
        """The PSK-TLS key of a TID (embodiment 4): the SA's, or for a B-TID the UE
        connected with on its own (no step 503), Ks_NAF over Zn."""
        known = self.psk_keys.get(tid)
        if known is not None:
            return known if naf_id == self.naf_id(4) else None
        if is_push:
            return None
        key = await self.keys.get(tid, naf_id)
        if key is None or key.impi is None:
            return None
        return PushKey(key.key, tid, key.expires, owner=key.impi)

    async def push_waiting(self, order: PushOrder) -> Outcome:
        """Embodiment 4 without step 503: queue the pushes for the UE's own PSK-TLS
        connection and wait for it to collect them."""
        if not order.payloads or len(order.payloads) > MAX_PAYLOADS:
            raise InvalidInput(f"1 to {MAX_PAYLOADS} payloads")
        session_id = self._session_id(None)
        outcome = Outcome(order.impi, 4, session_id, "btid", "", False, gba="normal")
        session = _Session(order, outcome, asyncio.get_running_loop().create_future())
        self.mailbox.put(order.impi, order.payloads)  # refused: nothing to undo
        self.sessions[session_id] = session
        self._psk_waiters[order.impi] = session
        session.timer = asyncio.get_running_loop().call_later(
            self.settings.pkg3_timeout_s, self._expire, session_id)
        try:
            return await session.done
        finally:
            self._finish(session_id)

    def delivered(self, impi: str, count: int) -> None:
        """Embodiment 4: the pushes went out over PSK-TLS (step 505)."""
        session = self._psk_waiters.get(impi)
        if session is not None:
            session.outcome.acknowledged = count
            self._end(session, "done")

    # ------------------------------------------------------------------ DM endpoint
    async def dm(self, data: bytes) -> bytes:
        """The next package for one the UE sent (pkg1, confirmation, pkg3)."""
        msg = syncml.decode(data)
        try:
            session = self.sessions[int(msg.header.session_id)]
        except (KeyError, ValueError):
            _, hello = push_dm.hello_of(data)
            if hello is None:
                raise CodecError(f"no push session {msg.header.session_id[:16]!r}") from None
            return await self._ue_started(data, hello)
        now = self.clock()
        if session.expects == "pkg3" and session.dm is not None:
            answer = session.dm.pkg3_received(msg, now)  # decoded once, above
            self._end(session, (session.dm.end or End.DONE).name.lower())
            return answer
        if session.dm is None:
            await self._keyed_by_ue(session, msg)
        assert session.dm is not None
        answer = session.dm.pkg1_received(msg, now)
        if session.dm.end is not None:
            self._end(session, session.dm.end.name.lower())
        else:
            session.expects = "pkg3"
            self._remember(session.dm.sa)  # after sealing: the sequence numbers go on
        return answer

    async def _keyed_by_ue(self, session: _Session, msg: Any) -> None:
        """Embodiment 5 with an unsigned offer: Ks_NAF by the B-TID the UE chose."""
        choice = push_dm.choice_of(msg)
        if choice is None or session.info is None:
            raise ProtocolError("pkg1 without the SA the UE chose")
        if choice.identity != session.order.impi or choice.sa_id != session.info.sa_id:
            raise AuthError("pkg1 names another user or SA than the offer")
        order = session.order
        ks_naf, expires = await self._normal_key(order.impi, choice.tid,
                                                 session.info.naf_id)
        info = replace(session.info, tid=choice.tid)
        sa = PushSa(info.sa_id, info.naf_id, choice.tid, sa_key(info, ks_naf), expires,
                    key_selection="latest", owner=order.impi)
        session.dm = NafDmSession(
            self.fqdn, session.outcome.session_id, sa, ks_naf, info, order.payloads,
            push_dm.deadline(self.clock(), self.settings.pkg3_timeout_s),
            skip_ue_check=self.settings.skip_ue_check)

    async def _ue_started(self, data: bytes, hello: push_dm.Hello) -> bytes:
        """Embodiment 3 (step 401): the first queued order for this UE, its SA set up."""
        orders = self.queued.get(hello.identity)
        if not orders:
            raise ProtocolError(f"nothing to push to {hello.identity}")
        order = replace(orders.pop(0), session_id=hello.session_id)
        if not orders:
            del self.queued[hello.identity]
        stored = None if hello.sa is None else \
            await self.store.get_push_sa(hello.sa, self.clock(), order.impi)
        if stored is not None:  # the UE named an SA the NAF holds: reuse, no BSF
            keyed = _Keyed(stored, stored.key, None, _reused_info(stored, 3))
        else:
            keyed = await self._new_sa(order, hello.session_id,
                                       hello.btid if order.gba == "normal" else None)
        outcome = Outcome(order.impi, 3, hello.session_id, keyed.sa.sa_id.kind.value,
                          keyed.sa.sa_id.value, stored is not None, gba=order.gba)
        session = _Session(order, outcome, asyncio.get_running_loop().create_future())
        session.dm = NafDmSession(
            self.fqdn, hello.session_id, keyed.sa, keyed.ks_naf, keyed.info, order.payloads,
            push_dm.deadline(self.clock(), self.settings.pkg3_timeout_s), gpi=keyed.gpi,
            skip_ue_check=self.settings.skip_ue_check)
        self.sessions[hello.session_id] = session
        session.done.add_done_callback(lambda _: self._finish(hello.session_id))
        session.timer = asyncio.get_running_loop().call_later(
            self.settings.pkg3_timeout_s, self._expire, hello.session_id)
        return session.dm.ue_started(data, self.clock())

    # ------------------------------------------------------------------ HTTP
    def routes(self) -> list[web.RouteDef]:
        return [web.post("/push/register", self._register), web.post("/dm", self._dm)]

    async def _register(self, request: web.Request) -> web.Response:
        try:
            data = await request.json()
            impi, port = data["impi"], data["port"]
            btid = data.get("btid")
            if not isinstance(impi, str) or not 0 < len(impi) <= 255 or \
                    not isinstance(port, int) or isinstance(port, bool) or \
                    not 1 <= port <= 65535 or not (btid is None or isinstance(btid, str)):
                raise ValueError("bad fields")
            self.register(impi, request.remote or "127.0.0.1", port, btid)
        except (ValueError, KeyError, TypeError, GbaError) as exc:
            return web.json_response({"error": f"bad registration: {exc}"}, status=400)
        return web.json_response({"registered": impi})

    async def _dm(self, request: web.Request) -> web.Response:
        data = await request.read()
        if len(data) > MAX_DM:
            return web.Response(status=413, text="DM message too large\n")
        try:
            answer = await self.dm(data)
        except (CodecError, ProtocolError) as exc:
            log.info("DM: refused: %s", exc, extra={"interface": "upa"})
            return web.Response(status=400, text=f"{exc}\n")
        except AuthError as exc:
            log.info("DM: refused: %s", exc, extra={"interface": "upa"})
            return web.Response(status=403, text=f"{exc}\n")
        return web.Response(body=answer, content_type=DM_TYPE)


def _reused_info(sa: PushSa, embodiment: int) -> push_info.SaInfo:
    """The parameters that name a stored SA (signed with its own key): no key derivation
    to repeat, the B-TID under normal GBA (a P-TID stays private)."""
    return push_info.SaInfo(
        sa.sa_id, sa.naf_id, tid=None if sa.key_selection == "gpi" else sa.tid,
        key_selection=sa.key_selection,
        security_protocol=push_info.PSK_TLS if embodiment == 4 else push_info.SYNCML)


def _expired(sa: PushSa | None) -> PushSa:
    if sa is None:
        raise ProtocolError("no stored SA to forget")
    return replace(sa, expires=datetime.fromtimestamp(0).astimezone())


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("push SA not stored: %s", task.exception())


OrderRunner = Callable[[PushOrder], Awaitable[Outcome]]

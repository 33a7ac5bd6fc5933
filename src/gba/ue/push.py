"""The UE's push client (seed 002; docs/push.md): the push channel, the DM exchange, PSK-TLS.

:class:`PushUe` registers a UDP port with the Push-NAF (``POST /push/register``) and
handles what arrives on it (:mod:`gba.protocols.upa`): package 0 (embodiments 1-2), SA
parameters (embodiment 5; embodiment 4 when they name ``psk-tls``: the pushes are then
pulled over PSK-TLS), a bootstrap request (normal GBA: Ub with the BSF, then register
again with the B-TID), and the NAF's end indication. The DM packages go to the NAF's
``/dm`` over HTTP, each answer being the NAF's next package. :meth:`start_session` is
embodiment 3 (the UE opens the session with pkg1), :meth:`pull_psk` the UE opening
PSK-TLS on its own. Each session yields a report (a dict): session id, SA, reused,
payloads, and how it ended.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiohttp

from gba.clock import Clock, utc_now
from gba.crypto import aka, kdf, ua_protocols
from gba.errors import GbaError
from gba.protocols import push_dm, push_info, syncml, upa
from gba.protocols.push_dm import Bootstrapped, UeDmSession
from gba.protocols.push_sa import PushSa
from gba.protocols.push_ue import SaStore
from gba.ue.client import GbaClient
from gba.ue.push_pull import pull_pushes

log = logging.getLogger(__name__)

DM_TYPE = "application/vnd.syncml.dm+xml"
DEVICE = syncml.DevInfo("IMEI:gba-lab-ue", "gba", "lab-ue")


class _Inbox(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=256)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if not self.queue.full():
            self.queue.put_nowait(data)


class PushUe:
    def __init__(self, gba: GbaClient, naf_url: str, fqdn: str, *,
                 psk_host: str | None = None, psk_port: int | None = None,
                 skip_naf_auth: bool = False, send_pkg3: bool = True,
                 trace: Callable[[str], None] = lambda _: None,
                 clock: Clock = utc_now, store: SaStore | None = None) -> None:
        self.gba = gba
        self.naf_url = naf_url.rstrip("/")
        self.fqdn = fqdn
        self.psk_host = psk_host
        self.psk_port = psk_port
        self.skip_naf_auth = skip_naf_auth
        self.send_pkg3 = send_pkg3
        self._out = trace
        self.recent: list[str] = []
        """The messages of the session in progress (each report carries them)."""
        gba.trace = self.trace  # its Ub messages too
        self.clock = clock
        self.store = store if store is not None else SaStore()
        self.inbox = _Inbox()
        self.port = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._http: aiohttp.ClientSession | None = None

    def trace(self, line: str) -> None:
        self.recent.append(line)
        self._out(line)

    @property
    def impi(self) -> str:
        return self.gba.impi

    @property
    def usim(self) -> aka.Usim:
        return self.gba.usim

    async def __aenter__(self) -> PushUe:
        self._http = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._transport is not None:
            self._transport.close()
        if self._http is not None:
            await self._http.close()

    # ------------------------------------------------------------------ channel
    async def open(self, host: str = "127.0.0.1") -> int:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(lambda: self.inbox,
                                                                 local_addr=(host, 0))
        self.port = int(self._transport.get_extra_info("sockname")[1])
        return self.port

    async def register(self, with_btid: bool) -> None:
        body: dict[str, Any] = {"impi": self.impi, "port": self.port}
        if with_btid and self.gba.current is not None:
            body["btid"] = self.gba.current.btid
        self.trace(f"UE -> NAF  POST /push/register port {self.port}"
                   + (f" B-TID {body['btid']}" if "btid" in body else ""))
        assert self._http is not None
        async with self._http.post(f"{self.naf_url}/push/register", json=body) as r:
            if r.status != 200:
                raise GbaError(f"push registration refused: {r.status} {await r.text()}")

    def _bootstrapped(self, naf_id: bytes) -> Bootstrapped | None:
        b = self.gba.current
        if b is None or b.expired(self.clock()):
            return None
        return Bootstrapped(kdf.ks_naf(b.ks, b.rand, self.impi, naf_id), b.btid, b.lifetime)

    def _session(self, naf_id: bytes) -> UeDmSession:
        return UeDmSession(self.store, self.usim, self.impi, DEVICE, self.fqdn, b"",
                           bootstrap=self._bootstrapped(naf_id),
                           skip_naf_auth=self.skip_naf_auth)

    async def _post(self, data: bytes, what: str) -> bytes:
        assert self._http is not None
        self.trace(f"UE -> NAF  [Upa/DM] POST /dm {what}")
        async with self._http.post(f"{self.naf_url}/dm", data=data,
                                   headers={"Content-Type": DM_TYPE}) as r:
            body = await r.read()
            if r.status != 200:
                raise GbaError(f"the NAF refused {what}: {r.status} "
                               f"{body.decode('utf-8', 'replace').strip()}")
        self.trace(f"NAF -> UE  [Upa/DM] 200 {_package(body)}")
        return body

    # ------------------------------------------------------------------ sessions
    async def next_report(self, timeout: float,
                          aside: Callable[[dict[str, Any]], None] = lambda _: None
                          ) -> dict[str, Any]:
        """Handle push datagrams until one push has ended; its report. A session the UE
        answered with "unknown SA" (the NAF follows it with a new GPI) goes to *aside*."""
        self.recent = []
        while True:
            data = await asyncio.wait_for(self.inbox.queue.get(), timeout)
            report = await self.handle(data, timeout)
            if report is None:
                continue
            report["messages"] = self.recent
            self.recent = []
            if report.get("end") == "unknown_sa":
                aside(report)
            else:
                return report

    async def handle(self, data: bytes, timeout: float) -> dict[str, Any] | None:
        try:
            push = upa.decode(data)
        except GbaError as exc:
            return {"end": "refused", "error": f"push datagram: {exc}"}
        self.trace(f"NAF -> UE  [Upa/UDP] {_MEDIA.get(push.media_type, push.media_type.value)}")
        naf_id = self.fqdn.encode() + ua_protocols.GENERIC_PUSH_LAYER
        now = self.clock()
        session = self._session(naf_id)
        try:
            if push.media_type is upa.MediaType.BOOTSTRAP:
                b = await self.gba.bootstrap()
                self.trace(f"UE         bootstrapped: B-TID {b.btid}")
                await self.register(with_btid=True)
                return None
            if push.media_type is upa.MediaType.DM:
                return {"end": "aborted", "error": "end indication outside a session"}
            if push.media_type is upa.MediaType.NOTIFICATION:
                pkg1 = session.notification_received(push.body, now)
            elif push.media_type is upa.MediaType.SA_PARAMS:
                info = push_info.read_signed(push_dm.read_offer(push.body)[2])[0]
                if info.security_protocol == push_info.PSK_TLS:
                    return await self._psk_session(push.body, now)
                pkg1 = session.offer_received(push.body, now)
            else:
                return {"end": "refused", "error": f"unexpected {push.media_type.value}"}
        except GbaError as exc:
            log.info("push refused: %s", exc)
            return {"end": "refused", "error": f"{type(exc).__name__}: {exc}",
                    "stored_sas": len(self.store)}
        return await self._dm(session, pkg1, timeout)

    async def _dm(self, session: UeDmSession, pkg1: bytes, timeout: float
                  ) -> dict[str, Any]:
        report: dict[str, Any] = {"session_id": session.session_id}
        try:
            answer = await self._post(pkg1, "pkg1")
            had_sa = session.sa_id is not None
            pkg3 = session.pkg2_received(answer, self.clock())
            if pkg3 is not None and not had_sa:  # embodiment 3: the SA came in pkg2
                answer = await self._post(pkg3, "confirmation (step 407)")
                pkg3 = session.pkg2_received(answer, self.clock())
            if pkg3 is None:  # the NAF ended it; after a 404 it pushes a new GPI next
                report["end"] = "aborted" if had_sa else "unknown_sa"
            elif not self.send_pkg3:
                report["end"] = await self._await_end(timeout)
            else:
                session.pkg4_received(await self._post(pkg3, "pkg3"))
                report["end"] = "done"
        except GbaError as exc:
            report |= {"end": "refused", "error": f"{type(exc).__name__}: {exc}"}
        return report | self._about(session)

    def _about(self, session: UeDmSession) -> dict[str, Any]:
        sa = self.store.find(session.sa_id, self.clock()) if session.sa_id else None
        return {"sa": _sa_view(sa), "reused": session.reused,
                "payloads": [p.decode("utf-8", "replace") for p in session.payloads],
                "stored_sas": len(self.store)}

    async def _await_end(self, timeout: float) -> str:
        """pkg3 withheld: the NAF's end indication (Alert 1223 on the push channel)."""
        data = await asyncio.wait_for(self.inbox.queue.get(), timeout)
        push = upa.decode(data)
        if push.media_type is upa.MediaType.DM and any(
                isinstance(c, syncml.Alert) and c.data == syncml.ALERT_SESSION_ABORT
                for c in syncml.decode(push.body).commands):
            self.trace("NAF -> UE  [Upa/UDP] end indication (Alert 1223)")
            return "timed_out"
        return "unexpected"

    async def _psk_session(self, offer: bytes, now: datetime) -> dict[str, Any]:
        """Embodiment 4 (steps 503-505): the SA from the parameters, then PSK-TLS."""
        session_id, gpi_octets, signed_info, _ = push_dm.read_offer(offer)
        info = push_info.read_signed(signed_info)[0]
        session = self._session(info.naf_id)
        session.session_id = session_id
        sa = session.setup_sa(signed_info, gpi_octets, now)
        payloads = await self._pull(sa.tid, sa.key, push=sa.key_selection == "gpi",
                                    suite=int.from_bytes(info.naf_id[-2:], "big"))
        return {"session_id": session_id, "end": "done", "sa": _sa_view(sa),
                "reused": session.reused, "payloads": payloads,
                "stored_sas": len(self.store), "over": "psk-tls"}

    async def _pull(self, tid: str, key: bytes, *, push: bool, suite: int,
                    wait_s: float = 0.0) -> list[str]:
        if self.psk_host is None or self.psk_port is None:
            raise GbaError("no PSK-TLS push endpoint given (--psk-host/--psk-port)")
        self.trace(f"UE -> NAF  [Upa/PSK-TLS] handshake, identity "
                   f"{'P-TID' if push else 'B-TID'} {tid}, suite 0x{suite:04x}")
        self.trace("UE -> NAF  [Upa/PSK-TLS] GET /push")
        got = await pull_pushes(self.psk_host, self.psk_port, self.fqdn, tid, key,
                                push=push, suite=suite, wait_s=wait_s)
        self.trace(f"NAF -> UE  [Upa/PSK-TLS] 200, {len(got)} push(es)")
        return [p.decode("utf-8", "replace") for p in got]

    async def start_session(self, timeout: float, normal: bool, reuse: bool = True
                            ) -> dict[str, Any]:
        """Embodiment 3 (step 401): the UE opens the session with its own pkg1, naming
        the SA it holds for this NAF (*reuse*) so that the NAF may reuse it."""
        if normal:
            await self.gba.bootstrap()
        session = self._session(self.fqdn.encode() + ua_protocols.GENERIC_PUSH_LAYER)
        if not normal:
            session.bootstrap = None
        held = self.store.latest(self.fqdn, self.clock()) if reuse else None
        pkg1 = session.start(secrets.randbelow(0xFFFF) + 1,
                             held.sa_id if held is not None else None)
        return await self._dm(session, pkg1, timeout) | {"messages": self.recent}

    async def pull_psk(self, suite: int, wait_s: float) -> dict[str, Any]:
        """Embodiment 4 without step 503: PSK-TLS opened by the UE with its B-TID."""
        b = await self.gba.bootstrap()
        key = kdf.ks_naf(b.ks, b.rand, self.impi,
                         self.fqdn.encode() + ua_protocols.psk_tls(suite))
        payloads = await self._pull(b.btid, key, push=False, suite=suite, wait_s=wait_s)
        return {"end": "done", "payloads": payloads, "btid": b.btid, "over": "psk-tls",
                "messages": self.recent}


_MEDIA = {upa.MediaType.NOTIFICATION: "package 0", upa.MediaType.SA_PARAMS: "SA parameters",
          upa.MediaType.BOOTSTRAP: "bootstrap request", upa.MediaType.DM: "DM message",
          upa.MediaType.GPI: "GPI"}


def _package(body: bytes) -> str:
    """What a NAF's DM answer is, for the trace."""
    try:
        msg = syncml.decode(body)
    except GbaError:
        return "(not SyncML)"
    if any(isinstance(c, syncml.Alert) and c.data == syncml.ALERT_SESSION_ABORT
           for c in msg.commands):
        return "Alert 1223 (end)"
    targets = [i.target or "" for c in msg.commands if isinstance(c, syncml.Add)
               for i in c.items]
    if push_dm.SA_INFO_NODE in targets:
        return "pkg2 (GPI + SA parameters)" if push_dm.GPI_NODE in targets \
            else "pkg2 (SA parameters)"
    pushes = sum(1 for t in targets if t.startswith(push_dm.PUSH_ROOT + "/"))
    return f"pkg2 ({pushes} sealed push(es))" if pushes else "pkg4 (end)"


def _sa_view(sa: PushSa | None) -> dict[str, str] | None:
    return None if sa is None else {"kind": sa.sa_id.kind.value, "id": sa.sa_id.value,
                                    "tid": sa.tid}

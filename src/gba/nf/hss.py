"""The HSS: subscriber keys, SQN and GUSS, served to the BSF over Diameter Zh.

TS 33.220 §4.4.1 and §4.5.2 step 2, TS 29.109 §4.2: a Multimedia-Auth-Request for an IMPI
gets one AKA vector (TS 33.102 §6.3.2) and the subscriber's GUSS; a request carrying
RAND || AUTS first resynchronises SQN (TS 33.102 §6.3.5). The SQN of every vector is
committed to the store before the answer leaves, so a restart never reissues one.

A provisioned GUSS is sent as provisioned (its ``guss@id`` kept); a subscriber without
one gets :func:`default_guss`, whose ``id`` is the IMPI (TS 29.109 Annex A). A MAR with an
M-bit AVP that the Zh MAR does not have is answered 5001 with the AVP in Failed-AVP
(RFC 6733 §4.1, §7.5; :func:`gba.protocols.zh.parse_mar`).

An unknown IMPI costs what a known one costs (issue 10 item 6): a Milenage vector under a
key of this process only and a committed write that changes nothing
(:meth:`~gba.store.hss.SubscriberStore.issue_decoy_sqn`), so the BSF's decoy 401 comes as
late as a real challenge.
"""

from __future__ import annotations

import logging
import os

from gba.crypto import aka
from gba.crypto.milenage import Milenage
from gba.errors import CodecError, GbaError, MacFailure, NotFound
from gba.nf.hss_mtc import CapabilitySource, MtcHss
from gba.protocols import guss as guss_xml
from gba.protocols import zh, zh_mtc
from gba.protocols.diameter import (
    CMD_MULTIMEDIA_AUTH,
    ExperimentalResultCode,
    Message,
    PeerIdentity,
    ResultCode,
)
from gba.protocols.diameter.capabilities import codec_error_answer, error_answer
from gba.protocols.diameter.dictionary import ORIGIN_HOST
from gba.store.base import Subscriber, SubscriberStore

log = logging.getLogger(__name__)


def default_guss(impi: str) -> str:
    """The GUSS of a subscriber provisioned without one: GBA_ME, no USS, ``id`` = IMPI."""
    return guss_xml.encode_guss(guss_xml.Guss(id=impi))


class Hss:
    """The Zh application logic of the HSS; transport-free, driven by a Diameter server."""

    def __init__(self, store: SubscriberStore, identity: PeerIdentity, ind: int = 0,
                 allowed_peers: frozenset[str] | None = None,
                 capability_source: CapabilitySource = CapabilitySource.BOTH) -> None:
        self.store = store
        self.identity = identity
        self.ind = ind
        self.allowed_peers = allowed_peers
        """Origin-Hosts of the BSFs this HSS serves; None serves every peer (unit tests)."""
        self._milenage: dict[str, tuple[bytes, bytes, Milenage]] = {}
        self._decoy = Milenage(os.urandom(16), os.urandom(16))
        """Runs for an unknown IMPI, so that its answer costs what a vector costs."""
        self.mtc = MtcHss(self, capability_source)
        """MTC devices' requests: vectors from their group's key (seed 004)."""

    def _cipher(self, sub: Subscriber) -> Milenage:
        cached = self._milenage.get(sub.impi)
        if cached is None or cached[0] != sub.k or cached[1] != sub.opc:
            cached = (sub.k, sub.opc, Milenage(sub.k, sub.opc))
            self._milenage[sub.impi] = cached
        return cached[2]

    def peer_refusal(self, request: Message, peer: str) -> str | None:
        """Why a request may not have a vector, or None: the second check after the
        listener's CER check (TS 33.220 §4.3: Zh is authenticated). The connected *peer*
        must be a BSF this HSS serves, and the request must be its own: its Origin-Host
        is the peer's (no agent stands between BSF and HSS, so no Route-Record vouches
        for another origin)."""
        if self.allowed_peers is not None and peer not in self.allowed_peers:
            return "not a BSF this HSS serves"
        found = request.find(ORIGIN_HOST)
        origin = found.data.decode("utf-8", "replace") if found is not None else None
        if origin != peer:
            return f"Origin-Host {origin!r} is not the connected peer"
        return None

    async def _decoy_work(self, request: Message, impi: str) -> None:
        """What :meth:`handle` does for a known IMPI, for nothing: a committed write, and
        a vector under a key no subscriber has, built into an answer that is dropped."""
        await self.store.issue_decoy_sqn()
        vector = aka.generate_vector(self._decoy, aka.next_sqn(0, self.ind), b"\x80\x00")
        zh.build_maa(request, self.identity, zh.VectorAnswer(
            impi=impi, rand=vector.rand, autn=vector.autn, xres=vector.xres, ck=vector.ck,
            ik=vector.ik, guss=default_guss(impi))).encode()

    async def resync(self, request: Message, req: zh.VectorRequest, sub: Subscriber,
                     mil: Milenage, peer: str) -> Message | None:
        """Resynchronise *sub*'s SQN when the request carries RAND || AUTS (TS 33.102
        §6.3.5); the refusal to send when AUTS does not verify, else None."""
        if req.auts is None or req.resync_rand is None:
            return None
        try:
            sqn_ms = aka.resync_sqn(mil, req.resync_rand, req.auts)
        except (MacFailure, GbaError) as exc:
            log.warning("Zh resync for %s rejected: %s", req.impi, exc,
                        extra={"interface": "zh", "impi": req.impi, "peer": peer,
                               "result": int(ResultCode.AUTHENTICATION_REJECTED)})
            return zh.build_maa_error(request, self.identity,
                                      ResultCode.AUTHENTICATION_REJECTED, experimental=False)
        target = aka.sqn_after_resync(sub.sqn, sqn_ms)
        if target != sub.sqn:
            await self.store.set_sqn(sub.impi, target)
        log.info("Zh resync for %s: SQN_MS SEQ=%d IND=%d, continuing from SEQ=%d",
                 req.impi, *aka.split_sqn(sqn_ms), aka.split_sqn(target)[0],
                 extra={"interface": "zh", "impi": req.impi, "peer": peer})
        return None

    def cipher(self, sub: Subscriber) -> Milenage:
        """Milenage under *sub*'s K and OPc (kept per subscriber)."""
        return self._cipher(sub)

    async def handle(self, request: Message, peer: str) -> Message:
        """Answer one Zh request (TS 29.109 §4.2)."""
        if request.command_code != CMD_MULTIMEDIA_AUTH:
            return error_answer(request, self.identity, ResultCode.COMMAND_UNSUPPORTED)
        refusal = self.peer_refusal(request, peer)
        if refusal is not None:
            log.warning("Zh MAR from %s refused: %s", peer, refusal,
                        extra={"interface": "zh", "peer": peer,
                               "result": int(ResultCode.UNKNOWN_PEER)})
            return error_answer(request, self.identity, ResultCode.UNKNOWN_PEER)
        try:
            req, group = zh_mtc.parse_mtc_mar(request)
        except CodecError as exc:
            log.warning("Zh MAR from %s malformed: %s", peer, exc,
                        extra={"interface": "zh", "peer": peer})
            return codec_error_answer(request, self.identity, exc)
        if group is not None:
            return await self.mtc.handle(request, req, group, peer)
        try:
            sub = await self.store.get_subscriber(req.impi)
        except NotFound:
            log.info("Zh MAR from %s: IMPI %s unknown", peer, req.impi,
                     extra={"interface": "zh", "impi": req.impi, "peer": peer,
                            "result": int(ExperimentalResultCode.IMPI_UNKNOWN)})
            await self._decoy_work(request, req.impi)
            return zh.build_maa_error(request, self.identity,
                                      ExperimentalResultCode.IMPI_UNKNOWN, experimental=True)
        mil = self._cipher(sub)
        refused = await self.resync(request, req, sub, mil, peer)
        if refused is not None:
            return refused
        sub, sqn = await self.store.issue_sqn(req.impi, self.ind)
        vector = aka.generate_vector(mil, sqn, sub.amf)
        log.info("Zh vector for %s to %s: SEQ=%d IND=%d", req.impi, peer, *aka.split_sqn(sqn),
                 extra={"interface": "zh", "impi": req.impi, "peer": peer,
                        "result": int(ResultCode.SUCCESS)})
        return zh.build_maa(request, self.identity, zh.VectorAnswer(
            impi=sub.impi, rand=vector.rand, autn=vector.autn, xres=vector.xres, ck=vector.ck,
            ik=vector.ik, guss=sub.guss or default_guss(sub.impi)))

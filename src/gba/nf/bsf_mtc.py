"""The BSF's MTC groups (seed 004 steps 201-203, 401-402, 501-502; claims 9-11;
docs/mtc.md §4): which vector an MTC device is authenticated with, and what Zn adds for
the MTC-IWF.

Embodiments 1-2: the HSS is asked (Zh with the group, :mod:`gba.protocols.zh_mtc`); the
BSF keeps the vector, the settings and the device as the group's current use. Embodiments
3-4: another device of the group, while the group's keys are in use (the vector lives,
and ``reuse_on`` allows: ``kiwf`` whenever K_IWF is in use, ``enc_int`` only when the
small-data keys are derived too, ``off`` never), is authenticated with that vector with no
HSS request, once per device and for at most ``max_reuse`` devices; the reuse path
refuses an IMSI that the stored settings do not list, and the HSS decides for it (it
refuses an outsider, and knows a member added since the vector was fetched). On the
reuse path the HSS is not asked: the stored settings carry each member's subscribed
capability and the HSS's ``capability_source``, and the BSF applies the HSS's rule
(claims 6-7); the settings are the stored ones re-addressed to the device. A device
that already used the vector, or a group with none in use, goes to the HSS, which gives
the group a new current vector.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from enum import StrEnum

from gba.clock import Clock
from gba.errors import CodecError
from gba.protocols import mtc, zh, zh_mtc
from gba.protocols.contexts import BootstrapContext, GroupVector
from gba.protocols.zh_mtc import MtcResultCode
from gba.store.bsf import BsfStore

log = logging.getLogger(__name__)

FetchMtcVector = Callable[[zh.VectorRequest, mtc.InitRequest],
                          Awaitable[tuple[zh.VectorAnswer, str] | int]]
"""Zh for an MTC device: the group's vector and the settings, or the refusing code."""


class ReuseOn(StrEnum):
    KIWF = "kiwf"
    """Embodiment 3: reuse while a K_IWF is in use for the group."""
    ENC_INT = "enc_int"
    """Embodiment 4: reuse while small-data encryption/integrity keys are in use."""
    OFF = "off"


@dataclass(frozen=True, slots=True)
class MtcPolicy:
    subkeys: mtc.SubKeys = mtc.SubKeys.NONE
    reuse_on: ReuseOn = ReuseOn.KIWF
    max_reuse: int = 100
    """Devices one vector may authenticate (the HSS is asked again after)."""

    @property
    def reuses(self) -> bool:
        return self.reuse_on is ReuseOn.KIWF or (
            self.reuse_on is ReuseOn.ENC_INT and self.subkeys is not mtc.SubKeys.NONE)


class BsfMtc:
    def __init__(self, store: BsfStore, fetch: FetchMtcVector, policy: MtcPolicy,
                 clock: Clock, key_lifetime: timedelta) -> None:
        self.store = store
        self.fetch = fetch
        self.policy = policy
        self.clock = clock
        self.key_lifetime = key_lifetime
        self.hss_requests = 0
        self.reused = 0

    async def vector(self, req: zh.VectorRequest, init: mtc.InitRequest
                     ) -> tuple[zh.VectorAnswer | int, str | None]:
        """The vector and settings for one device's initialisation request, or the
        MTC refusal code."""
        try:
            imsi = mtc.imsi_of(req.impi)
        except CodecError:
            return int(MtcResultCode.NOT_A_MEMBER), None
        if self.policy.reuses and req.auts is None:
            reused = await self._reuse(req, init, imsi)
            if reused is not None:
                return reused
        self.hss_requests += 1
        answer = await self.fetch(req, init)
        if isinstance(answer, int):
            return answer, None
        vector, settings_xml = answer
        if self.policy.reuses:
            lifetime = self.key_lifetime
            try:
                lifetime = min(lifetime, timedelta(
                    seconds=mtc.decode_settings(settings_xml).lifetime_s))
            except CodecError as exc:
                log.warning("MTC settings for %s unreadable: %s", req.impi, exc)
            await self.store.put_group_vector(GroupVector(
                init.group_id, vector.rand, vector.autn, vector.xres, vector.ck, vector.ik,
                settings_xml, self.clock() + lifetime, (imsi,)))
        return vector, settings_xml

    async def _reuse(self, req: zh.VectorRequest, init: mtc.InitRequest, imsi: str
                     ) -> tuple[zh.VectorAnswer | int, str | None] | None:
        claimed = await self.store.claim_group_vector(init.group_id, imsi, self.clock(),
                                                      self.policy.max_reuse)
        if claimed is None:
            return None
        try:
            settings = mtc.decode_settings(claimed.settings)
        except CodecError as exc:
            log.warning("MTC group %s: stored settings unreadable: %s", init.group_id, exc)
            return None
        if imsi not in settings.members:
            # refused on the reuse path; the HSS, which knows members added since the
            # vector was fetched, decides (and refuses an outsider)
            log.info("MTC reuse refused: %s is not in group %s's stored settings; asking "
                     "the HSS", imsi, init.group_id,
                     extra={"interface": "ub", "impi": req.impi})
            return None
        if settings.key_id != init.key_id:
            return int(MtcResultCode.STALE_GROUP_KEY), None
        if settings.capability_source != "request" and not settings.subscribed:
            return None  # the settings cannot say what the subscription allows: the HSS
        granted = settings.granted(imsi, init.capability)
        if granted == mtc.Capability.NONE:
            return int(MtcResultCode.NO_SMALL_DATA), None
        self.reused += 1
        log.info("MTC: %s authenticated with group %s's vector (device %d of it)", imsi,
                 init.group_id, len(claimed.used_by),
                 extra={"interface": "ub", "impi": req.impi})
        mine = replace(settings, imsi=imsi, capability=granted)
        return zh.VectorAnswer(req.impi, claimed.rand, claimed.autn, claimed.xres,
                               claimed.ck, claimed.ik), mtc.encode_settings(mine)

    def bia_keys(self, ctx: BootstrapContext, naf_id: bytes, k_iwf: bytes
                 ) -> zh_mtc.MtcKeys | None:
        """What Zn adds for the MTC-IWF (step 204, 304): the settings and the small-data
        keys of the configured kind; None for another NAF or another UE."""
        if ctx.mtc is None or not naf_id.endswith(mtc.IWF_UA):
            return None
        try:
            settings = mtc.decode_settings(ctx.mtc)
        except CodecError as exc:
            log.warning("Zn: MTC settings of %s unreadable: %s", ctx.btid, exc)
            return None
        enc, integrity = mtc.subkeys_for(k_iwf, self.policy.subkeys)
        return zh_mtc.MtcKeys(ctx.mtc, enc, integrity, int(settings.capability))


def mtc_fetcher(ask: Callable[[zh.VectorRequest, mtc.InitRequest],
                              Awaitable[tuple[zh.VectorAnswer, str | None] | int]]
                ) -> FetchMtcVector:
    """A :data:`FetchMtcVector` over a Zh asker; an MAA without settings is 5012."""

    async def fetch(req: zh.VectorRequest, init: mtc.InitRequest
                    ) -> tuple[zh.VectorAnswer, str] | int:
        answer = await ask(req, init)
        if isinstance(answer, int):
            return answer
        vector, settings = answer
        return (vector, settings) if settings is not None else 5012

    return fetch

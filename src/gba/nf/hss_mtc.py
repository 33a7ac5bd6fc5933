"""The HSS's answer to an MTC device's vector request (seed 004 steps 201-202, 301-302;
claims 5-7, 20; docs/mtc.md §1, §3).

Checks in order: the group exists, the device belongs to it, the group-key identifier is
the group's current one, then small-data capability from the request (claim 6), the
subscription (claim 7) or both (``capability_source``: the request's claim must lie
within the subscription). Each failure is its own Experimental-Result (vendor 32473 [P])
and issues nothing. Then one vector from the **group key** under the group's SQN
(resynchronised first when the request carries AUTS, as for any subscriber) and the MTC
user security settings generated from the device and group identity.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Protocol

from gba.crypto import aka
from gba.crypto.milenage import Milenage
from gba.errors import CodecError, NotFound
from gba.protocols import mtc, zh, zh_mtc
from gba.protocols.diameter import Message, PeerIdentity, ResultCode
from gba.store.hss import Subscriber, SubscriberStore

log = logging.getLogger(__name__)

MAX_MEMBERS = 1_500
"""The group members the settings list (the BSF checks them, and their subscribed
capability, on its reuse path); the settings document stays under 64 KiB."""


class CapabilitySource(StrEnum):
    REQUEST = "request"
    """Claim 6: the capability the device's request announces."""
    SUBSCRIPTION = "subscription"
    """Claim 7: the capability in the device's subscription."""
    BOTH = "both"
    """The request's claim, which the subscription must allow."""


class HssCore(Protocol):
    """What the MTC part uses of :class:`gba.nf.hss.Hss`."""

    store: SubscriberStore
    identity: PeerIdentity
    ind: int

    def cipher(self, sub: Subscriber) -> Milenage: ...

    async def resync(self, request: Message, req: zh.VectorRequest, sub: Subscriber,
                     mil: Milenage, peer: str) -> Message | None: ...


class MtcHss:
    """The MTC part of the HSS's Zh logic (transport-free)."""

    def __init__(self, hss: HssCore, source: CapabilitySource = CapabilitySource.BOTH,
                 lifetime_s: int = 3600) -> None:
        self.hss = hss
        self.source = source
        self.lifetime_s = lifetime_s

    @property
    def store(self) -> SubscriberStore:
        return self.hss.store

    @property
    def identity(self) -> PeerIdentity:
        return self.hss.identity

    def _refuse(self, request: Message, code: zh_mtc.MtcResultCode, why: str,
                impi: str) -> Message:
        log.info("Zh MTC refusal for %s: %s", impi, why,
                 extra={"interface": "zh", "impi": impi, "result": int(code)})
        return zh_mtc.build_mtc_error(request, self.identity, code)

    def capability(self, claimed: int, subscribed: int) -> int:
        """The small-data capability the settings grant, or 0 (refused)."""
        if self.source is CapabilitySource.REQUEST:
            return claimed
        if self.source is CapabilitySource.SUBSCRIPTION:
            return subscribed
        return claimed if claimed & ~subscribed == 0 else 0

    async def handle(self, request: Message, req: zh.VectorRequest,
                     group_req: zh_mtc.MtcVectorRequest, peer: str) -> Message:
        codes = zh_mtc.MtcResultCode
        try:
            group = await self.store.get_mtc_group(group_req.group_id)
        except NotFound:
            return self._refuse(request, codes.UNKNOWN_GROUP,
                                f"no group {group_req.group_id!r}", req.impi)
        try:
            device = await self.store.get_mtc_device(mtc.imsi_of(req.impi))
        except (NotFound, CodecError):
            device = None
        if device is None or device.group_id != group.group_id:
            return self._refuse(request, codes.NOT_A_MEMBER,
                                f"not a member of {group.group_id!r}", req.impi)
        if group_req.key_id != group.key_id:
            return self._refuse(request, codes.STALE_GROUP_KEY,
                                f"group key {group_req.key_id} is not the current "
                                f"{group.key_id}", req.impi)
        granted = self.capability(group_req.capability, device.capability)
        if granted == 0:
            return self._refuse(request, codes.NO_SMALL_DATA,
                                f"no small-data capability (asked {group_req.capability}, "
                                f"subscribed {device.capability}, source "
                                f"{self.source.value})", req.impi)
        key = await self.store.get_subscriber(group.group_id)
        mil = self.hss.cipher(key)
        refused = await self.hss.resync(request, req, key, mil, peer)  # the group's SQN
        if refused is not None:
            return refused
        key, sqn = await self.store.issue_sqn(group.group_id, self.hss.ind)
        vector = aka.generate_vector(mil, sqn, key.amf)
        members = await self.store.mtc_group_devices(group.group_id, MAX_MEMBERS)
        settings = mtc.MtcSettings(
            group.group_id, group.key_id, device.imsi, mtc.Capability(granted),
            tuple(m.imsi for m in members), self.lifetime_s,
            subscribed=tuple(mtc.Capability(m.capability) for m in members),
            capability_source=self.source.value)
        log.info("Zh MTC vector for %s (group %s, key %d) to %s: SEQ=%d IND=%d", req.impi,
                 group.group_id, group.key_id, peer, *aka.split_sqn(sqn),
                 extra={"interface": "zh", "impi": req.impi, "peer": peer,
                        "result": int(ResultCode.SUCCESS)})
        return zh_mtc.build_mtc_maa(request, self.identity, zh.VectorAnswer(
            impi=req.impi, rand=vector.rand, autn=vector.autn, xres=vector.xres,
            ck=vector.ck, ik=vector.ik), mtc.encode_settings(settings))

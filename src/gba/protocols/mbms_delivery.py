"""MBMS key and content delivery state, BM-SC side and UE side (TS 33.246 §6.3-§6.6;
docs/roaming.md §4). Pure: keys, RAND and MTK come from an injected *rng*, nothing here
does I/O or reads a clock.

The BM-SC holds one MSK per user service and one MTK under it (TS 33.246 §6.3.2, §6.3.3):

* each registered UE gets the MSK in an MSK message protected with its MUK (the NAF key
  for NAF_Id = BM-SC FQDN || 01 00 00 00 01, :func:`gba.crypto.mbms.muk_mrk`), with a
  MIKEY counter above every earlier one under that MUK (TS 31.102 EF_MUK's replay
  counter);
* every receiver of the broadcast gets the same MTK message (protected with the MSK)
  and the same SRTP packets (RFC 3711, AES_CM_128_HMAC_SHA1_80, master key = MTK, master
  salt = the MTK's salt, MKI = MSK ID || MTK ID -- UNVERIFIED, docs/roaming.md §6): a
  broadcast is one set of octets, decryptable only by who holds the MSK.

The UE (:class:`UeMbms`) takes an MSK message under its MUK, then MTK messages under the
MSKs it holds, then SRTP packets under the MTKs; whatever fails its MAC is dropped and
changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gba.crypto import mbms as ids
from gba.protocols import mbms, srtp

Rng = Callable[[int], bytes]

PAYLOAD_TYPE = 96
"""A dynamic RTP payload type (RFC 3551 §3) for the lab's text stream."""


@dataclass(slots=True)
class ServiceKeys:
    """One user service's MSK and current MTK at the BM-SC."""

    service: str
    msk_id: bytes
    msk: bytes = field(repr=False)
    mtk_id: bytes
    mtk: bytes = field(repr=False)
    salt: bytes = field(repr=False)
    mtk_counter: int = 1

    @classmethod
    def fresh(cls, service: str, key_group: int, rng: Rng) -> ServiceKeys:
        return cls(service, ids.msk_id(key_group, 1), rng(ids.MSK_LEN), ids.mtk_id(1),
                   rng(ids.MTK_LEN), rng(ids.MTK_SALT_LEN))

    @property
    def mki(self) -> bytes:
        return self.msk_id + self.mtk_id


class BmscDelivery:
    """The BM-SC's side: MSK messages per UE, the broadcast (MTK message and stream)."""

    def __init__(self, bmsc_id: str, keys: ServiceKeys, rng: Rng,
                 key_domain_id: bytes | None = None) -> None:
        self.bmsc_id = bmsc_id
        self.keys = keys
        self.rng = rng
        self.key_domain_id = key_domain_id
        self._counters: dict[tuple[str, str], int] = {}
        self._broadcast: tuple[bytes, tuple[bytes, ...]] | None = None

    def msk_message(self, muk: bytes, btid: str) -> bytes:
        """The MSK message for the UE whose MUK ID is (this BM-SC, *btid*)
        (TS 33.246 §6.3.2.3.1), its counter one above the last one to that MUK ID."""
        muk_id = (self.bmsc_id, btid)
        counter = self._counters.get(muk_id, 0) + 1
        self._counters[muk_id] = counter
        return mbms.build_msk_message(muk, muk_id, self.keys.msk_id, self.keys.msk, counter,
                                      self.rng(16), self.key_domain_id)

    def broadcast(self, texts: tuple[bytes, ...], ssrc: int = 0x4D424D53
                  ) -> tuple[bytes, tuple[bytes, ...]]:
        """The MTK message and the SRTP packets of *texts* (TS 33.246 §6.3.3.2.2, §6.6):
        built once, the same octets for every receiver."""
        if self._broadcast is None:
            k = self.keys
            mtk_message = mbms.build_mtk_message(k.msk, k.msk_id, k.mtk_id, k.mtk, k.salt,
                                                 k.mtk_counter, self.rng(16),
                                                 key_domain_id=self.key_domain_id)
            sender = srtp.SrtpSender(srtp.MasterKey(k.mtk, k.salt, k.mki))
            packets = tuple(sender.protect(srtp.RtpPacket(
                PAYLOAD_TYPE, sequence_number=n, timestamp=n * 160, ssrc=ssrc,
                payload=text).encode()) for n, text in enumerate(texts, 1))
            self._broadcast = (mtk_message, packets)
        return self._broadcast


class UeMbms:
    """The UE's side: MUK -> MSKs -> MTKs -> content (TS 33.246 §6.3, §6.6)."""

    def __init__(self, muk: bytes, muk_id: tuple[str, str]) -> None:
        self._muk = muk
        self.muk_id = muk_id
        self.msks: dict[bytes, bytes] = {}
        self._msk_counter = 0
        self._mtk_counters: dict[bytes, int] = {}
        self._srtp: srtp.SrtpReceiver | None = None

    def __repr__(self) -> str:
        return f"UeMbms(muk_id={self.muk_id!r}, msks={len(self.msks)})"

    def msk_message(self, data: bytes) -> mbms.MskDelivery:
        """Take an MSK message: :class:`~gba.errors.MacFailure` (under a wrong MUK or
        altered), :class:`mbms.ReplayError` or :class:`~gba.errors.CodecError` leave
        nothing stored."""
        delivery = mbms.verify_msk_message(self._muk, data, self._msk_counter,
                                           muk_id=self.muk_id)
        self._msk_counter = delivery.counter
        self.msks[delivery.msk_id] = delivery.msk
        return delivery

    def mtk_message(self, data: bytes) -> mbms.MtkDelivery:
        """Take an MTK message under a held MSK (:class:`mbms.UnknownMsk` otherwise)."""
        delivery = mbms.verify_mtk_message(self.msks, data, self._mtk_counters)
        self._mtk_counters[delivery.msk_id] = delivery.counter
        key = srtp.MasterKey(delivery.mtk, delivery.salt, delivery.msk_id + delivery.mtk_id)
        if self._srtp is None:
            self._srtp = srtp.SrtpReceiver(key)
        else:
            self._srtp.add_key(key)
        return delivery

    def media(self, packet: bytes) -> bytes:
        """The content of one SRTP packet; :class:`~gba.errors.AuthError` subclasses
        (MAC, replay, unknown MTK) when it cannot be decrypted."""
        if self._srtp is None:
            raise srtp.UnknownKey("no MTK held: the content cannot be decrypted")
        return srtp.RtpPacket.decode(self._srtp.unprotect(packet)).payload

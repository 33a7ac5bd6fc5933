"""The home BSF's policy towards visited networks, and what a visited server makes of the
answer (docs/roaming.md §2, §3; seed 000 claims 1-9).

A visited network's server (a NAF such as the MBMS BM-SC) reaches the home BSF through
its own BSF acting as Zn-Proxy (TS 33.220 Annex K), a GBA proxy, an AAA chain, or
directly. Whoever asks, the home operator decides per visited network
(:class:`VisitedPartner`): which of its hosts may ask, which NAF hosts it may ask for,
and whether the answer holds Ks itself or a key derived from it, for how long.

* ``key = "derived"`` (the default): ME-Key-Material = Ks_(ext)_NAF for the NAF_Id asked
  (TS 33.220 Annex B), so an unmodified GBA UE holds the same key. For a BM-SC
  (NAF_Id = FQDN || 01 00 00 00 01, TS 33.246 §6.1) that key is the MUK.
* ``key = "ks"``: ME-Key-Material = Ks, marked with Key-Kind = KS (this project's AVP,
  M bit set, :data:`gba.protocols.diameter.dictionary.KEY_KIND`): the visited server
  derives Ks_NAF itself (:func:`visited_key`). The operator's choice (seed claim 9).
* The key's lifetime is capped at ``key_lifetime_s`` from the context's creation:
  stateless, and a request after it is refused like an expired B-TID.

Nothing here does I/O; time is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum

from gba.crypto import kdf
from gba.errors import CodecError, InvalidInput


class KeyKind(IntEnum):
    """What ME-Key-Material holds (Key-Kind AVP values)."""

    KS_NAF = 0
    KS = 1


class KeyPolicy(StrEnum):
    """The home operator's choice per visited network (config ``key``)."""

    DERIVED = "derived"
    KS = "ks"


@dataclass(frozen=True, slots=True)
class VisitedPartner:
    """One ``[[visited]]`` table of the home BSF: a roaming partner."""

    realm: str
    """Its Diameter realm: the Origin-Realm of its requests, or the
    Visited-Network-Identifier an AAA names it by."""
    proxies: frozenset[str]
    """The Origin-Hosts of that network that may ask (its BSF, GBA proxy, AAA or server);
    over TLS their certificates must name them."""
    key: KeyPolicy = KeyPolicy.DERIVED
    key_lifetime: timedelta | None = None
    """Cap on a key's life, from the context's creation; None: the context's own."""
    naf_domains: tuple[str, ...] = ()
    """NAF-Id hosts must equal or end in one of these; empty: any host."""
    send_uss: bool = True
    """Whether the answer carries GBA-UserSecSettings (the security profile)."""
    allocate_btid: bool = True
    """Case D: the BSF allocates a B-TID for the EAP-AKA run and sends it to the UE."""

    def allows_naf(self, naf_fqdn: str) -> bool:
        host = naf_fqdn.lower()
        return not self.naf_domains or any(
            host == d or host.endswith("." + d) for d in (x.lower() for x in self.naf_domains))


@dataclass(frozen=True, slots=True)
class RoamingPolicy:
    """Every partner of the home BSF, looked up by the host that asks or by realm."""

    partners: tuple[VisitedPartner, ...] = ()
    aaa_hosts: frozenset[str] = frozenset()
    """Home AAAs that may name a visited network (Visited-Network-Identifier) for a user
    and forward Diameter EAP to this BSF."""

    def by_proxy(self, origin_host: str, origin_realm: str) -> VisitedPartner | None:
        """The partner whose listed host *origin_host* is, if it also claims that
        partner's realm; None for anyone else."""
        for p in self.partners:
            if origin_host in p.proxies and origin_realm.lower() == p.realm.lower():
                return p
        return None

    def by_realm(self, realm: str) -> VisitedPartner | None:
        for p in self.partners:
            if realm.lower() == p.realm.lower():
                return p
        return None

    @property
    def hosts(self) -> frozenset[str]:
        """Every host that may open Zn as a partner's proxy."""
        return frozenset().union(*(p.proxies for p in self.partners))


@dataclass(frozen=True, slots=True)
class PartnerKey:
    """What the home BSF hands a partner for one request."""

    key: bytes = field(repr=False)
    kind: KeyKind
    expiry: datetime


def partner_key(partner: VisitedPartner, ks: bytes, rand: bytes, impi: str, naf_id: bytes,
                created: datetime, context_expiry: datetime, now: datetime
                ) -> PartnerKey | None:
    """The key the policy gives *partner* for NAF_Id *naf_id*, or None once its lifetime
    is over (the request is then refused as an expired B-TID: 5403)."""
    expiry = context_expiry
    if partner.key_lifetime is not None:
        expiry = min(expiry, created + partner.key_lifetime)
    if expiry <= now:
        return None
    if partner.key is KeyPolicy.KS:
        return PartnerKey(ks, KeyKind.KS, expiry)
    return PartnerKey(kdf.ks_naf(ks, rand, impi, naf_id), KeyKind.KS_NAF, expiry)


def visited_key(kind: KeyKind, key: bytes, btid: str, impi: str, naf_id: bytes) -> bytes:
    """Ks_(ext)_NAF at the visited server: *key* itself, or derived from Ks with RAND of
    the B-TID (TS 33.220 §4.5.2: B-TID = base64(RAND)@BSF name) and the IMPI the home
    network returned (TS 33.220 Annex B). :class:`CodecError` for a B-TID without RAND."""
    if kind is KeyKind.KS_NAF:
        return key
    rand, _domain = kdf.parse_btid(btid)
    try:
        return kdf.ks_naf(key, rand, impi, naf_id)
    except InvalidInput as exc:  # a Ks of the wrong length, an empty IMPI
        raise CodecError(f"cannot derive Ks_NAF: {exc}") from None


def naf_fqdn(naf_id: bytes) -> str:
    """The host part of a NAF_Id (FQDN || 5-octet Ua security protocol id, TS 33.220
    Annex H); empty when too short to hold one."""
    return naf_id[:-5].decode("utf-8", "replace") if len(naf_id) > 5 else ""

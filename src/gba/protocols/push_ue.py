"""The UE's side of setting up a push security association (seed 002 steps 204, 304, 406,
604; docs/push.md §1-§3): from a GPI (GBA Push) or from a bootstrap it holds (normal GBA),
the SA parameters the NAF signed, and the checks that must pass before the UE answers.
Pure: the USIM and the clock's ``now`` are passed in; nothing is stored here except in
:class:`SaStore`, which the caller persists.

Order of checks for a GPI: the GPI names the NAF the UE is talking to; AKA verifies AUTN
(a bad one: MacFailure) and the sequence number (a replayed GPI: StaleGpi); the P-TID
opens under Ks_NAF (the GPI was not altered); the NAF's MAC over the SA parameters
verifies under Ks_NAF (the NAF holds the key: it is authenticated). Any failure raises
and leaves the store as it was.
"""

from __future__ import annotations

from datetime import datetime

from gba.crypto import aka
from gba.errors import AuthError
from gba.protocols import gpi, push_info, push_sa
from gba.protocols.push_keys import ue_push_keys
from gba.protocols.push_sa import PushSa, SaId


class WrongNaf(AuthError):
    """The GPI or the SA parameters name another NAF than the one pushing."""


def sa_key(info: push_info.SaInfo, ks_naf: bytes) -> bytes:
    """The SA key the parameters ask for: Ks_NAF, or the key derived from it."""
    if info.key_derivation is None:
        return ks_naf
    if info.key_derivation != push_sa.KEY_DERIVATION:
        raise AuthError(f"key derivation {info.key_derivation!r} is not supported")
    return push_sa.derived_key(ks_naf, info.sa_id)


def _naf_fqdn(naf_id: bytes) -> str:
    return naf_id[:-5].decode("utf-8", "replace") if len(naf_id) > 5 else ""


def sa_from_gpi(usim: aka.Usim, impi: str, naf_fqdn: str, gpi_octets: bytes,
                signed_info: bytes, now: datetime) -> PushSa:
    """GBA Push: the SA the GPI and the signed parameters set up (TS 33.223 §5.3.2)."""
    received = gpi.decode_gpi(gpi_octets)
    info, body, mac = push_info.read_signed(signed_info)
    if _naf_fqdn(received.naf_id) != naf_fqdn or info.naf_id != received.naf_id:
        raise WrongNaf(f"the GPI is for {_naf_fqdn(received.naf_id)!r}, not {naf_fqdn!r}")
    if received.key_lifetime <= now:
        raise push_sa.ExpiredSa("the GPI's key lifetime is over")
    keys = ue_push_keys(usim, impi, received.rand, received.autn, received.naf_id,
                        gba_u=received.mode is gpi.UiccMe.GBA_U)
    ptid = gpi.open_ptid(received, keys.ks_naf)
    push_sa.verify(push_sa.naf_mac(keys.ks_naf, body), mac)
    return PushSa(info.sa_id, received.naf_id, ptid.decode("utf-8", "replace"),
                  sa_key(info, keys.ks_naf), received.key_lifetime, info.algorithm,
                  info.protocol_version, info.key_selection)


def sa_from_bootstrap(ks_naf: bytes, btid: str, expires: datetime, naf_fqdn: str,
                      signed_info: bytes, now: datetime, *, skip_naf_auth: bool = False
                      ) -> PushSa:
    """Normal GBA: the SA on the Ks_NAF of the UE's bootstrap. The NAF's MAC may be
    skipped by policy (seed 002: "may be omitted" under normal GBA)."""
    info, body, mac = push_info.read_signed(signed_info)
    if _naf_fqdn(info.naf_id) != naf_fqdn:
        raise WrongNaf(f"the SA parameters are for {_naf_fqdn(info.naf_id)!r}")
    if info.tid is not None and info.tid != btid:
        raise AuthError("the SA parameters name another B-TID than the UE's")
    if expires <= now:
        raise push_sa.ExpiredSa("the bootstrap's key lifetime is over")
    if not skip_naf_auth:
        push_sa.verify(push_sa.naf_mac(ks_naf, body), mac)
    return PushSa(info.sa_id, info.naf_id, btid, sa_key(info, ks_naf), expires, info.algorithm,
                  info.protocol_version, info.key_selection)


class SaStore:
    """The UE's SAs by identifier (seed 002 claim 5); an expired one is not found."""

    def __init__(self) -> None:
        self._sas: dict[SaId, PushSa] = {}

    def __len__(self) -> int:
        return len(self._sas)

    def find(self, sa_id: SaId, now: datetime) -> PushSa | None:
        sa = self._sas.get(sa_id)
        return sa if sa is not None and sa.usable(now) else None

    def put(self, sa: PushSa) -> None:
        self._sas.pop(sa.sa_id, None)
        self._sas[sa.sa_id] = sa  # the most recent last

    def all(self) -> list[PushSa]:
        """Every SA held, the most recently stored last (expired ones too)."""
        return list(self._sas.values())

    def latest(self, naf_fqdn: str, now: datetime) -> PushSa | None:
        """The most recently stored usable SA with that NAF."""
        for sa in reversed(self._sas.values()):
            if sa.usable(now) and _naf_fqdn(sa.naf_id) == naf_fqdn:
                return sa
        return None

    def open(self, sa_id: SaId, data: bytes, now: datetime) -> bytes:
        """Decrypt a push under the named SA, keeping its replay window; a push that
        fails changes nothing."""
        sa = self.find(sa_id, now)
        if sa is None:
            raise push_sa.ExpiredSa(f"no usable SA {sa_id.kind.value}:{sa_id.value}")
        after, payload = sa.open(data, now)
        self._sas[sa_id] = after
        return payload

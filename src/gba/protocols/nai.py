"""Which home network a user name on an AAA leg belongs to (docs/roaming.md §0).

Two forms reach a visited AAA (seed 000 cases C and D):

* a B-TID used as an NAI (RFC 7542 user@realm): base64(RAND)@BSF name, whose domain gives
  the home realm (TS 33.220 §4.5.2; :func:`gba.protocols.zn.home_realm`);
* an EAP-AKA permanent identity ``0<IMSI>@<realm>`` (RFC 4187 §4.1.1.6: the leading
  ``0`` marks EAP-AKA -- UNVERIFIED, read from implementations). Its realm must be the
  one the IMSI's MCC and MNC name (TS 23.003: ``mnc<MNC>.mcc<MCC>.3gppnetwork.org``,
  clause number UNVERIFIED), or a user could steer the request to any network.

The number of MNC digits is not in the IMSI (the USIM knows it, TS 31.102 EF_AD): a table
MCC -> digits, default 2, stands in for it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from gba.protocols import zn

_PERMANENT = re.compile(r"0(\d{15})@(.+)")
_IMSI = re.compile(r"\d{14,15}")


def imsi_realm(imsi: str, mnc_digits: Mapping[str, int] | None = None) -> str | None:
    """``mnc<MNC>.mcc<MCC>.3gppnetwork.org`` of an IMSI, MNC zero-padded to 3 digits;
    None for what is not an IMSI."""
    if not _IMSI.fullmatch(imsi):
        return None
    mcc = imsi[:3]
    digits = (mnc_digits or {}).get(mcc, 2)
    return f"mnc{int(imsi[3:3 + digits]):03d}.mcc{mcc}.3gppnetwork.org"


def permanent_imsi(nai: str) -> str | None:
    """The IMSI of an EAP-AKA permanent identity, or None for any other name."""
    match = _PERMANENT.fullmatch(nai)
    return match.group(1) if match else None


def home_realm(user_name: str, btid_realms: Mapping[str, str] | None = None,
               mnc_digits: Mapping[str, int] | None = None) -> str | None:
    """The Diameter realm of the user's home network, or None when it names none (or,
    for a permanent identity, names one its IMSI does not belong to)."""
    imsi = permanent_imsi(user_name)
    if imsi is not None:
        realm = imsi_realm(imsi, mnc_digits)
        claimed = user_name.rpartition("@")[2].lower()
        return realm if realm is not None and claimed == realm else None
    return zn.home_realm(user_name, btid_realms)


def permanent_identity_of(impi: str) -> str | None:
    """The EAP-AKA permanent identity ``0<IMSI>@mnc<MNC>.mcc<MCC>.3gppnetwork.org`` of an
    IMSI-derived IMPI ``<IMSI>@ims.mnc<MNC>.mcc<MCC>.3gppnetwork.org`` (TS 23.003 §13.3,
    UNVERIFIED clause); None for an IMPI of another form (the USIM would know its IMSI)."""
    imsi, _, domain = impi.partition("@")
    if not _IMSI.fullmatch(imsi) or not domain.lower().startswith("ims."):
        return None
    realm = domain[4:].lower()
    return f"0{imsi}@{realm}" if re.fullmatch(r"mnc\d{3}\.mcc\d{3}\.3gppnetwork\.org",
                                             realm) else None

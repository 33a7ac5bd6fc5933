"""Peer-to-peer messages of the base protocol: what they carry and how they are read.

CER/CEA (RFC 6733 §5.3), DWR/DWA (§5.5), DPR/DPA (§5.4) and the generic error answer
(§7.2). Applications are announced as 3GPP peers do it: vendor-less ones in
Auth-Application-Id, vendor ones (Zh, Zn, Zpn under Vendor-Id 10415) in
Vendor-Specific-Application-Id { Vendor-Id, Auth-Application-Id } plus a
Supported-Vendor-Id per vendor (RFC 6733 §6.11, TS 29.109).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from gba.protocols.diameter import dictionary as d
from gba.protocols.diameter.codec import (
    AVP_FLAG_MANDATORY,
    Avp,
    DiameterCodecError,
    Message,
    MissingAvp,
)
from gba.protocols.diameter.events import Application
from gba.protocols.diameter.values import avp, raw_avp

_PROXY_INFO = 284


@dataclass(frozen=True, slots=True)
class PeerIdentity:
    """What a node says about itself in CER/CEA (RFC 6733 §5.3.1)."""

    origin_host: str
    origin_realm: str
    host_ip_addresses: tuple[IPv4Address | IPv6Address, ...]
    vendor_id: int = 0
    product_name: str = "gba"
    origin_state_id: int | None = None
    firmware_revision: int | None = None


def _origin(local: PeerIdentity) -> list[Avp]:
    return [avp("Origin-Host", local.origin_host), avp("Origin-Realm", local.origin_realm)]


def _state_id(local: PeerIdentity) -> list[Avp]:
    return [] if local.origin_state_id is None else [
        avp("Origin-State-Id", local.origin_state_id)]


def _capabilities(local: PeerIdentity, applications: Iterable[Application]) -> list[Avp]:
    """Body shared by CER and CEA, in the order of RFC 6733 §5.3.1 / §5.3.2."""
    apps = sorted(set(applications))
    avps = [avp("Host-IP-Address", ip) for ip in local.host_ip_addresses]
    avps.append(avp("Vendor-Id", local.vendor_id))
    avps.append(avp("Product-Name", local.product_name))
    avps += _state_id(local)
    avps += [avp("Supported-Vendor-Id", v) for v in sorted({v for v, _ in apps if v})]
    avps += [avp("Auth-Application-Id", app) for vendor, app in apps if not vendor]
    avps += [avp("Vendor-Specific-Application-Id", [
        avp("Vendor-Id", vendor), avp("Auth-Application-Id", app)])
        for vendor, app in apps if vendor]
    if local.firmware_revision is not None:
        avps.append(avp("Firmware-Revision", local.firmware_revision))
    return avps


def build_cer(local: PeerIdentity, applications: Iterable[Application]) -> Message:
    """Capabilities-Exchange-Request (RFC 6733 §5.3.1); never proxiable."""
    return Message.new(d.CMD_CAPABILITIES_EXCHANGE, d.APP_COMMON, proxiable=False,
                       avps=_origin(local) + _capabilities(local, applications))


def build_cea(request: Message, local: PeerIdentity, applications: Iterable[Application],
              result: int, error_message: str | None = None) -> Message:
    """Capabilities-Exchange-Answer (RFC 6733 §5.3.2)."""
    avps = [avp("Result-Code", result), *_origin(local)]
    if error_message:  # {}-AVPs may come in any order (RFC 6733 §3.2)
        avps.append(avp("Error-Message", error_message))
    return request.answer(avps + _capabilities(local, applications),
                          error=3000 <= result < 4000)


def build_dwr(local: PeerIdentity) -> Message:
    """Device-Watchdog-Request (RFC 6733 §5.5.1)."""
    return Message.new(d.CMD_DEVICE_WATCHDOG, d.APP_COMMON, proxiable=False,
                       avps=_origin(local) + _state_id(local))


def build_dwa(request: Message, local: PeerIdentity) -> Message:
    """Device-Watchdog-Answer (RFC 6733 §5.5.2)."""
    return request.answer([avp("Result-Code", d.ResultCode.SUCCESS), *_origin(local),
                           *_state_id(local)])


def build_dpr(local: PeerIdentity, cause: int) -> Message:
    """Disconnect-Peer-Request (RFC 6733 §5.4.1)."""
    return Message.new(d.CMD_DISCONNECT_PEER, d.APP_COMMON, proxiable=False,
                       avps=[*_origin(local), avp("Disconnect-Cause", cause)])


def build_dpa(request: Message, local: PeerIdentity) -> Message:
    """Disconnect-Peer-Answer (RFC 6733 §5.4.2)."""
    return request.answer([avp("Result-Code", d.ResultCode.SUCCESS), *_origin(local)])


def error_answer(request: Message, local: PeerIdentity, result: int,
                 error_message: str | None = None,
                 failed: Avp | Sequence[Avp] | None = None) -> Message:
    """An answer-message carrying only an error (RFC 6733 §7.2): Session-Id and Proxy-Info
    copied from the request, E bit set for protocol errors (3xxx, §7.1.3), and the
    offending AVP(s) in one Failed-AVP when known (§7.5: ``1* {AVP}``)."""
    avps: list[Avp] = []
    session = request.find(d.SESSION_ID)
    if session is not None:
        avps.append(session)
    avps += [*_origin(local), avp("Result-Code", result)]
    if error_message:
        avps.append(avp("Error-Message", error_message))
    if failed:
        avps.append(avp("Failed-AVP", [failed] if isinstance(failed, Avp) else failed))
    avps += request.find_all(_PROXY_INFO)
    return request.answer(avps, error=3000 <= result < 4000)


def error_answer_for_header(header: bytes, local: PeerIdentity, result: int,
                            error_message: str, failed: Avp | None = None) -> Message:
    """An error answer to a request whose AVPs could not be decoded: only the header
    (RFC 6733 §3) of the request is trusted, and *failed* (the AVP the codec named) goes
    in Failed-AVP (§7.5)."""
    flags = header[4]
    request = Message(int.from_bytes(header[5:8], "big"), int.from_bytes(header[8:12], "big"),
                      flags, int.from_bytes(header[12:16], "big"),
                      int.from_bytes(header[16:20], "big"), ())
    return error_answer(request, local, result, error_message, failed)


def announced_applications(message: Message) -> frozenset[Application]:
    """Applications in a CER or CEA: Auth-/Acct-Application-Id as (0, id), and
    Vendor-Specific-Application-Id as (Vendor-Id, Auth- or Acct-Application-Id)."""
    found: set[Application] = set()
    for a in message.avps:
        if a.vendor:
            continue
        if a.code in (d.AUTH_APPLICATION_ID, d.ACCT_APPLICATION_ID):
            found.add((0, a.as_int()))
        elif a.code == d.VENDOR_SPECIFIC_APPLICATION_ID:
            children = a.children()
            vendor = next((c.as_int() for c in children
                           if c.code == d.VENDOR_ID and not c.vendor), 0)
            for c in children:
                if not c.vendor and c.code in (d.AUTH_APPLICATION_ID, d.ACCT_APPLICATION_ID):
                    found.add((vendor, c.as_int()))
    return frozenset(found)


def common_applications(local: Iterable[Application],
                        remote: Iterable[Application]) -> frozenset[Application]:
    """Our applications the peer also announced (RFC 6733 §5.3). The application id
    decides: the Vendor-Id of Vendor-Specific-Application-Id (§6.11) does not make it
    another application, so a peer announcing Zh without a vendor still matches. A Relay
    (§2.4) matches everything: a relay peer gets all of ours, and when we are a relay we
    take all of the peer's."""
    local, remote = frozenset(local), frozenset(remote)
    remote_ids = {app for _, app in remote}
    if d.APP_RELAY in remote_ids:
        return local
    if d.APP_RELAY in {app for _, app in local}:
        return remote
    return frozenset(a for a in local if a[1] in remote_ids)


def missing_avp_example(code: int, vendor: int = 0) -> Avp:
    """The Failed-AVP content for a missing AVP: the AVP with a zeroed value of its minimum
    length, vendor included (RFC 6733 §7.5)."""
    definition = d.find_avp_def(code, vendor)
    size = {d.AvpType.UNSIGNED32: 4, d.AvpType.INTEGER32: 4, d.AvpType.ENUMERATED: 4,
            d.AvpType.UNSIGNED64: 8, d.AvpType.INTEGER64: 8, d.AvpType.TIME: 4,
            d.AvpType.FLOAT32: 4, d.AvpType.FLOAT64: 8}.get(
        definition.type if definition else d.AvpType.OCTET_STRING, 0)
    return raw_avp(code, bytes(size), vendor=vendor, mandatory=True)


class UnsupportedAvp(DiameterCodecError):
    """A request carries AVPs with the M bit set that its command does not know: answer
    5001 DIAMETER_AVP_UNSUPPORTED with a copy of them in Failed-AVP (RFC 6733 §4.1 "the
    message MUST be rejected", §7.1.5, §7.5)."""

    def __init__(self, avps: Sequence[Avp], where: str = "message") -> None:
        names = ", ".join(f"{a.code}" + (f" (vendor {a.vendor})" if a.vendor else "")
                          for a in avps)
        super().__init__(f"{where} carries unsupported mandatory AVP {names}",
                         result_code=d.ResultCode.AVP_UNSUPPORTED)
        self.avps = tuple(avps)


BASE_AVPS = frozenset(d.avp_key(a.code) for a in d.AVPS if a.vendor == 0)
"""The base protocol's AVPs (RFC 6733 §4.5): every node recognises them, so none is
"unsupported" in any command (e.g. Auth-Application-Id beside
Vendor-Specific-Application-Id, which some stacks send)."""


def reject_unknown_mandatory(message: Message, known: frozenset[int], where: str) -> None:
    """Raise :class:`UnsupportedAvp` for the top-level AVPs of *message* that have the M
    bit set and are neither base protocol AVPs nor, by their
    :func:`~gba.protocols.diameter.dictionary.avp_key`, in the command's *known*; unknown
    AVPs without the M bit are ignored (RFC 6733 §4.1)."""
    unknown = [a for a in message.avps if a.flags & AVP_FLAG_MANDATORY
               and (key := d.avp_key(a.code, a.vendor)) not in known
               and key not in BASE_AVPS]
    if unknown:
        raise UnsupportedAvp(unknown, where)


def codec_error_answer(request: Message, local: PeerIdentity, exc: Exception) -> Message:
    """The error answer for an application request that did not parse: 5005 with the
    missing AVP in Failed-AVP, 5001 with the unsupported ones, the codec's own result
    code, or 5004 (RFC 6733 §7.1.5, §7.5)."""
    if isinstance(exc, UnsupportedAvp):
        return error_answer(request, local, d.ResultCode.AVP_UNSUPPORTED, str(exc), exc.avps)
    if isinstance(exc, MissingAvp):
        return error_answer(request, local, d.ResultCode.MISSING_AVP, str(exc),
                            missing_avp_example(exc.code, exc.vendor))
    if isinstance(exc, DiameterCodecError):
        return error_answer(request, local, exc.result_code, str(exc))
    return error_answer(request, local, d.ResultCode.INVALID_AVP_VALUE, str(exc))

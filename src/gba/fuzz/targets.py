"""The fuzz targets: every parser that reads bytes from the network, with its seeds.

Each target takes untrusted input and must either succeed or raise a
:class:`~gba.errors.GbaError`; anything else (IndexError, UnicodeDecodeError,
RecursionError, a hang) is a finding.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime

from gba.crypto import digest, kdf
from gba.errors import GbaError
from gba.fuzz.seeds import abusive_digest, abusive_messages, abusive_streams, long_text
from gba.protocols import (
    diameter_eap,
    eap,
    eap_aka,
    gpi,
    guss,
    mbms,
    mikey,
    mtc,
    mtc_small_data,
    nasreq,
    ngn,
    omadm_pkg0,
    push_dm,
    push_info,
    sip,
    srtp,
    syncml,
    ua_psk,
    ub,
    upa,
    zh,
    zn,
    zpn,
)
from gba.protocols.diameter import PeerConnection, PeerIdentity, Role
from gba.protocols.diameter.bench import sample_bia, sample_maa
from gba.protocols.digest_header import AuthenticationInfo, Challenge, Credentials

Target = Callable[[bytes], object]
Table = dict[str, tuple[Target, list[bytes]]]
"""Target name -> (the parser, its seeds); a fresh table per call, so seeds may grow."""


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _peer(data: bytes) -> object:
    from ipaddress import ip_address

    conn = PeerConnection(PeerIdentity("fuzz", "fuzz", (ip_address("127.0.0.1"),)),
                          Role.RESPONDER, [(10415, 16777220)])
    conn.connection_made(0.0)
    conn.receive_data(data, 1.0)
    return conn.data_to_send(), conn.pop_events()


def _diameter_app(data: bytes) -> object:
    from gba.protocols.diameter import Message

    msg = Message.decode(data)
    for parse in (zh.parse_mar, zh.parse_maa, zn.parse_bir, zn.parse_bia,
                  nasreq.parse_aar, nasreq.parse_aaa, diameter_eap.parse_der,
                  diameter_eap.parse_dea, zpn.parse_gpir, zpn.parse_gpia):
        with contextlib.suppress(GbaError):
            parse(msg)
    return msg


def _eap_aka(d: bytes) -> object:
    """An EAP packet as the BSF and the UE read it (RFC 3748, RFC 4187)."""
    packet = eap.parse(d)
    with contextlib.suppress(GbaError):
        eap_aka.from_eap(packet)
    return packet


def _mikey(d: bytes) -> object:
    """A MIKEY message as the UE reads an MSK or MTK message (RFC 3830, TS 33.246)."""
    message = mikey.decode(d)
    with contextlib.suppress(GbaError):
        mbms.verify_msk_message(bytes(32), d, 0)
    with contextlib.suppress(GbaError):
        mbms.verify_mtk_message({bytes(4): bytes(16)}, d, 0)
    return message


def _srtp(d: bytes) -> object:
    """An SRTP packet as the UE's receiver takes it (RFC 3711)."""
    receiver = srtp.SrtpReceiver(srtp.MasterKey(bytes(16), bytes(14)))
    with contextlib.suppress(GbaError):
        receiver.unprotect(d)
    return srtp.RtpPacket.decode(d)


def _push_datagram(d: bytes) -> object:
    """A datagram on the UE's push channel (Upa) and what it carries, as the UE reads it:
    package 0 with or without a GPI, SA parameters (embodiments 4, 5), a DM message."""
    push = upa.decode(d)
    with contextlib.suppress(GbaError):
        if push.media_type is upa.MediaType.NOTIFICATION:
            pkg, _, placement = omadm_pkg0.extract_gpi(push.body)
            if placement != "digest":
                omadm_pkg0.verify_digest(push.body, pkg.server_id, b"", b"")
            push_info.read_signed(pkg.vendor)
        elif push.media_type is upa.MediaType.SA_PARAMS:
            _, found, _, _ = push_dm.read_offer(push.body)
            if found is not None:
                gpi.decode_gpi(found)
        elif push.media_type is upa.MediaType.GPI:
            gpi.decode_gpi(gpi.decode_envelope(push.body).gpi)
        else:
            syncml.decode(push.body)
    return push


def _syncml_dm(d: bytes) -> object:
    """A SyncML DM package as the Push-NAF's /dm reads it (pkg1, confirmation, pkg3)."""
    msg, hello = push_dm.hello_of(d)
    with contextlib.suppress(GbaError):
        push_dm.choice_of(msg)
    return hello


def _mtc_request(d: bytes) -> object:
    """The MTC headers of an initialisation request as the BSF reads them (two header
    values separated by a newline), and MTC security settings as the MTC-IWF reads them."""
    group, _, small = _text(d).partition("\n")
    with contextlib.suppress(GbaError):
        mtc.decode_settings(d)
    return mtc.parse_request_headers(
        {"x-mtc-group": group, "x-mtc-small-data": small}.get)


def _mtc_small_data(d: bytes) -> object:
    """A small-data message as the MTC-IWF reads it: the header, then opening it."""
    header = mtc_small_data.read_header(d)
    keys = mtc_small_data.Keys.derive(bytes(32), mtc.SubKeys.BOTH)
    with contextlib.suppress(GbaError):
        mtc_small_data.open_(keys, None, d, mtc_small_data.ReplayWindow(),
                             expect=mtc_small_data.Direction.UPLINK)
    return header


def _sip(d: bytes) -> object:
    """A SIP message as the softswitch or proxy reads it (RFC 3261 §7), its required
    headers, its security agreement headers (RFC 3329) and mechanism list (seed 001 s7);
    the same bytes through the TCP framer."""
    with contextlib.suppress(GbaError):
        sip.StreamFramer().feed(d)
    msg = sip.decode(d)
    for check in (lambda: sip.check_request(msg) if isinstance(msg, sip.SipRequest)
                  else None,
                  lambda: [sip.parse_security(v) for v in msg.headers_named("Security-Client")],
                  lambda: ngn.parse_mechanisms(msg.header("Security-Client") or "")):
        with contextlib.suppress(GbaError):
            check()
    return msg


def _ngn_wire(face: str) -> Callable[[bytes], object]:
    """The bytes as the softswitch, the SP and the terminal decode them on ``face``
    (seed 001 bindings): a WireError is the expected refusal."""
    from gba.protocols.ngn_bindings import make_wire
    from gba.protocols.ngn_flow import Role as NgnRole

    def decode(d: bytes) -> object:
        found: list[object] = []
        for role in NgnRole:
            wire = make_wire(face, role, "127.0.0.1", 5060, "ngn.example.org", _fixed_rng)
            with contextlib.suppress(GbaError):
                found.append(wire.decode(d))
        return found

    return decode


def _fixed_rng(n: int) -> bytes:
    """Deterministic, never repeating (the bindings refuse a repeated transaction id)."""
    _DRAWS[0] += 1
    return _DRAWS[0].to_bytes(max(n, 8), "big")[-n:]


_DRAWS = [0]


def _ngn_seeds(face: str) -> list[bytes]:
    """s1 and s7 as a terminal sends them on ``face``."""
    from gba.protocols.ngn import Mechanism
    from gba.protocols.ngn_bindings import make_wire
    from gba.protocols.ngn_flow import Role as NgnRole
    from gba.protocols.ngn_flow import S1Register, S7Response

    wire = make_wire(face, NgnRole.TERMINAL, "127.0.0.1", 5060, "ngn.example.org", _fixed_rng)
    return [wire.encode(S1Register("t@ngn.example.org", "sp.ngn.example.org", bytes(16), 1)),
            wire.encode(S7Response("t@ngn.example.org", "sp.ngn.example.org", bytes(16),
                                   bytes(16), 1, bytes(16), (Mechanism("tls", 0.5),)))]


def _challenge(d: bytes) -> object:
    return Challenge.from_header(_text(d))


def _credentials(d: bytes) -> object:
    return Credentials.from_header(_text(d))


def _authentication_info(d: bytes) -> object:
    return AuthenticationInfo.from_header(_text(d))


def _btid(d: bytes) -> object:
    return kdf.parse_btid(_text(d))


def _aka_nonce(d: bytes) -> object:
    return digest.parse_aka_nonce(_text(d))


def table() -> Table:
    """Every target with its valid seeds and the abusive ones of :mod:`gba.fuzz.seeds`."""
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    challenge = Challenge("realm", digest.aka_nonce(bytes(16), bytes(16)), "AKAv1-MD5",
                          ("auth-int",)).to_header().encode()
    creds = Credentials("user@realm", "realm", "bm9uY2U=", "/", "0" * 32, "AKAv1-MD5",
                        "auth-int", "00000001", "abc", auts="AAAAAAAAAAAAAAAAAAA=").to_header()
    info = b'rspauth="abc", qop=auth-int, nc=00000001, cnonce="x"'
    btid = kdf.btid(bytes(16), "bsf.x")
    return {
        "diameter": (_diameter_app, [sample_bia().encode(), sample_maa().encode(),
                                     *abusive_messages()]),
        "diameter-peer": (_peer, [sample_bia().encode() + sample_maa().encode(),
                                  *abusive_streams()]),
        "digest-challenge": (_challenge, [challenge, *abusive_digest(b"Digest ")]),
        "digest-credentials": (_credentials, [creds.encode(), *abusive_digest(b"Digest ")]),
        "authentication-info": (_authentication_info, [info, *abusive_digest(b"")]),
        "bootstrapping-info": (ub.BootstrappingInfo.decode,
                               [ub.BootstrappingInfo("a@b", now).encode()]),
        "guss": (guss.decode_guss, [guss.encode_guss(guss.Guss(
            "GBA_U", 3600, (guss.Uss("1", "2", "g", ("sip:a@b",), ("1",)),))).encode()]),
        "btid": (_btid, [btid.encode(), long_text(btid.encode())]),
        "aka-nonce": (_aka_nonce, [digest.aka_nonce(bytes(16), bytes(16), b"x").encode()]),
        "psk-identity": (ua_psk.btid_from_psk_identity,
                         [ua_psk.psk_identity_for(btid).encode()]),
        "eap-aka": (_eap_aka, [eap.identity_response(1, "0001010000000001@x").encode(),
                               eap.success(2).encode()]),
        "mikey": (_mikey, [mbms.build_msk_message(
            bytes(32), ("bmsc", btid), bytes(4), bytes(16), 1, bytes(16), None)]),
        "srtp": (_srtp, [srtp.SrtpSender(srtp.MasterKey(bytes(16), bytes(14))).protect(
            srtp.RtpPacket(96, 1, 160, 7, b"content").encode())]),
        "push-datagram": (_push_datagram, _push_seeds(now)),
        "syncml-dm": (_syncml_dm, [_hello()]),
        "mtc-request": (_mtc_request, [b"meters@mtc.example.org; key-id=1\nsend, receive",
                                       mtc.encode_settings(mtc.MtcSettings(
                                           "g@x", 1, "001010000000001",
                                           mtc.Capability.SEND, ("001010000000001",),
                                           3600)).encode()]),
        "sip": (_sip, [b"REGISTER sip:ngn.example.org SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;"
                       b"branch=z9hG4bK1\r\nMax-Forwards: 70\r\nTo: <sip:t@ngn.example.org>"
                       b"\r\nFrom: <sip:t@ngn.example.org>;tag=1\r\nCall-ID: c1\r\n"
                       b"CSeq: 1 REGISTER\r\nSecurity-Client: tls;q=0.2, ipsec;q=0.1\r\n"
                       b"Content-Length: 0\r\n\r\n"]),
        "ngn-sip": (_ngn_wire("sip_udp"), _ngn_seeds("sip_udp")),
        "mgcp": (_ngn_wire("mgcp"), _ngn_seeds("mgcp")),
        "h248": (_ngn_wire("h248"), _ngn_seeds("h248")),
        "h323-ras": (_ngn_wire("ras"), _ngn_seeds("ras")),
        "mtc-small-data": (_mtc_small_data, [mtc_small_data.seal(
            mtc_small_data.Keys.derive(bytes(32), mtc.SubKeys.BOTH), btid,
            mtc_small_data.Direction.UPLINK, 1, b"reading")]),
    }


def _push_seeds(now: datetime) -> list[bytes]:
    """A package 0 carrying a GPI in each placement, and an SA offer."""
    from gba.protocols.push_sa import IdKind, SaId

    naf_id = b"naf.example.org\x01\x00\x00\x00\x05"
    info = push_info.SaInfo(SaId(IdKind.SECURE, "s1"), naf_id)
    found = gpi.encode_gpi(gpi.Gpi(b"ptid", bytes(16), bytes(16), naf_id, gpi.UiccMe.GBA_ME,
                                   now.replace(microsecond=0)))
    pkg = omadm_pkg0.Pkg0(ui_mode=1, initiator=1, session_id=7, server_id="naf.example.org",
                          vendor=push_info.sign(info, bytes(32)))
    seeds = [upa.encode(upa.Push(upa.MediaType.NOTIFICATION, omadm_pkg0.encode_with_gpi(
        pkg, found, placement, server_password=b"", nonce=b"", ks_naf=bytes(32))))
        for placement in ("digest", "future-use", "trigger")]
    seeds.append(upa.encode(upa.Push(upa.MediaType.SA_PARAMS,
                                     push_dm.offer(7, info, bytes(32), found))))
    return seeds


def _hello() -> bytes:
    from gba.crypto import aka
    from gba.protocols.push_ue import SaStore

    session = push_dm.UeDmSession(SaStore(), aka.Usim(bytes(16), bytes(16)),
                                  "user@example.org", syncml.DevInfo("d", "m", "o"),
                                  "naf.example.org", b"")
    return session.start(7)


TARGETS = tuple(table())
DIAMETER_TARGETS = ("diameter", "diameter-peer")
"""The targets that take Diameter messages, and so the seeds of a ``--corpus``."""

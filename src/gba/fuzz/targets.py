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
    guss,
    mbms,
    mikey,
    nasreq,
    srtp,
    ua_psk,
    ub,
    zh,
    zn,
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
                  diameter_eap.parse_dea):
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
    }


TARGETS = tuple(table())
DIAMETER_TARGETS = ("diameter", "diameter-peer")
"""The targets that take Diameter messages, and so the seeds of a ``--corpus``."""

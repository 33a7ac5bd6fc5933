"""Our SRTP against libsrtp (through pylibsrtp 1.0.0, which bundles it): packets protected
by one side unprotect on the other, for AES_CM_128_HMAC_SHA1_80 and _32 (RFC 3711; the
libsrtp profiles SRTP_AES128_CM_SHA1_80 and _32 of RFC 5764 §4.1.2).

pylibsrtp exposes no MKI setting, so these packets carry none; the MKI placement is
checked by the unit tests. Everything runs in process: libsrtp is a library, not a server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pylibsrtp
import pytest

from gba.errors import MacFailure
from gba.protocols.srtp import (
    AES_CM_128_HMAC_SHA1_32,
    AES_CM_128_HMAC_SHA1_80,
    CryptoSuite,
    MasterKey,
    RtpExtension,
    RtpPacket,
    SrtpReceiver,
    SrtpSender,
)

pytestmark = pytest.mark.roaming

PROFILES = [(AES_CM_128_HMAC_SHA1_80, pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80),
            (AES_CM_128_HMAC_SHA1_32, pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32)]
IDS = [suite.name for suite, _ in PROFILES]
SSRC = 0x5EC0DE01


def libsrtp(master: MasterKey, profile: int, direction: int) -> pylibsrtp.Session:
    return pylibsrtp.Session(pylibsrtp.Policy(key=master.key + master.salt,
                                              ssrc_type=direction, srtp_profile=profile))


def stream(count: int = 400, first_seq: int = 65300) -> Iterator[bytes]:
    """RTP packets across a sequence wrap, some with CSRCs, an extension or padding."""
    for n in range(count):
        yield RtpPacket(
            payload_type=96, sequence_number=(first_seq + n) & 0xFFFF,
            timestamp=n * 3000, ssrc=SSRC, payload=os.urandom(n % 120), marker=n % 25 == 0,
            csrcs=tuple(range(n % 4)),
            extension=RtpExtension(0xBEDE, bytes(4 * (n % 3))) if n % 5 == 0 else None,
            padding=n % 7 if n % 11 == 0 else 0).encode()


@pytest.fixture
def master() -> MasterKey:
    return MasterKey(os.urandom(16), os.urandom(14))


@pytest.mark.parametrize(("suite", "profile"), PROFILES, ids=IDS)
def test_libsrtp_unprotects_what_we_protect(master: MasterKey, suite: CryptoSuite,
                                             profile: int) -> None:
    ours = SrtpSender(master, suite)
    theirs = libsrtp(master, profile, pylibsrtp.Policy.SSRC_ANY_INBOUND)
    for packet in stream():
        assert theirs.unprotect(ours.protect(packet)) == packet
    assert ours.rollover_counter(SSRC) == 1


@pytest.mark.parametrize(("suite", "profile"), PROFILES, ids=IDS)
def test_we_unprotect_what_libsrtp_protects(master: MasterKey, suite: CryptoSuite,
                                             profile: int) -> None:
    theirs = libsrtp(master, profile, pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    ours = SrtpReceiver(master, suite)
    for packet in stream():
        assert ours.unprotect(theirs.protect(packet)) == packet
    assert ours.rollover_counter(SSRC) == 1


@pytest.mark.parametrize(("suite", "profile"), PROFILES, ids=IDS)
def test_both_senders_emit_the_same_octets(master: MasterKey, suite: CryptoSuite,
                                           profile: int) -> None:
    ours = SrtpSender(master, suite)
    theirs = libsrtp(master, profile, pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    for packet in stream(200):
        assert ours.protect(packet) == theirs.protect(packet)


@pytest.mark.parametrize(("suite", "profile"), PROFILES, ids=IDS)
def test_a_libsrtp_packet_with_a_flipped_tag_bit_fails_our_check(master: MasterKey,
                                                            suite: CryptoSuite,
                                                            profile: int) -> None:
    theirs = libsrtp(master, profile, pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    protected = bytearray(theirs.protect(next(stream(1))))
    protected[-1] ^= 0x01
    with pytest.raises(MacFailure):
        SrtpReceiver(master, suite).unprotect(bytes(protected))


def test_libsrtp_refuses_a_replay_of_our_packet(master: MasterKey) -> None:
    suite, profile = PROFILES[0]
    protected = SrtpSender(master, suite).protect(next(stream(1)))
    theirs = libsrtp(master, profile, pylibsrtp.Policy.SSRC_ANY_INBOUND)
    theirs.unprotect(protected)
    with pytest.raises(pylibsrtp.Error):
        theirs.unprotect(protected)

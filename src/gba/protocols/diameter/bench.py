"""Codec throughput on the two messages a BSF handles most: a Zn BIA and a Zh MAA.

Not part of the sans-IO core: it reads the clock (``time.perf_counter``). The messages
follow the BIA (TS 29.109, Zn) and MAA (TS 29.109, Zh, with the Cx SIP-Auth-Data-Item of
TS 29.229 §6.3) layouts with fixed, non-secret dummy values.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from gba.protocols.diameter.codec import Avp, Message
from gba.protocols.diameter.dictionary import (
    APP_ZH,
    APP_ZN,
    CMD_BOOTSTRAPPING_INFO,
    CMD_MULTIMEDIA_AUTH,
    VENDOR_3GPP,
)
from gba.protocols.diameter.values import avp

_CREATED = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
_EXPIRES = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
_USS = (b'<ussList xmlns="urn:3gpp:gba:GBAGUSSSchema-R9:2010-02">'
        b'<uss id="1" type="1" nafGroup="internet"><uids><uid>sip:user@example.org</uid>'
        b"</uids></uss></ussList>")
"""A Zn ussList (TS 29.109 §6.3.1.1, Annex A) with one USS."""
_GUSS = (b'<guss xmlns="urn:3gpp:gba:GBAGUSSSchema-R9:2010-02" id="001010000000001@ims.mnc001'
         b'.mcc001.3gppnetwork.org"><bsfInfo><uiccType>GBA</uiccType><lifeTime>3600</lifeTime>'
         b"</bsfInfo><ussList/></guss>")
"""A Zh GUSS (root ``guss``, TS 29.109 Annex A)."""


def _vsai(app: int) -> list[Avp]:
    return [avp("Vendor-Id", VENDOR_3GPP), avp("Auth-Application-Id", app)]


def sample_bia() -> Message:
    """A Zn Bootstrapping-Info-Answer: 11 AVPs with a 32-byte Ks_NAF and a grouped VSAI."""
    return Message.new(CMD_BOOTSTRAPPING_INFO, APP_ZN, request=False, hop_by_hop=0x1234,
                       end_to_end=0x5678, avps=[
        avp("Session-Id", "naf.example.org;1732449600;42"),
        avp("Vendor-Specific-Application-Id", _vsai(APP_ZN)),
        avp("Result-Code", 2001),
        avp("Origin-Host", "bsf.example.org"),
        avp("Origin-Realm", "example.org"),
        avp("User-Name", "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"),
        avp("ME-Key-Material", bytes(range(32))),
        avp("Key-ExpiryTime", _EXPIRES),
        avp("BootstrapInfoCreationTime", _CREATED),
        avp("GBA-UserSecSettings", _USS),
        avp("GBA-Type", 0),
    ])


def sample_maa() -> Message:
    """A Zh Multimedia-Auth-Answer carrying one AKA vector in SIP-Auth-Data-Item."""
    item = [
        avp("SIP-Item-Number", 1),
        avp("SIP-Authentication-Scheme", "Digest-AKAv1-MD5"),
        avp("SIP-Authenticate", bytes(range(32))),
        avp("SIP-Authorization", bytes(range(8))),
        avp("Confidentiality-Key", bytes(range(16, 32))),
        avp("Integrity-Key", bytes(range(32, 48))),
    ]
    return Message.new(CMD_MULTIMEDIA_AUTH, APP_ZH, request=False, hop_by_hop=0x9abc,
                       end_to_end=0xdef0, avps=[
        avp("Session-Id", "bsf.example.org;1732449600;7"),
        avp("Vendor-Specific-Application-Id", _vsai(APP_ZH)),
        avp("Result-Code", 2001),
        avp("Auth-Session-State", 1),
        avp("Origin-Host", "hss.example.org"),
        avp("Origin-Realm", "example.org"),
        avp("User-Name", "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"),
        avp("Public-Identity", "sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org"),
        avp("SIP-Auth-Data-Item", item),
        avp("GBA-UserSecSettings", _GUSS),
    ])


def _rate(step: Callable[[], object], seconds: float, per_call: int, windows: int = 5) -> float:
    """Best rate over ``windows`` equal slices of ``seconds``: like timeit's minimum, it
    sheds the noise of other processes sharing the core."""
    best = 0.0
    for _ in range(windows):
        done = 0
        start = time.perf_counter()
        deadline = start + seconds / windows
        while True:
            for _ in range(100):
                step()
            done += 100 * per_call
            now = time.perf_counter()
            if now >= deadline:
                best = max(best, done / (now - start))
                break
    return best


def bench_diameter(seconds: float = 1.0) -> dict[str, float]:
    """Messages per second for encode, decode and encode+decode, alternating BIA and MAA.

    ``seconds`` is spent on each of the three measurements (best of five windows).
    ``roundtrip_per_s`` counts one message for each encode followed by its decode.
    """
    messages = (sample_bia(), sample_maa())
    wires = tuple(m.encode() for m in messages)
    bia, maa = messages
    bia_wire, maa_wire = wires
    decode = Message.decode

    def encode_both() -> None:
        bia.encode()
        maa.encode()

    def decode_both() -> None:
        decode(bia_wire)
        decode(maa_wire)

    def roundtrip_both() -> None:
        decode(bia.encode())
        decode(maa.encode())

    return {
        "encode_per_s": _rate(encode_both, seconds, 2),
        "decode_per_s": _rate(decode_both, seconds, 2),
        "roundtrip_per_s": _rate(roundtrip_both, seconds, 2),
    }


if __name__ == "__main__":  # pragma: no cover
    for key, value in bench_diameter().items():
        print(f"{key}: {value:,.0f}")

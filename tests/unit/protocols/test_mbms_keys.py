"""MBMS key delivery: MSK under the MUK, MTK under the MSK (gba.protocols.mbms,
gba.crypto.mbms; TS 33.246 §6.3.2.3.1, §6.3.3.2.2 over RFC 3830 pre-shared-key MIKEY).

The last test writes an MSK message into a pcap as one UDP datagram to port 2269 and has
tshark (Wireshark's own MIKEY dissector) read it back: every field as built, no
malformed mark; a truncated copy shows the check can fail.
"""

from __future__ import annotations

import hmac
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gba.crypto import kdf, mikey_prf, ua_protocols
from gba.crypto import mbms as ids
from gba.errors import AuthError, CodecError, InvalidInput, MacFailure
from gba.protocols import mbms, mikey

pytestmark = pytest.mark.roaming

BMSC = "bmsc-a.mnc002.mcc001.3gppnetwork.org"
RAND_B = bytes(range(16))
BTID = kdf.btid(RAND_B, "bsf.mnc001.mcc001.pub.3gppnetwork.org")
IMPI = "001010123456789@ims.mnc001.mcc001.3gppnetwork.org"
KS = bytes(range(32))
MUK, MRK = ids.muk_mrk(kdf.ks_naf(KS, RAND_B, IMPI, kdf.naf_id(BMSC, ua_protocols.MBMS)))
MUK_ID = (BMSC, BTID)
MSK_ID = ids.msk_id(0x0102, 7)
MSK = bytes.fromhex("00112233445566778899aabbccddeeff")
DOMAIN = ids.key_domain_id("001", "02")
MTK_ID = ids.mtk_id(1)
MTK = bytes.fromhex("0f0e0d0c0b0a09080706050403020100")
SALT = bytes(range(0xA0, 0xAE))
RAND1, RAND2 = b"\x11" * 16, b"\x22" * 16


def msk_message(counter: int = 5, **kw: object) -> bytes:
    return mbms.build_msk_message(MUK, MUK_ID, MSK_ID, MSK, counter, RAND1, DOMAIN, **kw)  # type: ignore[arg-type]


def mtk_message(counter: int = 9, msk: bytes = MSK) -> bytes:
    return mbms.build_mtk_message(msk, MSK_ID, MTK_ID, MTK, SALT, counter, RAND2,
                                  key_domain_id=DOMAIN)


def flips(data: bytes) -> list[bytes]:
    """Every single-bit change of *data*."""
    return [data[:i] + bytes((data[i] ^ (1 << b),)) + data[i + 1:]
            for i in range(len(data)) for b in range(8)]


# ------------------------------------------------------------------ keys and identifiers


def test_muk_and_mrk_are_the_naf_key_until_the_split_is_confirmed() -> None:
    assert MUK == MRK
    assert ids.muk_mrk(b"\x01" * 32) == (b"\x01" * 32, b"\x01" * 32)
    with pytest.raises(InvalidInput):
        ids.muk_mrk(b"\x01" * 16)


def test_msk_id_is_key_group_then_key_number() -> None:
    assert ids.msk_id(0x0102, 0x0304) == bytes.fromhex("01020304")
    assert ids.parse_msk_id(bytes.fromhex("01020304")) == (0x0102, 0x0304)
    assert ids.csb_id(bytes.fromhex("01020304")) == 0x01020304
    with pytest.raises(InvalidInput):
        ids.msk_id(0x10000, 0)
    with pytest.raises(CodecError):
        ids.parse_msk_id(b"\x01\x02\x03")


def test_key_domain_id_is_mcc_mnc_in_three_octets() -> None:
    assert ids.key_domain_id("001", "02") == bytes.fromhex("00f120")
    assert ids.key_domain_id("310", "410") == bytes.fromhex("130014")
    with pytest.raises(InvalidInput):
        ids.key_domain_id("01", "02")


# ------------------------------------------------------------------ MSK under the MUK


@given(msk=st.binary(min_size=16, max_size=16), counter=st.integers(1, 2**32 - 1),
       rand=st.binary(min_size=16, max_size=16), group=st.integers(0, 0xFFFF),
       number=st.integers(0, 0xFFFF))
def test_msk_delivered_is_the_msk_recovered(msk: bytes, counter: int, rand: bytes,
                                            group: int, number: int) -> None:
    msk_id = ids.msk_id(group, number)
    wire = mbms.build_msk_message(MUK, MUK_ID, msk_id, msk, counter, rand, DOMAIN)
    got = mbms.verify_msk_message(MUK, wire, counter - 1, muk_id=MUK_ID)
    assert (got.msk_id, got.msk, got.counter) == (msk_id, msk, counter)
    assert got.key_domain_id == DOMAIN
    assert got.muk_id == MUK_ID


def test_the_msk_travels_encrypted() -> None:
    wire = msk_message()
    assert MSK not in wire
    assert MUK not in wire


def test_verification_request_is_carried_in_the_v_flag() -> None:
    assert mbms.verify_msk_message(MUK, msk_message(request_verification=True), 0
                                   ).verification_requested
    assert not mbms.verify_msk_message(MUK, msk_message(), 0).verification_requested


def test_message_follows_the_profile() -> None:
    message = mikey.decode(msk_message())
    assert message.header == mikey.Header(mikey.DATA_PSK_INIT, 0x01020007)
    assert [type(p) for p in message.payloads] == [
        mikey.GeneralExtension, mikey.Timestamp, mikey.Rand, mikey.Identity, mikey.Identity,
        mikey.Kemac]
    kemac = message.all(mikey.Kemac)[0]
    assert (kemac.encr_alg, kemac.mac_alg) == (mikey.ENCR_AES_CM_128, mikey.MAC_HMAC_SHA1_160)
    assert message.all(mikey.Timestamp)[0] == mikey.Timestamp(mikey.TS_COUNTER, 5)
    assert mikey.parse_key_ids(message.all(mikey.GeneralExtension)[0]) == (
        mikey.KeyId(mikey.KEY_ID_DOMAIN, DOMAIN), mikey.KeyId(mikey.KEY_ID_MSK, MSK_ID))


def test_any_bit_flip_is_refused_and_returns_nothing() -> None:
    """Every single-bit change is refused. Where the changed octets still parse as MIKEY
    it is a MacFailure; where the change breaks the grammar (a length, a type) it is a
    CodecError, as the octets no longer say where the MAC is."""
    wire = msk_message()
    mac_failures = 0
    for changed in flips(wire):
        try:
            mikey.decode(changed)
        except CodecError:
            with pytest.raises(CodecError):
                mbms.verify_msk_message(MUK, changed, 0)
            continue
        with pytest.raises(MacFailure):
            mbms.verify_msk_message(MUK, changed, 0)
        mac_failures += 1
    assert mac_failures > 0.8 * 8 * len(wire)


@pytest.mark.parametrize("region", ["key data", "MAC", "counter", "RAND", "IDr", "CSB ID"])
def test_flips_in_each_protected_field_are_mac_failures(region: str) -> None:
    wire = msk_message()
    message = mikey.decode(wire)
    kemac = message.all(mikey.Kemac)[0]
    where = {"key data": wire.index(kemac.encr_data), "MAC": len(wire) - 20,
             "counter": wire.index(b"\x02\x00\x00\x00\x05") + 1, "RAND": wire.index(RAND1),
             "IDr": wire.index(BTID.encode()), "CSB ID": 4}[region]
    for bit in range(8):
        changed = bytearray(wire)
        changed[where] ^= 1 << bit
        with pytest.raises(MacFailure):
            mbms.verify_msk_message(MUK, bytes(changed), 0)


def test_wrong_muk_is_a_mac_failure() -> None:
    with pytest.raises(MacFailure):
        mbms.verify_msk_message(bytes(32), msk_message(), 0)


def test_replayed_counter_is_refused() -> None:
    wire = msk_message(counter=5)
    assert mbms.verify_msk_message(MUK, wire, 4).counter == 5
    for stored in (5, 6, 2**32 - 1):
        with pytest.raises(mbms.ReplayError) as caught:
            mbms.verify_msk_message(MUK, wire, stored)
        assert isinstance(caught.value, AuthError)
        assert (caught.value.counter, caught.value.last_counter) == (5, stored)


def test_mac_is_checked_before_the_counter() -> None:
    """A forged old message is a MacFailure, not a replay: only authentic messages count."""
    with pytest.raises(MacFailure):
        mbms.verify_msk_message(bytes(32), msk_message(counter=1), 10)


def test_message_for_another_muk_id_is_refused() -> None:
    with pytest.raises(AuthError):
        mbms.verify_msk_message(MUK, msk_message(), 0, muk_id=(BMSC, "other@bsf.example"))


def seal(psk: bytes, header: mikey.Header, payloads: list[mikey.Payload], counter: int,
         rand: bytes, items: list[mikey.KeyData]) -> bytes:
    """An authentic message of any shape: KEMAC appended, encrypted and MACed with the
    RFC 3830 §4.1.4 keys, as a sender that breaks the MBMS profile would."""
    keys = mikey_prf.psk_keys(psk, header.csb_id, rand)
    iv = mikey_prf.transport_iv(keys.salt_key, header.csb_id, counter.to_bytes(4, "big"))
    encrypted = mikey_prf.aes_cm_128(keys.encr_key, iv, mikey.encode_key_data(items))
    kemac = mikey.Kemac(mikey.ENCR_AES_CM_128, encrypted, mikey.MAC_HMAC_SHA1_160, bytes(20))
    covered = mikey.encode(mikey.Message(header, (*payloads, kemac)))[:-20]
    return covered + hmac.digest(keys.auth_key, covered, "sha1")


def profile(counter: int = 5, *, csb_id: int = 0x01020007, ids_: int = 2, stamps: int = 1,
            key: mikey.KeyData | None = None, ext: bytes = MSK_ID) -> bytes:
    """An MSK message under the MUK with one thing changed."""
    payloads: list[mikey.Payload] = [
        mikey.key_id_extension([mikey.KeyId(mikey.KEY_ID_MSK, ext)]),
        *[mikey.Timestamp(mikey.TS_COUNTER, counter)] * stamps, mikey.Rand(RAND1),
        *[mikey.Identity(mikey.ID_URI, BMSC.encode()),
          mikey.Identity(mikey.ID_NAI, BTID.encode())][:ids_]]
    item = key or mikey.KeyData(mikey.KEY_TGK, MSK, kv=mikey.KvSpi(MSK_ID))
    return seal(MUK, mikey.Header(mikey.DATA_PSK_INIT, csb_id), payloads, counter, RAND1, [item])


def test_the_sealing_helper_builds_what_the_builder_builds() -> None:
    assert profile() == mbms.build_msk_message(MUK, MUK_ID, MSK_ID, MSK, 5, RAND1, None)
    assert mbms.verify_msk_message(MUK, profile(), 0).msk == MSK


@pytest.mark.parametrize(("wire", "complaint"), [
    (profile(ids_=1), "ID payloads"),
    (profile(stamps=2), "T payloads"),
    (profile(csb_id=1), "CSB ID"),
    (profile(ext=b"\x01"), "MSK ID"),
    (profile(key=mikey.KeyData(mikey.KEY_TEK, MSK, kv=mikey.KvSpi(MSK_ID))), "TGK"),
    (profile(key=mikey.KeyData(mikey.KEY_TGK, MSK)), "SPI"),
])
def test_authentic_messages_off_the_profile_are_codec_errors(wire: bytes,
                                                             complaint: str) -> None:
    with pytest.raises(CodecError, match=complaint):
        mbms.verify_msk_message(MUK, wire, 0)


@given(st.binary(max_size=200))
def test_garbage_to_the_msk_verifier_is_a_codec_error(data: bytes) -> None:
    with pytest.raises(CodecError):
        mbms.verify_msk_message(MUK, data, 0)


def test_deliveries_hide_their_keys() -> None:
    msk = mbms.verify_msk_message(MUK, msk_message(), 0)
    mtk = mbms.verify_mtk_message({MSK_ID: MSK}, mtk_message(), 0)
    for secret, text in ((MSK, repr(msk)), (MTK, repr(mtk)), (SALT, repr(mtk))):
        assert secret.hex() not in text
        assert repr(secret) not in text


@pytest.mark.parametrize("kwargs", [
    {"muk": b"short"}, {"msk": b"short"}, {"msk_id": b"\x01"}, {"rand": b"\x01" * 8},
    {"counter": -1}, {"counter": 2**32}, {"muk_id": ("", BTID)}, {"key_domain_id": b"\x01"},
])
def test_builder_refuses_bad_arguments(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"muk": MUK, "muk_id": MUK_ID, "msk_id": MSK_ID, "msk": MSK,
                               "counter": 1, "rand": RAND1, "key_domain_id": DOMAIN}
    args.update(kwargs)
    with pytest.raises(InvalidInput):
        mbms.build_msk_message(**args)  # type: ignore[arg-type]


# ------------------------------------------------------------------ MTK under the MSK


def test_mtk_is_recovered_under_the_msk_the_ue_received() -> None:
    delivery = mbms.verify_msk_message(MUK, msk_message(), 0)
    got = mbms.verify_mtk_message({delivery.msk_id: delivery.msk}, mtk_message(9), 8)
    assert (got.msk_id, got.mtk_id, got.mtk, got.salt, got.counter) == (
        MSK_ID, MTK_ID, MTK, SALT, 9)


def test_mtk_under_a_wrong_msk_is_a_mac_failure() -> None:
    with pytest.raises(MacFailure):
        mbms.verify_mtk_message({MSK_ID: bytes(16)}, mtk_message(), 0)


def test_mtk_for_an_msk_not_held_is_unknown_msk() -> None:
    with pytest.raises(mbms.UnknownMsk) as caught:
        mbms.verify_mtk_message({ids.msk_id(9, 9): MSK}, mtk_message(), 0)
    assert caught.value.msk_id == MSK_ID
    assert isinstance(caught.value, MacFailure)


def test_mtk_counter_is_per_msk() -> None:
    wire = mtk_message(counter=9)
    other = ids.msk_id(9, 9)
    assert mbms.verify_mtk_message({MSK_ID: MSK}, wire, {other: 100}).counter == 9
    with pytest.raises(mbms.ReplayError):
        mbms.verify_mtk_message({MSK_ID: MSK}, wire, {MSK_ID: 9, other: 0})
    with pytest.raises(mbms.ReplayError):
        mbms.verify_mtk_message({MSK_ID: MSK}, wire, 9)


def test_any_bit_flip_of_an_mtk_message_is_refused() -> None:
    wire = mtk_message()
    for changed in flips(wire):
        with pytest.raises((MacFailure, CodecError)):
            mbms.verify_mtk_message({MSK_ID: MSK}, changed, 0)


def test_msk_message_is_not_an_mtk_message() -> None:
    """The MSK message authenticates under the MUK only; offered with the MUK as an 'MSK'
    it still lacks an MTK (the MUK is not 16 octets: refused before use)."""
    with pytest.raises(InvalidInput):
        mbms.verify_mtk_message({MSK_ID: MUK}, msk_message(), 0)
    with pytest.raises(MacFailure):
        mbms.verify_mtk_message({MSK_ID: MSK}, msk_message(), 0)


# ------------------------------------------------------------------ tshark


def _pcap(datagram: bytes) -> bytes:
    """A classic pcap (LINKTYPE_RAW, 101) with one IPv4/UDP packet to port 2269."""
    udp = struct.pack("!HHHH", 40000, 2269, 8 + len(datagram), 0) + datagram
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                               bytes((192, 0, 2, 1)), bytes((192, 0, 2, 2))))
    total = sum(struct.unpack("!10H", bytes(ip)))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    ip[10:12] = struct.pack("!H", ~total & 0xFFFF)
    record = bytes(ip) + udp
    return (struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)
            + struct.pack("<IIII", 1_700_000_000, 0, len(record), len(record)) + record)


FIELDS = ("mikey.version", "mikey.type", "mikey.v.set", "mikey.prf_func", "mikey.csb_id",
          "mikey.cs_count", "mikey.cs_id_map_type", "mikey.next_payload", "mikey.ext.type",
          "mikey.ext.data", "mikey.t.ts_type", "mikey.rand.data", "mikey.id.type",
          "mikey.id.data", "mikey.kemac.encr_alg", "mikey.kemac.key_data_len",
          "mikey.kemac.mac_alg", "mikey.kemac.mac", "_ws.malformed", "_ws.expert.severity")


def _tshark(path: Path) -> dict[str, list[str]]:
    args = ["tshark", "-n", "-r", str(path), "-d", "udp.port==2269,mikey", "-T", "fields",
            "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=|"]
    for name in FIELDS:
        args += ["-e", name]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True).stdout
    (line,) = out.splitlines()
    return {name: [v for v in value.split("|") if v]
            for name, value in zip(FIELDS, line.split("\t"), strict=True)}


@pytest.mark.interop
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_tshark_decodes_the_msk_message(tmp_path: Path) -> None:
    wire = msk_message(counter=5, request_verification=True)
    path = tmp_path / "msk.pcap"
    path.write_bytes(_pcap(wire))
    got = _tshark(path)
    mac = wire[-20:].hex()
    assert got == {
        "mikey.version": ["1"], "mikey.type": ["0"], "mikey.v.set": ["1"],
        "mikey.prf_func": ["0"], "mikey.csb_id": ["0x01020007"], "mikey.cs_count": ["0"],
        "mikey.cs_id_map_type": ["1"],
        "mikey.next_payload": ["21", "5", "11", "6", "6", "1", "0"],
        "mikey.ext.type": ["3"], "mikey.ext.data": [(bytes((0, 3)) + DOMAIN + bytes((1, 4)) +
                                                     MSK_ID).hex()],
        "mikey.t.ts_type": ["2"], "mikey.rand.data": [RAND1.hex()],
        "mikey.id.type": ["1", "0"], "mikey.id.data": [BMSC, BTID],
        "mikey.kemac.encr_alg": ["1"], "mikey.kemac.key_data_len": ["25"],
        "mikey.kemac.mac_alg": ["1"], "mikey.kemac.mac": [mac],
        "_ws.malformed": [], "_ws.expert.severity": []}
    truncated = tmp_path / "truncated.pcap"
    truncated.write_bytes(_pcap(wire[:-10]))
    assert _tshark(truncated)["_ws.malformed"]  # the check above can fail

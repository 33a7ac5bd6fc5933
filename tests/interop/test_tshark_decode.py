"""Wireshark (tshark) reads our Zh and Zn exchanges without a malformed packet.

The messages are what our handlers answer in-process: the HSS's MAR handler
(:meth:`gba.nf.hss.Hss.handle`) and the BSF's BIR handler (:meth:`gba.nf.bsf.Bsf.zn`),
each given requests from our builders. They are written, byte for byte, into a classic
pcap file as two plain TCP conversations (Diameter without TLS, as with ``zn_tls =
false``), with Ethernet/IPv4/TCP headers of correct lengths and checksums and a three-way
handshake, and tshark dissects the file with both ports decoded as Diameter. Checked:
no malformed or error-level frame, no unknown AVP; the MAR carries neither
SIP-Number-Auth-Items nor GBA_U-Awareness-Indicator and its GUSS-Timestamp has the M bit
clear (TS 29.109 §4.2, §6.3.1.10); the BIA carries exactly one GBA-UserSecSettings and no
UICC-ME (§4.5, §6.3.1.1); an unsupported M-bit AVP is answered 5001 (RFC 6733 §4.1).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gba.config import DiameterNodeConfig
from gba.crypto import kdf, ua_protocols
from gba.nf.bsf import Bsf, NafPolicy
from gba.nf.common import peer_identity
from gba.nf.hss import Hss
from gba.protocols import guss, zh, zn
from gba.protocols.diameter import Message, avp
from gba.store.base import BootstrapContext, Subscriber
from gba.store.factory import open_bsf_store, open_subscriber_store
from vectors import ts35208_set

pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")]

ZH_PORT, ZN_PORT = 13868, 13869  # not 3868: tshark decodes them only because we ask
HSS_IP, BSF_IP, NAF_IP = "192.0.2.20", "192.0.2.10", "192.0.2.30"
IMPI = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
SERVER = "bsf.mnc001.mcc001.pub.3gppnetwork.org"
NAF_HOST = "naf.example.org"
NAF_ID = NAF_HOST.encode() + ua_protocols.HTTP_DIGEST
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
GUSS = guss.encode_guss(guss.Guss(guss.UICC_GBA_U, 3600, (
    guss.Uss("1", "1", None, ("sip:alice@example.org",), ("1",)),
    guss.Uss("4", "4", None, ("sip:alice@example.org",))), IMPI))
HSS_ID = peer_identity(DiameterNodeConfig("hss.example.org", "example.org"))
BSF_ID = peer_identity(DiameterNodeConfig("bsf.example.org", "example.org"))
NAF_ID_PEER = peer_identity(DiameterNodeConfig(NAF_HOST, "example.org"))


# ------------------------------------------------------------------ a pcap writer


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ip(address: str) -> bytes:
    return bytes(int(part) for part in address.split("."))


class TcpFlow:
    """One TCP connection: sequence numbers advance by the payload each side sends."""

    SYN, ACK, PSH = 0x02, 0x10, 0x08

    def __init__(self, client: tuple[str, int], server: tuple[str, int]) -> None:
        self.ends = {"c": client, "s": server}
        self.seq = {"c": 1000, "s": 5000}
        self.frames: list[bytes] = []
        self.segment("c", self.SYN)
        self.segment("s", self.SYN | self.ACK)
        self.segment("c", self.ACK)

    def segment(self, side: str, flags: int, payload: bytes = b"") -> None:
        other = "s" if side == "c" else "c"
        (src, sport), (dst, dport) = self.ends[side], self.ends[other]
        ack = self.seq[other] if flags & self.ACK else 0
        tcp = struct.pack("!HHIIBBHHH", sport, dport, self.seq[side], ack, 5 << 4, flags,
                          65535, 0, 0)
        pseudo = _ip(src) + _ip(dst) + struct.pack("!BBH", 0, 6, len(tcp) + len(payload))
        tcp = tcp[:16] + struct.pack("!H", _checksum(pseudo + tcp + payload)) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload),
                         len(self.frames) + 1, 0x4000, 64, 6, 0, _ip(src), _ip(dst))
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        ether = bytes.fromhex("020000000002" "020000000001") + b"\x08\x00"
        self.frames.append(ether + ip + tcp + payload)
        self.seq[side] = (self.seq[side] + len(payload) + (1 if flags & self.SYN else 0)) \
            & 0xFFFFFFFF

    def send(self, side: str, message: Message) -> None:
        self.segment(side, self.PSH | self.ACK, message.encode())


def write_pcap(path: Path, frames: list[bytes]) -> None:
    """A classic pcap (magic a1b2c3d4, version 2.4, LINKTYPE_ETHERNET)."""
    out = [struct.pack("!IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i, frame in enumerate(frames):
        out.append(struct.pack("!IIII", 1795608000 + i, 0, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))


# ------------------------------------------------------------------ the exchanges


@pytest.fixture
async def hss() -> AsyncIterator[Hss]:
    store = open_subscriber_store("memory:")
    k, opc = ts35208_set(1)
    await store.put_subscriber(Subscriber(IMPI, k, opc, guss=GUSS))
    yield Hss(store, HSS_ID)
    await store.close()


async def _no_vector(_: zh.VectorRequest) -> zh.VectorAnswer | int:
    raise AssertionError("not on Zn")


@pytest.fixture
async def bsf() -> AsyncIterator[Bsf]:
    store = open_bsf_store("memory:")
    rand = bytes(range(16))
    await store.put_context(BootstrapContext(
        btid=kdf.btid(rand, SERVER), impi=IMPI, ks=bytes(range(100, 132)), rand=rand,
        created=NOW - timedelta(minutes=1), expires=NOW + timedelta(hours=1), guss=GUSS,
        gba_u=True))
    yield Bsf(store, _no_vector, BSF_ID, realm="example.org", server_name=SERVER,
              policy=NafPolicy({NAF_HOST: frozenset({NAF_HOST})}),
              key_lifetime=timedelta(hours=1), clock=lambda: NOW)
    await store.close()


def _with_uicc_me(request: Message) -> Message:
    """The request with an M-bit UICC-ME (a Zpn AVP): answered 5001."""
    return request.with_avps([*request.avps, avp("UICC-ME", "GBA_U")])


@pytest.fixture
async def capture(hss: Hss, bsf: Bsf, tmp_path: Path) -> Path:
    zh_flow = TcpFlow((BSF_IP, 40001), (HSS_IP, ZH_PORT))
    requests = [
        zh.build_mar(BSF_ID, "example.org", "bsf.example.org;1;1",
                     zh.VectorRequest(IMPI, gba_u_aware=True, guss_timestamp=NOW)),
        _with_uicc_me(zh.build_mar(BSF_ID, "example.org", "bsf.example.org;1;2",
                                   zh.VectorRequest(IMPI))),
    ]
    for n, request in enumerate(requests, start=1):
        request = request.with_ids(n, 0x100 + n)
        zh_flow.send("c", request)
        zh_flow.send("s", await hss.handle(Message.decode(request.encode()), BSF_ID.origin_host))
    zn_flow = TcpFlow((NAF_IP, 40002), (BSF_IP, ZN_PORT))
    btid = kdf.btid(bytes(range(16)), SERVER)
    key_request = zn.KeyRequest(btid, NAF_ID, (b"1", b"4"), gba_u_aware=True)
    requests = [
        zn.build_bir(NAF_ID_PEER, "example.org", "naf.example.org;1;1", key_request),
        _with_uicc_me(zn.build_bir(NAF_ID_PEER, "example.org", "naf.example.org;1;2",
                                   key_request)),
    ]
    for n, request in enumerate(requests, start=1):
        request = request.with_ids(0x10 + n, 0x200 + n)
        zn_flow.send("c", request)
        zn_flow.send("s", await bsf.zn(Message.decode(request.encode()), NAF_HOST))
    path = tmp_path / "zh-zn.pcap"
    write_pcap(path, zh_flow.frames + zn_flow.frames)
    return path


# ------------------------------------------------------------------ tshark

FIELDS = ("frame.number", "_ws.malformed", "_ws.expert.severity", "diameter.cmd.code",
          "diameter.flags.request", "diameter.applicationId", "diameter.Result-Code",
          "diameter.avp.code", "diameter.flags.mandatory", "diameter.GBA-UserSecSettings",
          "diameter.avp.code.unknown", "diameter.avp.invalid-len")


def tshark(path: Path, *args: str) -> str:
    return subprocess.run(
        ["tshark", "-n", "-r", str(path), "-d", f"tcp.port=={ZH_PORT},diameter",
         "-d", f"tcp.port=={ZN_PORT},diameter", *args],
        capture_output=True, text=True, timeout=60, check=True).stdout


def diameter_frames(path: Path) -> list[dict[str, list[str]]]:
    args = ["-Y", "diameter", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
            "-E", "aggregator=|"]
    for name in FIELDS:
        args += ["-e", name]
    rows = []
    for line in tshark(path, *args).splitlines():
        values = line.split("\t")
        rows.append({name: [v for v in value.split("|") if v]
                     for name, value in zip(FIELDS, values, strict=True)})
    return rows


@pytest.fixture
def frames(capture: Path) -> list[dict[str, list[str]]]:
    return diameter_frames(capture)


def _mandatory(frame: dict[str, list[str]], code: str) -> list[bool]:
    """The M flags of every AVP *code* in the frame, grouped children included (tshark
    lists diameter.avp.code and diameter.flags.mandatory in the same order)."""
    codes, flags = frame["diameter.avp.code"], frame["diameter.flags.mandatory"]
    assert len(codes) == len(flags)
    return [flag in ("1", "True") for c, flag in zip(codes, flags, strict=True) if c == code]


def test_no_frame_is_malformed_or_an_error(capture: Path) -> None:
    bad = tshark(capture, "-Y", "_ws.malformed || _ws.expert.severity == error "
                 "|| diameter.avp.code.unknown || diameter.avp.invalid-len")
    assert bad == ""


def test_every_message_is_dissected_as_diameter(frames: list[dict[str, list[str]]]) -> None:
    assert [(f["diameter.cmd.code"], f["diameter.flags.request"]) for f in frames] == [
        ([code], [request]) for code in ("303", "310") for request in ("1", "0", "1", "0")]
    assert [f["diameter.applicationId"] for f in frames] == [["16777221"]] * 4 + [
        ["16777220"]] * 4


def test_the_malformed_check_does_catch_a_broken_avp(tmp_path: Path) -> None:
    """The check above can fail: an AVP whose length overruns the message is flagged."""
    flow = TcpFlow((NAF_IP, 40003), (BSF_IP, ZN_PORT))
    wire = bytearray(zn.build_bir(NAF_ID_PEER, "example.org", "naf.example.org;9;9",
                                  zn.KeyRequest("x@bsf", NAF_ID)).encode())
    naf_id_avp = len(wire) - (12 + len(NAF_ID))  # the last AVP, vendor header, no padding
    assert int.from_bytes(wire[naf_id_avp:naf_id_avp + 4], "big") == 402
    wire[naf_id_avp + 5] = 0x01  # its 3-byte length now exceeds 65536
    flow.segment("c", TcpFlow.PSH | TcpFlow.ACK, bytes(wire))
    path = tmp_path / "broken.pcap"
    write_pcap(path, flow.frames)
    assert tshark(path, "-Y", "_ws.malformed || _ws.expert.severity == error "
                  "|| diameter.avp.invalid-len") != ""


def test_mar_has_neither_607_nor_407_and_guss_timestamp_is_not_mandatory(
        frames: list[dict[str, list[str]]]) -> None:
    mar = frames[0]
    assert "607" not in mar["diameter.avp.code"]
    assert "407" not in mar["diameter.avp.code"]
    assert _mandatory(mar, "409") == [False]


def test_maa_carries_one_guss_and_no_607(frames: list[dict[str, list[str]]]) -> None:
    maa = frames[1]
    assert maa["diameter.Result-Code"] == ["2001"]
    assert len(maa["diameter.GBA-UserSecSettings"]) == 1
    assert "607" not in maa["diameter.avp.code"]


def test_bia_carries_exactly_one_gba_usersecsettings_and_no_uicc_me(
        frames: list[dict[str, list[str]]], capture: Path) -> None:
    bia = frames[5]
    assert bia["diameter.Result-Code"] == ["2001"]
    assert len(bia["diameter.GBA-UserSecSettings"]) == 1
    assert bia["diameter.avp.code"].count("400") == 1
    assert "414" not in bia["diameter.avp.code"]
    assert "406" in bia["diameter.avp.code"]  # UICC-Key-Material: the NAF's GBA_U signal
    raw = bytes.fromhex(bia["diameter.GBA-UserSecSettings"][0].replace(":", ""))
    assert guss.decode_uss_list(raw) == guss.decode_guss(GUSS).uss


@pytest.mark.parametrize("index", [3, 7])
def test_unsupported_mandatory_avp_is_answered_5001(frames: list[dict[str, list[str]]],
                                                    index: int) -> None:
    answer = frames[index]
    assert answer["diameter.Result-Code"] == ["5001"]
    assert "279" in answer["diameter.avp.code"]  # Failed-AVP
    assert "414" in answer["diameter.avp.code"]  # carrying the UICC-ME it refused

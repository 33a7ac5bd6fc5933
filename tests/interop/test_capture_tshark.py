"""tshark reads a lab's capture (``gba lab up --capture``) with nothing malformed.

A lab with the sample network (Zh and Zn over mutual TLS) records every function's
traffic; a UE bootstraps (Ub), fetches a Digest-protected NAF resource (Ua, 401 then
200) and a PSK-TLS one; ``gba lab down`` merges the parts. tshark, told which ports
carry HTTP and which TLS carries Diameter, finds no malformed or error-level frame, both
HTTP answers, the PSK-TLS exchange (recorded above TLS, marked by a frame comment) and,
with the key log beside the capture, the decrypted Zh MAR/MAA (303) and Zn BIR/BIA (310).
SIP over UDP, recorded by the tap of an in-process server, decodes as well.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from e2e.labctl import Lab, Subscriber, gba, impi_for, lab_down, provision
from gba.capture import tap
from gba.capture.pcapng_sink import PcapngSink
from gba.crypto import ua_protocols
from gba.ue.client import GbaClient

pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")]

TSHARK_TIMEOUT = 60.0
UE_TIMEOUT = 30.0


def _port(address: str) -> int:
    return int(address.rpartition(":")[2])


def tshark(capture: Path, decode: list[str], *args: str) -> str:
    proc = subprocess.run(["tshark", "-n", "-r", str(capture), *decode, *args],
                          capture_output=True, text=True, timeout=TSHARK_TIMEOUT, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def decode_as(info: dict[str, Any]) -> list[str]:
    """HTTP on Ub, Ua and PSK-TLS (its plaintext), TLS then Diameter on Zh and Zn.

    TLS tries its heuristic dissectors before its port table until a session's protocol
    is known, and the RDP multi-transport heuristic takes the first decrypted Diameter
    message (a CER starts with 01, its "action"): it is disabled."""
    http = [_port(info["bsf_url"].rstrip("/")), _port(info["naf_url"]),
            int(info["naf_psk_tls_port"])]
    diameter = [_port(info["hss_zh"]), _port(info["bsf_zn"])]
    out: list[str] = ["--disable-protocol", "rdpmt"]
    for port in http:
        out += ["-d", f"tcp.port=={port},http"]
    for port in diameter:
        out += ["-d", f"tcp.port=={port},tls", "-d", f"tls.port=={port},diameter"]
    return out


async def use_the_lab(lab: Lab, info: dict[str, Any], sub: Subscriber) -> bytes:
    async with GbaClient(sub.impi, sub.usim(), lab.bsf_url) as ue:
        reply = await ue.fetch_digest(f"{lab.naf_url}/resource", lab.naf_fqdn)
        assert reply.status == 200
        return await ue.fetch_psk_tls(str(info["naf_host"]), int(info["naf_psk_tls_port"]),
                                      lab.naf_fqdn,
                                      ciphersuite=ua_protocols.TLS_PSK_WITH_AES_128_CBC_SHA)


def test_lab_capture_decodes_in_tshark(tmp_path: Path) -> None:
    lab_dir, capture = tmp_path / "lab", tmp_path / "capture.pcapng"
    keys = tmp_path / "capture.keys"
    gba("lab", "up", "--dir", lab_dir, "--capture", capture)
    try:
        info: dict[str, Any] = json.loads((lab_dir / "lab.json").read_text(encoding="utf-8"))
        assert info["capture"] == str(capture.resolve())
        assert info["keylog"] == str(keys.resolve())
        started = Lab.read(lab_dir)
        sub = Subscriber.fresh(impi_for("capture", started.realm))
        provision(started.config, [sub])
        body = asyncio.run(asyncio.wait_for(use_the_lab(started, info, sub), UE_TIMEOUT))
        assert body.startswith(b"HTTP/1.1 200")
    finally:
        lab_down(lab_dir)

    assert capture.stat().st_mode & 0o777 == 0o600
    assert keys.stat().st_mode & 0o777 == 0o600
    decode = [*decode_as(info), "-o", f"tls.keylog_file:{keys}"]
    frames = tshark(capture, decode).splitlines()
    assert len(frames) > 50
    bad = tshark(capture, decode, "-Y", "_ws.malformed || _ws.expert.severity == error")
    assert bad == "", bad

    codes = Counter(tshark(capture, decode, "-Y", "http.response", "-T", "fields",
                           "-e", "http.response.code").split())
    assert codes["401"] >= 2, codes  # Ub and Ua
    assert codes["200"] >= 3, codes  # Ub, Ua and PSK-TLS
    psk = tshark(capture, decode, "-Y",
                 f'http.response.code == 200 && tcp.srcport == {info["naf_psk_tls_port"]} '
                 '&& frame.comment contains "PSK-TLS"')
    assert psk.strip(), "the PSK-TLS response, recorded above TLS, is missing"

    diameter: Counter[tuple[str, bool]] = Counter()
    for line in tshark(capture, decode, "-Y", "diameter", "-T", "fields",
                       "-e", "diameter.cmd.code", "-e", "diameter.flags.request").splitlines():
        code, request = line.split("\t")
        diameter[code, request in ("1", "True")] += 1  # tshark 4.0 prints 1, later True
    for code in ("303", "310"):  # MAR/MAA on Zh, BIR/BIA on Zn (TS 29.109)
        assert diameter[code, True] >= 1, diameter
        assert diameter[code, False] >= 1, diameter
    without_keys = tshark(capture, decode_as(info), "-Y", "diameter.cmd.code == 303")
    assert without_keys == "", "Zh was readable without the key log: not TLS?"

    # the decrypted sidecar: owner-only, and `gba trace` shows Zh/Zn inside TLS from it
    sidecar = tmp_path / "capture.decrypted.pcapng"
    assert info["decrypted"] == str(sidecar.resolve())
    assert sidecar.stat().st_mode & 0o777 == 0o600
    assert tshark(sidecar, [], "-Y", "_ws.malformed || _ws.expert.severity == error") == ""
    drawn = gba("trace", capture, "--lab", lab_dir / "lab.json", "--width", "400")
    for summary in ("MAR (Zh)", "MAA (Zh) 2001", "BIR (Zn)", "BIA (Zn) 2001", "401"):
        assert summary in drawn, drawn
    assert "TLS application data" not in drawn, drawn


SIP_OPTIONS = (
    "OPTIONS sip:naf.example.org SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK776asdhds\r\n"
    "Max-Forwards: 70\r\nTo: <sip:naf.example.org>\r\n"
    "From: <sip:ue@example.org>;tag=1928301774\r\nCall-ID: a84b4c76e66710\r\n"
    "CSeq: 63104 OPTIONS\r\nContent-Length: 0\r\n\r\n")


class SipAnswer(asyncio.DatagramProtocol):
    """Answers any request 200 OK, copying Via, From, To, Call-ID and CSeq (RFC 3261 §8.2.6)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.DatagramTransport)
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        head = data.decode().split("\r\n\r\n")[0].split("\r\n")[1:]
        keep = [h for h in head if h.split(":")[0] in ("Via", "From", "To", "Call-ID", "CSeq")]
        answer = "\r\n".join(["SIP/2.0 200 OK", *keep, "Content-Length: 0", "", ""])
        self.transport.sendto(answer.encode(), addr)


def sip_ask(server: tuple[str, int]) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(UE_TIMEOUT)
        sock.sendto(SIP_OPTIONS.format(port=sock.getsockname()[1]).encode(), server)
        return sock.recv(4096)


def test_sip_over_udp_decodes_in_tshark(tmp_path: Path) -> None:
    capture = tmp_path / "sip.pcapng"
    ports: list[int] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server, _ = await loop.create_datagram_endpoint(SipAnswer,
                                                        local_addr=("127.0.0.1", 0))
        ports.append(server.get_extra_info("sockname")[1])
        answer = await loop.run_in_executor(None, sip_ask, ("127.0.0.1", ports[0]))
        assert answer.startswith(b"SIP/2.0 200 OK")
        server.close()

    tap.run(asyncio.wait_for(main(), UE_TIMEOUT), recorder="sip",
            sinks=[PcapngSink(capture, "sip")])
    decode = ["-d", f"udp.port=={ports[0]},sip"]
    assert len(tshark(capture, decode).splitlines()) == 2
    assert tshark(capture, decode, "-Y", "_ws.malformed || _ws.expert.severity == error") == ""
    assert tshark(capture, decode, "-Y", 'sip.Method == "OPTIONS"').strip()
    assert tshark(capture, decode, "-Y", "sip.Status-Code == 200").strip()

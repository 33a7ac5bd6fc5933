"""RecentMessages: the status page's ring of message summaries, fed by the tap."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest
import tomli_w

from gba import config
from gba.capture import tap
from gba.capture.events import Segment
from gba.capture.recent import RecentMessages
from gba.cli.network_cmd import _sinks
from gba.config import Topology
from gba.nf import registry
from gba.protocols import zh
from gba.protocols.diameter import PeerIdentity
from gba.protocols.diameter.capabilities import build_dwa, build_dwr

UE, BSF = ("127.0.0.1", 40000), ("127.0.0.1", 8080)
BSF_CLIENT, HSS = ("127.0.0.1", 41000), ("127.0.0.1", 3868)
IMPI = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
BSF_ID = PeerIdentity("bsf.example.org", "example.org", (IPv4Address("127.0.0.1"),))
HSS_ID = PeerIdentity("hss.example.org", "example.org", (IPv4Address("127.0.0.1"),))
XRES, CK, IK = b"\x11" * 8, b"\x22" * 16, b"\x33" * 16


def tls_record(content: int, body: bytes) -> bytes:
    return bytes([content, 3, 3]) + len(body).to_bytes(2, "big") + body


def test_http_is_kept_as_summaries_oldest_first() -> None:
    ring = RecentMessages(10)
    ring.segment(Segment(1.0, "tcp", UE, BSF, "open", 1, recorder="bsf"))
    ring.segment(Segment(1.1, "tcp", UE, BSF, "data", 1,
                         b"GET / HTTP/1.1\r\nHost: bsf\r\n\r\n", recorder="bsf"))
    ring.segment(Segment(1.2, "tcp", BSF, UE, "data", 1,
                         b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
                         recorder="bsf"))
    shown = ring.snapshot()
    assert [m["summary"] for m in shown] == ["GET /", "401 Unauthorized"]
    assert shown[0]["src"] == "127.0.0.1:40000"
    assert shown[0]["dst"] == "127.0.0.1:8080"
    assert shown[0]["recorder"] == "bsf"


def test_a_tls_connection_is_shown_from_above_tls() -> None:
    """Zh over TLS: the wire holds TLS records, the decrypted layer the MAR and MAA; the
    ring shows the Diameter messages and no TLS record, and no key of the MAA."""
    request = zh.build_mar(BSF_ID, "example.org", "bsf.example.org;1;2",
                           zh.VectorRequest(IMPI))
    answer = zh.build_maa(request, HSS_ID, zh.VectorAnswer(
        IMPI, rand=bytes(16), autn=bytes(range(16)), xres=XRES, ck=CK, ik=IK))
    ring = RecentMessages(10)
    ring.segment(Segment(1.0, "tcp", BSF_CLIENT, HSS, "open", 7, recorder="bsf"))
    ring.segment(Segment(1.1, "tcp", BSF_CLIENT, HSS, "data", 7,
                         tls_record(22, b"\x01\x00\x00\x00"), recorder="bsf"))
    ring.segment(Segment(1.2, "tcp", BSF_CLIENT, HSS, "data", 7,
                         tls_record(23, b"x" * 40), recorder="bsf"))
    ring.segment(Segment(1.2, "tcp", BSF_CLIENT, HSS, "data", 7, request.encode(),
                         recorder="bsf", layer="decrypted"))
    ring.segment(Segment(1.3, "tcp", HSS, BSF_CLIENT, "data", 7, answer.encode(),
                         recorder="bsf", layer="decrypted"))
    shown = ring.snapshot()
    assert [m["summary"] for m in shown] == [f"MAR (Zh) {IMPI}", "MAA (Zh) 2001"]
    text = repr(shown)
    for secret in (XRES, CK, IK):
        assert secret.hex() not in text
        assert repr(secret) not in text


def test_the_ring_keeps_only_the_last_messages() -> None:
    ring = RecentMessages(3)
    for i in range(5):
        ring.segment(Segment(float(i), "udp", UE, BSF, "data", 0,
                             f"OPTIONS sip:{i}@x SIP/2.0\r\nContent-Length: 0\r\n\r\n".encode(),
                             recorder="p"))
    assert len(ring.snapshot()) == 3
    assert "sip:4@x" in ring.snapshot()[-1]["summary"]


def test_a_segment_it_cannot_handle_is_counted_not_raised() -> None:
    ring = RecentMessages(3)
    ring.segment(object())  # type: ignore[arg-type]
    assert ring.dropped == 1
    assert ring.snapshot() == []


def test_the_status_site_itself_is_left_out() -> None:
    status = ("127.0.0.1", 9100)
    ring = RecentMessages(10, ignore=frozenset({status}))
    ring.segment(Segment(1.0, "tcp", UE, status, "open", 2, recorder="bsf"))
    ring.segment(Segment(1.1, "tcp", UE, status, "data", 2,
                         b"GET /status.json HTTP/1.1\r\nHost: x\r\n\r\n", recorder="bsf"))
    ring.segment(Segment(1.2, "tcp", UE, BSF, "data", 3,
                         b"GET / HTTP/1.1\r\nHost: bsf\r\n\r\n", recorder="bsf"))
    assert [m["summary"] for m in ring.snapshot()] == ["GET /"]


def test_diameter_watchdogs_are_left_out() -> None:
    dwr = build_dwr(BSF_ID)
    ring = RecentMessages(10)
    ring.segment(Segment(1.0, "tcp", BSF_CLIENT, HSS, "data", 4, dwr.encode(), recorder="b"))
    ring.segment(Segment(1.1, "tcp", HSS, BSF_CLIENT, "data", 4,
                         build_dwa(dwr, HSS_ID).encode(), recorder="b"))
    assert ring.snapshot() == []


def _topology(tmp_path: Path, recent: int) -> Topology:
    data = config.normalise(config.load(config.SAMPLE_CONFIG).raw)
    data["functions"]["bsf"] |= {"metrics_listen": "127.0.0.1:0", "recent_messages": recent}
    path = tmp_path / "network.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return registry.load(path)


def test_serve_feeds_the_ring_only_where_status_is_served(tmp_path: Path) -> None:
    topology = _topology(tmp_path, 200)
    assert [type(s).__name__ for s in _sinks(topology, "bsf", None)] == ["RecentMessages"]
    assert _sinks(topology, "hss", None) == []  # no metrics_listen: no tap at all
    assert _sinks(_topology(tmp_path, 0), "bsf", None) == []


def test_without_the_tap_hooks_a_function_serves_without_its_ring(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
        ) -> None:
    def missing() -> None:
        raise tap.CaptureError("no hooks here")

    monkeypatch.setattr(tap, "check_hooks", missing)
    assert _sinks(_topology(tmp_path, 200), "bsf", None) == []
    assert "no recent messages for the status page" in caplog.text

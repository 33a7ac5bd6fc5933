"""Participants and the text, Mermaid and SVG renderers; nothing secret reaches any of them."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from ipaddress import IPv4Address
from pathlib import Path

import defusedxml.ElementTree as SafeET
import pytest
from typer.testing import CliRunner

from gba.capture.events import Segment
from gba.cli.main import app
from gba.protocols import zh, zn
from gba.protocols.diameter import PeerIdentity
from gba.trace import flows, load
from gba.trace.assemble import messages
from gba.trace.model import TracedMessage, from_json, to_json
from gba.trace.render import Directory, participants, to_mermaid, to_svg, to_text

SVG = "{http://www.w3.org/2000/svg}"
UE = ("127.0.0.1", 50000)
BSF_UB = ("127.0.0.1", 8080)
BSF_ZN = ("127.0.0.1", 3869)
BSF_OUT = ("127.0.0.1", 51000)
HSS_ZH = ("127.0.0.1", 3868)
NAF_HTTP = ("127.0.0.1", 8443)
NAF_OUT = ("127.0.0.1", 52000)
IMPI = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
BTID = "kZP1zZPcOmAgHZH0DZwfxA==@bsf.mnc001.mcc001.pub.3gppnetwork.org"
LAB = {"functions": {
    "hss": {"kind": "hss", "endpoints": {"zh": "127.0.0.1:3868", "rest": "127.0.0.1:9000"}},
    "bsf": {"kind": "bsf", "endpoints": {"ub": "127.0.0.1:8080", "zn": "127.0.0.1:3869"}},
    "naf": {"kind": "naf", "endpoints": {"http": "127.0.0.1:8443"}}}}
DIRECTORY = load.directory_from_lab(LAB)

# Secrets with recognisable values: none may appear in any rendering.
RAND = bytes.fromhex("23553cbe9637a89d218ae64dae47bf35")
AUTN = bytes.fromhex("aa689c648370000087f7a5b1c6a4b0a1")
RES = bytes.fromhex("a54211d5e3ba50bf")
CK = bytes.fromhex("b40ba9a3c58b2a05bbf0d987b21bf8cb")
IK = bytes.fromhex("f769bcd751044604127672711c6d3441")
KS_NAF = bytes.fromhex("5f1a2b3c4d5e6f708192a3b4c5d6e7f8" * 2)
DIGEST_RESPONSE = "6629fae49393a05397450978507c4ef1"
PASSWORD = "s3cr3t-pa55word"
NONCE = base64.b64encode(RAND + AUTN).decode()
SECRETS = [s for raw in (RAND, AUTN, RES, CK, IK, KS_NAF)
           for s in (raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode())]
SECRETS += [DIGEST_RESPONSE, PASSWORD, NONCE]

BSF_ID = PeerIdentity("bsf.example.org", "example.org", (IPv4Address("127.0.0.1"),))
HSS_ID = PeerIdentity("hss.example.org", "example.org", (IPv4Address("127.0.0.1"),))
NAF_ID = PeerIdentity("naf.example.org", "example.org", (IPv4Address("127.0.0.1"),))


def data(t: float, src: tuple[str, int], dst: tuple[str, int], payload: bytes, conn: int,
         recorder: str) -> Segment:
    return Segment(t, "tcp", src, dst, "data", conn, payload, recorder=recorder)


def bootstrap_segments() -> list[Segment]:
    """Ub with a Zh round trip, then Ua with a Zn round trip, every secret on the wire."""
    mar = zh.build_mar(BSF_ID, "example.org", "s;1", zh.VectorRequest(IMPI))
    maa = zh.build_maa(mar, HSS_ID, zh.VectorAnswer(IMPI, RAND, AUTN, RES, CK, IK))
    bir = zn.build_bir(NAF_ID, "example.org", "s;2", zn.KeyRequest(BTID, b"naf\x01\x00"))
    bia = zn.build_bia(bir, BSF_ID, zn.KeyAnswer(
        IMPI, datetime(2030, 1, 1, tzinfo=UTC), datetime(2029, 1, 1, tzinfo=UTC),
        me_key=KS_NAF))
    challenge = (f'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm="bsf", '
                 f'nonce="{NONCE}", algorithm=AKAv1-MD5\r\nContent-Length: 0\r\n\r\n')
    answer = (f'GET / HTTP/1.1\r\nAuthorization: Digest username="{IMPI}", nonce="{NONCE}", '
              f'response="{DIGEST_RESPONSE}", password="{PASSWORD}"\r\n\r\n')
    ok = (f"HTTP/1.1 200 OK\r\nContent-Length: {len(PASSWORD) + len(RES.hex())}\r\n\r\n"
          f"{PASSWORD}{RES.hex()}")
    ua = (f'GET /res?k={KS_NAF.hex()} HTTP/1.1\r\nAuthorization: Digest username="{BTID}", '
          f'response="{DIGEST_RESPONSE}"\r\n\r\n')
    return [
        data(1.0, UE, BSF_UB, f'GET / HTTP/1.1\r\nAuthorization: Digest username="{IMPI}", '
             'response=""\r\n\r\n'.encode(), 1, "bsf"),
        data(1.1, BSF_OUT, HSS_ZH, mar.encode(), 2, "hss"),
        data(1.2, HSS_ZH, BSF_OUT, maa.encode(), 2, "hss"),
        data(1.3, BSF_UB, UE, challenge.encode(), 1, "bsf"),
        data(1.4, UE, BSF_UB, answer.encode(), 1, "bsf"),
        data(1.5, BSF_UB, UE, ok.encode(), 1, "bsf"),
        data(2.0, UE, NAF_HTTP, ua.encode(), 3, "naf"),
        data(2.1, NAF_OUT, BSF_ZN, bir.encode(), 4, "naf"),
        data(2.2, BSF_ZN, NAF_OUT, bia.encode(), 4, "naf"),
        data(2.3, NAF_HTTP, UE, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", 3, "naf"),
    ]


EXPECTED = [
    ("UE", "BSF", f"GET / (Digest username={IMPI})"),
    ("BSF", "HSS", f"MAR (Zh) {IMPI}"),
    ("HSS", "BSF", "MAA (Zh) 2001"),
    ("BSF", "UE", "401 Unauthorized"),
    ("UE", "BSF", f"GET / (Digest username={IMPI})"),
    ("BSF", "UE", "200 OK"),
    ("UE", "NAF", f"GET /res (Digest username={BTID})"),
    ("NAF", "BSF", f"BIR (Zn) B-TID {BTID}"),
    ("BSF", "NAF", "BIA (Zn) 2001"),
    ("NAF", "UE", "200 OK"),
]


@pytest.fixture
def flow() -> list[TracedMessage]:
    return messages(bootstrap_segments())


def test_participants_from_lab_and_recorders(flow: list[TracedMessage]) -> None:
    names = participants(flow, DIRECTORY)
    assert [(names[m.src], names[m.dst], m.summary) for m in flow] == EXPECTED


def test_participants_without_a_lab() -> None:
    found = [TracedMessage(1.0, UE, BSF_UB, "HTTP", "GET /", "request")]
    assert set(participants(found).values()) == {"127.0.0.1:50000", "127.0.0.1:8080"}


def test_text_columns_and_numbered_lines(flow: list[TracedMessage]) -> None:
    wide = to_text(flow, DIRECTORY, width=400)
    lines = wide.splitlines()
    assert lines[0].split() == ["UE", "BSF", "HSS", "NAF"]
    assert len(lines) == 1 + len(flow)
    assert f"|-- GET / (Digest username={IMPI}) " in lines[1]
    assert lines[1].count("|") == 4
    assert "<-- 401 Unauthorized --" in lines[4]
    narrow = to_text(flow, DIRECTORY, width=80)
    assert narrow.splitlines()[1] == f" 2  +0.100s  BSF -> HSS  Diameter  MAR (Zh) {IMPI}"
    for i, (src, dst, summary) in enumerate(EXPECTED, 1):
        line = narrow.splitlines()[i - 1]
        assert line.startswith(f"{i:>2}  ")
        assert f"{src} -> {dst}" in line
        assert line.endswith(summary)
    assert to_text([], DIRECTORY) == "(no messages)\n"


def test_mermaid_has_every_arrow(flow: list[TracedMessage]) -> None:
    text = to_mermaid(flow, DIRECTORY, title="bootstrap; #1")
    lines = text.splitlines()
    assert lines[0] == "sequenceDiagram"
    assert "    title bootstrap, \uff031" in lines
    ids = {line.split()[3]: line.split()[1] for line in lines if "participant" in line}
    for src, dst, summary in EXPECTED:
        arrow = "-->>" if summary[0].isdigit() or " 2001" in summary else "->>"
        assert f"    {ids[src]}{arrow}{ids[dst]}: {summary}" in lines


def test_svg_parses_with_one_text_per_message(flow: list[TracedMessage]) -> None:
    svg = to_svg(flow, DIRECTORY, title="A <bootstrap> & more")
    root = SafeET.fromstring(svg.encode())
    assert root.tag == f"{SVG}svg"
    texts = root.findall(f"{SVG}text")
    labels = [t.text for t in texts if t.get("class") == "msg"]
    assert labels == [summary for _, _, summary in EXPECTED]
    assert [t.text for t in texts if t.get("class") == "name"] == ["UE", "BSF", "HSS", "NAF"]
    assert [t.text for t in texts if t.get("class") == "title"] == ["A <bootstrap> & more"]
    assert len(root.findall(f"{SVG}line[@class='arrow']")) == len(flow)
    assert "<script" not in svg
    assert "href" not in svg
    empty = SafeET.fromstring(to_svg([], None).encode())
    assert empty.findall(f"{SVG}text") == []


def test_no_key_material_in_any_output(flow: list[TracedMessage], tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    flows.write_events(log, [(flows.Window(1, "boot", 0.5, 3.0), flow)], LAB)
    outputs = [to_text(flow, DIRECTORY, width=400), to_text(flow, DIRECTORY, width=60),
               to_mermaid(flow, DIRECTORY), to_svg(flow, DIRECTORY),
               *map(to_json, flow), *map(repr, flow), log.read_text()]
    for output in outputs:
        for secret in SECRETS:
            assert secret not in output


def test_event_log_round_trip_and_cli(flow: list[TracedMessage], tmp_path: Path) -> None:
    assert [from_json(to_json(m)) for m in flow] == flow
    log = tmp_path / "events.jsonl"
    cut = flows.assign(flow, [flows.Window(1, "Ub", 0.5, 1.9), flows.Window(2, "Ua", 1.9, 3.0)])
    assert [(w.name, len(m)) for w, m in cut] == [("Ub", 6), ("Ua", 4)]
    assert flows.write_events(log, cut, LAB) == len(flow)
    assert json.loads(log.read_text().splitlines()[0])["kind"] == "gba-trace-lab"
    found, directory = load.load([log])
    assert directory == DIRECTORY
    assert [m.flow for m in found] == ["Ub"] * 6 + ["Ua"] * 4
    result = CliRunner().invoke(app, ["trace", str(log), "--format", "mermaid"])
    assert result.exit_code == 0, result.output
    assert "Note over P1,P4: Ub" in result.output
    assert "P1->>P2: GET /" in result.output
    out = tmp_path / "d.svg"
    result = CliRunner().invoke(app, ["trace", str(log), "-o", str(out)])
    assert result.exit_code == 0
    assert SafeET.fromstring(out.read_bytes()).tag == f"{SVG}svg"
    written = flows.write_diagrams(tmp_path / "flow.mmd", cut, DIRECTORY)
    assert [p.name for p, _ in written] == ["flow-1.mmd", "flow-2.mmd"]
    assert "title Ua" in (tmp_path / "flow-2.mmd").read_text()


def test_lab_json_found_beside_the_file(flow: list[TracedMessage], tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    log.write_text("".join(to_json(m) + "\n" for m in flow))
    (tmp_path / "lab.json").write_text(json.dumps(LAB))
    result = CliRunner().invoke(app, ["trace", str(log), "--width", "60"])
    assert result.exit_code == 0
    assert "BSF -> HSS" in result.output
    assert "127.0.0.1" not in result.output


def test_directory_lookup_of_wildcard_listeners() -> None:
    directory = Directory({"0.0.0.0:8080": "bsf"}, {"bsf": "bsf"}, {"0.0.0.0:8080": "ub"})
    found = [TracedMessage(1.0, UE, BSF_UB, "HTTP", "GET /", "request")]
    assert participants(found, directory) == {UE: "UE", BSF_UB: "BSF"}


def test_tls_records_named_by_interface() -> None:
    found = [TracedMessage(1.0, BSF_OUT, HSS_ZH, "TLS", "TLS application data (9 bytes)")]
    text = to_text(found, DIRECTORY, width=30)
    assert "BSF -> HSS" in text
    assert "Zh: TLS application data (9 bytes)" in text


def test_ue_is_drawn_first_and_svg_stays_well_formed() -> None:
    found = [TracedMessage(1.0, NAF_OUT, BSF_ZN, "Diameter", "BIR (Zn) B-TID x", "request"),
             TracedMessage(2.0, UE, NAF_HTTP, "HTTP", "GET /\x01<&>\"'", "request")]
    assert to_text(found, DIRECTORY, width=400).split()[:3] == ["UE", "NAF", "BSF"]
    root = SafeET.fromstring(to_svg(found, DIRECTORY, title="t\x00\x1b<x>").encode())
    assert [t.text for t in root.findall(f"{SVG}text")][-1] == "GET /?<&>\"'"

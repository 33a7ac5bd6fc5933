"""``gba demo core --diagram``: the real network, captured, drawn one diagram per step.

Starts the HSS, BSF and NAF processes on loopback (a few seconds), as ``gba demo`` does.
"""

from __future__ import annotations

import json
from pathlib import Path

import defusedxml.ElementTree as SafeET
from typer.testing import CliRunner

from gba.cli.main import app
from gba.demos.network import IMPI

SVG = "{http://www.w3.org/2000/svg}"


def test_demo_diagram_and_event_log(tmp_path: Path) -> None:
    out, events = tmp_path / "flow.svg", tmp_path / "events.jsonl"
    result = CliRunner().invoke(app, ["demo", "core", "--diagram", str(out),
                                      "--events", str(events), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["ok"] is True
    assert summary["steps"][-1] == {"name": "draw the message flows", "ok": True}

    bootstrap = tmp_path / "flow-3.svg"  # step [3]: the UE bootstraps over Ub
    root = SafeET.fromstring(bootstrap.read_bytes())
    texts = root.findall(f"{SVG}text")
    assert [t.text for t in texts if t.get("class") == "name"] == ["UE", "BSF", "HSS"]
    labels = [t.text or "" for t in texts if t.get("class") == "msg"]
    # Zh runs over TLS: the decrypted sidecar of the capture shows what it carried
    assert labels == [f"GET / (Digest username={IMPI})", f"MAR (Zh) {IMPI} [TLS]",
                      "MAA (Zh) 2001 [TLS]", "401 Unauthorized",
                      f"GET / (Digest username={IMPI})", "200 OK"]
    assert not any("TLS application data" in label for label in labels)
    assert len(root.findall(f"{SVG}line[@class='arrow']")) == len(labels)

    drawn = CliRunner().invoke(app, ["trace", str(events), "--width", "80"])
    assert drawn.exit_code == 0, drawn.output
    assert "UE -> BSF" in drawn.output
    assert "== Ua with PSK-TLS" in drawn.output
    assert "GET / [TLS]" in drawn.output  # PSK-TLS, recorded above TLS by the NAF

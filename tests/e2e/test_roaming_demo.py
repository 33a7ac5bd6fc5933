"""``gba demo roaming --json`` (issue 12): both networks as processes, every case's
message flow, and a last JSON line with "ok" and one entry per case."""

from __future__ import annotations

import json

import pytest

from e2e.labctl import gba

pytestmark = pytest.mark.roaming


def test_demo_roaming_runs_every_case_and_ends_with_json() -> None:
    out = gba("demo", "roaming", "--json")
    result = json.loads(out.strip().splitlines()[-1])
    assert result["ok"] is True
    assert set(result["cases"]) == {"A", "B-standalone", "B-aaa", "B-in-server", "C", "D"}
    assert all(case["ok"] for case in result["cases"].values())
    # each case's flow crosses the networks: the home BSF is asked in every one
    assert "home:bsf" in out
    for case, title in (("A", "visited:bsf-v -> home:bsf  [Zn]"),
                        ("B-standalone", "visited:gba-proxy -> home:bsf  [Zn]"),
                        ("B-aaa", "visited:aaa-v -> home:bsf  [Zn]"),
                        ("B-in-server", "visited:bmsc-bin -> home:bsf  [Zn]"),
                        ("C", "visited:aaa-v -> home:aaa  [NASREQ]  AAR"),
                        ("D", "visited:aaa-v -> home:aaa  [EAP]  DER")):
        assert title in out, case
    assert "MIKEY MSK" in out
    assert out.index("200 OK") < out.index("MIKEY MSK")

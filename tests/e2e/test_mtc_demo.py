"""``gba demo mtc --json`` (issue 15): HSS, BSF, MTC-IWF and application server as
processes, a group of devices; the last JSON line holds "ok" and one entry per case."""

from __future__ import annotations

import json

import pytest

from e2e.labctl import gba

pytestmark = pytest.mark.mtc


def test_demo_mtc_runs_every_case_and_ends_with_json() -> None:
    out = gba("demo", "mtc", "--json")
    result = json.loads(out.strip().splitlines()[-1])
    assert result["ok"] is True
    cases = result["cases"]
    assert set(cases) == {"embodiment-1-2", "embodiment-3-4", "fresh-keys", "refusals",
                          "application-server"}
    assert all(case["ok"] for case in cases.values())
    assert cases["embodiment-1-2"]["hss_requests"] == 1
    assert cases["embodiment-3-4"]["hss_requests"] == 0  # the group's vector, reused
    assert cases["refusals"]["refused"] == 5
    assert "MTC-IWF -> UE  200 downlink" in out

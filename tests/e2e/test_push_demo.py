"""``gba demo push --json`` (issue 13): HSS, BSF, Push-NAF and UEs as processes; the last
JSON line holds "ok" and one entry per embodiment with the BSF requests of the first push
and of the push that reuses its SA."""

from __future__ import annotations

import json

import pytest

from e2e.labctl import gba

pytestmark = pytest.mark.push


def test_demo_push_runs_every_embodiment_and_ends_with_json() -> None:
    out = gba("demo", "push", "--json")
    result = json.loads(out.strip().splitlines()[-1])
    assert result["ok"] is True
    assert set(result["embodiments"]) == {"1", "2", "3", "4", "5"}
    for number, entry in result["embodiments"].items():
        assert entry["ok"] is True, number
        assert entry["bsf_requests_first"] == 1, number  # one GPIR for the new SA
        assert entry["bsf_requests_reuse"] == 0, number  # the reused SA costs nothing
        assert entry["messages_reuse"] < entry["messages_first"], number
    assert result["variants"]["1-normal"]["ok"] is True
    assert result["variants"]["timeout"]["ok"] is True
    assert "[Zpn] GPIR" in out
    assert "[Upa/PSK-TLS] handshake" in out
    assert "end indication (Alert 1223)" in out

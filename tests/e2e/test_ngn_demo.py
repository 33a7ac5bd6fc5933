"""``gba demo ngn --json`` (issue 14): AuC, softswitch and signalling proxy as processes;
a terminal per binding and topology; the last JSON line holds "ok" and one entry per case,
and each case's message flow is printed."""

from __future__ import annotations

import json

import pytest

from e2e.labctl import gba

pytestmark = pytest.mark.ngn

FACES = ("sip_udp", "sip_tcp", "mgcp", "h248", "ras")


def test_demo_ngn_registers_over_every_binding_and_topology() -> None:
    out = gba("demo", "ngn", "--json")
    result = json.loads(out.strip().splitlines()[-1])
    assert result["ok"] is True
    cases = result["cases"]
    assert set(cases) == {f"{face}/{topology}" for face in FACES
                          for topology in ("direct", "proxy")}
    for name, case in cases.items():
        assert case["ok"], name
        assert case["mechanism"] == "tls", name  # the highest q both sides support
        assert case["refreshes"] == [True], name  # the SP verified the terminal's Kc,sp
    # reply bindings: s1, s6, s7, s10 and a refresh with its answer; command bindings add
    # an acknowledgement of each of the four commands
    assert {cases[f"{f}/proxy"]["messages"] for f in ("sip_udp", "sip_tcp", "ras")} == {6}
    assert {cases[f"{f}/direct"]["messages"] for f in ("mgcp", "h248")} == {10}
    assert "SIP/2.0 407 Proxy Authentication Required" in out  # s6 from the SP
    assert "SIP/2.0 401 Unauthorized" in out  # s6 from the softswitch itself
    for verb in ("RSIP ", "NTFY ", "RQNT ", "ServiceChange", "Notify", "Modify",
                 "gatekeeperRequest", "gatekeeperReject", "registrationRequest",
                 "registrationConfirm"):
        assert verb in out, verb

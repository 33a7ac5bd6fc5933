"""The NGN key distribution machines in process, no sockets (seed 001; docs/ngn.md):
NgnTerminal (gba.protocols.ngn_terminal), NgnProxy (the SP role, gba.protocols.ngn_proxy)
and NgnSoftswitch (gba.protocols.ngn_softswitch) over the generic s1-s11, with a test-local
fake AuC for s3/s4. Both topologies: with a proxy ("sp.example", Ksp) and without one (the
softswitch runs NgnProxy under its own identity and key, Kss). Deterministic: counter rngs
and ``now`` as an int.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from gba.errors import InvalidInput, ProtocolError
from gba.protocols import ngn
from gba.protocols.ngn import Mechanism, NonceNotEchoed, StaleTimestamp
from gba.protocols.ngn_flow import (
    Refusal,
    Refuse,
    S1Register,
    S2Forward,
    S3AuthRequest,
    S4AuthVector,
    S5Challenge,
    S6Challenge,
    S7Response,
    S8Response,
    S9Success,
    S10Success,
    S11Registered,
)
from gba.protocols.ngn_proxy import NgnProxy
from gba.protocols.ngn_softswitch import NgnSoftswitch
from gba.protocols.ngn_terminal import Failed, NgnTerminal, Registered, Restart

pytestmark = pytest.mark.ngn

ID_C = "alice@ngn.example"
ID_SP = "sp.example"
ID_SS = "ss.example"
KC = bytes(range(16))
KSP = bytes(range(16, 32))
KSS = bytes(range(32, 48))
NOW = 1_700_000_000
SKEW = ngn.DEFAULT_SKEW_S
ADDRESS = "198.51.100.7"
"""The terminal's address as the SP sees it (after address translation)."""

TLS = Mechanism("tls", 0.2)
IPSEC = Mechanism("ipsec", 0.1)
APP = Mechanism("app", 0.05)
MECHS = (TLS, IPSEC, APP)

TOPOLOGIES = ["proxy", "no-proxy"]


class CounterRng:
    """Deterministic rng: a tag octet, then a big-endian counter; distinct per instance tag."""

    def __init__(self, tag: int) -> None:
        self.tag = tag
        self.count = 0

    def __call__(self, n: int) -> bytes:
        self.count += 1
        return bytes([self.tag]) + self.count.to_bytes(n - 1, "big")


def fake_auc_s4(keys: dict[str, bytes], request: S3AuthRequest,
                rng: Callable[[int], bytes]) -> tuple[S4AuthVector, bytes]:
    """The AuC's s4 for s3: Rand, Authenticator_c = f(Kc, Rand, ID_c), a fresh Kc,sp wrapped
    under Kc and under the key of ID_sp (Ksp, or the softswitch's Kss). Returns the vector
    and the Kc,sp it drew."""
    kc = keys[request.id_c]
    ksp = keys[request.id_sp]
    rand = rng(16)
    auth = ngn.authenticator(kc, rand, request.id_c)
    kc_sp = rng(16)
    vector = S4AuthVector(request.id_c, request.id_sp, rand, auth, ngn.wrap(kc, kc_sp),
                          ngn.wrap(ksp, kc_sp))
    return vector, kc_sp


@dataclass
class Net:
    """Terminal, SP (NgnProxy), softswitch and the fake AuC wired together in process."""

    terminal: NgnTerminal
    sp: NgnProxy
    ss: NgnSoftswitch
    keys: dict[str, bytes]
    auc_rng: CounterRng = field(default_factory=lambda: CounterRng(0xA0))
    now: int = NOW
    address: str = ADDRESS
    issued: list[bytes] = field(default_factory=list)
    """Every Kc,sp the AuC drew, in order."""
    s11: list[S11Registered] = field(default_factory=list)
    last_s9: S9Success | None = None

    def auc(self, request: S3AuthRequest) -> S4AuthVector:
        vector, kc_sp = fake_auc_s4(self.keys, request, self.auc_rng)
        self.issued.append(kc_sp)
        return vector

    def challenge_from_s3(self, s3: S3AuthRequest) -> S6Challenge:
        """s3 -> s4 -> s5 -> s6."""
        s5 = self.ss.on_vector(self.auc(s3))
        assert isinstance(s5, S5Challenge)
        s6 = self.sp.on_challenge(s5, self.now)
        assert isinstance(s6, S6Challenge)
        return s6

    def to_challenge(self, s1: S1Register) -> S6Challenge:
        """s1 -> s2 -> s3 -> s4 -> s5 -> s6."""
        s2 = self.sp.on_register(s1, self.now)
        assert isinstance(s2, S2Forward)
        return self.challenge_from_s3(self.ss.on_register(s2))

    def s8(self, s7: S7Response) -> S8Response:
        s8 = self.sp.on_response(s7, self.address, self.now)
        assert isinstance(s8, S8Response), s8
        return s8

    def to_success(self, s7: S7Response) -> S10Success:
        """s7 -> s8 -> s9 (+ s11) -> s10, the authenticator matching."""
        out = self.ss.on_response(self.s8(s7))
        assert isinstance(out, tuple), out
        s9, s11 = out
        self.last_s9 = s9
        self.s11.append(s11)
        s10 = self.sp.on_success(s9, self.now)
        assert isinstance(s10, S10Success), s10
        return s10

    def s7(self) -> S7Response:
        """A fresh registration up to the terminal's s7."""
        return self.terminal.on_challenge(self.to_challenge(self.terminal.register(self.now)),
                                          self.now)

    def s10(self) -> S10Success:
        """A fresh registration up to the SP's s10 (not yet given to the terminal)."""
        return self.to_success(self.s7())

    def register(self) -> Registered:
        result = self.terminal.on_success(self.s10(), self.now)
        assert isinstance(result, Registered), result
        return result


def make_net(topology: str = "proxy", *, terminal_mechs: tuple[Mechanism, ...] = MECHS,
             supported: tuple[str, ...] = ("tls", "ipsec", "app"),
             forward_mechanisms: bool = False, max_failures: int = 3,
             max_restarts: int = 3, kc: bytes = KC) -> Net:
    keys = {ID_C: KC, ID_SP: KSP, ID_SS: KSS}
    if topology == "proxy":
        sp = NgnProxy(ID_SP, KSP, supported, forward_mechanisms=forward_mechanisms,
                      rng=CounterRng(0xB0))
    else:
        sp = NgnProxy(ID_SS, KSS, supported, forward_mechanisms=forward_mechanisms,
                      rng=CounterRng(0xB0))
    ss = NgnSoftswitch(ID_SS, max_failures=max_failures)
    terminal = NgnTerminal(ID_C, sp.id_sp, kc, terminal_mechs, max_restarts=max_restarts,
                           rng=CounterRng(0xC0))
    return Net(terminal, sp, ss, keys)


def the_sp_id(topology: str) -> str:
    return ID_SP if topology == "proxy" else ID_SS


# --- 1. the whole flow, both topologies ----------------------------------------------------


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_whole_flow_distributes_one_key_to_terminal_and_sp(topology: str) -> None:
    net = make_net(topology)
    id_sp = the_sp_id(topology)
    s1 = net.terminal.register(NOW)
    assert s1 == S1Register(ID_C, id_sp, s1.n1, NOW)
    assert net.terminal.state == "awaiting s6"

    s2 = net.sp.on_register(s1, NOW)
    assert s2 == S2Forward(ID_C, id_sp)
    s3 = net.ss.on_register(s2)
    assert s3 == S3AuthRequest(ID_C, id_sp)
    vector = net.auc(s3)
    s5 = net.ss.on_vector(vector)
    assert s5 == S5Challenge(ID_C, id_sp, vector.rand)
    s6 = net.sp.on_challenge(s5, NOW)
    assert isinstance(s6, S6Challenge)
    assert (s6.rand, s6.n1, s6.ts2, s6.want_mechanisms) == (vector.rand, s1.n1, NOW, True)

    s7 = net.terminal.on_challenge(s6, NOW)
    assert net.terminal.state == "awaiting s10"
    assert s7.n2 == s6.n2
    assert s7.n1 not in (s1.n1, s6.n2)
    assert s7.ts3 == NOW
    assert s7.authenticator == vector.authenticator
    assert s7.mechanisms == MECHS

    s8 = net.s8(s7)
    assert s8 == S8Response(ID_C, id_sp, vector.authenticator, ADDRESS, None)
    out = net.ss.on_response(s8)
    assert isinstance(out, tuple)
    s9, s11 = out
    assert s9 == S9Success(ID_C, id_sp, vector.e_kc, vector.e_ksp)
    assert s11 == S11Registered(ID_C, id_sp, ADDRESS)

    s10 = net.sp.on_success(s9, NOW)
    assert isinstance(s10, S10Success)
    assert (s10.n1, s10.n2, s10.ts4, s10.e_kc) == (s7.n1, s6.n2, NOW, vector.e_kc)
    assert s10.chosen == "tls"
    assert s10.mechanisms == MECHS
    result = net.terminal.on_success(s10, NOW)

    kc_sp = net.issued[-1]
    assert isinstance(result, Registered)
    assert result is net.terminal.registered
    assert net.terminal.state == "registered"
    assert result.kc_sp == net.sp.sessions[ID_C].kc_sp == kc_sp
    assert result.mechanism == net.sp.sessions[ID_C].mechanism == "tls"
    assert (result.id_c, result.id_sp) == (ID_C, id_sp)
    assert net.sp.sessions[ID_C].address == ADDRESS
    assert net.ss.registrations[ID_C].address == ADDRESS
    assert net.ss.registrations[ID_C].id_sp == id_sp
    assert net.ss.failures(ID_C) == 0


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_sp_key_is_wrapped_under_the_sp_or_softswitch_key(topology: str) -> None:
    net = make_net(topology)
    net.register()
    assert net.last_s9 is not None
    own = KSP if topology == "proxy" else KSS
    assert ngn.unwrap(own, net.last_s9.e_ksp) == net.issued[-1]
    assert ngn.unwrap(KC, net.last_s9.e_kc) == net.issued[-1]
    if topology == "no-proxy":
        assert net.sp.id_sp == net.ss.id_ss


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_address_after_translation_reaches_registrations_and_s11(topology: str) -> None:
    net = make_net(topology)
    net.address = "[2001:db8::17]:5060"
    net.register()
    id_sp = the_sp_id(topology)
    assert net.ss.registrations[ID_C].address == "[2001:db8::17]:5060"
    assert net.s11 == [S11Registered(ID_C, id_sp, "[2001:db8::17]:5060")]
    assert net.sp.sessions[ID_C].address == "[2001:db8::17]:5060"


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_registering_again_gets_a_fresh_key(topology: str) -> None:
    net = make_net(topology)
    first = net.register()
    second = net.register()
    assert first.kc_sp != second.kc_sp
    assert second.kc_sp == net.sp.sessions[ID_C].kc_sp == net.issued[-1]


# --- 2. the mechanism choice ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("terminal_mechs", "supported", "expected"),
    [
        (MECHS, ("tls", "ipsec", "app"), "tls"),
        (MECHS, ("ipsec", "app"), "ipsec"),
        (MECHS, ("app",), "app"),
        ((APP, IPSEC, TLS), ("tls", "ipsec", "app"), "tls"),  # by q, not by list order
        ((Mechanism("app", 0.9), IPSEC, TLS), ("tls", "app"), "app"),
        (MECHS, ("TLS", "IPsec"), "tls"),  # case-insensitive; the terminal's spelling
        ((Mechanism("ipsec", 0.5), Mechanism("tls", 0.5)), ("tls", "ipsec"), "ipsec"),  # tie
    ],
)
@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_the_highest_q_mechanism_both_support_is_chosen(
        topology: str, terminal_mechs: tuple[Mechanism, ...], supported: tuple[str, ...],
        expected: str) -> None:
    net = make_net(topology, terminal_mechs=terminal_mechs, supported=supported)
    result = net.register()
    assert result.mechanism == expected
    assert net.sp.sessions[ID_C].mechanism == expected


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_no_mechanism_in_common_refuses_at_s7(topology: str) -> None:
    net = make_net(topology, supported=("digest", "ike"))
    s7 = net.s7()
    refused = net.sp.on_response(s7, ADDRESS, NOW)
    assert isinstance(refused, Refuse)
    assert refused.refusal is Refusal.NO_COMMON_MECHANISM
    assert (refused.id_c, refused.id_sp) == (ID_C, the_sp_id(topology))
    assert ID_C not in net.sp.sessions
    assert ID_C not in net.ss.registrations
    # the registration is over at the SP: nothing is outstanding any more
    again = net.sp.on_response(dataclasses.replace(s7, n1=bytes(16)), ADDRESS, NOW)
    assert isinstance(again, Refuse)
    assert again.refusal is Refusal.MALFORMED
    outcome = net.terminal.on_refuse(refused, NOW)
    assert isinstance(outcome, Failed)
    assert net.terminal.state == "failed"
    assert net.terminal.registered is None


@pytest.mark.parametrize("forward", [True, False])
@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_forward_mechanisms_controls_s8(topology: str, forward: bool) -> None:
    net = make_net(topology, forward_mechanisms=forward)
    s8 = net.s8(net.s7())
    assert s8.mechanisms == (MECHS if forward else None)
    out = net.ss.on_response(s8)
    assert isinstance(out, tuple)
    s10 = net.sp.on_success(out[0], NOW)
    assert isinstance(s10, S10Success)
    assert isinstance(net.terminal.on_success(s10, NOW), Registered)


# --- 3. the SP's checks --------------------------------------------------------------------


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_sp_refuses_a_foreign_id_sp_and_stays_usable(topology: str) -> None:
    net = make_net(topology)
    s1 = net.terminal.register(NOW)
    foreign = dataclasses.replace(s1, id_sp="other.example")
    refused = net.sp.on_register(foreign, NOW)
    assert isinstance(refused, Refuse)
    assert refused.refusal is Refusal.UNKNOWN_PROXY
    assert refused.id_sp == "other.example"  # answered in the terms the terminal used
    # the same N1 was not burnt: the genuine s1 goes through and the flow completes
    s7 = net.terminal.on_challenge(net.to_challenge(s1), NOW)
    assert isinstance(net.terminal.on_success(net.to_success(s7), NOW), Registered)


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_sp_refuses_s7_for_another_sp_without_changing_state(topology: str) -> None:
    net = make_net(topology)
    s7 = net.s7()
    refused = net.sp.on_response(dataclasses.replace(s7, id_sp="other.example"), ADDRESS, NOW)
    assert isinstance(refused, Refuse)
    assert refused.refusal is Refusal.UNKNOWN_PROXY
    assert isinstance(net.terminal.on_success(net.to_success(s7), NOW), Registered)


@pytest.mark.parametrize("offset", [SKEW + 1, -(SKEW + 1), 3600, -3600])
@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_sp_refuses_a_stale_ts1_and_stays_usable(topology: str, offset: int) -> None:
    net = make_net(topology)
    s1 = net.terminal.register(NOW)
    refused = net.sp.on_register(dataclasses.replace(s1, ts1=NOW + offset), NOW)
    assert isinstance(refused, Refuse)
    assert refused.refusal is Refusal.STALE
    s7 = net.terminal.on_challenge(net.to_challenge(s1), NOW)
    assert isinstance(net.terminal.on_success(net.to_success(s7), NOW), Registered)


@pytest.mark.parametrize("offset", [SKEW, -SKEW])
def test_sp_accepts_ts1_at_the_edge_of_the_skew(offset: int) -> None:
    net = make_net()
    s1 = net.terminal.register(NOW + offset)
    assert isinstance(net.sp.on_register(s1, NOW), S2Forward)


@pytest.mark.parametrize("offset", [SKEW + 1, -(SKEW + 1), 3600, -3600])
@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_sp_refuses_a_stale_ts3_and_stays_usable(topology: str, offset: int) -> None:
    net = make_net(topology)
    s7 = net.s7()
    refused = net.sp.on_response(dataclasses.replace(s7, ts3=NOW + offset), ADDRESS, NOW)
    assert isinstance(refused, Refuse)
    assert refused.refusal is Refusal.STALE
    assert ID_C not in net.ss.registrations
    # the genuine s7 (same N1') still goes through
    assert isinstance(net.terminal.on_success(net.to_success(s7), NOW), Registered)


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_sp_refuses_a_replayed_s1_and_the_first_goes_on(topology: str) -> None:
    net = make_net(topology)
    s1 = net.terminal.register(NOW)
    s2 = net.sp.on_register(s1, NOW)
    assert isinstance(s2, S2Forward)
    replay = net.sp.on_register(s1, NOW + 1)
    assert isinstance(replay, Refuse)
    assert replay.refusal is Refusal.REPLAY
    s6 = net.challenge_from_s3(net.ss.on_register(s2))
    assert s6.n1 == s1.n1
    s7 = net.terminal.on_challenge(s6, NOW)
    assert isinstance(net.terminal.on_success(net.to_success(s7), NOW), Registered)


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_sp_refuses_a_replayed_s7_and_the_first_goes_on(topology: str) -> None:
    net = make_net(topology)
    s7 = net.s7()
    s8 = net.s8(s7)
    replay = net.sp.on_response(s7, ADDRESS, NOW + 1)
    assert isinstance(replay, Refuse)
    assert replay.refusal is Refusal.REPLAY
    out = net.ss.on_response(s8)
    assert isinstance(out, tuple)
    s10 = net.sp.on_success(out[0], NOW)
    assert isinstance(s10, S10Success)
    assert isinstance(net.terminal.on_success(s10, NOW), Registered)
    assert net.terminal.registered is not None
    assert net.terminal.registered.kc_sp == net.sp.sessions[ID_C].kc_sp


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_sp_refuses_n1_reused_as_n1_prime(topology: str) -> None:
    net = make_net(topology)
    s1 = net.terminal.register(NOW)
    s7 = net.terminal.on_challenge(net.to_challenge(s1), NOW)
    refused = net.sp.on_response(dataclasses.replace(s7, n1=s1.n1), ADDRESS, NOW)
    assert isinstance(refused, Refuse)
    assert refused.refusal is Refusal.REPLAY
    assert isinstance(net.terminal.on_success(net.to_success(s7), NOW), Registered)


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_sp_refuses_n2_not_echoed_and_stays_usable(topology: str) -> None:
    net = make_net(topology)
    s7 = net.s7()
    forged = dataclasses.replace(s7, n1=b"\xee" * 16, n2=bytes(a ^ 1 for a in s7.n2))
    refused = net.sp.on_response(forged, ADDRESS, NOW)
    assert isinstance(refused, Refuse)
    assert refused.refusal is Refusal.NOT_ECHOED
    assert ID_C not in net.ss.registrations
    assert isinstance(net.terminal.on_success(net.to_success(s7), NOW), Registered)


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_sp_refuses_s7_without_a_challenge(topology: str) -> None:
    net = make_net(topology)
    s7 = S7Response(ID_C, the_sp_id(topology), b"\x01" * 16, b"\x02" * 16, NOW,
                    b"\x03" * 16, MECHS)
    refused = net.sp.on_response(s7, ADDRESS, NOW)
    assert isinstance(refused, Refuse)
    assert refused.refusal is Refusal.MALFORMED
    # after s1 but before the challenge (s5/s6): still no challenge outstanding
    s2 = net.sp.on_register(net.terminal.register(NOW), NOW)
    assert isinstance(s2, S2Forward)
    refused = net.sp.on_response(dataclasses.replace(s7, n1=b"\x04" * 16), ADDRESS, NOW)
    assert isinstance(refused, Refuse)
    assert refused.refusal is Refusal.MALFORMED
    # and the registration then proceeds normally
    s6 = net.challenge_from_s3(net.ss.on_register(s2))
    s7 = net.terminal.on_challenge(s6, NOW)
    assert isinstance(net.terminal.on_success(net.to_success(s7), NOW), Registered)


def test_sp_refuses_s9_without_a_response() -> None:
    net = make_net()
    s9 = S9Success(ID_C, ID_SP, ngn.wrap(KC, bytes(16)), ngn.wrap(KSP, bytes(16)))
    refused = net.sp.on_success(s9, NOW)
    assert isinstance(refused, Refuse)
    assert refused.refusal is Refusal.MALFORMED
    assert ID_C not in net.sp.sessions


# --- 4. the softswitch's authenticator check ----------------------------------------------


def _wrong(s7: S7Response) -> S7Response:
    return dataclasses.replace(s7, authenticator=bytes(a ^ 0xFF for a in s7.authenticator))


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_wrong_authenticator_rechallenges_then_succeeds_with_a_new_vector(
        topology: str) -> None:
    net = make_net(topology)
    s7 = net.s7()
    out = net.ss.on_response(net.s8(_wrong(s7)))
    assert out == S3AuthRequest(ID_C, the_sp_id(topology))
    assert net.ss.failures(ID_C) == 1
    assert isinstance(out, S3AuthRequest)
    # the new vector: s4 -> s5 -> s6, which echoes N1' to a terminal awaiting s10
    s6 = net.challenge_from_s3(out)
    assert s6.n1 == s7.n1
    assert net.terminal.state == "awaiting s10"
    s7b = net.terminal.on_challenge(s6, NOW)
    assert s7b.n1 != s7.n1
    result = net.terminal.on_success(net.to_success(s7b), NOW)
    assert isinstance(result, Registered)
    assert len(net.issued) == 2
    assert result.kc_sp == net.sp.sessions[ID_C].kc_sp == net.issued[1] != net.issued[0]
    assert net.ss.failures(ID_C) == 0


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_terminal_with_the_wrong_kc_is_refused_after_three_tries(topology: str) -> None:
    net = make_net(topology, kc=bytes(range(100, 116)))
    s6 = net.to_challenge(net.terminal.register(NOW))
    for attempt in (1, 2):
        out = net.ss.on_response(net.s8(net.terminal.on_challenge(s6, NOW)))
        assert isinstance(out, S3AuthRequest), attempt
        assert net.ss.failures(ID_C) == attempt
        s6 = net.challenge_from_s3(out)
    out = net.ss.on_response(net.s8(net.terminal.on_challenge(s6, NOW)))
    assert isinstance(out, Refuse)
    assert out.refusal is Refusal.AUTH_FAILED
    assert net.ss.failures(ID_C) == 0
    assert ID_C not in net.ss.registrations
    relayed = net.sp.on_refuse(out)
    assert relayed.refusal is Refusal.AUTH_FAILED
    assert relayed.id_sp == the_sp_id(topology)
    outcome = net.terminal.on_refuse(relayed, NOW)
    assert isinstance(outcome, Failed)
    assert outcome.refuse == relayed
    assert net.terminal.state == "failed"
    assert net.terminal.registered is None
    assert ID_C not in net.sp.sessions


def test_failure_counter_resets_on_success() -> None:
    net = make_net()
    s7 = net.s7()
    for _ in range(2):
        out = net.ss.on_response(net.s8(_wrong(s7)))
        assert isinstance(out, S3AuthRequest)
        s7 = net.terminal.on_challenge(net.challenge_from_s3(out), NOW)
    assert net.ss.failures(ID_C) == 2
    assert isinstance(net.terminal.on_success(net.to_success(s7), NOW), Registered)
    assert net.ss.failures(ID_C) == 0
    # a new registration gets all three tries again
    s7 = net.s7()
    for attempt in (1, 2):
        out = net.ss.on_response(net.s8(_wrong(s7)))
        assert isinstance(out, S3AuthRequest), attempt
        s7 = net.terminal.on_challenge(net.challenge_from_s3(out), NOW)
    assert isinstance(net.terminal.on_success(net.to_success(s7), NOW), Registered)


@pytest.mark.parametrize("max_failures", [1, 2, 5])
def test_max_failures_is_configurable(max_failures: int) -> None:
    net = make_net(max_failures=max_failures)
    s7 = net.s7()
    for attempt in range(1, max_failures):
        out = net.ss.on_response(net.s8(_wrong(s7)))
        assert isinstance(out, S3AuthRequest), attempt
        s7 = net.terminal.on_challenge(net.challenge_from_s3(out), NOW)
    out = net.ss.on_response(net.s8(_wrong(s7)))
    assert isinstance(out, Refuse)
    assert out.refusal is Refusal.AUTH_FAILED
    assert out.detail == f"{max_failures} wrong authenticators"


def test_max_failures_below_one_is_refused() -> None:
    with pytest.raises(InvalidInput):
        NgnSoftswitch(ID_SS, max_failures=0)


def test_softswitch_refuses_s8_without_a_vector() -> None:
    ss = NgnSoftswitch(ID_SS)
    out = ss.on_response(S8Response(ID_C, ID_SP, bytes(16), ADDRESS))
    assert isinstance(out, Refuse)
    assert out.refusal is Refusal.MALFORMED
    ss.on_register(S2Forward(ID_C, ID_SP))
    out = ss.on_response(S8Response(ID_C, ID_SP, bytes(16), ADDRESS))
    assert isinstance(out, Refuse)
    assert out.refusal is Refusal.MALFORMED
    assert ss.failures(ID_C) == 0


# --- 5. the terminal's checks: s6 ----------------------------------------------------------


@pytest.mark.parametrize(
    ("tamper", "error"),
    [
        (lambda m: dataclasses.replace(m, ts2=m.ts2 - SKEW - 1), StaleTimestamp),
        (lambda m: dataclasses.replace(m, ts2=m.ts2 + SKEW + 1), StaleTimestamp),
        (lambda m: dataclasses.replace(m, n1=bytes(a ^ 1 for a in m.n1)), NonceNotEchoed),
    ],
    ids=["ts2-past", "ts2-future", "n1-not-echoed"],
)
@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_terminal_rejects_a_bad_s6_and_keeps_its_state(
        topology: str, tamper: Callable[[S6Challenge], S6Challenge],
        error: type[Exception]) -> None:
    net = make_net(topology)
    s6 = net.to_challenge(net.terminal.register(NOW))
    with pytest.raises(error):
        net.terminal.on_challenge(tamper(s6), NOW)
    assert net.terminal.state == "awaiting s6"
    s7 = net.terminal.on_challenge(s6, NOW)
    assert isinstance(net.terminal.on_success(net.to_success(s7), NOW), Registered)


def test_terminal_rejects_s6_for_another_terminal_or_sp() -> None:
    net = make_net()
    s6 = net.to_challenge(net.terminal.register(NOW))
    for other in (dataclasses.replace(s6, id_c="bob@ngn.example"),
                  dataclasses.replace(s6, id_sp="other.example")):
        with pytest.raises(ProtocolError):
            net.terminal.on_challenge(other, NOW)
    assert net.terminal.state == "awaiting s6"
    assert isinstance(net.terminal.on_challenge(s6, NOW), S7Response)


def test_terminal_rejects_messages_out_of_order() -> None:
    net = make_net()
    s10 = net.s10()
    net.terminal.register(NOW)  # back to awaiting s6
    with pytest.raises(ProtocolError):
        net.terminal.on_success(s10, NOW)
    assert net.terminal.state == "awaiting s6"
    fresh = make_net()
    s6 = fresh.to_challenge(fresh.terminal.register(NOW))
    idle = NgnTerminal(ID_C, ID_SP, KC, MECHS, rng=CounterRng(0xC0))
    with pytest.raises(ProtocolError):
        idle.on_challenge(s6, NOW)
    assert idle.state == "idle"


# --- 5. the terminal's checks: s10 ---------------------------------------------------------


def _flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 0x01]) + data[1:]


S10_TAMPERS: dict[str, Callable[[S10Success], S10Success]] = {
    "n1-prime-not-echoed": lambda m: dataclasses.replace(m, n1=_flip(m.n1)),
    "n2-not-echoed": lambda m: dataclasses.replace(m, n2=_flip(m.n2)),
    "e-kc-tampered": lambda m: dataclasses.replace(m, e_kc=_flip(m.e_kc)),
    "e-kc-last-octet": lambda m: dataclasses.replace(m, e_kc=m.e_kc[:-1] + bytes([m.e_kc[-1] ^ 1])),
    "mac-tampered": lambda m: dataclasses.replace(m, mac=_flip(m.mac)),
    "mac-truncated": lambda m: dataclasses.replace(m, mac=m.mac[:-1]),
    "ts4-altered": lambda m: dataclasses.replace(m, ts4=m.ts4 + 1),
    "list-reordered": lambda m: dataclasses.replace(m, mechanisms=(IPSEC, TLS, APP)),
    "list-removed": lambda m: dataclasses.replace(m, mechanisms=(IPSEC, APP)),
    "list-q-changed": lambda m: dataclasses.replace(
        m, mechanisms=(Mechanism("tls", 0.01), IPSEC, APP)),
    "downgrade-list-and-chosen": lambda m: dataclasses.replace(
        m, mechanisms=(IPSEC, APP), chosen="ipsec"),
    "chosen-altered": lambda m: dataclasses.replace(m, chosen="app"),
    "chosen-not-offered": lambda m: dataclasses.replace(m, chosen="none"),
}
"""An attacker without Kc,sp alters s10 and leaves (or cannot redo) the MAC."""


def _assert_restarted(net: Net, outcome: object, old: S1Register, s7: S7Response) -> None:
    assert isinstance(outcome, Restart), outcome
    assert net.terminal.registered is None
    assert net.terminal.state == "awaiting s6"
    new = outcome.register
    assert (new.id_c, new.id_sp, new.ts1) == (ID_C, net.sp.id_sp, NOW)
    assert new.n1 not in (old.n1, s7.n1)
    # the fresh s1 goes through the SP (its N1 is new) and the registration completes
    s7b = net.terminal.on_challenge(net.to_challenge(new), NOW)
    result = net.terminal.on_success(net.to_success(s7b), NOW)
    assert isinstance(result, Registered)
    assert result.kc_sp == net.sp.sessions[ID_C].kc_sp == net.issued[-1]


@pytest.mark.parametrize("name", sorted(S10_TAMPERS))
@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_terminal_restarts_on_a_tampered_s10(topology: str, name: str) -> None:
    net = make_net(topology)
    s1 = net.terminal.register(NOW)
    s7 = net.terminal.on_challenge(net.to_challenge(s1), NOW)
    s10 = net.to_success(s7)
    outcome = net.terminal.on_success(S10_TAMPERS[name](s10), NOW)
    _assert_restarted(net, outcome, s1, s7)


@pytest.mark.parametrize("offset", [SKEW + 1, -(SKEW + 1)])
@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_terminal_restarts_on_a_stale_ts4(topology: str, offset: int) -> None:
    net = make_net(topology)
    s1 = net.terminal.register(NOW)
    s7 = net.terminal.on_challenge(net.to_challenge(s1), NOW)
    out = net.ss.on_response(net.s8(s7))
    assert isinstance(out, tuple)
    # the SP's clock is off when it sends s10: TS4 is genuine, the MAC valid, but stale
    s10 = net.sp.on_success(out[0], NOW + offset)
    assert isinstance(s10, S10Success)
    assert s10.ts4 == NOW + offset
    ngn.verify_mac(net.issued[-1], s10.mac_fields(), s10.mac)
    outcome = net.terminal.on_success(s10, NOW)
    _assert_restarted(net, outcome, s1, s7)


@pytest.mark.parametrize("offset", [SKEW, -SKEW])
def test_terminal_accepts_ts4_at_the_edge_of_the_skew(offset: int) -> None:
    net = make_net()
    s10 = net.s10()
    assert isinstance(net.terminal.on_success(s10, NOW + offset), Registered)


def _remac(m: S10Success, kc_sp: bytes, **changes: object) -> S10Success:
    altered = dataclasses.replace(m, **changes)  # type: ignore[arg-type]
    return dataclasses.replace(altered, mac=ngn.mac(kc_sp, altered.mac_fields()))


@pytest.mark.parametrize(
    "changes",
    [
        {"mechanisms": (IPSEC, TLS, APP)},
        {"mechanisms": (IPSEC, APP), "chosen": "ipsec"},
        {"mechanisms": (Mechanism("tls", 0.01), IPSEC, APP), "chosen": "ipsec"},
        {"chosen": "none"},
        {"chosen": "ike", "mechanisms": (Mechanism("ike", 0.9), TLS, IPSEC, APP)},
    ],
    ids=["reordered", "removed", "q-changed", "chosen-not-offered", "list-and-chosen-added"],
)
@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_terminal_restarts_on_a_well_maced_downgrade(topology: str,
                                                     changes: dict[str, object]) -> None:
    """Even a holder of Kc,sp (a misbehaving SP) cannot alter the list or pick a mechanism
    the terminal did not offer: the MAC verifies, the list / choice check does not."""
    net = make_net(topology)
    s1 = net.terminal.register(NOW)
    s7 = net.terminal.on_challenge(net.to_challenge(s1), NOW)
    s10 = _remac(net.to_success(s7), net.issued[-1], **changes)
    ngn.verify_mac(net.issued[-1], s10.mac_fields(), s10.mac)
    outcome = net.terminal.on_success(s10, NOW)
    _assert_restarted(net, outcome, s1, s7)


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_terminal_detects_a_downgrade_of_s7_in_transit(topology: str) -> None:
    """An attacker strips tls from s7 on its way to the SP: the SP honestly chooses ipsec
    and MACs the list it got, but the terminal sees that its list did not come back."""
    net = make_net(topology)
    s1 = net.terminal.register(NOW)
    s7 = net.terminal.on_challenge(net.to_challenge(s1), NOW)
    stripped = dataclasses.replace(s7, mechanisms=(IPSEC, APP))
    s10 = net.to_success(stripped)
    assert s10.chosen == "ipsec"
    ngn.verify_mac(net.issued[-1], s10.mac_fields(), s10.mac)
    outcome = net.terminal.on_success(s10, NOW)
    assert isinstance(outcome, Restart)
    assert "altered" in outcome.reason
    assert net.terminal.registered is None


@pytest.mark.parametrize("max_restarts", [0, 1, 3])
def test_terminal_fails_after_max_restarts(max_restarts: int) -> None:
    net = make_net(max_restarts=max_restarts)
    s1 = net.terminal.register(NOW)
    n1s = {s1.n1}
    for attempt in range(max_restarts):
        s10 = net.to_success(net.terminal.on_challenge(net.to_challenge(s1), NOW))
        outcome = net.terminal.on_success(S10_TAMPERS["mac-tampered"](s10), NOW)
        assert isinstance(outcome, Restart), attempt
        s1 = outcome.register
        assert s1.n1 not in n1s
        n1s.add(s1.n1)
    s10 = net.to_success(net.terminal.on_challenge(net.to_challenge(s1), NOW))
    outcome = net.terminal.on_success(S10_TAMPERS["mac-tampered"](s10), NOW)
    assert isinstance(outcome, Failed)
    assert net.terminal.state == "failed"
    assert net.terminal.registered is None
    with pytest.raises(ProtocolError):
        net.terminal.on_success(s10, NOW)


def test_restart_counter_resets_on_success() -> None:
    net = make_net(max_restarts=1)
    for _ in range(3):
        s1 = net.terminal.register(NOW)
        s7 = net.terminal.on_challenge(net.to_challenge(s1), NOW)
        outcome = net.terminal.on_success(S10_TAMPERS["mac-tampered"](net.to_success(s7)), NOW)
        assert isinstance(outcome, Restart)
        s7 = net.terminal.on_challenge(net.to_challenge(outcome.register), NOW)
        assert isinstance(net.terminal.on_success(net.to_success(s7), NOW), Registered)


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_terminal_accepts_a_rechallenge_echoing_n1_prime(topology: str) -> None:
    net = make_net(topology)
    s1 = net.terminal.register(NOW)
    s6 = net.to_challenge(s1)
    s7 = net.terminal.on_challenge(s6, NOW)
    rechallenge = S6Challenge(ID_C, net.sp.id_sp, b"\x55" * 16, s7.n1, b"\x66" * 16, NOW)
    # one echoing the old N1 is not an answer to s7
    with pytest.raises(NonceNotEchoed):
        net.terminal.on_challenge(dataclasses.replace(rechallenge, n1=s1.n1), NOW)
    assert net.terminal.state == "awaiting s10"
    s7b = net.terminal.on_challenge(rechallenge, NOW)
    assert s7b.n2 == b"\x66" * 16
    assert s7b.authenticator == ngn.authenticator(KC, b"\x55" * 16, ID_C)
    assert s7b.n1 not in (s1.n1, s7.n1)
    assert net.terminal.state == "awaiting s10"


def test_terminal_restarts_on_a_rechallenge_reject() -> None:
    net = make_net()
    s1 = net.terminal.register(NOW)
    s7 = net.terminal.on_challenge(net.to_challenge(s1), NOW)
    reject = Refuse(ID_C, ID_SP, Refusal.AUTH_FAILED, "rechallenge")
    outcome = net.terminal.on_refuse(net.sp.on_refuse(reject), NOW)
    _assert_restarted(net, outcome, s1, s7)


@pytest.mark.parametrize("refusal", list(Refusal))
def test_terminal_fails_on_any_other_reject(refusal: Refusal) -> None:
    net = make_net()
    net.s7()
    outcome = net.terminal.on_refuse(Refuse(ID_C, ID_SP, refusal, "no"), NOW)
    assert isinstance(outcome, Failed)
    assert outcome.refuse is not None
    assert outcome.refuse.refusal is refusal
    assert net.terminal.state == "failed"
    assert net.terminal.registered is None


def test_terminal_fails_on_a_rechallenge_reject_before_s7() -> None:
    net = make_net()
    net.terminal.register(NOW)
    outcome = net.terminal.on_refuse(Refuse(ID_C, ID_SP, Refusal.AUTH_FAILED, "rechallenge"),
                                     NOW)
    assert isinstance(outcome, Failed)


def test_a_reject_after_registration_leaves_state_and_key_consistent() -> None:
    net = make_net()
    net.register()
    with contextlib.suppress(ProtocolError):
        net.terminal.on_refuse(Refuse(ID_C, ID_SP, Refusal.AUTH_FAILED, "late"), NOW)
    # either the reject was ignored (still registered, key kept) or it ended the
    # registration and the key went with it; never "failed" while holding Kc,sp
    assert (net.terminal.state == "registered") == (net.terminal.registered is not None)


def test_a_new_registration_after_failing_gets_its_restarts_again() -> None:
    net = make_net(max_restarts=1)
    s1 = net.terminal.register(NOW)
    for _ in range(2):
        s10 = net.to_success(net.terminal.on_challenge(net.to_challenge(s1), NOW))
        outcome = net.terminal.on_success(S10_TAMPERS["mac-tampered"](s10), NOW)
        if isinstance(outcome, Restart):
            s1 = outcome.register
    assert isinstance(outcome, Failed)
    # the caller starts a new registration: one failed s10 check restarts it again
    s1 = net.terminal.register(NOW)
    s10 = net.to_success(net.terminal.on_challenge(net.to_challenge(s1), NOW))
    outcome = net.terminal.on_success(S10_TAMPERS["mac-tampered"](s10), NOW)
    assert isinstance(outcome, Restart)


# --- 6. after registration: a message protected under Kc,sp -----------------------------


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_messages_protected_under_kc_sp_verify_between_terminal_and_sp(topology: str) -> None:
    net = make_net(topology)
    registered = net.register()
    message = b"INVITE sip:bob@ngn.example SIP/2.0"
    tag = hmac.new(net.sp.sessions[ID_C].kc_sp, message, hashlib.sha256).digest()
    mine = hmac.new(registered.kc_sp, message, hashlib.sha256).digest()
    assert hmac.compare_digest(tag, mine)
    tampered = hmac.new(registered.kc_sp, message + b" ", hashlib.sha256).digest()
    assert not hmac.compare_digest(tag, tampered)
    # and in the other direction, terminal -> SP
    back = hmac.new(registered.kc_sp, b"BYE", hashlib.sha256).digest()
    assert hmac.compare_digest(
        back, hmac.new(net.sp.sessions[ID_C].kc_sp, b"BYE", hashlib.sha256).digest())
    assert not hmac.compare_digest(_flip(back),
                                   hmac.new(net.sp.sessions[ID_C].kc_sp, b"BYE",
                                            hashlib.sha256).digest())
    # a key the attacker could guess does not verify
    assert not hmac.compare_digest(tag, hmac.new(KC, message, hashlib.sha256).digest())

"""The SIP binding of the NGN flow (gba.protocols.ngn_sip): every flow message each way,
the SIP verbs and codes used, the Refusal table, and refusal of malformed input."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gba.errors import InvalidInput
from gba.protocols import ngn, sip
from gba.protocols.ngn import Mechanism
from gba.protocols.ngn_flow import (
    Ack,
    FlowMessage,
    Inbound,
    Protected,
    Refusal,
    Refuse,
    Role,
    S1Register,
    S2Forward,
    S5Challenge,
    S6Challenge,
    S7Response,
    S8Response,
    S9Success,
    S10Success,
    Side,
    Wire,
    WireError,
)
from gba.protocols.ngn_sip import MAX_ENTRIES, SipWire
from gba.protocols.ngn_sip_fields import MAX_SEQ, STATUS, escape_user

pytestmark = pytest.mark.ngn

DOMAIN = "ngn.example"
ID_C = "alice bob"
ID_SP = "sp1.ngn.example"
N1 = bytes(range(16))
N1P = bytes(range(16, 32))
N2 = bytes(range(32, 48))
RAND = bytes(range(48, 64))
AUTH = bytes(range(64, 80))
E_KC = bytes(range(80, 104))
E_KSP = bytes(range(104, 128))
KC_SP = bytes(range(128, 144))
MECHS = (Mechanism("tls", 0.2), Mechanism("ipsec", 0.1), Mechanism("app", 0.05))


def counter_rng() -> Callable[[int], bytes]:
    counter = itertools.count(1)
    return lambda size: next(counter).to_bytes(size, "big")


def wire(role: Role, host: str, transport: str = "udp") -> SipWire:
    return SipWire(Side(role, host, 5060, DOMAIN, transport), rng=counter_rng())


@pytest.fixture
def terminal() -> SipWire:
    return wire(Role.TERMINAL, "192.0.2.10")


@pytest.fixture
def sp_t() -> SipWire:
    """The SP's leg towards the terminal."""
    return wire(Role.PROXY, "192.0.2.20")


@pytest.fixture
def sp_s() -> SipWire:
    """The SP's leg towards the softswitch."""
    return wire(Role.PROXY, "192.0.2.21")


@pytest.fixture
def softswitch() -> SipWire:
    return wire(Role.SOFTSWITCH, "192.0.2.30")


def req(data: bytes) -> sip.SipRequest:
    msg = sip.decode(data)
    assert isinstance(msg, sip.SipRequest)
    return msg


def resp(data: bytes) -> sip.SipResponse:
    msg = sip.decode(data)
    assert isinstance(msg, sip.SipResponse)
    return msg


def s10(mac: bytes = bytes(16)) -> S10Success:
    return S10Success(ID_C, ID_SP, N1P, N2, 1_700_000_040, E_KC, "tls", MECHS, mac)


def protected(seq: int = 7, answer: bool = False, id_sp: str = ID_SP) -> Protected:
    """A Protected message with its real MAC under KC_SP."""
    unsigned = Protected(ID_C, id_sp, "tls", seq, b"", answer)
    return Protected(ID_C, id_sp, "tls", seq, ngn.mac(KC_SP, unsigned.mac_fields()), answer)


def test_is_a_reply_wire(terminal: SipWire) -> None:
    as_wire: Wire = terminal
    assert as_wire.name == "sip"
    assert as_wire.commands_only is False


# --- the proxy topology, message by message ----------------------------------------------


def test_s1_register(terminal: SipWire, sp_t: SipWire) -> None:
    message = S1Register(ID_C, ID_SP, N1, 1_700_000_000)
    data = terminal.encode(message)
    msg = req(data)
    sip.check_request(msg)
    assert (msg.method, msg.uri) == ("REGISTER", f"sip:{DOMAIN}")
    assert msg.header("To") == "<sip:alice%20bob@ngn.example>"
    assert (msg.header("From") or "").startswith("<sip:alice%20bob@ngn.example>;tag=")
    assert msg.header("Max-Forwards") == "70"
    assert msg.header("Expires") == "3600"
    assert msg.header("Contact") == "<sip:alice%20bob@192.0.2.10:5060>"
    assert (msg.header("Via") or "").startswith("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK")
    assert sip.cseq(msg) == (1, "REGISTER")
    assert msg.header("Security-Client") is None
    assert msg.header("Proxy-Authorization") is None
    assert msg.header("Authorization") == (
        'NGN username="alice bob", realm="ngn.example", sp="sp1.ngn.example", '
        "n1=000102030405060708090a0b0c0d0e0f, ts1=1700000000")
    inbound = sp_t.decode(data)
    assert inbound == Inbound(message, msg, is_request=True)


def test_s6_challenge_from_sp_is_407(terminal: SipWire, sp_t: SipWire) -> None:
    inbound = sp_t.decode(terminal.encode(S1Register(ID_C, ID_SP, N1, 1_700_000_000)))
    message = S6Challenge(ID_C, ID_SP, RAND, N1, N2, 1_700_000_001)
    data = sp_t.encode(message, inbound)
    msg = resp(data)
    assert (msg.status, msg.reason) == (407, "Proxy Authentication Required")
    assert msg.header("WWW-Authenticate") is None
    assert msg.header("Proxy-Authenticate") == (
        'NGN username="alice bob", realm="ngn.example", sp="sp1.ngn.example", '
        f"rand={RAND.hex()}, n1={N1.hex()}, n2={N2.hex()}, ts2=1700000001")
    assert msg.header("Require") == "sec-agree"
    assert ";tag=" in (msg.header("To") or "")
    assert msg.header("Call-ID") == inbound.context.header("Call-ID")
    got = terminal.decode(data)
    assert got.message == message
    assert got.is_request is False


def test_s6_without_mechanism_request(terminal: SipWire, sp_t: SipWire) -> None:
    inbound = sp_t.decode(terminal.encode(S1Register(ID_C, ID_SP, N1, 1)))
    message = S6Challenge(ID_C, ID_SP, RAND, N1, N2, 2, want_mechanisms=False)
    data = sp_t.encode(message, inbound)
    assert resp(data).header("Require") is None
    assert terminal.decode(data).message == message


def test_s7_answers_407_with_proxy_authorization(terminal: SipWire, sp_t: SipWire) -> None:
    first = terminal.encode(S1Register(ID_C, ID_SP, N1, 1))
    terminal.decode(sp_t.encode(S6Challenge(ID_C, ID_SP, RAND, N1, N2, 2), sp_t.decode(first)))
    message = S7Response(ID_C, ID_SP, N1P, N2, 3, AUTH, MECHS)
    data = terminal.encode(message)
    msg = req(data)
    assert msg.method == "REGISTER"
    assert msg.header("Authorization") is None
    assert msg.header("Proxy-Authorization") == (
        'NGN username="alice bob", realm="ngn.example", sp="sp1.ngn.example", '
        f"n1={N1P.hex()}, n2={N2.hex()}, ts3=3, response={AUTH.hex()}")
    assert msg.header("Security-Client") == "tls;q=0.2, ipsec;q=0.1, app;q=0.05"
    assert msg.header("Security-Verify") is None
    assert sip.cseq(msg) == (2, "REGISTER")
    assert msg.header("Call-ID") == req(first).header("Call-ID")
    assert msg.header("From") == req(first).header("From")
    assert sp_t.decode(data).message == message


def test_s10_success(terminal: SipWire, sp_t: SipWire) -> None:
    terminal.encode(S1Register(ID_C, ID_SP, N1, 1))
    inbound = sp_t.decode(terminal.encode(S7Response(ID_C, ID_SP, N1P, N2, 3, AUTH, MECHS)))
    unsigned = s10()
    message = s10(ngn.mac(KC_SP, unsigned.mac_fields()))
    data = sp_t.encode(message, inbound)
    msg = resp(data)
    assert (msg.status, msg.reason) == (200, "OK")
    assert msg.header("Contact") == "<sip:alice%20bob@192.0.2.10:5060>;expires=3600"
    assert msg.header("Security-Verify") is None
    assert msg.header("Authentication-Info") == (
        'username="alice bob", realm="ngn.example", sp="sp1.ngn.example", '
        f"n1={N1P.hex()}, n2={N2.hex()}, ts4=1700000040, e-kc={E_KC.hex()}, "
        f'mechanism="tls", mechanisms="tls;q=0.2, ipsec;q=0.1, app;q=0.05", '
        f"mac={message.mac.hex()}")
    got = terminal.decode(data).message
    assert got == message
    assert isinstance(got, S10Success)
    ngn.verify_mac(KC_SP, got.mac_fields(), got.mac)


def test_s2_s5_s8_s9_towards_the_softswitch(sp_s: SipWire, softswitch: SipWire) -> None:
    s2 = S2Forward(ID_C, ID_SP)
    data = sp_s.encode(s2)
    msg = req(data)
    assert msg.header("Authorization") == (
        'NGN username="alice bob", realm="ngn.example", sp="sp1.ngn.example"')
    assert (msg.header("Via") or "").startswith("SIP/2.0/UDP 192.0.2.21:5060;")
    inbound = softswitch.decode(data)
    assert inbound.message == s2

    s5 = S5Challenge(ID_C, ID_SP, RAND)
    data = softswitch.encode(s5, inbound)
    msg5 = resp(data)
    assert (msg5.status, msg5.reason) == (401, "Unauthorized")
    assert msg5.header("WWW-Authenticate") == (
        f'NGN username="alice bob", realm="ngn.example", sp="sp1.ngn.example", rand={RAND.hex()}')
    assert sp_s.decode(data).message == s5

    s8 = S8Response(ID_C, ID_SP, AUTH, "198.51.100.7", MECHS)
    data = sp_s.encode(s8)
    msg8 = req(data)
    assert msg8.header("Authorization") == (
        'NGN username="alice bob", realm="ngn.example", sp="sp1.ngn.example", '
        f'response={AUTH.hex()}, address="198.51.100.7"')
    assert msg8.header("Security-Client") == "tls;q=0.2, ipsec;q=0.1, app;q=0.05"
    assert sip.cseq(msg8) == (2, "REGISTER")
    inbound = softswitch.decode(data)
    assert inbound.message == s8

    s9 = S9Success(ID_C, ID_SP, E_KC, E_KSP)
    data = softswitch.encode(s9, inbound)
    msg9 = resp(data)
    assert msg9.status == 200
    assert msg9.header("Authentication-Info") == (
        'username="alice bob", realm="ngn.example", sp="sp1.ngn.example", '
        f"e-kc={E_KC.hex()}, e-ksp={E_KSP.hex()}")
    assert (msg9.header("Contact") or "").endswith(";expires=3600")
    assert sp_s.decode(data).message == s9


def test_s8_without_mechanisms(sp_s: SipWire, softswitch: SipWire) -> None:
    s8 = S8Response(ID_C, ID_SP, AUTH, "2001:db8::7")
    data = sp_s.encode(s8)
    assert req(data).header("Security-Client") is None
    assert softswitch.decode(data).message == s8


# --- the no-proxy topology ---------------------------------------------------------------


def test_softswitch_in_the_sps_part(terminal: SipWire, softswitch: SipWire) -> None:
    s1 = S1Register(ID_C, ID_SP, N1, 10)
    inbound = softswitch.decode(terminal.encode(s1))
    assert inbound.message == s1
    s6 = S6Challenge(ID_C, ID_SP, RAND, N1, N2, 11)
    data = softswitch.encode(s6, inbound)
    msg = resp(data)
    assert msg.status == 401
    assert msg.header("Proxy-Authenticate") is None
    assert (msg.header("WWW-Authenticate") or "").startswith('NGN username="alice bob"')
    assert msg.header("Require") == "sec-agree"
    assert terminal.decode(data).message == s6
    s7 = S7Response(ID_C, ID_SP, N1P, N2, 12, AUTH, MECHS)
    seven = req(terminal.encode(s7))
    assert seven.header("Proxy-Authorization") is None
    assert (seven.header("Authorization") or "").startswith("NGN ")
    inbound = softswitch.decode(seven.encode())
    assert inbound.message == s7
    assert terminal.decode(softswitch.encode(s10(), inbound)).message == s10()


# --- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize("refusal", list(Refusal))
def test_each_refusal_round_trips(refusal: Refusal, terminal: SipWire, sp_t: SipWire) -> None:
    inbound = sp_t.decode(terminal.encode(S1Register(ID_C, ID_SP, N1, 1)))
    data = sp_t.encode(Refuse(ID_C, ID_SP, refusal, 'why "not"'), inbound)
    msg = resp(data)
    expected = {Refusal.MALFORMED: 400, Refusal.UNKNOWN_TERMINAL: 404,
                Refusal.NO_COMMON_MECHANISM: 494, Refusal.UNAVAILABLE: 503}.get(refusal, 403)
    assert msg.status == expected
    assert msg.header("Warning") == (
        f'399 192.0.2.20:5060 "ngn:{refusal.value} why \\"not\\""')
    got = terminal.decode(data)
    assert got == Inbound(Refuse(ID_C, ID_SP, refusal, 'why "not"'), msg, is_request=False)


def test_status_table_reasons() -> None:
    assert STATUS[Refusal.NO_COMMON_MECHANISM] == (494, "Security Agreement Required")
    assert STATUS[Refusal.UNAVAILABLE] == (503, "Service Unavailable")
    assert STATUS[Refusal.UNKNOWN_TERMINAL] == (404, "Not Found")
    assert {code for code, _ in STATUS.values()} == {400, 403, 404, 494, 503}


def _answer(sp_t: SipWire, inbound: Inbound, status: int, extra: str = "") -> bytes:
    req_ = inbound.context
    assert isinstance(req_, sip.SipRequest)
    headers: tuple[tuple[str, str], ...] = (("Warning", extra),) if extra else ()
    return sip.response_to(req_, status, "X", headers, to_tag="t1").encode()


@pytest.mark.parametrize(
    ("status", "warning", "refusal"),
    [
        (403, "", Refusal.AUTH_FAILED),
        (400, "", Refusal.MALFORMED),
        (480, "", Refusal.MALFORMED),
        (500, "", Refusal.UNAVAILABLE),
        (603, "", Refusal.UNAVAILABLE),
        (403, '399 h "ngn:unknown-terminal"', Refusal.AUTH_FAILED),  # 404's, not 403's
        (403, '399 h "ngn:bogus"', Refusal.AUTH_FAILED),
        (403, '301 h "ngn:replay", 399 h "ngn:replay"', Refusal.REPLAY),
        (404, '399 h "other text"', Refusal.UNKNOWN_TERMINAL),
    ],
)
def test_refusal_fallbacks(status: int, warning: str, refusal: Refusal,
                           terminal: SipWire, sp_t: SipWire) -> None:
    inbound = sp_t.decode(terminal.encode(S1Register(ID_C, ID_SP, N1, 1)))
    got = terminal.decode(_answer(sp_t, inbound, status, warning)).message
    assert isinstance(got, Refuse)
    assert (got.id_c, got.id_sp, got.refusal) == (ID_C, ID_SP, refusal)


def test_refusal_needs_an_outstanding_request(terminal: SipWire, sp_t: SipWire) -> None:
    inbound = sp_t.decode(terminal.encode(S1Register(ID_C, ID_SP, N1, 1)))
    refusal = sp_t.encode(Refuse(ID_C, ID_SP, Refusal.STALE), inbound)
    other = wire(Role.TERMINAL, "192.0.2.11")
    with pytest.raises(WireError) as err:
        other.decode(refusal)
    assert err.value.reply is None
    terminal.decode(refusal)
    with pytest.raises(WireError):  # the transaction is complete
        terminal.decode(refusal)


def test_tables_are_bounded(terminal: SipWire, sp_t: SipWire) -> None:
    first = sp_t.decode(terminal.encode(S1Register("t0", ID_SP, N1, 1)))
    for n in range(1, MAX_ENTRIES + 1):
        last = sp_t.decode(terminal.encode(S1Register(f"t{n}", ID_SP, N1, 1)))
    assert len(terminal._pending) == MAX_ENTRIES
    assert len(terminal._dialogs) == MAX_ENTRIES
    with pytest.raises(WireError):  # the oldest was evicted
        terminal.decode(sp_t.encode(Refuse("t0", ID_SP, Refusal.STALE), first))
    got = terminal.decode(sp_t.encode(Refuse(f"t{MAX_ENTRIES}", ID_SP, Refusal.STALE), last))
    assert got.message == Refuse(f"t{MAX_ENTRIES}", ID_SP, Refusal.STALE)


# --- requests: dialog state, transports --------------------------------------------------


def test_call_id_per_terminal_and_cseq_increments(sp_s: SipWire) -> None:
    a1, b1, a2 = (req(sp_s.encode(S2Forward(i, ID_SP))) for i in ("a", "b", "a"))
    assert a1.header("Call-ID") == a2.header("Call-ID") != b1.header("Call-ID")
    assert [sip.cseq(m)[0] for m in (a1, b1, a2)] == [1, 1, 2]
    branches = {m.header("Via") for m in (a1, b1, a2)}
    assert len(branches) == 3


def test_tcp_and_ipv6() -> None:
    term = SipWire(Side(Role.TERMINAL, "2001:db8::10", 5070, DOMAIN, "tcp"), rng=counter_rng())
    proxy = wire(Role.PROXY, "2001:db8::20", "tcp")
    one = term.encode(S1Register("x", ID_SP, N1, 1))
    two = term.encode(S1Register("y", ID_SP, N1, 1))
    msg = req(one)
    assert (msg.header("Via") or "").startswith("SIP/2.0/TCP [2001:db8::10]:5070;branch=z9hG4bK")
    assert msg.header("Contact") == "<sip:x@[2001:db8::10]:5070;transport=tcp>"
    framer = sip.StreamFramer()
    assert framer.feed(one + two[:10]) == [one]
    assert framer.feed(two[10:]) == [two]
    assert proxy.decode(two).message == S1Register("y", ID_SP, N1, 1)


def test_escape_user_hand_derived() -> None:
    # RFC 3261 §25.1: unreserved and user-unreserved stay, the rest is %HH of UTF-8.
    assert escape_user("alice") == "alice"
    assert escape_user("a b@c") == "a%20b%40c"
    assert escape_user("+49;x=1") == "+49;x=1"
    assert escape_user("ü<>") == "%C3%BC%3C%3E"


def test_exotic_identity_round_trips(terminal: SipWire, sp_t: SipWire) -> None:
    ident = 'Zoë "the" \\admin@ngn'
    message = S1Register(ident, "sp-ü", N1, 1)
    data = terminal.encode(message)
    assert "sip:Zo%C3%AB%20%22the%22%20%5Cadmin%40ngn@ngn.example" in data.decode()
    assert sp_t.decode(data).message == message


# --- hand-written messages (RFC 3261 §7 grammar) -----------------------------------------


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


HAND_S1 = crlf(
    "REGISTER sip:ngn.example SIP/2.0\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKhand1\n"
    "Max-Forwards: 70\n"
    "From: <sip:carol@ngn.example>;tag=f1\n"
    "To: <sip:carol@ngn.example>\n"
    "Call-ID: c1@192.0.2.10\n"
    "CSeq: 7 REGISTER\n"
    "Contact: <sip:carol@192.0.2.10:5060>\n"
    "Authorization: Digest username=\"carol\", realm=\"x\", nonce=\"n\", uri=\"sip:x\",\n"
    " response=\"00\"\n"
    "authorization: ngn Username=carol,realm=ngn.example , SP=\"sp9\",\n"
    "\tn1=0102030405060708090A0B0C0D0E0F10, ts1=42, future=ignored\n"
    "Content-Length: 0\n"
    "\n"
)


def test_hand_written_s1(sp_t: SipWire) -> None:
    got = sp_t.decode(HAND_S1)
    assert got.message == S1Register("carol", "sp9", bytes(range(1, 17)), 42)
    reply = resp(sp_t.encode(S6Challenge("carol", "sp9", RAND, bytes(range(1, 17)), N2, 43),
                             got))
    assert reply.header("Via") == "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKhand1"
    assert sip.cseq(reply) == (7, "REGISTER")


def _variant(old: str, new: str) -> bytes:
    data = HAND_S1.replace(old.encode(), new.encode())
    assert data != HAND_S1
    return data


# --- malformed input ---------------------------------------------------------------------


def _refused_400(wire_: SipWire, data: bytes) -> WireError:
    with pytest.raises(WireError) as err:
        wire_.decode(data)
    assert err.value.reply is not None
    reply = resp(err.value.reply)
    assert reply.status == 400
    assert (reply.header("Warning") or "").startswith('399 192.0.2.20:5060 "ngn:malformed ')
    return err.value


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("ts1=42", "ts1=-42"),  # not decimal seconds
        ("ts1=42", "ts1=4x"),
        (", ts1=42", ""),  # n1 without ts1 matches no shape
        ("0A0B0C0D0E0F10", "0A0B0C0D0E0F"),  # 14 octets
        ("0A0B0C0D0E0F10", "0A0B0C0D0E0F1G"),  # not hex
        ('SP="sp9"', 'SP=""'),  # empty id
        ('SP="sp9"', 'SP="sp9", sp="sp8"'),  # repeated parameter
        ("Username=carol,", ""),  # no username
        ("realm=ngn.example ,", ""),  # no realm
        ("ts1=42", "ts1=42, address=\"192.0.2.1\""),  # a parameter of another message
        ("ts1=42, future=ignored", "ts1=42,"),  # dangling comma
        ("authorization: ngn", "Authorization: Basic"),  # no NGN credentials
        ("authorization: ngn Username",  # two NGN credentials
         "Proxy-Authorization: NGN x=1\r\nAuthorization: NGN Username"),
        ("Username=carol", "username=" + "x" * 256),  # id too long
    ],
)
def test_malformed_register_gets_400(old: str, new: str, sp_t: SipWire) -> None:
    _refused_400(sp_t, _variant(old, new))


def test_400_reply_decodes_as_malformed(terminal: SipWire, sp_t: SipWire) -> None:
    data = terminal.encode(S1Register(ID_C, ID_SP, N1, 1)).replace(b"ts1=1", b"ts1=x")
    error = _refused_400(sp_t, data)
    assert error.reply is not None
    got = terminal.decode(error.reply).message
    assert isinstance(got, Refuse)
    assert (got.id_c, got.refusal) == (ID_C, Refusal.MALFORMED)


def test_s7_without_or_with_bad_security_client(terminal: SipWire, sp_t: SipWire) -> None:
    data = terminal.encode(S7Response(ID_C, ID_SP, N1P, N2, 3, AUTH, MECHS))
    without = b"\r\n".join(line for line in data.split(b"\r\n")
                           if not line.startswith(b"Security-Client"))
    _refused_400(sp_t, without)
    _refused_400(sp_t, data.replace(b"ipsec;q=0.1", b"ipsec"))  # no q
    _refused_400(sp_t, data.replace(b"ipsec;q=0.1", b"tls;q=0.1"))  # listed twice


def test_s8_with_a_bad_address(sp_s: SipWire, softswitch: SipWire) -> None:
    data = sp_s.encode(S8Response(ID_C, ID_SP, AUTH, "198.51.100.7"))
    with pytest.raises(WireError) as err:
        softswitch.decode(data.replace(b"198.51.100.7", b"host.example"))
    assert err.value.reply is not None
    assert resp(err.value.reply).status == 400


def test_role_decides_what_is_accepted(terminal: SipWire, sp_t: SipWire,
                                       sp_s: SipWire, softswitch: SipWire) -> None:
    s2 = sp_s.encode(S2Forward(ID_C, ID_SP))
    _refused_400(sp_t, s2)  # an SP does not receive s2
    with pytest.raises(WireError) as err:
        terminal.decode(s2)  # a terminal is no registrar
    assert err.value.reply is not None
    reply = resp(err.value.reply)
    assert reply.status == 405
    assert reply.header("Allow") == ""
    # a terminal does not take s5, the softswitch takes no responses
    inbound = softswitch.decode(s2)
    s5 = softswitch.encode(S5Challenge(ID_C, ID_SP, RAND), inbound)
    with pytest.raises(WireError):
        terminal.decode(s5)
    with pytest.raises(WireError):
        softswitch.decode(s5)


def test_other_methods(sp_t: SipWire) -> None:
    options = HAND_S1.replace(b"REGISTER", b"OPTIONS")
    with pytest.raises(WireError) as err:
        sp_t.decode(options)
    assert err.value.reply is not None
    reply = resp(err.value.reply)
    assert (reply.status, reply.header("Allow")) == (405, "REGISTER")
    with pytest.raises(WireError) as err:
        sp_t.decode(HAND_S1.replace(b"REGISTER", b"ACK"))
    assert err.value.reply is None  # RFC 3261 §17.1.1.3: no response to ACK


def test_request_lacking_headers(sp_t: SipWire) -> None:
    with pytest.raises(WireError) as err:
        sp_t.decode(_variant("Max-Forwards: 70\r\n", ""))
    assert err.value.reply is not None
    assert resp(err.value.reply).status == 400
    with pytest.raises(WireError) as err:
        sp_t.decode(_variant("Call-ID: c1@192.0.2.10\r\n", ""))
    assert err.value.reply is None  # no response can be built without Call-ID


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage",
        b"REGISTER sip:x SIP/2.0\r\nVia x\r\n\r\n",
        b"\xff\xfe\r\n\r\n",
        b"SIP/2.0 2000 OK\r\n\r\n",
        HAND_S1.replace(b"Content-Length: 0", b"Content-Length: 9"),
        HAND_S1[:-4] + b"\r\n" + b"X-Pad: " + b"a" * (sip.MAX_MESSAGE) + b"\r\n\r\n",
    ],
)
def test_not_sip_is_refused_without_reply(data: bytes, sp_t: SipWire) -> None:
    with pytest.raises(WireError) as err:
        sp_t.decode(data)
    assert err.value.reply is None


def _challenge_variant(terminal: SipWire, sp_t: SipWire, old: bytes, new: bytes) -> bytes:
    inbound = sp_t.decode(terminal.encode(S1Register(ID_C, ID_SP, N1, 1)))
    data = sp_t.encode(S6Challenge(ID_C, ID_SP, RAND, N1, N2, 2), inbound)
    changed = data.replace(old, new)
    assert changed != data
    return changed


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"Proxy-Authenticate: NGN", b"Proxy-Authenticate: Digest"),  # no NGN challenge
        (b"Proxy-Authenticate", b"WWW-Authenticate"),  # 407 needs Proxy-Authenticate
        (b", ts2=2", b""),  # a missing field
        (b"ts2=2", b"ts2=99999999999999999999"),  # too many digits
        (b'sp="sp1.ngn.example"', b'sp="other"'),  # not the id of the request
        (b"CSeq: 1 REGISTER", b"CSeq: 1 OPTIONS"),  # not an answer to REGISTER
        (b"SIP/2.0 407 Proxy Authentication Required", b"SIP/2.0 100 Trying"),
        (b"SIP/2.0 407 Proxy Authentication Required", b"SIP/2.0 202 Accepted"),
        (b"SIP/2.0 407 Proxy Authentication Required", b"SIP/2.0 200 OK"),  # no Auth-Info
    ],
)
def test_malformed_responses_are_refused(old: bytes, new: bytes,
                                         terminal: SipWire, sp_t: SipWire) -> None:
    data = _challenge_variant(terminal, sp_t, old, new)
    with pytest.raises(WireError) as err:
        terminal.decode(data)
    assert err.value.reply is None


def test_s5_must_be_a_401(sp_s: SipWire, softswitch: SipWire) -> None:
    inbound = softswitch.decode(sp_s.encode(S2Forward(ID_C, ID_SP)))
    data = softswitch.encode(S5Challenge(ID_C, ID_SP, RAND), inbound)
    data = data.replace(b"401 Unauthorized", b"407 Proxy Authentication Required")
    data = data.replace(b"WWW-Authenticate", b"Proxy-Authenticate")
    with pytest.raises(WireError):
        sp_s.decode(data)


def test_s10_with_bad_fields(terminal: SipWire, sp_t: SipWire) -> None:
    terminal.encode(S1Register(ID_C, ID_SP, N1, 1))
    inbound = sp_t.decode(terminal.encode(S7Response(ID_C, ID_SP, N1P, N2, 3, AUTH, MECHS)))
    good = sp_t.encode(s10(), inbound)
    for old, new in [(b'mechanism="tls"', b'mechanism="t s"'),
                     (b"app;q=0.05", b"app;q=2"),
                     (b"mac=" + bytes(16).hex().encode(), b"mac=00"),
                     (b"e-kc=" + E_KC.hex().encode(), b"e-kc=" + AUTH.hex().encode())]:
        bad = good.replace(old, new)
        assert bad != good
        fresh = wire(Role.TERMINAL, "192.0.2.10")
        with pytest.raises(WireError):
            fresh.decode(bad)
    assert wire(Role.TERMINAL, "192.0.2.10").decode(good).message == s10()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.integers(min_value=0, max_value=len(HAND_S1)))
def test_fuzz_only_wire_errors(noise: bytes, at: int) -> None:
    proxy = wire(Role.PROXY, "192.0.2.20")
    for data in (noise, HAND_S1[:at] + noise + HAND_S1[at:], HAND_S1[:at]):
        reply: bytes | None = None
        try:
            got = proxy.decode(data)
        except WireError as exc:
            reply = exc.reply
        else:
            assert isinstance(got.message, S1Register | S7Response | Protected)
        if reply is not None:
            assert isinstance(sip.decode(reply), sip.SipResponse)


# --- encoding errors ---------------------------------------------------------------------


def test_encode_refuses_bad_messages(terminal: SipWire, sp_t: SipWire) -> None:
    inbound = sp_t.decode(terminal.encode(S1Register(ID_C, ID_SP, N1, 1)))
    with pytest.raises(InvalidInput):
        terminal.encode(S1Register(ID_C, ID_SP, N1[:8], 1))
    with pytest.raises(InvalidInput):
        terminal.encode(S1Register(ID_C, ID_SP, N1, -1))
    with pytest.raises(InvalidInput):
        terminal.encode(S1Register("", ID_SP, N1, 1))
    with pytest.raises(InvalidInput):
        terminal.encode(S1Register(ID_C, ID_SP, N1, 1), inbound)
    with pytest.raises(InvalidInput):
        sp_t.encode(S8Response(ID_C, ID_SP, AUTH, "not-an-ip"))
    with pytest.raises(InvalidInput):
        sp_t.encode(Ack(ID_C, ID_SP), inbound)
    with pytest.raises(InvalidInput):
        sp_t.encode(S5Challenge(ID_C, ID_SP, RAND))
    with pytest.raises(InvalidInput):
        sp_t.encode(S5Challenge(ID_C, ID_SP, RAND), Inbound(S2Forward(ID_C, ID_SP), None))
    with pytest.raises(InvalidInput):
        sp_t.encode(S9Success(ID_C, ID_SP, E_KC[:16], E_KSP), inbound)
    with pytest.raises(InvalidInput):
        sp_t.encode(S10Success(ID_C, ID_SP, N1P, N2, 1, E_KC, "t s", MECHS, bytes(16)), inbound)
    with pytest.raises(InvalidInput):
        SipWire(Side(Role.PROXY, "192.0.2.1", 5060, DOMAIN, "sctp"))


# --- Protected: the refresh under Kc,sp after registration -------------------------------


def test_protected_refresh_through_the_sp(terminal: SipWire, sp_t: SipWire) -> None:
    first = req(terminal.encode(S1Register(ID_C, ID_SP, N1, 1)))
    request = protected()
    data = terminal.encode(request)
    msg = req(data)
    sip.check_request(msg)
    assert (msg.method, msg.uri) == ("REGISTER", f"sip:{DOMAIN}")
    assert msg.header("Authorization") == (
        'NGN username="alice bob", realm="ngn.example", sp="sp1.ngn.example", '
        f'mechanism="tls", seq=7, mac={request.mac.hex()}')
    assert msg.header("Proxy-Authorization") is None
    assert msg.header("Security-Client") is None
    assert msg.header("Expires") == "3600"
    # a refresh (RFC 3261 §10.2.4): the same Call-ID and From tag, the next CSeq
    assert msg.header("Call-ID") == first.header("Call-ID")
    assert msg.header("From") == first.header("From")
    assert sip.cseq(msg) == (2, "REGISTER")
    inbound = sp_t.decode(data)
    assert inbound == Inbound(request, msg, is_request=True)

    answer = protected(answer=True)
    reply = sp_t.encode(answer, inbound)
    msg200 = resp(reply)
    assert (msg200.status, msg200.reason) == (200, "OK")
    assert msg200.header("Contact") == "<sip:alice%20bob@192.0.2.10:5060>;expires=3600"
    assert msg200.header("Authentication-Info") == (
        'username="alice bob", realm="ngn.example", sp="sp1.ngn.example", '
        f'mechanism="tls", seq=7, mac={answer.mac.hex()}, direction=answer')
    assert msg200.header("WWW-Authenticate") is None
    got = terminal.decode(reply)
    assert got == Inbound(answer, msg200, is_request=False)
    assert isinstance(got.message, Protected)
    ngn.verify_mac(KC_SP, got.message.mac_fields(), got.message.mac)
    assert got.message.mac != request.mac  # the direction is covered


def test_protected_refresh_to_a_softswitch(terminal: SipWire, softswitch: SipWire) -> None:
    request = protected(seq=1)
    inbound = softswitch.decode(terminal.encode(request))
    assert inbound.message == request
    answer = protected(seq=1, answer=True)
    assert terminal.decode(softswitch.encode(answer, inbound)).message == answer


@pytest.mark.parametrize("seq", [0, 1, MAX_SEQ])
def test_protected_seq_range_round_trips(seq: int, terminal: SipWire, sp_t: SipWire) -> None:
    assert MAX_SEQ == 2**32 - 1
    inbound = sp_t.decode(terminal.encode(protected(seq)))
    assert inbound.message == protected(seq)
    reply = sp_t.encode(protected(seq, answer=True), inbound)
    assert f"seq={seq}," in (resp(reply).header("Authentication-Info") or "")
    assert terminal.decode(reply).message == protected(seq, answer=True)


@pytest.mark.parametrize("refusal", [Refusal.REPLAY, Refusal.AUTH_FAILED, Refusal.MALFORMED,
                                     Refusal.UNAVAILABLE])
def test_refuse_answers_a_protected_request(refusal: Refusal, terminal: SipWire,
                                            sp_t: SipWire) -> None:
    inbound = sp_t.decode(terminal.encode(protected()))
    data = sp_t.encode(Refuse(ID_C, ID_SP, refusal, "a refresh seen before"), inbound)
    msg = resp(data)
    assert msg.status == STATUS[refusal][0]
    assert msg.header("Authentication-Info") is None
    got = terminal.decode(data)
    assert got == Inbound(Refuse(ID_C, ID_SP, refusal, "a refresh seen before"), msg, False)


def test_protected_is_told_apart_from_every_request(terminal: SipWire, sp_s: SipWire,
                                                    softswitch: SipWire) -> None:
    sent: list[FlowMessage] = [S1Register(ID_C, ID_SP, N1, 1),
                               S7Response(ID_C, ID_SP, N1P, N2, 3, AUTH, MECHS), protected()]
    got = [softswitch.decode(terminal.encode(m)).message for m in sent]
    sent2: list[FlowMessage] = [S2Forward(ID_C, ID_SP),
                                S8Response(ID_C, ID_SP, AUTH, "192.0.2.9", MECHS)]
    got += [softswitch.decode(sp_s.encode(m)).message for m in sent2]
    assert got == [*sent, *sent2]


def test_protected_answer_is_told_apart_from_s10(terminal: SipWire, sp_t: SipWire) -> None:
    inbound = sp_t.decode(terminal.encode(S7Response(ID_C, ID_SP, N1P, N2, 3, AUTH, MECHS)))
    assert terminal.decode(sp_t.encode(s10(), inbound)).message == s10()
    inbound = sp_t.decode(terminal.encode(protected()))
    got = terminal.decode(sp_t.encode(protected(answer=True), inbound)).message
    assert isinstance(got, Protected)
    assert got.answer is True


def test_hand_written_protected_request(sp_t: SipWire) -> None:
    # either credentials header, any scheme case, upper-case hex, extension params ignored
    data = _variant("n1=0102030405060708090A0B0C0D0E0F10, ts1=42, future=ignored",
                    'mechanism=ipsec, seq=0042, MAC=00112233445566778899AABBCCDDEEFF, x=1')
    data = data.replace(b"authorization: ngn", b"Proxy-Authorization: nGn")
    got = sp_t.decode(data)
    assert got.message == Protected("carol", "sp9", "ipsec", 42,
                                    bytes.fromhex("00112233445566778899aabbccddeeff"))


def _protected_request(terminal: SipWire, old: bytes, new: bytes) -> bytes:
    data = terminal.encode(protected(seq=5))
    changed = data.replace(old, new)
    assert changed != data
    return changed


_MAC = protected(seq=5).mac.hex().encode()
_MAC_ANSWER = protected(seq=5, answer=True).mac.hex().encode()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"seq=5", b"seq=-5"),  # not decimal
        (b"seq=5", b"seq=5x"),
        (b"seq=5", b"seq="),  # empty
        (b"seq=5", b"seq=4294967296"),  # 2**32
        (b"seq=5", b"seq=99999999999"),  # 11 digits
        (b"seq=5", b'seq="5", seq=6'),  # repeated
        (b"seq=5, ", b""),  # no seq: mechanism+mac match no request
        (b'mechanism="tls", ', b""),  # no mechanism
        (b", mac=" + _MAC, b""),  # no mac
        (b'mechanism="tls"', b'mechanism="t s"'),  # not a token
        (b'mechanism="tls"', b'mechanism=""'),
        (b"mac=" + _MAC, b"mac=" + _MAC[:-2]),  # 15 octets
        (b"mac=" + _MAC, b"mac=" + _MAC[:-1] + b"g"),  # not hex
        (b"seq=5", b"seq=5, n1=" + N1.hex().encode()),  # a field of s1
        (b"seq=5", b"seq=5, response=" + AUTH.hex().encode()),  # a field of s7/s8
        (b"seq=5", b"seq=5, direction=answer"),  # the answer's flag in a request
        (b'sp="sp1.ngn.example"', b'sp=""'),
    ],
)
def test_malformed_protected_request_gets_400(old: bytes, new: bytes, terminal: SipWire,
                                              sp_t: SipWire) -> None:
    _refused_400(sp_t, _protected_request(terminal, old, new))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b", direction=answer", b""),  # no flag: matches no answer
        (b"direction=answer", b"direction=request"),
        (b"direction=answer", b"direction=ANSWER"),
        (b"seq=5", b"seq=4294967296"),
        (b"seq=5", b"seq=0x5"),
        (b"seq=5, ", b""),
        (b'mechanism="tls"', b'mechanism="a,b"'),
        (b"mac=" + _MAC_ANSWER, b"mac=00"),
        (b"direction=answer", b"direction=answer, e-kc=" + E_KC.hex().encode()),
        (b'username="alice bob"', b'username="mallory"'),  # not the id of the request
        (b"CSeq: 1 REGISTER", b"CSeq: 1 OPTIONS"),
    ],
)
def test_malformed_protected_answer_is_refused(old: bytes, new: bytes,
                                               terminal: SipWire, sp_t: SipWire) -> None:
    inbound = sp_t.decode(terminal.encode(protected(seq=5)))
    good = sp_t.encode(protected(seq=5, answer=True), inbound)
    bad = good.replace(old, new)
    assert bad != good
    with pytest.raises(WireError) as err:
        terminal.decode(bad)
    assert err.value.reply is None
    assert terminal.decode(good).message == protected(seq=5, answer=True)


def test_protected_roles(terminal: SipWire, sp_t: SipWire, sp_s: SipWire,
                         softswitch: SipWire) -> None:
    request, answer = protected(), protected(answer=True)
    # only the terminal sends the request: the SP does not forward it upstream
    for node in (sp_t, sp_s, softswitch):
        with pytest.raises(InvalidInput):
            node.encode(request)
    # a terminal neither receives the request nor sends the answer
    data = terminal.encode(request)
    with pytest.raises(WireError) as err:
        wire(Role.TERMINAL, "192.0.2.11").decode(data)
    assert err.value.reply is not None
    assert resp(err.value.reply).status == 405
    inbound = sp_t.decode(data)
    with pytest.raises(InvalidInput):
        terminal.encode(answer, inbound)
    # the answer is received by the terminal only
    reply = sp_t.encode(answer, inbound)
    for node in (sp_s, softswitch):
        with pytest.raises(WireError):
            node.decode(reply)
    assert terminal.decode(reply).message == answer


def test_protected_encoding_errors(terminal: SipWire, sp_t: SipWire) -> None:
    s1_inbound = sp_t.decode(terminal.encode(S1Register(ID_C, ID_SP, N1, 1)))
    inbound = sp_t.decode(terminal.encode(protected()))
    with pytest.raises(InvalidInput):  # a request is no answer
        terminal.encode(protected(), inbound)
    with pytest.raises(InvalidInput):  # an answer needs a request to answer
        sp_t.encode(protected(answer=True))
    with pytest.raises(InvalidInput):  # ... and that request is a Protected one
        sp_t.encode(protected(answer=True), s1_inbound)
    with pytest.raises(InvalidInput):
        sp_t.encode(protected(answer=True), Inbound(protected(answer=True), inbound.context))
    for bad in (Protected(ID_C, ID_SP, "tls", 1, bytes(15)),
                Protected(ID_C, ID_SP, "t s", 1, bytes(16)),
                Protected(ID_C, ID_SP, "tls", -1, bytes(16)),
                Protected(ID_C, ID_SP, "tls", 2**32, bytes(16)),
                Protected(ID_C, ID_SP, "tls", True, bytes(16)),
                Protected("", ID_SP, "tls", 1, bytes(16))):
        with pytest.raises(InvalidInput):
            terminal.encode(bad)
        with pytest.raises(InvalidInput):
            sp_t.encode(Protected(bad.id_c, bad.id_sp, bad.mechanism, bad.seq, bad.mac, True),
                        inbound)


def test_terminal_matches_answers_to_their_request(terminal: SipWire, sp_t: SipWire) -> None:
    # a Protected answer to a registration REGISTER is refused ...
    s1_inbound = sp_t.decode(terminal.encode(S1Register(ID_C, ID_SP, N1, 1)))
    forged = Inbound(protected(), s1_inbound.context)
    with pytest.raises(WireError):
        terminal.decode(sp_t.encode(protected(answer=True), forged))
    # ... and so is an s10 or an s6 to a Protected request
    inbound = sp_t.decode(terminal.encode(protected()))
    with pytest.raises(WireError):
        terminal.decode(sp_t.encode(s10(), inbound))
    inbound = sp_t.decode(terminal.encode(protected()))
    with pytest.raises(WireError):
        terminal.decode(sp_t.encode(S6Challenge(ID_C, ID_SP, RAND, N1, N2, 2), inbound))
    # a Protected answer naming another SP than the request is refused
    inbound = sp_t.decode(terminal.encode(protected()))
    with pytest.raises(WireError):
        terminal.decode(sp_t.encode(protected(answer=True, id_sp="sp2"), inbound))

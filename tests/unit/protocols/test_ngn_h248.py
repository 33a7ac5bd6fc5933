"""The H.248 binding of the NGN key distribution (gba.protocols.ngn_h248; RFC 3525)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gba.errors import InvalidInput
from gba.protocols import megaco
from gba.protocols.megaco import Item, is_token
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
    WireError,
)
from gba.protocols.ngn_h248 import ERROR_CODES, MAX_OUTSTANDING, H248Context, H248Wire

pytestmark = pytest.mark.ngn

MECHS = (Mechanism("tls", 0.2), Mechanism("ipsec", 0.1), Mechanism("app", 0.05))
N1, N2, RAND, AUTH = b"\x11" * 16, b"\x22" * 16, b"\x33" * 16, b"\x44" * 16
EKC, EKSP, MAC = b"\x55" * 24, b"\x66" * 24, b"\x77" * 16
ID_C, ID_SP = "alice@ngn.example", "sp1.ngn.example"


def _rng() -> Callable[[int], bytes]:
    counter = itertools.count(1000)
    return lambda n: next(counter).to_bytes(n, "big")


def _wire(role: Role, host: str = "192.0.2.1") -> H248Wire:
    return H248Wire(Side(role, host, 2944, "ngn.example"), _rng())


S1 = S1Register(ID_C, ID_SP, N1, 1_700_000_000)
S2 = S2Forward(ID_C, ID_SP)
S5 = S5Challenge(ID_C, ID_SP, RAND)
S6 = S6Challenge(ID_C, ID_SP, RAND, N1, N2, 1_700_000_001)
S7 = S7Response(ID_C, ID_SP, N1, N2, 1_700_000_002, AUTH, MECHS)
S8 = S8Response(ID_C, ID_SP, AUTH, "198.51.100.7", MECHS)
S9 = S9Success(ID_C, ID_SP, EKC, EKSP)
S10 = S10Success(ID_C, ID_SP, N1, N2, 1_700_000_003, EKC, "tls", MECHS, MAC)

# (sender role, receiver role, message, command, descriptor token)
LEGS: list[tuple[Role, Role, FlowMessage, str, str]] = [
    (Role.TERMINAL, Role.PROXY, S1, "ServiceChange", "Services"),
    (Role.TERMINAL, Role.SOFTSWITCH, S1, "ServiceChange", "Services"),
    (Role.PROXY, Role.SOFTSWITCH, S2, "ServiceChange", "Services"),
    (Role.SOFTSWITCH, Role.PROXY, S5, "Modify", "Events"),
    (Role.PROXY, Role.TERMINAL, S6, "Modify", "Events"),
    (Role.SOFTSWITCH, Role.TERMINAL, S6, "Modify", "Events"),
    (Role.TERMINAL, Role.PROXY, S7, "Notify", "ObservedEvents"),
    (Role.TERMINAL, Role.SOFTSWITCH, S7, "Notify", "ObservedEvents"),
    (Role.PROXY, Role.SOFTSWITCH, S8, "Notify", "ObservedEvents"),
    (Role.SOFTSWITCH, Role.PROXY, S9, "Modify", "Media"),
    (Role.PROXY, Role.TERMINAL, S10, "Modify", "Media"),
    (Role.SOFTSWITCH, Role.TERMINAL, S10, "Modify", "Media"),
]


def _command(data: bytes) -> tuple[Item, Item]:
    """(Transaction, command) of an encoded message, checked against the Annex B shape."""
    msg = megaco.parse(data)
    (txn,) = msg.body
    assert is_token(txn.name, "Transaction")
    (ctx,) = txn.children or ()
    assert is_token(ctx.name, "Context")
    assert ctx.value == "-"
    (cmd,) = ctx.children or ()
    assert cmd.value == "ROOT"
    return txn, cmd


@pytest.mark.parametrize(("src", "dst", "message", "command", "descriptor"), LEGS)
def test_round_trip_and_ack(src: Role, dst: Role, message: FlowMessage, command: str,
                            descriptor: str) -> None:
    sender, receiver = _wire(src, "192.0.2.1"), _wire(dst, "192.0.2.2")
    data = sender.encode(message)
    assert data.startswith(b"MEGACO/1 [192.0.2.1]:2944\n")
    txn, cmd = _command(data)
    assert cmd.name == command
    assert cmd.children is not None
    assert cmd.children[0].name == descriptor
    inbound = receiver.decode(data)
    assert inbound.message == message
    assert inbound.is_request
    ctx = inbound.context
    assert isinstance(ctx, H248Context)
    assert (ctx.transaction_id, ctx.command, ctx.termination_id, ctx.mid) == (
        int(txn.value or ""), command, "ROOT", "[192.0.2.1]:2944")
    ack = receiver.encode(Ack(ID_C, ID_SP), answering=inbound)
    reply = megaco.parse(ack).body[0]
    assert reply == Item("Reply", txn.value, (Item("Context", "-", (Item(command, "ROOT"),)),))
    back = sender.decode(ack)
    assert back.message == Ack(ID_C, ID_SP)
    assert not back.is_request
    with pytest.raises(WireError, match="unknown transaction"):
        sender.decode(ack)  # answered once only


def test_field_forms_on_the_wire() -> None:
    _, sc = _command(_wire(Role.TERMINAL).encode(S1))
    params = {i.name: (i.value, i.quoted_value) for i in sc.children[0].children or ()}  # type: ignore[index]
    assert params == {"Method": ("Restart", False), "Reason": ("901 Cold Boot", True),
                      "X-IDC": (ID_C, True), "X-IDSP": (ID_SP, True),
                      "X-N1": ("11" * 16, False), "X-TS1": ("1700000000", False)}
    _, md = _command(_wire(Role.PROXY).encode(S6))
    (event,) = md.children[0].children or ()  # type: ignore[index]
    assert event.name == "ngnkd/chal"
    assert {i.name: i.value for i in event.children or ()} == {
        "idc": ID_C, "idsp": ID_SP, "rand": "33" * 16, "n1": "11" * 16, "n2": "22" * 16,
        "ts2": "1700000001", "mech": "on"}
    _, nt = _command(_wire(Role.TERMINAL).encode(S7))
    (event,) = nt.children[0].children or ()  # type: ignore[index]
    fields = {i.name: (i.value, i.quoted_value) for i in event.children or ()}
    assert event.name == "ngnkd/resp"
    assert fields["mechs"] == ("tls;q=0.2, ipsec;q=0.1, app;q=0.05", True)
    assert fields["auth"] == ("44" * 16, False)
    assert fields["ts3"] == ("1700000002", False)
    _, md = _command(_wire(Role.PROXY).encode(S10))
    (state,) = md.children[0].children or ()  # type: ignore[index]
    assert state.name == "TerminationState"
    assert [i.name for i in state.children or ()] == [
        "ngnkd/idc", "ngnkd/idsp", "ngnkd/n1", "ngnkd/n2", "ngnkd/ts4", "ngnkd/ekc",
        "ngnkd/chosen", "ngnkd/mechs", "ngnkd/mac"]


def test_variants_round_trip() -> None:
    ss, t, sp = _wire(Role.SOFTSWITCH), _wire(Role.TERMINAL), _wire(Role.PROXY)
    no_mech = S6Challenge(ID_C, ID_SP, RAND, N1, N2, 5, want_mechanisms=False)
    assert t.decode(sp.encode(no_mech)).message == no_mech
    bare = S8Response(ID_C, ID_SP, AUTH, "2001:db8::7")
    assert ss.decode(sp.encode(bare)).message == bare
    for ids in (('al"ice', 'sp"1'), ("\u00e9l\u00e8ve@ngn", "sp;{x}=1")):
        msg = S1Register(ids[0], ids[1], N1, 1)
        data = t.encode(msg)
        assert ss.decode(data).message == msg
    assert b'X-IDCH = 616c22696365' in t.encode(S1Register('al"ice', ID_SP, N1, 1))


def test_notify_repeats_the_request_id_of_the_modify() -> None:
    sp, t = _wire(Role.PROXY), _wire(Role.TERMINAL)
    modify = t.decode(sp.encode(S6))
    rid = modify.context.request_id
    assert isinstance(rid, int)
    assert rid > 0
    _, notify = _command(t.encode(S7))
    assert notify.children is not None
    assert notify.children[0].value == str(rid)
    assert sp.decode(t.encode(S7)).context.request_id == rid


def test_short_form_input_is_accepted() -> None:
    data = (b'!/1 [192.0.2.9]:2944\nT=77{C=-{SC=ROOT{SV{MT=RS,RE="902 Warm Boot",'
            b'x-idc="alice@ngn.example",X-IDSP="sp1.ngn.example",V=1}}}}')
    inbound = _wire(Role.SOFTSWITCH).decode(data)
    assert inbound.message == S2
    assert inbound.context.transaction_id == 77
    data = (b'!/1 [192.0.2.9]:2944 T=78{C=-{N=ROOT{OE=5{19990729T22000000:NGNKD/resp{'
            b'idc="alice@ngn.example",idsp="sp1.ngn.example",auth=' + b"44" * 16
            + b',addr="198.51.100.7"}}}}}')
    assert _wire(Role.SOFTSWITCH).decode(data).message == S8Response(ID_C, ID_SP, AUTH,
                                                                   "198.51.100.7")


@pytest.mark.parametrize("refusal", list(Refusal))
def test_every_refusal_round_trips(refusal: Refusal) -> None:
    sp, ss = _wire(Role.PROXY), _wire(Role.SOFTSWITCH)
    inbound = ss.decode(sp.encode(S2))
    data = ss.encode(Refuse(ID_C, ID_SP, refusal, 'the "reason"'), answering=inbound)
    reply = megaco.parse(data).body[0]
    (error,) = reply.children or ()
    assert is_token(error.name, "Error")
    assert error.value == str(ERROR_CODES[refusal])
    assert error.children == (Item(f"ngn:{refusal.value}: the 'reason'", quoted_name=True),)
    back = sp.decode(data)
    assert back.message == Refuse(ID_C, ID_SP, refusal, "the 'reason'")
    assert not back.is_request


def test_error_code_table() -> None:
    assert {r: ERROR_CODES[r] for r in Refusal} == {
        Refusal.MALFORMED: 400, Refusal.UNKNOWN_TERMINAL: 410, Refusal.UNKNOWN_PROXY: 504,
        Refusal.STALE: 402, Refusal.REPLAY: 402, Refusal.NOT_ECHOED: 402,
        Refusal.AUTH_FAILED: 402, Refusal.NO_COMMON_MECHANISM: 501, Refusal.UNAVAILABLE: 503}


def _sent_txn(sender: H248Wire, message: FlowMessage) -> str:
    txn, _ = _command(sender.encode(message))
    return txn.value or ""


@pytest.mark.parametrize(("inner", "expected"), [
    ('Error = 402 { "bad" }', Refuse(ID_C, ID_SP, Refusal.AUTH_FAILED, "bad")),
    ("Error = 430 { }", Refuse(ID_C, ID_SP, Refusal.MALFORMED, "")),
    ('Error = 502 { "not ready" }', Refuse(ID_C, ID_SP, Refusal.UNAVAILABLE, "not ready")),
    ('Error = 410 { "ngn:bogus" }', Refuse(ID_C, ID_SP, Refusal.UNKNOWN_TERMINAL, "ngn:bogus")),
    ('Context = - { Error = 504 { "ngn:unknown-proxy" } }',
     Refuse(ID_C, ID_SP, Refusal.UNKNOWN_PROXY, "")),
    ('Context = - { SC = ROOT { Error = 503 { } } }', Refuse(ID_C, ID_SP, Refusal.UNAVAILABLE, "")),
    ("IA, Context = - { ServiceChange = ROOT }", Ack(ID_C, ID_SP)),
    # RFC 3525 A.1.1: the MGC's reply to the MG's ServiceChange
    ("Context = - {ServiceChange = ROOT {\n Services {ServiceChangeAddress=55555, "
     "Profile=ResGW/1} } }", Ack(ID_C, ID_SP)),
])
def test_reply_forms_from_a_peer(inner: str, expected: FlowMessage) -> None:
    t = _wire(Role.TERMINAL)
    tid = _sent_txn(t, S1)
    data = f"MEGACO/1 [192.0.2.2]:2944\nReply = {tid} {{ {inner} }}".encode()
    assert t.decode(data).message == expected


@pytest.mark.parametrize("inner", [
    "Context = - { Modify = ROOT }",  # not the command sent
    "Context = - { ServiceChange = ROOT { Media { } } }",
    "Context = - { ServiceChange = ROOT { Services { }, Services { } } }",
    "Context = x { ServiceChange = ROOT }",
    'Error = 12345 { "x" }',
    'Error = 400 { "a", "b" }',
    "Pending = 1 { }",
])
def test_bad_replies_are_refused_without_answer(inner: str) -> None:
    t = _wire(Role.TERMINAL)
    tid = _sent_txn(t, S1)
    data = f"MEGACO/1 [192.0.2.2]:2944\nReply = {tid} {{ {inner} }}".encode()
    with pytest.raises(WireError) as info:
        t.decode(data)
    assert info.value.reply is None
    ok = f"MEGACO/1 [192.0.2.2]:2944\nReply = {tid} {{ Context = - {{ SC = ROOT }} }}".encode()
    assert t.decode(ok).message == Ack(ID_C, ID_SP)  # still outstanding after the bad one


def test_outstanding_table_is_bounded() -> None:
    t = _wire(Role.TERMINAL)
    first = _sent_txn(t, S1)
    for _ in range(MAX_OUTSTANDING):
        _sent_txn(t, S1)
    data = f"MEGACO/1 [192.0.2.2]:2944 Reply = {first} {{ }}".encode()
    with pytest.raises(WireError, match="unknown transaction"):
        t.decode(data)
    assert len(t._sent) == MAX_OUTSTANDING


def test_roles_are_enforced() -> None:
    with pytest.raises(InvalidInput):
        _wire(Role.TERMINAL).encode(S6)
    with pytest.raises(InvalidInput):
        _wire(Role.PROXY).encode(S1)
    with pytest.raises(InvalidInput):
        _wire(Role.SOFTSWITCH).encode(S8)
    with pytest.raises(WireError) as info:  # a terminal receives no ServiceChange
        _wire(Role.TERMINAL).decode(_wire(Role.TERMINAL).encode(S1))
    assert info.value.reply is not None
    assert b"Error = 443" in info.value.reply
    with pytest.raises(WireError) as info:  # an SP receives s1, not s2
        _wire(Role.PROXY).decode(_wire(Role.PROXY).encode(S2))
    assert info.value.reply is not None
    assert b"Error = 400" in info.value.reply


def test_ack_and_refuse_need_an_inbound_command() -> None:
    t = _wire(Role.TERMINAL)
    with pytest.raises(InvalidInput):
        t.encode(Ack(ID_C, ID_SP))
    with pytest.raises(InvalidInput):
        t.encode(Refuse(ID_C, ID_SP, Refusal.STALE), answering=Inbound(Ack(ID_C, ID_SP), None))
    with pytest.raises(InvalidInput):
        t.encode(S7Response(ID_C, ID_SP, N1[:8], N2, 1, AUTH, MECHS))
    with pytest.raises(InvalidInput):
        t.encode(S1Register("a\nb", ID_SP, N1, 1))


HEAD = "MEGACO/1 [192.0.2.9]:2944\nTransaction = 31 { Context = - { "
SC = 'ServiceChange = ROOT { Services { Method = Restart, Reason = "901", '
IDS = 'idc = "alice", idsp = "sp"'
CHAL = "Modify = ROOT { Events = 9 { ngnkd/chal { " + IDS
H16 = "ab" * 16


@pytest.mark.parametrize(("role", "body"), [
    (Role.SOFTSWITCH, SC + 'X-IDC = "a" } }'),  # no ID_sp
    (Role.SOFTSWITCH, SC + 'X-IDC = "a", X-IDCH = 61, X-IDSP = "b" } }'),  # both forms
    (Role.SOFTSWITCH, SC + 'X-IDC = "a", X-IDC = "b", X-IDSP = "b" } }'),  # twice
    (Role.SOFTSWITCH, SC + 'X-IDC = "a", X-IDSP = "b", X-N1 = ' + H16 + " } }"),  # N1, no TS1
    (Role.SOFTSWITCH, SC + 'X-IDC = "a", X-IDSP = "b", X-N1 = abcd, X-TS1 = 1 } }'),  # short N1
    (Role.SOFTSWITCH, SC + 'X-IDC = "a", X-IDSP = "b", X-N1 = ' + H16 + ", X-TS1 = -1 } }"),
    (Role.SOFTSWITCH, SC + 'X-IDC = "a", X-IDSP = "b", X-ZZ = 1 } }'),  # unknown field
    (Role.SOFTSWITCH, SC + 'X-IDCH = 610a, X-IDSP = "b" } }'),  # control char in ID
    (Role.SOFTSWITCH, SC + 'X-IDCH = ff, X-IDSP = "b" } }'),  # not UTF-8
    (Role.SOFTSWITCH, SC + 'Foo = 1, X-IDC = "a", X-IDSP = "b" } }'),  # unknown parameter
    (Role.SOFTSWITCH, 'ServiceChange = ROOT { Services { Method = Forced, Reason = "905", '
     'X-IDC = "a", X-IDSP = "b" } }'),
    (Role.SOFTSWITCH, 'ServiceChange = ROOT { Services { Method = Restart, '
     'X-IDC = "a", X-IDSP = "b" } }'),  # no Reason
    (Role.SOFTSWITCH, 'ServiceChange = "ROOT" { Services { Method = Restart } }'),
    (Role.PROXY, CHAL + " } } }"),  # no Rand
    (Role.PROXY, CHAL + ", rand = " + H16 + ", rand2 = 1 } } }"),
    (Role.PROXY, "Modify = ROOT { Events = 9 { ngnkd/other { " + IDS + " } } }"),
    (Role.PROXY, "Modify = ROOT { Events = x { ngnkd/chal { " + IDS + " } } }"),
    (Role.TERMINAL, CHAL + ", rand = " + H16 + ", n1 = " + H16 + ", n2 = " + H16
     + ", ts2 = 1, mech = maybe } } }"),
    (Role.PROXY, "Modify = ROOT { Media { TerminationState { ngnkd/idc = a, ngnkd/idsp = b, "
     "ngnkd/ekc = " + H16 + ", ngnkd/eksp = " + H16 + " } } }"),  # 16-octet wraps
    (Role.PROXY, "Modify = ROOT { Media { TerminationState { other/idc = a } } }"),
    (Role.PROXY, "Modify = ROOT { Signals { } }"),
    (Role.SOFTSWITCH, "Notify = ROOT { ObservedEvents = 1 { ngnkd/resp { " + IDS
     + ", auth = " + H16 + ', addr = "1.2.3.4", mechs = "tls" } } }'),  # list without q
    (Role.SOFTSWITCH, "Notify = ROOT { ObservedEvents = 1 { 1999:ngnkd/resp { " + IDS
     + ", auth = " + H16 + ', addr = "1.2.3.4" } } }'),  # bad time stamp
    (Role.SOFTSWITCH, "Notify = ROOT { ObservedEvents = 1 { ngnkd/resp { " + IDS
     + ", auth = " + H16 + ", addr { } } } }"),
    (Role.TERMINAL, "Modify = ROOT { Media { TerminationState { ngnkd/idc = a, ngnkd/idsp = b, "
     "ngnkd/n1 = " + H16 + ", ngnkd/n2 = " + H16 + ", ngnkd/ts4 = 1, ngnkd/ekc = " + "ab" * 24
     + ', ngnkd/chosen = "t;s", ngnkd/mechs = "tls;q=1", ngnkd/mac = ' + H16 + " } } }"),
    (Role.SOFTSWITCH, SC + 'X-IDC = "a", X-IDSP = "b" } }, Modify = ROOT'),  # two commands
    (Role.SOFTSWITCH, 'Add = ROOT { }'),  # unsupported command
])
def test_malformed_commands_get_an_error_reply(role: Role, body: str) -> None:
    data = (HEAD + body + " } }").encode()
    with pytest.raises(WireError) as info:
        _wire(role).decode(data)
    reply = info.value.reply
    assert reply is not None
    (answer,) = megaco.parse(reply).body
    assert is_token(answer.name, "Reply")
    assert answer.value == "31"
    (error,) = answer.children or ()
    assert is_token(error.name, "Error")
    assert error.value in ("400", "443")


def test_unsupported_command_is_443() -> None:
    data = (HEAD + "Add = ROOT { } } }").encode()
    with pytest.raises(WireError) as info:
        _wire(Role.SOFTSWITCH).decode(data)
    assert info.value.reply is not None
    assert b"Error = 443" in info.value.reply


@pytest.mark.parametrize(("data", "expect"), [
    (b"MEGACO/1 [192.0.2.9]:2944\nTransaction = 5 { Context = - { ", b"Reply = 5 {"),
    (b"MEGACO/1 [192.0.2.9]:2944\nTransaction = 5 { }", b"Reply = 5 {"),
    (b"MEGACO/1 [192.0.2.9]:2944\nTransaction = 5 { C = 7 { SC = ROOT } }", b"Reply = 5 {"),
    (b"MEGACO/1 [192.0.2.9]:2944\nT = 1 { } T = 2 { }", b"Reply = 1 {"),
    (b"MEGACO/1 [192.0.2.9]:2944\n{ garbage", b"\nError = 400 {"),
    (b"MEGACO/5 [192.0.2.9]:2944\nTransaction = 5 { }", b"Error = 406"),
    (b"MEGACO/1 [192.0.2.9]:2944\nReply = 5 { \x01 }", None),
    (b"MEGACO/1 [192.0.2.9]:2944\nError = 400 { }", None),
    (b"MEGACO/1 [192.0.2.9]:2944\nPending = 5 { }", None),
    (b"REGISTER sip:x SIP/2.0\r\n\r\n", None),
    (b"\xff\xfe", None),
    (b"MEGACO/1 [192.0.2.9]:2944\nTransaction = 5 {" + b" " * 70000 + b"}", b"Reply = 5 {"),
])
def test_undecodable_input(data: bytes, expect: bytes | None) -> None:
    with pytest.raises(WireError) as info:
        _wire(Role.SOFTSWITCH).decode(data)
    if expect is None:
        assert info.value.reply is None
    else:
        assert info.value.reply is not None
        assert expect in info.value.reply
        assert info.value.reply.startswith(b"MEGACO/1 [192.0.2.1]:2944\n")
        megaco.parse(info.value.reply)  # the answer itself parses


@settings(max_examples=300, deadline=None)
@given(leg=st.integers(0, len(LEGS) - 1), at=st.integers(0, 2000),
       cut=st.integers(0, 40), insert=st.binary(max_size=8))
def test_mutated_messages_raise_only_wire_errors(leg: int, at: int, cut: int,
                                                  insert: bytes) -> None:
    src, dst, message, _, _ = LEGS[leg]
    data = _wire(src).encode(message)
    at %= len(data)
    mutated = data[:at] + insert + data[at + cut:]
    try:
        inbound = _wire(dst).decode(mutated)
    except WireError as exc:
        if exc.reply is not None:
            megaco.parse(exc.reply)
    else:
        assert inbound.is_request


def test_a_stuck_rng_is_refused() -> None:
    wire = H248Wire(Side(Role.TERMINAL, "192.0.2.1", 2944, "ngn.example"), lambda n: b"\x07" * n)
    wire.encode(S1)
    with pytest.raises(InvalidInput, match="rng"):
        wire.encode(S1)
    zero = H248Wire(Side(Role.TERMINAL, "192.0.2.1", 2944, "ngn.example"), lambda n: bytes(n))
    with pytest.raises(InvalidInput, match="rng"):
        zero.encode(S1)


# --- Protected: the keep-alive under Kc,sp and its answer -------------------------------

KEEP = Protected(ID_C, ID_SP, "tls", 7, MAC)
KEPT = Protected(ID_C, ID_SP, "tls", 7, b"\x88" * 16, answer=True)


@pytest.mark.parametrize("dst", [Role.PROXY, Role.SOFTSWITCH])
def test_protected_round_trip(dst: Role) -> None:
    t, node = _wire(Role.TERMINAL, "192.0.2.1"), _wire(dst, "192.0.2.2")
    data = t.encode(KEEP)
    txn, cmd = _command(data)
    assert cmd.name == "Notify"
    (oe,) = cmd.children or ()
    assert oe.name == "ObservedEvents"
    assert oe.value is not None
    assert int(oe.value) > 0
    (event,) = oe.children or ()
    assert event.name == "ngnkd/keep"
    assert {i.name: (i.value, i.quoted_value) for i in event.children or ()} == {
        "idc": (ID_C, True), "idsp": (ID_SP, True), "mech": ("tls", True),
        "seq": ("7", False), "mac": ("77" * 16, False)}
    inbound = node.decode(data)
    assert inbound.message == KEEP
    assert inbound.is_request
    ctx = inbound.context
    assert (ctx.command, ctx.transaction_id) == ("Notify", int(txn.value or ""))
    answer = node.encode(KEPT, answering=inbound)
    props = tuple(Item(f"ngnkd/{n}", v, quoted_value=q) for n, v, q in (
        ("idc", ID_C, True), ("idsp", ID_SP, True), ("mech", "tls", True), ("seq", "7", False),
        ("mac", "88" * 16, False)))
    media = Item("Media", None, (Item("TerminationState", None, props),))
    assert megaco.parse(answer).body == (Item("Reply", txn.value, (Item("Context", "-", (
        Item("Notify", "ROOT"), Item("AuditValue", "ROOT", (media,)))),)),)
    back = t.decode(answer)
    assert back.message == KEPT
    assert not back.is_request
    with pytest.raises(WireError, match="unknown transaction"):
        t.decode(answer)


@settings(max_examples=50, deadline=None)
@given(seq=st.integers(0, 2**32 - 1), mac=st.binary(min_size=16, max_size=16),
       mech=st.sampled_from(["tls", "ipsec-3gpp", "app", "x.y_z!%*+`'~"]),
       ids=st.sampled_from([(ID_C, ID_SP), ('al"ice', 'sp"1'), ("\u00e9l\u00e8ve", "sp{1}")]))
def test_protected_fields_round_trip(seq: int, mac: bytes, mech: str,
                                     ids: tuple[str, str]) -> None:
    t, ss = _wire(Role.TERMINAL), _wire(Role.SOFTSWITCH)
    request = Protected(ids[0], ids[1], mech, seq, mac)
    inbound = ss.decode(t.encode(request))
    assert inbound.message == request
    answer = Protected(ids[0], ids[1], mech, seq, mac[::-1], answer=True)
    assert t.decode(ss.encode(answer, answering=inbound)).message == answer


def test_protected_is_told_apart_from_s7_and_s8() -> None:
    t, ss = _wire(Role.TERMINAL), _wire(Role.SOFTSWITCH)
    assert ss.decode(t.encode(KEEP)).message == KEEP
    assert ss.decode(t.encode(S7)).message == S7
    assert ss.decode(_wire(Role.PROXY).encode(S8)).message == S8
    # the keep event with s7's fields, or s7's event with the keep fields: malformed
    base = "Notify = ROOT { ObservedEvents = 1 { ngnkd/"
    for body in (base + "keep { " + IDS + ", n1 = " + H16 + ", n2 = " + H16 + " } } }",
                 base + "resp { " + IDS + ', mech = "tls", seq = 1, mac = ' + H16 + " } } }"):
        with pytest.raises(WireError) as info:
            ss.decode((HEAD + body + " } }").encode())
        assert info.value.reply is not None
        assert b"Error = 400" in info.value.reply


@pytest.mark.parametrize("refusal", [Refusal.REPLAY, Refusal.AUTH_FAILED, Refusal.UNKNOWN_TERMINAL])
def test_a_refuse_answers_a_protected_request(refusal: Refusal) -> None:
    t, sp = _wire(Role.TERMINAL), _wire(Role.PROXY)
    inbound = sp.decode(t.encode(KEEP))
    data = sp.encode(Refuse(ID_C, ID_SP, refusal, "seq 7"), answering=inbound)
    back = t.decode(data)
    assert back.message == Refuse(ID_C, ID_SP, refusal, "seq 7")
    assert not back.is_request


def test_protected_roles() -> None:
    t, sp, ss = _wire(Role.TERMINAL), _wire(Role.PROXY), _wire(Role.SOFTSWITCH)
    for node in (sp, ss):  # the SP does not forward the request upstream
        with pytest.raises(InvalidInput):
            node.encode(KEEP)
    with pytest.raises(WireError) as info:  # a terminal receives no Protected request
        _wire(Role.TERMINAL).decode(_wire(Role.TERMINAL).encode(KEEP))
    assert info.value.reply is not None
    assert b"Error = 443" in info.value.reply
    with pytest.raises(InvalidInput):  # an answer needs the inbound request
        sp.encode(KEPT)
    s7 = sp.decode(t.encode(S7))
    with pytest.raises(InvalidInput):  # ... a Protected one
        sp.encode(KEPT, answering=s7)
    keep = ss.decode(t.encode(KEEP))
    with pytest.raises(InvalidInput):  # ... about the same terminal
        ss.encode(Protected("bob", ID_SP, "tls", 7, MAC, answer=True), answering=keep)
    with pytest.raises(InvalidInput):  # a terminal never answers one
        t.encode(KEPT, answering=keep)
    assert ss.encode(Ack(ID_C, ID_SP), answering=keep)  # a bare ack can be built ...
    with pytest.raises(WireError, match="lacks the protected answer") as err:
        t.decode(ss.encode(Ack(ID_C, ID_SP), answering=keep))  # ... but is no answer
    assert err.value.reply is None


@pytest.mark.parametrize("message", [
    Protected(ID_C, ID_SP, "tls", -1, MAC),
    Protected(ID_C, ID_SP, "tls", 2**32, MAC),
    Protected(ID_C, ID_SP, "tls", True, MAC),
    Protected(ID_C, ID_SP, "tls", 1, MAC[:15]),
    Protected(ID_C, ID_SP, "t l s", 1, MAC),
    Protected(ID_C, ID_SP, "", 1, MAC),
    Protected("a\nb", ID_SP, "tls", 1, MAC),
])
def test_protected_bad_fields_are_not_encoded(message: Protected) -> None:
    with pytest.raises(InvalidInput):
        _wire(Role.TERMINAL).encode(message)


KEEP_N = "Notify = ROOT { ObservedEvents = 4 { ngnkd/keep { " + IDS


@pytest.mark.parametrize("body", [
    KEEP_N + ', mech = "tls", seq = 1 } } }',  # no MAC
    KEEP_N + ', seq = 1, mac = ' + H16 + " } } }",  # no mechanism
    KEEP_N + ', mech = "tls", mac = ' + H16 + " } } }",  # no seq
    KEEP_N + ', mech = "tls", seq = 1, mac = abcd } } }',  # short MAC
    KEEP_N + ', mech = "tls", seq = 1, mac = ' + "zz" * 16 + " } } }",  # not hex
    KEEP_N + ', mech = "tls", seq = 4294967296, mac = ' + H16 + " } } }",  # > 2**32-1
    KEEP_N + ', mech = "tls", seq = 12345678901, mac = ' + H16 + " } } }",
    KEEP_N + ', mech = "tls", seq = x1, mac = ' + H16 + " } } }",
    KEEP_N + ', mech = "t;s", seq = 1, mac = ' + H16 + " } } }",  # not a token
    KEEP_N + ', mech = "tls", seq = 1, mac = ' + H16 + ", n2 = " + H16 + " } } }",  # extra
    KEEP_N + ', mech = "tls", seq = 1, seq = 2, mac = ' + H16 + " } } }",  # twice
    KEEP_N + ', mech { }, seq = 1, mac = ' + H16 + " } } }",
    "Notify = ROOT { ObservedEvents = 4 { ngnkd/keep { idsp = \"sp\", mech = \"tls\", "
    "seq = 1, mac = " + H16 + " } } }",  # no ID_c
    "Notify = ROOT { ObservedEvents = x { ngnkd/keep { " + IDS + ', mech = "tls", seq = 1, '
    "mac = " + H16 + " } } }",  # bad RequestID
])
def test_malformed_protected_requests_get_400(body: str) -> None:
    for role in (Role.PROXY, Role.SOFTSWITCH):
        with pytest.raises(WireError) as info:
            _wire(role).decode((HEAD + body + " } }").encode())
        reply = info.value.reply
        assert reply is not None
        (answer,) = megaco.parse(reply).body
        assert answer.value == "31"
        assert b"Error = 400" in reply


def test_short_form_protected() -> None:
    data = (b'!/1 [192.0.2.9]:2944 T=79{C=-{N=ROOT{OE=5{19990729T22000000:NGNKD/KEEP{'
            b'IDC="alice@ngn.example",idsp="sp1.ngn.example",mech=tls,seq=7,mac=' + b"77" * 16
            + b"}}}}}")
    assert _wire(Role.PROXY).decode(data).message == KEEP
    t = _wire(Role.TERMINAL)
    tid = _sent_txn(t, KEEP)
    reply = (f"!/1 [192.0.2.2]:2944 P={tid}{{IA,C=-{{N=ROOT,AV=ROOT{{M{{TS{{NGNKD/IDC=\"{ID_C}\","
            f"ngnkd/idsp=\"{ID_SP}\",ngnkd/mech=tls,ngnkd/seq=7,ngnkd/mac={'88' * 16}}}}}}}}}}}")
    assert t.decode(reply.encode()).message == KEPT


PROPS = ('ngnkd/idc = "alice@ngn.example", ngnkd/idsp = "sp1.ngn.example", ngnkd/mech = "tls", '
         "ngnkd/seq = 7")
AUDIT = "AuditValue = ROOT { Media { TerminationState { " + PROPS


@pytest.mark.parametrize("inner", [
    "Context = - { Notify = ROOT }",  # no answer
    "Context = - { Notify = ROOT, " + AUDIT + " } } }",  # no MAC
    "Context = - { Notify = ROOT, " + AUDIT + ", ngnkd/mac = abcd } } } }",  # short MAC
    "Context = - { Notify = ROOT, " + AUDIT.replace("= 7", "= 4294967296")
    + ", ngnkd/mac = " + H16 + " } } } }",
    "Context = - { Notify = ROOT, " + AUDIT.replace("alice@", "bob@")
    + ", ngnkd/mac = " + H16 + " } } } }",  # another terminal
    "Context = - { " + AUDIT + ", ngnkd/mac = " + H16 + " } } }, Notify = ROOT }",  # order
    "Context = - { Notify = ROOT, Modify = ROOT { Media { TerminationState { " + PROPS
    + ", ngnkd/mac = " + H16 + " } } } }",  # not AuditValue
    "Context = - { Notify = ROOT { Error = 400 { } }, " + AUDIT + ", ngnkd/mac = " + H16
    + " } } } }",
    "Context = - { Notify = ROOT, AuditValue = ROOT { Events = 1 { } } }",
    "Context = - { Notify = ROOT, AuditValue = ROOT }",
    "Context = - { Notify = ROOT, Notify = ROOT, Notify = ROOT }",
])
def test_bad_protected_answers_are_refused_without_answer(inner: str) -> None:
    t = _wire(Role.TERMINAL)
    tid = _sent_txn(t, KEEP)
    data = f"MEGACO/1 [192.0.2.2]:2944\nReply = {tid} {{ {inner} }}".encode()
    with pytest.raises(WireError) as info:
        t.decode(data)
    assert info.value.reply is None
    ok = (f"MEGACO/1 [192.0.2.2]:2944\nReply = {tid} {{ Context = - {{ Notify = ROOT, {AUDIT}, "
          f"ngnkd/mac = {'88' * 16} }} }} }} }} }}").encode()
    assert t.decode(ok).message == KEPT  # still outstanding after the bad one


@settings(max_examples=200, deadline=None)
@given(at=st.integers(0, 2000), cut=st.integers(0, 40), insert=st.binary(max_size=8),
       answer=st.booleans())
def test_mutated_protected_messages_raise_only_wire_errors(at: int, cut: int, insert: bytes,
                                                           answer: bool) -> None:
    t, sp = _wire(Role.TERMINAL), _wire(Role.PROXY)
    data = t.encode(KEEP)
    target = sp
    if answer:
        data, target = sp.encode(KEPT, answering=sp.decode(data)), t
    at %= len(data)
    mutated = data[:at] + insert + data[at + cut:]
    try:
        inbound = target.decode(mutated)
    except WireError as exc:
        if exc.reply is not None:
            megaco.parse(exc.reply)
    else:
        assert isinstance(inbound.message, Protected | Ack | Refuse)

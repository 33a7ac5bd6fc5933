"""The bounded H.248 / Megaco text codec (gba.protocols.megaco; RFC 3525 Annex B)."""

from __future__ import annotations

import pytest

from gba.errors import CodecError, InvalidInput
from gba.protocols import megaco
from gba.protocols.megaco import Item, MegacoError, Message

pytestmark = pytest.mark.ngn

# RFC 3525 Appendix A.1.1 (MG registration), as printed there.
RFC_SERVICE_CHANGE = b"""MEGACO/1 [124.124.124.222]:55555
Transaction = 9998 {
    Context = - {
        ServiceChange = ROOT {Services {
            Method=Restart,
            ServiceChangeAddress=55555, Profile=ResGW/1}
        }
    }
}
"""
RFC_REPLY = b"""MEGACO/1 [123.123.123.4]:55555
Reply = 9998 {
   Context = - {ServiceChange = ROOT {
      Services {ServiceChangeAddress=55555, Profile=ResGW/1} } }
}
"""
RFC_NOTIFY = b"""MEGACO/1 [124.124.124.222]:55555
Transaction = 10000 {
   Context = - {
       Notify = A4444 {ObservedEvents =2222 {
        19990729T22000000:al/of}}
   }
}
"""


def test_rfc_service_change_tree() -> None:
    msg = megaco.parse(RFC_SERVICE_CHANGE)
    assert msg.version == 1
    assert msg.mid == "[124.124.124.222]:55555"
    (txn,) = msg.body
    assert (txn.name, txn.value) == ("Transaction", "9998")
    (ctx,) = txn.children or ()
    assert (ctx.name, ctx.value) == ("Context", "-")
    (sc,) = ctx.children or ()
    assert (sc.name, sc.value) == ("ServiceChange", "ROOT")
    (services,) = sc.children or ()
    assert services.name == "Services"
    assert services.value is None
    assert [(i.name, i.value) for i in services.children or ()] == [
        ("Method", "Restart"), ("ServiceChangeAddress", "55555"), ("Profile", "ResGW/1")]


def test_rfc_reply_and_notify_with_timestamp() -> None:
    reply = megaco.parse(RFC_REPLY).body[0]
    assert megaco.is_token(reply.name, "Reply")
    assert reply.value == "9998"
    notify = megaco.parse(RFC_NOTIFY).body[0].children[0].children[0]  # type: ignore[index]
    assert (notify.name, notify.value) == ("Notify", "A4444")
    (oe,) = notify.children or ()
    assert (oe.name, oe.value) == ("ObservedEvents", "2222")
    assert oe.children == (Item("19990729T22000000:al/of"),)


def test_short_tokens_parse_like_long_ones() -> None:
    short = b'!/1 <mgc.example>:2944 T=7{C=-{SC=ROOT{SV{MT=RS,RE="901"}}}}'
    long = (b'MEGACO/1 <mgc.example>:2944 Transaction = 7 { Context = - { ServiceChange = ROOT '
            b'{ Services { Method = Restart, Reason = "901" } } } }')
    a, b = megaco.parse(short), megaco.parse(long)
    assert a.mid == b.mid == "<mgc.example>:2944"
    names_a = [a.body[0].name, a.body[0].children[0].name]  # type: ignore[index]
    names_b = [b.body[0].name, b.body[0].children[0].name]  # type: ignore[index]
    for x, y in zip(names_a, names_b, strict=True):
        assert megaco.canonical(x) == megaco.canonical(y)
    assert megaco.is_token("sc", "ServiceChange")
    assert megaco.is_token("SERVICECHANGE", "ServiceChange")
    assert not megaco.is_token("SC", "Modify")
    assert megaco.canonical("ngnkd/x") is None


def test_comments_quoted_strings_and_empty_braces() -> None:
    data = ('MEGACO/1 [::1]:2944 ; a comment\r\n'
            'Reply = 1 { Error = 400 { "a;[]{}:,#<>= \u00e9t\u00e9" } }\n'
            'Reply = 2 { Error = 401 { } }').encode()
    msg = megaco.parse(data)
    assert msg.mid == "[::1]:2944"
    first, second = msg.body
    (text,) = first.children[0].children or ()  # type: ignore[index]
    assert text.quoted_name
    assert text.name == "a;[]{}:,#<>= \u00e9t\u00e9"
    assert second.children[0].children == ()  # type: ignore[index]


def test_versions_and_mid_without_port() -> None:
    assert megaco.parse(b"MEGACO/3 [10.0.0.1] Reply = 1 { }").version == 3
    assert megaco.parse(b"MEGACO/1 [10.0.0.1] Reply = 1 { }").mid == "[10.0.0.1]"


@pytest.mark.parametrize(("data", "code"), [
    (b"", 400),
    (b"SIP/2.0 200 OK\r\n\r\n", 400),
    (b"MEGACO/9 [10.0.0.1]:2944 Reply = 1 { }", 406),
    (b"AU = 0x00000001:0x00000001:0x" + b"00" * 12 + b"\nMEGACO/1 [1.2.3.4] P=1{}", 401),
    (b"MEGACO/1 [10.0.0.1]:99999 Reply = 1 { }", 400),
    (b"MEGACO/1 [10.0.0.1]:2944", 400),
    (b"MEGACO/1 [10.0.0.1]:2944 ", 400),
    (b'MEGACO/1 [10.0.0.1]:2944 Reply = 1 { Error = 400 { "open } }', 400),
    (b'MEGACO/1 [10.0.0.1]:2944 Reply = 1 { Error = 400 { "a\x01b" } }', 400),
    (b"MEGACO/1 [10.0.0.1]:2944 Reply = 1 { Context = - ", 400),
    (b"MEGACO/1 [10.0.0.1]:2944 Reply = 1 } ", 400),
    (b"MEGACO/1 [10.0.0.1]:2944 Reply = 1 { a, } ", 400),
    (b"MEGACO/1 [10.0.0.1]:2944 Reply = 1 { a b } ", 400),
    (b"MEGACO/1 [10.0.0.1]:2944 Reply = { } ", 400),
    (b"MEGACO/1 [10.0.0.1]:2944 , Reply = 1 { } ", 400),
    (b"MEGACO/1 [10.0.0.1]:2944 Reply = 1 { a = b \x07 } ", 400),
    (b"MEGACO/1 [10.0.0.1]:2944 Reply = 1 { } ; no end of line", 400),
    (b"MEGACO/1 [10.0.0.1]:2944 Reply = 1 { \xff }", 400),
])
def test_malformed_is_refused(data: bytes, code: int) -> None:
    with pytest.raises(MegacoError) as info:
        megaco.parse(data)
    assert info.value.code == code
    assert isinstance(info.value, CodecError)


def test_limits() -> None:
    head = b"MEGACO/1 [10.0.0.1]:2944\n"
    deep = head + b"a { " * (megaco.MAX_DEPTH + 1) + b"} " * (megaco.MAX_DEPTH + 1)
    with pytest.raises(MegacoError, match="nesting"):
        megaco.parse(deep)
    ok = head + b"a { " * megaco.MAX_DEPTH + b"} " * megaco.MAX_DEPTH
    assert megaco.parse(ok).body[0].name == "a"
    many = head + b"Reply = 1 { " + b", ".join([b"x"] * (megaco.MAX_ITEMS + 1)) + b" }"
    with pytest.raises(MegacoError, match="items"):
        megaco.parse(many)
    big = head + b"Reply = 1 { " + b" " * megaco.MAX_MESSAGE + b"}"
    with pytest.raises(MegacoError, match="exceeds"):
        megaco.parse(big)


def _tree() -> Message:
    props = (Item("ngnkd/idc", "h\u00e9llo;{}", quoted_value=True), Item("ngnkd/n1", "00ff"))
    cmd = Item("Modify", "ROOT", (Item("Media", None, (Item("TerminationState", None, props),)),))
    txn = Item("Transaction", "42", (Item("Context", "-", (cmd,)),))
    return Message("[192.0.2.1]:2944", (txn, Item("Reply", "41", (megaco.error_item(402, "no"),))))


def test_serialize_round_trip_long_and_short() -> None:
    msg = _tree()
    long = megaco.serialize(msg)
    assert long.startswith(b"MEGACO/1 [192.0.2.1]:2944\nTransaction = 42 {\n  Context = - {\n")
    assert megaco.parse(long) == msg
    short = megaco.serialize(msg, short=True)
    assert short.startswith(b"!/1 [192.0.2.1]:2944\nT = 42 {\n  C = - {\n    MF = ROOT {\n")
    assert b"M {\n        TS {" in short
    assert b'P = 41 {\n  ER = 402 {\n    "no"' in short
    assert _props(megaco.parse(short)) == _props(msg)
    assert len(_props(msg) or ()) == 2


def _props(msg: Message) -> tuple[Item, ...] | None:
    """The TerminationState items of _tree()'s Modify."""
    item = msg.body[0]
    for _ in range(4):
        assert item.children is not None
        item = item.children[0]
    return item.children


def test_serialize_rejects_what_the_grammar_cannot_carry() -> None:
    with pytest.raises(InvalidInput):
        megaco.serialize(Message("[1.2.3.4]:1", (Item("a", 'x"y', quoted_value=True),)))
    with pytest.raises(InvalidInput):
        megaco.serialize(Message("[1.2.3.4]:1", (Item("a", "x y"),)))
    with pytest.raises(InvalidInput):
        megaco.serialize(Message("[1.2.3.4]:1", (Item("a b"),)))
    with pytest.raises(InvalidInput):
        megaco.serialize(Message("[1.2.3.4]:1", (Item("a"),), version=7))
    item = Item("x")
    for _ in range(megaco.MAX_DEPTH + 1):
        item = Item("x", None, (item,))
    with pytest.raises(InvalidInput, match="nesting"):
        megaco.serialize(Message("[1.2.3.4]:1", (item,)))


def test_format_mid() -> None:
    assert megaco.format_mid("127.0.0.1", 2944) == "[127.0.0.1]:2944"
    assert megaco.format_mid("2001:db8::1", 2944) == "[2001:db8::1]:2944"
    assert megaco.format_mid("mgc.example", 2945) == "<mgc.example>:2945"
    with pytest.raises(InvalidInput):
        megaco.format_mid("bad host", 2944)
    with pytest.raises(InvalidInput):
        megaco.format_mid("127.0.0.1", 70000)
    assert megaco.plain_value("00ff")
    assert not megaco.plain_value('a"b')

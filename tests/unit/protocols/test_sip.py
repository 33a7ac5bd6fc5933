"""SIP codec: RFC 3665 §2.1 style registration flow, strict rejection, TCP framing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gba.errors import CodecError, InvalidInput
from gba.protocols.sip import (
    MAX_MESSAGE,
    SecurityMechanism,
    SipRequest,
    SipResponse,
    StreamFramer,
    check_request,
    cseq,
    decode,
    format_security,
    parse_security,
    response_to,
)

pytestmark = pytest.mark.ngn


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


REGISTER = crlf(
    "REGISTER sips:ss2.biloxi.example.com SIP/2.0\n"
    "Via: SIP/2.0/TLS client.biloxi.example.com:5061;branch=z9hG4bKnashds7\n"
    "Max-Forwards: 70\n"
    "From: Bob <sips:bob@biloxi.example.com>;tag=a73kszlfl\n"
    "To: Bob <sips:bob@biloxi.example.com>\n"
    "Call-ID: 1j9FpLxk3uxtm8tn@biloxi.example.com\n"
    "CSeq: 1 REGISTER\n"
    "Contact: <sips:bob@client.biloxi.example.com>\n"
    "Content-Length: 0\n"
    "\n"
)

UNAUTHORIZED = crlf(
    "SIP/2.0 401 Unauthorized\n"
    "Via: SIP/2.0/TLS client.biloxi.example.com:5061;branch=z9hG4bKnashds7\n"
    " ;received=192.0.2.201\n"
    "From: Bob <sips:bob@biloxi.example.com>;tag=a73kszlfl\n"
    "To: Bob <sips:bob@biloxi.example.com>;tag=1410948204\n"
    "Call-ID: 1j9FpLxk3uxtm8tn@biloxi.example.com\n"
    "CSeq: 1 REGISTER\n"
    'WWW-Authenticate: Digest realm="atlanta.example.com", qop="auth",\n'
    '\tnonce="ea9c8e88df84f1cec4341ae6cbe5a359", opaque="", stale=FALSE,\n'
    "\talgorithm=MD5\n"
    "Content-Length: 0\n"
    "\n"
)


def test_register_decodes() -> None:
    msg = decode(REGISTER)
    assert isinstance(msg, SipRequest)
    assert msg.method == "REGISTER"
    assert msg.uri == "sips:ss2.biloxi.example.com"
    assert msg.header("call-id") == "1j9FpLxk3uxtm8tn@biloxi.example.com"
    assert msg.header("CONTACT") == "<sips:bob@client.biloxi.example.com>"
    assert msg.header("Authorization") is None
    assert cseq(msg) == (1, "REGISTER")
    assert msg.body == b""
    check_request(msg)
    assert msg.encode() == REGISTER
    assert decode(msg.encode()) == msg


def test_401_with_folded_headers() -> None:
    msg = decode(UNAUTHORIZED)
    assert isinstance(msg, SipResponse)
    assert (msg.status, msg.reason) == (401, "Unauthorized")
    assert msg.header("Via") == (
        "SIP/2.0/TLS client.biloxi.example.com:5061;branch=z9hG4bKnashds7 ;received=192.0.2.201"
    )
    auth = msg.header("www-authenticate")
    assert auth is not None
    assert auth.startswith('Digest realm="atlanta.example.com", qop="auth", nonce=')
    assert auth.endswith("stale=FALSE, algorithm=MD5")
    assert decode(msg.encode()) == msg


@pytest.mark.parametrize(("status", "reason"), [(401, "Unauthorized"),
                                                 (407, "Proxy Authentication Required"),
                                                 (200, "OK")])
def test_registration_flow_round_trip(status: int, reason: str) -> None:
    req = decode(REGISTER)
    assert isinstance(req, SipRequest)
    challenge = ("Proxy-Authenticate" if status == 407 else "WWW-Authenticate",
                 'Digest realm="ims.example.com", nonce="abc", algorithm=AKAv1-MD5')
    extra = (challenge,) if status != 200 else (("Contact", "<sips:bob@client>;expires=3600"),)
    resp = response_to(req, status, reason, extra, to_tag="1410948204")
    wire = resp.encode()
    back = decode(wire)
    assert back.encode() == wire
    assert back.headers == (*resp.headers, ("Content-Length", "0"))  # encode() adds it
    assert isinstance(back, SipResponse)
    assert back.status == status
    assert back.header("To") == "Bob <sips:bob@biloxi.example.com>;tag=1410948204"
    assert back.headers_named("Via") == req.headers_named("Via")
    assert back.header("From") == req.header("From")
    assert back.header("Call-ID") == req.header("Call-ID")
    assert cseq(back) == (1, "REGISTER")
    assert back.header("Content-Length") == "0"
    # second REGISTER with credentials and a higher CSeq
    second = SipRequest(
        "REGISTER",
        req.uri,
        (*(h for h in req.headers if h[0] != "CSeq"), ("CSeq", "2 REGISTER"),
         ("Authorization", 'Digest username="bob", realm="ims.example.com", nonce="abc"')),
    )
    again = decode(second.encode())
    assert again == second
    assert isinstance(again, SipRequest)
    check_request(again)
    assert cseq(again) == (2, "REGISTER")


def test_response_to_copies_all_vias_and_keeps_existing_tag() -> None:
    req = SipRequest("REGISTER", "sip:r", (
        ("v", "SIP/2.0/UDP a;branch=z9hG4bK1"), ("Via", "SIP/2.0/UDP b;branch=z9hG4bK2"),
        ("f", "<sip:u@r>;tag=1"), ("t", "<sip:u@r>;tag=9"), ("i", "cid"),
        ("CSeq", "7 REGISTER"), ("Max-Forwards", "70")))
    resp = response_to(req, 200, "OK", to_tag="other")
    assert resp.headers[:6] == (
        ("Via", "SIP/2.0/UDP a;branch=z9hG4bK1"), ("Via", "SIP/2.0/UDP b;branch=z9hG4bK2"),
        ("From", "<sip:u@r>;tag=1"), ("To", "<sip:u@r>;tag=9"), ("Call-ID", "cid"),
        ("CSeq", "7 REGISTER"))
    with pytest.raises(InvalidInput, match="Call-ID"):
        response_to(SipRequest("REGISTER", "sip:r", (("Via", "x"), ("From", "a"),
                                                     ("To", "b"))), 200, "OK")
    with pytest.raises(InvalidInput, match="status"):
        response_to(req, 99, "Bad")


def test_compact_headers() -> None:
    raw = crlf(
        "REGISTER sip:r SIP/2.0\nv: SIP/2.0/UDP h;branch=z9hG4bK1\nf: <sip:a@r>;tag=1\n"
        "t: <sip:a@r>\ni: x@h\nCSeq: 3 REGISTER\nMax-Forwards: 70\nm: <sip:a@h>\n"
        "k: path\nc: text/plain\nl: 5\n\nhello"
    )
    msg = decode(raw)
    assert msg.header("Via") == "SIP/2.0/UDP h;branch=z9hG4bK1"
    assert msg.header("from") == "<sip:a@r>;tag=1"
    assert msg.header("To") == "<sip:a@r>"
    assert msg.header("Call-ID") == "x@h"
    assert msg.header("Contact") == "<sip:a@h>"
    assert msg.header("Supported") == "path"
    assert msg.header("Content-Type") == "text/plain"
    assert msg.header("Content-Length") == "5"
    assert msg.header("l") == "5"
    assert msg.body == b"hello"
    assert isinstance(msg, SipRequest)
    check_request(msg)
    assert decode(msg.encode()) == msg


def test_headers_named_and_content_length_rewritten() -> None:
    req = SipRequest("OPTIONS", "sip:x", (("Via", "a"), ("via", "b"), ("Content-Length", "99")),
                     b"body")
    assert req.headers_named("V") == ("a", "b")
    wire = req.encode()
    assert b"Content-Length: 4\r\n" in wire
    assert b"99" not in wire


def test_body_longer_than_content_length_truncated() -> None:
    msg = decode(REGISTER + b"trailing junk")
    assert msg.body == b""
    no_length = REGISTER.replace(b"Content-Length: 0\r\n", b"")
    assert decode(no_length + b"abc").body == b"abc"


@pytest.mark.parametrize("data", [
    REGISTER.replace(b"Content-Length: 0", b"Content-Length: 10"),
    REGISTER.replace(b"Content-Length: 0", b"Content-Length: x"),
    REGISTER.replace(b"Content-Length: 0", b"Content-Length: 0\r\nl: 1"),
    REGISTER[:-2],
    REGISTER[:40],
    b"",
    b"\r\n\r\n",
    b"garbage\r\n\r\n",
    b"REGISTER sip:x SIP/3.0\r\n\r\n",
    b"REGISTER  sip:x SIP/2.0\r\n\r\n",
    b"REG(ISTER sip:x SIP/2.0\r\n\r\n",
    b"SIP/2.0 2000 OK\r\n\r\n",
    b"SIP/2.0 099 Low\r\n\r\n",
    b"SIP/2.0 200\r\n\r\n",
    b"REGISTER sip:x SIP/2.0\r\n folded first\r\n\r\n",
    b"REGISTER sip:x SIP/2.0\r\nBad Name: v\r\n\r\n",
    b"REGISTER sip:x SIP/2.0\r\nNoColon\r\n\r\n",
    b"REGISTER sip:x SIP/2.0\r\nX: a\rb\r\n\r\n",
    b"REGISTER sip:x SIP/2.0\r\nX: \xff\xfe\r\n\r\n",
    b"REGISTER sip:x SIP/2.0\r\nX: " + b"a" * 9000 + b"\r\n\r\n",
    b"REGISTER sip:x SIP/2.0\r\n" + b"X: a\r\n" * 101 + b"\r\n",
    b"REGISTER sip:x SIP/2.0\r\n\r\n" + b"a" * MAX_MESSAGE,
])
def test_malformed_rejected(data: bytes) -> None:
    with pytest.raises(CodecError):
        decode(data)


@given(st.binary(max_size=600))
def test_fuzz_any_bytes(data: bytes) -> None:
    try:
        msg = decode(data)
    except CodecError:
        return
    assert isinstance(msg, SipRequest | SipResponse)


@given(st.binary(max_size=200))
def test_fuzz_mutated_register(suffix: bytes) -> None:
    for data in (REGISTER[: len(suffix) % len(REGISTER)] + suffix, suffix + REGISTER):
        try:
            msg = decode(data)
        except CodecError:
            continue
        assert decode(msg.encode()).encode() == msg.encode()


def test_fuzz_folding_is_linear() -> None:
    data = b"REGISTER sip:x SIP/2.0\r\nX: a\r\n" + b" b\r\n" * 15000 + b"\r\n"
    msg = decode(data)
    value = msg.header("X")
    assert value is not None
    assert len(value) == 1 + 2 * 15000


def test_missing_required_headers() -> None:
    msg = decode(REGISTER)
    assert isinstance(msg, SipRequest)
    for name in ("Via", "From", "To", "Call-ID", "CSeq", "Max-Forwards"):
        stripped = SipRequest(msg.method, msg.uri,
                              tuple(h for h in msg.headers if h[0] != name))
        with pytest.raises(CodecError, match=name):
            check_request(stripped)
    wrong = SipRequest("INVITE", msg.uri, msg.headers)
    with pytest.raises(CodecError, match="does not match"):
        check_request(wrong)
    for bad in ("REGISTER", "x REGISTER", "1 2 3", "99999999999 REGISTER", "2147483648 R"):
        with pytest.raises(CodecError):
            cseq(SipRequest("R", "sip:x", (("CSeq", bad),)))
    bad_mf = SipRequest(msg.method, msg.uri, (("Max-Forwards", "300"), *msg.headers))
    with pytest.raises(CodecError, match="Max-Forwards"):
        check_request(bad_mf)


def test_invalid_arguments() -> None:
    with pytest.raises(InvalidInput):
        SipRequest("BAD METHOD", "sip:x", ())
    with pytest.raises(InvalidInput):
        SipRequest("REGISTER", "sip:x y", ())
    with pytest.raises(InvalidInput):
        SipRequest("REGISTER", "sip:x", (("X", "a\r\nInjected: 1"),))
    with pytest.raises(InvalidInput):
        SipRequest("REGISTER", "sip:x", (("X Y", "a"),))
    with pytest.raises(InvalidInput):
        SipResponse(700, "Nope", ())
    with pytest.raises(InvalidInput):
        SipRequest("REGISTER", "sip:x", (), b"a" * MAX_MESSAGE).encode()


def test_framer_two_messages_in_one_chunk() -> None:
    second = UNAUTHORIZED.replace(b"Content-Length: 0", b"Content-Length: 3") + b"abc"
    framer = StreamFramer()
    assert framer.feed(REGISTER + second) == [REGISTER, second]
    assert framer.pending == 0
    assert decode(second).body == b"abc"


def test_framer_split_and_keepalives() -> None:
    msg = REGISTER.replace(b"Content-Length: 0", b"Content-Length: 4") + b"body"
    framer = StreamFramer()
    out: list[bytes] = []
    stream = b"\r\n\r\n" + msg + b"\r\n" + msg
    for i in range(0, len(stream), 7):
        out += framer.feed(stream[i : i + 7])
    assert out == [msg, msg]
    assert framer.feed(b"\r\n\r\n") == []
    assert framer.pending == 0


def test_framer_errors() -> None:
    framer = StreamFramer()
    with pytest.raises(CodecError, match="Content-Length"):
        framer.feed(REGISTER.replace(b"Content-Length: 0\r\n", b""))
    assert framer.pending == 0
    with pytest.raises(CodecError):
        StreamFramer().feed(REGISTER.replace(b"Content-Length: 0", b"Content-Length: 70000"))
    big = StreamFramer()
    big.feed(b"REGISTER sip:x SIP/2.0\r\n")
    line = b"X: " + b"a" * 4000 + b"\r\n"
    for _ in range(16):
        assert big.feed(line) == []
    with pytest.raises(CodecError, match="buffered"):
        big.feed(line)
    assert big.pending == 0


SECURITY_CLIENT = ("ipsec-3gpp;alg=hmac-sha-1-96;spi-c=1111;spi-s=2222;port-c=9999;"
                   "port-s=8888, tls;q=0.2")


def test_security_client_round_trip() -> None:
    mechs = parse_security(SECURITY_CLIENT)
    assert mechs == (
        SecurityMechanism("ipsec-3gpp", (("alg", "hmac-sha-1-96"), ("spi-c", "1111"),
                                         ("spi-s", "2222"), ("port-c", "9999"),
                                         ("port-s", "8888"))),
        SecurityMechanism("tls", (("q", "0.2"),)),
    )
    assert mechs[0].q is None
    assert mechs[1].q == pytest.approx(0.2)
    assert mechs[0].param("SPI-C") == "1111"
    assert format_security(mechs) == SECURITY_CLIENT
    assert parse_security(format_security(mechs)) == mechs


def test_security_variants() -> None:
    value = ' digest ; d-alg = md5 ;d-ver="0123456789abcdef0123456789abcdef"; x ,ipsec-ike;q=1 '
    mechs = parse_security(value)
    assert [m.name for m in mechs] == ["digest", "ipsec-ike"]
    assert mechs[0].params == (("d-alg", "md5"),
                               ("d-ver", '"0123456789abcdef0123456789abcdef"'), ("x", ""))
    assert mechs[1].q == 1.0
    assert parse_security(format_security(mechs)) == mechs


@pytest.mark.parametrize("value", [
    "", ",", "tls,", "tls;", "tls;q=2", "tls;q=0.2;q=0.3", "tls q", "t(ls", 'tls;a="x',
    ", ".join(["tls"] * 17), "tls;" + ";".join(f"p{i}=1" for i in range(40)),
])
def test_security_malformed(value: str) -> None:
    with pytest.raises(CodecError):
        parse_security(value)


@given(st.text(max_size=80))
def test_security_fuzz(value: str) -> None:
    try:
        mechs = parse_security(value)
    except CodecError:
        return
    assert parse_security(format_security(mechs)) == mechs


def test_format_security_rejects_bad_arguments() -> None:
    with pytest.raises(InvalidInput):
        format_security(())
    with pytest.raises(InvalidInput):
        SecurityMechanism("tls", (("q", "high"),))
    with pytest.raises(InvalidInput):
        SecurityMechanism("bad name")


@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=60),
       st.lists(st.sampled_from([b"", b"\r\n", b"\r\n\r\n"]), min_size=3, max_size=3))
def test_framer_any_split(cuts: list[int], gaps: list[bytes]) -> None:
    first = UNAUTHORIZED.replace(b"Content-Length: 0", b"Content-Length: 5") + b"\r\n\r\nx"
    stream = gaps[0] + REGISTER + gaps[1] + first + gaps[2] + REGISTER
    framer = StreamFramer()
    out: list[bytes] = []
    pos = 0
    for cut in cuts:
        out += framer.feed(stream[pos : pos + cut])
        pos += cut
    out += framer.feed(stream[pos:])
    assert out == [REGISTER, first, REGISTER]
    assert decode(out[1]).body == b"\r\n\r\nx"


def test_framer_byte_at_a_time_large_message() -> None:
    body = b"b" * 30000
    msg = SipRequest("MESSAGE", "sip:x", (("X-Pad", "p" * 8000),) * 4, body).encode()
    framer = StreamFramer()
    out: list[bytes] = []
    for i in range(len(msg)):
        out += framer.feed(msg[i : i + 1])
    assert out == [msg]
    assert decode(msg).body == body

"""MessageAssembler: HTTP, Diameter, SIP and TLS messages put back together from segments."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from ipaddress import IPv4Address

import pytest

from gba.capture.events import Segment
from gba.protocols import zh, zn
from gba.protocols.diameter import PeerIdentity
from gba.protocols.diameter.capabilities import build_cea, build_cer
from gba.trace.assemble import MessageAssembler, detect, messages

UE = ("127.0.0.1", 40000)
BSF = ("127.0.0.1", 8080)
BSF_CLIENT = ("127.0.0.1", 41000)
HSS = ("127.0.0.1", 3868)
IMPI = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
BSF_ID = PeerIdentity("bsf.example.org", "example.org", (IPv4Address("127.0.0.1"),))
HSS_ID = PeerIdentity("hss.example.org", "example.org", (IPv4Address("127.0.0.1"),))
XRES, CK, IK = bytes(range(8)), bytes(range(16, 32)), bytes(range(32, 48))


def chunks(data: bytes, *cuts: int) -> list[bytes]:
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def conversation(src: tuple[str, int], dst: tuple[str, int],
                 parts: list[tuple[bool, bytes]], connection: int = 1,
                 recorder: str = "", layer: str = "wire") -> list[Segment]:
    """open, then each (forward?, bytes) as a data segment, then close."""
    t = 100.0
    out = [Segment(t, "tcp", src, dst, "open", connection, recorder=recorder)]
    for forward, data in parts:
        t += 0.01
        a, b = (src, dst) if forward else (dst, src)
        out.append(Segment(t, "tcp", a, b, "data", connection, data,
                           layer=layer, recorder=recorder))  # type: ignore[arg-type]
    out.append(Segment(t + 0.01, "tcp", src, dst, "close", connection, recorder=recorder))
    return out


def test_http_challenge_and_answer_split_across_segments() -> None:
    first = (f'GET / HTTP/1.1\r\nHost: bsf\r\nAuthorization: Digest username="{IMPI}", '
             'realm="bsf", nonce="", uri="/", response=""\r\n\r\n').encode()
    challenge = (b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest nonce="abc"\r\n'
                 b"Content-Length: 12\r\n\r\nunauthorized")
    second = (f'GET / HTTP/1.1\r\nAuthorization: Digest username="{IMPI}", '
              'response="6629fae49393a05397450978507c4ef1", nonce="abc"\r\n\r\n').encode()
    body = b"<BootstrappingInfo><btid>x@bsf</btid></BootstrappingInfo>"
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    parts = [(True, c) for c in chunks(first, 5, 17, 40)]
    parts += [(False, c) for c in chunks(challenge, 3, 60, len(challenge) - 2)]
    parts += [(True, second)]
    parts += [(False, c) for c in chunks(ok, 10, len(ok) - 20, len(ok) - 1)]
    found = messages(conversation(UE, BSF, parts))
    assert [m.summary for m in found] == [
        f"GET / (Digest username={IMPI})", "401 Unauthorized",
        f"GET / (Digest username={IMPI})", "200 OK"]
    assert [m.direction for m in found] == ["request", "response", "request", "response"]
    assert [m.protocol for m in found] == ["HTTP"] * 4
    assert found[1].src == BSF
    assert found[1].dst == UE
    assert all("6629fae4" not in m.summary and "nonce" not in m.summary for m in found)


def test_http_message_is_yielded_as_soon_as_it_is_whole() -> None:
    assembler = MessageAssembler()
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    assert assembler.feed(Segment(1.0, "tcp", BSF, UE, "data", 1, response[:-1])) == []
    done = assembler.feed(Segment(1.5, "tcp", BSF, UE, "data", 1, response[-1:]))
    assert [m.summary for m in done] == ["200 OK"]
    assert done[0].time == 1.0  # when it began


def test_http_chunked_body_and_query_is_not_shown() -> None:
    request = b"POST /res?token=secret HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
    response = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"4\r\nwiki\r\n5;ext=1\r\npedia\r\n0\r\nX-Trailer: t\r\n\r\n")
    follow = b"HTTP/1.1 204 No Content\r\n\r\n"
    parts = [(True, request), *[(False, c) for c in chunks(response, 50, 61, 70, 80)],
             (True, b"GET /next HTTP/1.1\r\n\r\n"), (False, follow)]
    found = messages(conversation(UE, BSF, parts))
    assert [m.summary for m in found] == ["POST /res", "200 OK", "GET /next",
                                          "204 No Content"]


def test_http_body_until_close_and_head_response() -> None:
    parts = [(True, b"HEAD / HTTP/1.1\r\n\r\n"),
             (False, b"HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n"),
             (True, b"GET /x HTTP/1.1\r\n\r\n"),
             (False, b"HTTP/1.1 200 Fine\r\n\r\nbody until the close")]
    found = messages(conversation(UE, BSF, parts))
    assert [m.summary for m in found] == ["HEAD /", "200 OK", "GET /x", "200 Fine"]


def test_diameter_mar_maa_split_at_odd_offsets() -> None:
    request = zh.build_mar(BSF_ID, "example.org", "bsf.example.org;1;2",
                           zh.VectorRequest(IMPI))
    answer = zh.build_maa(request, HSS_ID, zh.VectorAnswer(
        IMPI, rand=bytes(16), autn=bytes(range(16)), xres=XRES, ck=CK, ik=IK))
    cer = build_cer(BSF_ID, [zh.APPLICATION]).encode()
    cea = build_cea(build_cer(BSF_ID, []), HSS_ID, [zh.APPLICATION], 2001).encode()
    mar, maa = request.encode(), answer.encode()
    parts = [(True, cer[:7]), (True, cer[7:]), (False, cea[:21]), (False, cea[21:]),
             (True, mar[:3]), *[(True, c) for c in chunks(mar[3:], 1, 20, 33)],
             *[(False, c) for c in chunks(maa, 1, 19, 21, 77)]]
    found = messages(conversation(BSF_CLIENT, HSS, parts))
    assert [m.summary for m in found] == ["CER", "CEA 2001", f"MAR (Zh) {IMPI}",
                                          "MAA (Zh) 2001"]
    assert [m.protocol for m in found] == ["Diameter"] * 4
    assert [m.direction for m in found] == ["request", "response"] * 2


def test_diameter_resync_bir_and_errors() -> None:
    resync = zh.build_mar(BSF_ID, "example.org", "s;1", zh.VectorRequest(
        IMPI, resync_rand=bytes(16), auts=bytes(14)))
    bir = zn.build_bir(BSF_ID, "example.org", "s;2", zn.KeyRequest("b-tid@bsf", b"naf\x01"))
    refused = zn.build_bia_error(bir, HSS_ID, 5401)
    ok = zn.build_bia(bir, HSS_ID, zn.KeyAnswer(
        IMPI, datetime(2030, 1, 1, tzinfo=UTC), datetime(2029, 1, 1, tzinfo=UTC),
        me_key=bytes(32)))
    parts = [(True, resync.encode() + bir.encode()), (False, refused.encode()),
             (False, ok.encode())]
    found = messages(conversation(BSF_CLIENT, HSS, parts))
    assert [m.summary for m in found] == [
        f"MAR (Zh) {IMPI}, resync", "BIR (Zn) B-TID b-tid@bsf",
        "BIA (Zn) 5401 IMPI_UNKNOWN", "BIA (Zn) 2001"]


def test_sip_register_over_tcp_and_udp() -> None:
    register = (b"REGISTER sip:ims.example.org SIP/2.0\r\nVia: SIP/2.0/TCP ue\r\n"
                b"CSeq: 1 REGISTER\r\nAuthorization: Digest username=\"alice@ims\", "
                b"response=\"deadbeef\"\r\nContent-Length: 4\r\n\r\nbody")
    reply = b"SIP/2.0 401 Unauthorized\r\nCSeq: 1 REGISTER\r\nl: 0\r\n\r\n"
    tcp = conversation(UE, ("127.0.0.1", 5060),
                       [(True, register[:9]), (True, register[9:]), (False, reply)])
    udp = [Segment(200.0, "udp", UE, ("127.0.0.1", 5060), "data", data=register),
           Segment(200.1, "udp", ("127.0.0.1", 5060), UE, "data", data=b"\x00\x01junk")]
    found = messages(tcp + udp)
    assert [(m.protocol, m.summary) for m in found] == [
        ("SIP", "REGISTER sip:ims.example.org (Digest username=alice@ims)"),
        ("SIP", "401 Unauthorized (REGISTER)"),
        ("SIP", "REGISTER sip:ims.example.org (Digest username=alice@ims)"),
        ("UDP", "UDP 6 bytes")]


def tls_record(content: int, body: bytes) -> bytes:
    return bytes([content, 3, 3]) + len(body).to_bytes(2, "big") + body


def test_tls_records_are_named_not_decrypted() -> None:
    hello = tls_record(22, b"\x01\x00\x00\x04" + b"abcd")
    server = tls_record(22, b"\x02\x00\x00\x02xy" + b"\x0b\x00\x00\x01z" + b"\x0e\x00\x00\x00")
    secret = b"key material inside TLS" * 3
    parts = [(True, hello[:2]), (True, hello[2:]), (False, server),
             (False, tls_record(20, b"\x01")), (False, tls_record(22, b"\x14garbage")),
             (True, tls_record(23, secret)[:9]), (True, tls_record(23, secret)[9:])]
    found = messages(conversation(BSF_CLIENT, HSS, parts))
    assert [m.summary for m in found] == [
        "TLS handshake (ClientHello)",
        "TLS handshake (ServerHello, Certificate, ServerHelloDone)",
        "TLS change cipher spec", "TLS handshake",
        f"TLS application data ({len(secret)} bytes)"]
    assert all(m.protocol == "TLS" for m in found)


def test_overflow_becomes_one_unparsed_message() -> None:
    assembler = MessageAssembler(limit=1000)
    head = b"HTTP/1.1 200 OK\r\n\r\n"  # a body delimited by the close
    out = assembler.feed(Segment(1.0, "tcp", BSF, UE, "data", 1, head))
    out += assembler.feed(Segment(1.1, "tcp", BSF, UE, "data", 1, b"x" * 2000))
    out += assembler.feed(Segment(1.2, "tcp", BSF, UE, "data", 1, b"x" * 3000))
    out += assembler.flush()
    assert [m.summary for m in out] == [f"TCP {len(head) + 2000} bytes (unparsed)"]


def test_declared_length_over_the_limit_is_given_up_at_once() -> None:
    assembler = MessageAssembler(limit=1000)
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"
    out = assembler.feed(Segment(1.0, "tcp", BSF, UE, "data", 1, head))
    out += assembler.feed(Segment(1.1, "tcp", BSF, UE, "data", 1, b"x" * 5000))
    out += assembler.flush()
    assert [m.summary for m in out] == [
        f"TCP {len(head)} bytes (unparsed: body of {len(head) + 5000} bytes > 1000)"]


def test_unknown_and_incomplete_bytes() -> None:
    parts = [(True, b"\xff\xfe binary"), (True, b" more"), (False, b"HTTP/1.1 200 OK\r\n")]
    found = messages(conversation(UE, BSF, parts))
    assert [m.summary for m in found] == ["TCP 14 bytes", "TCP 17 bytes (incomplete)"]


def test_one_recording_per_connection_decrypted_preferred() -> None:
    request = b"GET / HTTP/1.1\r\n\r\n"
    wire = conversation(UE, BSF, [(True, tls_record(23, b"x" * 40))], recorder="naf")
    plain = conversation(UE, BSF, [(True, request)], connection=7, recorder="naf",
                         layer="decrypted")
    other_end = conversation(UE, BSF, [(True, request)], connection=3, recorder="ue")
    found = messages(wire + other_end + plain)
    assert [(m.summary, m.layer, m.recorder) for m in found] == [
        ("GET /", "decrypted", "naf")]
    found = messages(other_end + conversation(UE, BSF, [(True, request)], recorder="bsf"))
    assert [(m.summary, m.recorder) for m in found] == [("GET /", "ue")]


@pytest.mark.parametrize(("data", "expected"), [
    (b"", None), (b"\x16\x03", None), (b"\x16\x03\x01\x00", "TLS"), (b"\x17\x05\x00", "unknown"),
    (b"\x01\x00\x00", None), (b"\x01\x00\x00\x14" + bytes(16), "Diameter"),
    (b"\x01\x00\x00\x13" + bytes(16), "unknown"), (b"GE", None), (b"GET / HT", None),
    (b"GET / HTTP/1.1\r\n", "HTTP"), (b"OPTIONS sip:x SIP/2.0\r\n", "SIP"),
    (b"OPTIONS * HTTP/1.1\r\n", "HTTP"), (b"SIP/2.0 200 OK", "SIP"), (b"hello\r\n", "unknown"),
])
def test_detect(data: bytes, expected: str | None) -> None:
    assert detect(data) == expected


def test_http_cut_short_by_the_close() -> None:
    parts = [(True, b"POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")]
    assert [m.summary for m in messages(conversation(UE, BSF, parts))] == [
        "POST /x (incomplete)"]

"""Who gets a PSK-TLS handshake: the ClientHello's extent and the pending caps. No sockets;
the behaviour on the wire is in tests/e2e/test_slow_clients.py."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import ssl

import pytest

from gba.errors import InvalidInput
from gba.transport.psk_tls_admission import MAX_HELLO, Admission, client_hello_size, source_of
from gba.transport.psk_tls_attempt import Refused
from gba.transport.psk_tls_context import client_context

KEY = hashlib.sha256(b"admission").digest()


def hello() -> bytes:
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_context("PSK-AES128-CBC-SHA", "3GPP-bootstrapping.AAECAw==@bsf.example.org",
                         KEY).wrap_bio(incoming, outgoing)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def record(body: bytes) -> bytes:
    return b"\x16\x03\x01" + len(body).to_bytes(2, "big") + body


def test_a_whole_client_hello_is_complete() -> None:
    data = hello()
    assert client_hello_size(data) == len(data)


@pytest.mark.parametrize("cut", [0, 1, 4, 5, 6, 40])
def test_a_cut_client_hello_asks_for_more(cut: int) -> None:
    data = hello()
    assert client_hello_size(data[:cut]) > cut


def test_a_client_hello_over_two_records_is_complete_only_with_both() -> None:
    message = hello()[5:]
    data = record(message[:30]) + record(message[30:])
    assert client_hello_size(data[:40]) == len(data)
    assert client_hello_size(data) == len(data)


@pytest.mark.parametrize("data", [
    b"GET / HTTP/1.1\r\n",
    b"\x17\x03\x03\x00\x10",
    b"\x80\x2e\x01\x03\x01",  # SSLv2-compatible ClientHello
    record(b"\x02\x00\x00\x00"),  # a ServerHello
    b"\x16\x03\x01\x00\x00",
    b"\x16\x03\x01\x40\x01",
])
def test_octets_that_are_no_client_hello_are_refused(data: bytes) -> None:
    with pytest.raises(Refused):
        client_hello_size(data)


def test_client_hello_records_past_the_limit_are_refused() -> None:
    message = b"\x01\x00\x80\x00" + bytes(0x8000)
    data = record(message[:16384]) + record(message[16384:16384 * 2])
    with pytest.raises(Refused, match=f"pass {MAX_HELLO} octets"):
        client_hello_size(data)


@pytest.mark.parametrize(("addr", "source"), [
    (("192.0.2.7", 443), "192.0.2.7"),
    (("2001:db8:1:2:3:4:5:6", 443, 0, 0), "2001:db8:1:2::/64"),
    (("::ffff:192.0.2.7", 443, 0, 0), "192.0.2.7"),
    (("fe80::1%eth0", 443, 0, 2), "fe80::/64"),
])
def test_a_source_is_an_ipv4_address_or_an_ipv6_64(addr: tuple[object, ...],
                                                    source: str) -> None:
    assert source_of(addr) == source


def test_admission_caps_per_source_and_in_total() -> None:
    gate = Admission(total=3, per_source=2, log=logging.getLogger("test"))
    assert gate.admit("a")
    assert gate.admit("a")
    assert not gate.admit("a")
    assert gate.admit("b")
    assert not gate.admit("c")
    gate.done("a")
    assert gate.admit("c")
    assert gate.pending == 3


def test_refusals_are_logged_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    clock = [0.0]
    gate = Admission(total=1, per_source=1, log=logging.getLogger("test.admission"),
                     now=lambda: clock[0], log_interval=10.0)
    assert gate.admit("a")
    with caplog.at_level(logging.WARNING, logger="test.admission"):
        for _ in range(50):
            assert not gate.admit("b")
        clock[0] = 10.0
        assert not gate.admit("b")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "49 more refused" in lines[1]


def test_caps_below_one_are_refused() -> None:
    with pytest.raises(InvalidInput, match="caps must be >= 1"):
        Admission(total=0, per_source=1, log=logging.getLogger("test"))

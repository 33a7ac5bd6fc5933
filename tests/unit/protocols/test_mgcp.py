"""The bounded MGCP 1.0 codec (gba.protocols.mgcp; RFC 3435 §3, App. A). Expected bytes
are written from the RFC grammar: ``VERB SP txid SP endpoint SP "MGCP 1.0"`` and
``Name: value`` lines, ``code SP txid [SP "/" package] [SP commentary]``."""

from __future__ import annotations

import pytest

from gba.errors import CodecError, InvalidInput
from gba.protocols import mgcp

pytestmark = pytest.mark.ngn


# --- commands ------------------------------------------------------------------------------


def test_command_with_lf_lines_and_lower_case_names_parses() -> None:
    msg = mgcp.parse(b"rsip 1200 aaln/1@rgw.example.net MGCP 1.0\nrm: restart\n")
    assert msg == mgcp.Command("RSIP", 1200, "aaln/1@rgw.example.net", (("rm", "restart"),))
    assert isinstance(msg, mgcp.Command)
    assert msg.param("RM") == "restart"
    assert msg.param("Rm") == "restart"
    assert msg.param("X") is None


def test_command_with_crlf_and_blanks_after_colon_parses() -> None:
    msg = mgcp.parse(b"RQNT 1201 aaln/1@[192.0.2.1] MGCP 1.0\r\nX:   0123456789AC\r\n"
                     b"R: ngn/auth\r\n")
    assert msg == mgcp.Command("RQNT", 1201, "aaln/1@[192.0.2.1]",
                               (("X", "0123456789AC"), ("R", "ngn/auth")))


def test_command_formats_from_the_grammar() -> None:
    cmd = mgcp.Command("RQNT", 1201, "aaln/1@[192.0.2.1]",
                       (("X", "0123456789AC"), ("R", "ngn/auth")))
    assert mgcp.format_command(cmd) == (
        b"RQNT 1201 aaln/1@[192.0.2.1] MGCP 1.0\r\nX: 0123456789AC\r\nR: ngn/auth\r\n")
    assert mgcp.parse(mgcp.format_command(cmd)) == cmd


def test_command_with_profile_and_extension_verb_round_trips() -> None:
    cmd = mgcp.Command("XABC", 999_999_999, "ngn/*@#42", (("X-FOO", "a b"),), "NCS 1.0")
    data = mgcp.format_command(cmd)
    assert data.startswith(b"XABC 999999999 ngn/*@#42 MGCP 1.0 NCS 1.0\r\n")
    assert mgcp.parse(data) == cmd


def test_session_description_after_blank_line_is_skipped() -> None:
    msg = mgcp.parse(b"NTFY 7 ngn/0@gw MGCP 1.0\nO: ngn/auth\n\nv=0\no=- 1 1 IN IP4 x\n")
    assert isinstance(msg, mgcp.Command)
    assert msg.params == (("O", "ngn/auth"),)


def test_empty_parameter_value_is_kept() -> None:
    msg = mgcp.parse(b"RQNT 9 ngn/0@gw MGCP 1.0\nR:\n")
    assert isinstance(msg, mgcp.Command)
    assert msg.param("R") == ""


# --- responses -----------------------------------------------------------------------------


def test_response_lines_parse() -> None:
    assert mgcp.parse(b"200 1203 OK\n") == mgcp.Response(200, 1203, "OK")
    assert mgcp.parse(b"250 5\r\n") == mgcp.Response(250, 5)
    assert mgcp.parse(b"801 1203 /ngn stale: clock\r\nX-NGNREF: stale\r\n") == mgcp.Response(
        801, 1203, "stale: clock", (("X-NGNREF", "stale"),), "ngn")


def test_response_formats_from_the_grammar() -> None:
    assert mgcp.format_response(mgcp.Response(200, 1203, "OK")) == b"200 1203 OK\r\n"
    assert mgcp.format_response(mgcp.Response(0, 7)) == b"000 7\r\n"
    resp = mgcp.Response(804, 1, "auth-failed", (("X-NGNREF", "auth-failed"),), "ngn")
    assert mgcp.format_response(resp) == (
        b"804 1 /ngn auth-failed\r\nX-NGNREF: auth-failed\r\n")
    assert mgcp.parse(mgcp.format_response(resp)) == resp


# --- endpoint names and transaction ids ----------------------------------------------------


@pytest.mark.parametrize("name", [
    "aaln/1@rgw.example.net", "ngn/0@[192.0.2.1]", "ngn/0@[2001:db8::1]", "ngn/*@gw",
    "$@gw", "trunk/3/$@#123", "a-b.c!~@x",
])
def test_valid_endpoint_names(name: str) -> None:
    assert mgcp.is_endpoint(name)
    assert mgcp.check_endpoint(name) == name


@pytest.mark.parametrize("name", [
    "ngn0", "@gw", "ngn/@gw", "ngn//0@gw", "ngn/0@", "ngn/0@[999.1.1.1]", "ngn/0@gw_x",
    "ngn/0@#", "a@b@c", "ng*n@gw", "ngn/é@gw", "x" * 256 + "@gw",
])
def test_invalid_endpoint_names(name: str) -> None:
    assert not mgcp.is_endpoint(name)
    with pytest.raises(InvalidInput):
        mgcp.check_endpoint(name)


@pytest.mark.parametrize("txid", [0, -1, 1_000_000_000, True])
def test_transaction_id_range(txid: int) -> None:
    with pytest.raises(InvalidInput):
        mgcp.check_txid(txid)


# --- malformed input -----------------------------------------------------------------------

GOOD = b"RSIP 1234 ngn/0@gw MGCP 1.0\nRM: restart\n"


@pytest.mark.parametrize(("data", "code", "txid"), [
    (b"", 510, None),
    (b"\n", 510, None),
    (GOOD + b"X-A: " + b"a" * mgcp.MAX_MESSAGE, 510, 1234),
    (GOOD + b"".join(b"X-%d: 1\n" % i for i in range(mgcp.MAX_LINES)), 510, 1234),
    (GOOD + b"X-LONG: " + b"a" * mgcp.MAX_LINE + b"\n", 510, 1234),
    (GOOD + b"X-A: \xff\xfe\n", 510, 1234),
    (GOOD + b"X-A: a\x00b\n", 510, 1234),
    (GOOD + b"X-A: a\rb\n", 510, 1234),
    (b"RSIP 0 ngn/0@gw MGCP 1.0\n", 510, None),
    (b"RSIP 1234567890 ngn/0@gw MGCP 1.0\n", 510, None),
    (b"RSIP 12a4 ngn/0@gw MGCP 1.0\n", 510, None),
    (b"RSIP 1234 ngn0 MGCP 1.0\n", 510, 1234),
    (b"RSIP 1234 ngn/0@[1.2.3] MGCP 1.0\n", 510, 1234),
    (b"RSIP 1234 ngn/0@gw MGCP 2.0\n", 528, 1234),
    (b"RSIP 1234 ngn/0@gw SIP 1.0\n", 510, 1234),
    (b"RSIP 1234 ngn/0@gw\n", 510, 1234),
    (b" RSIP 1234 ngn/0@gw MGCP 1.0\n", 510, 1234),
    (GOOD + b"RM: forced\n", 510, 1234),
    (GOOD + b"no colon here\n", 510, 1234),
    (GOOD + b"B@D: x\n", 510, 1234),
    (GOOD + b".\nRSIP 1235 ngn/0@gw MGCP 1.0\n", 510, 1234),
    (GOOD + b"\nv=0\n.\n200 5 OK\n", 510, 1234),
    (b"20 1234 OK\n", 510, None),
    (b"200 0 OK\n", 510, None),
    (b"200 1234 /n_g OK\n", 510, 1234),
])
def test_malformed_messages_are_refused(data: bytes, code: int, txid: int | None) -> None:
    with pytest.raises(mgcp.MgcpError) as info:
        mgcp.parse(data)
    assert isinstance(info.value, CodecError)
    assert info.value.code == code
    assert info.value.txid == txid


def test_error_says_whether_a_command_or_a_response_failed() -> None:
    with pytest.raises(mgcp.MgcpError) as cmd:
        mgcp.parse(b"NTFY 77 bad MGCP 1.0\n")
    assert cmd.value.is_command is True
    with pytest.raises(mgcp.MgcpError) as resp:
        mgcp.parse(b"200 77 OK\nX: 1\nX: 2\n")
    assert resp.value.is_command is False
    assert resp.value.txid == 77


@pytest.mark.parametrize("cmd", [
    mgcp.Command("RS", 1, "ngn/0@gw"),
    mgcp.Command("RSIP", 0, "ngn/0@gw"),
    mgcp.Command("RSIP", 1, "ngn0"),
    mgcp.Command("RSIP", 1, "ngn/0@gw", (("X-A", "a\r\nRM: x"),)),
    mgcp.Command("RSIP", 1, "ngn/0@gw", (("X-A", "1"), ("x-a", "2"))),
    mgcp.Command("RSIP", 1, "ngn/0@gw", (("X A", "1"),)),
    mgcp.Command("RSIP", 1, "ngn/0@gw", (("X-A", " padded"),)),
    mgcp.Command("RSIP", 1, "ngn/0@gw", (("X-A", "a" * mgcp.MAX_LINE),)),
    mgcp.Command("RSIP", 1, "ngn/0@gw", tuple((f"X-{i}", "1") for i in range(64))),
])
def test_format_command_refuses_what_the_grammar_forbids(cmd: mgcp.Command) -> None:
    with pytest.raises(InvalidInput):
        mgcp.format_command(cmd)


@pytest.mark.parametrize("resp", [
    mgcp.Response(1000, 1),
    mgcp.Response(200, 0),
    mgcp.Response(200, 1, "caf\u00e9"),
    mgcp.Response(200, 1, "/looks like a package"),
    mgcp.Response(801, 1, "x", (), "bad_pkg"),
])
def test_format_response_refuses_what_the_grammar_forbids(resp: mgcp.Response) -> None:
    with pytest.raises(InvalidInput):
        mgcp.format_response(resp)

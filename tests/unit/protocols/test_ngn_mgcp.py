"""The MGCP binding of the NGN flow (gba.protocols.ngn_mgcp; RFC 3435): every flow message
as its command (RSIP / RQNT / NTFY / RQNT), ``200`` acknowledgements and the error codes of
each refusal, in both topologies (with and without the signalling proxy)."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from gba.errors import CodecError, InvalidInput
from gba.protocols import mgcp, ngn_mgcp
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
    S3AuthRequest,
    S5Challenge,
    S6Challenge,
    S7Response,
    S8Response,
    S9Success,
    S10Success,
    Side,
    WireError,
)
from gba.protocols.ngn_mgcp import MgcpContext, MgcpWire

pytestmark = pytest.mark.ngn

ID_C = "alice@ngn.example"
ID_SP = "sp1.ngn.example"
N1 = bytes(range(16))
N1B = bytes(range(1, 17))
N2 = bytes(range(16, 32))
RAND = bytes(range(32, 48))
AUTH = bytes(range(48, 64))
E_KC = bytes(range(64, 88))
E_KSP = bytes(range(88, 112))
MAC = bytes(range(112, 128))
MECHS = (Mechanism("tls", 0.2), Mechanism("ipsec", 0.1), Mechanism("app", 0.05))


def rng(seed: int) -> Callable[[int], bytes]:
    return random.Random(seed).randbytes


def wire(role: Role, host: str, seed: int = 1) -> MgcpWire:
    return MgcpWire(Side(role, host, 2427, "ngn.example"), rng(seed))


@pytest.fixture
def terminal() -> MgcpWire:
    return wire(Role.TERMINAL, "192.0.2.10", 1)


@pytest.fixture
def sp_t() -> MgcpWire:
    """The SP's leg towards the terminal."""
    return wire(Role.PROXY, "192.0.2.20", 2)


@pytest.fixture
def sp_s() -> MgcpWire:
    """The SP's leg towards the softswitch."""
    return wire(Role.PROXY, "192.0.2.20", 3)


@pytest.fixture
def softswitch() -> MgcpWire:
    return wire(Role.SOFTSWITCH, "2001:db8::5", 4)


S1 = S1Register(ID_C, ID_SP, N1, 1_700_000_000)
S2 = S2Forward(ID_C, ID_SP)
S5 = S5Challenge(ID_C, ID_SP, RAND)
S6 = S6Challenge(ID_C, ID_SP, RAND, N1, N2, 1_700_000_001)
S6_NO = S6Challenge(ID_C, ID_SP, RAND, N1, N2, 1_700_000_001, want_mechanisms=False)
S7 = S7Response(ID_C, ID_SP, N1B, N2, 1_700_000_002, AUTH, MECHS)
S8 = S8Response(ID_C, ID_SP, AUTH, "198.51.100.7")
S8_M = S8Response(ID_C, ID_SP, AUTH, "198.51.100.7", MECHS)
S9 = S9Success(ID_C, ID_SP, E_KC, E_KSP)
S10 = S10Success(ID_C, ID_SP, N1B, N2, 1_700_000_003, E_KC, "tls", MECHS, MAC)
P_REQ = Protected(ID_C, ID_SP, "tls", 7, MAC)
P_ANS = Protected(ID_C, ID_SP, "tls", 7, bytes(range(128, 144)), answer=True)


def lines(data: bytes) -> list[str]:
    return data.decode("ascii").split("\r\n")[:-1]


def param(data: bytes, name: str) -> str | None:
    msg = mgcp.parse(data)
    return msg.param(name)


# --- every flow command, both legs, both topologies ---------------------------------------

# (message, sender, receiver, verb, event line)
CASES = [
    (S1, "terminal", "sp_t", "RSIP", "RM: restart"),
    (S1, "terminal", "softswitch", "RSIP", "RM: restart"),
    (S2, "sp_s", "softswitch", "RSIP", "RM: restart"),
    (S5, "softswitch", "sp_s", "RQNT", "R: ngn/auth"),
    (S6, "sp_t", "terminal", "RQNT", "R: ngn/auth"),
    (S6_NO, "softswitch", "terminal", "RQNT", "R: ngn/auth"),
    (S7, "terminal", "sp_t", "NTFY", "O: ngn/auth"),
    (S7, "terminal", "softswitch", "NTFY", "O: ngn/auth"),
    (S8, "sp_s", "softswitch", "NTFY", "O: ngn/auth"),
    (S8_M, "sp_s", "softswitch", "NTFY", "O: ngn/auth"),
    (S9, "softswitch", "sp_s", "RQNT", "R: ngn/reg"),
    (S10, "sp_t", "terminal", "RQNT", "R: ngn/reg"),
    (S10, "softswitch", "terminal", "RQNT", "R: ngn/reg"),
]


@pytest.mark.parametrize(("message", "sender", "receiver", "verb", "event"), CASES)
def test_flow_command_round_trips_and_is_acknowledged(
        request: pytest.FixtureRequest, message: FlowMessage, sender: str, receiver: str,
        verb: str, event: str) -> None:
    src: MgcpWire = request.getfixturevalue(sender)
    dst: MgcpWire = request.getfixturevalue(receiver)
    data = src.encode(message)
    head = lines(data)
    fields = head[0].split(" ")
    assert fields[0] == verb
    assert fields[3:] == ["MGCP", "1.0"]
    assert event in head
    if verb == "RQNT":
        assert any(line.startswith("X: ") for line in head)
    inbound = dst.decode(data)
    assert inbound.message == message
    assert inbound.is_request
    assert isinstance(inbound.context, MgcpContext)
    assert inbound.context.txid == int(fields[1])
    assert inbound.context.verb == verb
    ack = dst.encode(Ack(ID_C, ID_SP), answering=inbound)
    assert ack == f"200 {fields[1]} OK\r\n".encode()
    back = src.decode(ack)
    assert back.message == Ack(ID_C, ID_SP)
    assert not back.is_request


def test_fields_travel_as_lower_case_hex_and_decimal(terminal: MgcpWire) -> None:
    data = terminal.encode(S7)
    assert param(data, "X-NGNN1") == N1B.hex()
    assert param(data, "X-NGNN2") == N2.hex()
    assert param(data, "X-NGNTS3") == "1700000002"
    assert param(data, "X-NGNAUT") == AUTH.hex()
    assert param(data, "X-NGNMEC") == "tls;q=0.2, ipsec;q=0.1, app;q=0.05"
    assert param(data, "X-NGNIDC") == ID_C


def test_s6_carries_the_mechanism_request_flag(sp_t: MgcpWire) -> None:
    assert param(sp_t.encode(S6), "X-NGNWM") == "1"
    assert param(sp_t.encode(S6_NO), "X-NGNWM") == "0"


def test_s8_without_mechanisms_has_no_list(sp_s: MgcpWire) -> None:
    assert param(sp_s.encode(S8), "X-NGNMEC") is None
    assert param(sp_s.encode(S8_M), "X-NGNMEC") == "tls;q=0.2, ipsec;q=0.1, app;q=0.05"


def test_senders_name_their_own_endpoint(terminal: MgcpWire, softswitch: MgcpWire) -> None:
    assert lines(terminal.encode(S1))[0].split(" ")[2] == "ngn/0@[192.0.2.10]"
    assert softswitch.endpoint == "ngn/0@[2001:db8::5]"
    named = MgcpWire(Side(Role.TERMINAL, "gw1.ngn.example", 2427, "ngn.example"))
    assert named.endpoint == "ngn/0@gw1.ngn.example"
    with pytest.raises(InvalidInput):
        MgcpWire(Side(Role.TERMINAL, "bad host", 2427, "ngn.example"))


def test_rqnt_goes_to_the_endpoint_heard_from(terminal: MgcpWire, sp_t: MgcpWire) -> None:
    assert lines(sp_t.encode(S6))[0].split(" ")[2] == "ngn/0@ngn.example"  # nothing heard yet
    sp_t.decode(terminal.encode(S1))
    assert lines(sp_t.encode(S6))[0].split(" ")[2] == "ngn/0@[192.0.2.10]"


def test_ntfy_echoes_the_request_identifier(terminal: MgcpWire, sp_t: MgcpWire) -> None:
    fresh = param(terminal.encode(S7), "X")
    rqnt = sp_t.encode(S6)
    inbound = terminal.decode(rqnt)
    assert isinstance(inbound.context, MgcpContext)
    assert inbound.context.request_id == param(rqnt, "X")
    echoed = param(terminal.encode(S7), "X")
    assert echoed == param(rqnt, "X")
    assert fresh != echoed


def test_identities_are_percent_encoded(terminal: MgcpWire, sp_t: MgcpWire) -> None:
    odd = S1Register("b\u00f6b 100%:x", "sp/\u4e00", N1, 5)
    data = terminal.encode(odd)
    assert param(data, "X-NGNIDC") == "b%C3%B6b%20100%25:x"
    assert param(data, "X-NGNISP") == "sp/%E4%B8%80"
    assert sp_t.decode(data).message == odd


@pytest.mark.parametrize("text", ["%G1", "a%", "%2", "%FF", "%01", "a b", ""])
def test_bad_identity_encodings_are_refused(text: str) -> None:
    with pytest.raises(CodecError):
        ngn_mgcp.decode_id(text)


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize("refusal", list(Refusal))
@pytest.mark.parametrize("detail", ["", "TS1 40 s off"])
def test_each_refusal_maps_to_its_code_and_back(
        terminal: MgcpWire, sp_t: MgcpWire, refusal: Refusal, detail: str) -> None:
    inbound = sp_t.decode(terminal.encode(S1))
    assert isinstance(inbound.context, MgcpContext)
    data = sp_t.encode(Refuse(ID_C, ID_SP, refusal, detail), answering=inbound)
    code = ngn_mgcp.REFUSAL_CODES[refusal]
    first = lines(data)[0]
    package = " /ngn" if code >= 800 else ""
    note = f": {detail}" if detail else ""
    assert first == f"{code} {inbound.context.txid}{package} {refusal.value}{note}"
    assert f"X-NGNREF: {refusal.value}" in lines(data)
    back = terminal.decode(data)
    assert back.message == Refuse(ID_C, ID_SP, refusal, detail)
    assert not back.is_request


def test_refusal_codes_are_rfc_3435_error_codes() -> None:
    codes = ngn_mgcp.REFUSAL_CODES
    assert codes[Refusal.MALFORMED] == 510
    assert codes[Refusal.UNKNOWN_TERMINAL] == 500
    assert codes[Refusal.UNAVAILABLE] == 400
    assert len(set(codes.values())) == len(Refusal)
    assert all(400 <= c <= 599 or 800 <= c <= 899 for c in codes.values())


@pytest.mark.parametrize(("line", "refusal"), [
    ("500 {} endpoint unknown", Refusal.UNKNOWN_TERMINAL),
    ("801 {} /ngn", Refusal.STALE),
    ("403 {} insufficient resources", Refusal.UNAVAILABLE),
    ("599 {}", Refusal.MALFORMED),
])
def test_error_codes_without_the_refusal_line_fall_back(
        terminal: MgcpWire, line: str, refusal: Refusal) -> None:
    txid = mgcp.parse(terminal.encode(S1)).txid
    back = terminal.decode((line.format(txid) + "\n").encode())
    assert isinstance(back.message, Refuse)
    assert back.message.refusal is refusal
    assert (back.message.id_c, back.message.id_sp) == (ID_C, ID_SP)


def test_non_ascii_detail_is_sanitised(terminal: MgcpWire, sp_t: MgcpWire) -> None:
    inbound = sp_t.decode(terminal.encode(S1))
    data = sp_t.encode(Refuse(ID_C, ID_SP, Refusal.REPLAY, "n\u00f6nce\nagain"), inbound)
    message = terminal.decode(data).message
    assert message == Refuse(ID_C, ID_SP, Refusal.REPLAY, "n?nce?again")


def test_unknown_refusal_name_is_refused(terminal: MgcpWire) -> None:
    txid = mgcp.parse(terminal.encode(S1)).txid
    with pytest.raises(WireError):
        terminal.decode(f"510 {txid}\nX-NGNREF: bogus\n".encode())


# --- malformed commands ----------------------------------------------------------------------


def _mutate(data: bytes, name: str, value: str | None) -> bytes:
    out = []
    for line in lines(data):
        if line.upper().startswith(name.upper() + ":"):
            if value is not None:
                out.append(f"{name}: {value}")
        else:
            out.append(line)
    if value is not None and not any(x.upper().startswith(name.upper() + ":") for x in out):
        out.append(f"{name}: {value}")
    return ("\r\n".join(out) + "\r\n").encode()


@pytest.mark.parametrize(("message", "receiver", "name", "value"), [
    (S1, "sp_t", "X-NGNIDC", None),
    (S1, "sp_t", "X-NGNISP", "a%zz"),
    (S1, "sp_t", "X-NGNN1", "00" * 15),
    (S1, "sp_t", "X-NGNN1", "xyz"),
    (S1, "sp_t", "X-NGNTS1", "-5"),
    (S1, "sp_t", "X-NGNTS1", None),
    (S1, "sp_t", "RM", "graceful"),
    (S1, "sp_t", "RM", None),
    (S1, "sp_t", "X-NGNRND", "00" * 16),
    (S6, "terminal", "X-NGNWM", "yes"),
    (S6, "terminal", "X-NGNN2", "00" * 17),
    (S6, "terminal", "X", None),
    (S6, "terminal", "X", "not-hex"),
    (S6, "terminal", "R", "ngn/reg"),
    (S7, "sp_t", "X-NGNMEC", "tls, ipsec"),
    (S7, "sp_t", "X-NGNMEC", None),
    (S7, "sp_t", "X-NGNAUT", "00" * 8),
    (S7, "sp_t", "O", "ngn/other"),
    (S8, "softswitch", "X-NGNADR", None),
    (S9, "sp_s", "X-NGNEKS", "00" * 16),
    (S10, "terminal", "X-NGNSEL", "t;ls"),
    (S10, "terminal", "X-NGNMAC", None),
])
def test_malformed_flow_fields_get_a_510(
        request: pytest.FixtureRequest, message: FlowMessage, receiver: str, name: str,
        value: str | None) -> None:
    senders = {"sp_t": "terminal", "terminal": "sp_t", "softswitch": "sp_s", "sp_s": "softswitch"}
    src: MgcpWire = request.getfixturevalue(senders[receiver])
    dst: MgcpWire = request.getfixturevalue(receiver)
    data = src.encode(message)
    txid = mgcp.parse(data).txid
    with pytest.raises(WireError) as info:
        dst.decode(_mutate(data, name, value))
    reply = info.value.reply
    assert reply is not None
    assert lines(reply)[0].startswith(f"510 {txid} malformed")
    assert "X-NGNREF: malformed" in lines(reply)


def test_codec_errors_of_a_command_get_a_510(sp_t: MgcpWire) -> None:
    with pytest.raises(WireError) as info:
        sp_t.decode(b"RSIP 4321 ngn/0@gw MGCP 1.0\nRM: restart\nRM: restart\n")
    assert info.value.reply is not None
    assert info.value.reply.startswith(b"510 4321 malformed")


def test_wrong_version_gets_a_528(sp_t: MgcpWire) -> None:
    with pytest.raises(WireError) as info:
        sp_t.decode(b"RSIP 4321 ngn/0@gw MGCP 0.1\n")
    assert info.value.reply is not None
    assert info.value.reply.startswith(b"528 4321 ")


@pytest.mark.parametrize(("receiver", "data"), [
    ("sp_t", b"CRCX 55 ngn/0@gw MGCP 1.0\nC: 1\n"),
    ("sp_t", b"XNGN 55 ngn/0@gw MGCP 1.0\n"),
    ("terminal", b"RSIP 55 ngn/0@gw MGCP 1.0\nRM: restart\n"),
    ("softswitch", b"RQNT 55 ngn/0@gw MGCP 1.0\nX: 1\nR: ngn/auth\n"),
])
def test_commands_this_role_does_not_take_get_a_504(
        request: pytest.FixtureRequest, receiver: str, data: bytes) -> None:
    dst: MgcpWire = request.getfixturevalue(receiver)
    with pytest.raises(WireError) as info:
        dst.decode(data)
    assert info.value.reply is not None
    assert info.value.reply.startswith(b"504 55 ")


@pytest.mark.parametrize(("message", "sender", "receiver"), [
    (S6, "softswitch", "sp_s"),   # a proxy never receives s6
    (S2, "sp_s", "sp_t"),         # nor s2
    (S8, "sp_s", "sp_t"),         # nor s8
])
def test_flow_messages_not_for_this_role_get_a_510(
        request: pytest.FixtureRequest, message: FlowMessage, sender: str,
        receiver: str) -> None:
    data = request.getfixturevalue(sender).encode(message)
    with pytest.raises(WireError) as info:
        request.getfixturevalue(receiver).decode(data)
    assert info.value.reply is not None
    assert info.value.reply.startswith(b"510 ")


@pytest.mark.parametrize("data", [
    b"", b"garbage\n", b"\xff\xfe\n", b"RSIP x ngn/0@gw MGCP 1.0\n", b"200 0 OK\n",
    b"200 12 OK\nX: 1\nX: 1\n",
])
def test_unreadable_or_response_errors_get_no_reply(sp_t: MgcpWire, data: bytes) -> None:
    with pytest.raises(WireError) as info:
        sp_t.decode(data)
    assert info.value.reply is None


def test_responses_to_unknown_or_provisional_transactions(terminal: MgcpWire) -> None:
    txid = mgcp.parse(terminal.encode(S1)).txid
    with pytest.raises(WireError):
        terminal.decode(f"100 {txid} in progress\n".encode())
    with pytest.raises(WireError):
        terminal.decode(f"200 {txid % 999_999_999 + 1} OK\n".encode())
    assert terminal.decode(f"200 {txid} OK\n".encode()).message == Ack(ID_C, ID_SP)
    with pytest.raises(WireError):  # a transaction is answered once
        terminal.decode(f"200 {txid} OK\n".encode())


def test_outstanding_transactions_are_bounded(terminal: MgcpWire) -> None:
    txids = [mgcp.parse(terminal.encode(S1)).txid for _ in range(ngn_mgcp.MAX_TRACKED + 1)]
    with pytest.raises(WireError):
        terminal.decode(f"200 {txids[0]} OK\n".encode())
    assert terminal.decode(f"200 {txids[-1]} OK\n".encode()).message == Ack(ID_C, ID_SP)


# --- encoding errors -------------------------------------------------------------------------


def test_ack_and_refuse_need_a_decoded_command(terminal: MgcpWire) -> None:
    with pytest.raises(InvalidInput):
        terminal.encode(Ack(ID_C, ID_SP))
    with pytest.raises(InvalidInput):
        terminal.encode(Refuse(ID_C, ID_SP, Refusal.STALE), answering=Inbound(S1, None))


@pytest.mark.parametrize("message", [
    S3AuthRequest(ID_C, ID_SP),
    S1Register(ID_C, ID_SP, N1[:15], 1),
    S1Register(ID_C, ID_SP, N1, -1),
    S1Register("", ID_SP, N1, 1),
    S1Register("a\nb", ID_SP, N1, 1),
    S8Response(ID_C, ID_SP, AUTH, "has space"),
    S10Success(ID_C, ID_SP, N1, N2, 1, E_KC, "t;ls", MECHS, MAC),
    S10Success(ID_C, ID_SP, N1, N2, 1, E_KC, "tls", (), MAC),
])
def test_encode_refuses_bad_messages(terminal: MgcpWire, message: object) -> None:
    with pytest.raises(InvalidInput):
        terminal.encode(message)  # type: ignore[arg-type]


# --- Protected: the refresh under Kc,sp and its answer -----------------------------------


def _answer_to(wire_: MgcpWire, data: bytes) -> tuple[Inbound, bytes]:
    inbound = wire_.decode(data)
    return inbound, wire_.encode(P_ANS, answering=inbound)


@pytest.mark.parametrize("receiver", ["sp_t", "softswitch"])
def test_protected_request_is_an_ntfy_answered_by_a_200_with_its_fields(
        request: pytest.FixtureRequest, terminal: MgcpWire, receiver: str) -> None:
    dst: MgcpWire = request.getfixturevalue(receiver)
    data = terminal.encode(P_REQ)
    head = lines(data)
    fields = head[0].split(" ")
    assert fields[0] == "NTFY"
    assert fields[2] == "ngn/0@[192.0.2.10]"
    assert fields[3:] == ["MGCP", "1.0"]
    assert "O: ngn/keep" in head
    assert any(line.startswith("X: ") for line in head)
    assert head[-5:] == [f"X-NGNIDC: {ID_C}", f"X-NGNISP: {ID_SP}", "X-NGNSEL: tls",
                         "X-NGNSEQ: 7", f"X-NGNMAC: {MAC.hex()}"]
    inbound = dst.decode(data)
    assert inbound.message == P_REQ
    assert inbound.is_request
    assert isinstance(inbound.context, MgcpContext)
    assert (inbound.context.txid, inbound.context.verb) == (int(fields[1]), "NTFY")
    answer = dst.encode(P_ANS, answering=inbound)
    assert lines(answer) == [
        f"200 {fields[1]} OK", f"X-NGNIDC: {ID_C}", f"X-NGNISP: {ID_SP}", "X-NGNSEL: tls",
        "X-NGNSEQ: 7", f"X-NGNMAC: {P_ANS.mac.hex()}"]
    back = terminal.decode(answer)
    assert back.message == P_ANS
    assert not back.is_request
    assert isinstance(back.context, MgcpContext)
    assert (back.context.txid, back.context.verb) == (int(fields[1]), "NTFY")
    with pytest.raises(WireError):  # answered once
        terminal.decode(answer)


@pytest.mark.parametrize("seq", [0, 1, 2**32 - 1])
@pytest.mark.parametrize("mechanism", ["tls", "ipsec-3gpp", "Digest"])
def test_protected_fields_round_trip(terminal: MgcpWire, sp_t: MgcpWire, seq: int,
                                     mechanism: str) -> None:
    req = Protected("b\u00f6b 100%", ID_SP, mechanism, seq, MAC)
    data = terminal.encode(req)
    assert param(data, "X-NGNSEQ") == str(seq)
    assert param(data, "X-NGNIDC") == "b%C3%B6b%20100%25"
    inbound = sp_t.decode(data)
    assert inbound.message == req
    ans = Protected(req.id_c, ID_SP, mechanism, seq, bytes(16), answer=True)
    assert terminal.decode(sp_t.encode(ans, answering=inbound)).message == ans


def test_protected_ntfy_echoes_the_request_identifier(terminal: MgcpWire,
                                                      sp_t: MgcpWire) -> None:
    rqnt = sp_t.encode(S10)
    terminal.decode(rqnt)
    assert param(terminal.encode(P_REQ), "X") == param(rqnt, "X")


@pytest.mark.parametrize("refusal", list(Refusal))
def test_a_protected_request_can_be_refused(terminal: MgcpWire, softswitch: MgcpWire,
                                            refusal: Refusal) -> None:
    inbound = softswitch.decode(terminal.encode(P_REQ))
    assert isinstance(inbound.context, MgcpContext)
    data = softswitch.encode(Refuse(ID_C, ID_SP, refusal, "seq 7 seen"), answering=inbound)
    code = ngn_mgcp.REFUSAL_CODES[refusal]
    assert lines(data)[0].startswith(f"{code} {inbound.context.txid} ")
    back = terminal.decode(data)
    assert back.message == Refuse(ID_C, ID_SP, refusal, "seq 7 seen")
    assert not back.is_request


@pytest.mark.parametrize(("name", "value"), [
    ("X-NGNIDC", None),
    ("X-NGNISP", "a%zz"),
    ("X-NGNSEL", None),
    ("X-NGNSEL", "t;ls"),
    ("X-NGNSEQ", None),
    ("X-NGNSEQ", "-1"),
    ("X-NGNSEQ", "4294967296"),
    ("X-NGNSEQ", "00000000001"),
    ("X-NGNSEQ", "7a"),
    ("X-NGNSEQ", ""),
    ("X-NGNMAC", None),
    ("X-NGNMAC", "00" * 15),
    ("X-NGNMAC", "00" * 17),
    ("X-NGNMAC", "zz" * 16),
    ("O", None),
    ("O", "ngn/auth"),      # the event of s7 / s8
    ("X", None),
    ("X", "not-hex"),
    ("X-NGNN1", N1.hex()),  # an s7 field too many
    ("X-NGNAUT", AUTH.hex()),
    ("X-NGNTS3", "5"),
])
@pytest.mark.parametrize("receiver", ["sp_t", "softswitch"])
def test_malformed_protected_requests_get_a_510(
        request: pytest.FixtureRequest, terminal: MgcpWire, receiver: str, name: str,
        value: str | None) -> None:
    dst: MgcpWire = request.getfixturevalue(receiver)
    data = terminal.encode(P_REQ)
    txid = mgcp.parse(data).txid
    with pytest.raises(WireError) as info:
        dst.decode(_mutate(data, name, value))
    reply = info.value.reply
    assert reply is not None
    assert lines(reply)[0].startswith(f"510 {txid} malformed")


@pytest.mark.parametrize(("message", "sender", "receiver"), [
    (S7, "terminal", "sp_t"),
    (S8, "sp_s", "softswitch"),
])
def test_an_s7_or_s8_with_the_keep_event_is_not_a_protected_request(
        request: pytest.FixtureRequest, message: FlowMessage, sender: str,
        receiver: str) -> None:
    data = _mutate(request.getfixturevalue(sender).encode(message), "O", "ngn/keep")
    with pytest.raises(WireError) as info:
        request.getfixturevalue(receiver).decode(data)
    assert info.value.reply is not None
    assert info.value.reply.startswith(b"510 ")


def test_the_terminal_takes_no_protected_command(terminal: MgcpWire) -> None:
    other = wire(Role.TERMINAL, "192.0.2.11", 9)
    with pytest.raises(WireError) as info:
        terminal.decode(other.encode(P_REQ))
    assert info.value.reply is not None
    assert info.value.reply.startswith(b"504 ")


@pytest.mark.parametrize(("name", "value"), [
    ("X-NGNMAC", None),
    ("X-NGNSEQ", None),
    ("X-NGNSEQ", "4294967296"),
    ("X-NGNSEL", "t;ls"),
    ("X-NGNMAC", "00" * 15),
    ("X-NGNIDC", "mallory@ngn.example"),
    ("X-NGNISP", "sp2.ngn.example"),
    ("X-NGNN1", N1.hex()),
])
def test_malformed_protected_answers_are_refused(
        terminal: MgcpWire, sp_t: MgcpWire, name: str, value: str | None) -> None:
    _, answer = _answer_to(sp_t, terminal.encode(P_REQ))
    with pytest.raises(WireError) as info:
        terminal.decode(_mutate(answer, name, value))
    assert info.value.reply is None


def test_a_bare_200_is_no_protected_answer(terminal: MgcpWire) -> None:
    txid = mgcp.parse(terminal.encode(P_REQ)).txid
    with pytest.raises(WireError):
        terminal.decode(f"200 {txid} OK\n".encode())


def test_a_protected_answer_to_another_command_is_refused(
        terminal: MgcpWire, sp_t: MgcpWire) -> None:
    _, answer = _answer_to(sp_t, terminal.encode(P_REQ))
    txid = mgcp.parse(terminal.encode(S1)).txid
    rest = lines(answer)[1:]
    with pytest.raises(WireError):
        terminal.decode(("\r\n".join([f"200 {txid} OK", *rest]) + "\r\n").encode())


@pytest.mark.parametrize("sender", ["sp_t", "sp_s", "softswitch"])
def test_only_the_terminal_sends_a_protected_request(
        request: pytest.FixtureRequest, sender: str) -> None:
    with pytest.raises(InvalidInput):  # the SP does not forward it upstream
        request.getfixturevalue(sender).encode(P_REQ)


def test_protected_answers_answer_a_decoded_protected_request(
        terminal: MgcpWire, sp_t: MgcpWire) -> None:
    with pytest.raises(InvalidInput):
        terminal.encode(P_ANS)
    with pytest.raises(InvalidInput):
        sp_t.encode(P_ANS)
    s1 = sp_t.decode(terminal.encode(S1))
    with pytest.raises(InvalidInput):
        sp_t.encode(P_ANS, answering=s1)
    inbound = sp_t.decode(terminal.encode(P_REQ))
    with pytest.raises(InvalidInput):
        sp_t.encode(Protected("bob@ngn.example", ID_SP, "tls", 7, MAC, True), inbound)
    with pytest.raises(InvalidInput):
        sp_t.encode(Ack(ID_C, ID_SP), answering=inbound)
    with pytest.raises(InvalidInput):
        terminal.encode(P_REQ, answering=inbound)
    with pytest.raises(InvalidInput):
        sp_t.encode(P_ANS, answering=Inbound(P_REQ, None))


@pytest.mark.parametrize("message", [
    Protected(ID_C, ID_SP, "tls", -1, MAC),
    Protected(ID_C, ID_SP, "tls", 2**32, MAC),
    Protected(ID_C, ID_SP, "tls", True, MAC),
    Protected(ID_C, ID_SP, "t;ls", 1, MAC),
    Protected(ID_C, ID_SP, "", 1, MAC),
    Protected(ID_C, ID_SP, "tls", 1, MAC[:15]),
    Protected(ID_C, ID_SP, "tls", 1, b""),
    Protected("", ID_SP, "tls", 1, MAC),
])
def test_encode_refuses_bad_protected_requests(terminal: MgcpWire, message: Protected) -> None:
    with pytest.raises(InvalidInput):
        terminal.encode(message)

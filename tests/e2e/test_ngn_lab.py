"""NGN key distribution end to end (issue 14, seed 001; docs/ngn.md): ``gba lab up --with
ngn`` runs the AuC, the softswitch and the signalling proxy (SP) as processes, terminals
are provisioned with ``gba ngn add-terminal`` and register with ``gba ngn register`` (a
process of its own) over each binding (SIP over UDP and TCP, MGCP, H.248, H.323 RAS), both
directly with the softswitch (claims 1-8) and through the SP (claims 9-16).

That terminal and SP (or softswitch) hold the same Kc,sp and the same mechanism is shown
across processes by the protected refreshes: the SP verifies each refresh's MAC under its
Kc,sp and the chosen mechanism, and the terminal verifies the answer's MAC under its own.

The attacks of the issue's "Bad input" paragraph are crafted here with the terminal's
protocol binding (``make_wire(face, Role.TERMINAL, ...)``) on a real socket, with the real
clock; each refusal is decoded back with that binding. A UDP man in the middle in the test
tampers with the SP's answers (and with the terminal's s7) on the way.

One lab is started for the module; every test function uses terminals of its own (the
ids are provisioned up front, side by side, by ``gba ngn add-terminal``), except the last,
which registers the first test's terminals again after all the attacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from e2e.labctl import CLI_TIMEOUT, alive, gba, gba_executable, lab_down
from gba.config import Address
from gba.errors import NotFound
from gba.protocols import ngn, ras
from gba.protocols.ngn_bindings import FACES, is_stream, make_wire
from gba.protocols.ngn_flow import (
    Ack,
    FlowMessage,
    Inbound,
    Protected,
    Refusal,
    Refuse,
    Role,
    S1Register,
    S6Challenge,
    S10Success,
    Wire,
)
from gba.protocols.ngn_terminal import NgnTerminal, Registered
from gba.protocols.sip import StreamFramer
from gba.store.auc import Registration, open_auc_store
from gba.transport.message_io import Channel, MessageClient, connect_tcp, connect_udp
from gba.ue.ngn import NgnRegistration, Outcome

pytestmark = pytest.mark.ngn

TOPOLOGIES = ("direct", "proxy")
"""``direct``: the terminal registers with the softswitch's face and names the softswitch
as ID_sp (claims 1-8); ``proxy``: with the SP's face, naming the SP (claims 9-16)."""
CASES = [(face, topo) for face in FACES for topo in TOPOLOGIES]

OFFERED = "app;q=0.1, ipsec;q=0.9, tls;q=0.5"
"""The terminal's list: the highest-q mechanism (ipsec) is not the first listed."""
CHOSEN = "ipsec"
TIMEOUT = 5.0
"""Seconds to wait for one answer from a lab node."""

WRONG_KEY_CASES = [("sip_udp", "proxy"), ("sip_udp", "direct"), ("ras", "proxy"),
                   ("ras", "direct"), ("mgcp", "proxy"), ("h248", "direct")]
MITM_CASES = [("sip_udp", "mac"), ("sip_udp", "list"), ("sip_udp", "downgrade"),
              ("mgcp", "mac")]


def reg_id(face: str) -> str:
    """The terminal of the first test on ``face`` (both topologies: its s11 record names
    the SP or the softswitch, so each case's record is told apart)."""
    return f"reg-{face}@ngn.example.org"


def wrong_key_id(face: str) -> str:
    return f"wrong-key-{face}@ngn.example.org"


MALFORMED_ID = "malformed@ngn.example.org"
REPLAY_ID = "replay@ngn.example.org"
STALE_ID = "stale@ngn.example.org"
UNKNOWN_SP_ID = "unknown-sp@ngn.example.org"
NEVER_PROVISIONED = "never-provisioned@ngn.example.org"
MITM_ID = "mitm@ngn.example.org"
PROTECTED_ID = "protected@ngn.example.org"

TERMINALS = (
    *(reg_id(face) for face in FACES),
    *sorted({wrong_key_id(face) for face, _ in WRONG_KEY_CASES}),
    MALFORMED_ID, REPLAY_ID, STALE_ID, UNKNOWN_SP_ID, MITM_ID, PROTECTED_ID,
)
"""Every terminal this module provisions (each test uses its own)."""


def now() -> int:
    return int(time.time())


# --- the lab -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NgnLab:
    """What lab.json says about the NGN nodes, and the provisioned terminals' keys."""

    dir: Path
    info: dict[str, Any]
    keys: dict[str, bytes] = field(repr=False)

    @property
    def domain(self) -> str:
        return str(self.info["ngn_domain"])

    @property
    def auc_config(self) -> Path:
        return Path(self.info["ngn"]["auc_config"])

    def target(self, face: str, topo: str) -> str:
        """The face a terminal registers with: the softswitch's (lab.json ``ngn_<face>``)
        or the SP's (``ngn.proxy.<face>``)."""
        if topo == "direct":
            return str(self.info[f"ngn_{face}"])
        return str(self.info["ngn"]["proxy"][face])

    def address(self, face: str, topo: str) -> Address:
        return Address.parse(self.target(face, topo), "target")

    def id_sp(self, topo: str) -> str:
        node = "softswitch" if topo == "direct" else "proxy"
        return str(self.info["ngn"][node]["id"])

    def other_id_sp(self, topo: str) -> str:
        """The identity of the node the terminal is *not* talking to."""
        return self.id_sp("proxy" if topo == "direct" else "direct")

    def store_url(self) -> str:
        """The AuC's SQLite file: [functions.auc].store of network.toml, relative to it."""
        import tomllib

        raw = tomllib.loads(self.auc_config.read_text(encoding="utf-8"))
        store = Path(raw["functions"][self.info["ngn"]["auc_function"]]["store"])
        return str(store if store.is_absolute() else self.auc_config.parent / store)

    def terminal(self, id_c: str, topo: str, mechanisms: str = OFFERED,
                 key: bytes | None = None) -> NgnTerminal:
        return NgnTerminal(id_c, self.id_sp(topo), key or self.keys[id_c],
                           ngn.parse_mechanisms(mechanisms))


def _add_terminals(config: Path, keys: dict[str, bytes]) -> None:
    """``gba ngn add-terminal`` for each, run side by side (SQLite serialises writers)."""
    exe = gba_executable()
    running = [(id_c, subprocess.Popen(
        [exe, "ngn", "add-terminal", "--config", str(config), "--id", id_c, "--k", k.hex()],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)) for id_c, k in keys.items()]
    failures = []
    for id_c, proc in running:
        out, err = proc.communicate(timeout=CLI_TIMEOUT)
        if proc.returncode != 0 or json.loads(out) != {"id": id_c, "kind": "ngn"}:
            failures.append(f"{id_c}: exit {proc.returncode}: {out[-500:]} {err[-1000:]}")
    if failures:
        raise AssertionError("gba ngn add-terminal failed:\n" + "\n".join(failures))


@pytest.fixture(scope="module")
def ngn_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NgnLab]:
    lab_dir = tmp_path_factory.mktemp("ngn-lab")
    try:
        gba("lab", "up", "--with", "ngn", "--dir", lab_dir)
        info: dict[str, Any] = json.loads((lab_dir / "lab.json").read_text(encoding="utf-8"))
        keys = {id_c: os.urandom(16) for id_c in TERMINALS}
        _add_terminals(Path(info["ngn"]["auc_config"]), keys)
        yield NgnLab(lab_dir, info, keys)
    finally:
        lab_down(lab_dir)


async def registration(lab: NgnLab, id_c: str) -> Registration:
    """The AuC's s11 record of ``id_c``."""
    store = open_auc_store(lab.store_url())
    try:
        return await store.get_registration(id_c)
    finally:
        await store.close()


async def no_registration(lab: NgnLab, id_c: str) -> None:
    with pytest.raises(NotFound):
        await registration(lab, id_c)


def cli_register(lab: NgnLab, face: str, topo: str, id_c: str, k: bytes, *,
                 mechanisms: str = OFFERED, refreshes: int = 2, ok: bool = True
                 ) -> dict[str, Any]:
    """``gba ngn register`` as a process of its own; its JSON report."""
    argv = [gba_executable(), "ngn", "register", "--binding", face,
            "--target", lab.target(face, topo), "--id", id_c, "--sp", lab.id_sp(topo),
            "--k", k.hex(), "--domain", lab.domain, "--mechanisms", mechanisms,
            "--refreshes", str(refreshes), "--timeout", str(TIMEOUT)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=CLI_TIMEOUT,
                          check=False)
    assert proc.returncode == (0 if ok else 1), (proc.returncode, proc.stdout, proc.stderr)
    out: dict[str, Any] = json.loads(proc.stdout)
    assert out["ok"] is ok, out
    assert (out["binding"], out["id_c"], out["id_sp"]) == (face, id_c, lab.id_sp(topo))
    return out


# --- a terminal's socket in the test --------------------------------------------------------

M = TypeVar("M")


class Peer:
    """A terminal's socket to one face, with the terminal's binding: crafted messages out,
    decoded answers back (commands from the node are acknowledged as a terminal does)."""

    def __init__(self, lab: NgnLab, face: str, target: Address) -> None:
        self.lab = lab
        self.face = face
        self.target = target
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._client: MessageClient | None = None
        self._wire: Wire | None = None
        self._registration: NgnRegistration | None = None
        self.registered: Registered | None = None

    async def __aenter__(self) -> Peer:
        async def receive(data: bytes, channel: Channel) -> None:
            if self._registration is not None:
                await self._registration.receive(data, channel)
            else:
                self.inbox.put_nowait(data)

        self._client = (await connect_tcp(self.target, receive, StreamFramer)
                        if is_stream(self.face) else await connect_udp(self.target, receive))
        local = self._client.local
        self._wire = make_wire(self.face, Role.TERMINAL, local.host, local.port,
                               self.lab.domain)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()

    @property
    def client(self) -> MessageClient:
        assert self._client is not None
        return self._client

    @property
    def wire(self) -> Wire:
        assert self._wire is not None
        return self._wire

    def encode(self, message: FlowMessage, answering: Inbound | None = None) -> bytes:
        return self.wire.encode(message, answering)

    def send(self, message: FlowMessage, answering: Inbound | None = None) -> None:
        self.client.send(self.encode(message, answering))

    def send_raw(self, data: bytes) -> None:
        self.client.send(data)

    async def raw(self) -> bytes:
        async with asyncio.timeout(TIMEOUT):
            return await self.inbox.get()

    async def inbound(self) -> Inbound:
        """The next answer, decoded; a command from the node is acknowledged."""
        inbound = self.wire.decode(await self.raw())
        msg = inbound.message
        if inbound.is_request and self.wire.commands_only:
            self.send(Ack(msg.id_c, msg.id_sp), inbound)
        return inbound

    async def answer(self, kind: type[M]) -> M:
        """The next flow message of ``kind``; acknowledgements in between are skipped,
        anything else fails."""
        while True:
            msg = (await self.inbound()).message
            if isinstance(msg, kind):
                return msg
            assert isinstance(msg, Ack), f"expected {kind.__name__}, got {msg}"

    async def refusal(self) -> Refuse:
        return await self.answer(Refuse)

    async def register(self, terminal: NgnTerminal, mechanism: str = CHOSEN) -> Outcome:
        """A whole registration by :class:`NgnRegistration` on this socket."""
        reg = NgnRegistration(terminal, self.wire)
        self._registration = reg
        try:
            outcome = await reg.run(self.client, TIMEOUT)
        finally:
            self._registration = None
        assert outcome.registered is not None
        assert outcome.registered.mechanism == mechanism
        self.registered = outcome.registered
        return outcome

    def protected(self, seq: int, *, mechanism: str | None = None,
                  key: bytes | None = None, flip: bool = False) -> Protected:
        """A refresh under Kc,sp (or ``key``), its MAC flipped when ``flip``."""
        reg = self.registered
        assert reg is not None
        bare = Protected(reg.id_c, reg.id_sp, mechanism or reg.mechanism, seq, b"")
        mac = ngn.mac(key or reg.kc_sp, bare.mac_fields())
        if flip:
            mac = bytes([mac[0] ^ 0x01]) + mac[1:]
        return Protected(bare.id_c, bare.id_sp, bare.mechanism, seq, mac)

    async def refresh(self, seq: int, **kwargs: Any) -> Protected | Refuse:
        """Send a refresh; the SP's protected answer (its MAC verified here) or refusal."""
        self.send(self.protected(seq, **kwargs))
        while True:
            msg = (await self.inbound()).message
            if isinstance(msg, Refuse):
                return msg
            if isinstance(msg, Protected):
                reg = self.registered
                assert reg is not None
                assert msg.answer, msg
                assert msg.seq == seq, msg
                assert (msg.id_c, msg.id_sp, msg.mechanism) == (reg.id_c, reg.id_sp,
                                                               reg.mechanism)
                ngn.verify_mac(reg.kc_sp, msg.mac_fields(), msg.mac)
                return msg
            assert isinstance(msg, Ack), msg


@contextlib.asynccontextmanager
async def peer(lab: NgnLab, face: str, topo: str) -> AsyncIterator[Peer]:
    async with Peer(lab, face, lab.address(face, topo)) as p:
        yield p


async def registers(lab: NgnLab, face: str, topo: str, id_c: str) -> None:
    """The face still serves: a normal registration and one refresh succeed."""
    async with peer(lab, face, topo) as p:
        await p.register(lab.terminal(id_c, topo))
        answer = await p.refresh(1)
        assert isinstance(answer, Protected), answer


def refused(msg: Refuse, refusal: Refusal, id_c: str, id_sp: str) -> None:
    assert msg.refusal is refusal, msg
    assert (msg.id_c, msg.id_sp) == (id_c, id_sp), msg


# --- 1. registration across processes, every binding and topology ---------------------------

SIP_REGISTER = r"REGISTER sip:ngn\.example\.org SIP/2\.0"


def expected_flow(face: str, topo: str, refreshes: int) -> list[tuple[str, str, str]]:
    """(direction, flow step, pattern of the protocol message's first line) of one
    registration and its refreshes, as ``gba ngn register`` reports it."""
    if face in ("sip_udp", "sip_tcp"):
        challenge = (r"SIP/2\.0 401 Unauthorized" if topo == "direct"
                     else r"SIP/2\.0 407 Proxy Authentication Required")
        steps = [("sent", "S1Register", SIP_REGISTER), ("received", "S6Challenge", challenge),
                 ("sent", "S7Response", SIP_REGISTER),
                 ("received", "S10Success", r"SIP/2\.0 200 OK")]
        refresh = [("sent", "Protected", SIP_REGISTER), ("received", "Protected",
                                                         r"SIP/2\.0 200 OK")]
    elif face == "ras":
        def named(kind: str) -> str:
            return kind + r" \(\d+ octets\)"

        steps = [("sent", "S1Register", named(ras_kind("GRQ"))),
                 ("received", "S6Challenge", named(ras_kind("GRJ"))),
                 ("sent", "S7Response", named(ras_kind("RRQ"))),
                 ("received", "S10Success", named(ras_kind("RCF")))]
        refresh = [("sent", "Protected", named(ras_kind("RRQ"))),
                   ("received", "Protected", named(ras_kind("RCF")))]
    elif face == "mgcp":
        ep = r"ngn/0@\S+ MGCP 1\.0"
        ok = r"200 \d+ OK"
        steps = [("sent", "S1Register", r"RSIP \d+ " + ep), ("received", "Ack", ok),
                 ("received", "S6Challenge", r"RQNT \d+ " + ep), ("sent", "Ack", ok),
                 ("sent", "S7Response", r"NTFY \d+ " + ep), ("received", "Ack", ok),
                 ("received", "S10Success", r"RQNT \d+ " + ep), ("sent", "Ack", ok)]
        refresh = [("sent", "Protected", r"NTFY \d+ " + ep), ("received", "Protected", ok)]
    else:
        def txn(command: str) -> str:
            return rf"Transaction \d+: {command} ROOT"

        def reply(command: str) -> str:
            return rf"Reply \d+: {command} ROOT"

        steps = [("sent", "S1Register", txn("ServiceChange")),
                 ("received", "Ack", reply("ServiceChange")),
                 ("received", "S6Challenge", txn("Modify")), ("sent", "Ack", reply("Modify")),
                 ("sent", "S7Response", txn("Notify")), ("received", "Ack", reply("Notify")),
                 ("received", "S10Success", txn("Modify")), ("sent", "Ack", reply("Modify"))]
        refresh = [("sent", "Protected", txn("Notify")),
                   ("received", "Protected", reply("Notify") + ": AuditValue ROOT")]
    return steps + refresh * refreshes


def ras_kind(short: str) -> str:
    return {"GRQ": "gatekeeperRequest", "GRJ": "gatekeeperReject",
            "RRQ": "registrationRequest", "RCF": "registrationConfirm",
            "RRJ": "registrationReject"}[short]


_TRANSACTION = re.compile(r"(?:RSIP|RQNT|NTFY|Transaction) (\d+)\b")
_ANSWER = re.compile(r"(?:200|Reply) (\d+)\b")


def check_transactions(flow: Sequence[dict[str, str]]) -> None:
    """MGCP / H.248: every acknowledgement (and protected answer) names the transaction id
    of the command just before it in the other direction."""
    last: dict[str, str] = {}
    for step in flow:
        command = _TRANSACTION.match(step["message"])
        if command is not None:
            last[step["direction"]] = command.group(1)
            continue
        answer = _ANSWER.match(step["message"])
        assert answer is not None, step
        other = "received" if step["direction"] == "sent" else "sent"
        assert answer.group(1) == last.pop(other), (step, flow)


@pytest.mark.parametrize(("face", "topo"), CASES)
async def test_register_across_processes(ngn_lab: NgnLab, face: str, topo: str) -> None:
    id_c = reg_id(face)
    before = now()
    out = cli_register(ngn_lab, face, topo, id_c, ngn_lab.keys[id_c], refreshes=2)
    assert out["mechanism"] == CHOSEN
    assert out["refreshes"] == [True, True]
    assert out["restarts"] == []
    assert re.fullmatch(r"[0-9a-f]{16}", out["key_fingerprint"])
    flow = out["flow"]
    expected = expected_flow(face, topo, refreshes=2)
    assert [(s["direction"], s["step"]) for s in flow] == [e[:2] for e in expected], flow
    for step, (_, _, pattern) in zip(flow, expected, strict=True):
        assert re.fullmatch(pattern, step["message"]), (step, pattern)
    if face in ("mgcp", "h248"):
        check_transactions(flow)
    record = await registration(ngn_lab, id_c)
    assert (record.id_c, record.id_sp, record.address) == (id_c, ngn_lab.id_sp(topo),
                                                           "127.0.0.1")
    assert before - 1 <= record.at.timestamp() <= now() + 1


# --- 2a. malformed messages ---------------------------------------------------------------


def sip_garbage() -> bytes:
    """A REGISTER whose NGN credentials do not parse (N1 not hex)."""
    return (b"REGISTER sip:ngn.example.org SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKgarbage1\r\n"
            b"Max-Forwards: 70\r\nFrom: <sip:g@ngn.example.org>;tag=1\r\n"
            b"To: <sip:g@ngn.example.org>\r\nCall-ID: garbage-1\r\nCSeq: 7 REGISTER\r\n"
            b"Contact: <sip:g@127.0.0.1:5060>\r\n"
            b'Authorization: NGN username="g", realm="ngn.example.org", sp="x", n1=zz, '
            b"ts1=1\r\nContent-Length: 0\r\n\r\n")


def corrupt(face: str, data: bytes) -> bytes:
    """A flow message the terminal's binding encoded, made malformed."""
    if face in ("sip_udp", "sip_tcp"):
        bad, n = re.subn(rb"n1=[0-9a-f]{32}", b"n1=zz", data)
    elif face == "mgcp":
        bad, n = re.subn(rb"X-NGNN1: [0-9a-f]{32}", b"X-NGNN1: zz", data)
    elif face == "h248":
        bad, n = data.rstrip()[:-1], 1  # an unclosed '{'
    else:  # a well-formed GRQ whose NGN payload (nonStandardData) is garbage
        kind, body = ras.decode_ras(data)
        body["nonStandardData"] = dict(body["nonStandardData"], data=b"garbage")
        bad, n = ras.encode_ras((kind, body)), 1
    assert n == 1
    return bad


async def check_garbage_reply(p: Peer, face: str, topo: str) -> None:
    """Raw garbage: the protocol's own error, checked in the reply's bytes."""
    if face in ("sip_udp", "sip_tcp"):
        p.send_raw(sip_garbage())
        reply = await p.raw()
        assert reply.startswith(b"SIP/2.0 400 Bad Request\r\n"), reply
        assert b"Call-ID: garbage-1\r\n" in reply
        assert b"CSeq: 7 REGISTER\r\n" in reply
        assert b"branch=z9hG4bKgarbage1" in reply
        assert re.search(rb'\r\nWarning: 399 \S+ "ngn:malformed', reply), reply
    elif face == "mgcp":
        p.send_raw(b"RSIP 4321 ngn/0@[127.0.0.1] MGCP 1.0\r\nRM: restart\r\nX-NGNIDC: g\r\n")
        reply = await p.raw()
        assert reply.startswith(b"510 4321 "), reply
        assert b"\nX-NGNREF: malformed" in reply
        p.send_raw(b"RSIP 4322 ngn/0@[127.0.0.1] MGCP 1.0\r\nthis line has no colon\r\n")
        reply = await p.raw()
        assert reply.startswith(b"510 4322 "), reply
    elif face == "h248":
        p.send_raw(b"MEGACO/1 [127.0.0.1]:2944\nTransaction = 77 { garbage")
        reply = await p.raw()
        assert reply.startswith(b"MEGACO/1 "), reply
        assert re.search(rb"Reply\s*=\s*77\s*\{\s*Error\s*=\s*400\s*\{", reply), reply
    else:
        p.send_raw(b"\x00\x01garbage")
        p.send_raw(b"\xff" * 64)
        s1 = S1Register(MALFORMED_ID, p.lab.id_sp(topo), os.urandom(16), now())
        p.send_raw(p.encode(s1)[:40])  # truncated PER
        await ras_barrier(p, topo)  # an XRS or nothing for each, then the barrier


async def ras_barrier(p: Peer, topo: str) -> list[Refuse]:
    """After garbage: a stale s1, refused at once (no AuC round trip); every answer
    before that refusal must be an XRS (unknownMessageResponse) to our own request.
    Returns the refusals the XRS decoded to."""
    p.send(S1Register(MALFORMED_ID, p.lab.id_sp(topo), os.urandom(16), now() - 3600))
    before: list[Refuse] = []
    while True:
        data = await p.raw()
        assert ras.decode_ras(data)[0] in (ras_kind("GRJ"), "unknownMessageResponse"), data
        msg = p.wire.decode(data).message
        assert isinstance(msg, Refuse), msg
        if msg.refusal is Refusal.STALE:
            return before
        assert msg.refusal is Refusal.MALFORMED, msg
        assert msg.detail == "unknownMessageResponse", msg
        before.append(msg)


@pytest.mark.parametrize(("face", "topo"), CASES)
async def test_malformed_refused_and_servers_keep_serving(ngn_lab: NgnLab, face: str,
                                                          topo: str) -> None:
    async with peer(ngn_lab, face, topo) as p:
        await check_garbage_reply(p, face, topo)
        # a real s1 made malformed: the refusal decodes back to MALFORMED
        s1 = S1Register(MALFORMED_ID, ngn_lab.id_sp(topo), os.urandom(16), now())
        bad = corrupt(face, p.encode(s1))
        p.send_raw(bad)
        reply = await p.raw()
        if face == "ras":  # XRS (unknownMessageResponse) quoting the message
            kind, body = ras.decode_ras(reply)
            assert kind == "unknownMessageResponse", (kind, body)
            assert body["messageNotUnderstood"] == bad
        else:
            code = {"mgcp": rb"510 \d+ ", "h248": rb"MEGACO/1 \S+\s+Reply\s*=\s*\d+\s*\{\s*"
                    rb"Error\s*=\s*400\b"}.get(face, rb"SIP/2\.0 400 Bad Request\r\n")
            assert re.match(code, reply), reply
        msg = p.wire.decode(reply).message
        assert isinstance(msg, Refuse), msg
        refused(msg, Refusal.MALFORMED, MALFORMED_ID, ngn_lab.id_sp(topo))
    await registers(ngn_lab, face, topo, MALFORMED_ID)


# --- 2b-d. replayed N1, stale TS1, unknown ID_c / ID_sp -----------------------------------


@pytest.mark.parametrize(("face", "topo"), CASES)
async def test_replayed_n1_refused(ngn_lab: NgnLab, face: str, topo: str) -> None:
    id_sp = ngn_lab.id_sp(topo)
    terminal = ngn_lab.terminal(REPLAY_ID, topo)
    async with peer(ngn_lab, face, topo) as p:
        s1 = terminal.register(now())
        p.send(s1)
        s6 = await p.answer(S6Challenge)
        assert s6.n1 == s1.n1
        p.send(s1)  # the same N1 and TS1 again
        refused(await p.refusal(), Refusal.REPLAY, REPLAY_ID, id_sp)
        p.send(S1Register(s1.id_c, s1.id_sp, s1.n1, now()))  # same N1, new TS1
        refused(await p.refusal(), Refusal.REPLAY, REPLAY_ID, id_sp)
        # the registration in progress is unaffected: it completes
        p.send(terminal.on_challenge(s6, now()))
        result = terminal.on_success(await p.answer(S10Success), now())
        assert isinstance(result, Registered), result
        assert result.mechanism == CHOSEN
        p.registered = result
        assert isinstance(await p.refresh(1), Protected)
    record = await registration(ngn_lab, REPLAY_ID)
    assert (record.id_sp, record.address) == (id_sp, "127.0.0.1")


@pytest.mark.parametrize(("face", "topo"), CASES)
async def test_stale_ts1_refused_and_session_kept(ngn_lab: NgnLab, face: str,
                                                  topo: str) -> None:
    id_sp = ngn_lab.id_sp(topo)
    async with peer(ngn_lab, face, topo) as p:
        await p.register(ngn_lab.terminal(STALE_ID, topo))
        record = await registration(ngn_lab, STALE_ID)
        for offset in (-3600, 3600):
            p.send(S1Register(STALE_ID, id_sp, os.urandom(16), now() + offset))
            refused(await p.refusal(), Refusal.STALE, STALE_ID, id_sp)
        # the registration is unchanged: the session still takes refreshes
        assert isinstance(await p.refresh(1), Protected)
    assert await registration(ngn_lab, STALE_ID) == record


@pytest.mark.parametrize(("face", "topo"), CASES)
async def test_unknown_terminal_refused(ngn_lab: NgnLab, face: str, topo: str) -> None:
    id_sp = ngn_lab.id_sp(topo)
    async with peer(ngn_lab, face, topo) as p:
        p.send(S1Register(NEVER_PROVISIONED, id_sp, os.urandom(16), now()))
        refused(await p.refusal(), Refusal.UNKNOWN_TERMINAL, NEVER_PROVISIONED, id_sp)
    await no_registration(ngn_lab, NEVER_PROVISIONED)


@pytest.mark.parametrize(("face", "topo"), CASES)
async def test_unknown_proxy_refused_and_session_kept(ngn_lab: NgnLab, face: str,
                                                      topo: str) -> None:
    """An s1 naming the other node's ID_sp, or an unknown one: UNKNOWN_PROXY; the
    terminal's registration through this node is unchanged."""
    async with peer(ngn_lab, face, topo) as p:
        await p.register(ngn_lab.terminal(UNKNOWN_SP_ID, topo))
        record = await registration(ngn_lab, UNKNOWN_SP_ID)
        for other in (ngn_lab.other_id_sp(topo), "nobody.ngn.example.org"):
            p.send(S1Register(UNKNOWN_SP_ID, other, os.urandom(16), now()))
            refused(await p.refusal(), Refusal.UNKNOWN_PROXY, UNKNOWN_SP_ID, other)
        assert isinstance(await p.refresh(1), Protected)
    assert await registration(ngn_lab, UNKNOWN_SP_ID) == record


# --- 2e. too many wrong authenticators ------------------------------------------------------


@pytest.mark.parametrize(("face", "topo"), WRONG_KEY_CASES)
async def test_wrong_authenticators_refused_after_max_failures(
        ngn_lab: NgnLab, face: str, topo: str) -> None:
    id_c = wrong_key_id(face)
    wrong = bytes(b ^ 0x5A for b in ngn_lab.keys[id_c])
    try:
        before: Registration | None = await registration(ngn_lab, id_c)
    except NotFound:
        before = None  # the first case of this face
    out = cli_register(ngn_lab, face, topo, id_c, wrong, refreshes=0, ok=False)
    assert out["error"] == "refused: auth-failed", out
    flow = out["flow"]
    steps = [s["step"] for s in flow]
    max_failures = ngn_lab.info["ngn"]["max_failures"]
    assert max_failures == 3
    assert steps.count("S7Response") == max_failures, flow
    assert steps[-1] == "Refuse", flow
    last = flow[-1]["message"]
    if face == "ras":
        # each wrong authenticator: RRJ securityDenial, and the terminal starts again
        assert out["restarts"] == ["re-challenged"] * (max_failures - 1), out
        assert steps == ["S1Register", "S6Challenge", "S7Response", "Refuse"] * max_failures
        assert all(re.fullmatch(ras_kind("RRJ") + r" \(\d+ octets\)", s["message"])
                   for s in flow if s["step"] == "Refuse"), flow
    else:
        # re-challenged in place: a second and a third s6, then the protocol's reject
        assert out["restarts"] == [], out
        assert steps.count("S6Challenge") == max_failures, flow
        assert steps.count("S1Register") == 1, flow
        if face == "sip_udp":
            assert last == "SIP/2.0 403 Forbidden", flow
        elif face == "mgcp":
            assert re.fullmatch(r"804 \d+ /ngn auth-failed.*", last), flow
        else:
            assert re.fullmatch(r"Reply \d+: Error 402", last), flow
    # the registration state is unchanged: no s11 for the refused attempt
    if before is None:
        await no_registration(ngn_lab, id_c)
    else:
        assert await registration(ngn_lab, id_c) == before
    # the failure counter was reset: the right key registers at once
    async with peer(ngn_lab, face, topo) as p:
        outcome = await p.register(ngn_lab.terminal(id_c, topo))
        assert outcome.restarts == []
        assert [s.step for s in outcome.flow].count("S6Challenge") == 1
    record = await registration(ngn_lab, id_c)
    assert record.id_sp == ngn_lab.id_sp(topo)


# --- 2f. tampering in transit: a man in the middle on UDP -----------------------------------


class _Side(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, tuple[str, int]], None]) -> None:
        self._on = on_datagram

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._on(data, addr)


@contextlib.asynccontextmanager
async def relay(upstream: Address, up: Callable[[bytes], bytes],
                down: Callable[[bytes], bytes]) -> AsyncIterator[Address]:
    """A UDP man in the middle: datagrams from the terminal go to ``upstream`` through
    ``up``, the answers back through ``down``. Yields the address to register with."""
    loop = asyncio.get_running_loop()
    terminal: list[tuple[str, int]] = []
    upper: list[asyncio.DatagramTransport] = []

    def from_terminal(data: bytes, addr: tuple[str, int]) -> None:
        if not terminal:
            terminal.append(addr)
        upper[0].sendto(up(data))

    def from_node(data: bytes, addr: tuple[str, int]) -> None:
        if terminal:
            lower.sendto(down(data), terminal[0])

    lower, _ = await loop.create_datagram_endpoint(lambda: _Side(from_terminal),
                                                   local_addr=("127.0.0.1", 0))
    upper_t, _ = await loop.create_datagram_endpoint(
        lambda: _Side(from_node), remote_addr=(upstream.host, upstream.port))
    upper.append(upper_t)
    try:
        host, port = lower.get_extra_info("sockname")[:2]
        yield Address(str(host), int(port))
    finally:
        lower.close()
        upper[0].close()


class Tamper:
    """Alters the first message matching ``match`` with ``change``; sees every s1."""

    def __init__(self, face: str, domain: str, match: Callable[[bytes], bool],
                 change: Callable[[bytes], bytes]) -> None:
        self._match = match
        self._change = change
        self.done = 0
        self.n1s: list[bytes] = []
        self.chosen: list[str] = []
        """The mechanism each success message (s10) named, as the terminal got it."""
        self._observer = make_wire(face, Role.PROXY, "127.0.0.1", 9, domain)

    def __call__(self, data: bytes) -> bytes:
        if self.done == 0 and self._match(data):
            self.done += 1
            changed = self._change(data)
            assert changed != data
            return changed
        return data

    def watch_down(self, data: bytes) -> bytes:
        """The SP's side: remember the chosen mechanism of every s10 (after tampering)."""
        if sip_s10(data) or mgcp_s10(data):
            found = re.search(rb"(?:[ ,]mechanism=|X-NGNSEL: )\"?([A-Za-z]+)", data)
            assert found is not None, data
            self.chosen.append(found.group(1).decode())
        return data

    def watch(self, data: bytes) -> bytes:
        """The terminal's side: remember the N1 of every s1 (untouched)."""
        with contextlib.suppress(Exception):
            msg = self._observer.decode(data).message
            if isinstance(msg, S1Register):
                self.n1s.append(msg.n1)
        return data


def _flip_hex(match: re.Match[bytes]) -> bytes:
    digit = match.group(2)
    return match.group(1) + (b"1" if digit == b"0" else b"0")


def sip_s10(data: bytes) -> bool:
    return data.startswith(b"SIP/2.0 200 ") and b"e-kc=" in data


def sip_s7(data: bytes) -> bool:
    return data.startswith(b"REGISTER ") and b"Security-Client:" in data


def mgcp_s10(data: bytes) -> bool:
    return data.startswith(b"RQNT ") and b"X-NGNMAC:" in data


def _sub1(pattern: bytes, repl: Callable[[re.Match[bytes]], bytes] | bytes,
          data: bytes) -> bytes:
    out, n = re.subn(pattern, repl, data, count=1)
    assert n == 1, data
    return out


MITM_MECHANISMS = {"downgrade": ("tls;q=0.9, ipsec;q=0.5, app;q=0.1", "tls")}


def tamper_for(case: str, face: str, domain: str) -> tuple[Tamper, str]:
    """The tamper of ``case`` and the direction it works in ("up" or "down")."""
    if face == "mgcp":
        return Tamper(face, domain, mgcp_s10, lambda d: _sub1(
            rb"(X-NGNMAC: )([0-9a-f])", _flip_hex, d)), "down"
    if case == "mac":
        return Tamper(face, domain, sip_s10, lambda d: _sub1(
            rb"(\bmac=\"?)([0-9a-f])", _flip_hex, d)), "down"
    if case == "list":  # tls dropped from the echoed list
        return Tamper(face, domain, sip_s10, lambda d: _sub1(
            rb'mechanisms="app;q=0.1, ipsec;q=0.9, tls;q=0.5"',
            b'mechanisms="app;q=0.1, ipsec;q=0.9"', d)), "down"
    return Tamper(face, domain, sip_s7, lambda d: _sub1(
        rb"Security-Client: tls;q=0.9, ", b"Security-Client: ", d)), "up"


@pytest.mark.parametrize("topo", TOPOLOGIES)
@pytest.mark.parametrize(("face", "case"), MITM_CASES)
async def test_tampered_success_discarded_and_registered_again(
        ngn_lab: NgnLab, face: str, case: str, topo: str) -> None:
    offered, untampered = MITM_MECHANISMS.get(case, (OFFERED, CHOSEN))
    tamper, direction = tamper_for(case, face, ngn_lab.domain)

    def up(data: bytes) -> bytes:
        data = tamper.watch(data)
        return tamper(data) if direction == "up" else data

    def down(data: bytes) -> bytes:
        return tamper.watch_down(tamper(data) if direction == "down" else data)

    async with relay(ngn_lab.address(face, topo), up, down) as middle, \
            Peer(ngn_lab, face, middle) as p:
        outcome = await p.register(ngn_lab.terminal(MITM_ID, topo, offered), untampered)
        assert tamper.done == 1
        # the terminal discarded the key and registered again from s1 with a fresh N1
        assert len(outcome.restarts) == 1, outcome
        if case == "downgrade":  # the SP honestly chose another one the first time
            assert "downgrade" in outcome.restarts[0], outcome.restarts
            assert tamper.chosen == [CHOSEN, untampered]
        else:
            assert "MAC" in outcome.restarts[0], outcome.restarts
            assert tamper.chosen == [untampered, untampered]
        assert len(tamper.n1s) == 2, tamper.n1s
        assert tamper.n1s[0] != tamper.n1s[1]
        assert [s.step for s in outcome.flow].count("S1Register") == 2
        # and now holds the SP's Kc,sp: a refresh under it is accepted
        assert isinstance(await p.refresh(1), Protected)
    record = await registration(ngn_lab, MITM_ID)
    assert record.id_sp == ngn_lab.id_sp(topo)


# --- 2g. protected refreshes after registration ---------------------------------------------


@pytest.mark.parametrize(("face", "topo"), CASES)
async def test_tampered_refresh_rejected(ngn_lab: NgnLab, face: str, topo: str) -> None:
    id_sp = ngn_lab.id_sp(topo)
    async with peer(ngn_lab, face, topo) as p:
        await p.register(ngn_lab.terminal(PROTECTED_ID, topo))
        answer = await p.refresh(1, flip=True)
        assert isinstance(answer, Refuse)
        refused(answer, Refusal.AUTH_FAILED, PROTECTED_ID, id_sp)
        answer = await p.refresh(1, key=os.urandom(16))
        assert isinstance(answer, Refuse)
        refused(answer, Refusal.AUTH_FAILED, PROTECTED_ID, id_sp)
        other = "tls" if CHOSEN != "tls" else "app"
        answer = await p.refresh(1, mechanism=other)  # a valid MAC, not the chosen one
        assert isinstance(answer, Refuse)
        refused(answer, Refusal.AUTH_FAILED, PROTECTED_ID, id_sp)
        assert isinstance(await p.refresh(1), Protected)
        answer = await p.refresh(1)  # replayed seq
        assert isinstance(answer, Refuse)
        refused(answer, Refusal.REPLAY, PROTECTED_ID, id_sp)
        assert isinstance(await p.refresh(2), Protected)


# --- the servers kept serving -------------------------------------------------------------


SURVIVORS = [("sip_udp", "proxy"), ("sip_tcp", "direct"), ("mgcp", "proxy"),
             ("h248", "direct"), ("ras", "proxy")]
"""Each face once, both topologies (every attack test above also registers in-process on
the face and topology it attacked)."""


def test_servers_keep_serving_after_the_attacks(ngn_lab: NgnLab) -> None:
    """After every attack above: each node process is alive and ``gba ngn register``
    succeeds on each face (the terminals of the first test, again)."""
    for name, pid in ngn_lab.info["pids"].items():
        assert alive(int(pid)), name

    def one(case: tuple[str, str]) -> dict[str, Any]:
        face, topo = case
        id_c = reg_id(face)
        return cli_register(ngn_lab, face, topo, id_c, ngn_lab.keys[id_c], refreshes=1)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(one, SURVIVORS))
    for out in results:
        assert out["mechanism"] == CHOSEN, out
        assert out["refreshes"] == [True], out



def test_no_key_reaches_a_log(ngn_lab: NgnLab) -> None:
    """After every registration and attack above: no terminal's Kc, nor the SP's or the
    softswitch's key, appears (hex, either case) in any lab process's log."""
    secrets = [key.hex() for key in ngn_lab.keys.values()]
    secrets += [path.read_text(encoding="ascii").strip()
                for path in (ngn_lab.dir / "ngn-keys").glob("*.key")]
    assert len(secrets) > 2
    logs = {path.name: path.read_text(encoding="utf-8", errors="replace").casefold()
            for path in ngn_lab.dir.glob("*.log")}
    assert {"softswitch.log", "sp.log", "auc.log"} <= set(logs)
    for name, text in logs.items():
        for secret in secrets:
            assert secret.casefold() not in text, name

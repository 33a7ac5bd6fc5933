"""The AKA interoperability extension of the NGN SIP binding, end to end (issue 14 item 6;
docs/ngn.md §5): ``gba lab up --with ngn`` runs the softswitch and the AuC as processes,
``gba ngn add-terminal --opc/--op [--amf]`` provisions AKA subscribers, and the test plays
a plain off-the-shelf SIP user agent with Digest AKA support (RFC 3310 AKAv1-MD5).

Everything the UA does is written here from the RFCs, not with the project's SIP or
Digest code: the REGISTER bytes (RFC 3261 §10.2), the parsing of the responses, the USIM
(MAC-A check, SQN freshness; TS 33.102 §6.3.3) on top of Milenage, and the digest
response (RFC 2617 §3.2.2 with password = RES octets, RFC 3310 §3.4) with ``hashlib``.
The only project code the UA side uses is :class:`gba.crypto.milenage.Milenage`, pinned
to TS 35.208 test set 1 below, and ``aka_unwrap`` for the [P] key distribution header.

One lab for the module; each test registers its own subscriber (the AuC's SQN and the
UA's USIM state are per subscriber).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from e2e.labctl import gba, lab_down
from gba.crypto.milenage import Milenage
from gba.errors import MacFailure
from gba.nf import registry
from gba.protocols.ngn_auc import aka_unwrap
from gba.store.auc import open_auc_store

pytestmark = pytest.mark.ngn

TIMEOUT = 5.0
"""Seconds to wait for one SIP response."""
CHALLENGE = re.compile(
    r'Digest realm="(?P<realm>[^"]*)", nonce="(?P<nonce>[^"]*)", '
    r'algorithm=AKAv1-MD5, qop="auth"')
"""The exact WWW-Authenticate of issue 14 (RFC 3310 §3.1)."""


# ------------------------------------------------------------------ subscribers


@dataclass(frozen=True)
class AkaSub:
    """An AKA subscription as provisioned with ``gba ngn add-terminal``."""

    name: str
    k: bytes = field(repr=False)
    opc: bytes | None = field(default=None, repr=False)
    op: bytes | None = field(default=None, repr=False)
    amf: str | None = None
    """``--amf``; None leaves the default (8000)."""

    def args(self) -> list[str]:
        out = ["--k", self.k.hex()]
        if self.opc is not None:
            out += ["--opc", self.opc.hex()]
        if self.op is not None:
            out += ["--op", self.op.hex()]
        if self.amf is not None:
            out += ["--amf", self.amf]
        return out

    def operator_key(self) -> bytes:
        """OPc: as given, or E_K(OP) xor OP (TS 35.206 §4.1), computed here."""
        if self.opc is not None:
            return self.opc
        assert self.op is not None
        enc = Cipher(algorithms.AES(self.k), modes.ECB()).encryptor()  # noqa: S305
        e = enc.update(self.op) + enc.finalize()
        return bytes(a ^ b for a, b in zip(e, self.op, strict=True))


def _fresh(name: str, *, with_op: bool = False, amf: str | None = None) -> AkaSub:
    if with_op:
        return AkaSub(name, os.urandom(16), op=os.urandom(16), amf=amf)
    return AkaSub(name, os.urandom(16), opc=os.urandom(16), amf=amf)


SUBSCRIBERS = [_fresh("alice"), _fresh("bob", with_op=True), _fresh("carol", amf="0000")]
"""Three ``add-terminal`` runs (each a CLI process: the module's main cost after ``lab
up``). Tests share them: the USIM objects live as long as the lab, so every SQN the AuC
issues is checked for freshness across tests."""


# ------------------------------------------------------------------ the USIM


@dataclass(frozen=True)
class UsimAnswer:
    res: bytes = field(repr=False)
    ck: bytes = field(repr=False)
    ik: bytes = field(repr=False)
    sqn: int
    amf: bytes


class Usim:
    """A USIM for one subscription: verify AUTN's MAC-A, then check SQN is fresh
    (TS 33.102 §6.3.3; a single highest-SQN check is enough for one IND)."""

    def __init__(self, sub: AkaSub) -> None:
        self._m = Milenage(sub.k, sub.operator_key())
        self.highest = -1

    def answer(self, rand: bytes, autn: bytes) -> UsimAnswer:
        assert len(rand) == 16
        assert len(autn) == 16
        res, ck, ik, ak, _ = self._m.f2345(rand)
        sqn_b = bytes(a ^ b for a, b in zip(autn[:6], ak, strict=True))
        amf = autn[6:8]
        mac_a, _ = self._m.f1(rand, sqn_b, amf)
        if not hmac.compare_digest(mac_a, autn[8:]):
            raise MacFailure("AUTN: MAC-A does not verify (the network is not authentic)")
        sqn = int.from_bytes(sqn_b, "big")
        assert sqn > self.highest, f"SQN {sqn:#x} is not fresh (highest {self.highest:#x})"
        self.highest = sqn
        return UsimAnswer(res, ck, ik, sqn, amf)


# ------------------------------------------------------------------ the SIP UA


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes

    def all(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def one(self, name: str) -> str:
        values = self.all(name)
        assert len(values) == 1, f"{name}: {values!r} in\n{self.raw.decode(errors='replace')}"
        return values[0]


def parse_response(data: bytes) -> Response:
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, data
    lines = head.decode("utf-8").split("\r\n")
    version, code, reason = lines[0].split(" ", 2)
    assert version == "SIP/2.0", lines[0]
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        assert colon, line
        headers.append((name.strip(), value.strip()))
    resp = Response(int(code), reason, headers, body, data)
    assert int(resp.one("Content-Length")) == len(body)
    return resp


def _token() -> str:
    return os.urandom(8).hex()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


class Transport:
    """One UDP socket or one TCP connection from the UA to the softswitch."""

    def __init__(self, kind: str, server: tuple[str, int]) -> None:
        self.kind = kind
        self.server = server
        if kind == "UDP":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", 0))
        else:
            self.sock = socket.create_connection(server, timeout=TIMEOUT)
        self.sock.settimeout(TIMEOUT)
        self.local = self.sock.getsockname()
        self._buffer = b""

    def send(self, data: bytes) -> None:
        if self.kind == "UDP":
            self.sock.sendto(data, self.server)
        else:
            self.sock.sendall(data)

    def receive(self, timeout: float = TIMEOUT) -> bytes:
        """One message; :class:`TimeoutError` when none comes (b"" when TCP closes)."""
        self.sock.settimeout(timeout)
        if self.kind == "UDP":
            data, peer = self.sock.recvfrom(65535)
            assert peer == self.server
            return data
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end >= 0:
                match = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)",
                                  self._buffer[:end])
                assert match is not None, self._buffer
                total = end + 4 + int(match.group(1))
                if len(self._buffer) >= total:
                    data, self._buffer = self._buffer[:total], self._buffer[total:]
                    return data
            chunk = self.sock.recv(65535)
            if not chunk:
                return b""
            self._buffer += chunk

    def close(self) -> None:
        self.sock.close()


class PlainUa:
    """An RFC 3261 UA registering ``user@domain``; one Call-ID, CSeq counting up
    (§10.2.4), a fresh branch per request (§8.1.1.7)."""

    def __init__(self, transport: Transport, domain: str, user: str) -> None:
        self.t = transport
        self.domain = domain
        self.aor = f"{user}@{domain}"
        self.call_id = f"{_token()}@127.0.0.1"
        self.from_tag = _token()[:10]
        self.cseq = 0
        self.last_branch = ""

    def register_bytes(self, authorization: str | None = None, *, expires: int = 600,
                       contact_params: str = "", extra: str = "") -> bytes:
        self.cseq += 1
        self.last_branch = f"z9hG4bK{_token()}"
        host, port = self.t.local
        via_params = ";rport" if self.t.kind == "UDP" else ""
        lines = [
            f"REGISTER sip:{self.domain} SIP/2.0",
            f"Via: SIP/2.0/{self.t.kind} {host}:{port};branch={self.last_branch}{via_params}",
            "Max-Forwards: 70",
            f"From: <sip:{self.aor}>;tag={self.from_tag}",
            f"To: <sip:{self.aor}>",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} REGISTER",
            f"Contact: <sip:{self.aor.split('@')[0]}@{host}:{port};transport="
            f"{self.t.kind.lower()}>{contact_params}",
            f"Expires: {expires}",
            "User-Agent: plain-aka-ua/1.0",
            "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS",
        ]
        if authorization is not None:
            lines.append(f"Authorization: {authorization}")
        if extra:
            lines.append(extra)
        lines.append("Content-Length: 0")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")

    def register(self, authorization: str | None = None, **kw: Any) -> Response:
        self.t.send(self.register_bytes(authorization, **kw))
        resp = parse_response(self.t.receive())
        self.check_echo(resp)
        return resp

    def check_echo(self, resp: Response) -> None:
        """The response copies Via, From, To, Call-ID and CSeq (RFC 3261 §8.2.6.2)."""
        assert f"branch={self.last_branch}" in resp.one("Via")
        assert resp.one("Call-ID") == self.call_id
        assert resp.one("CSeq") == f"{self.cseq} REGISTER"
        assert resp.one("From") == f"<sip:{self.aor}>;tag={self.from_tag}"
        to = resp.one("To")
        assert to.startswith(f"<sip:{self.aor}>")
        if resp.status >= 200:
            assert re.search(r";tag=[^;]+", to), to


def challenge_of(resp: Response, domain: str) -> tuple[str, bytes, bytes]:
    """(nonce, RAND, AUTN) of a 401 with exactly the issue's WWW-Authenticate."""
    assert resp.status == 401, resp.raw
    assert resp.reason == "Unauthorized"
    value = resp.one("WWW-Authenticate")
    match = CHALLENGE.fullmatch(value)
    assert match is not None, value
    assert match["realm"] == domain
    raw = base64.b64decode(match["nonce"], validate=True)
    assert len(raw) == 32
    return match["nonce"], raw[:16], raw[16:]


def _md5(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.md5(data).hexdigest()  # noqa: S324 (RFC 3310 AKAv1-MD5)


def digest_authorization(username: str, realm: str, nonce: str, uri: str, res: bytes, *,
                         cnonce: str | None = None, nc: str = "00000001",
                         response: str | None = None) -> str:
    """The Authorization of RFC 3310 §3.4 with qop=auth: HA1 = MD5(username:realm:RES) with
    RES as raw octets, HA2 = MD5(REGISTER:uri), response = MD5(HA1:nonce:nc:cnonce:auth:HA2)
    (RFC 2617 §3.2.2.1)."""
    cnonce = cnonce or _token()
    ha1 = _md5(f"{username}:{realm}:".encode() + res)
    ha2 = _md5(f"REGISTER:{uri}")
    value = response or _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
    return (f'Digest username="{username}", realm="{realm}", nonce="{nonce}", '
            f'uri="{uri}", response="{value}", algorithm=AKAv1-MD5, '
            f'cnonce="{cnonce}", qop=auth, nc={nc}')


# ------------------------------------------------------------------ the lab


@dataclass
class NgnLab:
    info: dict[str, Any]
    dir: Path
    subs: dict[str, AkaSub]
    usims: dict[str, Usim]
    provisioned: dict[str, dict[str, Any]]

    @property
    def domain(self) -> str:
        return str(self.info["ngn_domain"])

    @property
    def softswitch_id(self) -> str:
        return str(self.info["ngn"]["softswitch"]["id"])

    def transport(self, kind: str) -> Transport:
        key = "ngn_sip_udp" if kind == "UDP" else "ngn_sip_tcp"
        return Transport(kind, _address(self.info[key]))

    def store_url(self) -> str:
        topo = registry.load(self.info["ngn"]["auc_config"])
        auc = topo.only("auc", self.info["ngn"]["auc_function"])
        return topo.store_url(registry.config_of(topo, auc.name).store)


@pytest.fixture(scope="module")
def ngn_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NgnLab]:
    lab_dir = tmp_path_factory.mktemp("ngn-aka-lab")
    try:
        gba("lab", "up", "--with", "ngn", "--dir", lab_dir)
        info: dict[str, Any] = json.loads((lab_dir / "lab.json").read_text("utf-8"))
        domain = info["ngn_domain"]

        def add(sub: AkaSub) -> dict[str, Any]:
            out: dict[str, Any] = json.loads(gba(
                "ngn", "add-terminal", "--config", info["ngn"]["auc_config"],
                "--id", f"{sub.name}@{domain}", *sub.args()))
            return out

        with ThreadPoolExecutor(max_workers=6) as pool:  # SQLite serialises the writers
            views = list(pool.map(add, SUBSCRIBERS))
        yield NgnLab(info, lab_dir, {s.name: s for s in SUBSCRIBERS},
                     {s.name: Usim(s) for s in SUBSCRIBERS},
                     {s.name: v for s, v in zip(SUBSCRIBERS, views, strict=True)})
    finally:
        lab_down(lab_dir)


@dataclass(frozen=True)
class Registered:
    ok: Response
    answer: UsimAnswer
    authorization: str


def check_key_header(lab: NgnLab, name: str, reg: Registered) -> bytes:
    """The [P] ``X-NGN-Key: e-kc=<hex>, mechanism=<token>, mac=<hex>`` of the 200: e-kc
    opens under CK || IK and mac = HMAC-SHA-256(Kc,sp, "ngn-mac" || id-c=..\\n id-sp=..\\n
    e-kc=..\\n mechanism=..\\n)[:16]; returns Kc,sp."""
    value = reg.ok.one("X-NGN-Key")
    fields = dict(part.strip().split("=", 1) for part in value.split(","))
    assert set(fields) == {"e-kc", "mechanism", "mac"}, value
    e_kc = bytes.fromhex(fields["e-kc"])
    assert len(e_kc) == 24
    kc_sp = aka_unwrap(reg.answer.ck, reg.answer.ik, e_kc)
    assert len(kc_sp) == 16
    covered = "".join(f"{k}={v}\n" for k, v in (
        ("id-c", f"{name}@{lab.domain}"), ("id-sp", lab.softswitch_id),
        ("e-kc", fields["e-kc"]), ("mechanism", fields["mechanism"])))
    expected = hmac.new(kc_sp, b"ngn-mac" + covered.encode(), hashlib.sha256).digest()[:16]
    assert bytes.fromhex(fields["mac"]) == expected
    assert fields["mechanism"] in ("tls", "ipsec", "app")
    return kc_sp


@dataclass(frozen=True)
class Client:
    """The UA of one subscriber (``name``) with its USIM: the RFC 3310 steps a test needs."""

    lab: NgnLab
    ua: PlainUa
    name: str

    @property
    def uri(self) -> str:
        """The Request-URI the UA registers to (the digest-uri of RFC 3310 §3.4)."""
        return f"sip:{self.lab.domain}"

    def challenge(self, resp: Response | None = None) -> tuple[str, UsimAnswer]:
        """The nonce of a 401 (``resp``, or the answer to a REGISTER without credentials)
        and the USIM's answer to its RAND and AUTN."""
        if resp is None:
            resp = self.ua.register()
        nonce, rand, autn = challenge_of(resp, self.lab.domain)
        return nonce, self.lab.usims[self.name].answer(rand, autn)

    def authorization(self, nonce: str, res: bytes) -> str:
        """The RFC 3310 Authorization of this UA's AoR for ``nonce`` with ``res``."""
        return digest_authorization(self.ua.aor, self.lab.domain, nonce, self.uri, res)

    def register(self, **kw: Any) -> Registered:
        """The whole RFC 3310 exchange: REGISTER, 401, USIM, REGISTER with Authorization,
        200."""
        nonce, answer = self.challenge(self.ua.register(**kw))
        auth = self.authorization(nonce, answer.res)
        ok = self.ua.register(auth, **kw)
        assert ok.status == 200, ok.raw
        assert ok.reason == "OK"
        return Registered(ok, answer, auth)

    def key(self, reg: Registered) -> bytes:
        """Kc,sp from the 200's X-NGN-Key, checked by :func:`check_key_header`."""
        return check_key_header(self.lab, self.name, reg)


class Connect:
    """``connect(kind, name)``: a :class:`Client` on a new UDP socket or TCP connection;
    ``connect.transport(kind)``: a bare one. All are closed when the test ends."""

    def __init__(self, lab: NgnLab, stack: ExitStack) -> None:
        self.lab = lab
        self._stack = stack

    def transport(self, kind: str) -> Transport:
        t = self.lab.transport(kind)
        self._stack.callback(t.close)
        return t

    def __call__(self, kind: str, name: str) -> Client:
        return Client(self.lab, PlainUa(self.transport(kind), self.lab.domain, name), name)


@pytest.fixture
def connect(ngn_lab: NgnLab) -> Iterator[Connect]:
    with ExitStack() as stack:
        yield Connect(ngn_lab, stack)


# ------------------------------------------------------------------ tests


def test_milenage_matches_ts_35_208_test_set_1() -> None:
    """The UA's Milenage is pinned to the specification, so a symmetric bug shared with
    the AuC cannot pass the tests below."""
    k = bytes.fromhex("465b5ce8b199b49faa5f0a2ee238a6bc")
    op = bytes.fromhex("cdc202d5123e20f62b6d676ac72cb318")
    sub = AkaSub("set1", k, op=op)
    assert sub.operator_key().hex() == "cd63cb71954a9f4e48a5994e37a02baf"
    out = Milenage(k, sub.operator_key()).compute(
        bytes.fromhex("23553cbe9637a89d218ae64dae47bf35"), bytes.fromhex("ff9bb4d0b607"),
        bytes.fromhex("b9b9"))
    assert (out.mac_a.hex(), out.mac_s.hex(), out.res.hex()) == (
        "4a9ffac354dfafb3", "01cfaf9ec4e871e9", "a54211d5e3ba50bf")
    assert out.ck.hex() == "b40ba9a3c58b2a05bbf0d987b21bf8cb"
    assert out.ik.hex() == "f769bcd751044604127672711c6d3441"
    assert (out.ak.hex(), out.ak_star.hex()) == ("aa689c648370", "451e8beca43b")


def test_provisioning_views(ngn_lab: NgnLab) -> None:
    """``add-terminal`` prints the AKA terminal without key material, AMF 8000 unless
    ``--amf`` says otherwise."""
    for name, view in ngn_lab.provisioned.items():
        sub = ngn_lab.subs[name]
        assert view == {"id": f"{name}@{ngn_lab.domain}", "kind": "aka",
                        "amf": sub.amf or "8000", "sqn": "000000000000"}
        text = json.dumps(view)
        assert sub.k.hex() not in text
        assert (sub.opc or sub.op or b"\x00" * 16).hex() not in text


async def test_udp_register_with_opc(ngn_lab: NgnLab, connect: Connect) -> None:
    """The issue's exchange over UDP: 401 with the exact challenge, 200 to a correct RFC
    3310 response; the key rides along in X-NGN-Key and the AuC records s11."""
    started = datetime.now(UTC)
    alice = connect("UDP", "alice")
    reg = alice.register()
    assert reg.answer.amf == bytes.fromhex("8000")
    contact = reg.ok.one("Contact")
    host, port = alice.ua.t.local
    assert contact.startswith(f"<sip:alice@{host}:{port};transport=udp>")
    assert re.search(r";\s*expires=\d+", contact), contact
    alice.key(reg)
    # a refresh runs a new AKA round with a fresher SQN (the USIM checks it)
    again = alice.register()
    assert again.answer.sqn > reg.answer.sqn
    assert again.ok.one("Call-ID") == alice.ua.call_id
    store = open_auc_store(ngn_lab.store_url())
    try:
        recorded = await store.get_registration(f"alice@{ngn_lab.domain}")
    finally:
        await store.close()
    assert recorded.id_c == f"alice@{ngn_lab.domain}"
    assert recorded.id_sp == ngn_lab.softswitch_id
    assert recorded.address == "127.0.0.1"
    assert started - timedelta(seconds=5) <= recorded.at <= datetime.now(UTC) + \
        timedelta(seconds=5)


@pytest.mark.parametrize(("kind", "name", "amf"), [
    # both REGISTERs on one TCP connection (RFC 3261 §18.3 framing by Content-Length)
    pytest.param("TCP", "alice", "8000", id="tcp-on-one-connection"),
    # ``--op``: the AuC derives OPc; the UA computes it on its own and agrees
    pytest.param("UDP", "bob", "8000", id="provisioned-with-op"),
    # ``--amf 0000`` appears in AUTN (its octets 6-7, covered by MAC-A)
    pytest.param("TCP", "carol", "0000", id="amf-travels-in-autn"),
])
def test_register(connect: Connect, kind: str, name: str, amf: str) -> None:
    """Each provisioning variant registers over its transport: the Via names it, the
    X-NGN-Key verifies, and AUTN carries the provisioned AMF."""
    client = connect(kind, name)
    reg = client.register()
    assert f"SIP/2.0/{kind}" in reg.ok.one("Via")
    client.key(reg)
    assert reg.answer.amf == bytes.fromhex(amf)


def test_wrong_response_is_403_and_a_correct_flow_still_works(connect: Connect) -> None:
    alice = connect("UDP", "alice")
    nonce, answer = alice.challenge()
    wrong_res = bytes(b ^ 0xFF for b in answer.res)
    refused = alice.ua.register(alice.authorization(nonce, wrong_res))
    assert (refused.status, refused.reason) == (403, "Forbidden"), refused.raw
    # the refused nonce is spent: the correct answer to it now draws a fresh challenge
    late = alice.ua.register(alice.authorization(nonce, answer.res))
    fresh_nonce, _, _ = challenge_of(late, alice.lab.domain)
    assert fresh_nonce != nonce
    alice.key(alice.register())


@pytest.mark.parametrize("kind", ["UDP", "TCP"])
def test_unknown_user_is_404(connect: Connect, kind: str) -> None:
    resp = connect(kind, "nobody").ua.register()
    assert (resp.status, resp.reason) == (404, "Not Found"), resp.raw
    assert not resp.all("WWW-Authenticate")


def test_nonce_never_issued_draws_a_fresh_401(connect: Connect) -> None:
    bob = connect("UDP", "bob")
    invented = base64.b64encode(os.urandom(32)).decode()
    nonce, answer = bob.challenge(bob.ua.register(bob.authorization(invented,
                                                                    os.urandom(8))))
    assert nonce != invented
    ok = bob.ua.register(bob.authorization(nonce, answer.res))
    assert ok.status == 200, ok.raw


def test_replayed_authorization_draws_a_fresh_401(connect: Connect) -> None:
    """A nonce is good for one registration: the same Authorization again (a replay, or
    a UA reusing it) is challenged, not registered."""
    carol = connect("TCP", "carol")
    reg = carol.register()
    replay = carol.ua.register(reg.authorization)
    challenge_of(replay, carol.lab.domain)


def test_garbage_and_malformed_requests(connect: Connect) -> None:
    """Garbage gets no answer over UDP (there is no Via to answer to); a REGISTER that is
    broken gets 400; over TCP garbage ends that connection; the softswitch keeps serving
    both faces."""
    alice = connect("UDP", "alice")
    ua, udp = alice.ua, alice.ua.t
    udp.send(b"\x00\xff\xfe garbage \r\n\r\n\x80")
    udp.send(os.urandom(300))
    with pytest.raises(TimeoutError):
        udp.receive(timeout=0.5)
    bad_forwards = ua.register_bytes().replace(b"Max-Forwards: 70", b"Max-Forwards: x")
    udp.send(bad_forwards)
    resp = parse_response(udp.receive())
    assert resp.status == 400, resp.raw
    assert resp.one("Call-ID") == ua.call_id
    no_uri = ua.register_bytes().replace(f"To: <sip:{ua.aor}>".encode(),
                                         b"To: <tel:+15551234>")
    udp.send(no_uri)
    assert parse_response(udp.receive()).status == 400
    other_alg = alice.authorization(base64.b64encode(os.urandom(32)).decode(), b"x").replace(
        "algorithm=AKAv1-MD5", "algorithm=MD5")
    udp.send(ua.register_bytes(other_alg))
    assert parse_response(udp.receive()).status == 400
    alice.register()

    tcp = connect.transport("TCP")
    tcp.send(b"NOT SIP AT ALL\r\nContent-Length: zz\r\n\r\n")
    try:
        leftover = tcp.receive(timeout=2.0)
    except (TimeoutError, ConnectionResetError):
        leftover = b""
    if leftover:
        assert parse_response(leftover).status == 400
    connect("TCP", "alice").register()


def test_key_distribution_differs_per_registration(connect: Connect) -> None:
    """Each AKA round brings a new Kc,sp (the AuC draws one per vector)."""
    bob = connect("UDP", "bob")
    first = bob.key(bob.register())
    second = bob.key(bob.register())
    assert first != second


# ------------------------------------------------------------------ registrar rules


def test_granted_expiry_does_not_exceed_the_requested_one(connect: Connect) -> None:
    reg = connect("UDP", "carol").register(expires=600)
    granted = re.findall(r";\s*expires=(\d+)", reg.ok.one("Contact"))
    assert granted
    assert all(int(g) <= 600 for g in granted), reg.ok.one("Contact")


def test_contact_expires_parameter_is_not_duplicated(connect: Connect) -> None:
    reg = connect("UDP", "alice").register(contact_params=";expires=300")
    contact = reg.ok.one("Contact")
    assert len(re.findall(r";\s*expires=", contact)) == 1, contact


def test_expires_zero_removes_the_binding(connect: Connect) -> None:
    reg = connect("UDP", "bob").register(expires=0)
    contacts = reg.ok.all("Contact")
    assert all(re.search(r";\s*expires=0\b", c) for c in contacts), contacts


def test_register_without_call_id_is_400_without_a_traceback(ngn_lab: NgnLab,
                                                             connect: Connect) -> None:
    log_file = ngn_lab.dir / "softswitch.log"
    before = log_file.read_text("utf-8").count("Traceback")
    ua = connect("UDP", "carol").ua
    ua.t.send(re.sub(rb"Call-ID: [^\r]*\r\n", b"", ua.register_bytes()))
    try:
        resp = parse_response(ua.t.receive(timeout=1.0))
    except TimeoutError:
        resp = None
    assert log_file.read_text("utf-8").count("Traceback") == before
    assert resp is not None, "no answer to a REGISTER without Call-ID"
    assert resp.status == 400


def test_credentials_of_one_aor_do_not_register_another(connect: Connect) -> None:
    alice = connect("UDP", "alice")
    nonce, answer = alice.challenge()
    other = alice.ua.register_bytes(alice.authorization(nonce, answer.res)).replace(
        f"To: <sip:{alice.ua.aor}>".encode(), f"To: <sip:bob@{alice.lab.domain}>".encode())
    alice.ua.t.send(other)
    resp = parse_response(alice.ua.t.receive())
    assert resp.status == 403, resp.raw

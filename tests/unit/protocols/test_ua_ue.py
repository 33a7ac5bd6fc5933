"""The UE's Ua Digest machine (gba.protocols.ua_ue; TS 33.222 §5.3) against the NAF's, in
memory: keys from a real bootstrap (Milenage USIM and HSS through the BSF machine), no
sockets, no event loop."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gba.crypto import kdf, ua_protocols
from gba.errors import AuthError, ProtocolError
from gba.protocols import ua
from gba.protocols.actions import Done, NeedNafKey, Send
from gba.protocols.digest_header import Challenge, Credentials
from gba.protocols.http import HttpRequest, HttpResponse
from gba.protocols.ua_ue import UeDigestExchange, UeDigestState
from gba.protocols.ub import Bootstrap
from gba.protocols.ub_ue import UeUbExchange
from gba_memory import (
    IMPI,
    NAF_FQDN,
    NAF_ID,
    MemoryBsf,
    MemoryHss,
    MemoryNaf,
    bootstrap,
    counter_rng,
    fetch,
    usim,
)


class Ue:
    """A UE's key source: bootstraps on demand (or when forced), derives Ks_NAF."""

    def __init__(self, bsf: MemoryBsf) -> None:
        self.bsf = bsf
        self.card = usim()
        self.current: Bootstrap | None = None
        self.forced: list[bool] = []

    def __call__(self, force: bool) -> tuple[str, bytes]:
        self.forced.append(force)
        if force or self.current is None:
            self.current = bootstrap(UeUbExchange(IMPI, self.card), self.bsf)
        key = kdf.ks_naf(self.current.ks, self.current.rand, IMPI, NAF_ID)
        return self.current.btid, key


def network() -> tuple[MemoryBsf, MemoryNaf, Ue]:
    bsf = MemoryBsf(MemoryHss())
    return bsf, MemoryNaf(bsf), Ue(bsf)


def get(target: str = "/res", *, trace: list[str] | None = None, method: str = "GET",
        body: bytes = b"") -> UeDigestExchange:
    return UeDigestExchange(method, target, NAF_FQDN, body,
                            trace=trace.append if trace is not None else lambda _: None)


def with_header(response: HttpResponse, name: str, value: str | None) -> HttpResponse:
    headers = tuple((n, v) for n, v in response.headers if n.lower() != name.lower())
    return replace(response, headers=headers if value is None else (*headers, (name, value)))


# ------------------------------------------------------------------ the accepted path


def test_ue_bootstraps_and_the_naf_serves_it_with_rspauth_verified() -> None:
    _, naf, ue = network()
    lines: list[str] = []
    response = fetch(get(trace=lines), naf, ue)
    assert response.status == 200
    assert response.body == f"hello {IMPI} at /res".encode()
    assert ue.forced == [False]
    assert ue.current is not None
    assert any(f"Digest username={ue.current.btid}" in line for line in lines)
    assert lines[-1] == "NAF -> UE  200 (rspauth verified: the NAF holds Ks_NAF)"


def test_first_request_has_no_credentials_and_a_401_asks_for_the_http_digest_key() -> None:
    _, naf, _ = network()
    exchange = get()
    first = exchange.start().request
    assert first.header("Authorization") is None
    action = exchange.response_received(naf(first))
    assert action == NeedNafKey(NAF_FQDN, ua_protocols.HTTP_DIGEST, force_bootstrap=False)
    assert exchange.state is UeDigestState.KEYING


def test_credentials_use_the_btid_auth_int_and_the_target_with_its_query() -> None:
    _, naf, ue = network()
    exchange = UeDigestExchange("POST", "/res?account=me", NAF_FQDN, b"a=1",
                                rng=counter_rng(9))
    exchange.response_received(naf(exchange.start().request))
    sent = exchange.key_received(*ue(False))
    creds = Credentials.from_header(sent.request.header("Authorization") or "")
    assert ue.current is not None
    assert (creds.username, creds.realm, creds.uri, creds.qop, creds.cnonce) == (
        ue.current.btid, ua.realm_for(NAF_FQDN), "/res?account=me", "auth-int",
        (9).to_bytes(8, "big").hex())
    assert naf(sent.request).status == 200


def test_qop_auth_is_used_when_auth_int_is_not_offered() -> None:
    exchange = get()
    exchange.start()
    c = Challenge(ua.realm_for(NAF_FQDN), "bm9uY2U=", "MD5", ("auth",))
    exchange.response_received(HttpResponse(401, (("WWW-Authenticate", c.to_header()),)))
    sent = exchange.key_received("btid@bsf", bytes(32))
    assert Credentials.from_header(sent.request.header("Authorization") or "").qop == "auth"


def test_unprotected_resource_is_returned_without_a_key() -> None:
    exchange = get()
    exchange.start()
    assert exchange.response_received(HttpResponse(200, (), b"public")) == Done(
        HttpResponse(200, (), b"public"))


# ------------------------------------------------------------------ re-bootstrap


def test_btid_the_naf_does_not_know_makes_the_ue_bootstrap_again_once() -> None:
    bsf, naf, ue = network()
    ue(False)
    old = ue.current
    bsf.contexts.clear()  # the BSF revoked it: Zn finds no context
    lines: list[str] = []
    response = fetch(get(trace=lines), naf, ue)
    assert response.status == 200
    assert ue.forced == [False, False, True]
    assert ue.current is not None
    assert old is not None
    assert ue.current.btid != old.btid
    assert any("bootstrapping anew" in line for line in lines)


def test_ue_gives_up_after_two_refused_attempts() -> None:
    _, naf, ue = network()
    wrong_keys: list[bool] = []

    def wrong(force: bool) -> tuple[str, bytes]:
        wrong_keys.append(force)
        btid, key = ue(force)
        return btid, bytes(b ^ 1 for b in key)

    response = fetch(get(), naf, wrong)
    assert response.status == 401
    assert wrong_keys == [False, True]


# ------------------------------------------------------------------ what the NAF refuses


def test_replayed_authorization_gets_a_fresh_challenge_marked_stale() -> None:
    _, naf, ue = network()
    exchange = get()
    exchange.response_received(naf(exchange.start().request))
    sent = exchange.key_received(*ue(False))
    assert naf(sent.request).status == 200
    replayed = naf(sent.request)
    assert replayed.status == 401
    assert Challenge.from_header(replayed.header("WWW-Authenticate") or "").stale


def test_authorization_moved_to_another_target_is_400() -> None:
    _, naf, ue = network()
    exchange = get("/res?account=me")
    exchange.response_received(naf(exchange.start().request))
    sent = exchange.key_received(*ue(False))
    assert naf(replace(sent.request, target="/res?account=victim")).status == 400


# ------------------------------------------------------------------ what the UE refuses


def test_naf_challenging_in_a_foreign_realm_is_a_protocol_error() -> None:
    foreign = MemoryNaf(MemoryBsf(MemoryHss()), fqdn="evil.example.net")
    with pytest.raises(ProtocolError, match="not a GBA realm"):
        fetch(get(), foreign, Ue(MemoryBsf(MemoryHss())))


def test_200_without_authentication_info_is_refused() -> None:
    _, naf, ue = network()

    def hiding(request: HttpRequest) -> HttpResponse:
        return with_header(naf(request), "Authentication-Info", None)

    with pytest.raises(AuthError, match="Authentication-Info"):
        fetch(get(), hiding, ue)


def test_200_with_a_wrong_rspauth_is_refused() -> None:
    _, naf, ue = network()

    def forging(request: HttpRequest) -> HttpResponse:
        reply = naf(request)
        if reply.status != 200:
            return reply
        return replace(reply, body=b"attacker content")

    with pytest.raises(AuthError, match="rspauth"):
        fetch(get(), forging, ue)


def test_key_before_a_challenge_is_a_protocol_error() -> None:
    exchange = get()
    exchange.start()
    with pytest.raises(ProtocolError, match="SENT"):
        exchange.key_received("btid@bsf", bytes(32))


def test_response_when_a_key_is_awaited_is_a_protocol_error() -> None:
    _, naf, _ = network()
    exchange = get()
    action = exchange.response_received(naf(exchange.start().request))
    assert isinstance(action, NeedNafKey)
    with pytest.raises(ProtocolError, match="KEYING"):
        exchange.response_received(HttpResponse(200))


def test_start_sends_the_method_target_and_body_given() -> None:
    action = get("/upload", method="PUT", body=b"data").start()
    assert action == Send(HttpRequest("PUT", "/upload",
                                      (("User-Agent", "gba-python/0.1 3gpp-gba"),), b"data"))


# ------------------------------------------------------------------ product token, transport


def test_every_ua_request_carries_the_3gpp_gba_token() -> None:
    # TS 24.109 §5.2.2.1 (Annex E: "User-Agent: ... 3gpp-gba"), set by the machine so that
    # every transport sends it
    _, naf, ue = network()
    exchange = get()
    first = exchange.start().request
    exchange.response_received(naf(first))
    second = exchange.key_received(*ue(False)).request
    for request in (first, second):
        agent = request.header("User-Agent") or ""
        assert "3gpp-gba" in agent.split()
        assert "3gpp-gba-tmpi" not in agent.split()


@pytest.mark.parametrize("suite", [0x002F, 0xC02B])
def test_a_401_over_tls_asks_for_the_key_of_01_00_01_and_the_suite(suite: int) -> None:
    # TS 33.222 §5.3, TS 33.220 H.3: Digest inside server-authenticated TLS
    _, naf, _ = network()
    exchange = get()
    action = exchange.response_received(naf(exchange.start().request), tls_suite=suite)
    assert action == NeedNafKey(NAF_FQDN, bytes([1, 0, 1]) + suite.to_bytes(2, "big"),
                                force_bootstrap=False)


def run_over(naf: MemoryNaf, ue_suite: int | None, bsf: MemoryBsf) -> HttpResponse:
    """A UE whose connection negotiated *ue_suite* against *naf*; keys per NeedNafKey."""
    current = bootstrap(UeUbExchange(IMPI, usim()), bsf)
    exchange = get()
    action: object = exchange.start()
    while True:
        if isinstance(action, Done):
            return action.response
        if isinstance(action, Send):
            action = exchange.response_received(naf(action.request), tls_suite=ue_suite)
        else:
            assert isinstance(action, NeedNafKey)
            nid = kdf.naf_id(action.naf_fqdn, action.ua_protocol)
            action = exchange.key_received(current.btid,
                                           kdf.ks_naf(current.ks, current.rand, IMPI, nid))


def test_ue_and_naf_agree_on_the_key_inside_tls() -> None:
    bsf = MemoryBsf(MemoryHss())
    naf = MemoryNaf(bsf, tls_suite=0xC02B)
    response = run_over(naf, 0xC02B, bsf)
    assert response.status == 200
    assert naf.naf_ids[-1] == NAF_FQDN.encode() + bytes.fromhex("010001c02b")


def test_a_ue_keyed_for_plain_http_is_not_accepted_inside_tls() -> None:
    bsf = MemoryBsf(MemoryHss())
    assert run_over(MemoryNaf(bsf, tls_suite=0xC02B), None, bsf).status == 401


def test_a_401_over_a_connection_of_another_suite_rekeys_without_bootstrapping() -> None:
    # the 401 came over a 0x002F connection, the credentials left over a new 0xC02B one:
    # the NAF's 401 to them says "wrong key", not "unknown B-TID"
    bsf = MemoryBsf(MemoryHss())
    naf = MemoryNaf(bsf, tls_suite=0xC02B)
    current = bootstrap(UeUbExchange(IMPI, usim()), bsf)
    suites = iter([0x002F, 0xC02B, 0xC02B])
    exchange = get()
    action: object = exchange.start()
    asked: list[NeedNafKey] = []
    while not isinstance(action, Done):
        if isinstance(action, Send):
            action = exchange.response_received(naf(action.request), tls_suite=next(suites))
        else:
            assert isinstance(action, NeedNafKey)
            asked.append(action)
            nid = kdf.naf_id(action.naf_fqdn, action.ua_protocol)
            action = exchange.key_received(current.btid,
                                           kdf.ks_naf(current.ks, current.rand, IMPI, nid))
    assert action.response.status == 200
    assert [(a.ua_protocol.hex(), a.force_bootstrap) for a in asked] == [
        ("010001002f", False), ("010001c02b", False)]

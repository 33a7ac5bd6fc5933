"""The UE's Ub machine (gba.protocols.ub_ue; TS 33.220 §4.5.2, TS 24.109 §4), run against
the BSF's machine in memory with a Milenage HSS and USIM: no sockets, no event loop."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gba.crypto import aka, kdf
from gba.crypto.milenage import Milenage
from gba.errors import AuthError, MacFailure, ProtocolError
from gba.protocols import ub
from gba.protocols.actions import Send, StoreContext
from gba.protocols.digest_header import Challenge, Credentials
from gba.protocols.http import HttpRequest, HttpResponse
from gba.protocols.ub_bsf import BsfUbConfig
from gba.protocols.ub_ue import UeUbExchange, UeUbState
from gba.protocols.zh import VectorRequest
from gba_memory import (
    BSF_NAME,
    CONFIG,
    IMPI,
    OPC,
    REALM,
    K,
    MemoryBsf,
    MemoryHss,
    bootstrap,
    counter_rng,
    usim,
)


def authorization(request: HttpRequest) -> Credentials:
    return Credentials.from_header(request.header("Authorization") or "")


def with_credentials(request: HttpRequest, creds: Credentials) -> HttpRequest:
    headers = tuple((n, v) for n, v in request.headers if n != "Authorization")
    return replace(request, headers=(*headers, ("Authorization", creds.to_header())))


# ------------------------------------------------------------------ a whole bootstrap


def test_ue_and_bsf_agree_on_btid_ks_and_lifetime() -> None:
    hss = MemoryHss()
    bsf = MemoryBsf(hss)
    card = usim()
    boot = bootstrap(UeUbExchange(IMPI, card), bsf)
    ctx = bsf.contexts[boot.btid]
    assert boot.btid.endswith("@" + BSF_NAME)
    assert (boot.impi, boot.ks, boot.rand, boot.lifetime) == (ctx.impi, ctx.ks, ctx.rand,
                                                              ctx.expires)
    _, ck, ik, _, _ = Milenage(K, OPC).f2345(boot.rand)
    assert boot.ks == kdf.ks(ck, ik)
    assert max(card.sqn_array.seq) == aka.split_sqn(hss.sqn)[0]


def test_first_request_names_the_impi_with_empty_nonce_and_the_gba_token() -> None:
    request = UeUbExchange(IMPI, usim(), "/bsf").start().request
    creds = authorization(request)
    assert (request.method, request.target) == ("GET", "/bsf")
    assert (creds.username, creds.realm, creds.nonce, creds.uri, creds.response) == (
        IMPI, REALM, "", "/bsf", "")
    assert request.header("User-Agent") == ub.user_agent()


def test_every_ub_request_carries_the_tmpi_token() -> None:
    # TS 33.220 §4.5.2: always, on Ub
    ue = UeUbExchange(IMPI, usim())
    bsf = MemoryBsf(MemoryHss())
    first = ue.start().request
    answer = ue.response_received(bsf(first))
    assert isinstance(answer, Send)
    for request in (first, answer.request):
        assert "3gpp-gba-tmpi" in (request.header("User-Agent") or "").split()


def test_answer_is_auth_int_over_the_request_uri_with_an_injected_cnonce() -> None:
    ue = UeUbExchange(IMPI, usim(), "/bsf", rng=counter_rng(7))
    bsf = MemoryBsf(MemoryHss())
    answer = ue.response_received(bsf(ue.start().request))
    assert isinstance(answer, Send)
    creds = authorization(answer.request)
    assert (creds.qop, creds.uri, creds.nc, creds.algorithm) == ("auth-int", "/bsf",
                                                                 "00000001", "AKAv1-MD5")
    assert creds.cnonce == (7).to_bytes(8, "big").hex()
    assert ue.state is UeUbState.ANSWERED


def test_trace_narrates_challenge_answer_and_result() -> None:
    lines: list[str] = []
    boot = bootstrap(UeUbExchange(IMPI, usim(), trace=lines.append), MemoryBsf(MemoryHss()))
    assert lines[0] == f"UE -> BSF  GET / Authorization: Digest username={IMPI}"
    assert lines[1].startswith("BSF -> UE  401 nonce=base64(RAND ")
    assert "AUTN verified" in lines[2]
    assert lines[3].startswith(f"BSF -> UE  200 B-TID {boot.btid}")


# ------------------------------------------------------------------ resynchronisation


def test_usim_ahead_of_the_hss_resynchronises_and_bootstraps() -> None:
    hss = MemoryHss()
    card = usim(seq=1000)
    lines: list[str] = []
    boot = bootstrap(UeUbExchange(IMPI, card, trace=lines.append), MemoryBsf(hss))
    assert [r.auts is not None for r in hss.requests] == [False, True]
    assert hss.requests[1].resync_rand is not None
    assert any("synchronisation failure, sending AUTS" in line for line in lines)
    assert aka.split_sqn(hss.sqn)[0] == 1001 == max(card.sqn_array.seq)
    assert boot.btid.endswith("@" + BSF_NAME)


def test_bsf_that_keeps_challenging_after_resync_is_a_protocol_error() -> None:
    hss = MemoryHss(resync=False)  # never moves past the USIM
    with pytest.raises(ProtocolError, match="kept challenging"):
        bootstrap(UeUbExchange(IMPI, usim(seq=1000)), MemoryBsf(hss))
    assert [r.auts is not None for r in hss.requests] == [False, True, True, True]


# ------------------------------------------------------------------ what the BSF refuses


def test_replayed_answer_gets_a_fresh_challenge_marked_stale() -> None:
    bsf = MemoryBsf(MemoryHss())
    ue = UeUbExchange(IMPI, usim())
    answer = ue.response_received(bsf(ue.start().request))
    assert isinstance(answer, Send)
    assert bsf(answer.request).status == 200
    replayed = bsf(answer.request)
    assert replayed.status == 401
    challenge = Challenge.from_header(replayed.header("WWW-Authenticate") or "")
    assert challenge.stale
    assert challenge.nonce != authorization(answer.request).nonce


def test_wrong_res_is_refused_with_403_and_no_context() -> None:
    bsf = MemoryBsf(MemoryHss())
    ue = UeUbExchange(IMPI, usim())
    answer = ue.response_received(bsf(ue.start().request))
    assert isinstance(answer, Send)
    creds = authorization(answer.request)
    forged = replace(creds, response=format(int(creds.response, 16) ^ 1, "032x"))
    reply = bsf(with_credentials(answer.request, forged))
    assert reply.status == 403
    assert bsf.contexts == {}
    with pytest.raises(AuthError, match="403"):
        ue.response_received(reply)


def test_answer_for_a_foreign_realm_is_refused_with_400() -> None:
    bsf = MemoryBsf(MemoryHss())
    ue = UeUbExchange(IMPI, usim())
    answer = ue.response_received(bsf(ue.start().request))
    assert isinstance(answer, Send)
    foreign = replace(authorization(answer.request), realm="visited.example.net")
    assert bsf(with_credentials(answer.request, foreign)).status == 400
    assert not any(isinstance(a, StoreContext) for a in bsf.actions)


def test_unknown_impi_gets_a_challenge_its_usim_cannot_verify() -> None:
    # the BSF does not say whether an IMPI exists: it answers a decoy challenge
    bsf = MemoryBsf(MemoryHss(impi="someone-else@home.example.org"))
    with pytest.raises(MacFailure):
        bootstrap(UeUbExchange(IMPI, usim()), bsf)
    assert not bsf.contexts


# ------------------------------------------------------------------ what the UE refuses


def test_bsf_that_does_not_know_k_is_not_authentic() -> None:
    impostor = MemoryBsf(MemoryHss(k=bytes(16)))
    with pytest.raises(MacFailure):
        bootstrap(UeUbExchange(IMPI, usim()), impostor)


def test_forged_rspauth_is_refused() -> None:
    bsf = MemoryBsf(MemoryHss())

    def forging(request: HttpRequest) -> HttpResponse:
        reply = bsf(request)
        if reply.status != 200:
            return reply
        headers = tuple((n, v) for n, v in reply.headers if n != "Authentication-Info")
        return replace(reply, headers=(*headers, ("Authentication-Info",
                                                  f'rspauth="{"0" * 32}"')))

    with pytest.raises(AuthError, match="rspauth"):
        bootstrap(UeUbExchange(IMPI, usim()), forging)


def test_tampered_bootstrapping_info_fails_rspauth() -> None:
    bsf = MemoryBsf(MemoryHss())

    def tampering(request: HttpRequest) -> HttpResponse:
        reply = bsf(request)
        return replace(reply, body=reply.body.replace(b"<btid>", b"<btid>x")
                       ) if reply.status == 200 else reply

    with pytest.raises(AuthError, match="rspauth"):
        bootstrap(UeUbExchange(IMPI, usim()), tampering)


def test_first_answer_other_than_401_is_a_protocol_error() -> None:
    ue = UeUbExchange(IMPI, usim())
    ue.start()
    with pytest.raises(ProtocolError, match="503 instead of a 401"):
        ue.response_received(HttpResponse(503))


def test_bsf_of_another_home_realm_still_bootstraps_in_its_own_realm() -> None:
    """The UE answers in the realm the BSF challenged with, not the IMPI's domain."""
    config = BsfUbConfig("bsf-realm.example.org", BSF_NAME, CONFIG.key_lifetime)
    boot = bootstrap(UeUbExchange(IMPI, usim()), MemoryBsf(MemoryHss(), config))
    assert boot.impi == IMPI


def test_hss_sees_the_impi_the_ue_named() -> None:
    hss = MemoryHss()
    bootstrap(UeUbExchange(IMPI, usim()), MemoryBsf(hss))
    assert hss.requests == [VectorRequest(IMPI)]


def test_feeding_a_response_before_start_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="START"):
        UeUbExchange(IMPI, usim()).response_received(HttpResponse(401))

"""The BSF's Ub machine (gba.protocols.ub_bsf; TS 24.109 §4, TS 33.220 §4.5.2), no sockets.

Each test feeds one request and the outcomes of the actions it asks for, and checks the
actions and the response: vectors from a Milenage HSS, RES from a Milenage USIM.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import timedelta

import pytest

from gba.crypto import aka, digest, kdf
from gba.errors import ProtocolError
from gba.protocols import guss as guss_xml
from gba.protocols import ub
from gba.protocols.actions import (
    AdmitChallenge,
    NeedVector,
    Respond,
    StoreChallenge,
    StoreContext,
    TakeChallenge,
)
from gba.protocols.diameter import ExperimentalResultCode, ResultCode
from gba.protocols.digest_header import AuthenticationInfo, Challenge, Credentials
from gba.protocols.http import HttpRequest, HttpResponse
from gba.protocols.ratelimit import ChallengeLimits, Rate
from gba.protocols.ub_bsf import BsfUbExchange, BsfUbState, is_decoy
from gba.protocols.zh import VectorAnswer, VectorRequest
from gba.store.base import Challenge as PendingChallenge
from gba_memory import CONFIG, IMPI, NOW, REALM, MemoryBsf, MemoryHss, usim


def first_request(user_agent: str = ub.user_agent(), impi: str = IMPI) -> HttpRequest:
    return HttpRequest("GET", "/", (
        ("User-Agent", user_agent),
        ("Authorization", ub.initial_credentials(impi, REALM).to_header())))


def respond(action: object) -> HttpResponse:
    assert isinstance(action, Respond), f"expected Respond, got {action!r}"
    return action.response


def vector(guss: str | None = None) -> VectorAnswer:
    answer = MemoryHss(guss=guss)(VectorRequest(IMPI))
    assert isinstance(answer, VectorAnswer)
    return answer


def pending_for(answer: VectorAnswer, impi: str = IMPI) -> PendingChallenge:
    return PendingChallenge(nonce=digest.aka_nonce(answer.rand, answer.autn), impi=impi,
                            rand=answer.rand, autn=answer.autn, xres=answer.xres,
                            ck=answer.ck, ik=answer.ik, expires=NOW + timedelta(minutes=2),
                            guss=answer.guss)


def answer_request(pending: PendingChallenge, *, res: bytes | None = None,
                   qop: str | None = ub.QOP, uri: str = "/", realm: str = REALM,
                   algorithm: str = ub.ALGORITHM, auts: str | None = None,
                   user_agent: str = ub.user_agent()) -> HttpRequest:
    """The UE's answer to *pending*, keyed by *res* (default: the USIM's RES)."""
    if res is None:
        result = usim().authenticate(pending.rand, pending.autn)
        assert isinstance(result, aka.AkaSuccess)
        res = result.res
    d = digest.DigestInput(algorithm, IMPI, realm, res, uri, pending.nonce, qop,
                           "00000001", "0a4f113b")
    creds = Credentials(IMPI, realm, pending.nonce, uri, digest.response(d, "GET"), algorithm,
                        qop, "00000001" if qop else None, "0a4f113b" if qop else None,
                        auts=auts)
    return HttpRequest("GET", "/", (("User-Agent", user_agent),
                                    ("Authorization", creds.to_header())))


def past_limits(exchange: BsfUbExchange, action: object) -> object:
    """Admit the challenge *action* asks for (no rate limit reached)."""
    assert action == AdmitChallenge(IMPI, exchange.source, exchange.now)
    return exchange.challenge_admitted(None)


def fetching(request: HttpRequest | None = None) -> BsfUbExchange:
    """An exchange for a first request, waiting for its vector."""
    exchange = BsfUbExchange(CONFIG, request or first_request(), NOW)
    assert isinstance(past_limits(exchange, exchange.start()), NeedVector)
    return exchange


def answered(pending: PendingChallenge, request: HttpRequest) -> tuple[BsfUbExchange, object]:
    """Feed an answer and its pending challenge; return the exchange and the next action."""
    exchange = BsfUbExchange(CONFIG, request, NOW)
    assert exchange.start() == TakeChallenge(pending.nonce, NOW)
    return exchange, exchange.challenge_taken(pending)


# ------------------------------------------------------------------ first request


def test_first_request_asks_the_hss_for_a_vector_for_the_impi() -> None:
    exchange = BsfUbExchange(CONFIG, first_request(), NOW)
    action = past_limits(exchange, exchange.start())
    assert action == NeedVector(VectorRequest(IMPI, gba_u_aware=False))


@pytest.mark.parametrize("agent", ["gba-python/0.1 3gpp-gba-uicc", "curl/8.0", ""])
def test_the_user_agent_does_not_change_the_vector_request(agent: str) -> None:
    # TS 33.220 §5.1: "The messages exchanged over the Ub reference point are identical
    # for both procedures"; the UE's token says nothing about GBA_U
    exchange = BsfUbExchange(CONFIG, first_request(agent), NOW)
    assert past_limits(exchange, exchange.start()) == NeedVector(VectorRequest(IMPI))


def test_every_ub_response_names_3gpp_gba_tmpi_in_server() -> None:
    # TS 33.220 §4.5.2: the BSF "shall always include the product token "3gpp-gba-tmpi"
    # in the server response-header field when communicating over Ub"
    challenged = fetching()
    challenged.vector_received(vector())
    refused = BsfUbExchange(CONFIG, HttpRequest("GET", "/"), NOW)
    unavailable = fetching()
    pending = pending_for(vector())
    exchange, stored = answered(pending, answer_request(pending))
    assert isinstance(stored, StoreContext)
    for response in (respond(challenged.challenge_stored()), respond(refused.start()),
                     respond(unavailable.vector_unavailable("no HSS")),
                     respond(exchange.context_stored())):
        assert response.header("Server") == ub.server()
        assert [v for k, v in response.headers if k.lower() == "server"] == [ub.server()]


def test_vector_is_stored_as_a_pending_challenge_until_the_challenge_lifetime() -> None:
    exchange = fetching()
    answer = vector()
    action = exchange.vector_received(answer)
    assert action == StoreChallenge(pending_for(answer))


def test_challenge_is_a_401_with_the_aka_nonce_auth_int_and_the_home_realm() -> None:
    exchange = fetching()
    answer = vector()
    exchange.vector_received(answer)
    response = respond(exchange.challenge_stored())
    assert response.status == 401
    challenge = Challenge.from_header(response.header("www-authenticate") or "")
    assert base64.b64decode(challenge.nonce) == answer.rand + answer.autn
    assert (challenge.realm, challenge.algorithm, challenge.qop, challenge.stale) == (
        REALM, "AKAv1-MD5", ("auth-int",), False)
    assert exchange.state is BsfUbState.DONE


def test_request_without_authorization_is_400() -> None:
    response = respond(BsfUbExchange(CONFIG, HttpRequest("GET", "/"), NOW).start())
    assert response.status == 400
    assert b"Authorization" in response.body


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", 'Digest username="a@b", realm',
                                    'Digest username="a@b"'])
def test_malformed_authorization_is_400(header: str) -> None:
    request = HttpRequest("GET", "/", (("Authorization", header),))
    assert respond(BsfUbExchange(CONFIG, request, NOW).start()).status == 400


@pytest.mark.parametrize("code", [ExperimentalResultCode.IMPI_UNKNOWN,
                                  ResultCode.AUTHENTICATION_REJECTED])
def test_an_impi_the_hss_refuses_gets_a_decoy_challenge_stored_like_a_real_one(
        code: int) -> None:
    exchange = fetching()
    action = exchange.vector_received(int(code))
    assert isinstance(action, StoreChallenge)
    decoy = action.challenge
    assert decoy.impi == IMPI
    assert decoy.expires == NOW + CONFIG.challenge_lifetime
    assert (len(decoy.rand), len(decoy.autn), len(decoy.ck), len(decoy.ik)) == (16,) * 4
    assert base64.b64decode(decoy.nonce) == decoy.rand + decoy.autn
    assert is_decoy(CONFIG, decoy)
    assert respond(exchange.challenge_stored()).status == 401


def test_a_real_vector_is_not_taken_for_a_decoy() -> None:
    assert not is_decoy(CONFIG, pending_for(vector()))


@pytest.mark.parametrize("code", [ResultCode.UNABLE_TO_DELIVER, ResultCode.UNABLE_TO_COMPLY])
def test_other_hss_result_codes_are_503(code: int) -> None:
    response = respond(fetching().vector_received(int(code)))
    assert response.status == 503
    assert response.header("WWW-Authenticate") is None


def test_unreachable_hss_is_503() -> None:
    exchange = fetching()
    assert respond(exchange.vector_unavailable("no Zh peer")).status == 503


# ------------------------------------------------------------------ the answer


def test_correct_res_makes_a_context_from_ck_ik_and_rand() -> None:
    pending = pending_for(vector())
    _, action = answered(pending, answer_request(pending))
    assert isinstance(action, StoreContext)
    ctx = action.context
    assert ctx.btid == kdf.btid(pending.rand, CONFIG.server_name)
    assert (ctx.impi, ctx.ks, ctx.rand) == (IMPI, pending.ck + pending.ik, pending.rand)
    assert (ctx.created, ctx.expires) == (NOW, NOW + CONFIG.key_lifetime)
    assert ctx.gba_u is False


def test_stored_context_is_answered_200_with_bootstrapping_info_and_rspauth() -> None:
    pending = pending_for(vector())
    request = answer_request(pending)
    exchange, action = answered(pending, request)
    assert isinstance(action, StoreContext)
    response = respond(exchange.context_stored())
    assert response.status == 200
    assert response.header("Content-Type") == ub.CONTENT_TYPE
    assert ub.BootstrappingInfo.decode(response.body) == ub.BootstrappingInfo(
        action.context.btid, action.context.expires)
    creds = Credentials.from_header(request.header("Authorization") or "")
    d = digest.DigestInput(ub.ALGORITHM, IMPI, REALM, pending.xres, "/", pending.nonce,
                           ub.QOP, creds.nc or "", creds.cnonce or "")
    info = AuthenticationInfo.from_header(response.header("Authentication-Info") or "")
    assert digest.verify(digest.rspauth(d, response.body), info.rspauth)


def test_wrong_res_is_403() -> None:
    pending = pending_for(vector())
    _, action = answered(pending, answer_request(pending, res=b"\x00" * 8))
    response = respond(action)
    assert response.status == 403
    assert response.header("Authentication-Info") is None


@pytest.mark.parametrize(("qop", "uri"), [(None, "/"), ("auth", "/"), ("auth-int", "/else")])
def test_answer_without_auth_int_or_for_another_uri_is_400(qop: str | None, uri: str) -> None:
    pending = pending_for(vector())
    _, action = answered(pending, answer_request(pending, qop=qop, uri=uri))
    assert respond(action).status == 400


@pytest.mark.parametrize(("realm", "algorithm"), [("visited.example.net", ub.ALGORITHM),
                                                  (REALM, "AKAv2-MD5"), (REALM, "MD5")])
def test_answer_in_a_foreign_realm_or_with_another_algorithm_is_400(realm: str,
                                                                    algorithm: str) -> None:
    pending = pending_for(vector())
    _, action = answered(pending, answer_request(pending, realm=realm, algorithm=algorithm))
    assert respond(action).status == 400


@pytest.mark.parametrize("pending_impi", [None, "other@home.example.org"])
def test_unknown_or_foreign_nonce_gets_a_fresh_challenge_marked_stale(
        pending_impi: str | None) -> None:
    pending = pending_for(vector())
    exchange = BsfUbExchange(CONFIG, answer_request(pending), NOW)
    exchange.start()
    taken = None if pending_impi is None else replace(pending, impi=pending_impi)
    action = past_limits(exchange, exchange.challenge_taken(taken))
    assert action == NeedVector(VectorRequest(IMPI))
    fresh = vector()
    exchange.vector_received(fresh)
    challenge = Challenge.from_header(
        respond(exchange.challenge_stored()).header("WWW-Authenticate") or "")
    assert challenge.stale
    assert challenge.nonce == digest.aka_nonce(fresh.rand, fresh.autn)


def test_auts_asks_the_hss_to_resynchronise_with_the_pending_rand() -> None:
    pending = pending_for(vector())
    auts = bytes(range(14))
    exchange, action = answered(pending, answer_request(pending,
                                                        auts=digest.encode_auts(auts)))
    assert past_limits(exchange, action) == NeedVector(VectorRequest(IMPI, pending.rand, auts))


def test_challenge_after_a_resync_is_not_marked_stale() -> None:
    pending = pending_for(vector())
    exchange, action = answered(pending, answer_request(
        pending, auts=digest.encode_auts(bytes(14))))
    past_limits(exchange, action)
    exchange.vector_received(vector())
    header = respond(exchange.challenge_stored()).header("WWW-Authenticate") or ""
    assert not Challenge.from_header(header).stale


@pytest.mark.parametrize("auts", ["!!", base64.b64encode(bytes(13)).decode()])
def test_malformed_auts_is_400(auts: str) -> None:
    pending = pending_for(vector())
    _, action = answered(pending, answer_request(pending, auts=auts))
    assert respond(action).status == 400


# ------------------------------------------------------------------ GUSS


def test_guss_lifetime_caps_the_key_lifetime() -> None:
    pending = pending_for(vector(guss_xml.encode_guss(guss_xml.Guss(lifetime_s=600))))
    _, action = answered(pending, answer_request(pending))
    assert isinstance(action, StoreContext)
    assert action.context.expires == NOW + timedelta(seconds=600)


def test_guss_lifetime_longer_than_the_bsfs_does_not_extend_it() -> None:
    pending = pending_for(vector(guss_xml.encode_guss(guss_xml.Guss(lifetime_s=86400))))
    _, action = answered(pending, answer_request(pending))
    assert isinstance(action, StoreContext)
    assert action.context.expires == NOW + CONFIG.key_lifetime


@pytest.mark.parametrize("agent", [ub.user_agent(), "phone/1 3gpp-gba-uicc", "curl/8.0"])
@pytest.mark.parametrize(("uicc_type", "gba_u"), [
    (guss_xml.UICC_GBA_U, True),
    (guss_xml.UICC_GBA, False),
])
def test_gba_u_follows_the_subscriptions_uicc_type_whatever_the_user_agent(
        uicc_type: str, gba_u: bool, agent: str) -> None:
    # TS 33.220 §5.1: "The decision on running one or the other shall be based on
    # subscription information (i.e. UICC capabilities)" from the GUSS
    pending = pending_for(vector(guss_xml.encode_guss(guss_xml.Guss(uicc_type=uicc_type))))
    _, action = answered(pending, answer_request(pending, user_agent=agent))
    assert isinstance(action, StoreContext)
    assert action.context.gba_u is gba_u


@pytest.mark.parametrize("guss", [None, "<guss><bsfInfo><uiccType>X</uiccType></bsfInfo></guss>"])
def test_no_or_unreadable_guss_is_gba_me_even_with_the_uicc_token(guss: str | None) -> None:
    pending = pending_for(vector(guss))
    _, action = answered(pending, answer_request(pending,
                                                 user_agent="phone/1 3gpp-gba-uicc"))
    assert isinstance(action, StoreContext)
    assert action.context.gba_u is False


def test_unreadable_guss_leaves_the_defaults() -> None:
    pending = pending_for(vector("<guss><bsfInfo><lifeTime>soon</lifeTime></bsfInfo></guss>"))
    _, action = answered(pending, answer_request(pending))
    assert isinstance(action, StoreContext)
    assert action.context.expires == NOW + CONFIG.key_lifetime


# ------------------------------------------------------------------ the machine itself


def test_feeding_out_of_turn_is_a_protocol_error() -> None:
    exchange = BsfUbExchange(CONFIG, first_request(), NOW)
    with pytest.raises(ProtocolError, match="challenge_stored"):
        exchange.challenge_stored()
    exchange.start()
    with pytest.raises(ProtocolError, match="ADMITTING"):
        exchange.challenge_taken(None)


def test_a_finished_exchange_takes_nothing_more() -> None:
    exchange = BsfUbExchange(CONFIG, HttpRequest("GET", "/"), NOW)
    exchange.start()
    with pytest.raises(ProtocolError):
        exchange.start()


# ------------------------------------------------------------------ IMPI enumeration

UNKNOWN = "nobody@home.example.org"


def shape(response: HttpResponse) -> tuple[object, ...]:
    """All a prober sees of a challenge but the nonce's value: status, header names and
    every header but WWW-Authenticate, the body, the challenge's parameters, the nonce's
    length and the AMF it shows in the clear (AUTN octets 7-8, TS 33.102 §6.3.2)."""
    challenge = Challenge.from_header(response.header("WWW-Authenticate") or "")
    raw = base64.b64decode(challenge.nonce)
    return (response.status, [k for k, _ in response.headers],
            [(k, v) for k, v in response.headers if k != "WWW-Authenticate"], response.body,
            (challenge.realm, challenge.algorithm, challenge.qop, challenge.stale,
             challenge.opaque), len(challenge.nonce), len(raw), raw[22:24])


def test_known_and_unknown_impis_get_challenges_of_the_same_shape() -> None:
    bsf = MemoryBsf(MemoryHss())
    known = bsf(first_request())
    unknown = bsf(first_request(impi=UNKNOWN))
    assert known.status == 401
    assert shape(unknown) == shape(known)
    assert [type(a) for a in bsf.actions[:4]] == [type(a) for a in bsf.actions[4:]]
    assert {c.impi for c in bsf.challenges.values()} == {IMPI, UNKNOWN}


def test_a_stale_nonce_of_an_unknown_impi_is_challenged_as_a_known_ones() -> None:
    bsf = MemoryBsf(MemoryHss())
    responses = []
    for impi in (IMPI, UNKNOWN):
        challenge = Challenge.from_header(
            bsf(first_request(impi=impi)).header("WWW-Authenticate") or "")
        bsf.challenges.clear()
        creds = Credentials(impi, REALM, challenge.nonce, "/", "0" * 32, ub.ALGORITHM,
                            ub.QOP, "00000001", "0a4f113b")
        responses.append(bsf(HttpRequest("GET", "/", (
            ("Authorization", creds.to_header()),))))
    assert Challenge.from_header(responses[0].header("WWW-Authenticate") or "").stale
    assert shape(responses[1]) == shape(responses[0])


def ue_answer(bsf: MemoryBsf, impi: str, res: bytes, auts: str | None = None
              ) -> HttpResponse:
    """Ask *bsf* for a challenge for *impi* and answer it with *res* (or *auts*)."""
    header = bsf(first_request(impi=impi)).header("WWW-Authenticate") or ""
    nonce = Challenge.from_header(header).nonce
    d = digest.DigestInput(ub.ALGORITHM, impi, REALM, res, "/", nonce, ub.QOP, "00000001",
                           "0a4f113b")
    creds = Credentials(impi, REALM, nonce, "/", digest.response(d, "GET"), ub.ALGORITHM,
                        ub.QOP, "00000001", "0a4f113b", auts=auts)
    return bsf(HttpRequest("GET", "/", (("Authorization", creds.to_header()),)))


def test_answering_a_decoy_fails_as_a_wrong_res_does() -> None:
    bsf = MemoryBsf(MemoryHss())
    wrong_res = ue_answer(bsf, IMPI, b"\x00" * 8)
    decoy = ue_answer(bsf, UNKNOWN, b"\x00" * 8)
    assert wrong_res.status == 403
    assert (decoy.status, decoy.headers, decoy.body) == (
        wrong_res.status, wrong_res.headers, wrong_res.body)
    assert not bsf.contexts
    assert not bsf.challenges, "each challenge is taken once, decoys too"


def test_a_decoy_answered_with_its_own_xres_by_its_impi_fails_as_a_wrong_res() -> None:
    exchange = fetching()
    action = exchange.vector_received(int(ExperimentalResultCode.IMPI_UNKNOWN))
    assert isinstance(action, StoreChallenge)
    decoy = action.challenge
    _, verdict = answered(decoy, answer_request(decoy, res=decoy.xres))
    assert respond(verdict).status == 403
    assert respond(verdict).body == b"authentication failed\n"


def test_an_auts_for_a_decoy_fails_as_a_bad_auts_for_a_real_challenge() -> None:
    bsf = MemoryBsf(MemoryHss())
    auts = digest.encode_auts(bytes(range(14)))
    known = ue_answer(bsf, IMPI, b"", auts=auts)
    unknown = ue_answer(bsf, UNKNOWN, b"", auts=auts)
    assert known.status == 403
    assert (unknown.status, unknown.headers, unknown.body) == (
        known.status, known.headers, known.body)


# ------------------------------------------------------------------ rate limits


def test_new_challenges_per_impi_are_limited_and_spend_no_sqn_beyond() -> None:
    hss = MemoryHss()
    bsf = MemoryBsf(hss, limits=ChallengeLimits(Rate(3), Rate(0)))
    statuses = [bsf(first_request(), peer=f"192.0.2.{i}").status for i in range(10)]
    assert statuses == [401] * 3 + [429] * 7
    assert (hss.sqn, len(hss.requests)) == (aka.next_sqn(aka.next_sqn(aka.next_sqn(0))), 3)
    assert bsf(first_request(impi=UNKNOWN)).status == 401, "another IMPI has its own"


def test_the_429_says_when_to_retry_and_a_token_comes_back_then() -> None:
    bsf = MemoryBsf(MemoryHss(), limits=ChallengeLimits(Rate(3), Rate(0)))
    for _ in range(3):
        bsf(first_request())
    limited = bsf(first_request())
    assert limited.status == 429
    assert limited.header("Retry-After") == "20"
    assert limited.header("Server") == ub.server()
    assert limited.header("WWW-Authenticate") is None
    assert bsf(first_request(), NOW + timedelta(seconds=19)).status == 429
    assert bsf(first_request(), NOW + timedelta(seconds=20)).status == 401


def test_new_challenges_per_source_are_limited_whatever_the_impi() -> None:
    hss = MemoryHss()
    bsf = MemoryBsf(hss, limits=ChallengeLimits(Rate(0), Rate(2)))
    impis = [IMPI, UNKNOWN, "third@home.example.org"]
    statuses = [bsf(first_request(impi=i), peer="192.0.2.7").status for i in impis]
    assert statuses == [401, 401, 429]
    assert bsf(first_request(), peer="198.51.100.1").status == 401
    assert len(hss.requests) == 3


def test_a_limited_known_impi_and_a_limited_unknown_one_get_the_same_429() -> None:
    bsf = MemoryBsf(MemoryHss(), limits=ChallengeLimits(Rate(1), Rate(0)))
    limited = []
    for impi in (IMPI, UNKNOWN):
        assert bsf(first_request(impi=impi)).status == 401
        limited.append(bsf(first_request(impi=impi)))
    assert limited[0].status == 429
    assert (limited[1].status, limited[1].headers, limited[1].body) == (
        limited[0].status, limited[0].headers, limited[0].body)


def test_stale_nonces_and_resynchronisations_count_against_the_limit() -> None:
    hss = MemoryHss()
    bsf = MemoryBsf(hss, limits=ChallengeLimits(Rate(2), Rate(0)))
    ue_answer(bsf, IMPI, b"", auts=digest.encode_auts(bytes(range(14))))
    assert bsf(first_request()).status == 429
    assert len(hss.requests) == 2


def test_a_limited_exchange_asks_nothing_of_the_hss_or_the_store() -> None:
    bsf = MemoryBsf(MemoryHss(), limits=ChallengeLimits(Rate(1), Rate(0)))
    bsf(first_request())
    bsf.actions.clear()
    bsf(first_request())
    assert [type(a) for a in bsf.actions] == [AdmitChallenge, Respond]

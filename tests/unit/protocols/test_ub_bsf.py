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
    NeedVector,
    Respond,
    StoreChallenge,
    StoreContext,
    TakeChallenge,
)
from gba.protocols.diameter import ExperimentalResultCode, ResultCode
from gba.protocols.digest_header import AuthenticationInfo, Challenge, Credentials
from gba.protocols.http import HttpRequest, HttpResponse
from gba.protocols.ub_bsf import BsfUbExchange, BsfUbState
from gba.protocols.zh import VectorAnswer, VectorRequest
from gba.store.base import Challenge as PendingChallenge
from gba_memory import CONFIG, IMPI, NOW, REALM, MemoryHss, usim


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


def answered(pending: PendingChallenge, request: HttpRequest) -> tuple[BsfUbExchange, object]:
    """Feed an answer and its pending challenge; return the exchange and the next action."""
    exchange = BsfUbExchange(CONFIG, request, NOW)
    assert exchange.start() == TakeChallenge(pending.nonce, NOW)
    return exchange, exchange.challenge_taken(pending)


# ------------------------------------------------------------------ first request


def test_first_request_asks_the_hss_for_a_vector_for_the_impi() -> None:
    action = BsfUbExchange(CONFIG, first_request(), NOW).start()
    assert action == NeedVector(VectorRequest(IMPI, gba_u_aware=False))


@pytest.mark.parametrize("agent", ["gba-python/0.1 3gpp-gba-uicc", "curl/8.0", ""])
def test_the_user_agent_does_not_change_the_vector_request(agent: str) -> None:
    # TS 33.220 §5.1: "The messages exchanged over the Ub reference point are identical
    # for both procedures"; the UE's token says nothing about GBA_U
    action = BsfUbExchange(CONFIG, first_request(agent), NOW).start()
    assert action == NeedVector(VectorRequest(IMPI))


def test_every_ub_response_names_3gpp_gba_tmpi_in_server() -> None:
    # TS 33.220 §4.5.2: the BSF "shall always include the product token "3gpp-gba-tmpi"
    # in the server response-header field when communicating over Ub"
    challenged = BsfUbExchange(CONFIG, first_request(), NOW)
    challenged.start()
    challenged.vector_received(vector())
    refused = BsfUbExchange(CONFIG, HttpRequest("GET", "/"), NOW)
    unavailable = BsfUbExchange(CONFIG, first_request(), NOW)
    unavailable.start()
    pending = pending_for(vector())
    exchange, stored = answered(pending, answer_request(pending))
    assert isinstance(stored, StoreContext)
    for response in (respond(challenged.challenge_stored()), respond(refused.start()),
                     respond(unavailable.vector_unavailable("no HSS")),
                     respond(exchange.context_stored())):
        assert response.header("Server") == ub.server()
        assert [v for k, v in response.headers if k.lower() == "server"] == [ub.server()]


def test_vector_is_stored_as_a_pending_challenge_until_the_challenge_lifetime() -> None:
    exchange = BsfUbExchange(CONFIG, first_request(), NOW)
    exchange.start()
    answer = vector()
    action = exchange.vector_received(answer)
    assert action == StoreChallenge(pending_for(answer))


def test_challenge_is_a_401_with_the_aka_nonce_auth_int_and_the_home_realm() -> None:
    exchange = BsfUbExchange(CONFIG, first_request(), NOW)
    exchange.start()
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


@pytest.mark.parametrize(("code", "status"), [
    (ExperimentalResultCode.IMPI_UNKNOWN, 403),
    (ResultCode.AUTHENTICATION_REJECTED, 403),
    (ResultCode.UNABLE_TO_DELIVER, 503),
    (ResultCode.UNABLE_TO_COMPLY, 503),
])
def test_hss_result_codes_map_to_403_or_503(code: int, status: int) -> None:
    exchange = BsfUbExchange(CONFIG, first_request(), NOW)
    exchange.start()
    response = respond(exchange.vector_received(int(code)))
    assert response.status == status
    assert response.header("WWW-Authenticate") is None


def test_unreachable_hss_is_503() -> None:
    exchange = BsfUbExchange(CONFIG, first_request(), NOW)
    exchange.start()
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
    assert exchange.challenge_taken(taken) == NeedVector(VectorRequest(IMPI))
    fresh = vector()
    exchange.vector_received(fresh)
    challenge = Challenge.from_header(
        respond(exchange.challenge_stored()).header("WWW-Authenticate") or "")
    assert challenge.stale
    assert challenge.nonce == digest.aka_nonce(fresh.rand, fresh.autn)


def test_auts_asks_the_hss_to_resynchronise_with_the_pending_rand() -> None:
    pending = pending_for(vector())
    auts = bytes(range(14))
    _, action = answered(pending, answer_request(pending, auts=digest.encode_auts(auts)))
    assert action == NeedVector(VectorRequest(IMPI, pending.rand, auts))


def test_challenge_after_a_resync_is_not_marked_stale() -> None:
    pending = pending_for(vector())
    exchange, _ = answered(pending, answer_request(
        pending, auts=digest.encode_auts(bytes(14))))
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
    with pytest.raises(ProtocolError, match="FETCHING_VECTOR"):
        exchange.challenge_taken(None)


def test_a_finished_exchange_takes_nothing_more() -> None:
    exchange = BsfUbExchange(CONFIG, HttpRequest("GET", "/"), NOW)
    exchange.start()
    with pytest.raises(ProtocolError):
        exchange.start()

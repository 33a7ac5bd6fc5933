"""The NAF's Ua Digest machine (gba.protocols.ua_naf; TS 33.222 §5.3, RFC 7616), no sockets.

Each test feeds one request and the outcomes of the actions it asks for (the key, the
nonce count, the resource) and checks the actions and the response.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest

from gba.crypto import digest, kdf
from gba.errors import ProtocolError
from gba.protocols import ua
from gba.protocols.actions import CheckNonceCount, NeedKey, Respond, ServeResource
from gba.protocols.digest_header import AuthenticationInfo, Challenge, Credentials
from gba.protocols.http import HttpRequest, HttpResponse
from gba.protocols.ua_naf import NafDigestConfig, NafDigestExchange, NafDigestState
from gba.store.base import NafKey
from gba_memory import IMPI, NAF_FQDN, NAF_ID, NOW, counter_rng

LIFETIME = timedelta(minutes=5)
CONFIG = NafDigestConfig.for_naf(NAF_FQDN, ua.NonceMint(b"\x05" * 32, LIFETIME))
BTID = kdf.btid(bytes(range(16)), "bsf.home.example.org")
KEY = NafKey(BTID, NAF_ID, kdf.kdf(bytes(32), 1, b"test key"), IMPI, NOW + timedelta(hours=1))


def respond(action: object) -> HttpResponse:
    assert isinstance(action, Respond), f"expected Respond, got {action!r}"
    return action.response


def challenge_of(response: HttpResponse) -> Challenge:
    assert response.status == 401
    return Challenge.from_header(response.header("WWW-Authenticate") or "")


def fresh_challenge() -> Challenge:
    return challenge_of(respond(NafDigestExchange(CONFIG, HttpRequest("GET", "/res"), NOW)
                                .start()))


def authorized(c: Challenge, *, key: bytes = KEY.key, uri: str = "/res", target: str = "/res",
               qop: str | None = "auth", nc: str = "00000001", realm: str | None = None,
               algorithm: str = "MD5", body: bytes = b"", sent_body: bytes | None = None
               ) -> HttpRequest:
    """A request answering *c* with password base64(*key*); *sent_body* differs from the
    body the response was computed over when given."""
    realm = realm or c.realm
    d = digest.DigestInput(algorithm, BTID, realm, ua.password_for(key), uri, c.nonce, qop,
                           nc, "9a3e")
    creds = Credentials(BTID, realm, c.nonce, uri, digest.response(d, "POST", body),
                        algorithm, qop, nc if qop else None, "9a3e" if qop else None)
    return HttpRequest("POST", target, (("Authorization", creds.to_header()),),
                       body if sent_body is None else sent_body)


def up_to_count(request: HttpRequest) -> tuple[NafDigestExchange, object]:
    """Feed *request* and the key; return the exchange and the action after the key."""
    exchange = NafDigestExchange(CONFIG, request, NOW)
    assert exchange.start() == NeedKey(BTID, NAF_ID)
    return exchange, exchange.key_received(KEY)


# ------------------------------------------------------------------ the challenge


def test_request_without_credentials_gets_the_gba_realm_md5_and_both_qops() -> None:
    response = respond(NafDigestExchange(CONFIG, HttpRequest("GET", "/res"), NOW).start())
    c = challenge_of(response)
    assert (c.realm, c.algorithm, c.qop, c.stale) == (
        "3GPP-bootstrapping@naf.example.org", "MD5", ("auth", "auth-int"), False)
    assert CONFIG.nonces.check(c.nonce, NOW) == NOW + LIFETIME
    assert b"TS 33.222" in response.body


def test_nonce_randomness_is_injected() -> None:
    def nonce() -> str:
        request = HttpRequest("GET", "/res")
        exchange = NafDigestExchange(CONFIG, request, NOW, rng=counter_rng(3))
        return challenge_of(respond(exchange.start())).nonce

    assert nonce() == nonce()


# ------------------------------------------------------------------ the accepted path


def test_good_credentials_ask_for_ks_naf_of_the_btid_for_this_naf_id() -> None:
    action = NafDigestExchange(CONFIG, authorized(fresh_challenge()), NOW).start()
    assert action == NeedKey(BTID, NAF_FQDN.encode() + bytes.fromhex("0100000002"))


def test_right_response_asks_to_check_the_nonce_count_until_the_nonce_expires() -> None:
    c = fresh_challenge()
    _, action = up_to_count(authorized(c, nc="0000000a"))
    assert action == CheckNonceCount(c.nonce, 10, NOW + LIFETIME)


def test_fresh_count_serves_the_decoded_path_to_the_keys_holder() -> None:
    exchange, _ = up_to_count(authorized(fresh_challenge(), uri="/r%C3%A9s?x=1",
                                         target="/r%C3%A9s?x=1"))
    assert exchange.nonce_count_checked(True) == ServeResource(KEY, "/rés")


@pytest.mark.parametrize("qop", ["auth", "auth-int"])
def test_resource_is_sent_with_rspauth_over_it(qop: str) -> None:
    request = authorized(fresh_challenge(), qop=qop, body=b"form=1")
    exchange, _ = up_to_count(request)
    exchange.nonce_count_checked(True)
    response = respond(exchange.resource_ready(b"the resource"))
    assert (response.status, response.body) == (200, b"the resource")
    creds = Credentials.from_header(request.header("Authorization") or "")
    d = digest.DigestInput("MD5", BTID, CONFIG.realm, ua.password_for(KEY.key), "/res",
                           creds.nonce, qop, "00000001", "9a3e")
    info = AuthenticationInfo.from_header(response.header("Authentication-Info") or "")
    assert digest.verify(digest.rspauth(d, b"the resource"), info.rspauth)
    assert (info.qop, info.nc, info.cnonce) == (qop, "00000001", "9a3e")
    assert exchange.state is NafDigestState.DONE


# ------------------------------------------------------------------ fresh 401s


@pytest.mark.parametrize("answer", [
    pytest.param(lambda c: authorized(c, realm="3GPP-bootstrapping@other.example.org"),
                 id="foreign-realm"),
    pytest.param(lambda c: authorized(c, algorithm="SHA-256"), id="sha-256"),
    pytest.param(lambda c: authorized(c, qop=None), id="no-qop"),
])
def test_foreign_realm_unoffered_algorithm_or_no_qop_gets_a_fresh_challenge(
        answer: Callable[[Challenge], HttpRequest]) -> None:
    request = answer(fresh_challenge())
    c = challenge_of(respond(NafDigestExchange(CONFIG, request, NOW).start()))
    assert not c.stale


def test_nonce_of_another_naf_gets_a_fresh_challenge_not_marked_stale() -> None:
    foreign = ua.NonceMint(b"\x06" * 32).issue(NOW)
    c = Challenge(CONFIG.realm, foreign, "MD5", ("auth",))
    response = respond(NafDigestExchange(CONFIG, authorized(c), NOW).start())
    assert not challenge_of(response).stale


def test_aged_nonce_gets_a_fresh_challenge_marked_stale() -> None:
    request = authorized(fresh_challenge())
    response = respond(NafDigestExchange(CONFIG, request, NOW + LIFETIME).start())
    assert challenge_of(response).stale


def test_malformed_credentials_naming_stale_are_not_taken_for_a_stale_nonce() -> None:
    """The error's type decides, not its text ('Digest parameter 'stale' repeated')."""
    request = HttpRequest("GET", "/res", (("Authorization", 'Digest stale="a", stale="b"'),))
    response = respond(NafDigestExchange(CONFIG, request, NOW).start())
    assert not challenge_of(response).stale


def test_unknown_btid_gets_a_fresh_challenge_so_the_ue_bootstraps_again() -> None:
    exchange = NafDigestExchange(CONFIG, authorized(fresh_challenge()), NOW)
    exchange.start()
    assert not challenge_of(respond(exchange.key_received(None))).stale


def test_wrong_password_gets_a_fresh_challenge() -> None:
    request = authorized(fresh_challenge(), key=bytes(32))
    _, action = up_to_count(request)
    assert not challenge_of(respond(action)).stale


def test_body_changed_under_auth_int_gets_a_fresh_challenge() -> None:
    request = authorized(fresh_challenge(), qop="auth-int", body=b"amount=1",
                         sent_body=b"amount=1000")
    _, action = up_to_count(request)
    assert respond(action).status == 401


def test_replayed_nonce_count_gets_a_fresh_challenge_marked_stale() -> None:
    exchange, _ = up_to_count(authorized(fresh_challenge()))
    assert challenge_of(respond(exchange.nonce_count_checked(False))).stale


# ------------------------------------------------------------------ outright refusals


@pytest.mark.parametrize(("uri", "target"), [("/res", "/res?account=victim"),
                                             ("/public", "/private")])
def test_credentials_for_another_request_target_are_400(uri: str, target: str) -> None:
    request = authorized(fresh_challenge(), uri=uri, target=target)
    response = respond(NafDigestExchange(CONFIG, request, NOW).start())
    assert response.status == 400
    assert target.encode() not in response.body


def with_nc(request: HttpRequest, nc: str) -> HttpRequest:
    creds = replace(Credentials.from_header(request.header("Authorization") or ""), nc=nc)
    return replace(request, headers=(("Authorization", creds.to_header()),))


def test_nonce_count_that_is_not_hex_is_400() -> None:
    request = with_nc(authorized(fresh_challenge()), "zzzzzzzz")
    assert respond(NafDigestExchange(CONFIG, request, NOW).start()).status == 400


def test_nonce_count_of_the_wrong_length_is_400_once_the_response_is_computed() -> None:
    _, action = up_to_count(with_nc(authorized(fresh_challenge()), "1"))
    assert respond(action).status == 400


def key_refused(result_code: int | None) -> HttpResponse:
    exchange = NafDigestExchange(CONFIG, authorized(fresh_challenge()), NOW)
    exchange.start()
    return respond(exchange.key_unavailable("refused", result_code))


@pytest.mark.parametrize("code", [None, 3002, 3004, 4001])
def test_unreachable_or_busy_bsf_is_503_with_retry_after(code: int | None) -> None:
    # no answer, DIAMETER_UNABLE_TO_DELIVER, DIAMETER_TOO_BUSY, a transient failure:
    # asking again later may work (RFC 9110 §10.2.3, §15.6.4)
    response = key_refused(code)
    assert response.status == 503
    assert response.header("Retry-After") == "5"


def test_retry_after_is_the_configured_delay() -> None:
    exchange = NafDigestExchange(replace(CONFIG, retry_after_s=30),
                                 authorized(fresh_challenge()), NOW)
    exchange.start()
    assert respond(exchange.key_unavailable("Zn timed out")).header("Retry-After") == "30"


def test_naf_not_authorised_at_the_bsf_is_403_service_not_allowed() -> None:
    # TS 29.109 §6.2.2.2: on 5402 "the NAF should indicate to the UE that the service is
    # not allowed"; a 503 would only make the UE retry
    response = key_refused(5402)
    assert response.status == 403
    assert b"service not allowed" in response.body
    assert response.header("Retry-After") is None
    assert response.header("WWW-Authenticate") is None


def test_an_unknown_user_is_403_too() -> None:
    response = key_refused(5401)
    assert response.status == 403
    assert response.header("Retry-After") is None


def test_a_bsf_unable_to_comply_may_be_asked_again_503() -> None:
    # 5012 is what a BSF whose handler or store failed answers: transient for the UE
    response = key_refused(5012)
    assert response.status == 503
    assert response.header("Retry-After") == "5"


@pytest.mark.parametrize("code", [5001, 5004, 5005])
def test_a_broken_key_exchange_is_500(code: int) -> None:
    response = key_refused(code)
    assert response.status == 500
    assert response.header("Retry-After") is None


# ------------------------------------------------------------------ the transport


def test_over_plain_http_the_naf_id_ends_01_00_00_00_02() -> None:
    exchange = NafDigestExchange(CONFIG, authorized(fresh_challenge()), NOW)
    assert exchange.start() == NeedKey(BTID, NAF_FQDN.encode() + bytes.fromhex("0100000002"))


@pytest.mark.parametrize("suite", [0x002F, 0xC02B, 0xC02F])
def test_inside_tls_the_naf_id_ends_01_00_01_and_the_suite(suite: int) -> None:
    # TS 33.222 §5.3 (Digest with certificate-based NAF authentication), TS 33.220 H.3
    exchange = NafDigestExchange(CONFIG, authorized(fresh_challenge()), NOW,
                                 tls_suite=suite)
    naf_id = NAF_FQDN.encode() + bytes([1, 0, 1]) + suite.to_bytes(2, "big")
    assert exchange.start() == NeedKey(BTID, naf_id)


# ------------------------------------------------------------------ the product token


def with_user_agent(request: HttpRequest, agent: str) -> HttpRequest:
    return replace(request, headers=(*request.headers, ("User-Agent", agent)))


@pytest.mark.parametrize("agent", [None, "curl/8.0", "phone/1 3gpp-gba-tmpi"])
def test_without_the_gba_token_the_naf_still_challenges_by_default(agent: str | None
                                                                    ) -> None:
    request = HttpRequest("GET", "/res")
    if agent is not None:
        request = with_user_agent(request, agent)
    c = challenge_of(respond(NafDigestExchange(CONFIG, request, NOW).start()))
    assert c.realm == "3GPP-bootstrapping@naf.example.org"


@pytest.mark.parametrize("agent", [None, "curl/8.0", "phone/1 3gpp-gba-tmpi"])
def test_require_gba_token_refuses_a_request_without_it_with_403(agent: str | None) -> None:
    strict = replace(CONFIG, require_gba_token=True)
    request = authorized(fresh_challenge())
    if agent is not None:
        request = with_user_agent(request, agent)
    response = respond(NafDigestExchange(strict, request, NOW).start())
    assert response.status == 403
    assert response.header("WWW-Authenticate") is None


def test_require_gba_token_lets_a_request_with_it_through() -> None:
    strict = replace(CONFIG, require_gba_token=True)
    request = with_user_agent(authorized(fresh_challenge()), "phone/1 3gpp-gba")
    assert NafDigestExchange(strict, request, NOW).start() == NeedKey(BTID, NAF_ID)


def test_feeding_out_of_turn_is_a_protocol_error() -> None:
    exchange = NafDigestExchange(CONFIG, authorized(fresh_challenge()), NOW)
    exchange.start()
    with pytest.raises(ProtocolError, match="FETCHING_KEY"):
        exchange.resource_ready(b"too early")

"""The BSF's Ub machine with MTC devices (docs/mtc.md §2, §4): the initialisation
request's headers, the challenge bound to them, server data in the nonce, the device's
B-TID and X-MTC-Subkeys, the HSS's MTC refusals as 403s."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gba.crypto import digest
from gba.protocols import mtc, ub_bsf
from gba.protocols.actions import NeedVector, Respond, StoreChallenge, StoreContext
from gba.protocols.http import HttpRequest
from gba.protocols.ub_bsf import BsfUbExchange
from gba.protocols.zh_mtc import MtcResultCode
from gba_memory import CONFIG, NOW

pytestmark = pytest.mark.mtc

from test_ub_bsf import (  # noqa: E402 - the plain Ub helpers
    answer_request,
    first_request,
    past_limits,
    respond,
    vector,
)

REQ = mtc.InitRequest("meters@mtc.example.org", 3, mtc.Capability.SEND)
SETTINGS = mtc.encode_settings(mtc.MtcSettings(REQ.group_id, 3, "001010000000001",
                                               mtc.Capability.SEND, ("001010000000001",),
                                               600))
MTC_CONFIG = replace(CONFIG, mtc_subkeys="both")


def with_mtc(request: HttpRequest, req: mtc.InitRequest = REQ) -> HttpRequest:
    return replace(request, headers=(*request.headers, *mtc.request_headers(req)))


def challenged() -> tuple[StoreChallenge, BsfUbExchange]:
    exchange = BsfUbExchange(MTC_CONFIG, with_mtc(first_request()), NOW,
                             rng=lambda n: bytes(range(n)))
    need = past_limits(exchange, exchange.start())
    assert isinstance(need, NeedVector)
    assert need.mtc == REQ
    stored = exchange.vector_received(vector(), SETTINGS)
    assert isinstance(stored, StoreChallenge)
    return stored, exchange


def test_the_nonce_carries_server_data_and_the_challenge_the_request() -> None:
    stored, _ = challenged()
    extra = digest.parse_aka_nonce(stored.challenge.nonce)[2]
    assert extra == bytes(range(ub_bsf.MTC_NONCE_DATA))  # devices sharing RAND differ here
    assert stored.challenge.mtc == f"{ub_bsf.mtc_binding(REQ)}\n{SETTINGS}"


def test_the_answer_makes_an_mtc_context_and_names_the_subkeys() -> None:
    stored, _ = challenged()
    pending = stored.challenge
    exchange = BsfUbExchange(MTC_CONFIG, with_mtc(answer_request(pending)), NOW)
    exchange.start()
    action = exchange.challenge_taken(pending)
    assert isinstance(action, StoreContext)
    ctx = action.context
    assert ctx.mtc == SETTINGS
    assert ctx.btid == mtc.mtc_btid(pending.rand, pending.impi, CONFIG.server_name)
    assert (ctx.expires - NOW).total_seconds() <= 600  # the settings' lifetime caps it
    response = respond(exchange.context_stored())
    assert response.status == 200
    assert response.header(ub_bsf.MTC_SUBKEYS_HEADER) == "both"


@pytest.mark.parametrize("second", [None, mtc.InitRequest("valves@mtc.example.org", 3,
                                                          mtc.Capability.SEND),
                                    mtc.InitRequest(REQ.group_id, 3, mtc.Capability.RECEIVE)])
def test_an_answer_with_another_request_is_refused(second: mtc.InitRequest | None) -> None:
    stored, _ = challenged()
    request = answer_request(stored.challenge)
    exchange = BsfUbExchange(MTC_CONFIG, with_mtc(request, second) if second else request,
                             NOW)
    exchange.start()
    response = respond(exchange.challenge_taken(stored.challenge))
    assert response.status == 403


@pytest.mark.parametrize("code", list(MtcResultCode))
def test_mtc_refusals_are_403_saying_why(code: MtcResultCode) -> None:
    exchange = BsfUbExchange(MTC_CONFIG, with_mtc(first_request()), NOW)
    past_limits(exchange, exchange.start())
    response = respond(exchange.vector_received(int(code)))
    assert response.status == 403
    assert response.body.decode() == ub_bsf.MTC_REFUSALS[int(code)] + "\n"


def test_malformed_mtc_headers_are_400() -> None:
    request = replace(first_request(), headers=(*first_request().headers,
                                                ("X-MTC-Group", "no-at-sign; key-id=x")))
    exchange = BsfUbExchange(MTC_CONFIG, request, NOW)
    action = exchange.start()
    assert isinstance(action, Respond)
    assert action.response.status == 400


def test_a_vector_without_settings_is_503() -> None:
    exchange = BsfUbExchange(MTC_CONFIG, with_mtc(first_request()), NOW)
    past_limits(exchange, exchange.start())
    assert respond(exchange.vector_received(vector())).status == 503

"""The EAP-AKA authenticator (home BSF) against the EAP-AKA peer (UE), no sockets
(gba.protocols.eap_aka_server, gba.protocols.eap_aka_peer; RFC 4187; docs/roaming.md §1 D).

Vectors come from a Milenage HSS with an SQN counter (tests/gba_memory.MemoryHss on TS 35.208
test set 1) and are answered by a Milenage USIM on the same K and OPc.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gba.crypto import aka, kdf
from gba.errors import ProtocolError
from gba.protocols import eap, eap_aka
from gba.protocols.actions import NeedVector
from gba.protocols.diameter import ExperimentalResultCode
from gba.protocols.eap_aka import At, Subtype
from gba.protocols.eap_aka_peer import (
    EapAkaPeer,
    PeerAction,
    PeerAuthenticated,
    PeerFailed,
    PeerState,
    SendResponse,
)
from gba.protocols.eap_aka_server import (
    EapAkaFailure,
    EapAkaServer,
    EapAkaSuccess,
    FailureCause,
    SendEapRequest,
    ServerAction,
    ServerState,
    impi_of_permanent_identity,
)
from gba.protocols.zh import VectorAnswer, VectorRequest
from gba_memory import OPC, MemoryHss, usim

pytestmark = pytest.mark.roaming

IMSI = "001010123456789"
REALM = "mnc001.mcc001.3gppnetwork.org"
NAI = eap_aka.permanent_identity(IMSI, REALM)
IMPI = f"{IMSI}@ims.{REALM}"
RESP = eap.Code.RESPONSE

Tamper = Callable[[bytes], bytes]


def _same(raw: bytes) -> bytes:
    return raw


@dataclass
class Run:
    """One run: every server action, the vectors the HSS gave, both ends' last word."""

    server: EapAkaServer
    peer: EapAkaPeer
    actions: list[ServerAction] = field(default_factory=list)
    vectors: list[VectorAnswer] = field(default_factory=list)
    peer_actions: list[PeerAction] = field(default_factory=list)

    @property
    def outcome(self) -> ServerAction:
        return self.actions[-1]

    @property
    def peer_outcome(self) -> PeerAction:
        return self.peer_actions[-1]

    def need_vectors(self) -> list[VectorRequest]:
        return [a.request for a in self.actions if isinstance(a, NeedVector)]


def run(hss: Callable[[VectorRequest], VectorAnswer | int] | None = None,
        sim: aka.Usim | None = None, identity: str = NAI, to_peer: Tamper = _same,
        to_server: Tamper = _same) -> Run:
    """Drive both machines to the end; *to_peer* / *to_server* may alter packets in
    flight (the AAA chain of case D)."""
    hss = hss or MemoryHss(impi=IMPI)
    r = Run(EapAkaServer(), EapAkaPeer(sim or usim(), identity))
    first = r.peer.request_received(eap.identity_request(0).encode())
    r.peer_actions.append(first)
    assert isinstance(first, SendResponse)
    action = r.server.start(first.eap)
    while True:
        r.actions.append(action)
        if isinstance(action, NeedVector):
            answer = hss(action.request)
            if isinstance(answer, VectorAnswer):
                r.vectors.append(answer)
            action = r.server.vector_received(answer)
            continue
        peer_action = r.peer.request_received(to_peer(action.eap))
        r.peer_actions.append(peer_action)
        if not isinstance(action, SendEapRequest) or not isinstance(peer_action,
                                                                   SendResponse):
            return r
        action = r.server.response_received(to_server(peer_action.eap))


def _keys(vector: VectorAnswer, identity: str = NAI) -> bytes:
    return eap_aka.derive_keys(identity.encode(), vector.ik, vector.ck).k_aut


def _flip_mac(raw: bytes) -> bytes:
    at = eap_aka.mac_offset(raw)
    return raw[:at] + bytes((raw[at] ^ 0x01,)) + raw[at + 1:]


# --- whole runs ------------------------------------------------------------------------


def test_success_and_both_ends_agree_on_ks() -> None:
    r = run()
    assert isinstance(r.outcome, EapAkaSuccess)
    assert isinstance(r.peer_outcome, PeerAuthenticated)
    vector = r.vectors[-1]
    assert r.outcome.ks == r.peer_outcome.ks == kdf.ks(vector.ck, vector.ik)
    assert r.outcome.rand == r.peer_outcome.rand == vector.rand
    assert (r.outcome.impi, r.outcome.identity) == (IMPI, NAI)
    assert eap.parse(r.outcome.eap).code == eap.Code.SUCCESS


def test_normal_run_asks_exactly_one_vector() -> None:
    r = run()
    assert r.need_vectors() == [VectorRequest(IMPI)]


def test_challenge_identifier_follows_the_identity_response() -> None:
    r = run()
    challenge = next(a for a in r.actions if isinstance(a, SendEapRequest))
    assert eap.parse(challenge.eap).identifier == 1
    assert isinstance(r.outcome, EapAkaSuccess)
    assert eap.parse(r.outcome.eap).identifier == 1


def test_stale_sqn_costs_exactly_one_more_vector_then_succeeds() -> None:
    r = run(sim=usim(seq=50))
    first, second = r.need_vectors()
    assert first == VectorRequest(IMPI)
    assert second.impi == IMPI
    assert second.resync_rand == r.vectors[0].rand
    assert second.auts is not None
    assert len(second.auts) == 14
    assert isinstance(r.outcome, EapAkaSuccess)
    assert isinstance(r.peer_outcome, PeerAuthenticated)
    assert r.outcome.ks == r.peer_outcome.ks == kdf.ks(r.vectors[1].ck, r.vectors[1].ik)


def test_second_synchronisation_failure_fails_the_run() -> None:
    r = run(hss=MemoryHss(impi=IMPI, resync=False), sim=usim(seq=50))
    assert len(r.need_vectors()) == 2
    assert isinstance(r.outcome, EapAkaFailure)
    assert r.outcome.cause == FailureCause.RESYNC_REPEATED
    assert isinstance(r.peer_outcome, PeerFailed)


def test_wrong_res_with_a_valid_mac_fails() -> None:
    hss = MemoryHss(impi=IMPI)

    def wrong_res(raw: bytes) -> bytes:
        packet = eap_aka.parse(raw)
        res = bytes(b ^ 0xFF for b in packet.require(At.RES))
        forged = eap_aka.AkaPacket(RESP, packet.identifier, Subtype.CHALLENGE,
                                   (eap_aka.at_res(res), eap_aka.at_mac()))
        return eap_aka.sign(forged, _keys(vector_of[0]))

    vector_of: list[VectorAnswer] = []

    def recording(request: VectorRequest) -> VectorAnswer | int:
        answer = hss(request)
        assert isinstance(answer, VectorAnswer)
        vector_of.append(answer)
        return answer

    r = run(hss=recording, to_server=wrong_res)
    assert isinstance(r.outcome, EapAkaFailure)
    assert r.outcome.cause == FailureCause.WRONG_RES
    assert eap.parse(r.outcome.eap).code == eap.Code.FAILURE
    assert isinstance(r.peer_outcome, PeerFailed)


def test_tampered_mac_of_the_response_fails() -> None:
    r = run(to_server=_flip_mac)
    assert isinstance(r.outcome, EapAkaFailure)
    assert r.outcome.cause == FailureCause.BAD_MAC
    assert isinstance(r.peer_outcome, PeerFailed)


def test_tampered_mac_of_the_challenge_gets_a_client_error() -> None:
    r = run(to_peer=lambda raw: _flip_mac(raw) if eap.parse(raw).type else raw)
    answer = r.peer_actions[-2]
    assert isinstance(answer, SendResponse)
    assert eap_aka.parse(answer.eap).subtype == Subtype.CLIENT_ERROR
    assert r.peer.refusal is not None
    assert "AT_MAC" in r.peer.refusal
    assert isinstance(r.outcome, EapAkaFailure)
    assert r.outcome.cause == FailureCause.PEER_ERROR
    assert isinstance(r.peer_outcome, PeerFailed)


def test_tampered_autn_is_rejected_by_the_usim() -> None:
    def flip_autn(raw: bytes) -> bytes:
        packet = eap.parse(raw)
        if packet.type != eap.TYPE_AKA:
            return raw
        at = raw.index(bytes((At.AUTN, 5))) + 4
        return raw[:at] + bytes((raw[at] ^ 0x80,)) + raw[at + 1:]

    r = run(to_peer=flip_autn)
    assert isinstance(r.outcome, EapAkaFailure)
    assert r.outcome.cause == FailureCause.PEER_REJECTED
    assert isinstance(r.peer_outcome, PeerFailed)


def test_usim_of_another_subscriber_rejects_the_network() -> None:
    r = run(sim=aka.Usim(bytes(16), OPC))
    assert isinstance(r.outcome, EapAkaFailure)
    assert r.outcome.cause == FailureCause.PEER_REJECTED
    assert r.need_vectors() == [VectorRequest(IMPI)]


def test_hss_refusal_fails_without_a_challenge() -> None:
    r = run(hss=lambda _: ExperimentalResultCode.IMPI_UNKNOWN)
    assert isinstance(r.outcome, EapAkaFailure)
    assert r.outcome.cause == FailureCause.HSS_REFUSED
    assert not any(isinstance(a, SendEapRequest) for a in r.actions)
    assert isinstance(r.peer_outcome, PeerFailed)


def test_unknown_identity_fails_without_asking_the_hss() -> None:
    r = run(identity="someone@example.org")
    assert r.need_vectors() == []
    assert isinstance(r.outcome, EapAkaFailure)
    assert r.outcome.cause == FailureCause.UNKNOWN_IDENTITY
    assert eap.parse(r.outcome.eap).identifier == 0


def test_identity_claiming_another_realm_is_unknown() -> None:
    assert impi_of_permanent_identity(f"0{IMSI}@mnc002.mcc001.3gppnetwork.org") is None
    assert impi_of_permanent_identity(NAI) == IMPI
    assert impi_of_permanent_identity("0310150123456789@mnc150.mcc310.3gppnetwork.org",
                                      {"310": 3}) == \
        "310150123456789@ims.mnc150.mcc310.3gppnetwork.org"


# --- the server alone ------------------------------------------------------------------


def _challenged() -> tuple[EapAkaServer, VectorAnswer, bytes]:
    server = EapAkaServer()
    action = server.start(eap.identity_response(0, NAI).encode())
    assert isinstance(action, NeedVector)
    vector = MemoryHss(impi=IMPI)(action.request)
    assert isinstance(vector, VectorAnswer)
    challenge = server.vector_received(vector)
    assert isinstance(challenge, SendEapRequest)
    return server, vector, challenge.eap


def test_vector_unavailable_fails() -> None:
    server = EapAkaServer()
    server.start(eap.identity_response(0, NAI).encode())
    outcome = server.vector_unavailable("timeout")
    assert isinstance(outcome, EapAkaFailure)
    assert outcome.cause == FailureCause.HSS_UNAVAILABLE


@pytest.mark.parametrize(("response", "cause"), [
    (eap_aka.AkaPacket(RESP, 1, Subtype.AUTHENTICATION_REJECT).encode(),
     FailureCause.PEER_REJECTED),
    (eap_aka.AkaPacket(RESP, 1, Subtype.IDENTITY).encode(), FailureCause.UNEXPECTED),
    (eap_aka.AkaPacket(RESP, 2, Subtype.AUTHENTICATION_REJECT).encode(),
     FailureCause.UNEXPECTED),
    (eap.identity_response(1, NAI).encode(), FailureCause.UNEXPECTED),
    (eap.EapPacket(RESP, 1, eap.TYPE_NAK, b"\x04").encode(), FailureCause.UNEXPECTED),
    (eap_aka.AkaPacket(RESP, 1, Subtype.CHALLENGE).encode(), FailureCause.MALFORMED),
    (eap_aka.AkaPacket(RESP, 1, Subtype.SYNCHRONIZATION_FAILURE).encode(),
     FailureCause.MALFORMED),
    (b"\x02\x01\x00", FailureCause.MALFORMED),
])
def test_unusable_answers_to_the_challenge_fail(response: bytes,
                                                cause: FailureCause) -> None:
    server, _, _ = _challenged()
    outcome = server.response_received(response)
    assert isinstance(outcome, EapAkaFailure)
    assert outcome.cause == cause
    assert eap.parse(outcome.eap) == eap.failure(1)


def test_checkcode_without_an_identity_round_fails() -> None:
    server, vector, _ = _challenged()
    result = usim().authenticate(vector.rand, vector.autn)
    assert isinstance(result, aka.AkaSuccess)
    response = eap_aka.sign(eap_aka.AkaPacket(RESP, 1, Subtype.CHALLENGE, (
        eap_aka.at_res(result.res), eap_aka.at_checkcode(bytes(20)), eap_aka.at_mac())),
        _keys(vector))
    outcome = server.response_received(response)
    assert isinstance(outcome, EapAkaFailure)
    assert outcome.cause == FailureCause.UNEXPECTED


@given(st.binary(max_size=200))
def test_garbage_answers_always_end_in_failure(raw: bytes) -> None:
    server, _, _ = _challenged()
    outcome = server.response_received(raw)
    assert isinstance(outcome, EapAkaFailure)
    assert server.state == ServerState.DONE


def test_success_repr_shows_no_key_material() -> None:
    r = run()
    vector = r.vectors[-1]
    keys = eap_aka.derive_keys(NAI.encode(), vector.ik, vector.ck)
    secrets = [kdf.ks(vector.ck, vector.ik), keys.msk, keys.emsk, keys.k_aut, keys.k_encr,
               vector.ck, vector.ik]
    assert isinstance(r.outcome, EapAkaSuccess)
    text = repr(r.outcome) + repr(r.peer_outcome) + "".join(map(repr, r.actions))
    for secret in secrets:
        assert secret.hex() not in text
        assert repr(secret) not in text
    values = [getattr(r.outcome, f) for f in r.outcome.__dataclass_fields__]
    assert keys.msk not in values
    assert keys.emsk not in values


def test_feeders_out_of_turn_are_protocol_errors() -> None:
    server = EapAkaServer()
    with pytest.raises(ProtocolError):
        server.response_received(b"")
    server.start(eap.identity_response(0, "nobody").encode())
    with pytest.raises(ProtocolError):
        server.vector_received(5001)


# --- the peer alone --------------------------------------------------------------------


def _signed_challenge(vector: VectorAnswer, identifier: int, *extra: eap_aka.Attribute,
                      identity: str = NAI) -> bytes:
    packet = eap_aka.AkaPacket(eap.Code.REQUEST, identifier, Subtype.CHALLENGE, (
        eap_aka.at_rand(vector.rand), eap_aka.at_autn(vector.autn), *extra,
        eap_aka.at_mac()))
    return eap_aka.sign(packet, _keys(vector, identity))


def test_aka_identity_round_is_answered_and_covered_by_checkcode() -> None:
    peer = EapAkaPeer(usim(), NAI)
    request = eap_aka.AkaPacket(eap.Code.REQUEST, 7, Subtype.IDENTITY,
                                (eap_aka.at_flag(At.PERMANENT_ID_REQ),)).encode()
    answer = peer.request_received(request)
    assert isinstance(answer, SendResponse)
    assert eap_aka.parse(answer.eap).payload(At.IDENTITY) == NAI.encode()
    vector = MemoryHss(impi=IMPI)(VectorRequest(IMPI))
    assert isinstance(vector, VectorAnswer)
    expected = eap_aka.checkcode([request, answer.eap])
    reply = peer.request_received(_signed_challenge(vector, 8,
                                                    eap_aka.at_checkcode(expected)))
    assert isinstance(reply, SendResponse)
    response = eap_aka.parse(reply.eap)
    assert response.subtype == Subtype.CHALLENGE
    assert response.payload(At.CHECKCODE) == expected
    assert response.payload(At.RES) == vector.xres
    assert eap_aka.verify_mac(_keys(vector), reply.eap)


def test_checkcode_that_does_not_match_gets_a_client_error() -> None:
    peer = EapAkaPeer(usim(), NAI)
    vector = MemoryHss(impi=IMPI)(VectorRequest(IMPI))
    assert isinstance(vector, VectorAnswer)
    reply = peer.request_received(_signed_challenge(vector, 1,
                                                    eap_aka.at_checkcode(bytes(20))))
    assert isinstance(reply, SendResponse)
    assert eap_aka.parse(reply.eap).subtype == Subtype.CLIENT_ERROR


def test_repeated_challenge_gets_the_same_answer_without_a_second_usim_run() -> None:
    peer = EapAkaPeer(usim(), NAI)
    vector = MemoryHss(impi=IMPI)(VectorRequest(IMPI))
    assert isinstance(vector, VectorAnswer)
    challenge = _signed_challenge(vector, 3)
    first = peer.request_received(challenge)
    again = peer.request_received(challenge)
    assert first == again
    assert isinstance(first, SendResponse)
    assert eap_aka.parse(first.eap).subtype == Subtype.CHALLENGE


def test_success_before_a_challenge_yields_no_keys() -> None:
    peer = EapAkaPeer(usim(), NAI)
    outcome = peer.request_received(eap.success(0).encode())
    assert isinstance(outcome, PeerFailed)
    assert peer.state == PeerState.DONE


def test_failure_notification_makes_success_unacceptable() -> None:
    peer = EapAkaPeer(usim(), NAI)
    vector = MemoryHss(impi=IMPI)(VectorRequest(IMPI))
    assert isinstance(vector, VectorAnswer)
    assert isinstance(peer.request_received(_signed_challenge(vector, 1)), SendResponse)
    note = eap_aka.AkaPacket(eap.Code.REQUEST, 2, Subtype.NOTIFICATION,
                             (eap_aka.at_code(At.NOTIFICATION, 0), eap_aka.at_mac()))
    reply = peer.request_received(eap_aka.sign(note, _keys(vector)))
    assert isinstance(reply, SendResponse)
    assert eap_aka.verify_mac(_keys(vector), reply.eap)
    assert isinstance(peer.request_received(eap.success(2).encode()), PeerFailed)


def test_other_methods_get_a_nak_naming_eap_aka() -> None:
    peer = EapAkaPeer(usim(), NAI)
    reply = peer.request_received(eap.EapPacket(eap.Code.REQUEST, 4, 4, b"md5").encode())
    assert isinstance(reply, SendResponse)
    assert eap.parse(reply.eap) == eap.EapPacket(RESP, 4, eap.TYPE_NAK, b"\x17")


def test_request_after_the_end_is_a_protocol_error() -> None:
    peer = EapAkaPeer(usim(), NAI)
    peer.request_received(eap.failure(0).encode())
    with pytest.raises(ProtocolError):
        peer.request_received(eap.identity_request(1).encode())


@given(st.binary(max_size=200))
def test_peer_answers_garbage_without_raising(raw: bytes) -> None:
    peer = EapAkaPeer(usim(), NAI)
    outcome = peer.request_received(raw)
    assert isinstance(outcome, SendResponse | PeerFailed)

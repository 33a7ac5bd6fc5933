"""Captured Diameter messages (tests/vectors/diameter/): ours and freeDiameter's.

Every vector is decoded and compared with the fields stored next to it, rebuilt from
those fields alone and compared bit for bit, and round-tripped through the codec. Ours
must also still come out of the builders byte for byte (regenerate ``ours.json`` with
``make_ours.py`` after a deliberate change). freeDiameter's must be understood by our
peer machine and our Zn/Zh parsers.
"""

from __future__ import annotations

import importlib.util
from ipaddress import ip_address
from types import ModuleType
from typing import Any

import pytest

from diameter_json import describe, rebuild
from gba.protocols import zh, zn
from gba.protocols.diameter import (
    APP_RELAY,
    Message,
    PeerClosed,
    PeerConnection,
    PeerIdentity,
    PeerOpen,
    Role,
)
from gba.protocols.diameter import capabilities as caps
from gba.protocols.diameter import dictionary as d
from vectors import VECTORS, diameter_messages

ALL = diameter_messages()
OURS = [v for v in ALL if v["file"] == "ours.json"]
FREEDIAMETER = {v["name"]: v for v in ALL if v["file"] == "freediameter.json"}
ROUTE_RECORD = 282


def _id(vector: dict[str, Any]) -> str:
    return f"{vector['file'].removesuffix('.json')}:{vector['name']}"


def _wire(vector: dict[str, Any]) -> bytes:
    return bytes.fromhex(vector["hex"])


def _fd(name: str) -> Message:
    return Message.decode(_wire(FREEDIAMETER[name]))


def _make_ours() -> ModuleType:
    path = VECTORS / "diameter" / "make_ours.py"
    spec = importlib.util.spec_from_file_location("make_ours", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_both_sources_are_present() -> None:
    assert {v["file"] for v in ALL} == {"ours.json", "freediameter.json"}
    assert {"cer", "cea", "dwr", "dwa", "dpr", "dpa", "zn-bir-relayed"} <= set(FREEDIAMETER)


@pytest.mark.parametrize("vector", ALL, ids=_id)
def test_vector_names_its_source(vector: dict[str, Any]) -> None:
    assert vector["source"].startswith(("gba ", "freeDiameter 1.2.1 ("))


@pytest.mark.parametrize("vector", ALL, ids=_id)
def test_vector_decodes_to_its_fields(vector: dict[str, Any]) -> None:
    decoded = describe(Message.decode(_wire(vector)))
    assert decoded == {"header": vector["header"], "avps": vector["avps"]}


@pytest.mark.parametrize("vector", ALL, ids=_id)
def test_vector_is_rebuilt_bit_exactly_from_its_fields(vector: dict[str, Any]) -> None:
    assert rebuild(vector).encode() == _wire(vector)


@pytest.mark.parametrize("vector", ALL, ids=_id)
def test_vector_round_trips_through_the_codec(vector: dict[str, Any]) -> None:
    assert Message.decode(_wire(vector)).encode() == _wire(vector)


def test_our_builders_still_produce_our_vectors() -> None:
    built = {name: message.encode().hex() for name, _, message in _make_ours().messages()}
    assert built == {v["name"]: v["hex"] for v in OURS}


def test_our_zh_vector_carries_ts35208_set_1() -> None:
    maa = Message.decode(_wire(next(v for v in OURS if v["name"] == "zh-maa")))
    vector = zh.parse_maa(maa)
    assert vector.rand.hex() == "23553cbe9637a89d218ae64dae47bf35"
    assert (vector.xres.hex(), vector.ck.hex(), vector.ik.hex()) == (
        "a54211d5e3ba50bf", "b40ba9a3c58b2a05bbf0d987b21bf8cb",
        "f769bcd751044604127672711c6d3441")


def test_freediameter_announces_only_the_relay_application() -> None:
    for name in ("cer", "cea"):
        assert caps.announced_applications(_fd(name)) == {(0, APP_RELAY)}


def test_freediameter_relayed_bir_carries_the_senders_route_record() -> None:
    bir = _fd("zn-bir-relayed")
    assert [a.as_str() for a in bir.find_all(ROUTE_RECORD)] == ["naf.visited.test"]
    assert zn.parse_bir(bir).origin_host == "naf.visited.test"


def test_relayed_answers_parse_despite_their_route_record() -> None:
    bia, maa = _fd("zn-bia-relayed"), _fd("zh-maa-relayed")
    assert bia.find(ROUTE_RECORD) is not None
    assert zn.parse_bia(bia).me_key == bytes(range(32))
    assert zh.parse_mar(_fd("zh-mar-relayed")).impi == zh.parse_maa(maa).impi


def test_freediameter_error_answer_is_a_protocol_error() -> None:
    error = _fd("zn-answer-3002")
    assert error.is_error
    assert error.result_code == d.ResultCode.UNABLE_TO_DELIVER


def test_our_responder_talks_to_freediameter() -> None:
    """CER -> CEA 2001 and Open; DWR -> DWA with its ids; DPR -> DPA and Closed."""
    local = PeerIdentity("bsf.home.test", "home.test", (ip_address("127.0.0.1"),))
    conn = PeerConnection(local, Role.RESPONDER, [zn.APPLICATION])
    conn.connection_made(0.0)
    replies = []
    events: list[object] = []
    for name in ("cer", "dwr", "dpr"):
        conn.receive_data(_wire(FREEDIAMETER[name]), 1.0)
        replies.append(Message.decode(conn.data_to_send()))
        events += conn.pop_events()
    cea, dwa, dpa = replies
    assert cea.result_code == dwa.result_code == dpa.result_code == d.ResultCode.SUCCESS
    for request, reply in zip(("cer", "dwr", "dpr"), replies, strict=True):
        sent = _fd(request)
        assert (reply.command_code, reply.hop_by_hop, reply.end_to_end) == (
            sent.command_code, sent.hop_by_hop, sent.end_to_end)
    assert [type(e) for e in events] == [PeerOpen, PeerClosed]
    opened = events[0]
    assert isinstance(opened, PeerOpen)
    assert opened.peer_identity == "relay.fd.test"

"""Subscriber provisioning input (gba.nf.provisioning): what an engineer types, checked."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gba.errors import CodecError, InvalidInput
from gba.nf.provisioning import subscriber_from_fields, subscriber_view
from gba.store.base import Subscriber, SubscriberStore
from gba.store.factory import open_subscriber_store
from gba.store.hss import SqnNotForward
from vectors import milenage_sets, ts35208_set

IMPI = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
K, OPC = (value.hex() for value in ts35208_set(1))  # TS 35.208 test set 1


@pytest.mark.parametrize("vector", milenage_sets(), ids=lambda v: f"set{v['set']}")
def test_op_is_turned_into_the_published_opc(vector: dict[str, Any]) -> None:
    sub = subscriber_from_fields(IMPI, vector["k"], op=vector["op"])
    assert sub.opc == bytes.fromhex(vector["opc"])


def test_opc_is_stored_as_given() -> None:
    sub = subscriber_from_fields(IMPI, K, opc=OPC)
    assert (sub.impi, sub.k, sub.opc) == (IMPI, bytes.fromhex(K), bytes.fromhex(OPC))


def test_defaults_are_sqn_zero_amf_zero_no_imsi_no_guss() -> None:
    sub = subscriber_from_fields(IMPI, K, opc=OPC)
    assert (sub.sqn, sub.amf, sub.imsi, sub.guss) == (0, b"\x00\x00", None, None)


def test_sqn_and_amf_are_read_as_hex() -> None:
    sub = subscriber_from_fields(IMPI, K, opc=OPC, sqn="000000000041", amf="8000")
    assert (sub.sqn, sub.amf) == (0x41, b"\x80\x00")


def test_both_op_and_opc_are_refused() -> None:
    with pytest.raises(InvalidInput, match="exactly one of OPc and OP"):
        subscriber_from_fields(IMPI, K, opc=OPC, op=OPC)


def test_neither_op_nor_opc_is_refused() -> None:
    with pytest.raises(InvalidInput, match="exactly one of OPc and OP"):
        subscriber_from_fields(IMPI, K)


@pytest.mark.parametrize(("fields", "named"), [
    ({"k": "zz" * 16, "opc": OPC}, "K"),
    ({"k": K[:-2], "opc": OPC}, "K"),
    ({"k": K, "opc": "g" * 32}, "OPc"),
    ({"k": K, "opc": OPC + "00"}, "OPc"),
    ({"k": K, "op": "xyz"}, "OP"),
    ({"k": K, "opc": OPC, "sqn": "0000000000"}, "SQN"),
    ({"k": K, "opc": OPC, "amf": "80"}, "AMF"),
    ({"k": K, "opc": OPC, "amf": "zzzz"}, "AMF"),
])
def test_bad_hex_is_refused_naming_the_field(fields: dict[str, str], named: str) -> None:
    with pytest.raises(InvalidInput, match=rf"^{named}:"):
        subscriber_from_fields(IMPI, **fields)


@pytest.mark.parametrize("imsi", ["1234", "1234567890123456", "00101000000000a", "", "+00101"])
def test_bad_imsi_is_refused(imsi: str) -> None:
    with pytest.raises(InvalidInput, match="IMSI"):
        subscriber_from_fields(IMPI, K, opc=OPC, imsi=imsi)


@pytest.mark.parametrize("imsi", ["00101", "001010000000001"])
def test_imsi_of_5_to_15_digits_is_kept(imsi: str) -> None:
    assert subscriber_from_fields(IMPI, K, opc=OPC, imsi=imsi).imsi == imsi


@pytest.mark.parametrize("impi", ["", "user @realm", "user\t@realm", " user@realm"])
def test_empty_impi_or_impi_with_white_space_is_refused(impi: str) -> None:
    with pytest.raises(InvalidInput, match="IMPI"):
        subscriber_from_fields(impi, K, opc=OPC)


@pytest.mark.parametrize("guss", ["<guss", "<notguss/>",
                                  "<guss><bsfInfo><lifeTime>x</lifeTime></bsfInfo></guss>"])
def test_malformed_guss_is_refused(guss: str) -> None:
    with pytest.raises(CodecError):
        subscriber_from_fields(IMPI, K, opc=OPC, guss=guss)


def test_well_formed_guss_is_stored_verbatim() -> None:
    guss = '<guss xmlns="uri:3gpp-gaa"><bsfInfo><uiccType>GBA_U</uiccType></bsfInfo></guss>'
    assert subscriber_from_fields(IMPI, K, opc=OPC, guss=guss).guss == guss


def test_view_splits_sqn_into_seq_and_ind() -> None:
    view = subscriber_view(Subscriber(IMPI, bytes(16), bytes(16), sqn=(7 << 5) | 3,
                                      amf=b"\x80\x00", imsi="001010000000001"))
    assert view == {"impi": IMPI, "imsi": "001010000000001", "sqn": "0000000000e3",
                    "seq": 7, "ind": 3, "amf": "8000", "guss": None}


@settings(max_examples=60, deadline=None)
@given(k=st.binary(min_size=16, max_size=16), opc=st.binary(min_size=16, max_size=16))
def test_view_never_contains_k_or_opc(k: bytes, opc: bytes) -> None:
    text = json.dumps(subscriber_view(Subscriber(IMPI, k, opc, guss="<guss/>"))).lower()
    assert k.hex() not in text
    assert opc.hex() not in text
    assert not {"k", "opc", "op"} & set(subscriber_view(Subscriber(IMPI, k, opc)))


def test_subscriber_repr_hides_k_and_opc() -> None:
    sub = subscriber_from_fields(IMPI, K, opc=OPC)
    assert K not in repr(sub).lower()
    assert OPC not in repr(sub).lower()


# ------------------------------------------------------------ into the store: SQN forward only


@pytest.fixture
async def store() -> AsyncIterator[SubscriberStore]:
    s = open_subscriber_store("memory:")
    yield s
    await s.close()


async def test_provisioning_a_new_subscriber_stores_it_as_given(store: SubscriberStore) -> None:
    sub = subscriber_from_fields(IMPI, K, opc=OPC, sqn="000000000041")
    assert await store.provision_subscriber(sub) == sub
    assert await store.get_subscriber(IMPI) == sub


async def test_provisioning_below_the_stored_sqn_raises_and_keeps_the_subscriber(
        store: SubscriberStore) -> None:
    first = subscriber_from_fields(IMPI, K, opc=OPC, sqn="000000000041")
    await store.provision_subscriber(first)
    with pytest.raises(SqnNotForward, match=r"Annex C\.3") as caught:
        await store.provision_subscriber(replace(first, k=bytes(16), sqn=0x40))
    assert (caught.value.stored, caught.value.asked) == (0x41, 0x40)
    assert await store.get_subscriber(IMPI) == first


async def test_provisioning_with_keep_sqn_keeps_a_higher_stored_sqn(
        store: SubscriberStore) -> None:
    await store.provision_subscriber(subscriber_from_fields(IMPI, K, opc=OPC, sqn="000000000041"))
    stored = await store.provision_subscriber(
        subscriber_from_fields(IMPI, OPC, opc=K), keep_sqn=True)
    assert (stored.sqn, stored.k) == (0x41, bytes.fromhex(OPC))
    assert await store.get_subscriber(IMPI) == stored


async def test_provisioning_at_or_above_the_stored_sqn_replaces_it(
        store: SubscriberStore) -> None:
    await store.provision_subscriber(subscriber_from_fields(IMPI, K, opc=OPC, sqn="000000000041"))
    for sqn in (0x41, 0x42):
        await store.provision_subscriber(Subscriber(IMPI, bytes.fromhex(K), bytes.fromhex(OPC),
                                                    sqn=sqn))
        assert (await store.get_subscriber(IMPI)).sqn == sqn


def test_the_sqn_refusal_carries_no_key_material() -> None:
    text = str(SqnNotForward(IMPI, 0x41, 0x40))
    assert K not in text.lower()
    assert OPC not in text.lower()

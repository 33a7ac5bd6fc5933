"""GBA Push keys (gba.protocols.push_keys; TS 33.223): the BSF's from its vector and the
UE's from the GPI's RAND and AUTN agree; a bad or replayed AUTN gives the UE nothing."""

from __future__ import annotations

import pytest

from gba.errors import MacFailure
from gba.protocols import push_keys
from gba.protocols.zh import VectorAnswer, VectorRequest
from gba_memory import IMPI, MemoryHss, usim

pytestmark = pytest.mark.push

NAF_ID = b"push.naf.example\x01\x00\x00\x00\x02"


def vector(hss: MemoryHss) -> VectorAnswer:
    answer = hss(VectorRequest(IMPI))
    assert isinstance(answer, VectorAnswer)
    return answer


@pytest.mark.parametrize("gba_u", [False, True])
def test_ue_and_bsf_derive_the_same_keys(gba_u: bool) -> None:
    v = vector(MemoryHss())
    bsf = push_keys.bsf_push_keys(v, NAF_ID, gba_u)
    ue = push_keys.ue_push_keys(usim(), IMPI, v.rand, v.autn, NAF_ID, gba_u)
    assert ue == bsf
    assert (ue.ks_int_naf is not None) is gba_u


def test_another_naf_id_gives_another_key() -> None:
    v = vector(MemoryHss())
    ue = push_keys.ue_push_keys(usim(), IMPI, v.rand, v.autn, b"other\x01\x00\x00\x00\x02")
    assert ue.ks_naf != push_keys.bsf_push_keys(v, NAF_ID).ks_naf


def test_bad_autn_is_refused() -> None:
    v = vector(MemoryHss())
    bad = v.autn[:-1] + bytes([v.autn[-1] ^ 1])
    with pytest.raises(MacFailure):
        push_keys.ue_push_keys(usim(), IMPI, v.rand, bad, NAF_ID)


def test_replayed_gpi_is_refused() -> None:
    v = vector(MemoryHss())
    card = usim()
    push_keys.ue_push_keys(card, IMPI, v.rand, v.autn, NAF_ID)
    with pytest.raises(push_keys.StaleGpi):
        push_keys.ue_push_keys(card, IMPI, v.rand, v.autn, NAF_ID)


def test_keys_are_not_in_repr() -> None:
    v = vector(MemoryHss())
    keys = push_keys.bsf_push_keys(v, NAF_ID, True)
    assert keys.ks_naf.hex() not in repr(keys)

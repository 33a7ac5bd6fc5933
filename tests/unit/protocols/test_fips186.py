"""The FIPS 186-2 PRF of EAP-SIM/AKA (gba.crypto.fips186; RFC 4187 §7, RFC 4186 Appendix B).

The SHA-1 compression function is checked against hashlib on messages that fit one block
once padded (FIPS 180-2 §5.1.1), and the PRF against RFC 4186 Appendix A and the FIPS 186-2
example RFC 4186 points to (tests/vectors/rfc4186/eap_sim.json).
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gba.crypto import fips186
from gba.errors import InvalidInput
from vectors import rfc4186_vectors

pytestmark = pytest.mark.roaming


def _sha1(data: bytes) -> bytes:
    """The reference: hashlib's SHA-1 (FIPS 180-2)."""
    return hashlib.sha1(data, usedforsecurity=False).digest()


def _pad_one_block(message: bytes) -> bytes:
    """FIPS 180-2 §5.1.1 padding of a message of at most 55 octets."""
    return message + b"\x80" + bytes(55 - len(message)) + (8 * len(message)).to_bytes(8, "big")


def _digest(state: fips186.State) -> bytes:
    return b"".join(h.to_bytes(4, "big") for h in state)


@pytest.mark.parametrize("message", [b"", b"abc", b"a" * 55, bytes(range(40))])
def test_compression_of_a_padded_block_is_sha1(message: bytes) -> None:
    block = _pad_one_block(message)
    assert _digest(fips186.sha1_compress(fips186.SHA1_IV, block)) == \
        _sha1(message)


@given(st.binary(max_size=55))
def test_compression_matches_hashlib_on_any_single_block(message: bytes) -> None:
    block = _pad_one_block(message)
    assert _digest(fips186.sha1_compress(fips186.SHA1_IV, block)) == \
        _sha1(message)


def test_compression_chains_two_blocks_as_sha1() -> None:
    message = bytes(range(64)) + b"tail"
    second = b"tail" + b"\x80" + bytes(51) + (8 * len(message)).to_bytes(8, "big")
    state = fips186.sha1_compress(fips186.SHA1_IV, message[:64])
    assert _digest(fips186.sha1_compress(state, second)) == _sha1(message)


def test_g_is_not_sha1_of_xval() -> None:
    """G pads with zeros and no length (RFC 4187 §7: "the message padding is different")."""
    xval = bytes(range(20))
    assert fips186.g(xval) != _sha1(xval)
    assert fips186.g(xval) == _digest(fips186.sha1_compress(fips186.SHA1_IV,
                                                            xval + bytes(44)))


@pytest.mark.parametrize("vector", rfc4186_vectors("prf"), ids=lambda v: v["name"])
def test_prf_matches_published_output(vector: dict[str, Any]) -> None:
    expected = bytes.fromhex(vector["output"])
    assert fips186.prf(bytes.fromhex(vector["xkey"]), len(expected)) == expected


@pytest.mark.parametrize("vector", rfc4186_vectors("keys"), ids=lambda v: v["name"])
def test_eap_keys_split_in_rfc_order(vector: dict[str, Any]) -> None:
    keys = fips186.eap_keys(bytes.fromhex(vector["mk"]))
    assert keys.k_encr.hex() == vector["k_encr"]
    assert keys.k_aut.hex() == vector["k_aut"]
    assert keys.msk.hex() == vector["msk"]
    assert keys.emsk.hex() == vector["emsk"]


def test_eap_keys_repr_shows_no_key() -> None:
    vector = rfc4186_vectors("keys")[0]
    text = repr(fips186.eap_keys(bytes.fromhex(vector["mk"])))
    for name in ("k_encr", "k_aut", "msk", "emsk"):
        assert vector[name][:16] not in text


def test_prf_output_is_a_prefix_of_a_longer_output() -> None:
    xkey = bytes(range(20))
    assert fips186.prf(xkey, 160)[:57] == fips186.prf(xkey, 57)


def test_xkey_carry_wraps_modulo_2_160() -> None:
    """XKEY = (1 + XKEY + w) mod 2^160: an all-ones seed must not grow past 20 octets."""
    out = fips186.prf(b"\xff" * 20, 80)
    w0 = fips186.g(b"\xff" * 20)
    nxt = ((1 + (1 << 160) - 1 + int.from_bytes(w0, "big")) % (1 << 160)).to_bytes(20, "big")
    assert out[:20] == w0
    assert out[20:40] == fips186.g(nxt)


@pytest.mark.parametrize("bad", [b"", bytes(19), bytes(21)])
def test_xkey_must_be_160_bits(bad: bytes) -> None:
    with pytest.raises(InvalidInput):
        fips186.prf(bad, 40)


def test_compression_needs_a_whole_block() -> None:
    with pytest.raises(InvalidInput):
        fips186.sha1_compress(fips186.SHA1_IV, bytes(63))

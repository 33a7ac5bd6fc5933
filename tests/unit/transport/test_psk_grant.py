"""The key grant of a PSK-TLS lookup (TS 33.222 §5.4). No sockets here; the behaviour on
the wire is in tests/interop."""

from __future__ import annotations

import pytest

from gba.errors import InvalidInput
from gba.transport.psk_tls import MAX_PSK, PskGrant

PSK = bytes.fromhex("00112233445566778899aabbccddeeff")


def test_grant_repr_shows_the_context_but_not_the_psk() -> None:
    text = repr(PskGrant(PSK, "record for B-TID x"))
    assert "record for B-TID x" in text
    assert PSK.hex() not in text
    assert repr(PSK)[2:-1] not in text


@pytest.mark.parametrize("size", [0, MAX_PSK + 1])
def test_grant_refuses_a_psk_openssl_cannot_take(size: int) -> None:
    with pytest.raises(InvalidInput, match=f"PSK of {size} octets"):
        PskGrant(bytes(size), None)

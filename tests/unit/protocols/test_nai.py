"""The home realm of a user name on an AAA leg (gba.protocols.nai; docs/roaming.md §0)."""

from __future__ import annotations

import pytest

from gba.crypto import kdf
from gba.protocols import nai

pytestmark = pytest.mark.roaming

HOME = "mnc001.mcc001.3gppnetwork.org"


def test_btid_names_its_bsf_network() -> None:
    btid = kdf.btid(bytes(16), "bsf.mnc001.mcc001.pub.3gppnetwork.org")
    assert nai.home_realm(btid) == HOME


def test_permanent_identity_names_its_imsi_network() -> None:
    assert nai.home_realm(f"0001010123456789@{HOME}") == HOME


def test_permanent_identity_claiming_another_realm_is_none() -> None:
    assert nai.home_realm("0001010123456789@mnc002.mcc001.3gppnetwork.org") is None


def test_three_digit_mnc_comes_from_the_table() -> None:
    assert nai.imsi_realm("310150123456789", {"310": 3}) == "mnc150.mcc310.3gppnetwork.org"
    assert nai.imsi_realm("310150123456789") == "mnc015.mcc310.3gppnetwork.org"


@pytest.mark.parametrize("name", ["", "user", "user@example.com", "0123@" + HOME,
                                  "1001010123456789@" + HOME])
def test_names_of_no_known_network_are_none(name: str) -> None:
    assert nai.home_realm(name) is None


def test_imsi_of_wrong_length_is_none() -> None:
    assert nai.imsi_realm("12345") is None
    assert nai.permanent_imsi("0" + "1" * 14 + "@x") is None

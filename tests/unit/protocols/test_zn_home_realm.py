"""Which realm a B-TID's home network has (gba.protocols.zn.home_realm): a NAF routes its
Zn request there (TS 33.220 §4.5.3; the BSF address of TS 23.003 clause 16 / Annex D)."""

from __future__ import annotations

import base64
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gba.config import SAMPLE_CONFIG, parse
from gba.nf.naf_service import NafConfig
from gba.nf.registry import config_of
from gba.protocols.zn import home_realm

RAND_B64 = "U3RhbmRhcmQgUkFORA=="


@pytest.mark.parametrize(("domain", "realm"), [
    ("bsf.mnc001.mcc001.pub.3gppnetwork.org", "mnc001.mcc001.3gppnetwork.org"),
    ("bsf.mnc002.mcc001.pub.3gppnetwork.org", "mnc002.mcc001.3gppnetwork.org"),
    ("bsf.mnc015.mcc234.pub.3gppnetwork.org", "mnc015.mcc234.3gppnetwork.org"),
])
def test_ts_23003_bsf_domain_maps_to_its_home_realm(domain: str, realm: str) -> None:
    assert home_realm(f"{RAND_B64}@{domain}") == realm


@settings(max_examples=100)
@given(mnc=st.from_regex(r"[0-9]{3}", fullmatch=True),
       mcc=st.from_regex(r"[0-9]{3}", fullmatch=True),
       rand=st.binary(min_size=16, max_size=16))
def test_any_mnc_and_mcc_give_the_matching_realm(mnc: str, mcc: str, rand: bytes) -> None:
    btid = f"{base64.b64encode(rand).decode()}@bsf.mnc{mnc}.mcc{mcc}.pub.3gppnetwork.org"
    assert home_realm(btid) == f"mnc{mnc}.mcc{mcc}.3gppnetwork.org"


def test_configured_mapping_wins_over_the_ts_23003_rule() -> None:
    known = {"bsf.mnc002.mcc001.pub.3gppnetwork.org": "roaming.example.net"}
    assert home_realm(f"{RAND_B64}@bsf.mnc002.mcc001.pub.3gppnetwork.org",
                      known) == "roaming.example.net"


def test_configured_mapping_gives_the_realm_of_any_domain() -> None:
    assert home_realm(f"{RAND_B64}@bsf.operator.example", {"bsf.operator.example":
                                                           "ims.operator.example"}) == (
        "ims.operator.example")


def test_mapping_of_another_domain_leaves_the_ts_23003_rule() -> None:
    known = {"bsf.operator.example": "ims.operator.example"}
    assert home_realm(f"{RAND_B64}@bsf.mnc001.mcc001.pub.3gppnetwork.org",
                      known) == "mnc001.mcc001.3gppnetwork.org"


@pytest.mark.parametrize("btid", [
    f"{RAND_B64}@bsf.operator.example",
    f"{RAND_B64}@bsf.mnc01.mcc001.pub.3gppnetwork.org",       # MNC of two digits
    f"{RAND_B64}@bsf.mnc0001.mcc001.pub.3gppnetwork.org",
    f"{RAND_B64}@bsf.mnc001.mcc001.3gppnetwork.org",          # no "pub"
    f"{RAND_B64}@xbsf.mnc001.mcc001.pub.3gppnetwork.org",
    f"{RAND_B64}@bsf.mnc001.mcc001.pub.3gppnetwork.org.evil.example",
    f"{RAND_B64}@bsf.mncabc.mcc001.pub.3gppnetwork.org",
    f"{RAND_B64}@",
    "",
])
def test_other_domains_give_none(btid: str) -> None:
    assert home_realm(btid) is None


def test_domain_is_the_part_after_the_last_at_sign() -> None:
    assert home_realm("a@b@bsf.mnc001.mcc001.pub.3gppnetwork.org") == (
        "mnc001.mcc001.3gppnetwork.org")


def test_ts_23003_domain_is_case_insensitive() -> None:
    assert home_realm(f"{RAND_B64}@BSF.MNC002.MCC001.PUB.3GPPNETWORK.ORG") == (
        "mnc002.mcc001.3gppnetwork.org")
    assert home_realm(f"{RAND_B64}@Bsf.Mnc002.Mcc001.Pub.3gppNetwork.org") == (
        "mnc002.mcc001.3gppnetwork.org")


def test_configured_domain_matches_whatever_the_case_of_the_btid() -> None:
    assert home_realm(f"{RAND_B64}@BSF.Operator.Example",
                      {"bsf.operator.example": "ims.operator.example"}) == "ims.operator.example"


def test_rand_part_does_not_change_the_realm() -> None:
    # base64 is case-sensitive; only the domain is folded
    assert home_realm("AbC+/=@bsf.mnc001.mcc001.pub.3gppnetwork.org") == home_realm(
        "xyz@bsf.mnc001.mcc001.pub.3gppnetwork.org")


def test_naf_config_folds_its_configured_domains_to_lower_case() -> None:
    raw = tomllib.loads(SAMPLE_CONFIG.read_text(encoding="utf-8"))
    raw["functions"]["naf"]["btid_realms"] = {"BSF.Operator.Example": "ims.operator.example"}
    naf = config_of(parse(raw, SAMPLE_CONFIG), "naf")
    assert isinstance(naf, NafConfig)
    assert naf.btid_realms == {"bsf.operator.example": "ims.operator.example"}
    assert home_realm(f"{RAND_B64}@bsf.OPERATOR.example",
                      naf.btid_realms) == "ims.operator.example"

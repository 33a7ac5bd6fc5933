"""NGN key distribution fields and functions (gba.protocols.ngn; docs/ngn.md §1): f, the
RFC 3394 wraps, the RFC 3329 mechanism list and choice, fm, freshness, hex fields."""

from __future__ import annotations

import contextlib
import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gba.errors import AuthError, CodecError, InvalidInput, MacFailure
from gba.protocols import ngn
from gba.protocols.ngn import Mechanism, NoCommonMechanism, NonceNotEchoed, StaleTimestamp

pytestmark = pytest.mark.ngn

KC = bytes(range(16))
KSP = bytes(range(16, 32))
KC_SP = bytes(range(32, 48))
RAND = bytes(range(48, 64))
N1 = bytes(range(64, 80))

# --- identities --------------------------------------------------------------------------


def test_identities_within_bounds_pass() -> None:
    assert ngn.check_id("alice@ngn.example") == "alice@ngn.example"
    assert ngn.check_id("x" * 255) == "x" * 255
    assert ngn.check_id("é" * 127) == "é" * 127


@pytest.mark.parametrize("bad", ["", "x" * 256, "é" * 128, "a\nb", "a\x00", "a\x7f", "a\x85",
                                 "\ud800"])
def test_bad_identities_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        ngn.check_id(bad)


# --- s4: Authenticator_c and the wraps ---------------------------------------------------


def test_authenticator_is_16_octets_and_verifies() -> None:
    auth = ngn.authenticator(KC, RAND, "alice@ngn.example")
    assert len(auth) == 16
    ngn.verify_authenticator(auth, ngn.authenticator(KC, RAND, "alice@ngn.example"))


def test_authenticator_differs_per_rand_id_and_key() -> None:
    base = ngn.authenticator(KC, RAND, "alice")
    others = {
        ngn.authenticator(KC, bytes(16), "alice"),
        ngn.authenticator(KC, RAND, "alicf"),
        ngn.authenticator(KSP, RAND, "alice"),
    }
    assert base not in others
    assert len(others) == 3
    for other in others:
        with pytest.raises(MacFailure):
            ngn.verify_authenticator(base, other)


def test_authenticator_refuses_wrong_lengths() -> None:
    with pytest.raises(InvalidInput):
        ngn.authenticator(KC[:15], RAND, "alice")
    with pytest.raises(InvalidInput):
        ngn.authenticator(KC, RAND + b"\x00", "alice")
    with pytest.raises(InvalidInput):
        ngn.authenticator(KC, RAND, "")


def test_rfc3394_section_4_1_vector() -> None:
    kek = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
    data = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
    expected = bytes.fromhex("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5")
    assert ngn.wrap(kek, data) == expected
    assert ngn.unwrap(kek, expected) == data


@given(st.binary(min_size=16, max_size=16), st.binary(min_size=16, max_size=16))
@settings(max_examples=50)
def test_wrap_round_trip(key: bytes, kc_sp: bytes) -> None:
    wrapped = ngn.wrap(key, kc_sp)
    assert len(wrapped) == ngn.WRAP_LEN
    assert ngn.unwrap(key, wrapped) == kc_sp


@pytest.mark.parametrize("index", range(24))
def test_a_tampered_wrap_fails(index: int) -> None:
    wrapped = bytearray(ngn.wrap(KC, KC_SP))
    wrapped[index] ^= 0x01
    with pytest.raises(MacFailure):
        ngn.unwrap(KC, bytes(wrapped))


def test_the_wrong_key_fails_the_unwrap() -> None:
    with pytest.raises(MacFailure):
        ngn.unwrap(KSP, ngn.wrap(KC, KC_SP))


def test_wrap_lengths_are_checked() -> None:
    with pytest.raises(InvalidInput):
        ngn.wrap(KC[:8], KC_SP)
    with pytest.raises(InvalidInput):
        ngn.wrap(KC, KC_SP + bytes(8))
    with pytest.raises(InvalidInput):
        ngn.unwrap(KC + bytes(16), ngn.wrap(KC, KC_SP))
    with pytest.raises(InvalidInput):
        ngn.unwrap(KC, ngn.wrap(KC, KC_SP)[:16])


# --- s7: the mechanism list --------------------------------------------------------------

LIST = (Mechanism("tls", 0.2), Mechanism("ipsec", 0.1), Mechanism("app", 0.05))


def test_the_docs_list_formats_and_parses() -> None:
    text = ngn.format_mechanisms(LIST)
    assert text == "tls;q=0.2, ipsec;q=0.1, app;q=0.05"
    assert ngn.parse_mechanisms(text) == LIST


def test_q_edges_format() -> None:
    mechs = (Mechanism("a", 1.0), Mechanism("b", 0.0), Mechanism("c", 0.001))
    assert ngn.format_mechanisms(mechs) == "a;q=1, b;q=0, c;q=0.001"
    assert ngn.parse_mechanisms("a;q=1.000, b;q=0., c;q=0.001") == mechs


def test_rfc3329_parameters_other_than_q_are_skipped() -> None:
    text = ('digest;d-alg=md5;d-qop=auth-int;d-ver="0000000000000000000000000000abcd";q=0.1 ,'
            '\tipsec-ike ; Q = 0.9 ; x-ext ; host=[2001:db8::1] ; s="a,b;\\"c"')
    assert ngn.parse_mechanisms(text) == (Mechanism("digest", 0.1), Mechanism("ipsec-ike", 0.9))


@pytest.mark.parametrize("bad", [
    "", " ", "tls", "tls;q=", "tls;q=1.5", "tls;q=0.2345", "tls;q=-0.1", "tls;q=0.1;q=0.2",
    "tls;q=0.1,", ",tls;q=0.1", "tls;q=0.1,,ipsec;q=0.2", "tls;q=0.1 ipsec;q=0.2",
    "tls;q=0.1, TLS;q=0.2", "tl s;q=0.1", 'tls;q=0.1;x="open', "tls;q=0.1;=x",
    "tls;q=0.1;x=\x00", "tls;q=nan", "tls;q=1e-1", "tls;q=0.1;",
    ", ".join(f"m{i};q=0.1" for i in range(17)),
    "tls;q=0.1;pad=" + "x" * 1100,
])
def test_malformed_lists_are_refused(bad: str) -> None:
    with pytest.raises(CodecError):
        ngn.parse_mechanisms(bad)


def test_sixteen_mechanisms_are_allowed() -> None:
    text = ", ".join(f"m{i};q=0.1" for i in range(16))
    assert len(ngn.parse_mechanisms(text)) == 16


_GRAMMAR = st.text(alphabet=st.sampled_from(list('tlsq=0.1;, \t"\\[]:é\x00-')), max_size=80)


@given(st.one_of(st.text(max_size=200), _GRAMMAR))
@settings(max_examples=500)
def test_garbage_raises_codec_error_only(text: str) -> None:
    with contextlib.suppress(CodecError):
        parsed = ngn.parse_mechanisms(text)
        assert ngn.parse_mechanisms(ngn.format_mechanisms(parsed)) == parsed


_names = st.from_regex(r"[a-z][a-z0-9\-]{0,11}", fullmatch=True)
_qs = st.integers(min_value=0, max_value=1000).map(lambda n: n / 1000)


@given(st.lists(st.tuples(_names, _qs), min_size=1, max_size=16,
                unique_by=lambda pair: pair[0]))
@settings(max_examples=100)
def test_format_parse_round_trip(pairs: list[tuple[str, float]]) -> None:
    mechs = tuple(Mechanism(name, q) for name, q in pairs)
    assert ngn.parse_mechanisms(ngn.format_mechanisms(mechs)) == mechs


@pytest.mark.parametrize(("name", "q"), [("tl s", 0.1), ("", 0.1), ("tls", 1.5), ("tls", -0.1),
                                         ("tls", 0.0001), ("tls", float("nan"))])
def test_bad_mechanisms_are_refused(name: str, q: float) -> None:
    with pytest.raises(InvalidInput):
        Mechanism(name, q)


def test_format_refuses_empty_duplicate_and_long_lists() -> None:
    with pytest.raises(InvalidInput):
        ngn.format_mechanisms(())
    with pytest.raises(InvalidInput):
        ngn.format_mechanisms((Mechanism("tls", 0.1), Mechanism("tls", 0.2)))
    with pytest.raises(InvalidInput):
        ngn.format_mechanisms(tuple(Mechanism(f"m{i}", 0.1) for i in range(17)))


def test_choose_takes_the_highest_supported_q() -> None:
    assert ngn.choose(LIST, {"tls", "ipsec", "app"}) == "tls"
    assert ngn.choose(LIST, {"ipsec", "app"}) == "ipsec"
    assert ngn.choose(LIST, ["APP"]) == "app"
    unordered = (Mechanism("app", 0.05), Mechanism("ipsec", 0.5), Mechanism("tls", 0.2))
    assert ngn.choose(unordered, {"tls", "ipsec", "app"}) == "ipsec"


def test_choose_ties_keep_the_terminals_order() -> None:
    tied = (Mechanism("ipsec", 0.3), Mechanism("tls", 0.3))
    assert ngn.choose(tied, {"tls", "ipsec"}) == "ipsec"
    assert ngn.choose(tied[::-1], {"tls", "ipsec"}) == "tls"


def test_no_common_mechanism_refuses() -> None:
    with pytest.raises(NoCommonMechanism):
        ngn.choose(LIST, {"digest"})
    with pytest.raises(AuthError):
        ngn.choose((), {"tls"})


def test_a_downgraded_list_is_detectable() -> None:
    sent = ngn.format_mechanisms(LIST)
    # an attacker drops tls and raises app so the SP picks the weaker one
    altered = "ipsec;q=0.1, app;q=0.5"
    assert ngn.choose(ngn.parse_mechanisms(altered), {"tls", "ipsec", "app"}) == "app"
    assert ngn.parse_mechanisms(altered) != ngn.parse_mechanisms(sent)
    # the echo of the same list with different spacing compares equal
    assert ngn.parse_mechanisms("tls;q=0.20,ipsec;q=0.1 ,app;q=0.050") == LIST


# --- s10: the MAC ------------------------------------------------------------------------

FIELDS = (
    ("ID_c", "alice@ngn.example"),
    ("ID_sp", "sp.ngn.example"),
    ("N1", N1.hex()),
    ("N2", bytes(16).hex()),
    ("TS4", "1893456000"),
    ("E_Kc", ngn.wrap(KC, KC_SP).hex()),
    ("mechanism", "tls"),
    ("list", "tls;q=0.2, ipsec;q=0.1, app;q=0.05"),
)


def test_mac_verifies() -> None:
    tag = ngn.mac(KC_SP, FIELDS)
    assert len(tag) == 16
    ngn.verify_mac(KC_SP, FIELDS, tag)


def test_mac_is_over_the_canonical_form() -> None:
    fields = (("a", "1"), ("b", "x=y"))
    expected = hmac.new(KC_SP, b"ngn-mac" + b"a=1\nb=x=y\n", hashlib.sha256).digest()[:16]
    assert ngn.canonical(fields) == b"a=1\nb=x=y\n"
    assert ngn.mac(KC_SP, fields) == expected


@pytest.mark.parametrize("index", range(len(FIELDS)))
def test_any_changed_field_fails(index: int) -> None:
    tag = ngn.mac(KC_SP, FIELDS)
    name, value = FIELDS[index]
    changed = list(FIELDS)
    changed[index] = (name, value + "0")
    with pytest.raises(MacFailure):
        ngn.verify_mac(KC_SP, changed, tag)
    renamed = list(FIELDS)
    renamed[index] = (name + "x", value)
    with pytest.raises(MacFailure):
        ngn.verify_mac(KC_SP, renamed, tag)


def test_reordered_or_dropped_fields_fail() -> None:
    tag = ngn.mac(KC_SP, FIELDS)
    with pytest.raises(MacFailure):
        ngn.verify_mac(KC_SP, FIELDS[1:] + FIELDS[:1], tag)
    with pytest.raises(MacFailure):
        ngn.verify_mac(KC_SP, FIELDS[:-1], tag)
    with pytest.raises(MacFailure):
        ngn.verify_mac(KSP, FIELDS, tag)
    with pytest.raises(MacFailure):
        ngn.verify_mac(KC_SP, FIELDS, tag[:15])


@pytest.mark.parametrize("fields", [(), (("a b", "1"),), (("", "1"),), (("a=", "1"),),
                                    (("a", "1\n"),), (("a", "\ud800"),)])
def test_mac_refuses_bad_fields(fields: tuple[tuple[str, str], ...]) -> None:
    with pytest.raises(InvalidInput):
        ngn.mac(KC_SP, fields)


def test_mac_refuses_a_short_key() -> None:
    with pytest.raises(InvalidInput):
        ngn.mac(KC_SP[:8], FIELDS)


# --- freshness ---------------------------------------------------------------------------

NOW = 1_893_456_000


@pytest.mark.parametrize("ts", [NOW - 30, NOW, NOW + 30])
def test_fresh_within_the_window(ts: int) -> None:
    ngn.fresh(ts, NOW, 30)


@pytest.mark.parametrize("ts", [NOW - 31, NOW + 31, 0])
def test_stale_outside_the_window(ts: int) -> None:
    with pytest.raises(StaleTimestamp):
        ngn.fresh(ts, NOW, 30)


def test_fresh_defaults_and_zero_skew() -> None:
    ngn.fresh(NOW - ngn.DEFAULT_SKEW_S, NOW)
    ngn.fresh(NOW, NOW, 0)
    with pytest.raises(StaleTimestamp):
        ngn.fresh(NOW + 1, NOW, 0)
    with pytest.raises(InvalidInput):
        ngn.fresh(NOW, NOW, -1)


def test_echoed_nonce() -> None:
    ngn.echoed(N1, bytes(N1))
    with pytest.raises(NonceNotEchoed):
        ngn.echoed(N1, N1[:15] + b"\x00")
    with pytest.raises(NonceNotEchoed):
        ngn.echoed(N1, N1[:8])
    with pytest.raises(InvalidInput):
        ngn.echoed(b"", b"")


# --- hex fields --------------------------------------------------------------------------


def test_hex_round_trip() -> None:
    assert ngn.hexfield(N1) == N1.hex()
    assert ngn.unhex(ngn.hexfield(N1), 16) == N1
    assert ngn.unhex(N1.hex().upper(), 16) == N1
    assert ngn.unhex("") == b""


@pytest.mark.parametrize(("text", "length"), [("abc", None), ("zz", None), ("ab cd", None),
                                              ("ab\n", None), ("abcd", 3), ("+a", None),
                                              ("٠١", None)])
def test_bad_hex_is_refused(text: str, length: int | None) -> None:
    with pytest.raises(CodecError):
        ngn.unhex(text, length)

"""MTC device groups (gba.protocols.mtc; docs/mtc.md §§1, 2, 4): capability, the
initialisation request headers, the device IMPI, the security settings XML, the keys and
the B-TID."""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import Callable
from xml.sax.saxutils import escape

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gba.crypto import kdf
from gba.errors import CodecError, GbaError, InvalidInput
from gba.protocols import mtc
from gba.protocols.mtc import Capability, InitRequest, MtcSettings, SubKeys

pytestmark = pytest.mark.mtc

KS = bytes(range(32))
RAND = bytes(range(16, 32))
IMSI_A = "001010000000001"
IMSI_B = "001010000000002"
IMPI_A = f"{IMSI_A}@ims.mnc001.mcc001.3gppnetwork.org"
IMPI_B = f"{IMSI_B}@ims.mnc001.mcc001.3gppnetwork.org"
IWF = "mtc-iwf.example.org"
BSF = "bsf.example.org"
SETTINGS = MtcSettings("meters@example.org", 7, IMSI_A, Capability.SEND | Capability.RECEIVE,
                       (IMSI_A, IMSI_B), 3600)


def headers_getter(pairs: list[tuple[str, str]]) -> Callable[[str], str | None]:
    table = {name.lower(): value for name, value in pairs}
    return lambda name: table.get(name.lower())


# -- capability ----------------------------------------------------------------------------

@pytest.mark.parametrize(("cap", "text"), [
    (Capability.NONE, ""),
    (Capability.SEND, "send"),
    (Capability.RECEIVE, "receive"),
    (Capability.SEND | Capability.RECEIVE, "send, receive"),
])
def test_capability_round_trips(cap: Capability, text: str) -> None:
    assert mtc.format_capability(cap) == text
    assert mtc.parse_capability(text) == cap


@pytest.mark.parametrize(("text", "cap"), [
    ("RECEIVE,Send", Capability.SEND | Capability.RECEIVE),
    ("  send  ", Capability.SEND),
    ("   ", Capability.NONE),
])
def test_capability_tokens_are_case_insensitive(text: str, cap: Capability) -> None:
    assert mtc.parse_capability(text) == cap


@pytest.mark.parametrize("text", ["send, send", "send,,receive", "send,", "none", "send;receive",
                                  "transmit", "x" * 1000])
def test_bad_capability_is_a_codec_error(text: str) -> None:
    with pytest.raises(CodecError):
        mtc.parse_capability(text)


def test_capability_bits() -> None:
    assert mtc.capability_from_bits(3) == Capability.SEND | Capability.RECEIVE
    with pytest.raises(CodecError):
        mtc.capability_from_bits(4)
    with pytest.raises(InvalidInput):
        mtc.format_capability(Capability(4))


# -- the initialisation request ------------------------------------------------------------

def test_request_headers_round_trip() -> None:
    req = InitRequest("meters@example.org", 7, Capability.SEND)
    pairs = mtc.request_headers(req)
    assert pairs == [("X-MTC-Group", "meters@example.org; key-id=7"),
                     ("X-MTC-Small-Data", "send")]
    assert mtc.parse_request_headers(headers_getter(pairs)) == req


def test_no_mtc_headers_is_an_ordinary_request() -> None:
    assert mtc.parse_request_headers(headers_getter([])) is None


@pytest.mark.parametrize("present", ["X-MTC-Group", "X-MTC-Small-Data"])
def test_one_header_alone_is_a_codec_error(present: str) -> None:
    value = "send" if present == "X-MTC-Small-Data" else "g@d; key-id=1"
    with pytest.raises(CodecError, match="lacks"):
        mtc.parse_request_headers(headers_getter([(present, value)]))


@pytest.mark.parametrize(("value", "expected"), [
    ("g@d;key-id=0", ("g@d", 0)),
    ("g@d ;  KEY-ID = 4294967295 ", ("g@d", 2**32 - 1)),
])
def test_group_header_variants(value: str, expected: tuple[str, int]) -> None:
    req = mtc.parse_request_headers(headers_getter([("X-MTC-Group", value),
                                                    ("X-MTC-Small-Data", "")]))
    assert req is not None
    assert (req.group_id, req.key_id) == expected
    assert req.capability == Capability.NONE


@pytest.mark.parametrize("value", [
    "g@d", "g@d; key-id=", "g@d; key-id=-1", "g@d; key-id=4294967296", "g@d; key-id=+1",
    "g@d; key-id=1; key-id=1", "g@d; key-id=1; other=2", "g@d; key-id", "gd; key-id=1",
    "@d; key-id=1", "g@; key-id=1", "g@d@e; key-id=1", "g d@e; key-id=1", "g,x@d; key-id=1",
    "; key-id=1", "g\x00@d; key-id=1", "gé@d; key-id=1", "g@d; key-id=１",
    "g" * 250 + "@domain; key-id=1", "g@d; key-id=" + "1" * 600,
])
def test_bad_group_header_is_a_codec_error(value: str) -> None:
    with pytest.raises(CodecError):
        mtc.parse_request_headers(headers_getter([("X-MTC-Group", value),
                                                  ("X-MTC-Small-Data", "send")]))


@pytest.mark.parametrize(("group", "key_id"), [("nogroup", 1), ("g@d", -1), ("g@d", 2**32)])
def test_bad_init_request_is_invalid_input(group: str, key_id: int) -> None:
    with pytest.raises(InvalidInput):
        InitRequest(group, key_id, Capability.SEND)


@settings(max_examples=200, deadline=None)
@given(group=st.none() | st.text(max_size=60), small=st.none() | st.text(max_size=30))
def test_any_header_values_parse_or_raise_codec_error(group: str | None,
                                                      small: str | None) -> None:
    table = {"x-mtc-group": group, "x-mtc-small-data": small}
    try:
        req = mtc.parse_request_headers(lambda name: table[name.lower()])
    except CodecError:
        return
    if req is not None:
        assert mtc.parse_request_headers(headers_getter(mtc.request_headers(req))) == req


# -- device identity -----------------------------------------------------------------------

@pytest.mark.parametrize(("imsi", "mcc", "mnc", "impi"), [
    (IMSI_A, "001", "01", IMPI_A),
    ("310150123456789", "310", "150", "310150123456789@ims.mnc150.mcc310.3gppnetwork.org"),
    ("234150999999999", "234", "15", "234150999999999@ims.mnc015.mcc234.3gppnetwork.org"),
])
def test_device_impi_and_back(imsi: str, mcc: str, mnc: str, impi: str) -> None:
    assert mtc.device_impi(imsi, mcc, mnc) == impi
    assert mtc.imsi_of(impi) == imsi


@pytest.mark.parametrize(("imsi", "mcc", "mnc"), [
    ("00101", "001", "01"), ("0010100000000012", "001", "01"), ("00101000000000a", "001", "01"),
    (IMSI_A, "01", "01"), (IMSI_A, "001", "1"), (IMSI_A, "001", "0101"),
    (IMSI_A, "002", "01"), (IMSI_A, "001", "02"), ("００１０１０００００００００１", "001", "01"),
])
def test_bad_device_impi_inputs_are_invalid_input(imsi: str, mcc: str, mnc: str) -> None:
    with pytest.raises(InvalidInput):
        mtc.device_impi(imsi, mcc, mnc)


@pytest.mark.parametrize("impi", [
    "", IMSI_A, f"{IMSI_A}@mnc001.mcc001.3gppnetwork.org",
    f"{IMSI_A}@ims.mnc01.mcc001.3gppnetwork.org", f"{IMSI_A}@ims.mnc001.mcc001.example.org",
    f"{IMSI_A}@ims.mnc002.mcc001.3gppnetwork.org", f"{IMSI_A}@ims.mnc001.mcc002.3gppnetwork.org",
    f"0{IMSI_A}@ims.mnc001.mcc001.3gppnetwork.org", f"{IMSI_A}@ims.mnc001.mcc001.3gppnetwork.org.",
    "x" * 10_000,
])
def test_bad_impi_is_a_codec_error(impi: str) -> None:
    with pytest.raises(CodecError):
        mtc.imsi_of(impi)


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=80))
def test_imsi_of_garbage_is_a_codec_error(text: str) -> None:
    with contextlib.suppress(CodecError):
        mtc.imsi_of(text)


# -- security settings ---------------------------------------------------------------------

def test_settings_round_trip() -> None:
    doc = mtc.encode_settings(SETTINGS)
    assert 'xmlns="urn:gba-lab:mtc:1"' in doc
    assert doc.startswith("<mtcSecuritySettings")
    assert mtc.decode_settings(doc) == SETTINGS
    assert mtc.decode_settings(doc.encode()) == SETTINGS


def test_settings_with_no_members_and_no_capability_round_trip() -> None:
    s = MtcSettings("g@d", 0, IMSI_A, Capability.NONE, (), 1)
    assert mtc.decode_settings(mtc.encode_settings(s)) == s


_imsis = st.text("0123456789", min_size=6, max_size=15)


@settings(max_examples=80, deadline=None)
@given(imsi=_imsis, members=st.lists(_imsis, max_size=20, unique=True),
       key_id=st.integers(0, 2**32 - 1), cap=st.integers(0, 3),
       lifetime=st.integers(1, mtc.MAX_LIFETIME_S),
       group=st.from_regex(r"[A-Za-z0-9._<&>'\"-]{1,20}@[a-z0-9.-]{1,20}", fullmatch=True))
def test_any_valid_settings_round_trip(imsi: str, members: list[str], key_id: int, cap: int,
                                       lifetime: int, group: str) -> None:
    s = MtcSettings(group, key_id, imsi, Capability(cap), tuple(members), lifetime)
    assert mtc.decode_settings(mtc.encode_settings(s)) == s


def _doc(body: str, root: str = 'mtcSecuritySettings xmlns="urn:gba-lab:mtc:1"') -> str:
    return f"<{root}>{body}</{root.split()[0]}>"


GOOD = ("<groupId>g@d</groupId><groupKeyId>1</groupKeyId><imsi>001010000000001</imsi>"
        "<smallData>send</smallData><lifeTime>60</lifeTime>"
        "<members><member>001010000000001</member></members>")


def test_hand_written_document_decodes() -> None:
    s = mtc.decode_settings(_doc(GOOD))
    assert s == MtcSettings("g@d", 1, IMSI_A, Capability.SEND, (IMSI_A,), 60)


@pytest.mark.parametrize("doc", [
    _doc(GOOD, "mtcSecuritySettings"),
    _doc(GOOD, 'mtcSecuritySettings xmlns="urn:gba-lab:mtc:2"'),
    _doc(GOOD, 'guss xmlns="urn:gba-lab:mtc:1"'),
    _doc(GOOD.replace("<lifeTime>60</lifeTime>", "")),
    _doc(GOOD + "<lifeTime>60</lifeTime>"),
    _doc(GOOD + "<extra/>"),
    _doc(GOOD.replace("<groupId>g@d", "<groupId>g d")),
    _doc(GOOD.replace("<groupKeyId>1", "<groupKeyId>4294967296")),
    _doc(GOOD.replace("<groupKeyId>1", "<groupKeyId>-1")),
    _doc(GOOD.replace("<imsi>001010000000001", "<imsi>00101x")),
    _doc(GOOD.replace("<smallData>send", "<smallData>send, send")),
    _doc(GOOD.replace("<lifeTime>60", "<lifeTime>0")),
    _doc(GOOD.replace("<lifeTime>60", f"<lifeTime>{mtc.MAX_LIFETIME_S + 1}")),
    _doc(GOOD.replace("</members>", "<member>001010000000001</member></members>")),
    _doc(GOOD.replace("</members>", "<member>12345</member></members>")),
    _doc(GOOD.replace("</members>", "<other>123456</other></members>")),
    _doc(GOOD.replace("<member>001010000000001</member>", "<member><b/></member>")),
    _doc(GOOD.replace("<imsi>001010000000001</imsi>", "<imsi><x>1</x></imsi>")),
    '<!DOCTYPE x [<!ENTITY e "001010000000001">]>' + _doc(GOOD.replace(
        "<imsi>001010000000001", "<imsi>&e;")),
    _doc(GOOD)[:-5],
    _doc(GOOD.replace("</members>", "<member>001010000000002</member>" * 3000 + "</members>")),
    "",
])
def test_bad_settings_are_a_codec_error(doc: str) -> None:
    with pytest.raises(CodecError):
        mtc.decode_settings(doc)


def test_member_cap_is_enforced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mtc, "MAX_MEMBERS", 2)
    three = "".join(f"<member>00101000000000{n}</member>" for n in range(3))
    with pytest.raises(CodecError, match="more than 2 members"):
        mtc.decode_settings(_doc(GOOD.replace("<member>001010000000001</member>", three)))


@pytest.mark.parametrize("bad", [
    MtcSettings("g@d", 1, IMSI_A, Capability.SEND, (IMSI_A, IMSI_A), 60),
    MtcSettings("g", 1, IMSI_A, Capability.SEND, (), 60),
    MtcSettings("g@d", 1, "12", Capability.SEND, (), 60),
    MtcSettings("g@d", 1, IMSI_A, Capability.SEND, (), 0),
    MtcSettings("g@d", 1, IMSI_A, Capability(8), (), 60),
    MtcSettings("g@d", 1, IMSI_A, Capability.SEND,
                tuple(f"00101{n:010d}" for n in range(4000)), 60),
])
def test_invalid_settings_are_not_encoded(bad: MtcSettings) -> None:
    with pytest.raises(InvalidInput):
        mtc.encode_settings(bad)


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=300) | st.text(max_size=300))
def test_garbage_settings_raise_codec_error_only(data: bytes | str) -> None:
    with contextlib.suppress(CodecError):
        mtc.decode_settings(data)


@settings(max_examples=150, deadline=None)
@given(field=st.sampled_from(["groupId", "groupKeyId", "imsi", "smallData", "lifeTime",
                              "member"]),
       text=st.text(max_size=20))
def test_any_field_text_decodes_or_raises_codec_error(field: str, text: str) -> None:
    start = GOOD.index(f"<{field}>") + len(field) + 2
    end = GOOD.index(f"</{field}>")
    with contextlib.suppress(CodecError):
        mtc.decode_settings(_doc(GOOD[:start] + escape(text) + GOOD[end:]))


# -- keys ------------------------------------------------------------------------------------

def test_iwf_naf_id_and_k_iwf() -> None:
    assert mtc.IWF_UA == b"\xff\x00\x00\x00\x01"
    assert mtc.iwf_naf_id(IWF) == IWF.encode() + b"\xff\x00\x00\x00\x01"
    assert mtc.k_iwf(KS, RAND, IMPI_A, IWF) == kdf.ks_naf(KS, RAND, IMPI_A,
                                                          mtc.iwf_naf_id(IWF))
    assert len(mtc.k_iwf(KS, RAND, IMPI_A, IWF)) == 32


def test_k_iwf_differs_per_device_with_a_shared_vector() -> None:
    assert mtc.k_iwf(KS, RAND, IMPI_A, IWF) != mtc.k_iwf(KS, RAND, IMPI_B, IWF)


def test_subkeys_follow_the_design() -> None:
    key = mtc.k_iwf(KS, RAND, IMPI_A, IWF)
    enc = mtc.enc_key(key)
    mac = mtc.int_key(key)
    assert enc == kdf.kdf(key, 0x70, b"mtc-small-data-enc")[:16]
    assert mac == kdf.kdf(key, 0x70, b"mtc-small-data-int")
    assert (len(enc), len(mac)) == (16, 32)
    assert mac[:16] != enc
    assert mtc.subkeys_for(key, SubKeys.NONE) == (None, None)
    assert mtc.subkeys_for(key, "enc") == (enc, None)
    assert mtc.subkeys_for(key, "int") == (None, mac)
    assert mtc.subkeys_for(key, " BOTH ") == (enc, mac)


def test_distinct_k_iwf_give_distinct_subkeys() -> None:
    a, b = mtc.k_iwf(KS, RAND, IMPI_A, IWF), mtc.k_iwf(KS, RAND, IMPI_B, IWF)
    assert mtc.enc_key(a) != mtc.enc_key(b)
    assert mtc.int_key(a) != mtc.int_key(b)


@pytest.mark.parametrize(("key", "mode"), [(bytes(31), "both"), (bytes(32), "all"),
                                           (bytes(32), "")])
def test_bad_subkey_inputs_are_invalid_input(key: bytes, mode: str) -> None:
    with pytest.raises(InvalidInput):
        mtc.subkeys_for(key, mode)


# -- B-TID -----------------------------------------------------------------------------------

def test_mtc_btid_form() -> None:
    value = mtc.mtc_btid(RAND, IMPI_A, BSF)
    local, _, domain = value.partition("@")
    assert domain == BSF
    assert base64.b64decode(local) == RAND + hashlib.sha256(IMPI_A.encode()).digest()[:6]
    assert mtc.parse_mtc_btid(value) == (RAND, hashlib.sha256(IMPI_A.encode()).digest()[:6],
                                         BSF)
    assert mtc.btid_names(value, IMPI_A)
    assert not mtc.btid_names(value, IMPI_B)


def test_mtc_btid_differs_per_device_with_a_shared_rand() -> None:
    assert mtc.mtc_btid(RAND, IMPI_A, BSF) != mtc.mtc_btid(RAND, IMPI_B, BSF)


def test_mtc_btid_is_not_a_ts_33_220_btid() -> None:
    # kdf.parse_btid exists and insists on a 16-octet RAND: code that reads a B-TID with
    # it (roaming, zn_proxy, ua_psk) must not be handed an MTC B-TID.
    with pytest.raises(CodecError, match="22 octets"):
        kdf.parse_btid(mtc.mtc_btid(RAND, IMPI_A, BSF))
    with pytest.raises(CodecError):
        mtc.parse_mtc_btid(kdf.btid(RAND, BSF))


@pytest.mark.parametrize(("rand", "impi", "name"), [
    (bytes(15), IMPI_A, BSF), (RAND, "", BSF), (RAND, IMPI_A, ""), (RAND, IMPI_A, "a@b"),
])
def test_bad_mtc_btid_inputs_are_invalid_input(rand: bytes, impi: str, name: str) -> None:
    with pytest.raises(InvalidInput):
        mtc.mtc_btid(rand, impi, name)


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=80))
def test_parse_mtc_btid_garbage_is_a_codec_error(text: str) -> None:
    with contextlib.suppress(CodecError):
        mtc.parse_mtc_btid(text)


def test_errors_are_gba_errors() -> None:
    assert issubclass(CodecError, GbaError)
    assert issubclass(InvalidInput, GbaError)

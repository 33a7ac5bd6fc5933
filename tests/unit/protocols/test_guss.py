"""GUSS and USS XML (TS 29.109 Annex A): round trips, selection, hostile documents."""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET
from typing import Any

import defusedxml.ElementTree as safe_et
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gba.errors import CodecError
from gba.protocols.guss import (
    MAX_LIFETIME_S,
    UICC_GBA,
    UICC_GBA_U,
    Guss,
    Uss,
    decode_guss,
    decode_uss,
    decode_uss_list,
    encode_guss,
    encode_uss,
    encode_uss_list,
)
from vectors import VECTORS, load

R9 = "urn:3gpp:gba:GBAGUSSSchema-R9:2010-02"  # TS 29.109 Annex A, Rel-9 (Metaswitch)
CASES = load("guss/cases.json", "cases")

# Element text is whitespace-stripped on decode, so generated values carry none; symbols
# include the XML specials < > & " ' that the encoder must escape.
words = st.text(st.characters(categories=("L", "N", "P", "S")), min_size=1, max_size=16)
ussets = st.builds(Uss, id=words, type=words, naf_group=st.none() | words,
                   uids=st.lists(words, max_size=3).map(tuple),
                   flags=st.lists(words, max_size=3).map(tuple))
gusses = st.builds(Guss, uicc_type=st.sampled_from([UICC_GBA, UICC_GBA_U]),
                   lifetime_s=st.none() | st.integers(min_value=0, max_value=MAX_LIFETIME_S),
                   uss=st.lists(ussets, max_size=4).map(tuple), id=st.none() | words)


def guss_doc(bsf_info: str = "", uss_list: str = "") -> str:
    return (f'<guss xmlns="uri:3gpp-gaa"><bsfInfo>{bsf_info}</bsfInfo>'
            f"<ussList>{uss_list}</ussList></guss>")


# ------------------------------------------------------------------ round trips


@settings(max_examples=80, deadline=None)
@given(g=gusses)
def test_guss_round_trips(g: Guss) -> None:
    assert decode_guss(encode_guss(g)) == g


@settings(max_examples=30, deadline=None)
@given(g=gusses)
def test_guss_round_trips_from_utf8_bytes(g: Guss) -> None:
    assert decode_guss(encode_guss(g).encode("utf-8")) == g


@settings(max_examples=80, deadline=None)
@given(u=ussets)
def test_uss_round_trips(u: Uss) -> None:
    assert decode_uss(encode_uss(u)) == u


@settings(max_examples=50, deadline=None)
@given(uss=st.lists(ussets, max_size=4))
def test_uss_list_round_trips(uss: list[Uss]) -> None:
    assert decode_uss_list(encode_uss_list(uss)) == tuple(uss)


def test_encoded_guss_uses_the_annex_a_element_names_and_namespace() -> None:
    g = Guss(UICC_GBA_U, 7200, (Uss("1", "svc", "grp", ("sip:a@x",), ("f",)),), "impi@x")
    root: ET.Element = safe_et.fromstring(encode_guss(g))
    ns = f"{{{R9}}}"
    assert root.tag == f"{ns}guss"
    assert root.get("id") == "impi@x"
    assert root.findtext(f"{ns}bsfInfo/{ns}uiccType") == "GBA_U"
    assert root.findtext(f"{ns}bsfInfo/{ns}lifeTime") == "7200"
    uss = root.find(f"{ns}ussList/{ns}uss")
    assert uss is not None
    assert uss.attrib == {"id": "1", "type": "svc", "nafGroup": "grp"}
    assert uss.findtext(f"{ns}uids/{ns}uid") == "sip:a@x"
    assert uss.findtext(f"{ns}flags/{ns}flag") == "f"


def test_encoded_uss_list_is_a_uss_list_root_in_the_r9_namespace() -> None:
    root: ET.Element = safe_et.fromstring(encode_uss_list([Uss("1", "1"), Uss("2", "2")]))
    assert root.tag == f"{{{R9}}}ussList"
    assert [(u.tag, u.get("id")) for u in root] == [(f"{{{R9}}}uss", "1"),
                                                     (f"{{{R9}}}uss", "2")]


def test_guss_without_id_has_no_id_attribute() -> None:
    root: ET.Element = safe_et.fromstring(encode_guss(Guss()))
    assert "id" not in root.attrib


def test_uss_without_flags_has_no_flags_element() -> None:
    root: ET.Element = safe_et.fromstring(encode_uss(Uss("1", "1", uids=("sip:a@x",))))
    assert [child.tag for child in root] == [f"{{{R9}}}uids"]


def test_uss_list_refuses_a_guss_root() -> None:
    with pytest.raises(CodecError, match="root element"):
        decode_uss_list(encode_guss(Guss()))


def test_bare_uss_is_a_uss_list_only_when_asked() -> None:
    bare = encode_uss(Uss("1", "1"))
    assert decode_uss_list(bare, bare_uss=True) == (Uss("1", "1"),)
    with pytest.raises(CodecError, match="root element"):
        decode_uss_list(bare)


@pytest.mark.parametrize(("text", "uicc"), [("GBA", UICC_GBA), ("GBA_U", UICC_GBA_U),
                                            ("0", UICC_GBA), ("1", UICC_GBA_U)])
def test_uicc_type_names_and_fhoss_numbers_are_read(text: str, uicc: str) -> None:
    assert decode_guss(guss_doc(f"<uiccType>{text}</uiccType>")).uicc_type == uicc


def test_empty_guss_decodes_to_the_defaults() -> None:
    assert decode_guss('<guss xmlns="uri:3gpp-gaa"/>') == Guss(UICC_GBA, None, ())


def test_guss_without_namespace_is_read_too() -> None:
    assert decode_guss("<guss><bsfInfo><uiccType>GBA_U</uiccType></bsfInfo></guss>") == Guss(
        UICC_GBA_U)


@pytest.mark.parametrize("namespace", [R9, "uri:3gpp-gaa", None])
def test_guss_in_the_r9_legacy_or_no_namespace_decodes_alike(namespace: str | None) -> None:
    xmlns = f' xmlns="{namespace}"' if namespace else ""
    doc = (f'<guss{xmlns} id="i"><bsfInfo><lifeTime>60</lifeTime></bsfInfo>'
           '<ussList><uss id="1" type="1"/></ussList></guss>')
    assert decode_guss(doc) == Guss(UICC_GBA, 60, (Uss("1", "1"),), "i")


# ------------------------------------------------------------------ vectors


def _uss(entry: dict[str, Any]) -> Uss:
    return Uss(entry["id"], entry["type"], entry["naf_group"], tuple(entry["uids"]),
               tuple(entry["flags"]))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["file"])
def test_vector_decodes_to_its_fields(case: dict[str, Any]) -> None:
    data = (VECTORS / "guss" / case["file"]).read_bytes()
    root: ET.Element = safe_et.fromstring(data)
    namespace = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else None
    assert namespace == case["namespace"]
    expected_uss = tuple(_uss(u) for u in case["uss"])
    if case["root"] == "ussList":
        assert decode_uss_list(data) == expected_uss
    else:
        assert decode_guss(data) == Guss(case["uicc_type"], case["lifetime_s"], expected_uss,
                                         case["id"])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["file"])
def test_vector_survives_our_encoder(case: dict[str, Any]) -> None:
    data = (VECTORS / "guss" / case["file"]).read_bytes()
    if case["root"] == "ussList":
        again = encode_uss_list(decode_uss_list(data))
        assert decode_uss_list(again) == decode_uss_list(data)
    else:
        again = encode_guss(decode_guss(data))
        assert decode_guss(again) == decode_guss(data)
    assert safe_et.fromstring(again).tag == f"{{{R9}}}{case['root']}"  # re-encoded in R9
    if case["encodes_to_itself"]:
        assert again.encode("utf-8") == data


def test_vectors_cover_r9_legacy_and_no_namespace() -> None:
    assert {c["namespace"] for c in CASES} == {R9, "uri:3gpp-gaa", None}


# ------------------------------------------------------------------ selection

SELECTION = Guss(uss=(
    Uss("any-1", "1"),
    Uss("a-1", "1", "A"),
    Uss("b-1", "1", "B"),
    Uss("a-2", "2", "A"),
    Uss("b-2", "2", "B"),
))
BY_ID = Guss(uss=(
    Uss("1", "1", "A"),  # FHoSS style: id == type
    Uss("pki", "1", "A"),
    Uss("2", "2", "B"),
))


def ids(selected: tuple[Uss, ...]) -> list[str]:
    return [u.id for u in selected]


def test_for_service_keeps_only_the_requested_type() -> None:
    assert ids(SELECTION.for_service("2", "A")) == ["a-2"]
    assert ids(SELECTION.for_service("1", "A")) == ["any-1", "a-1"]


def test_a_naf_in_no_group_gets_only_the_uss_of_no_group() -> None:
    assert ids(SELECTION.for_service("1")) == ["any-1"]
    assert SELECTION.for_service("2") == ()


def test_for_service_with_a_naf_group_keeps_that_group_and_ungrouped_uss() -> None:
    assert ids(SELECTION.for_service("1", "B")) == ["any-1", "b-1"]


def test_for_service_with_a_naf_group_and_type_selects_one() -> None:
    assert ids(SELECTION.for_service("2", "A")) == ["a-2"]


def test_for_service_of_an_unknown_type_is_empty() -> None:
    assert SELECTION.for_service("3", "A") == ()


def test_for_service_of_a_group_with_no_uss_leaves_only_ungrouped_ones() -> None:
    assert ids(SELECTION.for_service("1", "C")) == ["any-1"]


def test_for_service_matches_the_gsid_against_uss_id_first() -> None:
    """TS 29.309 gsId: the GSID names a USS by its id; type matches only without one."""
    assert ids(BY_ID.for_service("pki", "A")) == ["pki"]
    assert ids(BY_ID.for_service("1", "A")) == ["1"]  # not "pki", though its type is 1 too


def test_for_service_falls_back_to_type_when_no_uss_has_that_id() -> None:
    assert ids(SELECTION.for_service("1", "B")) == ["any-1", "b-1"]


def test_for_service_by_id_outside_the_naf_group_selects_nothing() -> None:
    assert BY_ID.for_service("2", "A") == ()


# ------------------------------------------------------------------ bad documents


@pytest.mark.parametrize("text", ["", "<guss", "<guss></gus>", "not xml", "<guss>&bogus;</guss>"])
def test_malformed_xml_raises_codec_error(text: str) -> None:
    with pytest.raises(CodecError, match="malformed"):
        decode_guss(text)


def test_wrong_root_element_raises_codec_error() -> None:
    with pytest.raises(CodecError, match="root element"):
        decode_guss('<uss xmlns="uri:3gpp-gaa" id="1" type="1"/>')


def test_uss_with_wrong_root_element_raises_codec_error() -> None:
    with pytest.raises(CodecError, match="root element"):
        decode_uss(guss_doc())


@pytest.mark.parametrize("lifetime", ["", "abc", "-5", "1.5", "1e3", "\u00b2", "\u0661\u0662"])
def test_bad_lifetime_raises_codec_error(lifetime: str) -> None:
    with pytest.raises(CodecError, match="lifeTime"):
        decode_guss(guss_doc(f"<lifeTime>{lifetime}</lifeTime>"))


@pytest.mark.parametrize("uicc", ["", "SIM", "gba", "GBA_ME", "GBA GBA_U"])
def test_an_unknown_uicc_type_is_read_as_gba_and_keeps_the_rest(
        uicc: str, caplog: pytest.LogCaptureFixture) -> None:
    settings = decode_guss(guss_doc(f"<uiccType>{uicc}</uiccType><lifeTime>600</lifeTime>"))
    assert (settings.uicc_type, settings.lifetime_s) == ("GBA", 600)
    assert "uiccType" in caplog.text


@pytest.mark.parametrize("attrs", ['type="1"', 'id="1"', ""])
def test_uss_lacking_id_or_type_raises_codec_error(attrs: str) -> None:
    with pytest.raises(CodecError, match="lacks id or type"):
        decode_guss(guss_doc(uss_list=f"<uss {attrs}/>"))


def _laugh(level: int) -> str:
    inner = "&lol;" if level == 1 else f"&lol{level - 1};"
    return f'<!ENTITY lol{level} "{inner * 10}">'


def test_billion_laughs_raises_codec_error() -> None:
    entities = "\n".join(_laugh(level) for level in range(1, 10))
    bomb = (f'<?xml version="1.0"?>\n<!DOCTYPE guss [\n<!ENTITY lol "lol">\n{entities}\n]>\n'
            '<guss xmlns="uri:3gpp-gaa"><ussList><uss id="&lol9;" type="1"/></ussList></guss>')
    assert len(bomb) < 2000  # tiny on the wire, 3 * 10^9 characters once expanded
    with pytest.raises(CodecError, match="malformed"):
        decode_guss(bomb)


def test_external_entity_raises_codec_error() -> None:
    xxe = ('<?xml version="1.0"?><!DOCTYPE guss [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           '<guss xmlns="uri:3gpp-gaa"><ussList><uss id="&x;" type="1"/></ussList></guss>')
    with pytest.raises(CodecError):
        decode_guss(xxe)


def test_oversized_document_raises_codec_error() -> None:
    uss = '<uss id="1" type="1"/>' * 4000
    with pytest.raises(CodecError, match="exceeds"):
        decode_guss(guss_doc(uss_list=uss))


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=200) | st.text(max_size=200))
def test_garbage_decodes_or_raises_codec_error(data: bytes | str) -> None:
    with contextlib.suppress(CodecError):
        decode_guss(data)


@settings(max_examples=150, deadline=None)
@given(lifetime=st.text(max_size=12), uicc=st.text(max_size=8))
def test_any_bsf_info_text_decodes_or_raises_codec_error(lifetime: str, uicc: str) -> None:
    doc = ET.Element("guss")
    info = ET.SubElement(doc, "bsfInfo")
    ET.SubElement(info, "uiccType").text = uicc
    ET.SubElement(info, "lifeTime").text = lifetime
    try:
        g = decode_guss(ET.tostring(doc, encoding="unicode"))
    except CodecError:
        return
    assert g.uicc_type in (UICC_GBA, UICC_GBA_U)
    assert g.lifetime_s is not None
    assert g.lifetime_s >= 0


def test_lifetime_beyond_a_year_is_refused_not_overflowed() -> None:
    with pytest.raises(CodecError, match="exceeds"):
        decode_guss(guss_doc(f"<lifeTime>{10**20}</lifeTime>"))

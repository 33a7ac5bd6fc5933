"""digest_header.parse_params, rewritten for speed (possessive regex, fewer copies), must
behave exactly as the implementation it replaced: the same dict, or CodecError from both
(the messages may differ). The old implementation is kept here as the reference."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from gba.errors import CodecError
from gba.protocols.digest_header import MAX_HEADER, parse_params

# ------------------------------------------------------------------ the reference (old code)

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_PARAM = re.compile(
    rf"\s*({_TOKEN})\s*=\s*(?:\"((?:[^\"\\\x00-\x08\x0a-\x1f\x7f]|\\[\x09\x20-\x7e\x80-\xff])*)\"|({_TOKEN}))\s*"
)
_ESCAPE = re.compile(r"\\(.)")
_MAX_HEADER = 8192


def _reference_parse_params(text: str) -> dict[str, str]:
    if len(text) > _MAX_HEADER:
        raise CodecError(f"Digest header of {len(text)} characters exceeds {_MAX_HEADER}")
    params: dict[str, str] = {}
    pos = 0
    end = len(text)
    while pos < end:
        m = _PARAM.match(text, pos)
        if m is None:
            raise CodecError(f"Digest parameter list malformed at offset {pos}")
        name = m.group(1).lower()
        quoted = m.group(2)
        value = _ESCAPE.sub(r"\1", quoted) if quoted is not None else m.group(3)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise CodecError(f"Digest parameter {name!r} is not UTF-8 (offset {pos})") from None
        if name in params:
            raise CodecError(f"Digest parameter {name!r} repeated at offset {pos}")
        params[name] = value
        pos = m.end()
        if pos < end:
            if text[pos] != ",":
                raise CodecError(f"expected ',' at offset {pos} of the Digest header")
            pos += 1
            if not text[pos:].strip():
                raise CodecError("Digest header ends with ','")
    return params


# ------------------------------------------------------------------ generated headers

TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SURROGATES = ["\ud800", "\udc80", "\udcff", "\udfff"]
"""What undecodable octets become with errors="surrogateescape": not UTF-8."""
ODD = ["\x00", "\x01", "\x08", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x7f",
       "\x80", "\x85", "\xa0", "\xe9", "\xff", "\u0100", "\u2003", "\u2028", "\u20ac",
       "\U0001f600", "\ufeff", *SURROGATES]
WHITESPACE = [" ", "\t", "\r\n", "\n", "\x0b", "\x0c", "\x1c", "\x85", "\xa0", "\u2003",
              "\u3000"]

small_names = st.sampled_from(["realm", "nonce", "Realm", "NONCE", "qop", "nc", "a", "A"])
"""Few names, differing in case: repeats (an error) come up often."""
tokens = st.text(st.sampled_from(TOKEN_CHARS), min_size=1, max_size=12)
names = small_names | tokens
spaces = st.lists(st.sampled_from([" ", "\t"]), max_size=2).map("".join)
whitespace = st.lists(st.sampled_from(WHITESPACE), max_size=3).map("".join)

clean_piece = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='"\\'),
            min_size=1, max_size=8),
    st.sampled_from(['\\"', "\\\\", "\\a", "\\ ", "\\\t", "\\,", "\\\x80", "\\\xff",
                     "\\\xe9", "\t", ",", "=", " "]),
    st.text(st.characters(min_codepoint=0x80, max_codepoint=0x10FFFF, codec="utf-8"),
            min_size=1, max_size=4),
)
"""What a quoted-string may hold: both parse it (non-ASCII as UTF-8 text)."""
dirty_piece = st.one_of(
    st.sampled_from(["\\\u20ac", "\\\x00", "\\\n", "\\\x7f", "\\\ud800", "\\", '"']),
    st.sampled_from(ODD),
)
clean_quoted = st.lists(clean_piece, max_size=8).map(lambda parts: '"' + "".join(parts) + '"')
quoted = st.lists(clean_piece | dirty_piece, max_size=8).map(
    lambda parts: '"' + "".join(parts) + '"')
garbage = st.text(st.sampled_from([*'=",\\ ;()<>@:/[]?{}', *ODD, "a", "Z", "0"]),
                  min_size=1, max_size=4)
values = st.one_of(tokens, quoted, garbage, st.just(""), st.just('"'), st.just('""'))


@st.composite
def clean_param(draw: st.DrawFn) -> str:
    """A well-formed name=value (a repeated name is still possible)."""
    return (draw(spaces) + draw(names) + draw(spaces) + "=" + draw(spaces)
            + draw(tokens | clean_quoted) + draw(spaces))


@st.composite
def param(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        clean: str = draw(clean_param())
        return clean
    name: str = draw(names | garbage) if draw(st.integers(0, 7)) == 0 else draw(names)
    equals: str = draw(st.sampled_from(["=", "=", "=", "", "==", ":"]))
    value: str = draw(values)
    return (draw(whitespace) + name + draw(whitespace) + equals + draw(whitespace)
            + value + draw(whitespace))


separators = st.sampled_from([",", ",", ",", ", ", " ,", ",,", ";", "", " ", ",\t",
                              ",\r\n "])
endings = st.sampled_from(["", "", "", ",", ", ", " , ", ",\t", ",\xa0", ",,", "\u2003",
                           ",\u3000", " x", ",="])


@st.composite
def headers(draw: st.DrawFn) -> str:
    """Mostly well-formed lists (about half parse), else with damage anywhere."""
    if draw(st.booleans()):
        params = draw(st.lists(clean_param(), max_size=6, unique_by=lambda p: p.split("=")[0]
                               .strip(" \t").lower()))
        return draw(spaces) + ",".join(params) + draw(st.sampled_from(["", "", ",", " "]))
    params = draw(st.lists(param(), max_size=6))
    text = ""
    for i, p in enumerate(params):
        text += p if i == 0 else draw(separators) + p
    return draw(whitespace) + text + draw(endings)


raw_text = st.text(st.sampled_from([*'ab=",\\ \t', *ODD]), max_size=30)
"""Anything at all from the characters the grammar cares about."""


def outcome(parse: object, text: str) -> tuple[str, dict[str, str] | None]:
    assert callable(parse)
    try:
        return "ok", parse(text)
    except CodecError:
        return "CodecError", None


def assert_same(text: str) -> None:
    assert outcome(parse_params, text) == outcome(_reference_parse_params, text), repr(text)


@settings(max_examples=3000)
@given(headers())
@example("")
@example(" ")
@example("a=b")
@example("a=b,")
@example("a=b, ")
@example("a=b ,\xa0")
@example("a=b,,c=d")
@example('a="x\\"y", B=c')
@example('a="x\\', )
@example('a="x\\"')
@example('a="\\\u20ac"')
@example('a="\ud800"')
@example('a="\\\ud800"')
@example("a=b, A=c")
@example('a="\x00"')
@example('a="\t"')
@example('a="\\\t"')
@example("a = b , c = \"d\" ")
def test_parse_params_matches_the_reference_on_parameter_lists(text: str) -> None:
    assert_same(text)


@settings(max_examples=3000)
@given(raw_text)
def test_parse_params_matches_the_reference_on_any_text(text: str) -> None:
    assert_same(text)


@settings(max_examples=200)
@given(st.integers(MAX_HEADER - 12, MAX_HEADER + 4), st.sampled_from(["", ",", ", "]),
       st.booleans())
def test_parse_params_matches_the_reference_at_the_length_limit(
        length: int, ending: str, quote: bool) -> None:
    head = 'nonce="' if quote else "nonce="
    tail = '"' if quote else ""
    fill = max(0, length - len(head) - len(tail) - len(ending))
    assert_same(head + "x" * fill + tail + ending)


def test_the_reference_is_the_limit_the_module_has() -> None:
    assert _MAX_HEADER == MAX_HEADER

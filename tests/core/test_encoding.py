"""Canonical encoding: golden vectors derived from RFC 8785 (JCS) and the float-free subset.

Expected bytes are written out by hand from the RFC's rules (and its published examples in
sections 3.2.2.2 and 3.2.3), never copied from the encoder's own output.
"""

from __future__ import annotations

import json
import random
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supplyledger.errors import EncodingError, NonCanonical
from supplyledger.ledger.encoding import (
    MAX_INT,
    canonical,
    canonical_decoded,
    decode,
    decode_canonical,
)

# -- golden vectors ---------------------------------------------------------------------------

GOLDEN: list[tuple[str, Any, bytes]] = [
    ("null", None, b"null"),
    ("true", True, b"true"),
    ("false", False, b"false"),
    ("zero", 0, b"0"),
    ("negative", -17, b"-17"),
    ("max_int", 2**53 - 1, b"9007199254740991"),
    ("min_int", -(2**53 - 1), b"-9007199254740991"),
    ("empty_string", "", b'""'),
    ("empty_object", {}, b"{}"),
    ("empty_array", [], b"[]"),
    # Members sorted by key, no whitespace anywhere.
    ("sorted_keys", {"b": 1, "a": 2}, b'{"a":2,"b":1}'),
    # Code-point order: uppercase < lowercase, a prefix sorts before its extensions.
    ("key_order", {"b": 0, "aa": 0, "a": 0, "B": 0, "": 0},
     b'{"":0,"B":0,"a":0,"aa":0,"b":0}'),
    # RFC 8785 3.2.3 example without its non-BMP key: \r, 1, U+0080, U+00F6, U+20AC, U+FB33.
    ("rfc8785_sorting",
     {"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis"},
     b'{"\\r":"Carriage Return","1":"One","\xc2\x80":"Control",'
     b'"\xc3\xb6":"Latin Small Letter O With Diaeresis","\xe2\x82\xac":"Euro Sign",'
     b'"\xef\xac\xb3":"Hebrew Letter Dalet With Dagesh"}'),
    # Escapes: short forms for \b \t \n \f \r " \\, lowercase \u00xx for other controls.
    ("unit_separator", "\u001f", b'"\\u001f"'),
    ("nul", "\u0000", b'"\\u0000"'),
    ("newline", "a\nb", b'"a\\nb"'),
    ("short_escapes", "\b\t\n\f\r", b'"\\b\\t\\n\\f\\r"'),
    ("quote", 'say "hi"', b'"say \\"hi\\""'),
    ("backslash", "C:\\dir", b'"C:\\\\dir"'),
    # Not escaped: solidus, DEL, U+2028/U+2029 (ES2019 JSON.stringify), everything >= 0x20.
    ("solidus", "a/b", b'"a/b"'),
    ("del", "\u007f", b'"\x7f"'),
    ("line_separator", "\u2028\u2029", b'"\xe2\x80\xa8\xe2\x80\xa9"'),
    # Non-ASCII text passes through as UTF-8 (values may be outside the BMP).
    ("utf8", "caf\u00e9 \u20ac \U0001f600", b'"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"'),
    ("nested", {"z": [1, {"b": None, "a": [True, False]}], "a": {"c": [], "b": {}}},
     b'{"a":{"b":{},"c":[]},"z":[1,{"a":[true,false],"b":null}]}'),
    ("array_order_kept", [3, 1, 2, "b", "a"], b'[3,1,2,"b","a"]'),
    # RFC 8785 3.2.2.2's string example (its "numbers" member is floats, so left out here).
    ("rfc8785_string", {"string": "\u20ac$\u000f\nA'B\"\\\\\"/", "literals": [None, True, False]},
     b'{"literals":[null,true,false],"string":"\xe2\x82\xac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'),
]


@pytest.mark.parametrize(("value", "expected"), [g[1:] for g in GOLDEN],
                         ids=[g[0] for g in GOLDEN])
def test_golden_vector(value: Any, expected: bytes) -> None:
    assert canonical(value) == expected
    # The bytes are canonical, decode back to the value, and re-encode identically.
    assert decode_canonical(expected) == value
    assert canonical_decoded(decode(expected)) == expected


def test_every_control_character_follows_the_rfc8785_escape_table() -> None:
    short = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"}
    for c in range(0x20):
        want = short.get(c, f"\\u{c:04x}")
        assert canonical(chr(c)) == f'"{want}"'.encode(), hex(c)
    for c in (0x20, 0x21, 0x23, 0x7E, 0x7F, 0x80, 0x9F, 0xFFFD):
        assert canonical(chr(c)) == b'"' + chr(c).encode() + b'"', hex(c)


def test_rfc8785_string_example_parsed_from_its_json_text() -> None:
    # The literal input of RFC 8785 3.2.2.2, including \u000F (uppercase) and an escaped "/".
    text = (r'''{"string":"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",'''
            r'''"literals":[null,true,false]}''')
    want = next(g[2] for g in GOLDEN if g[0] == "rfc8785_string")
    assert canonical_decoded(decode(text)) == want
    with pytest.raises(NonCanonical):
        decode_canonical(text.encode())


def test_tuples_encode_as_arrays() -> None:
    assert canonical((1, "a")) == b'[1,"a"]'


# -- rejections -------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    1.0, 0.5, -0.0, 1e5, float("nan"), float("inf"), float("-inf"),
    [1, 2.5], {"a": {"b": [0.1]}}, {"price": 10.0},
], ids=repr)
def test_canonical_rejects_floats_anywhere(value: Any) -> None:
    with pytest.raises(EncodingError):
        canonical(value)


@pytest.mark.parametrize("value", [2**53, -(2**53), 10**20, [2**53], {"n": -(2**60)}], ids=repr)
def test_canonical_rejects_integers_outside_the_exact_range(value: Any) -> None:
    with pytest.raises(EncodingError):
        canonical(value)


@pytest.mark.parametrize("value", [
    b"bytes", bytearray(b"x"), {1, 2}, frozenset(), object(), {"a": b"x"}, [{1}],
    {1: "int key"}, {None: 1}, {("a",): 1},
], ids=repr)
def test_canonical_rejects_unsupported_types(value: Any) -> None:
    with pytest.raises(EncodingError):
        canonical(value)


@pytest.mark.parametrize("value", [
    {"\U0001f600": 1}, {"ok": {"x\U00010000": 1}}, [{"\U0010ffff": None}],
], ids=repr)
def test_canonical_rejects_keys_outside_the_bmp(value: Any) -> None:
    # UTF-16 sort order (RFC 8785) and code-point order differ only outside the BMP.
    with pytest.raises(EncodingError):
        canonical(value)


@pytest.mark.parametrize("value", ["\ud800", "a\udfffb", {"k": "\udc00"}, {"\ud83d": 1}],
                         ids=repr)
def test_canonical_rejects_lone_surrogates(value: Any) -> None:
    with pytest.raises(EncodingError):
        canonical(value)


def test_canonical_rejects_deep_nesting() -> None:
    # Nesting is bounded by the recursion limit, the same bound decode() has.
    v: Any = 0
    for _ in range(sys.getrecursionlimit() + 10):
        v = [v]
    with pytest.raises(EncodingError):
        canonical(v)


@pytest.mark.parametrize("data", [
    b"1.0", b"1e5", b"1E5", b"-0.0", b"0.0", b"[1,2.5]", b'{"a":{"b":1e-3}}', b"1E400",
    b"NaN", b"Infinity", b"-Infinity", b"[NaN]",
    b"", b"not json", b"{", b'{"a":1,}', b"[1 2]", b"\xff\xfe", b'"\xc3"',
], ids=repr)
def test_decode_rejects_floats_constants_big_ints_and_malformed_json(data: bytes) -> None:
    with pytest.raises(EncodingError):
        decode(data)


@pytest.mark.parametrize("data", [
    b"9007199254740992", b"-9007199254740992", b'{"n":123456789012345678901234567890}'])
def test_big_ints_decode_but_never_reach_canonical_bytes(data: bytes) -> None:
    # decode() leaves integer size to where values are used (see the module docstring):
    # anything a contract stores or emits goes through canonical(), which refuses them.
    value = decode(data)
    with pytest.raises(EncodingError):
        canonical(value)


def test_decode_accepts_the_integer_edges() -> None:
    assert decode(b"[9007199254740991,-9007199254740991]") == [MAX_INT, -MAX_INT]


def test_decode_keeps_the_last_of_repeated_keys() -> None:
    # Documented in the module: parsing keeps the last value; canonical bytes can't repeat.
    assert decode(b'{"a":1,"a":2}') == {"a": 2}


@pytest.mark.parametrize("data", [
    b'{"a": 1}', b' {"a":1}', b'{"a":1}\n', b'{"b":1,"a":2}', b'"\\/"', b'"\\u001F"',
    b'"\\u0041"', b'"\\u00e9"', b'"\\u2028"', b'{"a":1,"a":1}', b"-0", b"[1, 2]",
    b'"\\ud83d\\ude00"',
], ids=repr)
def test_decode_canonical_rejects_non_canonical_bytes(data: bytes) -> None:
    decode(data)  # valid JSON in the subset ...
    with pytest.raises(NonCanonical):  # ... but not in its one canonical spelling
        decode_canonical(data)


@pytest.mark.parametrize("data", [b"1.0", b'{"\\ud83d\\ude00":1}', b'"\\ud800"'], ids=repr)
def test_decode_canonical_rejects_values_outside_the_subset(data: bytes) -> None:
    with pytest.raises(EncodingError):
        decode_canonical(data)


def test_canonical_decoded_still_rejects_non_bmp_keys() -> None:
    value = decode('{"ok":[{"\U0001f600":1}]}'.encode())
    with pytest.raises(EncodingError):
        canonical_decoded(value)


def test_canonical_decoded_rejects_lone_surrogates_from_decode() -> None:
    with pytest.raises(EncodingError):
        canonical_decoded(decode(b'{"a":"\\udc00"}'))


def test_decode_rejects_lone_surrogate_escapes() -> None:
    with pytest.raises(EncodingError):
        decode(b'"\\ud800"')


def test_canonical_decoded_agrees_with_canonical_on_deep_values() -> None:
    value = decode(b"[" * 70 + b"]" * 70)
    assert canonical(value) == canonical_decoded(value) == b"[" * 70 + b"]" * 70
    too_deep = b"[" * (sys.getrecursionlimit() + 10) + b"]" * (sys.getrecursionlimit() + 10)
    with pytest.raises(EncodingError):
        decode(too_deep)


# -- properties -------------------------------------------------------------------------------

_text = st.text(st.characters(codec="utf-8"), max_size=12)  # no lone surrogates
_bmp_key = st.text(st.characters(codec="utf-8", max_codepoint=0xFFFF), max_size=8)
_scalar = st.none() | st.booleans() | st.integers(-MAX_INT, MAX_INT) | _text
json_values = st.recursive(
    _scalar,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_bmp_key, inner, max_size=5),
    max_leaves=25,
)


@settings(max_examples=120, deadline=None)
@given(json_values)
def test_property_canonical_round_trips(value: Any) -> None:
    data = canonical(value)
    assert decode(data) == value
    assert decode_canonical(data) == value
    assert canonical_decoded(decode(data)) == data


@settings(max_examples=120, deadline=None)
@given(json_values, st.integers(0, 2**32))
def test_property_canonical_decoded_equals_canonical_for_any_spelling(value: Any,
                                                                      seed: int) -> None:
    # Re-spell the same value: other whitespace, key order, ASCII escapes; the canonical bytes
    # of what decode() returns must not depend on the spelling.
    rng = random.Random(seed)

    def shuffle(v: Any) -> Any:
        if isinstance(v, dict):
            items = list(v.items())
            rng.shuffle(items)
            return {k: shuffle(x) for k, x in items}
        if isinstance(v, list):
            return [shuffle(x) for x in v]
        return v

    text = json.dumps(shuffle(value), indent=rng.choice([None, 1, 2]),
                      ensure_ascii=rng.random() < 0.5)
    decoded = decode(text)
    assert canonical_decoded(decoded) == canonical(decoded) == canonical(value)

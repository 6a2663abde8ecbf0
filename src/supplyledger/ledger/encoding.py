"""Canonical encoding: the one function whose bytes every hash and signature covers.

The scheme is a strict subset of RFC 8785 (JSON Canonicalization Scheme):

* values are ``None``, ``bool``, ``int``, ``str``, ``list`` and ``dict`` with ``str`` keys;
* no floats anywhere: money is integer minor units, measurements are decimal strings;
* integers are limited to the IEEE-754 exact range (|n| <= 2**53 - 1), as I-JSON requires,
  so every JSON implementation reads them back exactly. :func:`canonical` enforces this on
  every value a contract stores, emits or returns, and a submitted transaction's envelope
  and arguments are checked once decoded (``ledger/tx.py``); :func:`decode` itself accepts
  any size, because scanning every submission's bytes for long digit runs costs more than
  the whole parse;
* object keys must lie in the Basic Multilingual Plane, where sorting by code point (what
  Python does) equals RFC 8785's sorting by UTF-16 code units;
* strings must be valid Unicode (no lone surrogates);
* on input a repeated object key keeps its last value (as ``json`` does); what is hashed,
  signed and stored is always the canonical re-encoding, so no two readings can exist.

Within that subset msgspec's JSON encoder with sorted keys emits exactly the RFC 8785 bytes
(same escapes, lowercase ``\\u00xx``, no ``/`` escaping), in C and several times faster
than the standard library, which matters because every transaction is encoded and decoded
on the hot path. Golden vectors in the tests pin the output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import msgspec

from supplyledger.errors import EncodingError, NonCanonical

__all__ = [
    "MAX_INT",
    "Json",
    "NotJsonConstant",
    "RepeatedMember",
    "canonical",
    "canonical_decoded",
    "canonical_framed",
    "check_value",
    "decode",
    "decode_canonical",
    "strict_loads",
    "unique_members",
]

Json = Any
MAX_INT = 2**53 - 1

_encode_sorted = msgspec.json.Encoder(order="sorted").encode


def _reject_float(text: str) -> Any:
    raise ValueError(f"floats are not allowed in ledger data (got {text}); "
                     "use integer minor units or a decimal string")


_decode = msgspec.json.Decoder(float_hook=_reject_float).decode
_ASTRAL = re.compile("[\U00010000-\U0010FFFF]")


def check_value(value: Any) -> None:
    """Raise :class:`EncodingError` unless ``value`` is inside the canonical subset.

    Nesting is bounded by the interpreter's recursion limit, as it is for :func:`decode`,
    so decoded and constructed values obey the same rule."""
    try:
        _check(value)
    except RecursionError:
        raise EncodingError("value is nested too deeply") from None


_MIN_INT = -MAX_INT


def _check(value: Any) -> None:
    # One plain loop per container, the common leaves tested inline: on the small objects
    # contracts store and emit, passes in C (``set(map(type, ...))``, ``all(...)`` over the
    # keys) cost more than they save, even for flat objects of strings.
    t = type(value)
    if t is dict:
        for k, v in value.items():
            if type(k) is not str or not k.isascii():
                _check_key(k)
            tv = type(v)
            if tv is str or v is None or tv is bool or (
                    tv is int and _MIN_INT <= v <= MAX_INT):
                continue
            _check(v)
        return
    if t is list or t is tuple:
        for v in value:
            _check(v)
        return
    if t is str or t is bool or value is None:
        return
    if t is int:
        if not _MIN_INT <= value <= MAX_INT:
            raise EncodingError(f"integer {value} is outside the exact range ±(2**53-1)")
        return
    if t is float:
        raise EncodingError(f"floats are not allowed in ledger data (got {value!r})")
    raise EncodingError(f"type {t.__name__} cannot be canonically encoded")


def _check_key(k: Any) -> None:
    """An object key that is not a plain ASCII string: a string in the BMP passes."""
    if type(k) is not str:
        raise EncodingError(f"object key {k!r} is not a string")
    if _ASTRAL.search(k):
        raise EncodingError(f"object key {k!r} lies outside the Basic Multilingual Plane")


def canonical(value: Any) -> bytes:
    """Canonical bytes of ``value``; raises :class:`EncodingError` outside the subset."""
    check_value(value)
    return _encode(value)


def canonical_framed(value: Any, parts: Iterable[Any]) -> bytes:
    """Canonical bytes of ``value``, a frame the caller built of strings, booleans, lists
    and objects with ASCII string keys around ``parts``, the only values in it from
    elsewhere: those are checked, in the order given (for the same first error as a full
    check, the order in which it would meet them), the frame itself is not.

    The node builds every receipt this way: the frame, about a third of what a full check
    of a receipt walks, is canonical by construction (tests/core/test_review12_speed.py).
    """
    for part in parts:
        check_value(part)
    return _encode(value)


def canonical_decoded(value: Any) -> bytes:
    """Canonical bytes of a value that :func:`decode` produced (or a part of one).

    The parser already refused floats, NaN and lone surrogates, keys are strings, and the
    caller bounds integers (envelopes check their own, :func:`~supplyledger.ledger.tx.
    check_args_bounds` those in the arguments), so only the non-BMP-key rule remains to
    check; this skips the full walk on the hot path (transaction envelopes, EPCIS documents
    inside arguments).
    """
    out = _encode(value)
    if not out.isascii() and _ASTRAL.search(out.decode("utf-8")):
        check_value(value)
    return out


def _encode(value: Any) -> bytes:
    try:
        return _encode_sorted(value)
    except (TypeError, ValueError, RecursionError, UnicodeEncodeError) as exc:
        raise EncodingError(f"value cannot be canonically encoded: {exc}") from None


def decode(data: bytes | str) -> Any:
    """Parse JSON (floats, NaN, lone surrogates and malformed input rejected; a repeated
    key keeps its last value; integer size is checked where values are used, see above)."""
    try:
        value = _decode(data)
    except msgspec.ValidationError as exc:
        raise EncodingError(str(exc).split(" - at ")[0]) from None
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
        raise EncodingError(f"malformed JSON: {exc}") from None
    return value


def decode_canonical(data: bytes) -> Any:
    """Parse bytes that must already be canonical (as stored blocks are)."""
    value = decode(data)
    if canonical(value) != data:
        raise NonCanonical("bytes are not in canonical form")
    return value


class RepeatedMember(ValueError):
    """An object of JSON text names ``name`` twice."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the member {name[:60]!r} appears twice in one object: name it once")
        self.name = name


class NotJsonConstant(ValueError):
    """``NaN``, ``Infinity`` or ``-Infinity``, which Python's json reads but JSON has not."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is not a JSON number")
        self.name = name


def unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json``'s ``object_pairs_hook`` refusing a member named twice: parsers disagree on
    which of the two counts, so what a sender's tools read and what is signed could
    differ."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise RepeatedMember(name)
            seen.add(name)
    return out


def _not_json(name: str) -> Any:
    raise NotJsonConstant(name)


def strict_loads(text: str | bytes) -> Any:
    """JSON that people wrote (a request file, ``--args``, a request body), read with the
    standard library, refusing what :func:`decode` would let through silently or differently:
    a member named twice (:class:`RepeatedMember`) and ``NaN``/``Infinity``
    (:class:`NotJsonConstant`); malformed text raises :class:`json.JSONDecodeError`, all
    of them ``ValueError`` (and ``RecursionError`` for nesting too deep to read)."""
    return json.loads(text, parse_constant=_not_json, object_pairs_hook=unique_members)

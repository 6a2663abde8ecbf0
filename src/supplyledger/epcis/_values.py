"""Rules for single EPCIS values (identifiers, times, vocabulary terms, numbers, codes).

A rule is a pure function: ``rule(value)`` says why ``value`` is wrong, or returns None.
The validator in :mod:`.validate` walks the structures and, only when a rule objects,
formats the JSON path the problem is reported at -- so a well-formed event costs no path
strings.

Why verdicts on strings are cached: an import checks thousands of events per second, and a
document repeats most of its values on every event (locations, parties, business steps,
dispositions, transaction types, time zone offsets). A cached verdict is one look-up where
the checks behind it take regexes, vocabulary spellings and EPC parsing. Only exact ``str``
values are cached (``1`` and ``True`` would share a key). Times are not: they are new on
nearly every event, so a cache would only add the cost of storing them. Well-formed EPC URNs
skip this cache: :func:`~supplyledger.gs1.canonical_digital_link` already caches them, for
the hasher and the trace facts too.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from supplyledger.errors import ValidationError
from supplyledger.gs1 import canonical_digital_link, parse_epc

from ._common import (
    SENSOR_ALERTS,
    TIME_ZONE_OFFSET,
    URI,
    _match_datetime,
    cbv_term,
    is_cbv_namespace,
)

__all__ = [
    "ACTIONS", "Rule", "action", "alert", "biz_step", "boolean", "btt", "component",
    "disposition", "error_reason", "hex_binary", "measurement_type", "number", "offset", "sdt",
    "string", "time", "uom", "uri",
]

Rule = Callable[[Any], "str | None"]
ACTIONS = frozenset(("ADD", "OBSERVE", "DELETE"))
_HEX = frozenset("0123456789abcdefABCDEF")


def _cached_for_strings(rule: Rule) -> Rule:
    """``rule`` with its verdicts on ``str`` values cached (other values are checked anew)."""
    cached = lru_cache(maxsize=1 << 16)(rule)

    def check(value: Any) -> str | None:
        return cached(value) if value.__class__ is str else rule(value)

    return check


# ------------------------------------------------------------------------------ identifiers
def uri(value: Any) -> str | None:
    """A URI; an ``urn:epc:`` URN must also be a well-formed EPC."""
    if value.__class__ is str and value.startswith("urn:epc:") \
            and canonical_digital_link(value) is not None:
        # The common case first, on the cache the hasher and the trace facts share: a
        # well-formed EPC is a URI (the EPC grammar has no white space), nothing else to see.
        return None
    return _any_uri(value)


def _uri(value: Any) -> str | None:
    if not isinstance(value, str) or URI.match(value) is None:
        return f"{value!r} is not a URI"
    if value.startswith("urn:epc:"):  # and not well-formed (see above): say why
        try:
            parse_epc(value)
        except ValidationError as exc:
            return exc.message
    return None


_any_uri = _cached_for_strings(_uri)


# ------------------------------------------------------------------------------ times
def time(value: Any) -> str | None:
    if not isinstance(value, str) or _match_datetime(value) is None:
        return (f"{value!r} is not an ISO 8601 date-time with a UTC offset "
                "(e.g. 2024-05-01T12:00:00.000+02:00)")
    return None


def _offset(value: Any) -> str | None:
    if not (isinstance(value, str) and TIME_ZONE_OFFSET.match(value)):
        return f"{value!r} is not a time zone offset (+hh:mm or -hh:mm, -14:00..+14:00)"
    return None


offset = _cached_for_strings(_offset)


# ------------------------------------------------------------------------------ plain values
def number(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{value!r} must be a number"
    return None


def string(value: Any) -> str | None:
    return None if isinstance(value, str) else f"{value!r} must be a string"


def boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"{value!r} must be true or false"


def hex_binary(value: Any) -> str | None:
    if not (isinstance(value, str) and value and len(value) % 2 == 0
            and _HEX.issuperset(value)):
        return f"{value!r} is not hexBinary (pairs of hex digits)"
    return None


def _uom(value: Any) -> str | None:
    if not (isinstance(value, str) and 2 <= len(value) <= 3 and value.isalnum()
            and value.isascii() and value == value.upper()):
        return f"{value!r} is not a UN/CEFACT Rec. 20 unit code (2-3 of A-Z, 0-9)"
    return None


uom = _cached_for_strings(_uom)


def action(value: Any) -> str | None:
    if not (isinstance(value, str) and value in ACTIONS):
        return f"{value!r} must be ADD, OBSERVE or DELETE"
    return None


# ------------------------------------------------------------------------------ vocabularies
def _vocabulary(kind: str, label: str, strict: bool) -> Rule:
    """The rule for a CBV vocabulary: a standard value in any spelling, or a URI of a user
    vocabulary. ``strict``: no other value may be spelt in the CBV namespace."""

    def rule(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"{value!r} must be a string"
        if cbv_term(value, kind) is not None:
            return None
        if URI.match(value) is None:
            return (f"{value!r} is neither a CBV 2.0 {label} nor a URI "
                    "(a non-standard value must be a namespaced URI)")
        if value.startswith("urn:epcglobal:cbv:") or (strict and is_cbv_namespace(value)):
            # GS1 owns the CBV namespace: nobody may mint a business step or disposition there.
            return f"{value!r} is in the CBV namespace but is not a CBV 2.0 {label}"
        return None

    return _cached_for_strings(rule)


biz_step = _vocabulary("BizStep", "business step", True)
disposition = _vocabulary("Disp", "disposition", True)
btt = _vocabulary("BTT", "business transaction type", False)
sdt = _vocabulary("SDT", "source/destination type", False)
error_reason = _vocabulary("ER", "error reason", False)
component = _vocabulary("Comp", "component", False)


def _measurement_type(value: Any) -> str | None:
    if not (isinstance(value, str) and (
        (value.isidentifier() and value[0].isalpha()) or URI.match(value)
    )):
        return f"{value!r} is neither a GS1 measurement type nor a URI"
    return None


measurement_type = _cached_for_strings(_measurement_type)


def alert(value: Any) -> str | None:
    if not (isinstance(value, str) and (value in SENSOR_ALERTS or URI.match(value))):
        return f"{value!r} is neither ALARM_CONDITION, ERROR_CONDITION nor a URI"
    return None


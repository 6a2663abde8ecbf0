"""The import's fast path: an event checked and pre-hashed in one pass, with what the
document repeats remembered.

Why: a capture document is thousands of events that look alike -- the same type and fields,
the same business step, disposition, action, time zone, locations and parties; only the
identifiers and times change. The general validator (:mod:`.validate`) and hasher
(:mod:`.hashing`) each walk every field of every event. Here one pass does both, after a
plan worked out once per event shape, and a field value seen before in the document costs
a look-up: it was valid then, and its pre-hash text is remembered.

The fast path decides nothing of its own: a value it has not seen is judged by the general
rules and checks and written by the general writers; it only remembers their verdict and
text, for values it can key exactly -- strings, places that are nothing but
``{"id": string}``, and lists of (type, identifier) string pairs. Times and event IDs are
never remembered: they are new on nearly every event. An event it cannot vouch for -- any
problem, its own ``@context``, a JSON-LD keyword, a missing required field -- gets ``None``,
and the general path validates it (with paths and messages) and hashes it.
tests/epcis/test_epcis_fastpaths.py holds it to the general path and to the outcomes of the
implementation before it, on the OpenEPCIS corpus and on generated variants.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from ._canon import Canon
from ._common import namespace_error
from ._values import Rule
from .hashing import _POSITION, _STANDARD, _WRITERS, _Writer
from .validate import _EVENT_SHAPES, _REQUIRED, _Checker, _Nested, _what_rules

__all__ = ["PlainEvents"]

# What a field's value is remembered by: "text" for plain values (a string), "place" for
# readPoint/bizLocation (the id of a place without extensions), a role for the lists of
# (type, identifier) pairs (the pairs), "" for nothing.
_PAIRS = {"bizTransactionList": "bizTransaction", "sourceList": "source",
          "destinationList": "destination"}
_NEVER = frozenset(("eventTime", "recordTime", "eventID"))  # new on nearly every event
# (field, its rule or its check, its pre-hash writer (None: not hashed), what it is
# remembered by) in the order the pre-hash lists them, and the event's other fields
_Field = tuple[str, Rule | None, _Nested | None, _Writer | None, str]
_Plan = tuple[tuple[_Field, ...], tuple[str, ...], bool]


class PlainEvents:
    """The fast path for the events of one namespace scope (a document's ``@context``)."""

    __slots__ = ("canon", "checker", "extension_ok", "problems", "seen")

    def __init__(self, canon: Canon) -> None:
        self.canon = canon
        self.problems: list[dict[str, Any]] = []  # what the general checks find: a veto
        self.checker = _Checker(self.problems, None, canon.terms)
        self.seen: defaultdict[str, dict[Any, str]] = defaultdict(dict)  # field -> value -> text
        self.extension_ok: dict[str, bool] = {}

    def prehash(self, event: Any) -> str | None:
        """The CBV 2.0 pre-hash of ``event`` if it is valid and plain, else None."""
        if type(event) is not dict:
            return None
        etype = event.get("type")
        if type(etype) is not str:
            return None
        plan = _plan(etype, tuple(event))
        if plan is None:
            return None
        fields, others, extended = plan
        for key in others:
            ok = self.extension_ok.get(key)
            if ok is None:
                ok = self.extension_ok[key] = _is_extension(key, self.canon.terms)
            if not ok:
                return None
        parts: list[str] = ["eventType=", etype]
        nested: list[str] = []  # extensions inside structures (after the main part)
        seen = self.seen
        for key, rule, check, write, remembered_by in fields:
            value = event[key]
            if remembered_by == "text":  # (the most common case, without a call)
                memo_key = value if type(value) is str else None
            else:
                memo_key = _memo_key(remembered_by, value) if remembered_by else None
            if memo_key is not None:
                text = seen[key].get(memo_key)
                if text is not None:  # valid before, and written
                    parts.append(text)
                    continue
            if not self._valid(key, value, rule, check):
                return None
            text = "" if write is None else write(self.canon, key, value, nested)
            if memo_key is not None:
                seen[key][memo_key] = text
            parts.append(text)
        _what_rules(self.checker, event, etype)
        if self.problems:
            self.problems.clear()
            return None
        parts.extend(nested)
        if extended:
            parts.extend(self.canon.extensions(event, _STANDARD))
        return "".join(parts)

    def _valid(self, key: str, value: Any, rule: Rule | None, check: _Nested | None) -> bool:
        """The general verdict on one field: True if it has no problem."""
        if rule is not None:
            return rule(value) is None
        if check is not None:
            check(self.checker, value, key)
        if self.problems:
            self.problems.clear()
            return False
        return True


@lru_cache(maxsize=1024)
def _plan(etype: str, fields: tuple[str, ...]) -> _Plan | None:
    """The fields of an ``etype`` event with ``fields`` in the pre-hash's order, its other
    fields (to be namespaced extensions), and whether the hash has extensions to add; None if
    the fast path cannot take such events."""
    shape = _EVENT_SHAPES.get(etype)
    if shape is None or not _REQUIRED.issubset(fields) or any(k[:1] == "@" for k in fields):
        return None
    known = []
    others = []
    for key in fields:
        if key == "type":  # (known to be etype)
            continue
        rule, check = shape.values.get(key), shape.nested.get(key)
        if rule is None and check is None:
            others.append(key)
            continue
        if key in _NEVER:
            remembered_by = ""
        elif key in ("readPoint", "bizLocation"):
            remembered_by = "place"
        else:
            remembered_by = _PAIRS.get(key, "text" if rule is not None else "")
        known.append((_POSITION.get(key, len(_POSITION)),
                      (key, rule, check, _WRITERS.get(key), remembered_by)))
    known.sort(key=_first)
    return tuple(f for _, f in known), tuple(others), not _STANDARD.issuperset(fields)


def _first(item: tuple[int, _Field]) -> int:
    return item[0]


def _is_extension(key: str, terms: Mapping[str, str]) -> bool:
    """As :func:`~supplyledger.epcis.validate.event_problems` judges a non-standard field."""
    return (":" in key or key in terms) and namespace_error(key, terms) is None


def _memo_key(remembered_by: str, value: Any) -> Any:
    """What ``value`` is remembered by (exactly: strings only), or None."""
    if remembered_by == "place":
        if type(value) is dict and len(value) == 1:
            place_id = value.get("id")
            if type(place_id) is str:
                return place_id
        return None
    if type(value) is not list:
        return None
    pairs = []
    for item in value:  # [{"type": string, role: string}, ...]; the type may be absent
        if type(item) is not dict:
            return None
        typ, ident = item.get("type"), item.get(remembered_by)
        if type(ident) is not str or len(item) != (1 if typ is None else 2) or (
                typ is not None and type(typ) is not str):
            return None
        pairs.append((typ, ident))
    return tuple(pairs)

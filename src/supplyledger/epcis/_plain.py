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
``{"id": string}`` (judged by the rule of their id, the one check such a place has), lists
of (type, party) string pairs, and quantity lists (a trace event names its batch in one).
Times, event IDs, EPC lists and business transactions are never remembered: they are new
on nearly every event. The plan of an event shape is worked out once (globally) and bound
to a scope's memos once per scope. An event it cannot vouch for -- any
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

from . import _values as rules
from ._canon import Canon
from ._common import namespace_error
from ._values import Rule
from .hashing import _POSITION, _STANDARD, _WRITERS, _Writer
from .validate import _EVENT_SHAPES, _REQUIRED, _Checker, _Nested, _what_rules

__all__ = ["PlainEvents"]

# What a field's value is remembered by (its "memo kind"): a string value; the id of a
# place without extensions; the (type, party) pairs of a source or destination list; the
# elements of a quantity list; or nothing (_NONE).
_TEXT, _PLACE, _PAIRS, _AMOUNTS, _NONE = "text", "place", "pairs", "amounts", ""
_PARTIES = {"sourceList": "source", "destinationList": "destination"}
_QUANTITY_LISTS = frozenset(("quantityList", "childQuantityList", "inputQuantityList",
                             "outputQuantityList"))
_QUANTITY_TYPES = frozenset((int, float, type(None)))  # (exactly: not bool, not subclasses)
_NEVER = frozenset(("eventTime", "recordTime", "eventID"))  # new on nearly every event
_MAX_PLANS = 1024
# (field, memo kind, the memo of its values: value key -> text, its rule or its check, its
# pre-hash writer (None: not hashed)) in the order the pre-hash lists them
_Field = tuple[str, str, dict[Any, str], Rule | None, _Nested | None, _Writer | None]
# (those fields, the event's other fields, whether the hash has extensions to add)
_Plan = tuple[tuple[_Field, ...], tuple[str, ...], bool]


class PlainEvents:
    """The fast path for the events of one namespace scope (a document's ``@context``)."""

    __slots__ = ("canon", "checker", "extension_ok", "plans", "problems", "seen")

    def __init__(self, canon: Canon) -> None:
        self.canon = canon
        self.problems: list[dict[str, Any]] = []  # what the general checks find: a veto
        self.checker = _Checker(self.problems, None, canon.terms)
        self.seen: defaultdict[str, dict[Any, str]] = defaultdict(dict)  # field -> value -> text
        self.extension_ok: dict[str, bool] = {}
        # (type, fields) -> plan, or None for events the fast path does not take
        self.plans: dict[tuple[str, tuple[str, ...]], _Plan | None] = {}

    def prehash(self, event: Any) -> str | None:
        """The CBV 2.0 pre-hash of ``event`` if it is valid and plain, else None."""
        if type(event) is not dict:
            return None
        etype = event.get("type")
        if type(etype) is not str:
            return None
        shape = (etype, tuple(event))
        try:
            plan = self.plans[shape]
        except KeyError:
            plan = self._plan(shape)
        if plan is None:
            return None
        fields, others, extended = plan
        for key in others:
            ok = self.extension_ok.get(key)
            if ok is None:
                ok = self.extension_ok[key] = _is_extension(key, self.canon.terms)
            if not ok:
                return None
        canon, problems = self.canon, self.problems
        parts: list[str] = ["eventType=", etype]
        nested: list[str] = []  # extensions inside structures (after the main part)
        for key, kind, memo, rule, check, write in fields:
            value = event[key]
            if kind is _TEXT and type(value) is str:  # (the most common case, inline)
                text = memo.get(value)
                if text is None:  # not seen: judged by its rule, written by its writer
                    if rule(value) is not None:  # type: ignore[misc]  # (text: a rule)
                        return None
                    text = memo[value] = write(canon, key, value, nested)  # type: ignore[misc]
                parts.append(text)
                continue
            if kind is _PLACE:  # a place remembered by its id: {"id": string}, nothing else
                memo_key = value.get("id") if type(value) is dict and len(value) == 1 else None
                if type(memo_key) is not str:
                    memo_key = None
            elif kind is _PAIRS:
                memo_key = _pairs(value, _PARTIES[key])
            else:
                memo_key = _amounts(value) if kind is _AMOUNTS else None
            if memo_key is not None:
                text = memo.get(memo_key)
                if text is not None:  # valid before, and written
                    parts.append(text)
                    continue
            if kind is _PLACE and memo_key is not None:
                if rules.uri(memo_key) is not None:  # (the one check of a place that is
                    return None                      # nothing but its id)
            elif rule is not None:
                if rule(value) is not None:
                    return None
            else:
                check(self.checker, value, key)  # type: ignore[misc]  # (a known field)
                if problems:
                    problems.clear()
                    return None
            if write is not None:
                text = write(canon, key, value, nested)
                if memo_key is not None:
                    memo[memo_key] = text
                parts.append(text)
        _what_rules(self.checker, event, etype)
        if problems:
            problems.clear()
            return None
        parts.extend(nested)
        if extended:
            parts.extend(canon.extensions(event, _STANDARD))
        return "".join(parts)

    def _plan(self, shape: tuple[str, tuple[str, ...]]) -> _Plan | None:
        """:func:`_plan` of ``shape`` with this scope's memos, kept (they are this scope's)."""
        plan = _plan(*shape)
        if plan is not None:
            fields, others, extended = plan
            plan = (tuple((key, kind, self.seen[key], rule, check, write)
                          for key, kind, _, rule, check, write in fields), others, extended)
        if len(self.plans) >= _MAX_PLANS:
            self.plans.clear()
        self.plans[shape] = plan
        return plan


_NO_MEMO: dict[Any, str] = {}  # (in a plan not yet bound to a scope's memos)


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
            kind = _NONE
        elif key in ("readPoint", "bizLocation"):
            kind = _PLACE
        elif key in _PARTIES:
            kind = _PAIRS
        elif key in _QUANTITY_LISTS:
            kind = _AMOUNTS
        else:  # (a plain value: a rule, and a writer if hashed)
            kind = _TEXT if rule is not None and key in _WRITERS else _NONE
        known.append((_POSITION.get(key, len(_POSITION)),
                      (key, kind, _NO_MEMO, rule, check, _WRITERS.get(key))))
    known.sort(key=_first)
    return tuple(f for _, f in known), tuple(others), not _STANDARD.issuperset(fields)


def _first(item: tuple[int, _Field]) -> int:
    return item[0]


def _is_extension(key: str, terms: Mapping[str, str]) -> bool:
    """As :func:`~supplyledger.epcis.validate.event_problems` judges a non-standard field."""
    return (":" in key or key in terms) and namespace_error(key, terms) is None


def _pairs(value: Any, role: str) -> tuple[tuple[str | None, str], ...] | None:
    """What a list of (type, ``role``) pairs is remembered by (exactly: strings only), or
    None."""
    if type(value) is not list:
        return None
    pairs = []
    for item in value:  # [{"type": string, role: string}, ...]; the type may be absent
        if type(item) is not dict:
            return None
        typ, ident = item.get("type"), item.get(role)
        if type(ident) is not str or len(item) != (1 if typ is None else 2) or (
                typ is not None and type(typ) is not str):
            return None
        pairs.append((typ, ident))
    return tuple(pairs)


def _amounts(value: Any) -> tuple[tuple[Any, ...], ...] | None:
    """What a quantity list is remembered by, or None: per element its class, quantity (with
    its type: 1 and 1.0 are equal, yet a float's text is not always an int's), unit and
    number of fields (so an element with a field besides these three never equals one
    without)."""
    if type(value) is not list:
        return None
    elements = []
    for item in value:  # [{"epcClass": string, "quantity": number, "uom": string}, ...]
        if type(item) is not dict:
            return None
        cls, n, uom = item.get("epcClass"), item.get("quantity"), item.get("uom")
        if type(cls) is not str or type(n) not in _QUANTITY_TYPES or (
                uom is not None and type(uom) is not str):
            return None
        elements.append((cls, n, type(n), uom, len(item)))
    return tuple(elements)

"""HTML forms generated from a contract method's argument schema, and their parsing back
into arguments. Any method of any contract gets a usable form this way, so pages grow with
the contracts without per-method code.

People do not type JSON or epoch milliseconds: an amount of money gets a whole-number field
(minor units), a time ("ms epoch" in its doc) takes a date and time in the viewer's time
zone (``zones``; or the integer),
and an argument naming a participant, an order, a batch, a shipment, a custody proposal, a
bank or a withdrawal instruction is tied to a list of suggestions (``Field.suggest``; the
page supplies the lists, see ``mine.suggestions``). A batch may be given by the lot number
printed on the bag, as on the trace page: it is looked up before anything is signed, so a
lot that does not exist is refused here rather than recorded as a failed call. A required
yes/no argument is a pair of choices the user must make, and a required choice among
values starts unmade: an unticked box would sign "no" (a declined financing, say), and a
preselected first value "buyer at fault", without the user having said so. Text that does
not fit its argument's pattern is refused in the words of the field's hint, never with the
regular expression.

A refused form names the field at fault when it can: ``refusal`` reads the argument an
error's details name (``arg``) into a ``Refusal``, which the pages whose forms are written
out by hand (the event form, data sharing, the account) show beside that input with the
``_macros.html`` macros ``invalid`` and ``refusal_note``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from supplyledger.api.web import zones
from supplyledger.api.web.units import label
from supplyledger.contracts.builtin.payments import MAX_AMOUNT, Amount
from supplyledger.contracts.runtime import Method
from supplyledger.contracts.schema import Arg, Bool, Enum, Int, List, Obj, Str
from supplyledger.errors import SupplyLedgerError, ValidationError
from supplyledger.ledger.encoding import MAX_INT

__all__ = ["Field", "Refusal", "batch_id", "fields_for", "parse_form", "refusal"]

GetList = Callable[[str], list[str]]
Resolve = Callable[[str], list[str]]
TIME_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S",
                "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")
# Which suggestion list an argument takes, by name (a Str naming a participant is also
# recognised by its doc, "participant id ...").
_SUGGEST = {"order": "orders", "batch": "batches", "shipment": "shipments",
            "proposal": "proposals", "did": "participants", "recipient": "participants",
            "subject": "participants", "bank": "banks", "instruction": "withdrawals"}


@dataclass
class Field:
    name: str
    label: str
    kind: str  # text | number | when | checkbox | yesno | select | multi | lines | json
    required: bool
    hint: str
    attrs: dict[str, Any] = field(default_factory=dict)
    options: tuple[str, ...] = ()
    suggest: str | None = None  # id of the page's list of suggested values
    labels: dict[str, str] = field(default_factory=dict)  # a select's option -> its words


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refusal about one field: ``arg``, the name of the input at fault, in ``form``
    (which of a page's forms, where several have inputs of that name), and the words to
    show beside it."""

    arg: str
    message: str
    form: str = ""


def refusal(error: SupplyLedgerError | Mapping[str, Any], form: str = "",
            inputs: Mapping[str, str] | None = None) -> Refusal | None:
    """The field ``error`` (raised, or a receipt's ``error``) is about, or None when its
    details name no argument. ``inputs`` renames an argument to the input that takes it
    (the contract's "recipients" is a grant form's single "recipient")."""
    if isinstance(error, SupplyLedgerError):
        details: Any = error.details
        message = error.message
    else:
        details, message = error.get("details"), str(error.get("message", ""))
    arg = details.get("arg") if isinstance(details, Mapping) else None
    if not isinstance(arg, str) or not arg:
        return None
    return Refusal((inputs or {}).get(arg, arg), message, form)


def _is_time(name: str, spec: Arg) -> bool:
    """A point in time: its doc says epoch milliseconds, or its name ends in ``_at``
    (``shipments.create``'s departs_at: "planned departure")."""
    return isinstance(spec, Int) and ("ms epoch" in spec.doc or "ms since the epoch" in spec.doc
                                      or (name.endswith("_at") and spec.min >= 0))


# What a field takes, in words: people read a hint, not the schema's text ("string (1-64
# chars, pattern `[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}`)", "integer 0..9007199254740991").
_RANGES = (("0-9a-f", "hexadecimal digits (0-9, a-f)", "a hexadecimal digit"),
           ("A-Za-z", "letters", "a letter"), ("a-z", "lower-case letters", "a lower-case letter"),
           ("A-Z", "capital letters", "a capital letter"), ("0-9", "digits", "a digit"))
_CLASS = r"\[([^\]]+)\]"
_COUNT = r"(?:\{(\d+)(?:,(\d+))?\}|([+*]))"


def _and(words: list[str], last: str = "and") -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {last} {words[-1]}"


def _class_words(cls: str, one: bool = False) -> str:
    """A character class's content in words: ``A-Za-z0-9_.:/-`` is "letters, digits and
    _ . : / -"; with ``one``, what one character of it may be ("a letter or a digit")."""
    words, rest = [], cls
    for chars, many, single in _RANGES:
        if chars in rest:
            words.append(single if one else many)
            rest = rest.replace(chars, "")
    others = rest.replace("\\", "")
    if others:
        words.append(("one of " if one else "") + " ".join(others))
    return _and(words, "or" if one else "and") if words else ""


def _count(low: int, high: int) -> str:
    if low == high:
        return f"{low:,}"
    return f"up to {high:,}" if low <= 1 else f"{low:,} to {high:,}"


def _pattern_words(pattern: str, low: int, high: int) -> tuple[str, bool]:
    """A Str's pattern in words, and whether those words already say its length; ("",
    False) for a pattern not read here (it is checked anyway, and never shown)."""
    pat = pattern.removeprefix("^").removesuffix("$")
    if re.fullmatch(r"\[0-9\]\{4\}-\[0-9\]\{2\}-\[0-9\]\{2\}", pat):
        return "a date, YYYY-MM-DD", True
    if re.fullmatch(r"\[0-9\](?:\+|\{\d+,\d+\})\(\\\.\[0-9\](?:\+|\{\d+,\d+\})\)\?", pat):
        return "a number, with a point for decimals (e.g. 12.5)", False
    m = re.fullmatch(_CLASS + _COUNT, pat)
    if m:
        cls, n, n2, plus = m.groups()
        if plus:
            return f"{_count(low, high)} {_class_words(cls)}", True
        lo, hi = int(n), int(n2 if n2 is not None else n)
        return f"{_count(max(lo, low), min(hi, high))} {_class_words(cls)}", True
    m = re.fullmatch(_CLASS + _CLASS + _COUNT, pat)
    if m:  # one character of a kind, then more of another: "a1.b", "ORD-7"
        first, cls, n, n2, plus = m.groups()
        lo, hi = (0, high) if plus else (int(n), int(n2 if n2 is not None else n))
        size = _count(max(1 + lo, low), min(1 + hi, high))
        return (f"{_class_words(cls)}, starting with {_class_words(first, one=True)}; "
                f"{size} characters"), True
    return "", False


def _str_words(spec: Str) -> str:
    said, sized = _pattern_words(spec.pattern, spec.min_len, spec.max_len) if spec.pattern \
        else ("", False)
    size = "" if sized else f"{_count(spec.min_len, spec.max_len)} characters"
    return "; ".join(x for x in (said, size) if x)


def _int_words(name: str, spec: Int) -> str:
    what = "a whole number of milliseconds (3,600,000 is an hour)" if name.endswith("_ms") \
        else "a whole number"
    if spec.max >= MAX_INT:
        return f"{what}, {spec.min:,} or more" if spec.min else what
    top = f"{spec.max:,}" + (f" ({spec.max // 86_400_000:,} days)"
                             if name.endswith("_ms") and spec.max >= 86_400_000 else "")
    return f"{what} from {spec.min:,} to {top}"


def _in_words(name: str, spec: Arg) -> str:
    """What ``spec`` takes, said for a person filling in a form."""
    if isinstance(spec, Str):
        return _str_words(spec)
    if isinstance(spec, Int):
        return _int_words(name, spec)
    if isinstance(spec, List) and isinstance(spec.item, Str | Int):
        each = _in_words(name, spec.item)
        return f"one per line, {_count(spec.min_items, spec.max_items)}" + (
            f"; each {each}" if each else "")
    if isinstance(spec, List):
        keys = (f" with {_and(list(spec.item.fields))}"
                if isinstance(spec.item, Obj) and spec.item.fields else "")
        return f"JSON: a list of {_count(spec.min_items, spec.max_items)} objects{keys}"
    if isinstance(spec, Obj) and spec.fields:
        return f"JSON: an object with {_and(list(spec.fields))}"
    return "JSON: an object" if isinstance(spec, Obj) else "JSON"


def _field(name: str, spec: Arg) -> Field:
    hint = " — ".join(x for x in (spec.doc, _in_words(name, spec)) if x)
    if name == "order":
        # ORDER_ID's doc speaks of placing ("chosen by the buyer (unique)"); every method
        # argument named so refers to an order that exists.
        hint = "the order's id (the newest orders you are party to are suggested)"
    req = not spec.optional
    if isinstance(spec, Bool):
        # (its type, "boolean", says nothing a yes/no choice does not)
        return Field(name, label(name), "yesno" if req else "checkbox", req, spec.doc)
    if isinstance(spec, Enum):  # the select lists the values: the hint need not
        return Field(name, label(name), "select", req, spec.doc, options=spec.values)
    if isinstance(spec, Amount):
        return Field(name, label(name), "number", req,
                     " — ".join(x for x in (spec.doc, "whole minor units (cents): 1850 is "
                                            "18.50") if x),
                     {"min": spec.minimum, "max": MAX_AMOUNT, "step": 1,
                      "data-amount": "minor"})  # (app.js: what "18.50" should be)
    if _is_time(name, spec):
        doc = spec.doc.replace("ms since the epoch", "").replace("ms epoch", "").strip(" ,;—")
        return Field(name, label(name), "when", req,
                     " — ".join(x for x in (doc, f"date and time in {zones.label()}, e.g. "
                                            "2026-11-25 14:00") if x),
                     {"placeholder": "YYYY-MM-DD HH:MM", "maxlength": 19})
    if isinstance(spec, Int):
        return Field(name, label(name), "number", req, hint,
                     {"min": spec.min, "max": spec.max, "step": 1})
    if isinstance(spec, Str):
        attrs: dict[str, Any] = {"maxlength": spec.max_len}
        if spec.min_len > 1:
            attrs["minlength"] = spec.min_len
        suggest = _SUGGEST.get(name)
        if spec.doc.startswith("participant id"):
            suggest = "participants"
        return Field(name, label(name), "text", req, hint, attrs, suggest=suggest)
    if isinstance(spec, List) and isinstance(spec.item, Enum):  # the boxes list the values
        least = f"choose at least {spec.min_items}" if spec.min_items else ""
        return Field(name, label(name), "multi", req,
                     " — ".join(x for x in (spec.doc, least) if x), options=spec.item.values)
    if isinstance(spec, List) and isinstance(spec.item, Str | Int):
        return Field(name, label(name), "lines", req, hint)
    return Field(name, label(name), "json", req, hint)


def fields_for(m: Method) -> list[Field]:
    return [_field(name, spec) for name, spec in m.args.items()]


def _is_epc(text: str) -> bool:
    return "://" in text or text.startswith("urn:")


def batch_id(text: str, resolve: Resolve, arg: str) -> str:
    """The batch id a user means: its id (an EPC) as it is, or the lot number printed on
    the bag; several batches with that lot, or none, are refused before anything is
    signed."""
    text = text.strip()
    if not 1 <= len(text) <= 300:
        raise ValidationError("choose or enter a batch", arg=arg)
    found = resolve(text)
    if len(found) > 1:
        raise ValidationError(f"several batches have lot {text}: choose one of them",
                              arg=arg, batches=found)
    if not found or not _is_epc(found[0]):
        raise ValidationError(f"no batch with lot number {text!r}: choose a suggested "
                              "batch or give its GS1 Digital Link", arg=arg)
    return found[0]


def _batches(name: str, spec: Arg) -> bool:
    """Whether argument ``name`` names batches by id (so a lot number is looked up)."""
    return ((name == "batch" and isinstance(spec, Str))
            or (name == "batches" and isinstance(spec, List) and isinstance(spec.item, Str)))


def _reject_float(name: str, number: str) -> Any:
    # Most often money, which as a string ("write it as a string") is refused again.
    raise ValidationError(f"{name} holds the decimal number {number}: money is whole minor "
                          "units (19.99 EUR is 1999), other numbers whole, except a value "
                          'whose hint says decimal string, which goes in quotes ("0.5")',
                          arg=name)


def _json(name: str, text: str) -> Any:
    try:
        return json.loads(text, parse_float=lambda n: _reject_float(name, n))
    except ValueError as exc:
        raise ValidationError(f"{name} is not valid JSON: {exc}", arg=name) from None


def _int(name: str, text: str, what: str = "a whole number") -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValidationError(f"{label(name)} must be {what}", arg=name) from None


def _str(name: str, spec: Str, text: str) -> str:
    """``text`` if ``spec``'s pattern takes it; else what the field takes, in the words of
    its hint (the schema's own refusal quotes the regular expression: "currency does not
    match [A-Z]{3}"). A pattern not put in words here is left to the schema."""
    words = _str_words(spec) if spec.pattern else ""
    if words and spec.min_len <= len(text) <= spec.max_len and not re.fullmatch(
            spec.pattern or "", text):
        raise ValidationError(f"{label(name)} must be {words}, not {text!r}", arg=name)
    return text


def _when(name: str, text: str) -> int:
    """A date and time in the viewer's zone (or the epoch milliseconds themselves) as epoch
    milliseconds."""
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    ms = zones.read(text, TIME_FORMATS)
    if ms is None:
        raise ValidationError(f"{label(name)} must be a date and time like 2026-11-25 14:00 "
                              f"({zones.label()})", arg=name)
    return ms


def parse_form(m: Method, getlist: GetList,
               resolve: Resolve | None = None) -> dict[str, Any]:
    """Arguments from submitted form values; empty optional fields are left out. With
    ``resolve`` (``LedgerService.resolve_batch``), batches may be given by lot number."""
    args: dict[str, Any] = {}
    for name, spec in m.args.items():
        values = [v for v in getlist(name) if isinstance(v, str)]
        text = values[0].strip() if values else ""
        if isinstance(spec, Bool):
            if not spec.optional and text not in ("true", "false"):
                raise ValidationError(f"{label(name)}: choose yes or no", arg=name)
            if values or not spec.optional:
                args[name] = bool(values) and text not in ("", "false", "off", "0")
            continue
        if isinstance(spec, List) and isinstance(spec.item, Enum):
            if values or not spec.optional:
                args[name] = [v for v in values if v]
            continue
        if text == "":
            if not spec.optional:
                raise ValidationError(f"{label(name)} is required", arg=name)
            continue
        if isinstance(spec, Amount):
            args[name] = _int(name, text, "a whole number of minor units (1850 for 18.50)")
        elif _is_time(name, spec):
            args[name] = _when(name, text)
        elif isinstance(spec, Int):
            args[name] = _int(name, text)
        elif resolve is not None and _batches(name, spec):
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            ids = [batch_id(ln, resolve, name) for ln in lines]
            args[name] = ids if isinstance(spec, List) else ids[0]
        elif isinstance(spec, Str):
            args[name] = _str(name, spec, text)
        elif isinstance(spec, Enum):
            args[name] = text
        elif isinstance(spec, List) and isinstance(spec.item, Str | Int):
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            args[name] = [_int(name, ln) for ln in lines] if isinstance(spec.item, Int) \
                else lines
        else:
            args[name] = _json(name, text)
    return args

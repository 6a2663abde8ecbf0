"""HTML forms generated from a contract method's argument schema, and their parsing back
into arguments. Any method of any contract gets a usable form this way, so pages grow with
the contracts without per-method code."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from supplyledger.contracts.runtime import Method
from supplyledger.contracts.schema import Arg, Bool, Enum, Int, List, Obj, Str
from supplyledger.errors import ValidationError

__all__ = ["Field", "fields_for", "parse_form"]

GetList = Callable[[str], list[str]]


@dataclass
class Field:
    name: str
    label: str
    kind: str  # text | number | checkbox | select | multi | lines | json
    required: bool
    hint: str
    attrs: dict[str, Any] = field(default_factory=dict)
    options: tuple[str, ...] = ()


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _field(name: str, spec: Arg) -> Field:
    hint = " — ".join(x for x in (spec.doc, spec.describe()) if x)
    req = not spec.optional
    if isinstance(spec, Bool):
        return Field(name, _label(name), "checkbox", False, hint)
    if isinstance(spec, Enum):
        return Field(name, _label(name), "select", req, hint, options=spec.values)
    if isinstance(spec, Int):
        return Field(name, _label(name), "number", req, hint,
                     {"min": spec.min, "max": spec.max, "step": 1})
    if isinstance(spec, Str):
        attrs: dict[str, Any] = {"maxlength": spec.max_len}
        if spec.min_len > 1:
            attrs["minlength"] = spec.min_len
        return Field(name, _label(name), "text", req, hint, attrs)
    if isinstance(spec, List) and isinstance(spec.item, Enum):
        return Field(name, _label(name), "multi", req, hint, options=spec.item.values)
    if isinstance(spec, List) and isinstance(spec.item, Str | Int):
        return Field(name, _label(name), "lines", req, hint + " (one per line)")
    return Field(name, _label(name), "json", req, hint + " (JSON)")


def fields_for(m: Method) -> list[Field]:
    return [_field(name, spec) for name, spec in m.args.items()]


def _reject_float(text: str) -> Any:
    raise ValidationError("decimal numbers are not allowed: write them as strings")


def _json(name: str, text: str) -> Any:
    try:
        return json.loads(text, parse_float=_reject_float)
    except ValueError as exc:
        raise ValidationError(f"{name} is not valid JSON: {exc}", arg=name) from None


def _int(name: str, text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValidationError(f"{name} must be a whole number", arg=name) from None


def parse_form(m: Method, getlist: GetList) -> dict[str, Any]:
    """Arguments from submitted form values; empty optional fields are left out."""
    args: dict[str, Any] = {}
    for name, spec in m.args.items():
        values = [v for v in getlist(name) if isinstance(v, str)]
        text = values[0].strip() if values else ""
        if isinstance(spec, Bool):
            if values or not spec.optional:
                args[name] = bool(values) and text not in ("", "false", "off", "0")
            continue
        if isinstance(spec, List) and isinstance(spec.item, Enum):
            if values or not spec.optional:
                args[name] = [v for v in values if v]
            continue
        if text == "":
            if not spec.optional:
                raise ValidationError(f"{_label(name)} is required", arg=name)
            continue
        if isinstance(spec, Int):
            args[name] = _int(name, text)
        elif isinstance(spec, Str | Enum):
            args[name] = text
        elif isinstance(spec, List) and isinstance(spec.item, Str | Int):
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            args[name] = [_int(name, ln) for ln in lines] if isinstance(spec.item, Int) \
                else lines
        elif isinstance(spec, List | Obj):
            args[name] = _json(name, text)
        else:
            args[name] = _json(name, text)
    return args

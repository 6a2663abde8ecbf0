"""Declarative argument schemas for contract methods.

Each method declares its arguments once; the runtime validates them before the call (so a
contract body sees clean, typed values) and ``docs/contracts.md`` is generated from the same
declarations. Checks are plain Python on decoded JSON: cheap enough for the hot path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from supplyledger.errors import ValidationError
from supplyledger.ledger.encoding import MAX_INT

__all__ = ["Any_", "Arg", "Bool", "Enum", "Int", "List", "Obj", "Str", "validate_args"]


@dataclass(frozen=True)
class Arg:
    """Base: ``optional`` arguments may be omitted (the contract then sees no key)."""

    optional: bool = field(default=False, kw_only=True)
    doc: str = field(default="", kw_only=True)

    def check(self, name: str, v: Any) -> Any:
        return v

    def describe(self) -> str:
        return "any JSON"


@dataclass(frozen=True)
class Str(Arg):
    min_len: int = 1
    max_len: int = 256
    pattern: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "_re", re.compile(self.pattern) if self.pattern else None)

    def check(self, name: str, v: Any) -> Any:
        if type(v) is not str:
            raise ValidationError(f"{name} must be a string", arg=name)
        if not self.min_len <= len(v) <= self.max_len:
            raise ValidationError(
                f"{name} must be {self.min_len}-{self.max_len} characters long", arg=name
            )
        rx = getattr(self, "_re")  # noqa: B009 - set in __post_init__ on a frozen dataclass
        if rx is not None and not rx.fullmatch(v):
            raise ValidationError(f"{name} does not match {self.pattern}", arg=name)
        return v

    def describe(self) -> str:
        pat = f", pattern `{self.pattern}`" if self.pattern else ""
        return f"string ({self.min_len}-{self.max_len} chars{pat})"


@dataclass(frozen=True)
class Int(Arg):
    min: int = 0
    max: int = MAX_INT

    def check(self, name: str, v: Any) -> Any:
        if type(v) is not int:
            raise ValidationError(f"{name} must be an integer", arg=name)
        if not self.min <= v <= self.max:
            raise ValidationError(f"{name} must be between {self.min} and {self.max}", arg=name)
        return v

    def describe(self) -> str:
        return f"integer {self.min}..{self.max}"


@dataclass(frozen=True)
class Bool(Arg):
    def check(self, name: str, v: Any) -> Any:
        if type(v) is not bool:
            raise ValidationError(f"{name} must be true or false", arg=name)
        return v

    def describe(self) -> str:
        return "boolean"


@dataclass(frozen=True)
class Enum(Arg):
    values: tuple[str, ...] = ()

    def check(self, name: str, v: Any) -> Any:
        if v not in self.values or type(v) is not str:
            raise ValidationError(f"{name} must be one of {', '.join(self.values)}", arg=name)
        return v

    def describe(self) -> str:
        return "one of " + ", ".join(f"`{v}`" for v in self.values)


@dataclass(frozen=True)
class List(Arg):
    item: Arg = field(default_factory=Arg)
    min_items: int = 0
    max_items: int = 1000

    def check(self, name: str, v: Any) -> Any:
        if type(v) is not list:
            raise ValidationError(f"{name} must be a list", arg=name)
        if not self.min_items <= len(v) <= self.max_items:
            raise ValidationError(
                f"{name} must have {self.min_items}-{self.max_items} items", arg=name
            )
        for i, x in enumerate(v):
            self.item.check(f"{name}[{i}]", x)
        return v

    def describe(self) -> str:
        return f"list of {self.item.describe()} ({self.min_items}-{self.max_items} items)"


@dataclass(frozen=True)
class Obj(Arg):
    """A nested object; ``fields`` None means any object (size-limited by the tx limit)."""

    fields: Mapping[str, Arg] | None = None

    def check(self, name: str, v: Any) -> Any:
        if type(v) is not dict:
            raise ValidationError(f"{name} must be an object", arg=name)
        if self.fields is not None:
            validate_args(self.fields, v, prefix=f"{name}.")
        return v

    def describe(self) -> str:
        if self.fields is None:
            return "object"
        return "object {" + ", ".join(self.fields) + "}"


@dataclass(frozen=True)
class Any_(Arg):
    pass


def validate_args(schema: Mapping[str, Arg], args: dict[str, Any], prefix: str = "") -> None:
    for key in args:
        if key not in schema:
            raise ValidationError(f"unexpected argument {prefix}{key}", arg=prefix + key)
    for key, spec in schema.items():
        if key in args:
            spec.check(prefix + key, args[key])
        elif not spec.optional:
            # Quoted: an argument called "name" would read as part of the sentence.
            # (Admission only: a call its schema refuses never enters a block.)
            raise ValidationError(f"missing argument '{prefix}{key}'", arg=prefix + key)

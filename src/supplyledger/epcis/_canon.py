"""Canonical text of EPCIS values, as the event hash and the normalised views write them.

:class:`Canon` holds the namespace prefixes of one scope and memoises what it works out.
Why memoise per scope (a document, or an event with its own ``@context``): a document repeats
its locations, parties, business steps, dispositions and transaction types on every event,
and the hash, the normalised views and the trace facts all ask for them -- so each distinct
value is canonicalised once per document. CURIE expansion depends on the scope's prefixes,
which is why the memo is not global.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from supplyledger.gs1 import canonical_digital_link

from ._common import (
    BUILTIN_PREFIXES,
    RDFS_COMMENT,
    canonical_number,
    canonical_uri,
    expand_curie,
    looks_numeric,
    qualified_name,
    utc_millis,
    vocab_uri,
)

__all__ = ["Canon", "FieldOrder"]


class FieldOrder:
    """The fields of a structure in the order the hash writes them (``(key, kind)`` pairs),
    and, per shape of object, those it has.

    Why: a sensor report may have any of 23 fields and has three or four, so looking for
    each in turn costs more than writing the ones there; the objects of a document have the
    same fields, so the ones present are worked out once per shape (at most ``_PLANS`` kept).
    """

    __slots__ = ("order", "plans")
    _PLANS = 256

    def __init__(self, order: tuple[tuple[str, str], ...]) -> None:
        self.order = order
        self.plans: dict[tuple[str, ...], tuple[tuple[str, str], ...]] = {}

    def present(self, keys: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
        plan = self.plans.get(keys)
        if plan is None:
            if len(self.plans) >= self._PLANS:
                self.plans.clear()
            plan = self.plans[keys] = tuple(item for item in self.order if item[0] in keys)
        return plan


class Canon:
    """Canonicalises the values of the events in one namespace scope.

    Shared by the hasher, :mod:`.document` and the trace facts, so a normalised field always
    equals what the hash covered. Only strings are memoised (``1`` and ``True`` would collide
    as keys). Of the times only the last is kept: the hash and the normalised event both
    need it, but times rarely repeat across events.
    """

    __slots__ = ("hashed", "iris", "last_time", "last_utc", "names", "plain_urns", "terms",
                 "vocabs")

    def __init__(self, terms: Mapping[str, str]) -> None:
        self.terms = terms
        # Whether an EPC URN is only an EPC URN here (not a compact IRI of a "urn" prefix).
        self.plain_urns = "urn" not in terms
        self.iris: dict[str, str] = {}
        self.vocabs: defaultdict[str, dict[str, str]] = defaultdict(dict)  # kind -> memo
        self.names: dict[str, str] = {}  # extension key -> {namespace}local
        self.hashed: dict[str, bool] = {}  # extension key -> part of the hash
        self.last_time: str | None = None
        self.last_utc = ""

    def iri(self, value: Any) -> str:
        if value.__class__ is not str:
            return canonical_number(value)
        done = self.iris.get(value)
        if done is None:
            if self.plain_urns and value.startswith("urn:epc:") and not value[-1].isspace():
                # an EPC URN, nothing to strip or expand: what canonical_uri does with it
                done = canonical_digital_link(value) or value
            else:
                colon = value.find(":")
                if colon > 0 and (value[:colon] in self.terms
                                  or value[:colon] in BUILTIN_PREFIXES):
                    done = canonical_uri(expand_curie(value.strip(), self.terms))
                else:
                    done = canonical_uri(value)
            self.iris[value] = done
        return done

    def time(self, value: Any) -> str:
        text = str(value)
        if text != self.last_time:
            self.last_time, self.last_utc = text, utc_millis(text) or text.strip()
        return self.last_utc

    def vocab(self, value: Any, kind: str) -> str:
        if value.__class__ is not str:
            return canonical_number(value)
        memo = self.vocabs[kind]
        done = memo.get(value)
        if done is None:
            done = memo[value] = vocab_uri(value.strip(), kind, self.terms)
        return done

    def value(self, value: Any, kind: str) -> str:
        """Canonical text of ``value``; ``kind`` is i(ri), t(ime), n(umber), s(tring) or a
        vocabulary (BizStep, Disp, BTT, SDT, ER, Comp, MT measurement type, AT alert)."""
        if kind == "i":
            return self.iri(value)
        if kind == "t":
            return self.time(value)
        if kind == "n":
            return canonical_number(value)
        if kind == "s":
            return str(value).strip()
        return self.vocab(value, kind)

    def fields(self, obj: Mapping[str, Any], order: FieldOrder) -> str:
        out = []
        for key, kind in order.present(tuple(obj)):
            raw = obj[key]
            if raw is None:
                continue
            text = self.value(raw, kind)
            if text:
                out.append(f"{key}={text}")
        return "".join(out)

    # ------------------------------------------------------------------ user extensions
    def qualified_name(self, key: str) -> str:
        done = self.names.get(key)
        if done is None:
            done = self.names[key] = qualified_name(key, self.terms)
        return done

    def ext_items(self, key: str, value: Any, into: list[str]) -> None:
        name = self.qualified_name(key)
        if type(value) is str:  # the usual extension: a plain text value
            text = self.ext_scalar(value)
            into.append(f"{name}={text}" if text else name)
        elif isinstance(value, dict) and "@value" not in value:
            children: list[str] = []
            for k, v in value.items():
                if not k.startswith("@"):
                    self.ext_items(k, v, children)
            children.sort()
            into.append(name + "".join(children))
        elif isinstance(value, list):
            for item in value:
                self.ext_items(key, item, into)
        else:
            text = self.ext_scalar(value["@value"] if isinstance(value, dict) else value)
            into.append(f"{name}={text}" if text else name)

    def ext_scalar(self, value: Any) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            return canonical_number(value)
        text = value.strip()
        return canonical_number(text) if looks_numeric(text) else canonical_uri(text)

    def extensions(self, obj: Mapping[str, Any], known: frozenset[str]) -> list[str]:
        """Sorted ``{namespace}local=value`` texts of the fields of ``obj`` not in ``known``."""
        items: list[str] = []
        # A set difference finds the (usually zero or one) extension keys in C; the order
        # they are visited in does not matter, the texts are sorted.
        for key in obj.keys() - known:
            hashed = self.hashed.get(key)
            if hashed is None:  # JSON-LD keywords and rdfs:comment are no part of the hash
                hashed = self.hashed[key] = not key.startswith("@") and \
                    expand_curie(key, self.terms) != RDFS_COMMENT
            if hashed:
                self.ext_items(key, obj[key], items)
        items.sort()
        return items

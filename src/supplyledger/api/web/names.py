"""Names for the ids a page shows: participants by id, organisations as ``org:<id>``,
product types as ``gtin:<GTIN>`` (a cell's column says which kind of id it holds, so an
organisation's id never renames an unrelated value).

Only the ids on the page are looked up, each with one state read: a page shows some dozens,
while a consortium may have thousands of participants, so reading a list of everyone would
either cost every page that much or, cut at some length, leave ids where names belong.
Ids inside a text are named too (a private record's readers, "did:… did:…"; its access
log's "grant did:…"): ``DID_IN_TEXT`` finds them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from supplyledger.api.service import LedgerService
from supplyledger.ledger.encoding import decode

__all__ = ["DID_IN_TEXT", "is_org_column", "names_for", "org_names", "orgs_in",
           "participant_names", "place_names"]

DID_IN_TEXT = re.compile(r"did:[a-z0-9]+:[A-Za-z0-9._-]+")
_MAX_DEPTH = 8  # call results nest a few levels; nothing a page shows goes deeper


def is_org_column(column: str) -> bool:
    """Whether a column (or result field) holds an organisation's id."""
    return column in ("org", "authority") or column.endswith("_org")


def _name(svc: LedgerService, key: str) -> str | None:
    raw = svc.node.store.get_state(key)
    if raw is None:
        return None
    doc = decode(raw)
    name = doc.get("name") if isinstance(doc, dict) else None
    return str(name) if name else None


def participant_names(svc: LedgerService, dids: Iterable[str]) -> dict[str, str]:
    """did -> name for those of ``dids`` that are registered participants."""
    found = {d: _name(svc, f"identity/p/{d}") for d in set(dids) if d.startswith("did:")}
    return {d: n for d, n in found.items() if n is not None}


def org_names(svc: LedgerService, ids: Iterable[str]) -> dict[str, str]:
    """Organisation id -> name for those of ``ids`` that are registered."""
    found = {i: _name(svc, f"identity/o/{i}") for i in set(ids) if i}
    return {i: n for i, n in found.items() if n is not None}


def place_names(svc: LedgerService, glns: Iterable[str]) -> dict[str, str]:
    """GLN -> the name its organisation registered for the location."""
    found = {g: _name(svc, f"products/l/{g}") for g in set(glns) if g}
    return {g: n for g, n in found.items() if n is not None}


def orgs_in(svc: LedgerService, *docs: Any) -> dict[str, str]:
    """Organisation id -> name for the organisations ``docs`` name (in an org column)."""
    return org_names(svc, {v for k, v in _pairs(list(docs)) if is_org_column(k)})


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _pairs(doc: Any, key: str = "", depth: int = 0) -> Iterator[tuple[str, str]]:
    """(field or column name, string value) for every string in ``doc``."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(doc, str):
        yield key, doc
        if doc[:1] in ("[", "{") and len(doc) <= 100_000:  # a JSON cell, shown as fields
            yield from _pairs(_json(doc), key, depth + 1)
    elif isinstance(doc, Mapping):
        for k, v in doc.items():
            yield from _pairs(v, str(k), depth + 1)
    elif isinstance(doc, list | tuple):
        for v in doc:
            yield from _pairs(v, key, depth + 1)


def names_for(svc: LedgerService, *docs: Any) -> dict[str, str]:
    """The names of the ids in ``docs`` (table rows, a call's result), keyed as the
    templates look them up."""
    dids: set[str] = set()
    orgs: set[str] = set()
    gtins: set[str] = set()
    for key, value in _pairs(list(docs)):
        if "did:" in value:  # an id, or ids inside a text (readers, "grant did:…")
            dids.update(DID_IN_TEXT.findall(value))
            if value.startswith("did:"):
                dids.add(value)
        elif is_org_column(key):
            orgs.add(value)
        elif key == "product" and value.isdigit():
            gtins.add(value)
    names = participant_names(svc, dids)
    names.update(("org:" + i, n) for i, n in org_names(svc, orgs).items())
    for g in gtins:
        # A call's argument may be the 13-digit GTIN; the ledger keys product types by
        # the 14-digit form (GTIN-14, zero-padded).
        n = _name(svc, f"products/t/{g}") or (
            _name(svc, f"products/t/{g.zfill(14)}") if len(g) < 14 else None)
        if n is not None:
            names["gtin:" + g] = n
    return names

"""Where a trace event is recorded and who may record it there.

An identifier resolves to a chain: a registered batch (with its custody holding), the batch
of a registered serialised item, or the identifier itself (an object chain, no holding). An
event goes to every registered batch it is about, else to the first identifier it names.
Per link, who may append to a batch: its owner organisation for production; an inspector or
the custodian for inspection; the owner or custodian for sales; the custodian otherwise.
Objects that are not lots are guarded by :mod:`._trace_objects`.

Rules v3: ``record_event`` appends only to a batch its event names (:func:`names`).
"""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.builtin._trace_objects import lots_in
from supplyledger.contracts.builtin._trace_reads import LGTIN
from supplyledger.contracts.builtin.custody import holding_key
from supplyledger.contracts.runtime import Ctx
from supplyledger.errors import Forbidden, NotFound

__all__ = ["entitled", "names", "node", "subjects_of", "unregistered"]

_GTIN = slice(len(LGTIN), len(LGTIN) + 14)  # the GTIN-14 of a canonical LGTIN/SGTIN


def entitled(ctx: Ctx, subject: str, h: dict[str, Any], link: str) -> None:
    org = ctx.org or ""
    if link == "production":
        ok, who = h["owner_org"] == org, f"the owner ({h['owner_org']})"
    elif link == "inspection":
        ok = ctx.has_role("inspector") or h["custodian_org"] == org
        who = f"an inspector or the custodian ({h['custodian_org']})"
    elif link == "sales":
        ok = org in (h["owner_org"], h["custodian_org"])
        who = f"the owner or custodian ({h['owner_org']}/{h['custodian_org']})"
    else:
        ok, who = h["custodian_org"] == org, f"the custodian ({h['custodian_org']})"
    if not ok:
        raise Forbidden(f"{link} events of {subject} may only be recorded by {who}, "
                        f"not by organisation {org or '-'}")


def node(ctx: Ctx, ident: str) -> tuple[str, dict[str, Any] | None]:
    """(chain id, holding) of an identifier: a registered batch, the batch of a registered
    item, or the identifier itself (an object chain, holding None). A lot of a product type
    registered here that its maker has not created is refused: only that maker creates
    its lots, so anything recorded on one beforehand was written by someone else."""
    if ident.startswith(LGTIN):
        h = ctx.read("custody", holding_key(ident))
        if h is not None:
            return ident, h
        if "/21/" in ident:
            batch = ctx.read("products", f"i/{ident}")
            if batch is not None:
                return batch, ctx.read("custody", holding_key(batch))
        elif "/10/" in ident and ctx.read("products", f"t/{ident[_GTIN]}") is not None:
            raise NotFound(f"no batch {ident}: product {ident[_GTIN]} is registered, so "
                           "events may name its lots only once its maker has created them")
    return ident, None


def subjects_of(ctx: Ctx, f: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The registered batches an event is about (its outputs and objects, items resolved
    to their batch), each once, in the order named."""
    found: dict[str, dict[str, Any]] = {}
    for ident in (*f["outputs"], *f["objects"]):
        subject, h = node(ctx, ident)
        if h is not None:
            found.setdefault(subject, h)
    return list(found.items())


def unregistered(ctx: Ctx, f: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """Where an event about no registered lot goes: the chain of the first identifier it
    names (parent, objects, outputs, inputs), else of its hash. A parent or an input may
    still be a registered lot, and is then checked like one; objects and outputs were
    resolved by :func:`subjects_of` already."""
    if f["parent"]:
        return node(ctx, f["parent"])
    if f["objects"] or f["outputs"]:
        return (f["objects"] or f["outputs"])[0], None
    if f["inputs"]:
        return node(ctx, f["inputs"][0])
    return f["hash"], None


def names(ctx: Ctx, f: dict[str, Any], batch: str) -> bool:
    """Whether an event names ``batch``: as an EPC class or by an item of the lot, in any of
    its lists or as its parent; or, through an event's parent, as a lot packed in that
    parent now (an unpacking or an observation of a pallet is about the lots on it)."""
    idents = [*f["objects"], *f["outputs"], *f["inputs"], f["parent"]]
    if batch in idents:
        return True
    for ident in idents:
        if ident.startswith(LGTIN) and "/21/" in ident and \
                ctx.read("products", f"i/{ident}") == batch:
            return True
    return bool(f["parent"]) and batch in lots_in(ctx, f["parent"])

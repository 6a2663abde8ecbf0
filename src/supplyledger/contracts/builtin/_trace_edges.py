"""Genealogy edges of a trace event, worked out once every check of it has passed.

A transformation links every input to every output; an aggregation (or a transaction's
container, or an observed aggregation) links each lot it names among its children, and each
child object carrying registered goods, to its parent, which must not be a batch another
organisation holds. Checked and written on the way: custody of a transformation's
registered inputs and outputs, the claims on the objects it links, and the mass balance.

Rules v3 (v1 and v2 keep what they did, for the ledgers that recorded under them):

- An event links only what it names. v2 packed or linked to the parent the lot an
  aggregation was recorded on (``record_event``) even when the event named other children,
  and a transformation that names no output linked its inputs to the chain it was recorded
  on: an input (``W2 -> W1``) or an unrelated lot.
- Events one organisation records with the same ``transformationID`` are one
  transformation, linked through a node of its own (:mod:`._trace_xform`), as is an event
  with several inputs and several outputs: n + m edges, not n * m. An error declaration of
  such a part takes its edges back from the node (``trace_unpacked``, :func:`retracted`).
- A lot or unit taken out of a parent whole is listed as unpacked (``trace_unpacked``): the
  recall and trace queries follow a reused pallet only while the lot was on it.

Rules v4: an error declaration makes no edges and takes none back here; it withdraws the
declared event's recordings (:func:`._trace_once.withdraw`), whose edges and unpackings the
queries then skip, those through a transformation's node included (so :func:`retracted`
is v3's only).
"""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.builtin._trace_giveback import keep
from supplyledger.contracts.builtin._trace_objects import Claims
from supplyledger.contracts.builtin._trace_packing import Packing
from supplyledger.contracts.builtin._trace_targets import node
from supplyledger.contracts.builtin._trace_xform import event_hub, hub, join
from supplyledger.contracts.runtime import Ctx
from supplyledger.errors import Forbidden

__all__ = ["Edges", "edges", "retracted"]

Targets = list[tuple[str, dict[str, Any] | None]]
Edges = tuple[list[list[list[str]]], list[list[str]]]


def edges(ctx: Ctx, targets: Targets, f: dict[str, Any], claims: Claims, item: int) -> Edges:
    """(genealogy edges per target the event is recorded on, [child, parent] pairs it
    unpacked whole). Transformation edges and nested units go with the first target.
    Under rules v5 the recording (this transaction's event ``item``) keeps what it took
    of each lot, for an error declaration to give back (:mod:`._trace_giveback`)."""
    out: list[list[list[str]]] = [[] for _ in targets]
    unpacked: list[list[str]] = []
    balance = Packing(ctx, lambda ident: node(ctx, ident))
    if f["type"] == "TransformationEvent":
        _transformation(ctx, targets, f, claims, balance, out[0])
    elif f["parent"]:
        _aggregation(ctx, targets, f, claims, balance, out, unpacked)
    balance.commit()
    if ctx.version >= 5:
        keep(ctx, balance, item)
    return out, unpacked


def _transformation(ctx: Ctx, targets: Targets, f: dict[str, Any], claims: Claims,
                    balance: Packing, out: list[list[str]]) -> None:
    v3 = ctx.version >= 3
    tid = str(f.get("tid") or "") if v3 else ""
    if not f["inputs"] and not tid:
        return
    org = ctx.org or ""
    ins = [node(ctx, i) for i in f["inputs"]]
    named = [node(ctx, o) for o in f["outputs"]]
    outs = named if v3 else (named or [(targets[0][0], None)])
    for ident, h in ins + outs:
        if h is not None and h["custodian_org"] != org:
            raise Forbidden(f"custody of {ident} is not held by organisation {ctx.org}")
    for ident, h in ins + named:
        if h is None:
            claims.touch(ident, f["link"])
    srcs = list(dict.fromkeys(i for i, _ in ins))
    dsts = list(dict.fromkeys(o for o, _ in outs))
    if tid:
        part = join(ctx, tid)
        lots = [o for o, h in named if h is not None]
        part.check(ctx, tid, bool(srcs), lots)
        carried = balance.transform(f, joined=part.key, carried=part.carried)
        part.save(ctx, bool(srcs), lots, carried)
        _through(out, part.hub, srcs, dsts)
    elif v3 and len(srcs) > 1 and len(dsts) > 1:  # n + m edges, not n * m
        balance.transform(f)
        _through(out, event_hub(f["hash"]), srcs, dsts)
    else:
        balance.transform(f)
        out.extend([s, d, "transformation"] for s in srcs for d in dsts if s != d)


def _through(out: list[list[str]], node_id: str, srcs: list[str], dsts: list[str]) -> None:
    out.extend([s, node_id, "transformation"] for s in srcs)
    out.extend([node_id, d, "transformation"] for d in dsts)


def retracted(ctx: Ctx, f: dict[str, Any]) -> list[list[str]]:
    """The [input, node] and [node, output] edges an error declaration of a part of a
    transformation takes back (rules v3 only): later parts do not join them."""
    if ctx.version < 3 or f["type"] != "TransformationEvent" or not f.get("tid"):
        return []
    node_id = hub(ctx, str(f["tid"]))
    srcs = dict.fromkeys(node(ctx, i)[0] for i in f["inputs"])
    dsts = dict.fromkeys(node(ctx, o)[0] for o in f["outputs"])
    return [[s, node_id] for s in srcs] + [[node_id, d] for d in dsts]


def _aggregation(ctx: Ctx, targets: Targets, f: dict[str, Any], claims: Claims,
                 balance: Packing, out: list[list[list[str]]],
                 unpacked: list[list[str]]) -> None:
    v3 = ctx.version >= 3
    org = ctx.org or ""
    parent, h = node(ctx, f["parent"])
    if h is None:
        claims.touch(parent, f["link"])
    lots = [t for t, th in targets if th is not None and t != parent]
    if v3:  # only the lots named among the children (record_event's may be the parent's)
        children = {node(ctx, o)[0] for o in f["objects"]}
        lots = [t for t in lots if t in children]
    packing = f["type"] == "AggregationEvent"  # (a TransactionEvent's parent holds nothing)
    if f["action"] == "DELETE":
        if packing:
            gone = balance.unpack(f, parent, lots)
            # the units taken out; their edges stay: genealogy is history
            units = balance.unnest(parent, set(f["objects"]) or None)
            for child in units:
                claims.touch(child, "packing")
            if v3:
                unpacked.extend([child, parent] for child in [*gone, *units])
        return
    if h is not None and h["custodian_org"] != org:
        raise Forbidden(f"{parent} is held by organisation {h['custodian_org']}: only its "
                        f"custodian may pack into it, not organisation {org or '-'}")
    units = _units(ctx, f, parent, balance) if packing else []
    for child in units:  # not an inspector's: nobody inspects goods into a unit
        claims.touch(child, "packing")
    if f["action"] == "ADD" and packing:
        balance.pack(f, parent, lots)
        balance.nest(parent, units)
    else:  # linked, not packed: the parent still carries them from here on
        balance.link(parent, lots, units)
    for edges_of, (subject, sh) in zip(out, targets, strict=True):
        if subject != parent and (not v3 or sh is None or subject in lots):
            edges_of.append([subject, parent, "aggregation"])
    out[0].extend([child, parent, "aggregation"] for child in units)


def _units(ctx: Ctx, f: dict[str, Any], parent: str, balance: Packing) -> list[str]:
    """The children of an aggregation that are objects carrying registered goods (a case
    packed with a lot): they are linked to the parent like a lot, so a recall of the lot
    reaches the pallet the case went on. Children carrying nothing registered stay free."""
    return [o for o in dict.fromkeys(f["objects"])
            if o != parent and node(ctx, o)[1] is None and balance.carries(o)]

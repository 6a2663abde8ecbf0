"""The trace contract's query tables and their projectors: one row per event recorded on a
chain, one per genealogy edge, one per lot or unit taken out of a parent whole (rules v3:
the trace and recall queries follow a parent only while the child was in it; also an
input or output an error declaration took back from a transformation's node), and each
lot's balance shown in the products contract's ``batches`` row. Pure functions of the
receipts' events, so the audit rebuilds them. Edges and unpackings an error declaration
withdrew (rules v4) stay in the tables as history; the trace and recall queries skip them
(state ``trace/w/<tx>``)."""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.projection import EventMeta, Op, Table, Update, Upsert

__all__ = ["EVENTS", "LINKS", "PROJECTORS", "UNPACKED", "event_row"]

EVENTS = Table(
    "trace_events",
    (("batch", "TEXT"), ("seq", "INTEGER"), ("tx", "TEXT"), ("item", "INTEGER"),
     ("height", "INTEGER"), ("type", "TEXT"), ("biz_step", "TEXT"), ("disposition", "TEXT"),
     ("link", "TEXT"), ("event_time", "TEXT"), ("signer", "TEXT"), ("code", "TEXT"),
     ("hash_id", "TEXT"), ("verdict", "TEXT"), ("location", "TEXT"), ("refs", "TEXT")),
    ("batch", "seq"),
    # A transaction's rows are found by its block and id: a block's entries all land at the
    # index's end, where an index on the id alone (random) took a page of its own per event
    # in every commit and checkpoint (docs/performance.md, session 31).
    (("height", "tx"),),
)
LINKS = Table(
    "trace_links",
    (("src", "TEXT"), ("dst", "TEXT"), ("kind", "TEXT"), ("tx", "TEXT"), ("height", "INTEGER")),
    ("src", "dst", "tx"),
    (("dst",),),
)
UNPACKED = Table(
    "trace_unpacked",
    (("child", "TEXT"), ("parent", "TEXT"), ("tx", "TEXT"), ("height", "INTEGER")),
    ("child", "parent", "tx"),
    (("parent",),),
)


def event_row(batch: str, seq: int, code: str, item: int, f: dict[str, Any],
              m: EventMeta) -> tuple[Any, ...]:
    """The trace_events row of an event (also what trace queries recompute to compare)."""
    return (batch, seq, m.tx, item, m.height, f["type"], f["step"], f["disp"], f["link"],
            f["time"], m.signer, code, f["hash"], f["verdict"], f["where"], " ".join(f["btx"]))


def _recorded(e: dict[str, Any], m: EventMeta) -> list[Op]:
    # The event document itself stays in the stored transaction (joined on ``tx``, ``item``).
    ops: list[Op] = [Upsert("trace_events", event_row(e["batch"], e["seq"], e["code"],
                                                      e["item"], m.args["items"][e["item"]], m))]
    for src, dst, kind in e.get("edges", ()):
        ops.append(Upsert("trace_links", (src, dst, kind, m.tx, m.height)))
    for child, parent in e.get("unpacked", ()):
        ops.append(Upsert("trace_unpacked", (child, parent, m.tx, m.height)))
    return ops


def _balance(e: dict[str, Any], m: EventMeta) -> list[Op]:
    # The lot's row in the products contract's batches table shows its balance.
    return [Update("batches", (e["batch"],), (("consumed", e["consumed"]),
                                              ("packed", e["packed"]),
                                              ("remaining", e["remaining"])))]


PROJECTORS = {"trace.recorded": _recorded, "trace.balance": _balance}

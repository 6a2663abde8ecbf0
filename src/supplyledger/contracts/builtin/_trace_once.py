"""An EPCIS event is recorded once per chain (trace rules v2).

EPCIS capture is at-least-once: a client that saw no answer sends the document again. The
CBV 2.0 event hash id (computed in the prepare step) is the event's content identity; it
leaves out ``eventID``, ``recordTime`` and comments, so a re-sent event hashes the same. An
error declaration (the event again, with ``errorDeclaration``) hashes the same too, yet is a
capture of its own: it has its own key (``/x``), so it is taken once as well. State key
``e/<sha-256 hex of the hash id>`` maps every chain (batch or object) the event was appended
to, to ``[tx id, item]`` of the recording: one key per event, read in the block's batched
prefetch (:mod:`._trace_reads`), written once per recording.

A recording naming a chain that already holds the event is refused (AlreadyExists, naming
the hash and the transaction that recorded it first; a document naming one event twice is
invalid instead: that is no retry). A chain that does not hold it yet may
still take it (``record_event`` on another lot the event is about, by that lot's holder):
the non-empty map returned by :func:`held` then tells the caller that the event's
event-wide effects already happened.

Rules v4: an error declaration withdraws the recordings of the event it declares wrong
(:func:`withdraw`). A recording is one transaction's taking of the event (``[tx id, item]``
in the map above, on one or more chains); it is withdrawn once the declaration is recorded on
every chain that recording went to, so nobody withdraws a link on a chain they could not
record on. State key ``w/<tx id>`` lists the withdrawn items of that transaction; ``w``
marks that the ledger holds any (the trace and recall queries skip the edges and unpackings
those items made, read from the transaction's receipt; see ``node/queries.py``).
"""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.runtime import Ctx
from supplyledger.errors import AlreadyExists, EPCISValidationError

__all__ = ["held", "key", "mark", "recordings", "withdraw"]


def key(f: dict[str, Any], *, declared: bool = False) -> str:
    """``e/<hex>`` of an event's hash id ``ni:///sha-256;<hex>?ver=CBV2.0`` (the digest
    keeps the key short; anything else is used whole), ``e/<hex>/x`` of its declaration;
    with ``declared``, the key of the event a declaration ``f`` declares wrong."""
    hash_id = f["hash"]
    _, sep, rest = hash_id.partition(";")
    k = f"e/{rest[:64]}" if sep and len(rest) >= 64 else f"e/{hash_id}"
    return f"{k}/x" if f.get("declares") and not declared else k


def held(ctx: Ctx, f: dict[str, Any], subjects: list[str], item: int
         ) -> dict[str, list[Any]]:
    """Where the event is recorded already (chain -> [tx, item]); AlreadyExists if on one
    of ``subjects`` (EPCISValidationError if by an earlier event of this document)."""
    where: dict[str, list[Any]] = ctx.get(key(f)) or {}
    for s in subjects:
        first = where.get(s)
        if first is None:
            continue
        if first[0] == ctx.tx_id:  # not a retry: the document itself is wrong
            raise EPCISValidationError(
                f"event {item} repeats event {first[1]} of this document (hash "
                f"{f['hash']})", errors=[])
        what = "an error declaration of event" if f.get("declares") else "event"
        raise AlreadyExists(f"{what} {f['hash']} is already recorded on {s} by transaction "
                            f"{first[0]}", hash=f["hash"], subject=s, tx=first[0],
                            item=first[1])
    return where


def mark(ctx: Ctx, f: dict[str, Any], where: dict[str, list[Any]], subjects: list[str],
         item: int) -> None:
    for s in subjects:
        where[s] = [ctx.tx_id, item]
    ctx.put(key(f), where)


def recordings(ctx: Ctx, f: dict[str, Any]) -> dict[tuple[str, int], list[str]]:
    """The recordings of the event the error declaration ``f`` declares wrong: (tx id,
    item) -> the chains each went to (none for an event recorded under rules v1)."""
    out: dict[tuple[str, int], list[str]] = {}
    for chain, (tx, item) in (ctx.get(key(f, declared=True)) or {}).items():
        out.setdefault((tx, item), []).append(chain)
    return out


def withdraw(ctx: Ctx, f: dict[str, Any], declared: dict[str, list[Any]],
             subjects: list[str]) -> list[list[Any]]:
    """(rules v4) Withdraw the recordings of the event the error declaration ``f`` says was
    wrong that this recording of it, on ``subjects``, completes: those every chain of which
    the declaration (``declared``: its map, this recording marked) is on now. Returns their
    ``[tx id, item]``. Events recorded under rules v1 left no map: nothing is withdrawn."""
    out: list[list[Any]] = []
    for (tx, item), chains in recordings(ctx, f).items():
        if any(c in subjects for c in chains) and all(c in declared for c in chains):
            gone = ctx.get(f"w/{tx}") or []
            if item not in gone:
                ctx.put(f"w/{tx}", sorted([*gone, item]))
            out.append([tx, item])
    if out and not ctx.exists("w"):
        ctx.put("w", True)
    return sorted(out)

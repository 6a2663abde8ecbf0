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

Rules v6 (:func:`identify`): an ``eventID`` names one event. State key ``e/<sha-256 hex of
the eventID>/i`` holds ``[hash id, tx id, item]`` of the first event recorded under v6 that
carried it (written once; an error declaration checks it but writes none). Another hash
with that eventID is refused (InvalidState naming both and that transaction); the same hash
is the same event (re-sent, or recorded on another chain, or its error declaration, which
repeats the event): v2's once-per-chain decides it. An error declaration must declare an
event this ledger recorded: ``e/<hex>`` of the hash it shares with that event holds where
(NotFound else; events recorded under v1 left no such map, so their declarations are
refused too).
"""

from __future__ import annotations

import hashlib
from typing import Any

from supplyledger.contracts.runtime import Ctx
from supplyledger.errors import AlreadyExists, EPCISValidationError, InvalidState, NotFound

__all__ = ["held", "id_key", "identify", "key", "mark", "recordings", "withdraw"]


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


def id_key(event_id: str) -> str:
    """``e/<hex>/i`` of an eventID (any URI, so hashed to a fixed length)."""
    return f"e/{hashlib.sha256(event_id.encode()).hexdigest()}/i"


def identify(ctx: Ctx, f: dict[str, Any], item: int) -> str:
    """(rules v6) Refuse an error declaration of an event never recorded here (NotFound)
    and an event carrying another event's eventID (InvalidState; EPCISValidationError if
    another event of this document's). Returns the eventID key to mark once the event is
    recorded, "" if there is none to mark (no eventID, one known already, or a
    declaration's: it repeats an event recorded already, maybe before v6 kept eventIDs,
    when several events may have carried it)."""
    eid = f.get("eid")
    first: list[Any] | None = ctx.get(id_key(eid)) if eid is not None else None
    if f.get("declares") and not ctx.get(key(f, declared=True)):
        why = ("a declaration repeats the event it declares wrong unchanged (but for "
               "errorDeclaration), so it shares that event's hash")
        if first is not None and first[0] != f["hash"]:
            why = (f"its eventID {eid} is event {first[0]}, recorded by transaction "
                   f"{first[1]}: {why}")
        raise NotFound(f"error declaration of event {f['hash']}, which this ledger never "
                       f"recorded; {why}", hash=f["hash"], event_id=eid)
    if first is None:
        return "" if eid is None or f.get("declares") else id_key(eid)
    h, tx, at = first
    if h == f["hash"]:
        return ""
    if tx == ctx.tx_id:  # two events of one document under one id: the document is wrong
        raise EPCISValidationError(f"event {item} carries eventID {eid} of event {at} of "
                                   f"this document, another event (hash {h})", errors=[])
    raise InvalidState(f"eventID {eid} already names event {h}, recorded by transaction "
                       f"{tx}; this is another event (hash {f['hash']}): an eventID names "
                       "one event, give this one its own", current=h, event_id=eid,
                       hash=f["hash"], tx=tx, item=at)


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

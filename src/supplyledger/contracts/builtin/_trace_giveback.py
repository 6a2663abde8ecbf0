"""What an error declaration gives back to the mass balance (trace rules v5).

Under v4 an error declaration withdrew the links and unpackings of the event it declares
wrong, not its effect on the balance: a TransformationEvent mistyped as consuming 1000 kg of
a lot instead of 100 kg left the lot with nothing for good, and the corrective event EPCIS
prescribes (the right quantities, named in the declaration's ``correctiveEventIDs``) was
refused as ``insufficient_quantity``: the wrong consumption still counted.

Under v5 each recording of an event (one transaction's taking of it) that changes the
balance keeps what it took, per registered lot, in the lot's unit: what a transformation
consumed of it (the quantity named, all that was left, its serialised items, what a unit
consumed whole carried of it) and what an aggregation packed of it into its parent. Once
the recording is withdrawn (v4: the declaration is on every chain the recording went to),
that is given back to each lot whose custodian organisation declared the event wrong, by
that declaration or an earlier one, on any chain: only the party whose balance it is
changes it, as only it consumes or packs the lot (who may record a declaration is as under
v4). A lot another organisation holds is given back once that organisation records the
declaration too, on a chain it may record on (the lot's own: the event names it).

- Consumed quantity goes back to the lot's free quantity, whatever happened since (nothing
  else counted it); its items may be consumed again. Units the recording consumed whole
  are no longer consumed once all it took is given back: empty (what they carried went back
  to its lots, free), packed in nothing, usable again.
- Packed quantity goes back from the parent to the lot's free quantity if the lot has
  stayed on that parent, untouched, since the packing: none of it unpacked from there, the
  parent not consumed. A lot's *stay* on a parent begins when it comes onto it and again
  at each partial unpacking (the unit's ``at``, numbered by its ``seq``); a packing is given
  back only within its own stay, and then all it packed is still there: giving it back is
  exactly as if it had never been recorded. Once any of the lot was taken off the parent
  since, none of that packing is given back (listed in the receipt as
  ``not_given_back``): the unpacking already gave back what it named, or the goods went on
  into what the parent became, and which part of what the parent holds now the wrong
  packing put there cannot be told. Guessing ("what is still there") could credit the lot
  with goods already given back by an unpacking and packed again, so that a lot would
  yield more than it holds; what is still wrongly on the parent is the recorder's to unpack
  (an AggregationEvent DELETE, a true event). The declaration is not refused for it
  either: refusing would keep the wrong links in trace and recall because of the balance.

An unpacking, a link or a nesting declared wrong gives nothing back: it took nothing
from a lot (what it unpacked stays free, a case it nested stays in its parent, until
recorded otherwise).

Nothing is given back twice: what is given back, or found gone, leaves the recording's
record, and the record goes once empty; a declaration recorded again is refused as before
(AlreadyExists). Nothing is given back of an event recorded before v5 was adopted (it kept
no record of what it took), nor by a declaration's own recording (it takes nothing).

State ``r/<tx id>/<item>``: {lots: {lot: {used, packed (decimal text), into, at, items,
ok}}, units: [units it consumed]}, ``ok`` once the lot's custodian declared the event
wrong; one per recording that changed the balance, bounded by its event.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from supplyledger.contracts.builtin._trace_balance import Balance
from supplyledger.contracts.builtin._trace_lots import CTX, as_text
from supplyledger.contracts.builtin._trace_once import recordings
from supplyledger.contracts.builtin._trace_packing import Packing
from supplyledger.contracts.builtin._trace_targets import node
from supplyledger.contracts.builtin.custody import holding_key
from supplyledger.contracts.runtime import Ctx

__all__ = ["give_back", "keep", "key"]

_ZERO = Decimal(0)


def key(tx: str, item: int) -> str:
    return f"r/{tx}/{item}"


def keep(ctx: Ctx, balance: Balance, item: int) -> None:
    """Record what this transaction's event ``item`` took (its ``balance``), if anything."""
    lots: dict[str, dict[str, Any]] = {}
    for batch, took in balance.took.items():
        lots[batch] = {k: as_text(v) if isinstance(v, Decimal) else v
                       for k, v in took.items()}
    for ident, batch in balance.items.items():
        lots.setdefault(batch, {}).setdefault("items", []).append(ident)
    if lots or balance.spent:
        ctx.put(key(ctx.tx_id, item), {"lots": lots, "units": balance.spent})


def _holds(ctx: Ctx, batch: str) -> bool:
    h = ctx.read("custody", holding_key(batch))
    return h is not None and h["custodian_org"] == (ctx.org or "")


def give_back(ctx: Ctx, f: dict[str, Any], declared: dict[str, list[Any]]
              ) -> dict[str, list[list[Any]]]:
    """Give back what the recordings of the event the error declaration ``f`` declares
    wrong took (``declared``: where the declaration is now, this recording marked).
    Returns the receipt's lists: ``given_back`` [tx, item, lot, consumed, unpacked] and
    ``not_given_back`` [tx, item, lot, parent, packed] (taken off the parent since)."""
    balance = Packing(ctx, lambda ident: node(ctx, ident))
    given: list[list[Any]] = []
    kept: list[list[Any]] = []
    for (tx, item), chains in sorted(recordings(ctx, f).items()):
        k = key(tx, item)
        rec = ctx.get(k)
        if rec is None:
            continue
        lots: dict[str, dict[str, Any]] = rec["lots"]
        agreed = [b for b, t in lots.items() if not t.get("ok") and _holds(ctx, b)]
        for batch in agreed:
            lots[batch]["ok"] = True
        if not all(c in declared for c in chains):  # not withdrawn yet: nothing moves
            if agreed:
                ctx.put(k, rec)
            continue
        for batch in [b for b, t in lots.items() if t.get("ok")]:
            _settle(ctx, balance, (tx, item), batch, lots.pop(batch), given, kept)
        if lots:
            ctx.put(k, rec)
            continue
        for ident in rec["units"]:  # all it took is back: they were never consumed
            u = balance.unit(ident)
            if u["spent"]:
                u["spent"] = False
                u.pop("in", None)
                balance.dirty[ident] = None
        ctx.delete(k)
    balance.commit()
    return {"given_back": given, "not_given_back": kept}


def _settle(ctx: Ctx, balance: Packing, recording: tuple[str, int], batch: str,
            took: dict[str, Any], given: list[list[Any]], kept: list[list[Any]]) -> None:
    """Give ``batch`` back what one recording ``took`` of it."""
    tx, item = recording
    lot = balance.lot(batch)
    used = min(Decimal(took.get("used", "0")), lot.used)
    if used:
        lot.used = CTX.subtract(lot.used, used)
        balance.changed[batch] = None
    for ident in took.get("items", ()):
        if ctx.get(f"i/{ident}") == tx:
            ctx.delete(f"i/{ident}")
    back = _ZERO
    if "packed" in took:
        parent = took["into"]
        u = balance.unit(parent)
        if u.get("at", {}).get(batch) == took["at"] and batch in u["lots"]:
            on = Decimal(u["lots"][batch])
            back = min(Decimal(took["packed"]), on)
            lot.packed = CTX.subtract(lot.packed, back)
            if back == on:
                del u["lots"][batch]
                del u["at"][batch]
            else:
                u["lots"][batch] = as_text(CTX.subtract(on, back))
            balance.changed[batch] = None
            balance.dirty[parent] = None
        else:
            kept.append([tx, item, batch, parent, took["packed"]])
    if used or back or took.get("items"):
        given.append([tx, item, batch, as_text(used), as_text(back)])

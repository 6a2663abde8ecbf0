"""Breach records of the sensors contract: opening and updating them, marking the batches
they concern, and the check the orders contract makes before an automatic payout.

A breach lives at ``sensors/b/{id}`` (id: the first 32 hex digits of the transaction that
found it, a dash and its index in that transaction) with the device, rule, kind, marked
batches, shipment, start, last out-of-range reading (``seen``), end (None while it lasts),
worst value and the rule's band; from rules v5 also ``rule_version``, the version of the
rule whose band it recorded (a product rule's versions share one key, and an excursion
carries on under a new version, so the key alone does not say). Each marked batch lists its
breaches at ``sensors/x/{batch}``: ``n`` counts them all, ``first`` is the earliest (the
faulty link trace shows, however many came after) and ``ids`` the latest 32; ``open`` lists
those still going on and ``last_end`` is ``[end, id]`` of the one that ended last, which is
all :func:`hold_on_breach` needs however many breaches the batch has had. A breach closed
without a reading back in range (unbind, its rule no longer applies) is recorded as ending
at its last out-of-range reading, but counts as ending when it was closed in ``last_end``:
it was still open until then, and an order placed meanwhile stays held. Rules v3: an
excursion still within its allowance when its device is unbound was never seen to end
either; it counts until the unbind (or the end of the bound shipment) and, if that is longer
than allowed, becomes a breach recorded as ending then (:func:`close_pending`), so stopping
a logger's readings short of the allowance and detaching it later hides nothing.

Rules v4 keep excursions per batch (``_sensors_allowance``), so the batches one breach marks
may later part ways: another logger watching only some of them sees those back in range.
:func:`update_part` updates a breach for some of its batches only: their marks and
``sensor_breaches`` rows end (or open again, when an excursion closed at an unbind goes on)
with their own excursion, and the breach record ends with the last of them.
"""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.builtin._sensors_model import breach_key, breaches_key
from supplyledger.contracts.builtin._sensors_rules import breach_reason
from supplyledger.contracts.runtime import Ctx
from supplyledger.errors import InvalidState

__all__ = ["close_pending", "end_excursions", "hold_on_breach", "live_excursions",
           "open_breach", "update_breach", "update_part"]


def update_breach(ctx: Ctx, bid: str, h: dict[str, Any], *, closed: int | None = None) -> None:
    """A breach got worse, went on or ended (``h``: a hit of the rule engine). Runs in the
    sensors contract (its own namespace). ``closed``: the time a breach no reading saw end
    was closed at, which is its end for :func:`hold_on_breach`."""
    b = ctx.get(breach_key(bid))
    b.update(worst=h["worst"], seen=h["seen"], ended=h["ended"])
    ctx.put(breach_key(bid), b)
    if b["ended"] is not None:
        for batch in b["batches"]:
            x = ctx.get(breaches_key(batch))
            _ended(x, bid, b["ended"] if closed is None else max(b["ended"], closed))
            ctx.put(breaches_key(batch), x)
    ctx.emit("breach_updated", id=bid, batches=b["batches"], worst=b["worst"],
             ended=b["ended"], detail=breach_reason(b))


def update_part(ctx: Ctx, bid: str, h: dict[str, Any], batches: list[str], *,
                closed: int | None = None, reopen: bool = False) -> None:
    """Rules v4: breach ``bid`` went on, got worse or ended (``h``) for ``batches``, some or
    all of those it marks. Ended, their marks end (``closed`` as in :func:`update_breach`)
    and the record ends once no marked batch has it open any more; going on, their marks
    open it again if it was closed (``reopen``: an unbind closed it for them)."""
    b = ctx.get(breach_key(bid))
    lo, hi, _ = b["band"]
    if _dev(h["worst"], lo, hi) > _dev(b["worst"], lo, hi):
        b["worst"] = h["worst"]
    b["seen"] = max(b["seen"], h["seen"])
    ended = h["ended"]
    if ended is None:
        if reopen or b["ended"] is not None:
            for batch in batches:
                x = ctx.get(breaches_key(batch))
                if bid not in x["open"]:
                    x["open"].append(bid)
                    ctx.put(breaches_key(batch), x)
        b["ended"] = None
    else:
        for batch in batches:
            x = ctx.get(breaches_key(batch))
            _ended(x, bid, ended if closed is None else max(ended, closed))
            ctx.put(breaches_key(batch), x)
        part = set(batches)
        if not any(bid in ctx.get(breaches_key(other))["open"]
                   for other in b["batches"] if other not in part):
            b["ended"] = ended if b["ended"] is None else max(b["ended"], ended)
    ctx.put(breach_key(bid), b)
    ctx.emit("breach_updated", id=bid, batches=batches, worst=b["worst"], ended=ended,
             detail=breach_reason({**b, "ended": ended}))


def end_excursions(ctx: Ctx, ex: dict[str, list[Any]]) -> None:
    """End the open breaches of excursion state ``ex`` (``{kind: [start, worst, seen, id]}``)
    at their last out-of-range reading: the device unbound, or their rule (or its check of
    that kind) no longer applies to the watched batches, so no later reading can end them."""
    for kind, st in ex.items():
        if st[3]:
            update_breach(ctx, st[3], {"kind": kind, "worst": st[1], "seen": st[2],
                                       "ended": st[2]}, closed=ctx.time)


def close_pending(ctx: Ctx, d: dict[str, Any],
                  groups: dict[str, tuple[dict[str, Any], list[str]]], until: int) -> None:
    """Rules v3, device ``d`` being unbound: each excursion not yet a breach (the device
    never saw it end) counts until ``until``; one longer than its rule's allowance becomes
    a breach of the batches its rule governs, ending then. ``groups``: the rule groups of
    the watched batches now (an excursion whose rule no longer applies is dropped, as a
    reading would drop it)."""
    n = 0
    for key, ex in d["ex"].items():
        rule, batches = groups.get(key, ({}, []))
        for kind, (start, worst, seen, bid) in ex.items():
            band = rule.get(kind)
            if bid or band is None or kind == "geofence" or until - start <= band[2]:
                continue
            open_breach(ctx, f"{ctx.tx_id[:32]}-{n}", d, rule, batches, {
                "kind": kind, "start": start, "worst": worst, "seen": seen,
                "ended": max(seen, until), "band": band})
            n += 1


def live_excursions(ctx: Ctx, exs: dict[str, Any],
                    groups: dict[str, tuple[dict[str, Any], list[str]]]) -> dict[str, Any]:
    """The excursion state to keep: only the checks of rules that still apply. An open
    breach whose rule was replaced by a batch's own, or lost that check, is ended at its
    last out-of-range reading instead of staying open (holding payouts) for ever."""
    live: dict[str, Any] = {}
    for key, ex in exs.items():
        rule = groups[key][0] if key in groups else {}
        keep = {kind: st for kind, st in ex.items() if kind in rule}
        end_excursions(ctx, {kind: st for kind, st in ex.items() if kind not in keep})
        if keep:
            live[key] = keep
    return live


def open_breach(ctx: Ctx, bid: str, d: dict[str, Any], rule: dict[str, Any],
                batches: list[str], h: dict[str, Any]) -> None:
    """Record a new breach found by device ``d`` under ``rule`` and mark ``batches``."""
    fence = rule["geofence"] if h["kind"] == "geofence" else {}
    b = {"id": bid, "device": d["did"], "rule": rule["key"], "kind": h["kind"],
         "batches": batches, "shipment": d["bind"]["shipment"], "start": h["start"],
         "seen": h["seen"], "ended": h["ended"], "worst": h["worst"], "band": h["band"],
         "fence": next(iter(fence), None), "on": d["bind"]["kind"], "tx": ctx.tx_id,
         "time": ctx.time}
    judged = {"rule_version": rule["v"]} if ctx.version >= 5 else {}  # v1-v4 kept none
    b.update(judged)
    ctx.put(breach_key(bid), b)
    for batch in batches:
        x = ctx.get(breaches_key(batch)) or {"n": 0, "first": bid, "ids": [], "open": [],
                                             "last_end": None}
        x["n"] += 1
        x["ids"] = [*x["ids"], bid][-32:]  # the latest, for trace; "n" counts all
        if b["ended"] is None:
            x["open"].append(bid)
        else:
            _ended(x, bid, b["ended"])
        ctx.put(breaches_key(batch), x)
    ctx.emit("breach", **{k: b[k] for k in ("id", "device", "rule", "kind", "batches",
                                             "shipment", "start", "ended", "worst")},
             detail=breach_reason(b), **judged)


def hold_on_breach(ctx: Ctx, order: dict[str, Any]) -> None:
    """Refuse an automatic payout while the order's batch has a breach that had not ended
    before the order was placed: the payment waits for the buyer's confirmation or the
    outcome of a dispute (orders.release calls this)."""
    batch = order.get("batch")
    x = ctx.read("sensors", breaches_key(batch)) if batch else None
    if x is None:
        return
    if x["open"]:
        bid = x["open"][-1]
    elif x["last_end"] is not None and x["last_end"][0] >= order["placed_at"]:
        bid = x["last_end"][1]
    else:
        return
    raise InvalidState(
        f"order {order['id']} is held for dispute: its batch has a "
        f"{breach_reason(ctx.read('sensors', breach_key(bid)))}; the buyer may confirm it "
        "or open a dispute", current=order["state"], breach=bid)


def _ended(x: dict[str, Any], bid: str, ended: int) -> None:
    """Breach ``bid`` of a batch's marks ``x`` ended at ``ended``."""
    if bid in x["open"]:
        x["open"].remove(bid)
    if x["last_end"] is None or ended >= x["last_end"][0]:
        x["last_end"] = [ended, bid]


def _dev(v: int, lo: int, hi: int) -> int:
    """How far ``v`` lies outside ``[lo, hi]`` (what "worst" means for a band)."""
    return v - hi if v > hi else lo - v

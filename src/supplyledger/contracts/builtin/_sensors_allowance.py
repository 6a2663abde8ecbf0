"""Sensors rules v4: an excursion belongs to the batch, not to the logger that saw it.

Up to rules v3 a logger kept the excursions it measured in its own state and lost them when
it was unbound, so unbinding and binding it again, or swapping two loggers on a batch, every
29 minutes started a 30-minute allowance afresh: the goods could sit warm for hours with no
breach recorded. From v4 each watched batch keeps its own excursion state at
``sensors/w/{batch}``, present only while an excursion is open on it::

    {"rule": key of the rule measured against (a product's, any version, or the batch's own),
     "ex": {kind: [start, worst, seen, breach id or ""]},
     "cut": [kinds whose breach an unbind closed]}

What counts, per batch and rule:

- An excursion starts at the first reading out of range and ends at the first reading back
  in range, whichever logger watching the batch takes them. Every logger on the batch goes
  on with the same excursion, and binding, unbinding or swapping loggers neither ends nor
  restarts it: the time between counts, however long, since nothing showed the goods back
  in range. Longer than the rule's allowance, it is a breach (as before, its length is end
  minus start).
- Readings count in the order the ledger records them. A logger's reading taken before the
  open excursion's last out-of-range reading (``seen``: an upload that came late) is left
  out of that check; it neither ends nor lengthens the excursion.
- An unbind decides what rules v3 decide (an excursion the logger never saw end counts until
  the unbind, or the end of the bound shipment, and is a breach if that is longer than
  allowed; an open breach is closed at its last out-of-range reading), but the excursion
  stays on the batch: its next reading, from any logger, still out of range goes on with it
  (a breach the unbind closed is open again), back in range ends it there (the breach then
  ends there too, or one is recorded if the whole excursion is longer than allowed).
- An excursion carries on under a new version of the same rule, measured from then on
  against the band the batch is held to; a different rule (the batch's own replacing its
  product's, or none) or a rule without that check ends it, and its breach, at its last
  out-of-range reading, as under v3.
- What a logger measured under rules v3 (its device state when v4 was adopted) moves to its
  batches at its first reading batch or unbind under v4.

A breach marks the batches that shared the excursion when it was found; if later readings
part them (another logger watching only some), each mark ends with its batch's excursion
(``_sensors_breaches.update_part``). Cost on the reading path: one more state read per
watched batch (no write while the batch is in range). Batches with the same rule and the
same state are evaluated together, so a logger whose batches are all in range scans its
readings once per rule, as under v3. ``record`` declares no ``reads`` hint: which keys it
reads depends on the device's binding, which its arguments do not name.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from supplyledger.contracts.builtin._sensors_breaches import open_breach, update_part
from supplyledger.contracts.builtin._sensors_model import (
    allowance_key,
    batch_rule_key,
    breach_key,
    product_rule_key,
)
from supplyledger.contracts.builtin._sensors_rules import evaluate
from supplyledger.contracts.runtime import Ctx
from supplyledger.ledger.encoding import canonical

__all__ = ["record_batches", "unbind_batches"]

Groups = dict[str, tuple[dict[str, Any], list[str]]]
State = dict[str, Any]
_PRODUCT = product_rule_key("")


def _base(rule: dict[str, Any]) -> str:
    """The key of ``rule`` whatever its version: a product's rule or a batch's own."""
    make = product_rule_key if rule["scope"] == "product" else batch_rule_key
    return make(rule["target"])


def _parts(ctx: Ctx, batches: list[str], groups: Groups) -> list[
        tuple[str, State | None, list[str]]]:
    """The watched batches as ``(group key, state, batches)``, one per group and state;
    batches with neither a rule nor an open excursion are left out."""
    where = {x: key for key, (_, held) in groups.items() for x in held}
    parts: dict[tuple[str, bytes], tuple[str, State | None, list[str]]] = {}
    for x in batches:
        st, key = ctx.get(allowance_key(x)), where.get(x, "")
        if st is None and not key:
            continue
        sig = (key, b"" if st is None else canonical(st))
        if sig in parts:
            parts[sig][2].append(x)
        else:
            parts[sig] = (key, st, [x])
    return list(parts.values())


def _store(ctx: Ctx, batches: list[str], before: State | None, after: State | None) -> None:
    if after == before:
        return
    for x in batches:
        if after is None:
            ctx.delete(allowance_key(x))
        else:
            ctx.put(allowance_key(x), after)


def _reconcile(ctx: Ctx, st: State | None, rule: dict[str, Any] | None,
               batches: list[str]) -> State | None:
    """``st`` without the checks its batches' rule no longer has (all of them when the rule
    is another, or none): their open breaches end at the last out-of-range reading."""
    if st is None:
        return None
    ex = dict(st["ex"])
    kept = rule if rule is not None and _base(rule) == st["rule"] else {}
    for kind in [k for k in ex if k not in kept]:
        _, worst, seen, bid = ex.pop(kind)
        if bid and kind not in st["cut"]:  # a cut one was closed at an unbind already
            update_part(ctx, bid, {"kind": kind, "worst": worst, "seen": seen,
                                   "ended": seen}, batches, closed=ctx.time)
    if not ex:
        return None
    return {"rule": st["rule"], "ex": ex, "cut": [k for k in st["cut"] if k in ex]}


def _after(cols: dict[str, Any], ex: dict[str, list[Any]]) -> dict[str, Any]:
    """The reading columns without readings taken before (or at) the last out-of-range
    reading of the excursion open on their check: a late upload neither ends nor
    lengthens it."""
    out = cols
    for kind, st in ex.items():
        name = "pos" if kind == "geofence" else kind
        col = cols.get(name)
        if col is None:
            continue
        i = bisect_right(col[0], st[2])
        if i:
            out = dict(out) if out is cols else out
            if i < len(col[0]):
                out[name] = [c[i:] for c in col]
            else:
                del out[name]
    return out


def _adopt_v3(ctx: Ctx, d: dict[str, Any], batches: list[str]) -> None:
    """Move the excursions device ``d`` measured under rules v3 (its own state, per rule
    group) to the batches they were measured for; a breach's only to the batches it marks."""
    index = d.get("groups", {})
    for key, ex in d["ex"].items():
        base = "/".join(key.split("/")[:3]) if key.startswith(_PRODUCT) else key
        held = ([batches[i] for i in index[key] if i < len(batches)] if key in index
                else batches)
        for kind, st in ex.items():
            marked = ctx.get(breach_key(st[3]))["batches"] if st[3] else held
            for x in held:
                cur = ctx.get(allowance_key(x)) or {"rule": base, "ex": {}, "cut": []}
                if x in marked and cur["rule"] == base and kind not in cur["ex"]:
                    cur["ex"][kind] = list(st)
                    ctx.put(allowance_key(x), cur)
    d["ex"], d["groups"] = {}, {}


def record_batches(ctx: Ctx, d: dict[str, Any], batches: list[str], groups: Groups,
                   cols: dict[str, Any]) -> list[str]:
    """Evaluate a reading batch of device ``d`` against the excursion open on each of its
    watched ``batches`` (grouped by rule: ``groups``). Returns the breaches opened,
    changed or ended."""
    _adopt_v3(ctx, d, batches)
    changed: list[str] = []
    for key, before, part in _parts(ctx, batches, groups):
        rule = groups[key][0] if key else None
        st = _reconcile(ctx, before, rule, part)
        if rule is not None:
            st = _evaluate(ctx, d, rule, cols, st, part, changed)
        _store(ctx, part, before, st)
    return list(dict.fromkeys(changed))


def _evaluate(ctx: Ctx, d: dict[str, Any], rule: dict[str, Any], cols: dict[str, Any],
              st: State | None, part: list[str], changed: list[str]) -> State | None:
    ex: dict[str, list[Any]] = {k: list(v) for k, v in st["ex"].items()} if st else {}
    cut = st["cut"] if st else []
    fresh = _after(cols, ex)
    for h in evaluate(rule, fresh, ex):
        if h["id"]:
            update_part(ctx, h["id"], h, part, reopen=h["kind"] in cut)
            changed.append(h["id"])
            continue
        bid = f"{ctx.tx_id[:32]}-{len(changed)}"
        if h["ended"] is None:
            ex[h["kind"]][3] = bid
        open_breach(ctx, bid, d, rule, part, h)
        changed.append(bid)
    # A check with readings now is no longer only closed by an unbind.
    cut = [k for k in cut if k in ex and ("pos" if k == "geofence" else k) not in fresh]
    return {"rule": _base(rule), "ex": ex, "cut": cut} if ex else None


def unbind_batches(ctx: Ctx, d: dict[str, Any], batches: list[str], groups: Groups,
                   until: int) -> None:
    """Device ``d`` is being unbound: an excursion on its batches not yet a breach counts
    until ``until`` and is one if that is longer than allowed; an open breach is closed at
    its last out-of-range reading. The excursions stay on the batches (see module doc)."""
    _adopt_v3(ctx, d, batches)
    n = 0
    for key, before, part in _parts(ctx, batches, groups):
        rule = groups[key][0] if key else None
        st = _reconcile(ctx, before, rule, part)
        if st is not None and rule is not None:
            st = {**st, "ex": {k: list(v) for k, v in st["ex"].items()},
                  "cut": list(st["cut"])}
            for kind, x in st["ex"].items():
                start, worst, seen, bid = x
                band = rule[kind]
                if kind in st["cut"]:
                    continue
                if bid:
                    update_part(ctx, bid, {"kind": kind, "worst": worst, "seen": seen,
                                           "ended": seen}, part, closed=ctx.time)
                elif kind != "geofence" and until - start > band[2]:
                    bid = x[3] = f"{ctx.tx_id[:32]}-{n}"
                    n += 1
                    open_breach(ctx, bid, d, rule, part, {
                        "kind": kind, "start": start, "worst": worst, "seen": seen,
                        "ended": max(seen, until), "band": band})
                else:
                    continue
                st["cut"].append(kind)
        _store(ctx, part, before, st)

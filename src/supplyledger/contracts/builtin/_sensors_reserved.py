"""Which cold-chain rule governs a batch, and how an order keeps the rule it was sold under.

A batch's rule is its own (``sensors/r/b/{batch}``) or else its product's
(``sensors/r/p/{gtin14}``). Its breaches hold the order's automatic payout, and the seller
usually owns both the batch and its product type: widening either rule after the sale would
let an excursion pass that the buyer paid to have caught. So while an order reserves a
batch (``orders/lk/{batch}``, see ``custody.reservation_key``):

- its own rule may only be tightened (:func:`check_batch_rule`; "tighter" is
  ``_sensors_rules.widened`` finding nothing: no check dropped, every band within the old
  one, no longer allowance);
- a change of its product's rule reaches it only if it tightens the product rule in force
  when the order was placed. The orders contract pins that rule's version when it reserves
  the batch (``orders/rp/{batch}``; no pin when the product had no rule: then any rule
  tightens it), and every product rule version is also kept at ``sensors/r/p/{gtin14}/{v}``.
  Evaluating a reserved batch so costs one read more (the pin), two when the product rule
  changed since;
- a product order's lot, chosen only at dispatch and free to change until then, may not
  carry an own rule looser than the product rule in force when the order was placed.

When the order ends (completed, cancelled, returned or resolved) pin and reservation go and
the batch follows its product's current rule again. A tightening reaches the batch at once:
the seller only binds itself.

One device may so watch batches held to two versions of one product rule. A device tracks
excursions per group of batches held to one rule (:func:`group_rules`), a product rule's
per version (its state key is :func:`version_key`'s), so an excursion is always one measured
against the band of the batches it is applied to: when the seller widens the rule, the sold
batch's excursion under the old version carries on; when an order ends, the batches held to
another version keep their own. Breaches still name the oldest version by the product
rule's key, newer ones by their version key. An excursion whose version no batch is held to
any more carries on under the version all its batches moved to, if that has none of its own
(a tightening reached them, or their order ended): :func:`carry_over`.
"""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.builtin._sensors_model import batch_rule_key, product_rule_key
from supplyledger.contracts.builtin._sensors_rules import widened
from supplyledger.contracts.builtin.custody import reserved_by
from supplyledger.contracts.runtime import Ctx
from supplyledger.errors import InvalidState

__all__ = ["carry_over", "check_batch_rule", "group_rules", "lot_rule_widens", "pin_key",
           "pinned_rule", "product_rule_version", "rule_of", "rule_version", "version_key"]

Groups = dict[str, tuple[dict[str, Any], list[str]]]


def version_key(product_key: str, v: int) -> str:
    """Key (sensors namespace) of version ``v`` of the product rule at ``product_key``."""
    return f"{product_key}/{v}"


def pin_key(batch: str) -> str:
    """Key (orders namespace) of the product rule version a reserved batch is held to."""
    return f"rp/{batch}"


def product_rule_version(ctx: Ctx, gtin: str) -> int:
    """The version of product ``gtin``'s rule in force now (0: none): what a product order
    records when placed, since transaction times may run a few minutes behind the order
    in which the ledger took them."""
    r = ctx.read("sensors", product_rule_key(gtin))
    return 0 if r is None else int(r["v"])


def rule_version(ctx: Ctx, gtin: str, v: int) -> dict[str, Any] | None:
    """Version ``v`` of product ``gtin``'s rule (None for 0, no rule)."""
    if v == 0:
        return None
    key = product_rule_key(gtin)
    r = ctx.read("sensors", key)
    if r is not None and r["v"] == v:
        return r  # type: ignore[no-any-return]
    return ctx.read("sensors", version_key(key, v))  # type: ignore[no-any-return]


def pinned_rule(ctx: Ctx, gtin: str, at: int | None = None) -> dict[str, Any] | None:
    """The rule of product ``gtin`` in force at time ``at`` (None: now). Walks back one
    version per change made since ``at``: the seller's own changes, paid by its dispatch."""
    key = product_rule_key(gtin)
    r = ctx.read("sensors", key)
    while r is not None and at is not None and r["since"] > at:
        r = ctx.read("sensors", version_key(key, r["v"] - 1)) if r["v"] > 1 else None
    return r  # type: ignore[no-any-return]


def rule_of(ctx: Ctx, batch: str) -> tuple[str, dict[str, Any] | None]:
    """(key, rule) of the rule that governs ``batch`` now."""
    key = batch_rule_key(batch)
    rule = ctx.read("sensors", key)
    if rule is not None:
        return key, rule
    rec = ctx.read("products", f"b/{batch}")
    if rec is None:
        return "", None
    key = product_rule_key(rec["gtin"])
    rule = ctx.read("sensors", key)
    if rule is None:
        return key, None
    pin = ctx.read("orders", pin_key(batch))
    if pin is None or pin == rule["v"]:
        return key, rule
    sold = ctx.read("sensors", version_key(key, pin))
    return key, rule if widened(sold, rule) is None else sold


def group_rules(ctx: Ctx, batches: list[str]) -> Groups:
    """``{state key: (rule, batches)}``: the watched batches grouped by the rule they are
    held to, each group evaluated once; a product rule's groups per version, under
    :func:`version_key`. The oldest version's rule keeps the product rule's ``key`` (which
    breaches name), newer ones say their version key."""
    found: dict[str, dict[int, tuple[dict[str, Any], list[str]]]] = {}
    for batch in batches:
        key, rule = rule_of(ctx, batch)
        if rule is not None:
            found.setdefault(key, {}).setdefault(rule["v"], (rule, []))[1].append(batch)
    groups: Groups = {}
    for key, versions in found.items():
        for i, v in enumerate(sorted(versions)):
            rule, held = versions[v]
            if i:
                rule = {**rule, "key": version_key(key, v)}
            product = key.startswith(_PRODUCT)
            groups[version_key(key, v) if product else key] = (rule, held)
    return groups


_PRODUCT = product_rule_key("")


def carry_over(exs: dict[str, Any], groups: Groups, before: dict[str, list[int]],
               batches: list[str]) -> None:
    """Move, in excursion state ``exs``, the excursion of a product-rule version no watched
    batch is held to any more to the group all of its batches moved to, when that group
    has none of its own (of several such, the oldest version's). ``before``: the state key
    of each group of the last record -> indices of its batches in ``batches``. A group some
    of whose batches were already held to its rule keeps its state: that is measured
    against its band, the moved one against another."""
    was = {i: key for key, idx in before.items() for i in idx}
    pos = {b: i for i, b in enumerate(batches)}
    for key, (_, held) in groups.items():
        if key in exs or not key.startswith(_PRODUCT):
            continue
        line = key.rsplit("/", 1)[0]
        came = {was.get(pos[b]) for b in held}
        if all(k is not None and k not in groups and k.rsplit("/", 1)[0] == line
               for k in came):
            old = sorted((int(k.rsplit("/", 1)[1]), k) for k in came if k in exs)
            if old:
                exs[key] = exs.pop(old[0][1])


def check_batch_rule(ctx: Ctx, batch: str, new: dict[str, Any]) -> None:
    """Refuse a batch rule that widens the one in force while an order reserves it."""
    order = reserved_by(ctx, batch)
    if order is None:
        return
    check = widened(rule_of(ctx, batch)[1], new)
    if check is not None:
        raise InvalidState(f"batch {batch} is reserved by order {order}: until it ends its "
                           f"cold-chain rule may only be tightened, and this one drops or "
                           f"widens its {check} check", current="reserved", order=order,
                           check=check)


def lot_rule_widens(ctx: Ctx, batch: str, sold: dict[str, Any] | None) -> str | None:
    """The check by which ``batch``'s own rule (if any) is looser than rule ``sold``."""
    if sold is None:
        return None  # nothing was promised, so nothing is looser
    own = ctx.read("sensors", batch_rule_key(batch))
    return None if own is None else widened(sold, own)

"""The cold-chain rule a buyer ordered under holds until the order ends: while an order
reserves a batch, the batch's own rule may only be tightened, a product-rule change reaches
the batch only if it tightens the rule in force when the order was placed, and a product
order's lot may not carry an own rule looser than that. On a real embedded node; the world
is ``_sensors_world``'s (product rule 2-8 °C with 30 minutes allowed, a logger on batch V1).
"""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.builtin._sensors_rules import prepare_rule, widened
from supplyledger.node.audit import run_audit

from ._sensors_world import MIN, RULE, T0, World, gtin, temps, world

__all__ = ["world"]
DAY = 86_400_000


def _buyer(w: World) -> Any:
    c = w.c
    if "shop" not in c.parties:
        c.org("shop", ["customer"])
        c.org("bank", ["settlement"])
        c.member("shop", "shop", ["customer"])
        c.member("bank", "bank", ["settlement"])
        c.ok(c.parties["bank"], "payments", "deposit",
             {"account": c.parties["shop"].did, "currency": "EUR", "amount": 100_000})
    return c.parties["shop"]


def _place(w: World, oid: str, *, batch: str | None = None, product: str | None = None) -> Any:
    buyer = _buyer(w)
    what = {"batch": batch} if batch else {"product": product}
    w.c.ok(w.maker, "products", "declare_for_sale", {"id": batch or product})
    w.c.ok(buyer, "orders", "place", {
        "id": oid, "seller": w.maker.did, **what, "quantity": 10, "unit_price": 1000,
        "freight": 500, "currency": "EUR", "earliest": w.clock(), "latest": w.clock() + DAY})
    return buyer


def _dispatch(w: World, oid: str, **extra: Any) -> None:
    w.c.ok(w.maker, "orders", "dispatch", {"order": oid, "transporter": w.carrier.did,
                                           "transport_no": f"TN-{oid}", **extra})


def _deliver(w: World, oid: str, *, dispatched: bool = False) -> None:
    if not dispatched:
        _dispatch(w, oid)
    w.c.ok(w.carrier, "orders", "pickup", {"order": oid})
    w.c.ok(w.carrier, "orders", "deliver", {"order": oid})


def _rule(w: World, scope: str = "batch", target: str | None = None, **checks: Any) -> (
        dict[str, Any]):
    return {"scope": scope, "target": target or (w.batch if scope == "batch" else w.gtin),
            **checks}


WIDE = {"min": 0, "max": 25_000, "excursion_ms": 30 * MIN}


def test_a_reserved_batchs_own_rule_may_only_be_tightened(world: World) -> None:
    w, m = world, world.maker
    buyer = _place(w, "o-1", batch=w.batch)
    for wider, check in ((_rule(w, temp=WIDE), "temp"),
                           (_rule(w, temp={**RULE, "excursion_ms": 60 * MIN}), "temp"),
                           (_rule(w, shock={"max": 5000}), "temp")):  # drops the band
        err = w.refused(m, "sensors", "set_rule", wider)
        assert err.code == "invalid_state", err
        assert (err.current, err.order, err.check) == (  # type: ignore[attr-defined]
            "reserved", "o-1", check)
        assert "reserved by order o-1" in err.message
    tight = _rule(w, temp={"min": 3000, "max": 7000, "excursion_ms": 10 * MIN},
                  shock={"max": 5000})
    w.c.ok(m, "sensors", "set_rule", tight)
    # Now that rule is the one in force: going back to 2-8 °C, or dropping shock, widens it.
    for wider, check in ((_rule(w, temp=RULE, shock={"max": 5000}), "temp"),
                           (_rule(w, temp=tight["temp"]), "shock")):
        err = w.refused(m, "sensors", "set_rule", wider)
        assert err.check == check  # type: ignore[attr-defined]
    # The tightened rule is what the readings are held to: 15 minutes at 7.5 °C breach it.
    assert len(w.ok(temps(T0 + 20 * MIN, 7500, 7500, 7500, 6000))["breaches"]) == 1
    # Once the order has ended the owner may set any rule again.
    _deliver(w, "o-1")
    w.c.ok(buyer, "orders", "confirm", {"order": "o-1"})
    w.c.ok(buyer, "sensors", "set_rule", _rule(w, temp=WIDE))


def test_a_product_rule_widened_after_the_sale_does_not_reach_the_sold_batch(
        world: World) -> None:
    w, c, m = world, world.c, world.maker
    free = w.new_batch("V2")
    logger = w.new_device()
    c.ok(m, "sensors", "bind", {"device": logger.did, "kind": "batch", "target": w.batch,
                                "batches": [free]})
    buyer = _place(w, "o-1", batch=w.batch)
    # 20 minutes at 9 °C: an excursion of the 2-8 °C rule, not yet past its 30 minutes ...
    assert w.ok(temps(T0 + 20 * MIN, *[9000] * 5), device=logger)["breaches"] == []
    # ... when the seller widens the product's rule to 0-25 °C. The free batch follows it;
    # the sold one keeps 2-8 °C, and its excursion goes on (35 minutes: a breach).
    c.ok(m, "sensors", "set_rule", _rule(w, "product", temp=WIDE))
    [bid] = w.ok(temps(T0 + 45 * MIN, 9000, 9000, 6000), device=logger)["breaches"]
    [row] = w.breaches()
    assert (row["id"], row["started"]) == (bid, T0 + 20 * MIN)  # the excursion carried on
    assert w.breaches(free) == []
    # The breach holds the automatic payout, as it would have under the rule of the sale.
    _deliver(w, "o-1")
    w.clock.t += 8 * DAY
    err = w.refused(w.carrier, "orders", "release", {"order": "o-1"})
    assert err.code == "invalid_state" and getattr(err, "breach", None) == bid
    # Once the order ends the batch follows its product's rule again: 9 °C is in band.
    c.ok(buyer, "orders", "confirm", {"order": "o-1"})
    t = w.clock() + MIN
    assert w.ok(temps(t, *[9000] * 12, 6000), device=logger)["breaches"] == []


def test_a_product_rule_tightened_after_the_sale_reaches_the_sold_batch(
        world: World) -> None:
    w = world
    _place(w, "o-1", batch=w.batch)
    w.c.ok(w.maker, "sensors", "set_rule",
           _rule(w, "product", temp={"min": 3000, "max": 7000, "excursion_ms": 10 * MIN}))
    assert len(w.ok(temps(T0 + 20 * MIN, 7500, 7500, 7500, 6000))["breaches"]) == 1


def test_a_product_orders_lot_keeps_the_rule_in_force_when_it_was_ordered(
        world: World) -> None:
    w, c, m = world, world.c, world.maker
    _place(w, "o-1", product=gtin(1))
    w.clock.t += MIN
    c.ok(m, "sensors", "set_rule", _rule(w, "product", temp=WIDE))  # after the order
    # A lot given a lax rule of its own while free cannot be the one shipped ...
    lax = w.new_batch("V2")
    c.ok(m, "sensors", "set_rule", _rule(w, target=lax, temp={**RULE, "max": 30_000}))
    err = w.refused(m, "orders", "dispatch", {"order": "o-1", "transporter": w.carrier.did,
                                              "transport_no": "TN-o-1", "batch": lax})
    assert err.code == "invalid_state" and err.check == "temp"  # type: ignore[attr-defined]
    assert "looser" in err.message
    # ... and the lot shipped is held to 2-8 °C, the product's rule when it was ordered.
    _dispatch(w, "o-1", batch=w.batch)
    t = w.clock() + MIN
    assert len(w.ok(temps(t, *[9000] * 8, 6000))["breaches"]) == 1
    assert run_audit(w.c.dir).ok  # rule versions and pins re-execute to the same state


def test_tighter_means_every_check_kept_and_no_band_wider() -> None:
    def rule(**checks: Any) -> dict[str, Any]:
        return prepare_rule({"scope": "product", "target": gtin(1), **checks})

    circle = {"lat": 52_000_000, "lon": 13_000_000, "radius_m": 10_000}
    square = [[0, 0], [0, 1000], [1000, 1000], [1000, 0]]
    old = rule(temp=RULE, hum={"min": 300, "max": 800}, geofence=circle)
    assert widened(None, old) is None and widened(old, old) is None
    assert widened(old, rule(temp={**RULE, "excursion_ms": 0}, hum={"min": 400, "max": 700},
                             shock={"max": 2000},
                             geofence={**circle, "radius_m": 5_000})) is None
    assert widened(old, rule(temp=RULE, hum={"min": 200, "max": 800},
                             geofence=circle)) == "hum"
    assert widened(old, rule(temp=RULE, hum={"min": 300, "max": 800})) == "geofence"
    assert widened(old, rule(temp=RULE, hum={"min": 300, "max": 800},
                             geofence={**circle, "lat": 52_000_001})) == "geofence"
    fenced = rule(geofence={"polygon": square})
    assert widened(fenced, fenced) is None
    assert widened(fenced, rule(geofence={"polygon": square[:3]})) == "geofence"
    assert widened(rule(shock={"max": 2000}), rule(shock={"max": 2001})) == "shock"


def test_a_batch_keeps_its_own_excursion_when_another_order_ends(world: World) -> None:
    """One logger, two sold batches held to two versions of the product rule: when the
    older one's order ends, the other carries on with its own excursion (not the ended
    one's, evaluated under another band and marking another batch)."""
    w, c, m = world, world.c, world.maker
    other = w.new_batch("V2")
    logger = w.new_device()
    c.ok(m, "sensors", "bind", {"device": logger.did, "kind": "batch", "target": w.batch,
                                "batches": [other]})
    buyer = _place(w, "o-1", batch=w.batch)  # held to 2-8 °C
    c.ok(m, "sensors", "set_rule", _rule(w, "product", temp=WIDE))
    _place(w, "o-2", batch=other)  # held to 0-25 °C
    c.ok(m, "sensors", "set_rule", _rule(w, "product", temp={**WIDE, "max": 40_000}))
    # 45 minutes at 9 °C breach 2-8 °C (o-1's batch); then 26 °C leaves 0-25 °C too.
    [first] = w.ok(temps(T0 + 20 * MIN, *[9000] * 9, *[26_000] * 5),
                   device=logger)["breaches"]
    assert w.breaches(other) == []
    _deliver(w, "o-1")
    c.ok(buyer, "orders", "confirm", {"order": "o-1"})
    # o-2's batch has been above 25 °C since T0 + 65 min: past its 30 minutes, a breach.
    found = w.ok(temps(T0 + 90 * MIN, *[26_000] * 4), device=logger)["breaches"]
    [row] = w.breaches(other)
    assert row["id"] in found and row["id"] != first
    assert row["started"] == T0 + 65 * MIN
    # o-1's batch now follows 0-40 °C: its breach ended at the first reading back in band.
    [ended] = w.breaches()
    assert (ended["id"], ended["ended"]) == (first, T0 + 90 * MIN)


def test_a_product_rule_back_dated_before_the_order_does_not_reach_its_lot(
        world: World) -> None:
    """A transaction's time may lie a few minutes behind the ledger's order of events: the
    seller signs a looser product rule dated before the order, but submits it after. The
    order keeps the version it was placed under, not the one whose date is earlier."""
    w, c, m = world, world.c, world.maker
    w.clock.t += 10 * MIN
    _place(w, "o-1", product=gtin(1))
    w.clock.t -= 4 * MIN
    c.ok(m, "sensors", "set_rule", _rule(w, "product", temp=WIDE))
    w.clock.t += 5 * MIN
    _dispatch(w, "o-1", batch=w.batch)
    t = w.clock() + MIN
    assert len(w.ok(temps(t, *[9000] * 8, 6000))["breaches"]) == 1

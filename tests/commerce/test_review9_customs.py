"""Review 9 (adversarial): who may put goods under customs control, and a product order's
lot declared before it was chosen. Each test failed on the code before its fix."""

from __future__ import annotations

from .conftest import DAY, Cast, gtin
from .test_customs import Cx, customs_world, line


def test_a_stranger_cannot_freeze_someone_elses_batch(cast: Cast) -> None:
    """A declarant must own or hold the batches it names (or they are its order's): else
    any supplier could put a competitor's stock under customs control, or fill its open
    declaration slots, until an authority decides."""
    cx: Cx = customs_world(cast)
    w, c = cx.w, cx.c
    b = w.batch(c.seller, 3, for_sale=False)
    stranger = w.participant("supplier")
    err = cx.declare("x1", [line("611020", 500)], signer=stranger, batches=[b])["error"]
    assert err["code"] == "forbidden" and b in err["message"]
    assert w.get(f"customs/b/{b}") is None and w.get("customs/d/x1") is None
    # Nor by tacking it onto a declaration of an order it is a party to.
    b2 = cx.dispatched(10_500)
    r = cx.declare("x2", [line("611020", 10_000)], signer=c.carrier, order="o1",
                   batches=[b2, b])
    assert r["error"]["code"] == "forbidden"
    assert w.get("customs/o/o1") is None and w.get(f"customs/b/{b2}") is None
    # The owner (and the order's carrier, for the order's own lot) still declare.
    assert cx.declare("x3", [line("611020", 500)], batches=[b])["ok"]
    assert cx.declare("x4", [line("611020", 10_000)], signer=c.carrier, order="o1",
                      batches=[b2])["ok"]
    # Custody, not title, suffices: the carrier declares what it carries for the seller.
    assert w.holding(b2)["custodian"] == c.seller  # (not picked up yet)
    w.ok(c.carrier, "orders", "pickup", {"order": "o1"})
    b3 = w.batch(c.seller, 5, for_sale=False)
    prop = w.ok(c.seller, "custody", "propose", {"batch": b3, "to": c.carrier,
                                                 "kind": "custody"})["proposal"]
    w.ok(c.carrier, "custody", "accept", {"proposal": prop})
    assert cx.declare("x5", [line("611020", 500)], signer=c.carrier, batches=[b3])["ok"]


def test_a_product_orders_lot_chosen_after_the_declaration_is_held(cast: Cast) -> None:
    """The order is declared before its lot is chosen; the lot dispatched joins the hold,
    so a ruling that ends the reservation does not let it reach the buyer uncleared."""
    cx: Cx = customs_world(cast)
    w, c = cx.w, cx.c
    c.fund(c.buyer, 10_500)
    b = w.batch(c.seller, 4)
    w.ok(c.seller, "products", "declare_for_sale", {"id": gtin(4)})
    assert w.call(c.buyer, "orders", "place", {
        "id": "p1", "seller": c.seller, "product": gtin(4), "quantity": 10,
        "unit_price": 1000, "freight": 500, "currency": "EUR", "earliest": w.time,
        "latest": w.time + 5 * DAY})["ok"]
    assert cx.declare("d1", [line("611020", 10_000)], order="p1")["ok"]
    w.ok(c.seller, "orders", "dispatch", {"order": "p1", "transporter": c.carrier,
                                          "transport_no": "TN-P", "batch": b})
    held = w.get(f"customs/b/{b}")
    assert held and held[0]["declaration"] == "d1" and held[0]["buyer"] == c.buyer
    assert w.get("customs/d/d1")["holds"] == [b]
    w.ok(c.carrier, "orders", "pickup", {"order": "p1"})
    w.ok(c.buyer, "orders", "dispute", {"order": "p1", "reason": "late"})
    w.ok(c.arbiter, "orders", "resolve", {"order": "p1", "refund": 0, "freight_paid": 500,
                                          "at_fault": "none", "ownership": "buyer"})
    err = w.fail("invalid_state", c.carrier, "custody", "propose",
                 {"batch": b, "to": c.buyer, "kind": "custody"})
    assert err["details"]["declaration"] == "d1"
    # Rejected: the hold ends with the declaration.
    w.ok(cx.de, "customs", "reject", {"declaration": "d1", "reason": "test"})
    assert w.get(f"customs/b/{b}") is None
    assert w.ok(c.carrier, "custody", "propose",
                {"batch": b, "to": c.buyer, "kind": "custody"})["proposal"]


def test_goods_under_customs_control_are_not_transformed_away(cast: Cast) -> None:
    """A lot named by an open declaration cannot be consumed by a transformation: the new
    lot it would become carries no hold, so the goods would leave customs control."""
    cx: Cx = customs_world(cast)
    w, c = cx.w, cx.c
    g = gtin(6)
    w.ok(c.seller, "products", "create_product", {"gtin": g, "name": "cloth"})
    cloth = w.ok(c.seller, "products", "create_batch",
                 {"gtin": g, "lot": "C1", "quantity": "100", "uom": "KGM"})["batch"]
    shirts = w.batch(c.seller, 7, "S1", for_sale=False)
    event = {"type": "TransformationEvent", "eventTime": "2026-01-01T08:00:00.000Z",
             "eventTimeZoneOffset": "+00:00", "bizStep": "commissioning",
             "disposition": "active",
             "inputQuantityList": [{"epcClass": cloth, "quantity": 40, "uom": "KGM"}],
             "outputQuantityList": [{"epcClass": shirts}]}
    assert cx.declare("d1", [line("611020", 500)], batches=[cloth])["ok"]
    err = w.fail("invalid_state", c.seller, "trace", "record_event",
                 {"batch": shirts, "event": event})
    assert err["details"] == {"current": "customs", "batch": cloth, "declaration": "d1"}
    w.ok(cx.de, "customs", "reject", {"declaration": "d1", "reason": "test"})
    assert w.ok(c.seller, "trace", "record_event", {"batch": shirts, "event": event})

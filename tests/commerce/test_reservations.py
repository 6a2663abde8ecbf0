"""A batch an order has reserved keeps its title until the order ends: custody.propose
refuses to offer its ownership (alone or with custody) in every state the order can be in,
and the title is free again in every way an order can end. Custody alone may still be
handed over. An offer made before the order blocks placing it (or dispatching the lot of a
product order) until it is answered, so no earlier offer can be accepted during the order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .conftest import DAY, Cast, gtin


@pytest.fixture
def batch(cast: Cast) -> str:
    cast.fund(cast.buyer, 100_000)
    return cast.w.batch(cast.seller, 1)


def _offer(c: Cast, who: str, batch: str, kind: str = "ownership",
           to: str | None = None) -> dict[str, Any]:
    return c.w.call(who, "custody", "propose",
                    {"batch": batch, "to": to or c.stranger, "kind": kind})


def _dispatch(c: Cast, oid: str, **extra: Any) -> None:
    c.w.ok(c.seller, "orders", "dispatch",
           {"order": oid, "transporter": c.carrier, "transport_no": f"TN-{oid}", **extra})


def _to_state(c: Cast, batch: str, state: str) -> None:
    """Order o1 of ``batch``, taken to ``state``."""
    w = c.w
    if state in ("placed", "dispatched", "in_transit"):
        assert c.place("o1", batch)["ok"]
        if state != "placed":
            _dispatch(c, "o1")
        if state == "in_transit":
            w.ok(c.carrier, "orders", "pickup", {"order": "o1"})
        return
    c.to_delivered("o1", batch)
    if state == "return_requested":
        w.ok(c.buyer, "orders", "request_return", {"order": "o1", "reason": "wrong size"})
    elif state == "disputed":
        w.ok(c.buyer, "orders", "dispute", {"order": "o1", "reason": "damaged"})


@pytest.mark.parametrize("state", ["placed", "dispatched", "in_transit", "delivered",
                                   "return_requested", "disputed"])
def test_title_of_a_reserved_batch_cannot_be_offered(cast: Cast, batch: str,
                                                     state: str) -> None:
    w, c = cast.w, cast
    _to_state(c, batch, state)
    assert w.order("o1")["state"] == state
    h = w.holding(batch)
    owner = h["owner"]
    assert owner == c.seller
    # "both" needs custody too: the seller has it until pickup.
    for kind in ("ownership", "both") if h["custodian"] == owner else ("ownership",):
        before = dict(w.store)
        r = _offer(c, owner, batch, kind)
        assert not r["ok"] and r["error"]["code"] == "invalid_state", r
        assert r["error"]["details"] == {"current": "reserved", "order": "o1"}
        assert "reserved by order o1" in r["error"]["message"]
        assert w.store == before
    assert w.holding(batch)["owner"] == c.seller


def test_custody_alone_may_still_be_handed_over(cast: Cast, batch: str) -> None:
    w, c = cast.w, cast
    warehouse = w.participant("warehouse")
    _to_state(c, batch, "placed")
    prop = _offer(c, c.seller, batch, "custody", to=warehouse)["result"]["proposal"]
    w.ok(warehouse, "custody", "accept", {"proposal": prop})
    h = w.holding(batch)
    assert (h["owner"], h["custodian"]) == (c.seller, warehouse)
    # The carrier (in transit) and the buyer (once delivered) may hand custody on too.
    prop = _offer(c, warehouse, batch, "custody", to=c.seller)["result"]["proposal"]
    w.ok(c.seller, "custody", "accept", {"proposal": prop})
    _dispatch(c, "o1")
    w.ok(c.carrier, "orders", "pickup", {"order": "o1"})
    prop = _offer(c, c.carrier, batch, "custody", to=warehouse)["result"]["proposal"]
    w.ok(warehouse, "custody", "accept", {"proposal": prop})
    assert w.holding(batch)["custodian"] == warehouse


def _confirm(c: Cast) -> None:
    c.w.ok(c.buyer, "orders", "confirm", {"order": "o1"})


def _release(c: Cast) -> None:
    c.w.time += 8 * DAY
    c.w.ok(c.stranger, "orders", "release", {"order": "o1"})


def _returned(c: Cast) -> None:
    c.w.ok(c.buyer, "orders", "request_return", {"order": "o1", "reason": "r"})
    c.w.ok(c.seller, "orders", "receive_return", {"order": "o1"})


def _resolve(to: str) -> Callable[[Cast], None]:
    def run(c: Cast) -> None:
        c.w.ok(c.buyer, "orders", "dispute", {"order": "o1", "reason": "late"})
        c.w.ok(c.arbiter, "orders", "resolve", {
            "order": "o1", "refund": 10_000, "freight_paid": 500, "at_fault": "seller",
            "ownership": to})
    return run


@pytest.mark.parametrize(("end", "owner"), [
    (_confirm, "buyer"), (_release, "buyer"), (_returned, "seller"),
    (_resolve("seller"), "seller"), (_resolve("buyer"), "buyer")],
    ids=["confirmed", "released", "returned", "resolved-seller", "resolved-buyer"])
def test_title_is_free_again_however_the_order_ends(cast: Cast, batch: str,
                                                    end: Callable[[Cast], None],
                                                    owner: str) -> None:
    w, c = cast.w, cast
    c.to_delivered("o1", batch)
    end(c)
    assert w.get(f"orders/lk/{batch}") is None
    holder = getattr(c, owner)
    assert w.holding(batch)["owner"] == holder
    prop = _offer(c, holder, batch)["result"]["proposal"]
    w.ok(c.stranger, "custody", "accept", {"proposal": prop})
    assert w.holding(batch)["owner"] == c.stranger


def test_a_cancelled_order_frees_the_title(cast: Cast, batch: str) -> None:
    w, c = cast.w, cast
    _to_state(c, batch, "placed")
    w.ok(c.buyer, "orders", "cancel", {"order": "o1"})
    prop = _offer(c, c.seller, batch)["result"]["proposal"]
    w.ok(c.stranger, "custody", "accept", {"proposal": prop})
    assert w.holding(batch)["owner"] == c.stranger


def test_an_offer_made_before_the_order_blocks_placing_it(cast: Cast, batch: str) -> None:
    w, c = cast.w, cast
    prop = _offer(c, c.seller, batch)["result"]["proposal"]
    r = c.place("o1", batch)
    assert r["error"]["code"] == "invalid_state"
    assert r["error"]["details"] == {"current": "proposed", "proposal": prop}
    assert w.escrow("o1") == 0
    # Once the offer is answered the batch can be sold, and the old offer is spent.
    w.ok(c.stranger, "custody", "reject", {"proposal": prop})
    assert c.place("o1", batch)["ok"]
    err = w.fail("invalid_state", c.stranger, "custody", "accept", {"proposal": prop})
    assert err["details"] == {"current": "rejected"}
    assert w.holding(batch)["owner"] == c.seller


def test_a_product_order_reserves_its_lot_from_dispatch(cast: Cast, batch: str) -> None:
    w, c = cast.w, cast
    w.ok(c.seller, "products", "declare_for_sale", {"id": gtin(1)})
    assert w.call(c.buyer, "orders", "place", {
        "id": "o1", "seller": c.seller, "product": gtin(1), "quantity": 10,
        "unit_price": 1000, "freight": 500, "currency": "EUR", "earliest": w.time,
        "latest": w.time + 5 * DAY})["ok"]
    # Before dispatch no lot is chosen: the seller's lots are its own to sell elsewhere,
    # but one with an open offer of its title cannot be the lot shipped.
    prop = _offer(c, c.seller, batch)["result"]["proposal"]
    err = w.fail("invalid_state", c.seller, "orders", "dispatch", {
        "order": "o1", "transporter": c.carrier, "transport_no": "TN-o1", "batch": batch})
    assert err["details"] == {"current": "proposed", "proposal": prop}
    w.ok(c.seller, "custody", "cancel", {"proposal": prop})
    _dispatch(c, "o1", batch=batch)
    r = _offer(c, c.seller, batch)
    assert r["error"]["details"] == {"current": "reserved", "order": "o1"}


def test_an_open_custody_offer_does_not_block_the_payout(cast: Cast, batch: str) -> None:
    """Only an open offer of what an order moves blocks it: the buyer, custodian after the
    delivery, cannot hold the seller's payout (and the arbiter's ruling) hostage by
    leaving an offer of custody unanswered (eq. 7: silence is consent)."""
    w, c = cast.w, cast
    warehouse = w.participant("warehouse")
    c.to_delivered("o1", batch)
    prop = _offer(c, c.buyer, batch, "custody", to=warehouse)["result"]["proposal"]
    _release(c)
    assert w.order("o1")["state"] == "completed"
    assert w.holding(batch)["owner"] == c.buyer
    # The offer still stands and hands over custody alone.
    w.ok(warehouse, "custody", "accept", {"proposal": prop})
    assert (w.holding(batch)["owner"], w.holding(batch)["custodian"]) == (c.buyer, warehouse)


def test_an_open_custody_offer_still_blocks_moving_custody(cast: Cast, batch: str) -> None:
    w, c = cast.w, cast
    warehouse = w.participant("warehouse")
    _to_state(c, batch, "dispatched")
    prop = _offer(c, c.seller, batch, "custody", to=warehouse)["result"]["proposal"]
    err = w.fail("invalid_state", c.carrier, "orders", "pickup", {"order": "o1"})
    assert err["details"]["proposal"] == prop

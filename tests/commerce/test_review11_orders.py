"""Review 11, orders rules v2: the dispute period ends where the automatic release begins,
the release time is fixed at delivery, and a ruling pays no freight for a haul that never
happened. Rules v1 (ledgers made before) keep re-executing as they were decided."""

from __future__ import annotations

import pytest

from .conftest import DAY, Cast, World


def adopt(w: World, *contracts: str) -> None:
    for c in contracts:
        w.ok(w.admin, "rules", "adopt", {"contract": c, "version": 2})


@pytest.fixture
def v2(cast: Cast) -> Cast:
    adopt(cast.w, "orders", "payments", "fx")
    cast.fund(cast.buyer, 1_000_000)
    return cast


def _delivered(c: Cast, oid: str, n: int) -> int:
    c.to_delivered(oid, c.w.batch(c.seller, n))
    return c.w.time


@pytest.mark.parametrize("action", ["dispute", "request_return"])
def test_the_dispute_period_ends_where_the_release_begins(v2: Cast, action: str) -> None:
    w, c = v2.w, v2
    delivered = _delivered(c, "o1", 1)
    due = delivered + 7 * DAY
    assert w.order("o1")["release_at"] == due
    # One millisecond before: the buyer may still dispute or return, nobody may release.
    w.fail("invalid_state", c.stranger, "orders", "release", {"order": "o1"}, time=due - 1)
    # From the release time on, it is the other way round (v1 let whoever came first win).
    err = w.fail("invalid_state", c.buyer, "orders", action,
                 {"order": "o1", "reason": "too late"}, time=due)
    assert err["details"] == {"current": "delivered", "release_at": due}
    assert "delivered" in err["message"] and "dispute period ended" in err["message"]
    if action == "dispute":  # nor may the seller or the transporter freeze it now
        for who in (c.seller, c.carrier):
            w.fail("invalid_state", who, "orders", "dispute", {"order": "o1", "reason": "x"},
                   time=due + DAY)
    w.ok(c.stranger, "orders", "release", {"order": "o1"}, time=due)
    assert w.balance(c.seller) == 10_000 and w.balance(c.carrier) == 500


@pytest.mark.parametrize("action", ["dispute", "request_return"])
def test_within_the_period_the_buyer_may_still_object(v2: Cast, action: str) -> None:
    w, c = v2.w, v2
    due = _delivered(c, "o1", 1) + 7 * DAY
    w.ok(c.buyer, "orders", action, {"order": "o1", "reason": "broken"}, time=due - 1)
    w.fail("invalid_state", c.stranger, "orders", "release", {"order": "o1"}, time=due + DAY)


def test_v1_ledgers_re_execute_the_old_race(cast: Cast) -> None:
    # Without the adoption the ledger runs v1: a late dispute is taken, as it was then.
    w, c = cast.w, cast
    c.fund(c.buyer, 100_000)
    due = _delivered(c, "o1", 1) + 7 * DAY
    assert "release_at" not in w.order("o1")
    w.ok(c.buyer, "orders", "dispute", {"order": "o1", "reason": "late"}, time=due + DAY)


def test_the_release_time_is_fixed_at_delivery(v2: Cast) -> None:
    w, c = v2.w, v2
    w.ok(w.admin, "orders", "configure", {"release_after_ms": 2 * DAY})
    delivered = _delivered(c, "o1", 1)
    due = delivered + 2 * DAY
    # An admin shortening the period afterwards takes nothing from this buyer ...
    w.ok(w.admin, "orders", "configure", {"release_after_ms": 0})
    err = w.fail("invalid_state", c.stranger, "orders", "release", {"order": "o1"},
                 time=delivered + 1)
    assert err["details"]["release_at"] == due
    w.ok(c.buyer, "orders", "dispute", {"order": "o1", "reason": "still mine to dispute"},
         time=delivered + 1)
    # ... nor does lengthening it keep the seller waiting.
    delivered = _delivered(c, "o2", 2)
    w.ok(w.admin, "orders", "configure", {"release_after_ms": 30 * DAY})
    w.ok(c.stranger, "orders", "release", {"order": "o2"}, time=delivered)  # period was 0
    # Orders delivered from now on take the new period.
    due3 = _delivered(c, "o3", 3) + 30 * DAY
    assert w.order("o3")["release_at"] == due3


def _ruling(oid: str, **kw: object) -> dict[str, object]:
    return {"order": oid, "refund": 10_000, "freight_paid": 0, "at_fault": "seller",
            "ownership": "seller", **kw}


def test_no_freight_for_a_transporter_that_never_carried(v2: Cast) -> None:
    w, c = v2.w, v2
    assert c.place("o1", w.batch(c.seller, 1))["ok"]
    w.ok(c.seller, "orders", "dispatch",
         {"order": "o1", "transporter": c.carrier, "transport_no": "T1"})
    w.ok(c.buyer, "orders", "dispute", {"order": "o1", "reason": "never collected"})
    err = w.fail("invalid_amount", c.arbiter, "orders", "resolve",
                 _ruling("o1", refund=10_000, freight_paid=500))
    assert err["details"]["arg"] == "freight_paid" and "picked" in err["message"]
    # The freight goes back to the buyer instead.
    paid = w.ok(c.arbiter, "orders", "resolve", _ruling("o1", refund=10_500))["paid"]
    assert paid == {"seller": 0, "financier": 0, "buyer": 10_500, "transporter": 0}
    assert w.balance(c.carrier) == 0
    # A transporter that picked the goods up may be paid, even if they never arrived.
    assert c.place("o2", w.batch(c.seller, 2))["ok"]
    w.ok(c.seller, "orders", "dispatch",
         {"order": "o2", "transporter": c.carrier, "transport_no": "T2"})
    w.ok(c.carrier, "orders", "pickup", {"order": "o2"})
    w.ok(c.buyer, "orders", "dispute", {"order": "o2", "reason": "lost"})
    w.ok(c.arbiter, "orders", "resolve", _ruling("o2", freight_paid=500, at_fault="transporter"))
    assert w.balance(c.carrier) == 500


def _in_transit(c: Cast, oid: str, n: int) -> None:
    assert c.place(oid, c.w.batch(c.seller, n))["ok"]
    c.w.ok(c.seller, "orders", "dispatch",
           {"order": oid, "transporter": c.carrier, "transport_no": f"T-{oid}"})
    c.w.ok(c.carrier, "orders", "pickup", {"order": oid})


def test_a_short_delivery_is_closed_without_claiming_more_arrived(v2: Cast) -> None:
    w, c = v2.w, v2
    _in_transit(c, "o1", 1)  # 10 units at 1_000, freight 500
    w.ok(c.carrier, "orders", "deliver", {"order": "o1", "quantity": 3})
    # "final" alone read as "all the rest arrived" in v1: the seller was paid for 10.
    err = w.fail("validation_error", c.carrier, "orders", "deliver",
                 {"order": "o1", "final": True})
    assert err["details"] == {"arg": "quantity"}
    # Nothing more arrived: quantity 0 closes the delivery at the 3 that did.
    r = w.ok(c.carrier, "orders", "deliver", {"order": "o1", "quantity": 0, "final": True})
    assert (r["state"], r["delivered"]) == ("delivered", 3)
    paid = w.ok(c.buyer, "orders", "confirm", {"order": "o1"})["paid"]
    assert paid == {"seller": 3_000, "financier": 0, "buyer": 7_000, "transporter": 500}


@pytest.mark.parametrize("args", [{"quantity": 0}, {"quantity": 0, "final": True}])
def test_quantity_zero_never_delivers_on_its_own(v2: Cast, args: dict[str, object]) -> None:
    w, c = v2.w, v2
    _in_transit(c, "o1", 1)
    # Nothing has arrived at all: that is a dispute, not a delivery to pay for.
    err = w.fail("validation_error", c.carrier, "orders", "deliver", {"order": "o1", **args})
    assert err["details"]["arg"] == "quantity"
    w.ok(c.carrier, "orders", "deliver", {"order": "o1", "quantity": 2})
    if not args.get("final"):  # a report of nothing, not final, means nothing either
        w.fail("validation_error", c.carrier, "orders", "deliver", {"order": "o1", **args})


def test_v1_keeps_reading_final_as_all_the_rest(cast: Cast) -> None:
    w, c = cast.w, cast
    c.fund(c.buyer, 100_000)
    _in_transit(c, "o1", 1)
    w.ok(c.carrier, "orders", "deliver", {"order": "o1", "quantity": 3})
    w.fail("validation_error", c.carrier, "orders", "deliver",
           {"order": "o1", "quantity": 0, "final": True})
    assert w.ok(c.carrier, "orders", "deliver", {"order": "o1", "final": True})[
        "delivered"] == 10

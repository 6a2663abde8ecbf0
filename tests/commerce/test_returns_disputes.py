"""Disputes (held escrow, arbiter's ruling, fault counted) and returns (refund on receipt)."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Cast


@pytest.fixture
def delivered(cast: Cast) -> str:
    cast.fund(cast.buyer, 20_000)
    b = cast.w.batch(cast.seller, 1)
    cast.to_delivered("o1", b)  # 10 x 1000 + 500 freight in escrow
    return b


def _ruling(**kw: Any) -> dict[str, Any]:
    return {"order": "o1", "refund": 0, "freight_paid": 0, "at_fault": "none",
            "ownership": "seller", **kw}


def test_dispute_holds_the_escrow_until_the_arbiter_rules(cast: Cast, delivered: str) -> None:
    w, c = cast.w, cast
    w.ok(c.buyer, "orders", "dispute", {"order": "o1", "reason": "damaged on arrival"})
    o = w.order("o1")
    assert o["state"] == "disputed" and o["prior"] == "delivered"
    assert o["dispute"]["role"] == "buyer"
    # Frozen: no payment path works while disputed, however long it lasts.
    for who, action in ((c.buyer, "confirm"), (c.seller, "release"),
                        (c.buyer, "request_return"), (c.seller, "cancel")):
        args = {"order": "o1", **({"reason": "r"} if action == "request_return" else {})}
        err = w.fail("invalid_state", who, "orders", action, args, time=w.time + 365 * 86_400_000)
        assert err["details"]["current"] == "disputed"
    assert w.escrow("o1") == 10_500
    w.fail("invalid_state", c.seller, "orders", "dispute", {"order": "o1", "reason": "again"})
    paid = w.ok(c.arbiter, "orders", "resolve",
                _ruling(refund=4_000, freight_paid=500, at_fault="seller", ownership="buyer",
                        note="4 of 10 damaged"))["paid"]
    assert paid == {"seller": 6_000, "financier": 0, "buyer": 4_000, "transporter": 500}
    assert (w.balance(c.seller), w.balance(c.buyer), w.balance(c.carrier)) == (
        6_000, 20_000 - 10_500 + 4_000, 500)
    assert w.escrow("o1") == 0 and w.holding(delivered)["owner"] == c.buyer
    assert w.order("o1")["ruling"]["at_fault"] == "seller"
    stats = {who: w.get(f"orders/st/{who}") for who in (c.buyer, c.seller, c.carrier)}
    assert [(s["disputes"], s["lost"]) for s in stats.values()] == [(1, 0), (1, 1), (1, 0)]
    err = w.fail("invalid_state", c.arbiter, "orders", "resolve", _ruling())
    assert err["details"]["current"] == "resolved"


def test_dispute_only_by_parties_and_only_while_money_is_held(cast: Cast) -> None:
    w, c = cast.w, cast
    c.fund(c.buyer, 20_000)
    b = w.batch(c.seller, 1)
    c.place("o1", b)
    err = w.fail("invalid_state", c.buyer, "orders", "dispute", {"order": "o1", "reason": "r"})
    assert err["details"]["current"] == "placed"  # before dispatch: cancel instead
    w.ok(c.seller, "orders", "dispatch",
         {"order": "o1", "transporter": c.carrier, "transport_no": "T1"})
    for stranger in (c.stranger, c.arbiter, c.financier, c.bank):
        w.fail("forbidden", stranger, "orders", "dispute", {"order": "o1", "reason": "mine"})
    w.ok(c.carrier, "orders", "dispute", {"order": "o1", "reason": "wrong address"})
    assert w.order("o1")["dispute"]["role"] == "transporter"


def test_ruling_amounts_are_checked(cast: Cast, delivered: str) -> None:
    w, c = cast.w, cast
    w.ok(c.seller, "orders", "dispute", {"order": "o1", "reason": "buyer refuses"})
    w.fail("invalid_amount", c.arbiter, "orders", "resolve", _ruling(refund=10_001,
                                                                    freight_paid=500))
    w.fail("invalid_amount", c.arbiter, "orders", "resolve", _ruling(freight_paid=501))
    w.fail("invalid_amount", c.arbiter, "orders", "resolve", _ruling(refund=-1))
    w.fail("invalid_amount", c.arbiter, "orders", "resolve", _ruling(refund=2**256))
    w.fail("role_denied", c.buyer, "orders", "resolve", _ruling())
    # The whole escrow to the seller: buyer at fault.
    w.ok(c.arbiter, "orders", "resolve", _ruling(at_fault="buyer"))
    assert w.balance(c.seller) == 10_500 and w.balance(c.carrier) == 0
    assert w.get(f"orders/st/{c.buyer}")["lost"] == 1
    assert w.holding(delivered)["owner"] == c.seller


def test_return_refunds_on_receipt_and_brings_custody_back(cast: Cast,
                                                           delivered: str) -> None:
    w, c = cast.w, cast
    w.fail("forbidden", c.seller, "orders", "request_return", {"order": "o1", "reason": "x"})
    w.ok(c.buyer, "orders", "request_return", {"order": "o1", "reason": "wrong size"})
    assert w.order("o1")["state"] == "return_requested"
    # The release period no longer runs: a return is pending.
    err = w.fail("invalid_state", c.seller, "orders", "release", {"order": "o1"},
                 time=w.time + 30 * 86_400_000)
    assert err["details"]["current"] == "return_requested"
    w.fail("forbidden", c.buyer, "orders", "receive_return", {"order": "o1"})
    w.fail("forbidden", c.carrier, "orders", "receive_return", {"order": "o1"})
    paid = w.ok(c.seller, "orders", "receive_return", {"order": "o1"})["paid"]
    assert paid == {"seller": 0, "financier": 0, "buyer": 10_000, "transporter": 500}
    assert (w.balance(c.buyer), w.balance(c.seller), w.balance(c.carrier)) == (
        19_500, 0, 500)
    h = w.holding(delivered)
    assert (h["owner"], h["custodian"]) == (c.seller, c.seller)
    assert w.get(f"orders/st/{c.seller}")["returns"] == 1
    assert w.get(f"orders/lk/{delivered}") is None
    err = w.fail("invalid_state", c.seller, "orders", "receive_return", {"order": "o1"})
    assert err["details"]["current"] == "returned"


def test_return_needs_a_delivery_and_can_be_disputed(cast: Cast) -> None:
    w, c = cast.w, cast
    c.fund(c.buyer, 20_000)
    b = w.batch(c.seller, 1)
    c.place("o1", b)
    err = w.fail("invalid_state", c.buyer, "orders", "request_return",
                 {"order": "o1", "reason": "changed my mind"})
    assert err["details"]["current"] == "placed"
    w.ok(c.seller, "orders", "dispatch",
         {"order": "o1", "transporter": c.carrier, "transport_no": "T1"})
    w.ok(c.carrier, "orders", "pickup", {"order": "o1"})
    w.ok(c.carrier, "orders", "deliver", {"order": "o1"})
    w.ok(c.buyer, "orders", "request_return", {"order": "o1", "reason": "faulty"})
    w.ok(c.seller, "orders", "dispute", {"order": "o1", "reason": "never came back"})
    assert w.order("o1")["prior"] == "return_requested"

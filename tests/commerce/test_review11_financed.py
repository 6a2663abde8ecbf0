"""Review 11, orders rules v2: a buyer's cancellation of a financed order no longer leaves
the financier unpaid while the seller keeps the advance. The buyer still cancels before
dispatch with a full refund; the rest of the repayment is debited from the seller's balance
as far as it goes, and only what that leaves unpaid closes the lien short. v1 ledgers keep
re-executing as they were decided."""

from __future__ import annotations

from typing import Any

import pytest

from supplyledger.contracts.builtin.payments import read_supply

from .conftest import DAY, Cast, World
from .test_review11_orders import adopt


def _financed(c: Cast, oid: str = "o1", *, amount: int = 8_000, repay: int = 8_200,
              n: int = 1) -> None:
    """o1: 10 x 1000 + 500 freight in escrow; the seller was advanced ``amount``."""
    w = c.w
    assert c.place(oid, w.batch(c.seller, n))["ok"]
    w.ok(c.seller, "credit", "request_financing",
         {"order": oid, "financier": c.financier, "amount": amount, "repay": repay})
    w.ok(c.financier, "credit", "decide", {"order": oid, "approve": True})


@pytest.fixture
def v2(cast: Cast) -> Cast:
    adopt(cast.w, "orders", "payments", "fx")
    cast.fund(cast.buyer, 100_000)
    cast.fund(cast.financier, 50_000)
    return cast


def _events(w: World, etype: str) -> list[dict[str, Any]]:
    return [e for t, e in w.events if t == etype]


def test_the_buyers_cancellation_repays_the_financier_from_the_seller(v2: Cast) -> None:
    w, c = v2.w, v2
    _financed(c, amount=8_000, repay=8_000)
    assert w.balance(c.seller) == 8_000  # the advance
    res = w.ok(c.buyer, "orders", "cancel", {"order": "o1", "reason": "ordered twice"})
    # The buyer's right stands: cancelled before dispatch, refunded in full.
    assert res["state"] == "cancelled" and res["paid"]["buyer"] == 10_500
    assert w.balance(c.buyer) == 100_000
    # v1 left the seller the advance and the financier 8_000 out of pocket.
    assert res["financing"] == {"state": "repaid", "repaid": 8_000, "recovered": 8_000}
    assert (w.balance(c.seller), w.balance(c.financier)) == (0, 50_000)
    assert w.get("credit/f/o1")["state"] == "repaid"


def test_a_seller_with_the_means_repays_in_full(v2: Cast) -> None:
    w, c = v2.w, v2
    _financed(c)
    c.fund(c.seller, 1_000)  # the seller holds 9_000: enough for the 8_200 owed
    res = w.ok(c.buyer, "orders", "cancel", {"order": "o1"})
    assert res["financing"] == {"state": "repaid", "repaid": 8_200, "recovered": 8_200}
    assert (w.balance(c.seller), w.balance(c.financier)) == (800, 50_200)
    assert w.balance(c.buyer) == 100_000
    moves = [(e["src"], e["dst"], e["amount"], e["why"]) for e in _events(w, "orders.money")]
    assert (c.seller, c.financier, 8_200, "financing recovery") in moves
    assert _events(w, "orders.lien_settled")[-1] == {
        "order": "o1", "state": "repaid", "repaid": 8_200, "recovered": 8_200}
    row = w.tables["financing"][("o1",)]
    assert (row["state"], row["repaid"], row["recovered"]) == ("repaid", 8_200, 8_200)
    assert w.tables["balances"][(c.seller, "EUR")]["balance"] == 800
    # Made whole: no payment delay against the seller.
    st = w.get(f"orders/st/{c.seller}")
    assert (st["fin"], st.get("fin_short", 0)) == (1, 0)
    assert read_supply(w.read, "EUR") == w.money_in_ledger("EUR") == 150_000 + 1_000


def test_what_the_seller_no_longer_holds_stays_short(v2: Cast) -> None:
    w, c = v2.w, v2
    _financed(c)
    # The seller spends most of the advance before the buyer cancels.
    w.ok(c.seller, "payments", "transfer", {"to": c.stranger, "currency": "EUR",
                                            "amount": 5_000})
    res = w.ok(c.buyer, "orders", "cancel", {"order": "o1"})
    assert res["state"] == "cancelled" and w.balance(c.buyer) == 100_000
    assert res["financing"] == {"state": "short", "repaid": 3_000, "recovered": 3_000}
    assert (w.balance(c.seller), w.balance(c.financier)) == (0, 45_000)
    row = w.tables["financing"][("o1",)]
    assert (row["state"], row["repaid"], row["recovered"]) == ("short", 3_000, 3_000)
    st = w.get(f"orders/st/{c.seller}")
    assert (st["fin"], st["fin_short"]) == (1, 1)


def test_the_buyer_cancels_even_when_the_seller_holds_nothing(v2: Cast) -> None:
    w, c = v2.w, v2
    _financed(c)
    w.ok(c.seller, "payments", "transfer", {"to": c.stranger, "currency": "EUR",
                                            "amount": 8_000})
    res = w.ok(c.buyer, "orders", "cancel", {"order": "o1"})
    assert res["financing"] == {"state": "short", "repaid": 0, "recovered": 0}
    assert w.balance(c.buyer) == 100_000
    assert not [e for e in _events(w, "orders.money") if e["why"] == "financing recovery"]


def test_the_seller_still_may_not_cancel_a_financed_order(v2: Cast) -> None:
    w, c = v2.w, v2
    _financed(c)
    err = w.fail("forbidden", c.seller, "orders", "cancel", {"order": "o1"})
    assert err["details"] == {"financier": c.financier}


def test_a_return_of_a_financed_order_also_repays_from_the_seller(v2: Cast) -> None:
    w, c = v2.w, v2
    _financed(c)
    w.ok(c.seller, "orders", "dispatch",
         {"order": "o1", "transporter": c.carrier, "transport_no": "TN-o1"})
    w.ok(c.carrier, "orders", "pickup", {"order": "o1"})
    w.ok(c.carrier, "orders", "deliver", {"order": "o1"})
    c.fund(c.seller, 200)
    w.ok(c.buyer, "orders", "request_return", {"order": "o1", "reason": "wrong size"},
         time=w.time + DAY)
    w.ok(c.seller, "orders", "receive_return", {"order": "o1"}, time=w.time + 2 * DAY)
    lien = w.get("credit/f/o1")
    assert (lien["state"], lien["repaid"], lien["recovered"]) == ("repaid", 8_200, 8_200)
    assert (w.balance(c.seller), w.balance(c.financier)) == (0, 50_200)
    assert w.balance(c.carrier) == 500 and w.balance(c.buyer) == 100_000 - 500


def test_v1_ledgers_leave_the_financier_short_as_they_did(cast: Cast) -> None:
    w, c = cast.w, cast
    assert w.get("rules/v/orders") is None  # runs v1
    c.fund(c.buyer, 100_000)
    c.fund(c.financier, 50_000)
    _financed(c)
    c.fund(c.seller, 1_000)
    res = w.ok(c.buyer, "orders", "cancel", {"order": "o1"})
    assert "financing" not in res
    assert (w.balance(c.seller), w.balance(c.financier)) == (9_000, 42_000)
    lien = w.get("credit/f/o1")
    assert (lien["state"], lien["repaid"]) == ("short", 0) and "recovered" not in lien
    assert _events(w, "orders.lien_settled")[-1] == {"order": "o1", "state": "short",
                                                      "repaid": 0}
    assert not [e for e in _events(w, "orders.money") if e["why"] == "financing recovery"]

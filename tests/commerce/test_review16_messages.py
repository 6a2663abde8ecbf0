"""Review 16, refusals a user can act on: under orders rules v3 and credit rules v2 (both new
in this release) a refusal names the order it is about, and the amounts or who may act; an
older ledger keeps the exact words its receipts store. And an order whose buyer and seller
were both revoked before dispatch, which nobody could cancel, a consortium admin cancels
under orders v3 (not while either party is active, naming it)."""

from __future__ import annotations

from typing import Any

from .conftest import Cast, World

TOTAL = 10 * 1000 + 500  # the Cast's usual order: 10 x 1000 + freight 500


def _adopt(w: World, **versions: int) -> None:
    for contract, version in versions.items():
        if version > 1:
            w.ok(w.admin, "rules", "adopt", {"contract": contract, "version": version})


def _disputed(cast: Cast, orders: int) -> None:
    """o-1 delivered, then disputed by its buyer."""
    _adopt(cast.w, orders=orders)
    cast.fund(cast.buyer, 50_000)
    cast.to_delivered("o-1", cast.w.batch(cast.seller, 1))
    cast.w.ok(cast.buyer, "orders", "dispute", {"order": "o-1", "reason": "damaged"})


def _ruling(**amounts: int) -> dict[str, Any]:
    return {"order": "o-1", "at_fault": "seller", "ownership": "seller", **amounts}


# -- orders.resolve ------------------------------------------------------------------------

def test_v3_ruling_freight_names_the_order_and_amounts(cast: Cast) -> None:
    _disputed(cast, 3)
    err = cast.w.fail("invalid_amount", cast.arbiter, "orders", "resolve",
                      _ruling(refund=0, freight_paid=600))
    assert err["message"] == "order o-1: freight_paid 600 exceeds its freight 500"
    assert err["details"] == {"arg": "freight_paid", "freight": 500}
    err = cast.w.fail("invalid_amount", cast.arbiter, "orders", "resolve",
                      _ruling(refund=10_400, freight_paid=200))
    assert err["message"] == ("order o-1: refund 10400 and freight_paid 200 share out 10600, "
                              f"more than the {TOTAL} in its escrow")


def test_v2_ruling_keeps_the_old_words(cast: Cast) -> None:
    _disputed(cast, 2)
    err = cast.w.fail("invalid_amount", cast.arbiter, "orders", "resolve",
                      _ruling(refund=0, freight_paid=600))
    assert err["message"] == "freight_paid exceeds the order's freight 500"
    assert "details" not in err
    err = cast.w.fail("invalid_amount", cast.arbiter, "orders", "resolve",
                      _ruling(refund=10_400, freight_paid=200))
    assert err["message"] == f"refund and freight share out more than the {TOTAL} in escrow"


# -- orders.place --------------------------------------------------------------------------

def test_v3_insufficient_funds_names_order_amount_and_balance(cast: Cast) -> None:
    w = cast.w
    _adopt(w, orders=3)
    cast.fund(cast.buyer, 4_000)
    batch = w.batch(cast.seller, 1)
    r = cast.place("o-1", batch)
    assert not r["ok"] and r["error"]["code"] == "insufficient_funds"
    assert r["error"]["message"] == (f"order o-1 needs {TOTAL} EUR in escrow (price x "
                                     f"quantity + freight); the buyer {cast.buyer} holds "
                                     "4000 EUR")
    assert r["error"]["details"] == {"needed": TOTAL, "available": 4_000, "currency": "EUR"}
    assert w.get("orders/o/o-1") is None and w.balance(cast.buyer) == 4_000
    assert w.get(f"orders/lk/{batch}") is None  # the batch stays free


def test_v2_insufficient_funds_keeps_the_old_words(cast: Cast) -> None:
    _adopt(cast.w, orders=2)
    cast.fund(cast.buyer, 4_000)
    r = cast.place("o-1", cast.w.batch(cast.seller, 1))
    assert r["error"]["message"] == f"{cast.buyer} holds 4000 EUR, needs {TOTAL}"


def test_v3_place_refusals_name_the_order(cast: Cast) -> None:
    w = cast.w
    _adopt(w, orders=3)
    cast.fund(cast.buyer, 50_000)
    batch = w.batch(cast.seller, 1)
    assert cast.place("o-1", batch)["ok"]
    r = cast.place("o-2", batch)
    assert r["error"]["message"] == (f"order o-2: batch {batch} is not available: "
                                     "reserved by order o-1")
    args = {"id": "o-3", "seller": cast.buyer, "batch": batch, "quantity": 1,
            "unit_price": 1, "freight": 0, "currency": "EUR", "earliest": w.time,
            "latest": w.time + 1}
    err = w.fail("forbidden", cast.buyer, "orders", "place", args)
    assert err["message"] == (f"order o-3: {cast.buyer} would be its buyer and its seller: "
                              "a participant cannot buy from itself")
    maker = w.participant("manufacturer")
    other = w.batch(maker, 2)  # another maker's, offered as the seller's
    r = cast.place("o-4", other)
    assert r["error"]["message"] == (f"order o-4: the seller is fake: batch {other} is "
                                     f"owned by {maker}, not {cast.seller}")


def test_v2_place_refusals_keep_the_old_words(cast: Cast) -> None:
    w = cast.w
    _adopt(w, orders=2)
    cast.fund(cast.buyer, 50_000)
    batch = w.batch(cast.seller, 1)
    assert cast.place("o-1", batch)["ok"]
    r = cast.place("o-2", batch)
    assert r["error"]["message"] == f"batch {batch} is not available: reserved by order o-1"


# -- credit --------------------------------------------------------------------------------

def _placed(cast: Cast, credit: int) -> None:
    _adopt(cast.w, orders=3, credit=credit)
    cast.fund(cast.buyer, 50_000)
    cast.fund(cast.financier, 20_000)
    assert cast.place("o-1", cast.w.batch(cast.seller, 1))["ok"]


def _finance(cast: Cast, amount: int, repay: int) -> dict[str, Any]:
    return cast.w.call(cast.seller, "credit", "request_financing",
                       {"order": "o-1", "financier": cast.financier, "amount": amount,
                        "repay": repay})


def test_credit_v2_financing_refusals_name_the_order(cast: Cast) -> None:
    w = cast.w
    _placed(cast, 2)
    err = _finance(cast, 8_000, 7_000)["error"]
    assert err["code"] == "invalid_amount"
    assert err["message"] == ("order o-1: repay 7000 must be at least the amount advanced, "
                              "8000")
    err = _finance(cast, 8_000, 10_001)["error"]
    assert err["message"] == ("order o-1: repay 10001 exceeds the 10000 its escrow can pay "
                              "the seller")
    assert _finance(cast, 8_000, 8_200)["ok"]
    err = w.fail("forbidden", cast.arbiter, "credit", "withdraw_request", {"order": "o-1"})
    assert err["message"] == (f"only the seller {cast.seller} of order o-1 may withdraw its "
                              "financing request")
    rival = w.participant("financier")
    err = w.fail("forbidden", rival, "credit", "decide", {"order": "o-1", "approve": True})
    assert err["message"] == (f"the financing request of order o-1 is addressed to "
                              f"{cast.financier}: only it may decide it")


def test_credit_v1_financing_refusals_keep_the_old_words(cast: Cast) -> None:
    w = cast.w
    _placed(cast, 1)
    err = _finance(cast, 8_000, 7_000)["error"]
    assert err["message"] == "repay must be at least the amount advanced"
    err = _finance(cast, 8_000, 10_001)["error"]
    assert err["message"] == "repay exceeds the 10000 the escrow can pay the seller"
    assert _finance(cast, 8_000, 8_200)["ok"]
    err = w.fail("forbidden", cast.arbiter, "credit", "withdraw_request", {"order": "o-1"})
    assert err["message"] == f"only the seller {cast.seller} may withdraw the request"
    err = w.fail("forbidden", w.participant("financier"), "credit", "decide",
                 {"order": "o-1", "approve": True})
    assert err["message"] == f"the request is addressed to {cast.financier}"


# -- an admin cancels an order both of whose parties were revoked --------------------------

def _both_revoked(cast: Cast, orders: int, *, financed: bool = False,
                  revoke_seller: bool = True) -> str:
    """o-1 placed (financed if asked), then its buyer revokes itself and an admin revokes
    its seller (unless told not to). Returns the batch."""
    w = cast.w
    _adopt(w, orders=orders)
    cast.fund(cast.buyer, 50_000)
    cast.fund(cast.financier, 20_000)
    batch = w.batch(cast.seller, 1)
    assert cast.place("o-1", batch)["ok"]
    if financed:
        assert _finance(cast, 8_000, 8_200)["ok"]
        w.ok(cast.financier, "credit", "decide", {"order": "o-1", "approve": True})
    w.ok(cast.buyer, "identity", "revoke", {"did": cast.buyer, "reason": "left the firm"})
    if revoke_seller:
        w.ok(w.admin, "identity", "revoke", {"did": cast.seller, "reason": "closed down"})
    return batch


def test_v3_admin_cancels_once_buyer_and_seller_are_both_revoked(cast: Cast) -> None:
    w = cast.w
    batch = _both_revoked(cast, 3)
    res = w.ok(w.admin, "orders", "cancel", {"order": "o-1", "reason": "both parties gone"})
    assert res == {"order": "o-1", "state": "cancelled",
                   "paid": {"seller": 0, "financier": 0, "buyer": TOTAL, "transporter": 0}}
    assert w.balance(cast.buyer) == 50_000 and w.escrow("o-1") == 0
    assert w.get(f"orders/lk/{batch}") is None  # the batch is free again
    assert w.tables["orders"][("o-1",)]["state"] == "cancelled"


def test_v3_admin_cancel_settles_a_lien_as_the_buyer_would(cast: Cast) -> None:
    w = cast.w
    _both_revoked(cast, 3, financed=True)
    res = w.ok(w.admin, "orders", "cancel", {"order": "o-1"})
    # the seller gave back the advance it held; the financier lost its fee
    assert res["financing"] == {"state": "short", "repaid": 8_000, "recovered": 8_000}
    assert (w.balance(cast.buyer), w.balance(cast.seller), w.balance(cast.financier)) == (
        50_000, 0, 20_000)


def test_v3_admin_refused_while_a_party_is_active_naming_it(cast: Cast) -> None:
    w = cast.w
    _both_revoked(cast, 3, revoke_seller=False)
    err = w.fail("forbidden", w.admin, "orders", "cancel", {"order": "o-1"})
    assert err["message"] == (f"order o-1's seller {cast.seller} is still active: a "
                              "consortium admin cancels an order only once neither its "
                              "buyer nor its seller is; ask them to")
    assert err["details"] == {"active": ["seller"]}
    # a participant without the admin role is no party either
    w.fail("forbidden", cast.stranger, "orders", "cancel", {"order": "o-1"})
    # and the seller, still active, cancels itself as ever
    assert w.ok(cast.seller, "orders", "cancel", {"order": "o-1"})["state"] == "cancelled"


def test_v3_admin_refused_naming_both_when_both_are_active(cast: Cast) -> None:
    w = cast.w
    _adopt(w, orders=3)
    cast.fund(cast.buyer, 50_000)
    assert cast.place("o-1", w.batch(cast.seller, 1))["ok"]
    err = w.fail("forbidden", w.admin, "orders", "cancel", {"order": "o-1"})
    assert err["message"].startswith(f"order o-1's buyer {cast.buyer} and its seller "
                                     f"{cast.seller} are still active")
    assert err["details"] == {"active": ["buyer", "seller"]}


def test_v2_admin_may_not_cancel_even_with_both_parties_revoked(cast: Cast) -> None:
    w = cast.w
    _both_revoked(cast, 2)
    err = w.fail("forbidden", w.admin, "orders", "cancel", {"order": "o-1"})
    assert err["message"] == "only the buyer or seller of order o-1 may do this"
    assert w.escrow("o-1") == TOTAL

"""Review 10 (adversarial, money and goods): who may rule on or freeze an order's escrow and
goods. The first and last failed on the code before their fix; the second bounds the fix."""

from __future__ import annotations

from .conftest import Cast
from .test_customs import Cx, customs_world, line
from .test_review_edges import _org


def _disputed_financed(cast: Cast, financier: str) -> None:
    """Order o1 (10 x 1000 + 500 freight), financed by ``financier`` (advance 6000, repay
    7000), dispatched and disputed by the buyer."""
    w, c = cast.w, cast
    c.fund(c.buyer, 10_500)
    c.fund(financier, 6_000)
    assert c.place("o1", w.batch(c.seller, 1))["ok"]
    w.ok(c.seller, "credit", "request_financing",
         {"order": "o1", "financier": financier, "amount": 6_000, "repay": 7_000})
    w.ok(financier, "credit", "decide", {"order": "o1", "approve": True})
    w.ok(c.seller, "orders", "dispatch",
         {"order": "o1", "transporter": c.carrier, "transport_no": "TN-1"})
    w.ok(c.buyer, "orders", "dispute", {"order": "o1", "reason": "damaged"})


def test_the_financier_of_an_order_cannot_rule_its_dispute(cast: Cast) -> None:
    """The financier is repaid from the seller's share of the escrow, so a ruling decides
    its repayment: like the parties, it (and its organisation) must not be the arbiter."""
    w, c = cast.w, cast
    bank = _org(w, "lender-judge", "financier", "arbiter")
    lender = bank.member("financier", "arbiter")
    colleague = bank.member("arbiter")
    _disputed_financed(cast, lender)
    ruling = {"order": "o1", "refund": 0, "freight_paid": 500, "at_fault": "buyer",
              "ownership": "buyer"}
    for judge in (lender, colleague):
        err = w.fail("forbidden", judge, "orders", "resolve", ruling)
        assert "financ" in err["message"]
    # A neutral arbiter rules; the lien is repaid from the seller's share.
    w.ok(c.arbiter, "orders", "resolve", {**ruling, "refund": 10_000, "at_fault": "seller",
                                          "ownership": "seller"})
    assert w.get("credit/f/o1")["state"] == "short"
    assert (w.balance(c.buyer), w.balance(lender), w.escrow("o1")) == (10_000, 0, 0)


def test_a_declined_financier_may_still_arbitrate(cast: Cast) -> None:
    """Only a financier with money on the order is excluded, not one who declined."""
    w, c = cast.w, cast
    bank = _org(w, "lender-judge", "financier", "arbiter")
    lender = bank.member("financier", "arbiter")
    c.fund(c.buyer, 10_500)
    assert c.place("o1", w.batch(c.seller, 1))["ok"]
    w.ok(c.seller, "credit", "request_financing",
         {"order": "o1", "financier": lender, "amount": 6_000, "repay": 7_000})
    w.ok(lender, "credit", "decide", {"order": "o1", "approve": False})
    w.ok(c.seller, "orders", "dispatch",
         {"order": "o1", "transporter": c.carrier, "transport_no": "TN-1"})
    w.ok(c.buyer, "orders", "dispute", {"order": "o1", "reason": "damaged"})
    w.ok(lender, "orders", "resolve", {"order": "o1", "refund": 10_000, "freight_paid": 500,
                                       "at_fault": "seller", "ownership": "seller"})
    assert w.balance(c.buyer) == 10_000


def test_a_settled_order_cannot_be_declared_to_freeze_the_buyers_goods(cast: Cast) -> None:
    """Once delivered, an order's goods are the buyer's: its transporter (or seller) may
    not put them under customs control by declaring the order afterwards (declaring an
    order waives the ownership check for its lot)."""
    cx: Cx = customs_world(cast)
    w, c = cx.w, cx.c
    c.fund(c.buyer, 10_500)
    b = w.batch(c.seller, 1)
    c.to_delivered("o1", b)
    for signer in (c.carrier, c.seller):
        r = cx.declare("late", [line("611020", 10_000)], signer=signer, order="o1")
        assert r["error"]["code"] == "invalid_state", r
    w.ok(c.buyer, "orders", "confirm", {"order": "o1"})
    r = cx.declare("late", [line("611020", 10_000)], signer=c.carrier, order="o1")
    assert r["error"]["code"] == "invalid_state", r
    assert w.get(f"customs/b/{b}") is None and w.get("customs/o/o1") is None

"""Edges found by an adversarial review of the commerce contracts: parties acting on their
own behalf where a neutral or distinct party is meant to (an arbiter ruling its own
dispute, a seller financing or carrying its own sale, one organisation trading with
itself or rating itself) and a seller voiding the collateral of an advance it took."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from supplyledger.contracts.builtin.ratings import satisfaction

from .conftest import _KEYS, Cast, World


@dataclass
class Org:
    """An organisation that may hold several roles, for members acting on its behalf."""

    w: World
    id: str

    def member(self, *roles: str) -> str:
        key = _KEYS[self.w.n_keys]
        self.w.n_keys += 1
        self.w.ok(self.w.admin, "identity", "register_member",
                  {"org": self.id, "public_key": key.public.b64, "name": f"m{self.w.n_keys}",
                   "roles": list(roles)})
        return key.did


def _org(w: World, name: str, *roles: str) -> Org:
    w.ok(w.admin, "identity", "register_org", {"id": name, "name": name, "roles": list(roles)})
    return Org(w, name)


def _ruling(order: str = "o1") -> dict[str, object]:
    return {"order": order, "refund": 10_500, "freight_paid": 0, "at_fault": "seller",
            "ownership": "seller"}


# -- disputes --------------------------------------------------------------------------------

def test_an_arbiter_cannot_rule_a_dispute_it_or_its_organisation_is_party_to(cast: Cast) -> None:
    w, c = cast.w, cast
    house = _org(w, "judge-and-party", "customer", "arbiter", "manufacturer")
    buyer = house.member("customer", "arbiter")
    colleague = house.member("arbiter")
    c.fund(buyer, 20_000)
    b = w.batch(c.seller, 1)
    assert w.call(buyer, "orders", "place", {
        "id": "o1", "seller": c.seller, "batch": b, "quantity": 10, "unit_price": 1000,
        "freight": 500, "currency": "EUR", "earliest": w.time, "latest": w.time + 86_400_000,
    })["ok"]
    w.ok(c.seller, "orders", "dispatch",
         {"order": "o1", "transporter": c.carrier, "transport_no": "TN-o1"})
    w.ok(buyer, "orders", "dispute", {"order": "o1", "reason": "late"})
    for judge in (buyer, colleague):
        err = w.fail("forbidden", judge, "orders", "resolve", _ruling())
        assert "party" in err["message"] and "judge-and-party" in err["message"]
    w.ok(c.arbiter, "orders", "resolve", _ruling())
    assert w.balance(buyer) == 20_000 and w.escrow("o1") == 0


# -- financing -------------------------------------------------------------------------------

def test_a_seller_cannot_finance_its_own_sale(cast: Cast) -> None:
    w, c = cast.w, cast
    house = _org(w, "seller-bank", "manufacturer", "financier")
    seller = house.member("manufacturer", "financier")
    lender = house.member("financier")
    c.fund(c.buyer, 20_000)
    b = w.batch(seller, 1)
    assert w.call(c.buyer, "orders", "place", {
        "id": "o1", "seller": seller, "batch": b, "quantity": 10, "unit_price": 1000,
        "freight": 500, "currency": "EUR", "earliest": w.time, "latest": w.time + 86_400_000,
    })["ok"]
    for financier in (seller, lender):
        err = w.fail("forbidden", seller, "credit", "request_financing",
                     {"order": "o1", "financier": financier, "amount": 1_000, "repay": 1_000})
        assert "seller-bank" in err["message"]
    assert w.get("credit/f/o1") is None
    w.ok(seller, "credit", "request_financing",
         {"order": "o1", "financier": c.financier, "amount": 1_000, "repay": 1_000})


def test_a_seller_cannot_cancel_a_sale_it_took_an_advance_on(cast: Cast) -> None:
    """The escrow is the financier's collateral: the seller who was advanced money on it
    may not void it by cancelling (the buyer still may, before dispatch)."""
    w, c = cast.w, cast
    c.fund(c.buyer, 30_000)
    c.fund(c.financier, 9_000)
    b = w.batch(c.seller, 1)
    c.place("o1", b)
    w.ok(c.seller, "credit", "request_financing",
         {"order": "o1", "financier": c.financier, "amount": 9_000, "repay": 9_500})
    w.ok(c.financier, "credit", "decide", {"order": "o1", "approve": True})
    err = w.fail("forbidden", c.seller, "orders", "cancel", {"order": "o1"})
    assert c.financier in err["message"] and "buyer" in err["message"]
    # The sale goes on, and the financier is repaid first.
    w.ok(c.seller, "orders", "dispatch",
           {"order": "o1", "transporter": c.carrier, "transport_no": "TN-o1"})
    w.ok(c.carrier, "orders", "pickup", {"order": "o1"})
    w.ok(c.carrier, "orders", "deliver", {"order": "o1"})
    w.ok(c.buyer, "orders", "confirm", {"order": "o1"})
    assert (w.balance(c.financier), w.balance(c.seller)) == (9_500, 9_000 + 500)
    # A request not (yet) approved advanced nothing: the seller may still cancel.
    b2 = w.batch(c.seller, 2)
    assert c.place("o2", b2)["ok"]
    w.ok(c.seller, "credit", "request_financing",
         {"order": "o2", "financier": c.financier, "amount": 1, "repay": 1})
    w.ok(c.seller, "orders", "cancel", {"order": "o2"})


def _order_and_two_financiers(c: Cast) -> tuple[str, dict[str, Any]]:
    """Order o1 placed and funded, a second funded financier, and a request to the first."""
    c.fund(c.buyer, 20_000)
    other = c.w.participant("financier")
    c.fund(other, 2_000)
    c.place("o1", c.w.batch(c.seller, 1))
    return other, {"order": "o1", "financier": c.financier, "amount": 2_000, "repay": 2_100}


def test_a_declined_request_does_not_block_asking_another_financier(cast: Cast) -> None:
    w, c = cast.w, cast
    other, req = _order_and_two_financiers(cast)
    w.ok(c.seller, "credit", "request_financing", req)
    # Pending: the financier asked first answers first.
    assert w.fail("already_exists", c.seller, "credit", "request_financing",
                  {**req, "financier": other})["message"].endswith("(requested)")
    w.ok(c.financier, "credit", "decide", {"order": "o1", "approve": False})
    w.ok(c.seller, "credit", "request_financing", {**req, "financier": other})
    w.fail("forbidden", c.financier, "credit", "decide", {"order": "o1", "approve": True})
    w.ok(other, "credit", "decide", {"order": "o1", "approve": True})
    assert w.balance(c.seller) == 2_000
    assert w.tables["financing"][("o1",)]["financier"] == other
    assert w.fail("already_exists", c.seller, "credit", "request_financing",
                  req)["message"].endswith("(approved)")


# -- self-dealing ----------------------------------------------------------------------------

def test_members_of_one_organisation_cannot_trade_with_each_other(cast: Cast) -> None:
    """An order inside one organisation proves nothing to a financier or a rater, yet would
    count as a sale, a purchase and an on-time delivery for its credit."""
    w, c = cast.w, cast
    house = _org(w, "one-house", "customer", "manufacturer")
    buyer, seller = house.member("customer"), house.member("manufacturer")
    c.fund(buyer, 20_000)
    b = w.batch(seller, 1)
    err = w.fail("forbidden", buyer, "orders", "place", {
        "id": "o1", "seller": seller, "batch": b, "quantity": 1, "unit_price": 1,
        "freight": 0, "currency": "EUR", "earliest": w.time, "latest": w.time})
    assert "one-house" in err["message"]


def test_a_seller_cannot_carry_its_own_goods_as_the_transporter(cast: Cast) -> None:
    """The transporter attests delivery, which starts the clock to an automatic payout:
    the seller cannot attest its own."""
    w, c = cast.w, cast
    seller = w.participant("manufacturer", "transporter")
    c.fund(c.buyer, 20_000)
    b = w.batch(seller, 1)
    assert w.call(c.buyer, "orders", "place", {
        "id": "o1", "seller": seller, "batch": b, "quantity": 1, "unit_price": 1,
        "freight": 0, "currency": "EUR", "earliest": w.time, "latest": w.time})["ok"]
    err = w.fail("forbidden", seller, "orders", "dispatch",
                 {"order": "o1", "transporter": seller, "transport_no": "TN-1"})
    assert "transporter" in err["message"]
    w.ok(seller, "orders", "dispatch",
         {"order": "o1", "transporter": c.carrier, "transport_no": "TN-1"})


def test_a_buyer_does_not_rate_its_own_organisation(cast: Cast) -> None:
    """A platform buying through itself does not add to its own satisfaction."""
    w, c = cast.w, cast
    shop = w.participant("platform", "customer")
    c.fund(shop, 20_000)
    b = w.batch(c.seller, 1)
    assert w.call(shop, "orders", "place", {
        "id": "o1", "seller": c.seller, "batch": b, "quantity": 1, "unit_price": 1,
        "freight": 0, "currency": "EUR", "earliest": w.time, "latest": w.time,
        "platform": shop})["ok"]
    w.ok(c.seller, "orders", "dispatch",
         {"order": "o1", "transporter": c.carrier, "transport_no": "TN-1"})
    w.ok(c.carrier, "orders", "pickup", {"order": "o1"})
    w.ok(c.carrier, "orders", "deliver", {"order": "o1"})
    w.ok(shop, "ratings", "rate", {"order": "o1", "score": 5})
    assert satisfaction(w.read, "platform", shop)["ratings"] == 0
    assert satisfaction(w.read, "seller", c.seller)["ratings"] == 1
    assert ("platform", shop) not in w.tables["satisfaction"]


def test_a_seller_may_withdraw_an_unanswered_request_and_ask_another(cast: Cast) -> None:
    """A financier that never answers must not block the order's financing for ever."""
    w, c = cast.w, cast
    other, req = _order_and_two_financiers(cast)
    w.fail("not_found", c.seller, "credit", "withdraw_request", {"order": "o1"})
    w.ok(c.seller, "credit", "request_financing", req)
    # Only the seller who asked may withdraw, not the financier nor the buyer.
    for who in (c.financier, c.buyer):
        w.fail("forbidden", who, "credit", "withdraw_request", {"order": "o1"})
    res = w.ok(c.seller, "credit", "withdraw_request", {"order": "o1", "reason": "no answer"})
    assert res == {"order": "o1", "state": "withdrawn"}
    assert w.get("credit/f/o1")["state"] == "withdrawn"
    assert w.tables["financing"][("o1",)]["state"] == "withdrawn"
    # The silent financier can no longer approve it; twice withdrawn names the state.
    err = w.fail("invalid_state", c.financier, "credit", "decide",
                 {"order": "o1", "approve": True})
    assert err["details"]["current"] == "withdrawn"
    err = w.fail("invalid_state", c.seller, "credit", "withdraw_request", {"order": "o1"})
    assert err["details"]["current"] == "withdrawn" and "withdrawn" in err["message"]
    # The way is open to another financier; once approved it cannot be withdrawn.
    w.ok(c.seller, "credit", "request_financing", {**req, "financier": other})
    assert w.tables["financing"][("o1",)]["state"] == "requested"
    w.ok(other, "credit", "decide", {"order": "o1", "approve": True})
    err = w.fail("invalid_state", c.seller, "credit", "withdraw_request", {"order": "o1"})
    assert err["details"]["current"] == "approved"
    assert w.get("credit/f/o1")["state"] == "approved" and w.balance(c.seller) == 2_000

"""customs: goods under an open declaration stay under customs control whatever happens to
their order (custody follows the batch hold), a declaration naming an order declares its
transaction value, and only appointed publishers publish exchange rates."""

from __future__ import annotations

from typing import Any

import pytest

from supplyledger.ledger.crypto import generate

from .conftest import DAY, T0, Cast
from .test_customs import USD_EUR, Cx, customs_world, line, tariff


@pytest.fixture
def cx(cast: Cast) -> Cx:
    return customs_world(cast)


def _custody(cx: Cx, frm: str, batch: str, to: str, kind: str = "custody") -> dict[str, Any]:
    return cx.w.call(frm, "custody", "propose", {"batch": batch, "to": to, "kind": kind})


# -- 1. the hold follows the goods --------------------------------------------------------------

def test_a_ruling_for_the_buyer_does_not_release_goods_from_customs(cx: Cx) -> None:
    """The arbiter gives the buyer title and ends the reservation; the goods still reach
    the buyer only once the declaration naming the order is cleared."""
    w, c = cx.w, cx.c
    b = cx.dispatched(10_500)
    w.ok(c.carrier, "orders", "pickup", {"order": "o1"})
    due = cx.declare("d1", [line("611020", 10_000)], order="o1")["result"]["due"]
    assert w.get(f"customs/b/{b}") == [{"declaration": "d1", "order": "o1",
                                        "buyer": c.buyer, "buyer_org": w.get(
                                            f"identity/p/{c.buyer}")["org"]}]
    w.ok(c.buyer, "orders", "dispute", {"order": "o1", "reason": "late"})
    w.ok(c.arbiter, "orders", "resolve", {"order": "o1", "refund": 0, "freight_paid": 500,
                                          "at_fault": "none", "ownership": "buyer"})
    assert w.holding(b)["owner"] == c.buyer and w.get(f"orders/lk/{b}") is None
    err = w.fail("invalid_state", c.carrier, "custody", "propose",
                 {"batch": b, "to": c.buyer, "kind": "custody"})
    assert err["details"] == {"current": "assessed", "declaration": "d1", "batch": b}
    # Nor to anyone outside customs control (a stranger, the seller).
    for who in (c.stranger, c.seller):
        w.fail("invalid_state", c.carrier, "custody", "propose",
               {"batch": b, "to": who, "kind": "custody"})
    # A bonded warehouse may take the goods; it cannot pass them on to the buyer either.
    warehouse = w.participant("warehouse")
    w.ok(warehouse, "custody", "accept", {
        "proposal": w.ok(c.carrier, "custody", "propose",
                         {"batch": b, "to": warehouse, "kind": "custody"})["proposal"]})
    w.fail("invalid_state", warehouse, "custody", "propose",
           {"batch": b, "to": c.buyer, "kind": "custody"})
    c.fund(c.seller, due)
    w.ok(c.seller, "customs", "pay", {"declaration": "d1"})
    w.ok(cx.de, "customs", "hold", {"declaration": "d1", "reason": "inspection"})
    assert w.fail("invalid_state", warehouse, "custody", "propose", {
        "batch": b, "to": c.buyer, "kind": "custody"})["details"]["current"] == "held"
    w.ok(cx.de, "customs", "release", {"declaration": "d1"})
    w.ok(cx.de, "customs", "clear", {"declaration": "d1"})
    assert w.get(f"customs/b/{b}") is None
    prop = w.ok(warehouse, "custody", "propose",
                {"batch": b, "to": c.buyer, "kind": "custody"})["proposal"]
    assert w.ok(c.buyer, "custody", "accept", {"proposal": prop})["custodian"] == c.buyer


def test_the_buyers_organisation_is_refused_even_as_a_warehouse(cx: Cx) -> None:
    w, c = cx.w, cx.c
    buyer = w.participant("customer", "warehouse")
    org = w.get(f"identity/p/{buyer}")["org"]
    colleague = w.ok(w.admin, "identity", "register_member", {
        "org": org, "public_key": generate("ed25519").public.b64, "name": "store",
        "roles": ["warehouse"]})["did"]
    c.fund(buyer, 10_500)
    b = w.batch(c.seller, 2)
    w.ok(buyer, "orders", "place", {
        "id": "o2", "seller": c.seller, "batch": b, "quantity": 10, "unit_price": 1000,
        "freight": 500, "currency": "EUR", "earliest": w.time, "latest": w.time + 5 * DAY})
    w.ok(c.seller, "orders", "dispatch",
         {"order": "o2", "transporter": c.carrier, "transport_no": "TN-2"})
    w.ok(c.carrier, "orders", "pickup", {"order": "o2"})
    assert cx.declare("d2", [line("611020", 10_000)], order="o2")["ok"]
    w.ok(buyer, "orders", "dispute", {"order": "o2", "reason": "late"})
    w.ok(c.arbiter, "orders", "resolve", {"order": "o2", "refund": 0, "freight_paid": 500,
                                          "at_fault": "none", "ownership": "buyer"})
    for to in (buyer, colleague):
        w.fail("invalid_state", c.carrier, "custody", "propose",
               {"batch": b, "to": to, "kind": "custody"})


def test_a_batch_declared_without_its_order_is_held_too(cx: Cx) -> None:
    """The hold is keyed by the goods: a declaration naming only the batch blocks the
    order's delivery and any custody outside customs control, until it is decided."""
    w, c = cx.w, cx.c
    b = cx.dispatched(10_500)
    w.ok(c.carrier, "orders", "pickup", {"order": "o1"})
    assert cx.declare("d1", [line("611020", 10_000)], batches=[b])["ok"]
    err = w.fail("invalid_state", c.carrier, "orders", "deliver", {"order": "o1"})
    assert err["details"]["declaration"] == "d1"
    w.fail("invalid_state", c.carrier, "custody", "propose",
           {"batch": b, "to": c.stranger, "kind": "custody"})
    assert _custody(cx, c.carrier, b, w.participant("transporter"))["ok"]
    w.ok(cx.de, "customs", "reject", {"declaration": "d1", "reason": "no invoice"})
    assert w.get(f"customs/b/{b}") is None


def test_an_offer_made_before_the_declaration_cannot_be_accepted_during_it(cx: Cx) -> None:
    w, c = cx.w, cx.c
    b = w.batch(c.seller, 3, for_sale=False)
    prop = w.ok(c.seller, "custody", "propose",
                {"batch": b, "to": c.stranger, "kind": "both"})["proposal"]
    assert cx.declare("d1", [line("611020", 500)], batches=[b])["ok"]
    err = w.fail("invalid_state", c.stranger, "custody", "accept", {"proposal": prop})
    assert err["details"]["declaration"] == "d1"
    c.fund(c.seller, w.get("customs/d/d1")["due"])
    w.ok(c.seller, "customs", "pay", {"declaration": "d1"})
    w.ok(cx.de, "customs", "clear", {"declaration": "d1"})
    assert w.ok(c.stranger, "custody", "accept", {"proposal": prop})["owner"] == c.stranger


# -- 2. the transaction value -------------------------------------------------------------------

def test_a_declaration_naming_an_order_declares_its_price(cx: Cx) -> None:
    """WTO valuation method 1: the goods' price (10 x 1000 EUR cents), or the price with
    the freight (10500) where the destination values goods delivered to its border."""
    w, c = cx.w, cx.c
    cx.dispatched(10_500)
    err = w.fail("value_mismatch", c.seller, "customs", "declare", {
        "id": "d1", "origin": "CN", "destination": "DE", "incoterm": "DDP", "order": "o1",
        "lines": [line("611020", 1_000)]})
    assert err["details"] == {"declared": 1_000, "price": 10_000, "with_freight": 10_500,
                              "currency": "EUR", "tolerance": 0}
    assert "1000" in err["message"] and "10000" in err["message"]
    w.fail("value_mismatch", c.seller, "customs", "declare", {
        "id": "d1", "origin": "CN", "destination": "DE", "incoterm": "DDP", "order": "o1",
        "lines": [line("611020", 6_000), line("611020", 4_001)]})
    assert w.get("customs/o/o1") is None  # nothing written
    assert cx.declare("d1", [line("611020", 6_000), line("610910", 4_500)], order="o1")["ok"]


def test_transaction_value_in_another_currency_allows_one_rounding(cx: Cx) -> None:
    """Lines in USD for an order in EUR: compared in the destination's currency after
    conversion at the rate in force, within one minor unit."""
    w = cx.w
    cx.dispatched(10_500)
    # 10870 USD cents x 0.92 = 10000.4 -> 10000; 10871 -> 10001.32 -> 10001 (one off)
    for value in (10_870, 10_871):
        r = cx.declare(f"d{value}", [line("611020", value, "USD")], order="o1")
        assert r["ok"], r
        w.ok(cx.de, "customs", "reject", {"declaration": f"d{value}", "reason": "test"})
    err = cx.declare("d3", [line("611020", 10_873, "USD")], order="o1")["error"]
    assert err["code"] == "value_mismatch"  # 10003.16 -> 10003
    assert (err["details"]["declared"], err["details"]["price"],
            err["details"]["tolerance"]) == (10_003, 10_000, 1)


def test_an_order_in_a_currency_without_a_rate_cannot_be_valued(cx: Cx) -> None:
    w, c = cx.w, cx.c
    c.fund(c.buyer, 2_000, "USD")
    b = w.batch(c.seller, 4)
    assert c.place("o9", b, price=150, freight=500, currency="USD")["ok"]
    # Lines in the order's currency compare exactly, no rate needed: 10 x 150.
    w.fail("value_mismatch", c.seller, "customs", "declare", {
        "id": "u1", "origin": "CN", "destination": "DE", "incoterm": "DDP", "order": "o9",
        "lines": [line("611020", 1_499, "USD")]})
    assert cx.declare("u1", [line("611020", 1_500, "USD")], order="o9")["ok"]
    w.ok(cx.de, "customs", "reject", {"declaration": "u1", "reason": "test"})
    # In EUR: the price is converted USD -> EUR (1500 x 0.92 = 1380).
    assert cx.declare("u2", [line("611020", 1_380)], order="o9")["ok"]
    w.ok(cx.de, "customs", "reject", {"declaration": "u2", "reason": "test"})
    c.fund(c.buyer, 2_000, "GBP")
    b2 = w.batch(c.seller, 5)
    assert c.place("o10", b2, price=150, freight=0, currency="GBP")["ok"]
    err = w.fail("not_found", c.seller, "customs", "declare", {
        "id": "g1", "origin": "CN", "destination": "DE", "incoterm": "DDP", "order": "o10",
        "lines": [line("611020", 1_700)]})
    assert "GBP->EUR" in err["message"]


# -- 3. who publishes exchange rates ------------------------------------------------------------

def test_only_the_appointed_publisher_publishes_rates_into_a_currency(cx: Cx) -> None:
    w, c = cx.w, cx.c
    rate = {"base": "GBP", "quote": "EUR", "rate": 1_170_000_000, "time": T0}
    other_bank = w.participant("settlement")
    err = w.fail("forbidden", other_bank, "customs", "set_rate", rate)
    bank_org = w.get(f"identity/p/{c.bank}")["org"]
    assert err["details"] == {"publisher": bank_org, "quote": "EUR"}
    err = w.fail("not_found", c.bank, "customs", "set_rate", {**rate, "quote": "CHF"})
    assert "appoints" in err["message"]
    w.fail("role_denied", c.bank, "customs", "appoint_rates", {"quote": "CHF",
                                                               "org": bank_org})
    seller_org = w.get(f"identity/p/{c.seller}")["org"]
    for org, code in (("nope", "not_found"), (seller_org, "forbidden")):
        w.fail(code, w.admin, "customs", "appoint_rates", {"quote": "CHF", "org": org})
    # The admin hands EUR over: the new publisher publishes, the old one no longer does.
    other_org = w.get(f"identity/p/{other_bank}")["org"]
    assert w.ok(w.admin, "customs", "appoint_rates", {"quote": "EUR", "org": other_org}) == {
        "quote": "EUR", "publisher": other_org}
    assert w.get("customs/q/EUR")["publisher"] == other_org
    assert w.ok(other_bank, "customs", "set_rate", rate)["pair"] == "GBP/EUR"
    w.fail("forbidden", c.bank, "customs", "set_rate", {**rate, "rate": USD_EUR})
    assert tariff(w, cx.de, "62", 0, 0)["ok"]  # tariffs are unaffected

"""customs and custody, reviewed: customs rules v2 accept only ISO 4217 money (as payments
v2), and custody rules v2 check at ``accept`` what ``propose`` checks, since an offer may
predate a customs declaration's rejection or its proposer's revocation. A ledger that has
not adopted v2 re-executes as it was decided."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import T0, Cast, World
from .test_customs import Cx, customs_world, line
from .test_review11_orders import adopt


@pytest.fixture
def cx(cast: Cast) -> Cx:
    return customs_world(cast)


def _v2(w: World, *contracts: str) -> None:
    adopt(w, *contracts)
    assert all(w.get(f"rules/v/{c}") is not None for c in contracts)


# -- customs v2: ISO 4217 currencies ------------------------------------------------------------

def test_customs_v2_publishes_tariffs_and_rates_only_in_iso_currencies(cx: Cx) -> None:
    w, c = cx.w, cx.c
    bank_org = w.get(f"identity/p/{c.bank}")["org"]
    fr_org = w.get(f"identity/p/{cx.fr}")["org"]
    _v2(w, "customs")
    e = w.fail("validation_error", w.admin, "customs", "appoint",
               {"country": "IT", "org": fr_org, "currency": "EUX"})
    assert e["details"] == {"arg": "currency", "value": "EUX"}
    e = w.fail("validation_error", w.admin, "customs", "appoint_rates",
               {"quote": "ABC", "org": bank_org})
    assert e["details"]["arg"] == "quote"
    e = w.fail("validation_error", c.bank, "customs", "set_rate",
               {"base": "QQQ", "quote": "EUR", "rate": 1, "time": T0})
    assert e["details"]["arg"] == "base" and "ISO 4217" in e["message"]
    # Real money is still published as before.
    w.ok(w.admin, "customs", "appoint", {"country": "IT", "org": fr_org, "currency": "EUR"})
    w.ok(c.bank, "customs", "set_rate", {"base": "GBP", "quote": "EUR",
                                         "rate": 1_170_000_000, "time": T0})


def test_customs_v2_declares_only_iso_money(cx: Cx) -> None:
    w, c = cx.w, cx.c
    _v2(w, "customs")
    e = cx.declare("d1", [line("611020", 500), line("847130", 900, "ZZZ")])
    assert not e["ok"] and e["error"]["code"] == "validation_error"
    assert e["error"]["details"] == {"arg": "lines[1].currency", "value": "ZZZ"}
    assert w.get("customs/d/d1") is None
    assert cx.declare("d1", [line("611020", 500), line("847130", 900, "USD")])["ok"]
    assert c  # the cast's seller declared


def _made_up_money(w: World, cx: Cx) -> None:
    """Under customs v1: a country with tariffs in made-up money, and a rate out of it."""
    bank_org = w.get(f"identity/p/{cx.c.bank}")["org"]
    fr_org = w.get(f"identity/p/{cx.fr}")["org"]
    w.ok(w.admin, "customs", "appoint", {"country": "IT", "org": fr_org, "currency": "ABC"})
    w.ok(cx.fr, "customs", "set_tariff", {
        "country": "IT", "hs_prefix": "61", "currency": "ABC", "duty_bp": 1000,
        "vat_bp": 2200, "de_minimis": 0, "effective_from": T0})
    w.ok(w.admin, "customs", "appoint_rates", {"quote": "ABC", "org": bank_org})
    w.ok(cx.c.bank, "customs", "set_rate", {"base": "EUR", "quote": "ABC",
                                            "rate": 2 * 10**9, "time": T0})


def test_customs_v1_keeps_taking_any_three_capitals(cx: Cx) -> None:
    w = cx.w
    assert w.get("rules/v/customs") is None  # runs v1
    _made_up_money(w, cx)
    r = cx.declare("d1", [line("611020", 1_000)], destination="IT")
    assert r["ok"] and r["result"]["currency"] == "ABC" and r["result"]["value"] == 2_000


def test_a_country_appointed_in_made_up_money_takes_no_v2_declaration(cx: Cx) -> None:
    w = cx.w
    _made_up_money(w, cx)
    _v2(w, "customs")
    e = cx.declare("d1", [line("611020", 1_000)], destination="IT")
    assert not e["ok"] and e["error"]["code"] == "invalid_state", e
    assert e["error"]["details"] == {"current": "ABC", "country": "IT"}
    # The tariff cannot be republished in it either.
    w.fail("validation_error", cx.fr, "customs", "set_tariff", {
        "country": "IT", "hs_prefix": "61", "currency": "ABC", "duty_bp": 0, "vat_bp": 0,
        "de_minimis": 0, "effective_from": T0})


# -- custody v2: accept checks what propose checks ----------------------------------------------

def _offered_then_rejected(cx: Cx) -> tuple[str, str]:
    """Order o1 placed (its batch reserved), custody offered to the buyer by the seller
    before any declaration, then the order declared and the declaration rejected."""
    w, c = cx.w, cx.c
    c.fund(c.buyer, 50_000)
    b = w.batch(c.seller, 1)
    assert c.place("o1", b)["ok"]
    prop = w.ok(c.seller, "custody", "propose",
                {"batch": b, "to": c.buyer, "kind": "custody"})["proposal"]
    assert cx.declare("d1", [line("611020", 10_000)], order="o1")["ok"]
    w.ok(cx.de, "customs", "reject", {"declaration": "d1", "reason": "counterfeit"})
    # orders.deliver would refuse the buyer these goods, and so does a new offer:
    err = w.fail("invalid_state", c.seller, "custody", "propose",
                 {"batch": b, "to": c.stranger, "kind": "custody"})
    assert err["details"]["current"] == "proposed"
    return b, prop


def test_custody_v2_refuses_the_buyer_goods_whose_declaration_was_rejected(cx: Cx) -> None:
    # The offer predated the declaration, so only propose checked the customs hold; the
    # buyer accepted goods that customs refused.
    w, c = cx.w, cx.c
    _v2(w, "custody")
    b, prop = _offered_then_rejected(cx)
    err = w.fail("invalid_state", c.buyer, "custody", "accept", {"proposal": prop})
    assert err["details"] == {"current": "rejected", "declaration": "d1", "order": "o1"}
    assert w.holding(b)["custodian"] == c.seller
    w.ok(c.buyer, "custody", "reject", {"proposal": prop, "reason": "refused by customs"})
    assert w.holding(b)["open"] == ""


def test_custody_v1_accepts_such_an_offer_as_it_did(cx: Cx) -> None:
    w, c = cx.w, cx.c
    assert w.get("rules/v/custody") is None  # runs v1
    b, prop = _offered_then_rejected(cx)
    assert w.ok(c.buyer, "custody", "accept", {"proposal": prop})["custodian"] == c.buyer
    assert w.holding(b)["custodian"] == c.buyer


def _offer_of_a_revoked_proposer(w: World, c: Cast) -> tuple[str, str, dict[str, Any]]:
    b = w.batch(c.seller, 2, for_sale=False)
    prop = w.ok(c.seller, "custody", "propose",
                {"batch": b, "to": c.stranger, "kind": "both"})["proposal"]
    w.ok(w.admin, "identity", "revoke", {"did": c.seller, "reason": "key stolen"})
    return b, prop, w.holding(b)


def test_custody_v2_lets_no_offer_outlive_its_proposers_revocation(cx: Cx) -> None:
    # A participant revoked (its key stolen, say) cannot cancel what it offered; the offer
    # could still be accepted and title and goods went to whoever it was made to.
    w, c = cx.w, cx.c
    _v2(w, "custody")
    b, prop, before = _offer_of_a_revoked_proposer(w, c)
    err = w.fail("invalid_state", c.stranger, "custody", "accept", {"proposal": prop})
    assert err["details"] == {"current": "lapsed", "proposer": c.seller}
    assert w.holding(b) == before
    w.ok(c.stranger, "custody", "reject", {"proposal": prop, "reason": "lapsed"})
    assert w.holding(b)["open"] == ""


def test_custody_v1_accepts_a_revoked_proposers_offer_as_it_did(cx: Cx) -> None:
    w, c = cx.w, cx.c
    b, prop, _ = _offer_of_a_revoked_proposer(w, c)
    res = w.ok(c.stranger, "custody", "accept", {"proposal": prop})
    assert res == {"batch": b, "owner": c.stranger, "custodian": c.stranger}

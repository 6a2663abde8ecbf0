"""Orders rules v4: every refusal names the order, with the argument at fault where there is
one (v3 left some without it, and the checks of other contracts an order runs do not know
it). Receipts store the words, so a ledger under v1 to v3 keeps the exact old ones."""

from __future__ import annotations

from typing import Any

import pytest

from supplyledger.contracts.builtin.payments import MAX_AMOUNT

from .conftest import DAY, Cast, gtin

G9 = gtin(9).zfill(14)  # (as placing spells a GTIN)


def _adopt(cast: Cast, orders: int) -> None:
    if orders > 1:  # the commerce world starts at v1
        cast.w.ok(cast.w.admin, "rules", "adopt", {"contract": "orders", "version": orders})


def _order(cast: Cast, oid: str, **args: Any) -> dict[str, Any]:
    w = cast.w
    return {"id": oid, "seller": cast.seller, "quantity": 10, "unit_price": 1000,
            "freight": 500, "currency": "EUR", "earliest": w.time, "latest": w.time + DAY,
            **args}


def _overflow(cast: Cast) -> dict[str, Any]:
    """o-1 for 10 x MAX_AMOUNT/5 + 7: price x quantity + freight overflows the limit."""
    cast.fund(cast.buyer, 50_000)
    batch = cast.w.batch(cast.seller, 1)
    args = _order(cast, "o-1", batch=batch, unit_price=MAX_AMOUNT // 5, freight=7)
    err = cast.w.fail("invalid_amount", cast.buyer, "orders", "place", args)
    # nothing written (fail checks the store): no order, no escrow, the batch still free
    assert cast.w.escrow("o-1") == 0 and cast.w.get(f"orders/lk/{batch}") is None
    assert cast.w.balance(cast.buyer) == 50_000
    return err


OVER = 10 * (MAX_AMOUNT // 5) + 7


def test_v4_overflowing_total_names_the_order_and_quantity(cast: Cast) -> None:
    _adopt(cast, 4)
    assert _overflow(cast) == {
        "code": "invalid_amount",
        "message": f"order o-1: price x quantity + freight = {OVER} exceeds {MAX_AMOUNT}",
        "details": {"arg": "quantity", "total": OVER, "maximum": MAX_AMOUNT}}


@pytest.mark.parametrize("orders", [1, 2, 3])
def test_older_rules_keep_the_overflow_words(cast: Cast, orders: int) -> None:
    _adopt(cast, orders)
    assert _overflow(cast) == {  # the whole error, byte for byte: no order, no details
        "code": "invalid_amount",
        "message": f"price x quantity + freight = {OVER} exceeds {MAX_AMOUNT}"}


# -- the other refusals v3 left without the order --------------------------------------------

def _place_refusals(cast: Cast) -> dict[str, dict[str, Any]]:
    """Refusals of placing, by case: the error of each (nothing written by any)."""
    w = cast.w
    cast.fund(cast.buyer, 50_000)
    batch = w.batch(cast.seller, 1)
    gone = w.participant("manufacturer")
    w.ok(gone, "identity", "revoke", {"did": gone, "reason": "left"})
    cases = {
        "window": ("validation_error", {"batch": batch, "earliest": w.time + 2 * DAY}),
        "past": ("validation_error", {"batch": batch, "earliest": w.time - 2 * DAY,
                                      "latest": w.time - DAY}),
        "batch": ("not_found", {"batch": "urn:epc:class:lgtin:4006381.333333.NONE"}),
        "gtin": ("not_found", {"product": gtin(9)}),
        "seller": ("not_found", {"batch": batch, "seller": gone}),
        "platform": ("not_found", {"batch": batch, "platform": cast.stranger}),
    }
    return {case: w.fail(code, cast.buyer, "orders", "place", _order(cast, "o-9", **args))
            for case, (code, args) in cases.items()}


def test_v4_place_refusals_name_the_order(cast: Cast) -> None:
    _adopt(cast, 4)
    errs = _place_refusals(cast)
    msgs = {case: e["message"] for case, e in errs.items()}
    assert msgs["window"] == "order o-9: the delivery window ends before it starts"
    assert msgs["past"] == "order o-9: the delivery window is already over"
    assert msgs["batch"].startswith("order o-9: no batch ")
    assert msgs["gtin"] == f"order o-9: unknown GTIN {G9}: no such product"
    assert msgs["seller"].startswith("order o-9: no active participant ")
    assert msgs["platform"] == f"order o-9: {cast.stranger} is not a registered platform"
    args = {case: e.get("details", {}).get("arg") for case, e in errs.items()}
    assert args == {"window": "latest", "past": "latest", "batch": "batch",
                    "gtin": "product", "seller": "seller", "platform": "platform"}
    assert errs["platform"]["details"] == {"arg": "platform", "role": "platform"}


def test_v3_place_refusals_keep_the_old_words(cast: Cast) -> None:
    _adopt(cast, 3)
    errs = _place_refusals(cast)
    assert errs["window"] == {"code": "validation_error", "details": {"arg": "latest"},
                              "message": "the delivery window ends before it starts"}
    assert errs["gtin"] == {"code": "not_found",
                            "message": f"unknown GTIN {G9}: no such product"}
    assert errs["platform"] == {"code": "not_found", "details": {"role": "platform"},
                                "message": f"{cast.stranger} is not a registered platform"}
    assert not any(e["message"].startswith("order o-9") for e in errs.values())


def test_v4_currency_refusal_names_the_order(cast: Cast) -> None:
    _adopt(cast, 4)
    batch = cast.w.batch(cast.seller, 1)
    err = cast.w.fail("validation_error", cast.buyer, "orders", "place",
                      _order(cast, "o-1", batch=batch, currency="XYZ"))
    assert err["message"] == "order o-1: currency XYZ is not an ISO 4217 currency code"
    assert err["details"]["arg"] == "currency"


def _dispatch_refusals(cast: Cast) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """o-1 and o-2 placed; dispatching o-2 to a stranger (no transporter), under o-1's
    transport order number, and rescheduling o-2 to a reversed window."""
    w = cast.w
    cast.fund(cast.buyer, 50_000)
    for oid, n in (("o-1", 1), ("o-2", 2)):
        assert cast.place(oid, w.batch(cast.seller, n))["ok"]
    w.ok(cast.seller, "orders", "dispatch",
         {"order": "o-1", "transporter": cast.carrier, "transport_no": "TN-1"})
    unregistered = w.fail("not_found", cast.seller, "orders", "dispatch",
                          {"order": "o-2", "transporter": cast.stranger,
                           "transport_no": "TN-2"})
    used = w.fail("already_exists", cast.seller, "orders", "dispatch",
                  {"order": "o-2", "transporter": cast.carrier, "transport_no": "TN-1"})
    window = w.fail("validation_error", cast.buyer, "orders", "reschedule",
                    {"order": "o-2", "earliest": w.time + 2 * DAY, "latest": w.time + DAY})
    return unregistered, used, window


def test_v4_dispatch_and_reschedule_refusals_name_the_order(cast: Cast) -> None:
    _adopt(cast, 4)
    unregistered, used, window = _dispatch_refusals(cast)
    assert unregistered["message"] == (f"order o-2: no registered transporter "
                                       f"{cast.stranger}: reschedule the delivery")
    assert unregistered["details"] == {"transporter": cast.stranger, "action": "reschedule",
                                       "arg": "transporter"}
    assert used == {"code": "already_exists", "details": {"arg": "transport_no"},
                    "message": "order o-2: transport order number TN-1 is already used"}
    assert window["message"] == "order o-2: the delivery window ends before it starts"
    assert cast.w.order("o-2")["state"] == "placed"


def test_v3_dispatch_and_reschedule_refusals_keep_the_old_words(cast: Cast) -> None:
    _adopt(cast, 3)
    unregistered, used, window = _dispatch_refusals(cast)
    assert unregistered == {"code": "not_found",
                            "message": f"no registered transporter {cast.stranger}: "
                                       "reschedule the delivery",
                            "details": {"transporter": cast.stranger,
                                        "action": "reschedule"}}
    assert used == {"code": "already_exists",
                    "message": "transport order number TN-1 is already used"}
    assert window == {"code": "validation_error", "details": {"arg": "latest"},
                      "message": "the delivery window ends before it starts"}

"""orders: the purchase-to-payment lifecycle (paper 001 Alg. 5, paper 000 eq. 7), the
paper's rejections (not available, fake seller, insufficient funds, no transporter) and
ours (roles, strangers, illegal transitions naming the state, amounts, windows)."""

from __future__ import annotations

from typing import Any

import pytest

from supplyledger.contracts.builtin.payments import MAX_AMOUNT
from supplyledger.contracts.executor import Executor

from .conftest import CONTRACTS, DAY, Cast, gtin


@pytest.fixture
def batch(cast: Cast) -> str:
    return cast.w.batch(cast.seller, 1)


def _dispatch(c: Cast, oid: str, **extra: Any) -> dict[str, Any]:
    return c.w.call(c.seller, "orders", "dispatch",
                    {"order": oid, "transporter": c.carrier, "transport_no": f"TN-{oid}",
                     **extra})


def test_lifecycle_escrows_pays_on_receipt_and_moves_custody_then_ownership(
        cast: Cast, batch: str) -> None:
    w, c = cast.w, cast
    c.fund(c.buyer, 12_000)
    r = c.place("o1", batch, qty=10, price=1_000, freight=500)
    assert r["ok"] and r["result"] == {"order": "o1", "escrow": 10_500}
    assert (w.balance(c.buyer), w.escrow("o1")) == (1_500, 10_500)
    assert w.order("o1")["state"] == "placed"

    assert _dispatch(c, "o1")["ok"]
    assert w.holding(batch)["custodian"] == c.seller  # dispatch alone moves nothing
    w.ok(c.carrier, "orders", "pickup", {"order": "o1"})
    h = w.holding(batch)
    assert (h["custodian"], h["owner"]) == (c.carrier, c.seller)
    w.ok(c.carrier, "orders", "deliver", {"order": "o1", "proof": "pod-123"})
    h = w.holding(batch)
    assert (h["custodian"], h["owner"]) == (c.buyer, c.seller)
    assert w.order("o1")["on_time"] == 1
    # Nothing is paid before receipt is confirmed; confirmation pays at once (eq. 7).
    assert (w.balance(c.seller), w.balance(c.carrier), w.escrow("o1")) == (0, 0, 10_500)
    w.fail("forbidden", c.seller, "orders", "confirm", {"order": "o1"})
    paid = w.ok(c.buyer, "orders", "confirm", {"order": "o1"})["paid"]
    assert paid == {"seller": 10_000, "financier": 0, "buyer": 0, "transporter": 500}
    assert (w.balance(c.seller), w.balance(c.carrier), w.balance(c.buyer)) == (
        10_000, 500, 1_500)
    assert w.escrow("o1") == 0
    assert w.holding(batch)["owner"] == c.buyer
    o = w.order("o1")
    assert o["state"] == "completed" and o["settled_at"] == w.time
    # Every transition is an event, in order, with its signer.
    hist = sorted(w.tables["order_events"].values(), key=lambda r: r["height"])
    assert [(r["event"], r["state"]) for r in hist] == [
        ("placed", "placed"), ("dispatched", "dispatched"), ("picked_up", "in_transit"),
        ("delivered", "delivered"), ("confirmed", "completed")]
    assert [r["signer"] for r in hist] == [c.buyer, c.seller, c.carrier, c.carrier, c.buyer]
    row = w.tables["orders"][("o1",)]
    assert (row["state"], row["transporter"], row["transport_no"], row["delivered"]) == (
        "completed", c.carrier, "TN-o1", 10)
    assert w.tables["custody_holdings"][(batch,)]["owner"] == c.buyer
    # The batch is free again: its new owner can sell it on.
    assert w.get(f"orders/lk/{batch}") is None


def test_product_order_ships_a_batch_of_that_product_named_at_dispatch(cast: Cast) -> None:
    w, c = cast.w, cast
    lot = w.batch(c.seller, 5, "A")
    other_product = w.batch(c.seller, 6, "B")
    g = gtin(5)
    w.ok(c.seller, "products", "declare_for_sale", {"id": g})
    c.fund(c.buyer, 10_000)
    args = {"id": "p1", "seller": c.seller, "product": g, "quantity": 2, "unit_price": 300,
            "freight": 0, "currency": "EUR", "earliest": w.time, "latest": w.time + DAY}
    w.ok(c.buyer, "orders", "place", args)
    assert w.order("p1")["product"] == g.zfill(14) and w.order("p1")["batch"] is None
    err = w.fail("validation_error", c.seller, "orders", "dispatch",
                 {"order": "p1", "transporter": c.carrier, "transport_no": "T1"})
    assert err["details"]["arg"] == "batch"
    w.fail("forbidden", c.seller, "orders", "dispatch",
           {"order": "p1", "transporter": c.carrier, "transport_no": "T1",
            "batch": other_product})
    assert _dispatch(c, "p1", batch=lot)["ok"]
    assert w.get(f"orders/lk/{lot}") == "p1"
    w.ok(c.carrier, "orders", "pickup", {"order": "p1"})
    w.ok(c.carrier, "orders", "deliver", {"order": "p1"})
    w.ok(c.buyer, "orders", "confirm", {"order": "p1"})
    assert w.holding(lot)["owner"] == c.buyer and w.balance(c.seller) == 600


def test_read_hints_name_every_key_a_lifecycle_reads_first(cast: Cast, batch: str) -> None:
    """The node fetches what the hints name in one query per block; on a cold cache an
    order's steps then look up one by one only keys shared with other orders (participants,
    balances, product types, statistics), never the order's own."""
    w, c = cast.w, cast
    lot = w.batch(c.seller, 5, "A")
    w.ok(c.seller, "products", "declare_for_sale", {"id": gtin(5)})
    c.fund(c.buyer, 100_000)
    one: list[str] = []
    many: list[str] = []

    def read_one(key: str) -> bytes | None:
        one.append(key)
        return w.store.get(key)

    def read_many(keys: list[str]) -> dict[str, bytes]:
        many.extend(keys)
        return {k: w.store[k] for k in keys if k in w.store}

    w.exec = Executor(CONTRACTS, read_one, read_many=read_many)
    c.to_delivered("o1", batch)
    w.ok(c.buyer, "orders", "place", {
        "id": "p1", "seller": c.seller, "product": gtin(5), "quantity": 1, "unit_price": 10,
        "freight": 0, "currency": "EUR", "earliest": w.time, "latest": w.time + DAY})
    w.ok(c.seller, "orders", "dispatch", {"order": "p1", "transporter": c.carrier,
                                          "transport_no": "TN-p1", "batch": lot})
    assert w.ok(c.buyer, "orders", "confirm", {"order": "o1"})["paid"]["seller"] == 10_000
    own = ("orders/o/", "orders/lk/", "orders/tn/", "payments/x/", "products/b/",
           "custody/h/", "credit/f/", "customs/b/", "customs/o/")
    assert [k for k in one if k.startswith(own)] == []
    for k in (f"custody/h/{batch}", f"products/b/{lot}", "orders/tn/TN-p1", "credit/f/o1",
              "payments/x/orders:p1"):
        assert k in many


# -- the paper's rejections (Alg. 5) ----------------------------------------------------------

def test_not_available(cast: Cast) -> None:
    w, c = cast.w, cast
    c.fund(c.buyer, 100_000)
    hidden = w.batch(c.seller, 2, for_sale=False)
    r = c.place("o1", hidden)
    assert r["error"]["code"] == "invalid_state"
    assert r["error"]["details"]["current"] == "not_for_sale"
    assert "not available" in r["error"]["message"]
    # Product types too.
    w.ok(c.seller, "products", "create_product", {"gtin": gtin(3), "name": "x"})
    err = w.fail("invalid_state", c.buyer, "orders", "place", {
        "id": "o2", "seller": c.seller, "product": gtin(3), "quantity": 1, "unit_price": 1,
        "freight": 0, "currency": "EUR", "earliest": w.time, "latest": w.time})
    assert "not available" in err["message"]
    # A batch already in an order is not available to another buyer.
    b = w.batch(c.seller, 4)
    assert c.place("o3", b)["ok"]
    r = c.place("o4", b)
    assert r["error"]["details"] == {"current": "reserved", "order": "o3"}
    assert w.escrow("o4") == 0


def test_unknown_product_or_batch(cast: Cast) -> None:
    w, c = cast.w, cast
    c.fund(c.buyer, 100_000)
    assert c.place("o1", "https://id.gs1.org/01/04006380000995/10/X")["error"]["code"] == (
        "not_found")
    w.fail("not_found", c.buyer, "orders", "place", {
        "id": "o2", "seller": c.seller, "product": gtin(99), "quantity": 1, "unit_price": 1,
        "freight": 0, "currency": "EUR", "earliest": w.time, "latest": w.time})
    # A malformed GTIN is refused before ordering, by the prepare step.
    w.fail("validation_error", c.buyer, "orders", "place", {
        "id": "o3", "seller": c.seller, "product": "4006381333932", "quantity": 1,
        "unit_price": 1, "freight": 0, "currency": "EUR", "earliest": w.time,
        "latest": w.time})


def test_fake_seller(cast: Cast, batch: str) -> None:
    w, c = cast.w, cast
    c.fund(c.buyer, 100_000)
    for fake in (c.stranger, c.carrier):
        r = w.call(c.buyer, "orders", "place", {
            "id": "o1", "seller": fake, "batch": batch, "quantity": 1, "unit_price": 10,
            "freight": 0, "currency": "EUR", "earliest": w.time, "latest": w.time + DAY})
        assert r["error"]["code"] == "forbidden" and "seller is fake" in r["error"]["message"]
        assert r["error"]["details"]["owner"] == c.seller
    w.ok(c.seller, "products", "declare_for_sale", {"id": gtin(1)})
    err = w.fail("forbidden", c.buyer, "orders", "place", {
        "id": "o1", "seller": c.stranger, "product": gtin(1), "quantity": 1, "unit_price": 1,
        "freight": 0, "currency": "EUR", "earliest": w.time, "latest": w.time})
    assert "seller is fake" in err["message"]


def test_insufficient_funds_covers_price_and_freight(cast: Cast, batch: str) -> None:
    w, c = cast.w, cast
    c.fund(c.buyer, 10_499)
    r = c.place("o1", batch, qty=10, price=1_000, freight=500)
    assert r["error"]["code"] == "insufficient_funds"
    assert r["error"]["details"] == {"needed": 10_500, "available": 10_499, "currency": "EUR"}
    assert w.get(f"orders/lk/{batch}") is None and w.get("orders/o/o1") is None
    c.fund(c.buyer, 1)
    assert c.place("o1", batch, qty=10, price=1_000, freight=500)["ok"]
    assert w.balance(c.buyer) == 0


def test_no_registered_transporter_means_reschedule(cast: Cast, batch: str) -> None:
    w, c = cast.w, cast
    c.fund(c.buyer, 100_000)
    c.place("o1", batch, latest=w.time + DAY)
    for nobody in ("did:sl:0000000000000000000000000000000000000000", c.stranger):
        err = w.fail("not_found", c.seller, "orders", "dispatch",
                     {"order": "o1", "transporter": nobody, "transport_no": "T1"})
        assert err["details"]["action"] == "reschedule" and "reschedule" in err["message"]
    assert w.order("o1")["state"] == "placed"
    # The window passes without a transporter: dispatch now needs a new, agreed window.
    w.time += 2 * DAY
    err = w.fail("invalid_state", c.seller, "orders", "dispatch",
                 {"order": "o1", "transporter": c.carrier, "transport_no": "T1"})
    assert err["details"]["current"] == "placed" and "reschedule" in err["message"]
    new = {"order": "o1", "earliest": w.time, "latest": w.time + 3 * DAY}
    assert w.ok(c.seller, "orders", "reschedule", new) == {"order": "o1", "applied": False}
    assert w.order("o1")["latest"] == w.time - DAY  # a proposal alone changes nothing
    w.fail("forbidden", c.stranger, "orders", "reschedule", new)
    assert w.ok(c.buyer, "orders", "reschedule", new) == {"order": "o1", "applied": True}
    assert w.order("o1")["latest"] == w.time + 3 * DAY and w.order("o1")["proposal"] is None
    assert _dispatch(c, "o1")["ok"]


def test_reschedule_needs_the_same_window_from_both(cast: Cast, batch: str) -> None:
    w, c = cast.w, cast
    c.fund(c.buyer, 100_000)
    c.place("o1", batch)
    a = {"order": "o1", "earliest": w.time, "latest": w.time + 9 * DAY}
    b = {"order": "o1", "earliest": w.time, "latest": w.time + 8 * DAY}
    assert not w.ok(c.buyer, "orders", "reschedule", a)["applied"]
    assert not w.ok(c.buyer, "orders", "reschedule", a)["applied"]  # not with itself
    assert not w.ok(c.seller, "orders", "reschedule", b)["applied"]  # counter-proposal
    assert not w.ok(c.seller, "orders", "reschedule", a)["applied"]  # replaces its own
    assert w.ok(c.buyer, "orders", "reschedule", a)["applied"]
    w.fail("validation_error", c.buyer, "orders", "reschedule",
           {"order": "o1", "earliest": w.time + DAY, "latest": w.time})


# -- our rejections ----------------------------------------------------------------------------

def test_strangers_and_wrong_parties_are_forbidden(cast: Cast, batch: str) -> None:
    w, c = cast.w, cast
    c.fund(c.buyer, 100_000)
    c.place("o1", batch)
    for who in (c.buyer, c.stranger, c.carrier):
        w.fail("forbidden", who, "orders", "dispatch",
               {"order": "o1", "transporter": c.carrier, "transport_no": "T1"})
    w.fail("forbidden", c.stranger, "orders", "cancel", {"order": "o1"})
    _dispatch(c, "o1")
    w.fail("forbidden", c.seller, "orders", "pickup", {"order": "o1"})
    w.fail("forbidden", c.stranger, "orders", "pickup", {"order": "o1"})
    w.ok(c.carrier, "orders", "pickup", {"order": "o1"})
    for who in (c.seller, c.buyer, c.stranger):
        w.fail("forbidden", who, "orders", "deliver", {"order": "o1"})
    w.ok(c.carrier, "orders", "deliver", {"order": "o1"})
    for who in (c.seller, c.carrier, c.stranger):
        w.fail("forbidden", who, "orders", "confirm", {"order": "o1"})


def test_wrong_roles(cast: Cast) -> None:
    w = cast.w
    w.fail("role_denied", cast.seller, "orders", "configure", {"release_after_ms": 0})
    err = w.fail("role_denied", cast.buyer, "orders", "resolve", {
        "order": "o1", "refund": 0, "freight_paid": 0, "at_fault": "none",
        "ownership": "seller"})
    assert err["details"]["required"] == ["arbiter"]


@pytest.mark.parametrize("method", ["dispatch", "pickup", "deliver", "confirm", "release",
                                    "cancel", "reschedule", "dispute", "request_return",
                                    "receive_return", "resolve"])
def test_unknown_orders_are_not_found(cast: Cast, method: str) -> None:
    args: dict[str, Any] = {"order": "nope"}
    extra: dict[str, dict[str, Any]] = {
        "dispatch": {"transporter": cast.carrier, "transport_no": "T"},
        "reschedule": {"earliest": 0, "latest": cast.w.time},
        "dispute": {"reason": "r"}, "request_return": {"reason": "r"},
        "resolve": {"refund": 0, "freight_paid": 0, "at_fault": "none", "ownership": "buyer"}}
    who = cast.arbiter if method == "resolve" else cast.buyer
    cast.w.fail("not_found", who, "orders", method, {**args, **extra.get(method, {})})


# (action, signer attribute, extra args) for every action that needs a given state.
ACTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "dispatch": ("seller", {"transporter": "", "transport_no": "TX"}),
    "pickup": ("carrier", {}), "deliver": ("carrier", {}), "confirm": ("buyer", {}),
    "release": ("stranger", {}), "cancel": ("buyer", {}),
    "request_return": ("buyer", {"reason": "r"}), "receive_return": ("seller", {}),
}
REACHES = {"placed": [], "dispatched": ["dispatch"], "in_transit": ["dispatch", "pickup"],
           "delivered": ["dispatch", "pickup", "deliver"],
           "completed": ["dispatch", "pickup", "deliver", "confirm"],
           "cancelled": ["cancel"]}
LEGAL = {"placed": {"dispatch", "cancel"}, "dispatched": {"pickup"},
         "in_transit": {"deliver"}, "delivered": {"confirm", "request_return", "release"},
         "completed": set(), "cancelled": set()}


def _do(c: Cast, action: str, oid: str) -> dict[str, Any]:
    who, extra = ACTIONS[action]
    args = {"order": oid, **extra}
    if action == "dispatch":
        args["transporter"] = c.carrier
    return c.w.call(getattr(c, who), "orders", action, args)


@pytest.mark.parametrize("state", list(REACHES))
def test_illegal_transitions_name_the_current_state(cast: Cast, state: str) -> None:
    w, c = cast.w, cast
    c.fund(c.buyer, 100_000)
    b = w.batch(c.seller, 7)
    assert c.place("o1", b)["ok"]
    for action in REACHES[state]:
        assert _do(c, action, "o1")["ok"]
    assert w.order("o1")["state"] == state
    for action in ACTIONS:
        if action in LEGAL[state] or (action == "release" and state == "delivered"):
            continue
        before = dict(w.store)
        r = _do(c, action, "o1")
        assert r["error"]["code"] == "invalid_state", (state, action, r)
        assert r["error"]["details"]["current"] == state
        assert state in r["error"]["message"]
        assert w.store == before


def test_double_confirmation_and_double_release(cast: Cast, batch: str) -> None:
    w, c = cast.w, cast
    c.fund(c.buyer, 100_000)
    c.to_delivered("o1", batch)
    w.ok(c.buyer, "orders", "confirm", {"order": "o1"})
    assert w.balance(c.seller) == 10_000
    err = w.fail("invalid_state", c.buyer, "orders", "confirm", {"order": "o1"})
    assert err["details"]["current"] == "completed"
    # Nor can the lapse path pay a second time, however late.
    err = w.fail("invalid_state", c.seller, "orders", "release", {"order": "o1"},
                 time=w.time + 30 * DAY)
    assert err["details"]["current"] == "completed"
    assert w.balance(c.seller) == 10_000 and w.balance(c.carrier) == 500


def test_release_without_confirmation_only_after_the_period(cast: Cast, batch: str) -> None:
    w, c = cast.w, cast
    c.fund(c.buyer, 100_000)
    w.ok(w.admin, "orders", "configure", {"release_after_ms": 2 * DAY})
    c.to_delivered("o1", batch)
    delivered = w.time
    w.time = delivered + 2 * DAY - 1
    err = w.fail("invalid_state", c.seller, "orders", "release", {"order": "o1"})
    assert err["details"] == {"current": "delivered", "release_at": delivered + 2 * DAY}
    w.time = delivered + 2 * DAY
    w.ok(c.stranger, "orders", "release", {"order": "o1"})
    assert w.balance(c.seller) == 10_000 and w.holding(batch)["owner"] == c.buyer
    assert w.get(f"orders/st/{c.buyer}")["lapsed"] == 1


def test_default_release_period_is_a_week(cast: Cast, batch: str) -> None:
    w, c = cast.w, cast
    c.fund(c.buyer, 100_000)
    c.to_delivered("o1", batch)
    w.fail("invalid_state", c.seller, "orders", "release", {"order": "o1"},
           time=w.time + 7 * DAY - 1)
    w.ok(c.seller, "orders", "release", {"order": "o1"}, time=w.time + 7 * DAY)


def test_cancel_before_dispatch_refunds_in_full_and_frees_the_batch(cast: Cast,
                                                                    batch: str) -> None:
    w, c = cast.w, cast
    c.fund(c.buyer, 10_500)
    c.place("o1", batch)
    assert w.balance(c.buyer) == 0
    paid = w.ok(c.seller, "orders", "cancel", {"order": "o1", "reason": "out of stock"})
    assert paid["paid"] == {"seller": 0, "financier": 0, "buyer": 10_500, "transporter": 0}
    assert (w.balance(c.buyer), w.escrow("o1"), w.balance(c.seller)) == (10_500, 0, 0)
    assert w.order("o1")["state"] == "cancelled"
    assert c.place("o2", batch)["ok"]  # available again


def test_partial_deliveries_pay_for_what_arrived(cast: Cast, batch: str) -> None:
    w, c = cast.w, cast
    c.fund(c.buyer, 10_500)
    c.place("o1", batch, qty=10, price=1_000, freight=500)
    _dispatch(c, "o1")
    w.ok(c.carrier, "orders", "pickup", {"order": "o1"})
    r = w.ok(c.carrier, "orders", "deliver", {"order": "o1", "quantity": 4})
    assert r == {"order": "o1", "state": "in_transit", "delivered": 4}
    assert w.holding(batch)["custodian"] == c.carrier
    w.fail("invalid_state", c.buyer, "orders", "confirm", {"order": "o1"})
    err = w.fail("validation_error", c.carrier, "orders", "deliver",
                 {"order": "o1", "quantity": 7})
    assert "only 6" in err["message"]
    w.fail("validation_error", c.carrier, "orders", "deliver", {"order": "o1", "quantity": 0})
    r = w.ok(c.carrier, "orders", "deliver", {"order": "o1", "quantity": 3, "final": True})
    assert r["state"] == "delivered" and r["delivered"] == 7
    assert [e for e in w.tables["order_events"].values()
            if e["event"] == "partially_delivered"]
    paid = w.ok(c.buyer, "orders", "confirm", {"order": "o1"})["paid"]
    assert paid == {"seller": 7_000, "financier": 0, "buyer": 3_000, "transporter": 500}
    assert w.balance(c.buyer) == 3_000


@pytest.mark.parametrize(("field", "value", "code"), [
    ("unit_price", 0, "invalid_amount"), ("unit_price", -5, "invalid_amount"),
    ("unit_price", 2**256, "invalid_amount"), ("freight", -1, "invalid_amount"),
    ("freight", MAX_AMOUNT + 1, "invalid_amount"), ("quantity", 0, "validation_error"),
    ("quantity", -3, "validation_error"), ("currency", "euro", "validation_error"),
])
def test_bad_amounts_and_quantities(cast: Cast, batch: str, field: str, value: Any,
                                    code: str) -> None:
    cast.fund(cast.buyer, 100_000)
    args = {"id": "o1", "seller": cast.seller, "batch": batch, "quantity": 1,
            "unit_price": 1, "freight": 0, "currency": "EUR", "earliest": cast.w.time,
            "latest": cast.w.time}
    err = cast.w.fail(code, cast.buyer, "orders", "place", {**args, field: value})
    assert err["details"]["arg"] == field
    assert cast.w.balance(cast.buyer) == 100_000


def test_price_times_quantity_cannot_overflow(cast: Cast, batch: str) -> None:
    cast.fund(cast.buyer, MAX_AMOUNT)
    r = cast.place("o1", batch, qty=10**9, price=MAX_AMOUNT // 10**8)
    assert r["error"]["code"] == "invalid_amount"
    r = cast.place("o1", batch, qty=1, price=MAX_AMOUNT, freight=1)
    assert r["error"]["code"] == "invalid_amount"
    assert cast.place("o1", batch, qty=1, price=MAX_AMOUNT - 1, freight=1)["ok"]


def test_ids_windows_and_self_dealing(cast: Cast, batch: str) -> None:
    w, c = cast.w, cast
    c.fund(c.buyer, 100_000)
    assert c.place("o1", batch)["ok"]
    b2 = w.batch(c.seller, 8)
    assert c.place("o1", b2)["error"]["code"] == "already_exists"
    assert c.place("o2", b2, latest=w.time - 1)["error"]["code"] == "validation_error"
    err = w.fail("forbidden", c.seller, "orders", "place", {
        "id": "o3", "seller": c.seller, "batch": b2, "quantity": 1, "unit_price": 1,
        "freight": 0, "currency": "EUR", "earliest": w.time, "latest": w.time})
    assert "itself" in err["message"]
    both = w.fail("validation_error", c.buyer, "orders", "place", {
        "id": "o4", "seller": c.seller, "batch": b2, "product": gtin(8), "quantity": 1,
        "unit_price": 1, "freight": 0, "currency": "EUR", "earliest": w.time,
        "latest": w.time})
    assert both["details"]["arg"] == "product"
    # A transport order number is issued once.
    assert c.place("o5", b2)["ok"]
    assert _dispatch(c, "o1")["ok"]
    err = w.fail("already_exists", c.seller, "orders", "dispatch",
                 {"order": "o5", "transporter": c.carrier, "transport_no": "TN-o1"})
    assert "TN-o1" in err["message"]
    # An order through a platform names a registered platform.
    b3 = w.batch(c.seller, 9)
    assert c.place("o6", b3, platform=c.stranger)["error"]["code"] == "not_found"


def test_open_custody_proposal_blocks_order_moves(cast: Cast, batch: str) -> None:
    """Orders never move a batch under an open hand-over proposal (which the custody
    contract would otherwise honour later, from whoever then holds the batch)."""
    w, c = cast.w, cast
    c.fund(c.buyer, 100_000)
    c.place("o1", batch)
    _dispatch(c, "o1")
    prop = w.ok(c.seller, "custody", "propose",
                {"batch": batch, "to": c.stranger, "kind": "custody"})["proposal"]
    err = w.fail("invalid_state", c.carrier, "orders", "pickup", {"order": "o1"})
    assert err["details"] == {"current": "dispatched", "proposal": prop}
    w.ok(c.seller, "custody", "cancel", {"proposal": prop})
    w.ok(c.carrier, "orders", "pickup", {"order": "o1"})
    assert w.holding(batch)["custodian"] == c.carrier


def test_seller_cannot_give_title_away_while_the_buyer_pays_for_it(cast: Cast,
                                                                   batch: str) -> None:
    """The escrow pays for the batch's title, so while the order runs the seller cannot
    offer it to anyone else (tests/commerce/test_reservations.py covers every state)."""
    w, c = cast.w, cast
    c.fund(c.buyer, 100_000)
    c.to_delivered("o1", batch)
    err = w.fail("invalid_state", c.seller, "custody", "propose",
                 {"batch": batch, "to": c.stranger, "kind": "ownership"})
    assert err["details"] == {"current": "reserved", "order": "o1"}
    w.ok(c.buyer, "orders", "confirm", {"order": "o1"})
    assert w.balance(c.seller) == 10_000 and w.holding(batch)["owner"] == c.buyer


def test_customer_data_is_a_commitment_to_registered_recipients(cast: Cast, batch: str) -> None:
    w, c = cast.w, cast
    c.fund(c.buyer, 100_000)
    data = {"commitment": "ab" * 32, "recipients": [c.seller, c.carrier]}
    bad = {"commitment": "ab" * 32, "recipients": ["did:sl:nobody"]}
    assert c.place("o1", batch, customer_data=bad)["error"]["code"] == "not_found"
    plain = {"commitment": "Jane Doe, 1 High Street", "recipients": [c.seller]}
    assert c.place("o1", batch, customer_data=plain)["error"]["code"] == "validation_error"
    assert c.place("o1", batch, customer_data=data)["ok"]
    assert w.order("o1")["customer_data"] == data


def test_batch_ids_are_normalised_to_the_canonical_digital_link(cast: Cast, batch: str) -> None:
    cast.fund(cast.buyer, 100_000)
    assert batch.startswith("https://id.gs1.org/01/")
    spelled = batch.replace("https://id.gs1.org", "https://example.com") + "?x=1"
    assert cast.place("o1", spelled)["ok"]
    assert cast.w.order("o1")["batch"] == batch

"""Currency exchange at a dealer's quote: a CNY holder pays an EUR order, every rejection
changes nothing, and random exchanges only move money (per currency, balances plus escrows
equal the supply)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supplyledger.contracts.builtin.payments import MAX_AMOUNT, read_supply

from .conftest import DAY, Cast, World

HOUR = 3_600_000
# 1 fen buys 0.128 euro cents (1 CNY = 0.128 EUR), the dealer's spread included.
CNY_EUR = 128_000_000


@pytest.fixture
def fx(world: World) -> Cast:
    w = world
    c = Cast(w, bank=w.participant("settlement"), buyer=w.participant("customer"),
             seller=w.participant("manufacturer"), carrier=w.participant("transporter"),
             arbiter=w.participant("arbiter"), financier=w.participant("financier"),
             stranger=w.participant("customer"))
    c.fund(c.buyer, 100_000, "CNY")
    c.fund(c.bank, 50_000, "EUR")
    w.ok(c.bank, "fx", "quote", {"pay": "CNY", "get": "EUR", "rate": CNY_EUR,
                                 "until": w.time + HOUR})
    return c


def _swap(c: Cast, amount: int, min_get: int, **kw: Any) -> dict[str, Any]:
    return {"dealer": c.bank, "pay": "CNY", "amount": amount, "get": "EUR",
            "min_get": min_get, **kw}


def test_a_cny_holder_pays_an_eur_order(fx: Cast) -> None:
    w = fx.w
    r = w.ok(fx.buyer, "fx", "exchange", _swap(fx, 93_750, 12_000))
    assert (r["received"], r["get"], r["rate"]) == (12_000, "EUR", CNY_EUR)
    assert (w.balance(fx.buyer, "CNY"), w.balance(fx.buyer, "EUR")) == (6_250, 12_000)
    assert (w.balance(fx.bank, "CNY"), w.balance(fx.bank, "EUR")) == (93_750, 38_000)
    trade = next(iter(w.tables["fx_trades"].values()))
    assert (trade["customer"], trade["received"], trade["amount"]) == (fx.buyer, 12_000, 93_750)
    assert w.tables["balances"][(fx.buyer, "EUR")]["balance"] == 12_000
    # Paid in euros now: 10 x 1,000 + 500 freight into escrow.
    assert fx.place("O1", w.batch(fx.seller, 1))["ok"]
    assert w.escrow("O1") == 10_500 and w.balance(fx.buyer, "EUR") == 1_500


def test_received_is_rounded_down_in_the_dealers_favour(fx: Cast) -> None:
    # 9 fen x 0.128 = 1.152 cents -> 1
    assert fx.w.ok(fx.buyer, "fx", "exchange", _swap(fx, 9, 1))["received"] == 1
    fx.w.fail("invalid_amount", fx.buyer, "fx", "exchange", _swap(fx, 7, 1))  # 0.896 cents


def test_a_replaced_quote_never_gives_less_than_signed_for(fx: Cast) -> None:
    w = fx.w
    w.ok(fx.bank, "fx", "quote", {"pay": "CNY", "get": "EUR", "rate": CNY_EUR - 8_000_000,
                                  "until": w.time + HOUR})
    err = w.fail("invalid_state", fx.buyer, "fx", "exchange", _swap(fx, 93_750, 12_000))
    assert "gives 11250 EUR, below min_get 12000" in err["message"]


@pytest.mark.parametrize(("code", "who", "args"), [
    ("not_found", "buyer", {"get": "USD"}),  # no such quote
    ("insufficient_funds", "buyer", {"amount": 100_001}),  # the customer's CNY
    ("insufficient_funds", "buyer", {"amount": 400_000, "min_get": 1}),  # the dealer's EUR
    ("validation_error", "buyer", {"get": "CNY"}),
    ("forbidden", "bank", {}),
    ("invalid_amount", "buyer", {"amount": 0}),
    ("invalid_amount", "buyer", {"amount": MAX_AMOUNT + 1}),
    ("invalid_amount", "buyer", {"min_get": -5}),
])
def test_refused_exchanges_change_nothing(fx: Cast, code: str, who: str,
                                          args: dict[str, Any]) -> None:
    if args.get("amount") == 400_000:
        fx.fund(fx.buyer, 400_000, "CNY")  # the customer can pay; the dealer cannot deliver
    fx.w.fail(code, getattr(fx, who), "fx", "exchange", _swap(fx, 1_000, 100) | args)


def test_overflowing_rate_is_refused(fx: Cast) -> None:
    w = fx.w
    w.ok(fx.bank, "fx", "quote", {"pay": "CNY", "get": "EUR", "rate": MAX_AMOUNT,
                                  "until": w.time + HOUR})
    fx.fund(fx.bank, MAX_AMOUNT - 50_000, "EUR")
    fx.fund(fx.buyer, 10**10, "CNY")
    err = w.fail("invalid_amount", fx.buyer, "fx", "exchange", _swap(fx, 10**10, 1))
    assert "buys 10000000000000000 minor units of EUR" in err["message"]


def test_quotes_expire_and_can_be_withdrawn(fx: Cast) -> None:
    w = fx.w
    w.fail("not_found", fx.buyer, "fx", "exchange", _swap(fx, 1_000, 1), time=w.time + HOUR)
    w.ok(fx.bank, "fx", "unquote", {"pay": "CNY", "get": "EUR"})
    assert w.tables["fx_quotes"] == {}
    w.fail("not_found", fx.buyer, "fx", "exchange", _swap(fx, 1_000, 1))
    w.fail("not_found", fx.bank, "fx", "unquote", {"pay": "CNY", "get": "EUR"})


@pytest.mark.parametrize(("code", "who", "until"), [
    ("role_denied", "stranger", HOUR),
    ("validation_error", "bank", 0),  # not after the transaction's time
    ("validation_error", "bank", 7 * DAY + 1),  # more than 7 days ahead
])
def test_refused_quotes(fx: Cast, code: str, who: str, until: int) -> None:
    fx.w.fail(code, getattr(fx, who), "fx", "quote",
              {"pay": "CNY", "get": "USD", "rate": 1, "until": fx.w.time + until})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["quote", "swap", "swap", "deposit", "withdraw"]),
                          st.sampled_from(["CNY", "EUR", "USD"]),
                          st.sampled_from(["CNY", "EUR", "USD"]),
                          st.integers(-5, 2 * 10**6), st.integers(0, 3)),
                max_size=30))
def test_exchanges_only_move_money(steps: list[tuple[str, str, str, int, int]]) -> None:
    w = World()
    bank, other = w.participant("settlement"), w.participant("settlement")
    people = [bank, other, w.participant("customer"), w.participant("customer")]
    for op, a, b, n, who in steps:
        if op == "quote":
            w.call([bank, other][who % 2], "fx", "quote",
                   {"pay": a, "get": b, "rate": max(n, 1) * 1000, "until": w.time + HOUR})
        elif op == "swap":
            w.call(people[who], "fx", "exchange", {"dealer": [bank, other][n % 2], "pay": a,
                                                   "amount": n, "get": b, "min_get": 1})
        else:
            w.call(bank, "payments", op, {"account": people[who], "currency": a, "amount": n})
        for ccy in ("CNY", "EUR", "USD"):
            assert w.money_in_ledger(ccy) == read_supply(w.read, ccy)
            assert all(w.balance(p, ccy) >= 0 for p in people)

"""payments: deposits and withdrawals by settlement only, transfers, amount bounds (the
paper's overflow attack), and the supply that balances must always add up to."""

from __future__ import annotations

import pytest

from supplyledger.contracts.builtin.payments import MAX_AMOUNT, read_balance, read_supply

from .conftest import Cast


def test_deposit_withdraw_transfer_move_money_and_keep_supply(cast: Cast) -> None:
    w = cast.w
    cast.fund(cast.buyer, 5_000)
    cast.fund(cast.seller, 700, "USD")
    assert w.balance(cast.buyer) == 5_000 and w.balance(cast.seller, "USD") == 700
    w.ok(cast.buyer, "payments", "transfer",
         {"to": cast.seller, "currency": "EUR", "amount": 1_250, "memo": "invoice 7"})
    w.ok(cast.bank, "payments", "withdraw",
         {"account": cast.seller, "currency": "EUR", "amount": 250, "reference": "SEPA-1"})
    assert (w.balance(cast.buyer), w.balance(cast.seller)) == (3_750, 1_000)
    assert read_balance(w.read, cast.seller, "EUR") == 1_000
    assert read_supply(w.read, "EUR") == 4_750 == w.money_in_ledger("EUR")
    assert read_supply(w.read, "USD") == 700 == w.money_in_ledger("USD")
    # The balances projection shows the same numbers.
    assert w.tables["balances"][(cast.seller, "EUR")]["balance"] == 1_000
    assert w.tables["balances"][(cast.buyer, "EUR")]["kind"] == "participant"


def test_only_settlement_deposits_or_withdraws(cast: Cast) -> None:
    w = cast.w
    cast.fund(cast.buyer, 100)
    for who in (cast.buyer, cast.seller, cast.financier, w.admin):
        err = w.fail("role_denied", who, "payments", "deposit",
                     {"account": who, "currency": "EUR", "amount": 10})
        assert err["details"]["required"] == ["settlement"]
        w.fail("role_denied", who, "payments", "withdraw",
               {"account": cast.buyer, "currency": "EUR", "amount": 10})
    assert w.balance(cast.buyer) == 100


@pytest.mark.parametrize("amount", [0, -1, -10**15, MAX_AMOUNT + 1, 2**64, 2**256, 2**256 + 1])
def test_overflow_and_non_positive_amounts_fail_with_amount_error(cast: Cast,
                                                                  amount: int) -> None:
    w = cast.w
    cast.fund(cast.buyer, 100)
    err = w.fail("invalid_amount", cast.bank, "payments", "deposit",
                 {"account": cast.buyer, "currency": "EUR", "amount": amount})
    assert err["details"]["arg"] == "amount"
    w.fail("invalid_amount", cast.buyer, "payments", "transfer",
           {"to": cast.seller, "currency": "EUR", "amount": amount})
    w.fail("invalid_amount", cast.bank, "payments", "withdraw",
           {"account": cast.buyer, "currency": "EUR", "amount": amount})
    assert w.balance(cast.buyer) == 100 and w.balance(cast.seller) == 0


@pytest.mark.parametrize("amount", ["100", True, None, [1]])
def test_amounts_must_be_integers(cast: Cast, amount: object) -> None:
    cast.w.fail("invalid_amount", cast.bank, "payments", "deposit",
                {"account": cast.buyer, "currency": "EUR", "amount": amount})


def test_balances_and_supply_cannot_pass_the_bound(cast: Cast) -> None:
    """Supply per currency is bounded, so no balance or escrow (each a part of it) can
    overflow either, however money moves afterwards."""
    w = cast.w
    cast.fund(cast.buyer, MAX_AMOUNT - 5)
    cast.fund(cast.seller, 5)
    w.fail("invalid_amount", cast.bank, "payments", "deposit",
           {"account": cast.buyer, "currency": "EUR", "amount": 1})
    # Another account would have room, but the currency's supply has not.
    w.fail("invalid_amount", cast.bank, "payments", "deposit",
           {"account": cast.carrier, "currency": "EUR", "amount": 1})
    w.ok(cast.seller, "payments", "transfer", {"to": cast.buyer, "currency": "EUR",
                                               "amount": 5})
    assert w.balance(cast.buyer) == MAX_AMOUNT == w.money_in_ledger("EUR")
    # Other currencies are independent.
    cast.fund(cast.buyer, MAX_AMOUNT, "USD")


def test_insufficient_funds_names_the_shortfall(cast: Cast) -> None:
    w = cast.w
    cast.fund(cast.buyer, 99)
    err = w.fail("insufficient_funds", cast.buyer, "payments", "transfer",
                 {"to": cast.seller, "currency": "EUR", "amount": 100})
    assert err["details"] == {"needed": 100, "available": 99, "currency": "EUR"}
    w.fail("insufficient_funds", cast.bank, "payments", "withdraw",
           {"account": cast.buyer, "currency": "EUR", "amount": 100})
    # Money in another currency does not count.
    w.fail("insufficient_funds", cast.buyer, "payments", "transfer",
           {"to": cast.seller, "currency": "USD", "amount": 1})


def test_unknown_accounts_currencies_and_self_transfers(cast: Cast) -> None:
    w = cast.w
    cast.fund(cast.buyer, 100)
    w.fail("not_found", cast.bank, "payments", "deposit",
           {"account": "did:sl:nobody", "currency": "EUR", "amount": 1})
    w.fail("not_found", cast.buyer, "payments", "transfer",
           {"to": "did:sl:nobody", "currency": "EUR", "amount": 1})
    w.fail("forbidden", cast.buyer, "payments", "transfer",
           {"to": cast.buyer, "currency": "EUR", "amount": 1})
    for ccy in ("eur", "EURO", "E1R", ""):
        err = w.fail("validation_error", cast.bank, "payments", "deposit",
                     {"account": cast.buyer, "currency": ccy, "amount": 1})
        assert err["details"]["arg"] == "currency"


def test_bank_references_are_recorded_with_the_movement(cast: Cast) -> None:
    w = cast.w
    w.ok(cast.bank, "payments", "deposit", {"account": cast.buyer, "currency": "EUR",
                                            "amount": 10, "reference": "SEPA-42"})
    etype, e = w.events[-1]
    assert etype == "payments.money"
    assert (e["src"], e["dst"], e["why"], e["ref"]) == ("external", cast.buyer, "deposit",
                                                       "SEPA-42")

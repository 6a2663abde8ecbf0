"""Review 11, payments rules v2: a withdrawal pays out the holder's signed instruction.

Under v1 a settlement participant could debit any account (the holder's instruction was
checked only off the ledger), so a bank, or a stolen bank key, could drain anyone. Under v2
the holder instructs (the amount is reserved in ``escrow:withdrawal:<id>``), the bank it
names pays it out once and at most the instructed amount, and the holder may cancel it
until then. v1 ledgers keep re-executing as they were decided."""

from __future__ import annotations

from typing import Any

import pytest

from supplyledger.contracts.builtin.payments import MAX_AMOUNT, read_supply
from supplyledger.ledger.crypto import generate

from .conftest import Cast, World
from .test_customs import _declared, customs_world
from .test_review11_orders import adopt


@pytest.fixture
def v2(cast: Cast) -> Cast:
    adopt(cast.w, "payments")
    cast.fund(cast.buyer, 10_000)
    return cast


def _instruct(c: Cast, iid: str = "w1", amount: int = 4_000, **extra: Any) -> Any:
    args = {"id": iid, "currency": "EUR", "amount": amount, "bank": c.bank, **extra}
    return c.w.ok(c.buyer, "payments", "instruct_withdrawal", args)


def test_a_bank_can_no_longer_debit_an_account_on_its_own_say_so(v2: Cast) -> None:
    w, c = v2.w, v2
    # The v1 call, which drained any account: refused, and nothing moves.
    err = w.fail("forbidden", c.bank, "payments", "withdraw",
                 {"account": c.buyer, "currency": "EUR", "amount": 10_000})
    assert err["details"] == {"arg": "instruction"}
    assert "instruction" in err["message"]
    assert w.balance(c.buyer) == 10_000 and read_supply(w.read, "EUR") == 10_000


def test_the_named_bank_pays_out_the_instruction_once(v2: Cast) -> None:
    w, c = v2.w, v2
    res = _instruct(c, reference="invoice 7")
    assert res == {"instruction": "w1", "state": "open", "reserved": 4_000, "balance": 6_000}
    # Reserved: the holder cannot spend it twice.
    w.fail("insufficient_funds", c.buyer, "payments", "transfer",
           {"to": c.seller, "currency": "EUR", "amount": 6_001})
    assert w.get("payments/x/withdrawal:w1")["amount"] == 4_000
    assert w.money_in_ledger("EUR") == read_supply(w.read, "EUR") == 10_000
    paid = w.ok(c.bank, "payments", "withdraw", {"instruction": "w1", "reference": "SEPA-9"})
    assert paid == {"instruction": "w1", "account": c.buyer, "currency": "EUR",
                    "amount": 4_000, "returned": 0, "balance": 6_000}
    assert read_supply(w.read, "EUR") == 6_000 == w.money_in_ledger("EUR")
    err = w.fail("invalid_state", c.bank, "payments", "withdraw", {"instruction": "w1"})
    assert err["details"] == {"current": "paid"}
    row = w.tables["withdrawals"][("w1",)]
    assert (row["state"], row["paid"], row["bank"], row["reference"]) == (
        "paid", 4_000, c.bank, "invoice 7")
    moves = [(e["src"], e["dst"], e["amount"], e["why"]) for t, e in w.events
             if t == "payments.money"][-2:]
    assert moves == [(c.buyer, "escrow:withdrawal:w1", 4_000, "withdrawal instruction"),
                     ("escrow:withdrawal:w1", "external", 4_000, "withdrawal")]


def test_a_partial_pay_out_closes_the_instruction_and_returns_the_rest(v2: Cast) -> None:
    w, c = v2.w, v2
    _instruct(c)
    err = w.fail("invalid_amount", c.bank, "payments", "withdraw",
                 {"instruction": "w1", "amount": 4_001})
    assert err["details"] == {"arg": "amount", "instructed": 4_000}
    res = w.ok(c.bank, "payments", "withdraw", {"instruction": "w1", "amount": 2_500})
    assert (res["amount"], res["returned"], res["balance"]) == (2_500, 1_500, 7_500)
    assert w.get("payments/x/withdrawal:w1")["amount"] == 0
    w.fail("invalid_state", c.bank, "payments", "withdraw", {"instruction": "w1", "amount": 1})
    assert read_supply(w.read, "EUR") == 7_500 == w.money_in_ledger("EUR")


def test_only_the_bank_named_pays_and_only_as_instructed(v2: Cast) -> None:
    w, c = v2.w, v2
    other_bank = w.participant("settlement")
    _instruct(c)
    err = w.fail("forbidden", other_bank, "payments", "withdraw", {"instruction": "w1"})
    assert err["details"] == {"bank": c.bank}
    w.fail("role_denied", c.seller, "payments", "withdraw", {"instruction": "w1"})
    w.fail("not_found", c.bank, "payments", "withdraw", {"instruction": "w9"})
    for key, value in (("account", c.seller), ("currency", "USD")):
        err = w.fail("validation_error", c.bank, "payments", "withdraw",
                     {"instruction": "w1", key: value})
        assert err["details"] == {"arg": key}
    # Naming the right account and currency is fine (a bank's software may send both).
    w.ok(c.bank, "payments", "withdraw",
         {"instruction": "w1", "account": c.buyer, "currency": "EUR", "amount": 4_000})


def test_an_organisation_as_bank_lets_any_of_its_settlement_members_pay(v2: Cast) -> None:
    w, c = v2.w, v2
    org = w.get(f"identity/p/{c.bank}")["org"]
    teller = w.participant("settlement")  # of another organisation
    _instruct(c, bank=org)
    w.fail("forbidden", teller, "payments", "withdraw", {"instruction": "w1"})
    w.ok(c.bank, "payments", "withdraw", {"instruction": "w1"})
    # An organisation without settlement members cannot be named.
    buyer_org = w.get(f"identity/p/{c.buyer}")["org"]
    for bank in (buyer_org, "no-such-org", c.seller, "did:sl:nobody"):
        err = w.fail("not_found", c.buyer, "payments", "instruct_withdrawal",
                     {"id": "w2", "currency": "EUR", "amount": 1, "bank": bank})
        assert "settlement" in err["message"]


def test_the_holder_may_cancel_until_it_is_paid(v2: Cast) -> None:
    w, c = v2.w, v2
    _instruct(c)
    for who in (c.bank, c.seller):
        w.fail("forbidden", who, "payments", "cancel_withdrawal", {"instruction": "w1"})
    res = w.ok(c.buyer, "payments", "cancel_withdrawal", {"instruction": "w1",
                                                          "reason": "changed my mind"})
    assert res == {"instruction": "w1", "state": "cancelled", "balance": 10_000}
    assert w.tables["withdrawals"][("w1",)]["state"] == "cancelled"
    err = w.fail("invalid_state", c.bank, "payments", "withdraw", {"instruction": "w1"})
    assert err["details"] == {"current": "cancelled"}
    w.fail("invalid_state", c.buyer, "payments", "cancel_withdrawal", {"instruction": "w1"})
    _instruct(c, "w2")
    w.ok(c.bank, "payments", "withdraw", {"instruction": "w2"})
    err = w.fail("invalid_state", c.buyer, "payments", "cancel_withdrawal",
                 {"instruction": "w2"})
    assert err["details"] == {"current": "paid"}
    w.fail("not_found", c.buyer, "payments", "cancel_withdrawal", {"instruction": "w9"})
    assert w.balance(c.buyer) == 6_000 and read_supply(w.read, "EUR") == 6_000


def test_only_the_holder_instructs_and_only_what_it_holds(v2: Cast) -> None:
    w, c = v2.w, v2
    err = w.fail("forbidden", c.bank, "payments", "instruct_withdrawal",
                 {"id": "w1", "currency": "EUR", "amount": 1, "bank": c.bank,
                  "account": c.buyer})
    assert err["details"] == {"account": c.buyer}
    err = w.fail("insufficient_funds", c.buyer, "payments", "instruct_withdrawal",
                 {"id": "w1", "currency": "EUR", "amount": 10_001, "bank": c.bank})
    assert err["details"] == {"needed": 10_001, "available": 10_000, "currency": "EUR"}
    for amount in (0, -1, MAX_AMOUNT + 1):
        w.fail("invalid_amount", c.buyer, "payments", "instruct_withdrawal",
               {"id": "w1", "currency": "EUR", "amount": amount, "bank": c.bank})
    _instruct(c, amount=1)
    w.fail("already_exists", c.buyer, "payments", "instruct_withdrawal",
           {"id": "w1", "currency": "EUR", "amount": 1, "bank": c.bank})


def test_an_authority_withdraws_its_duties_on_a_members_instruction(cast: Cast) -> None:
    # Duties cleared by customs land in the organisation's account org:<org>.
    cx = customs_world(cast)
    w, c = cx.w, cast
    adopt(w, "payments")
    due = _declared(cx)
    c.fund(c.seller, due)
    w.ok(c.seller, "customs", "pay", {"declaration": "d1"})
    acct = w.ok(cx.de2, "customs", "clear", {"declaration": "d1"})["account"]
    args = {"id": "duties-1", "currency": "EUR", "amount": due, "bank": c.bank,
            "account": acct}
    # Not another authority's officer, nor the bank, nor the trader who paid.
    for who in (cx.fr, c.bank, c.seller):
        w.fail("forbidden", who, "payments", "instruct_withdrawal", args)
    w.fail("forbidden", c.bank, "payments", "withdraw",
           {"account": acct, "currency": "EUR", "amount": due})
    w.ok(cx.de, "payments", "instruct_withdrawal", args)
    # Any member of the authority may hold it to account, e.g. cancel it.
    w.ok(cx.de2, "payments", "cancel_withdrawal", {"instruction": "duties-1"})
    w.ok(cx.de2, "payments", "instruct_withdrawal", {**args, "id": "duties-2"})
    w.ok(c.bank, "payments", "withdraw", {"instruction": "duties-2"})
    assert w.balance(acct) == 0 and read_supply(w.read, "EUR") == w.money_in_ledger("EUR")


def test_a_device_does_not_instruct_for_its_organisation() -> None:
    w = World()
    adopt(w, "payments")
    bank = w.participant("settlement")
    w.ok(w.admin, "identity", "register_org",
         {"id": "maker", "name": "Maker", "roles": ["manufacturer", "device"]})
    did = {}
    for role in ("manufacturer", "device"):
        did[role] = w.ok(w.admin, "identity", "register_member", {
            "org": "maker", "public_key": generate("ed25519").public.b64, "name": role,
            "roles": [role]})["did"]
    args = {"id": "w1", "currency": "EUR", "amount": 1, "bank": bank, "account": "org:maker"}
    err = w.fail("forbidden", did["device"], "payments", "instruct_withdrawal", args)
    assert err["details"] == {"account": "org:maker"}
    # The manufacturer passes the holder check (the account is merely empty).
    w.fail("insufficient_funds", did["manufacturer"], "payments", "instruct_withdrawal", args)


def test_v1_ledgers_keep_the_banks_withdrawal_without_instruction(cast: Cast) -> None:
    """A ledger that has not adopted payments v2 re-executes as it was decided: the bank
    debits any account, and the instruction methods, which v1 lacks, change nothing."""
    w, c = cast.w, cast
    assert w.get("rules/v/payments") is None  # runs v1
    c.fund(c.buyer, 1_000)
    res = w.ok(c.bank, "payments", "withdraw",
               {"account": c.buyer, "currency": "EUR", "amount": 400, "reference": "r"})
    assert res == {"account": c.buyer, "currency": "EUR", "balance": 600}
    err = w.fail("invalid_state", c.buyer, "payments", "instruct_withdrawal",
                 {"id": "w1", "currency": "EUR", "amount": 1, "bank": c.bank})
    assert err["details"] == {"current": "rules v1"} and "rules.adopt" in err["message"]
    w.fail("invalid_state", c.buyer, "payments", "cancel_withdrawal", {"instruction": "w1"})
    # v1's withdraw takes v1's arguments, as its schema did.
    err = w.fail("validation_error", c.bank, "payments", "withdraw", {"instruction": "w1"})
    assert err["message"] == "unexpected argument instruction"
    for missing in ("account", "currency", "amount"):
        args = {"account": c.buyer, "currency": "EUR", "amount": 1}
        del args[missing]
        err = w.fail("validation_error", c.bank, "payments", "withdraw", args)
        assert err["message"] == f"missing argument {missing}"
    assert read_supply(w.read, "EUR") == 600 == w.money_in_ledger("EUR")

"""Review 11, money: currencies are ISO 4217 codes (payments, orders and fx rules v2), and
the throughput experiment shows the paper's equations without rounding twice."""

from __future__ import annotations

import io
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from supplyledger.bench.throughput import paper_figures
from supplyledger.cli.experiment_throughput import render
from supplyledger.contracts.builtin.payments import ISO_4217

from .conftest import DAY, World
from .test_review11_orders import adopt

CODES = st.one_of(st.sampled_from(sorted(ISO_4217)),
                  st.text(alphabet=string.ascii_uppercase, min_size=3, max_size=3))


@pytest.fixture(scope="module")
def bank_world() -> tuple[World, str, str]:
    """One ledger for every example: a refused call changes nothing (World.fail checks)."""
    w = World()
    adopt(w, "orders", "payments", "fx")
    return w, w.participant("settlement"), w.participant("customer")


@settings(max_examples=150, deadline=None)
@given(code=CODES)
def test_money_exists_only_in_iso_4217_currencies(bank_world: tuple[World, str, str],
                                                  code: str) -> None:
    w, bank, buyer = bank_world
    args = {"account": buyer, "currency": code, "amount": 100}
    if code in ISO_4217:
        w.ok(bank, "payments", "deposit", args)
        assert w.balance(buyer, code) >= 100
        return
    err = w.fail("validation_error", bank, "payments", "deposit", args)
    assert err["details"] == {"arg": "currency", "value": code}
    assert "ISO 4217" in err["message"]


@pytest.mark.parametrize("code", ["ZZZ", "XXX", "XTS", "XAU", "ABC"])
def test_no_method_takes_a_made_up_currency(code: str) -> None:
    w = World()
    adopt(w, "orders", "payments", "fx")
    bank, buyer, seller = (w.participant("settlement"), w.participant("customer"),
                           w.participant("manufacturer"))
    w.ok(bank, "payments", "deposit", {"account": buyer, "currency": "EUR", "amount": 10**6})
    w.fail("validation_error", buyer, "payments", "transfer",
           {"to": seller, "currency": code, "amount": 1})
    batch = w.batch(seller, 1)
    err = w.fail("validation_error", buyer, "orders", "place", {
        "id": "o1", "seller": seller, "batch": batch, "quantity": 1, "unit_price": 100,
        "freight": 0, "currency": code, "earliest": w.time, "latest": w.time + DAY})
    assert err["details"]["arg"] == "currency"  # not "insufficient funds"
    for pay, get in ((code, "EUR"), ("EUR", code)):
        w.fail("validation_error", bank, "fx", "quote",
               {"pay": pay, "get": get, "rate": 10**9, "until": w.time + DAY})
        w.fail("validation_error", buyer, "fx", "exchange", {
            "dealer": bank, "pay": pay, "amount": 100, "get": get, "min_get": 1})


def test_v1_ledgers_keep_taking_any_three_capitals() -> None:
    # Re-executing a v1 ledger must decide as it did: its deposits stand.
    w = World()
    bank, buyer = w.participant("settlement"), w.participant("customer")
    w.ok(bank, "payments", "deposit", {"account": buyer, "currency": "ZZZ", "amount": 5})
    adopt(w, "payments")
    # After the adoption such money can only leave the ledger (on the holder's instruction).
    w.fail("validation_error", buyer, "payments", "transfer",
           {"to": bank, "currency": "ZZZ", "amount": 5})
    w.ok(buyer, "payments", "instruct_withdrawal",
         {"id": "w1", "currency": "ZZZ", "amount": 5, "bank": bank})
    w.ok(bank, "payments", "withdraw", {"instruction": "w1"})
    assert w.balance(buyer, "ZZZ") == 0


def test_the_experiment_shows_the_papers_tables_by_its_equations() -> None:
    paper = paper_figures()
    eq = paper["by_equations"]
    # 16.91504 tx/s: kept as 16.915 it would have been printed as 16.91.
    assert eq["throughput_tps"] == {"baseline": 16.915035, "rsa": 16.234906}
    assert eq["latency_s"] == {"baseline": 0.00151, "rsa": 0.004017}
    assert eq["overhead_pct"] == 4.19
    run = {"n": 100, "submission_s": 1.0, "execution_s": 2.0, "trial": 1}
    res = {"runs": [{**run, "rsa": False}, {**run, "rsa": True}], "paper": paper,
           "throughput_tps": {"baseline": 50.0, "rsa": 50.0},
           "latency_s": {"baseline": 0.01, "rsa": 0.01}, "overhead_pct": 0.0}
    out = io.StringIO()
    console = Console(file=out, width=200)
    for table in render(res):
        console.print(table)
    text = out.getvalue()
    assert "16.92" in text and "16.91" not in text
    assert "0.00151" in text and "0.00402" in text and "4.19" in text

"""Review 11 on a real embedded node (SQLite): a new ledger runs payments rules v2, so the
bank pays out only what a holder instructed, the instruction is listed in ``withdrawals``,
and the ledger audits clean."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest

from supplyledger.bench import consortium
from supplyledger.bench.consortium import Consortium
from supplyledger.contracts.registry import load_builtin
from supplyledger.errors import Forbidden, InvalidState
from supplyledger.node.audit import run_audit
from supplyledger.node.bootstrap import init_ledger

PARTIES = (("bank", "settlement"), ("shop", "customer"), ("maker", "manufacturer"),
           ("fin", "financier"))


@pytest.fixture
def c(tmp_path: Path) -> Iterator[Consortium]:
    with Consortium(tmp_path / "ledger", chain="commerce") as cons:
        for org, role in PARTIES:
            cons.org(org, [role])
            cons.member(org, org, [role])
        yield cons


def test_a_new_ledger_pays_out_only_what_the_holder_instructed(c: Consortium) -> None:
    bank, shop = c.parties["bank"], c.parties["shop"]
    c.ok(bank, "payments", "deposit", {"account": shop.did, "currency": "EUR",
                                       "amount": 10_000})
    with pytest.raises(Forbidden, match="instruction"):
        c.ok(bank, "payments", "withdraw", {"account": shop.did, "currency": "EUR",
                                            "amount": 10_000})
    c.ok(shop, "payments", "instruct_withdrawal",
         {"id": "w-1", "currency": "EUR", "amount": 4_000, "bank": "bank"})
    res = c.ok(bank, "payments", "withdraw", {"instruction": "w-1", "amount": 3_000,
                                              "reference": "SEPA-1"})
    assert (res["amount"], res["returned"], res["balance"]) == (3_000, 1_000, 7_000)
    with pytest.raises(InvalidState):
        c.ok(bank, "payments", "withdraw", {"instruction": "w-1"})
    assert c.rows("SELECT id, account, state, amount, paid, bank FROM withdrawals") == [
        ("w-1", shop.did, "paid", 4_000, 3_000, "bank")]
    bal = dict(c.rows("SELECT account, balance FROM balances WHERE currency='EUR'"))
    assert bal == {shop.did: 7_000, "escrow:withdrawal:w-1": 0}
    report = run_audit(c.dir)
    assert report.ok, report.findings[:3]
    assert "withdrawals" not in {u["table"] for u in report.uncovered_tables}


def test_a_v1_ledger_keeps_its_history_and_adopts_the_instructions(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ledger made before payments v2 (its genesis names no payments rules): the bank's
    withdrawal without instruction stands as decided; after ``rules.adopt`` it is refused,
    and the audit re-executes both eras with this code."""
    v1 = {n: replace(k, versions=(1,)) if n == "payments" else k
          for n, k in load_builtin().items()}
    monkeypatch.setattr(consortium, "init_ledger", partial(init_ledger, contracts=v1))
    with Consortium(tmp_path / "ledger", chain="commerce") as c:
        for org, role in PARTIES[:2]:
            c.org(org, [role])
            c.member(org, org, [role])
        bank, shop = c.parties["bank"], c.parties["shop"]
        c.ok(bank, "payments", "deposit", {"account": shop.did, "currency": "EUR",
                                           "amount": 1_000})
        c.ok(bank, "payments", "withdraw", {"account": shop.did, "currency": "EUR",
                                            "amount": 100})
        with pytest.raises(InvalidState, match="rules v2"):
            c.ok(shop, "payments", "instruct_withdrawal",
                 {"id": "w-1", "currency": "EUR", "amount": 100, "bank": "bank"})
        c.ok(c.admin, "rules", "adopt", {"contract": "payments", "version": 2})
        with pytest.raises(Forbidden):
            c.ok(bank, "payments", "withdraw", {"account": shop.did, "currency": "EUR",
                                                "amount": 100})
        c.ok(shop, "payments", "instruct_withdrawal",
             {"id": "w-1", "currency": "EUR", "amount": 100, "bank": bank.did})
        assert c.ok(bank, "payments", "withdraw", {"instruction": "w-1"})["balance"] == 800
    report = run_audit(c.dir)
    assert report.ok, report.findings[:3]

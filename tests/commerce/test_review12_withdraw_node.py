"""Review 12 on a real embedded node (SQLite): a new ledger runs payments rules v3, so a
revoked holder's open withdrawal instruction is no longer paid out; a consortium admin
cancels it, the reservation returns to the account, and the ledger audits clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from supplyledger.bench.consortium import Consortium
from supplyledger.errors import Forbidden, InvalidState
from supplyledger.node.audit import run_audit


def test_a_revoked_holders_instruction_is_not_paid_out(tmp_path: Path) -> None:
    with Consortium(tmp_path / "ledger", chain="commerce") as c:
        for org, role in (("bank", "settlement"), ("shop", "customer")):
            c.org(org, [role])
            c.member(org, org, [role])
        bank, shop = c.parties["bank"], c.parties["shop"]
        c.ok(bank, "payments", "deposit", {"account": shop.did, "currency": "EUR",
                                           "amount": 10_000})
        c.ok(shop, "payments", "instruct_withdrawal",
             {"id": "w-1", "currency": "EUR", "amount": 4_000, "bank": "bank"})
        c.ok(c.admin, "identity", "revoke", {"did": shop.did, "reason": "key stolen"})
        with pytest.raises(InvalidState, match="lapsed") as lapsed:
            c.ok(bank, "payments", "withdraw", {"instruction": "w-1"})
        assert lapsed.value.details == {"current": "lapsed", "instructed_by": shop.did}
        with pytest.raises(Forbidden):
            c.ok(bank, "payments", "cancel_withdrawal", {"instruction": "w-1"})
        res = c.ok(c.admin, "payments", "cancel_withdrawal",
                   {"instruction": "w-1", "reason": "holder revoked"})
        assert res == {"instruction": "w-1", "state": "cancelled", "balance": 10_000}
    assert c.rows("SELECT id, state, paid FROM withdrawals") == [("w-1", "cancelled", 0)]
    bal = dict(c.rows("SELECT account, balance FROM balances WHERE currency='EUR'"))
    assert bal == {shop.did: 10_000, "escrow:withdrawal:w-1": 0}
    # (payments v4 and v5, newer than this test, change only the words of a refused
    # cancellation and refuse stateless errors before execution)
    assert c.rows("SELECT version FROM rules_adopted WHERE contract='payments'") == [(5,)]
    report = run_audit(c.dir)
    assert report.ok, report.findings[:3]

"""Review 12 on a real embedded node (SQLite): a revoked shop's money, stranded after the
admin cancelled its lapsed withdrawal instruction, is handed over (payments rules v3) to
the shop's organisation and to the member registered again under a new key, who spends
it; the query tables show it and the ledger audits clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from supplyledger.bench.consortium import Consortium
from supplyledger.errors import InvalidState, RevokedKey
from supplyledger.node.audit import run_audit


def test_a_revoked_shops_money_goes_to_its_successors(tmp_path: Path) -> None:
    with Consortium(tmp_path / "ledger", chain="commerce") as c:
        for org, role in (("bank", "settlement"), ("shop", "customer")):
            c.org(org, [role])
            c.member(org, org, [role])
        bank, shop = c.parties["bank"], c.parties["shop"]
        for ccy, amount in (("EUR", 10_000), ("USD", 700)):
            c.ok(bank, "payments", "deposit", {"account": shop.did, "currency": ccy,
                                               "amount": amount})
        c.ok(shop, "payments", "instruct_withdrawal",
             {"id": "w-1", "currency": "EUR", "amount": 4_000, "bank": "bank"})
        c.ok(c.admin, "identity", "revoke", {"did": shop.did, "reason": "key stolen"})
        with pytest.raises(RevokedKey):
            c.ok(shop, "payments", "transfer", {"to": bank.did, "currency": "EUR",
                                                "amount": 1})
        heir = c.member("shop-2", "shop", ["customer"])
        why = {"reason": "key stolen; the shop registered a new key"}
        with pytest.raises(InvalidState, match="cancel them first") as still_open:
            c.ok(c.admin, "payments", "hand_over_balance",
                 {"account": shop.did, "to": heir.did, **why})
        assert still_open.value.details == {"current": "open_instructions",
                                            "instructions": ["w-1"]}
        c.ok(c.admin, "payments", "cancel_withdrawal", {"instruction": "w-1"})
        assert c.ok(c.admin, "payments", "hand_over_balance",
                    {"account": shop.did, "to": "org:shop", "currency": "USD", **why}) == {
            "account": shop.did, "to": "org:shop", "handed_over": {"USD": 700}}
        assert c.ok(c.admin, "payments", "hand_over_balance",
                    {"account": shop.did, "to": heir.did, **why})["handed_over"] == {
            "EUR": 10_000}
        c.ok(heir, "payments", "instruct_withdrawal",
             {"id": "w-2", "currency": "EUR", "amount": 6_000, "bank": "bank"})
        assert c.ok(bank, "payments", "withdraw", {"instruction": "w-2"})["balance"] == 4_000
    bal = {(a, ccy): b for a, ccy, b in c.rows("SELECT account, currency, balance "
                                               "FROM balances")}
    assert bal == {(shop.did, "EUR"): 0, (shop.did, "USD"): 0, ("org:shop", "USD"): 700,
                   (heir.did, "EUR"): 4_000, ("escrow:withdrawal:w-1", "EUR"): 0,
                   ("escrow:withdrawal:w-2", "EUR"): 0}
    assert c.rows("SELECT id, state FROM withdrawals ORDER BY id") == [
        ("w-1", "cancelled"), ("w-2", "paid")]
    report = run_audit(c.dir)
    assert report.ok, report.findings[:3]

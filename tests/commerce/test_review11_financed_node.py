"""Review 11 on a real embedded node (SQLite): a new ledger runs orders rules v2, so a
buyer's cancellation of a financed order repays the financier from the seller's balance,
shown in ``financing`` and ``balances``; the ledger audits clean."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from supplyledger.bench.consortium import Consortium
from supplyledger.gs1 import gtin_check_digit
from supplyledger.node.audit import run_audit

from .test_review11_withdraw_node import PARTIES

DAY = 86_400_000


@pytest.fixture
def c(tmp_path: Path) -> Iterator[Consortium]:
    with Consortium(tmp_path / "ledger", chain="commerce") as cons:
        for org, role in PARTIES:
            cons.org(org, [role])
            cons.member(org, org, [role])
        yield cons


def test_a_new_ledger_repays_a_financier_when_the_buyer_cancels(c: Consortium) -> None:
    bank, shop, maker, fin = (c.parties[n] for n in ("bank", "shop", "maker", "fin"))
    for who, amount in ((shop, 20_000), (fin, 10_000)):
        c.ok(bank, "payments", "deposit", {"account": who.did, "currency": "EUR",
                                           "amount": amount})
    body = "400638000001"
    gtin = body + str(gtin_check_digit(body))
    c.ok(maker, "products", "create_product", {"gtin": gtin, "name": "flour"})
    batch = c.ok(maker, "products", "create_batch", {"gtin": gtin, "lot": "L1"})["batch"]
    c.ok(maker, "products", "declare_for_sale", {"id": batch})
    now = c.clock()
    c.ok(shop, "orders", "place", {
        "id": "o-1", "seller": maker.did, "batch": batch, "quantity": 10, "unit_price": 1000,
        "freight": 500, "currency": "EUR", "earliest": now, "latest": now + DAY})
    c.ok(maker, "credit", "request_financing",
         {"order": "o-1", "financier": fin.did, "amount": 9_000, "repay": 9_000})
    c.ok(fin, "credit", "decide", {"order": "o-1", "approve": True})
    res = c.ok(shop, "orders", "cancel", {"order": "o-1", "reason": "ordered twice"})
    assert res["financing"] == {"state": "repaid", "repaid": 9_000, "recovered": 9_000}
    assert c.rows("SELECT state, repaid, recovered FROM financing") == [
        ("repaid", 9_000, 9_000)]
    bal = dict(c.rows("SELECT account, balance FROM balances WHERE currency='EUR'"))
    assert (bal[shop.did], bal[maker.did], bal[fin.did]) == (20_000, 0, 10_000)
    report = run_audit(c.dir)
    assert report.ok, report.findings[:3]

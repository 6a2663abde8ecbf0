"""Commerce through the real node: signed transactions, blocks, projections in SQLite, and
an audit that rebuilds every table (including the custody rows orders project) clean."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supplyledger.ledger.crypto import PrivateKey, generate
from supplyledger.ledger.keyfile import KdfParams
from supplyledger.ledger.tx import make_tx
from supplyledger.node.audit import run_audit
from supplyledger.node.bootstrap import init_ledger
from supplyledger.node.service import Node
from supplyledger.node.settings import Settings
from supplyledger.store.sqlite import DB_NAME

from .conftest import T0, gtin

ROLES = {"bank": "settlement", "buyer": "customer", "seller": "manufacturer",
         "carrier": "transporter", "arbiter": "arbiter", "financier": "financier"}


class Net:
    def __init__(self, d: Path) -> None:
        self.dir = d
        self.admin = generate("ed25519")
        self.node_key = generate("rsa")
        self.keys: dict[str, PrivateKey] = {n: generate("ed25519") for n in ROLES}
        init_ledger(d, chain="commerce", time_ms=T0, node_password="pw",
                    admins=[("admin", self.admin, None)], node_key=self.node_key,
                    kdf=KdfParams(n=2**10))
        self.node = Node(Settings(d, verify_workers=0), self.node_key, clock=lambda: T0).start()
        self.n = 0

    def did(self, name: str) -> str:
        return self.keys[name].did

    def run(self, who: str, contract: str, method: str, args: dict[str, Any]) -> Any:
        self.n += 1
        key = self.admin if who == "admin" else self.keys[who]
        raw = make_tx(key, chain="commerce", contract=contract, method=method, args=args,
                      time_ms=T0, nonce=self.n).raw
        r = self.node.submit(raw).result(timeout=30)
        assert r.ok, (method, r.error)
        return r.result

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(f"file:{self.dir / DB_NAME}?mode=ro", uri=True)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    n = Net(tmp_path_factory.mktemp("commerce") / "ledger")
    for name, role in ROLES.items():
        n.run("admin", "identity", "register_org", {"id": name, "name": name, "roles": [role]})
        n.run("admin", "identity", "register_member", {
            "org": name, "public_key": n.keys[name].public.b64, "name": name, "roles": [role]})
    n.run("seller", "products", "create_product", {"gtin": gtin(1), "name": "flour"})
    n.run("bank", "payments", "deposit",
          {"account": n.did("buyer"), "currency": "EUR", "amount": 100_000})
    n.run("bank", "payments", "deposit",
          {"account": n.did("financier"), "currency": "EUR", "amount": 50_000})
    batches = []
    for lot in ("A", "B", "C", "D"):
        b = n.run("seller", "products", "create_batch", {"gtin": gtin(1), "lot": lot})["batch"]
        n.run("seller", "products", "declare_for_sale", {"id": b})
        batches.append(b)
    for i, b in enumerate(batches):
        oid = f"ord-{i}"
        n.run("buyer", "orders", "place", {
            "id": oid, "seller": n.did("seller"), "batch": b, "quantity": 5,
            "unit_price": 2_000, "freight": 400, "currency": "EUR", "earliest": T0,
            "latest": T0 + 86_400_000})
        n.run("seller", "orders", "dispatch", {"order": oid, "transporter": n.did("carrier"),
                                               "transport_no": f"TN-{i}", "batch": b})
        n.run("carrier", "orders", "pickup", {"order": oid})
        n.run("carrier", "orders", "deliver", {"order": oid})
    # ord-0 paid on confirmation, financed; ord-1 disputed and split; ord-2 returned.
    n.run("seller", "credit", "request_financing", {
        "order": "ord-0", "financier": n.did("financier"), "amount": 8_000, "repay": 8_200})
    n.run("financier", "credit", "decide", {"order": "ord-0", "approve": True})
    n.run("buyer", "orders", "confirm", {"order": "ord-0"})
    n.run("buyer", "ratings", "rate", {"order": "ord-0", "score": 5, "transporter_score": 4})
    n.run("buyer", "orders", "dispute", {"order": "ord-1", "reason": "2 bags torn"})
    n.run("arbiter", "orders", "resolve", {"order": "ord-1", "refund": 4_000,
                                           "freight_paid": 400, "at_fault": "seller",
                                           "ownership": "buyer"})
    n.run("buyer", "orders", "request_return", {"order": "ord-2", "reason": "wrong type"})
    n.run("seller", "orders", "receive_return", {"order": "ord-2"})
    n.run("financier", "credit", "assess", {"subject": n.did("seller")})
    n.node.stop()
    yield n


def test_projections_show_the_commerce(net: Net) -> None:
    buyer, seller = net.did("buyer"), net.did("seller")
    states = dict(net.rows("SELECT id, state FROM orders"))
    assert states == {"ord-0": "completed", "ord-1": "resolved", "ord-2": "returned",
                      "ord-3": "delivered"}
    balances = dict(net.rows("SELECT account, balance FROM balances WHERE currency='EUR'"))
    # Buyer: 100_000 - 4 x 10_400 + refunds 4_000 (ruling) + 10_000 (return).
    assert balances[buyer] == 100_000 - 41_600 + 4_000 + 10_000
    # Seller: advance 8_000 + (10_000 - 8_200 repaid) + 6_000 from the ruling.
    assert balances[seller] == 8_000 + 1_800 + 6_000
    assert balances[net.did("financier")] == 50_000 + 200
    assert balances[net.did("carrier")] == 3 * 400
    assert balances["escrow:orders:ord-3"] == 10_400 and balances["escrow:orders:ord-0"] == 0
    owners = dict(net.rows("SELECT batch, owner FROM custody_holdings"))
    assert sorted(owners.values()) == sorted([buyer, buyer, seller, seller])
    hist = net.rows("SELECT kind, frm, to_ FROM custody_history h JOIN order_events e "
                    "ON h.tx = e.tx WHERE e.order_id='ord-0' ORDER BY h.height")
    assert hist == [("custody", seller, net.did("carrier")), ("custody", net.did("carrier"),
                                                             buyer), ("ownership", seller, buyer)]
    assert net.rows("SELECT state, repaid FROM financing") == [("repaid", 8_200)]
    assert net.rows("SELECT role, ratings, average FROM satisfaction ORDER BY role") == [
        ("seller", 1, "5.00"), ("transporter", 1, "4.00")]
    score = net.rows("SELECT score, grade FROM credit_assessments")
    assert len(score) == 1 and score[0][1] in "ABCD"


def test_audit_rebuilds_everything_clean(net: Net) -> None:
    report = run_audit(net.dir)
    assert report.ok, report.findings[:3]
    covered = {"orders", "order_events", "balances", "ratings", "satisfaction",
               "credit_assessments", "financing", "custody_holdings", "custody_history"}
    assert covered.isdisjoint(u["table"] for u in report.uncovered_tables)

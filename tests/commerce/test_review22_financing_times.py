"""Review 22: the ``financing`` table says when a request was made, answered and settled
(``requested_at``, ``decided_at``, ``settled_at``: the transactions' times, epoch ms), on a
real embedded node; a ledger whose table was built before those columns existed is rebuilt
with them when a node opens it, and audits clean; the web shows them as dates to the
financier and the seller."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _serving import DemoServed as Served
from _serving import demo_fixture
from api.conftest import CHEAP
from supplyledger.bench.consortium import Consortium
from supplyledger.contracts.builtin.credit import FINANCING
from supplyledger.gs1 import gtin_check_digit
from supplyledger.node.audit import run_audit
from supplyledger.node.service import Node
from supplyledger.node.settings import Settings
from supplyledger.store.sqlite import DB_NAME
from web.test_review21_demo_financing import _open_order

from .test_review11_withdraw_node import PARTIES

NOW = 1_795_132_800_000  # 2026-11-20T00:00:00Z
H = 3_600_000
DAY = 24 * H
TIMES = ("requested_at", "decided_at", "settled_at")


class Clock:
    def __init__(self, t: int) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


@pytest.fixture
def c(tmp_path: Path) -> Iterator[Consortium]:
    with Consortium(tmp_path / "ledger", chain="commerce", clock=Clock(NOW)) as cons:
        for org, role in PARTIES:
            cons.org(org, [role])
            cons.member(org, org, [role])
        bank, shop, fin = (cons.parties[n] for n in ("bank", "shop", "fin"))
        for who, amount in ((shop, 50_000), (fin, 20_000)):
            cons.ok(bank, "payments", "deposit", {"account": who.did, "currency": "EUR",
                                                  "amount": amount})
        yield cons


def _at(c: Consortium, t: int) -> None:
    c.clock.t = t  # type: ignore[attr-defined]


def _order(c: Consortium, oid: str) -> None:
    maker, shop = c.parties["maker"], c.parties["shop"]
    body = "400638000001"
    gtin = body + str(gtin_check_digit(body))
    if not c.rows("SELECT 1 FROM products WHERE gtin = ?", gtin):
        c.ok(maker, "products", "create_product", {"gtin": gtin, "name": "flour"})
    batch = c.ok(maker, "products", "create_batch", {"gtin": gtin, "lot": oid})["batch"]
    c.ok(maker, "products", "declare_for_sale", {"id": batch})
    now = c.clock()
    c.ok(shop, "orders", "place", {
        "id": oid, "seller": maker.did, "batch": batch, "quantity": 10, "unit_price": 1000,
        "freight": 500, "currency": "EUR", "earliest": now, "latest": now + DAY})


def _times(c: Consortium, oid: str) -> tuple[Any, ...]:
    [row] = c.rows("SELECT state, requested_at, decided_at, settled_at FROM financing "
                   "WHERE order_id = ?", oid)
    return tuple(row)


def _ask(c: Consortium, oid: str) -> None:
    c.ok(c.parties["maker"], "credit", "request_financing", {
        "order": oid, "financier": c.parties["fin"].did, "amount": 8_000, "repay": 8_000})


def test_each_step_of_a_financing_is_timed_by_its_transaction(c: Consortium) -> None:
    fin, shop = c.parties["fin"], c.parties["shop"]
    _order(c, "o-1")
    _at(c, NOW + 1 * H)
    _ask(c, "o-1")
    assert _times(c, "o-1") == ("requested", NOW + H, None, None)
    _at(c, NOW + 2 * H)
    c.ok(fin, "credit", "decide", {"order": "o-1", "approve": False, "reason": "not yet"})
    assert _times(c, "o-1") == ("declined", NOW + H, NOW + 2 * H, None)
    # A new request after a declined one starts the row afresh: no answer yet.
    _at(c, NOW + 3 * H)
    _ask(c, "o-1")
    assert _times(c, "o-1") == ("requested", NOW + 3 * H, None, None)
    _at(c, NOW + 4 * H)
    c.ok(fin, "credit", "decide", {"order": "o-1", "approve": True})
    _at(c, NOW + 5 * H)
    res = c.ok(shop, "orders", "cancel", {"order": "o-1", "reason": "ordered twice"})
    assert res["financing"]["state"] == "repaid"
    assert _times(c, "o-1") == ("repaid", NOW + 3 * H, NOW + 4 * H, NOW + 5 * H)
    [(settled_tx,)] = c.rows("SELECT settled_tx FROM financing")
    assert settled_tx is not None
    report = run_audit(c.dir, workers=0)
    assert report.ok, report.findings[:3]


def test_a_withdrawal_times_the_answer_and_nothing_settles(c: Consortium) -> None:
    _order(c, "o-2")
    _at(c, NOW + H)
    _ask(c, "o-2")
    _at(c, NOW + 90 * 60_000)
    c.ok(c.parties["maker"], "credit", "withdraw_request", {"order": "o-2"})
    assert _times(c, "o-2") == ("withdrawn", NOW + H, NOW + 90 * 60_000, None)


def test_a_table_built_before_the_times_is_rebuilt_with_them_on_open(
        c: Consortium, tmp_path: Path) -> None:
    _order(c, "o-3")
    _at(c, NOW + H)
    _ask(c, "o-3")
    _at(c, NOW + 2 * H)
    c.ok(c.parties["fin"], "credit", "decide", {"order": "o-3", "approve": True})
    c.stop()
    d = tmp_path / "before"
    shutil.copytree(c.dir, d)
    # The table as the release before these columns built it, and its recorded schema.
    assert FINANCING.column_names[-3:] == TIMES
    before = dataclasses.replace(FINANCING, columns=FINANCING.columns[:-3])
    conn = sqlite3.connect(d / DB_NAME)
    with conn:
        for col in TIMES:
            conn.execute(f"ALTER TABLE financing DROP COLUMN {col}")
        conn.execute("UPDATE projection_schema SET hash = ? WHERE name = 'financing'",
                     (before.schema_hash,))
    conn.close()
    report = run_audit(d, workers=0)
    assert [(f.kind, f.table) for f in report.findings] == [("projection_schema", "financing")]
    with Node(Settings(d, verify_workers=0), c.node_key, clock=c.clock):
        pass  # opening rebuilds the table from the blocks
    conn = sqlite3.connect(d / DB_NAME)
    try:
        row = conn.execute("SELECT state, requested_at, decided_at, settled_at FROM financing "
                           "WHERE order_id = 'o-3'").fetchone()
        [(recorded,)] = conn.execute("SELECT hash FROM projection_schema WHERE "
                                     "name = 'financing'").fetchall()
    finally:
        conn.close()
    assert tuple(row) == ("approved", NOW + H, NOW + 2 * H, None)
    assert recorded == FINANCING.schema_hash
    report = run_audit(d, workers=0)
    assert report.ok, report.findings[:3]


# -- the web: the financier's and the seller's financing rows show the times as dates ------

served = demo_fixture("financing22", weeks=1, api=CHEAP)


def _cells(page: str, value: int) -> int:
    """Time tags of epoch ms ``value``: the instant in ``datetime``, its UTC second shown."""
    at = dt.datetime.fromtimestamp(value // 1000, dt.UTC)
    millis = f".{value % 1000:03d}" if value % 1000 else ""
    return page.count(f'<time datetime="{at:%Y-%m-%dT%H:%M:%S}{millis}Z" '
                      f'title="{at:%Y-%m-%d %H:%M:%S} UTC">')


def test_both_parties_see_when_a_financing_was_asked_answered_and_settled(
        served: Served) -> None:
    order, _ = _open_order(served)
    oid, goods = str(order["id"]), int(order["unit_price"]) * int(order["quantity"])
    with served.api("supplier-a") as seller:
        r = seller.post("/api/contracts/credit/request_financing", json={
            "order": oid, "financier": served.did("financier"), "amount": goods // 2,
            "repay": goods // 2})
        assert r.status_code == 200, r.text
    with served.api("financier") as api:
        r = api.post("/api/contracts/credit/decide", json={"order": oid, "approve": True})
        assert r.status_code == 200, r.text
    with served.api("customer") as buyer:
        r = buyer.post("/api/contracts/orders/cancel", json={"order": oid,
                                                             "reason": "changed my mind"})
        assert r.status_code == 200, r.text
    [row] = served.service.reads.rows("financing", 1, None, {"order_id": oid}).items
    assert row["state"] == "repaid"
    times = [row[c] for c in TIMES]
    assert all(isinstance(t, int) for t in times) and times == sorted(times), times
    with served.api("financier") as api:  # the REST listing carries them as stored
        [listed] = api.get("/api/tables/financing", params={"order_id": oid}).json()["items"]
        assert [listed[c] for c in TIMES] == times
    for login in ("financier", "supplier-a"):
        with served.web(login) as web:
            area = web.get("/area/orders").text
            table = web.get("/tables/financing", params={"order_id": oid}).text
        for page in (area, table):
            assert "Requested at" in page and "Settled at" in page, login
            for t in times:  # each a date, its UTC instant in the tag
                assert _cells(page, t) >= 1, (login, t)

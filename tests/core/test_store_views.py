"""store/views.py: the read models behind the dashboard, the trace page and the event form,
checked on real ledgers (embedded node) against what the test itself did: every call's
contract, outcome and day are logged as they are made, so the expected figures never come
from SQL. A genesis-only ledger gives the empty cases."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from supplyledger.api.web.dashboard import Dashboard
from supplyledger.bench.consortium import Consortium, Party
from supplyledger.bench.flourmill import gtin, object_event
from supplyledger.contracts.registry import all_tables, load_builtin
from supplyledger.ledger.crypto import PrivateKey
from supplyledger.node.receipts import Receipt
from supplyledger.store import views
from supplyledger.store.sqlite import SQLiteStore

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, the start of a UTC day
DAY = 86_400_000
WHEAT, RYE = gtin("690123400001"), gtin("690123400002")


class Clock:
    def __init__(self, t: int) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


class LoggedConsortium(Consortium):
    """Each call one second after the last, logged as (contract, ok, error code, day)."""

    def __init__(self, data_dir: Path) -> None:
        self.log: list[tuple[str, bool, str | None, int]] = []
        self.tick = Clock(T0)
        super().__init__(data_dir, clock=self.tick)

    def call(self, who: Party | PrivateKey, contract: str, method: str,
             args: dict[str, Any]) -> Receipt:
        self.tick.t += 1000
        r = super().call(who, contract, method, args)
        self.log.append((contract, r.ok, (r.error or {}).get("code"), self.tick.t // DAY))
        return r

    def fails(self, code: str, who: Party, contract: str, method: str,
              args: dict[str, Any]) -> None:
        r = self.call(who, contract, method, args)
        assert not r.ok and (r.error or {}).get("code") == code, r


@dataclass
class Chain:
    c: LoggedConsortium
    conn: sqlite3.Connection
    batches: list[str]  # wheat W1, wheat W2, rye R1
    baseline: dict[str, int]  # ledger_totals of the same ledger at genesis


def _event(c: LoggedConsortium, who: Party, batch: str, step: str, disp: str) -> None:
    c.ok(who, "trace", "record_event",
         {"batch": batch, "event": object_event("2026-01-03T08:00:00.000+00:00", step, disp,
                                                batch, qty=10)})


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    c = LoggedConsortium(tmp_path_factory.mktemp("views") / "ledger")
    store = SQLiteStore(c.dir)
    try:
        baseline = views.ledger_totals(store.reader())
        # Day 0: parties, products, batches and three refused calls.
        for org, roles in (("farm", ["manufacturer", "device"]),
                           ("mill", ["manufacturer", "warehouse"]),
                           ("bank", ["settlement"]), ("shop", ["warehouse"])):
            c.org(org, roles)
        farm = c.member("farm", "farm", ["manufacturer"])
        mill = c.member("mill", "mill", ["manufacturer", "warehouse"])
        bank = c.member("bank", "bank", ["settlement"])
        shop = c.member("shop", "shop", ["warehouse"])
        logger = c.member("logger", "farm", ["device"])
        c.ok(farm, "products", "create_product", {"gtin": WHEAT, "name": "Wheat"})
        c.ok(farm, "products", "create_product", {"gtin": RYE, "name": "Rye"})
        batches = [c.ok(farm, "products", "create_batch", {"gtin": g, "lot": lot})["batch"]
                   for g, lot in ((WHEAT, "W1"), (WHEAT, "W2"), (RYE, "R1"))]
        c.fails("already_exists", farm, "products", "create_product",
                {"gtin": WHEAT, "name": "Wheat again"})
        c.fails("already_exists", farm, "products", "create_product",
                {"gtin": RYE, "name": "Rye again"})
        c.fails("not_found", farm, "products", "create_batch",
                {"gtin": gtin("690123400099"), "lot": "X"})
        # Day 2: trace events (W2 last), custody of W2 to the mill, a breach, two orders.
        c.tick.t = T0 + 2 * DAY + 3_600_000
        b1, b2, _ = batches
        _event(c, farm, b1, "commissioning", "active")
        _event(c, farm, b2, "commissioning", "active")
        _event(c, farm, b1, "inspecting", "non_conformant")
        _event(c, farm, b2, "storing", "active")
        c.ok(c.admin, "sensors", "register_device", {"device": logger.did})
        c.ok(farm, "sensors", "set_rule", {"scope": "product", "target": WHEAT,
                                           "temp": {"min": 2000, "max": 8000}})
        c.ok(farm, "sensors", "bind", {"device": logger.did, "kind": "batch", "target": b1,
                                       "batches": [b2]})
        t = c.tick.t
        breached = c.ok(logger, "sensors", "record", {"seq": 1, "readings": [
            {"t": t, "temp": 5000}, {"t": t + 500, "temp": 15_000}]})["breaches"]
        assert len(breached) == 1  # one breach, marking both watched batches
        pid = c.ok(farm, "custody", "propose", {"batch": b2, "to": mill.did,
                                                "kind": "custody"})["proposal"]
        c.ok(mill, "custody", "accept", {"proposal": pid})
        c.ok(bank, "payments", "deposit", {"account": shop.did, "currency": "EUR",
                                           "amount": 100_000})
        c.ok(farm, "products", "declare_for_sale", {"id": RYE})
        for oid in ("o1", "o2"):
            c.ok(shop, "orders", "place", {
                "id": oid, "seller": farm.did, "product": RYE, "quantity": 2,
                "unit_price": 1000, "freight": 100, "currency": "EUR",
                "earliest": c.tick.t, "latest": c.tick.t + 5 * DAY})
        c.ok(shop, "orders", "cancel", {"order": "o2"})
        yield Chain(c, store.reader(), batches, baseline)
    finally:
        store.close()
        c.stop()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = Consortium(tmp_path / "ledger", clock=lambda: T0)
    store = SQLiteStore(c.dir)
    try:
        yield store.reader()
    finally:
        store.close()
        c.stop()


def _descending(rows: list[tuple[Any, int]]) -> bool:
    return [n for _, n in rows] == sorted((n for _, n in rows), reverse=True)


def test_ledger_totals_count_blocks_calls_failures_and_new_parties(chain: Chain) -> None:
    c, base = chain.c, chain.baseline
    assert views.ledger_totals(chain.conn) == {
        "blocks": c.node.height + 1,  # genesis is block 0
        "transactions": len(c.log), "failed": sum(not ok for _, ok, _, _ in c.log),
        "participants": base["participants"] + 5, "organisations": base["organisations"] + 4}
    assert sum(not ok for _, ok, _, _ in c.log) == 3


def test_trace_figures_follow_the_recorded_events(chain: Chain) -> None:
    assert views.trace_totals(chain.conn) == {"batches": 2, "events": 4, "flagged": 1}
    steps = views.events_by_step(chain.conn)
    assert Counter(dict(steps)) == Counter(commissioning=2, inspecting=1, storing=1)
    assert _descending(steps)
    assert views.events_by_step(chain.conn, limit=1) == [("commissioning", 2)]
    # One breach over two batches is one problem, not two.
    assert views.breach_count(chain.conn) == 1


def test_transactions_per_day_contract_and_error_code(chain: Chain) -> None:
    c = chain.c
    assert views.last_block_time(chain.conn) == c.tick.t
    days = Counter(day for _, _, _, day in c.log)
    assert sorted(days) == [T0 // DAY, T0 // DAY + 2]
    assert views.txs_per_day(chain.conn, T0) == dict(days)
    assert views.txs_per_day(chain.conn, T0 + DAY) == {T0 // DAY + 2: days[T0 // DAY + 2]}
    assert views.txs_per_day(chain.conn, c.tick.t + 1) == {}
    by_contract = views.txs_by_contract(chain.conn)
    assert dict(by_contract) == dict(Counter(contract for contract, _, _, _ in c.log))
    assert _descending(by_contract)
    codes = Counter(code for _, ok, code, _ in c.log if not ok)
    assert views.error_codes(chain.conn) == [("already_exists", 2), ("not_found", 1)]
    assert dict(views.error_codes(chain.conn)) == dict(codes)
    assert views.error_codes(chain.conn, limit=1) == [("already_exists", 2)]


def test_orders_by_state_counts_placed_and_cancelled(chain: Chain) -> None:
    assert sorted(views.orders_by_state(chain.conn)) == [("cancelled", 1), ("placed", 1)]


def test_recent_batches_newest_event_first_with_lots(chain: Chain) -> None:
    b1, b2, b3 = chain.batches
    assert views.recent_batches(chain.conn) == [(b2, 2, "W2"), (b1, 2, "W1")]
    assert views.recent_batches(chain.conn, limit=1) == [(b2, 2, "W2")]
    assert b3 not in {r[0] for r in views.recent_batches(chain.conn)}  # no events


def test_held_batches_by_owner_or_custodian_latest_change_first(chain: Chain) -> None:
    b1, b2, b3 = chain.batches
    # The farm still owns W2 after handing its custody to the mill (which moved it last).
    assert views.held_batches(chain.conn, "farm") == [
        (b2, "W2", "Wheat"), (b3, "R1", "Rye"), (b1, "W1", "Wheat")]
    assert views.held_batches(chain.conn, "mill") == [(b2, "W2", "Wheat")]
    assert views.held_batches(chain.conn, "farm", limit=1) == [(b2, "W2", "Wheat")]
    assert views.held_batches(chain.conn, "shop") == []
    assert views.held_batches(chain.conn, "nobody") == []


def test_dashboard_shapes_the_views(chain: Chain) -> None:
    c = chain.c
    tables = {t.name for t in all_tables(load_builtin())}
    store = SQLiteStore(c.dir)
    try:
        figs = Dashboard(store, tables).figures(c.node.height)
    finally:
        store.close()
    kpis = figs["kpis"]
    assert kpis["transactions"] == len(c.log)
    assert kpis["failed_share"] == pytest.approx(100.0 * 3 / len(c.log))
    assert kpis["faulty_events"] == 2  # the non-conformant inspection and the breach
    assert (kpis["batches"], kpis["events"]) == (2, 4)
    assert len(figs["per_day"]) == 42 and sum(n for _, n in figs["per_day"]) == len(c.log)
    assert figs["per_day"][-1][0] == "2026-01-03"
    assert figs["failures"] == [("already_exists", 2.0), ("not_found", 1.0)]
    assert sorted(figs["orders"]) == [("cancelled", 1.0), ("placed", 1.0)]


def test_genesis_only_ledger_gives_empty_views(fresh: sqlite3.Connection) -> None:
    totals = views.ledger_totals(fresh)
    assert (totals["blocks"], totals["transactions"], totals["failed"]) == (1, 0, 0)
    # Genesis registers the consortium organisation, its admin and the node's key.
    assert (totals["participants"], totals["organisations"]) == (2, 1)
    assert views.trace_totals(fresh) == {"batches": 0, "events": 0, "flagged": 0}
    assert views.events_by_step(fresh) == []
    assert views.breach_count(fresh) == 0
    assert views.last_block_time(fresh) == T0
    assert views.txs_per_day(fresh, 0) == {}  # genesis records are not transactions
    assert views.txs_by_contract(fresh) == []
    assert views.error_codes(fresh) == []
    assert views.orders_by_state(fresh) == []
    assert views.recent_batches(fresh) == []
    assert views.held_batches(fresh, "consortium") == []


def test_orders_by_state_without_orders_table_or_state_column() -> None:
    conn = sqlite3.connect(":memory:")
    try:
        assert views.orders_by_state(conn) == []
        conn.execute("CREATE TABLE orders (id TEXT)")
        conn.execute("INSERT INTO orders VALUES ('o1')")
        assert views.orders_by_state(conn) == []
    finally:
        conn.close()


def test_last_block_time_without_blocks_is_zero() -> None:
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE TABLE blocks (height INTEGER, time INTEGER)")
        assert views.last_block_time(conn) == 0
    finally:
        conn.close()


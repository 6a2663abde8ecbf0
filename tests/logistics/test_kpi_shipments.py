"""Shipment KPIs on a real ledger whose shipments go wrong in the ways reviews found:
a shipment cancelled before departure and replaced, one shipment carrying the orders of two
platforms, and a lot breach in the warehouse before the lot's shipment departed.

Timeline (T0 = 2026-11-10 08:00Z; h = hours after T0): PA (Shop A) and PB (Shop B) are
placed at 0 h and dispatched at 0.5 h; the seller's logger on PB's lot reads 12 degC from
1 h to 2 h (rule 2-8 degC, 30 min allowed: a breach before any shipment moved); X1 (PA
only) is created at 1 h and closed (cancelled) at 1.5 h without departing; X2 (PA + PB, no
platform: the carrier created it) departs at 3 h and arrives at 6 h; the last block is at
7 h.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supplyledger.bench.consortium import Consortium
from supplyledger.logistics.emissions import load_factors
from supplyledger.logistics.emissions_report import monthly_report
from supplyledger.logistics.periods import month
from supplyledger.node.kpi_reports import kpi_report
from supplyledger.store.kpi_rows import KpiQueries
from supplyledger.store.readonly import open_readonly

from .kpi_ledger import MIN, Clock, cast

T0 = 1_794_297_600_000  # 2026-11-10T08:00:00Z
H = 3_600_000


def _build(d: Path) -> Path:
    clock = Clock(T0)
    c = Consortium(d, chain="kpi-ship-test", clock=clock)
    try:
        p, lots = cast(c, {"PA": "PA", "PB": "PB"})
        for oid, plat in (("PA", "platA"), ("PB", "platB")):
            c.ok(p["buyer"], "orders", "place", {
                "id": oid, "seller": p["seller"].did, "batch": lots[oid], "quantity": 10,
                "unit_price": 100, "freight": 500, "currency": "EUR", "earliest": T0,
                "latest": T0 + 48 * H, "platform": p[plat].did})
        clock.t = T0 + H // 2
        for oid in ("PA", "PB"):
            c.ok(p["seller"], "orders", "dispatch", {
                "order": oid, "transporter": p["carrier"].did, "transport_no": f"T-{oid}"})
        c.ok(p["seller"], "sensors", "set_rule", {
            "scope": "batch", "target": lots["PB"],
            "temp": {"min": 2000, "max": 8000, "excursion_ms": 30 * MIN}})
        c.ok(p["seller"], "sensors", "bind", {"device": p["logger"].did, "kind": "batch",
                                              "target": lots["PB"], "batches": [lots["PB"]]})
        clock.t = T0 + H

        def create(sid: str, orders: list[str]) -> None:
            c.ok(p["carrier"], "shipments", "create", {
                "id": sid, "transporter": p["carrier"].did, "mass_kg": 200,
                "legs": [{"from": {"node": "depot"}, "to": {"node": "hub"},
                          "distance_m": 40_000, "mode": "road",
                          "vehicle_class": "van_diesel_avg"}],
                "orders": [{"order": o, "mass_kg": 100} for o in orders],
                "batches": [lots[o] for o in orders], "promised": T0 + 24 * H})

        create("X1", ["PA"])
        clock.t = T0 + 3 * H // 2
        c.ok(p["carrier"], "shipments", "close", {"shipment": "X1", "reason": "van broke"})
        clock.t = T0 + 5 * H // 2
        # 1:00 .. 2:00 every 10 min: 12 degC for an hour, then back to 5 degC.
        temps = [12_000] * 7 + [5000]
        c.ok(p["logger"], "sensors", "record", {"seq": 1, "readings": [
            {"t": T0 + H + i * 10 * MIN, "temp": v} for i, v in enumerate(temps)]})
        create("X2", ["PA", "PB"])
        clock.t = T0 + 3 * H
        c.ok(p["carrier"], "shipments", "depart", {"shipment": "X2"})
        clock.t = T0 + 6 * H
        c.ok(p["carrier"], "shipments", "arrive_leg", {"shipment": "X2", "leg": 0})
        clock.t = T0 + 7 * H
        c.ok(p["carrier"], "shipments", "deliver", {"shipment": "X2"})
        return c.dir
    finally:
        c.stop()


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("kpi-ship") / "ledger")


@pytest.fixture
def q(ledger: Path) -> Iterator[KpiQueries]:
    conn = open_readonly(ledger)
    yield KpiQueries(conn)
    conn.close()


def nov(q: KpiQueries, platform: str) -> dict[str, Any]:
    rep = kpi_report(q, kind="2026-11", platform=platform)
    return rep["platforms"][0]["periods"][0]  # type: ignore[no-any-return]


def test_the_story_recorded_what_the_tests_rely_on(q: KpiQueries) -> None:
    status = dict(q.conn.execute("SELECT id, status FROM shipments").fetchall())
    assert status == {"X1": "closed", "X2": "delivered"}
    breach = q.conn.execute("SELECT started, ended, shipment FROM sensor_breaches").fetchall()
    assert len(breach) == 1 and breach[0][1] is not None and breach[0][1] < T0 + 3 * H
    assert breach[0][2] in (None, "")


def test_co2e_per_order_leaves_out_a_shipment_cancelled_before_departure(
        q: KpiQueries) -> None:
    shares = dict(q.conn.execute(
        "SELECT shipment, co2e_g FROM shipment_orders WHERE order_id = 'PA'").fetchall())
    assert set(shares) == {"X1", "X2"} and shares["X1"] > 0
    co2e = nov(q, "Shop A")["co2e_per_order"]
    assert co2e == {"n": 1, "of": 1, "total_g": shares["X2"], "mean_g": f"{shares['X2']}.0"}
    # ... the same order grams in all as the emissions report, which skips X1 too.
    rep = monthly_report(q.shipment_rows(), month("2026-11"), load_factors(),
                         names=q.names())
    reported = sum(p["orders"]["co2e_g"] for p in rep["platforms"])
    assert reported == co2e["total_g"] + nov(q, "Shop B")["co2e_per_order"]["total_g"]


def test_a_lot_breach_counts_only_for_shipments_moving_during_it(q: KpiQueries) -> None:
    # PB's lot broke its rule from 1 h to 2 h; X2 carried it only from 3 h to 6 h. X1 was
    # cancelled before departing: like the emissions report, it is no shipment at all.
    for shop in ("Shop A", "Shop B"):
        assert nov(q, shop)["excursions"]["shipments"] == {"n": 1, "hit": 0, "pct": "0.0"}
    # The order itself still counts: its lot broke the rule before delivery.
    assert nov(q, "Shop B")["excursions"]["orders"]["hit"] == 1


def test_a_shipment_of_two_platforms_counts_once_for_each(q: KpiQueries) -> None:
    for shop in ("Shop A", "Shop B"):
        assert nov(q, shop)["excursions"]["shipments"]["n"] == 1, shop
    every = {p["name"]: p["periods"][0]["excursions"]["shipments"]["n"]
             for p in kpi_report(q, kind="2026-11")["platforms"]}
    assert every == {"Shop A": 1, "Shop B": 1}

"""Review 14: reported numbers recomputed independently found these wrong.

* The shipment cold-chain KPI of one platform (``kpi --platform P``) missed a breach on a
  lot carried for another platform's order on a shared shipment, which the report of every
  platform counted for P: the lots of a shipment's orders were looked up among the
  filtered orders only.
* The emissions report's ``totals.tonne_km`` added the platforms' figures after rounding
  each to three decimals, so a shared shipment's total could differ from its legs' tonne-km.
* Its TTW came from the current (or ``--factors``) table while WTW is the recorded grams,
  so WTT = WTW - TTW mixed two tables for a leg recorded under another one; and grams of a
  shipment without leg rows counted as WTT.

Ledger story (T0 = 2026-11-10 08:00Z, h = hours after T0): QA (Shop A) and QB (Shop B) are
placed and dispatched at 0 h; the carrier creates Y (no platform: it carries both orders;
its lots are known only through the orders) at 1 h, departs at 2 h; the seller's logger on
QB's lot reads 12 degC from 3 h to 4 h (rule 2-8 degC, 30 min allowed: a breach while Y
carried the lot); Y arrives and is delivered at 5 h.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from supplyledger.bench.consortium import Consortium
from supplyledger.logistics.emissions import load_factors
from supplyledger.logistics.emissions_report import (
    Carried,
    LegRow,
    ShipmentRow,
    monthly_report,
)
from supplyledger.logistics.periods import month
from supplyledger.node.kpi_reports import kpi_report
from supplyledger.store.kpi_rows import KpiQueries
from supplyledger.store.readonly import open_readonly

from .kpi_ledger import MIN, Clock, cast

T0 = 1_794_297_600_000  # 2026-11-10T08:00:00Z
H = 3_600_000


def _build(d: Path) -> Path:
    clock = Clock(T0)
    c = Consortium(d, chain="review14-numbers", clock=clock)
    try:
        p, lots = cast(c, {"QA": "QA", "QB": "QB"})
        for oid, plat in (("QA", "platA"), ("QB", "platB")):
            c.ok(p["buyer"], "orders", "place", {
                "id": oid, "seller": p["seller"].did, "batch": lots[oid], "quantity": 10,
                "unit_price": 100, "freight": 500, "currency": "EUR", "earliest": T0,
                "latest": T0 + 48 * H, "platform": p[plat].did})
            c.ok(p["seller"], "orders", "dispatch", {
                "order": oid, "transporter": p["carrier"].did, "transport_no": f"T-{oid}"})
        c.ok(p["seller"], "sensors", "set_rule", {
            "scope": "batch", "target": lots["QB"],
            "temp": {"min": 2000, "max": 8000, "excursion_ms": 30 * MIN}})
        c.ok(p["seller"], "sensors", "bind", {"device": p["logger"].did, "kind": "batch",
                                              "target": lots["QB"], "batches": [lots["QB"]]})
        clock.t = T0 + H
        c.ok(p["carrier"], "shipments", "create", {
            "id": "Y", "transporter": p["carrier"].did, "mass_kg": 200,
            "legs": [{"from": {"node": "depot"}, "to": {"node": "hub"}, "distance_m": 40_000,
                      "mode": "road", "vehicle_class": "van_diesel_avg"}],
            "orders": [{"order": "QA", "mass_kg": 100}, {"order": "QB", "mass_kg": 100}],
            "promised": T0 + 24 * H})
        clock.t = T0 + 2 * H
        c.ok(p["carrier"], "shipments", "depart", {"shipment": "Y"})
        clock.t = T0 + 9 * H // 2
        temps = [12_000] * 7 + [5000]  # 3:00 .. 4:00 every 10 min at 12 degC, then 5 degC
        c.ok(p["logger"], "sensors", "record", {"seq": 1, "readings": [
            {"t": T0 + 3 * H + i * 10 * MIN, "temp": v} for i, v in enumerate(temps)]})
        clock.t = T0 + 5 * H
        c.ok(p["carrier"], "shipments", "deliver", {"shipment": "Y"})
        return c.dir
    finally:
        c.stop()


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("review14") / "ledger")


@pytest.fixture
def q(ledger: Path) -> Iterator[KpiQueries]:
    conn = open_readonly(ledger)
    yield KpiQueries(conn)
    conn.close()


def _shipments(rep: dict[str, Any]) -> dict[str, Any]:
    return {p["name"]: p["periods"][0]["excursions"]["shipments"] for p in rep["platforms"]}


def test_the_story_recorded_what_the_test_relies_on(q: KpiQueries) -> None:
    assert q.conn.execute("SELECT platform FROM shipments WHERE id = 'Y'").fetchone()[0] in (
        None, "")
    assert q.conn.execute("SELECT COUNT(*) FROM shipment_batches").fetchone()[0] == 0
    breaches = q.conn.execute("SELECT started, shipment FROM sensor_breaches").fetchall()
    assert len(breaches) == 1 and breaches[0][1] in (None, "")
    assert T0 + 2 * H <= breaches[0][0] <= T0 + 5 * H  # while Y carried the lot


def test_a_shared_shipments_breach_counts_alike_with_or_without_a_platform_filter(
        q: KpiQueries) -> None:
    every = _shipments(kpi_report(q, kind="2026-11"))
    # Y carried QB's lot while it broke its rule: a hit for both platforms Y served.
    assert every == {"Shop A": {"n": 1, "hit": 1, "pct": "100.0"},
                     "Shop B": {"n": 1, "hit": 1, "pct": "100.0"}}
    for shop in ("Shop A", "Shop B"):
        alone = _shipments(kpi_report(q, kind="2026-11", platform=shop))
        assert alone == {shop: every[shop]}, shop


def _leg_row(mass_kg: int, distance_m: int, grams: int) -> LegRow:
    return LegRow(0, "road", "van_diesel_avg", distance_m, mass_kg, grams)


def test_emissions_totals_add_unrounded_tonne_km() -> None:
    # 3 kg over 700 m = 0.0021 tkm, 1 kg for each of three platforms (0.0007 tkm each,
    # shown 0.001 each): the total is the shipment's 0.002, not 0.003.
    carried = tuple(Carried(f"o{k}", f"did:sl:p{k}", 1, None, 1) for k in range(3))
    row = ShipmentRow("S", None, "delivered", month("2026-11").start,
                      month("2026-11").start + H, 2, "2025.1-desnz2025",
                      (_leg_row(3, 700, 2),), carried)
    rep = monthly_report([row], month("2026-11"), load_factors())
    assert [p["tonne_km"] for p in rep["platforms"]] == ["0.001"] * 3
    assert rep["totals"]["tonne_km"] == "0.002"
    assert Decimal(rep["totals"]["tonne_km"]) == round(Decimal(3 * 700) / 10**6, 3)


def _one(row: ShipmentRow) -> dict[str, Any]:
    rep = monthly_report([row], month("2026-11"), load_factors())
    assert len(rep["platforms"]) == 1
    return rep["platforms"][0]  # type: ignore[no-any-return]


def _row(grams: int, legs: tuple[LegRow, ...], version: str = "2025.1-desnz2025"
         ) -> ShipmentRow:
    start = month("2026-11").start
    return ShipmentRow("S", "did:sl:a", "delivered", start, start + H, grams, version, legs)


def test_ttw_and_wtt_come_from_the_recorded_factor_or_not_at_all() -> None:
    # 1 t over 10 km on a diesel van: 10 tkm x 782.25 = 7822.5 -> 7822 g WTW (half-even);
    # TTW 10 x 631.30 = 6313 g.
    same = _one(_row(7822, (_leg_row(1000, 10_000, 7822),)))
    assert (same["wtw_g"], same["ttw_g"], same["wtt_g"]) == (7822, 6313, 1509)
    # Recorded under a table that gave the van 700 g/tkm: WTW 7000 g is the ledger's, and
    # today's TTW (6313 g) is no part of it, so WTT is not 7000 - 6313 = 687 g.
    other = _one(_row(7000, (_leg_row(1000, 10_000, 7000),), "2024.1-older"))
    assert (other["wtw_g"], other["ttw_g"], other["wtt_g"]) == (7000, None, None)
    assert other["by_mode"][0]["ttw_g"] is None and other["by_mode"][0]["wtt_g"] is None
    assert other["check"]["recomputed_wtw_g"] == 7822  # the control still says so


def test_grams_without_leg_rows_leave_the_ttw_split_unknown() -> None:
    start = month("2026-11").start
    rows = [_row(7822, (_leg_row(1000, 10_000, 7822),)),
            ShipmentRow("T", "did:sl:a", "delivered", start, start + H, 500,
                        "2025.1-desnz2025", ())]
    rep = monthly_report(rows, month("2026-11"), load_factors())["platforms"][0]
    assert rep["wtw_g"] == 8322
    assert (rep["ttw_g"], rep["wtt_g"]) == (None, None)  # not 500 g more of WTT

"""store/kpi_rows.py, store/shipment_rows.py and store/readonly.py where the KPI, emissions,
dispatch and trace tests do not reach: an order's and a batch's shipments with their CO2e
(a batch carried with no order too), and a ledger whose projections predate the shipments
and sensors contracts, which reads as "no data" instead of failing.

The ledger is tests/logistics/kpi_ledger.py's story plus shipment S3: 50 kg of lot A3 in a
van over 10 km, created by the carrier for no order (0.05 t x 10 km x 782.25 g/tkm =
391.125 -> 391 g). The expected figures are hand-computed, not read back with SQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supplyledger.bench.consortium import Consortium
from supplyledger.errors import NotFound
from supplyledger.logistics.dispatch_request import LedgerOrder
from supplyledger.node.kpi_reports import emissions_report, kpi_report
from supplyledger.store.kpi_rows import KpiQueries
from supplyledger.store.readonly import open_readonly
from supplyledger.store.shipment_rows import (
    dispatch_plan,
    open_orders,
    shipments_for_batch,
    shipments_for_order,
)
from supplyledger.store.sqlite import DB_NAME

from .kpi_ledger import T0, Clock, H, KpiLedger, _story

NEWER = ("shipments", "shipment_legs", "shipment_orders", "shipment_batches", "dispatch_plans",
         "sensor_breaches")


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> KpiLedger:
    clock = Clock()
    c = Consortium(tmp_path_factory.mktemp("rows") / "ledger", chain="rows-test", clock=clock)
    try:
        led = _story(c, clock)
        clock.t = T0 + 32 * H
        c.ok(led.parties["carrier"], "shipments", "create", {
            "id": "S3", "transporter": led.did("carrier"), "mass_kg": 50,
            "legs": [{"from": {"node": "depot"}, "to": {"node": "shop"}, "distance_m": 10_000,
                      "mode": "road", "vehicle_class": "van_diesel_avg"}],
            "orders": [], "batches": [led.batches["A3"]], "promised": T0 + 40 * H})
        return led
    finally:
        c.stop()


@pytest.fixture(scope="module")
def stripped(ledger: KpiLedger, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the ledger's database without the shipments and sensor-breach tables."""
    d = tmp_path_factory.mktemp("stripped")
    src, dst = open_readonly(ledger.dir), sqlite3.connect(d / DB_NAME)
    try:
        src.backup(dst)
        for t in NEWER:
            dst.execute(f"DROP TABLE {t}")
        dst.commit()
    finally:
        src.close()
        dst.close()
    return d


@pytest.fixture
def conn(ledger: KpiLedger) -> Iterator[sqlite3.Connection]:
    c = open_readonly(ledger.dir)
    yield c
    c.close()


@pytest.fixture
def bare(stripped: Path) -> Iterator[sqlite3.Connection]:
    c = open_readonly(stripped)
    yield c
    c.close()


def test_an_orders_shipments_carry_its_share_of_co2e(ledger: KpiLedger,
                                                     conn: sqlite3.Connection) -> None:
    [s1] = shipments_for_order(conn, "A1")
    # A1 is all of S1's 100 kg: 0.1 t x 50 km x 782.25 g/tkm = 3911.25 -> 3911 g.
    assert (s1["shipment"], s1["transporter"], s1["status"], s1["plan"], s1["distance_m"]) == (
        "S1", ledger.did("carrier"), "delivered", None, 50_000)
    assert (s1["order"], s1["order_mass_kg"], s1["co2e_g"], s1["order_co2e_g"]) == (
        "A1", 100, 3911, 3911)
    # D1 is 500 of S2's 2000 kg: a share, less than the shipment's whole.
    [s2] = shipments_for_order(conn, "D1")
    assert s2["shipment"] == "S2" and 0 < s2["order_co2e_g"] < s2["co2e_g"]
    assert shipments_for_order(conn, "A2") == []


def test_a_batchs_shipments_through_its_orders_or_by_name(ledger: KpiLedger,
                                                          conn: sqlite3.Connection) -> None:
    # S1 carries order A1 and names its lot: listed once, with the order's share.
    [s1] = shipments_for_batch(conn, ledger.batches["A1"])
    assert (s1["shipment"], s1["order"], s1["order_co2e_g"]) == ("S1", "A1", 3911)
    # Order A3 never shipped, but S3 names its lot: the shipment's whole CO2e, no order.
    [s3] = shipments_for_batch(conn, ledger.batches["A3"])
    assert (s3["shipment"], s3["order"], s3["order_mass_kg"], s3["order_co2e_g"],
            s3["co2e_g"], s3["status"]) == ("S3", None, None, None, 391, "created")
    assert shipments_for_batch(conn, ledger.batches["B1"]) == []


def test_open_orders_and_plans(ledger: KpiLedger, conn: sqlite3.Connection) -> None:
    # A3 is Shop A's only order still placed; Shop B's one order was cancelled.
    assert open_orders(conn, ledger.did("platA")) == [
        LedgerOrder("A3", T0 + 4 * H, T0 + 20 * H, ledger.batches["A3"])]
    assert open_orders(conn, ledger.did("platB")) == []
    with pytest.raises(NotFound, match="no dispatch plan P-9"):
        dispatch_plan(conn, "P-9")


def _without(rep: dict[str, Any], *keys: str) -> list[Any]:
    return [[{k: v for k, v in r.items() if k not in keys} for r in p["periods"]]
            for p in rep["platforms"]]


def test_kpis_without_shipment_or_sensor_tables_say_no_data(
        conn: sqlite3.Connection, bare: sqlite3.Connection) -> None:
    full, old = kpi_report(KpiQueries(conn)), kpi_report(KpiQueries(bare))
    assert old["sources"] == {"orders": True, "ratings": True, "shipments": False,
                              "sensors": False}
    assert old["periods"] == full["periods"] == ["2026-10", "2026-11"]
    assert [p["name"] for p in old["platforms"]] == [p["name"] for p in full["platforms"]]
    # The order figures are the same; CO2e and excursions are "no data", not zero.
    assert _without(old, "excursions", "co2e_per_order") == _without(
        full, "excursions", "co2e_per_order")
    rows = [r for p in old["platforms"] for r in p["periods"]]
    assert {(r["excursions"], r["co2e_per_order"]) for r in rows} == {(None, None)}
    assert any(r["co2e_per_order"] is not None for p in full["platforms"]
               for r in p["periods"])
    data = KpiQueries(bare).load()
    assert (data.shipments, data.breaches) == ([], [])
    assert {o.co2e_g for o in data.orders} == {None}


def test_emissions_and_shipment_reads_without_shipment_tables(
        ledger: KpiLedger, conn: sqlite3.Connection, bare: sqlite3.Connection) -> None:
    assert emissions_report(KpiQueries(conn), "2026-11")["totals"]["shipments"] == 1  # S2
    q = KpiQueries(bare)
    assert q.shipment_rows() == []
    # The report starts at the first order (T0) though shipments cannot be looked at.
    assert q.first_activity() == T0
    rep = emissions_report(q, "2026-11")
    assert rep["shipments_recorded"] is False and rep["platforms"] == []
    assert rep["totals"]["shipments"] == 0
    assert shipments_for_order(bare, "A1") == []
    assert shipments_for_batch(bare, ledger.batches["A1"]) == []
    with pytest.raises(NotFound, match="no dispatch plan P-1"):
        dispatch_plan(bare, "P-1")
    assert [o.id for o in open_orders(bare, ledger.did("platA"))] == ["A3"]


def test_open_readonly_needs_a_ledger_and_cannot_write(tmp_path: Path,
                                                       conn: sqlite3.Connection) -> None:
    with pytest.raises(NotFound, match="no ledger in"):
        open_readonly(tmp_path)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("DELETE FROM orders")

"""Shared shipments in the emissions report, on a real ledger: a shipment carrying goods of
orders from several platforms is split among them by the mass of their goods on each leg
(ISO 14083 / GLEC consignment allocation), in whole grams that add up to the shipment.

Story (November 2026, carrier-created shipments, so none is any one platform's):

* Y1: van 40 km, 200 kg: Shop A's order 140 kg, Shop B's 60 kg;
* Y2: HGV 100 km (1000 kg: Shop B's order 100 kg unloaded at the hub, a direct-sales order
  300 kg, 600 kg on no order), then van 20 km (900 kg);
* Y3: created, never departed: Shop A's and Shop B's orders (planned for both);
* Y4: van 10 km, 50 kg, no orders at all (whole shipment to "(direct sales)").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from supplyledger.bench.consortium import Consortium
from supplyledger.cli.main import app
from supplyledger.logistics.emissions_report import to_csv
from supplyledger.node.kpi_reports import emissions_report
from supplyledger.store.kpi_rows import KpiQueries
from supplyledger.store.readonly import open_readonly

from .kpi_ledger import Clock, cast

T0 = 1_794_297_600_000  # 2026-11-10T08:00:00Z
H = 3_600_000
ORDERS = {"PA1": "platA", "PB1": "platB", "PB2": "platB", "PD": None, "PA3": "platA",
          "PB3": "platB"}


def _leg(frm: str, to: str, km: int, vclass: str) -> dict[str, Any]:
    return {"from": {"node": frm}, "to": {"node": to}, "distance_m": km * 1000,
            "mode": "road", "vehicle_class": vclass}


def _build(d: Path) -> Path:
    clock = Clock(T0)
    c = Consortium(d, chain="emissions-shared", clock=clock)
    try:
        p, lots = cast(c, {o: o for o in ORDERS})
        for oid, plat in ORDERS.items():
            args: dict[str, Any] = {
                "id": oid, "seller": p["seller"].did, "batch": lots[oid], "quantity": 10,
                "unit_price": 100, "freight": 500, "currency": "EUR", "earliest": T0,
                "latest": T0 + 48 * H}
            if plat:
                args["platform"] = p[plat].did
            c.ok(p["buyer"], "orders", "place", args)
            c.ok(p["seller"], "orders", "dispatch", {
                "order": oid, "transporter": p["carrier"].did, "transport_no": f"T-{oid}"})

        def ship(sid: str, mass: int, legs: list[dict[str, Any]],
                 orders: list[dict[str, Any]], depart: bool = True) -> None:
            c.ok(p["carrier"], "shipments", "create", {
                "id": sid, "transporter": p["carrier"].did, "mass_kg": mass, "legs": legs,
                "orders": orders, "promised": T0 + 24 * H})
            if depart:
                c.ok(p["carrier"], "shipments", "depart", {"shipment": sid})

        clock.t = T0 + H
        ship("Y1", 200, [_leg("depot", "town", 40, "van_diesel_avg")],
             [{"order": "PA1", "mass_kg": 140}, {"order": "PB1", "mass_kg": 60}])
        ship("Y2", 1000, [_leg("depot", "hub", 100, "hgv_avg"),
                          _leg("hub", "city", 20, "van_diesel_avg")],
             [{"order": "PB2", "mass_kg": 100, "leg": 0}, {"order": "PD", "mass_kg": 300}])
        ship("Y3", 100, [_leg("depot", "town", 40, "van_diesel_avg")],
             [{"order": "PA3", "mass_kg": 50}, {"order": "PB3", "mass_kg": 50}], depart=False)
        ship("Y4", 50, [_leg("depot", "yard", 10, "van_diesel_avg")], [])
        return c.dir
    finally:
        c.stop()


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("emissions-shared") / "ledger")


@pytest.fixture
def q(ledger: Path) -> Iterator[KpiQueries]:
    conn = open_readonly(ledger)
    yield KpiQueries(conn)
    conn.close()


def _by_name(rep: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in rep["platforms"]}


def test_a_shipment_of_two_platforms_is_split_by_the_mass_of_their_goods(
        q: KpiQueries) -> None:
    rep = emissions_report(q, "2026-11")
    shops = _by_name(rep)
    assert list(shops) == ["(direct sales)", "Shop A", "Shop B"]
    a, b, none = shops["Shop A"], shops["Shop B"], shops["(direct sales)"]
    # Y1: 0.2 t x 40 km = 8 tkm x 782.25 = 6258 g; 140:60 -> 4380.6 / 1877.4 -> 4381 + 1877.
    assert (a["wtw_g"], a["tonne_km"], a["ttw_g"]) == (4381, "5.600", 3535)
    # Y2 leg 0: 100 tkm x 125.22 = 12 522 g; Shop B's 100 of 1000 kg -> 1252 g (floor of
    # 1252.2; the leftover gram goes to the larger remainder, 11 269.8 -> 11 270).
    assert (b["wtw_g"], b["tonne_km"]) == (1877 + 1252, "12.400")
    # The rest of Y2 (the direct order, the cargo on no order, the whole van leg
    # 0.9 t x 20 km = 18 tkm -> 14 080 g) and Y4 (0.5 tkm -> 391 g) have no platform.
    assert none["wtw_g"] == 11_270 + 14_080 + 391
    recorded = q.conn.execute("SELECT SUM(co2e_g) FROM shipments WHERE departed IS NOT NULL"
                              ).fetchone()[0]
    assert rep["totals"]["wtw_g"] == a["wtw_g"] + b["wtw_g"] + none["wtw_g"] == recorded
    assert rep["totals"]["tonne_km"] == "126.500"  # 8 + 100 + 18 + 0.5: none counted twice


def test_shared_shipments_count_for_each_platform_and_say_so(q: KpiQueries) -> None:
    rep = emissions_report(q, "2026-11")
    shops = _by_name(rep)
    got = {n: (p["shipments"], p["shared_shipments"], p["planned"]) for n, p in shops.items()}
    assert got == {"Shop A": (1, 1, 1), "Shop B": (2, 2, 1), "(direct sales)": (2, 1, 0)}
    # Y1, Y2 and Y4 departed: the totals count each once.
    assert (rep["totals"]["shipments"], rep["totals"]["shared_shipments"]) == (3, 2)
    assert shops["(direct sales)"]["allocation"] == {"mass": 1, "equal": 0, "whole": 1}
    assert shops["Shop B"]["allocation"] == {"mass": 2, "equal": 0, "whole": 0}


def test_the_platform_shares_agree_with_the_recorded_order_shares(q: KpiQueries) -> None:
    shops = _by_name(emissions_report(q, "2026-11"))
    share = dict(q.conn.execute("SELECT order_id, co2e_g FROM shipment_orders").fetchall())
    assert shops["Shop A"]["orders"] == {"n": 1, "co2e_g": share["PA1"],
                                         "per_order_g": f"{share['PA1']}.0"}
    assert shops["Shop A"]["wtw_g"] == share["PA1"]
    assert shops["Shop B"]["orders"]["n"] == 2
    assert shops["Shop B"]["wtw_g"] == shops["Shop B"]["orders"]["co2e_g"] == (
        share["PB1"] + share["PB2"])
    assert shops["(direct sales)"]["orders"]["co2e_g"] == share["PD"]


def test_by_mode_splits_each_leg_too(q: KpiQueries) -> None:
    shops = _by_name(emissions_report(q, "2026-11"))
    modes = {(n, m["vehicle_class"]): (m["legs"], m["shipments"], m["tonne_km"], m["wtw_g"])
             for n, p in shops.items() for m in p["by_mode"]}
    assert modes == {
        ("Shop A", "van_diesel_avg"): (1, 1, "5.600", 4381),
        ("Shop B", "van_diesel_avg"): (1, 1, "2.400", 1877),
        ("Shop B", "hgv_avg"): (1, 1, "10.000", 1252),
        ("(direct sales)", "hgv_avg"): (1, 1, "90.000", 11_270),
        ("(direct sales)", "van_diesel_avg"): (2, 2, "18.500", 14_080 + 391)}
    for p in shops.values():
        assert sum(m["wtw_g"] for m in p["by_mode"]) == p["wtw_g"] == p["check"]["legs_wtw_g"]
        assert p["check"]["deviation_pct"] == "0.000"


def test_one_platform_sees_only_its_shares(q: KpiQueries) -> None:
    rep = emissions_report(q, "2026-11", platform="Shop B")
    [b] = rep["platforms"]
    assert (b["name"], b["wtw_g"], b["shipments"], b["shared_shipments"]) == (
        "Shop B", 3129, 2, 2)
    assert (rep["totals"]["shipments"], rep["totals"]["wtw_g"]) == (2, 3129)
    direct = emissions_report(q, "2026-11", platform="direct")["platforms"]
    assert [(p["name"], p["wtw_g"]) for p in direct] == [("(direct sales)", 25_741)]


def test_csv_says_shared_and_allocation(q: KpiQueries) -> None:
    lines = to_csv(emissions_report(q, "2026-11")).splitlines()
    assert lines[0].endswith(",shared_shipments,allocation")
    totals = [ln.split(",") for ln in lines[1:] if ",*,*," in ln]
    assert [(r[2], r[-2], r[-1]) for r in totals] == [
        ("(direct sales)", "1", "mass+whole"), ("Shop A", "1", "mass"), ("Shop B", "2", "mass")]


def test_cli_table_says_shared_and_the_fallback(ledger: Path) -> None:
    r = CliRunner().invoke(app, ["emissions", "report", "--data", str(ledger), "--month",
                                 "2026-11"], env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.output
    assert "2 shared" in r.stdout and "split 1 whole" in r.stdout

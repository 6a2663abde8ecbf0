"""The monthly emissions report: on a real ledger (tests/logistics/kpi_ledger.py) its totals
are the sum of the shipments recorded and agree with logistics/emissions.py; hand-computed
ISO 14083 values; which shipments count; JSON and CSV output; a changed factor table."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Iterator
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from supplyledger.cli.main import app
from supplyledger.errors import ValidationError
from supplyledger.logistics import periods as P
from supplyledger.logistics.emissions import FreightLeg, load_factors, shipment_emissions
from supplyledger.logistics.emissions_report import (
    CSV_COLUMNS,
    Carried,
    LegRow,
    ShipmentRow,
    monthly_report,
    to_csv,
)
from supplyledger.node.kpi_reports import emissions_report
from supplyledger.store.kpi_rows import KpiQueries
from supplyledger.store.readonly import open_readonly

from .kpi_ledger import KpiLedger, build

FACTORS = load_factors()


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> KpiLedger:
    return build(tmp_path_factory.mktemp("emissions") / "ledger")


@pytest.fixture
def q(ledger: KpiLedger) -> Iterator[KpiQueries]:
    conn = open_readonly(ledger.dir)
    yield KpiQueries(conn)
    conn.close()


def test_october_is_shop_a_s_van_hand_computed(q: KpiQueries) -> None:
    rep = emissions_report(q, "2026-10")
    assert rep["factor_table"]["version"] == FACTORS.version
    [shop] = rep["platforms"]
    # S1 was created by the carrier; it counts for Shop A, whose order it carries.
    assert shop["name"] == "Shop A" and shop["shipments"] == 1
    # 100 kg x 50 km = 5 tkm; WTW 5 x 782.25 = 3911.25 -> 3911 g; TTW 5 x 631.30 = 3156.5
    # -> 3156 g (half-even); WTT = 755 g.
    assert (shop["tonne_km"], shop["wtw_g"], shop["ttw_g"], shop["wtt_g"]) == (
        "5.000", 3911, 3156, 755)
    assert shop["orders"] == {"n": 1, "co2e_g": 3911, "per_order_g": "3911.0"}
    assert [f["vehicle_class"] for f in rep["factor_table"]["factors"]] == ["van_diesel_avg"]
    assert "DESNZ" in rep["factor_table"]["factors"][0]["source"]


def test_november_totals_are_the_shipments_and_match_emissions_py(q: KpiQueries) -> None:
    rep = emissions_report(q, "2026-11")
    [p] = rep["platforms"]
    assert p["name"] == "(direct sales)" and p["planned"] == 0
    # Departed in November: S2 only. Its recorded total, read straight from the table:
    recorded = q.conn.execute("SELECT SUM(co2e_g) FROM shipments WHERE departed >= ? AND "
                              "departed < ?", (rep["start"], rep["end"])).fetchone()[0]
    assert p["wtw_g"] == rep["totals"]["wtw_g"] == recorded
    assert sum(m["wtw_g"] for m in p["by_mode"]) == p["check"]["legs_wtw_g"] == recorded
    # Road: 2 t x 120 km = 240 tkm x 125.22 = 30 052.8 -> 30 053 g;
    # rail: 2 t x 300 km = 600 tkm x 34.70 = 20 820 g.
    modes = {m["mode"]: m for m in p["by_mode"]}
    assert (modes["road"]["tonne_km"], modes["road"]["wtw_g"]) == ("240.000", 30_053)
    assert (modes["rail"]["tonne_km"], modes["rail"]["wtw_g"]) == ("600.000", 20_820)
    assert p["wtw_g"] == 50_873 and p["tonne_km"] == "840.000"
    # The rail factor has no tank-to-wheel split, so neither has the total (never guessed).
    assert modes["road"]["ttw_g"] == 24_391 and modes["rail"]["ttw_g"] is None
    assert p["ttw_g"] is None and p["wtt_g"] is None
    # Independently through emissions.py: within 0.1 % (equal, with the same table).
    again = shipment_emissions([
        FreightLeg("0", "road", "hgv_avg", 2_000_000, 120_000),
        FreightLeg("1", "rail", "freight_train_uk_avg", 2_000_000, 300_000)], FACTORS)
    assert abs(again.wtw_g - p["wtw_g"]) <= p["wtw_g"] / 1000
    assert p["check"]["recomputed_wtw_g"] == again.wtw_g
    assert p["check"]["deviation_pct"] == "0.000"
    assert p["intensity_g_per_tkm"] == str((Decimal(50_873) / 840).quantize(Decimal("0.01")))
    share = q.conn.execute("SELECT co2e_g FROM shipment_orders WHERE order_id = 'D1'"
                           ).fetchone()[0]
    assert p["orders"] == {"n": 1, "co2e_g": share, "per_order_g": f"{share}.0"}


def test_platform_filter_and_empty_months(q: KpiQueries) -> None:
    assert emissions_report(q, "2026-11", platform="shop-a")["platforms"] == []
    assert [p["shipments"] for p in emissions_report(q, "2026-10", platform="Shop A")[
        "platforms"]] == [1]
    empty = emissions_report(q, "2026-12")
    assert empty["platforms"] == [] and empty["totals"]["wtw_g"] == 0
    with pytest.raises(ValidationError):
        emissions_report(q, "2026-1")


def _row(sid: str, departed: int | None, created: int, grams: int = 3911) -> ShipmentRow:
    return ShipmentRow(sid, "p", "created", created, departed, grams, FACTORS.version,
                       (LegRow(0, "road", "van_diesel_avg", 50_000, 100, grams, "5"),),
                       (Carried("o-" + sid, "p", 100, None, grams),))


def test_only_departed_shipments_are_summed_planned_ones_are_counted() -> None:
    nov = P.month("2026-11")
    rows = [_row("in", nov.start, nov.start - 5), _row("planned", None, nov.start + 10),
            _row("left-in-october", nov.start - 1, nov.start - 100),
            _row("left-in-december", nov.end, nov.start + 1)]
    [p] = monthly_report(rows, nov, FACTORS, names={"p": "P"})["platforms"]
    assert (p["shipments"], p["planned"], p["wtw_g"]) == (1, 1, 3911)


def test_a_shipment_closed_before_departure_is_not_planned() -> None:
    # Closed without departing = cancelled: no transport operation, now or later.
    nov = P.month("2026-11")
    rows = [_row("in", nov.start, nov.start - 5),
            dataclasses.replace(_row("cancelled", None, nov.start + 10), status="closed")]
    [p] = monthly_report(rows, nov, FACTORS)["platforms"]
    assert (p["shipments"], p["planned"], p["wtw_g"]) == (1, 0, 3911)
    assert monthly_report(rows[1:], nov, FACTORS)["platforms"] == []


def test_a_changed_factor_table_shows_as_a_deviation() -> None:
    nov = P.month("2026-11")
    van = FACTORS.get("road", "van_diesel_avg")
    newer = dataclasses.replace(FACTORS, version="test-2", factors=(
        dataclasses.replace(van, wtw_g_per_tkm=Decimal("800")),))
    [p] = monthly_report([_row("s", nov.start, nov.start)], nov, newer)["platforms"]
    # Recorded 3911 g with the old table; 5 tkm x 800 = 4000 g now: +2.276 %.
    assert p["check"] == {"legs_wtw_g": 3911, "recomputed_wtw_g": 4000,
                          "deviation_pct": "2.276"}
    assert p["factor_versions"] == [FACTORS.version]


def test_csv_has_a_row_per_mode_and_a_total(q: KpiQueries) -> None:
    rep = emissions_report(q, "2026-11")
    rows = list(csv.DictReader(io.StringIO(to_csv(rep))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [(r["mode"], r["wtw_g"]) for r in rows] == [
        ("rail", "20820"), ("road", "30053"), ("*", "50873")]
    assert rows[0]["ttw_g"] == "" and rows[1]["ttw_g"] == "24391"


def test_cli_json_csv_and_table(ledger: KpiLedger, q: KpiQueries) -> None:
    base = ["emissions", "report", "--data", str(ledger.dir), "--month", "2026-11"]
    r = CliRunner().invoke(app, [*base, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == json.loads(json.dumps(emissions_report(q, "2026-11")))
    r = CliRunner().invoke(app, [*base, "--csv"])
    assert r.exit_code == 0 and r.stdout == to_csv(emissions_report(q, "2026-11"))
    r = CliRunner().invoke(app, base, env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "freight_train_uk_avg" in r.stdout and "50.873" in r.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--month", "2026-11", "--json", "--csv"], "choose one"),
    (["--month", "November"], "YYYY-MM"),
    (["--month", "2026-11", "--platform", "nobody"], "no platform"),
])
def test_cli_refuses_bad_requests(ledger: KpiLedger, args: list[str], message: str) -> None:
    r = CliRunner().invoke(app, ["emissions", "report", "--data", str(ledger.dir), *args])
    assert r.exit_code == 2 and message in r.output, r.output

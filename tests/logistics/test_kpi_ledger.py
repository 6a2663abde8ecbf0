"""KPIs on a real ledger (embedded node, signed transactions, SQLite projections): the values
of tests/logistics/kpi_ledger.py's timeline computed by hand, month and week boundaries,
platform filters, empty periods and ``supplyledger kpi --json``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from supplyledger.cli.main import app
from supplyledger.errors import NotFound, ValidationError
from supplyledger.logistics.kpi import DIRECT, compute
from supplyledger.node.kpi_reports import kpi_report, report_periods
from supplyledger.store.kpi_rows import KpiQueries
from supplyledger.store.readonly import open_readonly

from .kpi_ledger import KpiLedger, build


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> KpiLedger:
    return build(tmp_path_factory.mktemp("kpi") / "ledger")


@pytest.fixture
def q(ledger: KpiLedger) -> Iterator[KpiQueries]:
    conn = open_readonly(ledger.dir)
    yield KpiQueries(conn)
    conn.close()


def by_name(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(p["name"], r["period"]): r for p in report["platforms"] for r in p["periods"]}


def test_monthly_kpis_match_the_hand_computed_timeline(q: KpiQueries) -> None:
    rep = kpi_report(q)
    assert rep["periods"] == ["2026-10", "2026-11"]
    assert rep["sources"] == {"orders": True, "ratings": True, "shipments": True,
                              "sensors": True}
    k = by_name(rep)
    a_oct, a_nov = k[("Shop A", "2026-10")], k[("Shop A", "2026-11")]
    # A1 and A2 were placed on 31 October, A3 at 00:00 on 1 November.
    assert a_oct["orders"] == {"placed": 2, "cancelled": 0}
    assert a_nov["orders"] == {"placed": 1, "cancelled": 0}
    # A1 dispatched 2 h after placing (October); A2 4 h after (1 Nov 01:00).
    assert a_oct["processing_hours"] == {"n": 1, "median": "2.00", "mean": "2.00"}
    assert a_nov["processing_hours"] == {"n": 1, "median": "4.00", "mean": "4.00"}
    # Both delivered in November: A1 24 h after dispatch, A2 25 h.
    assert a_oct["delivery_hours"]["n"] == 0
    assert a_nov["delivery_hours"] == {"n": 2, "median": "24.50", "mean": "24.50"}
    # Due in November: A1 in full and on time, A2 short (8 of 10), A3 overdue -> 1 of 3.
    assert a_nov["otif"] == {"n": 3, "hit": 1, "pct": "33.3"}
    # Freight 500; storage 2/unit/day (EUR default) x 10 x 2 h = 1.67 (Oct), x 4 h = 3.33
    # (Nov); handling 150 + 5 x 10 = 200.
    assert [(c["freight"], c["storage"], c["handling"], c["total"])
            for c in a_oct["cost_per_order"]] == [(500, 2, 200, 702)]
    assert [(c["freight"], c["storage"], c["handling"], c["total"])
            for c in a_nov["cost_per_order"]] == [(500, 3, 200, 703)]
    # A1's lot broke its 2-8 degC rule in shipment S1 before delivery; A2 had no sensor.
    assert a_oct["excursions"] == {"orders": {"n": 1, "hit": 1, "pct": "100.0"},
                                   "shipments": {"n": 1, "hit": 1, "pct": "100.0"}}
    assert a_nov["excursions"]["orders"] == {"n": 1, "hit": 0, "pct": "0.0"}
    assert a_nov["satisfaction"] == {"n": 2, "mean": "4.00"}  # (5 + 3) / 2
    # A1 is all of S1's 100 kg: 0.1 t x 50 km x 782.25 g/tkm = 3911.25 -> 3911 g.
    assert a_oct["co2e_per_order"] == {"n": 1, "of": 1, "total_g": 3911, "mean_g": "3911.0"}
    assert a_nov["co2e_per_order"] == {"n": 0, "of": 1, "total_g": 0, "mean_g": None}
    b_nov, d_nov = k[("Shop B", "2026-11")], k[("(direct sales)", "2026-11")]
    assert b_nov["orders"] == {"placed": 1, "cancelled": 1} and b_nov["otif"]["n"] == 0
    assert d_nov["processing_hours"]["median"] == "1.00"
    assert d_nov["otif"] == {"n": 1, "hit": 1, "pct": "100.0"}
    rows = q.conn.execute("SELECT co2e_g FROM shipment_orders WHERE order_id='D1'").fetchall()
    assert d_nov["co2e_per_order"]["total_g"] == rows[0][0] > 0


def test_weeks_cut_differently_from_months(q: KpiQueries) -> None:
    # Sunday 1 Nov 2026 still belongs to ISO week 44, so A1-A3 are all placed in W44.
    k = by_name(kpi_report(q, kind="week", platform="Shop A"))
    assert list(k) == [("Shop A", "2026-W44"), ("Shop A", "2026-W45")]
    assert k[("Shop A", "2026-W44")]["orders"]["placed"] == 3
    assert k[("Shop A", "2026-W44")]["processing_hours"]["n"] == 2


def test_a_date_range_is_one_period_and_can_be_cut(q: KpiQueries) -> None:
    one = kpi_report(q, platform="shop-a", first="2026-11-01", last="2026-11-01")
    assert one["period_kind"] == "range" and one["periods"] == ["2026-11-01..2026-11-01"]
    row = one["platforms"][0]["periods"][0]
    assert row["orders"]["placed"] == 1 and row["processing_hours"]["median"] == "4.00"
    cut = kpi_report(q, kind="month", first="2026-10-31", last="2026-11-01")
    assert cut["periods"] == ["2026-10", "2026-11"]
    oct_ = cut["platforms"][-1]["periods"][0]
    assert oct_["end"] - oct_["start"] == 24 * 3_600_000  # clipped to 31 October


def test_an_empty_period_reports_no_values(q: KpiQueries) -> None:
    rep = kpi_report(q, first="2026-12-01", last="2026-12-31")
    for p in rep["platforms"]:
        row = p["periods"][0]
        assert row["orders"]["placed"] == 0 and row["otif"]["pct"] is None
        assert row["delivery_hours"]["mean"] is None and row["cost_per_order"] == []
        assert row["co2e_per_order"]["mean_g"] is None


def test_platforms_resolve_by_id_name_or_org(q: KpiQueries, ledger: KpiLedger) -> None:
    did = ledger.did("platA")
    assert q.resolve_platform(did) == q.resolve_platform("Shop A") == \
        q.resolve_platform("shop-a") == did
    assert q.resolve_platform("direct") == DIRECT
    only = kpi_report(q, platform="direct")
    assert [p["name"] for p in only["platforms"]] == ["(direct sales)"]
    assert only["platforms"][0]["periods"][1]["orders"]["placed"] == 1
    with pytest.raises(NotFound):
        q.resolve_platform("Maker")  # a participant, but not a platform
    with pytest.raises(NotFound):
        q.resolve_platform("shop-z")


@pytest.mark.parametrize(("kw", "err"), [
    ({"first": "2026-11-01"}, ValidationError), ({"kind": "2026-13"}, ValidationError),
    ({"kind": "current", "first": "2026-11-01", "last": "2026-11-02"}, ValidationError),
    ({"first": "2026-11-05", "last": "2026-11-01"}, ValidationError),
])
def test_bad_period_requests_are_refused(q: KpiQueries, kw: dict[str, Any],
                                         err: type[Exception]) -> None:
    with pytest.raises(err):
        kpi_report(q, **kw)


def test_current_period_is_the_month_of_the_last_block(q: KpiQueries) -> None:
    assert kpi_report(q, current=True)["periods"] == ["2026-11"]
    assert kpi_report(q, kind="current")["periods"] == ["2026-11"]
    assert kpi_report(q, kind="2026-W44")["periods"] == ["2026-W44"]


def test_cli_json_is_the_report(ledger: KpiLedger, q: KpiQueries, tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["kpi", "--data", str(ledger.dir), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == json.loads(json.dumps(kpi_report(q)))
    table = CliRunner().invoke(app, ["kpi", "--data", str(ledger.dir), "--platform", "Shop A",
                                     "--period", "week"], env={"COLUMNS": "200"})
    # By week, A3 is due in W44 (0 of 1), A1 and A2 in W45 (1 of 2).
    assert table.exit_code == 0 and "2026-W44" in table.stdout
    assert "0.0 % (0/1)" in table.stdout and "50.0 % (1/2)" in table.stdout
    tariffs = tmp_path / "t.json"
    tariffs.write_text(json.dumps({"EUR": {"storage_per_unit_day": 0, "handling_per_order": 0,
                                           "handling_per_unit": 100}}))
    r = CliRunner().invoke(app, ["kpi", "--data", str(ledger.dir), "--json", "--tariffs",
                                 str(tariffs), "--platform", "shop-a", "--period", "2026-11"])
    cost = json.loads(r.stdout)["platforms"][0]["periods"][0]["cost_per_order"][0]
    assert (cost["storage"], cost["handling"], cost["total"]) == (0, 1000, 1500)


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "2026-11-01"], "give both"),
    (["--platform", "nobody"], "no platform"),
    (["--period", "fortnight"], "period must be month, week, current or one period"),
    (["--period", "2026-13"], "month must be YYYY-MM"),
    (["--tariffs", "/nonexistent.json"], "cannot read tariffs"),
])
def test_cli_errors_exit_2_with_one_line(ledger: KpiLedger, args: list[str],
                                         message: str) -> None:
    r = CliRunner().invoke(app, ["kpi", "--data", str(ledger.dir), *args])
    assert r.exit_code == 2 and message in r.output, r.output


def test_cli_without_a_ledger(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["kpi", "--data", str(tmp_path)])
    assert r.exit_code == 2 and "no ledger" in r.output


@pytest.mark.parametrize("kind", ["month", "week"])
def test_loading_only_what_a_period_can_need_changes_nothing(q: KpiQueries, kind: str) -> None:
    """``load(since=...)`` skips rows that cannot fall into periods from ``since`` on."""
    _, periods = report_periods(q, kind)
    everything = q.load()
    keys = {o.platform or DIRECT for o in everything.orders}
    for p in periods:
        assert compute(q.load(since=p.start), [p], platforms=keys) == \
            compute(everything, [p], platforms=keys)
    # From December only A3 can still matter: never dispatched, not cancelled.
    assert [o.id for o in q.load(since=1_796_083_200_000).orders] == ["A3"]

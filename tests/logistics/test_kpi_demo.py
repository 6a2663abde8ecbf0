"""The demo's logistics story (demo/logistics.py) on a one-week demo ledger: a dispatch plan
recorded by platform A, two refrigerated shipments, one logged breach on one lot, and the
KPIs and emissions report that read them."""

from __future__ import annotations

from pathlib import Path

from supplyledger.api import ApiSettings
from supplyledger.api.web.dashboard import Dashboard
from supplyledger.contracts.registry import all_tables, load_builtin
from supplyledger.demo import load_demo
from supplyledger.node.kpi_reports import emissions_report, kpi_report
from supplyledger.store.kpi_rows import KpiQueries
from supplyledger.store.readonly import open_readonly
from supplyledger.store.sqlite import SQLiteStore

CHEAP = ApiSettings(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1,
                    seal_log2_n=10, login_rate=1000)


def test_demo_records_a_plan_a_cold_chain_breach_and_shows_them_in_kpis(
        tmp_path: Path) -> None:
    # A fixed "now" (20 Nov 2026) keeps the story's days, and so its month, reproducible.
    info = load_demo(tmp_path / "ledger", weeks=1, api=CHEAP, now_ms=1_795_176_000_000)
    n = info.notes["logistics"]
    conn = open_readonly(info.data_dir)
    try:
        # Nothing is dated after "now": steps due later have not happened yet.
        assert conn.execute("SELECT MAX(time) FROM blocks").fetchone()[0] <= 1_795_176_000_000
        q = KpiQueries(conn)
        plan = conn.execute("SELECT platform, routes, served, unserved FROM dispatch_plans "
                            "WHERE id = ?", (n["plan"],)).fetchone()
        assert plan[1:] == (len(n["shipments"]), 5, 0)
        states = dict(conn.execute("SELECT id, state FROM orders WHERE transport_no LIKE ?",
                                   (n["plan"] + "/%",)).fetchall())
        assert sorted(states) == sorted(n["orders"])
        assert states.pop(n["breached_order"]) == "disputed"
        assert set(states.values()) == {"completed"}
        breaches = conn.execute("SELECT batch, shipment, kind FROM sensor_breaches").fetchall()
        assert len(breaches) == 1 and breaches[0][0] == n["breached_lot"]
        assert breaches[0][1] in n["shipments"] and breaches[0][2] == "temp"
        assert {r[0] for r in conn.execute("SELECT status FROM shipments")} == {"delivered"}

        # The plan's month, for platform A: one breached order among those dispatched.
        month = kpi_report(q, platform="platform-a", kind="2026-11")
        row = month["platforms"][0]["periods"][0]
        exc = row["excursions"]
        assert exc["orders"]["hit"] == 1 and exc["shipments"]["hit"] == 1
        assert row["co2e_per_order"]["n"] == 5 and row["co2e_per_order"]["total_g"] > 0
        rep = emissions_report(q, "2026-11", platform="platform-a")
        [a] = rep["platforms"]
        recorded = conn.execute("SELECT SUM(co2e_g) FROM shipments").fetchone()[0]
        assert a["shipments"] == len(n["shipments"]) and a["wtw_g"] == recorded
        assert a["check"]["deviation_pct"] == "0.000"
        assert a["by_mode"][0]["vehicle_class"] == "van_diesel_avg"
        # The dashboard's problem count includes the breach, not only flagged events.
        flagged = conn.execute("SELECT COUNT(*) FROM trace_events WHERE verdict != ''"
                               ).fetchone()[0]
    finally:
        conn.close()
    store = SQLiteStore(info.data_dir)
    try:
        tables = {t.name for t in all_tables(load_builtin())}
        figures = Dashboard(store, tables).figures(store.height())
        assert figures["kpis"]["faulty_events"] == flagged + 1
    finally:
        store.close()

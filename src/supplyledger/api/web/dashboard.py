"""Dashboard figures, computed once per block height (they cannot change in between), so a
page view costs a dictionary lookup while the ledger is quiet."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from supplyledger.logistics.kpi_format import cells
from supplyledger.node.kpi_reports import kpi_report
from supplyledger.store import views
from supplyledger.store.kpi_rows import KpiQueries
from supplyledger.store.sqlite import SQLiteStore

__all__ = ["Dashboard"]

DAYS = 42
DAY_MS = views.DAY_MS


def _day(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d")


class Dashboard:
    def __init__(self, store: SQLiteStore, tables: set[str]) -> None:
        self.store = store
        self.tables = tables
        self._lock = threading.Lock()
        self._cache: tuple[int, dict[str, Any]] | None = None

    def figures(self, height: int) -> dict[str, Any]:
        with self._lock:
            if self._cache is not None and self._cache[0] == height:
                return self._cache[1]
        figs = self._compute()
        with self._lock:
            self._cache = (height, figs)
        return figs

    def _compute(self) -> dict[str, Any]:
        conn = self.store.reader()
        totals = views.ledger_totals(conn)
        txs, failed = totals["transactions"], totals["failed"]
        kpis: dict[str, Any] = {
            "blocks": totals["blocks"],
            "transactions": txs,
            "failed_share": (100.0 * failed / txs) if txs else 0.0,
            "participants": totals["participants"],
            "organisations": totals["organisations"],
        }
        by_step: list[tuple[str, float]] = []
        if "trace_events" in self.tables:
            trace = views.trace_totals(conn)
            kpis["batches"] = trace["batches"]
            kpis["events"] = trace["events"]
            by_step = [(step or "(none)", n) for step, n in views.events_by_step(conn, 10)]
            kpis["faulty_events"] = trace["flagged"]
        if "sensor_breaches" in self.tables:  # cold-chain breaches are problems reported too
            kpis["faulty_events"] = kpis.get("faulty_events", 0) + views.breach_count(conn)
        last = views.last_block_time(conn)
        first_day = last - (DAYS - 1) * DAY_MS
        counts = views.txs_per_day(conn, first_day - first_day % DAY_MS)
        start = first_day // DAY_MS
        per_day = [(_day(d * DAY_MS), float(counts.get(d, 0)))
                   for d in range(start, start + DAYS)]
        by_contract = [(c, float(n)) for c, n in views.txs_by_contract(conn)]
        failures = [(code or "?", float(n)) for code, n in views.error_codes(conn, 8)]
        orders: list[tuple[str, float]] = []
        if "orders" in self.tables:
            orders = [(str(state), float(n)) for state, n in views.orders_by_state(conn)]
        return {"kpis": kpis, "per_day": per_day, "by_step": by_step,
                "by_contract": by_contract, "failures": failures, "orders": orders,
                "platform_kpis": self._platform_kpis()}

    def _platform_kpis(self) -> dict[str, Any] | None:
        """Each platform's KPIs for the month of the last block (logistics/kpi.py)."""
        if "orders" not in self.tables:
            return None
        rep = kpi_report(KpiQueries(self.store.reader()), current=True)
        return {"period": rep["periods"][0], "sources": rep["sources"],
                "platforms": [{"platform": p["platform"], "name": p["name"],
                               "cells": cells(p["periods"][0])} for p in rep["platforms"]]}

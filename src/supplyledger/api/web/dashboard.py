"""Dashboard figures, computed once per block height (they cannot change in between), so a
page view costs a dictionary lookup while the ledger is quiet."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from supplyledger.logistics.kpi_format import cells
from supplyledger.node.kpi_queries import KpiQueries, kpi_report
from supplyledger.store.sqlite import SQLiteStore

__all__ = ["Dashboard"]

DAYS = 42


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

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        return self.store.reader().execute(sql, params).fetchone()[0]

    def _compute(self) -> dict[str, Any]:
        q = self.store.reader().execute
        txs, failed = q("SELECT COUNT(*), COALESCE(SUM(1 - ok), 0) FROM txs "
                        "WHERE height > 0").fetchone()
        kpis: dict[str, Any] = {
            "blocks": self._one("SELECT COUNT(*) FROM blocks"),
            "transactions": txs,
            "failed_share": (100.0 * failed / txs) if txs else 0.0,
            "participants": self._one("SELECT COUNT(*) FROM participants"),
            "organisations": self._one("SELECT COUNT(*) FROM organisations"),
        }
        by_step: list[tuple[str, float]] = []
        if "trace_events" in self.tables:
            kpis["batches"] = self._one("SELECT COUNT(DISTINCT batch) FROM trace_events")
            kpis["events"] = self._one("SELECT COUNT(*) FROM trace_events")
            by_step = [(r[0] or "(none)", r[1]) for r in q(
                "SELECT biz_step, COUNT(*) c FROM trace_events GROUP BY biz_step "
                "ORDER BY c DESC LIMIT 10")]
            kpis["faulty_events"] = self._one(
                "SELECT COUNT(*) FROM trace_events WHERE verdict != ''")
        if "sensor_breaches" in self.tables:  # cold-chain breaches are problems reported too
            kpis["faulty_events"] = kpis.get("faulty_events", 0) + self._one(
                "SELECT COUNT(DISTINCT id) FROM sensor_breaches")
        last = self._one("SELECT MAX(time) FROM blocks") or 0
        first_day = last - (DAYS - 1) * 86_400_000
        counts = dict(q("SELECT b.time / 86400000, COUNT(*) FROM txs t JOIN blocks b "
                        "ON b.height = t.height WHERE b.height > 0 AND b.time >= ? "
                        "GROUP BY b.time / 86400000", (first_day - first_day % 86_400_000,)))
        start = first_day // 86_400_000
        per_day = [(_day(d * 86_400_000), float(counts.get(d, 0)))
                   for d in range(start, start + DAYS)]
        by_contract = [(r[0], float(r[1])) for r in q(
            "SELECT contract, COUNT(*) c FROM txs WHERE height > 0 GROUP BY contract "
            "ORDER BY c DESC")]
        failures = [(r[0] or "?", float(r[1])) for r in q(
            "SELECT json_extract(CAST(receipt AS TEXT), '$.error.code') code, COUNT(*) c "
            "FROM txs WHERE ok = 0 GROUP BY code ORDER BY c DESC LIMIT 8")]
        orders: list[tuple[str, float]] = []
        if "orders" in self.tables:
            ocols = {r[1] for r in q("PRAGMA table_info(orders)")}
            if "state" in ocols:
                orders = [(str(r[0]), float(r[1])) for r in q(
                    "SELECT state, COUNT(*) FROM orders GROUP BY state ORDER BY 2 DESC")]
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

"""Read models the web UI shows: the dashboard's counts and charts, the trace page's recent
batches and each batch's own end of its breaches, and the event form's held batches.

The web layer only parses, calls and renders (DESIGN.md, "Layers"), and the store layer
holds the only SQL, so the queries behind those pages live here. Each function takes a
read connection (what ``SQLiteStore.reader()`` returns) and plain parameters and returns
plain values (ints, tuples, lists, dicts); labels, percentages and floats for the charts are
the caller's business. Projection tables of contracts a ledger may not have are the
caller's check too (it knows the ledger's tables): these functions assume their tables
exist, except :func:`orders_by_state`, which also looks for the ``state`` column.
"""

from __future__ import annotations

import sqlite3
from typing import Any

__all__ = ["breach_count", "breach_ends", "error_codes", "events_by_step", "held_batches",
           "last_block_time", "ledger_totals", "orders_by_state", "recent_batches",
           "trace_totals", "txs_by_contract", "txs_per_day"]

DAY_MS = 86_400_000


def _one(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...] = ()) -> Any:
    return conn.execute(sql, params).fetchone()[0]


def ledger_totals(conn: sqlite3.Connection) -> dict[str, int]:
    """Blocks, transactions after genesis and how many failed, participants, organisations."""
    txs, failed = conn.execute("SELECT COUNT(*), COALESCE(SUM(1 - ok), 0) FROM txs "
                               "WHERE height > 0").fetchone()
    return {"blocks": _one(conn, "SELECT COUNT(*) FROM blocks"), "transactions": txs,
            "failed": failed, "participants": _one(conn, "SELECT COUNT(*) FROM participants"),
            "organisations": _one(conn, "SELECT COUNT(*) FROM organisations")}


def trace_totals(conn: sqlite3.Connection) -> dict[str, int]:
    """Batches with trace events, trace events, and events flagged with a verdict."""
    return {"batches": _one(conn, "SELECT COUNT(DISTINCT batch) FROM trace_events"),
            "events": _one(conn, "SELECT COUNT(*) FROM trace_events"),
            "flagged": _one(conn, "SELECT COUNT(*) FROM trace_events WHERE verdict != ''")}


def events_by_step(conn: sqlite3.Connection, limit: int = 10) -> list[tuple[str | None, int]]:
    """(business step, trace events) for the ``limit`` most frequent steps, most first."""
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT biz_step, COUNT(*) c FROM trace_events GROUP BY biz_step "
        "ORDER BY c DESC LIMIT ?", (limit,))]


def breach_count(conn: sqlite3.Connection) -> int:
    """Cold-chain breaches (one per breach, however many batches it marked)."""
    n: int = _one(conn, "SELECT COUNT(DISTINCT id) FROM sensor_breaches")
    return n


def breach_ends(conn: sqlite3.Connection, batch: str) -> dict[str, int | None]:
    """Breach id -> when it ended for ``batch`` (None: still going on there), from the
    per-batch rows of ``sensor_breaches``: under sensors rules v4 the batches one breach
    marks end with their own excursion, and the breach record only with the last."""
    return {r[0]: r[1] for r in conn.execute(
        "SELECT id, ended FROM sensor_breaches WHERE batch = ?", (batch,))}


def last_block_time(conn: sqlite3.Connection) -> int:
    """Time of the newest block, ms epoch (0 for a ledger without blocks)."""
    return int(_one(conn, "SELECT MAX(time) FROM blocks") or 0)


def txs_per_day(conn: sqlite3.Connection, since_ms: int) -> dict[int, int]:
    """Transactions after genesis per UTC day (ms epoch // 86 400 000) of their block, for
    blocks at or after ``since_ms``; days without transactions are absent."""
    return dict(conn.execute(
        "SELECT b.time / 86400000, COUNT(*) FROM txs t JOIN blocks b ON b.height = t.height "
        "WHERE b.height > 0 AND b.time >= ? GROUP BY b.time / 86400000", (since_ms,)))


def txs_by_contract(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    """(contract, transactions after genesis), most first."""
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT contract, COUNT(*) c FROM txs WHERE height > 0 GROUP BY contract "
        "ORDER BY c DESC")]


def error_codes(conn: sqlite3.Connection, limit: int = 8) -> list[tuple[str | None, int]]:
    """(error code of the receipt, failed transactions) for the ``limit`` commonest codes."""
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT json_extract(CAST(receipt AS TEXT), '$.error.code') code, COUNT(*) c "
        "FROM txs WHERE ok = 0 GROUP BY code ORDER BY c DESC LIMIT ?", (limit,))]


def orders_by_state(conn: sqlite3.Connection) -> list[tuple[Any, int]]:
    """(state, orders), most first; empty when the orders table has no ``state`` column."""
    if "state" not in {r[1] for r in conn.execute("PRAGMA table_info(orders)")}:
        return []
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT state, COUNT(*) FROM orders GROUP BY state ORDER BY 2 DESC")]


def recent_batches(conn: sqlite3.Connection, limit: int = 16) -> list[
        tuple[str, int, str | None]]:
    """(batch, trace events, lot) of the ``limit`` batches with the newest events, newest
    first; the lot is None for a batch the products contract does not know."""
    return [(r[0], r[1], r[3]) for r in conn.execute(
        "SELECT e.batch, COUNT(*), MAX(e.height) h, b.lot FROM trace_events e "
        "LEFT JOIN batches b ON b.id = e.batch GROUP BY e.batch ORDER BY h DESC LIMIT ?",
        (limit,))]


def held_batches(conn: sqlite3.Connection, org: str, limit: int = 200) -> list[
        tuple[str, str | None, str | None]]:
    """(batch, lot, product name) of the batches ``org`` owns or holds, latest change of
    hands first."""
    return [(r[0], r[1], r[2]) for r in conn.execute(
        "SELECT h.batch, b.lot, p.name FROM custody_holdings h LEFT JOIN batches b "
        "ON b.id = h.batch LEFT JOIN products p ON p.gtin = b.gtin "
        "WHERE h.owner_org = ? OR h.custodian_org = ? ORDER BY h.since DESC LIMIT ?",
        (org, org, limit))]

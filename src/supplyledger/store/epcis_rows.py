"""Recorded EPCIS events for the REST binding's queries (``GET /epcis/events``): the
``trace_events`` rows that match a filter, in ledger order, a page at a time.

The store holds the only SQL (DESIGN.md, "Layers"), so the query lives here; the API turns
the filter's parameters into canonical values and the rows into events.

- **Ledger order.** Events come in the order they were recorded: by the carrying
  transaction's position (``txs.pos``, block height then index) and the event's index in it
  (``item``). That is EPCIS's recordTime order, and a keyset over ``(pos, item)`` makes
  page k cost what page 1 costs and keeps pages stable while new blocks commit.
- **Join order.** Without a subject filter the scan walks ``txs`` in position order (its
  rowid) and probes ``trace_events`` by its ``(height, tx)`` index, so a page stops after
  enough matches; with one, it starts from the few rows of those subjects (the primary
  key) and sorts them.
- **Each event once.** A row is an event recorded under one subject; should an event ever
  be recorded under several, its rows are adjacent in this order and only the first is
  returned (a later page starts after the whole event, since its key is the event's).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from supplyledger.store import tx_ids

__all__ = ["EventFilter", "event_rows"]


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Conditions on ``trace_events`` columns, each list an OR and the lists ANDed; empty
    means no condition. Times are canonical UTC text (``2024-01-02T03:04:05.000Z``), which
    compares in time order; steps and dispositions as the projection stores them."""

    types: tuple[str, ...] = ()
    since: str | None = None  # event_time >= since
    before: str | None = None  # event_time < before
    steps: tuple[str, ...] = ()
    dispositions: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()


def _in(col: str, values: tuple[str, ...], where: list[str], params: list[Any]) -> None:
    if values:
        where.append(f"{col} IN ({','.join('?' * len(values))})")
        params.extend(values)


def event_rows(conn: sqlite3.Connection, f: EventFilter, after: tuple[int, int] | None,
               limit: int) -> tuple[list[tuple[Any, ...]], bool]:
    """Up to ``limit`` events matching ``f`` after position ``after`` (``(pos, item)`` of the
    last event of the previous page), in ledger order, and whether more follow. Each row is
    the ``trace_events`` columns in table order followed by ``pos``."""
    where: list[str] = []
    params: list[Any] = []
    _in("e.type", f.types, where, params)
    _in("e.biz_step", f.steps, where, params)
    _in("e.disposition", f.dispositions, where, params)
    _in("e.batch", f.subjects, where, params)
    if f.since is not None:
        where.append("e.event_time >= ?")
        params.append(f.since)
    if f.before is not None:
        where.append("e.event_time < ?")
        params.append(f.before)
    if after is not None:
        # pos >= ? lets the rowid bound the scan; the rest skips the last page's event.
        where.append("t.pos >= ? AND (t.pos > ? OR e.item > ?)")
        params.extend((after[0], after[0], after[1]))
    # CROSS JOIN pins txs as the outer loop (SQLite never reorders it).
    join = "trace_events e JOIN txs t" if f.subjects else "txs t CROSS JOIN trace_events e"
    sql = (f"SELECT e.*, t.pos FROM {join} ON e.height = t.height AND "
           f"{tx_ids.match('t.id', 'e.tx')}"
           + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY t.pos, e.item")
    # No LIMIT: rows are stepped lazily, and stepping stops at the first event past the
    # page (a LIMIT would count an event's duplicate rows as events).
    out: list[tuple[Any, ...]] = []
    last: tuple[int, int] | None = None
    cur = conn.execute(sql, params)
    try:
        for row in cur:
            key = (row[-1], row[3])
            if key == last:  # the same event under another subject
                continue
            if len(out) == limit:
                return out, True
            out.append(tuple(row))
            last = key
        return out, False
    finally:
        cur.close()  # ends the read at once, not when the cursor is collected

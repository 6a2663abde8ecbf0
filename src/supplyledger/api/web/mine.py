"""What concerns the logged-in participant: the rows of a table that name them (newest
first, so an inbox shows what waits for them rather than their oldest history), and the
lists of values the generated forms suggest (participants by name, the user's orders,
batches held, shipments, open custody proposals).

"Newest" is the table's time column (:func:`time_column`); the store sorts by it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from supplyledger.api.service import LedgerService, Principal
from supplyledger.api.web.render import when
from supplyledger.contracts.projection import Table
from supplyledger.store import views

__all__ = ["ADDRESSEE_COLS", "about", "display_names", "newest_first", "suggestions",
           "time_column"]

# Columns that name a participant the row concerns (buyer, recipient, holder, ...).
ADDRESSEE_COLS = ("to_", "to", "recipient", "buyer", "seller", "transporter", "custodian",
                  "owner", "account", "subject", "financier", "author", "frm", "party",
                  "creator", "platform")
# The column that says when a row happened, in order of preference.
_TIME_COLS = ("placed_at", "time", "created", "since", "updated", "started", "height")


def about(svc: LedgerService, t: Table, did: str, limit: int) -> tuple[list[dict[str, Any]],
                                                                        int]:
    """The newest ``limit`` rows of ``t`` naming ``did``, and how many there are."""
    cols = [c for c in ADDRESSEE_COLS if c in t.column_names]
    return svc.reads.naming(t.name, cols, did, time_column(t), limit)


def time_column(t: Table) -> str | None:
    return next((c for c in _TIME_COLS if c in t.column_names), None)


def newest_first(t: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` sorted by the table's time column, newest first (as they are without one)."""
    tcol = time_column(t)
    if tcol is None:
        return rows
    return sorted(rows, key=lambda r: r[tcol] if isinstance(r[tcol], int) else -1,
                  reverse=True)


def display_names(svc: LedgerService) -> dict[str, str]:
    """What tables show instead of ids: participants by id, organisations as ``org:<id>``
    and product types as ``gtin:<GTIN>`` (a cell's column says which kind of id it holds,
    so an organisation's id never renames an unrelated value)."""
    names = {p["did"]: p["name"] for p in svc.reads.rows("participants", 500, None).items}
    for table, key, prefix in (("organisations", "id", "org:"), ("products", "gtin", "gtin:")):
        if table in svc.reads.tables:
            names.update((prefix + r[key], r["name"])
                         for r in svc.reads.rows(table, 500, None).items)
    return names


def _participants(svc: LedgerService) -> list[tuple[str, str]]:
    rows = svc.reads.rows("participants", 500, None, {"status": "active"}).items
    return [(r["did"], f"{r['name']} ({r['org']})") for r in rows
            if "node" not in str(r["roles"]).split(",")]


def _orders(svc: LedgerService, who: Principal) -> list[tuple[str, str]]:
    rows, _ = about(svc, svc.reads.table("orders"), who.did, 100)
    return [(r["id"], f"{r['state']} · qty {r['quantity']} of {r['product'] or r['batch']}")
            for r in rows]


def _batches(svc: LedgerService, who: Principal) -> list[tuple[str, str]]:
    if who.org is None or "custody_holdings" not in svc.reads.tables:
        return []
    return [(batch, f"lot {lot or batch.rsplit('/', 1)[-1]} — {name or ''}")
            for batch, lot, name in views.held_batches(svc.node.store.reader(), who.org, 200)]


def _shipments(svc: LedgerService, who: Principal) -> list[tuple[str, str]]:
    rows, _ = about(svc, svc.reads.table("shipments"), who.did, 100)
    return [(r["id"], f"{r['status']} · promised {when(r['promised'])}") for r in rows]


def _proposals(svc: LedgerService, who: Principal) -> list[tuple[str, str]]:
    rows, _ = about(svc, svc.reads.table("custody_proposals"), who.did, 100)
    return [(r["id"], f"{r['kind']} of {str(r['batch']).rsplit('/', 1)[-1]}"
                      f"{' to you' if r['to_'] == who.did else ''}")
            for r in rows if r["status"] == "open"]


def suggestions(svc: LedgerService, who: Principal, wanted: set[str]) -> dict[str, Any]:
    """The suggestion lists ``wanted`` (ids named by ``Field.suggest``) that this node has
    the tables for: list id -> [(value, label)]."""
    makers: dict[str, tuple[str, Callable[[], list[tuple[str, str]]]]] = {
        "participants": ("participants", lambda: _participants(svc)),
        "orders": ("orders", lambda: _orders(svc, who)),
        "batches": ("custody_holdings", lambda: _batches(svc, who)),
        "shipments": ("shipments", lambda: _shipments(svc, who)),
        "proposals": ("custody_proposals", lambda: _proposals(svc, who))}
    return {name: make() for name, (table, make) in makers.items()
            if name in wanted and table in svc.reads.tables}

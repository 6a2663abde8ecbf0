"""Reads over the shipments projections: open orders to dispatch, plans, and the shipments
and CO2e of an order or a batch (for trace).

The store holds the only SQL (DESIGN.md, "Layers"), so these reads live here: functions on a
read connection (:func:`~supplyledger.store.readonly.open_readonly` or
``SQLiteStore.reader()``) returning plain dicts, or the pure ``LedgerOrder`` records the
dispatch planner takes. The tables are the shipments contract's (``shipments``,
``shipment_legs``, ``shipment_orders``, ``shipment_batches``, ``dispatch_plans``) and the
orders contract's ``orders``. A ledger whose projections predate the shipments contract
simply has no shipments (empty results; a plan is not found).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from supplyledger.errors import NotFound
from supplyledger.logistics.dispatch_request import LedgerOrder
from supplyledger.store.readonly import table_names

__all__ = ["dispatch_plan", "open_orders", "shipments_for_batch",
           "shipments_for_order"]


def _has(conn: sqlite3.Connection, *tables: str) -> bool:
    return set(tables) <= set(table_names(conn))


def open_orders(conn: sqlite3.Connection, platform: str) -> list[LedgerOrder]:
    """Orders placed through ``platform`` and not yet dispatched."""
    rows = conn.execute("SELECT id, earliest, latest, batch FROM orders WHERE platform=? AND "
                        "state='placed' ORDER BY id", (platform,)).fetchall()
    return [LedgerOrder(*r) for r in rows]


def dispatch_plan(conn: sqlite3.Connection, plan_id: str) -> dict[str, Any]:
    """A recorded plan with its routes and each route's legs (distances, drop nodes)."""
    if not _has(conn, "dispatch_plans", "shipment_legs"):
        raise NotFound(f"no dispatch plan {plan_id}")
    row = conn.execute("SELECT id, platform, warehouse, distance_m, solver_distance_m, co2e_g, "
                       "detail, created, height, tx FROM dispatch_plans WHERE id=?",
                       (plan_id,)).fetchone()
    if row is None:
        raise NotFound(f"no dispatch plan {plan_id}")
    keys = ("id", "platform", "warehouse", "distance_m", "solver_distance_m", "co2e_g",
            "detail", "created", "height", "tx")
    plan = dict(zip(keys, row, strict=True))
    plan.update(json.loads(plan.pop("detail")))
    plan["warehouse_at"] = None
    for r in plan["routes"]:
        legs = conn.execute("SELECT from_node, to_node, distance_m, from_lat, from_lon, "
                            "to_lat, to_lon FROM shipment_legs WHERE shipment=? ORDER BY idx",
                            (r["shipment"],)).fetchall()
        r["legs"] = [{"from": a, "to": b, "distance_m": d, "to_lat": la, "to_lon": lo}
                     for a, b, d, _, _, la, lo in legs]
        if legs and legs[0][3] is not None:
            plan["warehouse_at"] = (legs[0][3], legs[0][4])
    return plan


_SHIPMENT_COLS = ("s.id, s.plan, s.transporter, s.status, s.promised, s.eta, s.late, "
                  "s.distance_m, s.co2e_g, s.factors")
_KEYS = ("shipment", "plan", "transporter", "status", "promised", "eta", "late", "distance_m",
         "co2e_g", "factors")


def shipments_for_order(conn: sqlite3.Connection, order_id: str) -> list[dict[str, Any]]:
    """The shipments that carry an order, each with the order's share of its CO2e."""
    if not _has(conn, "shipments", "shipment_orders"):
        return []
    rows = conn.execute(
        f"SELECT {_SHIPMENT_COLS}, so.mass_kg, so.co2e_g FROM shipment_orders so "
        "JOIN shipments s ON s.id = so.shipment WHERE so.order_id=? ORDER BY s.created, s.id",
        (order_id,)).fetchall()
    return [{**dict(zip(_KEYS, r[:10], strict=True)), "order": order_id, "order_mass_kg": r[10],
             "order_co2e_g": r[11]} for r in rows]


def shipments_for_batch(conn: sqlite3.Connection, batch: str) -> list[dict[str, Any]]:
    """Shipments that carried ``batch``: named as a batch, or carrying an order for it. The
    CO2e is the order's share where an order links them, else the shipment's total."""
    if not _has(conn, "shipments", "shipment_orders", "shipment_batches", "orders"):
        return []
    out: dict[str, dict[str, Any]] = {}
    for (oid,) in conn.execute("SELECT id FROM orders WHERE batch=? ORDER BY id", (batch,)):
        for s in shipments_for_order(conn, oid):
            out.setdefault(s["shipment"], s)
    for r in conn.execute(f"SELECT {_SHIPMENT_COLS} FROM shipment_batches sb JOIN shipments s "
                          "ON s.id = sb.shipment WHERE sb.batch=? ORDER BY s.created, s.id",
                          (batch,)):
        s = dict(zip(_KEYS, r, strict=True))
        out.setdefault(s["shipment"], {**s, "order": None, "order_mass_kg": None,
                                       "order_co2e_g": None})
    return list(out.values())

"""The SQL behind the KPIs and the emissions report: projection rows -> the plain facts of
:mod:`supplyledger.logistics.kpi` and the shipment rows of
:mod:`supplyledger.logistics.emissions_report` (the arithmetic lives there, not here).

The store holds the only SQL (DESIGN.md, "Layers"), so these reads live here; the reports
are assembled in :mod:`supplyledger.node.kpi_reports`. The records returned are those pure
modules' dataclasses, the one thing this module imports from above the store.

:class:`KpiQueries` wraps a read connection: the CLI's :func:`~supplyledger.store.readonly.
open_readonly` or the web app's per-thread ``SQLiteStore.reader()``. It looks up the
ledger's tables once, because tables of contracts a ledger may not have yet (``shipments``,
``shipment_orders``, ``sensor_breaches`` ...) are checked before each read: when one is
missing its facts are empty and its KPIs say "no data" instead of failing.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from typing import Any

from supplyledger.errors import NotFound, ValidationError
from supplyledger.logistics.emissions_report import Carried, LegRow, ShipmentRow
from supplyledger.logistics.kpi import (
    DIRECT,
    BreachFacts,
    KpiInput,
    OrderFacts,
    RatingFacts,
    ShipmentFacts,
)
from supplyledger.store.readonly import table_names

__all__ = ["KpiQueries"]

_DIRECT_NAMES = frozenset({"direct", "(direct)", "(direct sales)"})
# Closed before departing = cancelled: no transport happened, so the KPIs skip such a
# shipment entirely, as the emissions report does (its order shares are no emissions).
_RAN = "(s.departed IS NOT NULL OR s.status != 'closed')"
# For the KPIs a shipment nobody's platform created counts once for each platform of the
# orders it carries (one row per shipment x platform; direct-sales orders give NULL).
# ``{ended}``: the end column, NULL in a table built by a release that had none (a ledger
# read before a node of this release rebuilt it: its shipments closed on the way then
# count as still moving, as that release counted them).
_KPI_SHIPMENTS = ("(SELECT DISTINCT s.id, s.created, s.departed, s.arrived, {ended} AS ended, "
                  "COALESCE(NULLIF(s.platform, ''), o.platform) AS platform_of FROM shipments s "
                  "LEFT JOIN shipment_orders so ON so.shipment = s.id AND "
                  "NULLIF(s.platform, '') IS NULL LEFT JOIN orders o ON o.id = so.order_id "
                  f"WHERE {_RAN}) AS sh")

class KpiQueries:
    """The KPI reads over one read connection (its table list is read once, here)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.tables = set(table_names(conn))

    def _q(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return self.conn.execute(sql, params).fetchall()

    def columns(self, table: str) -> set[str]:
        """The column names of ``table`` as this ledger's file has them."""
        return {r[1] for r in self._q(f"PRAGMA table_info({table})")}

    def has(self, *tables: str) -> bool:
        """Whether the ledger has all these projection tables."""
        return all(t in self.tables for t in tables)

    def as_of(self) -> int:
        """The ledger's "now": the time of its last block."""
        return int(self._q("SELECT COALESCE(MAX(time), 0) FROM blocks")[0][0])

    def height(self) -> int:
        """Height of the last block (-1 for an empty database)."""
        return int(self._q("SELECT COALESCE(MAX(height), -1) FROM blocks")[0][0])

    def names(self) -> dict[str, str]:
        """Participant id -> name."""
        return {did: name for did, name in self._q("SELECT did, name FROM participants")}

    def platforms(self) -> list[tuple[str, str]]:
        """(id, name) of participants with the platform role."""
        return [(d, n) for d, n, roles in self._q(
            "SELECT did, name, roles FROM participants ORDER BY name")
            if "platform" in str(roles).replace(",", " ").split()]

    def resolve_platform(self, text: str) -> str:
        """A platform given as its participant id, its name or its organisation's id;
        "direct" means orders that came through no platform."""
        t = text.strip()
        if t.lower() in _DIRECT_NAMES:
            return DIRECT
        rows = self._q("SELECT did FROM participants WHERE did = ? OR name = ? OR org = ?",
                       (t, t, t))
        hits = [d for (d,) in rows if d in dict(self.platforms())]
        if len(hits) == 1:
            return str(hits[0])
        if not hits:
            raise NotFound(f"no platform {text!r} (give its participant id, name or "
                           "organisation id)", platform=text)
        raise ValidationError(f"{text!r} names {len(hits)} platforms; give a participant id",
                              arg="platform")

    def _where(self, platform: str | None, col: str, *more: str) -> tuple[str, tuple[
            Any, ...]]:
        """`` WHERE`` clause: the platform filter on ``col`` and the ``more`` conditions."""
        conds, params = list(more), []
        if platform == DIRECT:
            conds.append(f"({col} IS NULL OR {col} = '')")
        elif platform is not None:
            conds.append(f"{col} = ?")
            params.append(platform)
        return (" WHERE " + " AND ".join(conds) if conds else ""), tuple(params)

    def load(self, platform: str | None = None, since: int | None = None) -> KpiInput:
        """Every fact the KPIs need, for one platform or all. ``since`` (ms) leaves out what
        cannot fall into a period starting then: an order counts there only if it was placed,
        dispatched, delivered or due from then on, and one dispatched then is either
        delivered since or not delivered (and not cancelled)."""
        t0 = 0 if since is None else int(since)
        relevant = (f"(o.placed_at >= {t0} OR o.delivered_at >= {t0} OR o.latest >= {t0} OR "
                    "(o.delivered_at IS NULL AND o.state != 'cancelled'))")
        has_ship = self.has("shipments", "shipment_orders")
        orders: list[OrderFacts] = []
        carried: dict[str, list[tuple[str, int]]] = defaultdict(list)
        if has_ship:
            for sid, oid, g in self._q("SELECT so.shipment, so.order_id, so.co2e_g FROM "
                                       "shipment_orders so JOIN shipments s ON s.id = "
                                       f"so.shipment WHERE {_RAN} ORDER BY so.shipment"):
                carried[oid].append((sid, int(g or 0)))
        if self.has("orders", "order_events"):
            where, params = self._where(platform, "o.platform", relevant)
            rows = self._q("SELECT o.id, o.platform, o.currency, o.quantity, o.delivered, "
                           "o.freight, o.state, o.latest, o.placed_at, o.delivered_at, "
                           f"o.on_time, o.batch FROM orders o{where} ORDER BY o.id", params)
            dispatched = dict(self._q(
                "SELECT order_id, MIN(time) FROM order_events WHERE event = 'dispatched' AND "
                f"order_id IN (SELECT o.id FROM orders o{where}) GROUP BY order_id", params))
            orders = [OrderFacts(
                id=r[0], platform=r[1], currency=r[2], quantity=int(r[3]),
                delivered=int(r[4] or 0), freight=int(r[5]), state=r[6], latest=int(r[7]),
                placed_at=int(r[8]), dispatched_at=dispatched.get(r[0]), delivered_at=r[9],
                on_time=r[10], batch=r[11],
                co2e_g=sum(g for _, g in carried[r[0]]) if r[0] in carried else None)
                for r in rows]
        ratings: list[RatingFacts] = []
        if self.has("ratings"):
            where, params = self._where(platform, "platform", f"time >= {t0}")
            ratings = [RatingFacts(*r) for r in self._q(
                f"SELECT order_id, platform, score, time FROM ratings{where}", params)]
        shipments: list[ShipmentFacts] = []
        if has_ship:
            by_ship: dict[str, list[str]] = defaultdict(list)
            for oid, legs in carried.items():
                for sid, _ in legs:
                    by_ship[sid].append(oid)
            lots: dict[str, list[str]] = defaultdict(list)
            if self.has("shipment_batches"):
                for sid, batch in self._q("SELECT shipment, batch FROM shipment_batches"):
                    lots[sid].append(batch)
            # The lots of every order aboard, whatever its platform or date: the orders
            # loaded above may be one platform's only, and a shared shipment carries others'.
            if self.has("orders"):
                for sid, batch in self._q(
                        "SELECT DISTINCT so.shipment, o.batch FROM shipment_orders so JOIN "
                        "orders o ON o.id = so.order_id WHERE o.batch IS NOT NULL AND "
                        "o.batch != '' ORDER BY so.shipment, o.batch"):
                    if batch not in lots[sid]:
                        lots[sid].append(batch)
            where, params = self._where(platform, "platform_of", f"created >= {t0}")
            ended = "s.ended" if "ended" in self.columns("shipments") else "NULL"
            shipments = [ShipmentFacts(sid, plat, int(created), tuple(lots[sid]),
                                       tuple(by_ship[sid]), departed, arrived, ended)
                         for sid, plat, created, departed, arrived, ended in self._q(
                             "SELECT id, platform_of, created, departed, arrived, ended "
                             f"FROM {_KPI_SHIPMENTS.format(ended=ended)}{where} ORDER BY id",
                             params)]
        # Every breach with its span: a shipment counts a lot's breach only while it moved.
        breaches = [BreachFacts(b or None, s or None, int(t), end) for b, s, t, end in self._q(
            "SELECT DISTINCT batch, shipment, started, ended FROM sensor_breaches")
                    ] if self.has("sensor_breaches") else []
        return KpiInput(as_of=self.as_of(), orders=orders, ratings=ratings,
                        shipments=shipments, breaches=breaches,
                        has_sensors=self.has("sensor_breaches"), has_shipments=has_ship,
                        names=self.names())

    def shipment_rows(self) -> list[ShipmentRow]:
        """Shipments with their legs and the orders they carry (platform, mass, unloading
        leg, recorded share), for the emissions report, which splits them by platform."""
        if not self.has("shipments", "shipment_legs", "shipment_orders"):
            return []
        legs: dict[str, list[LegRow]] = defaultdict(list)
        for sid, *leg in self._q("SELECT shipment, idx, mode, vehicle_class, distance_m, "
                                 "mass_kg, co2e_g, tonne_km FROM shipment_legs "
                                 "ORDER BY shipment, idx"):
            legs[sid].append(LegRow(*leg))
        carried: dict[str, list[Carried]] = defaultdict(list)
        of_order = "o.platform" if self.has("orders") else "NULL"
        join = " LEFT JOIN orders o ON o.id = so.order_id" if self.has("orders") else ""
        for sid, oid, plat, kg, leg, g in self._q(
                f"SELECT so.shipment, so.order_id, NULLIF({of_order}, ''), so.mass_kg, so.leg, "
                f"so.co2e_g FROM shipment_orders so{join} ORDER BY so.shipment, so.order_id"):
            carried[sid].append(Carried(oid, plat, kg, leg, int(g or 0)))
        return [ShipmentRow(sid, plat or None, status, int(created), departed, int(g or 0),
                            factors, tuple(legs[sid]), tuple(carried[sid]))
                for sid, plat, status, created, departed, g, factors in self._q(
                    "SELECT id, platform, status, created, departed, co2e_g, factors "
                    "FROM shipments ORDER BY id")]

    def first_activity(self) -> int | None:
        """Time of the first order or shipment (where a KPI report starts by default)."""
        first = [r[0] for r in self._q("SELECT MIN(placed_at) FROM orders")
                 if r[0] is not None] if self.has("orders") else []
        if self.has("shipments"):
            first += [r[0] for r in self._q("SELECT MIN(created) FROM shipments")
                      if r[0] is not None]
        return min(first) if first else None

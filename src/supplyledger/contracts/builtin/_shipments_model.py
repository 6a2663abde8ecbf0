"""The shipments contract's record, ETA/lateness arithmetic and projection tables.

A shipment lives at ``shipments/s/{id}`` (:func:`shipment_key`) as one record::

    id, plan, platform, creator, transporter, status, promised, grace_ms, eta, late,
    legs: [{frm, to: {node, lat, lon}, distance_m, mode, vehicle_class, traffic, dwell_ms,
            speed, mass_kg, tonne_km, co2e_g, arrived_at}],
    leg, remaining_m, at,          # progress: on leg ``leg`` with ``remaining_m`` to go at ``at``
    done,                          # legs arrived so far (the next arrive_leg is >= done)
    pos_at,                        # time of the last position fix (older fixes are ignored)
    orders: [{order, mass_kg, leg, co2e_g}], batches, mass_kg, distance_m, co2e_g, factors,
    created, departed, arrived, ended (rules v2: when delivered or closed)

Statuses: ``created`` -> (depart) ``in_transit`` -> (last leg arrived) ``arrived`` ->
(deliver) ``delivered``; ``close`` ends any open shipment as ``closed``.

ETA is paper 000 eq. 5 summed over the remaining legs (logistics/eta.py, integer ms and
metres, Decimal division): it is always computed from the progress (``leg``, ``remaining_m``)
measured at time ``at``, so a traffic change re-evaluates the same fix instead of moving it.

Rules v2 and later (:func:`rules_v2`): the ETA is that of the arrival, without
the dwell of the last leg (which follows the arrival, as ``arrived`` does); a position fix
matches only points the vehicle can have reached since ``at`` (``eta.drive_ms``);
``deliver`` and ``close`` record their time as ``ended``; dispatch plans may carry the
planned speed and each drop's service time. Rules v1 (ledgers made before) did none of it.
Rules v3 bound the times and amounts these computations start from (the ``shipments``
module docstring), so an ETA or a sum always fits the canonical encoding's integers.
Latitude/longitude are integer micro-degrees; a node may omit them (a private drop point),
then the leg needs its distance and cannot be matched to position fixes.

The ``shipments`` table's ``ended`` is the time of the ``deliver`` or ``close`` transaction
(the projector's ``EventMeta.time``, which is the record's ``ended`` under rules v2 and later;
under v1, whose record keeps no end, it is the same transaction's time): the KPIs read when
a shipment abandoned on the way stopped carrying its lots from it.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from supplyledger.contracts.projection import Table
from supplyledger.contracts.runtime import Ctx
from supplyledger.errors import InvalidState, NotFound
from supplyledger.logistics.eta import EtaLeg, GeoPoint, Progress, eta, is_late

__all__ = [
    "FINAL",
    "TABLES",
    "compute_eta",
    "eta_legs",
    "expect",
    "has_geo",
    "json_text",
    "load",
    "plan_key",
    "point",
    "rules_v2",
    "shipment_key",
    "update_lateness",
]

FINAL = ("delivered", "closed")
_ORIGIN = GeoPoint(0, 0)  # stands in for a node without coordinates (its leg has a distance)


def shipment_key(shipment_id: str) -> str:
    """Key of a shipment in the ``shipments`` namespace."""
    return f"s/{shipment_id}"


def plan_key(plan_id: str) -> str:
    return f"p/{plan_id}"


def load(ctx: Ctx, shipment_id: str) -> dict[str, Any]:
    s = ctx.read("shipments", shipment_key(shipment_id))
    if s is None:
        raise NotFound(f"no shipment {shipment_id}")
    return s  # type: ignore[no-any-return]


def expect(s: dict[str, Any], *statuses: str) -> None:
    if s["status"] not in statuses:
        raise InvalidState(f"shipment {s['id']} is {s['status']}: this needs "
                           f"{' or '.join(statuses)}", current=s["status"])


def point(node: dict[str, Any]) -> GeoPoint | None:
    """Micro-degrees -> the Decimal degrees eta.py takes (exact: a decimal shift)."""
    if node.get("lat") is None or node.get("lon") is None:
        return None
    return GeoPoint(Decimal(node["lat"]).scaleb(-6), Decimal(node["lon"]).scaleb(-6))


def has_geo(s: dict[str, Any]) -> bool:
    return all(point(leg["frm"]) and point(leg["to"]) for leg in s["legs"])


def eta_legs(legs: list[dict[str, Any]]) -> list[EtaLeg]:
    return [EtaLeg(str(i), point(leg["frm"]) or _ORIGIN, point(leg["to"]) or _ORIGIN,
                   leg["mode"], leg["distance_m"], leg.get("speed"), leg["traffic"],
                   leg["dwell_ms"]) for i, leg in enumerate(legs)]


def rules_v2(ctx: Ctx) -> bool:
    """Whether shipments rules v2 are in force, also when another contract (the sensors',
    moving a shipment from a logger's positions) runs this code."""
    if ctx.contract == "shipments":
        return ctx.version >= 2
    v = ctx.read("rules", "v/shipments")  # the state key rules.adopt writes
    return v is not None and int(v) >= 2


def compute_eta(s: dict[str, Any], v2: bool) -> int:
    """Eq. 5 from the shipment's last measured progress; an arrived one's ETA is its arrival
    (``v2``: rules v2, the estimate of that arrival leaves out the last leg's dwell)."""
    if s["arrived"] is not None:
        return int(s["arrived"])
    return eta(eta_legs(s["legs"]), Progress(s["leg"], s["remaining_m"]), s["at"],
               final_dwell=not v2)


def update_lateness(ctx: Ctx, s: dict[str, Any]) -> str:
    """Set ``late`` from the ETA; return the change (``late``, ``back_on_time`` or "").

    The separate ``late``/``back_on_time`` events are emitted only when the shipments
    contract itself runs (another contract calling :func:`apply_position` would emit them
    under its own name); the change is always carried in ``shipment_tracked``.
    """
    late = int(is_late(s["eta"], s["promised"], grace_ms=s["grace_ms"]))
    if late == s["late"]:
        return ""
    s["late"] = late
    change = "late" if late else "back_on_time"
    if ctx.contract == "shipments":
        ctx.emit(change, shipment=s["id"], eta=s["eta"], promised=s["promised"],
                 final=int(s["arrived"] is not None))
    return change


def json_text(value: Any) -> str:
    """A deterministic JSON text for projection columns that hold a list."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


_SHIPMENT_COLS = (
    ("id", "TEXT"), ("plan", "TEXT"), ("platform", "TEXT"), ("transporter", "TEXT"),
    ("status", "TEXT"), ("promised", "INTEGER"), ("eta", "INTEGER"), ("late", "INTEGER"),
    ("distance_m", "INTEGER"), ("co2e_g", "INTEGER"), ("created", "INTEGER"),
    ("departed", "INTEGER"), ("arrived", "INTEGER"), ("tx", "TEXT"), ("creator", "TEXT"),
    ("mass_kg", "INTEGER"), ("grace_ms", "INTEGER"), ("leg", "INTEGER"),
    ("remaining_m", "INTEGER"), ("pos_at", "INTEGER"), ("lat", "INTEGER"), ("lon", "INTEGER"),
    ("factors", "TEXT"), ("ended", "INTEGER"))
SHIPMENT_COLUMNS = tuple(c for c, _ in _SHIPMENT_COLS)
SHIPMENTS = Table("shipments", _SHIPMENT_COLS, ("id",),
                  (("plan",), ("platform",), ("transporter",), ("status",)))
SHIPMENT_LEGS = Table(
    "shipment_legs",
    (("shipment", "TEXT"), ("idx", "INTEGER"), ("from_node", "TEXT"), ("from_lat", "INTEGER"),
     ("from_lon", "INTEGER"), ("to_node", "TEXT"), ("to_lat", "INTEGER"), ("to_lon", "INTEGER"),
     ("distance_m", "INTEGER"), ("mode", "TEXT"), ("vehicle_class", "TEXT"),
     ("traffic", "TEXT"), ("dwell_ms", "INTEGER"), ("speed", "INTEGER"), ("mass_kg", "INTEGER"),
     ("tonne_km", "TEXT"), ("co2e_g", "INTEGER"), ("arrived_at", "INTEGER")),
    ("shipment", "idx"))
SHIPMENT_ORDERS = Table(
    "shipment_orders",
    (("shipment", "TEXT"), ("order_id", "TEXT"), ("mass_kg", "INTEGER"), ("co2e_g", "INTEGER"),
     ("leg", "INTEGER")),
    ("shipment", "order_id"), (("order_id",),))
SHIPMENT_BATCHES = Table(
    "shipment_batches", (("shipment", "TEXT"), ("batch", "TEXT")), ("shipment", "batch"),
    (("batch",),))
DISPATCH_PLANS = Table(
    "dispatch_plans",
    (("id", "TEXT"), ("platform", "TEXT"), ("warehouse", "TEXT"), ("routes", "INTEGER"),
     ("served", "INTEGER"), ("unserved", "INTEGER"), ("distance_m", "INTEGER"),
     ("solver_distance_m", "INTEGER"), ("co2e_g", "INTEGER"), ("detail", "TEXT"),
     ("created", "INTEGER"), ("height", "INTEGER"), ("tx", "TEXT")),
    ("id",), (("platform",),))
TABLES = (SHIPMENTS, SHIPMENT_LEGS, SHIPMENT_ORDERS, SHIPMENT_BATCHES, DISPATCH_PLANS)

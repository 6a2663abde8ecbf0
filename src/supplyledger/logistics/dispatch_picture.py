"""Draw a recorded dispatch plan (SVG through logistics/plot.py), from ledger data alone or
with the platform's private drop points.

The ledger holds a plan's routes, order ids and leg distances but not the customers'
addresses, so a picture from the ledger alone is a *schematic*: the warehouse in the middle,
each route in its own sector, each drop placed at min(distance driven to it, distance still
to drive back) km from the warehouse — a lower bound of the real distance by the triangle
inequality — so the shape shows order and scale, not geography. With coordinates for every
routed drop (the platform's request file, or drops recorded as public) the map is
geographic: kilometres east/north of the warehouse on the tangent plane, as the solver saw
them. Unserved orders without a known place sit on a ring around the picture.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from supplyledger.logistics.dispatch_request import drop_km
from supplyledger.logistics.plot import render_svg
from supplyledger.logistics.routing_model import (
    Client,
    Depot,
    Route,
    RoutingProblem,
    RoutingSolution,
    VehicleType,
    Visit,
)

__all__ = ["EAST_NORTH", "plan_svg"]

Point = tuple[int, int]  # micro-degrees
# A geographic picture's axis titles (the dispatch page's solved plan has them too).
EAST_NORTH = ("km east of the warehouse", "km north of the warehouse")


def _schematic(routes: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    at: dict[str, tuple[float, float]] = {}
    n_routes = max(1, len(routes))
    spread = min(2 * math.pi / n_routes, math.pi / 2) * 0.8
    for r, route in enumerate(routes):
        base = 2 * math.pi * r / n_routes
        dists = [leg["distance_m"] / 1000 for leg in route["legs"]]
        total, cum = sum(dists), 0.0
        for k, oid in enumerate(route["orders"]):
            cum += dists[k]
            radius = min(cum, total - cum)
            angle = base + spread * ((k + 1) / (len(route["orders"]) + 1) - 0.5)
            at[oid] = (radius * math.cos(angle), radius * math.sin(angle))
    return at


def plan_svg(plan: Mapping[str, Any], drops: Mapping[str, Point] | None = None,
             warehouse: Point | None = None) -> str:
    """SVG of ``plan`` (as ``store.shipment_rows.dispatch_plan`` returns it)."""
    routes = list(plan["routes"])
    unserved = [u["order"] for u in plan["unserved"]]
    known = dict(drops or {})
    for route in routes:  # drops the platform chose to record publicly
        for oid, leg in zip(route["orders"], route["legs"], strict=False):
            if leg.get("to_lat") is not None:
                known.setdefault(oid, (leg["to_lat"], leg["to_lon"]))
    served = [oid for r in routes for oid in r["orders"]]
    if warehouse is not None and all(o in known for o in served):
        at = {o: drop_km(*known[o], *warehouse) for o in served + unserved if o in known}
        title = f"dispatch plan {plan['id']}"
        axes = EAST_NORTH
    else:
        at = _schematic(routes)
        title = f"plan {plan['id']} (schematic)"  # drop points are private
        axes = ("km from the warehouse (schematic: not a direction)", "km (schematic)")
    lost = [o for o in unserved if o not in at]
    edge = max([math.hypot(*p) for p in at.values()] + [1.0]) * 1.15
    for i, o in enumerate(lost):  # unserved, place unknown: on a ring outside the routes
        a = 2 * math.pi * (i + 0.5) / len(lost)
        at[o] = (edge * math.cos(a), edge * math.sin(a))
    clients = tuple(Client(o, *at[o]) for o in served + unserved)
    problem = RoutingProblem(title, (Depot(plan["warehouse"], 0.0, 0.0),), clients,
                             tuple(VehicleType(1, float(r["load"]), name=r["vehicle"])
                                   for r in routes))
    solution = RoutingSolution(
        tuple(Route(i, tuple(Visit(o, 0.0, 0.0) for o in r["orders"]), 0.0, 0.0,
                    r["distance_m"] / 1000, float(r["load"])) for i, r in enumerate(routes)),
        plan["distance_m"] / 1000, True, unserved=tuple(unserved))
    return render_svg(problem, solution, unit="km", x_label=axes[0], y_label=axes[1])

"""``shipments.record_plan``: a platform's dispatch plan on the ledger, in one transaction.

The plan (made off-ledger by ``supplyledger dispatch plan`` with logistics/routing.py) lists
routes — vehicle, transporter, the orders in visiting order with the distance to each drop,
the distance back, load, planned departure and end — the orders left unserved with the
reason, and the solver's distance. Recording it:

1. dispatches every order on a route through the orders contract's own logic
   (``_orders_goods.dispatch_order``): ``placed`` -> ``dispatched`` with the route's
   transporter and transport order number ``<plan>/<vehicle>``; the order's platform signs
   instead of its seller (the order must have come through that platform);
2. opens one shipment per route, id ``<plan>/<vehicle>``: warehouse -> drops -> warehouse,
   each order unloaded at its drop, so emissions are allocated by the tonne-km it rode;
   under rules v2 the route's planned speed and each drop's service time (``dwell_ms``)
   go into its legs, so the shipment's ETA and lateness follow the plan's own timing;
3. stores the plan and projects it into ``dispatch_plans``.

Rules v3 bound each route before anything is read or written: it departs at most a year
after the transaction (``check_departure``), returns (``promised``) no earlier than it
departs, and carries at most a shipment's cargo mass (its drops' ``mass_kg`` together) over
at most once round the Earth (its drops' ``distance_m`` and ``return_m`` together). Rules v1
and v2 took a route of any sum, and one heavy and long enough overflowed the emissions
integer deep in the call (``encoding_error``). From rules v4 these bounds, which read no
state, refuse before execution (``runtime`` admission checks): no block records the plan.

Any order that cannot be dispatched fails the whole call with an error naming the order, so
nothing is written. Drop points are customers' addresses: only order ids and distances go
on the ledger, unless the platform passes a drop's coordinates (e.g. a business site).
"""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.builtin._orders_goods import dispatch_order, transport_no_key
from supplyledger.contracts.builtin._orders_model import ORDER_ID, load
from supplyledger.contracts.builtin._shipments_model import json_text, plan_key
from supplyledger.contracts.builtin._shipments_new import (
    ADMIT_RULES,
    MAX_DISTANCE_M,
    MAX_DURATION_MS,
    MAX_MASS_KG,
    NODE,
    check_departure_at,
    open_shipment,
    prepare_shipment,
)
from supplyledger.contracts.builtin.payments import require_participant
from supplyledger.contracts.projection import EventMeta, Op, Upsert
from supplyledger.contracts.runtime import Ctx, method
from supplyledger.contracts.schema import Enum, Int, List, Obj, Str
from supplyledger.errors import (
    AlreadyExists,
    ContractError,
    Forbidden,
    InvalidState,
    NotFound,
    ValidationError,
)
from supplyledger.logistics.emissions import MODES

__all__ = ["MAX_PLAN_LEGS", "METHODS", "PLAN_ID", "VEHICLE_ID", "project_plan",
           "record_plan", "route_bounds"]

MAX_STOPS = 200
MAX_PLAN_LEGS = MAX_STOPS + 1  # every drop, then back to the warehouse

PLAN_ID = Str(max_len=40, pattern=r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}", doc="plan id")
VEHICLE_ID = Str(max_len=23, pattern=r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,22}", doc="vehicle id")
_STOP = Obj(fields={
    "order": ORDER_ID,
    "mass_kg": Int(min=1, max=MAX_MASS_KG, doc="the order's goods (emission allocation)"),
    "distance_m": Int(max=MAX_DISTANCE_M, doc="from the previous stop"),
    "batch": Str(optional=True, max_len=300, doc="the lot shipped (product orders)"),
    "lat": Int(optional=True, min=-90_000_000, max=90_000_000,
               doc="drop point, only if it may be public"),
    "lon": Int(optional=True, min=-180_000_000, max=180_000_000),
    "dwell_ms": Int(optional=True, max=MAX_DURATION_MS,
                    doc="planned service time at the drop (rules v2)"),
})
_ROUTE = Obj(fields={
    "vehicle": VEHICLE_ID, "transporter": Str(max_len=128, doc="participant id"),
    "mode": Enum(optional=True, values=tuple(sorted(MODES)), doc="default road"),
    "vehicle_class": Str(max_len=64), "stops": List(item=_STOP, min_items=1, max_items=MAX_STOPS),
    "return_m": Int(max=MAX_DISTANCE_M, doc="last drop back to the warehouse"),
    "load": Int(doc="in the fleet's capacity units"),
    "departs_at": Int(min=1, doc="planned departure, ms epoch (rules v3: at most 366 days "
                                  "after the transaction)"),
    "promised": Int(min=1, doc="planned return to the warehouse, ms epoch (rules v3: not "
                                "before departs_at)"),
    "speed_m_per_h": Int(optional=True, min=1_000, max=1_200_000,
                         doc="the speed the plan was made with (rules v2); default the "
                             "mode's nominal speed"),
})
_UNSERVED = Obj(fields={"order": ORDER_ID, "reason": Str(max_len=200)})


def _route_legs(warehouse: dict[str, Any], r: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = [warehouse]
    for stop in r["stops"]:
        drop = {"node": f"drop:{stop['order']}"}
        if "lat" in stop or "lon" in stop:
            drop.update({k: stop[k] for k in ("lat", "lon") if k in stop})
        nodes.append(drop)
    nodes.append(warehouse)
    dists = [s["distance_m"] for s in r["stops"]] + [r["return_m"]]
    dwell = [s.get("dwell_ms", 0) for s in r["stops"]] + [0]
    legs = [{"from": nodes[i], "to": nodes[i + 1], "distance_m": d, "dwell_ms": dwell[i],
             "mode": r.get("mode", "road"), "vehicle_class": r["vehicle_class"]}
            for i, d in enumerate(dists)]
    if "speed_m_per_h" in r:
        for leg in legs:
            leg["speed_m_per_h"] = r["speed_m_per_h"]
    return legs


def _prepare(a: dict[str, Any]) -> dict[str, Any]:
    vehicles = [r["vehicle"] for r in a["routes"]]
    if len(set(vehicles)) != len(vehicles):
        raise ValidationError("a vehicle has two routes", arg="routes")
    served = [s["order"] for r in a["routes"] for s in r["stops"]]
    unserved = a.get("unserved", [])
    listed = served + [u["order"] for u in unserved]
    if len(set(listed)) != len(listed):
        dup = next(o for o in listed if listed.count(o) > 1)
        raise ValidationError(f"order {dup} appears twice in the plan", arg="routes")
    routes = []
    for r in a["routes"]:
        number = f"{a['id']}/{r['vehicle']}"
        shipment = prepare_shipment({
            "legs": _route_legs(a["warehouse"], r),
            "mass_kg": sum(s["mass_kg"] for s in r["stops"]),
            "orders": [{"order": s["order"], "mass_kg": s["mass_kg"], "leg": i}
                       for i, s in enumerate(r["stops"])],
            "promised": r["promised"], "departs_at": r["departs_at"]})
        routes.append({"vehicle": r["vehicle"], "transporter": r["transporter"],
                       "number": number, "load": r["load"],
                       "stops": [{"order": s["order"], "batch": s.get("batch")}
                                 for s in r["stops"]],
                       "shipment": shipment})
    return {"id": a["id"], "routes": routes, "unserved": unserved,
            "warehouse": a["warehouse"]["node"], "solver_distance_m": a["solver_distance_m"]}


def _named(exc: ContractError, plan: str, oid: str) -> ContractError:
    """The same error, its message naming the plan and the order that stopped it."""
    exc.message = f"plan {plan}: order {oid}: {exc.message}"
    exc.details["order"] = oid
    return exc


def _route_bounds(ctx: Ctx, pid: str, i: int, r: dict[str, Any]) -> None:
    """Rules v3: route ``i``'s times, cargo and length (module docstring)."""
    route_bounds(ctx.time, pid, i, r)


def route_bounds(time: int, pid: str, i: int, r: dict[str, Any]) -> None:
    """:func:`_route_bounds` of a plan signed at ``time``: it reads no state."""
    sh, where = r["shipment"], f"routes[{i}]"
    check_departure_at(time, sh["departs_at"], f"{where}.departs_at")
    name = f"plan {pid}: route {r['vehicle']}"
    if sh["promised"] < sh["departs_at"]:
        raise ValidationError(f"{name}: promised {sh['promised']} (the planned return) is "
                              f"before departs_at {sh['departs_at']}", arg=f"{where}.promised")
    if sh["mass_kg"] > MAX_MASS_KG:
        raise ValidationError(f"{name}: its drops weigh {sh['mass_kg']} kg together, more "
                              f"than a shipment's {MAX_MASS_KG} kg", arg=f"{where}.stops")
    if sh["distance_m"] > MAX_DISTANCE_M:
        raise ValidationError(f"{name}: its drops and return add up to {sh['distance_m']} m, "
                              f"more than once round the Earth ({MAX_DISTANCE_M} m)",
                              arg=f"{where}.stops")


def _admit(signer: str, p: dict[str, Any], version: int, time: int) -> None:
    """The routes' bounds, in the body's order, before execution (from :data:`ADMIT_RULES`)."""
    for i, r in enumerate(p["routes"]):
        route_bounds(time, p["id"], i, r)


def _own_order(ctx: Ctx, oid: str) -> dict[str, Any]:
    o = load(ctx, oid)
    if o["platform"] != ctx.signer:
        raise Forbidden(f"order {oid} came through another platform")
    return o


@method(roles="platform", prepare=_prepare, args={
    "id": PLAN_ID, "warehouse": NODE, "routes": List(item=_ROUTE, max_items=100),
    "unserved": List(optional=True, item=_UNSERVED, max_items=5000),
    "solver_distance_m": Int(doc="the solver's total distance (its own metric)"),
}, errors=(ValidationError, AlreadyExists, NotFound, Forbidden, InvalidState),
   admit=(ADMIT_RULES, _admit))
def record_plan(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """Platform: record a dispatch plan; every routed order is dispatched to the route's
    transporter under ``<plan>/<vehicle>`` and each route becomes a shipment. One order
    that cannot be dispatched fails the whole plan. Rules v3: each route departs within a
    year, returns no earlier, and weighs and runs no more than a shipment may (rules v4:
    refused before execution)."""
    pid = p["id"]
    if ctx.version >= 3:
        for i, r in enumerate(p["routes"]):
            _route_bounds(ctx, pid, i, r)
    if ctx.read("shipments", plan_key(pid)) is not None:
        raise AlreadyExists(f"dispatch plan {pid} already exists")
    for u in p["unserved"]:
        try:
            _own_order(ctx, u["order"])
        except ContractError as exc:
            raise _named(exc, pid, u["order"]) from None
    summary, total = [], 0
    for r in p["routes"]:
        if ctx.version < 2 and any(leg["speed"] is not None or leg["dwell_ms"]
                                   for leg in r["shipment"]["legs"]):
            raise ValidationError(f"plan {pid}: route {r['vehicle']}: speed_m_per_h and "
                                  "dwell_ms need shipments rules v2 (rules.adopt)",
                                  arg="routes")
        if ctx.read("orders", transport_no_key(r["number"])) is not None:
            raise AlreadyExists(f"transport order number {r['number']} is already used")
        for stop in r["stops"]:
            try:
                o = _own_order(ctx, stop["order"])
                seller_org = require_participant(ctx, o["seller"])["org"] or ""
                dispatch_order(ctx, o, transporter=r["transporter"], transport_no=r["number"],
                               batch=stop["batch"], seller_org=seller_org,
                               event="order_dispatched", claim_number=False)
            except ContractError as exc:
                raise _named(exc, pid, stop["order"]) from None
        orders = [s["order"] for s in r["stops"]]
        ctx.put_other("orders", transport_no_key(r["number"]), orders)
        s = open_shipment(ctx, r["number"], r["transporter"], r["shipment"], relation=None,
                          platform=ctx.signer, plan=pid)
        total += s["co2e_g"]
        summary.append({"vehicle": r["vehicle"], "transporter": r["transporter"],
                        "shipment": s["id"], "orders": orders, "load": r["load"],
                        "distance_m": s["distance_m"], "co2e_g": s["co2e_g"]})
    plan = {"id": pid, "platform": ctx.signer, "warehouse": p["warehouse"],
            "routes": summary, "unserved": p["unserved"],
            "distance_m": sum(r["distance_m"] for r in summary),
            "solver_distance_m": p["solver_distance_m"], "co2e_g": total, "created": ctx.time}
    ctx.put_other("shipments", plan_key(pid), plan)
    ctx.emit("plan_recorded", **plan)
    return {"plan": pid, "shipments": [r["shipment"] for r in summary],
            "dispatched": sum(len(r["orders"]) for r in summary), "co2e_g": total}


def project_plan(e: dict[str, Any], m: EventMeta) -> list[Op]:
    detail = json_text({"routes": e["routes"], "unserved": e["unserved"]})
    return [Upsert("dispatch_plans", (
        e["id"], e["platform"], e["warehouse"], len(e["routes"]),
        sum(len(r["orders"]) for r in e["routes"]), len(e["unserved"]), e["distance_m"],
        e["solver_distance_m"], e["co2e_g"], detail, e["created"], m.height, m.tx))]


METHODS = [record_plan]

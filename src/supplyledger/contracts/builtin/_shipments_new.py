"""A new shipment: argument schemas, the stateless preparation and the shared opening step.

Preparation (verifier worker processes, before ordering) does everything that depends on
the arguments only: node coordinates, distances (haversine when omitted), traffic factors,
the mass on board each leg and the emissions (ISO 14083 / GLEC via logistics/emissions.py):

* leg ``k`` carries the cargo mass minus the orders unloaded at the end of earlier legs
  (an order's ``leg`` is the leg at whose destination it leaves the vehicle; default last);
* each leg's gCO2e WTW = its tonne-km x the well-to-wheel intensity of its mode and vehicle
  class, rounded once per leg; the shipment total is the sum of its legs;
* each order's share of a leg is apportioned by its tonne-km on that leg (mass x distance,
  largest remainder), with the unattributed rest of the cargo as one more consignment, so
  the orders' grams plus the rest add up exactly to the leg (``order_emissions``).

An empty leg (the trip back to the warehouse) has no tonne-km and so no grams: the factor
table's average-laden intensities already include empty running, as GLEC default factors do.

:func:`open_shipment` is the state step shared by ``shipments.create`` and
``shipments.record_plan``: it checks the transporter, orders and batches exist, computes
the first ETA and writes the record.
"""

from __future__ import annotations

import functools
from decimal import Decimal, InvalidOperation
from typing import Any

from supplyledger.contracts.builtin._orders_model import ORDER_ID
from supplyledger.contracts.builtin._shipments_model import (
    compute_eta,
    point,
    rules_v2,
    shipment_key,
    update_lateness,
)
from supplyledger.contracts.builtin.custody import holding_key, holds, reserved_by
from supplyledger.contracts.builtin.payments import require_participant
from supplyledger.contracts.runtime import Ctx
from supplyledger.contracts.schema import Enum, Int, List, Obj, Str
from supplyledger.errors import (
    AlreadyExists,
    Forbidden,
    InvalidState,
    NotFound,
    ValidationError,
)
from supplyledger.gs1 import validate_gln
from supplyledger.logistics.emissions import (
    MODES,
    Consignment,
    FactorTable,
    FreightLeg,
    SharedLeg,
    load_factors,
    order_emissions,
    shipment_emissions,
)
from supplyledger.logistics.eta import haversine_m

__all__ = ["ADMIT_RULES", "LEG", "MAX_AHEAD_MS", "MAX_DISTANCE_M", "MAX_DURATION_MS",
           "MAX_MASS_KG", "NEW_SHIPMENT_ARGS", "NODE", "SHIPMENT_ID", "TRAFFIC",
           "check_departure", "check_departure_at", "check_traffic", "factors",
           "open_shipment", "prepare_shipment"]

MAX_DISTANCE_M = 40_100_000  # once round the Earth
MAX_MASS_KG = 500_000_000  # the largest ships carry ~0.25 Mt
MAX_DURATION_MS = 30 * 24 * 3_600_000
MAX_AHEAD_MS = 366 * 24 * 3_600_000  # rules v3: a planned departure at most a year ahead
# From these rules on, the checks that need only the arguments and the transaction's own
# signed time refuse before execution (``runtime`` admission checks).
ADMIT_RULES = 4
_CLOSED_ORDERS = ("completed", "cancelled", "returned", "resolved")

SHIPMENT_ID = Str(max_len=64, pattern=r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}", doc="shipment id")
_TRAFFIC_RE = r"[0-9]{1,2}(\.[0-9]{1,6})?"
_TRAFFIC_DOC = "traffic factor, decimal string: 1 = free flow, 0.5 = half speed (0.05-2)"
TRAFFIC = Str(max_len=12, pattern=_TRAFFIC_RE, doc=_TRAFFIC_DOC)
NODE = Obj(doc="logistics node", fields={
    "node": Str(max_len=128, doc="GLN (13 digits, checked) or another node id"),
    "lat": Int(optional=True, min=-90_000_000, max=90_000_000, doc="micro-degrees"),
    "lon": Int(optional=True, min=-180_000_000, max=180_000_000, doc="micro-degrees"),
})
LEG = Obj(fields={
    "from": NODE, "to": NODE,
    "distance_m": Int(optional=True, min=0, max=MAX_DISTANCE_M,
                      doc="route distance; default the great-circle distance"),
    "mode": Enum(values=tuple(sorted(MODES))),
    "vehicle_class": Str(max_len=64, doc="a vehicle class of the emission factor table"),
    "traffic": Str(optional=True, max_len=12, pattern=_TRAFFIC_RE, doc=_TRAFFIC_DOC),
    "dwell_ms": Int(optional=True, max=MAX_DURATION_MS, doc="stop at the destination"),
    "speed_m_per_h": Int(optional=True, min=1_000, max=1_200_000,
                         doc="speed override; default the mode's nominal speed"),
})
_CARRIED = Obj(fields={
    "order": ORDER_ID, "mass_kg": Int(min=1, max=MAX_MASS_KG, doc="for emission allocation"),
    "leg": Int(optional=True, max=63, doc="leg at whose end it is unloaded (default last)"),
})
NEW_SHIPMENT_ARGS = {
    "legs": List(item=LEG, min_items=1, max_items=64),
    "mass_kg": Int(min=1, max=MAX_MASS_KG, doc="cargo mass"),
    "orders": List(optional=True, item=_CARRIED, max_items=500),
    "batches": List(optional=True, item=Str(max_len=300), max_items=500),
    "promised": Int(min=1, doc="promised arrival, ms epoch"),
    "grace_ms": Int(optional=True, max=MAX_DURATION_MS, doc="lateness tolerance"),
    "departs_at": Int(optional=True, min=1, doc="planned departure (default: now); rules v3: "
                      "at most 366 days after the transaction"),
}


@functools.cache
def factors() -> FactorTable:
    """The packaged, versioned factor table (read once per process; its version is stored
    with every shipment so a different table shows in the audit)."""
    return load_factors()


def check_traffic(text: str, where: str) -> str:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValidationError(f"{where}: traffic factor {text!r} is not a decimal") from None
    if not Decimal("0.05") <= value <= 2:
        raise ValidationError(f"{where}: traffic factor {text} must lie in 0.05..2",
                              arg="traffic")
    return text


def check_departure(ctx: Ctx, departs_at: int | None, arg: str) -> None:
    """Rules v3: a planned departure at most :data:`MAX_AHEAD_MS` after the transaction.
    Further out it is a slip of units (microseconds for milliseconds), and near 2**53 the
    ETA computed from it could not even be stored (rules v1 and v2 failed there, deep in
    the call, with ``encoding_error``)."""
    check_departure_at(ctx.time, departs_at, arg)


def check_departure_at(time: int, departs_at: int | None, arg: str) -> None:
    """:func:`check_departure` of a transaction signed at ``time``: stateless, so also the
    admission check from :data:`ADMIT_RULES`."""
    if departs_at is not None and departs_at > time + MAX_AHEAD_MS:
        raise ValidationError(f"{arg} {departs_at} is more than {MAX_AHEAD_MS // 86_400_000} "
                              f"days after the transaction's time {time}", arg=arg,
                              latest=time + MAX_AHEAD_MS)


def _node(n: dict[str, Any], where: str) -> dict[str, Any]:
    if ("lat" in n) != ("lon" in n):
        raise ValidationError(f"{where}: give both lat and lon or neither", arg="lat")
    if n["node"].isdigit() and len(n["node"]) == 13:
        validate_gln(n["node"])
    return {"node": n["node"], "lat": n.get("lat"), "lon": n.get("lon")}


def _leg(i: int, a: dict[str, Any]) -> dict[str, Any]:
    where = f"legs[{i}]"
    frm, to = _node(a["from"], f"{where}.from"), _node(a["to"], f"{where}.to")
    distance = a.get("distance_m")
    if distance is None:
        p, q = point(frm), point(to)
        if p is None or q is None:
            raise ValidationError(f"{where}: without coordinates a leg needs distance_m",
                                  arg="distance_m")
        distance = haversine_m(p, q)
    return {"frm": frm, "to": to, "distance_m": distance, "mode": a["mode"],
            "vehicle_class": a["vehicle_class"],
            "traffic": check_traffic(a.get("traffic", "1"), where),
            "dwell_ms": a.get("dwell_ms", 0), "speed": a.get("speed_m_per_h"),
            "arrived_at": None}


def prepare_shipment(a: dict[str, Any]) -> dict[str, Any]:
    """Legs, per-leg mass and emissions, per-order allocation: all integers."""
    legs = [_leg(i, leg) for i, leg in enumerate(a["legs"])]
    for i in range(1, len(legs)):
        if legs[i]["frm"]["node"] != legs[i - 1]["to"]["node"]:
            raise ValidationError(f"legs[{i}] starts at {legs[i]['frm']['node']}, not where "
                                  f"legs[{i - 1}] ends", arg="legs")
    last = len(legs) - 1
    orders = [{"order": o["order"], "mass_kg": o["mass_kg"], "leg": o.get("leg", last)}
              for o in a.get("orders", [])]
    if len({o["order"] for o in orders}) != len(orders):
        raise ValidationError("an order is listed twice", arg="orders")
    for o in orders:
        if o["leg"] > last:
            raise ValidationError(f"order {o['order']} is unloaded at leg {o['leg']}, but "
                                  f"the shipment has {len(legs)} legs", arg="orders")
    if sum(o["mass_kg"] for o in orders) > a["mass_kg"]:
        raise ValidationError("the orders weigh more than the cargo mass", arg="mass_kg")
    batches = a.get("batches", [])
    if len(set(batches)) != len(batches):
        raise ValidationError("a batch is listed twice", arg="batches")
    table = factors()
    shared: list[SharedLeg] = []
    for k, leg in enumerate(legs):
        aboard = [o for o in orders if o["leg"] >= k]
        leg["mass_kg"] = a["mass_kg"] - sum(o["mass_kg"] for o in orders if o["leg"] < k)
        rest = leg["mass_kg"] - sum(o["mass_kg"] for o in aboard)
        items = [Consignment(o["order"], o["mass_kg"] * 1000) for o in aboard]
        if rest:
            items.append(Consignment("", rest * 1000))  # cargo not attributed to an order
        if aboard and leg["distance_m"]:
            shared.append(SharedLeg(str(k), leg["mode"], leg["vehicle_class"],
                                    leg["distance_m"], tuple(items)))
    total = shipment_emissions(
        [FreightLeg(str(k), leg["mode"], leg["vehicle_class"], leg["mass_kg"] * 1000,
                    leg["distance_m"]) for k, leg in enumerate(legs)], table)
    for leg, e in zip(legs, total.legs, strict=True):
        leg["tonne_km"], leg["co2e_g"] = format(e.tonne_km, "f"), e.wtw_g
    per_order = order_emissions(shared, table)
    for o in orders:
        o["co2e_g"] = per_order.get(o["order"], 0)
    return {"legs": legs, "orders": orders, "batches": batches, "mass_kg": a["mass_kg"],
            "promised": a["promised"], "grace_ms": a.get("grace_ms", 0),
            "departs_at": a.get("departs_at"), "co2e_g": total.wtw_g,
            "distance_m": sum(leg["distance_m"] for leg in legs), "factors": table.version}


def _check_order(ctx: Ctx, oid: str, relation: str | None) -> dict[str, Any]:
    o = ctx.read("orders", f"o/{oid}")
    if o is None:
        raise NotFound(f"no order {oid}", order=oid)
    if o["state"] in _CLOSED_ORDERS:
        raise InvalidState(f"order {oid} is {o['state']}: nothing left to ship",
                           current=o["state"], order=oid)
    if relation is not None and o.get(relation) != ctx.signer:
        raise_for = {"platform": "came through another platform",
                     "transporter": "is not assigned to this transporter",
                     "seller": "is sold by someone else"}[relation]
        raise Forbidden(f"order {oid} {raise_for}", order=oid)
    return o  # type: ignore[no-any-return]


def _check_lot(ctx: Ctx, batch: str, relation: str) -> None:
    """A platform or seller lists only lots it has to do with: its own (owned or held by
    it or its organisation) or, for a platform, one reserved by an order placed through it.
    A listed lot counts in the shipment's cold-chain KPI and in trace. (A transporter may
    still list any lot it hauls: goods move to carriers without orders or hand-overs.)"""
    h = ctx.read("custody", holding_key(batch))
    if h is not None and holds(ctx, h):
        return
    oid = reserved_by(ctx, batch)
    o = None if oid is None else ctx.read("orders", f"o/{oid}")
    if relation == "platform" and o is not None and o.get("platform") == ctx.signer:
        return
    through = ", nor reserved by an order placed through you" if relation == "platform" else ""
    raise Forbidden(f"batch {batch} is neither owned nor held by you, nor the lot of an order "
                    f"on this shipment{through}", batch=batch)


def open_shipment(ctx: Ctx, sid: str, transporter: str, p: dict[str, Any], *,
                  relation: str | None, platform: str | None, plan: str | None
                  ) -> dict[str, Any]:
    """Check the parties, orders and batches, compute the first ETA, store and emit.

    ``relation`` names the order field that must equal the signer (``platform``,
    ``transporter`` or ``seller``), or ``None`` when the caller has checked the orders.
    """
    if ctx.read("shipments", shipment_key(sid)) is not None:
        raise AlreadyExists(f"shipment {sid} already exists")
    require_participant(ctx, transporter, role="transporter")
    platforms, lots = set(), set()
    for o in p["orders"]:
        order = _check_order(ctx, o["order"], relation)
        platforms.add(order["platform"])
        lots.add(order.get("batch"))
    for b in p["batches"]:
        if ctx.read("products", f"b/{b}") is None:
            raise NotFound(f"no batch {b}", batch=b)
        if relation in ("platform", "seller") and b not in lots:
            _check_lot(ctx, b, relation)
    if platform is None and len(platforms) == 1:
        platform = platforms.pop()
    at = p["departs_at"] or ctx.time
    s = {**p, "id": sid, "plan": plan, "platform": platform, "creator": ctx.signer,
         "transporter": transporter, "status": "created", "late": 0, "leg": 0,
         "remaining_m": p["legs"][0]["distance_m"], "at": at, "done": 0, "pos_at": None,
         "created": ctx.time, "departed": None, "arrived": None, "eta": 0}
    s["eta"] = compute_eta(s, rules_v2(ctx))
    ctx.emit("created", **{k: s[k] for k in _CREATED})
    update_lateness(ctx, s)
    ctx.put_other("shipments", shipment_key(sid), s)
    return s


_CREATED = ("id", "plan", "platform", "creator", "transporter", "status", "promised",
            "grace_ms", "eta", "late", "mass_kg", "distance_m", "co2e_g", "factors", "legs",
            "orders", "batches", "leg", "remaining_m", "created")

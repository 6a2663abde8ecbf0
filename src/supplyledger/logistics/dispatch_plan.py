"""A platform's open orders -> a dispatch plan: solved with PyVRP, ready for the ledger.

Pure (no IO): the caller passes the parsed request (``dispatch_request``) and the orders the
ledger says are open for that platform; :func:`plan_dispatch` solves with
:func:`supplyledger.logistics.dispatch.dispatch` and returns the arguments of
``shipments.record_plan`` plus what is needed to draw the plan.

Units for the solver: coordinates are projected to kilometres on a plane tangent at the
warehouse (equirectangular; under 0.1 % distance error within ~100 km of it), times are
minutes since the plan's start, speed km/min. Whatever goes on the ledger is integers: each
leg's distance is the great-circle distance in metres between the real coordinates
(eta.haversine_m, the same the shipments contract uses), times ms epoch, masses kg. The
solver's own total is recorded alongside as ``solver_distance_m``. Each route also records
the plan's speed and each drop's service time, so the ledger's ETA for the route runs on the
timing the plan was made with (not the mode's nominal speed without stops). The ledger
measures the legs on the great circle, the solver on the plane, so a route's promised
return is the later of the two (a shipment is not born late by the difference).

A plan starts at the request's ``start`` or, given ``now`` (the time it is signed at), no
earlier than that: vehicles do not depart in the past, and an order whose delivery window
closed before then is unserved (``orders`` refuses to dispatch it, and with it the plan).

Orders the solver never sees are reported, not silently dropped: open orders without a drop
point in the request are unserved ("no drop point supplied"); request entries that are not
open orders of the platform are listed as ``ignored`` and stay off the ledger (record_plan
would refuse them).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from supplyledger.contracts.builtin._shipments_plan import _route_bounds
from supplyledger.contracts.builtin.identity import participant_key
from supplyledger.contracts.builtin.rules import PREFIX, version_of
from supplyledger.contracts.runtime import (
    Call,
    Contract,
    Ctx,
    StateReader,
    execute_call,
    prepare_call,
)
from supplyledger.errors import (
    AlreadyExists,
    InvalidState,
    NotFound,
    SupplyLedgerError,
    ValidationError,
    WrongChain,
    error_from_code,
)
from supplyledger.ledger.encoding import canonical, decode
from supplyledger.logistics.dispatch import DispatchPlan, Order, Vehicle, Warehouse, dispatch
from supplyledger.logistics.dispatch_request import DispatchRequest, LedgerOrder, drop_km
from supplyledger.logistics.eta import GeoPoint, haversine_m, travel_ms
from supplyledger.logistics.routing import (
    Client,
    Depot,
    RoutingProblem,
    RoutingSolution,
    TimeWindow,
    VehicleType,
)

__all__ = ["SAVED_PLAN_FORMAT", "DispatchResult", "LedgerOrder", "SavedPlan",
           "check_before_signing", "check_on_ledger", "check_saved_plan", "checked_summary",
           "plan_dispatch", "read_saved_plan", "saved_plan"]

_MIN = 60_000
SAVED_PLAN_FORMAT = "supplyledger-dispatch-plan/1"


@dataclass(frozen=True)
class DispatchResult:
    args: dict[str, Any]  # shipments.record_plan arguments
    problem: RoutingProblem  # for drawing
    solution: RoutingSolution  # every unserved order marked
    routes: list[dict[str, Any]]
    unserved: list[dict[str, str]]
    ignored: list[dict[str, str]]


def _geo(lat_e6: int, lon_e6: int) -> GeoPoint:
    return GeoPoint(Decimal(lat_e6).scaleb(-6), Decimal(lon_e6).scaleb(-6))


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _minutes(ms: int, start: int) -> float:
    return (ms - start) / _MIN


def plan_dispatch(req: DispatchRequest, open_orders: Sequence[LedgerOrder], *,
                  time_limit_s: float = 2.0, seed: int = 0,
                  max_iterations: int | None = 2000, timing: bool = True,
                  now: int | None = None) -> DispatchResult:
    """``timing``: give each route the plan's speed and each drop its service time
    (``speed_m_per_h``, ``dwell_ms``), so the shipment's ETA is the plan's; a ledger
    still on shipments rules v1 refuses them, and its routes' ETAs use the mode's nominal
    speed without stops. ``now``: the plan starts no earlier (module docstring)."""
    wh = req.warehouse
    start = req.start_ms if now is None else max(req.start_ms, now)
    is_open = {o.id: o for o in open_orders}
    ignored = [{"order": oid, "reason": "not an open order of this platform on the ledger"}
               for oid in sorted(req.drops) if oid not in is_open]
    reasons: dict[str, str] = {}
    orders: list[Order] = []
    for o in sorted(open_orders, key=lambda o: o.id):
        d = req.drops.get(o.id)
        if d is None:
            reasons[o.id] = "no drop point supplied"
            continue
        # A request window may narrow the ledger's delivery window, never widen it:
        # record_plan only checks the window at dispatch, a drop after it would be late.
        early, late = o.earliest, o.latest
        if d.window is not None:
            early, late = max(early, d.window[0]), min(late, d.window[1])
            if early > late:
                reasons[o.id] = "requested window lies outside the order's delivery window"
                continue
        if late < start:
            reasons[o.id] = (f"delivery window closed {_utc(late)}, before the plan starts "
                             f"{_utc(start)}")
            continue
        x, y = drop_km(d.lat_e6, d.lon_e6, wh.lat_e6, wh.lon_e6)
        orders.append(Order(o.id, x, y, d.quantity,
                            TimeWindow(max(0.0, _minutes(early, start)), _minutes(late, start)),
                            d.service_min, d.requires))
    warehouse = Warehouse(wh.node, 0.0, 0.0, TimeWindow(
        max(0.0, _minutes(wh.open_ms, start)), max(0.0, _minutes(wh.close_ms, start))),
        wh.outbound_capacity)
    fleet = [Vehicle(v.vehicle, v.capacity, TimeWindow(
        max(0.0, _minutes(v.available[0], start)), max(0.0, _minutes(v.available[1], start))),
        v.features) for v in req.fleet]
    speed = req.speed_kmh / 60  # km per minute
    plan = dispatch(orders, warehouse, fleet, speed=speed, time_limit_s=time_limit_s,
                    seed=seed, max_iterations=max_iterations)
    reasons.update(dict(plan.unserved))
    routes = _routes(req, start, plan, timing)
    unserved = [{"order": oid, "reason": reasons[oid]} for oid in sorted(reasons)]
    args = {"id": req.plan, "warehouse": _warehouse_node(req),
            "routes": [r["args"] for r in routes], "unserved": unserved,
            "solver_distance_m": round(plan.solution.distance * 1000)}
    problem = RoutingProblem(
        f"dispatch plan {req.plan}", (Depot(wh.node, 0.0, 0.0, warehouse.window),),
        tuple(Client(o.id, o.x, o.y, o.quantity, o.window, o.service, False, o.requires)
              for o in orders),
        tuple(VehicleType(1, v.capacity, v.window, 0, v.id, v.features) for v in fleet), speed)
    solution = replace(plan.solution, unserved=tuple(r["order"] for r in unserved
                                                     if r["order"] in {o.id for o in orders}))
    return DispatchResult(args, problem, solution, [r["report"] for r in routes], unserved,
                          ignored)


def _warehouse_node(req: DispatchRequest) -> dict[str, Any]:
    return {"node": req.warehouse.node, "lat": req.warehouse.lat_e6,
            "lon": req.warehouse.lon_e6}


def _routes(req: DispatchRequest, start: int, plan: DispatchPlan, timing: bool
            ) -> list[dict[str, Any]]:
    wh = req.warehouse
    speed_m_per_h = round(req.speed_kmh * 1000)
    fleet = {v.vehicle: v for v in req.fleet}
    out = []
    for vp, route in zip(plan.routes, plan.solution.routes, strict=True):
        v = fleet[vp.vehicle]
        here = (wh.lat_e6, wh.lon_e6)
        stops = []
        for oid in vp.orders:
            d = req.drops[oid]
            stop: dict[str, Any] = {"order": oid, "mass_kg": d.mass_kg,
                                    "distance_m": haversine_m(_geo(*here),
                                                              _geo(d.lat_e6, d.lon_e6))}
            if d.batch:
                stop["batch"] = d.batch
            if d.public:
                stop.update(lat=d.lat_e6, lon=d.lon_e6)
            if timing and d.service_min:
                stop["dwell_ms"] = round(d.service_min * _MIN)
            stops.append(stop)
            here = (d.lat_e6, d.lon_e6)
        back = haversine_m(_geo(*here), _geo(wh.lat_e6, wh.lon_e6))
        departs = start + round(route.departure * _MIN)
        returns = start + math.ceil(route.return_time * _MIN)
        if timing:  # the ETA the shipments contract computes at creation, legs and dwells
            returns = max(returns, departs + sum(
                travel_ms(s["distance_m"], speed_m_per_h) + s.get("dwell_ms", 0)
                for s in stops) + travel_ms(back, speed_m_per_h))
        args = {"vehicle": v.vehicle, "transporter": v.transporter, "mode": v.mode,
                "vehicle_class": v.vehicle_class, "stops": stops, "return_m": back,
                "load": round(vp.load), "departs_at": departs, "promised": returns}
        if timing:
            args["speed_m_per_h"] = speed_m_per_h
        report = {"vehicle": v.vehicle, "transporter": v.transporter,
                  "orders": list(vp.orders), "distance_m": back + sum(
                      s["distance_m"] for s in stops), "load": vp.load,
                  "departs_at": departs, "returns_at": returns,
                  "arrivals": [start + round(a * _MIN) for a in vp.arrivals]}
        out.append({"args": args, "report": report})
    return out


def check_before_signing(req: DispatchRequest, res: DispatchResult,
                         open_orders: Sequence[LedgerOrder], *, plan_taken: bool) -> None:
    """What ``shipments.record_plan`` would refuse, shown by the ledger now: the plan id
    in use (``plan_taken``) and a routed order of a product whose lot the request does not
    name (the lot is chosen at dispatch). ``dispatch plan`` and the Dispatch page refuse
    such a plan before anything is signed, rather than record a failed call."""
    _check_orders(res.args, open_orders, plan_taken=plan_taken, now=None)


def _check_orders(args: Mapping[str, Any], open_orders: Sequence[LedgerOrder], *,
                  plan_taken: bool, now: int | None) -> None:
    """:func:`check_before_signing` on the plan's arguments (a stop names its lot as
    ``batch``); given ``now``, also that every routed order is still open and its delivery
    window still so (a saved plan, recorded later)."""
    pid = args["id"]
    if plan_taken:
        raise AlreadyExists(f"dispatch plan {pid} already exists: plan again under "
                            "another plan id", plan=pid)
    stops = [s for r in args["routes"] for s in r["stops"]]
    is_open = {o.id: o for o in open_orders}
    if now is not None:
        gone = [s["order"] for s in stops if s["order"] not in is_open]
        if gone:
            raise InvalidState(f"orders {_listed(gone)} are no longer open orders of the "
                               "platform (dispatched or cancelled since the plan was made): "
                               "plan again", current="not placed", orders=gone)
        closed = [s["order"] for s in stops if now > is_open[s["order"]].latest]
        if closed:
            raise InvalidState(f"orders {_listed(closed)}: the delivery window closed since "
                               f"the plan was made (now {_utc(now)}): plan again",
                               current="placed", orders=closed)
    unnamed = sorted(s["order"] for s in stops if s["order"] in is_open
                     and is_open[s["order"]].batch is None and not s.get("batch"))
    if unnamed:
        raise ValidationError(f"orders {_listed(unnamed)} are for a product: give the batch "
                              "each ships (its lot number), then plan again",
                              arg=f"batch.{unnamed[0]}", orders=unnamed)


def _listed(ids: Sequence[str]) -> str:
    return ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")


def _refused(code: str, message: str, details: dict[str, Any] | None) -> SupplyLedgerError:
    return error_from_code(code, f"the plan would be refused: {message}", details)


def checked_summary(contracts: Mapping[str, Contract], req: DispatchRequest,
                    res: DispatchResult, *, now: int, rules: int) -> dict[str, Any]:
    """What ``dispatch plan`` and the web's dispatch page show of a solved plan, once it
    is checked as ``shipments.record_plan`` will check it, signed at ``now`` (ms) on a
    ledger under shipments rules ``rules``: ``prepare_call``, then (rules v3) each route's
    bounds by the contract's own ``_route_bounds``, so a plan it would refuse is refused
    before anything is signed, with the contract's error ("the plan would be refused: …").
    A later signature only widens the year ahead a route may depart in. Each route's
    report gets the CO2e the contract computes for it."""
    prepared = _check_args(contracts, req.platform, res.args, now=now, rules=rules)
    for report, route in zip(res.routes, prepared["routes"], strict=True):
        report["co2e_g"] = route["shipment"]["co2e_g"]
    return {"plan": req.plan, "platform": req.platform, "routes": res.routes,
            "unserved": res.unserved, "ignored": res.ignored,
            "distance_m": sum(r["distance_m"] for r in res.routes),
            "solver_distance_m": res.args["solver_distance_m"],
            "co2e_g": sum(r["co2e_g"] for r in res.routes)}


def _check_args(contracts: Mapping[str, Contract], platform: str, args: dict[str, Any], *,
                now: int, rules: int) -> dict[str, Any]:
    """``record_plan``'s preparation and (rules v3) route bounds at ``now``: the prepared
    arguments, or the contract's error."""
    prepared, error = prepare_call(contracts, "shipments", "record_plan", args)
    if error is not None:
        raise _refused(error["code"], error["message"], error.get("details"))
    if rules >= 3:
        # The bounds read nothing but the transaction's time: a call context without state.
        ctx = Ctx(contract="shipments", signer=platform, roles=frozenset({"platform"}),
                  org=None, time=now, tx_id="", read=lambda _key: None, version=rules)
        for i, route in enumerate(prepared["routes"]):
            try:
                _route_bounds(ctx, prepared["id"], i, route)
            except SupplyLedgerError as exc:
                raise _refused(exc.code, exc.message, exc.details) from None
    return dict(prepared)


def _rules(read: StateReader, contract: str) -> int:
    raw = read(PREFIX + contract)
    return 1 if raw is None else version_of(PREFIX + contract, raw)


def check_on_ledger(contracts: Mapping[str, Contract], platform: str, args: dict[str, Any],
                    *, read: StateReader, now: int) -> None:
    """``record_plan`` run by the contract's own body over the committed state ``read``,
    as ``platform`` would sign it at ``now``, its writes dropped. The checks above see only
    the arguments and the open orders; the body also refuses what they cannot see (a
    transporter not registered, a lot another order reserved, an order of another
    platform...), and a refusal found only at commit would leave a failed transaction in
    a block. Raises the contract's error ("the plan would be refused: ...")."""
    raw = read(f"identity/{participant_key(platform)}")
    if raw is None:
        raise NotFound(f"the platform {platform} is not a participant of this ledger",
                       platform=platform)
    who = decode(raw)
    prepared, error = prepare_call(contracts, "shipments", "record_plan", args)
    if error is None:
        call = Call("0" * 64, platform, "shipments", "record_plan", now, "", b"", prepared)
        out = execute_call(contracts, call, roles=frozenset(who["roles"]), org=who.get("org"),
                           read=read, version=_rules(read, "shipments"),
                           identity=_rules(read, "identity"))
        if out.ok:
            return
        error = decode(out.receipt)["error"]
    raise _refused(error["code"], error["message"], error.get("details"))


# --- a plan saved to be recorded later, unchanged ---------------------------------------------


@dataclass(frozen=True)
class SavedPlan:
    """A checked plan as ``dispatch plan --save`` wrote it (:func:`saved_plan`)."""

    chain: str
    platform: str
    planned_at: int  # ms, the time it was checked at
    rules: int  # shipments rules then
    args: dict[str, Any]  # shipments.record_plan arguments, recorded exactly so
    ignored: list[dict[str, str]]


def _digest(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(dict(body))).hexdigest()


def saved_plan(req: DispatchRequest, res: DispatchResult, *, chain: str, planned_at: int,
               rules: int, request_sha256: str) -> dict[str, Any]:
    """The document ``dispatch plan --save`` writes of a checked plan: the ledger (chain
    id), platform, when and under which shipments rules it was checked, the request's
    SHA-256 (which file it came from), the ignored orders (to print them again) and the
    ``record_plan`` arguments; ``digest`` (SHA-256 of the rest, canonically encoded) shows
    an edit. It guards against slips, not forgery: whoever records signs the arguments."""
    body = {"format": SAVED_PLAN_FORMAT, "chain": chain, "platform": req.platform,
            "planned_at": planned_at, "rules": rules, "request_sha256": request_sha256,
            "ignored": res.ignored, "args": res.args}
    return {**body, "digest": _digest(body)}


def read_saved_plan(doc: Any, what: str) -> SavedPlan:
    """A saved plan read back; a file that is not one, or was changed since (its digest),
    is refused."""
    if not isinstance(doc, dict) or doc.get("format") != SAVED_PLAN_FORMAT:
        raise ValidationError(f"{what} is not a dispatch plan saved by `dispatch plan "
                              "--save`", arg="format")
    body = {k: v for k, v in doc.items() if k != "digest"}
    try:
        same = _digest(body) == doc.get("digest")
    except SupplyLedgerError:  # a float or an oversized number: not what was saved
        same = False
    if not same:
        raise ValidationError(f"{what} was changed after it was saved (its digest does not "
                              "match): plan again with --save", arg="digest")
    kinds = {"chain": str, "platform": str, "planned_at": int, "rules": int, "args": dict,
             "ignored": list}
    wrong = sorted(k for k, kind in kinds.items() if type(body.get(k)) is not kind)
    args = body.get("args")
    if wrong or not (isinstance(args, dict) and isinstance(args.get("id"), str)
                     and isinstance(args.get("routes"), list)
                     and all(isinstance(r, dict) and isinstance(r.get("stops"), list)
                             and all(isinstance(s, dict) for s in r["stops"])
                             for r in args["routes"])):
        raise ValidationError(f"{what} is not a dispatch plan saved by `dispatch plan "
                              f"--save` (fields {', '.join(wrong) or 'args'})", arg="format")
    return SavedPlan(body["chain"], body["platform"], body["planned_at"], body["rules"],
                     args, body["ignored"])


def check_saved_plan(contracts: Mapping[str, Contract], saved: SavedPlan,
                     open_orders: Sequence[LedgerOrder], *, chain: str, rules: int,
                     plan_taken: bool, now: int) -> dict[str, Any]:
    """A saved plan re-checked against the ledger as it is at ``now`` (the signing time),
    its arguments unchanged: the same chain and shipments rules (the routes' timing
    depends on them), :func:`check_before_signing`'s checks, every routed order still open
    with its delivery window not closed, and :func:`checked_summary`'s. Returns what
    ``dispatch plan`` prints of it."""
    if saved.chain != chain:
        raise WrongChain(f"the plan was made on chain {saved.chain!r}, this ledger is "
                         f"chain {chain!r}", planned=saved.chain, chain=chain)
    if saved.rules != rules:
        raise InvalidState(f"the ledger runs shipments rules v{rules}, the plan was made "
                           f"under v{saved.rules}: plan again", current=f"v{rules}")
    args = saved.args
    _check_orders(args, open_orders, plan_taken=plan_taken, now=now)
    prepared = _check_args(contracts, saved.platform, args, now=now, rules=rules)
    routes = [{"vehicle": r["vehicle"], "transporter": r["transporter"],
               "orders": [s["order"] for s in r["stops"]], "load": r["load"],
               "distance_m": p["shipment"]["distance_m"], "departs_at": r["departs_at"],
               "returns_at": r["promised"], "co2e_g": p["shipment"]["co2e_g"]}
              for r, p in zip(args["routes"], prepared["routes"], strict=True)]
    return {"plan": args["id"], "platform": saved.platform, "routes": routes,
            "unserved": args.get("unserved", []), "ignored": saved.ignored,
            "distance_m": sum(r["distance_m"] for r in routes),
            "solver_distance_m": args["solver_distance_m"],
            "co2e_g": sum(r["co2e_g"] for r in routes)}

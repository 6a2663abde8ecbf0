"""Dispatch plans over HTTP: plan a platform's open orders, then record the plan.

``POST /api/dispatch/plan`` takes ``dispatch plan``'s request document as its body (the JSON
file ``--request`` reads, schema in :mod:`supplyledger.logistics.dispatch_request`; its
``platform`` may be left out: the caller's own) and answers what ``dispatch plan --json``
prints, with the ``shipments.record_plan`` arguments, recording nothing.
``POST /api/dispatch/record`` takes those arguments and signs them with the caller's key.
Both are the web's Dispatch page (``api/web/pages_logistics.py``) for programs, with its
code: the caller must be a platform (403 ``role_denied`` for anyone else, before anything
is solved or signed), the plan is solved and checked exactly as the ledger will run it
(``check_on_ledger``), and a plan is recorded only once it is checked again.

What the page's form cannot send is refused here before the solver runs: order ids that
are not open orders of the caller's platform (404 unknown, 403 another platform's, 409 no
longer open; ``dispatch plan`` lists such entries as ignored, a program is told, all of them
at once, so it can leave them out and send again), more orders or vehicles than a request
may hold, no vehicle (the page's form asks for one; a plan without routes cannot be
recorded), a vehicle whose transporter is unknown, revoked or not a transporter (the
contract would refuse the plan for the first order on its route, naming neither the vehicle
nor why), another platform's request, and a search time outside 0.1..10 s (the solver holds
a worker thread that long, one solve at a time per server, the page's and the API's alike).
``record`` tells a body that is not a plan's ``args`` (the whole answer, say) from a plan
to plan again, and a plan already recorded by its transaction, so a client that retried
after losing the answer learns that its plan is on the ledger.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from supplyledger.api import schemas as s
from supplyledger.api.auth import service_of, writer
from supplyledger.api.openapi import answer
from supplyledger.api.routers.common import StrictJsonRoute, declared_query, receipt_response
from supplyledger.api.service import LedgerService, Principal
from supplyledger.api.web.dispatch_form import MAX_TIME_LIMIT_S, own_request
from supplyledger.api.web.names import participant_names
from supplyledger.api.web.pages_logistics import (
    FORM_ORDERS,
    checked_plan,
    in_solver_thread,
    record_checked,
    refuse_unless_platform,
)
from supplyledger.errors import (
    AlreadyExists,
    Forbidden,
    InvalidState,
    NotFound,
    SupplyLedgerError,
    ValidationError,
)
from supplyledger.logistics.dispatch_request import DispatchRequest, parse_request
from supplyledger.store.shipment_rows import open_orders

__all__ = ["MAX_ORDERS", "MAX_VEHICLES", "router"]

router = APIRouter(tags=["logistics"], dependencies=[Depends(declared_query)],
                   route_class=StrictJsonRoute)
MAX_ORDERS = FORM_ORDERS  # as many as the page lists (a route takes at most 200 stops)
MAX_VEHICLES = 50  # the solver's problem grows with the fleet: a day's vehicles, not a registry

_TIME = {"type": ["integer", "string"],
         "description": "ms since the epoch, or ISO 8601 with a zone"}
_COORD = {"type": ["number", "string"], "description": "decimal degrees"}
_NAMES = {"type": "array", "items": {"type": "string"}}
_WINDOW = {"type": "array", "items": _TIME, "minItems": 2, "maxItems": 2}
# What parse_request reads (logistics/dispatch_request.py), for clients: the body itself is
# read by that parser, which refuses any key not named here.
_REQUEST_SCHEMA = {"requestBody": {"content": {"application/json": {"schema": {
    "required": ["warehouse", "fleet", "orders"], "additionalProperties": False,
    "properties": {
        "plan": {"type": "string", "description": "plan id, 1-40 of A-Z a-z 0-9 _ . : - "
                 "(default plan-<start, UTC minute>); unused on the ledger"},
        "platform": {"type": "string", "description": "your platform's participant id "
                     "(default: yours)"},
        "start": _TIME | {"description": "default: warehouse.open; never before now"},
        "speed_kmh": {"type": "number", "description": "1-1200, default 60"},
        "warehouse": {"type": "object", "required": ["lat", "lon", "open", "close",
                                                      "outbound_capacity"],
                      "additionalProperties": False, "properties": {
            "node": {"type": "string"}, "lat": _COORD, "lon": _COORD, "open": _TIME,
            "close": _TIME, "outbound_capacity": {"type": "number"},
            "storage_capacity": {"type": "number"}}},
        "fleet": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["vehicle", "transporter", "capacity"],
            "additionalProperties": False, "properties": {
                "vehicle": {"type": "string"},
                "transporter": {"type": "string", "description": "an active participant "
                                "with the transporter role (GET /api/participants)"},
                "capacity": {"type": "number", "description": "in the unit of `quantity`"},
                "vehicle_class": {"type": "string", "description": "default van_diesel_avg"},
                "mode": {"type": "string", "description": "default road"},
                "available": _WINDOW, "features": _NAMES}}},
        "orders": {"type": "object", "minProperties": 1, "description": "order id -> its "
                   "drop point; each an open order of your platform", "additionalProperties": {
            "type": "object", "required": ["lat", "lon"], "additionalProperties": False,
            "properties": {
                "lat": _COORD, "lon": _COORD, "quantity": {"type": "number"},
                "mass_kg": {"type": "integer", "description": "default: quantity"},
                "service_min": {"type": "number"}, "requires": _NAMES, "window": _WINDOW,
                "batch": {"type": "string", "description": "the lot an order of a product "
                          "ships (its id or lot number)"},
                "public": {"type": "boolean", "description": "the drop point may go on the "
                           "ledger"}}}}}}}}}}
_ARGS_SCHEMA = {"requestBody": {"content": {"application/json": {"schema": {
    "required": ["id", "warehouse", "routes"], "properties": {
        "id": {"type": "string"}, "warehouse": {"type": "object"},
        "routes": {"type": "array", "minItems": 1, "items": {"type": "object"}},
        "unserved": {"type": "array"}, "solver_distance_m": {"type": "integer"}}}}}}}
_REQUEST = Body(description=(
    "the dispatch request, as `supplyledger dispatch plan --request` reads it: plan, "
    "platform (optional: yours), start, speed_kmh, warehouse {node, lat, lon, open, close, "
    "outbound_capacity, storage_capacity}, fleet [{vehicle, transporter, capacity, "
    "vehicle_class, mode, available, features}] (at most " + str(MAX_VEHICLES) + "), "
    "orders {order id: {lat, lon, quantity, mass_kg, service_min, requires, window, batch, "
    "public}} (at most " + str(MAX_ORDERS) + ", each an open order of your platform); "
    "see docs/logistics.md"),
    openapi_examples={"one van": {"value": {
        "plan": "P-0105", "warehouse": {
            "node": "DC-1", "lat": 52.52, "lon": 13.405, "open": "2026-11-24T06:00:00Z",
            "close": "2026-11-24T18:00:00Z", "outbound_capacity": 5000},
        "fleet": [{"vehicle": "V1", "transporter": "did:sl:...", "capacity": 1200,
                   "vehicle_class": "van_diesel_avg", "mode": "road"}],
        "orders": {"O-1": {"lat": 52.50, "lon": 13.30, "quantity": 120}}}}})
TimeLimit = Annotated[float, Query(
    ge=0.1, le=MAX_TIME_LIMIT_S, description="most seconds of search (it also stops after "
    f"2000 iterations, so plans are reproducible); 0.1 to {MAX_TIME_LIMIT_S:g}")]


def _request(svc: LedgerService, who: Principal, doc: dict[str, Any]) -> DispatchRequest:
    """The caller's request parsed by the CLI's parser, its orders the caller's platform's
    open orders and its vehicles driven by active transporters: refused before the solver
    runs otherwise."""
    req = parse_request(own_request(doc, who.did, participant_names(svc, [who.did])))
    if len(req.drops) > MAX_ORDERS:
        raise ValidationError(f"orders: at most {MAX_ORDERS} a request (got "
                              f"{len(req.drops)})", arg="orders", most=MAX_ORDERS)
    if len(req.fleet) > MAX_VEHICLES:
        raise ValidationError(f"fleet: at most {MAX_VEHICLES} vehicles a request (got "
                              f"{len(req.fleet)})", arg="fleet", most=MAX_VEHICLES)
    if not req.drops:
        raise ValidationError("orders: name at least one open order to dispatch, with its "
                              "drop point", arg="orders")
    if not req.fleet:
        raise ValidationError("fleet: name at least one vehicle (vehicle, transporter, "
                              "capacity): without one every order is unserved and there is "
                              "no plan to record", arg="fleet")
    for i, v in enumerate(req.fleet):
        _transporter(svc, f"fleet[{i}]", v.vehicle, v.transporter)
    is_open = {o.id for o in open_orders(svc.node.store.reader(), who.did)}
    closed = [oid for oid in sorted(req.drops) if oid not in is_open]
    if closed:
        raise _not_open(svc, who, closed)
    return req


def _transporter(svc: LedgerService, where: str, vehicle: str, did: str) -> None:
    """Refuse a vehicle whose transporter the contract would not accept, naming it."""
    p = svc.participant(did)
    at = f"{where} (vehicle {vehicle}): transporter {did}"
    if p is None:
        raise NotFound(f"{at} is not a participant of this ledger (GET /api/participants "
                       "lists them)", arg=f"{where}.transporter", transporter=did)
    if p.get("status") != "active":
        raise InvalidState(f"{at} ({p.get('name')}) was revoked: choose another transporter",
                           current=str(p.get("status")), arg=f"{where}.transporter",
                           transporter=did)
    if "transporter" not in (p.get("roles") or []):
        raise ValidationError(f"{at} ({p.get('name')}) is not a transporter (roles: "
                              f"{', '.join(p.get('roles') or []) or 'none'})",
                              arg=f"{where}.transporter", transporter=did)


def _not_open(svc: LedgerService, who: Principal, oids: list[str]) -> SupplyLedgerError:
    """One error naming every order of the request that is not an open order of the
    caller's platform, with why (the status is the first one's: 404, 403 or 409)."""
    why: dict[str, str] = {}
    for oid in oids:
        rows = svc.reads.rows("orders", 1, None, {"id": oid}).items
        if not rows:
            why[oid] = "no such order"
        elif rows[0]["platform"] != who.did:
            why[oid] = "another platform's"
        else:
            tn = rows[0].get("transport_no")
            why[oid] = str(rows[0]["state"]) + (f" as {tn}" if tn else "")
    listed = ", ".join(f"{oid} ({w})" for oid, w in why.items())
    msg = (f"orders not open (no longer open, unknown or another platform's): {listed}; "
           "leave them out of orders and send the request again (GET /api/tables/orders"
           "?platform=<you>&state=placed lists your open ones)")
    first = why[oids[0]]
    details: dict[str, Any] = {"arg": "orders", "order": oids[0], "orders": why}
    if first == "no such order":
        return NotFound(msg, **details)
    if first == "another platform's":
        return Forbidden(msg, **details)
    return InvalidState(msg, current=first.split(" ")[0], **details)


def _plan(svc: LedgerService, req: DispatchRequest, limit_s: float) -> dict[str, Any]:
    doc, res = checked_plan(svc, req, limit_s)
    return {**doc, "args": res.args}


@router.post("/api/dispatch/plan",
             summary="Plan your platform's open orders (PyVRP) and check the plan; records "
                     "nothing", response_model=None, openapi_extra=_REQUEST_SCHEMA,
             responses=answer(s.DispatchPlan, "The checked plan, not recorded",
                              404, 409, 422))
async def plan(request: Request, doc: Annotated[dict[str, Any], _REQUEST],
               time_limit: TimeLimit = 2.0, who: Principal = Depends(writer)) -> Any:
    svc = service_of(request)
    refuse_unless_platform(svc, who)
    req = await run_in_threadpool(_request, svc, who, doc)
    return await in_solver_thread(request, _plan, svc, req, time_limit)


@router.post("/api/dispatch/record",
             summary="Sign and record a plan of POST /api/dispatch/plan (its args) as your "
                     "platform", response_model=None, openapi_extra=_ARGS_SCHEMA,
             responses=answer(s.CallAnswer, "Committed: its receipt", 404, 409, 422, 503))
async def record(request: Request, response: Response,
                 args: Annotated[dict[str, Any], Body(
                     description="the `args` of POST /api/dispatch/plan's answer, unchanged")],
                 who: Principal = Depends(writer)) -> Any:
    svc = service_of(request)
    refuse_unless_platform(svc, who)
    _args_only(args)
    try:
        _, receipt = await run_in_threadpool(record_checked, svc, who, args)
    except AlreadyExists as exc:
        raise _recorded(svc, who, str(args["id"])) or exc from None
    return receipt_response(receipt, response)


def _args_only(body: dict[str, Any]) -> None:
    """Refuse a body that is not a plan's ``args``, saying what to send instead."""
    if isinstance(body.get("args"), dict) and "id" not in body:
        raise ValidationError("the body is POST /api/dispatch/plan's whole answer: send its "
                              "`args` only, unchanged", arg="args")
    missing = [k for k in ("id", "warehouse", "routes") if k not in body]
    if missing:
        raise ValidationError(f"the body must be the `args` of POST /api/dispatch/plan's "
                              f"answer, unchanged: {', '.join(missing)} missing", arg=missing[0])
    if not isinstance(body["id"], str):
        raise ValidationError("id: the plan id, a string", arg="id")


def _recorded(svc: LedgerService, who: Principal, pid: str) -> AlreadyExists | None:
    """The plan id in use: by this platform's recorded plan (its transaction, so a client
    that retried knows the plan is on the ledger), or another platform's."""
    rows = svc.reads.rows("dispatch_plans", 1, None, {"id": pid}).items
    if not rows:
        return None
    if rows[0]["platform"] != who.did:
        return AlreadyExists(f"plan id {pid} is another platform's: plan again under "
                             "another plan id", plan=pid)
    return AlreadyExists(f"dispatch plan {pid} is already recorded (tx {rows[0]['tx']}, "
                         f"block {rows[0]['height']}): a plan is recorded once; plan orders "
                         "still open under another plan id", plan=pid,
                         tx=str(rows[0]["tx"]), height=rows[0]["height"])

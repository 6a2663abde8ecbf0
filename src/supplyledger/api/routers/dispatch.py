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

What the page's form cannot send is refused here before the solver runs: an order id that
is not an open order of the caller's platform (404 unknown, 403 another platform's, 409 no
longer open; ``dispatch plan`` lists such entries as ignored, a program is told), more
orders or vehicles than a request may hold, another platform's request, and a search time
outside 0.1..10 s (the solver holds a worker thread that long, one solve at a time per
server, the page's and the API's alike).
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
    not_open,
    record_checked,
    refuse_unless_platform,
)
from supplyledger.errors import ValidationError
from supplyledger.logistics.dispatch_request import DispatchRequest, parse_request
from supplyledger.store.shipment_rows import open_orders

__all__ = ["MAX_ORDERS", "MAX_VEHICLES", "router"]

router = APIRouter(tags=["logistics"], dependencies=[Depends(declared_query)],
                   route_class=StrictJsonRoute)
MAX_ORDERS = FORM_ORDERS  # as many as the page lists (a route takes at most 200 stops)
MAX_VEHICLES = 50  # the solver's problem grows with the fleet: a day's vehicles, not a registry

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
    open orders: refused before the solver runs otherwise."""
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
    is_open = {o.id for o in open_orders(svc.node.store.reader(), who.did)}
    for oid in sorted(req.drops):
        if oid not in is_open:
            raise not_open(svc, who, oid)
    return req


def _plan(svc: LedgerService, req: DispatchRequest, limit_s: float) -> dict[str, Any]:
    doc, res = checked_plan(svc, req, limit_s)
    return {**doc, "args": res.args}


@router.post("/api/dispatch/plan",
             summary="Plan your platform's open orders (PyVRP) and check the plan; records "
                     "nothing", response_model=None,
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
                     "platform", response_model=None,
             responses=answer(s.CallAnswer, "Committed: its receipt", 404, 409, 422, 503))
async def record(request: Request, response: Response,
                 args: Annotated[dict[str, Any], Body(
                     description="the `args` of POST /api/dispatch/plan's answer, unchanged")],
                 who: Principal = Depends(writer)) -> Any:
    _, receipt = await run_in_threadpool(record_checked, service_of(request), who, args)
    return receipt_response(receipt, response)

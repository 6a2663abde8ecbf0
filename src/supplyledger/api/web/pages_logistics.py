"""Pages of a platform's fleet planner: plan a dispatch of the platform's open orders and
record it, recorded plans with their picture, and the monthly emissions report; and the
quality manager's cold-chain page.

The same code as the CLI does the work: the request is ``dispatch plan``'s request
(:mod:`.dispatch_form` builds it from the page's form, or it is uploaded as a file) and is
checked by its parser; the ledger's open orders (``store.shipment_rows.open_orders``), the
PyVRP planner (``logistics.dispatch_plan``), the check of the plan exactly as the ledger
will run it (the contract's argument schema and preparation, which also computes each
route's CO2e) and the pictures (``logistics.plot``, ``logistics.dispatch_picture``) are the
CLI's. The emissions report is ``GET /api/emissions``'s (``node.kpi_reports``), its CSV
``emissions report --csv``'s.

The cold-chain page (``/cold-chain``) reads the sensors contract's tables and state: each
breach with the band and allowance it recorded (``sensors/b/<id>``), a batch's rule in force
(its own, else its product's), and the readings of the newest reading batches decoded from
their signed transactions (the tables keep only summaries), charted by ``charts.line``. Its
form signs ``sensors.set_rule`` from °C and minutes (:func:`rule_args`), refused in words
before signing (under sensors rules v5 also a band narrower than the contract takes). A
breach found under rules v5 also says which version of its rule judged it. Its words for a
breach's worst value (:func:`worst_words`: the unit is the check kind's, not the column's)
and for a rule (:func:`rule_name`: the product it belongs to) are also the generic tables'
(:func:`breach_cells`, through ``money.shown_rows``).

The solver runs in a worker thread with a bounded search (at most 10 s; it also stops after
2000 iterations, so a plan is reproducible), one solve at a time per server, so the pages
stay served meanwhile. "Record this plan" signs ``shipments.record_plan`` with the member's
own key through :meth:`LedgerService.call`, as every method form does; what the ledger
would refuse for reasons visible now (a role, a plan id in use, an order no longer open, a
product order without the batch it ships) is refused before anything is signed.

``POST /api/dispatch/plan`` and ``/api/dispatch/record`` (``api/routers/dispatch.py``) are
the same two steps for programs: they share :func:`refuse_unless_platform`,
:func:`checked_plan`, :func:`in_solver_thread` and :func:`record_checked` with the page.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from urllib.parse import urlencode

import anyio
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from supplyledger.api.auth import check_csrf, current, service_of
from supplyledger.api.errors import status_for, status_for_code
from supplyledger.api.service import LedgerService, Principal
from supplyledger.api.web.dispatch_form import (
    VEHICLE_ROWS,
    read_upload,
    request_from_form,
    request_from_upload,
    time_limit,
)
from supplyledger.api.web.names import participant_names
from supplyledger.api.web.once import PENDING
from supplyledger.api.web.render import page
from supplyledger.api.web.units import in_unit
from supplyledger.contracts.builtin._sensors_model import milli as decimal_text
from supplyledger.contracts.builtin._sensors_rules import MIN_BAND
from supplyledger.errors import (
    AlreadyExists,
    Forbidden,
    InvalidState,
    NotFound,
    RoleDenied,
    SupplyLedgerError,
    ValidationError,
)
from supplyledger.ledger.encoding import decode
from supplyledger.logistics.dispatch_request import DispatchRequest, read_json
from supplyledger.logistics.emissions import load_factors
from supplyledger.logistics.emissions_report import to_csv
from supplyledger.node.kpi_reports import emissions_report
from supplyledger.store.kpi_rows import KpiQueries
from supplyledger.store.shipment_rows import dispatch_plan, open_orders

if TYPE_CHECKING:
    from supplyledger.logistics.dispatch_plan import DispatchResult
    from supplyledger.node.receipts import Receipt

__all__ = ["FORM_ORDERS", "breach_cells", "checked_plan", "in_solver_thread", "not_open",
           "product_names", "record_checked", "refuse_unless_platform", "router", "rule_args",
           "rule_name", "rule_words", "worst_words"]

router = APIRouter(include_in_schema=False)
PlanId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}$")]
FORM_ORDERS = 200  # open orders the form lists (a route takes at most 200 stops)
PLANS_SHOWN = 50


def _may_plan(svc: LedgerService, who: Principal) -> bool:
    return svc.may_call(who, "shipments", "record_plan")


def refuse_unless_platform(svc: LedgerService, who: Principal) -> None:
    """Refused unsolved and unsigned, as ``dispatch plan --submit`` refuses such a key."""
    if not _may_plan(svc, who):
        raise RoleDenied("dispatch plans are recorded by platforms: your roles may not call "
                         "shipments.record_plan", required=["platform"],
                         held=sorted(who.roles))


def _rows(svc: LedgerService, table: str, limit: int, filters: dict[str, str],
          contains: dict[str, str] | None = None) -> tuple[list[dict[str, Any]], bool]:
    if table not in svc.reads.tables:
        return [], False
    got = svc.reads.rows(table, limit, None, filters, contains)
    return got.items, got.next_cursor is not None


def _form_context(svc: LedgerService, who: Principal) -> dict[str, Any]:
    """What the planning form offers: the member's open orders, transporters, vehicle
    classes of the emission-factor table, and the platform's recorded plans."""
    orders, cut = _rows(svc, "orders", FORM_ORDERS, {"platform": who.did, "state": "placed"})
    carriers, _ = _rows(svc, "participants", svc.settings.page_max, {"status": "active"},
                        {"roles": "transporter"})
    plans, more = _rows(svc, "dispatch_plans", PLANS_SHOWN,
                        {"platform": who.did} if _may_plan(svc, who) else {})
    factors = load_factors()
    classes = [(f"{f.mode}/{f.vehicle_class}", f"{f.mode} · {f.vehicle_class} ({f.fuel})")
               for f in factors.factors]
    start = (svc.node.clock() // 3_600_000 + 1) * 3_600_000  # the next full hour
    return {"orders": orders, "orders_cut": cut, "carriers": carriers, "classes": classes,
            "plans": plans, "more_plans": more, "vehicle_rows": VEHICLE_ROWS,
            "default_open": start, "default_close": start + 10 * 3_600_000,
            "names": participant_names(svc, {str(p["platform"]) for p in plans}
                                       | {str(o["buyer"]) for o in orders}),
            "may_plan": _may_plan(svc, who), "deployed": "shipments" in svc.contracts}


def _dispatch_page(request: Request, svc: LedgerService, who: Principal, status: int = 200,
                   **ctx: Any) -> Response:
    return page(request, "dispatch.html", status=status, title="Dispatch planning",
                **{"values": {}, "picked": set(), "plan": None, "error": None,
                   "receipt": None, **_form_context(svc, who), **ctx})


@router.get("/dispatch", response_class=HTMLResponse)
def dispatch_form(request: Request) -> Response:
    who = current(request)
    return _dispatch_page(request, service_of(request), who)


def checked_plan(svc: LedgerService, req: DispatchRequest, limit_s: float
                 ) -> tuple[dict[str, Any], DispatchResult]:
    """``dispatch plan`` without ``--submit``: the request solved against the platform's
    open orders on the ledger and checked as ``shipments.record_plan`` will check it; what
    ``dispatch plan`` shows of it, and the solver's result. Runs in a worker thread (its
    own read connection)."""
    from supplyledger.logistics.dispatch_plan import (
        check_before_signing,
        check_on_ledger,
        checked_summary,
        plan_dispatch,
    )

    orders = open_orders(svc.node.store.reader(), req.platform)
    # Routes carry the plan's speed and service times from shipments rules v2 on.
    rules = svc.rules_version("shipments")
    now = svc.node.clock()
    res = plan_dispatch(req, orders, time_limit_s=limit_s, timing=rules >= 2, now=now)
    check_before_signing(req, res, orders,
                         plan_taken=bool(_rows(svc, "dispatch_plans", 1, {"id": req.plan})[0]))
    doc = checked_summary(svc.contracts, req, res, now=now, rules=rules)
    # The contract's body on the ledger as it is (a transporter it does not know, a lot
    # another order holds): a plan it would refuse is not offered for signing.
    check_on_ledger(svc.contracts, req.platform, res.args, read=svc.node.store.get_state,
                    now=now)
    return doc, res


def _solve(svc: LedgerService, doc: dict[str, Any], limit_s: float) -> dict[str, Any]:
    """:func:`checked_plan` of the page's request, with its picture."""
    from supplyledger.logistics.dispatch_picture import EAST_NORTH
    from supplyledger.logistics.dispatch_request import parse_request
    from supplyledger.logistics.plot import render_svg

    doc, res = checked_plan(svc, parse_request(doc), limit_s)
    return {**doc, "served": sum(len(r["orders"]) for r in res.routes),
            "args": json.dumps(res.args, sort_keys=True, separators=(",", ":")),
            "svg": render_svg(res.problem, res.solution, unit="km", x_label=EAST_NORTH[0],
                              y_label=EAST_NORTH[1])}


_T = TypeVar("_T")


async def in_solver_thread(request: Request, solve: Callable[..., _T], *args: Any) -> _T:
    """``solve(*args)`` in a worker thread, one solve at a time per server, the page's and
    the API's alike (2 cores serve every page): the next one waits."""
    state = request.app.state
    if getattr(state, "solver_limiter", None) is None:
        state.solver_limiter = anyio.CapacityLimiter(1)
    return await anyio.to_thread.run_sync(solve, *args, limiter=state.solver_limiter)


async def _upload(form: FormData) -> bytes:
    f = form.get("request")
    return await f.read() if isinstance(f, UploadFile) and f.filename else b""


@router.post("/dispatch", response_class=HTMLResponse)
async def dispatch_solve(request: Request) -> Response:
    """Solve the form's (or the uploaded file's) request and show the plan, not recorded."""
    who = current(request)
    form = await request.form(max_fields=FORM_ORDERS * 8 + 100)
    check_csrf(who, request, dict(form))
    svc = service_of(request)
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
    picked = {str(v) for v in form.getlist("pick")}
    try:
        refuse_unless_platform(svc, who)
        limit_s = time_limit(str(form.get("time_limit", "")))
        data = await _upload(form)
        if data:
            doc = request_from_upload(data, who.did, participant_names(svc, [who.did]))
        else:
            shown, _ = _rows(svc, "orders", FORM_ORDERS, {"platform": who.did,
                                                           "state": "placed"})
            open_ids = [str(o["id"]) for o in shown]
            doc = request_from_form(lambda k: [str(v) for v in form.getlist(k)], who.did,
                                    open_ids, svc.resolve_batch)
        plan = await in_solver_thread(request, _solve, svc, doc, limit_s)
    except SupplyLedgerError as exc:
        return _dispatch_page(request, svc, who, status_for(exc), values=values,
                              picked=picked, error=exc.to_dict())
    names = participant_names(svc, {r["transporter"] for r in plan["routes"]})
    return _dispatch_page(request, svc, who, values=values, picked=picked, plan=plan,
                          plan_names=names)


def not_open(svc: LedgerService, who: Principal, oid: str) -> SupplyLedgerError:
    """Why ``oid`` is not an open order of the member's platform, as the error to raise."""
    rows, _ = _rows(svc, "orders", 1, {"id": oid})
    if not rows:
        return NotFound(f"no order {oid}", order=oid)
    if rows[0]["platform"] != who.did:
        return Forbidden(f"order {oid} came through another platform", order=oid)
    return InvalidState(f"order {oid} is {rows[0]['state']}, no longer open: plan again",
                        current=str(rows[0]["state"]), order=oid)


def _check_recordable(svc: LedgerService, who: Principal, args: Any) -> str:
    """What the contract would refuse about ``args`` and can be seen before signing: the
    plan's id in use, routed orders that are not open orders of the member's platform
    (any more), a product order without the batch it ships or an order for a batch with
    another one. Returns the plan id."""
    if not isinstance(args, dict) or not isinstance(args.get("id"), str):
        raise ValidationError("the plan to record is missing: plan it again", arg="args")
    pid = str(args["id"])
    if _rows(svc, "dispatch_plans", 1, {"id": pid})[0]:
        raise AlreadyExists(f"dispatch plan {pid} already exists: plan again under another "
                            "plan id", plan=pid)
    routes = args["routes"] if isinstance(args.get("routes"), list) else []
    stops = [s for r in routes if isinstance(r, dict) for s in r.get("stops") or []
             if isinstance(s, dict)]
    if not stops:
        raise ValidationError("nothing to dispatch: no order was routed", arg="routes")
    still = {o.id: o for o in open_orders(svc.node.store.reader(), who.did)}
    for stop in stops:
        oid, batch = str(stop.get("order")), stop.get("batch")
        if oid not in still:
            raise not_open(svc, who, oid)
        if still[oid].batch is None and not batch:
            raise ValidationError(f"order {oid} is for a product: give the batch it ships "
                                  "(lot number) and plan again", arg=f"batch.{oid}")
        if still[oid].batch is not None and batch not in (None, still[oid].batch):
            raise ValidationError(f"order {oid} is for batch {still[oid].batch}",
                                  arg=f"batch.{oid}")
    return pid


def record_checked(svc: LedgerService, who: Principal, args: Any) -> tuple[str, Receipt]:
    """Sign ``shipments.record_plan(args)`` with the member's key once the plan is checked
    as the ledger will check it (its role, :func:`_check_recordable`, the contract's body
    over the committed state): a refusal leaves nothing signed. The plan id and the
    receipt. Blocks: run it in a worker thread."""
    from supplyledger.logistics.dispatch_plan import check_on_ledger  # (PyVRP: lazily)

    refuse_unless_platform(svc, who)
    pid = _check_recordable(svc, who, args)
    check_on_ledger(svc.contracts, who.did, args, read=svc.node.store.get_state,
                    now=svc.node.clock())
    return pid, svc.call(who, "shipments", "record_plan", args)


@router.post("/dispatch/record", response_class=HTMLResponse)
async def dispatch_record(request: Request) -> Response:
    """Sign ``shipments.record_plan`` with the plan shown, once per rendered plan."""
    who = current(request)
    form = await request.form()
    check_csrf(who, request, dict(form))
    svc = service_of(request)
    once = request.app.state.once
    token = str(form.get("once", ""))
    fresh, earlier = once.claim(who.did, token)
    if not fresh:  # a reload, or "back" and send again: nothing is signed twice
        if earlier is PENDING or not earlier.get("plan"):
            return _dispatch_page(request, svc, who, 409, error={
                "code": "already_sent", "message": "this plan was already sent"})
        return RedirectResponse(f"/dispatch/plans/{earlier['plan']}", status_code=303)
    result: dict[str, Any] | None = None
    try:
        try:
            args = read_json(str(form.get("args", "")).encode(), "the plan")
        except ValidationError:
            raise ValidationError("the plan to record is not readable: plan it again",
                                  arg="args") from None
        pid, receipt = await run_in_threadpool(record_checked, svc, who, args)
    except SupplyLedgerError as exc:
        once.settle(who.did, token, None)  # nothing signed: may be sent again
        if exc.code == "key_locked":
            raise
        return _dispatch_page(request, svc, who, status_for(exc), error=exc.to_dict())
    except BaseException:
        once.settle(who.did, token, None)
        raise
    result = receipt.to_dict()
    once.settle(who.did, token, {"plan": pid if receipt.ok else None, "result": result})
    if not receipt.ok:
        code = str((receipt.error or {}).get("code"))
        return _dispatch_page(request, svc, who, status_for_code(code), error=receipt.error,
                              receipt=result)
    return RedirectResponse(f"/dispatch/plans/{pid}", status_code=303)


def _plan_page(request: Request, plan_id: str, drops: dict[str, tuple[int, int]] | None = None,
               warehouse: tuple[int, int] | None = None, status: int = 200,
               error: dict[str, Any] | None = None) -> Response:
    from supplyledger.logistics.dispatch_picture import plan_svg

    current(request)
    svc = service_of(request)
    p = dispatch_plan(svc.node.store.reader(), plan_id)
    names = participant_names(svc, {str(p["platform"])}
                              | {str(r["transporter"]) for r in p["routes"]})
    return page(request, "dispatch_plan.html", status=status, title=f"Dispatch plan {plan_id}",
                p=p, svg=plan_svg(p, drops, warehouse or p["warehouse_at"]), names=names,
                geographic=drops is not None, error=error)


@router.get("/dispatch/plans/{plan_id}", response_class=HTMLResponse)
def plan_show(request: Request, plan_id: PlanId) -> Response:
    """``dispatch show``: the recorded plan and its picture (schematic: drop points are
    private unless recorded as public)."""
    return _plan_page(request, plan_id)


@router.post("/dispatch/plans/{plan_id}", response_class=HTMLResponse)
async def plan_draw(request: Request, plan_id: PlanId) -> Response:
    """``dispatch show --request``: draw the real drop points from the platform's request
    file, which is read for this picture and kept nowhere."""
    from supplyledger.logistics.dispatch_request import parse_request

    who = current(request)
    form = await request.form()
    check_csrf(who, request, dict(form))
    try:
        data = await _upload(form)
        if not data:
            raise ValidationError("choose the plan's request file", arg="request")
        req = parse_request(read_upload(data))
    except SupplyLedgerError as exc:
        return _plan_page(request, plan_id, status=status_for(exc), error=exc.to_dict())
    drops = {oid: (d.lat_e6, d.lon_e6) for oid, d in req.drops.items()}
    return _plan_page(request, plan_id, drops, (req.warehouse.lat_e6, req.warehouse.lon_e6))


# -- emissions -------------------------------------------------------------------------------

Month = Annotated[str | None, Query(max_length=16)]
Platform = Annotated[str | None, Query(max_length=128)]


def _report(request: Request, month: str | None, platform: str | None
            ) -> tuple[dict[str, Any], KpiQueries]:
    current(request)
    q = KpiQueries(service_of(request).node.store.reader())
    if not month:  # the ledger's own month: its last block's
        month = dt.datetime.fromtimestamp(q.as_of() / 1000, dt.UTC).strftime("%Y-%m")
    return emissions_report(q, month, platform=platform or None), q


@router.get("/emissions", response_class=HTMLResponse)
def emissions(request: Request, month: Month = None, platform: Platform = None) -> Response:
    """``emissions report``: one month's freight emissions per platform, with units."""
    try:
        rep, q = _report(request, month, platform)
        error, status = None, 200
    except (ValidationError, NotFound) as exc:
        q = KpiQueries(service_of(request).node.store.reader())
        rep, error, status = None, exc.to_dict(), status_for(exc)
    return page(request, "emissions.html", status=status,
                title="Freight emissions", rep=rep, error=error, month=month or "",
                platform=platform or "", platforms=q.platforms())


@router.get("/emissions.csv")
def emissions_csv(request: Request, month: Month = None, platform: Platform = None
                  ) -> Response:
    """The report as ``emissions report --csv`` prints it."""
    rep, _ = _report(request, month, platform)
    return Response(to_csv(rep), media_type="text/csv; charset=utf-8", headers={
        "content-disposition": f'attachment; filename="emissions-{rep["month"]}.csv"'})


# -- cold chain ------------------------------------------------------------------------------

READING_TXS = 24  # reading batches charted at most (up to 1,000 readings each)
CHART_POINTS = 720  # points drawn; readings out of range are always kept
_WORST = {"temp": "temp_min", "hum": "hum_min", "shock": "shock_max"}  # unit by kind
_KIND = {"temp": "temperature", "hum": "humidity", "shock": "shock", "geofence": "geofence"}


def _lot(batch: str) -> str:
    return batch.rsplit("/", 1)[-1]


def _state(svc: LedgerService, key: str) -> Any:
    raw = svc.node.store.get_state(f"sensors/{key}")
    return None if raw is None else decode(raw)


def rule_words(rule: dict[str, Any]) -> list[str]:
    """A rule's checks (normal form: ``[min, max, allowance]`` per band) in people's
    units: "temperature 2.0 °C to 8.0 °C, 30 min out of range allowed"."""
    out = []
    for kind, col in (("temp", "temp_min"), ("hum", "hum_min")):
        if rule.get(kind):
            lo, hi, allow = rule[kind]
            out.append(f"{_KIND[kind]} {in_unit(lo, col)} to {in_unit(hi, col)}, "
                       + (f"{in_unit(allow, 'temp_excursion_ms')} out of range allowed"
                          if allow else "no time out of range allowed"))
    if rule.get("shock"):
        out.append(f"shock up to {in_unit(rule['shock'][1], 'shock_max')}")
    if rule.get("geofence"):
        out.append("a geofence")
    return out


def rule_name(key: str, products: dict[str, str]) -> str:
    """A rule's state key (``r/p/<GTIN>``, ``r/b/<batch>``) as people say it: "product rule
    of Baking yeast" (``products``: GTIN -> name, :func:`product_names`), "own rule of
    batch PY1"."""
    if key.startswith("r/p/"):
        gtin = key[4:]
        return f"product rule of {products.get(gtin, 'GTIN ' + gtin)}"
    return f"own rule of batch {_lot(key[4:])}"


def product_names(svc: LedgerService, gtins: set[str]) -> dict[str, str]:
    """GTIN -> name of those of ``gtins`` that are registered products."""
    return {g: str(p["name"]) for g in gtins
            for p in _rows(svc, "products", 1, {"gtin": g})[0]}


def _rule_gtins(keys: Iterable[Any]) -> set[str]:
    return {str(k)[4:] for k in keys if str(k).startswith("r/p/")}


def worst_words(kind: str, worst: Any) -> str | None:
    """A breach's worst value in the unit of its check ``kind`` (the ``worst`` column holds
    m°C, per-mille RH, milli-g or metres by kind, so no column name says which); None
    for an unknown kind or no value."""
    if worst is None:
        return None
    if kind in _WORST:
        return in_unit(int(worst), _WORST[kind])
    if kind == "geofence":
        return f"{in_unit(int(worst), 'distance_m')} from the centre"
    return None


def breach_cells(svc: LedgerService, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``sensor_breaches`` rows as the generic tables list them: each gains ``shown_cells``,
    column -> (text, tooltip, link or ""), for its worst value in its unit (the stored
    integer in the tooltip) and its rule by the product it belongs to, linking to the
    rule's row (its key in the tooltip). The stored values stay as they are."""
    rows = list(rows)
    products = product_names(svc, _rule_gtins(r["rule"] for r in rows))
    out = []
    for r in rows:
        cells: dict[str, tuple[str, str, str]] = {}
        worst = worst_words(str(r["kind"]), r["worst"])
        if worst is not None:
            cells["worst"] = (worst, str(r["worst"]), "")
        if r["rule"]:
            key = str(r["rule"])
            cells["rule"] = (rule_name(key, products), key,
                             "/tables/sensor_rules?" + urlencode({"key": key}))
        out.append({**r, "shown_cells": cells})
    return out


def _breach_lines(svc: LedgerService, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each breach row for people: batch, check and worst value in its unit, duration
    against the allowance of the rule it broke, logger and shipment by name, the orders
    of the batch it holds."""
    states = {r["id"]: _state(svc, f"b/{r['id']}") for r in rows}
    names = participant_names(svc, {str(r["device"]) for r in rows})
    products = product_names(svc, _rule_gtins(r["rule"] for r in rows))
    out = []
    for r in rows:
        b = states[r["id"]] or {}
        band = b.get("band") or [None, None, 0]
        end = r["ended"] if r["ended"] is not None else b.get("seen", r["started"])
        worst = worst_words(str(r["kind"]), r["worst"])
        limit = side = None
        if r["kind"] in ("temp", "hum") and band[0] is not None:
            side = "above" if int(r["worst"]) > band[1] else "below"
            limit = band[1] if side == "above" else band[0]
        orders, _ = _rows(svc, "orders", 10, {"batch": str(r["batch"])})
        out.append({
            "row": r, "lot": _lot(str(r["batch"])), "kind": _KIND.get(r["kind"], r["kind"]),
            "worst": worst if worst is not None else r["worst"], "ongoing": r["ended"] is None,
            "limit": in_unit(limit, _WORST[r["kind"]]) if limit is not None else None,
            "side": side,
            "lasted": in_unit(int(end) - int(r["started"]), "dwell_ms"),
            "allowed": in_unit(int(band[2] or 0), "dwell_ms"),
            "rule": rule_name(str(r["rule"]), products),
            "rule_version": r.get("rule_version"),  # sensors rules v5 record it
            "logger": names.get(str(r["device"]), str(r["device"])),
            "orders": orders})
    return out


def _chart_points(readings: list[tuple[int, int]], band: tuple[int, int] | None
                  ) -> list[tuple[int, float]]:
    """At most about CHART_POINTS of ``readings`` (time, m°C), every one out of ``band``
    kept, as (time, °C)."""
    step = max(1, len(readings) // CHART_POINTS)
    kept = [(t, v) for i, (t, v) in enumerate(readings)
            if i % step == 0 or (band is not None and not band[0] <= v <= band[1])]
    return [(t, v / 1000) for t, v in kept]


def _readings(svc: LedgerService, filters: dict[str, str], contains: dict[str, str] | None
              ) -> tuple[list[tuple[int, int]], list[dict[str, Any]], bool]:
    """(time, m°C) of the temperature readings of the reading batches matching, the
    batches' rows (newest READING_TXS of them) and whether older ones were left out."""
    from supplyledger.ledger.encoding import decode
    from supplyledger.ledger.tx import envelope_bytes_of

    rows, _ = _rows(svc, "sensor_batches", svc.settings.page_max, filters, contains)
    rows = sorted(rows, key=lambda r: int(r["first_t"]))
    cut = len(rows) > READING_TXS
    rows = rows[-READING_TXS:]
    found = svc.node.store.txs_by_id([str(r["tx"]) for r in rows])
    points: list[tuple[int, int]] = []
    for r in rows:
        if r["tx"] in found:
            args = decode(envelope_bytes_of(found[r["tx"]][2])[0])["args"]
            points += [(int(x["t"]), int(x["temp"])) for x in args["readings"] if "temp" in x]
    return sorted(points), rows, cut


def _batch_rule(svc: LedgerService, batch: str) -> tuple[str, dict[str, Any]] | None:
    """The rule in force for ``batch`` (its own, else its product's): (key, rule)."""
    own = _state(svc, f"r/b/{batch}")
    if own is not None:
        return f"r/b/{batch}", own
    rows, _ = _rows(svc, "batches", 1, {"id": batch})
    if rows:
        prod = _state(svc, f"r/p/{rows[0]['gtin']}")
        if prod is not None:
            return f"r/p/{rows[0]['gtin']}", prod
    return None


def _cold_chain_page(request: Request, batch: str = "", shipment: str = "",
                     status: int = 200, **ctx: Any) -> Response:
    from supplyledger.api.web import charts
    from supplyledger.api.web.render import time_tag, when

    who = current(request)
    svc = service_of(request)
    if "sensors" not in svc.contracts:
        return page(request, "cold_chain.html", status=status, title="Cold chain",
                    deployed=False, **ctx)
    batch_id = ""
    if batch:
        ids = svc.resolve_batch(batch)
        if len(ids) != 1:
            raise ValidationError(f"lot number {batch} names {len(ids)} batches: give the "
                                  "batch id (its GS1 Digital Link)", arg="batch")
        batch_id = ids[0]
        if not _rows(svc, "batches", 1, {"id": batch_id})[0]:
            raise NotFound(f"no batch {batch}: give its lot number or batch id",
                           batch=batch_id)
    filters = {"batch": batch_id} if batch_id else {"shipment": shipment} if shipment else {}
    breaches, more = _rows(svc, "sensor_breaches", 50, filters)
    breaches.sort(key=lambda r: -int(r["started"]))
    devices, _ = _rows(svc, "sensor_devices", 50, {})
    rules, _ = _rows(svc, "sensor_rules", 50, {})
    products = product_names(svc, {str(r["target"]) for r in rules
                                   if r["scope"] == "product"})
    chart, cut, rule = None, False, None
    reading_rows: list[dict[str, Any]] = []
    if batch_id or shipment:
        pts, reading_rows, cut = _readings(
            svc, {} if batch_id else {"shipment": shipment},
            {"batches": batch_id} if batch_id else None)
        # A shipment's band: that of the first batch its logger watched.
        watched = batch_id or next((str(r["batches"]).split()[0] for r in reading_rows
                                    if r["batches"]), "")
        rule = _batch_rule(svc, watched) if watched else None
        band = tuple(rule[1]["temp"][:2]) if rule and rule[1].get("temp") else None
        what = f"batch {_lot(batch_id)}" if batch_id else f"shipment {shipment}"
        chart = charts.line(_chart_points(pts, band),
                            title=f"Temperature of {what}", when=when, tag=time_tag,
                            unit="°C",
                            band=(band[0] / 1000, band[1] / 1000) if band else None)
    names = participant_names(svc, {str(d["did"]) for d in devices}
                              | {str(r["set_by"]) for r in rules}
                              | {str(r["device"]) for r in reading_rows})
    return page(request, "cold_chain.html", status=status, title="Cold chain",
                deployed=True, batch=batch, batch_id=batch_id, shipment=shipment,
                breaches=_breach_lines(svc, breaches), more_breaches=more,
                devices=devices, rules=[{**r, "name": rule_name(str(r["key"]), products),
                                         "words": rule_words(_state(svc, str(r["key"]))
                                                             or {})} for r in rules],
                rule=(rule_name(rule[0], products), rule_words(rule[1])) if rule else None,
                chart=chart, reading_rows=reading_rows, cut=cut, names=names, lot=_lot,
                may_set=svc.may_call(who, "sensors", "set_rule"),
                **{"values": {}, "error": None, "receipt": None, **ctx})


Text = Annotated[str, Query(max_length=300)]


@router.get("/cold-chain", response_class=HTMLResponse)
def cold_chain(request: Request, batch: Text = "", shipment: Text = "") -> Response:
    """The quality manager's view: loggers and what they watch, the rules in °C, the
    breaches in words, and a batch's or shipment's temperatures charted."""
    return _cold_chain_page(request, batch.strip(), shipment.strip())


def _celsius(text: str, what: str, arg: str) -> int:
    """``text`` degrees Celsius (up to 3 decimals) as the contract's milli-°C."""

    try:
        d = decimal.Decimal(text.strip().replace(",", ".").removesuffix("°C").strip())
    except decimal.InvalidOperation:
        raise ValidationError(f"{what} must be a number of °C, e.g. 2 or 7.5 (not "
                              f"{text.strip()!r})", arg=arg) from None
    milli = d * 1000
    if not d.is_finite() or milli != milli.to_integral_value():
        raise ValidationError(f"{what} takes at most 3 decimals of °C", arg=arg)
    if not -100_000 <= milli <= 100_000:
        raise ValidationError(f"{what} must be between -100 °C and 100 °C", arg=arg)
    return int(milli)


_BAND_RULES = 5  # sensors rules that refuse a band narrower than MIN_BAND


def rule_args(svc: LedgerService, form: dict[str, str]) -> dict[str, Any]:
    """``sensors.set_rule``'s arguments from the cold-chain page's form (°C and minutes);
    the rule's other checks (humidity, shock) kept, as the call replaces the rule whole.
    Refused in words before anything is signed."""
    scope, target = form.get("scope", ""), form.get("target", "").strip()
    if scope not in ("product", "batch"):
        raise ValidationError("choose whether the rule is a product's or one batch's",
                              arg="scope")
    if not target:
        raise ValidationError("give the product's GTIN or the batch's lot number",
                              arg="target")
    if scope == "batch":
        ids = svc.resolve_batch(target)
        if len(ids) != 1:
            raise ValidationError(f"lot number {target} names {len(ids)} batches: give the "
                                  "batch id", arg="target")
        target = ids[0]
    lo = _celsius(form.get("temp_min", ""), "the lowest temperature", "temp_min")
    hi = _celsius(form.get("temp_max", ""), "the highest temperature", "temp_max")
    if lo >= hi:
        raise ValidationError(f"the lowest temperature ({in_unit(lo, 'temp_min')}) must be "
                              f"below the highest ({in_unit(hi, 'temp_max')})",
                              arg="temp_min")
    if hi - lo < MIN_BAND["temp"] and svc.rules_version("sensors") >= _BAND_RULES:
        least = decimal_text(MIN_BAND["temp"])
        raise ValidationError(f"the band {decimal_text(lo)} °C to {decimal_text(hi)} °C is "
                              f"narrower than {least} °C, the narrowest a rule takes: "
                              "loggers measure no finer", arg="temp_max")
    text = form.get("allowed_min", "").strip() or "0"
    if not text.isdigit() or int(text) > 7 * 24 * 60:
        raise ValidationError("minutes allowed out of range: a whole number from 0 to "
                              "10,080 (a week)", arg="allowed_min")
    args: dict[str, Any] = {"scope": scope, "target": target,
                            "temp": {"min": lo, "max": hi, "excursion_ms": int(text) * 60_000}}
    key = f"r/b/{target}" if scope == "batch" else f"r/p/{target.zfill(14)}"
    old = _state(svc, key) or {}
    if old.get("geofence"):
        raise ValidationError("this rule also has a geofence, which this form cannot keep: "
                              "change it with the full rule form (sensors.set_rule)",
                              arg="scope")
    if old.get("hum"):
        lo_h, hi_h, allow_h = old["hum"]
        args["hum"] = {"min": lo_h, "max": hi_h, "excursion_ms": allow_h}
    if old.get("shock"):
        args["shock"] = {"max": old["shock"][1]}
    return args


@router.post("/cold-chain/rule", response_class=HTMLResponse)
async def cold_chain_rule(request: Request) -> Response:
    """Sign ``sensors.set_rule`` from the form in °C and minutes, once per rendered form."""
    who = current(request)
    form = await request.form()
    check_csrf(who, request, dict(form))
    svc = service_of(request)
    values = {k: str(v) for k, v in form.items() if k not in ("csrf", "once")}
    once = request.app.state.once
    token = str(form.get("once", ""))
    fresh, _ = once.claim(who.did, token)
    if not fresh:  # a reload, or "back" and send again: nothing is signed twice
        return _cold_chain_page(request, status=409, values=values, error={
            "code": "already_sent", "message": "this rule was already sent"})
    try:
        args = rule_args(svc, values)
        receipt = await run_in_threadpool(svc.call, who, "sensors", "set_rule", args)
    except SupplyLedgerError as exc:
        once.settle(who.did, token, None)  # nothing signed: may be sent again
        if exc.code == "key_locked":
            raise
        return _cold_chain_page(request, status=status_for(exc), values=values,
                                error=exc.to_dict())
    except BaseException:
        once.settle(who.did, token, None)
        raise
    result = receipt.to_dict()
    once.settle(who.did, token, {"result": result})
    if not receipt.ok:
        code = str((receipt.error or {}).get("code"))
        return _cold_chain_page(request, status=status_for_code(code), values=values,
                                error=receipt.error, receipt=result)
    return _cold_chain_page(request, values={}, receipt=result)

"""Pages built on the contract registry: the contract catalogue and a form per method;
areas (products, orders, custody, logistics) that gather the methods and tables of the
contracts behind them; participants and roles for admins. A financier's Orders area also
sums its open financings per seller and currency above the ``financing`` table (the
exposure ``GET /api/credit/exposure`` answers), which the table's rows leave to be added up.

An area whose contracts are not deployed yet says so and shows nothing else, and a new
contract's methods appear in the catalogue (and its area) as soon as its module exists.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from supplyledger.api.auth import check_csrf, current, service_of
from supplyledger.api.routers.common import Cursor
from supplyledger.api.routers.credit import exposure
from supplyledger.api.service import LedgerService, Principal
from supplyledger.api.web.actions import narrow_fields, refuse_before_signing
from supplyledger.api.web.forms import fields_for, parse_form
from supplyledger.api.web.mine import about, display_names, suggestions
from supplyledger.api.web.money import lapsed_instructions, shown_columns, shown_rows
from supplyledger.api.web.names import org_names
from supplyledger.api.web.once import PENDING
from supplyledger.api.web.render import fragment, page
from supplyledger.contracts.builtin.identity import ROLES
from supplyledger.contracts.builtin.rules import PREFIX, in_force, rules_rows
from supplyledger.errors import NotFound, RoleDenied, SupplyLedgerError
from supplyledger.store.listings import Page
from supplyledger.store.readonly import prefixed_state

__all__ = ["AREAS", "router"]

router = APIRouter(include_in_schema=False)
Ident = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,47}$")]

AREAS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "products": ("Products and batches", ("products",),
                 "Product types, batches and certifications. Only manufacturers create "
                 "products, and only the owner declares them for sale (paper 001 Alg. 2)."),
    "orders": ("Orders", ("orders", "payments", "fx", "accounts", "commerce", "escrow",
                          "ratings", "credit"),
               "Place, pay, dispatch, confirm, dispute and rate orders; escrow pays the seller "
               "on delivery (paper 001 Alg. 5, paper 000 eq. 7); exchange currencies at a "
               "bank's quote to pay in another (paper 004)."),
    "custody": ("Custody proposals", ("custody",),
                "Owner and custodian are separate; hand-overs go propose → accept or reject. "
                "Rows addressed to you come first."),
    "logistics": ("Shipments and sensors", ("shipments", "sensors"),
                  "Dispatch plans, shipments with their legs, live ETA (paper 000 eq. 5), "
                  "lateness and CO2e; IoT devices, their reading batches, cold-chain rules "
                  "and the breaches they found."),
    "customs": ("Customs", ("customs",),
                "Import declarations assessed at once against the authority's tariff lines "
                "and the bank's exchange rates; duties wait in escrow until the authority "
                "clears (paid to it) or rejects (refunded) (paper 004)."),
}
ROWS = 12
# Pages that belong to an area besides its contracts' forms and tables: (path, label).
AREA_PAGES: dict[str, tuple[tuple[str, str], ...]] = {
    "logistics": (("/cold-chain", "Cold chain: loggers, rules in °C, breaches, temperatures"),
                  ("/dispatch", "Dispatch planning: routes for open orders, recorded plans"),
                  ("/emissions", "Freight emissions report (ISO 14083)")),
}


def _forms(svc: LedgerService, who: Principal, contract: str) -> list[dict[str, Any]]:
    c = svc.contracts[contract]
    out = []
    for m in c.methods.values():
        allowed = "*" in m.roles or who.has(*m.roles)
        out.append({"contract": contract, "method": m.name, "doc": m.doc,
                    "roles": sorted(m.roles), "allowed": allowed, "fields": fields_for(m)})
    return out


def _tables(svc: LedgerService, who: Principal, contract: str) -> list[dict[str, Any]]:
    """Each table's first rows, and the newest rows that name the user (as buyer,
    recipient, …) first, so an inbox shows what waits for them."""
    out = []
    for t in svc.contracts[contract].tables:
        mine, n_mine = about(svc, t, who, ROWS)
        first = svc.reads.rows(t.name, ROWS, None)
        # Withdrawal instructions show who gave them and whether they lapsed (money.py).
        out.append({"name": t.name, "columns": shown_columns(svc, t.name, t.column_names),
                    "mine": shown_rows(svc, t.name, mine), "n_mine": n_mine,
                    "page": Page(shown_rows(svc, t.name, first.items), first.next_cursor),
                    "count": svc.reads.count(t.name)})
    return out


def _names(svc: LedgerService, *docs: Any) -> dict[str, str]:
    """Names by id for the ids in ``docs``: tables and results show names, not ids."""
    return display_names(svc, *docs)


def _lists(svc: LedgerService, who: Principal, forms: list[dict[str, Any]]) -> dict[str, Any]:
    """The suggestion lists the given forms' fields refer to. A field whose list is cut
    says so, and where the rest are, in its hint."""
    lists = suggestions(svc, who, {f.suggest for m in forms for f in m["fields"]
                                   if f.suggest})
    for m in forms:
        for f in m["fields"]:
            rest = lists[f.suggest].rest if f.suggest in lists else None
            if rest:
                f.hint = f"{f.hint} — {rest}" if f.hint else rest
    return lists


def _exposure(svc: LedgerService, who: Principal,
              present: list[str]) -> list[dict[str, Any]] | None:
    """A financier's own open exposure per seller and currency, and the requests waiting
    for its decision (None for anyone else: only a financier advances money)."""
    if "credit" not in present or not who.has("financier"):
        return None
    return exposure(svc.reads, who.did)


@router.get("/area/{area}", response_class=HTMLResponse)
def area(request: Request, area: Annotated[str, Path(max_length=32)]) -> Response:
    who = current(request)
    svc = service_of(request)
    if area not in AREAS:
        raise NotFound(f"no page {area!r}")
    title, names, intro = AREAS[area]
    present = [n for n in names if n in svc.contracts]
    forms = {n: _forms(svc, who, n) for n in present}
    tables = {n: _tables(svc, who, n) for n in present}
    sections = [{"contract": n, "forms": forms[n], "tables": tables[n]} for n in present]
    owed = _exposure(svc, who, present)
    return page(request, "area.html", title=title, intro=intro, sections=sections,
                wanted=names, area=area, pages=AREA_PAGES.get(area, ()), exposure=owed,
                names=_names(svc, owed, *[(t["mine"], t["page"].items)
                                          for ts in tables.values() for t in ts]),
                lists=_lists(svc, who, [m for f in forms.values() for m in f]))


@router.get("/contracts", response_class=HTMLResponse)
def catalogue(request: Request) -> Response:
    who = current(request)
    svc = service_of(request)
    forms = {n: _forms(svc, who, n) for n in sorted(svc.contracts)}
    return page(request, "contracts.html", title="Contracts",
                contracts=[(n, svc.contracts[n].doc.strip().split("\n")[0], f)
                           for n, f in forms.items()],
                lists=_lists(svc, who, [m for f in forms.values() for m in f]))


def _method_page(request: Request, svc: LedgerService, who: Principal, contract: str,
                 method: str, status: int = 200, **ctx: Any) -> Response:
    m = svc.method(contract, method)
    fields = fields_for(m)
    # A form a row button opened may know more than the method's schema (actions.py).
    narrow_fields(svc, contract, method, fields, ctx.get("values") or {})
    # A participant's id filled in (the seller an "Order" button names) is named beside it:
    # the field shows the id, which nobody recognises.
    known = _names(svc, {f.name: (ctx.get("values") or {}).get(f.name) for f in fields
                         if f.suggest == "participants"})
    for fl in fields:
        name = known.get(str((ctx.get("values") or {}).get(fl.name)))
        if fl.suggest == "participants" and name:
            fl.hint = f"{fl.hint} — filled in: {name}"
    f = {"contract": contract, "method": method, "doc": m.doc, "roles": sorted(m.roles),
         "allowed": "*" in m.roles or who.has(*m.roles), "fields": fields}
    return page(request, "method.html", status=status, title=f"{contract}.{method}", f=f,
                lists=_lists(svc, who, [f]), names=_names(svc, ctx.get("result")),
                currency=_currency(svc, ctx.get("values") or {}, ctx.get("result")),
                **{"result": None, "values": {}, **ctx})


# What a call that names no currency was about: (result field, table with its currency).
_ABOUT = (("order", "orders"), ("instruction", "withdrawals"),
          ("declaration", "customs_declarations"))


def _currency(svc: LedgerService, values: dict[str, Any],
              receipt: dict[str, Any] | None) -> str | None:
    """The currency of a call's amounts when its result does not name one: its own
    ``currency`` argument, else that of the order, withdrawal instruction or customs
    declaration it was about (``orders.place`` answers "escrow 6350": CNY 63.50)."""
    if values.get("currency"):
        return str(values["currency"])
    result = (receipt or {}).get("result")
    for field, table in _ABOUT:
        ident = result.get(field) if isinstance(result, dict) else None
        if isinstance(ident, str) and table in svc.reads.tables:
            rows = svc.reads.rows(table, 1, None, {"id": ident}).items
            if rows and rows[0].get("currency"):
                return str(rows[0]["currency"])
    return None


@router.get("/contracts/{contract}/{method}", response_class=HTMLResponse)
def method_form(request: Request, contract: Ident, method: Ident) -> Response:
    """The method's form; query parameters named like its arguments fill it in (links
    such as "order this product" use them)."""
    who = current(request)
    svc = service_of(request)
    names = svc.method(contract, method).args
    values = {k: v[:1000] for k, v in request.query_params.items() if k in names}
    return _method_page(request, svc, who, contract, method, values=values)


@router.post("/contracts/{contract}/{method}", response_class=HTMLResponse)
async def method_submit(request: Request, contract: Ident, method: Ident) -> Response:
    who = current(request)
    form = await request.form()
    check_csrf(who, request, dict(form))
    svc = service_of(request)
    m = svc.method(contract, method)
    values = {k: str(v) for k, v in form.items()}
    # htmx posts leave no POST in the history to resend; the plain form's do (see once.py).
    token = "" if request.headers.get("hx-request") else str(form.get("once", ""))
    fresh, earlier = request.app.state.once.claim(who.did, token)
    if not fresh:
        return _method_page(request, svc, who, contract, method, values=values,
                            repeated=True, **({} if earlier is PENDING else earlier))
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    try:
        args = parse_form(m, lambda k: [str(v) for v in form.getlist(k)], svc.resolve_batch)
        refuse_before_signing(svc, who, contract, method, args)
        receipt = svc.call(who, contract, method, args)
        result = receipt.to_dict()
        if not receipt.ok:
            error = receipt.error
    except SupplyLedgerError as exc:
        request.app.state.once.settle(who.did, token, None)  # nothing signed: may resend
        if exc.code == "key_locked":
            raise
        error = exc.to_dict()
    except BaseException:
        request.app.state.once.settle(who.did, token, None)
        raise
    if result is not None:
        request.app.state.once.settle(who.did, token, {"result": result, "error": error})
    if request.headers.get("hx-request"):
        out = fragment("_result.html", result=result, error=error, names=_names(svc, result),
                       currency=_currency(svc, values, result))
        if result is not None and error is None:
            # Parts of the page that show ledger state reload on it (admin's rules card).
            out.headers["HX-Trigger"] = "committed"
        return out
    return _method_page(request, svc, who, contract, method,
                        status=200 if error is None else 422, result=result, error=error,
                        values=values)


ORG_CHOICES = 200  # organisations offered in a drop-down; past that, typed with suggestions
ORG_PAGE = 50
# Roles a web login may be enrolled with: a node's key is made by ``init`` and signs blocks
# from the node's own key file, never through a web account.
ENROL_ROLES = tuple(r for r in ROLES if r != "node")


def _role_orgs(orgs: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Role -> the organisations (of ``orgs``) whose members may hold it: the enrol form
    offers a role only with those (app.js)."""
    out: dict[str, list[str]] = {}
    for o in orgs:
        for role in str(o["roles"]).split(","):
            out.setdefault(role, []).append(str(o["id"]))
    return out


@router.get("/admin", response_class=HTMLResponse)
def admin(request: Request, cursor: Cursor = None, org_cursor: Cursor = None,
          org: Annotated[str | None, Query(max_length=64)] = None,
          lapsed_cursor: Cursor = None) -> Response:
    return _admin_page(request, cursor, org, org_cursor=org_cursor,
                       lapsed_cursor=lapsed_cursor)


def _admin_page(request: Request, cursor: str | None, org: str | None,
                enrolled: dict[str, Any] | None = None, *,
                org_cursor: str | None = None, lapsed_cursor: str | None = None) -> Response:
    who = current(request)
    if not who.has("admin"):
        raise RoleDenied("this page is for consortium admins", required=["admin"],
                         held=sorted(who.roles))
    svc = service_of(request)
    participants = svc.reads.rows("participants", 50, cursor or None,
                                  {"org": org} if org else None)
    # The web logins of this page's participants only: a node may hold thousands.
    logins = svc.localdb.logins_of([p["did"] for p in participants.items])
    forms = _forms(svc, who, "identity")
    # The organisations card pages; the drop-downs offer the first ORG_CHOICES and, when
    # there are more, become fields that take any organisation's id (and say so).
    org_page = svc.reads.rows("organisations", ORG_PAGE, org_cursor or None)
    choices = svc.reads.rows("organisations", min(ORG_CHOICES, svc.settings.page_max), None)
    status = 422 if enrolled is not None and enrolled["error"] is not None else 200
    return page(request, "admin.html", status=status, title="Participants and roles",
                lists=_lists(svc, who, forms), participants=participants,
                org_page=org_page, orgs=choices.items, orgs_cut=choices.next_cursor is not None,
                org_names=org_names(svc, {str(p["org"]) for p in participants.items
                                          if p["org"]}),
                org=org or "", cursor=cursor or "", org_cursor=org_cursor or "",
                logins=logins, roles=ENROL_ROLES, role_orgs=_role_orgs(choices.items),
                forms=forms, enrolled=enrolled,
                may_adopt=svc.may_call(who, "rules", "adopt"),
                lapsed=lapsed_instructions(svc, request.app.state.once.issue,
                                           lapsed_cursor or None),
                rules=rules_rows(svc.node.contracts, in_force(
                    prefixed_state(svc.node.store.reader(), PREFIX))))


@router.post("/admin/enrol", response_class=HTMLResponse)
async def enrol(request: Request) -> Response:
    who = current(request)
    form = await request.form()
    check_csrf(who, request, dict(form))
    svc = service_of(request)
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    org, name = str(form.get("org", "")), str(form.get("name", "")).strip()
    login, roles = str(form.get("login", "")).strip(), [str(r) for r in form.getlist("roles")]
    try:
        receipt = svc.register_member(who, org=org, name=name, roles=roles, login=login,
                                      password=str(form.get("password", "")))
        result = receipt.to_dict()
        error = None if receipt.ok else receipt.error
    except SupplyLedgerError as exc:
        error = exc.to_dict()
    if request.headers.get("hx-request"):
        return fragment("_result.html", result=result, error=error)
    # A refused form comes back with what the admin typed (never the password).
    typed = {"org": org, "name": name, "login": login, "roles": roles} if error else {}
    return _admin_page(request, None, None, {"result": result, "error": error,
                                             "typed": typed})

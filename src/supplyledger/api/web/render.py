"""Rendering pages: one Jinja2 environment over the packaged templates, and the context
every page gets (who is logged in, their CSRF token, the navigation, the chain)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from supplyledger.api.auth import optional, service_of
from supplyledger.api.service import Principal
from supplyledger.api.web.actions import ROW_ACTIONS, actions_for
from supplyledger.api.web.amounts import (
    FOLDED_COLUMNS,
    RATE_COLUMNS,
    fx_cell,
    readable,
    readable_cell,
)
from supplyledger.api.web.units import UNIT_COLUMNS, heading, in_unit, uom
from supplyledger.logistics.kpi_format import money

__all__ = ["NAV", "env", "html_error", "page", "short"]

TEMPLATES = Path(__file__).parent.parent / "templates"

# (path, label, roles that see it; empty = everyone logged in)
NAV: list[tuple[str, str, tuple[str, ...]]] = [
    ("/", "Dashboard", ()),
    ("/trace", "Trace", ()),
    ("/events/new", "Record event", ()),
    ("/recall", "Recall", ()),
    ("/area/products", "Products", ()),
    ("/area/orders", "Orders", ()),
    ("/area/custody", "Custody", ()),
    ("/area/logistics", "Logistics", ()),
    ("/dispatch", "Dispatch", ()),
    # The month's freight CO2e per platform: for the platforms it reports on, the
    # transporters whose legs it counts and the consortium's admins (anyone may open it
    # from the Logistics area).
    ("/emissions", "Emissions", ("platform", "transporter", "admin")),
    ("/area/customs", "Customs", ()),
    ("/privacy", "Data sharing", ()),
    ("/explorer", "Explorer", ()),
    ("/contracts", "Contracts", ()),
    ("/audit", "Audit", ()),
    ("/admin", "Participants", ("admin",)),
]
# Pages whose purpose is one contract method: shown to those whose roles may call it.
NAV_METHODS = {"/events/new": ("trace", "record_event"),
               "/dispatch": ("shipments", "record_plan")}


def _current_in(href: str, path: str) -> bool:
    """Whether the menu item ``href`` is the page at ``path`` or a page under it."""
    return path == href or (href != "/" and path.startswith(href))


def short(value: Any, n: int = 12) -> str:
    s = str(value)
    return s if len(s) <= n + 1 else s[:n] + "…"


def when(ms: Any) -> str:
    """Epoch milliseconds as a UTC date and time that says it is UTC: a team spread over
    time zones must not read it as their own local time."""
    try:
        return dt.datetime.fromtimestamp(int(ms) / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return str(ms)


# Projection columns that hold epoch milliseconds (shown as UTC date and time in tables).
_TIME_COLUMNS = frozenset(("time", "since", "created", "updated", "departed", "arrived",
                           "promised", "eta", "earliest", "latest", "started", "ended",
                           "first_t", "last_t", "effective_from", "until"))


def _time_column(name: Any) -> bool:
    return name in _TIME_COLUMNS or (isinstance(name, str) and name.endswith("_at"))


# Money cells in minor units: (table, column) -> the row's column naming the currency, so
# tables show "CNY 89,815.00" (the raw integer in the tooltip).
MONEY_COLUMNS = {
    **{("balances", "balance"): "currency", ("fx_trades", "amount"): "pay",
       ("fx_trades", "received"): "get", ("customs_tariffs", "de_minimis"): "currency"},
    **{("orders", c): "currency" for c in ("unit_price", "freight")},
    **{("financing", c): "currency" for c in ("amount", "repaid", "recovered")},
    **{("withdrawals", c): "currency" for c in ("amount", "paid")},
    **{("customs_declarations", c): "currency" for c in ("value", "duty", "vat", "paid")},
}


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def _jsonish(value: Any) -> Any:
    """A table cell holding JSON text (a credit assessment's factors, a plan's routes)
    parsed, so it is shown as fields rather than as JSON; None for anything else."""
    if not isinstance(value, str) or value[:1] not in ("[", "{") or len(value) > 100_000:
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    return parsed if isinstance(parsed, list | dict) and parsed else None


# Cells that lead to related rows: (table, column) -> (table, column there, what it shows).
ROW_LINKS = {
    ("orders", "id"): ("order_events", "order_id", "the order's history"),
    ("order_events", "order_id"): ("orders", "id", "the order"),
    ("financing", "order_id"): ("orders", "id", "the order"),
    ("ratings", "order_id"): ("orders", "id", "the order"),
    ("shipment_orders", "order_id"): ("orders", "id", "the order"),
    ("shipments", "id"): ("shipment_legs", "shipment", "the shipment's legs"),
    ("shipment_legs", "shipment"): ("shipments", "id", "the shipment"),
}

env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                  trim_blocks=True, lstrip_blocks=True)
env.filters.update(short=short, when=when, pretty=_pretty, q=lambda v: quote(str(v), safe=""))
env.filters["jsonish"] = _jsonish
env.filters["money"] = money
env.filters.update(uom=uom, in_unit=in_unit, heading=heading)
env.tests["time_column"] = _time_column
env.tests["current_in"] = _current_in
env.tests["folded"] = lambda column, table: (table, column) in FOLDED_COLUMNS
env.filters.update(readable=readable, readable_cell=readable_cell, fx_cell=fx_cell)
env.globals.update(row_links=ROW_LINKS, row_actions=ROW_ACTIONS, actions_for=actions_for,
                   money_columns=MONEY_COLUMNS,
                   unit_columns=UNIT_COLUMNS, rate_columns=RATE_COLUMNS)


def page(request: Request, template: str, status: int = 200, *, private: bool = False,
         **ctx: Any) -> HTMLResponse:
    """Render ``template`` with the common context. A ``private`` page (decrypted personal
    data, the sealed key, balances) is not kept by the browser."""
    svc = service_of(request)
    who: Principal | None = optional(request)
    nav = [(p, label) for p, label, roles in NAV
           if who is not None and (not roles or who.has(*roles))
           and (p not in NAV_METHODS or svc.may_call(who, *NAV_METHODS[p]))]
    base = {"request": request, "who": who, "csrf": who.session.csrf if who else "",
            "nav": nav, "path": request.url.path, "chain": svc.chain,
            "height": svc.node.height, "title": ctx.get("title", "supplyledger"),
            "unlocked": who is not None and svc.accounts.unlocked(who.session),
            # A fresh single-use token for the page's plain forms (see once.py).
            "once": request.app.state.once.issue()}
    html = env.get_template(template).render({**base, **ctx})
    resp = HTMLResponse(html, status_code=status)
    if private:
        # No copy in the browser's cache, nor its back/forward cache, for the next person
        # at a shared warehouse terminal to page back to after logging out. (Only these
        # pages: "back" to any other form's result shows it again rather than asking to
        # resend the form.)
        resp.headers["Cache-Control"] = "no-store"
    return resp


def fragment(template: str, **ctx: Any) -> HTMLResponse:
    return HTMLResponse(env.get_template(template).render(**ctx))


def html_error(request: Request, status: int, error: dict[str, Any]) -> Response:
    if status == 401 and error.get("code") == "unauthenticated":
        if request.headers.get("hx-request"):
            # htmx would follow a redirect inside its request and put the whole login
            # page into the form's result box: have it load the login page instead, and
            # come back to the page the form is on.
            here = urlsplit(request.headers.get("hx-current-url", "")).path or "/"
            return Response(status_code=200, headers={
                "HX-Redirect": f"/login?next={quote(here)}"})
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
    if request.headers.get("hx-request"):
        return HTMLResponse(env.get_template("_error.html").render(error=error, status=status),
                            status_code=200)
    return page(request, "error.html", status=status, title=f"Error {status}", error=error,
                status_code=status)

"""Rendering pages: one Jinja2 environment over the packaged templates, and the context
every page gets (who is logged in, their CSRF token, the navigation, the chain). Times are
shown in the viewer's time zone (``zones``: the filter ``when``, and ``time_tag`` for a time
in a page's text: a ``<time>`` whose ``datetime`` and tooltip give the UTC instant; ``typed``
for a form field's value, ``zone_label()`` for the labels that say the zone)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

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
from supplyledger.api.web.names import DID_IN_TEXT
from supplyledger.api.web.units import UNIT_COLUMNS, heading, in_unit, label, uom
from supplyledger.api.web.zones import label as zone_label
from supplyledger.api.web.zones import shown, typed
from supplyledger.logistics.kpi_format import money
from supplyledger.logistics.plot import PALETTE

__all__ = ["NAV", "env", "html_error", "page", "short", "time_tag", "when"]

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
    """Epoch milliseconds as a date and time in the viewer's zone that says which zone
    ("2026-11-20 16:00 CST", "… UTC"): a team spread over time zones must not read one
    zone's time as another's."""
    try:
        return shown(int(ms))
    except (TypeError, ValueError, OverflowError, OSError):
        return str(ms)


def time_tag(ms: Any) -> Markup:
    """Epoch milliseconds as a page's text shows a time: ``when``'s words in a ``<time>``
    whose ``datetime`` is the UTC instant (ISO 8601, milliseconds only when not whole
    seconds) and whose tooltip is the UTC second, so viewers in other zones (and support)
    can compare; what ``when`` cannot convert stays plain text."""
    try:
        n = int(ms)
        text = shown(n)
        # Integer seconds and ms: exact digits, the second an instant falls in (floor).
        seconds, millis = divmod(n, 1000)
        utc = dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)
    except (TypeError, ValueError, OverflowError, OSError):
        return escape(str(ms))
    iso = utc.isoformat(timespec="seconds") + (f".{millis:03d}" if millis else "") + "Z"
    return Markup('<time datetime="{}" title="{} UTC">{}</time>').format(
        iso, utc.isoformat(sep=" ", timespec="seconds"), text)


def _typed(ms: Any) -> str:
    """A form field's value for epoch milliseconds, in the viewer's zone (``zones.typed``)."""
    try:
        return typed(int(ms))
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


# Projection columns that hold epoch milliseconds (shown as date and time in tables).
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
    **{("financing", c): "currency" for c in ("amount", "repay", "repaid", "recovered")},
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


def _code_spans(text: str) -> Markup:
    """Plain text whose `backquoted` parts are commands: escaped, those parts as code."""
    parts = str(escape(text)).split("`")
    return Markup("".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts)))


def _naming(text: Any, names: dict[str, str]) -> bool:
    """Whether ``text`` holds the id of a participant ``names`` names."""
    return isinstance(text, str) and any(d in names for d in DID_IN_TEXT.findall(text))


def _with_names(text: str, names: dict[str, str]) -> Markup:
    """``text`` escaped, each participant id in it that ``names`` names shown by name, the
    id in its tooltip (a record's readers, "did:… did:…"; an access log's "grant did:…")."""
    out, at = [], 0
    for m in DID_IN_TEXT.finditer(text):
        if m[0] in names:
            out += [escape(text[at:m.start()]),
                    Markup('<span title="{}">{}</span>').format(m[0], names[m[0]])]
            at = m.end()
    return Markup("").join([*out, escape(text[at:])])


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
env.filters["time_tag"] = time_tag
env.filters["typed"] = _typed
env.globals["zone_label"] = zone_label
env.filters["jsonish"] = _jsonish
env.filters["code_spans"] = _code_spans
env.filters["with_names"] = _with_names
env.tests["naming"] = _naming
env.filters["money"] = money
env.filters.update(uom=uom, in_unit=in_unit, heading=heading)
env.tests["time_column"] = _time_column
env.tests["current_in"] = _current_in
env.tests["folded"] = lambda column, table: (table, column) in FOLDED_COLUMNS
env.filters.update(readable=readable, readable_cell=readable_cell, fx_cell=fx_cell)
env.globals["route_colours"] = PALETTE  # a plan's routes, as its picture colours them
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


# An error page's heading: what happened, in words (its code and status follow, smaller).
_HEADINGS = {400: "Not understood", 403: "Not allowed", 404: "Not found",
             405: "Not a form to send", 406: "Not available in that format",
             409: "Not possible now", 413: "Too large", 415: "Not understood",
             422: "Cannot use this", 429: "Too many attempts", 503: "Not available now"}

# Request checks' messages (pydantic's) in words: (what the message starts with, in words).
_CHECKS = (("Input should be a valid integer", "must be a whole number"),
           ("Input should be a valid number", "must be a number"),
           ("Input should be a valid boolean", "must be true or false"),
           ("Input should be greater than or equal to", "must be at least"),
           ("Input should be less than or equal to", "must be at most"),
           ("Input should be greater than", "must be more than"),
           ("Input should be less than", "must be less than"),
           ("String should have at most", "must have at most"),
           ("String should have at least", "must have at least"),
           ("String should match pattern", "is not in the form this page expects"),
           ("Field required", "is missing"))


def _check_in_words(problem: dict[str, Any]) -> str:
    """One failed request check as a sentence: what in the address, and what is wrong."""
    loc = [str(x) for x in problem.get("loc", ())]
    where = {"path": "in the address", "query": "in the address's query",
             "body": "in the form"}.get(loc[0] if loc else "", "")
    name = label(loc[-1]) if len(loc) > 1 else "A value"
    message = str(problem.get("message", ""))
    for start, words in _CHECKS:
        if message.startswith(start):
            rest = message[len(start):].split(",")[0].split(" pattern ")[0]
            message = words + ("" if "pattern" in start else rest)
            break
    return " ".join(x for x in (name, where, message) if x) + "."


def _menu_page(path: str) -> tuple[str, str] | None:
    """The menu page a missing page's address belongs under (``/explorer/tx/…`` under
    the explorer, ``/orders/…`` under Orders): the way back nearest to what was asked."""
    first = path.strip("/").split("/")[0]
    for href, text, _ in NAV:
        if href != "/" and (path.startswith(href + "/") or href.rsplit("/", 1)[-1] == first):
            return href, text
    return None


def _gets(request: Request) -> bool:
    """Whether the path of a refused non-GET request is a page to open (a GET route)."""
    from starlette.routing import Match

    scope = {**request.scope, "method": "GET"}
    return any(route.matches(scope)[0] == Match.FULL for route in request.app.routes)


def _error_page(request: Request, status: int, error: dict[str, Any]) -> dict[str, Any]:
    """What an error page says: a heading and a sentence in words, and the ways back."""
    path = request.url.path
    message = str(error.get("message", ""))
    open_it = None
    if status == 404 and message == "Not Found":  # the router's: no page at this address
        message = f"There is no page at {path}."
    elif status == 405:
        if _gets(request):
            open_it = path
            message = f"{path} is a page to open, not one that takes a {request.method}."
        else:
            message = f"Nothing at {path} takes a {request.method}."
    elif error.get("code") == "validation_error" and (error.get("details") or {}).get(
            "problems"):
        message = " ".join(_check_in_words(p) for p in error["details"]["problems"][:3])
    return {"heading": _HEADINGS.get(status, "Something went wrong"), "message": message,
            "open_it": open_it, "up": _menu_page(path)}


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
    said = _error_page(request, status, error)
    if request.headers.get("hx-request"):
        return HTMLResponse(env.get_template("_error.html").render(
            error={**error, "message": said["message"]}, status=status), status_code=200)
    return page(request, "error.html", status=status, title=said["heading"],
                error={**error, "message": said["message"]}, status_code=status,
                open_it=said["open_it"], up=said["up"])

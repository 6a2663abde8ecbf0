"""Page: one projection table, a page at a time, filtered by column values.

The area pages show a table's first rows and the rows about the user; this page is where
their "more rows" and "history" links go: ``/tables/orders?buyer=did:sl:…`` or
``/tables/order_events?order_id=O1``, paged with the same cursors as the JSON API. Only the
table's own columns filter (each an equality), so any value typed into the URL is a
parameter of the store's query, never part of it.

Column headings read as words (``units.heading``), each with its column's own name in its
tooltip: that name is what filters here and in the JSON API.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from supplyledger.api.auth import current, service_of
from supplyledger.api.routers.common import Cursor
from supplyledger.api.web.mine import display_names, newest_first, time_column
from supplyledger.api.web.money import shown_columns, shown_rows
from supplyledger.api.web.render import page
from supplyledger.api.web.units import heading
from supplyledger.errors import NotFound, ValidationError
from supplyledger.store.listings import Page

__all__ = ["heading", "router"]

router = APIRouter(include_in_schema=False)
ROWS = 50
@router.get("/tables/{name}", response_class=HTMLResponse)
def table(request: Request, name: Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,47}$")],
          cursor: Cursor = None) -> Response:
    current(request)
    svc = service_of(request)
    if name not in svc.reads.tables:
        raise NotFound(f"no table {name!r}")
    t = svc.reads.table(name)
    q = request.query_params
    filters = {k: v for k, v in q.items() if k in t.column_names and v}
    # The page's own search form sends one filter as ?column=…&value=….
    column, value = q.get("column", ""), q.get("value", "").strip()
    if column and value:
        filters[column] = value
    unknown = [k for k in (*q, *filters) if k not in t.column_names
               and k not in ("cursor", "column", "value")]
    if unknown:
        raise ValidationError(f"table {name} has no column {unknown[0]!r}", arg=unknown[0])
    if any(len(v) > 300 for v in filters.values()):
        raise ValidationError("a filter value is over 300 characters")
    rows = svc.reads.rows(name, ROWS, cursor or None, filters)
    whole = not cursor and not rows.next_cursor and time_column(t) is not None
    if whole:  # all of them on one page: newest first, as the area pages show them
        rows = Page(newest_first(t, rows.items), None)
    # Withdrawal instructions show who gave them and whether they lapsed (money.py).
    rows = Page(shown_rows(svc, name, rows.items), rows.next_cursor)
    people = display_names(svc, rows.items, filters)
    shown = shown_columns(svc, name, t.column_names)
    return page(request, "table.html", title=f"Table {name}", name=name,
                columns=t.column_names, shown=shown,
                rows=rows, filters=filters, names=people,
                column=column or next(iter(filters), ""), value=value, page_size=ROWS,
                sorted=whole,
                more={**filters, "cursor": rows.next_cursor} if rows.next_cursor else None)

"""The web UI: server-rendered pages (Jinja2) with htmx, served by the API's process.

``install(app)`` adds the page routes, the HTML rendering of errors for page requests,
the dashboard's per-height cache and the viewer's time zone per page request (``zones``).
Pages call the same :class:`LedgerService` as the JSON API; none of them holds logic of its
own beyond turning forms into arguments.
"""

from __future__ import annotations

from fastapi import FastAPI

from supplyledger.api.web import (
    pages_areas,
    pages_core,
    pages_ledger,
    pages_logistics,
    pages_privacy,
    pages_tables,
    pages_trace,
)
from supplyledger.api.web.dashboard import Dashboard
from supplyledger.api.web.once import Once
from supplyledger.api.web.render import html_error
from supplyledger.api.web.zones import ViewerZone

__all__ = ["install"]


def install(app: FastAPI) -> None:
    svc = app.state.service
    app.state.dashboard = Dashboard(svc.node.store, set(svc.reads.tables))
    app.state.html_error = html_error
    app.state.once = Once(svc.node.store.path)  # persists: a restart forgets no form
    for module in (pages_core, pages_ledger, pages_trace, pages_privacy, pages_areas,
                   pages_tables, pages_logistics):
        app.include_router(module.router)
    app.add_middleware(ViewerZone)

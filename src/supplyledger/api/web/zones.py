"""The viewer's time zone: the pages show times in it and read the times typed into forms in
it, without every call that shows or reads a time being handed the zone.

Whose zone: the logged-in account's choice (its Account page), else the node's
(``ApiSettings.time_zone``, ``serve --time-zone``, UTC unless set): ``Accounts.time_zone``.
:class:`ViewerZone`, a middleware of the web UI, keeps each page request in a context
variable; :func:`zone` finds that request's viewer on first use and keeps the answer on the
request. Outside a page request (the JSON API, the CLI, a test calling a function directly)
times are UTC.

What stays UTC whoever looks: sums by day or month (the dashboard's days, the emissions
month; a day's count must not change with the viewer) and say so; the JSON API and the
CSV downloads (``/recall.csv``: no viewer's zone is kept for a path ending ``.csv``);
ids made from a time.

A local time typed that the zone skips (the hour clocks go forward) or repeats (the hour
they go back) is read as ``zoneinfo`` reads it with ``fold=0``: a skipped time by the
offset before the change (02:30 on the night Amsterdam skips 02:00-03:00 is 01:30 UTC,
shown back as 03:30), a repeated one as its first occurrence (still summer time).
"""

from __future__ import annotations

import datetime as dt
from contextvars import ContextVar
from zoneinfo import ZoneInfo

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from supplyledger.api.auth import optional, service_of

__all__ = ["ViewerZone", "keep", "label", "local", "read", "shown", "typed", "zone"]

UTC = ZoneInfo("UTC")
_REQUEST: ContextVar[Request | None] = ContextVar("supplyledger_page_request", default=None)


class ViewerZone:
    """Keep each page request where :func:`zone` finds it; not the JSON API's (``/api/``)
    nor a download's (``….csv``): those speak UTC whoever asks."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path.startswith("/api/") or path.endswith(".csv"):
            await self.app(scope, receive, send)
            return
        token = _REQUEST.set(Request(scope))
        try:
            await self.app(scope, receive, send)
        finally:
            _REQUEST.reset(token)


def zone() -> ZoneInfo:
    """The zone of whoever the current page request is for (UTC outside one)."""
    request = _REQUEST.get()
    if request is None:
        return UTC
    kept = getattr(request.state, "time_zone", None)
    if isinstance(kept, ZoneInfo):
        return kept
    svc = service_of(request)
    who = optional(request)
    found = ZoneInfo(svc.accounts.time_zone(who.did) if who else svc.settings.time_zone)
    request.state.time_zone = found
    return found


def keep(name: str) -> None:
    """Use zone ``name`` for the rest of this request (the account page that just changed
    it shows its answer in the new one)."""
    request = _REQUEST.get()
    if request is not None:
        request.state.time_zone = ZoneInfo(name)


def label() -> str:
    """The viewer's zone by name, as form labels say it ("UTC", "Asia/Shanghai")."""
    return str(zone().key)


def local(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).astimezone(zone())


def shown(ms: int) -> str:
    """"2026-11-20 16:00 CST": the minute, in the viewer's zone, with its abbreviation
    (or its offset, "+04", for a zone that has none)."""
    return local(ms).strftime("%Y-%m-%d %H:%M %Z")


def typed(ms: int) -> str:
    """``ms`` as a form's time field shows it so that :func:`read` gives ``ms`` back: the
    local minute (or second) where that is exact, else the number itself (also in the
    second run of an hour the clocks repeat, which :func:`read` takes as the first)."""
    t = local(ms)
    if t.fold:
        return str(ms)
    if ms % 60_000 == 0:
        return t.strftime("%Y-%m-%d %H:%M")
    return t.strftime("%Y-%m-%d %H:%M:%S") if ms % 1000 == 0 else str(ms)


def read(text: str, formats: tuple[str, ...]) -> int | None:
    """Epoch ms of a local date and time in one of ``formats`` (``strptime``, no zone in
    it), read in the viewer's zone (``fold=0``, see above); None when none fits."""
    for fmt in formats:
        try:
            t = dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
        return int(t.replace(tzinfo=zone(), fold=0).timestamp()) * 1000
    return None

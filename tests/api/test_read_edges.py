"""Reads at their edges: the last month a report can name, a trace verdict seen from any
page, and empty cells in the area tables."""

from __future__ import annotations

import httpx
import pytest

from supplyledger.api.links import LINKS, build_event
from supplyledger.node.service import wall_clock_ms

from .conftest import WHEAT, World, bearer, login

pytestmark = pytest.mark.anyio


async def test_reports_for_the_last_representable_month(client: httpx.AsyncClient) -> None:
    b = await bearer(client, "mill")
    for url in ("/api/emissions?month=9999-12", "/api/kpi?period=9999-12",
                "/api/kpi?from=9999-12-01&to=9999-12-31&period=month"):
        r = await client.get(url, headers=b)
        assert r.status_code == 200, (url, r.text[:300])
    assert r.json()["periods"] == ["9999-12"]


async def test_a_fault_shows_on_every_page_of_a_trace(client: httpx.AsyncClient,
                                                      world: World) -> None:
    world.ok("inspector", "trace", "record_event", {"batch": world.batch, "event": build_event(
        LINKS["inspection"], batch=world.batch, time_ms=wall_clock_ms(),
        disposition="non_conformant")})
    world.ok("mill", "trace", "record_event", {"batch": world.batch, "event": build_event(
        LINKS["storage"], batch=world.batch, time_ms=wall_clock_ms())})
    b = await bearer(client, "customer")
    for page in (1, 2, 3):
        res = (await client.get(f"/api/trace?batch=L20260101&page={page}&page_size=1",
                                headers=b)).json()
        assert [e["seq"] for e in res["events"]] == [page]
        assert res["faulty_link"] is not None, page
        assert (res["faulty_link"]["seq"], res["faulty_link"]["link"]) == (2, "inspection")


async def test_empty_cells_are_not_shown_as_none(client: httpx.AsyncClient,
                                                 world: World) -> None:
    # A temperature-only rule leaves the humidity, shock and geofence columns empty.
    world.ok("mill", "sensors", "set_rule", {"scope": "product", "target": WHEAT,
                                             "temp": {"min": 0, "max": 8000}})
    await login(client, "mill")
    html = (await client.get("/area/logistics")).text
    assert "<code>sensor_rules</code>" in html and 'title="no value">—<' in html
    assert ">None<" not in html

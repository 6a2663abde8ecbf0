"""KPIs on the web: the dashboard's per-platform panel for the current month, and the JSON
endpoints ``GET /api/kpi`` and ``GET /api/emissions`` (in-process, through the ASGI app)."""

from __future__ import annotations

import re

import httpx
import pytest

from supplyledger.node.service import wall_clock_ms

from .conftest import PASSWORDS, World, bearer

pytestmark = pytest.mark.anyio
DAY = 86_400_000


def _order(world: World, oid: str = "K1") -> None:
    """The customer buys the mill's batch through the shop (a platform)."""
    world.ok("mill", "products", "declare_for_sale", {"id": world.batch})
    world.ok("bank", "payments", "deposit", {"account": world.did("customer"),
                                             "currency": "EUR", "amount": 100_000})
    now = wall_clock_ms()
    world.ok("customer", "orders", "place", {
        "id": oid, "seller": world.did("mill"), "batch": world.batch, "quantity": 4,
        "unit_price": 1000, "freight": 700, "currency": "EUR", "earliest": now,
        "latest": now + 3 * DAY, "platform": world.did("shop")})


async def _web_login(c: httpx.AsyncClient, who: str) -> None:
    form = await c.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token
    r = await c.post("/login", data={"login": who, "password": PASSWORDS[who],
                                     "csrf": token.group(1), "next": "/"})
    assert r.status_code == 303, r.text


async def test_dashboard_shows_each_platform_s_kpis(client: httpx.AsyncClient,
                                                    world: World) -> None:
    await _web_login(client, "customer")
    assert 'id="platform-kpis"' not in (await client.get("/")).text  # no orders yet
    _order(world)
    html = (await client.get("/")).text
    panel = html.split('id="platform-kpis"')[1].split("</section>")[0]
    assert re.search(r"Platform KPIs, \d{4}-\d{2}</h2>", panel), panel
    row = re.search(r'<th scope="row">Shop</th>(.*?)</tr>', panel, re.S)
    assert row, panel
    # One order placed, not yet dispatched or due: every other figure is still empty
    # ("—"), not zero; the sensors and shipments contracts are there, so none is "n/a".
    assert re.findall(r"<td>(.*?)</td>", row.group(1)) == ["1"] + ["—"] * 7


async def test_kpi_endpoint_returns_the_report(client: httpx.AsyncClient,
                                               world: World) -> None:
    _order(world)
    h = await bearer(client, "driver")
    r = await client.get("/api/kpi", params={"period": "current"}, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["periods"]) == 1 and body["period_kind"] == "month"
    [shop] = body["platforms"]
    assert shop["platform"] == world.did("shop") and shop["name"] == "Shop"
    assert shop["periods"][0]["orders"] == {"placed": 1, "cancelled": 0}
    assert body["height"] == world.node.height
    by_name = await client.get("/api/kpi", params={"platform": "shop", "period": "week"},
                               headers=h)
    assert by_name.status_code == 200
    assert by_name.json()["platforms"][0]["platform"] == world.did("shop")


@pytest.mark.parametrize(("params", "status", "code"), [
    ({"period": "fortnight"}, 422, None),
    ({"period": "2026-13"}, 422, "validation_error"),
    ({"from": "2026-11-01"}, 422, "validation_error"),
    ({"from": "1.11.2026", "to": "2026-11-02"}, 422, None),
    ({"platform": "mill"}, 404, "not_found"),
])
async def test_kpi_endpoint_refuses_bad_queries(client: httpx.AsyncClient, world: World,
                                                params: dict[str, str], status: int,
                                                code: str | None) -> None:
    h = await bearer(client, "driver")
    r = await client.get("/api/kpi", params=params, headers=h)
    assert r.status_code == status, r.text
    if code is not None:
        assert r.json()["error"]["code"] == code


async def test_kpi_and_emissions_need_a_login(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/kpi")).status_code == 401
    assert (await client.get("/api/emissions", params={"month": "2026-11"})).status_code == 401


async def test_emissions_endpoint(client: httpx.AsyncClient, world: World) -> None:
    h = await bearer(client, "driver")
    r = await client.get("/api/emissions", params={"month": "2026-11"}, headers=h)
    assert r.status_code == 200 and r.json()["platforms"] == []
    assert r.json()["factor_table"]["version"]
    assert (await client.get("/api/emissions", params={"month": "11-2026"},
                             headers=h)).status_code == 422

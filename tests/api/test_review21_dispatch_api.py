"""Review 21: dispatch plans over REST. An API user had to build ``shipments.record_plan``'s
routes by hand; ``POST /api/dispatch/plan`` now solves and checks a request as
``dispatch plan`` and the Dispatch page do, recording nothing, and
``POST /api/dispatch/record`` signs the plan's arguments as the caller's platform. Bad
input is refused with a specific error before the solver runs, and writes nothing.

Against the API test world: the customer buys the mill's batch through the shop (a
platform); the carrier's driver (a transporter) drives the van.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from supplyledger.node.service import wall_clock_ms

from .conftest import WHEAT, World, bearer
from .test_review12_rest_schemas import _check

pytestmark = pytest.mark.anyio
HOUR, DAY = 3_600_000, 86_400_000
SHOP_PW = "shop-pass-12"
DROPS = {"D1": ("52.5000", "13.3000"), "D2": ("52.5300", "13.4500")}


def _orders(world: World, *oids: str) -> None:
    """The customer orders 4 kg of a batch of the mill's through the shop, one batch per
    order (an order reserves its batch)."""
    world.service.accounts.create(world.did("shop"), "shop", SHOP_PW, world.keys["shop"])
    world.ok("bank", "payments", "deposit", {"account": world.did("customer"),
                                             "currency": "EUR", "amount": 100_000})
    now = wall_clock_ms()
    for oid in oids:
        batch = world.ok("mill", "products", "create_batch", {
            "gtin": WHEAT, "lot": f"L-{oid}", "quantity": "4", "uom": "KGM"})["batch"]
        world.ok("mill", "products", "declare_for_sale", {"id": batch})
        world.ok("customer", "orders", "place", {
            "id": oid, "seller": world.did("mill"), "batch": batch, "quantity": 4,
            "unit_price": 1000, "freight": 700, "currency": "EUR", "earliest": now,
            "latest": now + 3 * DAY, "platform": world.did("shop")})


def _request(world: World, oids: Any = DROPS, **extra: Any) -> dict[str, Any]:
    """A request file of the shop's: a warehouse open from now, one van."""
    now = wall_clock_ms()
    return {"plan": "P-21", "warehouse": {
        "node": "DC-BERLIN", "lat": "52.5200", "lon": "13.4050", "open": now,
        "close": now + 10 * HOUR, "outbound_capacity": 1000},
        "fleet": [{"vehicle": "V1", "transporter": world.did("driver"), "capacity": 100,
                   "vehicle_class": "van_diesel_avg", "mode": "road"}],
        "orders": {oid: {"lat": DROPS.get(oid, DROPS["D1"])[0],
                         "lon": DROPS.get(oid, DROPS["D1"])[1], "quantity": 4,
                         "service_min": 5} for oid in oids}, **extra}


async def _shop(client: httpx.AsyncClient) -> dict[str, str]:
    """The shop's bearer token (its web account is made with its first orders)."""
    r = await client.post("/api/auth/token", json={"login": "shop", "password": SHOP_PW})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _plans(world: World) -> list[dict[str, Any]]:
    return world.service.reads.rows("dispatch_plans", 10, None, {}).items


def _error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err: dict[str, Any] = r.json()["error"]
    assert err["code"] == code, r.text
    return err


async def test_a_platform_plans_then_records_its_orders(client: httpx.AsyncClient,
                                                        world: World) -> None:
    _orders(world, "D1", "D2")
    shop = await _shop(client)
    doc = (await client.get("/openapi.json")).json()
    before = world.snapshot()
    r = await client.post("/api/dispatch/plan?time_limit=1", headers=shop,
                          json=_request(world))
    _check(doc, "/api/dispatch/plan", "post", r)
    plan = r.json()
    assert plan["plan"] == "P-21" and plan["platform"] == world.did("shop")
    [route] = plan["routes"]
    assert sorted(route["orders"]) == ["D1", "D2"] and route["load"] == 8
    assert route["transporter"] == world.did("driver") and len(route["arrivals"]) == 2
    assert route["departs_at"] < route["arrivals"][0] < route["returns_at"]
    # the distance and emissions dispatch plan prints: the legs on the great circle
    assert 10_000 < route["distance_m"] == plan["distance_m"] < 40_000
    assert route["co2e_g"] > 0 and plan["co2e_g"] == route["co2e_g"]
    assert plan["unserved"] == [] and plan["ignored"] == []
    assert plan["args"]["id"] == "P-21" and len(plan["args"]["routes"]) == 1
    assert world.snapshot() == before and _plans(world) == []  # planned, nothing recorded

    r = await client.post("/api/dispatch/record", headers=shop, json=plan["args"])
    _check(doc, "/api/dispatch/record", "post", r)
    assert r.json()["receipt"]["ok"] is True
    [row] = _plans(world)
    assert row["id"] == "P-21" and row["platform"] == world.did("shop")
    after = world.snapshot()
    # the same plan again: refused before signing, nothing new on the ledger
    r = await client.post("/api/dispatch/record", headers=shop, json=plan["args"])
    assert _error(r, 409, "already_exists")["details"]["plan"] == "P-21"
    # its orders are dispatched now: planning them again names the first
    r = await client.post("/api/dispatch/plan", headers=shop,
                          json=_request(world, plan="P-22"))
    err = _error(r, 409, "invalid_state")
    assert err["details"]["order"] == "D1" and "no longer open" in err["message"]
    assert world.snapshot() == after


async def test_only_a_platform_plans_or_records(client: httpx.AsyncClient,
                                                world: World) -> None:
    _orders(world, "D1")
    shop, mill = await _shop(client), await bearer(client, "mill")
    r = await client.post("/api/dispatch/plan", headers=shop,
                          json=_request(world, ["D1"]))
    args = r.json()["args"]
    before = world.snapshot()
    for path, body in (("/api/dispatch/plan", _request(world, ["D1"])),
                       ("/api/dispatch/record", args)):
        err = _error(await client.post(path, headers=mill, json=body), 403, "role_denied")
        assert "platform" in err["message"] and err["details"]["required"] == ["platform"]
    r = await client.post("/api/dispatch/plan", json=_request(world, ["D1"]))
    _error(r, 401, "unauthenticated")
    assert world.snapshot() == before and _plans(world) == []


async def test_bad_requests_are_refused_before_solving(client: httpx.AsyncClient,
                                                       world: World) -> None:
    _orders(world, "D1")
    shop = await _shop(client)
    before = world.snapshot()

    async def plan(body: Any, query: str = "") -> httpx.Response:
        return await client.post("/api/dispatch/plan" + query, headers=shop, json=body)

    err = _error(await plan(_request(world, ["D1", "NOPE"])), 404, "not_found")
    assert err["details"]["order"] == "NOPE"
    err = _error(await plan(_request(world, ["D1"], platform=world.did("mill"))), 403,
                 "forbidden")
    assert "you plan for Shop only" in err["message"]
    err = _error(await plan(_request(world, [])), 422, "validation_error")
    assert err["details"]["arg"] == "orders"
    err = _error(await plan(_request(world, [f"O{i}" for i in range(201)])), 422,
                 "validation_error")
    assert err["details"]["arg"] == "orders" and "at most 200" in err["message"]
    many = _request(world, ["D1"])
    many["fleet"] = [{**many["fleet"][0], "vehicle": f"V{i}"} for i in range(51)]
    err = _error(await plan(many), 422, "validation_error")
    assert err["details"]["arg"] == "fleet"
    # the CLI's parser: a misspelt field is refused, not dropped
    typo = _request(world, ["D1"])
    typo["orders"]["D1"]["require"] = ["chilled"]
    err = _error(await plan(typo), 422, "validation_error")
    assert err["details"]["arg"] == "orders.D1.require"
    for limit in ("0", "0.05", "11", "60", "nan", "inf", "two"):
        err = _error(await plan(_request(world, ["D1"]), f"?time_limit={limit}"), 422,
                     "validation_error")
        assert err["details"]["arg"] == "time_limit", limit
    _error(await plan(_request(world, ["D1"]), "?timelimit=1"), 422, "validation_error")
    # a body over the server's limit (256 KiB) is refused before it is read whole
    big = _request(world, ["D1"], pad="x" * 300_000)
    r = await client.post("/api/dispatch/plan", headers={
        **shop, "content-type": "application/json"}, content=json.dumps(big).encode())
    _error(r, 413, "payload_too_large")
    r = await client.post("/api/dispatch/plan", headers={
        **shop, "content-type": "application/json"}, content=b'{"plan": "P", "plan": "Q"}')
    _error(r, 400, "encoding_error")
    r = await client.post("/api/dispatch/plan", headers=shop, json=[1, 2])
    _error(r, 422, "validation_error")
    assert world.snapshot() == before and _plans(world) == []


async def test_an_edited_plan_is_refused_unsigned(client: httpx.AsyncClient,
                                                  world: World) -> None:
    _orders(world, "D1")
    shop = await _shop(client)
    r = await client.post("/api/dispatch/plan", headers=shop, json=_request(world, ["D1"]))
    args = r.json()["args"]
    before = world.snapshot()
    stop = args["routes"][0]["stops"][0]
    edited = {**args, "routes": [{**args["routes"][0], "stops": [{**stop, "order": "NOPE"}]}]}
    err = _error(await client.post("/api/dispatch/record", headers=shop, json=edited), 404,
                 "not_found")
    assert err["details"]["order"] == "NOPE"
    # another transporter than the ledger knows: the contract's own body refuses it
    wrong = {**args, "routes": [{**args["routes"][0], "transporter": world.did("mill")}]}
    err = _error(await client.post("/api/dispatch/record", headers=shop, json=wrong), 404,
                 "not_found")
    assert err["message"].startswith("the plan would be refused")
    assert err["details"]["transporter"] == world.did("mill")
    _error(await client.post("/api/dispatch/record", headers=shop, json={"id": 5}), 422,
           "validation_error")
    assert world.snapshot() == before and _plans(world) == []


async def test_both_are_documented(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    plan, record = paths["/api/dispatch/plan"]["post"], paths["/api/dispatch/record"]["post"]
    assert {"200", "400", "401", "403", "404", "409", "413", "422"} <= set(plan["responses"])
    assert {"200", "403", "404", "409", "422"} <= set(record["responses"])
    limit = next(p for p in plan["parameters"] if p["name"] == "time_limit")
    assert limit["schema"]["maximum"] == 10 and limit["schema"]["minimum"] == 0.1
    assert "dispatch plan --request" in plan["requestBody"]["content"]["application/json"][
        "schema"]["description"]

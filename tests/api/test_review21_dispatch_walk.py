"""Review 21: an integrator's first day with ``POST /api/dispatch/plan`` and ``/record``,
reading only docs/logistics.md and ``/openapi.json``.

On the served demo, as platform A, with the ``dispatch-request.json`` the demo writes: the
doc's two calls plan and record the six open orders. What tripped the integrator, now
answered: a retried record said "plan again under another plan id" for a plan that was on
the ledger (now: its transaction); planning the same orders again named one order of six
(now: all, with the transport order each went out on); the whole answer sent to record was
"missing: plan it again" (now: send its ``args``); the OpenAPI bodies were free objects.
On the API tests' world: an empty fleet answered 200 with a plan nothing can record, and a
revoked, unknown or non-transporter vehicle was "the plan would be refused: … order …:
reschedule the delivery", naming neither the vehicle nor why; both are now refused before
the solver runs, naming ``fleet`` or ``fleet[i].transporter``, nothing written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from _serving import DemoServed, served_demo

from .conftest import CHEAP, World
from .test_review21_dispatch_api import _error, _orders, _plans, _request, _shop


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServed]:
    # The demo and the node both run on the wall clock: the request's times follow it.
    with served_demo(tmp_path_factory.mktemp("walk21") / "ledger", weeks=1, api=CHEAP) as s:
        yield s


def test_the_demo_platform_plans_and_records_as_the_docs_say(served: DemoServed) -> None:
    request = json.loads(Path(served.info.notes["open_orders"]["request"]).read_text())
    oids = sorted(served.info.notes["open_orders"]["orders"])
    assert sorted(request["orders"]) == oids
    spec = httpx.get(served.url + "/openapi.json").json()["paths"]
    body = spec["/api/dispatch/plan"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["required"] == ["warehouse", "fleet", "orders"]
    assert body["schema"]["properties"]["fleet"]["minItems"] == 1
    assert set(body["schema"]["properties"]["orders"]["additionalProperties"][
        "properties"]) >= {"lat", "lon", "quantity", "batch", "requires"}
    args_body = spec["/api/dispatch/record"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]
    assert args_body["required"] == ["id", "warehouse", "routes"]
    with served.api("platform-a") as c:
        for limit in ("0.1", "10"):  # the bounds themselves are accepted
            r = c.post(f"/api/dispatch/plan?time_limit={limit}", json=request)
            assert r.status_code == 200, r.text
        plan = r.json()
        assert sorted(o for rt in plan["routes"] for o in rt["orders"]) == oids
        # the whole answer is not what record takes: told what to send
        err = _error(c.post("/api/dispatch/record", json=plan), 422, "validation_error")
        assert err["details"]["arg"] == "args" and "send its `args` only" in err["message"]
        r = c.post("/api/dispatch/record", json=plan["args"])
        assert r.status_code == 200, r.text
        tx = r.json()["receipt"]["tx"]
        # a retry (the answer lost): the plan is on the ledger, by that transaction
        height = served.height
        err = _error(c.post("/api/dispatch/record", json=plan["args"]), 409, "already_exists")
        assert err["details"]["tx"] == tx and "already recorded" in err["message"]
        # the same orders planned again: every one named, with its transport order
        err = _error(c.post("/api/dispatch/plan", json={**request, "plan": "PA-again"}), 409,
                     "invalid_state")
        assert sorted(err["details"]["orders"]) == oids
        assert all(w.startswith(f"dispatched as {plan['plan']}/")
                   for w in err["details"]["orders"].values())
        assert err["details"]["arg"] == "orders" and "leave them out" in err["message"]
        assert served.height == height


@pytest.mark.anyio
async def test_a_fleet_without_vehicles_is_refused(client: httpx.AsyncClient,
                                                    world: World) -> None:
    _orders(world, "D1")
    shop = await _shop(client)
    before = world.snapshot()
    for fleet in ([], None):
        req = _request(world, ["D1"], fleet=fleet)
        if fleet is None:
            del req["fleet"]
        err = _error(await client.post("/api/dispatch/plan", headers=shop, json=req), 422,
                     "validation_error")
        assert err["details"]["arg"] == "fleet" and "at least one vehicle" in err["message"]
    assert world.snapshot() == before and _plans(world) == []


@pytest.mark.anyio
async def test_a_vehicle_the_contract_would_refuse_is_named(client: httpx.AsyncClient,
                                                            world: World) -> None:
    _orders(world, "D1", "D2")
    shop = await _shop(client)

    async def plan(transporter: str) -> httpx.Response:
        req = _request(world)
        req["fleet"].insert(0, {**req["fleet"][0], "vehicle": "V0"})
        req["fleet"][1]["transporter"] = transporter
        return await client.post("/api/dispatch/plan", headers=shop, json=req)

    err = _error(await plan("did:sl:nobody"), 404, "not_found")
    assert err["details"]["arg"] == "fleet[1].transporter"
    assert "vehicle V1" in err["message"] and "not a participant" in err["message"]
    err = _error(await plan(world.did("mill")), 422, "validation_error")
    assert err["details"]["arg"] == "fleet[1].transporter"
    assert "is not a transporter" in err["message"]
    world.ok("admin", "identity", "revoke", {"did": world.did("driver"),
                                             "reason": "left the carrier"})
    before = world.snapshot()
    err = _error(await plan(world.did("driver")), 409, "invalid_state")
    assert err["details"]["arg"] == "fleet[0].transporter"
    assert err["details"]["transporter"] == world.did("driver") and "revoked" in err["message"]
    assert world.snapshot() == before and _plans(world) == []


@pytest.mark.anyio
async def test_orders_not_open_are_named_together(client: httpx.AsyncClient,
                                                  world: World) -> None:
    _orders(world, "D1")
    shop = await _shop(client)
    req: dict[str, Any] = _request(world, ["D1"])
    req["orders"] = {**req["orders"], "NOPE": req["orders"]["D1"], "ALSO": req["orders"]["D1"]}
    err = _error(await client.post("/api/dispatch/plan", headers=shop, json=req), 404,
                 "not_found")
    assert err["details"]["orders"] == {"ALSO": "no such order", "NOPE": "no such order"}
    assert err["details"]["order"] == "ALSO" and _plans(world) == []

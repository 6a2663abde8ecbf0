"""Review 20: ``/api/tables/{name}`` filters and validation errors that said less than they
should.

* A filter compared its value as text: on an INTEGER column a value that is no integer
  (``shipments?late=abc``) and a flag written as a word (``orders?on_time=true``, the
  column holding 0/1) answered an empty page, as though nothing matched, not a 422.
* A NULL cell could not be matched at all; an empty value now matches the rows with no
  value (an order not yet delivered).
* FastAPI's own validation errors (a missing ``month``, ``max_events=0``) carried
  ``details.problems`` but no ``details.arg``, which every other refusal gives; so did an
  over-long table filter.
* ``/api/tables`` did not say which columns are integers; it gives ``column_types`` now.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from supplyledger.node.service import wall_clock_ms

from .conftest import World, bearer

pytestmark = pytest.mark.anyio
DAY = 86_400_000


def _order(world: World, oid: str) -> None:
    """The customer buys from the mill's batch through the shop: placed, not delivered."""
    now = wall_clock_ms()
    world.ok("customer", "orders", "place", {
        "id": oid, "seller": world.did("mill"), "batch": world.batch, "quantity": 4,
        "unit_price": 1000, "freight": 700, "currency": "EUR", "earliest": now,
        "latest": now + 3 * DAY, "platform": world.did("shop")})


def _refused(r: httpx.Response, arg: str) -> dict[str, Any]:
    assert r.status_code == 422, r.text
    err: dict[str, Any] = r.json()["error"]
    assert err["code"] == "validation_error" and err["details"]["arg"] == arg, err
    return err


@pytest.mark.parametrize(("query", "column"), [
    ("shipments?late=abc", "late"), ("orders?on_time=true", "on_time"),
    ("orders?on_time=yes", "on_time"), ("trace_events?seq=1.0", "seq"),
    ("trace_events?seq=%2B1", "seq"), ("trace_events?seq=" + "9" * 20, "seq")])
async def test_an_integer_column_refuses_a_value_that_is_no_integer(
        client: httpx.AsyncClient, query: str, column: str) -> None:
    b = await bearer(client, "mill")
    err = _refused(await client.get(f"/api/tables/{query}", headers=b), column)
    # says what the column takes, flags included, so a client sending true learns 1
    assert "whole number" in err["message"] and "1 or 0" in err["message"], err
    assert column in err["message"]


async def test_integer_filters_still_match_and_text_columns_take_any_text(
        client: httpx.AsyncClient, world: World) -> None:
    b = await bearer(client, "mill")
    r = await client.get("/api/tables/trace_events?seq=1", headers=b)
    assert [row["seq"] for row in r.json()["items"]] == [1]
    assert (await client.get("/api/tables/trace_events?seq=-2",
                             headers=b)).json()["items"] == []
    # a TEXT column compares text, even text that reads as a number or a word
    r = await client.get("/api/tables/batches?lot=true", headers=b)
    assert r.status_code == 200 and r.json()["items"] == []
    # a flag column is an INTEGER one: 1 or 0, never a word; the table list says which
    r = await client.get("/api/tables/products?for_sale=true", headers=b)
    _refused(r, "for_sale")
    listed = (await client.get("/api/tables?limit=500", headers=b)).json()["items"]
    products = next(t for t in listed if t["name"] == "products")
    assert products["column_types"] == {"gtin": "TEXT", "name": "TEXT", "owner": "TEXT",
                                        "for_sale": "INTEGER", "since": "INTEGER",
                                        "tx": "TEXT"}
    doc = (await client.get("/openapi.json")).json()
    assert "column_types" in doc["components"]["schemas"]["TableInfo"]["properties"]


async def test_an_empty_value_matches_the_rows_without_one(
        client: httpx.AsyncClient, world: World) -> None:
    world.ok("mill", "products", "declare_for_sale", {"id": world.batch})
    world.ok("bank", "payments", "deposit", {"account": world.did("customer"),
                                             "currency": "EUR", "amount": 100_000})
    _order(world, "K1")
    b = await bearer(client, "customer")
    every = (await client.get("/api/tables/orders", headers=b)).json()["items"]
    assert [o["id"] for o in every] == ["K1"] and every[0]["delivered_at"] is None
    for column in ("delivered_at", "on_time", "transport_no"):  # NULL: not yet delivered
        r = await client.get(f"/api/tables/orders?{column}=", headers=b)
        assert r.status_code == 200 and [o["id"] for o in r.json()["items"]] == ["K1"], (
            column, r.text)
    for column in ("placed_at", "buyer"):  # set: an empty value does not match them
        r = await client.get(f"/api/tables/orders?{column}=", headers=b)
        assert r.status_code == 200 and r.json()["items"] == [], column
    r = await client.get("/api/tables/orders?on_time=1", headers=b)
    assert r.json()["items"] == []  # NULL is not 1 (nor 0)
    # empty text is "no value" too, as it always matched
    r = await client.get("/api/tables/custody_history?frm=", headers=b)
    assert [row["kind"] for row in r.json()["items"]] == ["created"]


@pytest.mark.parametrize(("path", "arg"), [
    ("/api/emissions", "month"),  # a required query parameter missing
    ("/api/events?max_events=0", "max_events"),
    ("/api/tables/orders?limit=abc", "limit"),
    ("/api/tables/Orders", "name")])  # a path parameter out of its pattern
async def test_fastapi_s_validation_errors_name_their_argument(
        client: httpx.AsyncClient, path: str, arg: str) -> None:
    b = await bearer(client, "mill")
    err = _refused(await client.get(path, headers=b), arg)
    [problem] = err["details"]["problems"]  # kept, as before
    assert problem["loc"][-1] == arg


async def test_a_body_argument_is_named_and_several_problems_name_none(
        client: httpx.AsyncClient) -> None:
    r = await client.post("/api/auth/token", json={"login": "mill"})
    err = _refused(r, "password")
    assert err["details"]["problems"][0]["loc"] == ["body", "password"]
    r = await client.post("/api/auth/token", json={})
    assert r.status_code == 422
    details = r.json()["error"]["details"]
    assert "arg" not in details and len(details["problems"]) == 2


async def test_an_over_long_table_filter_names_its_column(
        client: httpx.AsyncClient) -> None:
    b = await bearer(client, "mill")
    r = await client.get("/api/tables/batches", params={"lot": "L" * 513}, headers=b)
    err = _refused(r, "lot")
    assert "512" in err["message"]

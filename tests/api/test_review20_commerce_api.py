"""Review 20: a client integrating commerce through the JSON API, with the catalogue
(``/api/contracts``), the OpenAPI document and the error bodies as its guides.

What tripped it, each fixed at the API's edge (the contracts are unchanged):

* money arguments (``amount``, ``unit_price``, ``freight``, ``refund`` …) were documented
  as ``{}``, any JSON, though only integer minor units pass;
* the catalogue's string patterns were the contract's, which it matches whole, written as
  JSON Schema patterns, which match anywhere unless anchored: a client's validator passed
  ids the contract refuses;
* a query parameter given twice counted once, the last (``?org=a&org=b`` answered b's rows);
* an edited cursor holding the wrong kind of value (text for a height, a number for a
  name) answered the first page again: a client following it loops;
* a body naming a key twice was taken with its last value, and three bodies that cannot be
  parsed (bytes that are not text, nesting too deep, a number too long) got a 400 that did
  not say why;
* ``?role=`` (empty) on the participants and organisations answered every row.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from supplyledger.contracts.builtin.payments import MAX_AMOUNT
from supplyledger.store.listings import encode_cursor

from .conftest import WHEAT, World, bearer

pytestmark = pytest.mark.anyio


def _args(doc: dict[str, Any], method: str) -> dict[str, Any]:
    return next(m["args"]["properties"] for m in doc["methods"] if m["method"] == method)


async def test_money_arguments_are_documented_as_integer_minor_units(
        client: httpx.AsyncClient) -> None:
    h = await bearer(client, "customer")
    payments = (await client.get("/api/contracts/payments", headers=h)).json()
    orders = (await client.get("/api/contracts/orders", headers=h)).json()
    assert _args(payments, "transfer")["amount"] == {
        "type": "integer", "minimum": 1, "maximum": MAX_AMOUNT}
    place = _args(orders, "place")
    assert place["unit_price"]["type"] == "integer" and place["unit_price"]["minimum"] == 1
    assert place["freight"]["minimum"] == 0  # free delivery is an order too
    # What the schema says is what the contract does: one past the bound is refused.
    r = await client.post("/api/contracts/payments/transfer", headers=h, json={
        "to": "did:sl:x", "currency": "EUR", "amount": MAX_AMOUNT + 1})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_amount"


async def test_catalogue_patterns_match_whole_values_as_the_contract_does(
        client: httpx.AsyncClient) -> None:
    h = await bearer(client, "customer")
    orders = (await client.get("/api/contracts/orders", headers=h)).json()
    pattern = _args(orders, "place")["id"]["pattern"]
    assert re.search(pattern, "A-1") is not None
    bad = "order 1!"  # holds a valid id ("order"), is not one
    assert re.search(pattern, bad) is None
    r = await client.post("/api/contracts/orders/cancel", headers=h, json={"order": bad})
    assert r.status_code == 422 and r.json()["error"]["details"] == {"arg": "order"}


@pytest.mark.parametrize("query", [
    "/api/participants?org=mill&org=qa",
    "/api/tables/participants?org=mill&org=qa",
    "/api/tx?contract=products&contract=trace",
    "/api/blocks?limit=1&limit=2",
])
async def test_a_query_parameter_given_twice_is_refused(client: httpx.AsyncClient,
                                                        query: str) -> None:
    h = await bearer(client, "customer")
    r = await client.get(query, headers=h)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "validation_error" and "more than once" in err["message"]


@pytest.mark.parametrize(("path", "key"), [
    ("/api/blocks", ["a"]),
    ("/api/tx", ["a", "b"]),
    ("/api/receipts", ["a", 0]),
    ("/api/contracts", [1]),
    ("/api/tables", [1]),
    ("/api/tables/participants", [5]),
    ("/api/participants", [5]),
    ("/api/trace/events", [1, 1]),
])
async def test_a_cursor_holding_the_wrong_kind_of_key_is_refused(
        client: httpx.AsyncClient, path: str, key: list[Any]) -> None:
    h = await bearer(client, "customer")
    r = await client.get(path, params={"cursor": encode_cursor(key)}, headers=h)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == {"code": "validation_error",
                                 "message": "cursor is not one this server issued",
                                 "details": {"arg": "cursor"}}


async def test_cursors_the_server_issues_still_page(client: httpx.AsyncClient) -> None:
    h = await bearer(client, "customer")
    for path in ("/api/blocks", "/api/tx", "/api/contracts", "/api/tables/participants"):
        first = (await client.get(path, params={"limit": 1}, headers=h)).json()
        assert first["next_cursor"], path
        second = await client.get(path, params={"limit": 1, "cursor": first["next_cursor"]},
                                  headers=h)
        assert second.status_code == 200, second.text
        assert second.json()["items"] != first["items"]


async def test_a_body_naming_a_key_twice_is_refused_and_nothing_signed(
        client: httpx.AsyncClient, world: World) -> None:
    h = await bearer(client, "mill")
    before = world.snapshot()
    body = b'{"gtin": "' + WHEAT.encode() + b'", "name": "Rye", "name": "Spelt"}'
    r = await client.post("/api/contracts/products/create_product", content=body,
                          headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    at = body.rindex(b'"name"')
    assert r.json()["error"] == {
        "code": "encoding_error",
        "message": f"malformed JSON: key 'name' appears twice in one object (at character {at})"}
    assert world.snapshot() == before


@pytest.mark.parametrize(("body", "why"), [
    (b'{"order": "\xff"}', "the body is not UTF-8 text"),
    (b"[" * 100_000 + b"]" * 100_000, "arrays and objects nested too deeply"),
    (b'{"order": 1' + b"0" * 5000 + b"}", "a number has too many digits"),
])
async def test_an_unparsable_body_says_why(client: httpx.AsyncClient, world: World,
                                           body: bytes, why: str) -> None:
    h = await bearer(client, "customer")
    before = world.snapshot()
    r = await client.post("/api/contracts/orders/cancel", content=body,
                          headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "encoding_error" and why in err["message"], err
    assert world.snapshot() == before


@pytest.mark.parametrize("path", ["/api/participants", "/api/organisations"])
async def test_an_empty_role_filters_rather_than_being_ignored(client: httpx.AsyncClient,
                                                               path: str) -> None:
    h = await bearer(client, "customer")
    every = (await client.get(path, headers=h)).json()["items"]
    assert every
    r = await client.get(path, params={"role": ""}, headers=h)
    assert r.status_code == 200 and r.json()["items"] == []
    inspectors = (await client.get(path, params={"role": "inspector"}, headers=h)).json()
    assert inspectors["items"] and len(inspectors["items"]) < len(every)
    assert all("inspector" in row["roles"] for row in inspectors["items"])

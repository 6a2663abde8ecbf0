"""Review 13: a JSON body holding ``NaN``, ``Infinity`` or ``-Infinity`` (Python's json module
reads them; JSON has no such values) reached the arguments' checks and answered 422, where
every other body that is not JSON answers 400 ``encoding_error``. The bodies FastAPI parses
for the routes are now read strictly: 400 ``encoding_error`` naming the constant and where
it is, nothing written. In-process over httpx, on a real SQLite ledger and node."""

from __future__ import annotations

import re

import httpx
import pytest

from .conftest import World, bearer

pytestmark = pytest.mark.anyio
CONSTANTS = ("NaN", "Infinity", "-Infinity")
JSON = {"content-type": "application/json"}


def _refused(r: httpx.Response, constant: str, body: bytes) -> None:
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "encoding_error"
    m = re.fullmatch(rf"malformed JSON: {re.escape(constant)} is not JSON "
                     r"\(at character (\d+)\)", err["message"])
    assert m, err["message"]
    assert body.decode()[int(m.group(1)):].startswith(constant)  # where it is


@pytest.mark.parametrize("constant", CONSTANTS)
async def test_a_contract_call_with_a_json_constant_is_malformed_json(
        client: httpx.AsyncClient, world: World, constant: str) -> None:
    auth = await bearer(client, "mill")
    before = world.snapshot()
    # The same word inside a string is text, not the constant: the one outside is named.
    body = ('{"name": "Rye \\"NaN\\" -Infinity", "gtin": "69012340001", "quantity": '
            + constant + "}").encode()
    r = await client.post("/api/contracts/products/create_product", content=body,
                          headers={**auth, **JSON})
    _refused(r, constant, body)
    assert world.snapshot() == before


async def test_a_login_with_a_json_constant_is_malformed_json(
        client: httpx.AsyncClient) -> None:
    body = b'{"login": "mill", "password": NaN}'
    _refused(await client.post("/api/auth/token", content=body, headers=JSON), "NaN", body)
    # A body sent as a JSON-based media type is read as strictly.
    body = b'{"login": -Infinity, "password": "x"}'
    r = await client.post("/api/auth/token", content=body,
                          headers={"content-type": "application/vnd.api+json"})
    _refused(r, "-Infinity", body)


async def test_every_json_body_of_the_api_refuses_the_constants_as_malformed(
        client: httpx.AsyncClient, world: World) -> None:
    """Each operation the OpenAPI document gives a JSON body: 400 encoding_error for a body
    holding NaN, whoever sends it, and nothing written."""
    auth = await bearer(client, "mill")  # may capture EPCIS events
    doc = (await client.get("/openapi.json")).json()
    paths = [p for p, ops in doc["paths"].items()
             if "application/json" in ops.get("post", {}).get("requestBody", {})
             .get("content", {})]
    assert {"/api/contracts/{contract}/{method}", "/api/auth/token", "/api/tx",
            "/epcis/capture"} <= set(paths)
    before = world.snapshot()
    for path in paths:
        url = path.replace("{contract}", "identity").replace("{method}", "register_org")
        r = await client.post(url, content=b'{"id": NaN}', headers={**auth, **JSON})
        assert r.status_code == 400, (path, r.text)
        assert r.json()["error"]["code"] == "encoding_error", (path, r.text)
    assert world.snapshot() == before

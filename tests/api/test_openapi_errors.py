"""The OpenAPI document tells the truth about errors: every documented error is the
project's error body, operations behind a login say so, and what each ``/api/`` operation
actually answers to a stranger, to unknown ids and to malformed JSON is a documented status
with that body. Malformed JSON is a 400 everywhere, and writes nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from .conftest import World, bearer

pytestmark = pytest.mark.anyio
_REF = "#/components/schemas/ErrorBody"


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in doc["paths"].items()
            for method, op in ops.items()
            if path.startswith("/api/") and path != "/api/events"]  # the stream never ends


def _sample(param: dict[str, Any]) -> str:
    """A well-formed value no ledger object has."""
    schema = param.get("schema", {})
    if "integer" in json.dumps(schema):
        return "999999"
    pattern = json.dumps(schema)
    if "0-9a-f]{64}" in pattern:
        return "ab" * 32
    if "\\\\d{4}-\\\\d{2}$" in pattern:
        return "2020-01"
    return "nope"


def _url(path: str, op: dict[str, Any]) -> str:
    query = []
    for p in op.get("parameters", []):
        if p["in"] == "path":
            path = path.replace("{" + p["name"] + "}", _sample(p))
        elif p["in"] == "query" and p.get("required"):
            query.append(f"{p['name']}={_sample(p)}")
    return path + ("?" + "&".join(query) if query else "")


def _documented(op: dict[str, Any], r: httpx.Response, where: str) -> None:
    assert str(r.status_code) in op["responses"], (where, r.status_code, r.text[:200])
    if r.status_code >= 400:
        err = r.json()["error"]
        assert isinstance(err["code"], str) and isinstance(err["message"], str), where


async def test_documented_errors_are_the_error_body(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in json.dumps(doc)
    assert set(doc["components"]["securitySchemes"]) == {"bearer", "session"}
    for path, method, op in _operations(doc):
        for status, resp in op["responses"].items():
            if int(status) >= 400:
                assert resp["content"]["application/json"]["schema"] == {"$ref": _REF}, (
                    path, method, status)
        if op.get("security"):
            assert "401" in op["responses"], (path, method)
    me = doc["paths"]["/api/auth/me"]["get"]
    assert me["security"] == [{"bearer": []}, {"session": []}]
    assert "security" not in doc["paths"]["/api/tx"]["post"]  # signed bytes, no login


async def test_every_api_operation_answers_what_it_documents(
        client: httpx.AsyncClient, world: World) -> None:
    doc = (await client.get("/openapi.json")).json()
    ops = _operations(doc)
    admin = await bearer(client, "admin")
    before = world.snapshot()
    for path, method, op in ops:
        url = _url(path, op)
        r = await client.request(method, url, content=b"{}",
                                 headers={"content-type": "application/json"})
        _documented(op, r, f"stranger {method} {url}")
        if op.get("security"):
            assert r.status_code == 401, (method, url, r.text[:200])
        if method == "get":  # unknown ids and the like: 404 (or 422), never undocumented
            _documented(op, await client.get(url, headers=admin), f"GET {url}")
        if "requestBody" in op:
            r = await client.request(method, url, content=b'{"id": "x",',
                                     headers={**admin, "content-type": "application/json"})
            _documented(op, r, f"malformed {method} {url}")
            assert (r.status_code, r.json()["error"]["code"]) == (400, "encoding_error"), (
                url, r.text[:200])
    assert world.snapshot() == before


async def test_malformed_bodies_are_400_with_the_error_body(client: httpx.AsyncClient,
                                                           world: World) -> None:
    b = await bearer(client, "admin")
    before = world.snapshot()
    url = "/api/contracts/identity/register_org"
    for body in (b"{bad json", b"\xff\xfe", b'{"a":' * 5000 + b"1" + b"}" * 5000):
        r = await client.post(url, content=body,
                              headers={**b, "content-type": "application/json"})
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "encoding_error", r.text
    r = await client.post(url, content=b'{"id": "newco", "name": 1.5, "roles": []}',
                          headers={**b, "content-type": "application/json"})
    assert r.status_code == 422  # well-formed JSON of the wrong type stays a 422
    assert world.snapshot() == before

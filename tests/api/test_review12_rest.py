"""Review 12, the REST API as an integrator meets it: requests a program gets wrong are
refused with the project's typed error, never half-understood.

* A query parameter a route does not take was ignored: ``/api/participants?name=Mill``
  (there is no name filter) or a misspelt ``/api/tx?contarct=trace`` answered every row to
  a client that believed it had filtered them. It is a 422 naming the parameter and what
  the route takes, as the EPCIS binding already did (projection tables still take any
  column as a filter).
* A JSON body sent without ``Content-Type: application/json`` (``curl -d`` labels it a
  form) was a 422 "body: Input should be a valid dictionary" about arguments that were
  right; the EPCIS capture took any media type. Both are 415 saying what to send, and the
  OpenAPI document lists 415 wherever a JSON body is read.
* The contract catalogue and the list of tables came whole, the one list of the API with
  no paging (a generic pager sending ``limit`` and ``cursor`` had them ignored); they page
  by name like the others.
* Every status the EPCIS binding answers is documented (an unknown capture job's 404, a
  capture already made 409, a refused document 422 were not).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from supplyledger.api import create_app
from supplyledger.api.links import LINKS, build_event
from supplyledger.node.service import wall_clock_ms

from .conftest import World, bearer
from .test_review12_rest_schemas import epcis_document

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(("url", "name"), [
    ("/api/participants?name=Mill", "name"),
    ("/api/tx?contarct=trace", "contarct"),
    ("/api/blocks?page=2", "page"),
    ("/api/trace/events?disposition=non_conformant", "disposition"),
    ("/api/trace?batch=L20260101&pageSize=5", "pageSize"),
    ("/api/kpi?platfrom=shop", "platfrom"),
    ("/api/tables?offset=40", "offset"),
    ("/api/auth/me?as=admin", "as"),
])
async def test_a_query_parameter_the_route_does_not_take_is_422(
        client: httpx.AsyncClient, url: str, name: str) -> None:
    b = await bearer(client, "admin")
    r = await client.get(url, headers=b)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "validation_error" and err["details"] == {"arg": name}
    assert f"unknown query parameter {name!r}" in err["message"]


async def test_declared_parameters_and_column_filters_still_work(client: httpx.AsyncClient,
                                                                 world: World) -> None:
    b = await bearer(client, "admin")
    r = await client.get("/api/participants?org=mill&limit=5", headers=b)
    assert [p["did"] for p in r.json()["items"]] == [world.did("mill")]
    r = await client.get("/api/tables/batches?lot=L20260101&limit=5", headers=b)
    assert [row["id"] for row in r.json()["items"]] == [world.batch]
    r = await client.get("/api/tx?contract=trace&ok=true", headers=b)
    assert r.status_code == 200 and r.json()["items"]
    doc = (await client.get("/openapi.json")).json()
    filters = doc["paths"]["/api/tables/{name}"]["get"]["parameters"]
    assert {"name": "filters", "in": "query"}.items() <= filters[-1].items()


@pytest.mark.parametrize("path", ["/api/contracts", "/api/tables"])
async def test_catalogues_page_like_every_list(client: httpx.AsyncClient, path: str) -> None:
    b = await bearer(client, "mill")
    whole = (await client.get(path, headers=b)).json()
    names, cursor, pages = [], None, 0
    while True:
        page = (await client.get(path, params={"limit": 4, **(
            {"cursor": cursor} if cursor else {})}, headers=b)).json()
        names += [it["name"] for it in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert names == [it["name"] for it in whole["items"]] == sorted(names)
    assert pages == -(-len(names) // 4) and whole["next_cursor"] is None
    r = await client.get(path, params={"cursor": "bm9wZQ"}, headers=b)
    assert r.status_code == 422 and r.json()["error"]["details"] == {"arg": "cursor"}


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_body_not_sent_as_json_is_415(client: httpx.AsyncClient, world: World,
                                              ctype: str | None) -> None:
    b = await bearer(client, "admin")
    before = world.snapshot()
    body = json.dumps({"id": "farm", "name": "Farm", "roles": ["supplier"]}).encode()
    headers = {**b, **({"content-type": ctype} if ctype else {})}
    r = await client.post("/api/contracts/identity/register_org", content=body,
                          headers=headers)
    assert r.status_code == 415, r.text
    err = r.json()["error"]
    assert err["code"] == "unsupported_media_type" and "application/json" in err["message"]
    r = await client.post("/api/auth/token", content=b'{"login": "mill"}',
                          headers={"content-type": ctype} if ctype else {})
    assert r.status_code == 415, r.text
    if ctype:  # signed bytes and EPCIS documents may come unlabelled, not mislabelled
        for url in ("/api/tx", "/epcis/capture"):
            r = await client.post(url, content=b"{}", headers={**b, "content-type": ctype})
            assert r.status_code == 415 and r.json()["error"]["code"] == (
                "unsupported_media_type"), (url, r.text)
    assert world.snapshot() == before
    r = await client.post("/api/contracts/identity/register_org", content=body,
                          headers={**b, "content-type": "application/json; charset=utf-8"})
    assert r.status_code == 200, r.text


async def test_json_bodies_document_415(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    reading = [(p, m) for p, ops in doc["paths"].items() for m, op in ops.items()
               if "application/json" in op.get("requestBody", {}).get("content", {})]
    assert len(reading) >= 10
    for path, method in reading:
        assert "415" in doc["paths"][path][method]["responses"], (path, method)


def _documented(doc: dict[str, Any], path: str, verb: str, r: httpx.Response) -> None:
    assert str(r.status_code) in doc["paths"][path][verb]["responses"], (
        path, r.status_code, r.text[:200])
    if r.status_code >= 400:
        assert set(r.json()["error"]) >= {"code", "message"}, r.text


async def test_the_epcis_binding_documents_what_it_answers(client: httpx.AsyncClient,
                                                           world: World) -> None:
    doc = (await client.get("/openapi.json")).json()
    mill = await bearer(client, "mill")
    stranger = await client.get("/epcis/events")
    _documented(doc, "/epcis/events", "get", stranger)
    _documented(doc, "/epcis/capture/{captureID}", "get",
                await client.get(f"/epcis/capture/{'0' * 64}", headers=mill))  # 404
    capture = epcis_document(build_event(LINKS["storage"], batch=world.batch,
                                         time_ms=wall_clock_ms()))
    for expected in (202, 409):  # the same document again: already captured
        r = await client.post("/epcis/capture", json=capture, headers=mill)
        assert r.status_code == expected, r.text
        _documented(doc, "/epcis/capture", "post", r)
    r = await client.post("/epcis/capture", json={"type": "EPCISDocument"}, headers=mill)
    assert r.status_code == 422
    _documented(doc, "/epcis/capture", "post", r)
    r = await client.get("/epcis/events", headers={**mill, "GS1-EPCIS-Version": "1.2"})
    assert r.status_code == 406
    _documented(doc, "/epcis/events", "get", r)


async def test_expired_garbage_and_ended_tokens_are_401(client: httpx.AsyncClient,
                                                        world: World) -> None:
    """What a program holding a stale token meets, on the API and on the binding alike:
    401 with the typed body and a Bearer challenge, never a page or a 500."""
    token = await bearer(client, "mill")
    accounts = world.service.accounts
    real = accounts.clock
    accounts.clock = lambda: real() + world.service.settings.session_ttl_s + 1
    try:
        expired = [await client.get(u, headers=token) for u in ("/api/status", "/epcis/events")]
    finally:
        accounts.clock = real
    garbage = await client.get("/api/tx", headers={"Authorization": "Bearer x" * 3})
    r = await client.post("/api/auth/logout", headers=token)
    assert r.status_code == 200
    ended = await client.get("/api/status", headers=token)
    for r in (*expired, garbage, ended):
        assert r.status_code == 401, r.text
        assert r.json()["error"]["code"] == "unauthenticated"
        assert r.headers["www-authenticate"].startswith("Bearer")


async def test_a_bug_is_a_typed_500_not_plain_text(world: World,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A client parsing error bodies met Starlette's text/plain "Internal Server Error"
    when a handler failed outside the error tree; the answer is the typed body now. (Review
    17: the exception stops in the app, logged there once, no longer reaching the server
    (here: the transport) to be logged again.)"""

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(world.service.reads, "blocks", broken)
    monkeypatch.setattr(world.service, "resolve_batch", broken)
    app = create_app(world.service)
    async with httpx.AsyncClient(base_url="http://test", transport=httpx.ASGITransport(
            app=app, raise_app_exceptions=False)) as c:
        b = await bearer(c, "mill")
        for url in ("/api/blocks", "/epcis/epcs/L20260101/events"):
            r = await c.get(url, headers=b)
            assert r.status_code == 500 and r.headers["content-type"] == "application/json"
            assert r.json() == {"error": {
                "code": "internal_error",
                "message": "the server failed on this request; its log has the details",
                "details": {"reference": r.json()["error"]["details"]["reference"]}}}
    async with httpx.AsyncClient(base_url="http://test",
                                 transport=httpx.ASGITransport(app=app)) as c:
        r = await c.get("/api/blocks", headers=await bearer(c, "mill"))
        assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"

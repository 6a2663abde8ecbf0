"""Review 13: ``HEAD`` on a route that answers ``GET`` was 405 (FastAPI routes take only the
methods they list), yet HTTP has a server that supports GET support HEAD: monitoring probes
and link checkers send it. Every GET route (API, pages, /openapi.json, static files) now
answers HEAD with GET's status and headers and no body, the OpenAPI document unchanged; a
method GET is not allowed on stays 405. In-process over httpx on a real SQLite ledger and
node, and one served by uvicorn for the event stream, which never ends by itself."""

from __future__ import annotations

import anyio
import httpx
import pytest

from _serving import serving_app
from supplyledger.api import create_app

from .conftest import World, bearer
from .test_review11c_withdrawals import _web_login

pytestmark = pytest.mark.anyio
# Headers a page sets afresh on each request (its session cookie's renewal, say).
VARY = {"set-cookie", "date"}


def _same_headers(get: httpx.Response, head: httpx.Response) -> None:
    assert head.status_code == get.status_code
    assert {k: v for k, v in head.headers.items() if k not in VARY} == \
        {k: v for k, v in get.headers.items() if k not in VARY}
    assert head.content == b""


async def test_head_answers_every_kind_of_get_route_with_its_headers_and_no_body(
        client: httpx.AsyncClient, world: World) -> None:
    auth = await bearer(client, "mill")
    for url in ("/api/status", "/api/contracts?limit=2", f"/api/tx/{'0' * 64}",
                "/api/tables/participants", "/openapi.json", "/static/app.css",
                "/favicon.ico", "/nowhere", "/login"):
        login = {} if url == "/login" else auth  # logged in, the login page redirects
        get = await client.get(url, headers=login)
        head = await client.head(url, headers=login)
        _same_headers(get, head)
        assert int(head.headers["content-length"]) == len(get.content) > 0, url
    assert (await client.head("/api/tx/" + "0" * 64, headers=auth)).status_code == 404
    await _web_login(client, "mill")  # a page behind the login, and its redirect without
    for url in ("/explorer", "/account"):
        get, head = await client.get(url), await client.head(url)
        assert get.status_code == 200 and head.headers["content-type"].startswith("text/html")
        assert head.content == b""
    client.cookies.clear()
    get, head = await client.get("/explorer"), await client.head("/explorer")
    _same_headers(get, head)
    assert head.status_code == 303 and head.headers["location"].startswith("/login")


async def test_head_on_a_post_only_route_is_still_405_and_openapi_lists_no_head(
        client: httpx.AsyncClient) -> None:
    for url in ("/api/auth/token", "/api/devices/readings", "/logout", "/admin/enrol"):
        head = await client.head(url)
        assert head.status_code == 405, url
        assert "HEAD" not in head.headers["allow"] and head.content == b""
    # A GET route refusing another method names HEAD among those it allows.
    for url in ("/api/status", "/explorer"):
        r = await client.put(url)
        assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD", url
    doc = (await client.get("/openapi.json")).json()
    assert not [p for p, ops in doc["paths"].items() if "head" in ops]
    assert "get" in doc["paths"]["/api/status"]


async def test_head_on_the_event_stream_answers_its_headers_and_closes_it(
        world: World) -> None:
    app = create_app(world.service)
    with serving_app(app) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as c:
            auth = await bearer(c, "mill")
            head = await c.head("/api/events", headers=auth)
            assert head.status_code == 200 and head.content == b""
            assert head.headers["content-type"].startswith("text/event-stream")
            # The stream HEAD started is not left running on the server.
            with anyio.fail_after(30):
                while app.state.feed.listeners:
                    await anyio.sleep(0.05)
            assert (await c.head("/api/status", headers=auth)).status_code == 200

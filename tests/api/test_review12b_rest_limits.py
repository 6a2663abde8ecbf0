"""Review 12b: the lists' ``limit`` maximum was the constant 500 while the page maximum is a
setting (``page_max``): with a smaller one, a larger ``limit`` passed the check and came
back as a store error (or, for the lists held in memory, as a page over the maximum), and
the OpenAPI document promised 500. The bound is now the app's setting, in the check and
in the document (the EPCIS binding's ``perPage`` too). A second service over the test
consortium's real node and SQLite file, with a small page maximum."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from supplyledger.api import LedgerService, create_app

from .conftest import CHEAP, World, bearer

pytestmark = pytest.mark.anyio
MOST = 5


@pytest.fixture
async def small(world: World) -> AsyncIterator[httpx.AsyncClient]:
    svc = LedgerService(world.node, replace(CHEAP, page_default=2, page_max=MOST))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(svc)),
                                 base_url="http://test") as c:
        yield c
    svc.close()


def _lists(doc: dict[str, Any]) -> list[str]:
    """The GET routes that take ``limit``, their path parameters filled in."""
    out = []
    for path, ops in doc["paths"].items():
        params = ops.get("get", {}).get("parameters", [])
        if any(p["name"] == "limit" and p["in"] == "query" for p in params):
            out.append(path.replace("{name}", "trace_events"))
    return out


async def test_a_limit_over_the_settings_page_maximum_is_refused(
        small: httpx.AsyncClient, world: World) -> None:
    b = await bearer(small, "admin")
    lists = _lists((await small.get("/openapi.json")).json())
    assert {"/api/blocks", "/api/tx", "/api/contracts", "/api/participants",
            "/api/tables/trace_events"} <= set(lists)
    for path in lists:
        given = {"prefix": "identity/"} if path == "/api/state" else {}
        r = await small.get(path, params={**given, "limit": MOST + 1}, headers=b)
        assert r.status_code == 422, (path, r.text)
        err = r.json()["error"]
        assert err["code"] == "validation_error" and f"at most {MOST}" in err["message"], path
        r = await small.get(path, params={**given, "limit": MOST}, headers=b)
        assert r.status_code == 200, (path, r.text)
        assert len(r.json()["items"]) <= MOST, path
    assert len((await small.get("/api/blocks", headers=b)).json()["items"]) == 2  # default


async def test_the_openapi_document_states_the_settings_bounds(
        small: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    for c, most, default in ((small, MOST, 2), (client, 500, 50)):
        doc = (await c.get("/openapi.json")).json()
        found = [p for ops in doc["paths"].values() for op in ops.values()
                 for p in op.get("parameters", ()) if p["name"] in ("limit", "perPage")]
        assert len(found) > 10
        for p in found:
            ints = [s for s in p["schema"].get("anyOf", [p["schema"]])
                    if s.get("type") == "integer"]
            assert ints and all(s["maximum"] == most for s in ints), p
            assert p["description"] == f"page size, 1 to {most} (default {default})", p

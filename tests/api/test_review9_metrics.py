"""Review 9: ``GET /metrics`` behind a proxy uvicorn does not trust, and on a failed node."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from supplyledger.api import create_app
from supplyledger.errors import StoreError

from .conftest import World, bearer
from .test_metrics import scrape, value

pytestmark = pytest.mark.anyio


def _client(world: World, host: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(world.service), client=(host, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
async def via_proxy(world: World) -> AsyncIterator[httpx.AsyncClient]:
    """Requests a proxy on this host passed on over ::1 (or with only ``Forwarded``):
    uvicorn trusts X-Forwarded-For from 127.0.0.1 only, so the client stays loopback."""
    async with _client(world, "::1") as c:
        yield c


@pytest.mark.parametrize("header", [
    {"X-Forwarded-For": "203.0.113.9"},
    {"Forwarded": "for=203.0.113.9;proto=https"},
    {"X-Real-IP": "203.0.113.9"},
])
async def test_a_forwarded_request_is_not_a_loopback_scrape(
        via_proxy: httpx.AsyncClient, header: dict[str, str]) -> None:
    r = await via_proxy.get("/metrics", headers=header)
    assert r.status_code == 401, r.text
    assert "supplyledger_" not in r.text
    # With a login it is served as for any remote client.
    await scrape(via_proxy, {**header, **await bearer(via_proxy, "admin")})


async def test_a_direct_loopback_scrape_needs_no_login(via_proxy: httpx.AsyncClient) -> None:
    await scrape(via_proxy)


async def test_metrics_of_a_node_that_failed(client: httpx.AsyncClient, world: World) -> None:
    world.node._failure = StoreError("disk full")  # what the committer records
    try:
        samples = await scrape(client)
    finally:
        world.node._failure = None
    assert value(samples, "node_failed") == 1
    assert value(samples, "block_height") == world.node.height

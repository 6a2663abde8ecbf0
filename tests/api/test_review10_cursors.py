"""Review 10: a forged cursor holding an integer SQLite cannot store (over 64 bits) was a
500 on every paged list, JSON and pages alike; it is a 422 like any other bad cursor."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from .conftest import bearer

pytestmark = pytest.mark.anyio


def _cursor(key: list[object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


HUGE = [_cursor([10**30]), _cursor([10**30, 10**30]), _cursor([-(10**30), 1])]
LISTS = ["/api/blocks?cursor={}", "/api/tx?cursor={}", "/api/receipts?cursor={}",
         "/api/participants?cursor={}", "/api/organisations?cursor={}",
         "/api/tables/trace_events?cursor={}", "/epcis/events?nextPageToken={}",
         "/explorer?cursor={}", "/explorer?tx_cursor={}", "/tables/orders?cursor={}",
         "/admin?cursor={}"]


@pytest.mark.parametrize("url", LISTS)
async def test_out_of_range_cursors_are_422(client: httpx.AsyncClient, url: str) -> None:
    token = await bearer(client, "admin")
    for c in HUGE:
        r = await client.get(url.format(c), headers=token)
        assert r.status_code == 422, (url, r.text[:200])
        if url.startswith(("/api/", "/epcis/")):
            assert r.json()["error"]["code"] == "validation_error"

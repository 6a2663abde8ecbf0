"""A history table read for one subject (``/tables/order_events?order_id=O1``, the order
page's "the order's history" link; a batch's custody moves; a declaration's customs steps)
was listed in primary-key order, (subject, tx): the order of the transactions' hashes, not
the order things happened. Filtered to one subject it now lists in block order, and its
cursors page on in that order; unfiltered, the primary key still orders it."""

from __future__ import annotations

import httpx
import pytest

from .conftest import World, bearer

pytestmark = pytest.mark.anyio


def _moves(world: World, n: int) -> None:
    """Custody of the world's batch back and forth between the mill and the driver."""
    holders = ["mill", "driver"]
    for i in range(n):
        frm, to = holders[i % 2], holders[(i + 1) % 2]
        pid = world.ok(frm, "custody", "propose", {"batch": world.batch, "to": world.did(to),
                                                   "kind": "custody"})["proposal"]
        world.ok(to, "custody", "accept", {"proposal": pid})


async def test_one_batch_s_custody_history_lists_as_it_happened(
        client: httpx.AsyncClient, world: World) -> None:
    _moves(world, 7)
    h = await bearer(client, "mill")
    url, query = "/api/tables/custody_history", {"batch": world.batch}
    whole = (await client.get(url, params=query, headers=h)).json()["items"]
    heights = [r["height"] for r in whole]
    assert len(whole) >= 7 and heights == sorted(heights), heights
    assert [r["frm"] for r in whole[-7:]] == [world.did(("mill", "driver")[i % 2])
                                            for i in range(7)]
    # Page by page, with the cursors, the same rows in the same order.
    paged, cursor = [], None
    while True:
        page = (await client.get(url, params={**query, "limit": 2, **(
            {"cursor": cursor} if cursor else {})}, headers=h)).json()
        paged += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert paged == whole
    # A cursor of the primary-key order (text, text) is not one of this listing.
    bad = await client.get(url, params={**query, "cursor": "WyJhIiwiYiJd"}, headers=h)
    assert bad.status_code == 422 and "cursor" in bad.text
    # Unfiltered, the table stays in primary-key order.
    rows = (await client.get(url, headers=h)).json()["items"]
    keys = [(r["batch"], r["tx"]) for r in rows]
    assert keys == sorted(keys)

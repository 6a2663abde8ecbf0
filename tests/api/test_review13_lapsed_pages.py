"""Review 13: the admin page's list of lapsed withdrawal instructions (payments rules v3)
checked only the first 1000 open instructions, so with more open a lapsed one past them was
missing, the list saying only that none had lapsed "among the first 1000". It is now paged
like the page's other lists: each page reads a bounded number of open instructions (two
store pages) and links the next, so following the links lists every lapsed one once.
In-process over httpx, on a real SQLite ledger and node, the instructions made by signed
transactions."""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from supplyledger.api import LedgerService, create_app

from .conftest import CHEAP, World
from .test_review11c_withdrawals import _web_login

pytestmark = pytest.mark.anyio
FORM = re.compile(r'<form method="post" action="/contracts/payments/cancel_withdrawal"'
                  r'[^>]*>(.*?)</form>', re.S)
NEXT = re.compile(r'<a id="more-lapsed" href="([^"]+)">')


def _card(page: str) -> str:
    return page.split('id="lapsed-card"', 1)[1].split("</section>", 1)[0]


def _listed(card: str) -> list[str]:
    """The instructions the card offers to cancel, in order."""
    return [htmllib.unescape(m) for form in FORM.findall(card)
            for m in re.findall(r'name="instruction" value="([^"]*)"', form)]


def _instruct(world: World, who: str, ids: list[str]) -> None:
    """Open instructions ``ids`` from ``who``'s own account, paid by the bank."""
    world.ok("bank", "payments", "deposit", {"account": world.did(who), "currency": "EUR",
                                             "amount": len(ids)})
    tickets = [world.node.submit(world.tx(who, "payments", "instruct_withdrawal", {
        "id": iid, "currency": "EUR", "amount": 1, "bank": world.did("bank")}))
        for iid in ids]
    for t in tickets:
        r = t.result(60)
        assert r.ok, r.error


async def _pages(client: httpx.AsyncClient) -> list[str]:
    """The lapsed card of /admin and of every page its "next" links lead to."""
    cards = [_card((await client.get("/admin")).text)]
    while (m := NEXT.search(cards[-1])) is not None:
        r = await client.get(htmllib.unescape(m.group(1)))
        assert r.status_code == 200, r.text[-2000:]
        cards.append(_card(r.text))
        assert len(cards) < 10
    return cards


async def test_a_lapsed_instruction_after_a_thousand_open_ones_is_listed(
        client: httpx.AsyncClient, world: World) -> None:
    _instruct(world, "bank", [f"W-{i:04d}" for i in range(1010)])  # live: the bank stands
    _instruct(world, "customer", ["Z-1"])  # after all of them in key order
    world.ok("admin", "identity", "revoke", {"did": world.did("customer"),
                                             "reason": "key stolen"})
    await _web_login(client, "admin")
    first, *rest = await _pages(client)
    # The first page read its bound (two pages of 500) and found none: it says so and
    # links on, rather than saying that none has lapsed.
    assert 'id="no-lapsed"' not in first and not _listed(first)
    assert "None of the 1000 open instructions checked for this page has lapsed" in first
    assert "Check the open instructions that follow" in first
    assert len(rest) == 1
    assert _listed(rest[0]) == ["Z-1"]
    assert "Customer, who instructed it, is revoked" in rest[0]
    assert 'id="first-lapsed"' in rest[0] and 'id="more-lapsed"' not in rest[0]


# The admin page lists 50 participants a page, so no smaller page maximum serves it.
PAGE_MAX = 50


@pytest.fixture
async def small(world: World) -> AsyncIterator[httpx.AsyncClient]:
    """The app over a second service of the same node whose store pages hold 50 rows: a
    page of the lapsed list reads at most 100 open instructions."""
    svc = LedgerService(world.node, replace(CHEAP, page_max=PAGE_MAX))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(svc)),
                                 base_url="http://test") as c:
        yield c
    svc.close()


async def test_every_lapsed_instruction_is_on_exactly_one_page(
        small: httpx.AsyncClient, world: World) -> None:
    ids = [f"L-{i:03d}" for i in range(230)]
    lapsed = ids[::23]  # 0, 23, ... 207 in key order
    _instruct(world, "customer", lapsed)
    _instruct(world, "shop", [i for i in ids if i not in lapsed])
    world.ok("admin", "identity", "revoke", {"did": world.did("customer"),
                                             "reason": "left the consortium"})
    await _web_login(small, "admin")
    cards = await _pages(small)
    # 100 open instructions a page: 0-99, 100-199, 200-229.
    assert [_listed(c) for c in cards] == [lapsed[:5], lapsed[5:9], lapsed[9:]]
    for card in cards[1:]:  # a later page reloads itself after a cancellation, not page 1
        assert re.search(r'hx-get="/admin\?lapsed_cursor=[A-Za-z0-9_-]+"', card)
        assert 'id="first-lapsed"' in card
    assert 'hx-get="/admin?lapsed_cursor="' in cards[0]


async def test_a_full_page_of_lapsed_ones_links_on_from_the_last_it_shows(
        client: httpx.AsyncClient, world: World) -> None:
    ids = [f"X-{i:02d}" for i in range(25)]  # more than a page shows (20)
    _instruct(world, "customer", ids)
    _instruct(world, "shop", ["X-99"])
    world.ok("admin", "identity", "revoke", {"did": world.did("customer"),
                                             "reason": "key stolen"})
    await _web_login(client, "admin")
    cards = await _pages(client)
    assert [_listed(c) for c in cards] == [ids[:20], ids[20:]]
    assert "Next lapsed instructions" in cards[0]

"""Review 12 in Debian's Chromium: on the trace page an event declared wrong is struck
through and badged, the "Withdrawn links" section shows, and its declaration link leads to
the declaration's transaction. Serves the small test consortium (conftest's world)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from tests.trace.test_review11_recall import PALLET, agg
from tests.trace.test_review12_withdraw import declared

from _serving import chromium, log_in, need_browser, serving_ledger
from supplyledger.ledger.crypto import PrivateKey

from .conftest import PASSWORDS, WHEAT, World, build_world
from .test_browser import SHOTS

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory,
           rsa_keys: list[PrivateKey]) -> Iterator[tuple[str, World]]:
    need_browser()

    world = build_world(tmp_path_factory.mktemp("b12") / "ledger", rsa_keys)
    lot = world.ok("mill", "products", "create_batch", {
        "gtin": WHEAT, "lot": "B1", "quantity": "100", "uom": "KGM"})["batch"]
    pack = agg(8, PALLET, "ADD", lot, 30)
    for events in ([pack], [declared(pack)]):
        world.ok("mill", "trace", "record_events", {"events": json.dumps(events)})
    with serving_ledger(world.service) as url:
        yield url, world


@pytest.fixture
def page(served: tuple[str, World]) -> Iterator[Any]:
    with chromium() as b:
        p = b.new_page(viewport={"width": 1280, "height": 860})
        log_in(p, served[0], "mill", PASSWORDS["mill"])
        yield p


def test_the_declared_event_is_struck_through_and_its_declaration_one_click_away(
        page: Any, served: tuple[str, World]) -> None:
    url = served[0]
    page.goto(url + "/trace?batch=B1")
    wrong = page.locator("li.declared-wrong")
    assert wrong.count() == 1
    line = wrong.locator("h3 del").evaluate("e => getComputedStyle(e).textDecorationLine")
    assert "line-through" in line
    assert wrong.locator(".badge.warn").inner_text() == "declared wrong"
    section = page.locator("#withdrawn")
    assert section.is_visible() and "Withdrawn links (1)" in section.inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "trace-withdrawn.png"), full_page=True)
    href = section.locator("a.declaration").get_attribute("href")
    section.locator("a.declaration").click()
    page.wait_for_url(url + href)
    assert page.locator("h1").first.is_visible()

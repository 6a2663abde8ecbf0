"""Review 11b in Debian's Chromium, where layout and JavaScript matter: the main menu of a
user who sees every item fits on one line at 1280 px, and the enrol form offers only the
roles of the organisation chosen. Serves the small test consortium (conftest's world)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _serving import browser_fixture, log_in, need_browser, serving_ledger
from supplyledger.ledger.crypto import PrivateKey

from .conftest import PASSWORDS, World, build_world
from .test_browser import SHOTS

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory,
           rsa_keys: list[PrivateKey]) -> Iterator[tuple[str, World]]:
    need_browser()

    world = build_world(tmp_path_factory.mktemp("b11b") / "ledger", rsa_keys)
    # An admin who also records events sees every item of the menu but a platform's
    # Dispatch (15, Emissions among them).
    world.ok("admin", "identity", "set_roles", {"did": world.did("admin"),
                                                 "roles": ["admin", "manufacturer"]})
    with serving_ledger(world.service) as url:
        yield url, world


browser = browser_fixture()


@pytest.fixture
def page(browser: Any, served: tuple[str, World]) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 860})
    p = ctx.new_page()
    log_in(p, served[0], "admin", PASSWORDS["admin"])
    yield p
    ctx.close()


def test_the_whole_menu_fits_on_one_line_at_1280px(page: Any) -> None:
    items = page.locator("nav.main-nav li")
    assert items.count() == 15
    tops = {round(items.nth(i).bounding_box()["y"]) for i in range(items.count())}
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(Path(SHOTS) / "menu-1280.png"))
    assert len(tops) == 1, tops


def test_the_enrol_form_offers_the_roles_of_the_chosen_organisation(page: Any,
                                                                    served: tuple[str, World]
                                                                    ) -> None:
    page.goto(served[0] + "/admin")
    roles = page.locator("#en-roles")

    def offered() -> set[str]:
        boxes = roles.locator("input[name=roles]")
        return {boxes.nth(i).get_attribute("value") for i in range(boxes.count())
                if boxes.nth(i).is_visible()}

    page.locator("#en-org").select_option("qa")
    assert offered() == {"inspector"}
    roles.get_by_label("inspector").check()
    page.locator("#en-org").select_option("mill")
    assert offered() == {"manufacturer", "warehouse"}
    assert roles.locator("input:checked").count() == 0  # nothing the mill may not hold

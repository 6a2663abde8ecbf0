"""Review 15: every menu item walked as each demo login, at 1280x800 and on a 390x844 phone,
in Debian's Chromium. What a user tripped over, each pinned here on the test consortium's
real node and SQLite file, served on loopback:

* an admin who is also a platform has 16 menu items: at 1280 px the last, Participants,
  wrapped alone onto a second row;
* on a phone the menu's four rows and the header's three came before every page's content
  (its heading some 330 px down): the menu now folds behind a button there;
* the dashboard's eighth figure (the last audit) wrapped alone at 1280 px, and read "—"
  before any audit had run;
* a date in a narrow table cell broke at its hyphens ("2026-" / "11-20 09:53" / "UTC");
* the area pages headed their tables with raw column names ("frm", "to_", and
  "distance_m" over cells that say "22.7 km") where the table pages read words, and the
  contract forms labelled fields "Gtin", "Uom", "Did", "Duty bp";
* a trace event's badge was glued to its type ("ObjectEventverified");
* the account page named the user's organisation by its id only, a transaction's proof by
  the proposer's participant id only, and a recall its logistic units by their whole
  GS1 Digital Link, unlinked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from tests.trace.test_review11_recall import PALLET, agg

from _serving import PHONE, browser_fixture, page_as, serving_ledger
from _serving import WorldServed as Served
from api.conftest import PASSWORDS, build_world
from supplyledger.api.web.render import NAV
from supplyledger.ledger.crypto import generate

DESK = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The test consortium; its admin is also a platform and a manufacturer (every menu
    item), and the mill's lot is packed onto a pallet."""
    w = build_world(tmp_path_factory.mktemp("walk15") / "ledger",
                    [generate("rsa") for _ in range(6)])
    w.ok("admin", "identity", "set_roles", {"did": w.did("admin"),
                                             "roles": ["admin", "manufacturer", "platform"]})
    w.ok("mill", "trace", "record_events", {
        "events": json.dumps([agg(8, PALLET, "ADD", w.batch, 30)])})
    with serving_ledger(w.service) as url:
        yield Served(url, w, PASSWORDS)


browser = browser_fixture()


def _rows(locator: Any) -> set[int]:
    """The distinct tops of the elements ``locator`` finds: how many rows they make."""
    return {round(locator.nth(i).bounding_box()["y"]) for i in range(locator.count())}


@pytest.mark.browser
def test_all_16_menu_items_fit_one_line_at_1280px(browser: Any, served: Served) -> None:
    p = page_as(browser, served, "admin", DESK)
    items = p.locator("nav.main-nav li")
    assert items.count() == len(NAV) == 16
    assert len(_rows(items)) == 1
    assert not p.locator("nav.main-nav .menu-toggle").is_visible()  # a phone's only
    p.context.close()


@pytest.mark.browser
def test_on_a_phone_the_menu_folds_behind_a_button(browser: Any, served: Served) -> None:
    p = page_as(browser, served, "admin", PHONE)
    p.goto(served.url + "/area/orders")
    button = p.get_by_role("button", name="Menu · Orders")
    assert button.get_attribute("aria-expanded") == "false"
    assert not p.get_by_role("link", name="Participants").is_visible()
    # the page's heading in the first fifth of the screen, not below the menu
    assert p.locator("h1").bounding_box()["y"] < PHONE["height"] / 5
    button.click()
    assert button.get_attribute("aria-expanded") == "true"
    p.get_by_role("link", name="Participants").click()
    p.wait_for_url(served.url + "/admin")
    assert p.get_by_role("button", name="Menu · Participants").is_visible()
    p.context.close()


@pytest.mark.browser
def test_without_javascript_the_phone_shows_the_whole_menu(browser: Any,
                                                           served: Served) -> None:
    p = page_as(browser, served, "admin", PHONE, java_script_enabled=False)
    links = p.locator("nav.main-nav li a")
    assert links.count() == len(NAV)
    assert all(links.nth(i).is_visible() for i in range(links.count()))
    assert not p.locator("nav.main-nav .menu-toggle").is_visible()
    p.context.close()


@pytest.mark.browser
def test_the_dashboard_figures_fill_one_row_at_1280px(browser: Any, served: Served) -> None:
    p = page_as(browser, served, "mill", DESK)
    figures = p.locator("ul.kpis > li")
    assert figures.count() == 8
    assert len(_rows(figures)) == 1
    # before any audit: said, not a dash
    assert figures.last.inner_text().split("\n")[0] == "not run yet"
    p.context.close()


@pytest.mark.browser
def test_a_date_in_a_narrow_cell_breaks_after_the_date_only(browser: Any,
                                                           served: Served) -> None:
    p = page_as(browser, served, "mill", PHONE)
    for path in ("/area/custody", "/area/products", "/tables/custody_history"):
        p.goto(served.url + path)
        times = p.locator("table time")
        assert times.count() > 0, path
        # the boxes the date part ("2026-11-20") is laid out in: one, on one line
        boxes = times.evaluate_all("""ts => ts.map(t => {
            const r = document.createRange();
            r.setStart(t.firstChild, 0); r.setEnd(t.firstChild, 10);
            return [r.toString(), r.getClientRects().length];
        })""")
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\d", d) for d, _ in boxes), boxes
        assert {n for _, n in boxes} == {1}, (path, boxes)
    p.context.close()


def _heads(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<th scope="col" title="([^"]*)">([^<]*)</th>', html)


def test_area_tables_are_headed_in_words_with_the_column_in_the_tooltip(
        served: Served) -> None:
    with served.web("mill") as web:
        custody = web.get("/area/custody").text
        products = web.get("/area/products").text
    heads = _heads(custody) + _heads(products)
    for column, shown in (("frm", "From"), ("to_", "To"), ("tx", "Transaction"),
                          ("for_sale", "For sale"), ("owner_org", "Owner organisation")):
        assert (column, shown) in heads
    assert not [h for _, h in heads if "_" in h or h != h[:1].upper() + h[1:]]
    assert not re.search(r'<th scope="col">[a-z_]+</th>', custody + products)


def test_form_fields_are_labelled_in_words_keeping_the_unit_typed_in(
        served: Served) -> None:
    with served.web("mill") as web:
        products = web.get("/area/products").text
        customs = web.get("/area/customs").text
    for page, field, shown in ((products, "products-create_batch-gtin", "GTIN"),
                               (products, "products-create_batch-uom", "Unit"),
                               (customs, "customs-set_tariff-duty_bp", "Duty (bp)")):
        assert re.search(rf'<label for="{field}">{re.escape(shown)}[ <]', page), field
    labels = re.findall(r'<label for="[^"]+">([^<]*)', products + customs)
    assert not [t for t in labels if "_" in t or re.match(r"(Gtin|Uom|Did|Id|Gln)\b", t)]


def test_an_event_s_badge_stands_apart_from_its_type(served: Served) -> None:
    with served.web("mill") as web:
        html = web.get("/trace", params={"batch": "L20260101"}).text
    assert 'ObjectEvent</span> <span class="badge good">verified</span>' in html
    assert "</span><span class=\"badge" not in html


def test_the_account_page_names_the_organisation(served: Served) -> None:
    with served.web("mill") as web:
        html = web.get("/account").text
    assert "<dt>Organisation</dt><dd>Mill <code>mill</code></dd>" in html


def test_a_transaction_s_proof_names_the_proposer(served: Served) -> None:
    tx = served.world.service.reads.txs(1, None).items[0]["id"]
    with served.web("mill") as web:
        html = web.get(f"/explorer/tx/{tx}").text
    verdict = re.search(r'<p class="ok" role="status">([^<]*)</p>', html)
    assert verdict, html
    assert "header signed by node-1" in verdict.group(1)
    assert "did:" not in verdict.group(1)


def test_a_recall_names_a_logistic_unit_by_its_sscc_and_links_its_trace(
        served: Served) -> None:
    sscc = PALLET.rsplit("/", 1)[-1]
    with served.web("mill") as web:
        html = web.get("/recall", params={"batch": "L20260101"}).text
        row = re.search(r"<tr[^>]*><td[^>]*>logistic unit</td>(.*?)</tr>", html, re.S)
        assert row, html
        assert (f'<a href="/trace?batch={quote(PALLET, safe="")}" title="{PALLET}">{sscc}</a>'
                ' <small class="muted">SSCC</small>') in row.group(1)
        traced = web.get("/trace", params={"batch": PALLET})
    assert traced.status_code == 200 and sscc in traced.text

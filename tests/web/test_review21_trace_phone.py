"""Review 21, the trace page on a phone, against six weeks of the demo served on loopback
(the parcel lot of the yeast round's first order, carried by its shipment, flour lot
no. 2 with a packing an error declaration withdrew). Pinned:

* on a small phone (375 px) the trace page's own table, the shipments that carried the
  batch, scrolled sideways: its rows stack as the recall page's tables do, each cell after
  its column's name, and it stays a table to a screen reader;
* every table the trace page shows (the shipments, the withdrawn links) stacks there, and
  the page is no wider than the phone;
* on a desktop the shipments table is laid out as before: its headings shown, a row's
  cells side by side.
"""

from __future__ import annotations

from typing import Any

import pytest

from _serving import DemoServed as Served
from _serving import browser_fixture, demo_fixture, page_as
from api.conftest import CHEAP
from supplyledger.demo.load import demo_lot_ids, demo_round_order
from supplyledger.node.service import wall_clock_ms
from web.test_review21_recall_more import _subtree_roles

NOW = wall_clock_ms()  # the demo's clock: its lots are named by their days
served = demo_fixture("trace21", weeks=6, api=CHEAP, now_ms=NOW)
browser = browser_fixture()

ORDER = demo_round_order(NOW, 6, 0)  # the yeast round's first order, its parcel and plan
SHIPPED, PLAN, MISPACKED = f"P{ORDER}", f"PA-{ORDER[1:6]}", demo_lot_ids(NOW, 6, 2)[1]
SMALL_PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
SHIPMENT_HEADINGS = ["Shipment", "Carrier", "Status", "Order", "CO₂e"]


def _stacked(table: Any) -> None:
    """``table`` does not scroll sideways in its box, each cell shows its column's heading
    before it and holds it, and the cells are one above the other."""
    box = table.locator("xpath=..")
    assert box.evaluate("e => e.scrollWidth <= e.clientWidth"), box.evaluate(
        "e => [e.scrollWidth, e.clientWidth]")
    headings = table.locator("thead th").all_inner_texts()
    rows = table.locator("tbody tr")
    assert rows.count() >= 1
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td").evaluate_all("""es => es.map(e => {
            const s = getComputedStyle(e), b = getComputedStyle(e, '::before');
            return [b.content, parseFloat(b.height),
                    e.clientHeight - parseFloat(s.paddingTop) - parseFloat(s.paddingBottom),
                    e.getBoundingClientRect().top];
        })""")
        assert [c[0] for c in cells] == [f'"{h}" / ""' for h in headings]
        assert all(label <= inside for _, label, inside, _ in cells), cells
        tops = [c[3] for c in cells]
        assert tops == sorted(tops) and len(set(tops)) == len(tops), tops


@pytest.mark.browser
def test_on_a_small_phone_the_shipments_stack_and_stay_a_table(
        browser: Any, served: Served) -> None:
    p = page_as(browser, served, "inspector", SMALL_PHONE)
    try:
        p.goto(served.url + f"/trace?batch={SHIPPED}")
        assert p.evaluate("document.documentElement.scrollWidth") <= SMALL_PHONE["width"]
        table = p.locator("#shipments table")
        assert table.locator("thead th").all_inner_texts() == SHIPMENT_HEADINGS
        assert table.locator("tbody tr").count() == 1
        _stacked(table)
        # the shipment, its carrier, status, order and share are all there to read
        assert f"{PLAN}/CV1" in table.locator("tbody td").first.inner_text()
        assert table.locator("tbody td").last.inner_text().endswith("g (the order's share)")
        # and to a screen reader it is still a table with its headings, rows and cells
        cdp = p.context.new_cdp_session(p)
        nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
        inside = _subtree_roles(nodes, "table", f"Shipments that carried {SHIPPED}")
        assert [n for r, n in inside if r == "columnheader"] == SHIPMENT_HEADINGS
        assert sum(1 for r, _ in inside if r == "row") == 2  # headings + the one shipment
        assert sum(1 for r, _ in inside if r == "cell") == 5
    finally:
        p.context.close()


@pytest.mark.browser
def test_on_a_small_phone_every_table_of_the_trace_page_stacks(
        browser: Any, served: Served) -> None:
    p = page_as(browser, served, "inspector", SMALL_PHONE)
    try:
        for batch, tables in ((SHIPPED, 1), (MISPACKED, 1)):
            p.goto(served.url + f"/trace?batch={batch}")
            assert p.evaluate("document.documentElement.scrollWidth") \
                <= SMALL_PHONE["width"], batch
            found = p.locator("main table")
            assert found.count() == tables, batch
            for i in range(tables):
                assert "stack" in (found.nth(i).get_attribute("class") or "").split()
                _stacked(found.nth(i))
    finally:
        p.context.close()


@pytest.mark.browser
def test_on_a_desktop_the_shipments_table_is_laid_out_as_before(
        browser: Any, served: Served) -> None:
    p = page_as(browser, served, "inspector", DESKTOP)
    try:
        p.goto(served.url + f"/trace?batch={SHIPPED}")
        table = p.locator("#shipments table")
        assert table.evaluate("e => getComputedStyle(e).display") == "table"
        assert table.locator("thead th").first.is_visible()
        # its caption is for screen readers only: no line above the headings
        assert all(w <= 1 for w in table.locator("caption").evaluate_all(
            "es => es.map(e => e.getBoundingClientRect().width)"))
        cells = table.locator("tbody td").evaluate_all("""es => es.map(e => [
            getComputedStyle(e, '::before').content, e.getBoundingClientRect().top,
            e.getBoundingClientRect().left])""")
        assert {c[0] for c in cells} == {"none"}
        assert len({c[1] for c in cells}) == 1  # one line, side by side
        assert [c[2] for c in cells] == sorted(c[2] for c in cells)
    finally:
        p.context.close()

"""Review 21, recall follow-ups, against six weeks of the demo served on loopback (flour
lot no. 2 packed whole onto pallet 169012340000000020 after a packing onto
169012340000000013 was declared wrong, its wheat lot milled whole). Pinned:

* ``/recall.csv`` had only ``remaining``, so a palletised lot read 0 there with nothing to
  say where it went: it ends with ``consumed``, ``packed`` and ``packed_on``, as the page
  says them (the same parts), the earlier columns where they were;
* on a phone (375 px) the recall page's withdrawn-links table scrolled sideways: it stacks
  as the affected table does, each cell after its column's name, and stays a table to a
  screen reader.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest

from _serving import DemoServed as Served
from _serving import browser_fixture, demo_fixture, page_as
from api.conftest import CHEAP
from supplyledger.api.web.pages_trace import recall_csv
from supplyledger.demo.load import demo_lot_ids
from supplyledger.node.service import wall_clock_ms

NOW = wall_clock_ms()  # the demo's clock: its lots are named by their days
served = demo_fixture("recall21", weeks=6, api=CHEAP, now_ms=NOW)
browser = browser_fixture()

WHEAT, MISPACKED = demo_lot_ids(NOW, 6, 2)
PALLET, WRONG_PALLET = "169012340000000020", "169012340000000013"
SMALL_PHONE = {"width": 375, "height": 812}
# The columns scripts read by position before these follow-ups: they stay, in this order.
EARLIER = ["kind", "id", "name", "gtin", "quantity", "uom", "remaining", "owner",
           "owner_organisation", "held_by", "holder_organisation", "lots", "last_event"]


def _csv(served: Served, batch: str) -> list[list[str]]:
    with served.web("inspector") as web:
        r = web.get("/recall.csv", params={"batch": batch})
    assert r.status_code == 200, r.text[-2000:]
    return list(csv.reader(io.StringIO(r.text)))


def _by_name(rows: list[list[str]]) -> dict[str, dict[str, str]]:
    return {row[2]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}


def test_the_recall_csv_says_where_a_lot_went_in_columns_at_the_end(served: Served) -> None:
    rows = _csv(served, WHEAT)
    assert rows[0] == [*EARLIER, "consumed", "packed", "packed_on"]
    assert all(len(r) == len(rows[0]) for r in rows)
    lots = _by_name(rows)
    # packed whole on its pallet: "0 remaining" now says where the 15000 went
    flour = lots[MISPACKED]
    assert (flour["quantity"], flour["remaining"]) == ("15000", "0")
    assert (flour["consumed"], flour["packed"], flour["packed_on"]) == ("0", "15000", PALLET)
    # milled whole: consumed, on no unit
    wheat = lots[WHEAT]
    assert (wheat["remaining"], wheat["consumed"], wheat["packed"], wheat["packed_on"]) \
        == ("0", "20000", "0", "")
    # a unit or shipment has no quantity of its own
    for name in (PALLET, "bill of lading GWM00002"):
        assert [lots[name][c] for c in ("consumed", "packed", "packed_on")] == ["", "", ""]


def test_the_recall_csv_names_the_units_the_page_names(served: Served) -> None:
    """The unit a lot is on is the one the page's Quantity cell links, not the pallet a
    packing declared wrong put it on first (the page's and the list's come from one
    helper)."""
    lot = _by_name(_csv(served, MISPACKED))[MISPACKED]
    assert lot["packed_on"] == PALLET and WRONG_PALLET not in ",".join(lot.values())
    with served.web("inspector") as web:
        page = web.get("/recall", params={"batch": MISPACKED}).text
    row = next(r for r in re.findall(r"<tr[ >].*?</tr>", page, re.S) if f">{MISPACKED}</a>" in r)
    quantity = re.findall(r'<td[^>]*data-label="Quantity"[^>]*>(.*?)</td>', row, re.S)[0]
    assert re.findall(r">(\d{18})</a>", quantity) == [lot["packed_on"]]


def test_several_units_and_a_nested_one_read_as_the_page_says_them() -> None:
    """Parts as ``_where_goods_are`` leaves them (the demo packs no lot on two units):
    each unit with its amount when there are several, and the unit it is packed in."""
    unit = "https://id.gs1.org/00/"
    lot = {"kind": "lot", "id": "x", "lot": "L1", "quantity": "100", "uom": "KGM",
           "remaining": "10", "parts": [
               {"what": "consumed", "amount": "30", "on": [], "whole": False},
               {"what": "packed", "amount": "60", "whole": False, "on": [
                   {"unit": unit + "111", "amount": "20", "outer": ""},
                   {"unit": unit + "222", "amount": "40", "outer": unit + "999"}]},
               {"what": "left", "amount": "10", "on": [], "whole": False}]}
    untouched = {"kind": "lot", "id": "y", "lot": "L2", "quantity": "5", "uom": "KGM",
                 "remaining": "5"}
    unknown = {"kind": "lot", "id": "z", "lot": "L3", "quantity": "", "uom": "",
               "remaining": None}
    rows = list(csv.reader(io.StringIO(recall_csv([lot, untouched, unknown], {}))))
    assert [r[-3:] for r in rows[1:]] == [
        ["30", "60", "111 (20); 222 (40) in 999"], ["0", "0", ""], ["", "", ""]]


def _subtree_roles(nodes: list[dict[str, Any]], role: str,
                   name: str) -> list[tuple[str, str]]:
    """(role, name) of every node under the unignored accessibility node ``role`` named
    ``name`` (Chromium's own tree), ignored nodes passed through."""
    by_id = {n["nodeId"]: n for n in nodes}
    top = next(n for n in nodes if not n.get("ignored")
               and n.get("role", {}).get("value") == role
               and n.get("name", {}).get("value") == name)
    out, todo = [], list(top.get("childIds", ()))
    while todo:
        n = by_id.get(todo.pop(0))
        if n is None:
            continue
        if not n.get("ignored"):
            out.append((n.get("role", {}).get("value"), n.get("name", {}).get("value")))
        todo += n.get("childIds", ())
    return out


@pytest.mark.browser
def test_on_a_small_phone_the_withdrawn_links_stack_and_stay_a_table(
        browser: Any, served: Served) -> None:
    p = page_as(browser, served, "inspector", SMALL_PHONE)
    try:
        p.goto(served.url + f"/recall?batch={MISPACKED}")
        assert p.evaluate("document.documentElement.scrollWidth") <= SMALL_PHONE["width"]
        table = p.locator("#withdrawn table")
        assert table.locator("tbody tr").count() == 1
        box = table.locator("xpath=..")
        assert box.evaluate("e => e.scrollWidth <= e.clientWidth"), box.evaluate(
            "e => [e.scrollWidth, e.clientWidth]")
        # every cell says on screen which column it is in, its heading's words, and
        # holds them: the name never runs into the next cell, however it wraps
        headings = table.locator("thead th").all_inner_texts()
        cells = table.locator("tbody td").evaluate_all("""es => es.map(e => {
            const s = getComputedStyle(e), b = getComputedStyle(e, '::before');
            return [b.content, parseFloat(b.height),
                    e.clientHeight - parseFloat(s.paddingTop) - parseFloat(s.paddingBottom)];
        })""")
        assert [c[0] for c in cells] == [f'"{h}" / ""' for h in headings]
        assert all(label <= inside for _, label, inside in cells), cells
        # stacked: the cells are one above the other, not side by side
        tops = table.locator("tbody td").evaluate_all(
            "es => es.map(e => e.getBoundingClientRect().top)")
        assert tops == sorted(tops) and len(set(tops)) == len(tops)
        # and to a screen reader it is still a table with its headings, rows and cells
        cdp = p.context.new_cdp_session(p)
        nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
        inside = _subtree_roles(nodes, "table", "Links an error declaration withdrew")
        assert {n for r, n in inside if r == "columnheader"} == {
            "Link", "Made by the event", "Withdrawn by"}
        assert sum(1 for r, _ in inside if r == "row") == 2  # headings + the one link
        assert sum(1 for r, _ in inside if r == "cell") == 3
    finally:
        p.context.close()

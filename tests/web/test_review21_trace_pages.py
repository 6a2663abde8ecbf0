"""Review 21: the trace and recall pages against six weeks of the demo served on loopback
(the faulty lot no. 3 whose processing row the demo rewrote, the flour lot no. 2
packed whole onto pallet 169012340000000020, the wheat lots milled whole). Pinned here:

* an event whose row this node's copy changed showed the changed value on its line while
  its fault line said what the ledger holds: the line now shows the ledger's value, the
  copy's marked after it (and the trace answer's row fault carries the ledger's values);
* a lot packed whole read "15000 kg (0 kg left)", as if gone: the page says it is all
  packed, on which unit, and a lot milled whole that it was consumed;
* on a phone (375 px) the recall table scrolled sideways: its rows stack, and it is still
  a table, with its column headings, to a screen reader.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

import pytest

from _serving import DemoServed as Served
from _serving import browser_fixture, demo_fixture, page_as
from api.conftest import CHEAP
from supplyledger.demo.load import demo_lot_ids
from supplyledger.node.service import wall_clock_ms
from supplyledger.store.sqlite import DB_NAME

NOW = wall_clock_ms()  # the demo's clock: its lots are named by their days
served = demo_fixture("trace21", weeks=6, api=CHEAP, now_ms=NOW)
browser = browser_fixture()

FAULTY, MISPACKED, HOT = (demo_lot_ids(NOW, 6, n)[1] for n in (3, 2, 8))
LOT = "https://id.gs1.org/01/06901234000023/10/"
PALLET = "169012340000000020"
SMALL_PHONE = {"width": 375, "height": 812}


def _get(served: Served, path: str, **params: str) -> str:
    with served.web("inspector") as web:
        r = web.get(path, params=params)
    assert r.status_code == 200, r.text[-2000:]
    return str(r.text)


def _event_items(page: str) -> list[str]:
    """The trace page's event lines (timeline items), in order."""
    timeline = page[page.index('<ol class="timeline">'):]
    timeline = timeline[:timeline.index("</ol>\n")]
    return timeline.split('<li class="link ')[1:]


def _row_fault_item(page: str) -> str:
    items = [i for i in _event_items(page) if "stored data disagrees with the ledger" in i]
    assert len(items) == 1
    return items[0]


def test_a_changed_row_is_shown_as_the_ledger_holds_it_and_marked(served: Served) -> None:
    item = _row_fault_item(_get(served, "/trace", batch=FAULTY))
    assert "disposition &#39;active&#39; (ledger: &#39;non_conformant&#39;)" in item
    meta = re.search(r'<p class="meta">Batch .*?</p>', item, re.S)
    assert meta, item
    # the ledger's value on the event line, the copy's after it, in words
    assert re.search(r"disposition <code>non_conformant</code> <small class=\"changed\">"
                     r"\(this node's copy says <del>active</del>\)</small>", meta[0])
    assert "<code>active</code>" not in meta[0]
    assert '<span class="badge bad">faulty link</span>' in item
    # the API's row fault says the same, column by column
    with served.api("inspector") as api:
        res = api.get("/api/trace", params={"batch": LOT + FAULTY}).json()
    row = [f for f in res["faults"] if f["kind"] == "row"]
    assert len(row) == 1 and row[0]["ledger"]["disposition"] == "non_conformant"
    assert all("ledger" not in f for f in res["faults"] if f["kind"] != "row")


def test_a_changed_link_and_signer_read_as_the_ledger_has_them(served: Served) -> None:
    """An insider rewrites the hot lot's processing row (its first event, before the
    sensor alarm): another link, another signer. The faulty-link summary and the event
    line name the ledger's; the copy's are marked, not shown as the event's."""
    batch = LOT + HOT
    conn = sqlite3.connect(served.info.data_dir / DB_NAME)
    try:
        link, signer = conn.execute("SELECT link, signer FROM trace_events WHERE batch=? "
                                    "AND seq=1", (batch,)).fetchone()
        conn.execute("UPDATE trace_events SET link='sales', signer='did:sl:forged' "
                     "WHERE batch=? AND seq=1", (batch,))
        conn.commit()
    finally:
        conn.close()
    assert link == "processing"
    page = _get(served, "/trace", batch=HOT)
    summary = page[page.index('id="faulty-summary"'):page.index('id="fault-todo"')]
    assert "<strong>Faulty link: processing</strong>" in summary
    item = _row_fault_item(page)
    assert re.search(r"<h3>Processing <small class=\"changed\">\(this node's copy says "
                     r"<del>sales</del>\)</small>", item)
    name = served.service.node.store.participant_names([signer])[signer][0]
    assert name and f"by <strong>{name}</strong>" in item
    assert "this node's copy says <del>did:sl:forged</del>" in item
    with served.api("inspector") as api:
        faults = api.get("/api/trace", params={"batch": batch}).json()["faults"]
    row = next(f for f in faults if f["kind"] == "row" and f["seq"] == 1)
    assert row["ledger"]["link"] == "processing" and row["ledger"]["signer"] == signer


def _quantity_cell(page: str, lot: str) -> str:
    """The Quantity cell (the third) of the recall table's row of ``lot``."""
    rows = re.findall(r"<tr[ >].*?</tr>", page, re.S)
    row = next(r for r in rows if f">{lot}</a>" in r)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert len(cells) == 6, row
    return cells[2]


def test_the_recall_says_a_packed_lot_is_on_its_pallet(served: Served) -> None:
    cell = _quantity_cell(_get(served, "/recall", batch=MISPACKED), MISPACKED)
    assert "left" not in cell  # not "0 kg left": the goods are on the pallet
    text = re.sub(r"<[^>]+>", "", cell)
    assert re.sub(r"\s+", " ", text).strip() == f"15000 kg (all packed on {PALLET})"
    assert f'href="/trace?batch=https%3A%2F%2Fid.gs1.org%2F00%2F{PALLET}"' in cell
    # it was packed on another pallet first and taken off it: that one is not named
    assert "169012340000000013" not in cell


def test_the_recall_says_a_milled_lot_was_consumed(served: Served) -> None:
    wheat = demo_lot_ids(NOW, 6, 2)[0]
    cell = _quantity_cell(_get(served, "/recall", batch=wheat), wheat)
    assert re.sub(r"<[^>]+>|\s+", " ", cell).split() == ["20000", "kg", "(all", "consumed)"]


@pytest.mark.browser
def test_on_a_small_phone_the_recall_table_stacks_and_stays_a_table(
        browser: Any, served: Served) -> None:
    p = page_as(browser, served, "inspector", SMALL_PHONE)
    try:
        p.goto(served.url + f"/recall?batch={MISPACKED}")
        width = SMALL_PHONE["width"]
        assert p.evaluate("document.documentElement.scrollWidth") <= width
        # nothing scrolls sideways inside the page either: the table fits its box
        table = p.locator("section[aria-labelledby=aff] table")
        box = table.locator("xpath=..")
        assert box.evaluate("e => e.scrollWidth <= e.clientWidth"), box.evaluate(
            "e => [e.scrollWidth, e.clientWidth]")
        # each cell says which column it is in, on screen
        label = table.locator("tbody td").nth(3).evaluate(
            "e => getComputedStyle(e, '::before').content")
        assert "Held by" in label
        # and to a screen reader it is still a table: Chromium's own accessibility tree
        cdp = p.context.new_cdp_session(p)
        nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
        roles = [(n.get("role", {}).get("value"), n.get("name", {}).get("value"))
                 for n in nodes if not n.get("ignored")]
        assert ("table", f"What a recall of {MISPACKED} reaches") in roles
        headers = {name for role, name in roles if role == "columnheader"}
        assert {"Kind", "Id / lot", "Quantity", "Held by", "Owner"} <= headers
        assert sum(1 for role, _ in roles if role == "row") >= 5  # headings + 4 entries
        assert any(role == "cell" for role, _ in roles)
    finally:
        p.context.close()

"""Review 20: a quality manager's and an inspector's morning on the trace and recall pages,
against six weeks of the demo served on loopback (the faulty lot no. 3, the hot lot no. 8, the
mis-packed lot no. 2, the cold-chain breach of a platform lot).
What they tripped over, each pinned here:

* the faulty-link summary said what was wrong but not what to do: nothing pointed at the
  recall of the faulty batch, nor said that a changed record is the node's copy to have
  checked, not goods to recall; a cold-chain breach read as "(event 0)";
* an SSCC typed as every page shows it (18 digits) was "no batch or traced object";
* the shipments the trace answer carries (carrier, status, order, plan) were not shown;
  a batch without events showed an empty list under "Events in ledger order (0)";
* the recall list could not be exported for the holders, named shipments by raw URNs,
  did not show the lots' owners, nor say what a recall does not follow.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest

from _serving import PHONE, browser_fixture, demo_fixture, page_as
from _serving import DemoServed as Served
from api.conftest import CHEAP
from supplyledger.demo.load import demo_lot_ids, demo_round_order
from supplyledger.node.service import wall_clock_ms

NOW = wall_clock_ms()  # the demo's clock: its lots are named by their days
served = demo_fixture("trace20", weeks=6, api=CHEAP, now_ms=NOW)
browser = browser_fixture()

FAULTY, HOT, MISPACKED = (demo_lot_ids(NOW, 6, n)[1] for n in (3, 8, 2))
# the day the mis-packed lot was milled, in the pages' UTC times
MISPACKED_DAY = f"{MISPACKED[:4]}-{MISPACKED[4:6]}-{MISPACKED[6:8]}"
# the yeast round's first order, its parcel lot, plan and shipment (named by its day)
ORDER = demo_round_order(NOW, 6, 0)
PARCEL, PLAN = f"P{ORDER}", f"PA-{ORDER[1:6]}"
LOT = "https://id.gs1.org/01/06901234000023/10/"


def _get(served: Served, path: str, **params: str) -> Any:
    with served.web("inspector") as web:
        return web.get(path, params=params)


def _box(html: str, ident: str) -> str:
    found = re.search(rf'<(div|section|p|ul)[^>]*id="{ident}".*?</\1>', html, re.S)
    assert found, ident
    return found.group(0)


def test_the_faulty_link_summary_says_to_hold_and_recall_and_to_check_the_copy(
        served: Served) -> None:
    summary = _box(_get(served, "/trace", batch=FAULTY).text, "faulty-summary")
    todo = _box(summary, "fault-todo")
    # the goods are wrong (non-conformant, too moist): hold and recall the faulty batch
    assert re.search(rf"hold what is left of batch <code>{FAULTY}</code> and recall", todo)
    assert f'href="/recall?batch={LOT.replace(":", "%3A").replace("/", "%2F")}' \
           f'{FAULTY}"' in todo
    # the demo also changed this node's copy of that event's row: have it checked
    assert "disagree with the signed ledger" in todo and 'href="/audit"' in todo
    # a sensor alarm alone: hold and recall, nothing about the node's copy
    hot = _box(_box(_get(served, "/trace", batch=HOT).text, "faulty-summary"), "fault-todo")
    assert f"hold what is left of batch <code>{HOT}</code>" in hot
    assert "/audit" not in hot


def test_a_breach_is_named_with_its_transaction_and_its_shipments_are_shown(
        served: Served) -> None:
    lot = served.info.notes["logistics"]["breached_lot"]
    page = _get(served, "/trace", batch=lot).text
    summary = _box(page, "faulty-summary")
    assert "(event 0)" not in summary
    tx = re.search(r'a cold-chain breach reported in <a href="/explorer/tx/([0-9a-f]{64})">',
                   summary)
    assert lot.endswith(f"/10/{PARCEL}")  # the parcel lot of the round's first order
    assert tx and f"hold what is left of batch <code>{PARCEL}</code>" in summary
    ships = _box(page, "shipments")
    assert "SwiftExpress dispatch" in ships and "did:sl:" not in ships  # the carrier's name
    assert "UTC" in ships  # promised and arrival times say their zone
    links = re.findall(r'href="([^"]+)"', ships)
    assert f"/tables/shipments?id={PLAN}%2FCV1" in links
    assert f"/dispatch/plans/{PLAN}" in links and f"/tables/orders?id={ORDER}" in links
    assert 'id="no-events"' in page  # no EPCIS events: said, not an empty list
    with served.web("inspector") as web:
        for href in [*links, f"/explorer/tx/{tx.group(1)}"]:
            r = web.get(href)
            assert r.status_code == 200, href
        assert f"{PLAN}/CV1" in web.get(links[0]).text


@pytest.mark.parametrize("typed", ["169012340000000037", "00169012340000000037",
                                   "(00)169012340000000037"])
def test_an_sscc_as_the_pages_show_it_is_traced_and_recalled(served: Served,
                                                             typed: str) -> None:
    trace = _get(served, "/trace", batch=typed)
    assert trace.status_code == 200
    assert '<span class="chip here">169012340000000037</span>' in trace.text
    recall = _get(served, "/recall", batch=typed)
    assert recall.status_code == 200 and "Affected (" in recall.text


def test_a_wrong_check_digit_is_still_not_found(served: Served) -> None:
    r = _get(served, "/trace", batch="169012340000000038")
    assert r.status_code == 404 and "no batch or traced object" in r.text


def test_the_recall_page_names_shipments_owners_and_what_it_does_not_follow(
        served: Served) -> None:
    page = _get(served, "/recall", batch=MISPACKED).text
    table = page[page.index('id="aff"'):page.index('id="withdrawn"')]
    cells = re.sub(r'title="[^"]*"', "", table)
    assert "bill of lading GWM00002" in cells and "urn:supplyledger:bol" not in cells
    assert re.search(rf"last event <time [^>]*>{MISPACKED_DAY} 13:52 UTC</time>", table)
    assert '<th scope="col">Owner</th>' in table
    scope = _box(page, "recall-scope")
    assert "downstream only" in scope and "error declaration withdrew" in scope
    assert 'href="/recall.csv?batch=' in _box(page, "recall-export")


def test_the_recall_list_downloads_as_csv_for_the_holders(served: Served) -> None:
    r = _get(served, "/recall.csv", batch=MISPACKED)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert f'filename="recall-{MISPACKED}.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(x["kind"], x["name"]) for x in rows] == [
        ("lot", MISPACKED), ("logistic unit", "169012340000000020"),
        ("shipment", "bill of lading GWM00002"), ("shipment", "bill of lading GWL00002")]
    lot = rows[0]
    assert lot["id"] == LOT + MISPACKED and lot["quantity"] == "15000"
    assert lot["held_by"] and not lot["held_by"].startswith("did:")
    assert lot["holder_organisation"] and lot["owner"] and lot["owner_organisation"]
    assert rows[2]["lots"] == "169012340000000020"
    assert rows[2]["last_event"] == f"{MISPACKED_DAY} 13:52 UTC"
    # what the page shows is what the list holds
    page = _get(served, "/recall", batch=MISPACKED).text
    assert f"{lot['held_by']}</td>" in page
    assert _get(served, "/recall.csv", batch="NOPE-1").status_code == 404


@pytest.mark.browser
def test_on_a_phone_the_recall_list_downloads_and_nothing_runs_off_the_screen(
        browser: Any, served: Served) -> None:
    p = page_as(browser, served, "inspector", PHONE, accept_downloads=True)
    try:
        for path in (f"/trace?batch={FAULTY}", f"/recall?batch={MISPACKED}"):
            p.goto(served.url + path)
            assert p.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert p.locator("#fault-todo").count() == 0  # (the recall page has none)
        with p.expect_download() as got:
            p.get_by_role("link", name="Download the whole list (CSV)").click()
        download = got.value
        assert download.suggested_filename == f"recall-{MISPACKED}.csv"
        text = Path(download.path()).read_text(encoding="utf-8")
        assert text.startswith("kind,id,name,") and "bill of lading GWM00002" in text
    finally:
        p.context.close()

"""Review 13 follow-ups in the web UI, on the test consortium's real node and SQLite file,
served on loopback (Debian's Chromium where layout matters):

* on a 390 px phone the account page's balances table hid the balance itself behind
  sideways scrolling (account, currency and kind came first); and a bank, which comes to
  the page to pay out, found its pay-out list below every other card;
* the trace page showed event and declaration times as raw ISO text where every other page
  reads "2026-01-05 08:00 UTC"; and three faults on one link read "3 faults in this
  genealogy", as if three links were faulty;
* table pages were headed by raw column names (``biz_step``, ``unit_price``, ``by_``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from _serving import PHONE, browser_fixture, page_as, serving_ledger
from _serving import WorldServed as Served
from api.conftest import PASSWORDS, build_world
from api.test_review12_trace import _lot, _packing_declared_wrong
from supplyledger.api.links import LINKS, build_event
from supplyledger.gs1 import gtin_check_digit
from supplyledger.ledger.crypto import generate
from supplyledger.logistics.kpi_format import money
from supplyledger.node.service import wall_clock_ms

BANK_PW = "bank-pass-12"
BIG = 1_234_567_890  # EUR 12,345,678.90: a wide amount
MOIST = "690123400002" + str(gtin_check_digit("690123400002"))  # has sensor limits
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The test consortium; the bank has a web login, the customer money in two currencies
    (one amount wide) and one withdrawal instruction naming the bank."""
    rsa = [generate("rsa") for _ in range(6)]
    w = build_world(tmp_path_factory.mktemp("followups") / "ledger", rsa)
    w.service.accounts.create(w.did("bank"), "bank", BANK_PW, w.keys["bank"])
    for ccy, amount in (("EUR", BIG), ("CNY", 89_815)):
        w.ok("bank", "payments", "deposit", {"account": w.did("customer"), "currency": ccy,
                                             "amount": amount})
    w.ok("customer", "payments", "instruct_withdrawal", {
        "id": "W-1", "currency": "EUR", "amount": 4_000, "bank": w.did("bank")})
    with serving_ledger(w.service) as url:
        yield Served(url, w, {**PASSWORDS, "bank": BANK_PW})


browser = browser_fixture()


def _text(html: str) -> str:
    """What a reader sees: the page without its tags (and so without tooltips)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def test_balances_read_whole_on_a_phone(browser: Any, served: Served) -> None:
    p = page_as(browser, served, "customer", PHONE)
    p.goto(served.url + "/account")
    table = p.locator("#money table").first
    assert table.locator("caption").inner_text().startswith("Your balances")
    for amount, ccy in ((BIG - 4_000, "EUR"), (89_815, "CNY")):
        # (not scrolled into view: that would scroll the table sideways to it)
        box = table.get_by_text(money(amount, ccy), exact=True).bounding_box()
        assert box is not None, amount
        assert 0 <= box["x"] <= box["x"] + box["width"] <= PHONE["width"], (amount, box)
    # nothing in the table is out of sight to the side either
    assert table.evaluate("t => t.parentElement.scrollWidth <= t.parentElement.clientWidth")
    assert p.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    p.context.close()


def test_a_bank_finds_its_pay_outs_first(served: Served) -> None:
    with served.web("bank") as web:
        page = web.get("/account").text
    payouts = page.find("Open instructions for you to pay out</caption>")
    assert payouts != -1, "no pay-out list"
    assert payouts < page.find(">Change password</h2>") < page.find(">Balances and withdrawals")
    first = page[payouts:page.find("</table>", payouts)]
    assert 'href="/contracts/payments/withdraw?instruction=W-1&amp;' in first
    with served.web("customer") as web:
        assert 'id="payouts"' not in web.get("/account").text  # not a bank: no such list


def test_trace_times_read_as_on_every_other_page(served: Served) -> None:
    """An event packed at 08:00 (+08:00), declared wrong at 08:00 (+08:00) three days on:
    the timeline and the withdrawn link read in UTC, as recorded in their tooltips."""
    lot = _lot(served.world, "F1")
    _packing_declared_wrong(served.world, lot)
    with served.web("mill") as web:
        trace = web.get("/trace", params={"batch": "F1"}).text
        recall = web.get("/recall", params={"batch": "F1"}).text
    for page in (trace, recall):
        seen = _text(page)
        assert not ISO.search(seen), ISO.search(seen)
        assert "at 2019-12-20 00:00 UTC" in seen  # the packing, behind the withdrawn link
        assert "declared 2019-12-23 00:00 UTC" in seen
        assert 'title="2019-12-23T08:00:00.000+08:00"' in page
    assert "(declared 2019-12-23 00:00 UTC)" in _text(trace)  # the declaration's own entry
    assert 'title="2019-12-20T00:00:00.000Z">2019-12-20 00:00 UTC</time>' in trace


def test_faults_are_counted_with_the_links_they_are_on(served: Served) -> None:
    w = served.world
    w.ok("mill", "products", "create_product", {
        "gtin": MOIST, "name": "Bran", "limits": {
            "Temperature": {"max": "8", "uom": "CEL"},
            "RelativeHumidity": {"max": "14", "uom": "P1"}}})
    batch = w.ok("mill", "products", "create_batch", {
        "gtin": MOIST, "lot": "B-FAULTS", "quantity": "10", "uom": "KGM"})["batch"]

    def inspect(**kw: Any) -> None:
        w.ok("inspector", "trace", "record_event", {"batch": batch, "event": build_event(
            LINKS["inspection"], batch=batch, time_ms=wall_clock_ms(),
            disposition="non_conformant", **kw)})

    def summary() -> str:
        with served.web("mill") as web:
            page = web.get("/trace", params={"batch": "B-FAULTS"}).text
        return _text(page.split('id="faulty-summary"', 1)[1].split("</div>", 1)[0])

    # too warm, too moist and non-conformant: three faults, one link
    inspect(readings=[("Temperature", 12), ("RelativeHumidity", 20)])
    faults = w.service.trace(batch)["faults"]
    assert len(faults) == 3 and len({(f["batch"], f["seq"]) for f in faults}) == 1
    said = summary()
    assert "3 faults, all on this link" in said and "in this genealogy" not in said
    inspect()  # a second faulty link
    said = summary()
    assert "4 faults on 2 links of this genealogy" in said


def test_table_pages_have_readable_headings(served: Served) -> None:
    with served.web("mill") as web:
        page = web.get("/tables/trace_events").text
    heads = re.findall(r'<th scope="col"( title="[^"]*")?>([^<]*)</th>', page)
    assert (' title="biz_step"', "Business step") in heads
    assert (' title="event_time"', "Event time") in heads
    assert (' title="tx"', "Transaction") in heads
    assert not [h for _, h in heads if "_" in h]
    # the rule: a keyword-dodging underscore dropped, words spelled out, a unit its cells
    # already show left off
    from supplyledger.api.web.pages_tables import heading

    assert [heading(c) for c in ("by_", "unit_price", "gtin", "distance_m", "order_id")] == [
        "By", "Unit price", "GTIN", "Distance", "Order ID"]

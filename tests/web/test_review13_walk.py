"""Review 13: the web UI walked through as each party of a logistics team meets it on a
working day, in Debian's Chromium and over HTTP, against a week of the demo served on
loopback. What the walk found, each pinned here:

* on a 390 px phone, pages scrolled sideways: a table's visually hidden "Actions" heading
  escaped its scroll box, grid cards grew with their widest table, a long participant id
  would not wrap;
* a call's result showed money as raw minor units ("escrow 4500" for CNY 45.00; an order's
  payout shares likewise);
* the generic forms took a lot number for a batch as the batch's id: the contract refused
  it, and the refusal was recorded on the ledger as a failed call;
* a required yes/no argument (``credit.decide``'s approve) was a checkbox: left unticked,
  the form signed "no" without the user having said so; a required choice among values
  (``orders.resolve``'s at_fault) came with its first value chosen;
* the pages with a decrypted delivery address, or the sealed key and balances, could be
  kept in the browser's cache and paged back to after logging out;
* "Erase" destroyed a private record at the first click;
* form hints were not tied to their fields, so screen readers never read them;
* a customs officer saw no declarations "about you": the authority column names the
  organisation;
* the dashboard's charts had no numbers for a screen reader, and 5-pixel labels on a
  phone;
* on a phone the rows about the user came screens below every contract form, with no way
  there but scrolling;
* small untruths in text: "1 events", logistic units listed by their whole URL, an audit
  sentence ending "on (…)", a method page showing its docstring's ``markup``, and the
  header's block number was a second live region that
  read every block out.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import httpx

from _serving import PHONE, browser_fixture, demo_fixture, page_as
from _serving import DemoServed as Served
from api.conftest import CHEAP
from supplyledger.logistics.kpi_format import money
from supplyledger.store import views

YEAST = "06901234200010"  # Riverside Baking Supplies' product for sale in the demo
DESK = {"width": 1280, "height": 860}
_ids = itertools.count(1)


served = demo_fixture("walk", weeks=1, api=CHEAP)
browser = browser_fixture()


def _place(served: Served, qty: int = 2) -> str:
    """A new order of the demo customer's for yeast from Riverside: its id."""
    oid = f"W13-{next(_ids)}"
    now = int(time.time() * 1000)
    with served.api("customer") as c:
        r = c.post("/api/contracts/orders/place", json={
            "id": oid, "seller": served.did("supplier-a"), "product": YEAST,
            "quantity": qty, "unit_price": 1850, "freight": 800, "currency": "CNY",
            "earliest": now, "latest": now + 3 * 86_400_000})
        assert r.json()["receipt"]["ok"], r.text
    return oid


def _parcel(served: Served, lot: str, qty: int = 2) -> str:
    """A batch of yeast the seller ships an order in: its id."""
    with served.api("supplier-a") as c:
        r = c.post("/api/contracts/products/create_batch", json={
            "gtin": YEAST, "lot": lot, "quantity": str(qty), "uom": "H87"})
        assert r.json()["receipt"]["ok"], r.text
        return str(r.json()["receipt"]["result"]["batch"])


def _htmx(c: httpx.Client, path: str, form: dict[str, str]) -> str:
    r = c.post(path, data={**form, "csrf": c.headers["X-CSRF-Token"]},
               headers={"HX-Request": "true"})
    assert r.status_code == 200, r.text
    return r.text


def test_no_page_scrolls_sideways_on_a_phone(browser: Any, served: Served) -> None:
    tx = served.service.reads.txs(1, None).items[0]["id"]
    p = page_as(browser, served, "admin", PHONE)
    for path in ("/area/products", "/explorer", "/admin", f"/explorer/tx/{tx}",
                 "/tables/withdrawals", "/area/orders"):
        p.goto(served.url + path)
        wider = p.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert wider <= 0, f"{path} is {wider} px wider than the phone"
    p.context.close()


def test_call_results_show_money_with_its_currency(served: Served) -> None:
    oid = f"W13-{next(_ids)}"
    now = int(time.time() * 1000)
    with served.web("customer") as web:
        html = _htmx(web, "/contracts/orders/place", {
            "id": oid, "seller": served.did("supplier-a"), "product": YEAST,
            "quantity": "2", "unit_price": "1850", "freight": "800", "currency": "CNY",
            "earliest": str(now), "latest": str(now + 3 * 86_400_000)})
        assert "Committed" in html
        assert money(2 * 1850 + 800, "CNY") in html and ">4500<" not in html
        parcel = _parcel(served, f"P{oid}")
        with served.api("supplier-a") as seller, served.api("courier") as courier:
            for client, method, args in (
                    (seller, "dispatch", {"order": oid, "transporter": served.did("courier"),
                                          "transport_no": f"T{oid}", "batch": parcel}),
                    (courier, "pickup", {"order": oid}), (courier, "deliver", {"order": oid})):
                r = client.post(f"/api/contracts/orders/{method}", json=args)
                assert r.json()["receipt"]["ok"], r.text
        # the payout's shares carry no currency: the order's is used
        html = _htmx(web, "/contracts/orders/confirm", {"order": oid})
        assert "Committed" in html
        assert money(2 * 1850, "CNY") in html and money(800, "CNY") in html
        assert ">3700<" not in html


def test_a_lot_number_names_its_batch_and_an_unknown_one_signs_nothing(
        served: Served) -> None:
    oid = _place(served)
    lot = f"P{oid}"
    parcel = _parcel(served, lot)
    form = {"order": oid, "transporter": served.did("courier"), "transport_no": f"T{oid}"}
    with served.web("supplier-a") as web:
        before = served.height
        html = _htmx(web, "/contracts/orders/dispatch", {**form, "batch": "NO-SUCH-LOT"})
        assert "no batch with lot number" in html and "Nothing was signed" in html
        assert served.height == before  # no failed call on the ledger
        html = _htmx(web, "/contracts/orders/dispatch", {**form, "batch": lot})
        assert "Committed" in html, html
    [order] = served.service.reads.rows("orders", 1, None, {"id": oid}).items
    assert order["state"] == "dispatched" and order["batch"] == parcel


def test_a_yes_no_argument_must_be_answered(browser: Any, served: Served) -> None:
    p = page_as(browser, served, "financier", DESK)
    p.goto(served.url + "/contracts/credit/decide")
    group = p.get_by_role("group", name="Approve")
    assert group.get_by_role("radio", name="Yes").is_visible()
    assert not group.get_by_role("radio", name="No").is_checked()
    p.get_by_label("Order").fill("W13-NONE")
    # the browser does not send the form until one is chosen
    assert group.get_by_role("radio", name="Yes").evaluate("e => e.validity.valueMissing")
    assert not p.locator("form.card").evaluate("f => f.checkValidity()")
    p.context.close()
    # and a form sent without the answer (no browser check) is refused before signing
    before = served.height
    with served.web("financier") as web:
        html = _htmx(web, "/contracts/credit/decide", {"order": "W13-NONE"})
    assert "Approve: choose yes or no" in html and served.height == before


def test_a_required_choice_starts_unmade(browser: Any, served: Served) -> None:
    """An arbiter resolving a dispute: "At fault" offered "buyer" already chosen, so a
    forgotten field blamed the buyer on the ledger."""
    p = page_as(browser, served, "arbiter", DESK)
    p.goto(served.url + "/contracts/orders/resolve")
    for label in ("At fault", "Ownership"):
        assert p.get_by_label(label).input_value() == "", label
    for name, value in (("order", "W13-NONE"), ("refund", "0"), ("freight_paid", "0")):
        p.locator(f"form.card [name={name}]").fill(value)
    # the browser does not send the form until both are chosen
    assert p.get_by_label("At fault").evaluate("e => e.validity.valueMissing")
    assert not p.locator("form.card").evaluate("f => f.checkValidity()")
    p.get_by_label("At fault").select_option("none")
    p.get_by_label("Ownership").select_option("seller")
    assert p.locator("form.card").evaluate("f => f.checkValidity()")
    p.context.close()


def test_logged_in_pages_are_not_kept_by_the_browser(served: Served) -> None:
    with served.web("courier") as web:
        for path in ("/account", "/privacy"):  # the sealed key and balances; personal data
            assert web.get(path).headers.get("cache-control") == "no-store", path
        [record] = served.service.reads.rows("private_records", 1, None).items
        r = web.post("/privacy", data={"csrf": web.headers["X-CSRF-Token"],
                                       "action": "read", "record": record["id"]})
        assert "Jinli Road" in r.text and r.headers.get("cache-control") == "no-store"


def test_erasing_a_private_record_asks_first(browser: Any, served: Served) -> None:
    p = page_as(browser, served, "customer", DESK)
    p.goto(served.url + "/privacy")
    p.get_by_label("Data to share").fill("Dock 4, gate B (walk test)")
    p.get_by_label("Recipients").select_option(label="SwiftExpress dispatch (express-a)")
    p.get_by_role("button", name="Encrypt and share").click()
    rid = p.locator("#privacy-ok").inner_text().split("record ", 1)[1].split(",", 1)[0]
    row = p.locator("tr").filter(has_text=rid[:10])
    asked: list[str] = []

    def answer(dialog: Any, accept: bool) -> None:
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    p.once("dialog", lambda d: answer(d, False))
    row.get_by_role("button", name="Erase").click()
    assert asked and "cannot be undone" in asked[0]
    [rec] = served.service.reads.rows("private_records", 1, None, {"id": rid}).items
    assert rec["status"] == "active"
    p.once("dialog", lambda d: answer(d, True))
    row.get_by_role("button", name="Erase").click()
    p.locator("#privacy-ok").filter(has_text="erased").wait_for()
    [rec] = served.service.reads.rows("private_records", 1, None, {"id": rid}).items
    assert rec["status"] != "active"
    p.context.close()


def test_form_hints_are_read_with_their_fields(browser: Any, served: Served) -> None:
    from playwright.sync_api import expect

    p = page_as(browser, served, "customer", DESK)
    p.goto(served.url + "/contracts/orders/place")
    expect(p.get_by_label("Unit price")).to_have_accessible_description(
        "whole minor units (cents): 1850 is 18.50")
    p.goto(served.url + "/contracts/orders/confirm")
    # an order's hint no longer speaks of choosing a new, unique id
    expect(p.get_by_label("Order")).to_have_accessible_description(
        "the order's id (the newest orders you are party to are suggested)")
    p.goto(served.url + "/events/new?link=inspection")
    expect(p.get_by_label("Note")).to_have_accessible_description(
        "shown on the trace page, e.g. why an inspection failed")
    p.context.close()


def test_customs_officers_find_their_authoritys_declarations_first(served: Served) -> None:
    with served.web("customs") as web:
        html = web.get("/area/customs").text
    section = html.split("<summary><code>customs_declarations</code>", 1)[1].split(
        "</details>", 1)[0]
    n = served.service.reads.count("customs_declarations")
    assert n > 0 and f"{n} about you" in section and "About you, newest first" in section


def test_shown_text_reads_right(served: Served) -> None:
    # a pallet (a logistic unit) recorded lately: its own code chain has one event
    pallet = next(b for b, _, _ in views.recent_batches(served.service.node.store.reader(), 16)
                  if "/00/" in b)
    with served.web("admin") as web:
        html = web.get("/trace", params={"batch": pallet}).text
        assert "code chain of" in html and " 1 events" not in html and ": 1 event" in html
        recent = html.split('id="rb"', 1)[1]
        assert "%2F00%2F" in recent  # a logistic unit is among them, named by its SSCC
        assert ">https://id.gs1.org/" not in recent
        assert 'id="live"' in html and 'id="live" aria-live' not in html
        doc = web.get("/contracts/shipments/record_plan").text  # a docstring's markup
        assert "under <plan>/<vehicle>" in doc.replace("&lt;", "<").replace("&gt;", ">")
        assert "``" not in doc
        report = _htmx(web, "/audit", {})
        assert "re-checked, from the genesis document on" in report
        assert "document on <small" not in report


def test_dashboard_charts_have_their_numbers(browser: Any, served: Served) -> None:
    """On a phone a chart's labels are a few pixels high, and a screen reader reads only
    its title: the numbers follow each chart as a table."""
    by_contract = dict(views.txs_by_contract(served.service.node.store.reader()))
    p = page_as(browser, served, "mill", PHONE)
    card = p.locator("section", has=p.get_by_role("heading", name="Transactions by contract"))
    card.get_by_text("The numbers").click()
    table = card.get_by_role("table", name="Transactions by contract")
    assert table.get_by_role("row", name="orders").inner_text().split() == [
        "orders", f"{by_contract['orders']:,}"]
    p.context.close()


def test_the_rows_about_you_are_one_tap_from_the_top(browser: Any, served: Served) -> None:
    """A courier on a phone opens Orders: the rows about it come after a score of forms,
    screens down; a link at the top leads to them, open."""
    p = page_as(browser, served, "courier", PHONE)
    p.goto(served.url + "/area/orders")
    jump = p.get_by_role("navigation", name="Rows about you")
    jump.get_by_role("link", name="orders:").click()
    about = p.locator("#t-orders table").first
    assert about.locator("caption").inner_text().startswith("About you")
    assert about.locator("caption").is_visible()
    box = about.locator("caption").bounding_box()
    assert box is not None and 0 <= box["y"] < PHONE["height"]
    p.context.close()
